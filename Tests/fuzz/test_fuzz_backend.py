"""Fuzzing mcpx's reading of backend answers (JSON bodies and SSE streams).

A hostile backend (Tests/faults/hostile_backend.py, mode `fuzz`) answers every tools/call with a
randomly mutated answer: byte flips, truncation, wrong ids, type swaps, odd SSE framing, huge
numbers, invalid UTF-8, deep nesting, duplicates, garbage, odd statuses and content types... The
mutation of the n-th call the backend receives is a function of (seed, n).

The client keeps 8 calls in flight to it, plus one to a healthy backend, for the time budget.
Every call must get exactly one answer within the hard limit, calls to the healthy backend must
all succeed, stdout must stay valid JSON-RPC and mcpx must stay alive.

Replay with FUZZ_SEED=<seed printed below> (the order in which concurrent calls reach the backend
may differ between runs); run longer with FUZZ_SECONDS.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from typing import Any

import pytest
from faults_harness import key_of, text_of
from fuzz_gen import SECONDS, SEED, random_text

BUDGET = SECONDS / 2  # the other half is test_fuzz_stdin's
IN_FLIGHT = 8
CALL_TIMEOUT = 3.0
MAX_CALL_TIME = 5.0
BOUND = MAX_CALL_TIME + 3.0  # no call may wait longer than this for its answer


@pytest.mark.timeout(int(BUDGET) + 90)
def test_backend_answer_fuzz(mcpx, example, hostile):
    print(f"\nbackend fuzz: seed {SEED} (FUZZ_SEED={SEED} replays), budget {BUDGET:.0f}s")
    good = example("good")
    _, hc = hostile()
    path = f"/fuzz/f?seed={SEED}&on=call"
    pipe = mcpx(
        {"good": good.url, "fz": hc.url(path)},
        "--call-timeout", str(CALL_TIMEOUT), "--max-call-time", str(MAX_CALL_TIME), "--backoff-cap", "0.5",
        log_level="warning",
    )
    pipe.initialize()
    pipe.wait_tools(lambda names: "fz__echo" in names and "good__echo" in names)
    rng = random.Random(SEED)

    sent: dict[str, tuple[float, str]] = {}  # id -> (send time, target)
    answers: dict[str, dict[str, Any]] = {}
    latency: dict[str, float] = {}
    problems: list[str] = []
    counter = 0

    def send(target: str) -> None:
        nonlocal counter
        counter += 1
        rid = f"bf-{counter}"
        text = random_text(rng, 30)
        pipe.send({"jsonrpc": "2.0", "id": rid, "method": "tools/call", "params": {"name": target, "arguments": {"text": text}}})
        sent[rid] = (time.monotonic(), target)

    def collect() -> None:
        for rid, (t0, _target) in list(sent.items()):
            if rid in answers:
                continue
            if pipe.has_response(rid):
                answers[rid] = pipe.wait_response(rid, timeout=0.1)
                latency[rid] = time.monotonic() - t0
            elif time.monotonic() - t0 > BOUND and rid not in latency:
                latency[rid] = float("inf")
                needle = f'"id":"{rid}"'
                broken = [line for line in pipe.lines if needle in line]
                if broken:
                    problems.append(f"call {rid} ({sent[rid][1]}) answered with a line that is not JSON: {broken[0][:200]!r}")
                else:
                    problems.append(f"call {rid} ({sent[rid][1]}) not answered within {BOUND}s")

    started = time.monotonic()
    while time.monotonic() - started < BUDGET:
        pending = [rid for rid in sent if rid not in answers and latency.get(rid) != float("inf")]
        fz_pending = sum(1 for rid in pending if sent[rid][1] == "fz__echo")
        good_pending = len(pending) - fz_pending
        for _ in range(IN_FLIGHT - fz_pending):
            send("fz__echo")
        if good_pending == 0:
            send("good__echo")
        pipe.pump(0.05)
        collect()
        if pipe.proc.poll() is not None:
            problems.append(f"mcpx died (exit code {pipe.proc.returncode})")
            break
    # Let everything in flight finish.
    deadline = time.monotonic() + BOUND + 1
    while time.monotonic() < deadline and any(rid not in answers and latency.get(rid) != float("inf") for rid in sent):
        pipe.pump(0.1)
        collect()
    collect()
    pipe.drain(0.5)
    elapsed = time.monotonic() - started

    outcomes: Counter[str] = Counter()
    for rid, (_, target) in sent.items():
        count = pipe.answer_counts[key_of(rid)]
        if count > 1:
            problems.append(f"call {rid} ({target}) answered {count} times")
        answer = answers.get(rid)
        if answer is None:
            if latency.get(rid) != float("inf"):
                problems.append(f"call {rid} ({target}) never answered")
            continue
        if "error" in answer:
            outcomes["jsonrpc error"] += 1
            if target == "fz__echo":
                continue
        elif not isinstance(answer.get("result"), dict):
            # Valid JSON-RPC, but no CallToolResult: mcpx passed the backend's result on as it was.
            outcomes["non-object result passed on"] += 1
            if target == "fz__echo":
                continue
            problems.append(f"the healthy backend's answer has no result object: {answer}")
        elif answer["result"].get("isError"):
            outcomes["isError"] += 1
            if target == "fz__echo" and "fz" not in text_of(answer["result"]):
                # A backend's own isError result passes through; mcpx's own errors name the server.
                outcomes["isError (backend's own)"] += 1
        else:
            outcomes["ok"] += 1
        if target == "good__echo" and ("error" in answer or answer["result"].get("isError")):
            problems.append(f"a call to the healthy backend failed while the other was fuzzed: {answer}")
    good_latencies = sorted(latency[r] for r, (_, t) in sent.items() if t == "good__echo" and r in answers)
    fz_latencies = sorted(latency[r] for r, (_, t) in sent.items() if t == "fz__echo" and r in answers)
    stats = hc.stats(path)
    strategies = {k[5:]: v for k, v in sorted(stats.items()) if k.startswith("fuzz_")}
    stdout = pipe.take_stdout_problems()
    problems += [f"stdout: {p}" for p in stdout[:20]]

    def pct(values: list[float], q: float) -> float:
        return values[min(len(values) - 1, int(q * (len(values) - 1)))] * 1000 if values else 0.0

    print(
        f"backend fuzz: {len(sent)} calls in {elapsed:.1f}s, seed {SEED}; outcomes {dict(outcomes)}; "
        f"fuzzed answers by strategy {strategies}; fz latency p50 {pct(fz_latencies, 0.5):.0f} ms max {pct(fz_latencies, 1):.0f} ms; "
        f"healthy backend: {len(good_latencies)} calls, p50 {pct(good_latencies, 0.5):.1f} ms, max {pct(good_latencies, 1):.0f} ms; "
        f"mcpx status of fz: {pipe.server_status('fz').get('stats', {}).get('errorsByKind')}; problems {len(problems)}"
    )
    assert not problems, f"backend fuzz (seed {SEED}, FUZZ_SEED={SEED} replays) found {len(problems)} problems:\n" + "\n".join(problems[:40])
    pipe.ping_ok()
