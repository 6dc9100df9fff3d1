"""Replicas (issue 16): one server, several instances behind mcpx, plus per-server cache and rate limit.

Every server under test here is called `main` and is backed by example servers started with their
own `--name` (r0, r1, r2), so `main__whoami` tells which replica answered a call.

Interface exercised (as the issue describes it):
- config file: per server `"urls": [...]` or `"replicas": [{"url", "weight"}]`, `"loadBalancing"`
  (round-robin | least-connections | weighted | health | random; default least-connections),
  `"retry": {"tools": [glob]}`, `"cache": {"tools": [glob], "ttl": s}`,
  `"rateLimit": {"callsPerSecond", "burst"}`; command line `--servers 'main=URL1|URL2'`,
  `--cache-max-bytes N`.
- `manage add` with `urls` (and `loadBalancing`); `manage flush_cache` (name optional / "all").
- proxy_status `servers[]`: `replicas[]` {url, status, weight, calls, errors, inFlight, p50Ms, p99Ms,
  difference (when inconsistent)}, `loadBalancing`, `cache` {hits, misses, entries, bytes},
  `rateLimited`; manage list `servers[].replicas[]` {url, status}.

Calls are sent pipelined where the order of dispatch does not matter (many requests written, then
the answers collected), sequentially where it does. Every wait has a deadline.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from e2e_harness import EXAMPLE_TOOLS, McpxPipe, text_of
from stdio_harness import server_entry, wait_entry

SERVER = "main"
READY_WINDOW = 15.0  # every replica connected and listed
RECOVERY_WINDOW = 15.0  # a restarted replica gets calls again within this


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def write_mcpx_config(path: Path, servers: Mapping[str, dict[str, Any]], **top: Any) -> Path:
    """A config file {"mcpServers": servers, **top} (the format --config reads)."""
    path.write_text(json.dumps({**top, "mcpServers": dict(servers)}, indent=2))
    return path


def start_replicas(example: Callable[..., Any], names: Sequence[str], **flags: Sequence[str]) -> list[Any]:
    """Example backends named `names`; flags={"r2": ["--extra-tools", "1"]} gives one its own flags."""
    return [example(name, *flags.get(name, ())) for name in names]


def port_in(url: str, port: int) -> bool:
    return f":{port}/" in url + "/" or url.rstrip("/").endswith(f":{port}")


def replicas_of(entry: Mapping[str, Any]) -> list[dict[str, Any]]:
    replicas = entry.get("replicas")
    assert isinstance(replicas, list), f"proxy_status entry of {entry.get('name')!r} has no replicas list: {entry}"
    return replicas


def replica_for(entry: Mapping[str, Any], backend: Any) -> dict[str, Any]:
    """The replicas[] element of `entry` whose url points at `backend`'s port."""
    for replica in replicas_of(entry):
        if port_in(str(replica.get("url", "")), backend.port):
            return replica
    raise AssertionError(f"no replica of port {backend.port} in {replicas_of(entry)}")


def status_entry(pipe: McpxPipe, name: str = SERVER) -> dict[str, Any]:
    return server_entry(pipe, name)


def all_replicas(status: str, count: int) -> Callable[[dict[str, Any]], bool]:
    def check(entry: dict[str, Any]) -> bool:
        replicas = entry.get("replicas")
        return isinstance(replicas, list) and len(replicas) == count and all(r.get("status") == status for r in replicas)

    return check


def wait_all_ready(pipe: McpxPipe, count: int, name: str = SERVER, timeout: float = READY_WINDOW) -> dict[str, Any]:
    """Poll proxy_status until `name` has `count` replicas, all ready, and its whoami is listed."""
    entry = wait_entry(pipe, name, all_replicas("ready", count), timeout)
    pipe.wait_tools(lambda names: f"{name}__whoami" in names, timeout=timeout)
    return entry


def start_mcpx_with(
    mcpx: Callable[..., McpxPipe], tmp_path: Path, server: dict[str, Any], *extra: str, **top: Any
) -> McpxPipe:
    """mcpx --config FILE (server `main` = `server`) extra..., initialized."""
    config = write_mcpx_config(tmp_path / "replicas.json", {SERVER: server}, **top)
    pipe = mcpx((), "--config", str(config), *extra)
    pipe.initialize()
    return pipe


def urls(backends: Sequence[Any]) -> list[str]:
    return [b.url for b in backends]


def is_ok(response: Mapping[str, Any]) -> bool:
    return "result" in response and not response["result"].get("isError")


