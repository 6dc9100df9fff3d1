"""MCP revision 2026-07-28 through mcpx, with the official Python SDK (mcp 2.3.0) on both sides.

Front: the SDK `Client` starts mcpx over stdio (`--config FILE --log-level debug`) in one of three
modes: "legacy" (initialize, 2025-11-25), "2026-07-28" (per-request `_meta` envelope, no probe)
and "auto" (server/discover probe; mcpx answers it, so the client adopts 2026-07-28).
Back: `servers/sdk_era_backend.py` in each era (legacy = handshake only, modern = 2026-07-28 only,
dual = the SDK default) over stdio (mcpx starts it) and over Streamable HTTP (one process per era
for the whole module). Every backend is configured with `"protocol": "auto"` unless a test pins it.

Matrix (tests taking `front` and `backend`): {legacy, 2026-07-28} front x {legacy, modern, dual}
backend x {stdio, http}, one mcpx per front mode shared by the module (the backends are
stateless apart from the `extra` tool that `bump` toggles). Auto-mode fronts, fronts that declare
no client capabilities, protocol pins and raw-wire error cases have their own fixtures below.

Some tests exercise mcpx features still being built when this file was written; their
docstrings say "BEING BUILT" and name the part. They are meant to fail until it lands.
"""

from __future__ import annotations

import json
import logging
import sys
import uuid
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import pytest
from mcp import Client
from mcp.client.session import ClientRequestContext, ClientSession
from mcp.client.stdio import StdioServerParameters, get_default_environment, stdio_client
from mcp.shared.exceptions import MCPDeprecationWarning, MCPError
from mcp.shared.subscriptions import ResourceUpdated, ToolsListChanged

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "e2e"))
from e2e_harness import McpxPipe  # noqa: E402 - the raw stdio pipe of the e2e suite

warnings.filterwarnings("ignore", category=MCPDeprecationWarning)

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(45)]

SERVERS_DIR = Path(__file__).resolve().parent / "servers"
ERA_BACKEND = SERVERS_DIR / "sdk_era_backend.py"
MODERN = "2026-07-28"
HANDSHAKE = "2025-11-25"
ERAS = ("legacy", "modern", "dual")
BACKEND_TRANSPORTS = ("stdio", "http")
# Backend (server) names in mcpx: "<era>-<transport>", e.g. tools `modern-http__echo`.
BACKENDS = tuple(f"{era}-{tr}" for era in ERAS for tr in BACKEND_TRANSPORTS)
HTTP_BACKENDS = tuple(f"{era}-http" for era in ERAS)
# The protocol version mcpx should end up speaking with each era under "protocol": "auto".
EXPECTED_VERSION = {"legacy": HANDSHAKE, "modern": MODERN, "dual": MODERN}
FRONT_MODES = ("legacy", MODERN)
GREETING_URI = "test://greeting"
ITEM_TEMPLATE = "test://item/{id}"
REQUEST_TIMEOUT = 15.0
READY_TIMEOUT = 40.0
EVENT_TIMEOUT = 5.0  # for a notification / listen event that should arrive at once
ELICITED_NAME = "Zed"
ROOT_URI = "file:///tmp/era-root"


def era_of(backend: str) -> str:
    return backend.split("-")[0]


def text(result: Any) -> str:
    content = getattr(result, "content", None) or []
    return "\n".join(block.text for block in content if isinstance(block, types.TextContent))


# ---------------------------------------------------------------------------------------------
# Client side
# ---------------------------------------------------------------------------------------------


@dataclass
class Recorder:
    """What one SDK client saw: log messages, notifications, server-to-client requests."""

    logs: list[types.LoggingMessageNotificationParams] = field(default_factory=list)
    notifications: list[Any] = field(default_factory=list)
    elicitations: list[Any] = field(default_factory=list)
    samplings: list[types.CreateMessageRequestParams] = field(default_factory=list)
    roots_requests: int = 0

    async def wait_for(
        self, predicate: Callable[[], Any], timeout: float = EVENT_TIMEOUT, what: str = "condition"
    ) -> Any:
        with anyio.move_on_after(timeout):
            while not (value := predicate()):
                await anyio.sleep(0.05)
            return value
        raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@dataclass
class Front:
    client: Client
    mode: str
    rec: Recorder
    stderr: Path

    @property
    def extra(self) -> str:
        """The tool this front's `bump` calls toggle (one per front: backends are shared)."""
        return "extra_" + {"legacy": "legacy", MODERN: "modern", "auto": "auto"}[self.mode]

    @property
    def modern(self) -> bool:
        return self.client.protocol_version == MODERN

    def stderr_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.stderr.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@asynccontextmanager
