"""An MCP backend written with the official Python SDK (mcp 2.3.0) that speaks one protocol era,
or both, for the protocol-revision tests (Tests/interop/test_protocol_2026.py).

    python sdk_era_backend.py --era legacy|modern|dual --transport stdio|http --name NAME [--port 0]
                              [--start-delay SECONDS]

Eras:
- legacy: the initialize handshake only (2024-11-05 .. 2025-11-25), as a server written before
  2026-07-28 behaves. `server/discover` (or any request carrying the 2026 `_meta` envelope) is
  answered -32601 Method not found. stdio: the SDK's handshake loop, built as `serve_loop` builds
  it, behind a request filter (the SDK's own dual-era loop would answer -32600 there). HTTP: the
  SDK's Streamable HTTP app behind an ASGI shim that answers `400` + -32601 to a request whose
  `MCP-Protocol-Version` header is not a handshake version (the SDK app itself would route such a
  request to its modern entry).
- modern: 2026-07-28 only. stdio: the SDK's modern stream loop (`_serve_modern_stream`, private);
  `initialize` gets -32022 naming the supported versions. HTTP: an ASGI shim in front of the SDK
  app: a request without a modern `MCP-Protocol-Version` header gets `400` + -32022 (POST) or
  `405` (anything else).
- dual: the SDK default (`MCPServer.run()` / `streamable_http_app()`), both eras; the client's
  first request (stdio) or the version header (HTTP) decides.

HTTP: binds 127.0.0.1:PORT itself (0 = any free port) and prints exactly one line on stdout,
``listening on http://127.0.0.1:PORT/mcp``. stdio: speaks MCP on stdin/stdout, logs to stderr.

Tools (every one era-aware where the eras differ):
  echo(text) -> text                  add(a, b) -> {"result": a + b} (structuredContent)
  fail() -> isError result            slow(steps, tag) -> progress + one info log per step
  nap(seconds, tag) -> sleeps; records whether it was cancelled (see `naps`)
  naps() -> {"cancelled": [...], "finished": [...]}
  bump(tool="extra") -> toggles the tool named `tool` (extra*), announces list changes and an
            update of test://greeting (legacy era: notifications on the session; modern era:
            the subscriptions/listen bus)
  ask() -> elicits a name and samples a message: legacy era via classic server->client requests
           (ctx.elicit + create_message), modern era via a hand-rolled InputRequiredResult
  ask2() -> the SDK resolver `Resolve(Elicit(...))`: both eras; -32021 (modern) when the
            request's envelope declares no form elicitation
  askroots() -> the client's roots (legacy: roots/list request; modern: InputRequiredResult)
  whoami() -> {"name": NAME, "protocolVersion": ctx.protocol_version, "era": ERA}
Prompt greet(name); resources test://greeting and template test://item/{id}; completion of
greet's `name` argument and of the template's `id`.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import warnings
from typing import Annotated, Any

import anyio
import mcp_types as types
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, MODERN_PROTOCOL_VERSIONS
from pydantic import BaseModel, Field

from mcp.server.lowlevel import NotificationOptions
from mcp.server.mcpserver import Context, Elicit, MCPServer, Resolve
from mcp.server.mcpserver.exceptions import ToolError
from mcp.shared.exceptions import MCPDeprecationWarning, MCPError
from mcp.shared.message import ServerMessageMetadata

# Sampling, roots, logging and resources/subscribe are deprecated at 2026-07-28; they are tested here.
warnings.filterwarnings("ignore", category=MCPDeprecationWarning)
warnings.filterwarnings("ignore", category=DeprecationWarning)

GREETING_URI = "test://greeting"
ITEM_TEMPLATE = "test://item/{id}"
NAMES = ["alice", "bob", "carol"]
ITEM_IDS = ["1", "12", "2"]


class NameForm(BaseModel):
    name: str = Field(description="Your name")


def ask_name() -> Elicit[NameForm]:
    """The resolver of `ask2` (module level: annotations are evaluated in the module's globals)."""
    return Elicit("Your name?", NameForm)


def _is_modern(ctx: Context) -> bool:
    return ctx.protocol_version in MODERN_PROTOCOL_VERSIONS


def _text_of(result: Any) -> str:
    content = getattr(result, "content", None)
    if isinstance(content, types.TextContent):
        return content.text
    if isinstance(content, list) and content and isinstance(content[0], types.TextContent):
        return content[0].text
    if isinstance(content, dict) and content.get("type") == "text":
        return str(content.get("text"))
    return repr(content)


def build(server_name: str, era: str) -> MCPServer:
    name = server_name
    mcp = MCPServer(
        name,
        version="1.0.0",
        instructions=f"era backend {name} ({era})",
        warn_on_duplicate_tools=False,
    )
    low = mcp._lowlevel_server  # noqa: SLF001 - subscribe/setLevel handlers and init options
    state: dict[str, Any] = {"cancelled": [], "finished": [], "subscribed": [], "log_level": None}

    # -- tools -----------------------------------------------------------------------------------
    @mcp.tool(description="Echo the text back")
    def echo(text: str) -> str:
        return text

    @mcp.tool(description="Add two integers")
    def add(a: int, b: int) -> int:
        return a + b

    @mcp.tool(description="Always fails (isError result)")
    def fail() -> str:
        raise ToolError(f"{name}: failed on purpose")

    @mcp.tool(description="Report progress and log once per step")
    async def slow(steps: int, ctx: Context, tag: str = "slow") -> str:
        for i in range(1, steps + 1):
            await ctx.report_progress(i, steps, f"step {i}/{steps}")
            await ctx.info(f"{tag} log {i}")
            await anyio.sleep(0.02)
        return f"{name}: {steps} steps done"

    @mcp.tool(description="Sleep for `seconds`; records whether it was cancelled")
    async def nap(seconds: float, tag: str = "") -> str:
        try:
            await anyio.sleep(seconds)
        except anyio.get_cancelled_exc_class():
            state["cancelled"].append(tag)
            raise
        state["finished"].append(tag)
        return f"{name}: rested {seconds}s"

    @mcp.tool(description="What happened to the naps")
    def naps() -> dict[str, Any]:
        return {"cancelled": list(state["cancelled"]), "finished": list(state["finished"])}

    @mcp.tool(description="Toggle the tool named `tool`, announce list changes and a resource update")
    async def bump(ctx: Context, tool: str = "extra") -> str:
        # Each client of a shared HTTP backend toggles a tool of its own: a handshake-era backend
        # tells only the calling session about the change, so the others' views would go stale.
        if not tool.startswith("extra"):
            raise ToolError("bump toggles only tools named extra*")
        if any(t.name == tool for t in await mcp.list_tools()):
            mcp.remove_tool(tool)
            present = False
        else:

            def extra() -> str:
                return f"{name}: {tool}"

            mcp.add_tool(extra, name=tool, description="Comes and goes with bump")
            present = True
        if _is_modern(ctx):
            await ctx.notify_tools_changed()
            await ctx.notify_prompts_changed()
            await ctx.notify_resources_changed()
            await ctx.notify_resource_updated(GREETING_URI)
        else:
            await ctx.session.send_tool_list_changed()
            await ctx.session.send_prompt_list_changed()
            await ctx.session.send_resource_list_changed()
            await ctx.session.send_resource_updated(GREETING_URI)
        return f"{name}: bumped, {tool} present: {present}"

    @mcp.tool(description="Elicit a name and sample a message (era-aware)")
    async def ask(ctx: Context) -> str | types.InputRequiredResult:
        if not _is_modern(ctx):  # handshake era: classic server->client requests mid-call
            answer = await ctx.elicit("Your name?", NameForm)
            if answer.action != "accept":
                return f"{name}: elicitation {answer.action}"
            sampled = await ctx.session.create_message(
                messages=[types.SamplingMessage(role="user", content=types.TextContent(type="text", text="hi"))],
                max_tokens=10,
                related_request_id=ctx.request_context.request_id,
            )
            return f"{name}: hello {answer.data.name}, sampled {_text_of(sampled)}"
        responses = ctx.input_responses or {}
        got_name, got_llm = responses.get("name"), responses.get("llm")
        if got_name is None or got_llm is None:
            return types.InputRequiredResult(
                input_requests={
                    "name": types.ElicitRequest(
                        params=types.ElicitRequestFormParams(
                            message="Your name?",
                            requested_schema={
                                "type": "object",
                                "properties": {"name": {"type": "string"}},
                                "required": ["name"],
                            },
                        )
                    ),
                    "llm": types.CreateMessageRequest(
                        params=types.CreateMessageRequestParams(
                            messages=[
                                types.SamplingMessage(role="user", content=types.TextContent(type="text", text="hi"))
                            ],
                            max_tokens=10,
                        )
                    ),
                },
                request_state="round-1",
            )
        content = getattr(got_name, "content", None) or {}
        return (
            f"{name}: hello {content.get('name')}, sampled {_text_of(got_llm)}, state={ctx.request_state}"
        )

    @mcp.tool(description="Elicit a name through the SDK resolver (both eras)")
    async def ask2(form: Annotated[NameForm, Resolve(ask_name)]) -> str:
        return f"{name}: hi {form.name}"

    @mcp.tool(description="The client's roots (era-aware)")
    async def askroots(ctx: Context) -> str | types.InputRequiredResult:
        if not _is_modern(ctx):
            result = await ctx.session.send_request(
                types.ListRootsRequest(),
                types.ListRootsResult,
                metadata=ServerMessageMetadata(related_request_id=ctx.request_context.request_id),
            )
            return json.dumps(sorted(str(r.uri) for r in result.roots))
        got = (ctx.input_responses or {}).get("roots")
        if got is None:
            return types.InputRequiredResult(input_requests={"roots": types.ListRootsRequest()})
        return json.dumps(sorted(str(r.uri) for r in getattr(got, "roots", [])))

    @mcp.tool(description="Which backend answered, over which protocol version")
    def whoami(ctx: Context) -> dict[str, Any]:
        return {"name": name, "protocolVersion": ctx.protocol_version, "era": era}

    # -- resources -------------------------------------------------------------------------------
    @mcp.resource(GREETING_URI, name="greeting", mime_type="text/plain", description="A greeting")
    def greeting() -> str:
        return f"Hello from {name}"

    @mcp.resource(ITEM_TEMPLATE, name="item", mime_type="text/plain", description="An item")
    def item(id: str) -> str:  # noqa: A002 - the template variable's name
        return f"{name} item {id}"

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

    # Handshake-era methods (the SDK answers them -32601 at 2026-07-28 whatever is registered).
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
        elif isinstance(ref, types.ResourceTemplateReference) and argument.name == "id":
            pool = ITEM_IDS
        else:
            return None
        values = [v for v in pool if v.startswith(argument.value)]
        return types.Completion(values=values, total=len(values), has_more=False)

    # Handshake era: advertise listChanged (the SDK defaults them to false there).
    original = low.create_initialization_options

    def init_options(
        notification_options: Any = None, experimental_capabilities: Any = None, extensions: Any = None
    ) -> Any:
        changed = NotificationOptions(prompts_changed=True, resources_changed=True, tools_changed=True)
        return original(changed, experimental_capabilities, extensions)

    low.create_initialization_options = init_options  # type: ignore[method-assign]
    return mcp


# -------------------------------------------------------------------------------------------------
# stdio
# -------------------------------------------------------------------------------------------------


async def serve_stdio(mcp: MCPServer, era: str) -> None:
    from mcp.server.stdio import stdio_server

    low = mcp._lowlevel_server  # noqa: SLF001
    if era == "dual":
        await mcp.run_stdio_async()
        return
    async with low.lifespan(low) as lifespan_state, stdio_server() as (read, write):
        if era == "modern":
            from mcp.server.runner import _serve_modern_stream  # private: the SDK's modern-only loop

            await _serve_modern_stream(low, read, write, lifespan_state=lifespan_state, raise_exceptions=False)
            return
        await _serve_legacy_only(low, read, write, lifespan_state)


async def _serve_legacy_only(low: Any, read: Any, write: Any, lifespan_state: Any) -> None:
    """The SDK's handshake loop (as `serve_loop`), with `server/discover` and every request carrying
    the 2026 envelope answered -32601, as a server that predates 2026-07-28 answers them."""
    from mcp.server.connection import Connection
    from mcp.server.runner import ServerRunner, _has_modern_envelope, aclose_shielded
    from mcp.shared.jsonrpc_dispatcher import JSONRPCDispatcher

    dispatcher = JSONRPCDispatcher(
        read, write, raise_handler_exceptions=False, inline_methods=frozenset({"initialize"})
    )
    connection = Connection.for_loop(dispatcher)
    runner = ServerRunner(low, connection, lifespan_state, init_options=low.create_initialization_options())

    async def on_request(dctx: Any, method: str, params: Any) -> Any:
        if method == "server/discover" or (method != "initialize" and _has_modern_envelope(params)):
            raise MCPError(code=types.METHOD_NOT_FOUND, message="Method not found", data=method)
        return await runner.on_request(dctx, method, params)

    try:
        await dispatcher.run(on_request, runner.on_notify)
    finally:
        await aclose_shielded(connection)


# -------------------------------------------------------------------------------------------------
# HTTP
# -------------------------------------------------------------------------------------------------


async def _read_body(receive: Any) -> bytes:
    body = b""
    while True:
        msg = await receive()
        body += msg.get("body", b"")
        if not msg.get("more_body"):
            return body


async def _no_receive() -> Any:
    return {"type": "http.disconnect"}


async def _json_error(scope: Any, send: Any, status: int, rid: Any, code: int, message: str, data: Any = None) -> None:
    from starlette.responses import Response

    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    body = json.dumps({"jsonrpc": "2.0", "id": rid, "error": error})
    await Response(body, status_code=status, media_type="application/json")(scope, _no_receive, send)


def http_app(mcp: MCPServer, era: str) -> Any:
    inner = mcp.streamable_http_app()  # stateful, SSE responses; dual-era by header
    if era == "dual":
        return inner

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await inner(scope, receive, send)
            return
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        version = headers.get("mcp-protocol-version")
        if era == "legacy":
            modern_header = version is not None and version not in HANDSHAKE_PROTOCOL_VERSIONS
            if not modern_header:
                await inner(scope, receive, send)
                return
            body = await _read_body(receive)
            try:
                req = json.loads(body)
            except ValueError:
                req = {}
            rid = req.get("id") if isinstance(req, dict) else None
            method = req.get("method") if isinstance(req, dict) else None
            await _json_error(scope, send, 400, rid, types.METHOD_NOT_FOUND, "Method not found", method)
            return
        # modern only
        if version in MODERN_PROTOCOL_VERSIONS:
            await inner(scope, receive, send)
            return
        if scope["method"] != "POST":
            from starlette.responses import Response

            await Response(status_code=405, headers={"Allow": "POST"})(scope, receive, send)
            return
        body = await _read_body(receive)
        try:
            req = json.loads(body)
        except ValueError:
            req = {}
        rid = req.get("id") if isinstance(req, dict) else None
        requested = version or ((req.get("params") or {}).get("protocolVersion") if isinstance(req, dict) else "")
        await _json_error(
            scope,
            send,
            400,
            rid,
            types.UNSUPPORTED_PROTOCOL_VERSION,
            "Unsupported protocol version",
            {"supported": list(MODERN_PROTOCOL_VERSIONS), "requested": requested or ""},
        )

    # Keep the inner app's lifespan (it runs the session manager).
    async def with_lifespan(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await inner(scope, receive, send)
        else:
            await app(scope, receive, send)

    return with_lifespan


def serve_http(mcp: MCPServer, era: str, port: int) -> None:
    import uvicorn

    app = http_app(mcp, era)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    bound = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=1))
    print(f"listening on http://127.0.0.1:{bound}/mcp", flush=True)
    server.run(sockets=[sock])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--era", choices=["legacy", "modern", "dual"], default="dual")
    parser.add_argument("--transport", choices=["stdio", "http"], default="stdio")
    parser.add_argument("--name", default="era")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument(
        "--start-delay",
        type=float,
        default=0.0,
        help="stdio: sleep this long before reading stdin (a slow-starting server; requests queue up)",
    )
    args = parser.parse_args()

    mcp = build(args.name, args.era)
    if args.transport == "http":
        serve_http(mcp, args.era, args.port)
    else:
        if args.start_delay > 0:
            import time

            time.sleep(args.start_delay)
        anyio.run(serve_stdio, mcp, args.era)


if __name__ == "__main__":
    sys.exit(main())