def call_many(
    pipe: McpxPipe,
    tool: str,
    arguments: dict[str, Any] | None,
    count: int,
    *,
    batch: int = 50,
    timeout: float = 20.0,
) -> list[dict[str, Any]]:
    """`count` tools/call requests, written `batch` at a time before their answers are read."""
    responses: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while len(responses) < count:
        ids = []
        for _ in range(min(batch, count - len(responses))):
            request_id = pipe.next_id()
            pipe.send(
                {
                    "jsonrpc": "2.0",
                    "id": request_id,
                    "method": "tools/call",
                    "params": {"name": tool, "arguments": arguments or {}},
                }
            )
            ids.append(request_id)
        for request_id in ids:
            responses.append(pipe.wait_response(request_id, max(0.5, deadline - time.monotonic())))
    return responses


def call_sequential(pipe: McpxPipe, tool: str, arguments: dict[str, Any] | None, count: int, timeout: float = 10.0):
    return [pipe.call_tool(tool, arguments, timeout=timeout) for _ in range(count)]


def whoami_counts(responses: Sequence[dict[str, Any]]) -> tuple[Counter[str], list[dict[str, Any]]]:
    """(replica name -> successful whoami answers, the responses that were not a success)."""
    names: Counter[str] = Counter()
    failures = []
    for response in responses:
        if is_ok(response):
            names[text_of(response["result"])] += 1
        else:
            failures.append(response)
    return names, failures


def backend_calls(entry: Mapping[str, Any]) -> int:
    """Calls mcpx sent to the server's backends: the sum over replicas, else the server's counter."""
    replicas = entry.get("replicas")
    if isinstance(replicas, list) and replicas:
        return sum(int(r.get("calls", 0)) for r in replicas)
    if isinstance(entry.get("calls"), int):
        return entry["calls"]
    return int(entry.get("stats", {}).get("calls", 0))


def cache_of(pipe: McpxPipe) -> dict[str, Any]:
    entry = status_entry(pipe)
    cache = entry.get("cache")
    assert isinstance(cache, dict), f"proxy_status servers[].cache missing for {SERVER!r}: {entry}"
    for field in ("hits", "misses", "entries", "bytes"):
        assert isinstance(cache.get(field), int), f"cache.{field} should be an integer: {cache}"
    return cache


def one_answer_only(pipe: McpxPipe) -> None:
    """Nothing else arrives: no second answer to any call."""
    pipe.drain(0.5)
    extra = pipe.unclaimed_responses()
    assert not extra, f"mcpx sent answers nobody asked for (a call answered twice?): {extra}"


# ---------------------------------------------------------------------------------------------
# Load balancing
# ---------------------------------------------------------------------------------------------


def test_round_robin_splits_calls_exactly_and_lists_tools_once(example, mcpx, tmp_path):
    """round-robin over r0, r1, r2: 300 sequential main__whoami calls split exactly 100/100/100.

    The server's tools are listed once under the server name, and proxy_status shows the three
    replicas with their fields and the policy.
    """
    backends = start_replicas(example, ["r0", "r1", "r2"])
    pipe = start_mcpx_with(mcpx, tmp_path, {"urls": urls(backends), "loadBalancing": "round-robin"})
    entry = wait_all_ready(pipe, 3)
    assert entry.get("loadBalancing") == "round-robin", entry
    for backend in backends:
        replica = replica_for(entry, backend)
        for field in ("url", "status", "weight", "calls", "errors", "inFlight", "p50Ms", "p99Ms"):
            assert field in replica, f"replica entry should have {field!r}: {replica}"
        assert replica["weight"] == 1, f"weight defaults to 1: {replica}"
        assert "difference" not in replica or not replica["difference"], f"a consistent replica has no difference: {replica}"

    names = pipe.tool_names()
    assert len(names) == len(set(names)), f"a tool listed twice: {sorted(names)}"
    assert {n for n in names if n.startswith("main__")} == {f"main__{t}" for t in EXAMPLE_TOOLS}, sorted(names)
    assert not any(n.startswith(f"{r}__") for n in names for r in ("r0", "r1", "r2")), f"no tools per replica: {names}"

    counts, failures = whoami_counts(call_sequential(pipe, "main__whoami", None, 300))
    assert not failures, f"calls failed: {failures[:3]}"
    assert counts == Counter({"r0": 100, "r1": 100, "r2": 100}), counts

    entry = status_entry(pipe)
    for backend in backends:
        assert replica_for(entry, backend)["calls"] >= 100, entry


