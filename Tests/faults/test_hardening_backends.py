"""Hardening against hostile backends: regression tests for defects H1, H2, H5, H6 and H8.

H1  a backend flooding list_changed notifications and requests on its GET stream must not
    exhaust mcpx's file descriptors (refreshes coalesced, requests bounded, RLIMIT_NOFILE raised,
    proxy_status reports process.openFds / process.fdLimit).
H2  endless or slow tools/list pagination: one deadline and a byte cap for the whole list.
H5  backend notifications are checked: progress only for that backend's calls in flight; messages
    with duplicate member names, or with method and result/error, are dropped.
H6  resource URIs in tool results become <server>+<uri> on every path, and resolve to that server.
H8  secrets (header values, URL user info, query and fragment values) never leak; --log-file and
    --state are created 0600.

(L1, the legacy transport's pending table: test_fault_backends.py::test_legacy_calls_cancelled_or_timed_out_leave_nothing_pending.)
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from faults_harness import HostileClient, StrictPipe, text_of

FD_BOUND = 200  # peak open fds of mcpx while a backend floods it (1024 allowed)
RSS_BOUND_KIB = 400 << 10  # peak RSS of mcpx while a backend sends endless 10 MiB pages
SECRETS = ("s3cr3t-TOKEN-value", "pw-secret-1234", "qsecret-5678", "frag-secret-9")


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------


class ProcSampler:
    """Samples a process's open fds and its peak RSS (VmHWM) on a thread."""

    def __init__(self, pid: int, interval: float = 0.02) -> None:
        self.pid = pid
        self.interval = interval
        self.peak_fds = 0
        self.peak_rss_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="proc-sampler", daemon=True)

    def start(self) -> ProcSampler:
        self._thread.start()
        return self

    def sample(self) -> None:
        try:
            self.peak_fds = max(self.peak_fds, len(os.listdir(f"/proc/{self.pid}/fd")))
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    self.peak_rss_kib = max(self.peak_rss_kib, int(line.split()[1]))
        except (OSError, ValueError):
            pass

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sample()


