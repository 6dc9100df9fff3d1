"""Helpers of Tests/e2e/test_stdio_backends.py: stdio backends (child processes of mcpx).

- `child_command(...)` / `child_argv(...)`: the stdlib-only test child stdio_children/mcp_child.py.
- `stdio_flag(name, argv)`: one `--stdio-server NAME='command arg ...'` pair (shell-quoted words).
- `/proc` helpers (Linux): process state, parent, process group; `children_of(pid)`.
- `ZombieWatch`: samples mcpx's children in the background and remembers how long any of them
  stayed a zombie (state Z), so a test can assert mcpx reaps what it started.
- `server_entry(pipe, name)`: the proxy_status structuredContent entry of one server.
- `third_party_bin(name)`: console script of a PyPI stdio server pinned in Tests/requirements.txt
  (installed on demand when the venv predates the pin; skips only when that is impossible).
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from e2e_harness import McpxPipe

HERE = Path(__file__).resolve().parent
CHILD = HERE / "stdio_children" / "mcp_child.py"
REQUIREMENTS = HERE.parent / "requirements.txt"


def child_argv(*args: str, name: str = "child") -> list[str]:
    """argv of the test child: python mcp_child.py --name NAME args..."""
    return [sys.executable, str(CHILD), "--name", name, *args]


def stdio_flag(name: str, argv: Sequence[Any]) -> list[str]:
    """["--stdio-server", "NAME=<argv joined as a shell would split it back>"]."""
    return ["--stdio-server", f"{name}={shlex.join(str(a) for a in argv)}"]


def example_stdio_argv(example_server_bin: Path, name: str, *args: str) -> list[str]:
    return [str(example_server_bin), "--stdio", "--name", name, *args]


def write_config(path: Path, servers: dict[str, dict[str, Any]]) -> Path:
    """A Claude Desktop style config file: {"mcpServers": servers}."""
    path.write_text(json.dumps({"mcpServers": servers}, indent=2))
    return path


def wait_until(predicate: Callable[[], Any], timeout: float, interval: float = 0.05) -> Any:
    """Poll predicate() until it returns something truthy (returned) or the time is up (None)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


# ---------------------------------------------------------------------------------------------
# /proc
# ---------------------------------------------------------------------------------------------


def proc_stat(pid: int) -> tuple[str, int, int] | None:
    """(state, ppid, pgrp) of a process from /proc/<pid>/stat, or None when it does not exist."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()  # the command name may hold spaces and parens
    return fields[0], int(fields[1]), int(fields[2])


def is_running(pid: int) -> bool:
    """The process exists and is not a zombie (a zombie runs nothing; its parent just has not reaped it)."""
    stat = proc_stat(pid)
    return stat is not None and stat[0] != "Z"


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of process group pgid."""
    members = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (stat := proc_stat(int(entry))) and stat[2] == pgid and stat[0] != "Z":
            members.append(int(entry))
    return members


def children_of(pid: int) -> dict[int, str]:
    """{child pid: state} of the direct children of pid."""
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (stat := proc_stat(int(entry))) and stat[1] == pid:
            found[int(entry)] = stat[0]
    return found


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def all_gone(pids: Sequence[int], pgids: Sequence[int]) -> bool:
    return not any(is_running(p) for p in pids) and not any(group_members(g) for g in pgids)