def test_weighted_three_to_one(example, mcpx, tmp_path):
    """weighted, weights 3 and 1 (default): of 1,000 calls the first replica answers 75% +- 5%."""
    heavy, light = start_replicas(example, ["r0", "r1"])
    server = {"replicas": [{"url": heavy.url, "weight": 3}, {"url": light.url}], "loadBalancing": "weighted"}
    pipe = start_mcpx_with(mcpx, tmp_path, server)
    entry = wait_all_ready(pipe, 2)
    assert entry.get("loadBalancing") == "weighted", entry
    assert replica_for(entry, heavy)["weight"] == 3, entry
    assert replica_for(entry, light)["weight"] == 1, entry

    counts, failures = whoami_counts(call_many(pipe, "main__whoami", None, 1000, batch=50, timeout=40))
    assert not failures, f"calls failed: {failures[:3]}"
    assert sum(counts.values()) == 1000
    share = counts["r0"] / 1000
    assert 0.70 <= share <= 0.80, f"weight 3:1 should give r0 75% +- 5%, got {share:.1%} ({counts})"


def test_least_connections_avoids_the_slow_replica(example, mcpx, tmp_path):
    """least-connections: r0 answers every call 300 ms late, r1 and r2 at once.

    Calls arrive as a stream (one every 10 ms, three rounds of 20, all in flight together): the
    slow replica always has a call pending, so it gets clearly fewer than a third (< 25%).
    """
    backends = start_replicas(example, ["r0", "r1", "r2"], r0=["--delay-ms", "300"])
    pipe = start_mcpx_with(mcpx, tmp_path, {"urls": urls(backends), "loadBalancing": "least-connections"})
    entry = wait_all_ready(pipe, 3)
    assert entry.get("loadBalancing") == "least-connections", entry

    responses: list[dict[str, Any]] = []
    for _ in range(3):
        ids = []
        for _ in range(20):
            request_id = pipe.next_id()
            pipe.send(
                {
                    "jsonrpc": "2.0",
                    "id": request_id,
                    "method": "tools/call",
                    "params": {"name": "main__whoami", "arguments": {}},
                }
            )
            ids.append(request_id)
            time.sleep(0.01)
        responses += [pipe.wait_response(i, timeout=15) for i in ids]
    counts, failures = whoami_counts(responses)
    assert not failures, f"calls failed: {failures[:3]}"
    assert sum(counts.values()) == 60
    assert counts["r0"] < 15, f"the slow replica should get < 25% of 60 calls: {counts}"
    assert counts["r1"] > 0 and counts["r2"] > 0, counts


def test_health_steers_away_from_a_failing_replica(example, mcpx, tmp_path):
    """health: r2 answers every call with a JSON-RPC error (--fail-calls).

    After a warm-up of 40 calls, of 200 more calls the failing replica gets < 15% (proxy_status
    counters) and > 80% succeed. A call that landed on r2 may come back as r2's error (passed
    through); every successful answer comes from r0 or r1.
    """
    backends = start_replicas(example, ["r0", "r1", "r2"], r2=["--fail-calls"])
    broken = backends[2]
    pipe = start_mcpx_with(mcpx, tmp_path, {"urls": urls(backends), "loadBalancing": "health"})
    entry = wait_all_ready(pipe, 3)
    assert entry.get("loadBalancing") == "health", entry

    call_sequential(pipe, "main__whoami", None, 40)  # warm-up: mcpx learns r2 fails
    before = replica_for(status_entry(pipe), broken)
    responses = call_sequential(pipe, "main__whoami", None, 200)
    after = replica_for(status_entry(pipe), broken)

    counts, failures = whoami_counts(responses)
    assert set(counts) <= {"r0", "r1"}, counts
    assert sum(counts.values()) > 160, f"> 80% of 200 calls should succeed: {counts}, {len(failures)} failed"
    to_broken = max(
        after.get("calls", 0) - before.get("calls", 0), after.get("errors", 0) - before.get("errors", 0)
    )
    assert to_broken < 30, f"the failing replica should get < 15% of 200 calls, got {to_broken}: {after}"
    for response in failures:  # what reached r2 is r2's own error, or an error result
        assert "error" in response or response["result"].get("isError"), response


