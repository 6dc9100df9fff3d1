"""Fuzzing mcpx's stdin with seeded, mutated JSON-RPC lines.

Each line is sent, followed by a sentinel ping; the answers that come back are attributed to the
line (by id when mcpx could read one). At the end: every request got exactly one answer, every
broken line exactly one error, notifications and responses none, no id was answered twice or
invented, stdout stayed valid JSON-RPC and mcpx is alive. Every 50 lines a burst of pipelined
valid requests checks the same under concurrency.

Replay a failure with FUZZ_SEED=<seed printed below>; run longer with FUZZ_SECONDS.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest
from faults_harness import key_of
from fuzz_gen import SECONDS, SEED, Generator, Kind, Line, classify, expected_answers, lenient_id, norm_id

BUDGET = SECONDS / 2  # the other half is test_fuzz_backend's


@dataclass
class Record:
    line: Line
    kind: Kind
    answers: list[dict[str, Any]] = field(default_factory=list)


def describe(rec: Record) -> str:
    return f"{rec.kind.what} (from {rec.line.base}, mutations {rec.line.mutations}): {rec.line.data[:160]!r}"


@pytest.mark.timeout(int(BUDGET) + 90)
def test_stdin_fuzz(mcpx, example):
    print(f"\nstdin fuzz: seed {SEED} (FUZZ_SEED={SEED} replays), budget {BUDGET:.0f}s")
    alpha = example("a")
    pipe = mcpx([alpha], "--read-only", "--call-timeout", "5", log_level="warning")
    pipe.initialize()
    pipe.wait_tools(lambda names: "a__echo" in names)
    gen = Generator(SEED, pipe.tool_names())

    records: list[Record] = []
    owner: dict[Any, int] = {}  # normalized answer id -> index of the line that owns it
    problems: list[str] = []
    bursts = burst_requests = 0

    def attribute(responses: list[dict[str, Any]], current: int) -> None:
        for r in responses:
            rid = r.get("id")
            if isinstance(rid, str) and rid.startswith(("sentinel-", "burst-")):
                continue
            key = key_of(rid)
            # Null ids answer the line just sent (such errors are written before the sentinel's
            # answer); other ids belong to the line that carried them, read leniently.
            j = owner.get(norm_id(rid)) if rid is not None else None
            records[current if j is None else j].answers.append(r)
            pipe._responses.pop(key, None)
            # Mutated ids can repeat the harness's own (1, 2...): repeats are judged per line here.
            pipe.allow_repeat(rid)

    started = time.monotonic()
    while time.monotonic() - started < BUDGET:
        line = gen.next_line()
        kind = classify(line.data)
        keys = {k for k in (norm_id(kind.id), norm_id(line.base_id), lenient_id(line.data)) if k}
        if any(k in owner for k in keys):
            continue  # never reuse an id, so every answer has one owner
        index = len(records)
        records.append(Record(line, kind))
        for k in keys:
            owner[k] = index
        mark = len(pipe.all_responses)
        pipe.send_bytes(line.data + b"\n")
        sentinel = f"sentinel-{index}"
        pipe.send({"jsonrpc": "2.0", "id": sentinel, "method": "ping"})
        deadline = time.monotonic() + 10
        while not pipe.has_response(sentinel) and time.monotonic() < deadline and pipe.proc.poll() is None:
            pipe.pump(0.05)
        if not pipe.has_response(sentinel):
            problems.append(f"mcpx stopped answering after line {index}: {describe(records[index])}")
            break
        pipe._responses.pop(key_of(sentinel))
        if kind.what == "request":
            deadline = time.monotonic() + 8
            while not any(key_of(r.get("id")) == kind.id_key for r in pipe.all_responses[mark:]) and time.monotonic() < deadline:
                pipe.pump(0.05)
        attribute(pipe.all_responses[mark:], index)

        if index % 50 == 49:
            # A burst of pipelined valid requests: each answered exactly once.
            bursts += 1
            ids = [f"burst-{bursts}-{i}" for i in range(20)]
            mark = len(pipe.all_responses)
            payload = b"".join(
                json.dumps({"jsonrpc": "2.0", "id": rid, "method": "tools/call" if i % 2 else "ping",
                            **({"params": {"name": "a__echo", "arguments": {"text": rid}}} if i % 2 else {})}).encode() + b"\n"
                for i, rid in enumerate(ids)
            )
            pipe.send_bytes(payload)
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and sum(1 for r in pipe.all_responses[mark:] if str(r.get("id")).startswith(f"burst-{bursts}-")) < len(ids):
                pipe.pump(0.1)
            got = Counter(r.get("id") for r in pipe.all_responses[mark:] if str(r.get("id")).startswith(f"burst-{bursts}-"))
            burst_requests += len(ids)
            for rid in ids:
                pipe._responses.pop(key_of(rid), None)
                if got[rid] != 1:
                    problems.append(f"burst request {rid} answered {got[rid]} times")
            attribute([r for r in pipe.all_responses[mark:] if not str(r.get("id")).startswith("burst-")], index)

    # Stragglers.
    mark = len(pipe.all_responses)
    pipe.drain(2.0)
    attribute(pipe.all_responses[mark:], len(records) - 1)
    elapsed = time.monotonic() - started

    by_kind = Counter(r.kind.what for r in records)
    lenient = [r for r in records if r.kind.what in ("bad-json", "bad-request") and any("result" in a for a in r.answers)]
    for rec in records:
        n = len(rec.answers)
        if n not in expected_answers(rec.kind):
            ids = [a.get("id") for a in rec.answers]
            problems.append(f"{n} answers (ids {ids}) to {describe(rec)}")
        elif rec.kind.what in ("bad-json", "bad-request") and n == 1 and "error" in rec.answers[0] and rec.answers[0].get("id") is None:
            code = rec.answers[0]["error"].get("code")
            if code not in (-32700, -32600, -32602, -32601):
                problems.append(f"error code {code} for {describe(rec)}")
    if pipe.proc.poll() is not None:
        problems.append(f"mcpx died (exit code {pipe.proc.returncode})")
    stdout = pipe.take_stdout_problems()
    problems += [f"stdout: {p}" for p in stdout[:20]]

    print(
        f"stdin fuzz: {len(records)} lines in {elapsed:.1f}s ({len(records) / elapsed:.0f}/s), seed {SEED}; kinds {dict(by_kind)}; "
        f"{bursts} bursts ({burst_requests} pipelined requests); answers {sum(len(r.answers) for r in records)}; "
        f"broken lines accepted leniently (answered with a result): {len(lenient)}; problems {len(problems)}"
    )
    for rec in lenient[:5]:
        print(f"  lenient: {describe(rec)}")
    assert not problems, f"stdin fuzz (seed {SEED}, FUZZ_SEED={SEED} replays) found {len(problems)} problems:\n" + "\n".join(problems[:40])
    pipe.ping_ok()
