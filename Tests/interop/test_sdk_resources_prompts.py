"""Prompts, resources (+templates, subscribe) and completion through mcpx, via the SDK client.

Prompts are namespaced like tools (`<server>__<prompt>`); resource URIs through `exposed_uri`
(conftest.py), the single place that encodes mcpx's URI mapping.
"""

from __future__ import annotations

import json

import anyio
import mcp.types as types
import pytest
from mcp import MCPError

pytestmark = pytest.mark.anyio

GREETING, DATA, TEMPLATE = "test://greeting", "test://data.json", "test://echo/{text}"


async def all_pages(fetch, items: str) -> list:
    result = await fetch()
    collected = list(getattr(result, items))
    while result.next_cursor:
        result = await fetch(params=types.PaginatedRequestParams(cursor=result.next_cursor))
        collected += getattr(result, items)
    return collected


# --- prompts ------------------------------------------------------------------------------------


async def test_prompts_are_listed_namespaced(open_mcpx, exposed_name, sdk_backends):
    async with open_mcpx() as (session, _):
        prompts = {p.name: p for p in await all_pages(session.list_prompts, "prompts")}
        for server in sdk_backends:
            prompt = prompts.get(exposed_name(server, "greet"))
            assert prompt is not None, f"{exposed_name(server, 'greet')} missing from {sorted(prompts)}"
            assert prompt.description == "Greet someone"
            assert [(a.name, a.required) for a in prompt.arguments or []] == [("name", True)]


async def test_get_prompt_is_routed(open_mcpx, exposed_name, transport):
    async with open_mcpx() as (session, _):
        result = await session.get_prompt(exposed_name(transport, "greet"), {"name": "Ann"})
        assert len(result.messages) == 1
        assert result.messages[0].role == "user"
        assert result.messages[0].content.text == f"{transport} greets Ann"


async def test_unknown_prompt_is_an_error(open_mcpx):
    async with open_mcpx() as (session, _):
        with pytest.raises(MCPError) as caught:
            await session.get_prompt("no_such_server__greet", {"name": "x"})
        assert caught.value.error.code == -32602, "a prompt mcpx cannot route is invalid params"
        # An unknown prompt of a known server: mcpx's own -32602, or the backend's error passed through.
        with pytest.raises(MCPError):
            await session.get_prompt("stateful__no_such_prompt", {})
        assert (await session.get_prompt("stateful__greet", {"name": "x"})).messages


# --- resources ----------------------------------------------------------------------------------


async def test_resources_are_listed_with_exposed_uris(open_mcpx, exposed_uri, sdk_backends):
    async with open_mcpx() as (session, _):
        resources = {str(r.uri): r for r in await all_pages(session.list_resources, "resources")}
        for server in sdk_backends:
            for uri in (GREETING, DATA):
                assert exposed_uri(server, uri) in resources, f"{exposed_uri(server, uri)} missing: {sorted(resources)}"
            greeting = resources[exposed_uri(server, GREETING)]
            assert greeting.mime_type == "text/plain"
            assert greeting.description == "A greeting"
            assert resources[exposed_uri(server, DATA)].mime_type == "application/json"


async def test_resource_templates_are_listed_with_exposed_uris(open_mcpx, exposed_uri, sdk_backends):
    async with open_mcpx() as (session, _):
        templates = {t.uri_template: t for t in await all_pages(session.list_resource_templates, "resource_templates")}
        for server in sdk_backends:
            template = templates.get(exposed_uri(server, TEMPLATE))
            assert template is not None, f"{exposed_uri(server, TEMPLATE)} missing: {sorted(templates)}"
            assert template.description == "Echo the path"


async def test_read_resource_is_routed(open_mcpx, exposed_uri, transport):
    async with open_mcpx() as (session, _):
        greeting = await session.read_resource(exposed_uri(transport, GREETING))
        assert [c.text for c in greeting.contents] == [f"Hello from {transport}"]
        assert str(greeting.contents[0].uri) == exposed_uri(transport, GREETING), "URIs in results are mapped too"

        data = await session.read_resource(exposed_uri(transport, DATA))
        assert json.loads(data.contents[0].text) == {"server": transport, "items": [1, 2, 3]}
        assert data.contents[0].mime_type == "application/json"

        echoed = await session.read_resource(exposed_uri(transport, "test://echo/xyz"))
        assert echoed.contents[0].text == f"{transport} echoes xyz"
        assert str(echoed.contents[0].uri) == exposed_uri(transport, "test://echo/xyz")


