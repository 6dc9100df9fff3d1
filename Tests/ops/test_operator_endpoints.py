"""The operator endpoints of `mcpx --http`: /health, /status, /servers, /servers/count, /tools,
POST /call, the dashboard page, --http-token, SIGTERM.

Real example backends: `a` is healthy; `down` points at a port nothing listens on, so the proxy is
"degraded" with healthy < total.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from typing import Any

import pytest
from e2e_harness import EXAMPLE_TOOLS, text_of
from ops_harness import OWN_TOOLS, McpxHTTP, has_figure, tool_figures, wait_for

pytestmark = pytest.mark.timeout(30)  # each test takes well under 15 s

TOKEN = "s3cret-token-for-tests"


@pytest.fixture
def degraded(example, mcpx_http, dead_url) -> McpxHTTP:
    """mcpx --http in front of `a` (healthy) and `down` (nothing listens): a ready, down not."""
    a = example("a")
    server = mcpx_http({"a": a.url, "down": dead_url}, "--connect-timeout", "2", "--startup-timeout", "1")
    server.wait_healthy(1)
    return server


@pytest.fixture
def healthy(example, mcpx_http) -> McpxHTTP:
    server = mcpx_http([example("a")])
    server.wait_healthy(1)
    return server


# ---------------------------------------------------------------------------------------------
# /health, /servers/count, /servers, /status, /tools
# ---------------------------------------------------------------------------------------------


def _tool_count_ok(health_tools: Any, listed: list[dict[str, Any]]) -> bool:
    """/health's `tools`: what tools/list gives, with or without mcpx's own three tools."""
    own = sum(1 for t in listed if t["name"] in OWN_TOOLS)
    return health_tools in (len(listed), len(listed) - own)


def test_health_ok_when_every_server_is_ready(healthy):
    body = healthy.get_json("/health")
    assert body["status"] == "ok", body
    assert body["servers"] == {"healthy": 1, "total": 1}, body
    assert isinstance(body["tools"], int) and not isinstance(body["tools"], bool), body
    listed = healthy.get_json("/tools")["tools"]
    assert _tool_count_ok(body["tools"], listed), (body, [t["name"] for t in listed])
    assert body["tools"] >= len(EXAMPLE_TOOLS)


def test_health_degraded_when_a_server_is_down(degraded):
    resp = degraded.get("/health")
    assert resp.status == 200, f"/health answers 200 when degraded too: {resp}"
    assert resp.content_type.startswith("application/json"), resp
    body = resp.json()
    assert body["status"] == "degraded", body
    assert body["servers"] == {"healthy": 1, "total": 2}, body
    listed = degraded.get_json("/tools")["tools"]
    assert _tool_count_ok(body["tools"], listed), (body, [t["name"] for t in listed])

    # "degraded" is about enabled servers: disabling the dead one makes the proxy healthy again.
    degraded.session().call_ok("manage", {"action": "disable", "name": "down"})
    wait_for("/health status ok once the dead server is disabled",
             lambda: degraded.get_json("/health")["status"] == "ok", timeout=5)


def test_servers_count(degraded):
    assert degraded.get_json("/servers/count") == {"total": 2, "healthy": 1}


def test_servers_is_manage_list(degraded):
    body = degraded.get_json("/servers")
    session = degraded.session()
    listed = session.call_ok("manage", {"action": "list"})["structuredContent"]

    def essentials(content: dict[str, Any]) -> list[tuple[Any, ...]]:
        return [(s["name"], s["url"], s["enabled"], s["status"], s["toolCount"]) for s in content["servers"]]

    assert set(body) == set(listed), (body, listed)
    assert essentials(body) == essentials(listed)
    by_name = {s["name"]: s for s in body["servers"]}
    assert set(by_name) == {"a", "down"}
    assert by_name["a"]["status"] == "ready" and by_name["a"]["toolCount"] == len(EXAMPLE_TOOLS)
    assert by_name["down"]["status"] != "ready"
    assert by_name["down"]["lastError"], "the unreachable server should carry its last error"


def test_status_is_proxy_status(degraded):
    body = degraded.get_json("/status")
    session = degraded.session()
    via_tool = session.call_ok("proxy_status")["structuredContent"]
    assert set(body) == set(via_tool), f"/status keys {sorted(body)} != proxy_status keys {sorted(via_tool)}"

    def servers(content: dict[str, Any]) -> list[tuple[Any, ...]]:
        return [(s["name"], s["status"], s["toolCount"], s["enabled"]) for s in content["servers"]]

    assert servers(body) == servers(via_tool)
    if "totals" in body:
        for key in ("servers", "ready", "toolsListed"):
            assert body["totals"].get(key) == via_tool["totals"].get(key), (key, body["totals"], via_tool["totals"])
    assert [s["name"] for s in body["servers"]] == ["a", "down"]


def test_tools_is_what_mcp_tools_list_gives(degraded):
    body = degraded.get_json("/tools")
    assert set(body) == {"tools"}, body.keys()
    session = degraded.session()
    listed = session.list_tools()
    from_http = {t["name"]: t for t in body["tools"]}
    from_mcp = {t["name"]: t for t in listed}
    assert len(from_http) == len(body["tools"]), "duplicate names in /tools"
    assert set(from_http) == set(from_mcp), (sorted(from_http), sorted(from_mcp))
    for name, definition in from_mcp.items():
        assert from_http[name] == definition, f"/tools differs from tools/list for {name}"
    assert {f"a__{t}" for t in EXAMPLE_TOOLS} <= set(from_http)
    assert not any(n.startswith("down__") for n in from_http)


# ---------------------------------------------------------------------------------------------
# POST /call
# ---------------------------------------------------------------------------------------------


def test_call_returns_the_call_tool_result(degraded):
    resp = degraded.post_call("a__add", {"a": 2, "b": 3})
    assert resp.status == 200, resp
    assert resp.content_type.startswith("application/json"), resp
    result = resp.json()
    assert result["structuredContent"] == {"sum": 5}, result
    assert text_of(result) == "5"
    assert not result.get("isError"), result

    echoed = degraded.call_ok("a__echo", {"text": "héllo wörld"})
    assert text_of(echoed) == "héllo wörld"
    assert degraded.call_ok("a__whoami")["structuredContent"]["name"] == "a"


def test_call_tool_error_is_a_200_result_with_is_error(degraded):
    resp = degraded.post_call("a__fail", {"message": "boom"})
    assert resp.status == 200, resp
    result = resp.json()
    assert result.get("isError") is True, result
    assert "boom" in text_of(result)


@pytest.mark.parametrize("name", ["nope__echo", "a__no_such_tool", "nonamespace"])
def test_call_unknown_tool_is_404_json(degraded, name):
    resp = degraded.post_call(name, {})
    assert resp.status == 404, f"POST /call {name}: {resp}"
    assert resp.content_type.startswith("application/json"), resp
    body = resp.json()
    assert isinstance(body, dict) and ("error" in body or "message" in body), body


def test_call_to_a_down_server_is_an_error_result(degraded):
    # Like tools/call over stdio: the server is known, it just does not answer.
    resp = degraded.post_call("down__echo", {"text": "x"})
    assert resp.status == 200, resp
    result = resp.json()
    assert result.get("isError") is True and "down" in text_of(result), result


@pytest.mark.parametrize(
    "raw",
    [
        "this is not json",
        "{",
        "",
        "{}",
        '{"arguments": {"text": "x"}}',
        '{"name": 5}',
        "[1, 2]",
        '"a__echo"',
    ],
    ids=["text", "truncated", "empty", "empty-object", "no-name", "name-not-string", "array", "string"],
)
def test_call_bad_body_is_400(degraded, raw):
    resp = degraded.post_call("", raw=raw)
    assert resp.status == 400, f"POST /call {raw!r}: {resp}"


def test_per_tool_figures_in_proxy_status(degraded):
    for i in range(3):
        degraded.call_ok("a__echo", {"text": f"n{i}"})
    assert degraded.post_call("a__fail", {}).json().get("isError") is True
    status = degraded.get_json("/status")
    echo = tool_figures(status, "a", "echo")
    assert echo is not None, f"no per-tool figures for a/echo in /status: {json.dumps(status)[:3000]}"
    assert echo["calls"] == 3, echo
    assert has_figure(echo, "p50") and has_figure(echo, "p99"), f"p50/p99 missing: {echo}"
    assert any("error" in k.lower() for k in echo), f"no error count: {echo}"
    fail = tool_figures(status, "a", "fail")
    assert fail is not None and fail["calls"] == 1, fail
    errors = [v for k, v in fail.items() if k.lower() == "errors"]
    assert errors == [1], f"a/fail should count 1 error: {fail}"
    never_called = tool_figures(status, "a", "sleep")
    assert never_called is None or never_called["calls"] == 0, never_called

    # The same figures come with the proxy_status tool.
    via_tool = degraded.session().call_ok("proxy_status")["structuredContent"]
    echo_tool = tool_figures(via_tool, "a", "echo")
    assert echo_tool is not None and echo_tool["calls"] == 3, echo_tool


# ---------------------------------------------------------------------------------------------
# The dashboard page, statically (tests/ops/test_dashboard.py loads it in a browser)
# ---------------------------------------------------------------------------------------------


class _Refs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.external: list[str] = []
        self.styles: list[str] = []
        self.scripts = 0
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "script":
            self.scripts += 1
            if a.get("src"):
                self.external.append(f"<script src={a['src']}>")
        if tag == "link" and a.get("href") and not a["href"].startswith("data:"):
            self.external.append(f"<link rel={a.get('rel')} href={a['href']}>")
        if tag in ("img", "iframe", "embed", "object", "source", "audio", "video"):
            src = a.get("src") or a.get("data") or ""
            if src and not src.startswith("data:"):
                self.external.append(f"<{tag} src={src}>")
        if "style" in a:
            self.styles.append(a["style"])
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        if tag == "style":
            self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.styles.append(data)


def test_dashboard_is_one_self_contained_page(degraded):
    root, dash = degraded.get("/"), degraded.get("/dashboard")
    for path, resp in (("/", root), ("/dashboard", dash)):
        assert resp.status == 200, f"GET {path}: {resp}"
        assert resp.content_type.startswith("text/html"), f"GET {path}: {resp.content_type!r}"
    assert root.body == dash.body, "GET / and GET /dashboard should serve the same page"
    page = dash.text
    assert re.search(r"<!doctype html>", page, re.I), "not an HTML document"
    refs = _Refs()
    refs.feed(page)
    assert not refs.external, f"the dashboard loads external resources: {refs.external}"
    assert refs.scripts >= 1, "the dashboard has no script to update itself"
    for css in refs.styles:
        assert "@import" not in css, f"@import in the dashboard's styles: {css[:200]}"
        for url in re.findall(r"url\(\s*['\"]?([^'\")]+)", css):
            assert url.startswith("data:"), f"the dashboard's styles load {url}"
    assert not re.search(r"https?://(?!127\.0\.0\.1|localhost)", page), (
        "the dashboard names an outside URL: " + str(re.findall(r"https?://[^\s'\"<>]+", page)[:5])
    )


# ---------------------------------------------------------------------------------------------
# --http-token
# ---------------------------------------------------------------------------------------------


PROTECTED_GETS = ["/status", "/servers", "/servers/count", "/tools", "/metrics", "/", "/dashboard"]


def test_token_protects_everything_but_health(example, mcpx_http):
    server = mcpx_http([example("a")], token=TOKEN)
    health = server.get("/health", auth=False)
    assert health.status == 200, f"/health must not need the token: {health}"
    assert health.json()["status"] in ("ok", "degraded")

    wrong = {"Authorization": "Bearer not-the-token"}
    for path in PROTECTED_GETS:
        assert server.get(path, auth=False).status == 401, f"GET {path} without a token"
        assert server.get(path, auth=False, headers=wrong).status == 401, f"GET {path} with a wrong token"
        assert server.get(path, auth=False, headers={"Authorization": TOKEN}).status == 401, (
            f"GET {path} with the token but not as Bearer"
        )
        assert server.get(path).status == 200, f"GET {path} with the token: {server.get(path)}"

    call = json.dumps({"name": "a__echo", "arguments": {"text": "x"}})
    ctype = {"Content-Type": "application/json"}
    assert server.request("POST", "/call", call, ctype, auth=False).status == 401
    assert server.request("POST", "/call", call, {**ctype, **wrong}, auth=False).status == 401
    ok = server.request("POST", "/call", call, ctype)
    assert ok.status == 200 and text_of(ok.json()) == "x", ok

    init = json.dumps({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    })
    mcp_headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    assert server.request("POST", "/mcp", init, mcp_headers, auth=False).status == 401, "/mcp without the token"
    session = server.session()  # with the token
    assert "a__echo" in {t["name"] for t in session.list_tools()}


def test_token_dashboard_query_parameter(example, mcpx_http):
    server = mcpx_http([example("a")], token=TOKEN)
    page = server.get(f"/dashboard?token={TOKEN}", auth=False)
    assert page.status == 200, page
    assert page.content_type.startswith("text/html"), page
    assert server.get("/dashboard?token=wrong", auth=False).status == 401
    assert server.get("/dashboard", auth=False).status == 401
    # The query parameter opens the page only: the data endpoints still want the header.
    assert server.get("/status?token=wrong", auth=False).status == 401


# ---------------------------------------------------------------------------------------------
# Life cycle
# ---------------------------------------------------------------------------------------------


def test_runs_until_sigterm(healthy):
    # stdin is /dev/null (the harness's default): the HTTP door must not stop at its end.
    assert healthy.proc.poll() is None, "mcpx --http exited on its own (stdin at EOF?)"
    assert healthy.get_json("/health")["status"] == "ok"
    code = healthy.terminate(grace=5)
    assert code is not None, "mcpx --http did not exit within 5 s of SIGTERM"
    assert code in (0, -15, 143), f"exit code after SIGTERM: {code}"
