"""Tool search: --expose all|search|auto, search_tools / describe_tools / call_tool, and `mcpx search`.

In search mode tools/list carries only mcpx's own tools (manage, proxy_status, proxy_health) and the
three search tools (plus --always-expose matches); every backend tool stays reachable through
search_tools -> describe_tools -> call_tool. `auto` (the default) switches to search mode once the
listed tools would exceed --expose-limit. `mcpx search --catalog FILE` ranks a catalog's tools for
`{"query"}` lines on stdin, `mcpx search QUERY` ranks the tools of live servers.
"""

from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from e2e_harness import EXAMPLE_TOOLS, OWN_TOOLS, McpxPipe, text_of

SEARCH_TOOLS = ("search_tools", "describe_tools", "call_tool")
FIXED_TOOLS = frozenset(OWN_TOOLS + SEARCH_TOOLS)
ALWAYS_LOAD = "anthropic/alwaysLoad"
CATALOG_A = Path("/work/shared/data/tool-catalog-a.json")
DEVSET_A = Path(__file__).resolve().parent.parent / "search" / "devset-a.jsonl"
HIT_LINE = re.compile(r"^(\S+__\S+) — (.*) — (.*)$")
RUN_TIMEOUT = 30

pytestmark = pytest.mark.timeout(30)


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def ok(response: dict[str, Any]) -> dict[str, Any]:
    """The result of a tools/call response that must not be an error of any kind."""
    assert "result" in response, f"expected a result, got {response}"
    assert not response["result"].get("isError"), f"unexpected isError: {response['result']}"
    return response["result"]


def search(pipe: McpxPipe, query: str, **extra: Any) -> dict[str, Any]:
    """search_tools; returns the (successful) result."""
    return ok(pipe.call_tool("search_tools", {"query": query, **extra}))


def hit_names(result: dict[str, Any]) -> list[str]:
    structured = result.get("structuredContent")
    assert isinstance(structured, dict), f"search_tools should answer with structuredContent: {result}"
    assert isinstance(structured.get("tools"), list), structured
    return [t["name"] for t in structured["tools"]]


def hit_lines(result: dict[str, Any]) -> list[str]:
    """The text lines that describe a hit (`server__tool — sentence — params`)."""
    return [line for line in text_of(result).splitlines() if HIT_LINE.match(line)]


def with_name(definition: dict[str, Any], name: str) -> dict[str, Any]:
    return {**definition, "name": name}


def start_ready(mcpx, backends, *extra: str, expect: str | None = None) -> McpxPipe:
    """mcpx initialized, with the backends' tools known (searchable) before the test goes on."""
    pipe: McpxPipe = mcpx(backends, *extra)
    pipe.initialize()
    wanted = [f"{b.name}__echo" for b in backends] if expect is None else [expect]
    deadline = time.monotonic() + 10
    while True:
        result = ok(pipe.call_tool("search_tools", {"query": "returns the given text unchanged", "limit": 50}))
        names = hit_names(result)
        if all(w in names for w in wanted):
            return pipe
        if time.monotonic() > deadline:
            raise AssertionError(f"backends never became searchable: {names}")
        pipe.drain(0.2)


