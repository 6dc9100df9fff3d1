"""Memory per request: mcpx's RSS stays flat over thousands of calls on every path.

After a warm-up round, three more rounds of the same mix must not grow VmRSS by more than a
small bound. The mix covers the paths a request can take: forwarded and answered, forwarded with
progress, answered with the backend's error, cancelled by the client, refused (unknown tool),
answered by mcpx itself, and failing against a backend that answers HTTP 500.
A leak of a few hundred bytes per call shows up as megabytes here.
"""

from __future__ import annotations

import time
from collections import Counter

import pytest
from faults_harness import key_of, proc_figures

ROUND = 1500
IN_FLIGHT = 16
ROUNDS = 4  # the first is warm-up
GROWTH_LIMIT_KIB = 2 * 1024  # the leak fixed in 8b5dc00 (about 1.3 KiB per call) grows 3.7 MiB here


@pytest.mark.timeout(120)
def test_rss_is_flat_per_call(mcpx, example, hostile):
    alpha = example("a")
    _, hc = hostile()
    pipe = mcpx({"a": alpha.url, "sick": hc.url("/status/m?code=500")}, "--call-timeout", "5", log_level="error")
    pipe.initialize()
    pipe.wait_tools(lambda names: "a__echo" in names and "sick__trigger" in names)
    pid = pipe.proc.pid
    counter = 0
    kinds: Counter[str] = Counter()
    cancelled: set[str] = set()

    def one() -> tuple[str, dict]:
        nonlocal counter
        counter += 1
        rid = f"m{counter}"
        k = counter % 8
        if k == 0:
            return rid, {"method": "tools/call", "params": {"name": "a__progress", "arguments": {"steps": 2, "delay_ms": 1}, "_meta": {"progressToken": rid}}}
        if k == 1:
            return rid, {"method": "tools/call", "params": {"name": "a__fail", "arguments": {}}}
        if k == 2:
            return rid, {"method": "tools/call", "params": {"name": "nope__x", "arguments": {}}}
        if k == 3:
            return rid, {"method": "tools/call", "params": {"name": "sick__trigger", "arguments": {}}}
        if k == 4:
            return rid, {"method": "tools/list", "params": {}}
        if k == 5:
            return rid, {"method": "tools/call", "params": {"name": "a__sleep", "arguments": {"ms": 50}}, "cancel": True}
        return rid, {"method": "tools/call", "params": {"name": "a__echo", "arguments": {"text": rid * 4}}}

    def run_round() -> None:
        outstanding: set[str] = set()
        sent = 0
        deadline = time.monotonic() + 60
        while (sent < ROUND or outstanding) and time.monotonic() < deadline:
            while sent < ROUND and len(outstanding) < IN_FLIGHT:
                rid, spec = one()
                cancel = spec.pop("cancel", False)
                pipe.send({"jsonrpc": "2.0", "id": rid, **spec})
                sent += 1
                if cancel:
                    pipe.notify("notifications/cancelled", {"requestId": rid, "reason": "memory test"})
                    kinds["cancelled"] += 1
                    cancelled.add(rid)
                else:
                    outstanding.add(rid)
            pipe.pump(0.05)
            for rid in list(outstanding):
                if pipe.has_response(rid):
                    r = pipe.wait_response(rid, timeout=0.1)
                    kinds["error" if "error" in r else ("isError" if r["result"].get("isError") else "ok")] += 1
                    outstanding.discard(rid)
        assert not outstanding, f"{len(outstanding)} calls unanswered after 60 s"

    rss: list[float] = []
    for _ in range(ROUNDS):
        t0 = time.monotonic()
        run_round()
        pipe.drain(0.3)
        rss.append(proc_figures(pid)["rss_kib"])
        print(f"\nround of {ROUND} calls in {time.monotonic() - t0:.1f}s: RSS {rss[-1] / 1024:.1f} MiB")
    growth = rss[-1] - rss[1]
    late = [rid for rid in cancelled if pipe.answer_counts[key_of(rid)]]
    assert not late, f"{len(late)} cancelled calls were answered anyway, e.g. {late[:5]}"
    print(f"memory per call: RSS after each round {[round(r / 1024, 1) for r in rss]} MiB; kinds {dict(kinds)}; "
          f"growth after warm-up {growth / 1024:.2f} MiB over {ROUND * (ROUNDS - 2)} calls ({growth * 1024 / (ROUND * (ROUNDS - 2)):.0f} B/call)")
    assert growth < GROWTH_LIMIT_KIB, (
        f"mcpx RSS grew {growth / 1024:.1f} MiB over {ROUND * (ROUNDS - 2)} calls after warm-up "
        f"({growth * 1024 / (ROUND * (ROUNDS - 2)):.0f} bytes per call): a leak on some request path"
    )
    pipe.ping_ok()
