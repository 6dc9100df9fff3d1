"""Tools through mcpx: namespacing, pass-through, name mapping, pagination, routing, notifications."""

from __future__ import annotations

import json
from typing import Any

import pytest
from e2e_harness import EXAMPLE_TOOLS, OWN_TOOLS, TOOL_NAME_RE, McpxPipe, text_of


@pytest.fixture
def two(example, mcpx):
    """mcpx over example backends `a` and `b`, initialized."""
    a, b = example("a"), example("b")
    pipe = mcpx([a, b])
    pipe.initialize()
    return pipe, a, b


def without_name(tool: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in tool.items() if k != "name"}


def exposed_counterparts(exposed: list[dict[str, Any]], backend_tool: dict[str, Any]) -> list[dict[str, Any]]:
    """Exposed tools identical to `backend_tool` in every field but the name."""
    return [t for t in exposed if without_name(t) == without_name(backend_tool)]


def arguments_for(tool: dict[str, Any], text: str) -> dict[str, Any]:
    props = tool.get("inputSchema", {}).get("properties", {})
    return {"text": text} if "text" in props else {}


# --- listing ------------------------------------------------------------------------------------


def test_tools_list_namespaces_both_backends(two):
    pipe, _, _ = two
    names = set(pipe.tool_names())
    for own in OWN_TOOLS:
        assert own in names
    for server in ("a", "b"):
        for tool in EXAMPLE_TOOLS:
            assert f"{server}__{tool}" in names, f"{server}__{tool} missing from {sorted(names)}"


def test_exposed_names_are_valid_and_unique(two):
    pipe, _, _ = two
    names = pipe.tool_names()
    assert len(names) == len(set(names)), "duplicate tool names"
    bad = [n for n in names if not TOOL_NAME_RE.match(n)]
    assert not bad, f"names outside ^[a-zA-Z0-9_-]{{1,64}}$: {bad}"


def test_tool_fields_pass_through_unchanged(two, direct):
    pipe, a, _ = two
    exposed = {t["name"]: t for t in pipe.list_tools()}
    backend_tools = direct(a.url).list_tools()
    assert backend_tools, "the example backend lists no tools"
    for tool in backend_tools:
        mine = exposed.get(f"a__{tool['name']}")
        assert mine is not None, f"a__{tool['name']} not exposed"
        assert without_name(mine) == without_name(tool), f"fields of {tool['name']} changed in transit"


def test_own_tools_are_well_formed(two):
    pipe, _, _ = two
    tools = {t["name"]: t for t in pipe.list_tools()}
    for own in OWN_TOOLS:
        tool = tools[own]
        assert tool["inputSchema"]["type"] == "object"
        assert isinstance(tool.get("description"), str) and tool["description"]


def test_weird_names_get_stable_short_routable_forms(example, mcpx, direct):
    weird = example("w", "--weird-names")
    backend_tools = direct(weird.url).list_tools()
    odd = [t for t in backend_tools if not TOOL_NAME_RE.match(f"w__{t['name']}")]
    assert any("." in t["name"] for t in odd), "the backend should offer a dotted tool name"
    assert any(len(t["name"]) > 64 for t in odd), "the backend should offer an over-long tool name"
    plain = {f"w__{t['name']}" for t in backend_tools if t not in odd} | set(OWN_TOOLS)

    runs = []
    for _ in range(2):  # two separate mcpx runs must expose the same names
        pipe = mcpx([weird])
        pipe.initialize()
        exposed = pipe.list_tools()
        assert plain <= {t["name"] for t in exposed}, "tools with fitting names keep <server>__<tool>"
        short = [t for t in exposed if t["name"] not in plain]
        assert len(short) == len(odd), f"expected one short form per awkward name, got {[t['name'] for t in short]}"
        for tool in odd:
            assert exposed_counterparts(short, tool), f"no exposed tool carries the fields of {tool['name']!r}"
        for tool in short:
            assert TOOL_NAME_RE.match(tool["name"]), f"{tool['name']!r} is not a valid client tool name"
            result = pipe.call_ok(tool["name"], arguments_for(tool, "weird-ping"))
            if arguments_for(tool, "x"):
                assert "weird-ping" in text_of(result), f"{tool['name']} did not reach the backend: {result}"
        runs.append(sorted(t["name"] for t in short))
        pipe.close()
    assert runs[0] == runs[1], "the short forms must be stable across runs"