def run_mcpx(mcpx_bin: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1"}
    return subprocess.run(  # noqa: S603
        [str(mcpx_bin), *args],
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        timeout=RUN_TIMEOUT,
        check=False,
    )


@pytest.fixture
def ab(example):
    """Two example backends, a and b."""
    return example("a"), example("b")


# ---------------------------------------------------------------------------------------------
# tools/list in the three modes
# ---------------------------------------------------------------------------------------------


def test_search_mode_lists_just_the_fixed_tools(ab, mcpx):
    pipe = start_ready(mcpx, ab, "--expose", "search")
    names = pipe.tool_names()
    assert len(names) == len(set(names)), f"duplicate names in tools/list: {names}"
    assert set(names) == FIXED_TOOLS, f"search mode should list exactly {sorted(FIXED_TOOLS)}, got {names}"


def test_own_tools_carry_always_load(ab, mcpx):
    pipe = start_ready(mcpx, ab, "--expose", "search")
    tools = {t["name"]: t for t in pipe.list_tools()}
    for name in FIXED_TOOLS:
        assert tools[name].get("_meta", {}).get(ALWAYS_LOAD) is True, f"{name} lacks _meta {ALWAYS_LOAD}: {tools[name]}"

    listed = {t["name"]: t for t in start_ready(mcpx, ab, "--expose", "all").list_tools()}
    for name in OWN_TOOLS:
        assert listed[name].get("_meta", {}).get(ALWAYS_LOAD) is True, f"{name} lacks _meta in all mode"
    for name, tool in listed.items():
        if "__" in name:
            assert ALWAYS_LOAD not in tool.get("_meta", {}), f"backend tool {name} must not get {ALWAYS_LOAD}"


@pytest.mark.parametrize(("limit", "searching"), [(12, False), (11, True)], ids=["at-limit-all", "over-limit-search"])
def test_auto_is_the_default_and_counts_own_tools(example, mcpx, limit, searching):
    a = example("a")  # 9 tools + mcpx's own 3 = 12 listed in all mode
    pipe = start_ready(mcpx, [a], "--expose-limit", str(limit))
    names = set(pipe.tool_names())
    if searching:
        assert names == FIXED_TOOLS, f"12 tools > limit {limit}: search mode expected, got {sorted(names)}"
    else:
        expected = set(OWN_TOOLS) | {f"a__{t}" for t in EXAMPLE_TOOLS}
        assert names == expected, f"12 tools <= limit {limit}: every tool, no search tools; got {sorted(names)}"


def test_auto_switches_to_search_when_manage_add_crosses_the_limit(example, mcpx, manage):
    a, b = example("a"), example("b")
    pipe = start_ready(mcpx, [a], "--expose", "auto", "--expose-limit", "12")
    assert set(pipe.tool_names()) == set(OWN_TOOLS) | {f"a__{t}" for t in EXAMPLE_TOOLS}

    mark = len(pipe.notifications)
    ok(manage(pipe, "add", name="b", url=b.url))
    pipe.wait_notification("notifications/tools/list_changed", since=mark)
    names = pipe.tool_names()
    assert set(names) == FIXED_TOOLS, f"21 tools > 12: tools/list should switch to search mode, got {names}"
    assert text_of(ok(pipe.call_tool("call_tool", {"name": "b__whoami"}))) == "b"
    assert text_of(ok(pipe.call_tool("call_tool", {"name": "a__echo", "arguments": {"text": "hi"}}))) == "hi"


def test_auto_switches_back_when_manage_remove_goes_under_the_limit(ab, mcpx, manage):
    pipe = start_ready(mcpx, ab, "--expose-limit", "12")
    assert set(pipe.tool_names()) == FIXED_TOOLS

    mark = len(pipe.notifications)
    ok(manage(pipe, "remove", name="b"))
    pipe.wait_notification("notifications/tools/list_changed", since=mark)
    assert set(pipe.tool_names()) == set(OWN_TOOLS) | {f"a__{t}" for t in EXAMPLE_TOOLS}


def test_all_mode_hides_search_tools_but_they_work(ab, mcpx, direct):
    # --expose all ignores the limit.
    pipe = start_ready(mcpx, ab, "--expose", "all", "--expose-limit", "5")
    names = pipe.tool_names()
    expected = set(OWN_TOOLS) | {f"{s}__{t}" for s in "ab" for t in EXAMPLE_TOOLS}
    assert set(names) == expected, f"all mode lists every tool and no search tools: {sorted(names)}"

    assert text_of(ok(pipe.call_tool("call_tool", {"name": "b__echo", "arguments": {"text": "via"}}))) == "via"
    assert hit_names(search(pipe, "add two numbers"))[:2] in (["a__add", "b__add"], ["b__add", "a__add"])
    described = ok(pipe.call_tool("describe_tools", {"names": ["a__add"]}))["structuredContent"]
    backend_add = next(t for t in direct(ab[0].url).list_tools() if t["name"] == "add")
    assert described["tools"] == [with_name(backend_add, "a__add")]


def test_always_expose_lists_matching_tools_in_search_mode(ab, mcpx):
    # One exact exposed name, one wildcard on the tool's own name (matches on both servers).
    pipe = start_ready(mcpx, ab, "--expose", "search", "--always-expose", "a__echo", "--always-expose", "who*")
    names = pipe.tool_names()
    assert len(names) == len(set(names)), names
    assert set(names) == FIXED_TOOLS | {"a__echo", "a__whoami", "b__whoami"}, sorted(names)
    assert text_of(pipe.call_ok("a__echo", {"text": "listed"})) == "listed"


def test_config_file_expose_and_always_expose(ab, mcpx, tmp_path):
    a, b = ab
    config = tmp_path / "mcpx.json"
    config.write_text(
        json.dumps(
            {
                "expose": "search",
                "alwaysExpose": ["b__add"],
                "mcpServers": {"a": {"url": a.url}, "b": {"url": b.url}},
            }
        )
    )
    pipe: McpxPipe = mcpx((), "--config", str(config))
    pipe.initialize()
    names = pipe.wait_tools(lambda n: "b__add" in n, timeout=10)
    assert set(names) == FIXED_TOOLS | {"b__add"}, sorted(names)
    assert hit_names(search(pipe, "add two numbers"))[:2] in (["a__add", "b__add"], ["b__add", "a__add"])


def test_initialize_instructions_in_search_mode(ab, mcpx):
    pipe: McpxPipe = mcpx(ab, "--expose", "search")
    instructions = pipe.initialize().get("instructions", "")
    assert "search_tools" in instructions, instructions
    assert "Servers:" in instructions, instructions
    after = instructions.split("Servers:", 1)[1]
    for name in ("a", "b"):
        assert re.search(rf"^- {name} \(9 tools\): \S", after, re.MULTILINE), (
            f"instructions should have a line '- {name} (9 tools): ...': {instructions!r}"
        )


# ---------------------------------------------------------------------------------------------
# search_tools
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "tool"),
    [
        ("add two numbers", "add"),
        ("return the text unchanged", "echo"),
        ("wait some milliseconds", "sleep"),
        ("which server am I talking to and what is the session id", "whoami"),
    ],
)
def test_search_tools_finds_each_servers_tool(ab, mcpx, query, tool):
    pipe = start_ready(mcpx, ab, "--expose", "search")
    result = search(pipe, query)
    names = hit_names(result)
    assert sorted(names[:2]) == [f"a__{tool}", f"b__{tool}"], f"{query!r} should rank a__{tool}, b__{tool} first: {names}"
    structured = result["structuredContent"]
    assert structured["total"] >= len(names) and isinstance(structured["total"], int), structured
    for item in structured["tools"]:
        assert set(item) >= {"name", "server", "description", "score"}, item
        assert item["server"] == item["name"].split("__", 1)[0]
        assert isinstance(item["score"], int | float), item
    scores = [item["score"] for item in structured["tools"]]
    assert scores == sorted(scores, reverse=True), f"hits must come best first: {scores}"
    lines = hit_lines(result)
    assert [HIT_LINE.match(line).group(1) for line in lines] == names, (
        f"one text line per hit, in the same order:\n{text_of(result)}"
    )


