"""The official SDK's stdio client drives mcpx in front of SDK backends: handshake and tools."""

from __future__ import annotations

import logging
import re
import uuid

import anyio
import mcp.types as types
import pytest
from mcp import MCPError

pytestmark = pytest.mark.anyio
SDK_TOOLS = (
    "echo",
    "add",
    "whoami",
    "progress",
    "log",
    "slow",
    "stats",
    "sample",
    "elicit_name",
    "roots",
    "client_caps",
    "touch",
    "toggle",
)
NAME_RE = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
# Transports that can carry notifications on a request's response stream (json_response cannot).
streaming = pytest.mark.transports("stateful", "stateless", "sse")
# Transports that keep a session, so a later notifications/cancelled reaches the running request.
sessionful = pytest.mark.transports("stateful", "json", "sse")


def text(result: types.CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, types.TextContent))


async def test_handshake_through_the_sdk(open_mcpx):
    async with open_mcpx() as (session, rec):
        init = rec.init
        assert init is not None
        assert init.protocol_version == "2025-11-25"
        caps = init.capabilities
        assert caps.tools is not None and caps.tools.list_changed is True
        assert caps.prompts is not None, "backends have prompts: mcpx should advertise prompts"
        assert caps.resources is not None, "backends have resources: mcpx should advertise resources"
        assert caps.completions is not None, "backends complete arguments: mcpx should advertise completions"
        assert caps.logging is not None, "mcpx forwards log messages, so it must declare logging"
        assert init.server_info.name
        await session.send_ping()
        await session.set_logging_level("debug")


async def test_list_tools_from_every_transport(open_mcpx, exposed_name, sdk_backends):
    async with open_mcpx() as (session, _):
        listed = await session.list_tools()
        names = {tool.name for tool in listed.tools}
        assert listed.next_cursor is None or names, "first page must not be empty"
        cursor = listed.next_cursor
        while cursor:
            page = await session.list_tools(params=types.PaginatedRequestParams(cursor=cursor))
            names |= {tool.name for tool in page.tools}
            cursor = page.next_cursor
        for own in ("manage", "proxy_status", "proxy_health"):
            assert own in names
        for transport in sdk_backends:  # backend name == transport name
            for tool in SDK_TOOLS:
                assert exposed_name(transport, tool) in names, f"{exposed_name(transport, tool)} missing"
        assert all(NAME_RE.match(n) for n in names)


async def test_calls_reach_each_transport(open_mcpx, exposed_name, transport):
    async with open_mcpx() as (session, _):
        assert text(await session.call_tool(exposed_name(transport, "echo"), {"text": "hi \u00e9"})) == "hi \u00e9"
        assert text(await session.call_tool(exposed_name(transport, "whoami"), {})) == transport
        added = await session.call_tool(exposed_name(transport, "add"), {"a": 2, "b": 3})
        assert not added.is_error
        assert added.structured_content == {"result": 5}


async def test_calls_in_parallel_across_transports(open_mcpx, exposed_name, sdk_backends):
    async with open_mcpx() as (session, _):
        results: dict[tuple[str, int], str] = {}

        async def one(transport: str, i: int) -> None:
            result = await session.call_tool(exposed_name(transport, "echo"), {"text": f"{transport}-{i}"})
            results[(transport, i)] = text(result)

        async with anyio.create_task_group() as tg:
            for transport in sdk_backends:
                for i in range(5):
                    tg.start_soon(one, transport, i)
        assert results == {(t, i): f"{t}-{i}" for t in sdk_backends for i in range(5)}


async def test_unknown_tool_is_an_error(open_mcpx):
    async with open_mcpx() as (session, _):
        with pytest.raises(MCPError) as caught:
            await session.call_tool("stateful__no_such_tool", {})
        assert caught.value.error.code == -32602
        assert caught.value.error.message == "Unknown tool: stateful__no_such_tool"