def test_max_tool_name_is_respected(example, mcpx, direct):
    a, weird = example("a"), example("weirdo", "--weird-names")
    pipe = mcpx([a, weird], "--max-tool-name", "40")
    pipe.initialize()
    exposed = pipe.list_tools()
    too_long = [t["name"] for t in exposed if len(t["name"]) > 40]
    assert not too_long, f"names over --max-tool-name 40: {too_long}"
    assert "a__echo" in {t["name"] for t in exposed}, "names that fit keep the plain <server>__<tool> form"
    for tool in direct(weird.url).list_tools():
        matches = exposed_counterparts(exposed, tool)
        assert len(matches) >= 1, f"{tool['name']!r} vanished under --max-tool-name 40"
        if len(tool["name"]) > 40:
            pipe.call_ok(matches[0]["name"], arguments_for(tool, "short"))


def test_paginated_backend_is_listed_completely(example, mcpx, direct):
    paged = example("p", "--extra-tools", "250", "--page-size", "50")
    backend_tools = direct(paged.url).list_tools()
    assert len(backend_tools) >= 250
    pipe = mcpx([paged], "--expose", "all")
    pipe.initialize()
    names = set(pipe.tool_names(timeout=20))
    missing = [f"p__tool_{i}" for i in range(250) if f"p__tool_{i}" not in names]
    assert not missing, f"{len(missing)} tools missing, e.g. {missing[:5]}"
    assert len([n for n in names if n.startswith("p__")]) == len(backend_tools)
    pipe.call_ok("p__tool_249", {"x": 1})


# --- calls --------------------------------------------------------------------------------------


def test_calls_are_routed_to_the_right_backend(two):
    pipe, _, _ = two
    for server in ("a", "b"):
        result = pipe.call_ok(f"{server}__whoami")
        assert text_of(result) == server
        assert result["structuredContent"]["name"] == server


def test_structured_content_passes_through(two, direct):
    pipe, a, _ = two
    result = pipe.call_ok("a__add", {"a": 2, "b": 3})
    assert result["structuredContent"] == {"sum": 5}
    assert result == direct(a.url).call_tool("add", {"a": 2, "b": 3})["result"]


def test_tool_error_result_passes_through(two, direct):
    pipe, a, _ = two
    response = pipe.call_tool("a__fail", {"message": "boom"})
    assert "result" in response, "a failing tool is a result with isError, not a JSON-RPC error"
    assert response["result"]["isError"] is True
    assert "boom" in text_of(response["result"])
    assert response["result"] == direct(a.url).call_tool("fail", {"message": "boom"})["result"]


def test_echo_round_trips_exotic_text(two):
    pipe, _, _ = two
    text = 'line1\nline2\t"quoted" \\ \u00e9\u4e2d\U0001f600 \u2028\u2029 end'
    assert text_of(pipe.call_ok("b__echo", {"text": text})) == text


@pytest.mark.parametrize("name", ["nope", "zz__echo", "a__nope", "a__", "__echo", ""])
def test_unknown_tool_is_invalid_params(two, name):
    pipe, _, _ = two
    response = pipe.call_tool(name, {})
    assert "error" in response, f"calling unknown tool {name!r} should be a JSON-RPC error: {response}"
    assert response["error"]["code"] == -32602
    assert response["error"]["message"] == f"Unknown tool: {name}"
    assert pipe.result("ping") == {}


def test_concurrent_calls_do_not_block_each_other(two):
    pipe, _, _ = two
    slow_id = pipe.next_id()
    pipe.send(
        {
            "jsonrpc": "2.0",
            "id": slow_id,
            "method": "tools/call",
            "params": {"name": "a__sleep", "arguments": {"ms": 3000}},
        }
    )
    expected = {}
    for i in range(20):
        request_id = pipe.next_id()
        server = "ab"[i % 2]
        expected[request_id] = f"msg-{i}"
        pipe.send(
            {
                "jsonrpc": "2.0",
                "id": request_id,
                "method": "tools/call",
                "params": {"name": f"{server}__echo", "arguments": {"text": f"msg-{i}"}},
            }
        )
    for request_id, text in expected.items():
        assert text_of(pipe.wait_response(request_id, timeout=10)["result"]) == text
    assert not pipe.has_response(slow_id), "the echo calls waited behind a slow call"
    assert not pipe.wait_response(slow_id, timeout=10)["result"].get("isError")


# --- notifications around calls ------------------------------------------------------------------


@pytest.mark.parametrize("token", ["tok-1", 42])
def test_progress_uses_the_clients_token(two, token):
    pipe, _, _ = two
    mark = len(pipe.notifications)
    result = pipe.call_ok("a__progress", {"steps": 3, "delay_ms": 50}, meta={"progressToken": token})
    assert result is not None
    progress = pipe.notifications_of("notifications/progress", since=mark)
    assert len(progress) == 3, f"expected 3 progress notifications before the result, got {progress}"
    for msg in progress:
        assert msg["params"]["progressToken"] == token
        assert type(msg["params"]["progressToken"]) is type(token)
    values = [m["params"]["progress"] for m in progress]
    assert values == sorted(values) and len(set(values)) == 3, f"progress must increase: {values}"


