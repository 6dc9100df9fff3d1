"""The HTTP door is safe by default: Origin checks, bearer tokens, loopback unless told otherwise,
limits, and malformed HTTP answered with 400 (never a crash)."""

from __future__ import annotations

import os
import socket
import time

import pytest
from http_harness import LATEST_VERSION, HTTPClient, raw_exchange, text_of

pytestmark = pytest.mark.timeout(25)

INIT_PARAMS = {"protocolVersion": LATEST_VERSION, "capabilities": {}, "clientInfo": {"name": "sec", "version": "1"}}


@pytest.fixture
def a(example):
    return example("a")


def still_serves(door) -> None:
    """The server is alive and a brand-new session works."""
    assert door.alive(), f"mcpx died:\n{door.log_tail()}"
    client = door.session()
    assert text_of(client.call_tool("a__echo", {"text": "still alive"}).result) == "still alive"


# ---------------------------------------------------------------------------------------------
# Origin
# ---------------------------------------------------------------------------------------------


def test_foreign_origin_gets_403(a, mcpx_http):
    door = mcpx_http([a])
    reply = door.client(origin="http://evil.example").request("initialize", INIT_PARAMS)
    assert reply.status == 403, reply.describe()
    assert reply.header("mcp-session-id") is None, "no session for a refused origin"
    # An existing session's request with a foreign Origin is refused too.
    client = door.session()
    reply = client.request("tools/list", {}, headers={"Origin": "http://evil.example"})
    assert reply.status == 403, reply.describe()
    stream = client.open_stream(headers={"Origin": "http://evil.example"})
    assert stream.status == 403, stream.reply.describe()
    still_serves(door)


@pytest.mark.parametrize("origin", ["http://localhost:9999", "http://127.0.0.1:5", "http://localhost"])
def test_loopback_origins_are_allowed(a, mcpx_http, origin):
    door = mcpx_http([a])
    client = door.client(origin=origin)
    client.initialize()
    assert "a__echo" in client.tool_names()


def test_allow_origin_adds_exact_origins(a, mcpx_http):
    door = mcpx_http([a], "--http-allow-origin", "https://app.example", "--http-allow-origin", "https://two.example")
    for origin in ("https://app.example", "https://two.example"):
        client = door.client(origin=origin)
        client.initialize()
        assert "a__echo" in client.tool_names()
    for origin in ("https://evil.example", "https://app.example:8443", "http://app.example", "https://sub.app.example"):
        reply = door.client(origin=origin).request("initialize", INIT_PARAMS)
        assert reply.status == 403, f"{origin}: {reply.describe()}"
    # Loopback origins stay allowed next to the listed ones.
    door.client(origin="http://localhost:1234").initialize()


# ---------------------------------------------------------------------------------------------
# Bearer token
# ---------------------------------------------------------------------------------------------

TOKEN = "s3cret-token-for-tests"


def assert_401(reply) -> None:
    assert reply.status == 401, reply.describe()
    challenge = reply.header("www-authenticate") or ""
    assert challenge.lower().startswith("bearer"), f"401 needs WWW-Authenticate: Bearer: {reply.describe()}"


def check_token_required(door) -> None:
    assert_401(door.client().request("initialize", INIT_PARAMS))
    assert_401(door.client(token="wrong-token").request("initialize", INIT_PARAMS))
    assert_401(door.client(token=TOKEN + "x").request("initialize", INIT_PARAMS))
    reply = door.client().exchange("POST", "/mcp", b"{}", {"Authorization": "Basic dXNlcjpwYXNz",
                                                           "Content-Type": "application/json",
                                                           "Accept": "application/json, text/event-stream"})
    assert_401(reply)
    # GET /health needs no token.
    health = HTTPClient("127.0.0.1", door.port).exchange("GET", "/health")
    assert health.status == 200, health.describe()
    # With the token everything works.
    good = door.client(token=TOKEN)
    good.initialize()
    assert text_of(good.call_tool("a__echo", {"text": "authorized"}).result) == "authorized"
    # Every request of the session needs it, not just initialize.
    good.token = None
    assert_401(good.request("tools/list", {}))
    stream = good.open_stream()
    assert stream.status == 401, stream.reply.describe()
    assert_401(good.delete())
    good.token = "wrong-token"
    assert_401(good.request("tools/list", {}))
    good.token = TOKEN
    assert "a__echo" in good.tool_names()


def test_token_flag_requires_bearer(a, mcpx_http):
    check_token_required(mcpx_http([a], "--http-token", TOKEN))


def test_token_from_environment(a, mcpx_http):
    check_token_required(mcpx_http([a], env={**os.environ, "MCPX_HTTP_TOKEN": TOKEN}))


def test_token_is_not_logged(a, mcpx_http):
    door = mcpx_http([a], "--http-token", TOKEN)
    client = door.client(token=TOKEN)
    client.initialize()
    client.tool_names()
    door.client(token="wrong-token").request("initialize", INIT_PARAMS)
    assert TOKEN not in door.log_tail(10_000), "the token must never appear in the log"


# ---------------------------------------------------------------------------------------------
# Binding beyond loopback
# ---------------------------------------------------------------------------------------------


