"""Fixtures of the interop suite: backends written with the official MCP Python SDK (2.x), served
over every transport it has, and the SDK's own stdio client driving mcpx in front of them.

SDK 2.x API used here (read from site-packages, mcp 2.3.0):
  client:  mcp.client.stdio.stdio_client(StdioServerParameters, errlog=...) -> (read, write)
           mcp.ClientSession(read, write, read_timeout_seconds=..., sampling_callback=,
               elicitation_callback=, list_roots_callback=, logging_callback=, message_handler=)
           sampling:    async (ClientRequestContext, CreateMessageRequestParams) -> CreateMessageResult | ErrorData
           elicitation: async (ClientRequestContext, ElicitRequestParams) -> ElicitResult | ErrorData
           roots:       async (ClientRequestContext) -> ListRootsResult | ErrorData
           logging:     async (LoggingMessageNotificationParams) -> None
           messages:    async (ServerNotification | Exception) -> None
           progress:    async (progress: float, total: float | None, message: str | None) -> None
  server:  mcp.server.mcpserver.MCPServer (formerly FastMCP): .streamable_http_app(stateless_http=,
           json_response=), .sse_app(); see servers/sdk_backend.py.

Naming assumptions about mcpx live here, each in one function: tools and prompts are exposed as
`<server>__<name>`; resource URIs as `exposed_uri(server, uri)`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import mcp.types as types
import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.session import ClientRequestContext
from mcp.client.stdio import get_default_environment, stdio_client

SERVERS_DIR = Path(__file__).resolve().parent / "servers"
SDK_BACKEND = SERVERS_DIR / "sdk_backend.py"
# Backend name == transport name, so a test reads e.g. `stateless__echo`.
TRANSPORTS = ("stateful", "stateless", "json", "sse")
REQUEST_TIMEOUT = 20.0  # per SDK request; the test timeout is the outer bound


# ---------------------------------------------------------------------------------------------
# mcpx naming (the one place to change when mcpx's mapping is decided)
# ---------------------------------------------------------------------------------------------


def exposed_name(server: str, name: str) -> str:
    """Tool and prompt names: `<server>__<name>`."""
    return f"{server}__{name}"


def exposed_uri(server: str, uri: str) -> str:
    """How mcpx exposes a backend's resource URI (and URI template). ASSUMPTION, not decided yet:
    the `alias+scheme:...` prefix that docs/protocol.md gives as an example."""
    return f"{server}+{uri}"


@pytest.fixture(name="exposed_uri")
def _exposed_uri() -> Callable[[str, str], str]:
    return exposed_uri


@pytest.fixture(name="exposed_name")
def _exposed_name() -> Callable[[str, str], str]:
    return exposed_name


# ---------------------------------------------------------------------------------------------
# Backends
# ---------------------------------------------------------------------------------------------


def pytest_configure(config: pytest.Config) -> None:
    # The SDK marks sampling/roots/logging/subscribe deprecated for 2026-07-28; mcpx speaks 2025-11-25.
    config.addinivalue_line("filterwarnings", "ignore::mcp.shared.exceptions.MCPDeprecationWarning")
    config.addinivalue_line(
        "markers", "transports(*names): run the test once per named SDK backend transport (default: all)"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test taking a `transport` argument runs once per transport (or per @transports(...))."""
    if "transport" in metafunc.fixturenames:
        marker = metafunc.definition.get_closest_marker("transports")
        metafunc.parametrize("transport", marker.args if marker else TRANSPORTS)


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def sdk_backends(spawn_session_backend: Callable[..., Any]) -> dict[str, Any]:
    """One SDK backend per transport for the whole session: {transport: Backend}."""

    def start(transport: str) -> Any:
        def argv(port: int) -> list[str]:
            return [
                sys.executable,
                str(SDK_BACKEND),
                "--transport",
                transport,
                "--name",
                transport,
                "--port",
                str(port),
            ]

        return spawn_session_backend(transport, argv)

    with ThreadPoolExecutor(len(TRANSPORTS)) as pool:
        started = list(pool.map(start, TRANSPORTS))
    return dict(zip(TRANSPORTS, started, strict=True))


# ---------------------------------------------------------------------------------------------
# The SDK client in front of mcpx
# ---------------------------------------------------------------------------------------------