# ---------------------------------------------------------------------------------------------
# Failover
# ---------------------------------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_failover_when_a_replica_dies_and_comes_back(example, mcpx, tmp_path):
    """round-robin over r0, r1, r2; r1 is SIGKILLed.

    The next 30 calls all succeed (refused connections go to another replica at once) and none is
    answered by r1; proxy_status shows r1 not ready. r1 restarted on the same port gets calls again
    within 15 s (--health-interval 1), then its share of them.
    """
    backends = start_replicas(example, ["r0", "r1", "r2"])
    victim = backends[1]
    pipe = start_mcpx_with(
        mcpx, tmp_path, {"urls": urls(backends), "loadBalancing": "round-robin"},
        "--health-interval", "1", "--backoff-cap", "1",
    )
    wait_all_ready(pipe, 3)
    counts, failures = whoami_counts(call_sequential(pipe, "main__whoami", None, 6))
    assert not failures and counts == Counter({"r0": 2, "r1": 2, "r2": 2}), (counts, failures)

    victim.kill()  # SIGKILL by PID; returns once the port refuses connections
    pipe.drain(0.3)
    counts, failures = whoami_counts(call_sequential(pipe, "main__whoami", None, 30))
    assert not failures, f"failover must hide the dead replica from the client: {failures[:3]}"
    assert "r1" not in counts and sum(counts.values()) == 30, counts

    entry = wait_entry(pipe, SERVER, lambda e: replica_for(e, victim).get("status") != "ready", timeout=5)
    assert replica_for(entry, victim)["status"] != "ready", entry
    assert all(replica_for(entry, b)["status"] == "ready" for b in (backends[0], backends[2])), entry

    victim.start(port=victim.port)
    deadline = time.monotonic() + RECOVERY_WINDOW
    seen_back = False
    while time.monotonic() < deadline and not seen_back:
        response = pipe.call_tool("main__whoami", timeout=10)
        assert is_ok(response), f"no call may fail while r1 comes back: {response}"
        seen_back = text_of(response["result"]) == "r1"
        if not seen_back:
            pipe.drain(0.1)
    assert seen_back, f"the restarted replica got no call within {RECOVERY_WINDOW}s: {status_entry(pipe)}"

    wait_entry(pipe, SERVER, all_replicas("ready", 3), timeout=5)
    counts, failures = whoami_counts(call_sequential(pipe, "main__whoami", None, 30))
    assert not failures, failures[:3]
    assert counts["r1"] >= 8, f"the recovered replica should get its share (~10 of 30) again: {counts}"


def _kill_replica_mid_call(example, mcpx, tmp_path, server_extra: dict[str, Any]):
    """Start r0, r1 (least-connections); send main__sleep 1500 ms; SIGKILL the replica running it.

    Returns (pipe, response to the call, calls the surviving replica received meanwhile).
    """
    backends = start_replicas(example, ["r0", "r1"])
    pipe = start_mcpx_with(mcpx, tmp_path, {"urls": urls(backends), **server_extra}, "--call-timeout", "20")
    wait_all_ready(pipe, 2)

    request_id = pipe.next_id()
    pipe.send(
        {"jsonrpc": "2.0", "id": request_id, "method": "tools/call",
         "params": {"name": "main__sleep", "arguments": {"ms": 1500}}}
    )
    deadline = time.monotonic() + 5
    busy = None
    entry: dict[str, Any] = {}
    while busy is None and time.monotonic() < deadline:
        entry = status_entry(pipe)
        busy = next((b for b in backends if int(replica_for(entry, b).get("inFlight", 0)) >= 1), None)
        if busy is None:
            pipe.drain(0.02)
    assert busy is not None, f"no replica shows the sleep call in flight: {entry}"
    survivor = backends[1] if busy is backends[0] else backends[0]
    survivor_before = replica_for(entry, survivor)["calls"]

    busy.kill()
    response = pipe.wait_response(request_id, timeout=15)
    survivor_after = replica_for(status_entry(pipe), survivor)["calls"]
    one_answer_only(pipe)
    return pipe, response, survivor_after - survivor_before


@pytest.mark.timeout(45)
def test_call_that_may_have_run_is_not_repeated(example, mcpx, tmp_path):
    """A call sent, then its replica dies mid-call: without a retry rule it is not sent again.

    The client gets exactly one answer, an error (JSON-RPC error or isError result), and the other
    replica never saw the call.
    """
    _, response, repeated = _kill_replica_mid_call(example, mcpx, tmp_path, {})
    assert "error" in response or response["result"].get("isError") is True, (
        f"a call whose replica died mid-call must fail, not be repeated silently: {response}"
    )
    assert repeated == 0, f"the call was repeated on the other replica ({repeated} calls) without a retry rule"


@pytest.mark.timeout(45)
def test_retry_rule_repeats_a_matching_call_once_on_another_replica(example, mcpx, tmp_path):
    """`"retry": {"tools": ["sle*"]}` (glob on the backend's tool name): a sleep call whose replica
    dies mid-call is retried once on the other replica; the client gets exactly one answer, a
    success."""
    _, response, repeated = _kill_replica_mid_call(example, mcpx, tmp_path, {"retry": {"tools": ["sle*"]}})
    assert is_ok(response), f"the retried call should succeed on the other replica: {response}"
    assert text_of(response["result"]) == "slept 1500 ms", response
    assert repeated == 1, f"the call should be retried exactly once, the other replica saw {repeated}"


