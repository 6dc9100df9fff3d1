"""mcpx's own tools: manage (add/list/disable/enable/remove/health), proxy_status, proxy_health."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from e2e_harness import McpxPipe, text_of

ACTIONS = ("add", "list", "disable", "enable", "remove", "health")


def everything(result: dict[str, Any]) -> str:
    """Text content plus structuredContent, for 'does the answer mention X' checks."""
    return text_of(result) + "\n" + json.dumps(result.get("structuredContent", {}))


def assert_rejected(response: dict[str, Any], *words: str) -> str:
    """A refused manage call: -32602 or an isError result, with a message naming the problem."""
    if "error" in response:
        assert response["error"]["code"] == -32602, response
        message = response["error"]["message"] + json.dumps(response["error"].get("data", ""))
    else:
        assert response["result"].get("isError") is True, f"bad input was accepted: {response['result']}"
        message = everything(response["result"])
    for word in words:
        assert word.lower() in message.lower(), f"the refusal should mention {word!r}: {message!r}"
    return message


@pytest.fixture
def alpha_beta(example, mcpx):
    alpha, beta = example("alpha"), example("beta")
    pipe = mcpx([alpha, beta])
    pipe.initialize()
    # Both backends ready (their tools listed) before a test changes anything.
    pipe.wait_tools(lambda names: "alpha__echo" in names and "beta__echo" in names, timeout=10)
    return pipe, alpha, beta


def test_manage_schema_names_its_actions(alpha_beta):
    pipe, _, _ = alpha_beta
    manage = next(t for t in pipe.list_tools() if t["name"] == "manage")
    props = manage["inputSchema"].get("properties", {})
    for field in ("action", "name", "url"):
        assert field in props, f"manage.inputSchema should have a {field!r} property: {props}"
    advertised = json.dumps(props["action"]) + manage.get("description", "")
    for action in ACTIONS:
        assert action in advertised, f"manage should document the {action!r} action"


def test_manage_add_brings_new_tools_and_list_changed(example, mcpx, manage, direct):
    alpha, beta = example("alpha"), example("beta")
    pipe: McpxPipe = mcpx([alpha])
    pipe.initialize(initialized=False)
    pipe.drain(1.0)
    assert pipe.notifications_of("notifications/tools/list_changed") == [], "list_changed before initialized"
    pipe.notify("notifications/initialized")
    assert not any(n.startswith("beta__") for n in pipe.tool_names())

    mark = len(pipe.notifications)
    response = manage(pipe, "add", name="beta", url=beta.url)
    assert "result" in response and not response["result"].get("isError"), response
    tool_count = len(direct(beta.url).list_tools())
    assert re.search(rf"\b{tool_count}\b", everything(response["result"])), (
        f"manage add should report the backend's {tool_count} tools: {response['result']}"
    )
    pipe.wait_notification("notifications/tools/list_changed", since=mark)
    names = pipe.tool_names()
    assert "beta__echo" in names and "alpha__echo" in names
    assert text_of(pipe.call_ok("beta__whoami")) == "beta"


def test_manage_list_shows_servers(alpha_beta, manage):
    pipe, alpha, beta = alpha_beta
    response = manage(pipe, "list")
    assert not response["result"].get("isError"), response
    answer = everything(response["result"])
    for backend in (alpha, beta):
        assert backend.name in answer
        assert backend.url in answer or str(backend.port) in answer, "list should show each server's URL"


def test_manage_disable_and_enable(alpha_beta, manage):
    pipe, _, _ = alpha_beta
    mark = len(pipe.notifications)
    response = manage(pipe, "disable", name="beta")
    assert not response["result"].get("isError"), response
    pipe.wait_notification("notifications/tools/list_changed", since=mark)
    names = pipe.tool_names()
    assert not any(n.startswith("beta__") for n in names), "disabled server's tools must vanish"
    assert "alpha__echo" in names
    gone = pipe.call_tool("beta__echo", {"text": "x"})
    assert "error" in gone or gone["result"].get("isError"), "a disabled server's tool must not run"

    mark = len(pipe.notifications)
    response = manage(pipe, "enable", name="beta")
    assert not response["result"].get("isError"), response
    pipe.wait_notification("notifications/tools/list_changed", since=mark)
    pipe.wait_tools(lambda names: "beta__echo" in names, timeout=10)
    assert text_of(pipe.call_ok("beta__echo", {"text": "back"})) == "back"


def test_manage_remove(alpha_beta, manage):
    pipe, _, beta = alpha_beta
    mark = len(pipe.notifications)
    response = manage(pipe, "remove", name="beta")
    assert not response["result"].get("isError"), response
    pipe.wait_notification("notifications/tools/list_changed", since=mark)
    assert not any(n.startswith("beta__") for n in pipe.tool_names())
    listing = everything(manage(pipe, "list")["result"])
    assert beta.url not in listing, "a removed server must not be listed"
    assert text_of(pipe.call_ok("alpha__whoami")) == "alpha"


def test_manage_health_reports_latency(alpha_beta, manage):
    pipe, _, _ = alpha_beta
    response = manage(pipe, "health")
    assert not response["result"].get("isError"), response
    answer = everything(response["result"])
    assert "alpha" in answer and "beta" in answer
    has_ms = re.search(r"\d+(\.\d+)?\s*ms", answer)
    has_field = re.search(r'"[A-Za-z_]*latency[A-Za-z_]*"\s*:\s*\d', answer, re.IGNORECASE)
    assert has_ms or has_field, f"health should report a latency: {answer}"


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"action": "add", "name": "gamma"}, ("url",)),
        ({"action": "add", "url": "http://127.0.0.1:9/mcp"}, ("name",)),
        ({"action": "add", "name": "gamma", "url": "not a url"}, ("url",)),
        ({"action": "add", "name": "alpha", "url": "http://127.0.0.1:9/mcp"}, ("alpha",)),
        ({"action": "disable", "name": "ghost"}, ("ghost",)),
        ({"action": "remove", "name": "ghost"}, ("ghost",)),
        ({"action": "explode"}, ("action",)),
        ({}, ("action",)),
    ],
    ids=[
        "add-no-url",
        "add-no-name",
        "add-bad-url",
        "add-duplicate",
        "disable-unknown",
        "remove-unknown",
        "unknown-action",
        "no-action",
    ],
)
def test_manage_rejects_bad_input_clearly(alpha_beta, fields, words):
    pipe, _, _ = alpha_beta
    assert_rejected(pipe.call_tool("manage", fields), *words)
    assert text_of(pipe.call_ok("alpha__echo", {"text": "fine"})) == "fine"


@pytest.mark.parametrize("tool", ["proxy_status", "proxy_health"])
def test_status_tools_answer_text_and_structured(alpha_beta, tool):
    pipe, _, _ = alpha_beta
    result = pipe.call_ok(tool)
    assert text_of(result).strip(), f"{tool} should answer with text content"
    assert isinstance(result.get("structuredContent"), dict), f"{tool} should answer with structuredContent"


def test_proxy_status_names_every_server(alpha_beta):
    pipe, _, _ = alpha_beta
    result = pipe.call_ok("proxy_status")
    for name in ("alpha", "beta"):
        assert name in text_of(result)
        assert name in json.dumps(result["structuredContent"])


def test_proxy_health_reports_a_dead_backend(alpha_beta):
    pipe, _, beta = alpha_beta
    beta.kill()
    pipe.call_tool("beta__echo", {"text": "anyone?"}, timeout=15)  # now mcpx knows, at the latest
    result = pipe.call_ok("proxy_health")
    assert "beta" in everything(result), f"proxy_health should name the unhealthy server: {result}"