async def open_front(
    mcpx_bin: Path,
    config: Path,
    mode: str,
    stderr: Path,
    *,
    capabilities: bool = True,
    log_level: types.LoggingLevel | None = "debug",
    extra_args: tuple[str, ...] = (),
) -> AsyncIterator[Front]:
    """An SDK Client in `mode` over a fresh mcpx with `config`. With `capabilities`, the client has
    elicitation, sampling and roots callbacks (so it declares those capabilities)."""
    rec = Recorder()

    async def on_elicit(ctx: ClientRequestContext, params: Any) -> types.ElicitResult:
        rec.elicitations.append(params)
        return types.ElicitResult(action="accept", content={"name": ELICITED_NAME})

    async def on_sample(
        ctx: ClientRequestContext, params: types.CreateMessageRequestParams
    ) -> types.CreateMessageResult:
        rec.samplings.append(params)
        first = params.messages[0].content
        said = first.text if isinstance(first, types.TextContent) else "?"
        return types.CreateMessageResult(
            role="assistant",
            content=types.TextContent(type="text", text=f"sampled:{said}"),
            model="test-model",
            stop_reason="endTurn",
        )

    async def on_roots(ctx: ClientRequestContext) -> types.ListRootsResult:
        rec.roots_requests += 1
        return types.ListRootsResult(roots=[types.Root(uri=ROOT_URI, name="era-root")])

    async def on_log(params: types.LoggingMessageNotificationParams) -> None:
        rec.logs.append(params)

    async def on_message(message: Any) -> None:
        rec.notifications.append(message)

    env = get_default_environment()
    params = StdioServerParameters(
        command=str(mcpx_bin),
        args=["--config", str(config), "--log-level", "debug", *extra_args],
        env=env,
    )
    # A failure in the body would come out of the SDK's task groups as nested ExceptionGroups:
    # hold it, let the client shut down cleanly, then re-raise it bare.
    body_error: BaseException | None = None
    with open(stderr, "w") as errlog:
        async with Client(
            stdio_client(params, errlog=errlog),
            mode=mode,  # type: ignore[arg-type]
            client_info=types.Implementation(name="mcpx-era-test", version="1.0.0"),
            elicitation_callback=on_elicit if capabilities else None,
            sampling_callback=on_sample if capabilities else None,
            list_roots_callback=on_roots if capabilities else None,
            logging_callback=on_log,
            message_handler=on_message,
            log_level=log_level,
            read_timeout_seconds=REQUEST_TIMEOUT,
            cache=None,
        ) as client:
            if mode == "legacy" and log_level is not None:
                await client.set_logging_level(log_level)
            try:
                yield Front(client, mode, rec, stderr)
            except anyio.get_cancelled_exc_class():
                raise
            except BaseException as exc:  # noqa: BLE001 - re-raised below
                body_error = exc
    if body_error is not None:
        raise body_error


async def all_tools(c: Client) -> list[types.Tool]:
    tools: list[types.Tool] = []
    cursor: str | None = None
    for _ in range(50):
        page = await c.list_tools(cursor=cursor)
        tools.extend(page.tools)
        cursor = page.next_cursor
        if not cursor:
            return tools
    raise AssertionError("tools/list pagination does not end")


async def tool_names(c: Client) -> set[str]:
    return {t.name for t in await all_tools(c)}


async def all_pages(fetch: Callable[[str | None], Any], attr: str) -> list[Any]:
    items: list[Any] = []
    cursor: str | None = None
    for _ in range(50):
        page = await fetch(cursor)
        items.extend(getattr(page, attr))
        cursor = page.next_cursor
        if not cursor:
            return items
    raise AssertionError(f"{attr} pagination does not end")


async def status_of(c: Client, server: str) -> dict[str, Any]:
    result = await c.call_tool("proxy_status", {})
    assert not result.is_error, text(result)
    servers = (result.structured_content or {}).get("servers") or []
    for entry in servers:
        if entry.get("name") == server:
            return entry
    raise AssertionError(f"proxy_status has no server {server!r}: {[s.get('name') for s in servers]}")


async def wait_ready(c: Client, servers: tuple[str, ...], timeout: float = READY_TIMEOUT) -> None:
    """Until proxy_status shows every server ready (mcpx's first tools/list waits only 5 s)."""
    last: dict[str, Any] = {}
    with anyio.move_on_after(timeout):
        while True:
            result = await c.call_tool("proxy_status", {})
            last = {s.get("name"): s for s in (result.structured_content or {}).get("servers") or []}
            if all(last.get(name, {}).get("status") == "ready" for name in servers):
                return
            await anyio.sleep(0.2)
    summary = {n: (s.get("status"), s.get("lastError")) for n, s in last.items()}
    raise AssertionError(f"backends not ready after {timeout}s: {summary}")


async def next_event(
    sub: Any, want: Callable[[Any], bool], timeout: float = EVENT_TIMEOUT, what: str = "event"
) -> Any:
    seen: list[Any] = []
    with anyio.move_on_after(timeout):
        async for event in sub:
            seen.append(event)
            if want(event):
                return event
    raise AssertionError(f"no {what} on the listen stream within {timeout}s (saw {seen})")


def error_text(exc: MCPError) -> str:
    return f"{exc.error.message} {json.dumps(exc.error.data, default=str)}"


# ---------------------------------------------------------------------------------------------
# Backends and mcpx configurations
# ---------------------------------------------------------------------------------------------


def backend_argv(era: str, transport: str, name: str, port: int | None = None) -> list[str]:
    argv = [sys.executable, str(ERA_BACKEND), "--era", era, "--transport", transport, "--name", name]
    if port is not None:
        argv += ["--port", str(port)]
    return argv


@pytest.fixture(scope="module")
def era_http_backends(spawn_session_backend: Callable[..., Any]) -> dict[str, Any]:
    """One HTTP backend per era for the module: {"legacy-http": Backend, ...}."""

    def start(name: str) -> Any:
        return spawn_session_backend(name, lambda port: backend_argv(era_of(name), "http", name, port))

    with ThreadPoolExecutor(len(HTTP_BACKENDS)) as pool:
        started = list(pool.map(start, HTTP_BACKENDS))
    return dict(zip(HTTP_BACKENDS, started, strict=True))


