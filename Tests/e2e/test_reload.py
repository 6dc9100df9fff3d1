"""Live configuration (issue 18, in part): SIGHUP and --watch re-read --config files and apply the
difference; unchanged servers keep their sessions (the backend's session id in whoami); an
invalid file keeps the running set and names the problem."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

from e2e_harness import text_of


def write(path: Path, servers: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"mcpServers": servers}))
    os.replace(tmp, path)


def session_of(pipe, server: str) -> str:
    r = pipe.call_tool(f"{server}__whoami", {})
    assert "result" in r and not r["result"].get("isError"), r
    return r["result"]["structuredContent"]["session"]


def wait_tools(pipe, predicate, timeout=10.0):
    return pipe.wait_tools(predicate, timeout=timeout)


def test_watch_applies_the_difference_and_keeps_unchanged_sessions(example, mcpx, tmp_path):
    a, b, c = example("a"), example("b"), example("c")
    config = tmp_path / "servers.json"
    write(config, {"a": {"url": a.url}, "b": {"url": b.url}})
    pipe = mcpx((), "--config", str(config), "--watch")
    pipe.initialize()
    wait_tools(pipe, lambda n: "a__whoami" in n and "b__whoami" in n)
    before = session_of(pipe, "a")
    mark = len(pipe.notifications)
    write(config, {"a": {"url": a.url}, "c": {"url": c.url}})
    names = wait_tools(pipe, lambda n: "c__whoami" in n and "b__whoami" not in n, timeout=15)
    assert "a__whoami" in names
    assert session_of(pipe, "a") == before, "an unchanged server keeps its session"
    changed = [n for n in pipe.notifications[mark:] if n.get("method") == "notifications/tools/list_changed"]
    assert len(changed) == 1, changed
    assert text_of(pipe.call_tool("c__echo", {"text": "hi"})["result"]) == "hi"


def test_sighup_reloads_and_an_invalid_file_keeps_the_running_set(example, mcpx, tmp_path):
    a, b = example("a"), example("b")
    config = tmp_path / "servers.json"
    write(config, {"a": {"url": a.url}})
    pipe = mcpx((), "--config", str(config))
    pipe.initialize()
    wait_tools(pipe, lambda n: "a__whoami" in n)
    before = session_of(pipe, "a")
    write(config, {"a": {"url": a.url}, "b": {"url": b.url}})
    os.kill(pipe.proc.pid, signal.SIGHUP)
    wait_tools(pipe, lambda n: "b__whoami" in n, timeout=15)
    assert session_of(pipe, "a") == before
    # An invalid entry: nothing changes, the error names the file and the key path.
    config.write_text(json.dumps({"mcpServers": {"a": {"url": a.url}, "bad": {"url": "ftp://nowhere"}}}))
    os.kill(pipe.proc.pid, signal.SIGHUP)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and "running servers stay" not in pipe.stderr_tail():
        time.sleep(0.1)
    tail = pipe.stderr_tail()
    assert "config reload" in tail and "mcpServers.bad.url" in tail and "servers.json" in tail, tail
    names = pipe.tool_names()
    assert "a__whoami" in names and "b__whoami" in names, "the running set stays"
    assert session_of(pipe, "a") == before
    assert pipe.proc.poll() is None, "mcpx keeps running"