# ---------------------------------------------------------------------------------------------
# One tool set
# ---------------------------------------------------------------------------------------------


def test_inconsistent_replica_gets_no_calls(example, mcpx, tmp_path):
    """r2 lists one tool more (--extra-tools 1): it shows `inconsistent` with the difference
    (extra: tool_0), gets none of 30 round-robin calls, and main__tool_0 is not listed."""
    backends = start_replicas(example, ["r0", "r1", "r2"], r2=["--extra-tools", "1"])
    odd = backends[2]
    pipe = start_mcpx_with(
        mcpx, tmp_path, {"urls": urls(backends), "loadBalancing": "round-robin"}, "--expose", "all"
    )
    entry = wait_entry(
        pipe, SERVER,
        lambda e: isinstance(e.get("replicas"), list) and len(e["replicas"]) == 3
        and replica_for(e, odd).get("status") == "inconsistent"
        and all(replica_for(e, b).get("status") == "ready" for b in backends[:2]),
        timeout=READY_WINDOW,
    )
    difference = replica_for(entry, odd).get("difference")
    assert isinstance(difference, dict), f"an inconsistent replica should say how it differs: {entry}"
    extra = difference.get("extra")
    assert isinstance(extra, list) and any("tool_0" in json.dumps(item) for item in extra), difference
    assert not difference.get("missing"), f"r2 misses nothing: {difference}"
    for backend in backends[:2]:
        assert not replica_for(entry, backend).get("difference"), entry

    names = pipe.wait_tools(lambda n: "main__whoami" in n, timeout=10)
    assert "main__tool_0" not in names, "a tool only an inconsistent replica has must not be listed"
    assert len(names) == len(set(names)), f"a tool listed twice: {sorted(names)}"
    assert {n for n in names if n.startswith("main__")} == {f"main__{t}" for t in EXAMPLE_TOOLS}, sorted(names)

    counts, failures = whoami_counts(call_many(pipe, "main__whoami", None, 30, batch=10))
    assert not failures, failures[:3]
    assert "r2" not in counts and sum(counts.values()) == 30, counts
    assert replica_for(status_entry(pipe), odd)["calls"] == 0, status_entry(pipe)


# ---------------------------------------------------------------------------------------------
# Cache
# ---------------------------------------------------------------------------------------------


def start_cached(example, mcpx, tmp_path, cache: dict[str, Any], *extra: str) -> McpxPipe:
    """main = r0, r1 under round-robin (so an uncached repeat would come from the other replica)."""
    backends = start_replicas(example, ["r0", "r1"])
    pipe = start_mcpx_with(
        mcpx, tmp_path, {"urls": urls(backends), "loadBalancing": "round-robin", "cache": cache}, *extra
    )
    wait_all_ready(pipe, 2)
    return pipe


def test_cache_hit_then_expiry(example, mcpx, tmp_path, manage):
    """cache whoami, ttl 1: the repeat is a hit with the same answer (not the other replica's);
    1.2 s later it is a miss again; flush_cache name "all" empties the cache."""
    pipe = start_cached(example, mcpx, tmp_path, {"tools": ["get_*", "whoami"], "ttl": 1})
    cache = cache_of(pipe)
    assert (cache["hits"], cache["misses"], cache["entries"]) == (0, 0, 0), cache

    first = pipe.call_ok("main__whoami")
    second = pipe.call_ok("main__whoami")
    assert text_of(second) == text_of(first), "a cache hit gives the cached answer"
    assert second.get("structuredContent") == first.get("structuredContent")
    cache = cache_of(pipe)
    assert (cache["hits"], cache["misses"]) == (1, 1), cache
    assert cache["entries"] == 1 and cache["bytes"] > 0, cache
    assert backend_calls(status_entry(pipe)) == 1, status_entry(pipe)

    time.sleep(1.2)
    pipe.call_ok("main__whoami")
    cache = cache_of(pipe)
    assert (cache["hits"], cache["misses"]) == (1, 2), f"after the ttl the call is a miss again: {cache}"
    assert backend_calls(status_entry(pipe)) == 2

    response = manage(pipe, "flush_cache", name="all")
    assert is_ok(response), response
    assert cache_of(pipe)["entries"] == 0


