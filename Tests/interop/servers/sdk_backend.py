"""An MCP backend written with the official Python SDK (mcp 2.x), for the interop suite.

    python sdk_backend.py --transport stateful|stateless|json|sse --name NAME [--port 0]

Binds 127.0.0.1:PORT itself (0 = any free port), then prints exactly one line on stdout:
``listening on http://127.0.0.1:PORT/mcp`` (``.../sse`` for the old HTTP+SSE transport) and serves
until killed. Every tool, resource and prompt answers with the server's NAME somewhere so a test
can tell which backend a routed request reached.

Transports (all from the SDK, nothing hand-rolled):
- stateful:  Streamable HTTP, session ids, SSE responses (server-to-client requests ride them)
- stateless: Streamable HTTP with ``stateless_http=True`` (no session, no server-to-client requests)
- json:      Streamable HTTP, stateful, ``json_response=True`` (plain JSON answers, no SSE)
- sse:       the 2024-11-05 HTTP+SSE transport (GET /sse + POST /messages/)
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import warnings
from typing import Any

import anyio
import mcp.types as types
import uvicorn
from mcp.server.lowlevel import NotificationOptions
from mcp.server.mcpserver import Context, MCPServer
from mcp.shared.exceptions import MCPDeprecationWarning
from mcp.shared.message import ServerMessageMetadata
from pydantic import BaseModel, Field

# Sampling, roots and logging are deprecated as of 2026-07-28; they are exactly what we test here.
warnings.filterwarnings("ignore", category=MCPDeprecationWarning)
warnings.filterwarnings("ignore", category=DeprecationWarning)

GREETING_URI = "test://greeting"
DATA_URI = "test://data.json"
ECHO_TEMPLATE = "test://echo/{text}"
NAMES = ["alice", "bob", "carol"]
WORDS = ["hello", "help", "world"]


class NameForm(BaseModel):
    """Elicitation form asked by the `elicit_name` tool."""

    name: str = Field(description="Your name")


def build(server_name: str) -> MCPServer:
    mcp = MCPServer(server_name, instructions=f"SDK interop backend {server_name}")
    low = mcp._lowlevel_server  # noqa: SLF001 - the only way to add subscribe/setLevel handlers
    # Observable state for the tests, queried through the `stats` tool.
    state: dict[str, Any] = {"cancelled": [], "finished": [], "subscribed": [], "log_level": None}

    # -- tools -----------------------------------------------------------------------------------
    @mcp.tool(description="Echo the text back")
    def echo(text: str) -> str:
        return text

    @mcp.tool(description="Add two integers")
    def add(a: int, b: int) -> int:
        return a + b

    @mcp.tool(description="Say which backend answered")
    def whoami() -> str:
        return server_name

    @mcp.tool(description="Report progress `steps` times, then return")
    async def progress(steps: int, ctx: Context, delay_ms: int = 20) -> str:
        for i in range(1, steps + 1):
            await ctx.report_progress(i, steps, f"step {i}/{steps}")
            await anyio.sleep(delay_ms / 1000)
        return f"{server_name}: {steps} steps done"

    @mcp.tool(description="Send one log message (notifications/message) to the client")
    async def log(level: types.LoggingLevel, message: str, ctx: Context) -> str:
        await ctx.log(level, message)
        return "logged"

    @mcp.tool(description="Sleep for `seconds`; records whether it was cancelled")
    async def slow(seconds: float, tag: str) -> str:
        try:
            await anyio.sleep(seconds)
        except anyio.get_cancelled_exc_class():
            state["cancelled"].append(tag)
            raise
        state["finished"].append(tag)
        return f"{server_name}: slept {seconds}s"

    @mcp.tool(description="Backend-side observations for the tests")
    def stats() -> dict[str, Any]:
        return dict(state)

    @mcp.tool(description="Ask the client to sample an LLM message and return its text")
    async def sample(prompt: str, ctx: Context) -> str:
        result = await ctx.session.create_message(
            messages=[types.SamplingMessage(role="user", content=types.TextContent(type="text", text=prompt))],
            max_tokens=64,
            related_request_id=ctx.request_context.request_id,
        )
        content = result.content
        text = content.text if isinstance(content, types.TextContent) else repr(content)
        return f"{server_name} got sample [{result.model}]: {text}"

    @mcp.tool(description="Ask the user for their name (form elicitation)")
    async def elicit_name(ctx: Context) -> str:
        answer = await ctx.elicit("What is your name?", schema=NameForm)
        if answer.action == "accept":
            return f"{server_name} says hello to {answer.data.name}"
        return f"{server_name}: elicitation {answer.action}"

    @mcp.tool(description="List the client's roots and return their URIs")
    async def roots(ctx: Context) -> str:
        result = await ctx.session.send_request(
            types.ListRootsRequest(),
            types.ListRootsResult,
            metadata=ServerMessageMetadata(related_request_id=ctx.request_context.request_id),
        )
        return json.dumps({"server": server_name, "roots": [str(r.uri) for r in result.roots]})

    @mcp.tool(description="The client capabilities this backend was given")
    def client_caps(ctx: Context) -> str:
        caps = ctx.session.client_capabilities
        dumped = caps.model_dump(by_alias=True, mode="json", exclude_none=True) if caps else {}
        return json.dumps(dumped)

    @mcp.tool(description="Send notifications/resources/updated for test://greeting")
    async def touch(ctx: Context) -> str:
        # 2026-07-28 delivers updates on subscriptions/listen streams; the handshake era on the session.
        if ctx.protocol_version == "2026-07-28":
            await ctx.notify_resource_updated(GREETING_URI)
        else:
            await ctx.session.send_resource_updated(GREETING_URI)
        return "touched"

    @mcp.tool(description="Add or remove the tool `ephemeral`, then send tools/list_changed")
    async def toggle(ctx: Context) -> str:
        if any(t.name == "ephemeral" for t in await mcp.list_tools()):
            mcp.remove_tool("ephemeral")
            present = False
        else:

            def ephemeral() -> str:
                return f"{server_name}: ephemeral"

            mcp.add_tool(ephemeral, name="ephemeral", description="Comes and goes")
            present = True
        if ctx.protocol_version == "2026-07-28":
            await ctx.notify_tools_changed()
        else:
            await ctx.session.send_tool_list_changed()
        return f"ephemeral present: {present}"

    # -- resources -------------------------------------------------------------------------------
    @mcp.resource(GREETING_URI, name="greeting", mime_type="text/plain", description="A greeting")
    def greeting() -> str:
        return f"Hello from {server_name}"

    @mcp.resource(DATA_URI, name="data", mime_type="application/json")
    def data() -> str:
        return json.dumps({"server": server_name, "items": [1, 2, 3]})

    @mcp.resource(ECHO_TEMPLATE, name="echo", mime_type="text/plain", description="Echo the path")
    def echo_resource(text: str) -> str:
        return f"{server_name} echoes {text}"

    async def on_subscribe(ctx: Any, params: types.SubscribeRequestParams) -> types.EmptyResult:
        state["subscribed"].append(str(params.uri))
        return types.EmptyResult()

    async def on_unsubscribe(ctx: Any, params: types.UnsubscribeRequestParams) -> types.EmptyResult:
        uri = str(params.uri)
        if uri in state["subscribed"]:
            state["subscribed"].remove(uri)
        return types.EmptyResult()

    async def on_set_level(ctx: Any, params: types.SetLevelRequestParams) -> types.EmptyResult:
        state["log_level"] = params.level
        return types.EmptyResult()

    low.add_request_handler("resources/subscribe", types.SubscribeRequestParams, on_subscribe)
    low.add_request_handler("resources/unsubscribe", types.UnsubscribeRequestParams, on_unsubscribe)
    low.add_request_handler("logging/setLevel", types.SetLevelRequestParams, on_set_level)

    # -- prompts and completion ------------------------------------------------------------------
    @mcp.prompt(name="greet", description="Greet someone")
    def greet(name: str) -> str:
        return f"{server_name} greets {name}"

    @mcp.completion()
    async def complete(ref: Any, argument: types.CompletionArgument, context: Any) -> types.Completion | None:
        if isinstance(ref, types.PromptReference) and argument.name == "name":
            pool = NAMES
        elif isinstance(ref, types.ResourceTemplateReference) and argument.name == "text":
            pool = WORDS
        else:
            return None
        values = [v for v in pool if v.startswith(argument.value)]
        return types.Completion(values=values, total=len(values), has_more=False)

    # Advertise list_changed for tools, resources and prompts (the SDK defaults them to false).
    original = low.create_initialization_options

    def init_options(
        notification_options: Any = None, experimental_capabilities: Any = None, extensions: Any = None
    ) -> Any:
        changed = NotificationOptions(prompts_changed=True, resources_changed=True, tools_changed=True)
        return original(changed, experimental_capabilities, extensions)

    low.create_initialization_options = init_options  # type: ignore[method-assign]
    return mcp


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--transport", choices=["stateful", "stateless", "json", "sse"], default="stateful")
    parser.add_argument("--name", default="sdk")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()

    mcp = build(args.name)
    if args.transport == "sse":
        app = mcp.sse_app()
        path = "/sse"
    else:
        app = mcp.streamable_http_app(
            stateless_http=args.transport == "stateless",
            json_response=args.transport == "json",
        )
        path = "/mcp"

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    print(f"listening on http://127.0.0.1:{port}{path}", flush=True)
    server.run(sockets=[sock])


if __name__ == "__main__":
    sys.exit(main())
