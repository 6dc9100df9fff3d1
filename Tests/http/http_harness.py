"""Harness of the HTTP-door tests: mcpx serving MCP Streamable HTTP (`mcpx --http HOST:PORT`).

- `McpxHTTP`: one mcpx process started with `--http 127.0.0.1:0` (and `--stdio` when asked for,
  then `.pipe` is an e2e `McpxPipe` on its stdin/stdout). The port comes from the stderr line
  `http: listening on http://HOST:PORT`, polled in the log file.
- `HTTPClient`: a raw Streamable HTTP client (http.client, one connection per exchange) that
  reads `application/json` and `text/event-stream` answers, answers server-to-client requests
  that ride a POST's stream, opens the GET stream (`EventStream`) and ends the session (DELETE).
- `raw_exchange`: bytes in, bytes out on one socket, for malformed HTTP.

Every wait has a deadline so a wedged server fails a test instead of hanging it.
"""

from __future__ import annotations

import http.client
import itertools
import json
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

E2E_DIR = Path(__file__).resolve().parent.parent / "e2e"
if str(E2E_DIR) not in sys.path:
    sys.path.insert(0, str(E2E_DIR))

from e2e_harness import McpxPipe, servers_arg  # noqa: E402

LATEST_VERSION = "2025-11-25"
HTTP_LISTENING_RE = re.compile(r"http: listening on http://(\[[^\]]+\]|[^\s:/]+):(\d+)")
DEFAULT_TIMEOUT = 10.0

ServerRequestHandler = Callable[[dict[str, Any]], dict[str, Any] | None]


# ---------------------------------------------------------------------------------------------
# The mcpx process
# ---------------------------------------------------------------------------------------------


def read_text(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def wait_listening(log_path: Path, proc: subprocess.Popen[bytes], timeout: float = 15.0) -> tuple[str, int]:
    """Poll mcpx's stderr log for `http: listening on http://HOST:PORT`; (host, port)."""
    deadline = time.monotonic() + timeout
    while True:
        match = HTTP_LISTENING_RE.search(read_text(log_path))
        if match:
            return match.group(1).strip("[]"), int(match.group(2))
        if proc.poll() is not None:
            raise AssertionError(
                f"mcpx exited with {proc.returncode} before 'http: listening on ...':\n{tail_text(log_path)}"
            )
        if time.monotonic() > deadline:
            raise AssertionError(f"mcpx did not log 'http: listening on http://...' in {timeout}s:\n{tail_text(log_path)}")
        time.sleep(0.03)


def process_report(pid: int, *, backtrace: bool = True) -> str:
    """What a stuck process is doing: its signal masks (from /proc) and, when gdb is there, every
    thread's stack. For the report of a test that found mcpx hanging."""
    out: list[str] = []
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        out += [line for line in status.splitlines() if line.split(":")[0] in
                ("State", "Threads", "SigQ", "SigPnd", "ShdPnd", "SigBlk", "SigIgn", "SigCgt")]
    except OSError as exc:
        out.append(f"/proc/{pid}/status: {exc}")
    if backtrace and shutil.which("gdb"):
        try:
            bt = subprocess.run(
                ["gdb", "-p", str(pid), "-batch", "-nx", "-ex", "set pagination off", "-ex", "thread apply all bt 25"],
                capture_output=True, text=True, timeout=60,
            ).stdout
            out.append("\n".join(line for line in bt.splitlines() if line.startswith(("Thread", "#"))))
        except (OSError, subprocess.TimeoutExpired) as exc:
            out.append(f"gdb: {exc}")
    return "\n".join(out)


def tail_text(path: Path, lines: int = 60) -> str:
    return "\n".join(read_text(path).splitlines()[-lines:])


def mcpx_http_argv(
    mcpx_bin: Path,
    backends: Mapping[str, str] | Sequence[Any],
    extra: Sequence[str],
    *,
    http: str | None = "127.0.0.1:0",
    stdio: bool = False,
    log_level: str | None = "debug",
) -> list[str]:
    argv: list[str] = [str(mcpx_bin)]
    if stdio:
        argv.append("--stdio")
    if http is not None:
        argv += ["--http", http]
    if backends:
        argv += ["--servers", servers_arg(backends)]
    if log_level:
        argv += ["--log-level", log_level]
    return argv + [str(a) for a in extra]


class McpxHTTP:
    """One mcpx serving HTTP (and stdio when `stdio=True`: `.pipe` is its McpxPipe)."""

    def __init__(
        self,
        argv: Sequence[str],
        log_path: Path,
        registry: Any,
        *,
        stdio: bool = False,
        env: Mapping[str, str] | None = None,
        stdin: Any = subprocess.PIPE,
    ) -> None:
        self.argv = [str(a) for a in argv]
        self.log_path = log_path
        self.stdio = stdio
        self.pipe: McpxPipe | None = None
        self._log = None
        if stdio:
            assert env is None, "the stdio variant runs with the test's environment"
            self.pipe = McpxPipe(self.argv, log_path, registry)
            self.proc = self.pipe.proc
        else:
            self._log = open(log_path, "wb")  # noqa: SIM115 - closed in close()
            # stdin stays an open pipe nobody writes to: `--http` alone must not care either way.
            self.proc = registry.spawn(
                self.argv, stdin=stdin, stdout=subprocess.DEVNULL, stderr=self._log, env=dict(env) if env else None
            )
        self.host = ""
        self.port = 0

    def wait_listening(self, timeout: float = 15.0) -> McpxHTTP:
        self.host, self.port = wait_listening(self.log_path, self.proc, timeout)
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    def client(self, **kwargs: Any) -> HTTPClient:
        return HTTPClient("127.0.0.1", self.port, **kwargs)

    def session(self, capabilities: dict[str, Any] | None = None, **kwargs: Any) -> HTTPClient:
        """A client with an initialized session."""
        c = self.client(**kwargs)
        c.initialize(capabilities)
        return c

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, lines: int = 60) -> str:
        return tail_text(self.log_path, lines)

    def signal(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def wait_exit(self, timeout: float) -> int | None:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout: float = 5.0) -> int | None:
        """SIGTERM (or stdin EOF for the stdio variant), then the exit code, None if still running."""
        if self.proc.poll() is not None:
            return self.proc.returncode
        if self.pipe is not None:
            self.pipe.close_stdin()
        else:
            self.signal(signal.SIGTERM)
        return self.wait_exit(timeout)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.wait_exit(5)
        if self.pipe is not None:
            self.pipe.close()
        if self._log is not None:
            self._log.close()