def test_cache_never_stores_error_results(example, mcpx, tmp_path):
    """`fail` matches the cache patterns, but an isError result is never cached: two calls, two
    misses, no hit, both reach a backend."""
    pipe = start_cached(example, mcpx, tmp_path, {"tools": ["fail", "whoami"], "ttl": 30})
    for _ in range(2):
        response = pipe.call_tool("main__fail", {"message": "nope"})
        assert "result" in response and response["result"].get("isError") is True, response
    cache = cache_of(pipe)
    assert cache["hits"] == 0 and cache["misses"] == 2, cache
    assert cache["entries"] == 0, cache
    assert backend_calls(status_entry(pipe)) == 2


def test_cache_key_ignores_argument_order_and_whitespace(example, mcpx, tmp_path, manage):
    """echo {"text":"a","x":1} then {"x":1,"text":"a"} (sent with other whitespace): a hit.
    Other arguments are a miss; flush_cache without a name flushes, the next call misses."""
    pipe = start_cached(example, mcpx, tmp_path, {"tools": ["echo"], "ttl": 30})
    assert text_of(pipe.call_ok("main__echo", {"text": "a", "x": 1})) == "a"

    request_id = pipe.next_id()
    pipe.send_raw(
        '{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"main__echo",'
        '"arguments":{  "x" : 1 ,\t"text" :  "a"  }}}' % request_id
    )
    response = pipe.wait_response(request_id)
    assert is_ok(response) and text_of(response["result"]) == "a", response
    cache = cache_of(pipe)
    assert (cache["hits"], cache["misses"]) == (1, 1), f"same arguments in another order should hit: {cache}"

    assert text_of(pipe.call_ok("main__echo", {"text": "a", "x": 2})) == "a"
    cache = cache_of(pipe)
    assert (cache["hits"], cache["misses"]) == (1, 2), f"different arguments are a miss: {cache}"
    assert cache["entries"] == 2, cache

    response = manage(pipe, "flush_cache")
    assert is_ok(response), response
    assert cache_of(pipe)["entries"] == 0
    pipe.call_ok("main__echo", {"text": "a", "x": 1})
    cache = cache_of(pipe)
    assert cache["misses"] == 3 and cache["hits"] == 1, f"after flush_cache the call is a miss: {cache}"
    assert backend_calls(status_entry(pipe)) == 3


def test_cache_single_flight_and_flush(example, mcpx, tmp_path, manage):
    """cache sleep, ttl 30: 5 identical sleep {ms: 300} calls at once are all answered, and the
    backends see exactly one; a repeat is a hit; flush_cache name "main" makes the next a miss."""
    pipe = start_cached(example, mcpx, tmp_path, {"tools": ["sleep"], "ttl": 30})
    responses = call_many(pipe, "main__sleep", {"ms": 300}, 5, batch=5, timeout=10)
    for response in responses:
        assert is_ok(response) and text_of(response["result"]) == "slept 300 ms", response
    assert backend_calls(status_entry(pipe)) == 1, f"identical calls in flight are sent once: {status_entry(pipe)}"
    assert cache_of(pipe)["entries"] == 1

    hits = cache_of(pipe)["hits"]
    assert text_of(pipe.call_ok("main__sleep", {"ms": 300})) == "slept 300 ms"
    assert cache_of(pipe)["hits"] == hits + 1
    assert backend_calls(status_entry(pipe)) == 1

    response = manage(pipe, "flush_cache", name=SERVER)
    assert is_ok(response), response
    assert cache_of(pipe)["entries"] == 0
    misses = cache_of(pipe)["misses"]
    assert text_of(pipe.call_ok("main__sleep", {"ms": 300})) == "slept 300 ms"
    assert cache_of(pipe)["misses"] == misses + 1
    assert backend_calls(status_entry(pipe)) == 2


def test_cache_max_bytes_bounds_memory_lru(example, mcpx, tmp_path):
    """--cache-max-bytes 16384: 20 distinct 1,000-character echo answers do not all stay; the
    cache keeps under the bound, the most recent is still a hit, the oldest was evicted."""
    limit = 16384
    pipe = start_cached(example, mcpx, tmp_path, {"tools": ["echo"], "ttl": 60}, "--cache-max-bytes", str(limit))
    texts = [f"{i:02d}" + "x" * 998 for i in range(20)]
    for text in texts:
        assert text_of(pipe.call_ok("main__echo", {"text": text})) == text
    cache = cache_of(pipe)
    assert 1 <= cache["entries"] < 20, cache
    assert cache["bytes"] <= limit, f"the cache grew past --cache-max-bytes: {cache}"

    hits, misses = cache["hits"], cache["misses"]
    pipe.call_ok("main__echo", {"text": texts[-1]})
    assert cache_of(pipe)["hits"] == hits + 1, "the most recent entry should still be cached"
    pipe.call_ok("main__echo", {"text": texts[0]})
    assert cache_of(pipe)["misses"] == misses + 1, "the least recently used entry should be gone"