def stdio_entry(era: str, name: str, protocol: str = "auto") -> dict[str, Any]:
    return {"command": sys.executable, "args": backend_argv(era, "stdio", name)[1:], "protocol": protocol}


def http_entry(backend: Any, protocol: str = "auto") -> dict[str, Any]:
    return {"url": backend.url, "type": "http", "protocol": protocol}


def write_config(path: Path, servers: dict[str, dict[str, Any]]) -> Path:
    path.write_text(json.dumps({"mcpServers": servers}, indent=2))
    return path


@pytest.fixture(scope="module")
def full_config(tmp_path_factory: pytest.TempPathFactory, era_http_backends: dict[str, Any]) -> Path:
    """Every era over both transports, "protocol": "auto"."""
    servers: dict[str, dict[str, Any]] = {}
    for name in BACKENDS:
        era, tr = name.split("-")
        servers[name] = stdio_entry(era, name) if tr == "stdio" else http_entry(era_http_backends[name])
    return write_config(tmp_path_factory.mktemp("era-config") / "full.json", servers)


@pytest.fixture(scope="module")
def http_config(tmp_path_factory: pytest.TempPathFactory, era_http_backends: dict[str, Any]) -> Path:
    """The three HTTP backends only (cheap: mcpx starts no process)."""
    servers = {name: http_entry(b) for name, b in era_http_backends.items()}
    return write_config(tmp_path_factory.mktemp("era-config") / "http.json", servers)


@asynccontextmanager
async def module_front(
    mcpx_bin: Path, config: Path, mode: str, log_dir: Path, servers: tuple[str, ...], **kwargs: Any
) -> AsyncIterator[Front]:
    async with open_front(mcpx_bin, config, mode, log_dir / f"mcpx-{mode}.stderr", **kwargs) as front:
        try:
            await wait_ready(front.client, servers)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- mcpx stderr (tail) ---\n{front.stderr_tail()}") from None
        yield front


@pytest.fixture(scope="module")
async def legacy_front(anyio_backend: str, mcpx_bin: Path, full_config: Path, tmp_path_factory: Any):
    async with module_front(mcpx_bin, full_config, "legacy", tmp_path_factory.mktemp("front"), BACKENDS) as f:
        yield f


@pytest.fixture(scope="module")
async def modern_front(anyio_backend: str, mcpx_bin: Path, full_config: Path, tmp_path_factory: Any):
    async with module_front(mcpx_bin, full_config, MODERN, tmp_path_factory.mktemp("front"), BACKENDS) as f:
        yield f


@pytest.fixture(scope="module")
async def auto_front(anyio_backend: str, mcpx_bin: Path, http_config: Path, tmp_path_factory: Any):
    async with module_front(mcpx_bin, http_config, "auto", tmp_path_factory.mktemp("front"), HTTP_BACKENDS) as f:
        yield f


@pytest.fixture(scope="module")
async def legacy_front_nocaps(anyio_backend: str, mcpx_bin: Path, http_config: Path, tmp_path_factory: Any):
    async with module_front(
        mcpx_bin, http_config, "legacy", tmp_path_factory.mktemp("front"), HTTP_BACKENDS, capabilities=False
    ) as f:
        yield f


@pytest.fixture(scope="module")
async def modern_front_nocaps(anyio_backend: str, mcpx_bin: Path, http_config: Path, tmp_path_factory: Any):
    """A 2026 client that declares no capabilities and does not opt in to log messages."""
    async with module_front(
        mcpx_bin,
        http_config,
        MODERN,
        tmp_path_factory.mktemp("front"),
        HTTP_BACKENDS,
        capabilities=False,
        log_level=None,
    ) as f:
        yield f


def _with_tail(request: pytest.FixtureRequest, body_failed: Callable[[], bool], name: str) -> Iterator[Front]:
    front: Front = request.getfixturevalue(name)
    yield front
    if body_failed():
        print(f"--- mcpx stderr (tail) {front.stderr.name} ---\n{front.stderr_tail()}")


@pytest.fixture(params=FRONT_MODES)
def front(request: pytest.FixtureRequest, body_failed: Callable[[], bool]) -> Iterator[Front]:
    """The shared mcpx + SDK client of one front mode (full config)."""
    yield from _with_tail(request, body_failed, "legacy_front" if request.param == "legacy" else "modern_front")


@pytest.fixture(params=FRONT_MODES)
def nocaps_front(request: pytest.FixtureRequest, body_failed: Callable[[], bool]) -> Iterator[Front]:
    """The shared mcpx + SDK client without elicitation/sampling/roots (HTTP backends only)."""
    name = "legacy_front_nocaps" if request.param == "legacy" else "modern_front_nocaps"
    yield from _with_tail(request, body_failed, name)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


# ---------------------------------------------------------------------------------------------
# The front itself
# ---------------------------------------------------------------------------------------------


