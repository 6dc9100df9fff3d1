"""GET /metrics of `mcpx --http`: Prometheus text that prometheus_client parses, with the families,
labels and counts the issue names, matching the calls the test made."""

from __future__ import annotations

import time
from collections import Counter

import pytest
from e2e_harness import EXAMPLE_TOOLS, text_of
from ops_harness import HTTP_LISTENING_RE, Background, McpxHTTP, Metrics, calls_total, http_request, tool_samples, wait_for

pytestmark = pytest.mark.timeout(30)  # each test takes well under 15 s

OUTCOMES = {"ok", "error", "timeout", "cancelled"}


@pytest.fixture
def degraded(example, mcpx_http, dead_url) -> McpxHTTP:
    a = example("a")
    server = mcpx_http({"a": a.url, "down": dead_url}, "--connect-timeout", "2", "--startup-timeout", "1")
    server.wait_healthy(1)
    return server


def in_flight(server: McpxHTTP, name: str = "a") -> float | None:
    return server.metrics().maybe("mcpx_calls_in_flight", server=name)


def test_exposition_format_and_families(degraded):
    resp = degraded.get("/metrics")
    assert resp.status == 200, resp
    ctype = resp.content_type.replace(" ", "")
    assert ctype.startswith("text/plain;") and "version=0.0.4" in ctype, f"Content-Type: {resp.content_type!r}"
    assert resp.text.endswith("\n"), "the exposition must end with a newline"
    m = Metrics.parse(resp.text)

    duplicates = [k for k, n in Counter((s.name, tuple(sorted(s.labels.items()))) for s in m.samples).items() if n > 1]
    assert not duplicates, f"duplicate series: {duplicates[:5]}"

    expected_types = {
        "mcpx_up": "gauge",
        "mcpx_server_up": "gauge",
        "mcpx_server_tools": "gauge",
        "mcpx_calls_in_flight": "gauge",
        "mcpx_backend_reconnects_total": "counter",
        "mcpx_clients": "gauge",
        "process_resident_memory_bytes": "gauge",
        "process_open_fds": "gauge",
        "process_start_time_seconds": "gauge",
    }
    for name, kind in expected_types.items():
        assert m.find(name), f"no {name} samples in /metrics"
        assert m.type_of(name) == kind, f"{name}: TYPE {m.type_of(name)!r}, want {kind!r}"

    assert m.one("mcpx_up") == 1
    assert m.one("mcpx_server_up", server="a") == 1
    assert m.one("mcpx_server_up", server="down") == 0
    assert m.one("mcpx_server_tools", server="a") == len(EXAMPLE_TOOLS)
    assert m.one("mcpx_server_tools", server="down") == 0
    assert m.one("mcpx_calls_in_flight", server="a") == 0
    assert m.one("mcpx_backend_reconnects_total", server="a") >= 0
    for name in ("mcpx_server_up", "mcpx_server_tools", "mcpx_calls_in_flight", "mcpx_backend_reconnects_total"):
        for s in m.find(name):
            assert set(s.labels) == {"server"}, f"{name} labels: {s.labels}"
    for s in m.find("mcpx_clients"):
        assert set(s.labels) == {"door"}, f"mcpx_clients labels: {s.labels}"

    assert m.one("process_resident_memory_bytes") > 1 << 20
    assert m.one("process_open_fds") >= 3
    start = m.one("process_start_time_seconds")
    assert abs(start - degraded.started_at) < 30, f"process_start_time_seconds {start} vs spawned at {degraded.started_at}"


