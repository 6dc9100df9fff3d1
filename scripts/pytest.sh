#!/usr/bin/env bash
# Run the Python suites (Tests/e2e: raw stdio end-to-end; Tests/interop: the official MCP SDK;
# Tests/http and Tests/ops: the HTTP door, its operator endpoints and dashboard, proxy of proxies).
#
#   scripts/pytest.sh                      # both suites
#   scripts/pytest.sh -k manage -x         # extra arguments go to pytest
#   scripts/pytest.sh Tests/e2e            # a path argument replaces the default suites
#
# Creates or updates the virtualenv .venv-test from Tests/requirements.txt (idempotent: a stamp
# file holds the hash of the requirements it was built from). The binaries under test come from
# MCPX_BIN and MCPX_EXAMPLE_SERVER (defaults: .build/debug/mcpx, .build/debug/mcpx-example-server,
# relative to the repo root); build them first, e.g. `swift build`.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${MCPX_TEST_VENV:-$ROOT/.venv-test}"
REQ="$ROOT/Tests/requirements.txt"
STAMP="$VENV/.requirements.sha256"
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null 2>&1 || PY=python3

if [ ! -x "$VENV/bin/python" ]; then
  echo "pytest.sh: creating $VENV" >&2
  "$PY" -m venv "$VENV"
fi
sum="$(sha256sum "$REQ" | cut -d' ' -f1)"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$sum" ]; then
  echo "pytest.sh: installing Tests/requirements.txt into $VENV" >&2
  "$VENV/bin/python" -m pip install --disable-pip-version-check -q -r "$REQ"
  echo "$sum" >"$STAMP"
fi

cd "$ROOT"
# Default suites unless the caller names test paths itself.
paths=(Tests/e2e Tests/interop Tests/http Tests/ops Tests/faults Tests/fuzz Tests/soak)
for arg in "$@"; do
  case "$arg" in
    -*) ;;
    *) if [ -e "${arg%%::*}" ]; then paths=(); break; fi ;;
  esac
done
# --rootdir makes Tests/conftest.py load even when a single file is selected.
exec "$VENV/bin/python" -m pytest --rootdir "$ROOT" "${paths[@]}" "$@"