async def test_front_negotiates_its_era(front: Front):
    c = front.client
    if front.mode == "legacy":
        assert c.protocol_version == HANDSHAKE
        assert c.session.initialize_result is not None
        await c.send_ping()
    else:
        assert c.protocol_version == MODERN
        listed = await c.list_tools()
        assert listed.result_type == "complete"
        assert listed.ttl_ms is not None and listed.ttl_ms >= 0, "2026 list results carry ttlMs"
        assert listed.cache_scope in ("public", "private"), "2026 list results carry cacheScope"
        raw = await c.session.send_discover(MODERN)
        assert MODERN in raw["supportedVersions"]
        assert HANDSHAKE in raw["supportedVersions"]
        assert raw["resultType"] == "complete"
        assert raw["_meta"]["io.modelcontextprotocol/serverInfo"]["name"]
        caps = raw["capabilities"]
        assert caps.get("tools") and caps.get("prompts") and caps.get("resources"), caps


async def test_auto_front_adopts_2026(auto_front: Front):
    c = auto_front.client
    assert c.protocol_version == MODERN, "mcpx answers server/discover, so an auto client goes modern"
    assert c.session.discover_result is not None
    assert c.session.initialize_result is None
    assert c.server_info is not None and c.server_info.name


@pytest.mark.parametrize("server", HTTP_BACKENDS)
async def test_auto_front_reaches_every_era(auto_front: Front, exposed_name, server: str):
    c = auto_front.client
    assert text(await c.call_tool(exposed_name(server, "echo"), {"text": "auto é"})) == "auto é"
    added = await c.call_tool(exposed_name(server, "add"), {"a": 20, "b": 22})
    assert added.structured_content == {"result": 42}
    who = await c.call_tool(exposed_name(server, "whoami"), {})
    assert who.structured_content["protocolVersion"] == EXPECTED_VERSION[era_of(server)]
    async with c.listen(tools_list_changed=True) as sub:
        await c.call_tool(exposed_name(server, "bump"), {"tool": auto_front.extra})
        await next_event(sub, lambda e: isinstance(e, ToolsListChanged), what="ToolsListChanged")


# ---------------------------------------------------------------------------------------------
# The matrix: front mode x backend era x backend transport
# ---------------------------------------------------------------------------------------------


async def test_tools_are_listed_namespaced(front: Front, backend: str, exposed_name):
    names = await tool_names(front.client)
    for tool in ("echo", "add", "fail", "slow", "nap", "bump", "ask", "whoami"):
        assert exposed_name(backend, tool) in names, f"{exposed_name(backend, tool)} missing"
    for own in ("manage", "proxy_status", "proxy_health"):
        assert own in names


async def test_call_with_structured_content(front: Front, backend: str, exposed_name):
    c = front.client
    echoed = await c.call_tool(exposed_name(backend, "echo"), {"text": "héllo"})
    assert not echoed.is_error
    assert text(echoed) == "héllo"
    added = await c.call_tool(exposed_name(backend, "add"), {"a": 2, "b": 3})
    assert not added.is_error
    assert added.structured_content == {"result": 5}
    if front.modern:
        assert added.result_type == "complete"


async def test_is_error_passes_through(front: Front, backend: str, exposed_name):
    result = await front.client.call_tool(exposed_name(backend, "fail"), {})
    assert result.is_error
    assert f"{backend}: failed on purpose" in text(result)


async def test_progress_reaches_the_callback(front: Front, backend: str, exposed_name):
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    result = await front.client.call_tool(
        exposed_name(backend, "slow"),
        {"steps": 3, "tag": f"progress-{uuid.uuid4().hex[:6]}"},
        progress_callback=on_progress,
    )
    assert not result.is_error, text(result)
    await anyio.sleep(0.1)
    assert [(p, t) for p, t, _ in seen] == [(1.0, 3.0), (2.0, 3.0), (3.0, 3.0)], seen
    assert seen[-1][2] == "step 3/3"


async def test_cancelled_call_leaves_mcpx_healthy(front: Front, backend: str, exposed_name):
    c = front.client
    tag = f"cancel-{front.mode}-{uuid.uuid4().hex[:8]}"
    with anyio.move_on_after(0.6) as scope:
        await c.call_tool(exposed_name(backend, "nap"), {"seconds": 30, "tag": tag})
    assert scope.cancelled_caught, "the nap returned early"
    assert text(await c.call_tool(exposed_name(backend, "echo"), {"text": "after"})) == "after"

    async def backend_saw_cancel() -> bool:
        naps = await c.call_tool(exposed_name(backend, "naps"), {})
        return tag in (naps.structured_content or {}).get("cancelled", [])

    with anyio.move_on_after(5):
        while not await backend_saw_cancel():
            await anyio.sleep(0.2)
    assert await backend_saw_cancel(), "the cancellation did not reach the backend"
    status = await status_of(c, backend)
    assert status["status"] == "ready", status


async def test_tool_list_change_reaches_the_client(front: Front, backend: str, exposed_name):
    c, rec = front.client, front.rec
    extra = exposed_name(backend, front.extra)
    bump = {"tool": front.extra}
    await all_tools(c)  # a client is told about changes of lists it has fetched
    if front.modern:
        async with c.listen(tools_list_changed=True) as sub:
            assert sub.honored.tools_list_changed
            bumped = await c.call_tool(exposed_name(backend, "bump"), bump)
            await next_event(sub, lambda e: isinstance(e, ToolsListChanged), what="ToolsListChanged")
    else:
        since = len(rec.notifications)
        bumped = await c.call_tool(exposed_name(backend, "bump"), bump)
        await rec.wait_for(
            lambda: any(isinstance(n, types.ToolListChangedNotification) for n in rec.notifications[since:]),
            what="notifications/tools/list_changed",
        )
    present = f"{front.extra} present: True" in text(bumped)
    names = await tool_names(c)
    assert (extra in names) == present, f"{extra} present={present} after bump, listed: {extra in names}"


