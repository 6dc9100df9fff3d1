"""Shared fixtures of the Python suites (Tests/e2e, Tests/interop).

Binaries come from the environment so CI and humans can point at any build:
  MCPX_BIN             default .build/debug/mcpx                    (relative to the repo root)
  MCPX_EXAMPLE_SERVER  default .build/debug/mcpx-example-server

Every process a fixture starts is registered by PID and killed by PID at teardown; nothing is
ever killed by name. Every test gets a pytest-timeout (DEFAULT_TEST_TIMEOUT unless it sets its
own), so no test can hang CI.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TEST_TIMEOUT = 60
BACKEND_START_TIMEOUT = 45.0  # SDK backends import pydantic & co. on a possibly busy machine
LISTENING_RE = re.compile(r"listening on (http://\S+)")


def _binary(env: str, default: str) -> Path:
    path = Path(os.environ.get(env) or default)
    return path if path.is_absolute() else REPO_ROOT / path


MCPX_BIN = _binary("MCPX_BIN", ".build/debug/mcpx")
EXAMPLE_SERVER_BIN = _binary("MCPX_EXAMPLE_SERVER", ".build/debug/mcpx-example-server")


# ---------------------------------------------------------------------------------------------
# pytest hooks
# ---------------------------------------------------------------------------------------------


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Give every test under Tests/ a timeout unless it declares its own, so nothing can hang CI."""
    for item in items:
        if item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(DEFAULT_TEST_TIMEOUT))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    """Keep each phase's report on the item so fixtures can dump logs when a test failed."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def _call_failed(node: pytest.Item) -> bool:
    report = getattr(node, "rep_call", None)
    return report is None or report.failed


# ---------------------------------------------------------------------------------------------
# Ports
# ---------------------------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_accepts(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_port(port: int, timeout: float = 10.0, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_accepts(port, host):
            return
        time.sleep(0.05)
    raise AssertionError(f"nothing accepts connections on {host}:{port} after {timeout}s")


# ---------------------------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------------------------


def tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


class Backend:
    """An HTTP MCP server process started by a test (example server or SDK backend).

    `argv_for_port(port)` builds the command line; `port=0` asks the server to pick one, and the
    URL is read from its `listening on http://...` line. `kill()` then `restart()` brings it back
    on the same port (the scenario "backend restarted while mcpx runs").
    """

    def __init__(
        self,
        name: str,
        argv_for_port: Callable[[int], list[str]],
        log_dir: Path,
        registry: ProcessRegistry,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self._argv_for_port = argv_for_port
        self._registry = registry
        self._cwd = cwd
        self.log_path = log_dir / f"backend-{name}-{id(self):x}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.port = 0

    def start(self, port: int = 0, timeout: float = BACKEND_START_TIMEOUT) -> Backend:
        """Start the process; with a fixed port, retry while the port is still being released."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._start_once(port, deadline)
                return self
            except AssertionError:
                if port == 0 or time.monotonic() >= deadline:
                    raise
                time.sleep(0.2)

    def _start_once(self, port: int, deadline: float) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child and to the drain thread
        proc = self._registry.spawn(self._argv_for_port(port), stdout=subprocess.PIPE, stderr=log, cwd=self._cwd)
        found = threading.Event()
        url: list[str] = []

        def drain() -> None:
            # Read the announcement, then keep draining stdout so the server never blocks on it.
            assert proc.stdout is not None
            for raw in iter(proc.stdout.readline, b""):
                text = raw.decode(errors="replace")
                if not found.is_set():
                    match = LISTENING_RE.search(text)
                    if match:
                        url.append(match.group(1))
                        found.set()
                        continue
                log.write(b"[stdout] " + raw)
                log.flush()
            found.set()

        threading.Thread(target=drain, name=f"drain-{self.name}", daemon=True).start()
        found.wait(max(0.1, deadline - time.monotonic()))
        if not url:
            self._registry.kill(proc)
            raise AssertionError(
                f"backend {self.name!r} did not announce 'listening on http://...' "
                f"(exit code {proc.poll()}):\n{tail(self.log_path)}"
            )
        self.proc = proc
        self.url = url[0]
        self.port = int(re.search(r":(\d+)/", self.url + "/").group(1))  # type: ignore[union-attr]
        wait_port(self.port, timeout=max(1.0, deadline - time.monotonic()))

    def kill(self) -> None:
        if self.proc is not None:
            self._registry.kill(self.proc)
            self.proc = None
        # The port must be free again before anyone relies on the backend being gone.
        deadline = time.monotonic() + 5
        while self.port and port_accepts(self.port) and time.monotonic() < deadline:
            time.sleep(0.05)

    def restart(self) -> Backend:
        assert self.port, "restart() needs a backend that ran before"
        self.kill()
        return self.start(port=self.port)

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


