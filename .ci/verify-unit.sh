#!/usr/bin/env bash
# Checks deploy/navee-monitor.service with `systemd-analyze verify`.
# verify needs the ExecStart binaries and the service user to exist: the unit is
# copied to a temporary directory with /opt/navee-monitor replaced by this
# checkout (whose .venv has the navee-monitor script), and the user is created
# when this runs as root.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
if ! command -v systemd-analyze >/dev/null; then
  if [ -n "${CI:-}" ]; then echo "systemd-analyze is missing (apt-get install systemd)" >&2; exit 1; fi
  echo "verify-unit: systemd-analyze not installed, skipped" >&2; exit 0
fi
[ -x .venv/bin/navee-monitor ] || { echo "verify-unit: .venv/bin/navee-monitor missing: run scripts/setup.sh" >&2; exit 1; }
if ! getent passwd navee >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    useradd --system --home-dir /var/lib/navee-monitor --shell /usr/sbin/nologin --user-group navee
  else
    echo "verify-unit: user 'navee' missing and not root: the User= check may fail" >&2
  fi
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sed "s#/opt/navee-monitor#${repo}#g" deploy/navee-monitor.service > "$tmp/navee-monitor.service"
out=$(systemd-analyze verify --man=no "$tmp/navee-monitor.service" 2>&1) || { echo "$out" >&2; exit 1; }
# verify exits 0 on some warnings: anything it prints about our unit is a failure
if echo "$out" | grep -F "navee-monitor.service" >&2; then
  echo "verify-unit: systemd-analyze reported problems in deploy/navee-monitor.service" >&2
  exit 1
fi
echo "deploy/navee-monitor.service: systemd-analyze verify OK"
