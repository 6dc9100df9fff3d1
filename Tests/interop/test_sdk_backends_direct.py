"""The SDK backends themselves, reached directly with the SDK's HTTP clients (no mcpx).

If these fail, the interop harness is broken, not mcpx. They also pin down what each transport
can do, which the mcpx tests rely on.
"""

from __future__ import annotations

from contextlib import asynccontextmanager

import mcp.types as types
import pytest
from mcp import ClientSession
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def direct_session(url: str, **callbacks):
    transport = sse_client(url) if url.endswith("/sse") else streamable_http_client(url)
    async with transport as (read, write):
        async with ClientSession(read, write, read_timeout_seconds=20, **callbacks) as session:
            await session.initialize()
            yield session


async def test_backend_answers_directly(sdk_backends, transport):
    seen: list[float] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append(progress)

    async with direct_session(sdk_backends[transport].url) as session:
        names = {t.name for t in (await session.list_tools()).tools}
        assert {"echo", "add", "whoami", "progress", "sample", "toggle"} <= names
        result = await session.call_tool("whoami", {})
        assert result.content[0].text == transport
        assert (await session.call_tool("add", {"a": 1, "b": 2})).structured_content == {"result": 3}
        await session.call_tool("progress", {"steps": 2}, progress_callback=on_progress)
        assert seen == ([] if transport == "json" else [1.0, 2.0])
        assert (await session.read_resource("test://greeting")).contents[0].text == f"Hello from {transport}"
        prompt = await session.get_prompt("greet", {"name": "Al"})
        assert prompt.messages[0].content.text == f"{transport} greets Al"
        ref = types.PromptReference(type="ref/prompt", name="greet")
        assert (await session.complete(ref, {"name": "name", "value": "b"})).completion.values == ["bob"]


@pytest.mark.transports("stateful", "sse")
async def test_backend_sampling_directly(sdk_backends, transport):
    async def sampling(context, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
        return types.CreateMessageResult(
            role="assistant", content=types.TextContent(type="text", text="direct"), model="m"
        )

    async with direct_session(sdk_backends[transport].url, sampling_callback=sampling) as session:
        result = await session.call_tool("sample", {"prompt": "x"})
        assert result.content[0].text == f"{transport} got sample [m]: direct"
