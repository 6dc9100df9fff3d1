"""Harness of the operator-endpoint tests: `mcpx --http HOST:PORT` as a long-running process.

`McpxHTTP` starts `mcpx --http 127.0.0.1:0 ...` (stdin /dev/null: the HTTP door runs until
SIGTERM, whatever stdin does), reads the port from its `http: listening on http://HOST:PORT` line
on stderr (a log file, polled) and offers small helpers for the operator endpoints (/health,
/status, /servers, /tools, /call, /metrics, /dashboard). Teardown sends SIGTERM by PID, then
SIGKILL by PID if it is still there after a grace period.

`McpHTTPSession` is a minimal Streamable HTTP MCP client for mcpx's /mcp (answers may come as JSON
or as an SSE stream). `Metrics` wraps prometheus_client's text parser.
"""

from __future__ import annotations

import http.client
import itertools
import json
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from prometheus_client.parser import text_string_to_metric_families

HTTP_LISTENING_RE = re.compile(r"http: listening on (http://(\S+?):(\d+))(?=\s|/|$)")
LATEST_VERSION = "2025-11-25"
OWN_TOOLS = ("manage", "proxy_status", "proxy_health")
START_TIMEOUT = 15.0
STOP_GRACE = 5.0


def tail(path: Path, lines: int = 60) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def wait_for(what: str, probe: Callable[[], Any], timeout: float = 10.0, interval: float = 0.1) -> Any:
    """Poll `probe` until it returns something truthy; fail naming `what` and the last value."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = probe()
        except (OSError, http.client.HTTPException) as exc:  # not up yet, connection reset, ...
            last = exc
        else:
            if last:
                return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what}: not within {timeout}s (last: {str(last)[:800]})")
        time.sleep(interval)


# ---------------------------------------------------------------------------------------------
# Plain HTTP
# ---------------------------------------------------------------------------------------------


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise AssertionError(f"HTTP {self.status} body is not JSON ({exc}): {self.body[:500]!r}") from None

    def __str__(self) -> str:
        return f"HTTP {self.status} {self.content_type!r} {self.body[:500]!r}"


def http_request(
    base_url: str,
    method: str,
    path: str,
    body: bytes | str | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 10.0,
) -> Response:
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=timeout)
    try:
        data = body.encode() if isinstance(body, str) else body
        conn.request(method, path, body=data, headers=dict(headers or {}))
        resp = conn.getresponse()
        payload = resp.read()
        return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, payload)
    finally:
        conn.close()


# ---------------------------------------------------------------------------------------------
# mcpx --http
# ---------------------------------------------------------------------------------------------


def servers_arg(backends: Mapping[str, str] | Sequence[Any]) -> str:
    pairs = backends.items() if isinstance(backends, Mapping) else [(b.name, b.url) for b in backends]
    return ",".join(f"{name}={url}" for name, url in pairs)


class McpxHTTP:
    """One `mcpx --http 127.0.0.1:0` process and helpers for its endpoints."""

    def __init__(self, argv: Sequence[str], log_dir: Path, registry: Any, token: str | None = None) -> None:
        self.argv = [str(a) for a in argv]
        self.token = token
        stem = f"mcpx-http-{id(self):x}"
        self.stderr_path = log_dir / f"{stem}.stderr"
        self.stdout_path = log_dir / f"{stem}.stdout"
        self._registry = registry
        with open(self.stderr_path, "wb") as err, open(self.stdout_path, "wb") as out:
            self.proc: subprocess.Popen[bytes] = registry.spawn(
                self.argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err
            )
        self.started_at = time.time()
        self.base_url = ""
        self.port = 0
        self.exit_code_after_sigterm: int | None = None

    # -- life cycle -------------------------------------------------------------------------------
    def wait_listening(self, timeout: float = START_TIMEOUT) -> McpxHTTP:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = HTTP_LISTENING_RE.search(self.stderr_path.read_text(errors="replace"))
            if match:
                self.base_url = match.group(1)
                self.port = int(match.group(3))
                assert self.port != 0, f"mcpx announced port 0: {match.group(0)!r}"
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(
            f"mcpx did not log 'http: listening on http://HOST:PORT' on stderr within {timeout}s "
            f"(exit code {self.proc.poll()}): {' '.join(self.argv)}\n--- stderr ---\n{self.stderr_tail()}"
            f"\n--- stdout ---\n{tail(self.stdout_path, 20)}"
        )

    @property
    def mcp_url(self) -> str:
        return self.base_url + "/mcp"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stderr_tail(self, lines: int = 60) -> str:
        return tail(self.stderr_path, lines)

    def terminate(self, grace: float = STOP_GRACE) -> int | None:
        """SIGTERM by PID; the exit code, or None if it was still running after `grace`."""
        if self.proc.poll() is not None:
            return self.proc.returncode
        try:
            self.proc.send_signal(signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.exit_code_after_sigterm = self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            self.exit_code_after_sigterm = None
        return self.exit_code_after_sigterm

    def kill(self) -> None:
        """SIGKILL by PID (a crash), and reap."""
        self._registry.kill(self.proc)

    def close(self) -> None:
        self.terminate()
        self._registry.kill(self.proc)

    # -- HTTP -------------------------------------------------------------------------------------
    def auth_headers(self, token: str | None = None) -> dict[str, str]:
        token = token if token is not None else self.token
        return {"Authorization": f"Bearer {token}"} if token else {}

    def request(
        self,
        method: str,
        path: str,
        body: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        auth: bool = True,
        timeout: float = 10.0,
    ) -> Response:
        all_headers = {**(self.auth_headers() if auth else {}), **(headers or {})}
        return http_request(self.base_url, method, path, body, all_headers, timeout)

    def get(self, path: str, **kwargs: Any) -> Response:
        return self.request("GET", path, **kwargs)

    def get_json(self, path: str, **kwargs: Any) -> Any:
        resp = self.get(path, **kwargs)
        assert resp.status == 200, f"GET {path}: {resp}"
        assert resp.content_type.startswith("application/json"), f"GET {path}: content type {resp.content_type!r}"
        return resp.json()

    def post_call(self, name: str, arguments: Any = None, *, timeout: float = 15.0, raw: Any = None) -> Response:
        """POST /call {"name": name, "arguments": arguments}; `raw` replaces the body as is."""
        if raw is None:
            payload: dict[str, Any] = {"name": name}
            if arguments is not None:
                payload["arguments"] = arguments
            raw = json.dumps(payload)
        return self.request("POST", "/call", raw, {"Content-Type": "application/json"}, timeout=timeout)

    def call_ok(self, name: str, arguments: Any = None, **kwargs: Any) -> dict[str, Any]:
        resp = self.post_call(name, arguments, **kwargs)
        assert resp.status == 200, f"POST /call {name}: {resp}"
        result = resp.json()
        assert isinstance(result, dict) and not result.get("isError"), f"POST /call {name}: {result}"
        return result

    def metrics(self) -> Metrics:
        resp = self.get("/metrics")
        assert resp.status == 200, f"GET /metrics: {resp}"
        return Metrics.parse(resp.text)

    def server_count(self) -> dict[str, Any]:
        return self.get_json("/servers/count")

    def wait_healthy(self, healthy: int, timeout: float = 10.0) -> dict[str, Any]:
        return wait_for(
            f"/servers/count healthy == {healthy}",
            lambda: (c := self.server_count()).get("healthy") == healthy and c,
            timeout,
        )

    def session(self, *, token: str | None = None) -> McpHTTPSession:
        s = McpHTTPSession(self.mcp_url, token=token if token is not None else self.token)
        s.initialize()
        return s


# ---------------------------------------------------------------------------------------------
# Minimal MCP Streamable HTTP client
# ---------------------------------------------------------------------------------------------


class McpHTTPSession:
    """initialize / notifications/initialized / requests over POST, with the Mcp-Session-Id header."""

    def __init__(self, url: str, *, token: str | None = None, timeout: float = 15.0) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.path = parts.path or "/mcp"
        self.token = token
        self.timeout = timeout
        self.session_id: str | None = None
        self.protocol_version: str | None = None
        self.notifications: list[dict[str, Any]] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def headers(self) -> dict[str, str]:
        h = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
        if self.session_id:
            h["Mcp-Session-Id"] = self.session_id
        if self.protocol_version:
            h["MCP-Protocol-Version"] = self.protocol_version
        if self.token:
            h["Authorization"] = f"Bearer {self.token}"
        return h

    def next_id(self) -> int:
        with self._lock:
            return next(self._ids)

    def post(self, message: dict[str, Any], *, timeout: float | None = None) -> list[dict[str, Any]]:
        """POST one message; the JSON-RPC messages of the answer (none for 202)."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout or self.timeout)
        try:
            conn.request("POST", self.path, body=json.dumps(message).encode(), headers=self.headers())
            resp = conn.getresponse()
            session = resp.getheader("mcp-session-id")
            if session and not self.session_id:
                self.session_id = session
            if resp.status == 202:
                resp.read()
                return []
            body_type = (resp.getheader("content-type") or "").lower()
            if resp.status != 200:
                raise AssertionError(f"POST {self.path} {message.get('method')}: HTTP {resp.status} {resp.read()[:300]!r}")
            if body_type.startswith("application/json"):
                body = json.loads(resp.read() or b"null")
                messages = body if isinstance(body, list) else [body] if body is not None else []
            else:
                assert body_type.startswith("text/event-stream"), f"unexpected content type {body_type!r}"
                messages = self._read_sse(resp, message.get("id"))
            for m in messages:
                if "method" in m and "id" not in m:
                    self.notifications.append(m)
            return messages
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
                    if request_id is not None and "method" not in msg and msg.get("id") == request_id:
                        break
                continue
            if line.startswith("data:"):
                data.append(line[6:] if line.startswith("data: ") else line[5:])
        return messages

    def request(self, method: str, params: dict[str, Any] | None = None, *, timeout: float | None = None,
                request_id: Any = None) -> dict[str, Any]:
        request_id = self.next_id() if request_id is None else request_id
        msg: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            msg["params"] = params
        for answer in self.post(msg, timeout=timeout):
            if answer.get("id") == request_id and "method" not in answer:
                return answer
        raise AssertionError(f"no response to {method} (id {request_id})")

    def result(self, method: str, params: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        answer = self.request(method, params, **kwargs)
        assert "result" in answer, f"{method} failed: {answer}"
        return answer["result"]

    def notify(self, method: str, params: dict[str, Any] | None = None) -> None:
        msg: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            msg["params"] = params
        self.post(msg)

    def initialize(self) -> dict[str, Any]:
        result = self.result(
            "initialize",
            {"protocolVersion": LATEST_VERSION, "capabilities": {}, "clientInfo": {"name": "mcpx-ops-tests", "version": "1"}},
        )
        assert self.session_id, "mcpx's initialize answer carries no Mcp-Session-Id header"
        self.protocol_version = result["protocolVersion"]
        self.notify("notifications/initialized")
        return result

    def list_tools(self) -> list[dict[str, Any]]:
        tools: list[dict[str, Any]] = []
        cursor = None
        for _ in range(200):
            result = self.result("tools/list", {"cursor": cursor} if cursor else {})
            tools.extend(result["tools"])
            cursor = result.get("nextCursor")
            if not cursor:
                return tools
        raise AssertionError("tools/list pagination does not end")

    def call_tool(self, name: str, arguments: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
        return self.request("tools/call", {"name": name, "arguments": arguments or {}}, **kwargs)

    def call_ok(self, name: str, arguments: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
        answer = self.call_tool(name, arguments, **kwargs)
        assert "result" in answer and not answer["result"].get("isError"), f"tools/call {name}: {answer}"
        return answer["result"]

    def delete(self) -> int:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            conn.request("DELETE", self.path, headers=self.headers())
            resp = conn.getresponse()
            resp.read()
            return resp.status
        finally:
            conn.close()


class Background:
    """Run `fn` on a daemon thread; `.result(timeout)` re-raises what it raised."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        self._done = threading.Event()
        self._value: Any = None
        self._error: BaseException | None = None

        def run() -> None:
            try:
                self._value = fn()
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                self._error = exc
            finally:
                self._done.set()

        threading.Thread(target=run, daemon=True).start()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def result(self, timeout: float) -> Any:
        assert self._done.wait(timeout), f"background call still running after {timeout}s"
        if self._error is not None:
            raise self._error
        return self._value


# ---------------------------------------------------------------------------------------------
# Prometheus text
# ---------------------------------------------------------------------------------------------


@dataclass
class Sample:
    name: str
    labels: dict[str, str]
    value: float


@dataclass
class Metrics:
    text: str
    types: dict[str, str] = field(default_factory=dict)  # family name (as parsed) -> type
    samples: list[Sample] = field(default_factory=list)
    family_of: dict[str, str] = field(default_factory=dict)  # sample name -> family name

    @classmethod
    def parse(cls, text: str) -> Metrics:
        m = cls(text)
        for family in text_string_to_metric_families(text):
            m.types[family.name] = family.type
            for s in family.samples:
                m.samples.append(Sample(s.name, dict(s.labels), float(s.value)))
                m.family_of[s.name] = family.name
        return m

    def find(self, name: str, **labels: str) -> list[Sample]:
        return [s for s in self.samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]

    def one(self, name: str, **labels: str) -> float:
        found = self.find(name, **labels)
        assert len(found) == 1, f"expected one {name}{labels} sample, found {len(found)}: {found}\n{self.excerpt(name)}"
        return found[0].value

    def maybe(self, name: str, **labels: str) -> float | None:
        found = self.find(name, **labels)
        assert len(found) <= 1, f"several {name}{labels} samples: {found}"
        return found[0].value if found else None

    def type_of(self, sample_name: str) -> str | None:
        family = self.family_of.get(sample_name)
        return self.types.get(family) if family else None

    def excerpt(self, prefix: str) -> str:
        return "\n".join(line for line in self.text.splitlines() if prefix in line)[:3000]


def tool_label_matches(label: str | None, server: str, tool: str) -> bool:
    """The `tool` label may hold the backend's tool name or the namespaced one (SERVER__TOOL)."""
    return label in (tool, f"{server}__{tool}")


def tool_samples(metrics: Metrics, name: str, server: str, tool: str, **labels: str) -> list[Sample]:
    return [s for s in metrics.find(name, server=server, **labels) if tool_label_matches(s.labels.get("tool"), server, tool)]


def calls_total(metrics: Metrics, server: str, tool: str, outcome: str) -> float:
    return sum(s.value for s in tool_samples(metrics, "mcpx_tool_calls_total", server, tool, outcome=outcome))


# ---------------------------------------------------------------------------------------------
# proxy_status per-tool figures (the key layout is the implementer's: found by shape)
# ---------------------------------------------------------------------------------------------


def tool_figures(status: Any, server: str, tool: str) -> dict[str, Any] | None:
    """The object in proxy_status's structured content that holds `server`'s `tool`'s figures.

    Accepted shapes: an object keyed by the tool's name (plain inside the server's entry, or
    namespaced anywhere) whose value has an integer `calls`; or an object with `name`/`tool` equal
    to the tool's name and an integer `calls` (inside the server's entry, or carrying
    `server`: SERVER, or namespaced).
    """
    namespaced = f"{server}__{tool}"

    def has_calls(o: Any) -> bool:
        return isinstance(o, dict) and isinstance(o.get("calls"), int) and not isinstance(o.get("calls"), bool)

    def walk(node: Any, in_server: bool) -> dict[str, Any] | None:
        if isinstance(node, list):
            for item in node:
                if (found := walk(item, in_server)) is not None:
                    return found
            return None
        if not isinstance(node, dict):
            return None
        here = in_server or node.get("name") == server or node.get("server") == server
        for key, value in node.items():
            if has_calls(value) and (key == namespaced or (here and key == tool)):
                return value
        label = node.get("tool", node.get("name"))
        if has_calls(node) and (label == namespaced or (here and label == tool)):
            return node
        for value in node.values():
            if isinstance(value, dict | list) and (found := walk(value, here)) is not None:
                return found
        return None

    return walk(status, False)


def has_figure(figures: dict[str, Any], word: str) -> bool:
    return any(word in key.lower() and isinstance(v, int | float) for key, v in figures.items())
