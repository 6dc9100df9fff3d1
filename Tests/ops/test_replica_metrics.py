"""/metrics for replicated, cached and rate-limited servers (issue 16), through the HTTP door."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path


def sample(text: str, family: str, **labels: str) -> float | None:
    """The value of `family{labels}` in a Prometheus text exposition, or None."""
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        m = re.match(rf"^{re.escape(family)}\{{([^}}]*)\}} (\S+)$", line)
        if m and m.group(1) == want:
            return float(m.group(2))
    return None


def test_metrics_count_cache_hits_misses_rate_limit_and_replicas(example, mcpx_http, tmp_path: Path):
    """Two replicas with a cache on whoami and a rate limit: /metrics shows one miss then one hit,
    the refused calls, calls summed over both replicas, and each replica's calls in flight."""
    a, b = example("ra"), example("rb")
    config = tmp_path / "servers.json"
    config.write_text(json.dumps({"mcpServers": {"main": {
        "urls": [a.url, b.url], "loadBalancing": "round-robin",
        "cache": {"tools": ["whoami"], "ttl": 60},
        "rateLimit": {"callsPerSecond": 1, "burst": 3},
    }}}))
    server = mcpx_http((), "--config", str(config))
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if server.get_json("/health").get("status") == "ok":
            break
        time.sleep(0.1)
    first = server.post_call("main__whoami").json()
    second = server.post_call("main__whoami").json()
    assert first == second, (first, second)
    # echo is not cached: it spends the two tokens left, then is refused.
    answers = [server.post_call("main__echo", {"text": f"t{i}"}).json() for i in range(4)]
    refused = [x for x in answers if "rate limit" in json.dumps(x).lower()]
    assert len(refused) >= 2, answers
    text = server.get("/metrics").body.decode()
    assert sample(text, "mcpx_cache_misses_total", server="main") == 1, text
    assert sample(text, "mcpx_cache_hits_total", server="main") == 1, text
    assert sample(text, "mcpx_rate_limited_total", server="main") == len(refused), text
    for replica in ("1", "2"):
        assert sample(text, "mcpx_replica_calls_in_flight", server="main", replica=replica) == 0, text
    ok_echo = sample(text, "mcpx_tool_calls_total", server="main", tool="echo", outcome="ok")
    assert ok_echo == 4 - len(refused), (ok_echo, text)
