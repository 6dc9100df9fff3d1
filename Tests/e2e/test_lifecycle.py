"""The stdio front end on its own: handshake, ping, JSON-RPC error handling, shutdown, stdout hygiene."""

from __future__ import annotations

import json
import re
import subprocess
import time

import pytest
from e2e_harness import LATEST_VERSION, SUPPORTED_VERSIONS, McpxPipe

# --- initialize ---------------------------------------------------------------------------------


@pytest.mark.parametrize("version", SUPPORTED_VERSIONS)
def test_initialize_echoes_a_supported_version(mcpx, version):
    pipe = mcpx()
    result = pipe.initialize(version)
    assert result["protocolVersion"] == version


@pytest.mark.parametrize("version", ["1999-01-01", "2099-12-31", "latest"])
def test_initialize_unknown_version_answers_latest(mcpx, version):
    pipe = mcpx()
    result = pipe.initialize(version)
    assert result["protocolVersion"] == LATEST_VERSION


def test_initialize_result_shape(mcpx):
    pipe = mcpx()
    result = pipe.initialize()
    assert result["capabilities"]["tools"]["listChanged"] is True
    info = result["serverInfo"]
    assert isinstance(info.get("name"), str) and info["name"]
    assert isinstance(info.get("version"), str) and info["version"]


def test_initialize_tolerates_unknown_capabilities(mcpx):
    pipe = mcpx()
    caps = {"experimental": {"x-vendor": {"on": True}}, "x-unknown-extension": {"a": [1, 2]}, "roots": {}}
    result = pipe.initialize(capabilities=caps)
    assert result["protocolVersion"] == LATEST_VERSION


# --- ping, unknown methods ----------------------------------------------------------------------


def test_ping_before_and_after_initialize(mcpx):
    pipe = mcpx()
    assert pipe.result("ping") == {}
    pipe.initialize()
    assert pipe.result("ping") == {}
    assert pipe.result("ping", {}) == {}


def test_invalid_server_discover_then_initialize_works(mcpx):
    """A server/discover whose envelope lacks clientCapabilities is -32602 (and one with no
    envelope -32601); neither makes the client modern, so initialize still works after them."""
    pipe = mcpx()
    error = pipe.error(
        "server/discover",
        {"_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28"}},
    )
    assert error["code"] == -32602
    assert pipe.error("server/discover", {})["code"] == -32601
    assert pipe.initialize()["protocolVersion"] == LATEST_VERSION


@pytest.mark.parametrize("method", ["server/discover", "foo/bar", "tools/unknown", "resources/explode"])
def test_unknown_method_is_method_not_found(mcpx, method):
    pipe = mcpx()
    pipe.initialize()
    assert pipe.error(method, {})["code"] == -32601
    assert pipe.result("ping") == {}


@pytest.mark.parametrize("request_id", ["abc", "1", 0, -7, 2**53 - 1])
def test_ids_are_echoed_exactly(mcpx, request_id):
    pipe = mcpx()
    pipe.initialize()
    pipe.send({"jsonrpc": "2.0", "id": request_id, "method": "ping"})
    response = pipe.wait_response(request_id)
    assert response["id"] == request_id and type(response["id"]) is type(request_id)
    assert response["result"] == {}


def test_unknown_notification_gets_no_answer(mcpx):
    pipe = mcpx()
    pipe.initialize()
    pipe.notify("notifications/made_up", {"x": 1})
    pipe.notify("notifications/cancelled", {"requestId": 424242, "reason": "never sent"})
    assert pipe.result("ping") == {}
    pipe.drain(0.5)
    assert not pipe.unclaimed_responses(), "a notification must never be answered"


def test_resources_and_prompts_list_answer_even_without_backends(mcpx):
    """Some clients call these even when not advertised: answer with empty lists."""
    pipe = mcpx()
    pipe.initialize()
    assert pipe.result("resources/list")["resources"] == []
    assert pipe.result("prompts/list")["prompts"] == []


# --- malformed input ----------------------------------------------------------------------------


