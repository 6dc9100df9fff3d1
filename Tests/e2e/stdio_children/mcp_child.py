#!/usr/bin/env python3
"""A tiny stdio MCP server with bad habits, for Tests/e2e/test_stdio_backends.py (stdlib only).

It speaks just enough MCP over newline-delimited JSON on stdin/stdout: initialize,
notifications/initialized, ping, tools/list, tools/call. Flags choose its behaviour:

  --name NAME            serverInfo name and what `whoami` answers (default: child)
  --record FILE          append every message received on stdin to FILE (one JSON per line)
  --ignore-term          ignore SIGTERM (and SIGINT, SIGHUP)
  --ignore-eof           keep running after stdin closes
  --grandchild FILE      start a grandchild (same process group, ignores SIGTERM, sleeps 10 min)
                         and write its pid to FILE
  --crash-if-exists FILE exit 1 right after start while FILE exists (a crash loop on demand)
  --flood-stderr MB      write MB mebibytes to stderr before reading stdin
  --stderr-line TEXT     write TEXT as one stderr line at start
  --garbage              answer tools/call `garbage` with junk lines on stdout before the answer

Tools: echo {text}, whoami, pid, argv, env {name}, cwd, sleep {ms} (answers after ms even when
cancelled: mcpx must drop the late answer), die {code} (exits at once, never answers),
flood {mb, marker} (mb MiB to stderr, then `marker` as the last stderr line, then answers),
garbage (with --garbage: junk on stdout first), huge {mb} (a single stdout line of mb MiB).
Positional arguments are accepted and only reported by `argv`.

Try it: printf '%s\\n' '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}' | python3 mcp_child.py
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time

LATEST = "2025-11-25"
KNOWN_VERSIONS = {"2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"}
_out_lock = threading.Lock()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(add_help=True)
    parser.add_argument("--name", default="child")
    parser.add_argument("--record")
    parser.add_argument("--ignore-term", action="store_true")
    parser.add_argument("--ignore-eof", action="store_true")
    parser.add_argument("--grandchild")
    parser.add_argument("--crash-if-exists")
    parser.add_argument("--flood-stderr", type=float, default=0.0)
    parser.add_argument("--stderr-line")
    parser.add_argument("--garbage", action="store_true")
    parser.add_argument("rest", nargs="*")
    return parser.parse_args()


def write_raw(data: bytes) -> None:
    with _out_lock:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()


def send(message: dict) -> None:
    write_raw(json.dumps(message, separators=(",", ":")).encode() + b"\n")


def err_line(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def flood_stderr(mebibytes: float, marker: str | None = None) -> None:
    """mebibytes of numbered noise lines on stderr (blocking writes), then marker as the last line."""
    line = "x" * 90
    total = int(mebibytes * 1024 * 1024)
    written = 0
    n = 0
    chunk: list[str] = []
    while written < total:
        text = f"noise {n:08d} {line}\n"
        chunk.append(text)
        written += len(text)
        n += 1
        if len(chunk) >= 512:
            sys.stderr.write("".join(chunk))
            chunk = []
    sys.stderr.write("".join(chunk))
    if marker:
        sys.stderr.write(marker + "\n")
    sys.stderr.flush()


def text_result(text: str, is_error: bool = False) -> dict:
    result: dict = {"content": [{"type": "text", "text": text}]}
    if is_error:
        result["isError"] = True
    return result


TOOLS = [
    ("echo", "Returns the given text.", {"text": {"type": "string"}}),
    ("whoami", "This server's --name.", {}),
    ("pid", "This process's pid.", {}),
    ("argv", "The arguments this process got (JSON list).", {}),
    ("env", "The value of one environment variable.", {"name": {"type": "string"}}),
    ("cwd", "The working directory.", {}),
    ("sleep", "Answers after ms milliseconds, cancelled or not.", {"ms": {"type": "integer"}}),
    ("die", "Exits at once without answering.", {"code": {"type": "integer"}}),
    ("flood", "Writes mb MiB to stderr, then marker.", {"mb": {"type": "number"}, "marker": {"type": "string"}}),
    ("garbage", "Junk on stdout, then an answer.", {}),
    ("huge", "One stdout line of mb MiB.", {"mb": {"type": "number"}}),
]


class Child:
    def __init__(self, opts: argparse.Namespace) -> None:
        self.opts = opts
        self.record = open(opts.record, "a", encoding="utf-8") if opts.record else None  # noqa: SIM115

    def log_message(self, msg: object) -> None:
        if self.record is not None:
            self.record.write(json.dumps(msg) + "\n")
            self.record.flush()

    def handle(self, msg: dict) -> None:
        method = msg.get("method")
        msg_id = msg.get("id")
        if method is None or msg_id is None:
            return  # a notification (initialized, cancelled, ...) or a response: nothing to answer
        params = msg.get("params") or {}
        if method == "initialize":
            asked = params.get("protocolVersion")
            send({"jsonrpc": "2.0", "id": msg_id, "result": {
                "protocolVersion": asked if asked in KNOWN_VERSIONS else LATEST,
                "capabilities": {"tools": {}},
                "serverInfo": {"name": self.opts.name, "version": "1.0.0"},
            }})
        elif method == "ping":
            send({"jsonrpc": "2.0", "id": msg_id, "result": {}})
        elif method == "tools/list":
            tools = [
                {"name": n, "description": d, "inputSchema": {"type": "object", "properties": p}}
                for n, d, p in TOOLS
            ]
            send({"jsonrpc": "2.0", "id": msg_id, "result": {"tools": tools}})
        elif method == "tools/call":
            self.call(msg_id, params.get("name"), params.get("arguments") or {})
        else:
            send({"jsonrpc": "2.0", "id": msg_id, "error": {"code": -32601, "message": f"Method not found: {method}"}})

    def call(self, msg_id: object, name: object, args: dict) -> None:
        def answer(result: dict) -> None:
            send({"jsonrpc": "2.0", "id": msg_id, "result": result})

        if name == "echo":
            answer(text_result(str(args.get("text", ""))))
        elif name == "whoami":
            answer(text_result(self.opts.name))
        elif name == "pid":
            answer(text_result(str(os.getpid())))
        elif name == "argv":
            answer(text_result(json.dumps(sys.argv[1:])))
        elif name == "env":
            answer(text_result(os.environ.get(str(args.get("name")), "<unset>")))
        elif name == "cwd":
            answer(text_result(os.getcwd()))
        elif name == "sleep":
            delay = int(args.get("ms", 1000)) / 1000
            threading.Timer(delay, answer, args=(text_result(f"slept {delay}s"),)).start()
        elif name == "die":
            err_line(f"{self.opts.name}: dying on request")
            os._exit(int(args.get("code", 3)))
        elif name == "flood":
            flood_stderr(float(args.get("mb", 1)), str(args.get("marker", "flood-done")))
            answer(text_result("flooded"))
        elif name == "garbage" and self.opts.garbage:
            write_raw(b"this is not json\n")
            write_raw(b"\xff\xfe\x00 invalid utf-8\n")
            write_raw(b'{"jsonrpc":"2.0","id":"never-asked","result":{}}\n')
            write_raw(b'[1,2,3]\n{"jsonrpc":"2.0"\n\n')
            answer(text_result("after garbage"))
        elif name == "huge":
            size = int(float(args.get("mb", 32)) * 1024 * 1024)
            head = json.dumps({"jsonrpc": "2.0", "id": msg_id})[:-1].encode()
            write_raw(head + b',"result":{"content":[{"type":"text","text":"' + b"A" * size + b'"}]}}\n')
        else:
            answer(text_result(f"unknown tool {name}", is_error=True))

    def serve(self) -> None:
        for raw in sys.stdin.buffer:
            try:
                msg = json.loads(raw)
            except ValueError:
                err_line(f"{self.opts.name}: not JSON: {raw[:80]!r}")
                continue
            self.log_message(msg)
            if isinstance(msg, dict):
                self.handle(msg)
        err_line(f"{self.opts.name}: stdin closed")
        self.log_message({"eof": True})
        if self.opts.ignore_eof:
            while True:
                time.sleep(3600)


def start_grandchild(pid_file: str) -> None:
    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"
    proc = subprocess.Popen(  # noqa: S603
        [sys.executable, "-c", code], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    with open(pid_file, "w", encoding="utf-8") as f:
        f.write(str(proc.pid))


def main() -> None:
    opts = parse_args()
    if opts.crash_if_exists and os.path.exists(opts.crash_if_exists):
        err_line(f"{opts.name}: crashing at start on purpose")
        sys.exit(1)
    if opts.ignore_term:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
    if opts.grandchild:
        start_grandchild(opts.grandchild)
    if opts.stderr_line:
        err_line(opts.stderr_line)
    if opts.flood_stderr:
        flood_stderr(opts.flood_stderr, f"{opts.name}: startup flood done")
    err_line(f"{opts.name}: ready (pid {os.getpid()})")
    Child(opts).serve()


if __name__ == "__main__":
    main()
