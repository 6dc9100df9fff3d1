"""Raw-pipe harness of the end-to-end tests (used by conftest.py and the tests).

mcpx runs over its real stdin/stdout in front of example backends.

`McpxPipe` writes JSON lines to mcpx's stdin and reads its stdout on a reader thread into a
queue; every wait has a deadline, so a silent or wedged mcpx fails a test instead of hanging it.
Every stdout line is kept so a test (and the fixture teardown) can assert that mcpx never wrote
anything but JSON-RPC messages there.

`DirectHTTP` is a minimal Streamable HTTP client used to ask a backend directly (no mcpx) what
it says, so pass-through can be compared field by field.
"""

from __future__ import annotations

import http.client
import itertools
import json
import queue
import re
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

LATEST_VERSION = "2025-11-25"
SUPPORTED_VERSIONS = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"]
TOOL_NAME_RE = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
OWN_TOOLS = ("manage", "proxy_status", "proxy_health")
# The example server's fixed tool set (tool_N and the weird names come with flags).
EXAMPLE_TOOLS = ("echo", "add", "sleep", "fail", "progress", "log", "whoami", "toggle_tool", "touch")

DEFAULT_WAIT = 10.0
_EOF = object()


def key_of(request_id: Any) -> str:
    """Dictionary key for a JSON-RPC id that keeps 1 and "1" apart."""
    return json.dumps(request_id)


def jsonrpc_problem(line: str) -> str | None:
    """Why `line` is not one JSON-RPC 2.0 message, or None when it is one."""
    try:
        msg = json.loads(line)
    except ValueError as exc:
        return f"not JSON ({exc})"
    if isinstance(msg, list) and msg:  # a batch answer (2025-03-26 only)
        problems = [p for item in msg if (p := jsonrpc_problem(json.dumps(item)))]
        return f"bad batch element: {problems[0]}" if problems else None
    if not isinstance(msg, dict):
        return "not a JSON object"
    if msg.get("jsonrpc") != "2.0":
        return 'no "jsonrpc": "2.0"'
    if "method" in msg:
        if not isinstance(msg["method"], str):
            return "method is not a string"
        if "id" in msg and (msg["id"] is None or isinstance(msg["id"], bool | float | dict | list)):
            return "request id is not a string or integer"
        return None
    if "id" not in msg:
        return "neither a request, a notification nor a response"
    if ("result" in msg) == ("error" in msg):
        return "a response needs exactly one of result and error"
    if "error" in msg:
        err = msg["error"]
        if not (isinstance(err, dict) and isinstance(err.get("code"), int) and isinstance(err.get("message"), str)):
            return "error needs an integer code and a string message"
    return None


def text_of(result: Mapping[str, Any]) -> str:
    """All text content blocks of a tools/call result, joined by newlines."""
    return "\n".join(
        block.get("text", "")
        for block in result.get("content", [])
        if isinstance(block, dict) and block.get("type") == "text"
    )


