#!/usr/bin/env bash
# Builds mcpx, starts two example HTTP backends on loopback (and mcpx one stdio backend) and runs a real multiplexed session
# through mcpx, printing the transcript. Everything it starts, it stops.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-deps.sh
echo "== swift build -c release" >&2
swift build -c release --product mcpx >&2
swift build -c release --product mcpx-example-server >&2
exec python3 scripts/demo_client.py --mcpx .build/release/mcpx --example-server .build/release/mcpx-example-server "$@"