def test_search_tools_text_line_format(ab, mcpx):
    pipe = start_ready(mcpx, ab, "--expose", "search")
    result = search(pipe, "add two numbers", server="a", limit=1)
    assert hit_names(result) == ["a__add"]
    assert hit_lines(result) == ["a__add — Adds a and b; the sum also comes as structured content. — a (required), b (required)"]
    assert result["structuredContent"]["tools"][0]["description"] == "Adds a and b; the sum also comes as structured content."

    progress = search(pipe, "report progress steps", server="b", limit=1)
    line = hit_lines(progress)[0]
    assert line.startswith("b__progress — Reports progress for the given number of steps"), line
    params = [p.strip() for p in HIT_LINE.match(line).group(3).split(",")]
    assert sorted(params) == ["delay_ms", "steps (required)"], line


def test_search_tools_server_filter(ab, mcpx):
    pipe = start_ready(mcpx, ab, "--expose", "search")
    for server in ("a", "b"):
        result = search(pipe, "add two numbers", server=server)
        names = hit_names(result)
        assert names and names[0] == f"{server}__add", names
        assert all(n.startswith(f"{server}__") for n in names), f"server={server!r} leaked other servers: {names}"
        assert all(item["server"] == server for item in result["structuredContent"]["tools"])

    unknown = pipe.call_tool("search_tools", {"query": "add two numbers", "server": "nope"})
    assert "result" in unknown and unknown["result"].get("isError") is True, f"unknown server -> isError: {unknown}"


