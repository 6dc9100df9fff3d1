"""Server-to-client requests through mcpx: a backend tool asks the SDK client for sampling,
elicitation or roots; mcpx forwards the request, the client's callback answers, the answer goes
back to the backend and shows up in the tool's result.

Only transports with a back-channel for server-initiated requests take part: stateful Streamable
HTTP (requests ride the POST's SSE stream) and the old HTTP+SSE transport. Stateless and
JSON-response backends cannot send requests at all (the SDK refuses), so they are left out.
"""

from __future__ import annotations

import json

import anyio
import mcp.types as types
import pytest
from mcp import MCPError

pytestmark = [pytest.mark.anyio, pytest.mark.transports("stateful", "sse")]


def text(result: types.CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, types.TextContent))


async def test_sampling_is_answered_by_the_client(open_mcpx, exposed_name, transport):
    async with open_mcpx(sampling=True) as (session, rec):
        result = await session.call_tool(exposed_name(transport, "sample"), {"prompt": f"ping-{transport}"})
        assert not result.is_error, text(result)
        assert text(result) == f"{transport} got sample [test-model]: sampled:ping-{transport}"
        assert len(rec.sampling_requests) == 1
        request = rec.sampling_requests[0]
        assert request.max_tokens == 64
        assert request.messages[0].content.text == f"ping-{transport}"


async def test_elicitation_is_answered_by_the_client(open_mcpx, exposed_name, transport):
    async with open_mcpx(elicitation=True) as (session, rec):
        result = await session.call_tool(exposed_name(transport, "elicit_name"), {})
        assert text(result) == f"{transport} says hello to Zed"
        assert len(rec.elicitation_requests) == 1
        asked = rec.elicitation_requests[0]
        assert asked.message == "What is your name?"
        assert "name" in asked.requested_schema["properties"]


async def test_elicitation_decline_reaches_the_backend(open_mcpx, exposed_name, transport):
    async with open_mcpx(elicitation=True) as (session, rec):
        rec.elicitation_answer = types.ElicitResult(action="decline")
        result = await session.call_tool(exposed_name(transport, "elicit_name"), {})
        assert text(result) == f"{transport}: elicitation decline"


async def test_roots_are_listed_by_the_client(open_mcpx, exposed_name, transport):
    async with open_mcpx(roots=True) as (session, rec):
        rec.roots = [
            types.Root(uri="file:///tmp/mcpx-root-a", name="a"),
            types.Root(uri="file:///tmp/mcpx-root-b", name="b"),
        ]
        result = await session.call_tool(exposed_name(transport, "roots"), {})
        assert not result.is_error, text(result)
        answer = json.loads(text(result))
        assert answer == {"server": transport, "roots": ["file:///tmp/mcpx-root-a", "file:///tmp/mcpx-root-b"]}
        assert rec.roots_requests >= 1


async def test_backends_are_told_the_clients_capabilities(open_mcpx, exposed_name, transport):
    """mcpx declares to a backend only what the upstream client supports."""
    async with open_mcpx(sampling=True, elicitation=True, roots=True) as (session, _):
        caps = json.loads(text(await session.call_tool(exposed_name(transport, "client_caps"), {})))
        assert "sampling" in caps and "elicitation" in caps and "roots" in caps, caps
    async with open_mcpx() as (session, _):
        caps = json.loads(text(await session.call_tool(exposed_name(transport, "client_caps"), {})))
        for capability in ("sampling", "elicitation", "roots"):
            assert capability not in caps, f"the client did not declare {capability}, mcpx did: {caps}"


async def test_sampling_without_client_support_fails_cleanly(open_mcpx, exposed_name, transport):
    """A client without sampling never sees the request; the backend's tool fails, nothing hangs.

    The SDK backend turns the refused sampling request into a JSON-RPC error of its own
    (-32600 "Sampling not supported" when it reaches an SDK client directly); mcpx passes a
    backend's error through, or the tool ends as an isError result. Either is a clean failure.
    """
    async with open_mcpx() as (session, rec):
        with anyio.fail_after(15):
            try:
                result = await session.call_tool(exposed_name(transport, "sample"), {"prompt": "nobody home"})
            except MCPError:
                pass
            else:
                assert result.is_error, f"sampling cannot succeed without a client that samples: {text(result)}"
        assert rec.sampling_requests == []
        assert text(await session.call_tool(exposed_name(transport, "echo"), {"text": "ok"})) == "ok"