def test_call_counts_and_duration_histogram(degraded):
    session = degraded.session()
    session.call_ok("a__echo", {"text": "1"})
    session.call_ok("a__echo", {"text": "2"})
    degraded.call_ok("a__echo", {"text": "3"})  # POST /call counts as a call too
    for _ in range(2):
        assert session.call_tool("a__fail", {"message": "x"})["result"]["isError"] is True
    degraded.call_ok("a__add", {"a": 1, "b": 2})

    m = degraded.metrics()
    assert m.type_of("mcpx_tool_calls_total") == "counter", m.type_of("mcpx_tool_calls_total")
    for s in m.find("mcpx_tool_calls_total"):
        assert set(s.labels) == {"server", "tool", "outcome"}, s.labels
        assert s.labels["outcome"] in OUTCOMES, s.labels
    assert calls_total(m, "a", "echo", "ok") == 3, m.excerpt("mcpx_tool_calls_total")
    assert calls_total(m, "a", "echo", "error") == 0, m.excerpt("mcpx_tool_calls_total")
    assert calls_total(m, "a", "fail", "error") == 2, m.excerpt("mcpx_tool_calls_total")
    assert calls_total(m, "a", "fail", "ok") == 0, m.excerpt("mcpx_tool_calls_total")
    assert calls_total(m, "a", "add", "ok") == 1, m.excerpt("mcpx_tool_calls_total")
    assert sum(s.value for s in m.find("mcpx_tool_calls_total")) == 6, m.excerpt("mcpx_tool_calls_total")

    hist = "mcpx_tool_call_duration_seconds"
    assert m.type_of(f"{hist}_bucket") == "histogram", m.type_of(f"{hist}_bucket")
    called = {"echo": 3, "fail": 2, "add": 1}
    series = {(s.labels.get("server"), s.labels.get("tool")) for s in m.find(f"{hist}_count")}
    assert len(series) == len(called), f"histogram series only for the tools called: {sorted(series)}"
    for tool, count in called.items():
        buckets = tool_samples(m, f"{hist}_bucket", "a", tool)
        assert buckets, f"no {hist} buckets for a/{tool}:\n{m.excerpt(hist)}"
        for b in buckets:
            assert set(b.labels) == {"server", "tool", "le"}, b.labels
        ordered = sorted(buckets, key=lambda b: float(b.labels["le"]))
        values = [b.value for b in ordered]
        assert values == sorted(values), f"buckets of a/{tool} are not cumulative: {[(b.labels['le'], b.value) for b in ordered]}"
        assert ordered[-1].labels["le"] == "+Inf", ordered[-1].labels
        (total,) = [s.value for s in tool_samples(m, f"{hist}_count", "a", tool)]
        (seconds,) = [s.value for s in tool_samples(m, f"{hist}_sum", "a", tool)]
        assert total == count, f"{hist}_count for a/{tool}: {total}, made {count} calls"
        assert ordered[-1].value == total, "the +Inf bucket must equal _count"
        assert 0 < seconds < 10 * count, f"{hist}_sum for a/{tool}: {seconds}"
        assert len(ordered) >= 5, f"too few buckets for a/{tool}: {len(ordered)}"
    for tool in set(EXAMPLE_TOOLS) - set(called):
        assert not tool_samples(m, f"{hist}_count", "a", tool), f"histogram for a/{tool}, never called"
    assert not m.find(f"{hist}_count", server="down")


def test_calls_in_flight(degraded):
    assert in_flight(degraded) == 0
    call = Background(lambda: degraded.post_call("a__sleep", {"ms": 1500}))
    wait_for("mcpx_calls_in_flight{server=a} == 1", lambda: in_flight(degraded) == 1, timeout=5, interval=0.05)
    assert in_flight(degraded, "down") in (None, 0)
    resp = call.result(10)
    assert resp.status == 200 and text_of(resp.json()) == "slept 1500 ms", resp
    m = degraded.metrics()
    assert m.one("mcpx_calls_in_flight", server="a") == 0
    assert calls_total(m, "a", "sleep", "ok") == 1


def test_timeout_outcome(example, mcpx_http):
    server = mcpx_http([example("a")], "--call-timeout", "0.5")
    server.wait_healthy(1)
    started = time.monotonic()
    resp = server.post_call("a__sleep", {"ms": 4000})
    assert resp.status == 200, resp
    assert resp.json().get("isError") is True, resp
    assert time.monotonic() - started < 3.5, "--call-timeout 0.5 did not cut the call short"
    m = wait_for(
        "mcpx_tool_calls_total{tool=sleep,outcome=timeout} == 1",
        lambda: (m := server.metrics()) and calls_total(m, "a", "sleep", "timeout") == 1 and m,
        timeout=3,
    )
    assert calls_total(m, "a", "sleep", "ok") == 0
    assert calls_total(m, "a", "sleep", "error") == 0, "a timeout is counted as timeout, not also as error"
    assert m.one("mcpx_calls_in_flight", server="a") == 0
    # The histogram's _count is the number of calls (its HELP: "from sending a call to its end
    # (answer, timeout or cancel)"), so the timed-out call is in it, with about 0.5 s.
    hist = "mcpx_tool_call_duration_seconds"
    counts = [s.value for s in tool_samples(m, f"{hist}_count", "a", "sleep")]
    assert counts == [1], f"{hist}_count for a/sleep after one timed-out call: {counts}\n{m.excerpt(hist)}"
    (seconds,) = [s.value for s in tool_samples(m, f"{hist}_sum", "a", "sleep")]
    assert 0.4 <= seconds < 3.5, f"{hist}_sum for the timed-out call: {seconds}"