class ZombieWatch:
    """Samples the children of one process every 50 ms; remembers each zombie's longest lifetime."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.pid = pid
        self.interval = interval
        self.longest: dict[int, float] = {}  # zombie pid -> seconds seen as a zombie
        self.seen_children: set[int] = set()
        self._since: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"zombies-{pid}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set() and proc_stat(self.pid) is not None and proc_stat(self.pid)[0] != "Z":
            now = time.monotonic()
            children = children_of(self.pid)
            self.seen_children.update(children)
            for child, state in children.items():
                if state == "Z":
                    start = self._since.setdefault(child, now)
                    self.longest[child] = max(self.longest.get(child, 0.0), now - start)
            for child in list(self._since):
                if children.get(child) != "Z":
                    del self._since[child]
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)

    def problems(self, limit: float = 1.0) -> list[str]:
        return [f"child {pid} stayed a zombie for {secs:.1f}s" for pid, secs in self.longest.items() if secs > limit]


def kill_leftovers(pids: Sequence[int]) -> None:
    """SIGKILL processes a test learned about (mcpx's children), if they still run our binaries.

    Only pids whose command line names the test child, the example server or a pinned PyPI server
    are touched, so a recycled pid is never hit.
    """
    markers = (b"mcp_child.py", b"mcpx-example-server", b"mcp-server-", b"import signal, time")
    for pid in pids:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if is_running(pid) and any(m in cmdline for m in markers):
            try:
                os.kill(pid, 9)
            except OSError:
                pass


# ---------------------------------------------------------------------------------------------
# proxy_status
# ---------------------------------------------------------------------------------------------


def status_servers(pipe: McpxPipe, timeout: float = 10.0) -> dict[str, dict[str, Any]]:
    response = pipe.call_tool("proxy_status", {}, timeout=timeout)
    assert "result" in response, f"proxy_status failed: {response}"
    structured = response["result"].get("structuredContent")
    assert isinstance(structured, dict) and isinstance(structured.get("servers"), list), response
    return {entry.get("name"): entry for entry in structured["servers"]}


def server_entry(pipe: McpxPipe, name: str, timeout: float = 10.0) -> dict[str, Any]:
    servers = status_servers(pipe, timeout)
    assert name in servers, f"proxy_status does not list server {name!r}: {sorted(servers)}"
    return servers[name]


def wait_entry(pipe: McpxPipe, name: str, predicate: Callable[[dict[str, Any]], bool], timeout: float) -> dict[str, Any]:
    """Poll proxy_status until predicate(entry of `name`) holds; fails with the last entry."""
    deadline = time.monotonic() + timeout
    while True:
        entry = server_entry(pipe, name)
        if predicate(entry):
            return entry
        if time.monotonic() >= deadline:
            raise AssertionError(f"proxy_status entry of {name!r} never matched within {timeout}s: {entry}")
        pipe.drain(0.2)


def running_pid(pipe: McpxPipe, name: str, timeout: float = 15.0) -> int:
    """The pid proxy_status reports for a stdio server once it is running."""
    entry = wait_entry(pipe, name, lambda e: isinstance(e.get("pid"), int) and not isinstance(e["pid"], bool), timeout)
    return entry["pid"]


def call_until_ok(pipe: McpxPipe, tool: str, arguments: dict[str, Any] | None, timeout: float) -> dict[str, Any]:
    """Call `tool` until it gives a result without isError (a server coming back); returns that result."""
    deadline = time.monotonic() + timeout
    last: dict[str, Any] = {}
    while time.monotonic() < deadline:
        last = pipe.call_tool(tool, arguments, timeout=max(1.0, deadline - time.monotonic()))
        if "result" in last and not last["result"].get("isError"):
            return last["result"]
        pipe.drain(0.3)
    raise AssertionError(f"{tool} did not succeed again within {timeout}s; last answer: {last}")


def error_text(response: dict[str, Any]) -> str:
    """The message of a failed call: a JSON-RPC error or an isError result (empty when it succeeded)."""
    if "error" in response:
        return json.dumps(response["error"])
    result = response.get("result") or {}
    if result.get("isError"):
        return json.dumps(result)
    return ""


# ---------------------------------------------------------------------------------------------
# Third-party stdio servers from PyPI (pinned in Tests/requirements.txt)
# ---------------------------------------------------------------------------------------------

_install_lock = threading.Lock()


def third_party_bin(script: str) -> Path:
    """Path of a console script (mcp-server-time, mcp-server-git) in the test venv.

    scripts/pytest.sh installs Tests/requirements.txt, which pins both servers. When the venv
    predates that pin, install the requirements now; skip only when that cannot work (no network).
    """
    path = Path(sys.executable).parent / script
    if path.is_file():
        return path
    with _install_lock:
        if not path.is_file():
            proc = subprocess.run(  # noqa: S603
                [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "-q", "-r", str(REQUIREMENTS)],
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
            if proc.returncode != 0 or not path.is_file():
                pytest.skip(f"{script} is not installed and pip could not install {REQUIREMENTS}: {proc.stderr[-400:]}")
    return path
