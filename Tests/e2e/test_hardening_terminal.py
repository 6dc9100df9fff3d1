"""Regression tests of the hardening round for the terminal commands (S3).

The commands must not print false warnings at exit (a list request cut short by the shutdown,
a "session expired" from the session DELETE), and `mcpx list` must exit non-zero when a
configured server failed, as `check` does.
"""

from __future__ import annotations

import pytest
from test_terminal_commands import run, servers_flag

RUNS = 10
FALSE_ALARMS = ("shutting down", "session expired", "failed")
COMMANDS = {
    "list": ("list",),
    "tools": ("tools",),
    "check": ("check",),
    "call": ("call", "a__echo", '{"text": "hi"}'),
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_s3_terminal_commands_print_no_false_warnings(mcpx_bin, example, command):
    a, b = example("a"), example("b")
    noisy: list[str] = []
    for n in range(RUNS):
        r = run(mcpx_bin, *COMMANDS[command], *servers_flag(a=a.url, b=b.url))
        assert r.returncode == 0, f"run {n}: exit code {r.returncode}:\n{r.stderr}"
        lines = [line for line in r.stderr.splitlines() if any(word in line.lower() for word in FALSE_ALARMS)]
        noisy += [f"run {n}: {line}" for line in lines]
    assert not noisy, f"`mcpx {command}` printed false warnings in healthy runs:\n" + "\n".join(noisy)


@pytest.mark.timeout(30)
def test_s3_list_exits_nonzero_when_a_server_failed(mcpx_bin, example, get_free_port):
    a = example("a")
    dead = f"http://127.0.0.1:{get_free_port()}/mcp"
    r = run(mcpx_bin, "list", *servers_flag(a=a.url, dead=dead))
    assert r.returncode != 0, f"`mcpx list` with a failed server exited 0:\n{r.stdout}\n{r.stderr}"
    assert "dead" in r.stdout, "the table is still printed"
    healthy = run(mcpx_bin, "list", *servers_flag(a=a.url))
    assert healthy.returncode == 0, healthy.stderr