class McpxPipe:
    """One mcpx process driven over its stdio pipes."""

    def __init__(self, argv: Sequence[str], stderr_path: Path, registry: Any) -> None:
        self.argv = [str(a) for a in argv]
        self.stderr_path = stderr_path
        self._stderr = open(stderr_path, "wb")  # noqa: SIM115 - closed in close()
        self.proc: subprocess.Popen[bytes] = registry.spawn(
            self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr, bufsize=0
        )
        self.lines: list[str] = []  # every stdout line, verbatim
        self.notifications: list[dict[str, Any]] = []  # every notification mcpx sent, in order
        self.server_requests: list[dict[str, Any]] = []  # requests mcpx sent us (other than ping)
        self.pings_from_server = 0
        self.answer_server_requests = True
        self._responses: dict[str, dict[str, Any]] = {}
        self._null_id_responses: list[dict[str, Any]] = []
        self._inbox: queue.Queue[Any] = queue.Queue()
        self._ids = itertools.count(1)
        self._eof = False
        self._write_lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, name="mcpx-stdout", daemon=True)
        self._reader.start()

    # -- plumbing ---------------------------------------------------------------------------------
    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in iter(self.proc.stdout.readline, b""):
            line = raw.decode("utf-8", errors="replace")
            line = line[:-1] if line.endswith("\n") else line
            self.lines.append(line)
            self._inbox.put(line)
        self._inbox.put(_EOF)

    def stderr_tail(self, lines: int = 60) -> str:
        try:
            self._stderr.flush()
        except (OSError, ValueError):
            pass  # already closed: the file on disk is complete
        try:
            text = self.stderr_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def _fail(self, what: str) -> None:
        code = self.proc.poll()
        state = f"mcpx exited with {code}" if code is not None else "mcpx still running"
        raise AssertionError(f"{what} ({state}).\n--- mcpx stderr (tail) ---\n{self.stderr_tail()}")

    def send(self, message: Any) -> None:
        self.send_raw(json.dumps(message, separators=(",", ":"), ensure_ascii=False))

    def send_raw(self, line: str) -> None:
        assert "\n" not in line, "one message per line"
        assert self.proc.stdin is not None
        with self._write_lock:
            try:
                self.proc.stdin.write(line.encode() + b"\n")
                self.proc.stdin.flush()
            except (BrokenPipeError, OSError):
                self._fail(f"could not write to mcpx stdin: {line[:200]}")

    def pump(self, timeout: float) -> bool:
        """Take at most one line off stdout and file it; False when nothing arrived in time."""
        try:
            item = self._inbox.get(timeout=max(0.0, timeout))
        except queue.Empty:
            return False
        if item is _EOF:
            self._eof = True
            return True
        try:
            msg = json.loads(item)
        except ValueError:
            return True  # recorded in self.lines; assert_stdout_clean() reports it
        for element in msg if isinstance(msg, list) else [msg]:
            if isinstance(element, dict):
                self._file(element)
        return True

    def _file(self, msg: dict[str, Any]) -> None:
        if "method" in msg and "id" in msg:
            self._on_server_request(msg)
        elif "method" in msg:
            self.notifications.append(msg)
        elif "id" in msg:
            if msg["id"] is None:
                self._null_id_responses.append(msg)
            else:
                self._responses[key_of(msg["id"])] = msg

    def _on_server_request(self, msg: dict[str, Any]) -> None:
        if msg["method"] == "ping":
            self.pings_from_server += 1
            self.send({"jsonrpc": "2.0", "id": msg["id"], "result": {}})
            return
        self.server_requests.append(msg)
        if self.answer_server_requests:
            self.send({"jsonrpc": "2.0", "id": msg["id"], "error": {"code": -32601, "message": "Method not found"}})

    def drain(self, seconds: float) -> None:
        """Process whatever arrives during `seconds`."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if self._eof:
                time.sleep(min(left, 0.05))
                continue
            self.pump(left)

    # -- requests ---------------------------------------------------------------------------------
    def next_id(self) -> int:
        return next(self._ids)

    def wait_response(self, request_id: Any, timeout: float = DEFAULT_WAIT) -> dict[str, Any]:
        key = key_of(request_id)
        deadline = time.monotonic() + timeout
        while key not in self._responses:
            left = deadline - time.monotonic()
            if left <= 0:
                self._fail(f"no response to request id {request_id!r} within {timeout}s")
            if self._eof:
                self._fail(f"mcpx closed stdout before answering request id {request_id!r}")
            self.pump(left)
        return self._responses.pop(key)

    def has_response(self, request_id: Any) -> bool:
        return key_of(request_id) in self._responses

    def unclaimed_responses(self) -> list[dict[str, Any]]:
        """Responses nobody waited for yet (null ids included), in no particular order."""
        return self._null_id_responses + list(self._responses.values())

    def has_null_id_response(self) -> bool:
        return bool(self._null_id_responses)

    def wait_null_id_response(self, timeout: float = DEFAULT_WAIT) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while not self._null_id_responses:
            left = deadline - time.monotonic()
            if left <= 0:
                self._fail(f"no response with id null within {timeout}s")
            if self._eof:
                self._fail("mcpx closed stdout before answering")
            self.pump(left)
        return self._null_id_responses.pop(0)

    def request(
        self, method: str, params: Any = None, *, timeout: float = DEFAULT_WAIT, request_id: Any = None
    ) -> dict[str, Any]:
        """Send a request and return the whole response object (result or error)."""
        request_id = self.next_id() if request_id is None else request_id
        msg: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            msg["params"] = params
        self.send(msg)
        response = self.wait_response(request_id, timeout)
        assert response.get("jsonrpc") == "2.0", response
        return response

    def result(self, method: str, params: Any = None, *, timeout: float = DEFAULT_WAIT) -> Any:
        """Send a request that must succeed; return its result."""
        response = self.request(method, params, timeout=timeout)
        assert "error" not in response, f"{method} failed: {response['error']}"
        assert "result" in response, response
        return response["result"]

    def error(self, method: str, params: Any = None, *, timeout: float = DEFAULT_WAIT) -> dict[str, Any]:
        """Send a request that must fail; return its error object."""
        response = self.request(method, params, timeout=timeout)
        assert "error" in response, f"{method} should have failed, got {response}"
        return response["error"]

    def notify(self, method: str, params: Any = None) -> None:
        msg: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            msg["params"] = params
        self.send(msg)

    # -- MCP --------------------------------------------------------------------------------------
    def initialize(
        self,
        protocol_version: str = LATEST_VERSION,
        capabilities: dict[str, Any] | None = None,
        *,
        initialized: bool = True,
        timeout: float = 15.0,
    ) -> dict[str, Any]:
        result = self.result(
            "initialize",
            {
                "protocolVersion": protocol_version,
                "capabilities": capabilities or {},
                "clientInfo": {"name": "mcpx-e2e", "version": "1.0.0"},
            },
            timeout=timeout,
        )
        if initialized:
            self.notify("notifications/initialized")
        return result

    def list_tools(self, *, timeout: float = DEFAULT_WAIT) -> list[dict[str, Any]]:
        """Every tool mcpx exposes, following nextCursor."""
        tools: list[dict[str, Any]] = []
        cursor = None
        for _ in range(200):
            result = self.result("tools/list", {"cursor": cursor} if cursor else {}, timeout=timeout)
            assert isinstance(result.get("tools"), list), result
            tools.extend(result["tools"])
            cursor = result.get("nextCursor")
            if not cursor:
                return tools
        raise AssertionError("tools/list pagination does not end")

    def tool_names(self, **kwargs: Any) -> list[str]:
        return [tool["name"] for tool in self.list_tools(**kwargs)]

    def call_tool(
        self,
        name: str,
        arguments: dict[str, Any] | None = None,
        *,
        timeout: float = DEFAULT_WAIT,
        meta: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """tools/call; returns the whole response (a test decides whether result or error is right)."""
        params: dict[str, Any] = {"name": name, "arguments": arguments or {}}
        if meta is not None:
            params["_meta"] = meta
        return self.request("tools/call", params, timeout=timeout)

    def call_ok(self, name: str, arguments: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
        """tools/call that must produce a result without isError."""
        response = self.call_tool(name, arguments, **kwargs)
        assert "result" in response, f"tools/call {name} failed: {response.get('error')}"
        assert not response["result"].get("isError"), f"tools/call {name} -> isError: {response['result']}"
        return response["result"]

    def wait_notification(
        self,
        method: str,
        *,
        since: int = 0,
        timeout: float = DEFAULT_WAIT,
        where: Callable[[dict[str, Any]], bool] = lambda _: True,
    ) -> dict[str, Any]:
        """The first notification `method` at index >= since that satisfies `where`."""
        deadline = time.monotonic() + timeout
        seen = since
        while True:
            while seen < len(self.notifications):
                msg = self.notifications[seen]
                seen += 1
                if msg.get("method") == method and where(msg):
                    return msg
            left = deadline - time.monotonic()
            if left <= 0:
                got = sorted({m.get("method") for m in self.notifications[since:]})
                self._fail(f"no {method} notification within {timeout}s (got: {got})")
            if self._eof:
                self._fail(f"mcpx closed stdout while waiting for {method}")
            self.pump(min(left, 0.25))

    def notifications_of(self, method: str, since: int = 0) -> list[dict[str, Any]]:
        return [m for m in self.notifications[since:] if m.get("method") == method]

    def wait_tools(
        self, predicate: Callable[[list[str]], bool], *, timeout: float = 15.0, interval: float = 0.5
    ) -> list[str]:
        """Poll tools/list until predicate(names) holds; returns the names."""
        deadline = time.monotonic() + timeout
        names: list[str] = []
        while time.monotonic() < deadline:
            names = self.tool_names()
            if predicate(names):
                return names
            self.drain(interval)
        self._fail(f"tools/list never satisfied the condition within {timeout}s; last names: {names}")
        return names

    # -- shutdown ---------------------------------------------------------------------------------
    def close_stdin(self) -> None:
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            try:
                self.proc.stdin.close()
            except OSError:
                pass

    def wait_exit(self, timeout: float) -> int | None:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stdout_problems(self) -> list[str]:
        # Let the reader finish so no line is missed.
        return [
            f"line {i + 1}: {why}: {line[:200]!r}"
            for i, line in enumerate(self.lines)
            if (why := jsonrpc_problem(line))
        ]

    def assert_stdout_clean(self) -> None:
        problems = self.stdout_problems()
        assert not problems, "mcpx wrote something other than JSON-RPC lines to stdout:\n" + "\n".join(problems)

    def close(self) -> None:
        self.close_stdin()
        if self.wait_exit(5) is None:
            self.proc.kill()
            self.wait_exit(5)
        self._reader.join(2)
        self._stderr.close()


# ---------------------------------------------------------------------------------------------
# Direct Streamable HTTP client (to look at a backend without mcpx)
# ---------------------------------------------------------------------------------------------


class DirectHTTP:
    """Just enough Streamable HTTP to initialize, list and call a backend directly."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.path = parts.path or "/"
        self.timeout = timeout
        self.session_id: str | None = None
        self.protocol_version: str | None = None
        self._ids = itertools.count(1)

    def post(self, message: dict[str, Any]) -> list[dict[str, Any]]:
        """POST one message; returns the JSON-RPC messages of the answer (none for 202)."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
            if self.session_id:
                headers["Mcp-Session-Id"] = self.session_id
            if self.protocol_version:
                headers["MCP-Protocol-Version"] = self.protocol_version
            conn.request("POST", self.path, body=json.dumps(message).encode(), headers=headers)
            resp = conn.getresponse()
            session = resp.getheader("mcp-session-id")
            if session:
                self.session_id = session
            if resp.status == 202:
                resp.read()
                return []
            assert resp.status == 200, f"backend answered HTTP {resp.status}: {resp.read()[:300]!r}"
            ctype = (resp.getheader("content-type") or "").lower()
            if ctype.startswith("application/json"):
                body = json.loads(resp.read())
                return body if isinstance(body, list) else [body]
            assert ctype.startswith("text/event-stream"), f"unexpected content type {ctype!r}"
            return self._read_sse(resp, message.get("id"))
        finally:
            conn.close()

    @staticmethod
    def _read_sse(resp: http.client.HTTPResponse, request_id: Any) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        data: list[str] = []
        while True:
            raw = resp.readline()
            if not raw:
                break
            line = raw.decode().rstrip("\r\n")
            if line == "":
                payload = "\n".join(data)
                data = []
                if payload.strip():
                    msg = json.loads(payload)
                    messages.append(msg)
                    if "method" not in msg and msg.get("id") == request_id:
                        break
                continue
            if line.startswith("data:"):
                data.append(line[5:].lstrip(" ") if line.startswith("data: ") else line[5:])
        return messages

    def request(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        request_id = next(self._ids)
        msg: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            msg["params"] = params
        for answer in self.post(msg):
            if answer.get("id") == request_id and "method" not in answer:
                return answer
        raise AssertionError(f"backend sent no response to {method}")

    def initialize(self, version: str = LATEST_VERSION) -> dict[str, Any]:
        answer = self.request(
            "initialize",
            {"protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "e2e-direct", "version": "1"}},
        )
        self.protocol_version = answer["result"]["protocolVersion"]
        self.post({"jsonrpc": "2.0", "method": "notifications/initialized"})
        return answer["result"]

    def list_tools(self) -> list[dict[str, Any]]:
        tools: list[dict[str, Any]] = []
        cursor = None
        for _ in range(200):
            answer = self.request("tools/list", {"cursor": cursor} if cursor else {})
            tools.extend(answer["result"]["tools"])
            cursor = answer["result"].get("nextCursor")
            if not cursor:
                return tools
        raise AssertionError("backend tools/list pagination does not end")

    def call_tool(self, name: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.request("tools/call", {"name": name, "arguments": arguments or {}})


def servers_arg(backends: Mapping[str, str] | Sequence[Any]) -> str:
    """--servers value from {name: url} or from Backend objects."""
    pairs = backends.items() if isinstance(backends, Mapping) else [(b.name, b.url) for b in backends]
    return ",".join(f"{name}={url}" for name, url in pairs)


def mcpx_argv(
    mcpx_bin: Path, backends: Mapping[str, str] | Sequence[Any], extra: Sequence[str], log_level: str | None
) -> list[str]:
    """`mcpx --stdio [--servers ...] [--log-level L] extra...`, as the test fixtures start it."""
    argv: list[str] = [str(mcpx_bin), "--stdio"]
    if backends:
        argv += ["--servers", servers_arg(backends)]
    if log_level:
        argv += ["--log-level", log_level]
    return argv + list(extra)


def manage_args(action: str, **fields: Any) -> dict[str, Any]:
    """Arguments of mcpx's `manage` tool; the one place that knows their shape."""
    return {"action": action, **{k: v for k, v in fields.items() if v is not None}}
