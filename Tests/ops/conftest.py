"""Fixtures of the operator-endpoint suite (`mcpx --http`: /health, /metrics, /dashboard, ...).

The harness lives in ops_harness.py (McpxHTTP, McpHTTPSession, Metrics) and ops_cdp.py (headless
chromium over the DevTools protocol). `example`, `processes` and `mcpx_bin` come from
Tests/conftest.py; the stdio client `McpxPipe` from Tests/e2e/e2e_harness.py.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

_HERE = Path(__file__).resolve().parent
for _p in (_HERE, _HERE.parent / "e2e"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

from e2e_harness import McpxPipe, mcpx_argv  # noqa: E402
from ops_harness import McpxHTTP, servers_arg  # noqa: E402


@pytest.fixture
def mcpx_http(
    mcpx_bin: Path, processes: Any, tmp_path: Path, body_failed: Callable[[], bool]
) -> Iterator[Callable[..., McpxHTTP]]:
    """Start `mcpx --http 127.0.0.1:0`: mcpx_http(backends, *extra, token=None) -> McpxHTTP (listening).

    `backends` is a list of Backend objects or a {name: url} mapping; empty means no --servers.
    At teardown each is sent SIGTERM (by PID), then SIGKILL if still running; on failure the
    stderr tails are printed.
    """
    started: list[McpxHTTP] = []

    def start(
        backends: Mapping[str, str] | Sequence[Any] = (),
        *extra: str,
        token: str | None = None,
        log_level: str | None = "debug",
        wait: bool = True,
    ) -> McpxHTTP:
        argv: list[str] = [str(mcpx_bin), "--http", "127.0.0.1:0"]
        if backends:
            argv += ["--servers", servers_arg(backends)]
        if token is not None:
            argv += ["--http-token", token]
        if log_level:
            argv += ["--log-level", log_level]
        argv += list(extra)
        server = McpxHTTP(argv, tmp_path, processes, token=token)
        started.append(server)
        return server.wait_listening() if wait else server

    yield start

    for server in started:
        server.close()
        if body_failed():
            print(f"--- {' '.join(server.argv)}\n--- mcpx --http stderr (tail) ---\n{server.stderr_tail()}")


@pytest.fixture
def mcpx_stdio(
    mcpx_bin: Path, processes: Any, tmp_path: Path, body_failed: Callable[[], bool]
) -> Iterator[Callable[..., McpxPipe]]:
    """Start `mcpx --stdio` on pipes: mcpx_stdio(backends, *extra) -> McpxPipe (not yet initialized)."""
    started: list[McpxPipe] = []

    def start(backends: Mapping[str, str] | Sequence[Any] = (), *extra: str, log_level: str | None = "debug") -> McpxPipe:
        pipe = McpxPipe(mcpx_argv(mcpx_bin, backends, extra, log_level), tmp_path / f"front-{len(started)}.stderr", processes)
        started.append(pipe)
        return pipe

    yield start

    problems: list[str] = []
    for pipe in started:
        pipe.close()
        problems += pipe.stdout_problems()
        if body_failed():
            print(f"--- {' '.join(pipe.argv)}\n--- mcpx --stdio stderr (tail) ---\n{pipe.stderr_tail()}")
    assert not problems, "mcpx wrote something other than JSON-RPC lines to stdout:\n" + "\n".join(problems)


@pytest.fixture
def dead_url(get_free_port: Callable[[], int]) -> str:
    """An MCP URL on a loopback port nothing listens on."""
    return f"http://127.0.0.1:{get_free_port()}/mcp"
