#!/usr/bin/env bash
# Runs every test: Swift unit tests, then the end-to-end and interop suites (pytest, pinned
# official MCP Python SDK in .venv-test) against the built mcpx and example backends.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-deps.sh
FLAGS=(-Xswiftc -warnings-as-errors)
echo "== swift build" >&2
swift build "${FLAGS[@]}"
echo "== swift test" >&2
swift test "${FLAGS[@]}"
echo "== pytest (e2e + interop)" >&2
export MCPX_BIN="$PWD/.build/debug/mcpx"
export MCPX_EXAMPLE_SERVER="$PWD/.build/debug/mcpx-example-server"
scripts/pytest.sh "$@"