@streaming
async def test_progress_reaches_the_clients_callback(open_mcpx, exposed_name, transport):
    async with open_mcpx() as (session, _):
        seen: list[tuple[float, float | None, str | None]] = []

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            seen.append((progress, total, message))

        result = await session.call_tool(
            exposed_name(transport, "progress"), {"steps": 3, "delay_ms": 30}, progress_callback=on_progress
        )
        assert not result.is_error
        # The SDK only calls on_progress for notifications carrying the token it sent.
        await anyio.sleep(0.2)
        assert [(p, t) for p, t, _ in seen] == [(1.0, 3.0), (2.0, 3.0), (3.0, 3.0)], seen
        assert seen[-1][2] == "step 3/3"


@streaming
async def test_log_messages_reach_the_logging_callback(open_mcpx, exposed_name, transport):
    async with open_mcpx() as (session, rec):
        marker = f"interop-log-{transport}-{uuid.uuid4().hex[:6]}"
        result = await session.call_tool(exposed_name(transport, "log"), {"level": "warning", "message": marker})
        assert not result.is_error
        entry = await rec.wait_for(
            lambda: next((m for m in rec.logs if m.data == marker), None), what=f"log message {marker}"
        )
        assert entry.level == "warning"
        assert entry.logger == transport, f"the logger should be the server name, got {entry.logger!r}"


@sessionful
async def test_cancel_reaches_the_backend_and_mcpx_keeps_working(open_mcpx, exposed_name, transport, caplog):
    # The SDK drops a response whose request it no longer waits for, logging it at debug level.
    caplog.set_level(logging.DEBUG, logger="mcp.shared.jsonrpc_dispatcher")
    # A 2026-07-28 cancel is the closed response stream, which the SDK's JSON-response mode cannot
    # see: that backend is met in the handshake era, where the cancel is a notification.
    args = ("--backend-protocol", "2025-11-25") if transport == "json" else ()
    async with open_mcpx(args=args) as (session, _):
        tag = f"cancel-{uuid.uuid4().hex[:8]}"
        started = anyio.current_time()
        with anyio.move_on_after(0.7) as scope:
            await session.call_tool(exposed_name(transport, "slow"), {"seconds": 3, "tag": tag})
        assert scope.cancelled_caught, "the slow call returned early"

        async def backend_saw_cancel() -> bool:
            stats = await session.call_tool(exposed_name(transport, "stats"), {})
            return tag in (stats.structured_content or {}).get("cancelled", [])

        with anyio.move_on_after(5):
            while not await backend_saw_cancel():
                await anyio.sleep(0.2)
        assert await backend_saw_cancel(), "notifications/cancelled did not reach the backend"
        assert text(await session.call_tool(exposed_name(transport, "echo"), {"text": "after"})) == "after"
        # Past the moment the slow call would have finished: no late answer may arrive.
        await anyio.sleep(max(0.0, started + 3.8 - anyio.current_time()))
        stats = await session.call_tool(exposed_name(transport, "stats"), {})
        assert tag not in (stats.structured_content or {}).get("finished", [])
    late = [r.getMessage() for r in caplog.records if "late request id" in r.getMessage()]
    assert not late, f"mcpx answered a cancelled request: {late}"


@pytest.mark.transports("stateful", "sse")
async def test_backend_tool_list_changed_is_forwarded(open_mcpx, exposed_name, transport):
    toggle, ephemeral = exposed_name(transport, "toggle"), exposed_name(transport, "ephemeral")
    async with open_mcpx() as (session, rec):
        names = {t.name for t in (await session.list_tools()).tools}
        assert ephemeral not in names
        try:
            assert "present: True" in text(await session.call_tool(toggle, {}))
            await rec.wait_for(lambda: rec.of_type(types.ToolListChangedNotification), what="tools/list_changed")
            names = {t.name for t in (await session.list_tools()).tools}
            assert ephemeral in names
            assert text(await session.call_tool(ephemeral, {})) == f"{transport}: ephemeral"
        finally:
            # The backends live for the whole session: leave `ephemeral` absent, as we found it.
            if "present: True" in text(await session.call_tool(toggle, {})):
                await session.call_tool(toggle, {})
