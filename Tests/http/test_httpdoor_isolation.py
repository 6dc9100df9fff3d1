"""Many clients at once on one mcpx (`--stdio --http`): each session gets only its own answers,
progress and server-to-client requests; a session without a capability has requests for it refused;
a slow reader does not stall the others."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from http_harness import HTTPClient, text_of

pytestmark = pytest.mark.timeout(45)

SESSIONS = 50
ELICITORS = 10  # sessions 0..9 call the SDK backend's elicit_name; even ones declared elicitation
PAYLOAD_RE = re.compile(r"payload-(\d+|stdio)")
USER_RE = re.compile(r"user-(\d+|stdio)")
SHARED_TOKEN = "shared-token"


def token_of(i: int) -> Any:
    """Even sessions all use the same string token (mcpx must keep them apart); odd ones an integer."""
    return SHARED_TOKEN if i % 2 == 0 else 1000 + i


def refused(reply_or_response: dict[str, Any]) -> bool:
    """A tools/call answer that says the elicitation did not happen (error, isError, decline/cancel)."""
    if "error" in reply_or_response:
        return True
    result = reply_or_response.get("result", {})
    answer = text_of(result)
    return bool(result.get("isError")) or "decline" in answer or "cancel" in answer


class Participant:
    """One HTTP session of the crowd and everything it saw."""

    def __init__(self, door: Any, i: int) -> None:
        self.i = i
        self.capable = i % 2 == 0
        self.client: HTTPClient = door.client(timeout=20)
        self.elicitations: list[dict[str, Any]] = []
        self.problems: list[str] = []
        self.stream = None
        self.results: dict[str, dict[str, Any]] = {}
        self.progress: list[dict[str, Any]] = []

    def on_request(self, msg: dict[str, Any]) -> dict[str, Any]:
        if msg.get("method") == "ping":
            return {"jsonrpc": "2.0", "id": msg["id"], "result": {}}
        if msg.get("method") == "elicitation/create":
            self.elicitations.append(msg)
            if not self.capable:
                self.problems.append(f"session {self.i} did not declare elicitation but was asked: {msg}")
                return {"jsonrpc": "2.0", "id": msg["id"], "error": {"code": -32601, "message": "no elicitation"}}
            return {"jsonrpc": "2.0", "id": msg["id"],
                    "result": {"action": "accept", "content": {"name": f"user-{self.i}"}}}
        self.problems.append(f"session {self.i}: unexpected server request {msg}")
        return {"jsonrpc": "2.0", "id": msg["id"], "error": {"code": -32601, "message": "Method not found"}}

    def start(self) -> None:
        self.client.initialize({"elicitation": {}} if self.capable else {}, client_name=f"crowd-{self.i}")
        self.stream = self.client.open_stream(on_request=self.on_request)
        assert self.stream.status == 200, self.stream.reply.describe()

    def work(self) -> None:
        c = self.client
        echo = c.call_tool("a__echo", {"text": f"payload-{self.i}"}, on_request=self.on_request)
        self.results["echo"] = echo.response
        prog = c.call_tool("a__progress", {"steps": 3, "delay_ms": 5}, progress_token=token_of(self.i),
                           on_request=self.on_request)
        self.results["progress"] = prog.response
        if self.i < ELICITORS:
            elicit = c.call_tool("s__elicit_name", {}, on_request=self.on_request, timeout=15)
            self.results["elicit"] = elicit.response

    def check(self) -> list[str]:
        problems = list(self.problems)
        i = self.i
        echo = self.results.get("echo", {})
        if text_of(echo.get("result", {})) != f"payload-{i}":
            problems.append(f"session {i}: echo answered {echo}")
        prog = self.results.get("progress", {})
        if text_of(prog.get("result", {})) != "done 3 steps":
            problems.append(f"session {i}: progress answered {prog}")
        progress = [m for m in self.client.seen if m.get("method") == "notifications/progress"]
        values = sorted(p["params"]["progress"] for p in progress)
        tokens = {json.dumps(p["params"]["progressToken"]) for p in progress}
        if values != [1, 2, 3] or tokens != {json.dumps(token_of(i))}:
            problems.append(f"session {i}: expected 3 progress notifications with token {token_of(i)!r}, got "
                            f"{[p['params'] for p in progress]}")
        for msg in self.client.seen:
            dumped = json.dumps(msg)
            foreign = {m for m in PAYLOAD_RE.findall(dumped) + USER_RE.findall(dumped) if m != str(i)}
            if foreign:
                problems.append(f"session {i} saw another session's message: {dumped[:300]}")
        if i < ELICITORS:
            elicit = self.results.get("elicit", {})
            if self.capable:
                if text_of(elicit.get("result", {})) != f"s says hello to user-{i}":
                    problems.append(f"session {i}: elicit_name answered {elicit}")
                if len(self.elicitations) != 1:
                    problems.append(f"session {i}: {len(self.elicitations)} elicitation requests, expected 1")
            elif not refused(elicit) or "says hello" in json.dumps(elicit):
                problems.append(f"session {i} (no elicitation) should have the request refused: {elicit}")
        elif self.elicitations:
            problems.append(f"session {i} never called elicit_name but was asked: {self.elicitations}")
        return problems


def test_fifty_sessions_and_stdio_stay_apart(example, sdk_backend, mcpx_http):
    a = example("a")
    door = mcpx_http({"a": a.url, "s": sdk_backend.url}, stdio=True, log_level="info")
    pipe = door.pipe

    # The stdio client answers elicitation with its own name.
    stdio_elicitations: list[dict[str, Any]] = []

    def on_stdio_request(msg: dict[str, Any]) -> None:
        if msg["method"] == "ping":
            pipe.send({"jsonrpc": "2.0", "id": msg["id"], "result": {}})
        elif msg["method"] == "elicitation/create":
            stdio_elicitations.append(msg)
            pipe.send({"jsonrpc": "2.0", "id": msg["id"],
                       "result": {"action": "accept", "content": {"name": "user-stdio"}}})
        else:
            pipe.send({"jsonrpc": "2.0", "id": msg["id"], "error": {"code": -32601, "message": "Method not found"}})

    pipe._on_server_request = on_stdio_request  # noqa: SLF001 - the e2e pipe's hook for server requests
    pipe.initialize(capabilities={"elicitation": {}})
    assert "s__elicit_name" in pipe.tool_names()

    crowd = [Participant(door, i) for i in range(SESSIONS)]
    with ThreadPoolExecutor(SESSIONS) as pool:
        list(pool.map(lambda p: p.start(), crowd))
        started = time.monotonic()
        futures = [pool.submit(p.work) for p in crowd]
        # The stdio client works while the crowd does.
        echo = pipe.call_ok("a__echo", {"text": "payload-stdio"})
        prog = pipe.call_ok("a__progress", {"steps": 3, "delay_ms": 5}, meta={"progressToken": SHARED_TOKEN})
        elicit = pipe.call_ok("s__elicit_name", {}, timeout=15)
        errors = [f.exception(timeout=30) for f in futures]
        elapsed = time.monotonic() - started
    for p in crowd:
        if p.stream is not None:
            p.stream.close()

    problems = [f"session {p.i}: {e!r}" for p, e in zip(crowd, errors, strict=True) if e is not None]
    for p in crowd:
        problems += p.check()

    assert text_of(echo) == "payload-stdio"
    assert text_of(prog) == "done 3 steps"
    assert text_of(elicit) == "s says hello to user-stdio"
    assert len(stdio_elicitations) == 1, stdio_elicitations
    stdio_progress = pipe.notifications_of("notifications/progress")
    if sorted(n["params"]["progress"] for n in stdio_progress) != [1, 2, 3]:
        problems.append(f"stdio: expected 3 progress notifications, got {[n['params'] for n in stdio_progress]}")
    for line in pipe.lines:
        foreign = {m for m in PAYLOAD_RE.findall(line) + USER_RE.findall(line) if m != "stdio"}
        if foreign:
            problems.append(f"stdio saw another session's message: {line[:300]}")

    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems[:40])
    assert elapsed < 20, f"the crowd took {elapsed:.1f}s"


@pytest.mark.parametrize(
    ("tool", "arguments", "capability"),
    [("elicit_name", {}, "elicitation"), ("sample", {"prompt": "p"}, "sampling"), ("roots", {}, "roots")],
    ids=["elicitation", "sampling", "roots"],
)
def test_request_for_undeclared_capability_is_refused_not_hung(sdk_backend, mcpx_http, tool, arguments, capability):
    """A backend asks for something on behalf of a session that did not declare it: no client is
    asked (not even one that declared it), and the call ends (error or decline) instead of hanging."""
    door = mcpx_http({"s": sdk_backend.url})
    able = door.session({capability: {}})
    unable = door.session({})
    asked: list[dict[str, Any]] = []

    def record(msg: dict[str, Any]) -> dict[str, Any]:
        if msg.get("method") == "ping":
            return {"jsonrpc": "2.0", "id": msg["id"], "result": {}}
        asked.append(msg)
        return {"jsonrpc": "2.0", "id": msg["id"], "error": {"code": -32601, "message": "no"}}

    streams = [able.open_stream(on_request=record), unable.open_stream(on_request=record)]
    try:
        started = time.monotonic()
        reply = unable.call_tool(f"s__{tool}", arguments, on_request=record, timeout=12)
        assert time.monotonic() - started < 10
        assert refused(reply.response), f"expected a refusal, got {reply.response}"
        assert "says hello" not in json.dumps(reply.response)
        assert asked == [], f"no client may be asked on behalf of a session without {capability}: {asked}"
    finally:
        for s in streams:
            s.close()


def tx_queue(server_port: int, client_port: int) -> int | None:
    """Bytes the server side of a loopback TCP connection has queued unsent (Linux /proc/net/tcp)."""
    with open("/proc/net/tcp") as table:
        for line in table.readlines()[1:]:
            parts = line.split()
            local, remote = parts[1], parts[2]
            if int(local.split(":")[1], 16) == server_port and int(remote.split(":")[1], 16) == client_port:
                return int(parts[4].split(":")[0], 16)
    return None


def test_slow_reader_does_not_stall_others(example, mcpx_http):
    """A client that asks for a 6 MB answer and never reads it: once that answer is stuck in its
    socket, other sessions' calls still come back at once."""
    a = example("a")
    door = mcpx_http([a], log_level="info")
    slow = door.session()
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                       "params": {"name": "a__echo", "arguments": {"text": "x" * 6_000_000}}}).encode()
    head = (
        "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        "Accept: application/json, text/event-stream\r\n"
        f"Mcp-Session-Id: {slow.session_id}\r\nMCP-Protocol-Version: {slow.protocol_version}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", door.port))
    client_port = sock.getsockname()[1]
    sock.sendall(head + body)  # and never read the answer
    try:
        others = [door.session() for _ in range(5)]
        # Wait until the answer is stuck in the slow socket (or mcpx dropped the slow client).
        deadline = time.monotonic() + 15
        while True:
            queued = tx_queue(door.port, client_port)
            if queued is None or queued > 64 << 10:
                break
            assert time.monotonic() < deadline, "the 6 MB answer never started towards the slow client"
            time.sleep(0.05)
        worst = 0.0
        rounds = 0
        lock = threading.Lock()

        def one(c: HTTPClient, k: int) -> None:
            nonlocal worst
            t0 = time.monotonic()
            reply = c.call_tool("a__echo", {"text": f"fast-{k}"}, timeout=5)
            assert text_of(reply.result) == f"fast-{k}"
            with lock:
                worst = max(worst, time.monotonic() - t0)

        until = time.monotonic() + 1.5
        with ThreadPoolExecutor(5) as pool:
            while time.monotonic() < until:
                list(pool.map(lambda c: one(c, rounds), others))
                rounds += 1
        assert worst < 1.0, f"a call took {worst:.2f}s while a slow reader held a stuck answer"
        assert rounds >= 3
    finally:
        sock.close()
    time.sleep(0.3)
    assert door.alive()
    assert text_of(door.session().call_tool("a__echo", {"text": "after"}).result) == "after"
