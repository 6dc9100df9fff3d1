#!/usr/bin/env bash
# Proxy of proxies: three `mcpx --http` instances, each in front of its own example backend, and one
# `mcpx --stdio` in front of the three; a short MCP session through both hops (see README.md).
#
#   examples/proxy-of-proxies/run.sh
#
# Uses the built binaries .build/debug/mcpx and .build/debug/mcpx-example-server (relative to the
# repository root; `swift build` first), or MCPX_BIN / MCPX_EXAMPLE_SERVER. Needs python3 (standard
# library only). Everything it starts, it stops (by PID) on exit.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
MCPX="${MCPX_BIN:-$ROOT/.build/debug/mcpx}"
EXAMPLE="${MCPX_EXAMPLE_SERVER:-$ROOT/.build/debug/mcpx-example-server}"
case "$MCPX" in /*) ;; *) MCPX="$ROOT/$MCPX" ;; esac
case "$EXAMPLE" in /*) ;; *) EXAMPLE="$ROOT/$EXAMPLE" ;; esac
for bin in "$MCPX" "$EXAMPLE"; do
  if [ ! -x "$bin" ]; then
    echo "run.sh: $bin not found: build first (swift build) or set MCPX_BIN / MCPX_EXAMPLE_SERVER" >&2
    exit 1
  fi
done

WORK="$(mktemp -d "${TMPDIR:-/tmp}/mcpx-proxy-of-proxies.XXXXXX")"
PIDS=()

cleanup() {
  local pid _
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [ "${KEEP_LOGS:-}" ]; then echo "logs kept in $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_match FILE REGEX PID: print the first match of REGEX in FILE once it is there (15 s at most).
wait_match() {
  local file=$1 re=$2 pid=$3 _
  for _ in $(seq 150); do
    if grep -qE "$re" "$file" 2>/dev/null; then
      grep -oE "$re" "$file" | head -n 1
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "run.sh: no line matching '$re' in $file:" >&2
  tail -n 20 "$file" >&2
  return 1
}

# start_backend VAR NAME: an example MCP backend on a free loopback port (it prints
# "listening on http://HOST:PORT/mcp"); its URL goes to VAR. (No $(...) around these functions:
# a subshell would lose the PIDs.)
start_backend() {
  local var=$1 name=$2 url
  "$EXAMPLE" --port 0 --name "$name" >"$WORK/$name.out" 2>"$WORK/$name.err" &
  PIDS+=("$!")
  url="$(wait_match "$WORK/$name.out" 'http://[^[:space:]]+' "$!")"
  printf -v "$var" '%s' "$url"
}

# start_inner VAR NAME SERVERS: an inner `mcpx --http` in front of SERVERS (it logs
# "http: listening on http://HOST:PORT"); its base URL goes to VAR.
start_inner() {
  local var=$1 name=$2 servers=$3 line
  "$MCPX" --http 127.0.0.1:0 --servers "$servers" --log-level info \
    </dev/null >"$WORK/$name.out" 2>"$WORK/$name.err" &
  PIDS+=("$!")
  line="$(wait_match "$WORK/$name.err" 'http: listening on http://[^[:space:]/]+' "$!")"
  printf -v "$var" '%s' "${line#http: listening on }"
}

start_backend A_URL a
start_backend B_URL b
start_backend C_URL c
echo "backends:  a=$A_URL  b=$B_URL  c=$C_URL"

start_inner INNER1 inner1 "a=$A_URL"
start_inner INNER2 inner2 "b=$B_URL"
start_inner INNER3 inner3 "c=$C_URL"
echo "inner mcpx: inner1=$INNER1 (a)  inner2=$INNER2 (b)  inner3=$INNER3 (c)"
echo

python3 "$HERE/client.py" --mcpx "$MCPX" --log "$WORK/front.err" \
  --servers "p1=$INNER1/mcp,p2=$INNER2/mcp,p3=$INNER3/mcp" \
  --inner "$INNER1" "$INNER2" "$INNER3"