# ---------------------------------------------------------------------------------------------
# Rate limit
# ---------------------------------------------------------------------------------------------


def test_rate_limit_refuses_at_once_then_recovers(example, mcpx, tmp_path):
    """rateLimit 2 calls/s, burst 2: of 5 quick calls the first 2 succeed, the others get at once
    an isError result mentioning the rate limit; proxy_status counts them; ~1 s later calls pass."""
    backends = start_replicas(example, ["r0", "r1"])
    pipe = start_mcpx_with(
        mcpx, tmp_path, {"urls": urls(backends), "rateLimit": {"callsPerSecond": 2, "burst": 2}}
    )
    wait_all_ready(pipe, 2)
    calls_before = backend_calls(status_entry(pipe))

    results = []
    for _ in range(5):
        started = time.monotonic()
        results.append((pipe.call_tool("main__echo", {"text": "hi"}), time.monotonic() - started))
    for response, _ in results[:2]:
        assert is_ok(response) and text_of(response["result"]) == "hi", response
    for response, elapsed in results[2:]:
        assert "result" in response, f"a rate-limited call is a tool result, not a JSON-RPC error: {response}"
        assert response["result"].get("isError") is True, response
        assert "rate limit" in text_of(response["result"]).lower(), response
        assert elapsed < 0.5, f"a rate-limited call is refused at once, took {elapsed:.2f}s"

    entry = status_entry(pipe)
    assert isinstance(entry.get("rateLimited"), int) and entry["rateLimited"] >= 3, entry
    assert backend_calls(entry) - calls_before == 2, f"refused calls must not reach a backend: {entry}"

    time.sleep(1.1)
    assert text_of(pipe.call_ok("main__echo", {"text": "again"})) == "again"


# ---------------------------------------------------------------------------------------------
# Configuration paths: manage add, --servers
# ---------------------------------------------------------------------------------------------


def test_manage_add_with_urls(example, mcpx, manage):
    """manage add name=main urls=[3] loadBalancing=round-robin: 30 calls reach all three (10 each);
    manage list shows the 3 replicas with url and status."""
    alpha = example("alpha")
    backends = start_replicas(example, ["r0", "r1", "r2"])
    pipe = mcpx([alpha])
    pipe.initialize()
    pipe.wait_tools(lambda n: "alpha__echo" in n, timeout=10)

    response = manage(pipe, "add", name=SERVER, urls=urls(backends), loadBalancing="round-robin")
    assert is_ok(response), response
    entry = wait_all_ready(pipe, 3)
    assert entry.get("loadBalancing") == "round-robin", entry
    assert pipe.tool_names().count("main__whoami") == 1

    counts, failures = whoami_counts(call_sequential(pipe, "main__whoami", None, 30))
    assert not failures, failures[:3]
    assert counts == Counter({"r0": 10, "r1": 10, "r2": 10}), counts

    listing = manage(pipe, "list")
    assert is_ok(listing), listing
    servers = {s.get("name"): s for s in listing["result"]["structuredContent"]["servers"]}
    assert SERVER in servers, servers
    replicas = servers[SERVER].get("replicas")
    assert isinstance(replicas, list) and len(replicas) == 3, servers[SERVER]
    for backend in backends:
        replica = replica_for(servers[SERVER], backend)
        assert replica.get("status") == "ready", replica
    assert text_of(pipe.call_ok("alpha__whoami")) == "alpha"


def test_servers_flag_pipe_separates_replicas(example, mcpx):
    """--servers 'main=URL1|URL2': one server, two replicas, default policy least-connections."""
    backends = start_replicas(example, ["r0", "r1"])
    pipe = mcpx({SERVER: "|".join(urls(backends))})
    pipe.initialize()
    entry = wait_all_ready(pipe, 2)
    for backend in backends:
        replica_for(entry, backend)
    assert entry.get("loadBalancing") == "least-connections", f"the default policy: {entry}"
    names = pipe.tool_names()
    assert names.count("main__whoami") == 1
    assert text_of(pipe.call_ok("main__whoami")) in {"r0", "r1"}


# ---------------------------------------------------------------------------------------------
# Timeouts, stdio replicas, persistence
# ---------------------------------------------------------------------------------------------