def test_search_tools_limit(example, mcpx):
    a = example("a", "--extra-tools", "60")  # tool_N: "Extra tool #N: echoes its arguments as JSON text."
    pipe = start_ready(mcpx, [a], "--expose", "search")
    query = "extra tool echoes its arguments as JSON text"

    default = search(pipe, query)
    assert default["structuredContent"]["total"] >= 60, default["structuredContent"]["total"]
    assert len(hit_names(default)) == 8, "the default limit is 8"
    assert len(hit_lines(default)) == 8

    three = search(pipe, query, limit=3)
    assert len(hit_names(three)) == 3
    assert three["structuredContent"]["total"] == default["structuredContent"]["total"], "total counts every match"

    one = search(pipe, "add two numbers", limit=1)
    assert hit_names(one) == ["a__add"]

    many = pipe.call_tool("search_tools", {"query": query, "limit": 100})
    if "result" in many and not many["result"].get("isError"):
        assert len(hit_names(many["result"])) == 50, "limit is capped at 50"
    else:
        pass  # refusing a limit above the schema's maximum is fine too


def test_search_tools_without_query_is_an_error(ab, mcpx):
    pipe = start_ready(mcpx, ab, "--expose", "search")
    response = pipe.call_tool("search_tools", {})
    assert "error" in response or response["result"].get("isError") is True, response


# ---------------------------------------------------------------------------------------------
# describe_tools
# ---------------------------------------------------------------------------------------------


def test_describe_tools_gives_full_definitions_and_unknown_names(ab, mcpx, direct):
    a, b = ab
    pipe = start_ready(mcpx, ab, "--expose", "search")
    result = ok(pipe.call_tool("describe_tools", {"names": ["a__add", "b__progress", "zz__nope", "a__missing"]}))
    structured = result["structuredContent"]
    by_name = {t["name"]: t for t in structured["tools"]}
    assert set(by_name) == {"a__add", "b__progress"}, structured
    a_defs = {t["name"]: t for t in direct(a.url).list_tools()}
    b_defs = {t["name"]: t for t in direct(b.url).list_tools()}
    assert by_name["a__add"] == with_name(a_defs["add"], "a__add"), "describe_tools must give the whole definition"
    assert by_name["b__progress"] == with_name(b_defs["progress"], "b__progress")
    assert "inputSchema" in by_name["a__add"] and "outputSchema" in by_name["a__add"]
    assert sorted(structured["unknown"]) == ["a__missing", "zz__nope"], structured

    none = pipe.call_tool("describe_tools", {"names": ["zz__nope"]})
    assert "result" in none and none["result"].get("isError") is True, f"no known name -> isError: {none}"
    assert none["result"]["structuredContent"]["unknown"] == ["zz__nope"]


