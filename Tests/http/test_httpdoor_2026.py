"""The HTTP door serves MCP 2026-07-28 (stateless) next to the handshake era, checked with a raw
client: no session, routing headers that must match the body (-32020), the revision's status
codes, 405 for GET/DELETE, resultType, and subscriptions/listen as an SSE stream."""

from __future__ import annotations

import http.client
import json
import time
from typing import Any

import pytest

pytestmark = pytest.mark.timeout(30)

V = "2026-07-28"
ENVELOPE = {
    "io.modelcontextprotocol/protocolVersion": V,
    "io.modelcontextprotocol/clientCapabilities": {},
    "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "1"},
}


@pytest.fixture
def door(example, mcpx_http):
    return mcpx_http([example("a")])


def post(door, body: dict[str, Any], headers: dict[str, str] | None = None, *, accept: str = "application/json, text/event-stream"):
    """One POST to /mcp with the 2026 headers derived from the body unless `headers` overrides them."""
    h = {"Content-Type": "application/json", "Accept": accept, "MCP-Protocol-Version": V}
    if "method" in body:
        h["Mcp-Method"] = body["method"]
        p = body.get("params") or {}
        if body["method"] in ("tools/call", "prompts/get"):
            h["Mcp-Name"] = p.get("name", "")
        if body["method"] == "resources/read":
            h["Mcp-Name"] = p.get("uri", "")
    h.update(headers or {})
    h = {k: v for k, v in h.items() if v is not None}
    conn = http.client.HTTPConnection(door.host, door.port, timeout=15)
    try:
        conn.request("POST", "/mcp", body=json.dumps(body).encode(), headers=h)
        resp = conn.getresponse()
        data = resp.read().decode()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
    finally:
        conn.close()


def request(method: str, params: dict[str, Any] | None = None, rid: Any = 1) -> dict[str, Any]:
    p = dict(params or {})
    p["_meta"] = {**ENVELOPE, **p.get("_meta", {})}
    return {"jsonrpc": "2.0", "id": rid, "method": method, "params": p}


def messages(content_type: str, data: str) -> list[dict[str, Any]]:
    if content_type.startswith("application/json"):
        return [json.loads(data)]
    return [json.loads(line[5:].strip()) for line in data.splitlines() if line.startswith("data:")]


def test_discover_without_a_session(door):
    status, headers, data = post(door, request("server/discover"))
    assert status == 200, data
    assert "mcp-session-id" not in headers, "2026-07-28 has no sessions"
    result = messages(headers["content-type"], data)[-1]["result"]
    assert V in result["supportedVersions"] and "2025-11-25" in result["supportedVersions"]
    assert result["resultType"] == "complete" and "tools" in result["capabilities"]
    assert result["_meta"]["io.modelcontextprotocol/serverInfo"]["name"] == "mcpx"


def test_stateless_tool_call_and_list(door):
    status, headers, data = post(door, request("tools/list"))
    assert status == 200, data
    tools = messages(headers["content-type"], data)[-1]["result"]
    assert tools["resultType"] == "complete" and "ttlMs" in tools and tools["cacheScope"] == "private"
    assert "a__add" in [t["name"] for t in tools["tools"]]
    status, headers, data = post(door, request("tools/call", {"name": "a__add", "arguments": {"a": 2, "b": 3}}, rid=2))
    assert status == 200, data
    result = messages(headers["content-type"], data)[-1]["result"]
    assert result["structuredContent"] == {"sum": 5} and result["resultType"] == "complete"


@pytest.mark.parametrize(
    "override, words",
    [
        ({"Mcp-Method": "tools/list"}, "Mcp-Method"),
        ({"Mcp-Method": None}, "Mcp-Method"),
        ({"Mcp-Name": "a__echo"}, "Mcp-Name"),
        ({"Mcp-Name": None}, "Mcp-Name"),
    ],
)
def test_routing_headers_must_match_the_body(door, override, words):
    status, headers, data = post(door, request("tools/call", {"name": "a__add", "arguments": {"a": 1, "b": 1}}), override)
    assert status == 400, data
    error = json.loads(data)["error"]
    assert error["code"] == -32020 and words in error["message"], error


def test_version_header_must_match_the_envelope(door):
    body = request("tools/list")
    body["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"] = "2030-01-01"
    status, _, data = post(door, body)
    assert status == 400 and json.loads(data)["error"]["code"] == -32020, data


def test_unsupported_version_is_32022_with_supported(door):
    body = request("tools/list")
    body["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"] = "2030-01-01"
    status, _, data = post(door, body, {"MCP-Protocol-Version": "2030-01-01"})
    assert status == 400, data
    error = json.loads(data)["error"]
    assert error["code"] == -32022 and V in error["data"]["supported"] and error["data"]["requested"] == "2030-01-01"


def test_removed_method_is_404(door):
    status, _, data = post(door, request("ping"))
    assert status == 404 and json.loads(data)["error"]["code"] == -32601, data


def test_missing_capabilities_is_400_invalid_params(door):
    body = request("tools/list")
    del body["params"]["_meta"]["io.modelcontextprotocol/clientCapabilities"]
    status, _, data = post(door, body)
    assert status == 400 and json.loads(data)["error"]["code"] == -32602, data


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_get_and_delete_are_405_at_2026(door, method):
    conn = http.client.HTTPConnection(door.host, door.port, timeout=10)
    try:
        conn.request(method, "/mcp", headers={"MCP-Protocol-Version": V, "Accept": "text/event-stream"})
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 405 and "POST" in (resp.getheader("allow") or "")
    finally:
        conn.close()


def test_listen_streams_list_changes(door):
    """subscriptions/listen: an SSE answer, the acknowledgement first, then list changes tagged
    with the listen request's id, for as long as the client keeps the stream."""
    conn = http.client.HTTPConnection(door.host, door.port, timeout=15)
    body = request("subscriptions/listen", {"notifications": {"toolsListChanged": True}}, rid="L1")
    conn.request("POST", "/mcp", body=json.dumps(body).encode(), headers={
        "Content-Type": "application/json", "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": V, "Mcp-Method": "subscriptions/listen"})
    resp = conn.getresponse()
    assert resp.status == 200 and resp.getheader("content-type", "").startswith("text/event-stream")

    def next_message(deadline: float) -> dict[str, Any]:
        while time.monotonic() < deadline:
            line = resp.fp.readline().decode()
            if line.startswith("data:"):
                return json.loads(line[5:].strip())
        raise AssertionError("no event in time")

    ack = next_message(time.monotonic() + 5)
    assert ack["method"] == "notifications/subscriptions/acknowledged", ack
    assert ack["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"] == "L1"
    assert ack["params"]["notifications"] == {"toolsListChanged": True}
    status, _, data = post(door, request("tools/call", {"name": "a__toggle_tool", "arguments": {}}, rid=9))
    assert status == 200, data
    event = next_message(time.monotonic() + 10)
    assert event["method"] == "notifications/tools/list_changed", event
    assert event["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"] == "L1"
    conn.close()


def test_handshake_era_clients_still_get_sessions(door):
    """The same endpoint still serves initialize with a session (dual era)."""
    client = door.client()
    reply = client.request("initialize", {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}})
    assert reply.header("mcp-session-id"), reply.describe()