async def test_resources_list_and_read(front: Front, backend: str, exposed_uri):
    c = front.client
    greeting = exposed_uri(backend, GREETING_URI)
    resources = await all_pages(lambda cur: c.list_resources(cursor=cur), "resources")
    assert greeting in {str(r.uri) for r in resources}
    read = await c.read_resource(greeting)
    assert [getattr(x, "text", None) for x in read.contents] == [f"Hello from {backend}"]
    templates = await all_pages(lambda cur: c.list_resource_templates(cursor=cur), "resource_templates")
    assert exposed_uri(backend, ITEM_TEMPLATE) in {t.uri_template for t in templates}
    item = await c.read_resource(exposed_uri(backend, "test://item/7"))
    assert [getattr(x, "text", None) for x in item.contents] == [f"{backend} item 7"]


async def updates_after_bump(front: Front, bump_tool: str, wait: Callable[[float], Any], bumps: int) -> int:
    """Bump up to `bumps` times until `wait(timeout)` sees the update; returns how many bumps it took."""
    for attempt in range(1, bumps + 1):
        await front.client.call_tool(bump_tool, {"tool": front.extra})
        try:
            await wait(EVENT_TIMEOUT if attempt == bumps else 2.0)
            return attempt
        except AssertionError:
            if attempt == bumps:
                raise
    raise AssertionError("unreachable")


@asynccontextmanager
async def subscribed(front: Front, uri: str) -> AsyncIterator[Callable[[float], Any]]:
    """Subscribe to `uri` the front's way (2026: listen; handshake: resources/subscribe) and yield
    wait(timeout), which returns once an update of `uri` arrived after the last call of wait."""
    c, rec = front.client, front.rec
    if front.modern:
        async with c.listen(resource_subscriptions=[uri]) as sub:
            assert uri in (sub.honored.resource_subscriptions or []), sub.honored

            async def wait_listen(timeout: float) -> Any:
                return await next_event(
                    sub, lambda e: isinstance(e, ResourceUpdated) and e.uri == uri, timeout, f"ResourceUpdated({uri})"
                )

            yield wait_listen
        return
    await c.subscribe_resource(uri)
    since = [len(rec.notifications)]

    async def wait_notification(timeout: float) -> Any:
        def updated() -> Any:
            return next(
                (
                    n
                    for n in rec.notifications[since[0] :]
                    if isinstance(n, types.ResourceUpdatedNotification) and str(n.params.uri) == uri
                ),
                None,
            )

        found = await rec.wait_for(updated, timeout, f"notifications/resources/updated for {uri}")
        since[0] = len(rec.notifications)
        return found

    try:
        yield wait_notification
    finally:
        await c.unsubscribe_resource(uri)


async def test_resource_update_reaches_the_subscriber(front: Front, backend: str, exposed_name, exposed_uri):
    """Delivery of a backend's resource update to a subscriber (a second bump covers the race that
    test_subscription_is_live_once_acknowledged checks on its own)."""
    uri = exposed_uri(backend, GREETING_URI)
    async with subscribed(front, uri) as wait:
        await updates_after_bump(front, exposed_name(backend, "bump"), wait, bumps=2)


@pytest.mark.parametrize("server", ("modern-stdio", "modern-http"))
async def test_subscription_is_live_once_acknowledged(front: Front, server: str, exposed_name, exposed_uri):
    """Once mcpx acknowledged a subscription (listen ack / resources/subscribe answer), an update the
    backend publishes right after must reach the client. With a modern backend mcpx re-opens its own
    subscriptions/listen to the backend with the new filter; answering the client before the
    backend acknowledged that listen loses updates published in between (no replay at 2026)."""
    uri = exposed_uri(server, GREETING_URI)
    for round_ in range(3):
        async with subscribed(front, uri) as wait:
            await front.client.call_tool(exposed_name(server, "bump"), {"tool": front.extra})
            try:
                await wait(3.0)
            except AssertionError as exc:
                lost = f"round {round_ + 1}: an update published right after the acknowledgement was lost"
                raise AssertionError(f"{lost}: {exc}") from None


async def test_prompts_list_and_get(front: Front, backend: str, exposed_name):
    c = front.client
    prompts = await all_pages(lambda cur: c.list_prompts(cursor=cur), "prompts")
    assert exposed_name(backend, "greet") in {p.name for p in prompts}
    got = await c.get_prompt(exposed_name(backend, "greet"), {"name": "zed"})
    assert [getattr(m.content, "text", None) for m in got.messages] == [f"{backend} greets zed"]


async def test_completion(front: Front, backend: str, exposed_name, exposed_uri):
    c = front.client
    prompt = await c.complete(
        types.PromptReference(type="ref/prompt", name=exposed_name(backend, "greet")), {"name": "name", "value": "b"}
    )
    assert prompt.completion.values == ["bob"]
    template = await c.complete(
        types.ResourceTemplateReference(type="ref/resource", uri=exposed_uri(backend, ITEM_TEMPLATE)),
        {"name": "id", "value": "1"},
    )
    assert template.completion.values == ["1", "12"]


