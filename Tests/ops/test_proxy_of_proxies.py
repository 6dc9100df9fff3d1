"""mcpx behind mcpx: three `mcpx --http` instances (inner1: a, inner2: b, inner3: c, each an example
backend) and one `mcpx --stdio` in front of them (p1, p2, p3). Tool listing, calls, progress,
cancellation and list changes pass both hops; killing one inner mcpx affects only its tools.

    stdio client ── mcpx --stdio ──┬── p1 ─ mcpx --http (inner1) ── a (example)
                                   ├── p2 ─ mcpx --http (inner2) ── b (example)
                                   └── p3 ─ mcpx --http (inner3) ── c (example)
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import pytest
from e2e_harness import EXAMPLE_TOOLS, OWN_TOOLS, McpxPipe, text_of
from ops_harness import McpxHTTP, calls_total, wait_for

pytestmark = pytest.mark.timeout(30)  # each test takes well under 15 s


@dataclass
class Topology:
    front: McpxPipe
    inners: dict[str, McpxHTTP]  # p1, p2, p3
    backends: dict[str, Any]  # a, b, c


@pytest.fixture
def topology(example, mcpx_http, mcpx_stdio) -> Topology:
    backends = {name: example(name) for name in ("a", "b", "c")}
    inners = {f"p{i}": mcpx_http([backends[name]]) for i, name in enumerate(("a", "b", "c"), start=1)}
    for inner in inners.values():
        inner.wait_healthy(1)
    front = mcpx_stdio({name: inner.mcp_url for name, inner in inners.items()}, "--backoff-cap", "1")
    front.initialize()
    front.wait_tools(lambda names: all(f"{p}__{s}__echo" in names for p, s in (("p1", "a"), ("p2", "b"), ("p3", "c"))))
    return Topology(front, inners, backends)


def test_front_lists_and_calls_through_both_hops(topology):
    front = topology.front
    names = set(front.tool_names())
    for p, s in (("p1", "a"), ("p2", "b"), ("p3", "c")):
        assert {f"{p}__{s}__{t}" for t in EXAMPLE_TOOLS} <= names, sorted(names)
        assert {f"{p}__{t}" for t in OWN_TOOLS} <= names, "the inner mcpx's own tools are tools like any other"
    assert set(OWN_TOOLS) <= names

    assert text_of(front.call_ok("p1__a__echo", {"text": "two hops"})) == "two hops"
    added = front.call_ok("p2__b__add", {"a": 20, "b": 22})
    assert added["structuredContent"] == {"sum": 42}
    assert front.call_ok("p3__c__whoami")["structuredContent"]["name"] == "c"
    failed = front.call_tool("p1__a__fail", {"message": "deep"})
    assert failed["result"].get("isError") is True and "deep" in text_of(failed["result"]), failed

    # The inner mcpx saw the calls.
    m = topology.inners["p1"].metrics()
    assert calls_total(m, "a", "echo", "ok") == 1
    assert calls_total(m, "a", "fail", "error") == 1


def test_progress_passes_both_hops(topology):
    front = topology.front
    mark = len(front.notifications)
    result = front.call_ok(
        "p1__a__progress", {"steps": 3, "delay_ms": 100}, meta={"progressToken": "pp-1"}, timeout=15
    )
    assert text_of(result) == "done 3 steps"
    progress = [n["params"] for n in front.notifications_of("notifications/progress", since=mark)]
    assert progress, "no notifications/progress reached the stdio client"
    assert all(p["progressToken"] == "pp-1" for p in progress), progress
    assert [p["progress"] for p in progress] == [1, 2, 3], progress
    assert all(p.get("total") == 3 for p in progress), progress


def test_cancellation_passes_both_hops(topology):
    front, inner1 = topology.front, topology.inners["p1"]
    request_id = front.next_id()
    front.send({"jsonrpc": "2.0", "id": request_id, "method": "tools/call",
                "params": {"name": "p1__a__sleep", "arguments": {"ms": 8000}}})
    wait_for("the sleep reached inner1's backend",
             lambda: inner1.metrics().maybe("mcpx_calls_in_flight", server="a") == 1, timeout=5, interval=0.05)
    cancelled_at = time.monotonic()
    front.notify("notifications/cancelled", {"requestId": request_id, "reason": "test cancels"})

    def ended_early() -> bool:
        m = inner1.metrics()
        return calls_total(m, "a", "sleep", "cancelled") >= 1 or m.one("mcpx_calls_in_flight", server="a") == 0

    wait_for("inner1 shows the sleep cancelled (or ended early)", ended_early, timeout=5, interval=0.1)
    assert time.monotonic() - cancelled_at < 6, "the sleep was not cut short"
    m = inner1.metrics()
    assert calls_total(m, "a", "sleep", "ok") == 0, "the backend's sleep ran to its end"
    front.drain(1.0)
    assert not front.has_response(request_id), f"the front answered a cancelled call: {front.unclaimed_responses()}"
    # The front is still fine.
    assert text_of(front.call_ok("p1__a__echo", {"text": "after cancel"})) == "after cancel"


def test_backend_list_change_reaches_the_front(topology):
    front = topology.front
    assert "p1__a__ephemeral" not in front.tool_names()
    mark = len(front.notifications)
    assert text_of(front.call_ok("p1__a__toggle_tool")) == "on"
    front.wait_notification("notifications/tools/list_changed", since=mark, timeout=10)
    front.wait_tools(lambda names: "p1__a__ephemeral" in names, timeout=5)
    assert text_of(front.call_ok("p1__a__ephemeral", {"k": "v"})) == '{"k":"v"}'

    mark = len(front.notifications)
    assert text_of(front.call_ok("p1__a__toggle_tool")) == "off"
    front.wait_notification("notifications/tools/list_changed", since=mark, timeout=10)
    front.wait_tools(lambda names: "p1__a__ephemeral" not in names, timeout=5)


def test_manage_add_on_an_inner_mcpx_reaches_the_front(topology, example):
    front, inner2 = topology.front, topology.inners["p2"]
    d = example("d")
    mark = len(front.notifications)
    session = inner2.session()
    added = session.call_ok("manage", {"action": "add", "name": "d", "url": d.url}, timeout=15)
    assert added["structuredContent"]["server"] == "d", added
    front.wait_notification("notifications/tools/list_changed", since=mark, timeout=10)
    front.wait_tools(lambda names: "p2__d__echo" in names, timeout=5)
    assert front.call_ok("p2__d__whoami")["structuredContent"]["name"] == "d"
    assert inner2.get_json("/servers/count") == {"total": 2, "healthy": 2}


def test_killing_one_inner_mcpx_affects_only_its_tools(topology):
    front, inner1 = topology.front, topology.inners["p1"]
    assert text_of(front.call_ok("p1__a__echo", {"text": "alive"})) == "alive"
    inner1.kill()  # SIGKILL by PID
    assert inner1.proc.poll() is not None

    response = front.call_tool("p1__a__echo", {"text": "dead"}, timeout=15)
    assert "result" in response, f"a call to a dead inner mcpx is a tool result, not a JSON-RPC error: {response}"
    assert response["result"].get("isError") is True, response
    assert "p1" in text_of(response["result"]), "the error should name the dead server"
    for _ in range(2):
        assert text_of(front.call_ok("p2__b__echo", {"text": "b fine"})) == "b fine"
        assert text_of(front.call_ok("p3__c__echo", {"text": "c fine"})) == "c fine"

    def health() -> Any:
        h = front.call_ok("proxy_health")["structuredContent"]
        return (h["healthy"], h["total"]) == (2, 3) and h

    wait_for("the front's proxy_health says 2/3 healthy", health, timeout=10, interval=0.5)
