#!/usr/bin/env bash
# Sets everything up and runs the whole test suite: scripts/test.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
. .venv/bin/activate
# A PostgreSQL server on 127.0.0.1 for the PostgreSQL tests (started if needed).
if [ -z "${NAVEE_TEST_POSTGRES_URL:-}" ] && command -v pg_lsclusters >/dev/null && [ "$(id -u)" = 0 ]; then
  ver=$(pg_lsclusters -h | awk 'NR==1{print $1}')
  if [ -n "$ver" ]; then
    pg_ctlcluster "$ver" main start 2>/dev/null || true
    su postgres -c "psql -qtc \"SELECT 1 FROM pg_roles WHERE rolname='navee'\" | grep -q 1 || psql -qc \"CREATE ROLE navee LOGIN PASSWORD 'navee'\"" 
    su postgres -c "psql -qtc \"SELECT 1 FROM pg_database WHERE datname='navee_test'\" | grep -q 1 || createdb -O navee navee_test"
    export NAVEE_TEST_POSTGRES_URL="postgresql+psycopg://navee:navee@127.0.0.1/navee_test"
  fi
fi
export NAVEE_CHROMIUM=${NAVEE_CHROMIUM:-$(command -v chromium || echo /usr/bin/chromium)}
set +e
python -m pytest "$@"
rc=$?
set -e
# pytest exit 5 = no tests collected: that is a failure, not a pass
if [ "$rc" = 5 ]; then echo "no tests were collected" >&2; exit 1; fi
exit "$rc"
