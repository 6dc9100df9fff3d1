"""Backends that are late, die, come back or hang, while mcpx keeps running."""

from __future__ import annotations

import time

import pytest
from e2e_harness import text_of

RECOVERY_WINDOW = 15.0  # mcpx retries with capped backoff; a backend back up must be used within this


def test_backend_down_at_start_shows_up_later(example, mcpx, get_free_port):
    alpha = example("alpha")
    port = get_free_port()
    late = example("late", port=port, start=False)
    pipe = mcpx({"alpha": alpha.url, "late": f"http://127.0.0.1:{port}/mcp"}, "--startup-timeout", "2")
    pipe.initialize()
    names = pipe.tool_names()
    assert "alpha__echo" in names, "a dead backend must not hide the others"
    assert not any(n.startswith("late__") for n in names)

    mark = len(pipe.notifications)
    late.start(port=port)
    pipe.wait_notification("notifications/tools/list_changed", since=mark, timeout=RECOVERY_WINDOW)
    pipe.wait_tools(lambda n: "late__echo" in n, timeout=5)
    assert text_of(pipe.call_ok("late__whoami")) == "late"
    assert text_of(pipe.call_ok("alpha__whoami")) == "alpha"


def test_backend_killed_then_restarted(example, mcpx):
    alpha, beta = example("alpha"), example("beta")
    pipe = mcpx([alpha, beta])
    pipe.initialize()
    assert text_of(pipe.call_ok("beta__echo", {"text": "before"})) == "before"

    beta.kill()
    started = time.monotonic()
    response = pipe.call_tool("beta__echo", {"text": "while dead"}, timeout=15)
    assert "result" in response, f"a call to a dead backend is a tool result, not a JSON-RPC error: {response}"
    assert response["result"].get("isError") is True
    assert "beta" in text_of(response["result"]), "the error should name the dead server"
    assert time.monotonic() - started < 10, "a refused connection should fail fast"
    assert text_of(pipe.call_ok("alpha__echo", {"text": "unaffected"})) == "unaffected"

    beta.restart()
    deadline = time.monotonic() + RECOVERY_WINDOW
    last = None
    while time.monotonic() < deadline:
        last = pipe.call_tool("beta__whoami", timeout=10)
        if "result" in last and not last["result"].get("isError"):
            break
        pipe.drain(0.5)
    assert last is not None and "result" in last and not last["result"].get("isError"), (
        f"mcpx did not reconnect to the restarted backend within {RECOVERY_WINDOW}s: {last}"
    )
    assert text_of(last["result"]) == "beta"
    assert text_of(pipe.call_ok("beta__echo", {"text": "after"})) == "after"


@pytest.mark.timeout(45)
def test_call_timeout_gives_error_result_naming_the_backend(example, mcpx):
    alpha = example("alpha")
    pipe = mcpx([alpha], "--call-timeout", "1")
    pipe.initialize()
    started = time.monotonic()
    response = pipe.call_tool("alpha__sleep", {"ms": 5000}, timeout=10)
    elapsed = time.monotonic() - started
    assert elapsed < 4, f"--call-timeout 1 should cut the call short, it took {elapsed:.1f}s"
    assert "result" in response and response["result"].get("isError") is True, response
    assert "alpha" in text_of(response["result"])
    assert text_of(pipe.call_ok("alpha__echo", {"text": "alive"})) == "alive"