def test_describe_tools_knows_own_tools(ab, mcpx):
    pipe = start_ready(mcpx, ab, "--expose", "search")
    listed = {t["name"]: t for t in pipe.list_tools()}
    result = ok(pipe.call_tool("describe_tools", {"names": ["manage", "search_tools"]}))
    tools = {t["name"]: t for t in result["structuredContent"]["tools"]}
    assert tools == {"manage": listed["manage"], "search_tools": listed["search_tools"]}


# ---------------------------------------------------------------------------------------------
# call_tool
# ---------------------------------------------------------------------------------------------


def test_call_tool_on_unlisted_tool_equals_the_direct_call(ab, mcpx, direct):
    a, _ = ab
    pipe = start_ready(mcpx, ab, "--expose", "search")
    assert "a__add" not in pipe.tool_names()
    via = pipe.call_tool("call_tool", {"name": "a__add", "arguments": {"a": 2, "b": 40.5}})
    assert "result" in via, via
    direct_mcpx = pipe.call_tool("a__add", {"a": 2, "b": 40.5})
    assert via["result"] == direct_mcpx["result"]
    backend = direct(a.url).call_tool("add", {"a": 2, "b": 40.5})
    assert via["result"] == backend["result"], "call_tool must give exactly the backend's result"
    assert via["result"]["structuredContent"] == {"sum": 42.5}

    echo = pipe.call_tool("call_tool", {"name": "b__echo", "arguments": {"text": "héllo\n\"x\""}})
    assert echo["result"] == pipe.call_tool("b__echo", {"text": "héllo\n\"x\""})["result"]
    assert text_of(echo["result"]) == "héllo\n\"x\""


def test_call_tool_passes_errors_through(ab, mcpx, direct):
    a, _ = ab
    pipe = start_ready(mcpx, ab, "--expose", "search")
    failed = pipe.call_tool("call_tool", {"name": "a__fail", "arguments": {"message": "boom"}})
    assert "result" in failed and failed["result"].get("isError") is True, failed
    assert failed["result"] == pipe.call_tool("a__fail", {"message": "boom"})["result"]
    assert failed["result"] == direct(a.url).call_tool("fail", {"message": "boom"})["result"]

    for name in ("a__nope", "zz__echo", "nothing"):
        via = pipe.call_tool("call_tool", {"name": name, "arguments": {}})
        plain = pipe.call_tool(name, {})
        assert "error" in plain, plain
        assert "error" in via, f"call_tool {name}: the same JSON-RPC error as a direct call expected, got {via}"
        assert via["error"] == plain["error"], (via, plain)
        assert via["error"]["code"] == -32602 and via["error"]["message"] == f"Unknown tool: {name}", via


def test_call_tool_without_arguments_and_on_own_tools(ab, mcpx):
    pipe = start_ready(mcpx, ab, "--expose", "search")
    assert text_of(ok(pipe.call_tool("call_tool", {"name": "a__whoami"}))).strip() == "a"
    status = ok(pipe.call_tool("call_tool", {"name": "proxy_status", "arguments": {}}))
    assert "a" in text_of(status) and "b" in text_of(status)


def test_manage_add_is_searchable_and_callable_at_once(example, mcpx, manage):
    a, c = example("a"), example("c")
    pipe = start_ready(mcpx, [a], "--expose", "search")
    ok(manage(pipe, "add", name="c", url=c.url))
    # No waiting: right after manage add answers, c's tools are in the index and routable.
    names = hit_names(search(pipe, "add two numbers", server="c"))
    assert names and names[0] == "c__add", names
    assert "c__add" in hit_names(search(pipe, "add two numbers"))[:2]
    assert text_of(ok(pipe.call_tool("call_tool", {"name": "c__whoami"}))) == "c"
    summed = ok(pipe.call_tool("call_tool", {"name": "c__add", "arguments": {"a": 1, "b": 2}}))
    assert summed["structuredContent"] == {"sum": 3}


