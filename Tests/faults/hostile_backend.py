#!/usr/bin/env python3
"""A hostile MCP backend (Streamable HTTP and legacy HTTP+SSE), Python standard library only.

It speaks just enough MCP for mcpx to connect (initialize, tools/list, ping answered normally),
then misbehaves in the way it is told: per path, so one process serves many behaviours at once.

    python hostile_backend.py [--port 0] [--mode ok] [--param key=value ...] [--verbose]
    -> prints "listening on http://127.0.0.1:PORT/" on stdout

URL layout (every path is an independent endpoint with its own sessions and log):

    /<mode>[/<anything>][?param=value&...]   e.g. /hang, /status/a?code=502, /expire?after=3
    /<anything else>                         the --mode/--param given on the command line

Where the misbehaviour applies (parameter `on`):
    on=trigger (default)  only tools/call of the tool named "trigger" (so "echo" stays healthy)
    on=call               every tools/call
    on=all                every POST, initialize included (the backend never gets ready)
    on=method:<name>      every request of that method (e.g. method:resources/read)
    on=a,b,...            any of these (e.g. on=call,method:ping)

Modes (parameters in brackets):
    ok              behave
    hang            accept the request, never answer (hold the connection until the client leaves)
    sse_silent      200 + text/event-stream headers, then nothing, forever
    slow [ms]       answer after `ms` milliseconds (default 3000)
    status [code]   answer with HTTP `code` (default 500) and a short text body
    garbage         200 application/json with a body that is not JSON
    html            200 text/html
    sse_forever     an SSE stream with a progress notification every 100 ms, never the response
    sse_drop [framing=chunked|close] [rst=1]
                    an SSE stream that is cut in the middle of an event (socket closed)
    drop            read the request, then reset the connection without answering
    wrong_id [then=right]
                    a response whose id is not the request's (then=right: the right one follows, SSE)
    dup             an SSE stream with the response twice (different contents)
    huge [mb] [sse=1]  a response body of `mb` MiB (default 100), streamed
    bad_utf8        a response with invalid UTF-8 bytes inside a JSON string
    bad_escape      a response with invalid escapes (\\x, \\u12) inside a JSON string
    bad_surrogate   a response with a lone surrogate escape (\\ud800) inside a JSON string
    deep [levels]   a response nesting `levels` arrays (default 100000)
    bad_error [shape=null|string|array|nocode|codestring|nomessage|messagenumber|codefloat]
                    a JSON-RPC error response whose error object is malformed
    unauthorized    401 with WWW-Authenticate: Bearer resource_metadata=...
    expire [after] [max_expiries]
                    a session dies after `after` requests (default 3): 404 for its id from then on;
                    a new initialize works (applies to every request, whatever `on` says); once
                    `max_expiries` sessions have died, sessions live forever
    tools [kind=hostile|many|deep] [count]
                    tools/list answers hostile tool definitions (applies to tools/list)
    legacy [endpoint=same|other|evil|scheme]
                    the 2024-11-05 HTTP+SSE transport: POST to the URL gets 405, GET opens the
                    stream whose first event is `endpoint`; `other` points it at another port of
                    this process (the trap, which records every connection), `evil` at another host
    fuzz [seed]     every affected request gets a randomly mutated answer (seeded per request)
    flood [n] [reqs] [every=1]
                    the GET event stream (Accept: text/event-stream) sends `n` (default 20000)
                    notifications/tools/list_changed in one burst, with `reqs` (default 0) ping and
                    sampling/createMessage requests (ids) mixed in; only the first GET stream of
                    the endpoint floods unless every=1; the stream is then held open
    pages [mb] [count] [delay_ms]
                    tools/list answers endless pages of `mb` MiB (default 10; mb=0: `count` small
                    tools, default 5) after `delay_ms` (default 0), nextCursor always set
    notify          tools/call of "trigger" answers as an SSE stream that first carries forged
                    notifications (progress for tokens of other calls / never issued, messages
                    with duplicate member names hiding notifications/message, resources/updated,
                    cancelled for mcpx's own request id, method together with result), then one
                    legitimate progress for the call's own progressToken (message "LEGIT"), then
                    the answer; the forgeries (never the legitimate one) also go to every open GET
                    stream of the endpoint. Every forgery carries the marker "FAKE"
    links [sse=1]   declares resources; tools/call "links" (any mode) answers a resource_link
                    (file:///x), an embedded resource (file:///x) and a resource_link
                    "a+file:///secret"; resources/list and resources/read serve those URIs (the
                    text names the endpoint path)
    echo_secret [how=rpc|http500]
                    affected requests fail with a message that echoes the secrets the request
                    carried: the bare Bearer token, decoded Basic credentials, the path with query

Any mode answers SSE instead of JSON for its normal answers with `sse=1`.

Control and inspection (for tests):
    GET  /_log?path=/hang&since=N   JSON list of what the endpoint received (messages, headers)
    GET  /_stats?path=/huge         per-endpoint figures: bytes_sent (huge bodies), initializes,
                                    expired_404, requests, session_requests (requests seen on the
                                    busiest live session), m:<method> (POSTed messages per method),
                                    responses (POSTed answers to the backend's requests), pages,
                                    get_streams, flooded (events sent by flood)
    GET  /_trap                     {"port": P, "hits": N, "first_bytes": [...]}
    POST /_control/<path>           JSON object of parameters (mode, on, code, ...) overlaid on
                                    that endpoint's query parameters from now on
"""

from __future__ import annotations

import argparse
import base64
import json
import queue
import random
import select
import socket
import struct
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

MODES = {
    "ok",
    "hang",
    "sse_silent",
    "slow",
    "status",
    "garbage",
    "html",
    "sse_forever",
    "sse_drop",
    "drop",
    "wrong_id",
    "dup",
    "huge",
    "bad_utf8",
    "bad_escape",
    "bad_surrogate",
    "deep",
    "unauthorized",
    "expire",
    "tools",
    "legacy",
    "fuzz",
    "bad_error",
    "flood",
    "pages",
    "notify",
    "links",
    "echo_secret",
}
STREAM_MODES = {"flood", "notify", "links"}  # modes that serve a GET event stream
SUPPORTED_VERSIONS = ("2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05")
MAX_HOLD_SECONDS = 600.0  # nothing is held longer than this, whatever the client does
LOG_BODY_LIMIT = 64 * 1024


# ---------------------------------------------------------------------------------------------
# Per-endpoint state
# ---------------------------------------------------------------------------------------------