# ---------------------------------------------------------------------------------------------
# SSE
# ---------------------------------------------------------------------------------------------


class SSEReader:
    """Incremental `text/event-stream` parser: feed lines, get (event, data, id) triples."""

    def __init__(self) -> None:
        self._data: list[str] = []
        self._event = ""
        self._id: str | None = None

    def feed(self, line: str) -> tuple[str, str, str | None] | None:
        line = line.rstrip("\r\n")
        if line == "":
            if not self._data:
                self._event = ""
                return None
            out = (self._event or "message", "\n".join(self._data), self._id)
            self._data, self._event = [], ""
            return out
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            self._id = value
        return None


# ---------------------------------------------------------------------------------------------
# Replies
# ---------------------------------------------------------------------------------------------


@dataclass
class Reply:
    """One HTTP answer: status, headers (lower-case names), body, and the JSON-RPC messages in it."""

    status: int
    headers: dict[str, str]
    body: bytes = b""
    messages: list[dict[str, Any]] = field(default_factory=list)
    request_id: Any = None

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    @property
    def content_type(self) -> str:
        return (self.header("content-type") or "").split(";")[0].strip().lower()

    @property
    def response(self) -> dict[str, Any]:
        """The JSON-RPC response to the request this reply answers."""
        for msg in self.messages:
            if "method" not in msg and msg.get("id") == self.request_id:
                return msg
        raise AssertionError(f"no JSON-RPC response to id {self.request_id!r} in {self.describe()}")

    @property
    def result(self) -> Any:
        response = self.response
        assert "error" not in response, f"request failed: {response['error']}"
        return response["result"]

    @property
    def notifications(self) -> list[dict[str, Any]]:
        return [m for m in self.messages if "method" in m and "id" not in m]

    def notifications_of(self, method: str) -> list[dict[str, Any]]:
        return [m for m in self.notifications if m["method"] == method]

    @property
    def server_requests(self) -> list[dict[str, Any]]:
        return [m for m in self.messages if "method" in m and "id" in m]

    def describe(self) -> str:
        return f"HTTP {self.status} {self.content_type!r} headers={self.headers} body={self.body[:600]!r}"


def text_of(result: Mapping[str, Any]) -> str:
    return "\n".join(
        b.get("text", "") for b in result.get("content", []) if isinstance(b, dict) and b.get("type") == "text"
    )


