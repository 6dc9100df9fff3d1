#!/usr/bin/env python3
"""A real MCP session through mcpx, printed as a transcript (standard library only).

Starts two example backends (`main` and `docs`) on 127.0.0.1, spawns mcpx in front of them and
speaks JSON-RPC on its stdin/stdout: initialize, tools/list, calls routed to each backend, a progress
call, manage list/add/disable, proxy_health. Stops every process it started.
"""
import argparse
import json
import queue
import subprocess
import sys
import threading
import time


def start_backend(binary, name, extra=()):
    p = subprocess.Popen([binary, "--port", "0", "--name", name, *extra],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = p.stdout.readline().strip()
    if not line.startswith("listening on "):
        p.kill()
        sys.exit(f"example server {name} did not start: {line!r}")
    return p, line.split()[-1]


class Session:
    def __init__(self, argv):
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, text=True, bufsize=1)
        self.q = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.next_id = 1

    def _read(self):
        for line in self.p.stdout:
            self.q.put(json.loads(line))

    def send(self, msg):
        text = json.dumps(msg)
        print(f"\033[36m-> {text[:300]}\033[0m" if sys.stdout.isatty() else f"-> {text[:300]}")
        self.p.stdin.write(text + "\n")
        self.p.stdin.flush()

    def show(self, msg):
        text = json.dumps(msg)
        if len(text) > 600:
            text = text[:600] + " ..."
        print(f"<- {text}")

    def request(self, method, params=None, timeout=15):
        rid = self.next_id
        self.next_id += 1
        msg = {"jsonrpc": "2.0", "id": rid, "method": method}
        if params is not None:
            msg["params"] = params
        self.send(msg)
        deadline = time.time() + timeout
        while True:
            m = self.q.get(timeout=max(0.01, deadline - time.time()))
            if m.get("id") == rid and "method" not in m:
                self.show(m)
                return m
            self.show(m)  # notifications (progress, list_changed) arrive in between

    def notify(self, method, params=None):
        msg = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            msg["params"] = params
        self.send(msg)

    def close(self):
        self.p.stdin.close()
        return self.p.wait(timeout=10)


def text_of(result):
    return " ".join(c.get("text", "") for c in result["result"].get("content", []))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mcpx", required=True)
    ap.add_argument("--example-server", required=True)
    a = ap.parse_args()
    procs = []
    try:
        main_p, main_url = start_backend(a.example_server, "main")
        docs_p, docs_url = start_backend(a.example_server, "docs", ["--weird-names"])
        extra_p, extra_url = start_backend(a.example_server, "extra")
        procs += [main_p, docs_p, extra_p]
        # Two HTTP backends and one stdio backend (a process mcpx starts and supervises itself).
        argv = [a.mcpx, "--stdio", "--servers", f"main={main_url},docs={docs_url}",
                "--stdio-server", f"local={a.example_server} --stdio --name local"]
        print("$ " + " ".join(argv) + "\n")
        s = Session(argv)
        s.request("initialize", {"protocolVersion": "2025-11-25", "capabilities": {},
                                 "clientInfo": {"name": "demo", "version": "1.0"}})
        s.notify("notifications/initialized")
        tools = s.request("tools/list")["result"]["tools"]
        print(f"\n# {len(tools)} tools: " + ", ".join(t["name"] for t in tools) + "\n")
        s.request("tools/call", {"name": "main__echo", "arguments": {"text": "hello through mcpx"}})
        s.request("tools/call", {"name": "docs__add", "arguments": {"a": 2, "b": 40}})
        s.request("tools/call", {"name": "main__whoami", "arguments": {}})
        s.request("tools/call", {"name": "docs__whoami", "arguments": {}})
        s.request("tools/call", {"name": "local__whoami", "arguments": {}})
        s.request("tools/call", {"name": "main__progress", "arguments": {"steps": 3, "delay_ms": 50},
                                 "_meta": {"progressToken": "demo-1"}})
        s.request("tools/call", {"name": "manage", "arguments": {"action": "add", "name": "extra", "url": extra_url}})
        s.request("tools/call", {"name": "extra__echo", "arguments": {"text": "added at run time"}})
        s.request("tools/call", {"name": "manage", "arguments": {"action": "disable", "name": "docs"}})
        s.request("tools/call", {"name": "manage", "arguments": {"action": "list"}})
        s.request("tools/call", {"name": "proxy_health", "arguments": {}})
        s.request("tools/call", {"name": "nope__missing", "arguments": {}})
        rc = s.close()
        print(f"\n# mcpx exited with {rc} after stdin closed")
        return 0 if rc == 0 else 1
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()


if __name__ == "__main__":
    sys.exit(main())