async def test_log_messages_reach_the_logging_callback(front: Front, backend: str, exposed_name):
    rec = front.rec
    tag = f"log-{front.mode}-{backend}-{uuid.uuid4().hex[:6]}"
    result = await front.client.call_tool(exposed_name(backend, "slow"), {"steps": 2, "tag": tag})
    assert not result.is_error, text(result)
    entry = await rec.wait_for(
        lambda: next((m for m in rec.logs if m.data == f"{tag} log 2"), None),
        timeout=3.0,
        what=f"log message '{tag} log 2'",
    )
    assert entry.level == "info"
    assert any(m.data == f"{tag} log 1" for m in rec.logs)


async def test_backend_era_in_whoami_and_status(front: Front, backend: str, exposed_name):
    expected = EXPECTED_VERSION[era_of(backend)]
    who = await front.client.call_tool(exposed_name(backend, "whoami"), {})
    assert who.structured_content == {"name": backend, "protocolVersion": expected, "era": era_of(backend)}
    status = await status_of(front.client, backend)
    assert status["protocolVersion"] == expected, status
    assert status["status"] == "ready", status


async def test_input_requests_are_bridged(front: Front, backend: str, exposed_name, caplog):
    """`ask` elicits a name and samples a message, in the backend's own era.

    Same era on both sides: classic forwarding (handshake) or InputRequiredResult passed through
    and retried by the SDK client (2026). BEING BUILT: handshake-era client x modern backend
    (mcpx turns inputRequests into elicitation/create + sampling/createMessage requests and retries
    the backend call with inputResponses + requestState); 2026 client x handshake-era backend
    (mcpx bridges the backend's mid-call requests into InputRequiredResult, or answers once with
    an error naming the method it could not bridge)."""
    caplog.set_level(logging.DEBUG, logger="mcp.shared.jsonrpc_dispatcher")
    c, rec = front.client, front.rec
    elicited, sampled = len(rec.elicitations), len(rec.samplings)
    reverse = front.modern and era_of(backend) == "legacy"
    try:
        result = await c.call_tool(exposed_name(backend, "ask"), {})
    except MCPError as exc:
        assert reverse, f"ask failed: {error_text(exc)}"
        assert "elicitation/create" in error_text(exc) or "sampling/createMessage" in error_text(exc), error_text(exc)
    else:
        if reverse and result.is_error:
            assert "elicitation/create" in text(result) or "sampling/createMessage" in text(result), text(result)
        else:
            assert not result.is_error, text(result)
            assert f"{backend}: hello {ELICITED_NAME}, sampled sampled:hi" in text(result), text(result)
            assert len(rec.elicitations) == elicited + 1
            assert len(rec.samplings) == sampled + 1
    await anyio.sleep(0.3)
    late = [r.getMessage() for r in caplog.records if "late request id" in r.getMessage()]
    assert not late, f"the call got more than one answer: {late}"


async def test_roots_are_bridged(front: Front, backend: str, exposed_name):
    """`askroots` asks for the client's roots (roots/list, or an InputRequiredResult at 2026).

    BEING BUILT for a handshake-era client x modern backend (inputRequests -> roots/list) and
    for a 2026 client x handshake-era backend (either bridged, or an error naming roots/list)."""
    c, rec = front.client, front.rec
    asked = rec.roots_requests
    reverse = front.modern and era_of(backend) == "legacy"
    try:
        result = await c.call_tool(exposed_name(backend, "askroots"), {})
    except MCPError as exc:
        assert reverse and "roots/list" in error_text(exc), error_text(exc)
        return
    if reverse and result.is_error:
        assert "roots/list" in text(result), text(result)
        return
    assert not result.is_error, text(result)
    assert json.loads(text(result)) == [ROOT_URI]
    assert rec.roots_requests == asked + 1


@pytest.mark.parametrize("server", ("modern-stdio", "modern-http", "dual-stdio", "dual-http"))
async def test_input_required_passes_through_to_a_2026_client(modern_front: Front, server: str, exposed_name):
    """A modern backend's InputRequiredResult reaches a 2026 client with its inputRequests, and the
    manual retry with inputResponses + the opaque requestState completes the call."""
    session = modern_front.client.session
    name = exposed_name(server, "ask")
    first = await session.call_tool(name, {}, allow_input_required=True)
    assert isinstance(first, types.InputRequiredResult), first
    assert set(first.input_requests or {}) == {"name", "llm"}
    assert first.request_state
    responses = {
        "name": types.ElicitResult(action="accept", content={"name": "Manual"}),
        "llm": types.CreateMessageResult(
            role="assistant", content=types.TextContent(type="text", text="by-hand"), model="m", stop_reason="endTurn"
        ),
    }
    final = await session.call_tool(
        name, {}, input_responses=responses, request_state=first.request_state, allow_input_required=True
    )
    assert isinstance(final, types.CallToolResult), final
    assert f"{server}: hello Manual, sampled by-hand, state=round-1" == text(final)


