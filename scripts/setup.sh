#!/usr/bin/env bash
# Creates .venv and installs navee-monitor into it (idempotent, fast when done).
# Usage: scripts/setup.sh [--test]   (--test adds test tools, chromium, PostgreSQL)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
. .venv/bin/activate
export PIP_DISABLE_PIP_VERSION_CHECK=1
stamp=.venv/.installed-$(cat pyproject.toml setup.py | sha256sum | cut -c1-16)${1:+-test}
if [ ! -f "$stamp" ]; then
  python -m pip install -q --upgrade pip wheel
  if [ "${1:-}" = "--test" ]; then
    python -m pip install -q -e ".[test]"
  else
    python -m pip install -q -e .
  fi
  touch "$stamp"
fi
if [ "${1:-}" = "--test" ]; then
  need=()
  command -v chromium >/dev/null || need+=(chromium)
  command -v pg_ctlcluster >/dev/null || need+=(postgresql)
  command -v systemd-analyze >/dev/null || need+=(systemd)
  if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
    else
      echo "missing Debian packages: ${need[*]} (install them: sudo apt-get install ${need[*]})" >&2
    fi
  fi
fi