class Endpoint:
    """One path: its parameters, sessions and the log of what it received."""

    def __init__(self, path: str, params: dict[str, str]) -> None:
        self.path = path
        self.params = params
        self.overrides: dict[str, str] = {}
        self.lock = threading.Lock()
        self.sessions: dict[str, int] = {}  # session id -> requests seen with it
        self.dead: set[str] = set()
        self.log: list[dict[str, Any]] = []
        self.stats: dict[str, int] = {"initializes": 0, "expired_404": 0, "bytes_sent": 0, "requests": 0}
        self.counter = 0
        self.legacy: dict[str, queue.Queue[bytes | None]] = {}
        self.streams: list[queue.Queue[bytes | None]] = []  # open GET event streams
        self.flooded = False

    def param(self, key: str, default: str | None = None) -> str | None:
        with self.lock:
            if key in self.overrides:
                return self.overrides[key]
            return self.params.get(key, default)

    def int_param(self, key: str, default: int) -> int:
        try:
            return int(self.param(key, str(default)) or default)
        except ValueError:
            return default

    def int_param_unlocked(self, key: str, default: int) -> int:
        """int_param for callers that already hold the lock."""
        try:
            return int(self.overrides.get(key, self.params.get(key, str(default))))
        except (TypeError, ValueError):
            return default

    @property
    def mode(self) -> str:
        return self.param("mode", "ok") or "ok"

    def record(self, entry: dict[str, Any]) -> int:
        with self.lock:
            entry["seq"] = len(self.log)
            entry["t"] = time.time()
            self.log.append(entry)
            self.stats["requests"] += 1
            self.counter += 1
            return self.counter

    def bump(self, key: str, n: int = 1) -> None:
        with self.lock:
            self.stats[key] = self.stats.get(key, 0) + n


class Trap:
    """A second listening port: the 'other origin'. Records every connection it gets."""

    def __init__(self, host: str) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.hits = 0
        self.first_bytes: list[str] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, name="trap", daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.settimeout(1.0)
            try:
                data = conn.recv(512)
            except OSError:
                data = b""
            with self.lock:
                self.hits += 1
                self.first_bytes.append(data.decode("latin-1"))
            try:
                conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            except OSError:
                pass
            conn.close()


# ---------------------------------------------------------------------------------------------
# The server
# ---------------------------------------------------------------------------------------------


class HostileServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, host: str, port: int, default_mode: str, default_params: dict[str, str], verbose: bool) -> None:
        super().__init__((host, port), Handler)
        self.host = host
        self.default_mode = default_mode
        self.default_params = default_params
        self.verbose = verbose
        self.endpoints: dict[str, Endpoint] = {}
        self.endpoints_lock = threading.Lock()
        self.trap = Trap(host)
        self.stopping = threading.Event()

    @property
    def port(self) -> int:
        return self.server_address[1]

    def endpoint(self, path: str, query: str) -> Endpoint:
        with self.endpoints_lock:
            ep = self.endpoints.get(path)
            if ep is None:
                first = path.strip("/").split("/")[0]
                params = dict(self.default_params)
                params["mode"] = first if first in MODES else self.default_mode
                for key, values in parse_qs(query, keep_blank_values=True).items():
                    params[key] = values[-1]
                ep = Endpoint(path, params)
                self.endpoints[path] = ep
            return ep

    def find(self, path: str) -> Endpoint | None:
        with self.endpoints_lock:
            return self.endpoints.get(path)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: HostileServer

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes: without this, Nagle + delayed ACK add 40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, fmt: str, *args: Any) -> None:  # noqa: D102
        if self.server.verbose:
            sys.stderr.write("hostile: " + (fmt % args) + "\n")

    # -- low-level writing ------------------------------------------------------------------------
    def _write(self, data: bytes) -> bool:
        try:
            self.wfile.write(data)
            return True
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.close_connection = True
            return False

    def send_body(
        self, status: int, body: bytes, ctype: str = "application/json", headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self._write(body)

    def start_chunked(
        self, status: int = 200, ctype: str = "text/event-stream", headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()

    def chunk(self, data: bytes) -> bool:
        if not data:
            return True
        return self._write(b"%x\r\n" % len(data) + data + b"\r\n")

    def end_chunked(self) -> None:
        self._write(b"0\r\n\r\n")

    def start_until_close(self, status: int = 200, ctype: str = "text/event-stream") -> None:
        """A response whose body ends when the connection closes (no length, no chunks)."""
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True

    def hold(self, seconds: float = MAX_HOLD_SECONDS) -> None:
        """Keep the connection open, sending nothing, until the client closes it."""
        deadline = time.monotonic() + seconds
        sock = self.connection
        while time.monotonic() < deadline and not self.server.stopping.is_set():
            try:
                readable, _, _ = select.select([sock], [], [], 0.1)
            except (OSError, ValueError):
                break
            if readable:
                try:
                    if not sock.recv(1, socket.MSG_PEEK):
                        break
                except OSError:
                    break
                time.sleep(0.1)
        self.close_connection = True

    def reset(self) -> None:
        """Close the connection with a TCP reset."""
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass
        self.close_connection = True

    def cut(self) -> None:
        """Close the connection now (FIN), in the middle of whatever was being sent."""
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.close_connection = True

    # -- HTTP methods -----------------------------------------------------------------------------
    def read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def do_GET(self) -> None:  # noqa: N802
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        if parts.path == "/_log":
            ep = self.server.find(query.get("path", [""])[0])
            since = int(query.get("since", ["0"])[0])
            with ep.lock if ep else threading.Lock():
                items = list(ep.log[since:]) if ep else []
            self.send_body(200, json.dumps(items).encode())
            return
        if parts.path == "/_stats":
            ep = self.server.find(query.get("path", [""])[0])
            with ep.lock if ep else threading.Lock():
                stats = dict(ep.stats) if ep else {}
                if ep:
                    live = [n for sid, n in ep.sessions.items() if sid not in ep.dead]
                    stats["session_requests"] = max(live, default=0)
                    stats["sessions_expired"] = len(ep.dead)
            self.send_body(200, json.dumps(stats).encode())
            return
        if parts.path == "/_trap":
            trap = self.server.trap
            with trap.lock:
                body = {"port": trap.port, "hits": trap.hits, "first_bytes": list(trap.first_bytes)}
            self.send_body(200, json.dumps(body).encode())
            return
        if parts.path.startswith("/_legacy/"):
            self.send_body(405, b"")
            return
        ep = self.server.endpoint(parts.path, parts.query)
        ep.record({"http": "GET", "accept": self.headers.get("Accept"), "session": self.headers.get("Mcp-Session-Id")})
        if ep.mode == "legacy":
            self.legacy_stream(ep)
            return
        if ep.mode in STREAM_MODES and "text/event-stream" in (self.headers.get("Accept") or ""):
            self.event_stream(ep)
            return
        self.send_body(405, b"", headers={"Allow": "POST, DELETE"})

    def do_DELETE(self) -> None:  # noqa: N802
        parts = urlsplit(self.path)
        ep = self.server.endpoint(parts.path, parts.query)
        sid = self.headers.get("Mcp-Session-Id")
        ep.record({"http": "DELETE", "session": sid})
        with ep.lock:
            if sid:
                ep.sessions.pop(sid, None)
        self.send_body(200, b"")

    def do_POST(self) -> None:  # noqa: N802
        parts = urlsplit(self.path)
        body = self.read_body()
        if parts.path.startswith("/_control/"):
            ep = self.server.endpoint("/" + parts.path[len("/_control/") :].lstrip("/"), "")
            try:
                overrides = {str(k): str(v) for k, v in json.loads(body or b"{}").items()}
            except (ValueError, AttributeError):
                self.send_body(400, b'{"error":"body must be a JSON object"}')
                return
            with ep.lock:
                ep.overrides.update(overrides)
            self.send_body(200, json.dumps({"path": ep.path, "overrides": ep.overrides}).encode())
            return
        if parts.path.startswith("/_legacy/"):
            self.legacy_post(parts.path, parse_qs(parts.query), body)
            return
        ep = self.server.endpoint(parts.path, parts.query)
        self.endpoint_post(ep, body)

    # -- Streamable HTTP endpoint -----------------------------------------------------------------
    def endpoint_post(self, ep: Endpoint, body: bytes) -> None:
        sid = self.headers.get("Mcp-Session-Id")
        try:
            msg = json.loads(body)
        except ValueError:
            msg = None
        entry: dict[str, Any] = {
            "http": "POST",
            "session": sid,
            "protocol_version": self.headers.get("MCP-Protocol-Version"),
            "authorization": self.headers.get("Authorization") is not None,
            "size": len(body),
        }
        if isinstance(msg, dict) and len(body) <= LOG_BODY_LIMIT:
            entry["message"] = msg
        elif isinstance(msg, dict):
            entry["message"] = {k: msg.get(k) for k in ("jsonrpc", "id", "method")}
        else:
            entry["raw"] = body[:512].decode("utf-8", errors="replace")
        n = ep.record(entry)
        self.log_entry = entry
        if not isinstance(msg, dict):
            self.send_body(
                400,
                json.dumps(
                    {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "Parse error"}}
                ).encode(),
            )
            return
        mode = ep.mode
        if mode == "legacy":
            self.send_body(405, b"", headers={"Allow": "GET"})
            return
        method = msg.get("method")
        rid = msg.get("id")
        is_request = method is not None and "id" in msg
        ep.bump(f"m:{method}" if isinstance(method, str) else "responses")

        # Sessions: unknown or expired ids get 404 (that is how a restarted server looks, too).
        if method != "initialize" and sid:
            with ep.lock:
                known = sid in ep.sessions and sid not in ep.dead
                if known:
                    ep.sessions[sid] += 1
                    if (
                        mode == "expire"
                        and ep.sessions[sid] > ep.int_param_unlocked("after", 3)
                        and len(ep.dead) < ep.int_param_unlocked("max_expiries", 1 << 30)
                    ):
                        ep.dead.add(sid)
                        known = False
            if not known:
                ep.bump("expired_404")
                self.send_body(
                    404,
                    json.dumps(
                        {"jsonrpc": "2.0", "id": rid, "error": {"code": -32001, "message": "Session not found"}}
                    ).encode(),
                )
                return

        on = ep.param("on", "trigger")
        tool = (msg.get("params") or {}).get("name") if isinstance(msg.get("params"), dict) else None
        affected = any(
            o == "all"
            or (o == "call" and method == "tools/call")
            or (o == "trigger" and method == "tools/call" and tool == "trigger")
            or (o == f"method:{method}")
            for o in (on or "").split(",")
        )
        if mode == "pages" and method == "tools/list":
            self.page(ep, msg)
            return
        if mode in ("ok", "expire", "tools", "legacy", "flood", "pages", "links") or not affected:
            self.behave(ep, msg, n)
            return
        self.misbehave(ep, mode, msg, rid, n)

    # -- normal answers ---------------------------------------------------------------------------
    def answer_for(self, ep: Endpoint, msg: dict[str, Any]) -> tuple[dict[str, Any] | None, dict[str, str]]:
        """The normal answer to `msg` (None for notifications) and extra response headers."""
        method = msg.get("method")
        rid = msg.get("id")
        params = msg.get("params") if isinstance(msg.get("params"), dict) else {}
        headers: dict[str, str] = {}
        if "id" not in msg or method is None:
            return None, headers
        if method == "initialize":
            requested = params.get("protocolVersion")
            version = requested if requested in SUPPORTED_VERSIONS else SUPPORTED_VERSIONS[0]
            sid = uuid.uuid4().hex
            with ep.lock:
                ep.sessions[sid] = 0
            ep.bump("initializes")
            headers["Mcp-Session-Id"] = sid
            capabilities: dict[str, Any] = {"tools": {"listChanged": True} if ep.mode in STREAM_MODES else {}}
            if ep.mode == "links":
                capabilities["resources"] = {}
            result = {
                "protocolVersion": version,
                "capabilities": capabilities,
                "serverInfo": {"name": f"hostile-{ep.mode}", "version": "1.0.0"},
            }
            return {"jsonrpc": "2.0", "id": rid, "result": result}, headers
        if method == "ping":
            return {"jsonrpc": "2.0", "id": rid, "result": {}}, headers
        if method == "tools/list":
            return {"jsonrpc": "2.0", "id": rid, "result": {"tools": self.tool_list(ep)}}, headers
        if method == "resources/list" and ep.mode == "links":
            resources = [{"uri": u, "name": u.rsplit("/", 1)[-1]} for u in LINK_URIS]
            return {"jsonrpc": "2.0", "id": rid, "result": {"resources": resources}}, headers
        if method == "resources/read" and ep.mode == "links":
            uri = str(params.get("uri"))
            if uri not in LINK_URIS:
                return {"jsonrpc": "2.0", "id": rid, "error": {"code": -32002, "message": f"Resource not found: {uri}"}}, headers
            contents = [{"uri": uri, "mimeType": "text/plain", "text": f"{uri} served by {ep.path}"}]
            return {"jsonrpc": "2.0", "id": rid, "result": {"contents": contents}}, headers
        if method == "tools/call":
            name = params.get("name")
            args = params.get("arguments") if isinstance(params.get("arguments"), dict) else {}
            if name == "echo":
                text = str(args.get("text", ""))
            elif name == "links":
                return {"jsonrpc": "2.0", "id": rid, "result": {"content": link_content(ep.path)}}, headers
            elif name == "sleep":
                time.sleep(min(float(args.get("ms", 0)), 60_000) / 1000)
                text = f"slept {args.get('ms', 0)} ms"
            else:
                text = f"called:{name}"
            return {"jsonrpc": "2.0", "id": rid, "result": {"content": [{"type": "text", "text": text}]}}, headers
        return {
            "jsonrpc": "2.0",
            "id": rid,
            "error": {"code": -32601, "message": f"Method not found: {method}"},
        }, headers

    def tool_list(self, ep: Endpoint) -> list[Any]:
        schema = {"type": "object", "properties": {"text": {"type": "string"}}}
        base = [
            {"name": "echo", "description": "echo text", "inputSchema": schema},
            {"name": "trigger", "description": "misbehaves", "inputSchema": {"type": "object"}},
            {"name": "sleep", "description": "sleep ms", "inputSchema": {"type": "object"}},
        ]
        if ep.mode == "links":
            return base + [{"name": "links", "description": "resource links", "inputSchema": {"type": "object"}}]
        if ep.mode != "tools":
            return base
        kind = ep.param("kind", "hostile")
        if kind == "many":
            count = ep.int_param("count", 50_000)
            return base + [
                {"name": f"t{i:05d}", "description": f"tool {i}", "inputSchema": {"type": "object"}}
                for i in range(count)
            ]
        if kind == "deep":
            # A marker, replaced by the nested arrays in the serialized answer (see behave()).
            return base + [{"name": "deep", "inputSchema": {"type": "object", "__deep__": 0}}]
        return base + hostile_tools()

    def behave(self, ep: Endpoint, msg: dict[str, Any], n: int) -> None:
        answer, headers = self.answer_for(ep, msg)
        if answer is None:
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = encode(answer)
        if ep.mode == "tools" and ep.param("kind") == "deep" and msg.get("method") == "tools/list":
            levels = ep.int_param("levels", 100_000)
            body = body.replace(b'"__deep__":0', b'"deep":' + b"[" * levels + b"]" * levels)
        if ep.param("sse") == "1":
            self.start_chunked(headers=headers)
            self.chunk(b"id: 0\ndata:\n\n")  # a priming event
            self.chunk(sse_event(body))
            self.end_chunked()
            return
        self.send_body(200, body, headers=headers)

    # -- misbehaviour -----------------------------------------------------------------------------
    def misbehave(self, ep: Endpoint, mode: str, msg: dict[str, Any], rid: Any, n: int) -> None:
        progress_token = ((msg.get("params") or {}).get("_meta") or {}).get("progressToken", "hostile")
        if mode == "hang":
            self.hold()
        elif mode == "sse_silent":
            self.start_chunked()
            self.hold()
        elif mode == "slow":
            time.sleep(ep.int_param("ms", 3000) / 1000)
            self.behave(ep, msg, n)
        elif mode == "status":
            code = ep.int_param("code", 500)
            self.send_body(code, f"{code} from the hostile backend".encode(), ctype="text/plain")
        elif mode == "garbage":
            self.send_body(200, b"this is {not JSON at all \x00\x01\xfe <<<", ctype="application/json")
        elif mode == "html":
            self.send_body(
                200, b"<!doctype html><html><body><h1>Welcome to nginx!</h1></body></html>", ctype="text/html"
            )
        elif mode == "sse_forever":
            self.start_chunked()
            deadline = time.monotonic() + MAX_HOLD_SECONDS
            step = 0
            while time.monotonic() < deadline and not self.server.stopping.is_set():
                step += 1
                note = {
                    "jsonrpc": "2.0",
                    "method": "notifications/progress",
                    "params": {"progressToken": progress_token, "progress": step, "message": "still going"},
                }
                if not self.chunk(sse_event(encode(note))):
                    break
                time.sleep(0.1)
            self.close_connection = True
        elif mode == "sse_drop":
            note = {
                "jsonrpc": "2.0",
                "method": "notifications/progress",
                "params": {"progressToken": progress_token, "progress": 1},
            }
            partial = b'data: {"jsonrpc":"2.0","id":' + json.dumps(rid).encode() + b',"result":{"content":[{"type":"te'
            if ep.param("framing", "chunked") == "close":
                self.start_until_close()
                self._write(sse_event(encode(note)))
                self._write(partial)
            else:
                self.start_chunked()
                self.chunk(sse_event(encode(note)))
                self.chunk(partial)
            time.sleep(0.05)
            if ep.param("rst") == "1":
                self.reset()
            else:
                self.cut()
        elif mode == "drop":
            self.reset()
        elif mode == "wrong_id":
            wrong = rid + 1_000_000 if isinstance(rid, int) else f"{rid}-wrong"
            bad = {"jsonrpc": "2.0", "id": wrong, "result": {"content": [{"type": "text", "text": "not yours"}]}}
            if ep.param("then") == "right":
                answer, _ = self.answer_for(ep, msg)
                self.start_chunked()
                self.chunk(sse_event(encode(bad)))
                self.chunk(sse_event(encode(answer)))
                self.end_chunked()
            else:
                self.send_body(200, encode(bad))
        elif mode == "dup":
            answer, _ = self.answer_for(ep, msg)
            second = {"jsonrpc": "2.0", "id": rid, "result": {"content": [{"type": "text", "text": "second answer"}]}}
            self.start_chunked()
            self.chunk(sse_event(encode(answer)))
            self.chunk(sse_event(encode(second)))
            self.chunk(sse_event(encode({"jsonrpc": "2.0", "id": rid, "error": {"code": -1, "message": "third"}})))
            self.end_chunked()
        elif mode == "huge":
            self.huge(ep, rid)
        elif mode == "bad_utf8":
            body = (
                b'{"jsonrpc":"2.0","id":'
                + json.dumps(rid).encode()
                + b',"result":{"content":[{"type":"text","text":"bad \xff\xfe \xc3\x28 \xed\xa0\x80 \xf8\x88\x80\x80\x80 bytes"}]}}'
            )
            self.send_body(200, body, ctype="application/json; charset=utf-8")
        elif mode == "bad_escape":
            body = (
                b'{"jsonrpc":"2.0","id":'
                + json.dumps(rid).encode()
                + b',"result":{"content":[{"type":"text","text":"bad \\x41 escape \\u12 and \\q"}]}}'
            )
            self.send_body(200, body)
        elif mode == "bad_surrogate":
            body = (
                b'{"jsonrpc":"2.0","id":'
                + json.dumps(rid).encode()
                + b',"result":{"content":[{"type":"text","text":"lone \\ud800 surrogate \\udfff"}]}}'
            )
            self.send_body(200, body)
        elif mode == "deep":
            levels = ep.int_param("levels", 100_000)
            body = (
                b'{"jsonrpc":"2.0","id":'
                + json.dumps(rid).encode()
                + b',"result":{"content":[{"type":"text","text":"deep"}],"structuredContent":{"deep":'
                + b"[" * levels
                + b"]" * levels
                + b"}}}"
            )
            self.send_body(200, body)
        elif mode == "bad_error":
            shapes: dict[str, Any] = {
                "null": None,
                "string": "it broke",
                "array": [1, 2],
                "nocode": {"message": "no code"},
                "codestring": {"code": "E42", "message": "code is a string"},
                "nomessage": {"code": -32000},
                "messagenumber": {"code": -32000, "message": 42},
                "codefloat": {"code": -32000.5, "message": "float code"},
            }
            error = shapes.get(ep.param("shape", "null") or "null")
            self.send_body(200, encode({"jsonrpc": "2.0", "id": rid, "error": error}))
        elif mode == "unauthorized":
            meta = f"http://127.0.0.1:{self.server.port}/.well-known/oauth-protected-resource"
            self.send_body(
                401,
                b'{"error":"invalid_token"}',
                headers={"WWW-Authenticate": f'Bearer resource_metadata="{meta}", error="invalid_token"'},
            )
        elif mode == "fuzz":
            self.fuzz(ep, msg, rid, n)
        elif mode == "notify":
            self.forge_notifications(ep, msg, rid)
        elif mode == "echo_secret":
            self.echo_secret(ep, rid)
        else:
            self.behave(ep, msg, n)

    def huge(self, ep: Endpoint, rid: Any) -> None:
        total = ep.int_param("mb", 100) << 20
        head = b'{"jsonrpc":"2.0","id":' + json.dumps(rid).encode() + b',"result":{"content":[{"type":"text","text":"'
        tail = b'"}]}}'
        block = b"A" * (1 << 20)
        sse = ep.param("sse") == "1"
        self.start_chunked(ctype="text/event-stream" if sse else "application/json")
        sent = 0
        ok = self.chunk((b"data: " if sse else b"") + head)
        while ok and sent < total and not self.server.stopping.is_set():
            ok = self.chunk(block)
            if ok:
                sent += len(block)
                ep.bump("bytes_sent", len(block))
        if ok:
            self.chunk(tail + (b"\n\n" if sse else b""))
            self.end_chunked()
        self.close_connection = True

    def fuzz(self, ep: Endpoint, msg: dict[str, Any], rid: Any, n: int) -> None:
        seed = ep.param("seed", "0")
        rng = random.Random(f"{seed}:{ep.path}:{n}")
        answer, _ = self.answer_for(ep, msg)
        if answer is None:
            answer = {"jsonrpc": "2.0", "id": rid, "result": {}}
        strategy = rng.choice(FUZZ_STRATEGIES)
        ep.bump("fuzz_" + strategy.__name__)
        self.log_entry["fuzz"] = strategy.__name__
        strategy(self, rng, answer, rid)

    # -- GET event streams, floods, pages, forgeries, secrets ------------------------------------------
    def event_stream(self, ep: Endpoint) -> None:
        """A Streamable HTTP GET stream: a flood first (mode flood), then whatever is queued."""
        q: queue.Queue[bytes | None] = queue.Queue()
        with ep.lock:
            ep.streams.append(q)
            first = not ep.flooded
            ep.flooded = True
        ep.bump("get_streams")
        self.start_chunked()
        ok = self.chunk(b": stream open\n\n")
        if ok and ep.mode == "flood" and (first or ep.param("every") == "1"):
            ok = self.flood(ep)
        deadline = time.monotonic() + MAX_HOLD_SECONDS
        while ok and time.monotonic() < deadline and not self.server.stopping.is_set():
            try:
                item = q.get(timeout=0.5)
            except queue.Empty:
                ok = self.chunk(b": keep-alive\n\n")
                continue
            ok = item is not None and self.chunk(item)
        with ep.lock:
            if q in ep.streams:
                ep.streams.remove(q)
        self.close_connection = True

    def flood(self, ep: Endpoint) -> bool:
        n = ep.int_param("n", 20_000)
        reqs = ep.int_param("reqs", 0)
        changed = sse_event(encode({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"}))
        step = max(1, n // reqs) if reqs else 0
        events: list[bytes] = []
        sent = 0
        for i in range(n):
            events.append(changed)
            if step and i % step == 0 and sent < reqs:
                events.append(sse_event(encode({"jsonrpc": "2.0", "id": f"flood-ping-{sent}", "method": "ping"})))
                sampling = {
                    "messages": [{"role": "user", "content": {"type": "text", "text": "hi"}}],
                    "maxTokens": 8,
                }
                events.append(
                    sse_event(encode({"jsonrpc": "2.0", "id": f"flood-sample-{sent}", "method": "sampling/createMessage", "params": sampling}))
                )
                sent += 1
        ep.bump("flooded", len(events))
        batch = 512
        for i in range(0, len(events), batch):
            if not self.chunk(b"".join(events[i : i + batch])):
                return False
        return True

    def page(self, ep: Endpoint, msg: dict[str, Any]) -> None:
        """One page of an endless tools/list."""
        delay = ep.int_param("delay_ms", 0)
        if delay:
            time.sleep(delay / 1000)
        params = msg.get("params") if isinstance(msg.get("params"), dict) else {}
        cursor = str(params.get("cursor") or "page-0")
        try:
            number = int(cursor.rsplit("-", 1)[-1])
        except ValueError:
            number = 0
        mb = ep.int_param("mb", 10)
        per_tool = 64 << 10
        count = (mb << 20) // per_tool if mb > 0 else ep.int_param("count", 5)
        desc = b"D" * (per_tool - 96) if mb > 0 else b"small"
        items = [
            b'{"name":"p%d_t%d","description":"%s","inputSchema":{"type":"object"}}' % (number, i, desc)
            for i in range(count)
        ]
        if number == 0:
            items = [encode(t) for t in self.tool_list(ep)] + items
        body = (
            b'{"jsonrpc":"2.0","id":'
            + json.dumps(msg.get("id")).encode()
            + b',"result":{"tools":['
            + b",".join(items)
            + b'],"nextCursor":"page-%d"}}' % (number + 1)
        )
        ep.bump("pages")
        ep.bump("bytes_sent", len(body))
        self.send_body(200, body)

    def forge_notifications(self, ep: Endpoint, msg: dict[str, Any], rid: Any) -> None:
        params = msg.get("params") if isinstance(msg.get("params"), dict) else {}
        own = (params.get("_meta") or {}).get("progressToken") if isinstance(params.get("_meta"), dict) else None
        arguments = params.get("arguments") if isinstance(params.get("arguments"), dict) else {}
        forged = forged_messages(rid, own, str(arguments.get("steal", "tokA")))
        with ep.lock:
            streams = list(ep.streams)
        for q in streams:
            q.put(b"".join(sse_event(m) for m in forged))
        answer, _ = self.answer_for(ep, msg)
        self.start_chunked()
        for m in forged:
            self.chunk(sse_event(m))
        if own is not None:
            legit = {"jsonrpc": "2.0", "method": "notifications/progress", "params": {"progressToken": own, "progress": 1, "total": 2, "message": "LEGIT"}}
            self.chunk(sse_event(encode(legit)))
        time.sleep(0.2)  # the GET stream's forgeries get there before the answer
        self.chunk(sse_event(encode(answer)))
        self.end_chunked()

    def echo_secret(self, ep: Endpoint, rid: Any) -> None:
        auth = self.headers.get("Authorization") or ""
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "basic":
            try:
                value = base64.b64decode(value).decode("utf-8", errors="replace")
            except ValueError:
                pass
        text = f"access denied for credentials {value!s} at {self.path} (header {auth})"
        if ep.param("how", "rpc") == "http500":
            self.send_body(500, text.encode(), ctype="text/plain")
            return
        error = {"code": -32000, "message": text, "data": {"token": value, "path": self.path}}
        self.send_body(200, encode({"jsonrpc": "2.0", "id": rid, "error": error}))

    # -- legacy HTTP+SSE transport ----------------------------------------------------------------
    def legacy_stream(self, ep: Endpoint) -> None:
        key = uuid.uuid4().hex
        q: queue.Queue[bytes | None] = queue.Queue()
        with ep.lock:
            ep.legacy[key] = q
        target = f"/_legacy/{key}?path={ep.path}"
        which = ep.param("endpoint", "same")
        if which == "other":
            target = f"http://{self.server.host}:{self.server.trap.port}{target}"
        elif which == "evil":
            target = f"http://evil.invalid{target}"
        elif which == "scheme":
            target = f"https://{self.server.host}:{self.server.port}{target}"
        self.start_chunked()
        if not self.chunk(b"event: endpoint\ndata: " + target.encode() + b"\n\n"):
            return
        deadline = time.monotonic() + MAX_HOLD_SECONDS
        while time.monotonic() < deadline and not self.server.stopping.is_set():
            try:
                item = q.get(timeout=0.5)
            except queue.Empty:
                if not self.chunk(b": keep-alive\n\n"):
                    break
                continue
            if item is None or not self.chunk(b"event: message\n" + sse_event(item)):
                break
        with ep.lock:
            ep.legacy.pop(key, None)
        self.close_connection = True

    def legacy_post(self, path: str, query: dict[str, list[str]], body: bytes) -> None:
        key = path[len("/_legacy/") :]
        ep = self.server.find(query.get("path", [""])[0])
        q = ep.legacy.get(key) if ep else None
        if ep is None or q is None:
            self.send_body(404, b"unknown session")
            return
        try:
            msg = json.loads(body)
        except ValueError:
            self.send_body(400, b"bad json")
            return
        n = ep.record({"http": "POST", "legacy": True, "message": msg if isinstance(msg, dict) else None})
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()
        if isinstance(msg, dict):
            answer, _ = self.answer_for(ep, msg)
            if answer is not None:
                q.put(encode(answer))


# ---------------------------------------------------------------------------------------------
# Hostile payloads
# ---------------------------------------------------------------------------------------------


def encode(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8", errors="surrogatepass")


def sse_event(data: bytes) -> bytes:
    return b"data: " + data + b"\n\n"


LINK_URIS = ("file:///x", "a+file:///secret")


def link_content(path: str) -> list[dict[str, Any]]:
    """What tools/call "links" answers: a link, an embedded resource, a link that looks exposed."""
    return [
        {"type": "text", "text": f"links from {path}"},
        {"type": "resource_link", "uri": "file:///x", "name": "x", "mimeType": "text/plain"},
        {"type": "resource", "resource": {"uri": "file:///x", "mimeType": "text/plain", "text": f"embedded from {path}"}},
        {"type": "resource_link", "uri": "a+file:///secret", "name": "secret"},
    ]


def forged_messages(rid: Any, own: Any, steal: str) -> list[bytes]:
    """The notifications mode `notify` forges (raw bytes: some have duplicate member names)."""
    j = lambda v: json.dumps(v).encode()  # noqa: E731
    own_token = j(own if own is not None else "none")
    progress = "notifications/progress"
    return [
        # progress for a token of a call to another backend, and for a token nobody issued
        encode({"jsonrpc": "2.0", "method": progress, "params": {"progressToken": steal, "progress": 99999, "message": "FAKE-cross"}}),
        encode({"jsonrpc": "2.0", "method": progress, "params": {"progressToken": "never-issued", "progress": 1, "message": "FAKE-never"}}),
        # duplicate member names: progress first, a log message last (and the reverse)
        b'{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":' + own_token
        + b',"progress":2,"message":"FAKE-dup-progress"},"method":"notifications/message","params":{"level":"error","data":"FAKE-dup-message"}}',
        b'{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"error","logger":"x","data":"FAKE-posing"},"method":"notifications/message","params":{"level":"info","data":"FAKE-posing-2"}}',
        # a resources/updated and a cancellation of mcpx's own request hidden behind a duplicate key
        b'{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"FAKE-cover"},"method":"notifications/resources/updated","params":{"uri":"file:///FAKE-updated"}}',
        b'{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"FAKE-cover-2"},"method":"notifications/cancelled","params":{"requestId":'
        + j(rid) + b',"reason":"FAKE-cancel"}}',
        # method together with result
        b'{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":' + own_token
        + b',"progress":3,"message":"FAKE-method-result"},"result":{}}',
        b'{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"FAKE-method-error"},"error":{"code":1,"message":"x"}}',
    ]


def hostile_tools() -> list[Any]:
    """Tool definitions a careless server might send; mcpx must survive all of them."""
    obj = {"type": "object"}
    return [
        {"name": "has space", "description": "space in name", "inputSchema": obj},
        {"name": "ünïcödé-名前", "inputSchema": obj},
        {"name": "emoji😀tool", "inputSchema": obj},
        {"name": "x" * 1000, "inputSchema": obj},
        {"name": "y" * 5000, "inputSchema": obj},
        {"name": "dot.ted", "inputSchema": obj},
        {"name": "tab\tname", "inputSchema": obj},
        {"name": "new\nline", "inputSchema": obj},
        {"name": 'quote"back\\slash', "inputSchema": obj},
        {"name": "a__b", "inputSchema": obj},
        {"name": "nul\u0000byte", "inputSchema": obj},
        {"name": "dup", "description": "first", "inputSchema": obj},
        {"name": "dup", "description": "second", "inputSchema": obj},
        {"name": "", "inputSchema": obj},
        {"description": "no name at all", "inputSchema": obj},
        {"name": 42, "inputSchema": obj},
        {"name": None, "inputSchema": obj},
        {"name": ["list"], "inputSchema": obj},
        {"name": "no-schema"},
        {"name": "schema-not-object", "inputSchema": "nope"},
        17,
        "a string",
        None,
        [],
        True,
    ]


# The tool names in hostile_tools() that mcpx should expose (string, non-empty, first of duplicates).
HOSTILE_VALID_NAMES = [
    "has space",
    "ünïcödé-名前",
    "emoji😀tool",
    "x" * 1000,
    "dot.ted",
    "tab\tname",
    "new\nline",
    'quote"back\\slash',
    "a__b",
    "nul\u0000byte",
    "dup",
    "no-schema",
    "schema-not-object",
]


# -- fuzz strategies: each writes one complete (mis)answer to a tools/call ---------------------------


def _flip(rng: random.Random, data: bytes, count: int) -> bytes:
    b = bytearray(data)
    for _ in range(count):
        i = rng.randrange(len(b))
        b[i] = rng.randrange(256) if rng.random() < 0.5 else b[i] ^ (1 << rng.randrange(8))
    return bytes(b)


def _json_variant(rng: random.Random, answer: dict[str, Any]) -> bytes:
    """The answer, re-serialized in a random but valid way."""
    return json.dumps(
        answer,
        indent=rng.choice([None, 0, 2]),
        ensure_ascii=rng.random() < 0.5,
        separators=rng.choice([(",", ":"), (", ", ": ")]),
    ).encode()


def fz_valid_json(h: Handler, rng: random.Random, answer: dict[str, Any], rid: Any) -> None:
    h.send_body(
        200,
        _json_variant(rng, answer),
        ctype=rng.choice(["application/json", "application/json; charset=utf-8", "Application/JSON"]),
    )


def fz_valid_sse_split(h: Handler, rng: random.Random, answer: dict[str, Any], rid: Any) -> None:
    data = b""
    for i in range(rng.randrange(4)):
        note = {"jsonrpc": "2.0", "method": "notifications/message", "params": {"level": "info", "data": f"note {i}"}}
        data += sse_event(encode(note))
    eol = rng.choice([b"\n", b"\r\n", b"\r"])
    event = b"id: e1" + eol + b"retry: 100" + eol + b": comment" + eol + b"data: " + encode(answer) + eol + eol
    data += event
    h.start_chunked()
    pos = 0
    while pos < len(data):
        step = rng.randint(1, 64)
        if not h.chunk(data[pos : pos + step]):
            return
        pos += step
    h.end_chunked()


def fz_byte_flip(h: Handler, rng: random.Random, answer: dict[str, Any], rid: Any) -> None:
    body = encode(answer)
    h.send_body(200, _flip(rng, body, rng.randint(1, 6)))


def fz_truncate(h: Handler, rng: random.Random, answer: dict[str, Any], rid: Any) -> None:
    body = encode(answer)
    h.send_body(200, body[: rng.randrange(len(body))])


def fz_sse_truncate(h: Handler, rng: random.Random, answer: dict[str, Any], rid: Any) -> None:
    event = sse_event(encode(answer))
    h.start_chunked()
    h.chunk(event[: rng.randrange(len(event))])
    if rng.random() < 0.5:
        h.end_chunked()
    else:
        h.cut()


def fz_type_swap(h: Handler, rng: random.Random, answer: dict[str, Any], rid: Any) -> None:
    a = json.loads(json.dumps(answer))
    field = rng.choice(["id", "result", "jsonrpc", "content", "isError", "text"])
    value = rng.choice([None, True, 1.5, -0.0, 2**70, "str", [], {}, [1, 2], {"a": 1}, "", 0])
    if field in ("id", "result", "jsonrpc"):
        a[field] = value
    elif field == "content":
        a.setdefault("result", {})["content"] = value
    elif field == "isError":
        a.setdefault("result", {})["isError"] = value
    else:
        try:
            a["result"]["content"][0]["text"] = value
        except (KeyError, IndexError, TypeError):
            a["result"] = value
    h.send_body(200, encode(a))


def fz_random_unicode(h: Handler, rng: random.Random, answer: dict[str, Any], rid: Any) -> None:
    pool = [
        "\u0000",
        "\u2028",
        "\u2029",
        "\ufeff",
        "\U0001f600",
        "\u202e",
        "é",
        "名",
        "\uffff",
        "\n",
        "\r",
        "\t",
        '"',
        "\\",
        "\x7f",
        "\U0010ffff",
    ]
    text = "".join(rng.choice(pool) for _ in range(rng.randint(1, 200)))
    a = {"jsonrpc": "2.0", "id": rid, "result": {"content": [{"type": "text", "text": text}]}}
    h.send_body(200, encode(a) if rng.random() < 0.5 else json.dumps(a).encode())


def fz_huge_numbers(h: Handler, rng: random.Random, answer: dict[str, Any], rid: Any) -> None:
    number = rng.choice(
        [
            b"1e400",
            b"-1e400",
            b"123456789012345678901234567890",
            b"-0",
            b"1E+2",
            b"0.000000000000000000000001",
            b"9223372036854775808",
            b"-9223372036854775809",
            b"1" * 5000,
            b"1.5e-400",
        ]
    )
    body = (
        b'{"jsonrpc":"2.0","id":'
        + json.dumps(rid).encode()
        + b',"result":{"content":[{"type":"text","text":"n"}],"structuredContent":{"n":'
        + number
        + b"}}}"
    )
    h.send_body(200, body)


def fz_invalid_utf8(h: Handler, rng: random.Random, answer: dict[str, Any], rid: Any) -> None:
    body = bytearray(encode(answer))
    bad = rng.choice([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"\xc0\xaf", b"\xe2\x82"])
    at = body.find(b'"text":"')
    at = at + 8 if at >= 0 else rng.randrange(len(body))
    body[at:at] = bad
    h.send_body(200, bytes(body))


def fz_status(h: Handler, rng: random.Random, answer: dict[str, Any], rid: Any) -> None:
    code = rng.choice([200, 201, 204, 301, 302, 400, 403, 404, 405, 409, 413, 418, 429, 500, 502, 503, 504])
    ctype = rng.choice(
        ["application/json", "text/plain", "text/event-stream", "", "application/octet-stream", "text/html"]
    )
    body = encode(answer) if rng.random() < 0.5 else b"nope"
    if code == 204:
        h.send_response(204)
        h.end_headers()
        return
    h.send_body(code, body, ctype=ctype)


def fz_sse_weird(h: Handler, rng: random.Random, answer: dict[str, Any], rid: Any) -> None:
    data = encode(answer)
    pieces = [b"\xef\xbb\xbf" if rng.random() < 0.3 else b""]
    pieces.append(b"event: message\n" if rng.random() < 0.5 else b"event: other\n")
    # Split the JSON over several data: lines at whitespace-free points (joined by \n: still JSON
    # only when the cut falls between tokens).
    cut = rng.randrange(1, len(data))
    pieces.append(b"data:" + data[:cut] + b"\ndata:" + data[cut:] + b"\n")
    pieces.append(rng.choice([b"\n", b"\r\n", b"\r", b""]))
    h.start_chunked()
    for p in pieces:
        h.chunk(p)
    h.end_chunked()


def fz_wrong_then_right(h: Handler, rng: random.Random, answer: dict[str, Any], rid: Any) -> None:
    wrong = dict(answer, id=rng.choice([None, "x", -1, 0, 10**12, [1]]))
    h.start_chunked()
    h.chunk(sse_event(encode(wrong)))
    if rng.random() < 0.7:
        h.chunk(sse_event(encode(answer)))
    h.end_chunked()


def fz_duplicate(h: Handler, rng: random.Random, answer: dict[str, Any], rid: Any) -> None:
    h.start_chunked()
    for _ in range(rng.randint(2, 5)):
        h.chunk(sse_event(encode(answer)))
    h.end_chunked()


def fz_deep(h: Handler, rng: random.Random, answer: dict[str, Any], rid: Any) -> None:
    levels = rng.choice([200, 256, 257, 1000, 100_000])
    opener, closer = rng.choice([(b"[", b"]"), (b'{"a":', b"}")])
    body = (
        b'{"jsonrpc":"2.0","id":'
        + json.dumps(rid).encode()
        + b',"result":{"content":[],"structuredContent":{"d":'
        + opener * levels
        + b"1"
        + closer * levels
        + b"}}}"
    )
    h.send_body(200, body)


def fz_garbage(h: Handler, rng: random.Random, answer: dict[str, Any], rid: Any) -> None:
    body = bytes(rng.randrange(256) for _ in range(rng.randint(0, 300)))
    if rng.random() < 0.5:
        h.start_chunked()
        h.chunk(b"data: " + body + b"\n\n")
        h.end_chunked()
    else:
        h.send_body(200, body)


def fz_batch(h: Handler, rng: random.Random, answer: dict[str, Any], rid: Any) -> None:
    items: list[Any] = [answer]
    if rng.random() < 0.5:
        items.insert(0, {"jsonrpc": "2.0", "method": "notifications/message", "params": {"level": "info", "data": "x"}})
    if rng.random() < 0.3:
        items.append(answer)
    h.send_body(200, encode(items))


def fz_error_shapes(h: Handler, rng: random.Random, answer: dict[str, Any], rid: Any) -> None:
    error = rng.choice(
        [
            {"code": "not a number", "message": 5},
            {"code": -32000},
            {"message": "no code"},
            None,
            "a string error",
            {"code": 1e300, "message": "huge code", "data": {"nested": [1, {"x": None}]}},
        ]
    )
    a = {"jsonrpc": "2.0", "id": rid, "error": error}
    if rng.random() < 0.3:
        a["result"] = {"content": []}
    h.send_body(200, encode(a))


def fz_empty(h: Handler, rng: random.Random, answer: dict[str, Any], rid: Any) -> None:
    h.send_body(200, b"", ctype=rng.choice(["application/json", "text/event-stream"]))


def fz_drip(h: Handler, rng: random.Random, answer: dict[str, Any], rid: Any) -> None:
    data = sse_event(encode(answer))
    h.start_chunked()
    for i in range(0, len(data), 7):
        if not h.chunk(data[i : i + 7]):
            return
        time.sleep(0.002)
    h.end_chunked()


def fz_extra_fields(h: Handler, rng: random.Random, answer: dict[str, Any], rid: Any) -> None:
    a = dict(answer)
    a["extra"] = {"unknown": True}
    a["result"] = dict(a.get("result") or {}, structuredContent={"k": [1, 2, 3]}, _meta={"x": "y"})
    if rng.random() < 0.5:
        a.pop("jsonrpc")
    h.send_body(200, encode(a))


FUZZ_STRATEGIES = [
    fz_valid_json,
    fz_valid_sse_split,
    fz_byte_flip,
    fz_truncate,
    fz_sse_truncate,
    fz_type_swap,
    fz_random_unicode,
    fz_huge_numbers,
    fz_invalid_utf8,
    fz_status,
    fz_sse_weird,
    fz_wrong_then_right,
    fz_duplicate,
    fz_deep,
    fz_garbage,
    fz_batch,
    fz_error_shapes,
    fz_empty,
    fz_drip,
    fz_extra_fields,
]


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="A hostile MCP backend for fault-injection tests.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (loopback only by default)")
    parser.add_argument("--port", type=int, default=0, help="port (0 picks a free one)")
    parser.add_argument(
        "--mode", default="ok", choices=sorted(MODES), help="behaviour of paths that do not name a mode"
    )
    parser.add_argument(
        "--param", action="append", default=[], metavar="KEY=VALUE", help="default parameter (repeatable)"
    )
    parser.add_argument("--verbose", action="store_true", help="log every HTTP request to stderr")
    args = parser.parse_args(argv)
    params = {}
    for item in args.param:
        key, _, value = item.partition("=")
        params[key] = value
    server = HostileServer(args.host, args.port, args.mode, params, args.verbose)
    print(f"listening on http://{args.host}:{server.port}/", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.stopping.set()
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
