"""stdio backends: mcpx starts MCP servers as child processes and talks to them over their pipes.

Backends come from `"command"` entries of a Claude Desktop style config file or from
`--stdio-server NAME='command arg ...'` (words split like a shell splits them, no shell). The
children are the example server (`--stdio`), the stdlib test child stdio_children/mcp_child.py
(crashes, floods, garbage, stubbornness on demand) and two real servers from PyPI.

Every test runs mcpx through `stdio_mcpx`, which also watches mcpx's children (no zombie may last
more than a second), checks that mcpx exits 0 once stdin closes, and SIGKILLs any child left over
(by the pids it saw, and only when they still run one of our test binaries).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from e2e_harness import EXAMPLE_TOOLS, OWN_TOOLS, McpxPipe, manage_args, text_of
from stdio_harness import (
    CHILD,
    ZombieWatch,
    all_gone,
    call_until_ok,
    child_argv,
    error_text,
    example_stdio_argv,
    fd_count,
    is_running,
    kill_leftovers,
    proc_stat,
    running_pid,
    server_entry,
    status_servers,
    stdio_flag,
    third_party_bin,
    wait_entry,
    wait_until,
    write_config,
)

RECOVERY = 15.0  # a crashed child must be back (restarted with backoff) within this
STDERR_TAIL_MAX = 64


@pytest.fixture
def leftover_pids() -> list[int]:
    """Pids a test learned about that mcpx does not parent (grandchildren); killed at teardown."""
    return []


@pytest.fixture
def stdio_mcpx(mcpx, leftover_pids):
    """stdio_mcpx(*args, backends=()) -> McpxPipe (mcpx --stdio ... with a ZombieWatch on it)."""
    started: list[tuple[McpxPipe, ZombieWatch]] = []

    def start(*extra: str, backends: Any = ()) -> McpxPipe:
        pipe = mcpx(backends, *extra)
        started.append((pipe, ZombieWatch(pipe.proc.pid)))
        return pipe

    yield start

    problems: list[str] = []
    for pipe, watch in started:
        alive_before = pipe.proc.poll() is None
        pipe.close()  # stdin EOF; killed after 5 s (the e2e fixture closes again, harmlessly)
        watch.stop()
        problems += watch.problems()
        if alive_before and pipe.proc.returncode != 0:
            problems.append(f"mcpx did not exit 0 within 5 s of stdin EOF (exit code {pipe.proc.returncode})")
        kill_leftovers(sorted(watch.seen_children))
    kill_leftovers(leftover_pids)
    assert not problems, "\n".join(problems)


def assert_call_failed_naming(response: dict[str, Any], server: str) -> str:
    """A call that must fail (JSON-RPC error or isError result) with a message naming `server`."""
    text = error_text(response)
    assert text, f"the call should have failed: {response}"
    assert server in text, f"the failure should name server {server!r}: {text}"
    return text


# ---------------------------------------------------------------------------------------------
# Configuration: config file command entries, --stdio-server
# ---------------------------------------------------------------------------------------------


def test_config_file_command_entries_and_status_fields(stdio_mcpx, example, example_server_bin, tmp_path):
    web = example("web")
    workdir = tmp_path / "workdir"
    workdir.mkdir()
    ex_argv = example_stdio_argv(example_server_bin, "ex")
    kid_argv = child_argv("--stderr-line", "hello-from-kid-stderr", name="kid")
    config = write_config(
        tmp_path / "servers.json",
        {
            "ex": {"command": ex_argv[0], "args": ex_argv[1:]},
            "kid": {
                "command": kid_argv[0],
                "args": kid_argv[1:],
                "env": {"MCPX_STDIO_TEST_VAR": "from-the-config"},
                "cwd": str(workdir),
            },
            "web": {"url": web.url},
        },
    )
    pipe = stdio_mcpx("--config", str(config))
    pipe.initialize()
    names = pipe.wait_tools(lambda n: {"ex__echo", "kid__echo", "web__echo"} <= set(n), timeout=15)
    assert {f"ex__{t}" for t in EXAMPLE_TOOLS} <= set(names)
    assert set(OWN_TOOLS) <= set(names)

    assert text_of(pipe.call_ok("ex__echo", {"text": "over stdio"})) == "over stdio"
    assert pipe.call_ok("ex__add", {"a": 2, "b": 3})["structuredContent"] == {"sum": 5}
    assert text_of(pipe.call_ok("ex__whoami")) == "ex"
    assert text_of(pipe.call_ok("web__whoami")) == "web"
    assert text_of(pipe.call_ok("kid__env", {"name": "MCPX_STDIO_TEST_VAR"})) == "from-the-config"
    assert Path(text_of(pipe.call_ok("kid__cwd"))).resolve() == workdir.resolve()

    servers = status_servers(pipe)
    ex = servers["ex"]
    assert ex["transport"] == "stdio" and ex["status"] == "ready", ex
    assert isinstance(ex["pid"], int) and is_running(ex["pid"]), ex
    assert proc_stat(ex["pid"])[1] == pipe.proc.pid, "the pid in proxy_status is a child of mcpx"
    assert ex["restarts"] == 0 and type(ex["restarts"]) is int, ex
    assert isinstance(ex["stderrTail"], list) and len(ex["stderrTail"]) <= STDERR_TAIL_MAX, ex
    assert all(isinstance(line, str) for line in ex["stderrTail"]), ex
    assert servers["web"].get("transport") != "stdio", servers["web"]
    kid = wait_entry(pipe, "kid", lambda e: any("hello-from-kid-stderr" in s for s in e.get("stderrTail", [])), 5)
    assert kid["transport"] == "stdio" and int(text_of(pipe.call_ok("kid__pid"))) == kid["pid"]


def test_stdio_server_flag_splits_words_like_a_shell_without_one(stdio_mcpx, example, example_server_bin):
    web = example("web")
    raw = f"{shlex.quote(sys.executable)} {shlex.quote(str(CHILD))} --name kid 'two words' \"double q\" $HOME 'a;b' c\\ d x;y"
    pipe = stdio_mcpx(
        "--stdio-server", f"kid={raw}",
        *stdio_flag("ex", example_stdio_argv(example_server_bin, "ex")),
        backends=[web],
    )  # fmt: skip
    pipe.initialize()
    pipe.wait_tools(lambda n: {"kid__argv", "ex__echo", "web__echo"} <= set(n), timeout=15)
    argv = json.loads(text_of(pipe.call_ok("kid__argv")))
    assert argv == ["--name", "kid", "two words", "double q", "$HOME", "a;b", "c d", "x;y"], (
        f"words must be split like shlex.split, with no shell expanding $HOME or splitting at ';': {argv}"
    )
    assert text_of(pipe.call_ok("ex__whoami")) == "ex"
    assert text_of(pipe.call_ok("web__whoami")) == "web"


# ---------------------------------------------------------------------------------------------
# Calls, errors, progress, logs, cancellation
# ---------------------------------------------------------------------------------------------


def test_calls_errors_progress_and_logs_through_a_stdio_example(stdio_mcpx, example_server_bin):
    pipe = stdio_mcpx(*stdio_flag("ex", example_stdio_argv(example_server_bin, "ex")))
    pipe.initialize()
    pipe.wait_tools(lambda n: "ex__echo" in n, timeout=15)
    exotic = "héllo ✓ \u2028 \"quoted\" \\ {json}"
    assert text_of(pipe.call_ok("ex__echo", {"text": exotic})) == exotic

    failed = pipe.call_tool("ex__fail", {"message": "it broke"})
    assert "result" in failed and failed["result"].get("isError") is True, failed
    assert "it broke" in text_of(failed["result"])

    mark = len(pipe.notifications)
    pipe.call_ok("ex__progress", {"steps": 3, "delay_ms": 30}, meta={"progressToken": "tok-7"})
    progress = pipe.notifications_of("notifications/progress", since=mark)
    assert [m["params"]["progressToken"] for m in progress] == ["tok-7"] * 3, progress
    assert [m["params"]["progress"] for m in progress] == [1, 2, 3], progress

    mark = len(pipe.notifications)
    pipe.call_ok("ex__log", {"level": "warning", "message": "hello-stdio-log"})
    msg = pipe.wait_notification(
        "notifications/message", since=mark, where=lambda m: "hello-stdio-log" in json.dumps(m["params"].get("data"))
    )
    assert msg["params"]["level"] == "warning"

    # Concurrent calls are multiplexed on the one pipe: a slow call does not hold up fast ones.
    slow_id = pipe.next_id()
    pipe.send({"jsonrpc": "2.0", "id": slow_id, "method": "tools/call", "params": {"name": "ex__sleep", "arguments": {"ms": 2000}}})
    assert text_of(pipe.call_ok("ex__echo", {"text": "fast"})) == "fast"
    assert not pipe.has_response(slow_id), "a fast call waited behind a slow one"
    assert not pipe.wait_response(slow_id, timeout=10)["result"].get("isError")


def test_cancellation_reaches_the_child_and_its_late_answer_is_dropped(stdio_mcpx, tmp_path):
    record = tmp_path / "kid-received.jsonl"
    pipe = stdio_mcpx(*stdio_flag("kid", child_argv("--record", str(record), name="kid")))
    pipe.initialize()
    pipe.wait_tools(lambda n: "kid__sleep" in n, timeout=15)
    request_id = pipe.next_id()
    pipe.send({"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": {"name": "kid__sleep", "arguments": {"ms": 1500}}})
    pipe.drain(0.4)
    pipe.notify("notifications/cancelled", {"requestId": request_id, "reason": "user pressed stop"})
    assert text_of(pipe.call_ok("kid__echo", {"text": "still here"})) == "still here"
    pipe.drain(2.5)  # the child answers the sleep anyway after 1.5 s: mcpx must drop that answer
    assert not pipe.has_response(request_id), "a cancelled request must not be answered"

    received = [json.loads(line) for line in record.read_text().splitlines()]
    calls = [m for m in received if m.get("method") == "tools/call" and m["params"]["name"] == "sleep"]
    assert len(calls) == 1, received
    cancels = [m for m in received if m.get("method") == "notifications/cancelled"]
    assert cancels, f"the child was never told about the cancellation: {received}"
    assert cancels[0]["params"]["requestId"] == calls[0]["id"], "cancelled must carry the id the child saw"
    assert pipe.result("ping") == {}


# ---------------------------------------------------------------------------------------------
# Process groups, death of mcpx, shutdown
# ---------------------------------------------------------------------------------------------


def test_children_have_own_process_group_and_die_with_mcpx(stdio_mcpx, example_server_bin):
    pipe = stdio_mcpx(
        *stdio_flag("ex", example_stdio_argv(example_server_bin, "ex")),
        *stdio_flag("kid", child_argv(name="kid")),
    )
    pipe.initialize()
    pipe.wait_tools(lambda n: {"ex__echo", "kid__echo"} <= set(n), timeout=15)
    pids = [running_pid(pipe, "ex"), running_pid(pipe, "kid")]
    mcpx_pgid = os.getpgid(pipe.proc.pid)
    for pid in pids:
        pgid = os.getpgid(pid)
        assert pgid == pid, f"child {pid} should lead its own process group (pgid {pgid})"
        assert pgid != mcpx_pgid

    pipe.proc.kill()  # SIGKILL: mcpx gets no chance to clean up; PR_SET_PDEATHSIG must do it
    pipe.proc.wait(5)
    gone = wait_until(lambda: all_gone(pids, pids), timeout=2.0)
    assert gone, f"children still running 2 s after kill -9 of mcpx: {[p for p in pids if is_running(p)]}"


@pytest.mark.timeout(40)
@pytest.mark.parametrize("how", ["stdin-eof", "sigterm"])
def test_shutdown_kills_a_child_that_ignores_eof_and_sigterm(stdio_mcpx, example_server_bin, leftover_pids, tmp_path, how):
    grandchild_file = tmp_path / "grandchild.pid"
    polite_record = tmp_path / "polite.jsonl"
    stubborn = child_argv("--ignore-eof", "--ignore-term", "--grandchild", str(grandchild_file), name="stubborn")
    pipe = stdio_mcpx(
        *stdio_flag("stubborn", stubborn),
        *stdio_flag("ex", example_stdio_argv(example_server_bin, "ex")),
        *stdio_flag("polite", child_argv("--record", str(polite_record), name="polite")),
    )
    pipe.initialize()
    pipe.wait_tools(lambda n: {"stubborn__echo", "ex__echo", "polite__echo"} <= set(n), timeout=15)
    pids = [running_pid(pipe, "stubborn"), running_pid(pipe, "ex"), running_pid(pipe, "polite")]
    assert wait_until(lambda: grandchild_file.exists() and grandchild_file.read_text(), timeout=5)
    grandchild = int(grandchild_file.read_text())
    leftover_pids.append(grandchild)
    assert os.getpgid(grandchild) == pids[0], "the grandchild shares the stubborn child's process group"
    watch = ZombieWatch(pipe.proc.pid)

    started = time.monotonic()
    if how == "sigterm":
        pipe.proc.send_signal(signal.SIGTERM)
    else:
        pipe.close_stdin()
    code = pipe.wait_exit(10)
    elapsed = time.monotonic() - started
    watch.stop()
    assert code == 0, f"mcpx should exit 0 after {how}, got {code} after {elapsed:.1f}s"
    assert elapsed < 8, f"shutdown took {elapsed:.1f}s (bounded grace, then SIGKILL to the group)"
    assert all_gone([*pids, grandchild], [pids[0]]), "children or the stubborn group outlived mcpx"
    assert not watch.problems(), watch.problems()
    assert {"eof": True} in [json.loads(line) for line in polite_record.read_text().splitlines()], (
        "mcpx should close a child's stdin first (the polite child never saw EOF)"
    )
    print(f"shutdown via {how} with a stubborn child took {elapsed:.2f}s")


# ---------------------------------------------------------------------------------------------
# Crashes, restarts, crash loops
# ---------------------------------------------------------------------------------------------


def test_child_exiting_mid_call_fails_the_call_then_comes_back(stdio_mcpx, example_server_bin):
    pipe = stdio_mcpx(
        *stdio_flag("boom", child_argv(name="boom")),
        *stdio_flag("ex", example_stdio_argv(example_server_bin, "ex")),
        "--backoff-cap", "2",
    )  # fmt: skip
    pipe.initialize()
    pipe.wait_tools(lambda n: {"boom__die", "ex__echo"} <= set(n), timeout=15)
    old_pid = running_pid(pipe, "boom")

    started = time.monotonic()
    response = pipe.call_tool("boom__die", {"code": 3}, timeout=15)
    assert_call_failed_naming(response, "boom")
    assert time.monotonic() - started < 5, "a child's exit must fail its pending call at once"
    assert text_of(pipe.call_ok("ex__echo", {"text": "unaffected"})) == "unaffected"

    assert text_of(call_until_ok(pipe, "boom__whoami", {}, RECOVERY)) == "boom"
    entry = server_entry(pipe, "boom")
    assert entry["status"] == "ready" and entry["restarts"] >= 1, entry
    assert isinstance(entry["pid"], int) and entry["pid"] != old_pid and is_running(entry["pid"]), entry
    assert not is_running(old_pid)


@pytest.mark.timeout(45)
def test_crash_loop_is_reported_and_still_retried(stdio_mcpx, example_server_bin, tmp_path):
    crash_flag = tmp_path / "crash-now"
    crash_flag.write_text("x")
    pipe = stdio_mcpx(
        *stdio_flag("loop", child_argv("--crash-if-exists", str(crash_flag), name="loop")),
        *stdio_flag("ex", example_stdio_argv(example_server_bin, "ex")),
        "--backoff-cap", "2", "--startup-timeout", "2",
    )  # fmt: skip
    pipe.initialize()
    pipe.wait_tools(lambda n: "ex__echo" in n, timeout=15)
    entry = wait_entry(pipe, "loop", lambda e: e.get("status") == "crash-loop", timeout=15)
    assert entry["transport"] == "stdio" and entry["restarts"] >= 2, entry
    assert entry["pid"] is None or isinstance(entry["pid"], int), entry
    # Between two attempts the tail shows why the last one died (it may be reset when one starts).
    wait_entry(pipe, "loop", lambda e: any("crashing at start on purpose" in s for s in e.get("stderrTail", [])), 5)
    response = pipe.call_tool("loop__echo", {"text": "x"})
    assert error_text(response), f"a crash-looping server cannot answer: {response}"
    assert text_of(pipe.call_ok("ex__echo", {"text": "fine"})) == "fine"

    pipe.drain(3.0)
    later = server_entry(pipe, "loop")
    assert later["status"] != "ready" and later["restarts"] - entry["restarts"] <= 3, (
        f"a crash loop must be retried slowly, not hot: {entry['restarts']} -> {later['restarts']} restarts in 3 s"
    )
    crash_flag.unlink()  # the next attempt starts cleanly: retries must go on and find that out
    assert text_of(call_until_ok(pipe, "loop__whoami", {}, RECOVERY)) == "loop"
    assert server_entry(pipe, "loop")["status"] == "ready"


# ---------------------------------------------------------------------------------------------
# Hostile children: stderr floods, garbage on stdout, over-long lines
# ---------------------------------------------------------------------------------------------


def test_stderr_flood_never_blocks_and_tail_is_kept(stdio_mcpx, example_server_bin):
    pipe = stdio_mcpx(
        *stdio_flag("noisy", child_argv("--flood-stderr", "4", name="noisy")),
        *stdio_flag("ex", example_stdio_argv(example_server_bin, "ex")),
    )
    pipe.initialize()
    pipe.wait_tools(lambda n: {"noisy__flood", "ex__echo"} <= set(n), timeout=15)
    for round_ in range(3):
        marker = f"flood-marker-{round_}"
        started = time.monotonic()
        assert text_of(pipe.call_ok("noisy__flood", {"mb": 4, "marker": marker}, timeout=15)) == "flooded"
        assert time.monotonic() - started < 10, "mcpx must drain a child's stderr as fast as it comes"
        assert text_of(pipe.call_ok("noisy__echo", {"text": f"r{round_}"})) == f"r{round_}"
        assert text_of(pipe.call_ok("ex__echo", {"text": "ok"})) == "ok"
        entry = wait_entry(pipe, "noisy", lambda e, m=marker: any(m in line for line in e.get("stderrTail", [])), 5)
        tail = entry["stderrTail"]
        assert len(tail) <= STDERR_TAIL_MAX, f"stderrTail keeps at most {STDERR_TAIL_MAX} lines, got {len(tail)}"
        assert marker in tail[-1], f"the last stderr line should be last in stderrTail: {tail[-3:]}"
    assert server_entry(pipe, "noisy")["restarts"] == 0


@pytest.mark.timeout(40)
@pytest.mark.parametrize(("tool", "args"), [("garbage", {}), ("huge", {"mb": 40})], ids=["garbage-lines", "line-over-limit"])
def test_garbage_on_child_stdout_is_contained(stdio_mcpx, example_server_bin, tool, args):
    pipe = stdio_mcpx(
        *stdio_flag("bad", child_argv("--garbage", name="bad")),
        *stdio_flag("ex", example_stdio_argv(example_server_bin, "ex")),
        "--backoff-cap", "2", "--call-timeout", "5",
    )  # fmt: skip
    pipe.initialize()
    pipe.wait_tools(lambda n: {"bad__garbage", "ex__echo"} <= set(n), timeout=15)
    # A dropped over-long line cannot be matched to its request: then --call-timeout answers it.
    started = time.monotonic()
    response = pipe.call_tool(f"bad__{tool}", args, timeout=20)
    assert "result" in response or "error" in response, response  # some answer, never silence
    assert time.monotonic() - started < 10, "the call must be answered by --call-timeout at the latest"
    if error_text(response):
        assert "bad" in error_text(response), f"a failure should name the server: {response}"
    assert pipe.proc.poll() is None, "mcpx must survive a hostile child"
    assert pipe.result("ping") == {}
    assert text_of(pipe.call_ok("ex__echo", {"text": "other server fine"})) == "other server fine"
    assert text_of(call_until_ok(pipe, "bad__echo", {"text": "again"}, RECOVERY)) == "again"
    # (The fixture checks that nothing but JSON-RPC reached mcpx's stdout.)


# ---------------------------------------------------------------------------------------------
# manage add with a command
# ---------------------------------------------------------------------------------------------


def add_command(pipe: McpxPipe, example_server_bin: Path, name: str = "x", command: str | None = None) -> dict[str, Any]:
    fields = manage_args("add", name=name, command=command or str(example_server_bin), args=["--stdio", "--name", name])
    return pipe.call_tool("manage", fields, timeout=20)


def test_manage_add_command_is_refused_without_allow_command(stdio_mcpx, example_server_bin):
    pipe = stdio_mcpx()
    pipe.initialize()
    response = add_command(pipe, example_server_bin)
    assert "result" in response and response["result"].get("isError") is True, response
    assert "--allow-command" in text_of(response["result"]), response
    assert not any(n.startswith("x__") for n in pipe.tool_names())


def test_manage_add_command_with_matching_allow_command(stdio_mcpx, example_server_bin):
    pipe = stdio_mcpx("--allow-command", f"{example_server_bin.parent}/mcpx-example-*")
    pipe.initialize()
    assert not any(n.startswith("x__") for n in pipe.tool_names())  # list_changed needs a listing first
    mark = len(pipe.notifications)
    response = add_command(pipe, example_server_bin)
    assert "result" in response and not response["result"].get("isError"), response
    pipe.wait_notification("notifications/tools/list_changed", since=mark)
    pipe.wait_tools(lambda n: "x__echo" in n, timeout=10)
    assert text_of(pipe.call_ok("x__whoami")) == "x"
    assert server_entry(pipe, "x")["transport"] == "stdio"

    refused = add_command(pipe, example_server_bin, name="y", command=sys.executable)
    assert "result" in refused and refused["result"].get("isError") is True, "a command the pattern does not match"
    assert "allow-command" in text_of(refused["result"]), refused


def test_manage_add_command_is_refused_when_read_only(stdio_mcpx, example_server_bin):
    pipe = stdio_mcpx("--read-only", "--allow-command", "*")
    pipe.initialize()
    response = add_command(pipe, example_server_bin)
    assert "result" in response and response["result"].get("isError") is True, response
    assert "read-only" in text_of(response["result"])
    assert not any(n.startswith("x__") for n in pipe.tool_names())


# ---------------------------------------------------------------------------------------------
# Scale: 100 stdio servers
# ---------------------------------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_hundred_stdio_servers_listed_fast_with_bounded_fds(stdio_mcpx, example_server_bin):
    count = 100
    flags = [a for i in range(count) for a in stdio_flag(f"s{i}", example_stdio_argv(example_server_bin, f"s{i}"))]
    expected = {f"s{i}__{t}" for i in range(count) for t in EXAMPLE_TOOLS}
    started = time.monotonic()
    pipe = stdio_mcpx(*flags, "--startup-timeout", "10", "--expose", "all")
    pipe.initialize()
    pipe.wait_tools(lambda n: expected <= set(n), timeout=20, interval=0.1)
    elapsed = time.monotonic() - started
    fds = fd_count(pipe.proc.pid)
    print(f"{count} stdio servers: every tool listed {elapsed:.2f}s after mcpx started; mcpx has {fds} open fds")
    assert elapsed <= 5.0, f"listing {count} stdio servers took {elapsed:.2f}s (target 1 s, CI limit 5 s)"

    ids = {}
    for i in range(count):
        ids[i] = pipe.next_id()
        pipe.send({"jsonrpc": "2.0", "id": ids[i], "method": "tools/call", "params": {"name": f"s{i}__whoami", "arguments": {}}})
    for i, request_id in ids.items():
        assert text_of(pipe.wait_response(request_id, timeout=20)["result"]) == f"s{i}"
    after = fd_count(pipe.proc.pid)
    print(f"after {count} calls: {after} fds")
    assert fds <= 5 * count + 64 and after <= 5 * count + 64, f"fd count not bounded: {fds} then {after}"
    assert after <= fds + 8, f"fds grew with calls: {fds} -> {after}"


# ---------------------------------------------------------------------------------------------
# Real servers from PyPI
# ---------------------------------------------------------------------------------------------


@pytest.mark.timeout(45)
def test_mcp_server_time_behind_mcpx(stdio_mcpx):
    server = third_party_bin("mcp-server-time")
    pipe = stdio_mcpx(*stdio_flag("time", [server, "--local-timezone", "UTC"]), "--startup-timeout", "20")
    pipe.initialize()
    pipe.wait_tools(lambda n: {"time__get_current_time", "time__convert_time"} <= set(n), timeout=30)
    result = pipe.call_ok("time__get_current_time", {"timezone": "UTC"}, timeout=20)
    structured = result.get("structuredContent") or json.loads(text_of(result))
    assert structured["timezone"] == "UTC", result
    assert structured["datetime"].endswith("+00:00"), result
    assert server_entry(pipe, "time")["transport"] == "stdio"


@pytest.mark.timeout(45)
def test_mcp_server_git_behind_mcpx(stdio_mcpx, tmp_path):
    if shutil.which("git") is None:
        pytest.skip("mcp-server-git needs the git executable, which is not installed")
    server = third_party_bin("mcp-server-git")
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.name=mcpx-test", "-c", "user.email=test@example.invalid"]
    subprocess.run([*git, "init", "-q"], check=True, timeout=30)  # noqa: S603
    (repo / "committed.txt").write_text("one\n")
    subprocess.run([*git, "add", "committed.txt"], check=True, timeout=30)  # noqa: S603
    subprocess.run([*git, "commit", "-q", "-m", "first"], check=True, timeout=30)  # noqa: S603
    (repo / "untracked-file.txt").write_text("two\n")

    git_entry = {"command": str(server), "args": ["--repository", str(repo)], "cwd": str(repo)}
    config = write_config(tmp_path / "servers.json", {"git": git_entry})
    pipe = stdio_mcpx("--config", str(config), "--startup-timeout", "20")
    pipe.initialize()
    pipe.wait_tools(lambda n: {"git__git_status", "git__git_log"} <= set(n), timeout=30)
    status = text_of(pipe.call_ok("git__git_status", {"repo_path": str(repo)}, timeout=20))
    assert "untracked-file.txt" in status, status
    log = text_of(pipe.call_ok("git__git_log", {"repo_path": str(repo)}, timeout=20))
    assert "first" in log, log


@pytest.mark.timeout(45)
def test_idle_timeout_stops_the_process_and_the_next_call_starts_it(stdio_mcpx, example_server_bin, tmp_path):
    """`"idleTimeout": S`: after S seconds without a call the process is stopped, its tools stay
    listed, and the next call starts it again, transparently to the client."""
    ex_argv = example_stdio_argv(example_server_bin, "lazy")
    config = write_config(tmp_path / "servers.json", {"lazy": {"command": ex_argv[0], "args": ex_argv[1:], "idleTimeout": 1}})
    pipe = stdio_mcpx("--config", str(config))
    pipe.initialize()
    pipe.wait_tools(lambda n: "lazy__whoami" in n, timeout=15)
    assert text_of(pipe.call_ok("lazy__whoami")) == "lazy"
    first = server_entry(pipe, "lazy")["pid"]
    assert isinstance(first, int) and is_running(first)
    stopped = wait_entry(pipe, "lazy", lambda e: e.get("idle") is True and e.get("pid") is None, timeout=10)
    assert stopped["status"] == "ready", "an idle server stays ready: its tools stay listed"
    assert wait_until(lambda: not is_running(first), 5), "the idle process is stopped"
    assert "lazy__whoami" in pipe.tool_names()
    assert text_of(pipe.call_ok("lazy__whoami")) == "lazy", "the next call starts it again"
    again = server_entry(pipe, "lazy")
    assert again["idle"] is False and isinstance(again["pid"], int) and again["pid"] != first
