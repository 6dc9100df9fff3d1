"""Fixtures shared by Tests/faults, Tests/fuzz and Tests/soak (imported by their conftest.py).

They build on the session-wide fixtures of Tests/conftest.py (processes, spawn_backend, mcpx_bin,
example_server_bin): every process is started through the PID registry and killed by PID.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from e2e_harness import mcpx_argv
from faults_harness import HOSTILE_BACKEND, HostileClient, StrictPipe


@pytest.fixture
def hostile(spawn_backend: Callable[..., Any]) -> Callable[..., tuple[Any, HostileClient]]:
    """Start hostile_backend.py: hostile("h", "--mode", "hang") -> (Backend, HostileClient)."""

    def start(name: str = "hostile", *args: str, port: int = 0) -> tuple[Any, HostileClient]:
        def argv(p: int) -> list[str]:
            return [sys.executable, str(HOSTILE_BACKEND), "--port", str(p), *args]

        backend = spawn_backend(name, argv, port=port)
        return backend, HostileClient(backend.port)

    return start


@pytest.fixture
def mcpx(
    mcpx_bin: Path, processes: Any, tmp_path: Path, body_failed: Callable[[], bool]
) -> Iterator[Callable[..., StrictPipe]]:
    """Start mcpx on pipes: mcpx(backends, *extra_args, log_level="debug", wrap=()) -> StrictPipe.

    At teardown mcpx must still be alive (it never crashes), must exit 0 by itself once stdin
    closes, and must have written nothing but valid JSON-RPC (strict UTF-8, standard JSON) to
    stdout, with no id answered more often than it was asked.
    """
    started: list[StrictPipe] = []

    def start(
        backends: Mapping[str, str] | Sequence[Any] = (),
        *extra: str,
        log_level: str | None = "debug",
        wrap: Sequence[str] = (),
    ) -> StrictPipe:
        # `wrap`: a command that execs mcpx in the same process (e.g. prlimit --nofile=1024:1024).
        argv = [*wrap, *mcpx_argv(mcpx_bin, backends, extra, log_level)]
        pipe = StrictPipe(argv, tmp_path / f"mcpx-{len(started)}.stderr", processes)
        started.append(pipe)
        return pipe

    yield start

    problems: list[str] = []
    for pipe in started:
        code_before = pipe.proc.poll()
        if code_before is not None and not (pipe.expect_exit and code_before == 0):
            problems.append(f"mcpx died during the test (exit code {code_before})")
        pipe.close()
        code = pipe.proc.returncode
        if code_before is None and code != 0:
            problems.append(f"mcpx did not exit cleanly after EOF on stdin (exit code {code})")
        problems += [p for p in pipe.stdout_problems() if p not in pipe.reported]
        if problems or body_failed():
            print(f"--- {' '.join(pipe.argv)}\n--- mcpx stderr (tail) ---\n{pipe.stderr_tail()}")
    assert not problems, "mcpx broke a promise:\n" + "\n".join(problems)


__all__ = ["hostile", "mcpx"]