def _wait_error(pipe: McpxPipe, possible_id, timeout: float = 10.0) -> dict:
    """The error response to a bad line: carries the request's id if it had a usable one, else null."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if possible_id is not None and pipe.has_response(possible_id):
            return pipe.wait_response(possible_id)
        if pipe.has_null_id_response():
            return pipe.wait_null_id_response()
        pipe.pump(0.1)
    raise AssertionError(f"no error response within {timeout}s\n{pipe.stderr_tail()}")


@pytest.mark.parametrize(
    "line",
    ["{not json", '{"jsonrpc": "2.0", "id": 5, "method": "ping"', "\u00ff\u00fe garbage", "[1, 2,", "nul\x00l"],
)
def test_parse_error_has_null_id_and_mcpx_keeps_serving(mcpx, line):
    pipe = mcpx()
    pipe.initialize()
    pipe.send_raw(line)
    response = pipe.wait_null_id_response()
    assert response["id"] is None
    assert response["error"]["code"] == -32700
    assert pipe.result("ping") == {}


@pytest.mark.parametrize(
    ("line", "possible_id"),
    [
        ("42", None),
        ('"hello"', None),
        ("true", None),
        ("null", None),
        ('{"foo": 1}', None),
        ('{"jsonrpc": "2.0", "id": 71}', 71),
        ('{"jsonrpc": "2.0", "id": 72, "method": 5}', 72),
        ('{"jsonrpc": "2.0", "id": 73, "method": null}', 73),
        ('{"jsonrpc": "2.0", "id": 74, "method": ["ping"]}', 74),
    ],
)
def test_invalid_request_and_mcpx_keeps_serving(mcpx, line, possible_id):
    pipe = mcpx()
    pipe.initialize()
    pipe.send_raw(line)
    response = _wait_error(pipe, possible_id)
    assert response["error"]["code"] == -32600, response
    assert response["id"] in (None, possible_id)
    assert pipe.result("ping") == {}


def test_many_bad_lines_in_a_row(mcpx):
    pipe = mcpx()
    pipe.initialize()
    bad = ["{oops", "42", '{"foo":1}', '{"jsonrpc":"2.0","id":81}', "]", '{"jsonrpc":"2.0","id":82,"method":7}']
    for line in bad:
        pipe.send_raw(line)
    pipe.send({"jsonrpc": "2.0", "id": "after", "method": "ping"})
    assert pipe.wait_response("after")["result"] == {}
    pipe.drain(0.5)
    errors = pipe.unclaimed_responses()
    assert len(errors) == len(bad), f"each bad line gets exactly one error response: {errors}"
    assert all(e["error"]["code"] in (-32700, -32600) for e in errors)


def test_batch_accepted_under_2025_03_26(mcpx):
    pipe = mcpx()
    pipe.initialize("2025-03-26")
    pipe.send_raw(
        json.dumps([{"jsonrpc": "2.0", "id": 101, "method": "ping"}, {"jsonrpc": "2.0", "id": 102, "method": "ping"}])
    )
    assert pipe.wait_response(101)["result"] == {}
    assert pipe.wait_response(102)["result"] == {}


def test_batch_rejected_under_2025_06_18_and_later(mcpx):
    pipe = mcpx()
    pipe.initialize("2025-06-18")
    pipe.send_raw(
        json.dumps([{"jsonrpc": "2.0", "id": 103, "method": "ping"}, {"jsonrpc": "2.0", "id": 104, "method": "ping"}])
    )
    pipe.send({"jsonrpc": "2.0", "id": "after", "method": "ping"})
    pipe.wait_response("after")
    pipe.drain(0.5)
    answers = pipe.unclaimed_responses()
    assert answers, "a batch under 2025-06-18 must be rejected with -32600"
    assert all("error" in a and a["error"]["code"] == -32600 for a in answers), answers


# --- before notifications/initialized -------------------------------------------------------------


def test_nothing_but_pings_and_logs_before_initialized(mcpx, example):
    backend = example("alpha")
    pipe = mcpx([backend])
    pipe.initialize(initialized=False)
    pipe.drain(1.5)
    early = [m["method"] for m in pipe.notifications if m["method"] != "notifications/message"]
    assert early == [], f"mcpx sent {early} before notifications/initialized"
    assert pipe.server_requests == [], "only pings may be sent before notifications/initialized"
    pipe.notify("notifications/initialized")
    assert "alpha__echo" in pipe.tool_names()


# --- shutdown -----------------------------------------------------------------------------------


@pytest.mark.parametrize("with_backend", [False, True], ids=["alone", "with-backend"])
def test_stdin_eof_exits_zero(mcpx, example, with_backend):
    pipe = mcpx([example("alpha")] if with_backend else [])
    pipe.initialize()
    if with_backend:
        pipe.call_ok("alpha__echo", {"text": "bye"})
    started = time.monotonic()
    pipe.close_stdin()
    code = pipe.wait_exit(5)
    assert code == 0, f"mcpx should exit 0 within 5s of stdin EOF, got {code}\n{pipe.stderr_tail()}"
    assert time.monotonic() - started < 5


def test_stdin_eof_before_initialize_exits_zero(mcpx):
    pipe = mcpx()
    pipe.close_stdin()
    assert pipe.wait_exit(5) == 0


# --- stdout hygiene, logging ---------------------------------------------------------------------


def test_stdout_carries_only_jsonrpc(mcpx, example):
    backend = example("alpha")
    pipe = mcpx([backend], log_level="debug")
    pipe.send_raw("garbage")
    pipe.initialize()
    pipe.tool_names()
    pipe.call_ok("alpha__echo", {"text": "line1\nline2 \u2028 \u00e9"})
    pipe.call_tool("alpha__log", {"level": "warning", "message": "to the client"})
    pipe.call_tool("alpha__fail", {"message": "boom"})
    pipe.error("nope/nope")
    pipe.drain(0.5)
    pipe.close()
    assert pipe.lines, "mcpx wrote nothing at all"
    pipe.assert_stdout_clean()


def test_log_file_receives_logs(mcpx, tmp_path, example):
    log_file = tmp_path / "mcpx.log"
    pipe = mcpx([example("alpha")], "--log-file", str(log_file), log_level="debug")
    pipe.initialize()
    pipe.call_ok("alpha__echo", {"text": "x"})
    pipe.close()
    assert log_file.is_file() and log_file.stat().st_size > 0, "--log-file should receive mcpx's log lines"
    pipe.assert_stdout_clean()


@pytest.mark.parametrize("level", ["debug", "info", "warning", "error"])
def test_log_levels_accepted(mcpx, level):
    pipe = mcpx(log_level=level)
    assert pipe.initialize()["protocolVersion"] == LATEST_VERSION


def test_help_and_version(mcpx_bin):
    helped = subprocess.run([str(mcpx_bin), "--help"], capture_output=True, timeout=10, text=True)
    assert helped.returncode == 0
    usage = helped.stdout + helped.stderr
    for flag in ("--stdio", "--servers", "--max-tool-name", "--startup-timeout", "--log-level", "--call-timeout"):
        assert flag in usage, f"--help should mention {flag}"
    version = subprocess.run([str(mcpx_bin), "--version"], capture_output=True, timeout=10, text=True)
    assert version.returncode == 0
    assert re.search(r"\d+\.\d+", version.stdout + version.stderr), "--version should print a version number"
