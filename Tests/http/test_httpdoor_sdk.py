"""The official MCP Python SDK (mcp 2.3.0) as a Streamable HTTP client of mcpx's HTTP door:
tools, progress, and server-to-client requests (sampling, elicitation, roots) of an SDK backend
routed to the session whose call they belong to."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import mcp.types as types
import pytest
from mcp import ClientSession, MCPError
from mcp.client.session import ClientRequestContext
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]

REQUEST_TIMEOUT = 15.0


def text(result: types.CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, types.TextContent))


@dataclass
class Seen:
    name: str
    sampling: list[types.CreateMessageRequestParams] = field(default_factory=list)
    elicitation: list[Any] = field(default_factory=list)
    roots_requests: int = 0
    notifications: list[Any] = field(default_factory=list)
    logs: list[Any] = field(default_factory=list)


@asynccontextmanager
async def sdk_session(
    url: str,
    name: str,
    *,
    sampling: bool = False,
    elicitation: bool = False,
    roots: list[str] | None = None,
    token: str | None = None,
) -> AsyncIterator[tuple[ClientSession, Seen]]:
    """An SDK client session over Streamable HTTP; callbacks only for what is asked (so the declared
    capabilities follow the flags). Each callback answers with the session's own name."""
    seen = Seen(name)

    async def on_sampling(context: ClientRequestContext, params: types.CreateMessageRequestParams):
        seen.sampling.append(params)
        first = params.messages[0].content
        prompt = first.text if isinstance(first, types.TextContent) else "?"
        return types.CreateMessageResult(
            role="assistant", content=types.TextContent(type="text", text=f"{name} sampled {prompt}"),
            model=f"model-{name}", stop_reason="endTurn",
        )

    async def on_elicitation(context: ClientRequestContext, params: Any) -> types.ElicitResult:
        seen.elicitation.append(params)
        return types.ElicitResult(action="accept", content={"name": f"user-{name}"})

    async def on_roots(context: ClientRequestContext) -> types.ListRootsResult:
        seen.roots_requests += 1
        return types.ListRootsResult(roots=[types.Root(uri=u, name=u.rsplit("/", 1)[-1]) for u in roots or []])

    async def on_log(params: types.LoggingMessageNotificationParams) -> None:
        seen.logs.append(params)

    async def on_message(message: Any) -> None:
        seen.notifications.append(message)

    headers = {"Authorization": f"Bearer {token}"} if token else None
    async with create_mcp_http_client(headers=headers) as http_client:
        async with streamable_http_client(url, http_client=http_client) as (read, write):
            async with ClientSession(
                read, write,
                read_timeout_seconds=REQUEST_TIMEOUT,
                sampling_callback=on_sampling if sampling else None,
                elicitation_callback=on_elicitation if elicitation else None,
                list_roots_callback=on_roots if roots is not None else None,
                logging_callback=on_log,
                message_handler=on_message,
                client_info=types.Implementation(name=f"sdk-{name}", version="1.0.0"),
            ) as session:
                await session.initialize()
                yield session, seen


@pytest.fixture
def door(example, sdk_backend, mcpx_http):
    """mcpx --http in front of an example backend `a` and the SDK backend `s`."""
    a = example("a")
    return mcpx_http({"a": a.url, "s": sdk_backend.url})


async def test_sdk_lists_and_calls_tools(door):
    async with sdk_session(door.url, "x") as (session, _):
        tools = await session.list_tools()
        names = {t.name for t in tools.tools}
        assert {"a__echo", "s__echo", "s__elicit_name", "manage"} <= names, names
        result = await session.call_tool("a__echo", {"text": "sdk over http"})
        assert not result.is_error and text(result) == "sdk over http"
        result = await session.call_tool("s__add", {"a": 2, "b": 40})
        assert text(result) == "42"


async def test_sdk_progress_callback(door):
    async with sdk_session(door.url, "x") as (session, _):
        updates: list[tuple[float, float | None]] = []

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            updates.append((progress, total))

        result = await session.call_tool("a__progress", {"steps": 4, "delay_ms": 10}, progress_callback=on_progress)
        assert text(result) == "done 4 steps"
        assert [p for p, _ in updates] == [1, 2, 3, 4], updates
        assert all(t == 4 for _, t in updates), updates

        updates.clear()
        result = await session.call_tool("s__progress", {"steps": 3}, progress_callback=on_progress)
        assert text(result) == "s: 3 steps done"
        assert [p for p, _ in updates] == [1, 2, 3], updates


