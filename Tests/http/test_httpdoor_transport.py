"""mcpx's HTTP door speaks the Streamable HTTP transport (MCP 2025-11-25) as a server, checked
with a raw client: sessions, JSON and SSE answers, 202s, the GET stream, DELETE, status codes."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time

import pytest
from http_harness import LATEST_VERSION, HTTPClient, text_of

pytestmark = pytest.mark.timeout(20)

VISIBLE_ASCII = re.compile(r"^[\x21-\x7e]+$")


@pytest.fixture
def door(example, mcpx_http):
    """mcpx --http in front of one example backend `a`."""
    a = example("a")
    return mcpx_http([a])


# ---------------------------------------------------------------------------------------------
# Start-up and sessions
# ---------------------------------------------------------------------------------------------


def test_listening_line_names_a_real_port(door):
    assert door.host == "127.0.0.1"
    assert door.port > 0
    assert re.search(rf"http: listening on http://127\.0\.0\.1:{door.port}\b", door.log_tail(200))


def test_initialize_issues_a_session_id(door):
    client = door.client()
    reply = client.request(
        "initialize",
        {"protocolVersion": LATEST_VERSION, "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    )
    assert reply.status == 200, reply.describe()
    assert reply.content_type in ("application/json", "text/event-stream"), reply.describe()
    session = reply.header("mcp-session-id")
    assert session, f"no Mcp-Session-Id header on the initialize answer: {reply.describe()}"
    assert VISIBLE_ASCII.match(session), f"session ids must be visible ASCII: {session!r}"
    result = reply.result
    assert result["protocolVersion"] == LATEST_VERSION
    assert "serverInfo" in result and "tools" in result["capabilities"], result

    other = door.client()
    other.initialize()
    assert other.session_id != session, "two initializes must give two sessions"


def test_older_protocol_version_is_negotiated(door):
    client = door.client()
    reply = client.initialize(version="2025-06-18")
    assert reply.result["protocolVersion"] == "2025-06-18"
    assert "a__echo" in client.tool_names()


def test_tools_list_shows_namespaced_backend_tools(door):
    client = door.session()
    names = client.tool_names()
    assert "a__echo" in names and "a__progress" in names, names
    assert "manage" in names, names


def test_echo_answers_with_json(door):
    client = door.session()
    reply = client.call_tool("a__echo", {"text": "hello over http"})
    assert reply.content_type == "application/json", f"a plain call should get a JSON answer: {reply.describe()}"
    assert reply.response["id"] == reply.request_id
    assert text_of(reply.result) == "hello over http"
    assert not reply.result.get("isError")


def test_string_request_ids_come_back_unchanged(door):
    client = door.session()
    reply = client.request("tools/call", {"name": "a__echo", "arguments": {"text": "x"}}, request_id="req-ü-1")
    assert reply.status == 200, reply.describe()
    assert reply.response["id"] == "req-ü-1"
    assert text_of(reply.result) == "x"


def test_progress_call_answers_with_an_event_stream(door):
    client = door.session()
    reply = client.call_tool("a__progress", {"steps": 3, "delay_ms": 20}, progress_token="tok-1")
    assert reply.content_type == "text/event-stream", f"progress should come on an SSE answer: {reply.describe()}"
    progress = reply.notifications_of("notifications/progress")
    assert [p["params"]["progress"] for p in progress] == [1, 2, 3], reply.messages
    assert all(p["params"]["progressToken"] == "tok-1" for p in progress), progress
    assert all(p["params"].get("total") == 3 for p in progress), progress
    # The result is the last message, after every progress notification.
    assert reply.messages[-1] is reply.response, reply.messages
    assert text_of(reply.result) == "done 3 steps"


def test_log_call_answers_with_an_event_stream(door):
    client = door.session()
    reply = client.call_tool("a__log", {"level": "warning", "message": "careful"})
    assert reply.content_type == "text/event-stream", reply.describe()
    logs = reply.notifications_of("notifications/message")
    assert len(logs) == 1, reply.messages
    assert logs[0]["params"]["level"] == "warning"
    assert "careful" in json.dumps(logs[0]["params"]["data"])
    assert text_of(reply.result) == "logged"


def test_notification_gets_202_and_no_body(door):
    client = door.session()
    reply = client.notify("notifications/cancelled", {"requestId": 999, "reason": "nothing"})
    assert reply.status == 202, reply.describe()
    assert reply.body == b"", reply.describe()
    # initialized again is harmless too: a notification, so 202.
    assert client.notify("notifications/initialized").status == 202


def test_keep_alive_serves_several_requests_on_one_connection(door):
    client = door.session()
    conn = client.connection()
    try:
        for i in range(3):
            body = json.dumps({"jsonrpc": "2.0", "id": 100 + i, "method": "tools/call",
                               "params": {"name": "a__echo", "arguments": {"text": f"ka-{i}"}}})
            headers = client.base_headers()
            headers["Content-Type"] = "application/json"
            conn.request("POST", "/mcp", body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            assert resp.status == 200, data
            msg = json.loads(data)
            assert msg["id"] == 100 + i and text_of(msg["result"]) == f"ka-{i}"
    finally:
        conn.close()


# ---------------------------------------------------------------------------------------------
# Status codes
# ---------------------------------------------------------------------------------------------


def test_unknown_session_gets_404(door):
    client = door.client()
    client.session_id = "no-such-session-0123456789"
    client.protocol_version = LATEST_VERSION
    reply = client.request("tools/list", {})
    assert reply.status == 404, reply.describe()
    stream = client.open_stream()
    assert stream.status == 404, stream.reply.describe()
    assert client.delete().status == 404


def test_delete_ends_the_session(door):
    client = door.session()
    keep = door.session()
    reply = client.delete()
    assert reply.status in (200, 202, 204), reply.describe()
    after = client.request("tools/list", {})
    assert after.status == 404, f"a request on an ended session must get 404: {after.describe()}"
    assert client.delete().status == 404
    # Other sessions are untouched.
    assert "a__echo" in keep.tool_names()
    # A new initialize gives a working session again.
    client.session_id = None
    client.protocol_version = None
    client.initialize()
    assert "a__echo" in client.tool_names()


def test_request_without_session_id_gets_400(door):
    client = door.session()
    reply = client.request("tools/list", {}, omit=["Mcp-Session-Id"])
    assert reply.status == 400, reply.describe()
    stream = client.open_stream(omit=["Mcp-Session-Id"])
    assert stream.status == 400, stream.reply.describe()
    note = client.notify("notifications/initialized", omit=["Mcp-Session-Id"])
    assert note.status == 400, note.describe()


def test_missing_accept_gets_406(door):
    client = door.session()
    reply = client.request("tools/list", {}, omit=["Accept"])
    assert reply.status == 406, reply.describe()
    fresh = door.client()
    init = fresh.request(
        "initialize",
        {"protocolVersion": LATEST_VERSION, "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
        omit=["Accept"],
    )
    assert init.status == 406, init.describe()


def test_unsupported_protocol_version_header_gets_400(door):
    client = door.session()
    reply = client.request("tools/list", {}, headers={"MCP-Protocol-Version": "1999-01-01"})
    assert reply.status == 400, reply.describe()
    # The session still works with the right header.
    assert "a__echo" in client.tool_names()


def test_missing_protocol_version_header_is_tolerated(door):
    """Without the header a server assumes a version (2025-03-26 or the negotiated one): no 400."""
    client = door.session()
    reply = client.request("tools/list", {}, omit=["MCP-Protocol-Version"])
    assert reply.status == 200, reply.describe()
    assert any(t["name"] == "a__echo" for t in reply.result["tools"])


def test_invalid_json_body_is_rejected(door):
    client = door.session()
    reply = client.post(None, raw_body=b'{"jsonrpc": "2.0", "id": 1, "method": ')
    assert reply.status == 400 or (reply.status == 200 and b"-32700" in reply.body), reply.describe()
    assert "a__echo" in client.tool_names()


# ---------------------------------------------------------------------------------------------
# The GET stream
# ---------------------------------------------------------------------------------------------


def test_get_stream_opens_as_event_stream(door):
    client = door.session()
    stream = client.open_stream()
    try:
        assert stream.status == 200, stream.reply.describe()
        assert stream.reply.content_type == "text/event-stream"
        # The session keeps working while its stream is open.
        assert text_of(client.call_tool("a__echo", {"text": "still here"}).result) == "still here"
    finally:
        stream.close()


def test_list_changed_reaches_every_session_that_listed(example, mcpx_http):
    a, c = example("a"), example("c")
    door = mcpx_http([a])
    x, y = door.session(), door.session()
    assert "a__echo" in x.tool_names() and "a__echo" in y.tool_names()
    sx, sy = x.open_stream(), y.open_stream()
    try:
        assert sx.status == 200 and sy.status == 200
        added = x.call_tool("manage", {"action": "add", "name": "c", "url": c.url}, timeout=15)
        assert not added.result.get("isError"), added.result
        # y did nothing but list: the change must reach it on its GET stream.
        sy.wait_method("notifications/tools/list_changed", timeout=10)
        # x made the change: it hears of it on its GET stream or on the manage call's own stream.
        if not added.notifications_of("notifications/tools/list_changed"):
            sx.wait_method("notifications/tools/list_changed", timeout=10)
        assert "c__echo" in y.tool_names()
        assert text_of(y.call_tool("c__whoami").result) == "c"
    finally:
        sx.close()
        sy.close()


def test_backend_list_change_reaches_get_stream(example, mcpx_http):
    """A backend's own tools/list_changed (toggle_tool adds `ephemeral`) reaches a listing session."""
    a = example("a")
    door = mcpx_http([a])
    watcher, actor = door.session(), door.session()
    assert "a__ephemeral" not in watcher.tool_names()
    stream = watcher.open_stream()
    try:
        assert text_of(actor.call_tool("a__toggle_tool").result) == "on"
        stream.wait_method("notifications/tools/list_changed", timeout=10)
        assert "a__ephemeral" in watcher.tool_names()
    finally:
        stream.close()