def test_index_follows_a_backends_tool_list_change(ab, mcpx):
    pipe = start_ready(mcpx, ab, "--expose", "search")
    query = "ephemeral echoes its arguments"
    assert "a__ephemeral" not in hit_names(search(pipe, query, limit=50))

    ok(pipe.call_tool("call_tool", {"name": "a__toggle_tool"}))
    deadline = time.monotonic() + 5
    while "a__ephemeral" not in (names := hit_names(search(pipe, query))):
        assert time.monotonic() < deadline, f"a__ephemeral never became searchable: {names}"
        pipe.drain(0.2)
    assert names[0] == "a__ephemeral", f"the tool named in the query should rank first: {names}"
    assert "b__ephemeral" not in names
    described = ok(pipe.call_tool("describe_tools", {"names": ["a__ephemeral"]}))["structuredContent"]["tools"]
    assert described[0]["description"] == "Exists only while toggle_tool has switched it on; echoes its arguments."
    echoed = ok(pipe.call_tool("call_tool", {"name": "a__ephemeral", "arguments": {"k": 1}}))
    assert "k" in text_of(echoed), echoed
    assert set(pipe.tool_names()) == FIXED_TOOLS, "search mode keeps tools/list fixed"

    ok(pipe.call_tool("call_tool", {"name": "a__toggle_tool"}))
    deadline = time.monotonic() + 5
    while "a__ephemeral" in (names := hit_names(search(pipe, query, limit=50))):
        assert time.monotonic() < deadline, f"a__ephemeral is still found after it was removed: {names}"
        pipe.drain(0.2)


# ---------------------------------------------------------------------------------------------
# mcpx search --catalog FILE (stdin/stdout protocol)
# ---------------------------------------------------------------------------------------------

SMALL_CATALOG = {
    "servers": [
        {
            "name": "notes",
            "tools": [
                {"name": "create_note", "description": "Create a new note with a title and body text.",
                 "inputSchema": {"type": "object", "properties": {"title": {"type": "string"}, "body": {"type": "string"}},
                                 "required": ["title"]}},
                {"name": "delete_note", "description": "Delete a note by its id. This cannot be undone.",
                 "inputSchema": {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]}},
                {"name": "search_notes", "description": "Find notes containing the given words.",
                 "inputSchema": {"type": "object", "properties": {"words": {"type": "string"}}}},
                {"name": "list_notebooks", "description": "List every notebook of the account.",
                 "inputSchema": {"type": "object", "properties": {}}},
                {"name": "export_note", "description": "Export a note as a PDF or Markdown file.",
                 "inputSchema": {"type": "object", "properties": {"id": {"type": "string"},
                                                                  "format": {"type": "string", "enum": ["pdf", "md"]}}}},
                {"name": "tag_note", "description": "Attach a tag (label) to a note.",
                 "inputSchema": {"type": "object", "properties": {"id": {"type": "string"}, "tag": {"type": "string"}}}},
            ],
        },
        {
            "name": "weather",
            "tools": [
                {"name": "current_weather", "description": "Current temperature, wind and conditions for a city.",
                 "inputSchema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}},
                {"name": "forecast", "description": "Daily weather forecast for the next days at a location.",
                 "inputSchema": {"type": "object", "properties": {"location": {"type": "string"}, "days": {"type": "integer"}}}},
                {"name": "air_quality", "description": "Air quality index and pollutant levels for a place.",
                 "inputSchema": {"type": "object", "properties": {"place": {"type": "string"}}}},
                {"name": "sunrise_sunset", "description": "Times of sunrise and sunset for a date and location.",
                 "inputSchema": {"type": "object", "properties": {"date": {"type": "string"}, "location": {"type": "string"}}}},
                {"name": "weather_alerts", "description": "Active severe weather warnings for a region.",
                 "inputSchema": {"type": "object", "properties": {"region": {"type": "string"}}}},
                {"name": "convert_units", "description": "Convert temperatures between Celsius and Fahrenheit.",
                 "inputSchema": {"type": "object", "properties": {"value": {"type": "number"}, "to": {"type": "string"}}}},
            ],
        },
    ]
}
SMALL_NAMES = {f"{s['name']}__{t['name']}" for s in SMALL_CATALOG["servers"] for t in s["tools"]}
# Queries that share plain words with exactly one tool: its name must come first.
CLEAR_QUERIES = [
    ("delete the note with id 42", "notes__delete_note"),
    ("what time is sunrise in Oslo tomorrow", "weather__sunrise_sunset"),
    ("export my note as PDF", "notes__export_note"),
    ("air quality index in Delhi", "weather__air_quality"),
    ("convert 30 Celsius to Fahrenheit", "weather__convert_units"),
    ("list every notebook", "notes__list_notebooks"),
]


