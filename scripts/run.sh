#!/usr/bin/env bash
# Sets everything up and runs the daemon on the embedded defaults
# (SQLite and files under ./navee-data; the demo gallery when no site is configured).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
. .venv/bin/activate
navee-monitor db upgrade
exec navee-monitor run "$@"