def test_resource_update_reaches_only_the_subscriber(example, mcpx_http):
    a = example("a")
    door = mcpx_http([a])
    sub, other = door.session(), door.session()
    resources = sub.ok("resources/list", {}).result["resources"]
    greeting = next(r["uri"] for r in resources if r["uri"].endswith("example://greeting"))
    assert sub.ok("resources/subscribe", {"uri": greeting}).result == {}
    s_sub, s_other = sub.open_stream(), other.open_stream()
    try:
        touched = other.call_tool("a__touch")
        assert text_of(touched.result) == "touched"
        update = s_sub.wait_method("notifications/resources/updated", timeout=10)
        assert update["params"]["uri"] == greeting
        time.sleep(0.5)
        leaked = [m for m in other.seen if m.get("method") == "notifications/resources/updated"]
        assert not leaked, f"a session that did not subscribe got the update: {leaked}"
    finally:
        s_sub.close()
        s_other.close()


def test_log_level_is_per_session(example, mcpx_http):
    a = example("a")
    door = mcpx_http([a])
    quiet, chatty = door.session(), door.session()
    # chatty first, so the level mcpx asks of the backend is debug whichever order it applies them in.
    assert chatty.ok("logging/setLevel", {"level": "debug"}).result == {}
    assert quiet.ok("logging/setLevel", {"level": "error"}).result == {}
    loud = chatty.call_tool("a__log", {"level": "info", "message": "for chatty"})
    assert [m["params"]["level"] for m in loud.notifications_of("notifications/message")] == ["info"], loud.messages
    hushed = quiet.call_tool("a__log", {"level": "info", "message": "for quiet"})
    assert hushed.notifications_of("notifications/message") == [], (
        f"a session at level error must not get an info log: {hushed.messages}"
    )
    assert text_of(hushed.result) == "logged"