async def test_sdk_sampling_reaches_the_calling_session(door):
    async with (
        sdk_session(door.url, "x", sampling=True) as (x, seen_x),
        sdk_session(door.url, "y", sampling=True) as (y, seen_y),
    ):
        results: dict[str, types.CallToolResult] = {}

        async def call(name: str, session: ClientSession) -> None:
            results[name] = await session.call_tool("s__sample", {"prompt": f"prompt-{name}"})

        async with anyio.create_task_group() as tg:
            tg.start_soon(call, "x", x)
            tg.start_soon(call, "y", y)
        assert text(results["x"]) == "s got sample [model-x]: x sampled prompt-x"
        assert text(results["y"]) == "s got sample [model-y]: y sampled prompt-y"
        assert [p.messages[0].content.text for p in seen_x.sampling] == ["prompt-x"]
        assert [p.messages[0].content.text for p in seen_y.sampling] == ["prompt-y"]


async def test_sdk_elicitation_reaches_the_calling_session(door):
    async with (
        sdk_session(door.url, "x", elicitation=True) as (x, seen_x),
        sdk_session(door.url, "y", elicitation=True) as (y, seen_y),
        sdk_session(door.url, "z", elicitation=True) as (z, seen_z),
    ):
        results: dict[str, types.CallToolResult] = {}

        async def call(name: str, session: ClientSession) -> None:
            results[name] = await session.call_tool("s__elicit_name", {})

        async with anyio.create_task_group() as tg:
            tg.start_soon(call, "x", x)
            tg.start_soon(call, "y", y)
        assert text(results["x"]) == "s says hello to user-x"
        assert text(results["y"]) == "s says hello to user-y"
        assert len(seen_x.elicitation) == 1 and len(seen_y.elicitation) == 1
        assert seen_x.elicitation[0].message == "What is your name?"
        assert seen_z.elicitation == [], "a session that called nothing must not be asked"


async def test_sdk_elicitation_refused_without_capability(door):
    async with (
        sdk_session(door.url, "able", elicitation=True) as (_, seen_able),
        sdk_session(door.url, "unable") as (unable, _),
    ):
        with anyio.fail_after(12):
            try:
                result = await unable.call_tool("s__elicit_name", {})
            except MCPError:
                pass
            else:
                answer = text(result)
                assert result.is_error or "decline" in answer or "cancel" in answer, (
                    f"elicitation cannot succeed for a session without the capability: {answer}"
                )
                assert "says hello" not in answer
        assert seen_able.elicitation == [], "the request went to another session"
        assert text(await unable.call_tool("a__echo", {"text": "ok"})) == "ok"


async def test_sdk_roots_are_the_calling_sessions(door):
    async with (
        sdk_session(door.url, "x", roots=["file:///tmp/root-x"]) as (x, seen_x),
        sdk_session(door.url, "y", roots=["file:///tmp/root-y1", "file:///tmp/root-y2"]) as (y, seen_y),
    ):
        rx = json.loads(text(await x.call_tool("s__roots", {})))
        ry = json.loads(text(await y.call_tool("s__roots", {})))
        assert rx == {"server": "s", "roots": ["file:///tmp/root-x"]}
        assert ry == {"server": "s", "roots": ["file:///tmp/root-y1", "file:///tmp/root-y2"]}
        assert seen_x.roots_requests >= 1 and seen_y.roots_requests >= 1


async def test_sdk_logs_reach_only_the_calling_session(door):
    async with (
        sdk_session(door.url, "x") as (x, seen_x),
        sdk_session(door.url, "y") as (y, seen_y),
    ):
        assert text(await x.call_tool("a__log", {"level": "warning", "message": "only-for-x"})) == "logged"
        assert text(await y.call_tool("a__echo", {"text": "y"})) == "y"
        await anyio.sleep(0.3)
        assert any("only-for-x" in json.dumps(p.data) for p in seen_x.logs), seen_x.logs
        assert not any("only-for-x" in json.dumps(p.data) for p in seen_y.logs), seen_y.logs


async def test_sdk_client_with_token(example, mcpx_http):
    a = example("a")
    door = mcpx_http([a], "--http-token", "sdk-token")
    async with sdk_session(door.url, "x", token="sdk-token") as (session, _):
        assert text(await session.call_tool("a__echo", {"text": "with token"})) == "with token"
