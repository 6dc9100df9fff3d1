#!/usr/bin/env bash
# Instructions per forwarded tool call: the bench's calls-in-flight phase with mcpx under perf.
#
#   scripts/profile-calls.sh            user and kernel instructions per call (perf stat)
#   PERF_RECORD=1 scripts/profile-calls.sh
#                                       a call graph in /tmp/mcpx-perf.data instead
#   CALLS=100000 scripts/profile-calls.sh
#
# Needs a release build (swift build -c release) and perf (apt-get install linux-perf).
set -euo pipefail
cd "$(dirname "$0")/.."
calls=${CALLS:-50000}
bin=$PWD/.build/release/mcpx
command -v perf >/dev/null || { echo "perf not found (apt-get install linux-perf)" >&2; exit 2; }
[ -x "$bin" ] || { echo "no release build: swift build -c release" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ "${PERF_RECORD:-}" = 1 ]; then
    printf '#!/bin/sh\nexec perf record -q -F 2000 --call-graph dwarf,16384 -o /tmp/mcpx-perf.data %s "$@"\n' "$bin" > "$tmp/mcpx"
else
    printf '#!/bin/sh\nexec perf stat -x, -e instructions:u,instructions:k -o %s/stat %s "$@"\n' "$tmp" "$bin" > "$tmp/mcpx"
fi
chmod +x "$tmp/mcpx"
# Start-up (one tools/list) and 100 warm-up calls are included; they are small next to the calls.
.build/release/mcpx-bench --mcpx "$tmp/mcpx" --only throughput --runs 1 --warmup 100 --calls 100 \
    --tp-calls "$calls" >/dev/null 2>"$tmp/bench.err" || { cat "$tmp/bench.err" >&2; exit 1; }
if [ "${PERF_RECORD:-}" = 1 ]; then
    echo "call graph: perf report -i /tmp/mcpx-perf.data --no-children"
else
    awk -F, -v n="$calls" '/instructions:u/{u=$1} /instructions:k/{k=$1}
        END{printf "%d calls: %.0f user + %.0f kernel instructions per call\n", n, u/n, k/n}' "$tmp/stat"
fi
