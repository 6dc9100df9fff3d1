"""Fault injection: backends that hang, crawl, lie, flood or vanish, while mcpx keeps its promises.

The invariant checked for every mode of hostile_backend.py: the client's call gets exactly one
answer, within the configured --call-timeout plus a margin; a failure is a tool result with
isError naming the server; a healthy backend keeps answering at its usual speed meanwhile (probe
calls are timed); mcpx goes on serving; proxy_status counts the error; and (fixture teardown)
mcpx is alive, exits 0 on EOF and wrote nothing but valid JSON-RPC to stdout.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest
from faults_harness import HostileClient, StrictPipe, is_tool_error, key_of, text_of
from hostile_backend import HOSTILE_VALID_NAMES

CALL_TIMEOUT = 2.0  # --call-timeout of these tests: no answer and no progress for that long fails
MAX_CALL_TIME = 4.0  # --max-call-time: the hard limit, whatever progress says
MARGIN = 2.0  # an answer must come within CALL_TIMEOUT + MARGIN
PROBE_BOUND = 1.0  # a healthy backend's echo must never take longer than this meanwhile
RECOVERY_WINDOW = 15.0
TOOL_NAME_RE = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------


def start_pair(mcpx, example, hostile, paths: dict[str, str], *extra: str, wait: bool = True):
    """A healthy example backend "good" plus hostile endpoints {name: path} behind one mcpx."""
    good = example("good")
    _, hc = hostile()
    servers = {"good": good.url, **{name: hc.url(path) for name, path in paths.items()}}
    pipe = mcpx(servers, "--call-timeout", str(CALL_TIMEOUT), "--max-call-time", str(MAX_CALL_TIME), "--connect-timeout", "3", *extra)
    pipe.initialize()
    if wait:
        pipe.wait_ready(["good__echo"] + [f"{name}__trigger" for name in paths])
    return pipe, hc, good


def call_during(
    pipe: StrictPipe, name: str, arguments: dict[str, Any] | None = None, *, bound: float, probe: str = "good__echo"
) -> tuple[dict[str, Any], float, list[float]]:
    """Send one call and, until it is answered, keep calling `probe`, timing each probe call.

    Returns (answer, seconds until the answer, probe latencies). Fails when the call is not
    answered within `bound` seconds or is answered more than once.
    """
    request_id = f"target-{pipe.next_id()}"
    pipe.send({"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": {"name": name, "arguments": arguments or {}}})
    started = time.monotonic()
    latencies: list[float] = []
    answered_at = None
    while time.monotonic() - started < bound:
        if pipe.has_response(request_id):
            answered_at = answered_at or time.monotonic()
            break
        t0 = time.monotonic()
        response = pipe.call_tool(probe, {"text": "probe"}, timeout=10)
        latencies.append(time.monotonic() - t0)
        assert "result" in response and text_of(response["result"]) == "probe", f"probe {probe} failed: {response}"
        if pipe.has_response(request_id):
            answered_at = time.monotonic()
            break
        pipe.drain(0.05)
    if answered_at is None:
        problems = pipe.take_stdout_problems()
        pipe._fail(
            f"tools/call {name} not answered within {bound:.1f}s"
            + (f"; stdout problems: {problems}" if problems else "")
        )
    answer = pipe.wait_response(request_id, timeout=1)
    pipe.drain(0.3)  # a second answer would show up now
    assert pipe.answer_counts[key_of(request_id)] == 1, f"{name}: answered {pipe.answer_counts[key_of(request_id)]} times"
    return answer, answered_at - started, latencies


def assert_error_result(answer: dict[str, Any], server: str) -> str:
    assert "result" in answer, f"a failed tools/call must be a tool result with isError, got {answer}"
    assert answer["result"].get("isError") is True, f"expected isError, got {answer['result']}"
    text = text_of(answer["result"])
    assert server in text, f"the error should name the server {server!r}: {text!r}"
    return text


def assert_probes_fast(latencies: list[float], what: str) -> None:
    assert latencies, f"{what}: no probe call completed while the hostile call was pending"
    worst = max(latencies)
    assert worst < PROBE_BOUND, (
        f"{what}: a healthy backend slowed down while another misbehaved: worst probe {worst * 1000:.0f} ms "
        f"over {len(latencies)} probes"
    )


def wait_call_ok(pipe: StrictPipe, name: str, text: str = "back", window: float = RECOVERY_WINDOW) -> float:
    """Retry `name` until it succeeds; returns how long that took."""
    started = time.monotonic()
    last = None
    while time.monotonic() - started < window:
        last = pipe.call_tool(name, {"text": text}, timeout=CALL_TIMEOUT + MARGIN + 10)
        if "result" in last and not last["result"].get("isError"):
            assert text_of(last["result"]) == text, last
            return time.monotonic() - started
        pipe.drain(0.3)
    raise AssertionError(f"{name} did not work again within {window}s; last answer: {last}")


# ---------------------------------------------------------------------------------------------
# one hostile behaviour at a time
# ---------------------------------------------------------------------------------------------

# path, outcome ("error" | "ok" | "any"), acceptable errorsByKind keys, extra stats that must be >= 1
MODES: list[tuple[str, str, set[str], tuple[str, ...]]] = [
    ("/hang", "error", {"timeout"}, ("timeouts",)),
    ("/sse_silent", "error", {"timeout"}, ("timeouts",)),
    ("/sse_forever", "error", {"timeout"}, ("timeouts",)),
    ("/slow?ms=6000", "error", {"timeout"}, ("timeouts",)),
    ("/slow?ms=300", "ok", set(), ()),
    ("/status?code=500", "error", {"httpStatus"}, ()),
    ("/status?code=502", "error", {"httpStatus"}, ()),
    ("/status?code=503", "error", {"httpStatus"}, ()),
    ("/garbage", "error", {"protocolViolation"}, ()),
    ("/html", "error", {"protocolViolation"}, ()),
    ("/sse_drop", "error", {"unavailable", "protocolViolation"}, ()),
    ("/sse_drop?framing=close", "error", {"unavailable", "protocolViolation"}, ()),
    ("/sse_drop?rst=1", "error", {"unavailable", "protocolViolation"}, ()),
    ("/drop", "error", {"unavailable"}, ()),
    ("/wrong_id", "error", {"protocolViolation"}, ("unknownResponseIds",)),
    ("/wrong_id?then=right", "ok", set(), ("unknownResponseIds",)),
    ("/dup", "ok", set(), ()),
    ("/deep", "error", {"protocolViolation"}, ()),
    ("/unauthorized", "error", {"unauthorized"}, ()),
    ("/bad_utf8", "any", {"protocolViolation"}, ()),
    ("/bad_escape", "any", {"protocolViolation"}, ()),
    ("/bad_surrogate", "any", {"protocolViolation"}, ()),
    # Malformed JSON-RPC error objects: passed on as they are, they break the client's JSON-RPC.
    *[
        (f"/bad_error?shape={shape}", "any", {"protocolViolation"}, ())
        for shape in ("null", "string", "nocode", "codestring", "codefloat")
    ],
]


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("path", "outcome", "kinds", "counters"), MODES, ids=[m[0].strip("/") for m in MODES])
def test_hostile_call_gets_exactly_one_answer(mcpx, example, hostile, path, outcome, kinds, counters):
    pipe, hc, _ = start_pair(mcpx, example, hostile, {"bad": path})
    # A stream that keeps sending progress is cut by the hard limit, not by the idle timeout.
    limit = MAX_CALL_TIME if path == "/sse_forever" else CALL_TIMEOUT
    answer, elapsed, probes = call_during(pipe, "bad__trigger", bound=limit + MARGIN)
    assert_probes_fast(probes, path)

    if outcome == "ok":
        assert "result" in answer and not answer["result"].get("isError"), f"{path}: expected success, got {answer}"
        assert text_of(answer["result"]) == "called:trigger", answer
    elif outcome == "error":
        text = assert_error_result(answer, "bad")
        if "timeout" in kinds:
            assert elapsed >= limit * 0.9, f"{path}: answered after {elapsed:.2f}s, before the timeout"
            assert f"{limit:g} s" in text or f"{limit:.1f} s" in text, f"the timeout error should state the limit: {text!r}"
        if path.startswith("/unauthorized"):
            assert "401" in text, f"a 401 should be reported as such: {text!r}"
    else:  # any: a success whose bytes made it intact, or an error naming the server
        if is_tool_error(answer):
            assert_error_result(answer, "bad")
        problems = pipe.take_stdout_problems()
        assert not problems, f"{path}: mcpx passed the backend's bytes on as invalid JSON-RPC:\n" + "\n".join(problems)

    # mcpx keeps serving, the healthy tool of the same hostile backend works again, and the
    # error was counted.
    pipe.ping_ok()
    wait_call_ok(pipe, "bad__echo")
    stats = pipe.stats("bad")
    if outcome == "error" or (outcome == "any" and is_tool_error(answer)):
        assert stats.get("errors", 0) >= 1, f"proxy_status did not count the error: {stats}"
        by_kind = stats.get("errorsByKind") or {}
        assert set(by_kind) & kinds, f"errorsByKind {by_kind} has none of {sorted(kinds)}"
    for counter in counters:
        assert stats.get(counter, 0) >= 1, f"proxy_status stats.{counter} should count this: {stats}"


@pytest.mark.timeout(90)
def test_every_hostile_mode_at_once(mcpx, example, hostile):
    """All misbehaviours in parallel through one mcpx: every call answered once, within bound."""
    # The "any" modes (bytes mcpx may pass on) are left to the test above; a 100 MiB body joins in.
    paths = {f"m{i}": path for i, (path, outcome, *_rest) in enumerate(MODES) if outcome != "any"}
    paths["big"] = "/huge"
    pipe, _, _ = start_pair(mcpx, example, hostile, paths)
    ids = {}
    for name in paths:
        request_id = f"all-{name}"
        ids[request_id] = name
        pipe.send({"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": {"name": f"{name}__trigger", "arguments": {}}})
    started = time.monotonic()
    latencies = []
    bound = MAX_CALL_TIME + MARGIN + 2  # 24 calls at once, a 100 MiB body among them
    while time.monotonic() - started < bound and not all(pipe.has_response(i) for i in ids):
        t0 = time.monotonic()
        assert text_of(pipe.call_ok("good__echo", {"text": "probe"}, timeout=10)) == "probe"
        latencies.append(time.monotonic() - t0)
        pipe.drain(0.05)
    missing = [f"{ids[i]} ({paths[ids[i]]})" for i in ids if not pipe.has_response(i)]
    assert not missing, f"not answered within {bound}s: {missing}"
    for request_id, name in ids.items():
        answer = pipe.wait_response(request_id, timeout=1)
        assert "result" in answer, f"{paths[name]}: a tool call must end in a tool result: {answer}"
        if answer["result"].get("isError"):
            assert name in text_of(answer["result"]), f"{paths[name]}: error does not name the server: {answer}"
    pipe.drain(0.5)
    assert not pipe.duplicate_answers(), pipe.duplicate_answers()
    assert_probes_fast(latencies, "all modes at once")
    pipe.ping_ok()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("path", ["/huge", "/huge?sse=1"], ids=["json", "sse"])
def test_huge_response_is_cut_off(mcpx, example, hostile, path):
    """100 MiB streamed as one answer: mcpx stops reading at its 32 MiB limit and says so."""
    pipe, hc, _ = start_pair(mcpx, example, hostile, {"big": path}, "--call-timeout", "30", "--max-call-time", "30", "--expose", "all")
    answer, elapsed, probes = call_during(pipe, "big__trigger", bound=20)
    text = assert_error_result(answer, "big")
    sent = hc.stats(path).get("bytes_sent", 0)
    print(f"\nhuge {path}: answered after {elapsed:.2f}s, backend sent {sent / 2**20:.0f} MiB; worst probe {max(probes) * 1000:.0f} ms")
    assert "larger than" in text, f"the error should say the answer was too large: {text!r}"
    assert sent < 64 << 20, f"mcpx let the backend stream {sent >> 20} MiB; it should stop reading at 32 MiB"
    assert_probes_fast(probes, f"a {path} answer being read")
    assert pipe.stats("big").get("errorsByKind", {}).get("tooLarge", 0) >= 1
    pipe.ping_ok()
    wait_call_ok(pipe, "big__echo")


# ---------------------------------------------------------------------------------------------
# timeouts and cancellation
# ---------------------------------------------------------------------------------------------


@pytest.mark.timeout(45)
def test_timeout_sends_cancellation_with_the_backend_request_id(mcpx, example, hostile):
    pipe, hc, _ = start_pair(mcpx, example, hostile, {"bad": "/hang"}, "--call-timeout", "1")
    answer, elapsed, _ = call_during(pipe, "bad__trigger", bound=1 + MARGIN)
    text = assert_error_result(answer, "bad")
    assert "1 s" in text, f"the error should state the 1 s limit: {text!r}"
    assert elapsed < 1 + 1.0, f"--call-timeout 1 answered after {elapsed:.2f}s"

    calls = [m for m in hc.messages("/hang") if m.get("method") == "tools/call" and m["params"]["name"] == "trigger"]
    assert len(calls) == 1, f"the backend should have seen the call once: {calls}"
    backend_id = calls[0]["id"]
    cancel = hc.wait_message(
        "/hang",
        lambda m: m.get("method") == "notifications/cancelled" and (m.get("params") or {}).get("requestId") == backend_id,
        timeout=3,
    )
    assert cancel is not None, (
        f"after the timeout the backend should get notifications/cancelled for its request id {backend_id}; "
        f"it got: {[m.get('method') for m in hc.messages('/hang')]}"
    )
    assert "id" not in cancel, "notifications/cancelled is a notification"


@pytest.mark.timeout(45)
def test_per_call_timeout_leaves_other_calls_of_the_backend_alone(mcpx, example):
    alpha = example("alpha")
    pipe = mcpx([alpha], "--call-timeout", "1")
    pipe.initialize()
    pipe.wait_ready(["alpha__sleep", "alpha__echo"])
    answer, elapsed, latencies = call_during(pipe, "alpha__sleep", {"ms": 5000}, bound=1 + MARGIN, probe="alpha__echo")
    text = assert_error_result(answer, "alpha")
    assert "1 s" in text, f"the error should state the limit: {text!r}"
    assert 0.9 <= elapsed < 1.8, f"sleep 5000 with --call-timeout 1 answered after {elapsed:.2f}s (expected ~1 s)"
    assert_probes_fast(latencies, "echo on the same backend during a timed-out sleep")
    assert len(latencies) >= 3, f"only {len(latencies)} echo calls completed during the 1 s wait"
    assert text_of(pipe.call_ok("alpha__echo", {"text": "after"})) == "after"
    assert pipe.stats("alpha").get("timeouts", 0) >= 1


@pytest.mark.timeout(45)
def test_client_cancellation_gets_no_answer_and_reaches_the_backend(mcpx, example, hostile):
    pipe, hc, _ = start_pair(mcpx, example, hostile, {"bad": "/hang"}, "--call-timeout", "30")
    pipe.send({"jsonrpc": "2.0", "id": "to-cancel", "method": "tools/call", "params": {"name": "bad__trigger", "arguments": {}}})
    call = hc.wait_message("/hang", lambda m: m.get("method") == "tools/call", timeout=5)
    assert call is not None, "the call never reached the backend"
    pipe.notify("notifications/cancelled", {"requestId": "to-cancel", "reason": "user gave up"})
    cancel = hc.wait_message(
        "/hang",
        lambda m: m.get("method") == "notifications/cancelled" and (m.get("params") or {}).get("requestId") == call["id"],
        timeout=3,
    )
    assert cancel is not None, "the client's cancellation was not passed to the backend with its request id"
    pipe.drain(1.0)
    assert not pipe.has_response("to-cancel"), "a cancelled request must not be answered"
    pipe.ping_ok()
    assert text_of(pipe.call_ok("bad__echo", {"text": "still"})) == "still"


@pytest.mark.timeout(60)
def test_many_hung_calls_do_not_delay_a_healthy_backend(mcpx, example, hostile):
    """32 calls hang on one backend (connections held open); the other answers at full speed."""
    pipe, _, _ = start_pair(mcpx, example, hostile, {"bad": "/hang"}, "--call-timeout", "4")
    baseline = []
    for _ in range(10):
        t0 = time.monotonic()
        pipe.call_ok("good__echo", {"text": "x"})
        baseline.append(time.monotonic() - t0)
    hung = [f"hung-{i}" for i in range(32)]
    for request_id in hung:
        pipe.send({"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": {"name": "bad__trigger", "arguments": {}}})
    started = time.monotonic()
    during = []
    while time.monotonic() - started < 3.0:
        t0 = time.monotonic()
        assert text_of(pipe.call_ok("good__echo", {"text": "probe"}, timeout=10)) == "probe"
        during.append(time.monotonic() - t0)
    for request_id in hung:
        answer = pipe.wait_response(request_id, timeout=4 + MARGIN + 3 - (time.monotonic() - started))
        assert_error_result(answer, "bad")
    during.sort()
    baseline.sort()
    p50 = during[len(during) // 2]
    print(
        f"\nhealthy echo latency: baseline p50 {baseline[len(baseline) // 2] * 1000:.1f} ms; "
        f"with 32 hung calls p50 {p50 * 1000:.1f} ms, max {during[-1] * 1000:.1f} ms over {len(during)} calls"
    )
    assert_probes_fast(during, "32 hung calls on another backend")
    assert p50 < 0.25, f"healthy backend's median latency went to {p50 * 1000:.0f} ms during the hang"


@pytest.mark.timeout(45)
def test_backend_hanging_on_initialize_does_not_block_startup(mcpx, example, hostile):
    good = example("good")
    _, hc = hostile()
    pipe = mcpx(
        {"good": good.url, "stuck": hc.url("/hang?on=all")},
        "--call-timeout", "2", "--connect-timeout", "2", "--startup-timeout", "3",
    )
    t0 = time.monotonic()
    pipe.initialize(timeout=5)
    assert time.monotonic() - t0 < 2.0, "initialize should not wait for a hung backend"
    t0 = time.monotonic()
    names = pipe.tool_names(timeout=10)
    assert time.monotonic() - t0 < 3 + MARGIN, "tools/list should wait at most --startup-timeout"
    assert "good__echo" in names and not any(n.startswith("stuck__") for n in names)
    assert text_of(pipe.call_ok("good__echo", {"text": "fine"})) == "fine"
    status = pipe.server_status("stuck")
    assert status["status"] != "ready", status


# ---------------------------------------------------------------------------------------------
# sessions, restarts, HTTP errors on every request
# ---------------------------------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_session_expiry_is_recovered_transparently(mcpx, example, hostile):
    pipe, hc, _ = start_pair(mcpx, example, hostile, {"exp": "/expire?after=3", "burst": "/expire/burst?after=1000"})
    # A session that dies every third request: each call still succeeds.
    for i in range(12):
        result = pipe.call_ok("exp__echo", {"text": f"call {i}"}, timeout=CALL_TIMEOUT + MARGIN)
        assert text_of(result) == f"call {i}"
    backend = hc.stats("/expire")
    assert backend["expired_404"] >= 3, backend
    assert backend["initializes"] >= 4, f"mcpx should have initialized again after each expiry: {backend}"

    # Eight calls in flight when a session dies (after its next 3 requests): every one succeeds,
    # and they share one new session.
    seen = hc.stats("/expire/burst")
    hc.control("/expire/burst", after=seen["session_requests"] + 3, max_expiries=1)
    before = seen["initializes"]
    ids = [f"burst-{i}" for i in range(8)]
    for i, request_id in enumerate(ids):
        if i == 3:
            pipe.drain(0.2)
        pipe.send({"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": {"name": "burst__echo", "arguments": {"text": str(i)}}})
    for i, request_id in enumerate(ids):
        answer = pipe.wait_response(request_id, timeout=CALL_TIMEOUT + MARGIN)
        assert "result" in answer and not answer["result"].get("isError"), f"call across a session expiry failed: {answer}"
        assert text_of(answer["result"]) == str(i)
    burst = hc.stats("/expire/burst")
    assert burst["expired_404"] >= 1, f"the burst did not cross the expiry (test setup): {burst}"
    assert burst["initializes"] - before == 1, f"concurrent calls should share one re-initialization: {burst}"

    stats = pipe.stats("exp")
    print(f"\nsession expiry: backend {backend}; proxy_status stats {stats}")
    assert stats.get("sessionExpiries", 0) >= 1, f"proxy_status stats.sessionExpiries should count expiries: {stats}"


@pytest.mark.timeout(90)
def test_killed_backend_fails_cleanly_and_comes_back(mcpx, example):
    alpha, beta = example("alpha"), example("beta")
    pipe = mcpx([alpha, beta], "--call-timeout", "30", "--backoff-cap", "1")
    pipe.initialize()
    pipe.wait_ready(["alpha__echo", "beta__sleep"])
    # A call in flight when the backend dies is answered at once, not after the 30 s timeout.
    pipe.send({"jsonrpc": "2.0", "id": "inflight", "method": "tools/call", "params": {"name": "beta__sleep", "arguments": {"ms": 20000}}})
    pipe.drain(0.3)
    beta.kill()
    t0 = time.monotonic()
    answer = pipe.wait_response("inflight", timeout=10)
    assert time.monotonic() - t0 < 3, f"the in-flight call took {time.monotonic() - t0:.1f}s to fail after the kill"
    assert_error_result(answer, "beta")
    # While it is down: fast, clean failures; the other backend is untouched.
    for i in range(3):
        t0 = time.monotonic()
        answer = pipe.call_tool("beta__echo", {"text": "dead"}, timeout=10)
        assert time.monotonic() - t0 < 3, "a call to a dead backend must fail fast"
        assert_error_result(answer, "beta")
        assert text_of(pipe.call_ok("alpha__echo", {"text": str(i)})) == str(i)
    assert pipe.stats("beta").get("errors", 0) >= 1
    beta.restart()
    took = wait_call_ok(pipe, "beta__echo")
    print(f"\nbeta usable again {took:.2f}s after its restart")
    assert pipe.proc.poll() is None


@pytest.mark.timeout(60)
@pytest.mark.parametrize("code", [500, 502, 503])
def test_every_post_failing_after_a_healthy_start(mcpx, example, hostile, code):
    pipe, hc, _ = start_pair(mcpx, example, hostile, {"sick": "/status/every?on=none"})
    assert text_of(pipe.call_ok("sick__echo", {"text": "fine"})) == "fine"
    hc.control("/status/every", on="all", code=code)
    for i in range(5):
        answer, elapsed, probes = call_during(pipe, "sick__echo", {"text": str(i)}, bound=CALL_TIMEOUT + MARGIN)
        text = assert_error_result(answer, "sick")
        assert_probes_fast(probes, f"HTTP {code} on every POST")
        if i == 0:
            assert str(code) in text, f"the first failure should say HTTP {code}: {text!r}"
    health = pipe.call_tool("proxy_health", {}, timeout=10)
    assert "sick" in text_of(health["result"]), health
    stats = pipe.stats("sick")
    assert stats.get("errorsByKind", {}).get("httpStatus", 0) >= 1, stats
    hc.control("/status/every", on="none")
    wait_call_ok(pipe, "sick__echo")


@pytest.mark.timeout(45)
def test_unauthorized_backend_is_reported_with_its_challenge(mcpx, example, hostile):
    pipe, _, _ = start_pair(mcpx, example, hostile, {"locked": "/unauthorized/all?on=all"}, wait=False)
    names = pipe.tool_names()
    assert "good__echo" in names and not any(n.startswith("locked__") for n in names)
    status = pipe.server_status("locked")
    error = status.get("lastError") or ""
    assert "401" in error and "resource_metadata" in error, f"the 401 and its WWW-Authenticate should be reported: {status}"
    assert text_of(pipe.call_ok("good__echo", {"text": "ok"})) == "ok"


# ---------------------------------------------------------------------------------------------
# legacy HTTP+SSE endpoint events
# ---------------------------------------------------------------------------------------------


@pytest.mark.timeout(45)
def test_legacy_sse_backend_works_on_the_same_origin(mcpx, example, hostile):
    pipe, hc, _ = start_pair(mcpx, example, hostile, {"old": "/legacy/same"}, wait=False)
    pipe.wait_ready(["old__echo"])
    assert text_of(pipe.call_ok("old__echo", {"text": "legacy"})) == "legacy"


@pytest.mark.timeout(45)
@pytest.mark.parametrize("where", ["other", "evil", "scheme"])
def test_legacy_endpoint_on_another_origin_is_refused(mcpx, example, hostile, where):
    pipe, hc, _ = start_pair(mcpx, example, hostile, {"old": f"/legacy/{where}?endpoint={where}"}, wait=False)
    names = pipe.tool_names()
    assert "good__echo" in names
    assert not any(n.startswith("old__") for n in names), "a backend whose endpoint is on another origin must not be used"
    pipe.drain(1.0)
    status = pipe.server_status("old")
    assert status["status"] != "ready", status
    assert "origin" in (status.get("lastError") or ""), f"the refusal should say why: {status}"
    trap = hc.trap()
    assert trap["hits"] == 0, f"mcpx connected to the other origin: {trap}"
    assert text_of(pipe.call_ok("good__echo", {"text": "ok"})) == "ok"


# ---------------------------------------------------------------------------------------------
# hostile tools/list answers
# ---------------------------------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_hostile_tool_definitions(mcpx, example, hostile):
    pipe, hc, _ = start_pair(mcpx, example, hostile, {"weird": "/tools/hostile"})
    tools = pipe.list_tools()
    names = [t["name"] for t in tools]
    assert len(names) == len(set(names)), f"duplicate exposed names: {sorted(n for n in names if names.count(n) > 1)}"
    bad = [n for n in names if not TOOL_NAME_RE.match(n)]
    assert not bad, f"exposed names outside ^[a-zA-Z0-9_-]{{1,64}}$: {bad}"
    weird = [t for t in tools if t["name"].startswith("weird_")]
    # echo, trigger, sleep, plus every hostile definition that has a non-empty string name
    # (mcpx may drop absurd ones, e.g. longer than 1 KiB).
    assert len(weird) >= 3 + len(HOSTILE_VALID_NAMES) - 4, f"too few of the hostile tools survived: {[t['name'] for t in weird]}"
    assert len(weird) <= 3 + len(HOSTILE_VALID_NAMES), f"more tools than valid definitions: {[t['name'] for t in weird]}"
    dup = [t for t in weird if t.get("description") in ("first", "second")]
    assert len(dup) == 1, f"a duplicated name must be exposed once: {dup}"

    # Every exposed tool routes back to its original name, and every call gets one answer.
    for tool in weird:
        answer = pipe.call_tool(tool["name"], {"text": "t"}, timeout=CALL_TIMEOUT + MARGIN)
        assert "result" in answer, f"{tool['name']}: {answer}"
    received = {m["params"]["name"] for m in hc.messages("/tools/hostile") if m.get("method") == "tools/call"}
    for original in ("has space", "ünïcödé-名前", "x" * 1000, "dot.ted", "a__b", "emoji😀tool"):
        assert original in received, f"no exposed tool reached the backend as {original[:40]!r}; received {sorted(received)[:20]}"
    pipe.ping_ok()


@pytest.mark.timeout(90)
def test_fifty_thousand_tools(mcpx, example, hostile):
    good = example("good")
    _, hc = hostile()
    pipe = mcpx({"good": good.url, "many": hc.url("/tools/many?kind=many&count=50000")}, "--connect-timeout", "20", "--startup-timeout", "20", "--expose", "all")
    pipe.initialize(timeout=30)
    t0 = time.monotonic()
    names = pipe.wait_tools(lambda n: any(x.startswith("many__t") for x in n), timeout=40)
    took = time.monotonic() - t0
    many = [n for n in names if n.startswith("many__")]
    print(f"\n50k tools: {len(many)} exposed after {took:.1f}s; stdout line of tools/list ~{max(len(line) for line in pipe.lines) >> 10} KiB")
    assert len(names) == len(set(names)), "duplicate exposed names"
    assert all(TOOL_NAME_RE.match(n) for n in names)
    t0 = time.monotonic()
    pipe.ping_ok()
    assert time.monotonic() - t0 < 1.0, "mcpx is sluggish with 50k tools"
    assert text_of(pipe.call_ok("good__echo", {"text": "ok"})) == "ok"
    assert "result" in pipe.call_tool(many[-1], {}, timeout=10)


@pytest.mark.timeout(45)
def test_deeply_nested_tool_list(mcpx, example, hostile):
    pipe, _, _ = start_pair(mcpx, example, hostile, {"deep": "/tools/deep?kind=deep&levels=100000"}, wait=False)
    pipe.wait_ready(["good__echo"])
    pipe.drain(1.0)
    pipe.ping_ok()
    assert text_of(pipe.call_ok("good__echo", {"text": "ok"})) == "ok"
    # Either the nested definition is skipped and the rest listed, or the backend is refused
    # with a reason; never a crash or a hang.
    status = pipe.server_status("deep")
    names = pipe.tool_names()
    assert "deep__echo" in names or (status["status"] == "failed" and status.get("lastError")), status


@pytest.mark.timeout(45)
@pytest.mark.parametrize("path", ["/hang/r", "/status/r?code=502", "/garbage/r", "/drop/r"], ids=["hang", "502", "garbage", "drop"])
def test_failing_backend_during_a_non_tool_method_is_a_jsonrpc_error(mcpx, example, hostile, path):
    """resources/read relayed to a backend that fails: -32603 naming the server, within bound."""
    sep = "&" if "?" in path else "?"
    pipe, _, _ = start_pair(mcpx, example, hostile, {"bad": f"{path}{sep}on=method:resources/read"})
    t0 = time.monotonic()
    response = pipe.request("resources/read", {"uri": "bad+file:///x"}, timeout=CALL_TIMEOUT + MARGIN)
    took = time.monotonic() - t0
    assert "error" in response, f"a failed relay of a non-tool method is a JSON-RPC error: {response}"
    error = response["error"]
    assert error.get("code") == -32603, error
    assert "bad" in error.get("message", "") or "bad" in json.dumps(error.get("data")), f"the error should name the server: {error}"
    assert took < CALL_TIMEOUT + MARGIN
    pipe.ping_ok()
    assert text_of(pipe.call_ok("good__echo", {"text": "ok"})) == "ok"


# ---------------------------------------------------------------------------------------------
# shutdown with calls in flight
# ---------------------------------------------------------------------------------------------


@pytest.mark.timeout(45)
@pytest.mark.parametrize("how", ["eof", "sigterm"])
def test_calls_in_flight_are_answered_at_shutdown(mcpx, example, hostile, how):
    """Stdin closes (or SIGTERM comes) while calls hang: each still gets its one answer, and
    mcpx exits 0 within its grace period."""
    pipe, _, _ = start_pair(mcpx, example, hostile, {"bad": "/hang"}, "--call-timeout", "30", "--max-call-time", "30")
    ids = [f"pending-{i}" for i in range(4)]
    for request_id in ids:
        pipe.send({"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": {"name": "bad__trigger", "arguments": {}}})
    pipe.send({"jsonrpc": "2.0", "id": "slow-ok", "method": "tools/call", "params": {"name": "good__sleep", "arguments": {"ms": 500}}})
    pipe.drain(0.3)
    pipe.expect_exit = True
    t0 = time.monotonic()
    if how == "eof":
        pipe.close_stdin()
    else:
        pipe.proc.terminate()
    code = pipe.wait_exit(10)
    took = time.monotonic() - t0
    pipe._reader.join(2)
    while pipe.pump(0.1):
        pass
    assert code == 0, f"mcpx exit code {code} after {how}"
    assert took < 5, f"mcpx took {took:.1f}s to exit after {how} with calls in flight"
    slow = pipe.responses_for("slow-ok")
    assert len(slow) == 1 and "result" in slow[0] and not slow[0]["result"].get("isError"), (
        f"a call that finishes within the grace period must get its result: {slow}"
    )
    for request_id in ids:
        answers = pipe.responses_for(request_id)
        assert len(answers) == 1, f"{request_id}: {len(answers)} answers after {how} (expected exactly one)"
        assert_error_result(answers[0], "bad")


@pytest.mark.timeout(45)
def test_legacy_calls_cancelled_or_timed_out_leave_nothing_pending(mcpx, example, hostile):
    """Over HTTP+SSE the answer comes on the stream, so mcpx keeps a table of requests awaiting one:
    a call the client cancelled, or that timed out, must leave it at once (it stayed forever)."""
    pipe, _, _ = start_pair(mcpx, example, hostile, {"old": "/legacy/same"}, wait=False)
    pipe.wait_ready(["old__echo"])
    cancelled = f"c-{pipe.next_id()}"
    pipe.send({"jsonrpc": "2.0", "id": cancelled, "method": "tools/call", "params": {"name": "old__sleep", "arguments": {"ms": 12000}}})
    timed_out = f"t-{pipe.next_id()}"
    pipe.send({"jsonrpc": "2.0", "id": timed_out, "method": "tools/call", "params": {"name": "old__sleep", "arguments": {"ms": 12000}}})
    time.sleep(0.3)
    assert pipe.server_status("old")["streamPending"] == 2
    pipe.notify("notifications/cancelled", {"requestId": cancelled, "reason": "test"})
    assert is_tool_error(pipe.wait_response(timed_out, timeout=CALL_TIMEOUT + 5))
    # The backend is still sleeping on both: only mcpx's own bookkeeping can empty the table.
    assert pipe.server_status("old")["streamPending"] == 0
    assert not pipe.has_response(cancelled)
    assert text_of(pipe.call_ok("old__echo", {"text": "still"})) == "still"