def test_cancelled_outcome(example, mcpx_http):
    server = mcpx_http([example("a")])
    server.wait_healthy(1)
    session = server.session()
    call = Background(lambda: session.call_tool("a__sleep", {"ms": 6000}, request_id=77, timeout=10))
    wait_for("the sleep call is in flight", lambda: in_flight(server) == 1, timeout=5, interval=0.05)
    session.notify("notifications/cancelled", {"requestId": 77, "reason": "test cancels"})
    m = wait_for(
        "mcpx_tool_calls_total{tool=sleep,outcome=cancelled} == 1 and nothing in flight",
        lambda: (m := server.metrics()) and calls_total(m, "a", "sleep", "cancelled") == 1
        and m.one("mcpx_calls_in_flight", server="a") == 0 and m,
        timeout=4,
    )
    assert calls_total(m, "a", "sleep", "ok") == 0
    hist = "mcpx_tool_call_duration_seconds"
    counts = [s.value for s in tool_samples(m, f"{hist}_count", "a", "sleep")]
    assert counts == [1], f"{hist}_count for a/sleep after one cancelled call: {counts}\n{m.excerpt(hist)}"
    time.sleep(0.3)
    if call.done:
        try:
            answer = call.result(0)
        except (AssertionError, OSError):
            pass  # the stream ended without an answer: right
        else:
            raise AssertionError(f"mcpx answered a cancelled call: {answer}")


def test_clients_counts_open_http_sessions(degraded):
    def clients() -> float | None:
        return degraded.metrics().maybe("mcpx_clients", door="http")

    assert clients() == 0, "no MCP session is open yet"
    s1 = degraded.session()
    s2 = degraded.session()
    assert s1.session_id != s2.session_id
    assert clients() == 2
    degraded.call_ok("a__echo", {"text": "x"})  # POST /call opens no session
    assert clients() == 2
    status = s2.delete()
    assert status in (200, 202, 204), f"DELETE of an MCP session: HTTP {status}"
    wait_for("mcpx_clients{door=http} == 1 after DELETE", lambda: clients() == 1, timeout=3)
    s1.call_ok("a__echo", {"text": "still here"})


def test_backend_reconnects_are_counted(example, mcpx_http):
    a = example("a")
    server = mcpx_http([a], "--backoff-cap", "0.5")
    server.wait_healthy(1)
    server.call_ok("a__echo", {"text": "before"})
    before = server.metrics().one("mcpx_backend_reconnects_total", server="a")

    a.kill()
    dead = server.post_call("a__echo", {"text": "while dead"})
    assert dead.status == 200 and dead.json().get("isError") is True, dead
    wait_for("mcpx_server_up{server=a} == 0", lambda: server.metrics().one("mcpx_server_up", server="a") == 0, timeout=5)
    a.restart()

    def ok_again() -> bool:
        resp = server.post_call("a__echo", {"text": "after"})
        return resp.status == 200 and not resp.json().get("isError")

    wait_for("calls work again after the backend restarted", ok_again, timeout=10, interval=0.3)
    m = server.metrics()
    assert m.one("mcpx_server_up", server="a") == 1
    assert m.one("mcpx_backend_reconnects_total", server="a") >= before + 1, m.excerpt("reconnects")


def test_clients_counts_the_stdio_door(example, mcpx_stdio):
    pipe = mcpx_stdio([example("a")], "--http", "127.0.0.1:0")
    match = wait_for("mcpx --http --stdio logs its HTTP address",
                     lambda: HTTP_LISTENING_RE.search(pipe.stderr_path.read_text(errors="replace")), timeout=10)
    base = match.group(1)

    def clients(door: str) -> float | None:
        resp = http_request(base, "GET", "/metrics")
        assert resp.status == 200, resp
        return Metrics.parse(resp.text).maybe("mcpx_clients", door=door)

    pipe.initialize()
    pipe.call_ok("a__echo", {"text": "over stdio"})
    assert clients("stdio") == 1
    assert clients("http") == 0
    m = Metrics.parse(http_request(base, "GET", "/metrics").text)
    assert calls_total(m, "a", "echo", "ok") == 1, "calls over stdio are counted too"