class ProcessRegistry:
    """Spawns processes and kills exactly those (by PID) when the scope ends."""

    def __init__(self) -> None:
        self._procs: list[subprocess.Popen[bytes]] = []
        self._lock = threading.Lock()

    def spawn(self, argv: Sequence[str], **kwargs) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen([str(a) for a in argv], **kwargs)  # noqa: S603
        with self._lock:
            self._procs.append(proc)
        return proc

    @staticmethod
    def kill(proc: subprocess.Popen[bytes], grace: float = 0.0) -> int | None:
        """Stop one process we started: optional grace period, then SIGKILL by PID, then reap."""
        if grace and proc.poll() is None:
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                pass
        if proc.poll() is None:
            try:
                proc.kill()
            except ProcessLookupError:
                pass
        try:
            return proc.wait(5)
        except subprocess.TimeoutExpired:
            return None

    def close(self) -> None:
        with self._lock:
            procs, self._procs = self._procs, []
        for proc in procs:
            self.kill(proc)
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                if stream is not None:
                    try:
                        stream.close()
                    except OSError:
                        pass


# ---------------------------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def processes() -> Iterator[ProcessRegistry]:
    """Per-test process registry: everything spawned through it dies at teardown."""
    registry = ProcessRegistry()
    yield registry
    registry.close()


@pytest.fixture(scope="session")
def session_processes() -> Iterator[ProcessRegistry]:
    registry = ProcessRegistry()
    yield registry
    registry.close()


@pytest.fixture(scope="session")
def mcpx_bin() -> Path:
    if not (MCPX_BIN.is_file() and os.access(MCPX_BIN, os.X_OK)):
        pytest.fail(
            f"mcpx binary not found at {MCPX_BIN}; build it (swift build) or set MCPX_BIN",
            pytrace=False,
        )
    return MCPX_BIN


@pytest.fixture(scope="session")
def example_server_bin() -> Path:
    if not (EXAMPLE_SERVER_BIN.is_file() and os.access(EXAMPLE_SERVER_BIN, os.X_OK)):
        pytest.fail(
            f"example server not found at {EXAMPLE_SERVER_BIN}; build it or set MCPX_EXAMPLE_SERVER",
            pytrace=False,
        )
    return EXAMPLE_SERVER_BIN


@pytest.fixture
def python_exe() -> str:
    return sys.executable


@pytest.fixture
def body_failed(request: pytest.FixtureRequest) -> Callable[[], bool]:
    """For teardown code: did the test body fail (or never run)?"""
    return lambda: _call_failed(request.node)


@pytest.fixture
def spawn_backend(processes: ProcessRegistry, tmp_path: Path) -> Callable[..., Backend]:
    """Start an HTTP backend: spawn_backend(name, argv_for_port, port=0) -> Backend (started)."""

    def spawn(name: str, argv_for_port: Callable[[int], list[str]], port: int = 0, start: bool = True) -> Backend:
        backend = Backend(name, argv_for_port, tmp_path, processes, cwd=REPO_ROOT)
        return backend.start(port=port) if start else backend

    return spawn


@pytest.fixture
def example(example_server_bin: Path, spawn_backend: Callable[..., Backend]) -> Callable[..., Backend]:
    """Start an example backend: example("a", "--extra-tools", "3", port=0, start=True) -> Backend."""

    def start(name: str, *args: str, port: int = 0, start: bool = True) -> Backend:
        def argv(p: int) -> list[str]:
            return [str(example_server_bin), "--port", str(p), "--name", name, *args]

        return spawn_backend(name, argv, port=port, start=start)

    return start


@pytest.fixture(scope="session")
def spawn_session_backend(session_processes: ProcessRegistry, tmp_path_factory: pytest.TempPathFactory):
    """Like spawn_backend, for backends shared by the whole session."""
    log_dir = tmp_path_factory.mktemp("backends")

    def spawn(name: str, argv_for_port: Callable[[int], list[str]], port: int = 0) -> Backend:
        return Backend(name, argv_for_port, log_dir, session_processes, cwd=REPO_ROOT).start(port=port)

    return spawn


@pytest.fixture
def get_free_port() -> Callable[[], int]:
    """get_free_port() -> a port on 127.0.0.1 with nothing listening (yet)."""
    return free_port