# ---------------------------------------------------------------------------------------------
# Process life
# ---------------------------------------------------------------------------------------------


def test_http_alone_ignores_stdin_eof(example, mcpx_http):
    """`--http` without `--stdio` runs until a signal, even with stdin at EOF from the start."""
    a = example("a")
    door = mcpx_http([a], stdin=subprocess.DEVNULL)
    time.sleep(1.0)
    assert door.alive(), f"mcpx --http exited on its own:\n{door.log_tail()}"
    assert "a__echo" in door.session().tool_names()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_http_alone_exits_on_signal(example, mcpx_http, sig):
    a = example("a")
    door = mcpx_http([a])
    client = door.session()
    stream = client.open_stream()
    try:
        door.signal(sig)
        code = door.wait_exit(5)
        assert code is not None, f"mcpx --http still running 5s after {sig.name}:\n{door.log_tail()}"
    finally:
        stream.close()


def test_stdio_and_http_share_backends_and_exit_on_stdin_eof(example, mcpx_http):
    a = example("a")
    door = mcpx_http([a], stdio=True)
    pipe = door.pipe
    pipe.initialize()
    assert "a__echo" in pipe.tool_names()
    client = door.session()
    assert text_of(client.call_tool("a__echo", {"text": "via http"}).result) == "via http"
    assert text_of(pipe.call_ok("a__echo", {"text": "via stdio"})) == "via stdio"
    stream = client.open_stream()  # an open GET stream must not keep mcpx alive
    try:
        pipe.close_stdin()
        code = door.wait_exit(5)
        assert code is not None, f"mcpx --stdio --http did not exit on stdin EOF:\n{door.log_tail()}"
        assert code == 0, f"exit code {code} on stdin EOF:\n{door.log_tail()}"
    finally:
        stream.close()


def test_http_change_reaches_the_stdio_client(example, mcpx_http):
    """Both doors share the backends: a server added through an HTTP session's `manage` call shows
    up for the stdio client, with a list_changed (it listed)."""
    a, c = example("a"), example("c")
    door = mcpx_http([a], stdio=True)
    pipe = door.pipe
    pipe.initialize()
    assert "c__echo" not in pipe.tool_names()
    mark = len(pipe.notifications)
    client = door.session()
    added = client.call_tool("manage", {"action": "add", "name": "c", "url": c.url}, timeout=15)
    assert not added.result.get("isError"), added.result
    pipe.wait_notification("notifications/tools/list_changed", since=mark)
    assert "c__echo" in pipe.tool_names()
    assert text_of(pipe.call_ok("c__whoami")) == "c"


def test_health_endpoint(door):
    reply = HTTPClient("127.0.0.1", door.port).exchange("GET", "/health")
    assert reply.status == 200, reply.describe()