async def test_unknown_resources_are_errors(open_mcpx, exposed_uri):
    async with open_mcpx() as (session, _):
        with pytest.raises(MCPError):
            await session.read_resource(exposed_uri("stateful", "test://missing"))
        with pytest.raises(MCPError) as caught:
            await session.read_resource(exposed_uri("no_such_server", GREETING))
        assert caught.value.error.code in (-32002, -32602)
        # and mcpx still serves
        assert (await session.read_resource(exposed_uri("stateful", GREETING))).contents


@pytest.mark.transports("stateful", "sse")
async def test_subscribe_and_updates(open_mcpx, exposed_uri, exposed_name, transport):
    uri = exposed_uri(transport, GREETING)

    async def backend_subscriptions(session) -> list[str]:
        stats = await session.call_tool(exposed_name(transport, "stats"), {})
        return (stats.structured_content or {}).get("subscribed", [])

    # resources/subscribe as a backend request exists only in the handshake era (at 2026-07-28
    # subscriptions ride subscriptions/listen; see test_protocol_2026.py).
    async with open_mcpx(args=("--backend-protocol", "2025-11-25")) as (session, rec):
        caps = rec.init.capabilities.resources
        assert caps is not None and caps.subscribe is True, "backends support subscribe: mcpx should too"
        before = (await backend_subscriptions(session)).count(GREETING)
        await session.subscribe_resource(uri)
        assert (await backend_subscriptions(session)).count(GREETING) == before + 1, (
            "the backend should get resources/subscribe with its own URI"
        )
        try:
            await session.call_tool(exposed_name(transport, "touch"), {})
            updated = await rec.wait_for(
                lambda: [n for n in rec.of_type(types.ResourceUpdatedNotification) if str(n.params.uri) == uri],
                what=f"notifications/resources/updated for {uri}",
            )
            assert updated
        finally:
            await session.unsubscribe_resource(uri)
        assert (await backend_subscriptions(session)).count(GREETING) == before


# --- completion ---------------------------------------------------------------------------------


async def test_prompt_argument_completion(open_mcpx, exposed_name, transport):
    async with open_mcpx() as (session, _):
        ref = types.PromptReference(type="ref/prompt", name=exposed_name(transport, "greet"))
        result = await session.complete(ref, {"name": "name", "value": "a"})
        assert result.completion.values == ["alice"]
        result = await session.complete(ref, {"name": "name", "value": ""})
        assert result.completion.values == ["alice", "bob", "carol"]


async def test_resource_template_completion(open_mcpx, exposed_uri, transport):
    async with open_mcpx() as (session, _):
        ref = types.ResourceTemplateReference(type="ref/resource", uri=exposed_uri(transport, TEMPLATE))
        result = await session.complete(ref, {"name": "text", "value": "he"})
        assert result.completion.values == ["hello", "help"]


async def test_everything_at_once(open_mcpx, exposed_name, exposed_uri, sdk_backends):
    """Prompts, resources and tools of every backend in parallel on one mcpx."""
    async with open_mcpx() as (session, _):
        outcomes: list[str] = []

        async def work(server: str) -> None:
            prompt = await session.get_prompt(exposed_name(server, "greet"), {"name": "Bo"})
            resource = await session.read_resource(exposed_uri(server, GREETING))
            tool = await session.call_tool(exposed_name(server, "whoami"), {})
            outcomes.append(f"{prompt.messages[0].content.text}|{resource.contents[0].text}|{tool.content[0].text}")

        async with anyio.create_task_group() as tg:
            for server in sdk_backends:
                tg.start_soon(work, server)
        assert sorted(outcomes) == sorted(f"{s} greets Bo|Hello from {s}|{s}" for s in sdk_backends)
