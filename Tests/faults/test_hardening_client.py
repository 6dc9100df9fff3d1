"""Regression tests of the hardening round: what a client (or a model driving `manage`) sees.

H3  a cancelled batch item must not cost the other items of its batch their answers
H4  a call cancelled before it is forwarded is never forwarded (and never answered)
H7  exposed tool names are unique across all servers, whatever the servers call their tools
H9  --allow-url matches the parsed URL, not a glob over the raw string
H10 SIGHUP shuts down as cleanly as SIGTERM / stdin EOF
S1  prompts/resources list_changed only once the client fetched that list
S2  proxy_health's text names each server and its state
S4  a backend that comes up shortly after mcpx is in the first tools/list
S5  --state and --log-file files are private (0600)
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import time
from typing import Any

import pytest
from e2e_harness import manage_args
from faults_harness import HOSTILE_BACKEND, HostileClient, StrictPipe, is_tool_error, text_of

BATCH_VERSION = "2025-03-26"
SLOW_INIT_MS = 2000
# hostile_backend.py, with extra tools of the given names (argv[1], comma-separated) on every path.
NAMED_TOOLS_BACKEND = (
    "import sys; sys.path.insert(0, sys.argv[1]); import hostile_backend as hb; "
    "extra = [n for n in sys.argv[2].split(',') if n]; base = hb.Handler.tool_list; "
    "hb.Handler.tool_list = lambda self, ep: base(self, ep) + "
    "[{'name': n, 'description': 'named', 'inputSchema': {'type': 'object'}} for n in extra]; "
    "sys.exit(hb.main(sys.argv[3:]))"
)


def call_msg(request_id: Any, name: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": {"name": name, "arguments": arguments or {}}}


def cancel(pipe: StrictPipe, request_id: Any) -> None:
    pipe.notify("notifications/cancelled", {"requestId": request_id, "reason": "test cancels"})


def wait_batch_answer(pipe: StrictPipe, timeout: float) -> list[Any] | None:
    """The first stdout line that is a JSON array (a batch answer), or None within `timeout`."""
    deadline = time.monotonic() + timeout
    seen = 0
    while True:
        for line in pipe.lines[seen:]:
            seen += 1
            try:
                doc = json.loads(line)
            except ValueError:
                continue
            if isinstance(doc, list):
                return doc
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        pipe.pump(min(left, 0.1))


def tool_calls_received(hc: HostileClient, path: str) -> list[dict[str, Any]]:
    return [m for m in hc.messages(path) if m.get("method") == "tools/call"]


def slow_init_backend(mcpx, hostile, *extra: str) -> tuple[StrictPipe, HostileClient, str]:
    """mcpx in front of one hostile backend "h" whose initialize takes SLOW_INIT_MS: start-up waits."""
    path = f"/slow/h?on=method:initialize&ms={SLOW_INIT_MS}"
    _, hc = hostile()
    pipe = mcpx({"h": hc.url(path)}, "--startup-timeout", "8", *extra)
    return pipe, hc, path.split("?")[0]


# ---------------------------------------------------------------------------------------------
# H3: a cancelled item loses its whole batch
# ---------------------------------------------------------------------------------------------


@pytest.mark.timeout(30)
def test_h3_cancelled_batch_item_does_not_lose_the_batch(mcpx, example):
    main = example("main")
    pipe = mcpx([main])
    pipe.initialize(BATCH_VERSION)
    pipe.wait_ready(["main__echo", "main__sleep"])
    batch = [
        {"jsonrpc": "2.0", "id": "b-ping", "method": "ping"},
        call_msg("b-slow", "main__sleep", {"ms": 4000}),
        call_msg("b-echo", "main__echo", {"text": "kept"}),
    ]
    pipe.send(batch)
    pipe.drain(0.3)
    cancel(pipe, "b-slow")
    answer = wait_batch_answer(pipe, timeout=3.0)
    assert answer is not None, "no batch answer within 3 s after the slow item was cancelled"
    ids = sorted(str(item.get("id")) for item in answer if isinstance(item, dict))
    assert ids == ["b-echo", "b-ping"], f"the batch answer must hold exactly ping's and echo's: {answer}"
    by_id = {item["id"]: item for item in answer}
    assert by_id["b-ping"].get("result") == {}, answer
    assert text_of(by_id["b-echo"]["result"]) == "kept", answer
    pipe.drain(0.2)
    assert not pipe.responses_for("b-slow"), "a cancelled request gets no answer"
    pipe.ping_ok()


@pytest.mark.timeout(30)
def test_h3_batch_item_cancelled_while_waiting_for_startup(mcpx, hostile):
    pipe, hc, path = slow_init_backend(mcpx, hostile)
    pipe.initialize(BATCH_VERSION)
    pipe.send([{"jsonrpc": "2.0", "id": "s-ping", "method": "ping"}, call_msg("s-call", "h__echo", {"text": "x"})])
    pipe.drain(0.3)
    cancel(pipe, "s-call")
    answer = wait_batch_answer(pipe, timeout=SLOW_INIT_MS / 1000 + 4)
    assert answer is not None, "no batch answer after the waiting item was cancelled"
    ids = [item.get("id") for item in answer if isinstance(item, dict)]
    assert ids == ["s-ping"], f"the batch answer must hold the ping only: {answer}"
    pipe.wait_ready(["h__echo"])
    assert not tool_calls_received(hc, path), "the cancelled call reached the backend"


# ---------------------------------------------------------------------------------------------
# H4: a cancel that arrives before the call is forwarded is ignored
# ---------------------------------------------------------------------------------------------


def assert_cancelled_call_never_ran(pipe: StrictPipe, hc: HostileClient, path: str, request_id: str) -> None:
    pipe.wait_ready(["h__echo"], timeout=15)
    pipe.drain(0.5)
    pipe.ping_ok()
    received = [m for m in tool_calls_received(hc, path) if (m.get("params") or {}).get("arguments", {}).get("text") == request_id]
    assert not received, f"the call cancelled before it was forwarded still reached the backend: {received}"
    assert not pipe.responses_for(request_id), f"a cancelled call gets no answer: {pipe.responses_for(request_id)}"


@pytest.mark.timeout(40)
def test_h4_cancel_while_waiting_for_slow_startup(mcpx, hostile):
    pipe, hc, path = slow_init_backend(mcpx, hostile)
    pipe.initialize()
    pipe.send(call_msg("early", "h__echo", {"text": "early"}))
    pipe.drain(0.3)
    cancel(pipe, "early")
    assert_cancelled_call_never_ran(pipe, hc, path, "early")


@pytest.mark.timeout(40)
def test_h4_cancel_while_backend_is_not_listening_yet(mcpx, hostile, get_free_port):
    port = get_free_port()
    started = time.monotonic()
    pipe = mcpx({"h": f"http://127.0.0.1:{port}/ok"}, "--startup-timeout", "5", "--backoff-cap", "1")
    pipe.initialize()
    pipe.send(call_msg("late", "h__echo", {"text": "late"}))
    pipe.drain(0.2)
    cancel(pipe, "late")
    pipe.drain(max(0.0, 1.0 - (time.monotonic() - started)))
    _, hc = hostile("h", port=port)
    assert_cancelled_call_never_ran(pipe, hc, "/ok", "late")


# ---------------------------------------------------------------------------------------------
# H7: two servers' tools can share one exposed name
# ---------------------------------------------------------------------------------------------

SHORT = "16"
NAME_RE = re.compile(rf"^[A-Za-z0-9_-]{{1,{SHORT}}}$")
# Found by a birthday search over the unfixed naming (FNV-1a 64 of server + "\0" + tool, low 32
# bits): with --max-tool-name 16 both servers' `whoami` became "collide_60282da9".
BIRTHDAY_PAIR = ("collide-4dcxheuydf", "collide-zmz5thpduk")


def fnv1a_low32(text: str) -> str:
    h = 0xCBF29CE484222325
    for b in text.encode():
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h & 0xFFFFFFFF:08x}"


def duplicates(names: list[str]) -> list[str]:
    return sorted({n for n in names if names.count(n) > 1})


def split_exposed(name: str, victim: str) -> tuple[str, str] | None:
    """(server, tool) whose plain exposed name is `name`, for a server other than `victim`."""
    server, sep, tool = name.partition("__")
    if not sep or not tool or server == victim or not server or server.endswith("_"):
        return None
    return server, tool


def wait_servers_ready(pipe: StrictPipe, names: list[str], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    states: dict[str, Any] = {}
    while time.monotonic() < deadline:
        states = {s.get("name"): s.get("status") for s in pipe.status()["servers"]}
        if all(states.get(n) == "ready" for n in names):
            pipe.drain(0.3)  # the tools/list answer is rebuilt right after
            return
        pipe.drain(0.1)
    raise AssertionError(f"servers not ready within {timeout}s: {states}")


def named_tools_argv(names: list[str]):
    def argv(port: int) -> list[str]:
        return [sys.executable, "-c", NAMED_TOOLS_BACKEND, str(HOSTILE_BACKEND.parent), ",".join(names), "--port", str(port)]

    return argv


@pytest.mark.timeout(45)
def test_h7_plain_name_cannot_take_another_servers_shortened_name(mcpx, example, spawn_backend):
    """A server whose name is a prefix of the victim's, with a tool named like the victim's hash."""
    # Underscores at every other position: wherever the cut falls, one of the two names is cut
    # right after a "_", so its shortened name reads "<prefix>__<rest>", a plain name of "<prefix>".
    victims = ["v_b_c_d_e_f_g_h_i_j_k_l", "vv_b_c_d_e_f_g_h_i_j_k_l"]
    backends = {v: example(f"real-{i}") for i, v in enumerate(victims)}
    probe = mcpx({v: b.url for v, b in backends.items()}, "--max-tool-name", SHORT, "--tools", "whoami")
    probe.initialize()
    probe.wait_tools(lambda names: len([n for n in names if n.startswith("v")]) == 2)
    owner = {text_of(probe.call_ok(n)): n for n in probe.tool_names() if n.startswith("v")}
    probe.expect_exit = True
    probe.close()
    found = [(v, owner[b.name], split_exposed(owner[b.name], v)) for v, b in backends.items() if b.name in owner]
    target = next(((v, n, s) for v, n, s in found if s), None)
    if target is None:
        pytest.skip(f"no shortened name splits into another server's plain name: {found}")
    victim, contested, (attacker, attacker_tool) = target

    bad = spawn_backend("attacker", named_tools_argv([attacker_tool]))
    pipe = mcpx(
        {victim: backends[victim].url, attacker: bad.url + "ok"},
        "--max-tool-name", SHORT, "--tools", f"whoami,{attacker_tool}",
    )
    pipe.initialize()
    wait_servers_ready(pipe, [victim, attacker])
    names = pipe.tool_names()
    assert not duplicates(names), f"exposed names must be unique, got {duplicates(names)} twice in {names}"
    assert contested in names, f"the earlier server keeps {contested!r}: {names}"
    assert text_of(pipe.call_ok(contested)) == backends[victim].name, "the contested name must still reach the victim"


@pytest.mark.timeout(45)
def test_h7_hash_collision_between_servers_keeps_names_unique(mcpx, example):
    first, second = BIRTHDAY_PAIR
    assert fnv1a_low32(first + "\0whoami") == fnv1a_low32(second + "\0whoami")  # the premise of the test
    a, b = example("first"), example("second")
    pipe = mcpx({first: a.url, second: b.url}, "--max-tool-name", SHORT, "--tools", "whoami")
    pipe.initialize()
    pipe.drain(1.0)
    own = ("manage", "proxy_status", "proxy_health")
    pipe.wait_tools(lambda ns: len([n for n in ns if n not in own]) >= 2)
    names = [n for n in pipe.tool_names() if n not in own]
    assert not duplicates(names), f"two servers' tools share the exposed name {duplicates(names)}"
    assert all(NAME_RE.match(n) for n in names), names
    answers = sorted(text_of(pipe.call_ok(n)) for n in names)
    assert answers == ["first", "second"], f"each exposed name must reach its own server: {dict(zip(names, answers))}"


@pytest.mark.timeout(45)
def test_h7_shortened_names_are_valid_unique_and_stable(mcpx, example):
    """(Passes on the unfixed build too.) Same names on every run, all valid, all unique."""
    servers = {f"srv{i}-longish": example(f"e{i}", "--weird-names", "--extra-tools", "12").url for i in range(3)}
    runs = []
    for _ in range(2):
        pipe = mcpx(servers, "--max-tool-name", "20")
        pipe.initialize()
        pipe.wait_tools(lambda ns: all(any(n.startswith(s[:8]) for n in ns) for s in servers))
        pipe.drain(0.5)
        names = pipe.tool_names()
        status = pipe.status()
        pipe.expect_exit = True
        pipe.close()
        assert all(re.match(r"^[A-Za-z0-9_-]{1,20}$", n) for n in names), [n for n in names if len(n) > 20]
        assert not duplicates(names), duplicates(names)
        backend_tools = sum(s.get("toolCount", 0) for s in status["servers"])
        assert len(names) - 3 == backend_tools, f"{len(names) - 3} backend tools listed, proxy_status counts {backend_tools}"
        runs.append(sorted(names))
    assert runs[0] == runs[1], "exposed names must be stable across runs"


# ---------------------------------------------------------------------------------------------
# H9: --allow-url can be bypassed
# ---------------------------------------------------------------------------------------------

LOCAL_ONLY = "http://127.0.0.1:*/mcp"
CORP_HTTPS = "https://*.corp.example/*"
CORP_HTTP = "http://*.corp.example/*"
# (pattern, URL with {port} of a live example backend). Each must be refused.
BYPASSES = [
    (LOCAL_ONLY, "http://127.0.0.1:1@[::1]:{port}/mcp"),
    (LOCAL_ONLY, "http://127.0.0.1:1@127.0.0.1:{port}/mcp"),
    (LOCAL_ONLY, "http://user:pw@127.0.0.1:{port}/mcp"),
    (LOCAL_ONLY, "http://127.0.0.1:{port}/\u0000/../mcp"),
    (LOCAL_ONLY, "http://127.0.0.1:{port}\\@evil.example/mcp"),
    (LOCAL_ONLY, "http://127.0.0.1:{port}/x\\..\\mcp"),
    (LOCAL_ONLY, "http://evil.example/x?http://127.0.0.1:1/mcp"),
    (CORP_HTTPS, "http://127.0.0.1:{port}/.corp.example/"),
    (CORP_HTTPS, "http://127.0.0.1:{port}/mcp#.corp.example/x"),
    (CORP_HTTP, "http://127.0.0.1:{port}/mcp#.corp.example/x"),
    (CORP_HTTP, "http://127.0.0.1:{port}/mcp?.corp.example/x"),
]


def manage_call(pipe: StrictPipe, action: str, **fields: Any) -> dict[str, Any]:
    return pipe.call_tool("manage", manage_args(action, **fields), timeout=15)


def listed_servers(pipe: StrictPipe) -> list[str]:
    return [s.get("name") for s in pipe.status()["servers"]]


@pytest.mark.timeout(30)
@pytest.mark.parametrize(("pattern", "url"), BYPASSES, ids=[f"bypass{i}" for i in range(len(BYPASSES))])
def test_h9_allow_url_refuses_lookalikes(mcpx, example, pattern, url):
    target = example("target")
    pipe = mcpx([], "--allow-url", pattern)
    pipe.initialize()
    response = manage_call(pipe, "add", name="x", url=url.format(port=target.port))
    refused = "error" in response or is_tool_error(response)
    assert refused, f"--allow-url {pattern!r} let {url!r} through: {response}"
    assert "x" not in listed_servers(pipe), "a refused server must not be configured"


@pytest.mark.timeout(30)
def test_h9_allow_url_still_accepts_a_matching_url(mcpx, example):
    """Positive control (passes on the unfixed build too)."""
    target = example("target")
    pipe = mcpx([], "--allow-url", LOCAL_ONLY)
    pipe.initialize()
    response = manage_call(pipe, "add", name="x", url=target.url)
    assert "result" in response and not response["result"].get("isError"), response
    assert "x" in listed_servers(pipe)


# ---------------------------------------------------------------------------------------------
# H10: SIGHUP
# ---------------------------------------------------------------------------------------------


@pytest.mark.timeout(40)
def test_h10_sighup_shuts_down_cleanly(mcpx, hostile):
    _, hc = hostile()
    pipe = mcpx({"h": hc.url("/hang")}, "--call-timeout", "30", "--max-call-time", "30")
    pipe.initialize()
    pipe.wait_ready(["h__trigger"])
    ids = ["hup-0", "hup-1"]
    for request_id in ids:
        pipe.send(call_msg(request_id, "h__trigger"))
    pipe.drain(0.3)
    pipe.expect_exit = True
    pipe.proc.send_signal(signal.SIGHUP)
    code = pipe.wait_exit(10)
    pipe._reader.join(2)
    while pipe.pump(0.1):
        pass
    assert code == 0, f"mcpx exit code {code} after SIGHUP (expected 0, like SIGTERM)"
    for request_id in ids:
        assert len(pipe.responses_for(request_id)) == 1, f"{request_id} in flight at SIGHUP got no answer"
    deletes = [e for e in hc.log("/hang") if e.get("http") == "DELETE"]
    assert deletes, "the backend session should be DELETEd at SIGHUP"
    assert "SIGHUP" in pipe.stderr_tail(200), "mcpx should log that SIGHUP stopped it"


# ---------------------------------------------------------------------------------------------
# S1: list_changed before the client listed anything
# ---------------------------------------------------------------------------------------------


PROMPTS_RESOURCES = ("notifications/prompts/list_changed", "notifications/resources/list_changed")


@pytest.mark.timeout(40)
def test_s1_no_prompts_or_resources_list_changed_before_listing(mcpx, example):
    first = example("first")
    pipe = mcpx([first], "--allow-url", "http://127.0.0.1:*/mcp")
    pipe.initialize()
    pipe.wait_ready(["first__echo"])
    pipe.drain(1.5)
    early = [n["method"] for n in pipe.notifications if n.get("method") in PROMPTS_RESOURCES]
    assert not early, f"list_changed sent before the client fetched that list: {early}"
    pipe.result("prompts/list")
    pipe.result("resources/list")
    mark = len(pipe.notifications)
    second = example("second")
    response = manage_call(pipe, "add", name="second", url=second.url)
    assert not is_tool_error(response), response
    for method in PROMPTS_RESOURCES:
        pipe.wait_notification(method, since=mark, timeout=10)



# ---------------------------------------------------------------------------------------------
# S2: proxy_health names each server
# ---------------------------------------------------------------------------------------------


@pytest.mark.timeout(30)
def test_s2_proxy_health_text_names_each_server_and_state(mcpx, example):
    main, docs = example("main"), example("docs")
    pipe = mcpx({"main": main.url, "docs": docs.url})
    pipe.initialize()
    pipe.wait_ready(["main__echo", "docs__echo"])
    result = pipe.call_ok("proxy_health")
    text = text_of(result)
    for word in ("main", "docs", "ready"):
        assert word in text, f"proxy_health text should mention {word!r}: {text!r}"
    structured = result.get("structuredContent")
    assert isinstance(structured, dict) and {"healthy", "total", "unhealthy"} <= set(structured), structured


# ---------------------------------------------------------------------------------------------
# S4: a backend that refuses the first connection
# ---------------------------------------------------------------------------------------------


@pytest.mark.timeout(30)
def test_s4_backend_up_half_a_second_late_is_in_the_first_tools_list(mcpx, example, get_free_port):
    port = get_free_port()
    started = time.monotonic()
    pipe = mcpx({"late": f"http://127.0.0.1:{port}/mcp"}, "--startup-timeout", "5")
    pipe.initialize()
    pipe.drain(max(0.0, 0.5 - (time.monotonic() - started)))
    example("late", port=port)
    t0 = time.monotonic()
    names = pipe.tool_names(timeout=8)
    took = time.monotonic() - t0
    assert "late__echo" in names, f"the first tools/list left out a backend that came up within the start-up window: {names}"
    assert took < 2.5, f"the first tools/list took {took:.1f}s"


# ---------------------------------------------------------------------------------------------
# S5: private files
# ---------------------------------------------------------------------------------------------


@pytest.mark.timeout(30)
def test_s5_state_and_log_files_are_private(mcpx, example, tmp_path):
    state, log = tmp_path / "state.json", tmp_path / "mcpx.log"
    extra = example("extra")
    old_umask = os.umask(0o022)
    try:
        pipe = mcpx([], "--state", str(state), "--log-file", str(log))
    finally:
        os.umask(old_umask)
    pipe.initialize()
    response = manage_call(pipe, "add", name="extra", url=extra.url)
    assert not is_tool_error(response), response
    deadline = time.monotonic() + 5
    while not (state.exists() and log.exists()) and time.monotonic() < deadline:
        pipe.drain(0.05)
    modes = {path.name: os.stat(path).st_mode & 0o777 if path.exists() else None for path in (state, log)}
    assert modes == {state.name: 0o600, log.name: 0o600}, f"file modes (expected 0600 for both): {modes}"
