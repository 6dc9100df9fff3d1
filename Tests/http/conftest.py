"""Fixtures of the HTTP-door tests (`mcpx --http HOST:PORT`); the harness lives in http_harness.py.

    mcpx_http(backends, *extra, stdio=False, env=None, log_level="debug", http="127.0.0.1:0")
        -> McpxHTTP, listening (its port read from the stderr line `http: listening on ...`).

At teardown an `--http`-only mcpx gets SIGTERM and must exit within a few seconds; one started
with `--stdio` too gets stdin EOF and must exit likewise. On failure the stderr tail is printed.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from http_harness import McpxHTTP, mcpx_http_argv, process_report

TESTS_DIR = Path(__file__).resolve().parent.parent
SDK_BACKEND = TESTS_DIR / "interop" / "servers" / "sdk_backend.py"
EXIT_GRACE = 5.0


def pytest_configure(config: pytest.Config) -> None:
    # The SDK marks sampling/roots/logging deprecated for 2026-07-28; mcpx speaks 2025-11-25.
    config.addinivalue_line("filterwarnings", "ignore::DeprecationWarning")
    try:
        import mcp.shared.exceptions  # noqa: F401

        config.addinivalue_line("filterwarnings", "ignore::mcp.shared.exceptions.MCPDeprecationWarning")
    except ImportError:
        pass


@pytest.fixture
def mcpx_http(
    mcpx_bin: Path, processes: Any, tmp_path: Path, body_failed: Callable[[], bool]
) -> Iterator[Callable[..., McpxHTTP]]:
    started: list[McpxHTTP] = []

    def start(
        backends: Mapping[str, str] | Sequence[Any] = (),
        *extra: str,
        stdio: bool = False,
        env: Mapping[str, str] | None = None,
        log_level: str | None = "debug",
        http: str | None = "127.0.0.1:0",
        wait: bool = True,
        stdin: Any = None,
    ) -> McpxHTTP:
        argv = mcpx_http_argv(mcpx_bin, backends, extra, http=http, stdio=stdio, log_level=log_level)
        kwargs: dict[str, Any] = {"stdio": stdio, "env": env}
        if stdin is not None:
            kwargs["stdin"] = stdin
        server = McpxHTTP(argv, tmp_path / f"mcpx-http-{len(started)}.stderr", processes, **kwargs)
        started.append(server)
        return server.wait_listening() if wait else server

    yield start

    problems: list[str] = []
    for server in started:
        was_running = server.alive()
        code = server.stop(EXIT_GRACE)
        if was_running and code is None:
            how = "stdin EOF" if server.stdio else "SIGTERM"
            problems.append(f"{' '.join(server.argv)}: still running {EXIT_GRACE}s after {how}")
            print(f"--- mcpx (pid {server.proc.pid}) still running after {how} ---\n{process_report(server.proc.pid)}")
        if body_failed() or (was_running and code is None):
            print(f"--- {' '.join(server.argv)}\n--- mcpx stderr (tail) ---\n{server.log_tail()}")
        server.close()
        if server.pipe is not None:
            problems += server.pipe.stdout_problems()
    assert not problems, "\n".join(problems)


@pytest.fixture(scope="session")
def sdk_backend(spawn_session_backend: Callable[..., Any]) -> Any:
    """One stateful Streamable HTTP backend written with the official SDK, named `s`, for the session
    (tools elicit_name, sample, roots, echo, progress, ...)."""

    def argv(port: int) -> list[str]:
        return [sys.executable, str(SDK_BACKEND), "--transport", "stateful", "--name", "s", "--port", str(port)]

    return spawn_session_backend("s", argv)


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"