def test_no_progress_without_a_token(two):
    pipe, _, _ = two
    mark = len(pipe.notifications)
    pipe.call_ok("a__progress", {"steps": 2, "delay_ms": 20})
    pipe.drain(0.3)
    assert pipe.notifications_of("notifications/progress", since=mark) == []


def test_backend_log_messages_reach_the_client(two):
    pipe, _, _ = two
    mark = len(pipe.notifications)
    pipe.call_ok("b__log", {"level": "warning", "message": "hello-log"})
    msg = pipe.wait_notification(
        "notifications/message", since=mark, where=lambda m: "hello-log" in json.dumps(m["params"].get("data"))
    )
    assert msg["params"]["level"] == "warning"
    assert str(msg["params"].get("logger", "")).startswith("b"), "the logger should name the backend"


def test_backend_tool_list_changes_are_forwarded(two):
    pipe, _, _ = two
    assert "a__ephemeral" not in pipe.tool_names()
    mark = len(pipe.notifications)
    pipe.call_ok("a__toggle_tool")
    pipe.wait_notification("notifications/tools/list_changed", since=mark, timeout=10)
    pipe.wait_tools(lambda names: "a__ephemeral" in names, timeout=10)
    pipe.call_ok("a__ephemeral", {})
    mark = len(pipe.notifications)
    pipe.call_ok("a__toggle_tool")
    pipe.wait_notification("notifications/tools/list_changed", since=mark, timeout=10)
    pipe.wait_tools(lambda names: "a__ephemeral" not in names, timeout=10)


def test_cancelled_call_gets_no_late_answer(two):
    pipe, _, _ = two
    request_id = pipe.next_id()
    pipe.send(
        {
            "jsonrpc": "2.0",
            "id": request_id,
            "method": "tools/call",
            "params": {"name": "a__sleep", "arguments": {"ms": 2500}},
        }
    )
    pipe.drain(0.4)
    pipe.notify("notifications/cancelled", {"requestId": request_id, "reason": "user pressed stop"})
    assert text_of(pipe.call_ok("a__echo", {"text": "still here"})) == "still here"
    pipe.drain(3.5)
    assert not pipe.has_response(request_id), "a cancelled request must not be answered"
    assert pipe.result("ping") == {}


# --- other backend flavours ------------------------------------------------------------------------


@pytest.mark.parametrize("flag", ["--sse", "--no-get-stream"])
def test_backend_flavours(example, mcpx, flag):
    backend = example("f", flag)
    pipe = mcpx([backend])
    pipe.initialize()
    assert "f__echo" in pipe.tool_names()
    assert text_of(pipe.call_ok("f__echo", {"text": "flavour"})) == "flavour"
    mark = len(pipe.notifications)
    pipe.call_ok("f__progress", {"steps": 2, "delay_ms": 10}, meta={"progressToken": "p"})
    assert len(pipe.notifications_of("notifications/progress", since=mark)) == 2


def test_many_tools_many_backends(example, mcpx):
    backends = [example(f"s{i}", "--extra-tools", "40") for i in range(5)]
    pipe: McpxPipe = mcpx(backends, "--expose", "all")
    pipe.initialize()
    names = set(pipe.tool_names())
    for i in range(5):
        assert f"s{i}__tool_39" in names and f"s{i}__whoami" in names
        assert text_of(pipe.call_ok(f"s{i}__whoami")) == f"s{i}"


def test_loopback_backends_never_go_through_a_proxy(example, mcpx, get_free_port, monkeypatch):
    """A proxy in the environment (common on corporate machines) is not used for backends on this
    machine: 127.0.0.1 and `localhost` URLs are reached directly, whatever http_proxy says."""
    dead = f"http://127.0.0.1:{get_free_port()}"  # nothing listens there
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.setenv(var, dead)
    for var in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(var, raising=False)
    alpha, beta = example("alpha"), example("beta")
    pipe = mcpx({"alpha": alpha.url, "beta": beta.url.replace("127.0.0.1", "localhost")})
    pipe.initialize()
    pipe.wait_tools(lambda n: "alpha__echo" in n and "beta__echo" in n, timeout=10)
    for i in range(20):
        assert text_of(pipe.call_ok("alpha__echo", {"text": f"a{i}"})) == f"a{i}"
        assert text_of(pipe.call_ok("beta__whoami")) == "beta"