# ---------------------------------------------------------------------------------------------
# Clients that declared no capabilities
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("server", HTTP_BACKENDS)
async def test_missing_capability_is_named(nocaps_front: Front, server: str, exposed_name):
    """`ask2` needs form elicitation (the SDK resolver) and the client declared none.

    2026 client: a JSON-RPC error -32021 naming elicitation (the modern backend raises it on the
    capabilities mcpx forwards; BEING BUILT for the handshake-era backend: mcpx cannot bridge the
    backend's elicitation/create). Handshake-era client: an error naming elicitation, as an isError
    result (BEING BUILT for modern backends) or a JSON-RPC error."""
    c = nocaps_front.client
    try:
        result = await c.call_tool(exposed_name(server, "ask2"), {})
    except MCPError as exc:
        if nocaps_front.modern:
            assert exc.error.code == -32021, error_text(exc)
            required = (exc.error.data or {}).get("requiredCapabilities", {})
            assert "elicitation" in required, exc.error.data
        assert "elicitation" in error_text(exc).lower(), error_text(exc)
        return
    assert nocaps_front.mode == "legacy", f"expected -32021, got a result: {result}"
    assert result.is_error, f"expected an error naming elicitation, got {text(result)!r}"
    assert "elicitation" in text(result).lower(), text(result)
    assert nocaps_front.rec.elicitations == []


@pytest.mark.parametrize("server", ("modern-http", "dual-http"))
async def test_input_request_kind_the_client_lacks(nocaps_front: Front, server: str, exposed_name):
    """`ask` (hand-rolled InputRequiredResult: elicitation + sampling) for a client that declared
    neither. BEING BUILT: handshake-era client -> isError naming the method/capability mcpx could
    not bridge; 2026 client -> -32021 (mcpx must not pass on input requests the client did not
    declare), or an error naming them."""
    c = nocaps_front.client
    try:
        result = await c.call_tool(exposed_name(server, "ask"), {})
    except MCPError as exc:
        assert nocaps_front.modern, f"handshake client: expected an isError result, got {error_text(exc)}"
        assert exc.error.code == -32021, (
            f"expected -32021 from mcpx, got {exc.error.code} {error_text(exc)!r} (an error the SDK client "
            "raises itself means mcpx passed on input requests the client did not declare)"
        )
        assert "elicitation" in error_text(exc) or "sampling" in error_text(exc), error_text(exc)
        return
    assert result.is_error, text(result)
    assert any(word in text(result) for word in ("elicitation", "sampling")), text(result)


async def test_no_log_messages_without_log_level(modern_front_nocaps: Front, exposed_name):
    """A 2026 request without io.modelcontextprotocol/logLevel gets no notifications/message."""
    rec = modern_front_nocaps.rec
    tag = f"quiet-{uuid.uuid4().hex[:6]}"
    for server in HTTP_BACKENDS:
        result = await modern_front_nocaps.client.call_tool(exposed_name(server, "slow"), {"steps": 1, "tag": tag})
        assert not result.is_error, text(result)
    await anyio.sleep(0.5)
    assert [m.data for m in rec.logs if isinstance(m.data, str) and m.data.startswith(tag)] == []


# ---------------------------------------------------------------------------------------------
# Protocol pins
# ---------------------------------------------------------------------------------------------


async def test_protocol_pins(mcpx_bin: Path, era_http_backends: dict[str, Any], tmp_path: Path, exposed_name):
    """"protocol": "2025-11-25" forces the handshake with a dual-era backend; "2026-07-28" works
    with a modern backend and fails a handshake-only backend with a clear lastError."""
    servers = {
        "pin-dual-stdio": stdio_entry("dual", "pin-dual-stdio", HANDSHAKE),
        "pin-dual-http": http_entry(era_http_backends["dual-http"], HANDSHAKE),
        "pin-modern-http": http_entry(era_http_backends["modern-http"], MODERN),
        "pin-legacy-stdio": stdio_entry("legacy", "pin-legacy-stdio", MODERN),
        "pin-legacy-http": http_entry(era_http_backends["legacy-http"], MODERN),
    }
    config = write_config(tmp_path / "pins.json", servers)
    good = ("pin-dual-stdio", "pin-dual-http", "pin-modern-http")
    bad = ("pin-legacy-stdio", "pin-legacy-http")
    async with open_front(mcpx_bin, config, "legacy", tmp_path / "mcpx-pins.stderr") as front:
        c = front.client
        try:
            await wait_ready(c, good)
            pinned = (("pin-dual-stdio", HANDSHAKE), ("pin-dual-http", HANDSHAKE), ("pin-modern-http", MODERN))
            for name, expected in pinned:
                who = await c.call_tool(exposed_name(name, "whoami"), {})
                assert who.structured_content["protocolVersion"] == expected, (name, who.structured_content)
                assert (await status_of(c, name))["protocolVersion"] == expected
            statuses: dict[str, dict[str, Any]] = {}
            with anyio.move_on_after(15):
                while True:
                    statuses = {n: await status_of(c, n) for n in bad}
                    if all(s["status"] == "failed" and s.get("lastError") for s in statuses.values()):
                        break
                    await anyio.sleep(0.3)
            for name, s in statuses.items():
                assert s["status"] == "failed", (name, s)
                error = s.get("lastError") or ""
                assert MODERN in error, f"{name}: lastError should say the pinned version failed: {error!r}"
                assert s.get("protocolVersion") is None, s
        except BaseException:
            print(f"--- mcpx stderr (tail) ---\n{front.stderr_tail()}")
            raise