# ---------------------------------------------------------------------------------------------
# The raw client
# ---------------------------------------------------------------------------------------------


def refuse_server_request(msg: dict[str, Any]) -> dict[str, Any]:
    """Default answer to a server-to-client request: pings succeed, the rest are unknown methods."""
    if msg.get("method") == "ping":
        return {"jsonrpc": "2.0", "id": msg["id"], "result": {}}
    return {"jsonrpc": "2.0", "id": msg["id"], "error": {"code": -32601, "message": "Method not found"}}


class HTTPClient:
    """A raw Streamable HTTP client of mcpx's HTTP door (one MCP session at most)."""

    def __init__(
        self,
        host: str,
        port: int,
        path: str = "/mcp",
        *,
        token: str | None = None,
        origin: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.host = host
        self.port = port
        self.path = path
        self.token = token
        self.origin = origin
        self.timeout = timeout
        self.session_id: str | None = None
        self.protocol_version: str | None = None
        self._ids = itertools.count(1)
        # Every message seen on any of this client's streams (POST answers and GET streams).
        self.seen: list[dict[str, Any]] = []
        self.answers_posted: list[tuple[dict[str, Any], int]] = []
        self._lock = threading.Lock()

    # -- plumbing ---------------------------------------------------------------------------------
    def next_id(self) -> int:
        return next(self._ids)

    def base_headers(self, *, accept: str | None = "application/json, text/event-stream") -> dict[str, str]:
        headers: dict[str, str] = {}
        if accept is not None:
            headers["Accept"] = accept
        if self.session_id:
            headers["Mcp-Session-Id"] = self.session_id
        if self.protocol_version:
            headers["MCP-Protocol-Version"] = self.protocol_version
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if self.origin:
            headers["Origin"] = self.origin
        return headers

    @staticmethod
    def _merge(base: dict[str, str], headers: Mapping[str, str | None] | None, omit: Sequence[str]) -> dict[str, str]:
        drop = {h.lower() for h in omit}
        out = {k: v for k, v in base.items() if k.lower() not in drop}
        for k, v in (headers or {}).items():
            out = {kk: vv for kk, vv in out.items() if kk.lower() != k.lower()}
            if v is not None:
                out[k] = v
        return out

    def connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def _record(self, msgs: Sequence[dict[str, Any]]) -> None:
        with self._lock:
            self.seen.extend(msgs)

    # -- generic exchanges ------------------------------------------------------------------------
    def exchange(
        self,
        method: str,
        path: str | None = None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        """One plain HTTP exchange, no MCP headers added; reads the whole body (not for streams)."""
        conn = self.connection()
        try:
            conn.request(method, path or self.path, body=body, headers=dict(headers or {}))
            resp = conn.getresponse()
            return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
        finally:
            conn.close()

    def post(
        self,
        message: Any,
        *,
        headers: Mapping[str, str | None] | None = None,
        omit: Sequence[str] = (),
        on_request: ServerRequestHandler | None = None,
        raw_body: bytes | None = None,
        timeout: float | None = None,
    ) -> Reply:
        """POST one message. JSON and SSE answers are parsed; an SSE answer is read until the
        response to the message's id (or the end of the stream). Server-to-client requests on the
        stream are answered with `on_request(msg)` (default: refuse), each by a POST of its own."""
        base = self.base_headers()
        base["Content-Type"] = "application/json"
        all_headers = self._merge(base, headers, omit)
        body = raw_body if raw_body is not None else json.dumps(message).encode()
        request_id = message.get("id") if isinstance(message, dict) and "method" in message else None
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout or self.timeout)
        try:
            conn.request("POST", self.path, body=body, headers=all_headers)
            resp = conn.getresponse()
            reply = Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, request_id=request_id)
            if reply.status == 200 and reply.content_type == "text/event-stream":
                reply.messages = self._read_sse(resp, request_id, on_request, timeout or self.timeout)
                self._record(reply.messages)
                return reply
            reply.body = resp.read()
            if reply.status == 200 and reply.content_type == "application/json":
                parsed = json.loads(reply.body)
                reply.messages = parsed if isinstance(parsed, list) else [parsed]
                self._record(reply.messages)
            return reply
        finally:
            conn.close()

    def _read_sse(
        self,
        resp: http.client.HTTPResponse,
        request_id: Any,
        on_request: ServerRequestHandler | None,
        timeout: float,
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        parser = SSEReader()
        messages: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            raw = resp.readline()
            if not raw:
                break
            event = parser.feed(raw.decode("utf-8", errors="replace"))
            if event is None or not event[1].strip():
                continue
            msg = json.loads(event[1])
            messages.append(msg)
            if "method" in msg and "id" in msg:
                self.answer(msg, on_request)
            elif "method" not in msg and request_id is not None and msg.get("id") == request_id:
                break
        return messages

    def answer(self, request: dict[str, Any], on_request: ServerRequestHandler | None) -> None:
        """POST the answer to a server-to-client request; the door must take it with 202."""
        answer = (on_request or refuse_server_request)(request)
        if answer is None:
            return
        reply = self.post(answer)
        with self._lock:
            self.answers_posted.append((answer, reply.status))
        assert reply.status == 202, f"answer to a server request should get 202: {reply.describe()}"

    # -- MCP --------------------------------------------------------------------------------------
    def request(
        self,
        method: str,
        params: Any = None,
        *,
        request_id: Any = None,
        on_request: ServerRequestHandler | None = None,
        headers: Mapping[str, str | None] | None = None,
        omit: Sequence[str] = (),
        timeout: float | None = None,
    ) -> Reply:
        request_id = self.next_id() if request_id is None else request_id
        msg: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            msg["params"] = params
        return self.post(msg, headers=headers, omit=omit, on_request=on_request, timeout=timeout)

    def ok(self, method: str, params: Any = None, **kwargs: Any) -> Reply:
        """A request that must come back 200 with a JSON-RPC response."""
        reply = self.request(method, params, **kwargs)
        assert reply.status == 200, f"{method}: {reply.describe()}"
        reply.response  # noqa: B018 - asserts there is one
        return reply

    def notify(self, method: str, params: Any = None, **kwargs: Any) -> Reply:
        msg: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            msg["params"] = params
        return self.post(msg, **kwargs)

    def initialize(
        self,
        capabilities: dict[str, Any] | None = None,
        *,
        version: str = LATEST_VERSION,
        initialized: bool = True,
        client_name: str = "mcpx-http-test",
    ) -> Reply:
        reply = self.request(
            "initialize",
            {"protocolVersion": version, "capabilities": capabilities or {},
             "clientInfo": {"name": client_name, "version": "1.0.0"}},
        )
        assert reply.status == 200, f"initialize: {reply.describe()}"
        result = reply.result
        session = reply.header("mcp-session-id")
        assert session, f"initialize answer has no Mcp-Session-Id header: {reply.describe()}"
        self.session_id = session
        self.protocol_version = result["protocolVersion"]
        if initialized:
            note = self.notify("notifications/initialized")
            assert note.status == 202, f"notifications/initialized should get 202: {note.describe()}"
        return reply

    def list_tools(self) -> list[dict[str, Any]]:
        tools: list[dict[str, Any]] = []
        cursor = None
        for _ in range(100):
            result = self.ok("tools/list", {"cursor": cursor} if cursor else {}).result
            tools += result["tools"]
            cursor = result.get("nextCursor")
            if not cursor:
                return tools
        raise AssertionError("tools/list pagination does not end")

    def tool_names(self) -> list[str]:
        return [t["name"] for t in self.list_tools()]

    def call_tool(
        self,
        name: str,
        arguments: dict[str, Any] | None = None,
        *,
        progress_token: Any = None,
        on_request: ServerRequestHandler | None = None,
        timeout: float | None = None,
    ) -> Reply:
        params: dict[str, Any] = {"name": name, "arguments": arguments or {}}
        if progress_token is not None:
            params["_meta"] = {"progressToken": progress_token}
        reply = self.request("tools/call", params, on_request=on_request, timeout=timeout)
        assert reply.status == 200, f"tools/call {name}: {reply.describe()}"
        return reply

    def open_stream(self, *, headers: Mapping[str, str | None] | None = None, omit: Sequence[str] = (),
                    on_request: ServerRequestHandler | None = None) -> EventStream:
        return EventStream(self, headers=headers, omit=omit, on_request=on_request)

    def delete(self, **kwargs: Any) -> Reply:
        return self.exchange("DELETE", headers=self._merge(self.base_headers(accept=None), kwargs.get("headers"),
                                                           kwargs.get("omit", ())))


class EventStream:
    """The GET stream of a session, read on a thread of its own."""

    def __init__(
        self,
        client: HTTPClient,
        *,
        headers: Mapping[str, str | None] | None = None,
        omit: Sequence[str] = (),
        on_request: ServerRequestHandler | None = None,
        read_body: bool = True,
    ) -> None:
        self.client = client
        self.on_request = on_request
        self.messages: list[dict[str, Any]] = []
        self.ended = threading.Event()
        self._cond = threading.Condition()
        self._closing = False
        all_headers = client._merge(client.base_headers(accept="text/event-stream"), headers, omit)
        self.conn = http.client.HTTPConnection(client.host, client.port, timeout=client.timeout)
        self.conn.request("GET", client.path, headers=all_headers)
        # getresponse() waits for the head only; a streaming server sends it before any event.
        resp = self.conn.getresponse()
        self.reply = Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()})
        self.resp = resp
        if self.reply.status == 200 and self.reply.content_type == "text/event-stream" and read_body:
            if self.conn.sock is not None:
                self.conn.sock.settimeout(None)
            self._thread = threading.Thread(target=self._read, name="get-stream", daemon=True)
            self._thread.start()
        else:
            self.reply.body = resp.read() if self.reply.status != 200 else b""
            self.ended.set()
            self.conn.close()

    @property
    def status(self) -> int:
        return self.reply.status

    def _read(self) -> None:
        parser = SSEReader()
        try:
            while True:
                raw = self.resp.readline()
                if not raw:
                    break
                event = parser.feed(raw.decode("utf-8", errors="replace"))
                if event is None or not event[1].strip():
                    continue
                msg = json.loads(event[1])
                self.client._record([msg])
                with self._cond:
                    self.messages.append(msg)
                    self._cond.notify_all()
                if "method" in msg and "id" in msg:
                    try:
                        self.client.answer(msg, self.on_request)
                    except Exception as exc:  # noqa: BLE001 - recorded for the test to see
                        with self._cond:
                            self.messages.append({"_answer_failed": repr(exc), "request": msg})
        except (OSError, ValueError, AttributeError, http.client.HTTPException):
            pass  # the stream ended or close() shut the socket down under the reader
        finally:
            self.ended.set()
            with self._cond:
                self._cond.notify_all()

    def wait_for(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = DEFAULT_TIMEOUT,
                 what: str = "a message") -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for msg in self.messages:
                    if predicate(msg):
                        return msg
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"GET stream: no {what} within {timeout}s; got {self.messages}")
                if self.ended.is_set():
                    raise AssertionError(f"GET stream ended before {what}; got {self.messages}")
                self._cond.wait(left)

    def wait_method(self, method: str, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
        return self.wait_for(lambda m: m.get("method") == method, timeout, method)

    def of_method(self, method: str) -> list[dict[str, Any]]:
        with self._cond:
            return [m for m in self.messages if m.get("method") == method]

    def close(self) -> None:
        self._closing = True
        sock = self.conn.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        # Let the reader see the end before the connection object is torn down under it.
        self.ended.wait(3)
        self.conn.close()


# ---------------------------------------------------------------------------------------------
# Raw sockets (malformed HTTP)
# ---------------------------------------------------------------------------------------------


@dataclass
class RawAnswer:
    data: bytes
    closed: bool  # the server closed the connection (EOF seen) within the wait
    error: str | None = None

    @property
    def status(self) -> int | None:
        match = re.match(rb"HTTP/1\.[01] (\d{3})", self.data)
        return int(match.group(1)) if match else None


def raw_exchange(port: int, payload: bytes | Sequence[bytes], *, wait: float = 5.0, host: str = "127.0.0.1",
                 chunk_pause: float = 0.0) -> RawAnswer:
    """Send bytes (one piece or several) on a fresh socket while reading on another thread; return
    what came back and whether the server closed the connection within `wait` seconds."""
    pieces = [payload] if isinstance(payload, bytes) else list(payload)
    sock = socket.create_connection((host, port), timeout=wait)
    received = bytearray()
    closed = threading.Event()
    errors: list[str] = []

    def reader() -> None:
        try:
            while True:
                data = sock.recv(65536)
                if not data:
                    closed.set()
                    return
                received.extend(data)
        except TimeoutError:
            return
        except OSError as exc:  # reset: the server closed with unread data (counts as closed)
            errors.append(repr(exc))
            closed.set()

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    try:
        for piece in pieces:
            if closed.is_set():
                break
            sock.sendall(piece)
            if chunk_pause:
                time.sleep(chunk_pause)
    except OSError as exc:
        errors.append(f"send: {exc!r}")
    thread.join(wait)
    sock.close()
    return RawAnswer(bytes(received), closed.is_set(), "; ".join(errors) or None)