def test_timed_out_call_is_retried_once_on_another_replica_only_with_a_retry_rule(example, mcpx, tmp_path):
    """r0 answers every call after 1.5 s, the server's timeout is 0.4 s. With `retry` naming
    whoami, a call that lands on r0 times out there and is answered by r1, once; without it, the
    call that lands on r0 gets the timeout error. Round-robin makes the first call land on r0."""
    slow, fast = example("r0", "--delay-ms", "1500"), example("r1")
    for rule, expect_ok in (({"retry": {"tools": ["whoami"]}}, True), ({}, False)):
        server = {"urls": [slow.url, fast.url], "loadBalancing": "round-robin", "timeout": 0.4, **rule}
        config = write_mcpx_config(tmp_path / f"retry-{expect_ok}.json", {SERVER: server})
        pipe = mcpx((), "--config", str(config))
        pipe.initialize()
        wait_all_ready(pipe, 2)
        started = time.monotonic()
        response = pipe.call_tool("main__whoami", {}, timeout=10)
        elapsed = time.monotonic() - started
        if expect_ok:
            assert is_ok(response) and text_of(response["result"]) == "r1", response
            assert elapsed < 1.4, f"the retry should not wait for the slow replica: {elapsed:.2f} s"
            assert status_entry(pipe).get("retries") == 1, status_entry(pipe)
        else:
            assert not is_ok(response), f"without a retry rule a timed-out call is not repeated: {response}"
            assert "0.4" in json.dumps(response) or "timed out" in json.dumps(response).lower(), response
        one_answer_only(pipe)
        pipe.close()


def test_stdio_replicas_from_a_config_file(example_server_bin, mcpx, tmp_path):
    """`"replicas": [{"command": ...}, {"command": ...}]`: two stdio processes behind one name,
    both called (round-robin), each with its own pid in status."""
    replicas = [{"command": str(example_server_bin), "args": ["--stdio", "--name", f"s{i}"]} for i in range(2)]
    pipe = start_mcpx_with(mcpx, tmp_path, {"replicas": replicas, "loadBalancing": "round-robin"})
    entry = wait_all_ready(pipe, 2)
    pids = [r.get("pid") for r in replicas_of(entry)]
    assert all(isinstance(p, int) for p in pids) and len(set(pids)) == 2, entry
    counts, failures = whoami_counts(call_sequential(pipe, "main__whoami", {}, 10))
    assert not failures and counts == Counter({"s0": 5, "s1": 5}), (counts, failures)


def test_replicas_added_with_manage_survive_a_restart_through_the_state_file(example, mcpx, manage, tmp_path):
    """`manage add` with urls and --state: after a restart the server comes back with both
    replicas and its balancing."""
    a, b = example("r0"), example("r1")
    state = tmp_path / "state.json"
    pipe = mcpx((), "--state", str(state))
    pipe.initialize()
    response = manage(pipe, "add", name=SERVER, urls=[a.url, b.url], loadBalancing="round-robin")
    assert is_ok(response), response
    pipe.close()
    saved = json.loads(state.read_text())
    assert any(s.get("urls") == [a.url, b.url] for s in saved["servers"]), saved
    again = mcpx((), "--state", str(state))
    again.initialize()
    entry = wait_all_ready(again, 2)
    assert entry.get("loadBalancing") == "round-robin", entry
    counts, failures = whoami_counts(call_sequential(again, "main__whoami", {}, 4))
    assert not failures and counts == Counter({"r0": 2, "r1": 2}), (counts, failures)


@pytest.mark.parametrize(
    "server, words",
    [
        ({"urls": []}, "non-empty"),
        ({"urls": ["http://127.0.0.1:1/mcp", "http://127.0.0.1:1/mcp"]}, "same instance"),
        ({"urls": ["ftp://x"]}, "http"),
        ({"urls": ["http://127.0.0.1:1/mcp"], "url": "http://127.0.0.1:2/mcp"}, "one place"),
        ({"replicas": [{"url": "http://127.0.0.1:1/mcp", "weight": 0}]}, "weight"),
        ({"urls": ["http://127.0.0.1:1/mcp"], "loadBalancing": "fastest"}, "loadBalancing"),
        ({"url": "http://127.0.0.1:1/mcp", "cache": {"tools": ["x"], "ttl": -1}}, "ttl"),
        ({"url": "http://127.0.0.1:1/mcp", "rateLimit": {"callsPerSecond": 0}}, "rateLimit"),
    ],
)
def test_bad_replica_config_is_refused_with_the_key_path(mcpx_bin, tmp_path, server, words):
    """A wrong replica, balancing, cache or rate-limit entry stops mcpx (exit 2) naming the file,
    the key path and the problem."""
    import subprocess

    config = write_mcpx_config(tmp_path / "bad.json", {SERVER: server})
    proc = subprocess.run(
        [str(mcpx_bin), "--stdio", "--config", str(config)], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=10
    )
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "bad.json" in proc.stderr and "mcpServers.main" in proc.stderr and words in proc.stderr, proc.stderr