@pytest.fixture
def small_catalog(tmp_path: Path) -> Path:
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(SMALL_CATALOG))
    return path


def answers(stdout: str) -> list[list[str]]:
    out = []
    for line in stdout.splitlines():
        msg = json.loads(line)
        assert set(msg) == {"ranked"}, f"each answer is {{\"ranked\": [...]}}: {line}"
        out.append(msg["ranked"])
    return out


def assert_ten_distinct(ranked: list[str], known: set[str]) -> None:
    assert len(ranked) == 10, f"10 names per answer: {ranked}"
    assert len(set(ranked)) == 10, f"names must be distinct: {ranked}"
    assert set(ranked) <= known, f"names not in the catalog: {set(ranked) - known}"


def test_catalog_answers_in_order_and_ignores_other_keys(mcpx_bin, small_catalog):
    lines = []
    for i, (query, _) in enumerate(CLEAR_QUERIES):
        lines.append(json.dumps({"id": i, "query": query, "expected": "x__y", "nested": {"a": [1, 2]}}))
        if i == 2:
            lines += ["", "   ", "\t"]  # blank lines produce nothing
    r = run_mcpx(mcpx_bin, "search", "--catalog", str(small_catalog), stdin="\n".join(lines) + "\n")
    assert r.returncode == 0, r.stderr
    got = answers(r.stdout)
    assert len(got) == len(CLEAR_QUERIES), f"one line per query, none for blank lines:\n{r.stdout}"
    for ranked, (query, expected) in zip(got, CLEAR_QUERIES, strict=True):
        assert_ten_distinct(ranked, SMALL_NAMES)
        assert ranked[0] == expected, f"{query!r}: {expected} should come first, got {ranked}"


def test_catalog_last_line_without_newline_and_no_match_padding(mcpx_bin, small_catalog):
    stdin = json.dumps({"query": "zzqx vvwk"}) + "\n" + json.dumps({"query": "delete the note"})  # no final newline
    r = run_mcpx(mcpx_bin, "search", "--catalog", str(small_catalog), stdin=stdin)
    assert r.returncode == 0, r.stderr
    got = answers(r.stdout)
    assert len(got) == 2, r.stdout
    assert_ten_distinct(got[0], SMALL_NAMES)  # nothing matches: still 10 names
    assert got[1][0] == "notes__delete_note"


def test_catalog_only_blank_lines_or_empty_input(mcpx_bin, small_catalog):
    for stdin in ("", "\n\n  \n"):
        r = run_mcpx(mcpx_bin, "search", "--catalog", str(small_catalog), stdin=stdin)
        assert r.returncode == 0, r.stderr
        assert r.stdout == "", f"no queries, no output: {r.stdout!r}"


