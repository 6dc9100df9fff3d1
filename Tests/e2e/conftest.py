"""Fixtures of the end-to-end tests; the harness classes live in e2e_harness.py."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from e2e_harness import DirectHTTP, McpxPipe, manage_args, mcpx_argv

# ---------------------------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def mcpx(
    mcpx_bin: Path, processes: Any, tmp_path: Path, body_failed: Callable[[], bool]
) -> Iterator[Callable[..., McpxPipe]]:
    """Start mcpx on pipes: mcpx(backends, *extra_args, log_level="debug") -> McpxPipe.

    `backends` is a list of Backend objects or a {name: url} mapping; empty means no --servers.
    At teardown stdin is closed (mcpx should exit by itself), stdout is checked for non-JSON-RPC
    lines, and on failure mcpx's stderr tail is printed.
    """
    started: list[McpxPipe] = []

    def start(
        backends: Mapping[str, str] | Sequence[Any] = (), *extra: str, log_level: str | None = "debug"
    ) -> McpxPipe:
        argv = mcpx_argv(mcpx_bin, backends, extra, log_level)
        pipe = McpxPipe(argv, tmp_path / f"mcpx-{len(started)}.stderr", processes)
        started.append(pipe)
        return pipe

    yield start

    problems: list[str] = []
    for pipe in started:
        pipe.close()
        problems += pipe.stdout_problems()
        if body_failed():
            print(f"--- {' '.join(pipe.argv)}\n--- mcpx stderr (tail) ---\n{pipe.stderr_tail()}")
    assert not problems, "mcpx wrote something other than JSON-RPC lines to stdout:\n" + "\n".join(problems)


@pytest.fixture
def direct() -> Callable[[str], DirectHTTP]:
    """DirectHTTP(url), initialized."""

    def connect(url: str) -> DirectHTTP:
        client = DirectHTTP(url)
        client.initialize()
        return client

    return connect


@pytest.fixture
def manage() -> Callable[..., dict[str, Any]]:
    """manage(pipe, action, **fields) -> the whole tools/call response."""

    def call(pipe: McpxPipe, action: str, *, timeout: float = 15.0, **fields: Any) -> dict[str, Any]:
        return pipe.call_tool("manage", manage_args(action, **fields), timeout=timeout)

    return call
