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
if [ $# -eq 0 ]; then
  # Loopback POSTs normally go through mcpx's own HTTP/1.1 client; run the end-to-end and SDK
  # suites once more with every request through libcurl (what remote backends use).
  echo "== pytest (e2e + interop) with MCPX_HTTP_CLIENT=curl" >&2
  MCPX_HTTP_CLIENT=curl scripts/pytest.sh Tests/e2e Tests/interop -q
fi