def test_catalog_answers_each_query_before_the_next_arrives(mcpx_bin, small_catalog, processes):
    """A driver may send one query and wait for its answer (stdout must not be held back)."""
    proc = processes.spawn(
        [str(mcpx_bin), "search", "--catalog", str(small_catalog)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    lines: queue.Queue[bytes] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in iter(proc.stdout.readline, b"")], daemon=True).start()
    for query, expected in CLEAR_QUERIES[:3]:
        proc.stdin.write((json.dumps({"query": query}) + "\n").encode())
        proc.stdin.flush()
        try:
            line = lines.get(timeout=5)
        except queue.Empty:
            raise AssertionError(f"no answer to {query!r} while stdin stays open") from None
        assert json.loads(line)["ranked"][0] == expected
    proc.stdin.close()
    assert proc.wait(5) == 0
    assert lines.empty()


def test_catalog_a_sanity(mcpx_bin):
    catalog = json.loads(CATALOG_A.read_text())
    known = {f"{s['name']}__{t['name']}" for s in catalog["servers"] for t in s.get("tools", [])}
    tasks = [json.loads(line) for line in DEVSET_A.read_text().splitlines() if line.strip()][:60]
    stdin = "\n".join(json.dumps(t) for t in tasks) + "\n"  # expected/also/catalog keys are ignored
    started = time.monotonic()
    r = run_mcpx(mcpx_bin, "search", "--catalog", str(CATALOG_A), stdin=stdin)
    assert r.returncode == 0, r.stderr
    assert time.monotonic() - started < 10
    got = answers(r.stdout)
    assert len(got) == len(tasks)
    for ranked in got:
        assert_ten_distinct(ranked, known)
    # Answers are per query, not one list repeated.
    assert len({tuple(r) for r in got}) > len(got) // 2


def test_catalog_errors(mcpx_bin, tmp_path):
    missing = run_mcpx(mcpx_bin, "search", "--catalog", str(tmp_path / "nope.json"), stdin="")
    assert missing.returncode != 0 and missing.stdout == ""
    bad = tmp_path / "bad.json"
    bad.write_text('{"not": "a catalog"}')
    r = run_mcpx(mcpx_bin, "search", "--catalog", str(bad), stdin=json.dumps({"query": "x"}) + "\n")
    assert r.returncode != 0 and r.stdout == "", (r.returncode, r.stdout)
    assert r.stderr.strip(), "a bad catalog is explained on stderr"


# ---------------------------------------------------------------------------------------------
# mcpx search QUERY against live servers
# ---------------------------------------------------------------------------------------------


def test_search_command_against_live_servers(mcpx_bin, ab):
    a, b = ab
    servers = ["--servers", f"a={a.url},b={b.url}"]

    r = run_mcpx(mcpx_bin, "search", "add two numbers", *servers, "--server", "a")
    assert r.returncode == 0, r.stderr
    rows = [line for line in r.stdout.splitlines() if line.strip()]
    assert rows, r.stdout
    assert rows[0] == "a__add  Adds a and b; the sum also comes as structured content.", rows
    assert all(row.startswith("a__") for row in rows), f"--server a: only a's tools: {rows}"

    r = run_mcpx(mcpx_bin, "search", "add two numbers", *servers)
    assert r.returncode == 0, r.stderr
    first_two = sorted(line.split("  ", 1)[0] for line in r.stdout.splitlines()[:2])
    assert first_two == ["a__add", "b__add"], r.stdout

    r = run_mcpx(mcpx_bin, "search", "add two numbers", *servers, "--server", "b", "--limit", "2", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert isinstance(doc.get("tools"), list), doc
    assert 1 <= len(doc["tools"]) <= 2, doc
    assert doc["tools"][0]["name"] == "b__add"
    assert all(t["name"].startswith("b__") and t["server"] == "b" for t in doc["tools"]), doc


def test_search_command_unknown_server(mcpx_bin, ab):
    a, b = ab
    r = run_mcpx(mcpx_bin, "search", "add two numbers", "--servers", f"a={a.url},b={b.url}", "--server", "zz")
    assert r.returncode != 0, f"--server naming no server should fail: {r.stdout}"
    assert "zz" in r.stderr, r.stderr