@dataclass
class Recorder:
    """What the client saw: callbacks invoked, notifications received."""

    logs: list[types.LoggingMessageNotificationParams] = field(default_factory=list)
    notifications: list[Any] = field(default_factory=list)
    sampling_requests: list[types.CreateMessageRequestParams] = field(default_factory=list)
    elicitation_requests: list[Any] = field(default_factory=list)
    roots_requests: int = 0
    roots: list[types.Root] = field(default_factory=list)
    elicitation_answer: types.ElicitResult = field(
        default_factory=lambda: types.ElicitResult(action="accept", content={"name": "Zed"})
    )
    init: types.InitializeResult | None = None

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
        with anyio.move_on_after(timeout):
            while not (value := predicate()):
                await anyio.sleep(0.05)
            return value
        raise AssertionError(f"timed out after {timeout}s waiting for {what}")

    def of_type(self, kind: type) -> list[Any]:
        return [n for n in self.notifications if isinstance(n, kind)]


@pytest.fixture
def open_mcpx(mcpx_bin: Path, sdk_backends: dict[str, Any], tmp_path: Path, body_failed: Callable[[], bool]):
    """open_mcpx(servers=None, *, sampling=False, elicitation=False, roots=False, args=())
    -> async context manager yielding (ClientSession, Recorder) over a fresh mcpx.

    servers defaults to every SDK backend; callbacks are installed only when asked for, so the
    client's declared capabilities follow the flags.
    """
    logs: list[Path] = []

    @asynccontextmanager
    async def connect(
        servers: Mapping[str, str] | None = None,
        *,
        sampling: bool = False,
        elicitation: bool = False,
        roots: bool = False,
        args: tuple[str, ...] = (),
    ) -> AsyncIterator[tuple[ClientSession, Recorder]]:
        servers = servers if servers is not None else {name: b.url for name, b in sdk_backends.items()}
        argv = ["--stdio", "--log-level", "debug", *args]
        if servers:
            argv += ["--servers", ",".join(f"{k}={v}" for k, v in servers.items())]
        recorder = Recorder()

        async def on_sampling(
            context: ClientRequestContext, params: types.CreateMessageRequestParams
        ) -> types.CreateMessageResult:
            recorder.sampling_requests.append(params)
            first = params.messages[0].content
            text = first.text if isinstance(first, types.TextContent) else "?"
            return types.CreateMessageResult(
                role="assistant",
                content=types.TextContent(type="text", text=f"sampled:{text}"),
                model="test-model",
                stop_reason="endTurn",
            )

        async def on_elicitation(context: ClientRequestContext, params: Any) -> types.ElicitResult:
            recorder.elicitation_requests.append(params)
            return recorder.elicitation_answer

        async def on_roots(context: ClientRequestContext) -> types.ListRootsResult:
            recorder.roots_requests += 1
            return types.ListRootsResult(roots=recorder.roots)

        async def on_log(params: types.LoggingMessageNotificationParams) -> None:
            recorder.logs.append(params)

        async def on_message(message: Any) -> None:
            recorder.notifications.append(message)

        log_path = tmp_path / f"mcpx-{len(logs)}.stderr"
        logs.append(log_path)
        # A failure in the test body would leave the SDK's task groups wrapped around it as nested
        # ExceptionGroups; hold it, let the client shut down cleanly, then re-raise it bare.
        body_error: BaseException | None = None
        with open(log_path, "w") as errlog:
            # The SDK starts servers with a small environment (as Claude Desktop does); pass on
            # the choice of HTTP client when a run sets one (scripts/test.sh's libcurl pass).
            env = get_default_environment()
            if os.environ.get("MCPX_HTTP_CLIENT"):
                env["MCPX_HTTP_CLIENT"] = os.environ["MCPX_HTTP_CLIENT"]
            params = StdioServerParameters(command=str(mcpx_bin), args=argv, env=env)
            async with stdio_client(params, errlog=errlog) as (read, write):
                async with ClientSession(
                    read,
                    write,
                    read_timeout_seconds=REQUEST_TIMEOUT,
                    sampling_callback=on_sampling if sampling else None,
                    elicitation_callback=on_elicitation if elicitation else None,
                    list_roots_callback=on_roots if roots else None,
                    logging_callback=on_log,
                    message_handler=on_message,
                    client_info=types.Implementation(name="mcpx-interop", version="1.0.0"),
                ) as session:
                    recorder.init = await session.initialize()
                    try:
                        yield session, recorder
                    except anyio.get_cancelled_exc_class():
                        raise
                    except BaseException as exc:  # noqa: BLE001 - assertion or pytest outcome, re-raised below
                        body_error = exc
        if body_error is not None:
            raise body_error

    yield connect

    if body_failed():
        for path in logs:
            try:
                tail = "\n".join(path.read_text(errors="replace").splitlines()[-60:])
            except OSError:
                tail = ""
            print(f"--- mcpx stderr (tail) {path.name} ---\n{tail}")
