"""Hostile stdin: whatever a client writes, every request line gets exactly one answer with the
right JSON-RPC error, notifications and responses get none, and mcpx goes on serving.

Each test sends a table of cases through one mcpx and reports every case that broke a promise
(so one run shows all of them), then checks mcpx still answers a ping.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import pytest
from faults_harness import StrictPipe, key_of, text_of

PARSE, INVALID, METHOD, PARAMS = -32700, -32600, -32601, -32602
NULL = None
ANSWER_WAIT = 5.0


@dataclass
class Case:
    """One line and what must come back.

    codes: acceptable error codes (empty: a result is expected); ids: acceptable answer ids
    (json-encoded, "null" for null); answers: how many answers (0 for notifications).
    """

    name: str
    line: bytes
    codes: set[int] = field(default_factory=set)
    ids: set[str] = field(default_factory=lambda: {"null"})
    answers: int = 1
    result_ok: bool = False  # a result is acceptable as well as one of `codes`


def line_of(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def run_cases(pipe: StrictPipe, cases: list[Case]) -> list[str]:
    """Send each case, check its answers, then check a ping still works. Returns the problems."""
    problems: list[str] = []
    for n, case in enumerate(cases):
        mark = len(pipe.all_responses)
        pipe.send_bytes(case.line + b"\n")
        sentinel = f"sentinel-{n}"
        deadline = time.monotonic() + ANSWER_WAIT
        # Wait for the case's answers (and the sentinel ping sent after it).
        pipe.send({"jsonrpc": "2.0", "id": sentinel, "method": "ping"})
        sentinel_seen = False
        while time.monotonic() < deadline:
            got = [r for r in pipe.all_responses[mark:] if r.get("id") != sentinel]
            if pipe.has_response(sentinel) and not sentinel_seen:
                # Answers handled on the reading thread come before the ping's; others (routed
                # through a task) follow soon after.
                sentinel_seen = True
                deadline = min(deadline, time.monotonic() + 1.0)
            if len(got) >= case.answers and sentinel_seen:
                break
            if pipe.proc.poll() is not None:
                break
            pipe.pump(0.05)
        pipe.drain(0.05 if case.answers else 0.2)
        got = [r for r in pipe.all_responses[mark:] if r.get("id") != sentinel]
        label = f"[{case.name}] {case.line[:90]!r}"
        if pipe.proc.poll() is not None:
            problems.append(f"{label}: mcpx died (exit code {pipe.proc.returncode})")
            return problems
        if not pipe.has_response(sentinel):
            problems.append(f"{label}: mcpx stopped answering (no answer to the ping after it)")
            continue
        pipe.wait_response(sentinel, timeout=0.1)
        # Cases reuse ids: forget this case's answers so later waits do not find them, and count
        # repeats per case (below) rather than across the run.
        for r in got:
            if r.get("id") is None:
                if r in pipe._null_id_responses:
                    pipe._null_id_responses.remove(r)
            else:
                pipe._responses.pop(key_of(r["id"]), None)
                pipe.allow_repeat(r["id"])
        if len(got) != case.answers:
            problems.append(f"{label}: expected {case.answers} answer(s), got {len(got)}: {[json.dumps(r)[:160] for r in got]}")
            continue
        for r in got:
            rid = key_of(r.get("id"))
            if "error" in r and r["error"].get("code") not in case.codes:
                error = r["error"]
                problems.append(f"{label}: error {error.get('code')} {error.get('message')!r} (id {rid}), expected {sorted(case.codes) or 'a result'}")
            elif "error" not in r and not case.result_ok and case.codes:
                problems.append(f"{label}: expected error {sorted(case.codes)}, got a result: {json.dumps(r)[:200]}")
            elif rid not in case.ids:
                problems.append(f"{label}: answered with id {rid}, expected one of {sorted(case.ids)}: {json.dumps(r)[:200]}")
    pipe.ping_ok()
    return problems


def report(problems: list[str], total: int) -> None:
    assert not problems, f"{len(problems)} of {total} hostile lines broke a promise:\n" + "\n".join(problems)


@pytest.fixture
def served(mcpx, example):
    """mcpx initialized in front of one example backend "a" (--read-only: manage cannot change it)."""
    alpha = example("a")
    pipe = mcpx([alpha], "--read-only", "--call-timeout", "5")
    pipe.initialize()
    pipe.wait_tools(lambda names: "a__echo" in names)
    return pipe


# ---------------------------------------------------------------------------------------------
# parse errors, invalid requests
# ---------------------------------------------------------------------------------------------

PING = b'{"jsonrpc":"2.0","id":41,"method":"ping"}'
CALL = b'{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"name":"a__echo","arguments":{"text":"hello"}}}'


def malformed_cases() -> list[Case]:
    lines = [
        ("open brace", b"{"),
        ("unclosed object", b'{"jsonrpc":"2.0","id":1,"method":"ping"'),
        ("bare word", b"nope"),
        ("extra brace", b'{"a":1}}'),
        ("trailing garbage", PING + b" trailing"),
        ("two objects", PING + PING),
        ("single quotes", b"{'jsonrpc':'2.0','id':1,'method':'ping'}"),
        ("leading zero", b'{"jsonrpc":"2.0","id":01,"method":"ping"}'),
        ("NaN", b'{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":NaN}}'),
        ("Infinity", b'{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":-Infinity}}'),
        ("bare fraction", b'{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":.5}}'),
        ("trailing comma object", b'{"jsonrpc":"2.0","id":1,"method":"ping",}'),
        ("trailing comma array", b'{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":[1,]}}'),
        ("unterminated string", b'{"jsonrpc":"2.0","id":1,"method":"ping'),
        ("comment", b'{"jsonrpc":"2.0","id":1,"method":"ping"} // hi'),
        ("NUL alone", b"\x00"),
        ("NUL in string", b'{"jsonrpc":"2.0","id":1,"method":"pi\x00ng"}'),
        ("NUL after object", PING + b"\x00"),
        ("NUL before object", b"\x00" + PING),
        ("raw tab in string", b'{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":"a\tb"}}'),
        ("invalid escape in params", b'{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":"\\q"}}'),
        ("short unicode escape in params", b'{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":"\\u12"}}'),
        ("invalid escape in arguments", b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a__echo","arguments":{"text":"\\x41"}}}'),
        ("bare invalid UTF-8", b"\xff\xfe\xfd"),
        ("invalid UTF-8 in method", b'{"jsonrpc":"2.0","id":1,"method":"pi\xffng"}'),
        ("invalid UTF-8 in params", b'{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":"\xc3\x28"}}'),
        ("invalid UTF-8 in arguments", b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a__echo","arguments":{"text":"\xed\xa0\x80"}}}'),
        ("overlong UTF-8", b'{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":"\xc0\xaf"}}'),
        ("UTF-16 BOM", b"\xfe\xff" + PING),
        ("deep arrays", b"[" * 100_000),
        ("deep arrays closed", b"[" * 100_000 + b"]" * 100_000),
        ("deep objects", b'{"a":' * 100_000),
    ]
    cases = [Case(name, line, codes={PARSE}) for name, line in lines]
    # A valid request cut anywhere is a parse error (never a request, never silence).
    for cut in range(1, len(CALL), 9):
        cases.append(Case(f"truncated at {cut}", CALL[:cut], codes={PARSE}))
    return cases


@pytest.mark.timeout(120)
def test_malformed_lines_get_a_parse_error(served):
    cases = malformed_cases()
    report(run_cases(served, cases), len(cases))


def invalid_request_cases() -> list[Case]:
    def msg(**fields: Any) -> bytes:
        return line_of({"jsonrpc": "2.0", **fields})

    with_id = {"null", "7"}  # the id may be echoed when it was readable
    return [
        Case("number", b"1", codes={INVALID}),
        Case("string", b'"ping"', codes={INVALID}),
        Case("null", b"null", codes={INVALID}),
        Case("true", b"true", codes={INVALID}),
        Case("empty array", b"[]", codes={INVALID}),
        Case("batch outside 2025-03-26", b"[" + PING + b"]", codes={INVALID}),
        Case("empty object", b"{}", codes={INVALID}),
        Case("jsonrpc 1.0", line_of({"jsonrpc": "1.0", "id": 7, "method": "ping"}), codes={INVALID}, ids=with_id),
        Case("jsonrpc missing", line_of({"id": 7, "method": "ping"}), codes={INVALID}, ids=with_id),
        Case("jsonrpc number", line_of({"jsonrpc": 2.0, "id": 7, "method": "ping"}), codes={INVALID}, ids=with_id),
        Case("jsonrpc null", line_of({"jsonrpc": None, "id": 7, "method": "ping"}), codes={INVALID}, ids=with_id),
        Case("method number", msg(id=7, method=5), codes={INVALID}, ids=with_id),
        Case("method null", msg(id=7, method=None), codes={INVALID}, ids=with_id),
        Case("method empty", msg(id=7, method=""), codes={INVALID}, ids=with_id),
        Case("method object", msg(id=7, method={"name": "ping"}), codes={INVALID}, ids=with_id),
        Case("method array", msg(id=7, method=["ping"]), codes={INVALID}, ids=with_id),
        Case("id object", msg(id={"a": 1}, method="ping"), codes={INVALID}),
        Case("id array", msg(id=[1], method="ping"), codes={INVALID}),
        Case("id float", msg(id=1.5, method="ping"), codes={INVALID}),
        Case("id true", msg(id=True, method="ping"), codes={INVALID}),
        Case("id false", msg(id=False, method="ping"), codes={INVALID}),
        Case("id null", msg(id=None, method="ping"), codes={INVALID}),
        Case("params string", msg(id=7, method="ping", params="x"), codes={INVALID, PARAMS}, ids=with_id),
        Case("params number", msg(id=7, method="tools/list", params=3), codes={INVALID, PARAMS}, ids=with_id),
        Case("params true", msg(id=7, method="tools/list", params=True), codes={INVALID, PARAMS}, ids=with_id),
        Case("params null", msg(id=7, method="tools/call", params=None), codes={INVALID, PARAMS}, ids=with_id),
        Case("nothing but id", msg(id=7), codes={INVALID}, ids=with_id),
    ]


@pytest.mark.timeout(60)
def test_invalid_requests_get_invalid_request(served):
    cases = invalid_request_cases()
    report(run_cases(served, cases), len(cases))


# ---------------------------------------------------------------------------------------------
# wrong types in the fields of real methods
# ---------------------------------------------------------------------------------------------


def wrong_params_cases() -> list[Case]:
    def req(n: int, method: str, params: Any = None, *, omit: bool = False) -> tuple[bytes, set[str]]:
        m: dict[str, Any] = {"jsonrpc": "2.0", "id": n, "method": method}
        if not omit:
            m["params"] = params
        return line_of(m), {str(n)}

    table: list[tuple[str, str, Any, bool, set[int]]] = [
        ("initialize without params", "initialize", None, True, {PARAMS}),
        ("initialize params array", "initialize", ["2025-11-25"], False, {PARAMS, INVALID}),
        ("initialize version number", "initialize", {"protocolVersion": 20251125, "capabilities": {}, "clientInfo": {"name": "x", "version": "1"}}, False, {PARAMS}),
        ("initialize version null", "initialize", {"protocolVersion": None, "capabilities": {}}, False, {PARAMS}),
        ("tools/call without params", "tools/call", None, True, {PARAMS}),
        ("tools/call params array", "tools/call", ["a__echo"], False, {PARAMS, INVALID}),
        ("tools/call name number", "tools/call", {"name": 5, "arguments": {}}, False, {PARAMS}),
        ("tools/call name null", "tools/call", {"name": None}, False, {PARAMS}),
        ("tools/call name object", "tools/call", {"name": {"n": "a__echo"}}, False, {PARAMS}),
        ("tools/call name missing", "tools/call", {"arguments": {}}, False, {PARAMS}),
        ("tools/call unknown tool", "tools/call", {"name": "nope__nothing", "arguments": {}}, False, {PARAMS}),
        ("tools/call empty name", "tools/call", {"name": "", "arguments": {}}, False, {PARAMS}),
        ("tools/call arguments array", "tools/call", {"name": "a__echo", "arguments": ["hello"]}, False, {PARAMS}),
        ("tools/call arguments string", "tools/call", {"name": "a__echo", "arguments": "hello"}, False, {PARAMS}),
        ("tools/call arguments number", "tools/call", {"name": "a__echo", "arguments": 1}, False, {PARAMS}),
        ("tools/call arguments true", "tools/call", {"name": "a__echo", "arguments": True}, False, {PARAMS}),
        ("tools/call manage args array", "tools/call", {"name": "manage", "arguments": [1]}, False, {PARAMS}),
        ("tools/list cursor number", "tools/list", {"cursor": 5}, False, {PARAMS}),
        ("tools/list bogus cursor", "tools/list", {"cursor": "bogus"}, False, {PARAMS}),
        ("resources/read uri number", "resources/read", {"uri": 5}, False, {PARAMS}),
        ("resources/read without uri", "resources/read", {}, False, {PARAMS}),
        ("prompts/get name number", "prompts/get", {"name": 5}, False, {PARAMS}),
        ("logging/setLevel bad level", "logging/setLevel", {"level": "loud"}, False, {PARAMS}),
        ("logging/setLevel level number", "logging/setLevel", {"level": 3}, False, {PARAMS}),
        ("completion without ref", "completion/complete", {"argument": {"name": "a", "value": ""}}, False, {PARAMS}),
        ("completion ref string", "completion/complete", {"ref": "ref/prompt"}, False, {PARAMS}),
        ("unknown method", "foo/bar", {}, False, {METHOD}),
        ("notification name as request", "notifications/initialized", {}, False, {METHOD}),
        ("method with spaces", "tools call", {}, False, {METHOD}),
        ("very long method", "m" * 100_000, {}, False, {METHOD}),
    ]
    cases = []
    for n, (name, method, params, omit, codes) in enumerate(table, start=100):
        line, ids = req(n, method, params, omit=omit)
        cases.append(Case(name, line, codes=codes, ids=ids))
    return cases


@pytest.mark.timeout(60)
def test_wrong_types_in_method_params(served):
    cases = wrong_params_cases()
    report(run_cases(served, cases), len(cases))
    # The backend is untouched by all this.
    assert text_of(served.call_ok("a__echo", {"text": "still here"})) == "still here"


# ---------------------------------------------------------------------------------------------
# ids
# ---------------------------------------------------------------------------------------------


def id_cases() -> list[Case]:
    long_id = "i" * 100_000
    odd = "é\n\"\\\u2028😀\u0000"
    return [
        Case("100k-char string id", line_of({"jsonrpc": "2.0", "id": long_id, "method": "ping"}), ids={json.dumps(long_id)}),
        Case("empty string id", line_of({"jsonrpc": "2.0", "id": "", "method": "ping"}), ids={'""'}),
        Case("escapes in id", line_of({"jsonrpc": "2.0", "id": odd, "method": "ping"}), ids={json.dumps(odd)}),
        Case("2^63-1", b'{"jsonrpc":"2.0","id":9223372036854775807,"method":"ping"}', ids={"9223372036854775807"}),
        Case("-2^63", b'{"jsonrpc":"2.0","id":-9223372036854775808,"method":"ping"}', ids={"-9223372036854775808"}),
        Case("0", b'{"jsonrpc":"2.0","id":0,"method":"ping"}', ids={"0"}),
        Case("-1", b'{"jsonrpc":"2.0","id":-1,"method":"ping"}', ids={"-1"}),
        # Beyond 64 bits: echo it exactly, or refuse it with id null; never answer another id.
        Case("2^63", b'{"jsonrpc":"2.0","id":9223372036854775808,"method":"ping"}', codes={INVALID}, result_ok=True,
             ids={"9223372036854775808", "null"}),
        Case("10^30", b'{"jsonrpc":"2.0","id":1000000000000000000000000000000,"method":"ping"}', codes={INVALID}, result_ok=True,
             ids={"1000000000000000000000000000000", "null"}),
        Case("-10^30", b'{"jsonrpc":"2.0","id":-1000000000000000000000000000000,"method":"ping"}', codes={INVALID}, result_ok=True,
             ids={"-1000000000000000000000000000000", "null"}),
        # Integral floats: treated as the integer, or refused.
        Case("1.0", b'{"jsonrpc":"2.0","id":3.0,"method":"ping"}', codes={INVALID}, result_ok=True, ids={"3", "null"}),
        Case("1e3", b'{"jsonrpc":"2.0","id":1e3,"method":"ping"}', codes={INVALID}, result_ok=True, ids={"1000", "null"}),
        # Ids that are not valid JSON strings: a parse error, id null (never silence).
        Case("invalid escape in id", b'{"jsonrpc":"2.0","id":"\\x","method":"ping"}', codes={PARSE}),
        Case("invalid UTF-8 in id", b'{"jsonrpc":"2.0","id":"\xff\xfe","method":"ping"}', codes={PARSE}),
        Case("short escape in id", b'{"jsonrpc":"2.0","id":"\\u00","method":"ping"}', codes={PARSE}),
        # A lone surrogate escape is JSON by the grammar but no Unicode: echo it or refuse it.
        Case("lone surrogate in id", b'{"jsonrpc":"2.0","id":"\\ud800","method":"ping"}', codes={PARSE, INVALID}, result_ok=True,
             ids={'"\\ud800"', "null"}),
    ]


@pytest.mark.timeout(60)
def test_odd_ids_are_answered_once(served):
    cases = id_cases()
    report(run_cases(served, cases), len(cases))


# ---------------------------------------------------------------------------------------------
# notifications and responses from the client: no answer
# ---------------------------------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_notifications_and_responses_get_no_answer(served):
    cases = [
        Case("unknown notification", line_of({"jsonrpc": "2.0", "method": "notifications/whatever", "params": {}}), answers=0),
        Case("cancel unknown id", line_of({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": "nope"}}), answers=0),
        Case("cancel with object id", line_of({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": {"x": 1}}}), answers=0),
        Case("cancel without params", line_of({"jsonrpc": "2.0", "method": "notifications/cancelled"}), answers=0),
        Case("initialized again", line_of({"jsonrpc": "2.0", "method": "notifications/initialized"}), answers=0),
        Case("progress from client", line_of({"jsonrpc": "2.0", "method": "notifications/progress", "params": {"progressToken": 1, "progress": 1}}), answers=0),
        Case("response to nothing", line_of({"jsonrpc": "2.0", "id": 999, "result": {}}), answers=0),
        Case("error to nothing", line_of({"jsonrpc": "2.0", "id": 998, "error": {"code": -1, "message": "x"}}), answers=0),
        # A client that could not read something mcpx sent answers with an error whose id is null:
        # a response, never to be answered (answering could start an endless error ping-pong).
        Case("error with id null", line_of({"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "Parse error"}}), answers=0),
        Case("blank line", b"", answers=0),
        Case("spaces", b"    \t  ", answers=0),
        Case("CR only", b"\r", answers=0),
        Case("CRLF request", PING.replace(b"41", b"4141") + b"\r", ids={"4141"}),
    ]
    report(run_cases(served, cases), len(cases))


# ---------------------------------------------------------------------------------------------
# size limits
# ---------------------------------------------------------------------------------------------


@pytest.mark.timeout(90)
def test_twenty_megabyte_line_gets_a_clear_error(served):
    pipe = served
    big = line_of({"jsonrpc": "2.0", "id": 77, "method": "tools/call", "params": {"name": "a__echo", "arguments": {"text": "x" * (20 << 20)}}})
    t0 = time.monotonic()
    pipe.send_bytes(big + b"\n")
    pipe.send({"jsonrpc": "2.0", "id": "after-big", "method": "ping"})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (pipe.has_response("after-big") and (pipe.has_response(77) or pipe.has_null_id_response())):
        pipe.pump(0.1)
    took = time.monotonic() - t0
    answers = pipe.responses_for(77) + [r for r in pipe.all_responses if r.get("id") is None]
    assert len(answers) == 1, f"a 20 MiB line must get exactly one answer, got {len(answers)}: {answers}"
    error = answers[0].get("error")
    assert error and error.get("code") in (INVALID, PARSE), f"expected -32600/-32700, got {answers[0]}"
    message = error.get("message", "").lower()
    assert "large" in message or "limit" in message, f"the error should say the message is too large: {error}"
    assert pipe.has_response("after-big"), "mcpx stopped answering after the 20 MiB line"
    print(f"\n20 MiB line answered in {took:.2f}s: {error}")
    assert text_of(pipe.call_ok("a__echo", {"text": "fine"})) == "fine"


@pytest.mark.timeout(60)
def test_smaller_max_message_bytes(mcpx, example):
    alpha = example("a")
    pipe = mcpx([alpha], "--max-message-bytes", "4096")
    pipe.initialize()
    pipe.wait_tools(lambda names: "a__echo" in names)
    ok = {"jsonrpc": "2.0", "id": "under", "method": "tools/call", "params": {"name": "a__echo", "arguments": {"text": "y" * 3000}}}
    pipe.send(ok)
    assert text_of(pipe.wait_response("under")["result"]) == "y" * 3000, "a line under the limit must work"
    cases = [
        Case("10 KiB line", line_of({"jsonrpc": "2.0", "id": 2, "method": "ping", "params": {"pad": "z" * 10_000}}), codes={INVALID, PARSE}, ids={"2", "null"}),
        Case("1 MiB line", line_of({"jsonrpc": "2.0", "id": 3, "method": "ping", "params": {"pad": "z" * (1 << 20)}}), codes={INVALID, PARSE}, ids={"3", "null"}),
        Case("1 MiB garbage", b"\xff" * (1 << 20), codes={INVALID, PARSE}),
        Case("just under", line_of({"jsonrpc": "2.0", "id": 4, "method": "ping", "params": {"pad": "z" * 3900}}), ids={"4"}),
    ]
    report(run_cases(pipe, cases), len(cases))


# ---------------------------------------------------------------------------------------------
# volume and duplicates
# ---------------------------------------------------------------------------------------------


@pytest.mark.timeout(90)
def test_ten_thousand_pipelined_pings(served):
    pipe = served
    count = 10_000
    payload = b"".join(line_of({"jsonrpc": "2.0", "id": f"flood-{i}", "method": "ping"}) + b"\n" for i in range(count))
    mark = len(pipe.all_responses)
    t0 = time.monotonic()
    pipe.send_bytes(payload)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(pipe.all_responses) - mark < count:
        pipe.pump(0.5)
    took = time.monotonic() - t0
    flood = [r for r in pipe.all_responses if str(r.get("id", "")).startswith("flood-")]
    ids = [r["id"] for r in flood]
    print(f"\n{count} pipelined pings answered in {took:.2f}s ({count / took:.0f}/s)")
    assert len(flood) == count, f"{count - len(flood)} pings unanswered after {took:.1f}s"
    assert len(set(ids)) == count, "some pings were answered twice"
    assert all(r.get("result") == {} for r in flood)
    pipe.ping_ok()


@pytest.mark.timeout(60)
def test_duplicate_request_ids_in_flight(served):
    pipe = served
    call = {"jsonrpc": "2.0", "id": "dup", "method": "tools/call", "params": {"name": "a__sleep", "arguments": {"ms": 600}}}
    pipe.allow_repeat("dup", 2)
    pipe.send(call)
    pipe.drain(0.1)
    pipe.send(call)  # the same id while the first is in flight
    pipe.send({"jsonrpc": "2.0", "id": "dup", "method": "ping"})  # and once more, on another method
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and len(pipe.responses_for("dup")) < 3:
        pipe.pump(0.1)
    pipe.drain(0.5)
    answers = pipe.responses_for("dup")
    assert len(answers) == 3, f"three requests with id 'dup' need three answers, got {len(answers)}: {answers}"
    results = [a for a in answers if "result" in a and a["result"] != {}]
    errors = [a for a in answers if "error" in a]
    pings = [a for a in answers if a.get("result") == {}]
    assert len(pings) == 1, answers
    assert len(results) + len(errors) == 2, answers
    # Either both calls ran, or the second was refused with an invalid-request error.
    for e in errors:
        assert e["error"]["code"] == INVALID, e
    assert len(results) >= 1, f"the first call must still get its own result: {answers}"
    # Once answered, the id can be used again.
    pipe._responses.pop(key_of("dup"), None)
    pipe.allow_repeat("dup", 1)
    again = pipe.request("tools/call", {"name": "a__echo", "arguments": {"text": "again"}}, request_id="dup")
    assert text_of(again["result"]) == "again"


@pytest.mark.timeout(60)
def test_invalid_json_is_never_forwarded_to_a_backend(mcpx, hostile):
    """Bytes that are not JSON must not reach a backend inside a forwarded call."""
    _, hc = hostile()
    pipe = mcpx({"h": hc.url("/ok")})
    pipe.initialize()
    pipe.wait_tools(lambda names: "h__echo" in names)
    lines = [
        b'{"jsonrpc":"2.0","id":"fw1","method":"tools/call","params":{"name":"h__echo","arguments":{"text":"\\x41"}}}',
        b'{"jsonrpc":"2.0","id":"fw2","method":"tools/call","params":{"name":"h__echo","arguments":{"text":"\xff\xfe"}}}',
        b'{"jsonrpc":"2.0","id":"fw3","method":"tools/call","params":{"name":"h__echo","arguments":{"text":"\\u12"}},"_meta":{}}',
        b'{"jsonrpc":"2.0","id":"fw4","method":"tools/call","params":{"name":"h__echo","arguments":{"text":"ok"},"_meta":{"x":"\\q"}}}',
    ]
    for line in lines:
        pipe.send_bytes(line + b"\n")
    pipe.ping_ok()
    pipe.drain(1.0)
    answered = sum(len(pipe.responses_for(f"fw{n}")) for n in range(1, 5)) + len([r for r in pipe.all_responses if r.get("id") is None])
    assert answered == len(lines), f"{len(lines)} requests, {answered} answers: {pipe.all_responses}"
    raw = [e["raw"] for e in hc.log("/ok") if "raw" in e]
    assert not raw, f"mcpx forwarded invalid JSON to the backend: {raw}"
    # And a client's bad bytes say nothing about the backend's health.
    assert pipe.server_status("h")["status"] == "ready", pipe.server_status("h")


# ---------------------------------------------------------------------------------------------
# stdin that is not a pipe
# ---------------------------------------------------------------------------------------------


@pytest.mark.timeout(60)
@pytest.mark.parametrize("source", ["regular file", "/dev/null"])
def test_stdin_from_a_file_is_read_to_the_end(mcpx_bin, processes, tmp_path, source):
    """`mcpx --stdio < requests.jsonl`: every line answered, then a clean exit at end of file."""
    import subprocess

    if source == "/dev/null":
        path, expected = "/dev/null", []
    else:
        lines = [
            b'{"jsonrpc":"2.0","id":1,"method":"ping"}',
            b"not json",
            b'{"jsonrpc":"2.0","method":"notifications/initialized"}',
            b'{"jsonrpc":"2.0","id":"two","method":"ping"}',
            b'{"jsonrpc":"2.0","id":3,"method":"nope"}',
        ]
        path = tmp_path / "requests.jsonl"
        path.write_bytes(b"\n".join(lines) + b"\n")
        expected = ["1", "null", '"two"', "3"]
    stderr_path = tmp_path / "mcpx.stderr"
    with open(path, "rb") as stdin, open(stderr_path, "wb") as stderr:
        proc = processes.spawn([mcpx_bin, "--stdio", "--log-level", "debug"], stdin=stdin, stdout=subprocess.PIPE, stderr=stderr)
        try:
            out, _ = proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            processes.kill(proc)
            out = proc.stdout.read() if proc.stdout else b""
            pytest.fail(
                f"mcpx with stdin from {source} neither answered nor exited within 5 s "
                f"(stdout so far: {out[:300]!r}); stderr:\n{stderr_path.read_text(errors='replace')[-2000:]}"
            )
    answers = [json.loads(line) for line in out.decode().splitlines()]
    assert sorted(key_of(a.get("id")) for a in answers) == sorted(expected), answers
    assert proc.returncode == 0, f"exit code {proc.returncode}"