async def test_slow_dual_era_stdio_backend_still_ends_up_modern(mcpx_bin: Path, tmp_path: Path, exposed_name):
    """A dual-era stdio backend that starts slower than mcpx's server/discover timeout (5 s seen)
    reads the queued probe first, which makes its connection modern, so the fallback initialize
    gets -32022 naming 2026-07-28. mcpx should then re-probe at that version (as the SDK client
    does, `mcp/client/_probe.py`) rather than fail the connection and restart the process, which
    starts just as slowly the next time. Seen in this suite under load on 2 cores ("dual-stdio:
    connection failed: initialize failed: connection is serving the 2026-07-28 protocol")."""
    entry = stdio_entry("dual", "slow-dual")
    entry["args"] += ["--start-delay", "6"]
    config = write_config(tmp_path / "slow.json", {"slow-dual": entry})
    async with open_front(mcpx_bin, config, "legacy", tmp_path / "mcpx-slow.stderr") as front:
        try:
            await wait_ready(front.client, ("slow-dual",), timeout=12)
            who = await front.client.call_tool(exposed_name("slow-dual", "whoami"), {})
            assert who.structured_content["protocolVersion"] == MODERN, who.structured_content
        except BaseException:
            print(f"--- mcpx stderr (tail) ---\n{front.stderr_tail()}")
            raise


# ---------------------------------------------------------------------------------------------
# Raw wire: errors of the front (mcpx with no backends)
# ---------------------------------------------------------------------------------------------


def envelope(version: str = MODERN, capabilities: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    meta = {
        "io.modelcontextprotocol/protocolVersion": version,
        "io.modelcontextprotocol/clientInfo": {"name": "raw-2026", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {} if capabilities is None else capabilities,
    }
    meta.update(extra)
    return meta


@pytest.fixture
def raw_mcpx(mcpx_bin: Path, processes: Any, tmp_path: Path, body_failed: Callable[[], bool]) -> Iterator[McpxPipe]:
    """mcpx with no backends on raw stdio pipes (closed at teardown: mcpx must exit on EOF)."""
    pipe = McpxPipe([mcpx_bin, "--log-level", "debug"], tmp_path / "mcpx-raw.stderr", processes)
    yield pipe
    pipe.close()
    if body_failed():
        print(f"--- mcpx stderr (tail) ---\n{pipe.stderr_tail()}")
    problems = pipe.stdout_problems()
    assert not problems, "mcpx wrote something other than JSON-RPC lines to stdout:\n" + "\n".join(problems)


def test_discover_at_an_unknown_version_names_the_supported_ones(raw_mcpx: McpxPipe):
    error = raw_mcpx.error("server/discover", {"_meta": envelope("2030-01-01")})
    assert error["code"] == -32022, error
    assert MODERN in error["data"]["supported"], error
    assert HANDSHAKE in error["data"]["supported"], error
    assert error["data"]["requested"] == "2030-01-01"
    ok = raw_mcpx.result("server/discover", {"_meta": envelope()})
    assert MODERN in ok["supportedVersions"]


async def test_auto_client_renegotiates_after_unsupported_version(
    mcpx_bin: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """The SDK auto client's first probe is made at 2030-01-01: mcpx's -32022 names 2026-07-28,
    the client re-probes at it and connects modern (no fallback to initialize)."""
    original = ClientSession.send_discover
    probes: list[str] = []

    async def send_discover(self: ClientSession, version: str) -> dict[str, Any]:
        version = "2030-01-01" if not probes else version
        probes.append(version)
        return await original(self, version)

    monkeypatch.setattr(ClientSession, "send_discover", send_discover)
    config = write_config(tmp_path / "empty.json", {})
    async with open_front(mcpx_bin, config, "auto", tmp_path / "mcpx-auto.stderr") as front:
        assert probes == ["2030-01-01", MODERN]
        assert front.client.protocol_version == MODERN
        assert front.client.session.initialize_result is None
        assert "proxy_status" in await tool_names(front.client)


def test_envelope_without_client_capabilities_is_invalid_params(raw_mcpx: McpxPipe):
    meta = envelope()
    del meta["io.modelcontextprotocol/clientCapabilities"]
    error = raw_mcpx.error("tools/list", {"_meta": meta})
    assert error["code"] == -32602, error
    assert "clientCapabilities" in error["message"], error
    # A well-formed request on the same connection still works.
    assert "tools" in raw_mcpx.result("tools/list", {"_meta": envelope()})


@pytest.mark.parametrize(
    ("method", "params"),
    [("ping", {}), ("logging/setLevel", {"level": "debug"}), ("resources/subscribe", {"uri": "x+test://greeting"})],
)
def test_methods_removed_at_2026_are_not_found(raw_mcpx: McpxPipe, method: str, params: dict[str, Any]):
    error = raw_mcpx.error(method, {**params, "_meta": envelope()})
    assert error["code"] == -32601, error


def test_initialize_after_a_modern_request_is_refused(raw_mcpx: McpxPipe):
    raw_mcpx.result("server/discover", {"_meta": envelope()})
    error = raw_mcpx.error(
        "initialize",
        {"protocolVersion": HANDSHAKE, "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}},
    )
    assert error["code"] == -32022, error
    assert MODERN in error["data"]["supported"], error
