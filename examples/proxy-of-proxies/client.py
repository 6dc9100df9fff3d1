#!/usr/bin/env python3
"""The stdio client of examples/proxy-of-proxies (standard library only).

Starts the front `mcpx --stdio --servers p1=...,p2=...,p3=...` (the three inner `mcpx --http`),
speaks JSON-RPC on its pipes: initialize, tools/list (printed by hop), a few calls that cross both
hops, one with progress; then shows each inner mcpx's GET /health. Closes mcpx's stdin at the end
(mcpx exits) and kills it by PID if it does not.
"""

from __future__ import annotations

import argparse
import json
import queue
import subprocess
import sys
import threading
import time
import urllib.request
from collections import defaultdict


class Front:
    def __init__(self, argv: list[str], log_path: str) -> None:
        self.log = open(log_path, "wb")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log,
                                     text=True, bufsize=1)
        self.inbox: queue.Queue[dict] = queue.Queue()
        self.next_id = 1
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.strip():
                self.inbox.put(json.loads(line))

    def send(self, msg: dict) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(msg) + "\n")
        self.proc.stdin.flush()

    def request(self, method: str, params: dict | None = None, timeout: float = 20.0,
                on_notification=lambda m: None) -> dict:
        rid = self.next_id
        self.next_id += 1
        msg = {"jsonrpc": "2.0", "id": rid, "method": method}
        if params is not None:
            msg["params"] = params
        self.send(msg)
        deadline = time.monotonic() + timeout
        while True:
            m = self.inbox.get(timeout=max(0.01, deadline - time.monotonic()))
            if m.get("id") == rid and "method" not in m:
                if "error" in m:
                    raise SystemExit(f"{method} failed: {m['error']}")
                return m["result"]
            if "method" in m and "id" in m:  # a request from mcpx (ping, ...): answer it
                reply = {"jsonrpc": "2.0", "id": m["id"]}
                reply.update({"result": {}} if m["method"] == "ping" else
                             {"error": {"code": -32601, "message": "Method not found"}})
                self.send(reply)
            elif "method" in m:
                on_notification(m)

    def close(self) -> int:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            code = self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(timeout=5)
        self.log.close()
        return code


def text_of(result: dict) -> str:
    return " ".join(c.get("text", "") for c in result.get("content", []) if c.get("type") == "text")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mcpx", required=True)
    ap.add_argument("--servers", required=True, help="p1=URL,p2=URL,p3=URL (the inner mcpx's /mcp)")
    ap.add_argument("--inner", nargs="*", default=[], help="base URLs of the inner mcpx (for GET /health)")
    ap.add_argument("--log", default="/dev/null", help="where the front mcpx's stderr goes")
    a = ap.parse_args()

    argv = [a.mcpx, "--stdio", "--servers", a.servers]
    print("$ " + " ".join(argv))
    front = Front(argv, a.log)
    try:
        init = front.request("initialize", {"protocolVersion": "2025-11-25", "capabilities": {},
                                            "clientInfo": {"name": "proxy-of-proxies", "version": "1.0"}})
        front.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        print(f"front: {init['serverInfo']['name']} {init['serverInfo'].get('version', '')}, "
              f"protocol {init['protocolVersion']}")

        tools: list[dict] = []
        cursor = None
        while True:
            page = front.request("tools/list", {"cursor": cursor} if cursor else {})
            tools += page["tools"]
            cursor = page.get("nextCursor")
            if not cursor:
                break
        by_hop: dict[str, list[str]] = defaultdict(list)
        for t in tools:
            hop, _, rest = t["name"].partition("__")
            by_hop[hop if rest else "(front's own)"].append(rest or t["name"])
        print(f"\n{len(tools)} tools seen by the stdio client:")
        for hop in sorted(by_hop):
            print(f"  {hop}: {', '.join(by_hop[hop])}")

        print()
        for name, args in (("p1__a__echo", {"text": "hello through two mcpx"}),
                           ("p2__b__add", {"a": 20, "b": 22}),
                           ("p3__c__whoami", {})):
            result = front.request("tools/call", {"name": name, "arguments": args})
            print(f"call {name} {json.dumps(args)} -> {text_of(result)!r}"
                  + (f"  structured: {json.dumps(result['structuredContent'])}" if "structuredContent" in result else ""))

        def show_progress(m: dict) -> None:
            if m["method"] == "notifications/progress":
                p = m["params"]
                print(f"  progress {p['progress']}/{p.get('total')} ({p.get('message', '')})")

        print("call p1__a__progress (progress crosses both hops):")
        result = front.request("tools/call", {"name": "p1__a__progress", "arguments": {"steps": 3, "delay_ms": 100},
                                              "_meta": {"progressToken": "pop-1"}}, on_notification=show_progress)
        print(f"  -> {text_of(result)!r}")

        print()
        for i, base in enumerate(a.inner, start=1):
            with urllib.request.urlopen(base + "/health", timeout=5) as resp:  # noqa: S310 - loopback
                print(f"inner{i} GET {base}/health -> {resp.read().decode().strip()}")
    finally:
        code = front.close()
    print(f"\nfront mcpx exited with {code} after its stdin closed")
    return 0 if code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
