"""History of server-set changes (issue 18, in part): every manage change recorded with actor,
action, server, before and after; kept beside --state as append-only JSON lines across restarts
(a torn last line ignored); manage history, manage rollback and mcpx history."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from e2e_harness import text_of


def ok(response):
    assert "result" in response and not response["result"].get("isError"), response
    return response["result"]


def history_lines(state: Path) -> list[dict]:
    return [json.loads(l) for l in (Path(str(state) + ".history.jsonl")).read_text().splitlines() if l.strip()]


def test_changes_are_recorded_with_actor_and_entries(example, mcpx, manage, tmp_path):
    a = example("a")
    state = tmp_path / "state.json"
    pipe = mcpx((), "--state", str(state))
    pipe.initialize()
    ok(manage(pipe, "add", name="docs", url=a.url))
    ok(manage(pipe, "disable", name="docs"))
    ok(manage(pipe, "enable", name="docs"))
    ok(manage(pipe, "remove", name="docs"))
    result = ok(manage(pipe, "history"))
    entries = result["structuredContent"]["entries"]
    assert [e["action"] for e in entries] == ["add", "disable", "enable", "remove"]
    assert all(e["actor"] == "model" and e["server"] == "docs" for e in entries)
    assert entries[0]["before"] is None and entries[0]["after"]["url"] == a.url
    assert entries[1]["before"]["enabled"] is True and entries[1]["after"]["enabled"] is False
    assert entries[3]["after"] is None
    assert [e["id"] for e in entries] == [1, 2, 3, 4]
    assert "add docs" in text_of(result)
    on_disk = history_lines(state)
    assert [e["action"] for e in on_disk] == ["add", "disable", "enable", "remove"]
    assert oct((Path(str(state) + ".history.jsonl")).stat().st_mode & 0o777) == "0o600"


def test_rollback_restores_the_set_and_is_recorded(example, mcpx, manage, tmp_path):
    a, b = example("a"), example("b")
    state = tmp_path / "state.json"
    pipe = mcpx((), "--state", str(state))
    pipe.initialize()
    ok(manage(pipe, "add", name="one", url=a.url))          # 1
    ok(manage(pipe, "add", name="two", url=b.url))          # 2
    ok(manage(pipe, "disable", name="one"))                 # 3
    ok(manage(pipe, "remove", name="two"))                  # 4
    result = ok(manage(pipe, "rollback", to=2))
    assert result["structuredContent"]["to"] == 2
    servers = {s["name"]: s for s in ok(manage(pipe, "list"))["structuredContent"]["servers"]}
    assert set(servers) == {"one", "two"} and servers["one"]["enabled"] is True and servers["two"]["status"] == "ready"
    entries = ok(manage(pipe, "history", limit=50))["structuredContent"]["entries"]
    rollbacks = [e for e in entries if e["action"] == "rollback"]
    assert rollbacks and all(e.get("to") == 2 for e in rollbacks)
    assert ok(pipe.call_tool("two__echo", {"text": "back"}))
    bad = manage(pipe, "rollback", to=999)
    assert bad["result"]["isError"] and "999" in text_of(bad["result"])


def test_history_survives_a_restart_and_a_torn_line(example, mcpx, manage, tmp_path, mcpx_bin):
    a = example("a")
    state = tmp_path / "state.json"
    pipe = mcpx((), "--state", str(state))
    pipe.initialize()
    ok(manage(pipe, "add", name="docs", url=a.url))
    pipe.close()
    path = Path(str(state) + ".history.jsonl")
    with path.open("a") as f:
        f.write('{"id": 2, "time": "2026-')  # a write cut short by a crash
    again = mcpx((), "--state", str(state))
    again.initialize()
    ok(manage(again, "disable", name="docs"))
    entries = ok(manage(again, "history"))["structuredContent"]["entries"]
    assert [(e["id"], e["action"]) for e in entries] == [(1, "add"), (2, "disable")]
    again.close()
    out = subprocess.run([str(mcpx_bin), "history", "--state", str(state)], capture_output=True, text=True, timeout=10)
    assert out.returncode == 0, out.stderr
    assert "add docs" in out.stdout and "disable docs" in out.stdout
    one = subprocess.run([str(mcpx_bin), "history", "nothing", "--state", str(state)], capture_output=True, text=True, timeout=10)
    assert one.returncode == 0 and "No changes" in one.stdout
    none = subprocess.run([str(mcpx_bin), "history"], capture_output=True, text=True, timeout=10)
    assert none.returncode == 2 and "--state" in none.stderr


def test_state_git_commits_every_change(example, mcpx, manage, tmp_path, mcpx_bin):
    """--state-git: the state directory becomes a git repository; each change is a commit naming
    actor, action and server; a clone of it holds the state and its history."""
    import shutil
    import time

    if shutil.which("git") is None:
        import pytest

        pytest.skip("git is not installed")
    a = example("a")
    home = tmp_path / "memory"
    home.mkdir()
    state = home / "state.json"
    pipe = mcpx((), "--state", str(state), "--state-git")
    pipe.initialize()
    ok(manage(pipe, "add", name="docs", url=a.url))
    ok(manage(pipe, "disable", name="docs"))
    pipe.close()
    deadline = time.monotonic() + 10
    log = ""
    while time.monotonic() < deadline:
        log = subprocess.run(["git", "-C", str(home), "log", "--format=%s"], capture_output=True, text=True).stdout
        if log.count("\n") >= 2:
            break
        time.sleep(0.1)
    subjects = log.splitlines()
    assert len(subjects) == 2, log
    assert "add docs" in subjects[1] and "model" in subjects[1], subjects
    assert "disable docs" in subjects[0], subjects
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(home), str(clone)], check=True, timeout=20)
    assert (clone / "state.json").exists() and (clone / "state.json.history.jsonl").exists()
    # git missing: a clear error at start.
    empty = tmp_path / "nobin"
    empty.mkdir()
    out = subprocess.run([str(mcpx_bin), "--stdio", "--state", str(state), "--state-git"], capture_output=True, text=True,
                         timeout=10, stdin=subprocess.DEVNULL, env={"PATH": str(empty)})
    assert out.returncode == 2 and "git" in out.stderr, (out.returncode, out.stderr)