def poll(what: str, predicate: Any, timeout: float, interval: float = 0.1) -> Any:
    """predicate() until it returns something truthy, at most `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what}: not within {timeout}s")
        time.sleep(interval)


def soft_nofile(pid: int) -> int:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            return int(line.split()[3])
    raise AssertionError(f"no 'Max open files' in /proc/{pid}/limits")


def calls_in_waves(pipe: StrictPipe, name: str, total: int, width: int, timeout: float = 15.0) -> list[str]:
    """`total` calls of `name` (echo), `width` in flight at a time; returns what went wrong."""
    problems: list[str] = []
    for start in range(0, total, width):
        ids = {}
        for i in range(start, min(total, start + width)):
            request_id = f"wave-{pipe.next_id()}"
            ids[request_id] = f"echo {i}"
            pipe.send({"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": {"name": name, "arguments": {"text": ids[request_id]}}})
        for request_id, text in ids.items():
            answer = pipe.wait_response(request_id, timeout=timeout)
            if "result" not in answer or answer["result"].get("isError") or text_of(answer["result"]) != text:
                problems.append(f"{request_id}: {json.dumps(answer)[:300]}")
    return problems


class DuplicateKey(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    dupes = sorted({k for k in keys if keys.count(k) > 1})
    if dupes:
        raise DuplicateKey(f"duplicate member names {dupes}")
    return dict(pairs)


def duplicate_key_lines(lines: list[str]) -> list[str]:
    """stdout lines that parse differently under first-key-wins and last-key-wins."""
    bad = []
    for i, line in enumerate(lines):
        try:
            json.loads(line, object_pairs_hook=_no_duplicates)
        except DuplicateKey as exc:
            bad.append(f"line {i + 1}: {exc}: {line[:300]}")
        except ValueError:
            pass  # not JSON: the fixture reports it
    return bad


def server_state(pipe: StrictPipe, name: str) -> tuple[str, str]:
    status = pipe.server_status(name)
    return status.get("status", ""), status.get("lastError") or ""


def has_failed(state: str, error: str) -> bool:
    """Failed, or already reconnecting after a failure (lastError kept meanwhile)."""
    return state == "failed" or (state != "ready" and bool(error))


def states_until_failed(
    pipe: StrictPipe, name: str, bound: float, interval: float, started: float | None = None, check: Any = None
) -> list[tuple[float, str, str]]:
    """(seconds, status, lastError) of server `name` every `interval` s until it has failed or `bound`
    seconds have passed since `started` (default now); `check()` runs before each look."""
    started = time.monotonic() if started is None else started
    seen: list[tuple[float, str, str]] = []
    while time.monotonic() - started < bound:
        if check is not None:
            check()
        state, error = server_state(pipe, name)
        seen.append((round(time.monotonic() - started, 1), state, error))
        if has_failed(state, error):
            break
        time.sleep(interval)
    return seen or [(0.0, "", "")]


# ---------------------------------------------------------------------------------------------
# H1: file descriptor exhaustion by one backend
# ---------------------------------------------------------------------------------------------


@pytest.mark.timeout(90)
def test_h1_list_changed_and_request_flood_does_not_exhaust_fds(mcpx, example, hostile):
    good = example("good")
    _, hc = hostile()
    path = "/flood?n=20000&reqs=2000"
    pipe = mcpx({"good": good.url, "bad": hc.url(path)}, "--call-timeout", "10", log_level="info", wrap=["prlimit", "--nofile=1024:1024"])
    sampler = ProcSampler(pipe.proc.pid).start()
    try:
        pipe.initialize()
        pipe.wait_ready(["good__echo", "bad__echo"])
        poll("the flood backend's GET stream", lambda: hc.stats(path).get("flooded", 0) > 0, timeout=15)
        problems = calls_in_waves(pipe, "good__echo", total=200, width=4)
        # Let whatever the flood started settle, then look again.
        pipe.drain(1.0)
        problems += calls_in_waves(pipe, "good__echo", total=20, width=4)
    finally:
        sampler.stop()
    stats = hc.stats(path)
    lists = stats.get("m:tools/list", 0)
    print(f"\nflood: peak fds {sampler.peak_fds}, tools/list requests {lists}, answers to backend requests {stats.get('responses', 0)}")
    pipe.assert_alive()
    assert not problems, f"{len(problems)} of 220 calls to a healthy backend failed during the flood:\n" + "\n".join(problems[:10])
    assert sampler.peak_fds < FD_BOUND, f"mcpx had {sampler.peak_fds} fds open during the flood (bound {FD_BOUND})"
    assert lists <= 50, f"20000 list_changed notifications caused {lists} tools/list requests (refreshes must be coalesced)"
    assert "Too many open files" not in pipe.stderr_tail(400)
    pipe.ping_ok()


@pytest.mark.timeout(45)
def test_h1_fd_figures_in_proxy_status_and_soft_limit_raised(mcpx, example):
    good = example("good")
    pipe = mcpx([good], wrap=["prlimit", "--nofile=256:4096"])
    pipe.initialize()
    pipe.wait_ready(["good__echo"])
    process = pipe.status().get("process")
    assert isinstance(process, dict), f"proxy_status structuredContent has no 'process' object: {pipe.status()}"
    open_fds = process.get("openFds")
    assert isinstance(open_fds, int) and not isinstance(open_fds, bool) and open_fds > 0, process
    assert "fdLimit" in process, process
    limit = soft_nofile(pipe.proc.pid)
    assert limit == 4096, f"mcpx should raise its soft RLIMIT_NOFILE to the hard limit 4096 at start, it is {limit}"
    assert process["fdLimit"] == 4096, process


# ---------------------------------------------------------------------------------------------
# H2: tools/list pagination
# ---------------------------------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_h2_endless_big_pages_fail_the_backend_with_bounded_memory(mcpx, example, hostile):
    good = example("good")
    _, hc = hostile()
    path = "/pages?mb=10"
    pipe = mcpx({"good": good.url, "bad": hc.url(path)}, "--connect-timeout", "20", "--startup-timeout", "5", log_level="info")
    sampler = ProcSampler(pipe.proc.pid, interval=0.05).start()
    def rss_bounded() -> None:
        assert sampler.peak_rss_kib < RSS_BOUND_KIB, (
            f"mcpx's peak RSS reached {sampler.peak_rss_kib >> 10} MiB reading endless tools/list pages "
            f"({hc.stats(path).get('pages', 0)} pages sent)"
        )

    try:
        pipe.initialize()
        _, state, error = states_until_failed(pipe, "bad", 35, 0.2, check=rss_bounded)[-1]
    finally:
        sampler.stop()
    print(f"\npages: {hc.stats(path).get('pages', 0)} pages sent, peak RSS {sampler.peak_rss_kib >> 10} MiB, lastError {error!r}")
    assert sampler.peak_rss_kib < RSS_BOUND_KIB, f"peak RSS {sampler.peak_rss_kib >> 10} MiB"
    assert has_failed(state, error), f"a backend with an endless tools/list should be failed, it is {state!r} ({error!r})"
    assert re.search(r"tools/list|too large|too many|limit", error, re.I), f"lastError should say why: {error!r}"
    assert text_of(pipe.call_ok("good__echo", {"text": "fine"})) == "fine"


@pytest.mark.timeout(45)
def test_h2_slow_pages_are_bounded_by_one_deadline(mcpx, example, hostile):
    good = example("good")
    _, hc = hostile()
    path = "/pages/slow?mb=0&count=5&delay_ms=1000"
    connect_timeout = 3
    pipe = mcpx(
        {"good": good.url, "bad": hc.url(path)},
        "--connect-timeout", str(connect_timeout), "--startup-timeout", "2", "--backoff-cap", "30",
    )
    started = time.monotonic()
    pipe.initialize()
    bound = connect_timeout + 4
    seen = states_until_failed(pipe, "bad", bound, 0.25, started=started)
    assert has_failed(*seen[-1][1:]), (
        f"pages 1 s apart with --connect-timeout {connect_timeout}: the backend should fail within {bound}s "
        f"({hc.stats(path).get('pages', 0)} pages served); states seen {seen[-5:]}"
    )
    assert text_of(pipe.call_ok("good__echo", {"text": "fine"})) == "fine"


# ---------------------------------------------------------------------------------------------
# H5: notifications from backends are checked
# ---------------------------------------------------------------------------------------------


@pytest.mark.timeout(45)
def test_h5_forged_backend_notifications_do_not_reach_the_client(mcpx, example, hostile):
    a = example("a")
    _, hc = hostile()
    path = "/notify"
    pipe = mcpx({"a": a.url, "b": hc.url(path)}, "--call-timeout", "15")
    pipe.initialize()
    pipe.wait_ready(["a__progress", "b__trigger"])
    # The forgeries go to b's GET stream, too, when mcpx opened one.
    try:
        poll("b's GET stream", lambda: hc.stats(path).get("get_streams", 0) > 0, timeout=3)
    except AssertionError:
        pass
    # A call to a in flight with progress token tokA.
    pipe.send({
        "jsonrpc": "2.0", "id": "call-a", "method": "tools/call",
        "params": {"name": "a__progress", "arguments": {"steps": 40, "delay_ms": 100}, "_meta": {"progressToken": "tokA"}},
    })
    pipe.wait_notification("notifications/progress", where=lambda m: m["params"].get("progressToken") == "tokA", timeout=10)
    # b forges progress for tokA and much else, then gives its own legitimate progress and answers.
    result = pipe.call_tool("b__trigger", {"steal": "tokA"}, meta={"progressToken": "tokB"}, timeout=10)
    assert "result" in result and not result["result"].get("isError"), f"the call to b should succeed: {result}"
    assert text_of(result["result"]) == "called:trigger", result
    answer_a = pipe.wait_response("call-a", timeout=15)
    assert "result" in answer_a and not answer_a["result"].get("isError"), answer_a
    pipe.drain(0.5)

    legit = pipe.notifications_of("notifications/progress")
    assert any(m["params"].get("progressToken") == "tokB" and m["params"].get("message") == "LEGIT" for m in legit), (
        f"b's legitimate progress for the client's token tokB must be delivered: {legit[-5:]}"
    )
    forged = [line for line in pipe.lines if "FAKE" in line]
    assert not forged, f"{len(forged)} forged backend messages reached the client:\n" + "\n".join(f[:300] for f in forged)
    stolen = [m for m in legit if m["params"].get("progressToken") == "tokA" and m["params"].get("progress") == 99999]
    assert not stolen, f"progress from b for a's token reached the client: {stolen}"
    dupes = duplicate_key_lines(pipe.lines)
    assert not dupes, "mcpx wrote JSON with duplicate member names:\n" + "\n".join(dupes)
    pipe.ping_ok()


# ---------------------------------------------------------------------------------------------
# H6: resource URIs in tool results
# ---------------------------------------------------------------------------------------------


def result_uris(result: dict[str, Any]) -> list[str]:
    uris = []
    for block in result.get("content", []):
        if block.get("type") == "resource_link":
            uris.append(block.get("uri"))
        elif block.get("type") == "resource":
            uris.append((block.get("resource") or {}).get("uri"))
    return uris


@pytest.mark.timeout(45)
@pytest.mark.parametrize("sse", ["0", "1"], ids=["json", "sse"])
def test_h6_resource_uris_in_tool_results_are_exposed_and_resolve_to_their_server(mcpx, hostile, sse):
    _, hc = hostile()
    paths = {"a": f"/links/a?sse={sse}", "b": f"/links/b?sse={sse}"}
    pipe = mcpx({name: hc.url(p) for name, p in paths.items()})
    pipe.initialize()
    pipe.wait_ready(["a__links", "b__links"])
    listed = [r["uri"] for r in pipe.result("resources/list").get("resources", [])]
    assert "b+file:///x" in listed, f"resources/list should expose b's resources as b+<uri>: {listed}"

    result = pipe.call_ok("b__links")
    uris = result_uris(result)
    assert uris == ["b+file:///x", "b+file:///x", "b+a+file:///secret"], (
        f"resource URIs in b's tool result must be exposed as b+<uri>: {uris}"
    )
    for uri in uris:
        read = pipe.result("resources/read", {"uri": uri})
        texts = [c.get("text", "") for c in read.get("contents", [])]
        assert texts and all("/links/b" in t for t in texts), f"resources/read {uri} must be served by b: {read}"
    reads_a = [m for m in hc.messages("/links/a") if m.get("method") == "resources/read"]
    assert not reads_a, f"a URI returned by b reached a: {reads_a}"


# ---------------------------------------------------------------------------------------------
# H8: secrets
# ---------------------------------------------------------------------------------------------


def secret_config(tmp_path: Path, hc: HostileClient) -> Path:
    """A config with backends that echo their credentials in every error they give."""
    headers = {"Authorization": f"Bearer {SECRETS[0]}"}
    userinfo = f"http://user:{SECRETS[1]}@127.0.0.1:{hc.port}/echo_secret/url?on=all&key={SECRETS[2]}&flag#{SECRETS[3]}"
    servers = {
        "init": {"url": hc.url("/echo_secret/init?on=all"), "headers": headers},
        "h500": {"url": hc.url("/echo_secret/h500?on=all&how=http500"), "headers": headers},
        "calls": {"url": hc.url("/echo_secret/calls?on=call,method:ping"), "headers": headers},
        "userinfo": {"url": userinfo},
    }
    config = tmp_path / "servers.json"
    config.write_text(json.dumps({"mcpServers": servers}))
    return config


def leaks(where: str, text: str) -> list[str]:
    return [f"{secret!r} in {where}: ...{text[max(0, text.find(secret) - 150):text.find(secret) + 60]}..." for secret in SECRETS if secret in text]


@pytest.mark.timeout(60)
def test_h8_backend_errors_do_not_leak_secrets_to_stdout_stderr_or_log(mcpx, hostile, tmp_path):
    _, hc = hostile()
    config = secret_config(tmp_path, hc)
    log_file = tmp_path / "mcpx.log"
    pipe = mcpx(
        (), "--config", str(config), "--log-file", str(log_file), "--health-interval", "1",
        "--connect-timeout", "3", "--startup-timeout", "3", "--backoff-cap", "1",
    )
    pipe.initialize()
    pipe.wait_ready(["calls__trigger"])
    answers = [pipe.call_tool("calls__trigger", {}), pipe.call_tool("calls__echo", {"text": "x"})]
    assert all("error" in a or a["result"].get("isError") for a in answers), f"the calls should fail: {answers}"
    try:  # health pings of 'calls' fail, echoing the token
        poll("a health ping", lambda: any((e.get("message") or {}).get("method") == "ping" for e in hc.log("/echo_secret/calls")), timeout=4)
    except AssertionError:
        pass
    for name in ("init", "h500", "userinfo"):
        poll(f"{name} failed", lambda n=name: server_state(pipe, n)[1], timeout=10)
    pipe.call_tool("manage", {"action": "list"})
    pipe.call_tool("manage", {"action": "health"})
    pipe.call_tool("proxy_status", {})
    pipe.call_tool("proxy_health", {})
    pipe.call_tool("init__trigger", {})
    pipe.drain(1.5)  # more health pings fail meanwhile
    pipe.expect_exit = True
    pipe.close()
    found = leaks("mcpx stdout", "\n".join(pipe.lines))
    found += leaks("mcpx stderr", pipe.stderr_path.read_text(errors="replace"))
    found += leaks("--log-file", log_file.read_text(errors="replace") if log_file.exists() else "")
    assert not found, "secrets leaked:\n" + "\n".join(found)


@pytest.mark.timeout(90)
def test_h8_terminal_commands_do_not_leak_secrets(mcpx_bin, hostile, tmp_path):
    _, hc = hostile()
    config = secret_config(tmp_path, hc)
    common = ["--config", str(config), "--connect-timeout", "3", "--startup-timeout", "3"]
    commands = [
        ["list", "--json", *common],
        ["list", *common],
        ["check", *common],
        ["check", "--json", *common],
        ["call", "calls__trigger", "{}", "--json", *common],
        ["call", "calls__echo", '{"text": "x"}', *common],
        ["call", "init__trigger", "{}", "--json", *common],
    ]
    found = []
    for args in commands:
        run = subprocess.run(  # noqa: S603
            [str(mcpx_bin), *args], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30, check=False,
            env={**os.environ, "NO_COLOR": "1"},
        )
        found += leaks(f"`mcpx {' '.join(args[:2])}` output", run.stdout + run.stderr)
    assert not found, "secrets leaked:\n" + "\n".join(found)


@pytest.mark.timeout(45)
def test_h8_log_file_and_state_file_are_private(mcpx, example, tmp_path):
    good = example("good")
    log_file = tmp_path / "mcpx.log"
    state_file = tmp_path / "state.json"
    old_umask = os.umask(0o022)
    try:
        pipe = mcpx([good], "--log-file", str(log_file), "--state", str(state_file))
    finally:
        os.umask(old_umask)
    pipe.initialize()
    pipe.wait_ready(["good__echo"])
    for action in ("disable", "enable"):
        answer = pipe.call_tool("manage", {"action": action, "name": "good"})
        assert "result" in answer and not answer["result"].get("isError"), answer
    poll("the state file", state_file.exists, timeout=5)
    assert log_file.exists(), "--log-file was not created"
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (log_file, state_file)}
    assert all(m == 0o600 for m in modes.values()), f"files must be created 0600: { {k: oct(v) for k, v in modes.items()} }"