def test_non_loopback_without_token_refuses_to_start(a, mcpx_http):
    door = mcpx_http([a], http="0.0.0.0:0", wait=False)
    code = door.wait_exit(5)
    assert code == 2, f"mcpx --http 0.0.0.0:0 without a token should exit 2, got {code}:\n{door.log_tail()}"
    assert "listening on" not in door.log_tail(200), door.log_tail()


@pytest.mark.parametrize(
    "how", ["--http-insecure", "--http-token", "MCPX_HTTP_TOKEN"],
)
def test_non_loopback_starts_when_told(a, mcpx_http, how):
    extra: list[str] = []
    env = None
    token = None
    if how == "--http-insecure":
        extra = ["--http-insecure"]
    elif how == "--http-token":
        extra = ["--http-token", TOKEN]
        token = TOKEN
    else:
        env = {**os.environ, "MCPX_HTTP_TOKEN": TOKEN}
        token = TOKEN
    door = mcpx_http([a], *extra, http="0.0.0.0:0", env=env)
    assert door.host == "0.0.0.0", door.log_tail()
    client = door.client(token=token)
    client.initialize()
    assert "a__echo" in client.tool_names()


# ---------------------------------------------------------------------------------------------
# Malformed HTTP and limits
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        b"GARBAGE\r\n\r\n",
        b"\x00\x01\x02\xff\xfe binary junk\r\n\r\n",
        b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Accept: application/json, text/event-stream\r\nContent-Length: abc\r\n\r\n{}",
        b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Accept: application/json, text/event-stream\r\nContent-Length: -5\r\n\r\n{}",
        b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
        b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nthis line has no colon\r\n\r\n",
    ],
    ids=["garbage-line", "binary", "content-length-abc", "content-length-negative", "content-length-twice",
         "header-without-colon"],
)
def test_malformed_request_gets_400_and_close(a, mcpx_http, payload):
    door = mcpx_http([a])
    answer = raw_exchange(door.port, payload)
    assert answer.status == 400, f"expected 400, got {answer.data[:300]!r} (error: {answer.error})"
    assert answer.closed, f"the connection should be closed after a 400: {answer.data[:300]!r}"
    still_serves(door)


def test_header_over_one_mib_is_refused(a, mcpx_http):
    door = mcpx_http([a])
    big = b"a" * ((1 << 20) + 4096)
    head = b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: "
    pieces = [head] + [big[i:i + 65536] for i in range(0, len(big), 65536)] + [b"\r\n\r\n"]
    answer = raw_exchange(door.port, pieces, wait=8)
    assert answer.status in (400, 431), f"expected 400 or 431, got {answer.data[:300]!r} (error: {answer.error})"
    assert answer.closed
    still_serves(door)


def test_many_headers_are_refused(a, mcpx_http):
    door = mcpx_http([a])
    lines = b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 64) for i in range(20_000))
    answer = raw_exchange(door.port, [b"GET /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n", lines, b"\r\n"], wait=8)
    assert answer.status in (400, 431), f"expected 400 or 431, got {answer.data[:300]!r} (error: {answer.error})"
    still_serves(door)


def test_huge_declared_body_is_refused(a, mcpx_http):
    door = mcpx_http([a])
    client = door.session()
    head = (
        "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        "Accept: application/json, text/event-stream\r\n"
        f"Mcp-Session-Id: {client.session_id}\r\nMCP-Protocol-Version: {client.protocol_version}\r\n"
        f"Content-Length: {10**12}\r\n\r\n"
    ).encode()
    answer = raw_exchange(door.port, [head, b'{"jsonrpc": "2.0", "id": 1, "method": "ping"'], wait=5)
    assert answer.status in (400, 413), f"expected 413 (or 400), got {answer.data[:300]!r} (error: {answer.error})"
    assert answer.closed
    still_serves(door)


def test_truncated_request_and_dropped_connections_do_no_harm(a, mcpx_http):
    door = mcpx_http([a])
    for payload in (b"POST /mcp HTTP/1.1\r\nHost: 127", b"POST /mcp HTTP/1.1\r\nContent-Length: 100\r\n\r\n{\"js"):
        sock = socket.create_connection(("127.0.0.1", door.port), timeout=2)
        sock.sendall(payload)
        sock.close()
    # A reset connection (SO_LINGER 0) mid-request.
    sock = socket.create_connection(("127.0.0.1", door.port), timeout=2)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    sock.sendall(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    sock.close()
    time.sleep(0.3)
    still_serves(door)


def test_idle_connections_do_not_block_others(a, mcpx_http):
    door = mcpx_http([a])
    idle = [socket.create_connection(("127.0.0.1", door.port), timeout=2) for _ in range(20)]
    try:
        started = time.monotonic()
        still_serves(door)
        assert time.monotonic() - started < 5
    finally:
        for sock in idle:
            sock.close()


def test_unknown_method_on_endpoint(a, mcpx_http):
    door = mcpx_http([a])
    reply = door.client().exchange("PUT", "/mcp", b"{}", {"Content-Type": "application/json"})
    assert reply.status in (400, 405), reply.describe()
    still_serves(door)
