"""Terminal commands: mcpx list | tools | call | check, their output (tables, --json) and exit codes.

Every run has stdout on a pipe (not a TTY) and NO_COLOR set, as in CI, except the colour test,
which gives mcpx a pseudo-terminal.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import time
from pathlib import Path

import pytest

ANSI = re.compile(r"\x1b\[[0-9;]*m")
RUN_TIMEOUT = 30


def run(mcpx_bin: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run mcpx with stdout and stderr on pipes; NO_COLOR set unless env overrides it."""
    # The tests' own variables only: a DOCS_TOKEN in the caller's environment must not leak in.
    full_env = {**{k: v for k, v in os.environ.items() if k != "DOCS_TOKEN"}, "NO_COLOR": "1", **(env or {})}
    return subprocess.run(  # noqa: S603
        [str(mcpx_bin), *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=full_env,
        timeout=RUN_TIMEOUT,
        check=False,
    )


def table(stdout: str) -> list[list[str]]:
    """A plain table as rows of cells (columns are separated by two or more spaces)."""
    return [re.split(r"\s{2,}", line.strip()) for line in stdout.splitlines() if line.strip()]


def servers_flag(**urls: str) -> list[str]:
    return ["--servers", ",".join(f"{name}={url}" for name, url in urls.items())]


@pytest.fixture
def ab(example):
    """Two example backends, a and b."""
    return example("a"), example("b")


@pytest.fixture
def dead_url(get_free_port) -> str:
    return f"http://127.0.0.1:{get_free_port()}/mcp"


# ---------------------------------------------------------------------------------------------
# list
# ---------------------------------------------------------------------------------------------


def test_list_table(mcpx_bin, ab, dead_url):
    a, b = ab
    r = run(mcpx_bin, "list", *servers_flag(a=a.url, b=b.url, dead=dead_url))
    assert r.returncode == 1, "a server that could not be reached makes list exit 1, like check"
    assert not ANSI.search(r.stdout), "no colours when stdout is not a TTY"
    rows = table(r.stdout)
    assert rows[0] == ["NAME", "STATUS", "TOOLS", "URL", "LAST ERROR"]
    by_name = {row[0]: row for row in rows[1:]}
    assert set(by_name) == {"a", "b", "dead"}
    assert by_name["a"][1:4] == ["ready", "9", a.url]
    assert by_name["b"][1:4] == ["ready", "9", b.url]
    assert by_name["dead"][1:4] == ["failed", "0", dead_url]
    assert "refused" in by_name["dead"][4]
    # Logs (warnings) go to stderr only; stdout is the table.
    assert "WARNING" not in r.stdout


def test_list_json_and_redaction(mcpx_bin, ab):
    a, _ = ab
    secret = "s3cr3t-t0ken"
    r = run(mcpx_bin, "list", "--json", "--servers", f"a={a.url}?token={secret}")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    [server] = doc["servers"]
    assert server["name"] == "a"
    assert server["status"] == "ready"
    assert server["enabled"] is True
    assert server["tools"] == 9
    assert server["lastError"] is None
    assert server["protocolVersion"]
    assert "REDACTED" in server["url"]
    assert secret not in r.stdout + r.stderr


def test_list_without_servers_is_a_usage_error(mcpx_bin):
    r = run(mcpx_bin, "list")
    assert r.returncode == 2
    assert r.stdout == ""
    assert "needs servers" in r.stderr


def test_unexpected_argument_is_a_usage_error(mcpx_bin, ab):
    a, _ = ab
    r = run(mcpx_bin, "list", "extra", *servers_flag(a=a.url))
    assert r.returncode == 2
    assert 'unexpected argument "extra"' in r.stderr


# ---------------------------------------------------------------------------------------------
# tools
# ---------------------------------------------------------------------------------------------


def test_tools_table(mcpx_bin, ab):
    a, b = ab
    r = run(mcpx_bin, "tools", *servers_flag(a=a.url, b=b.url))
    assert r.returncode == 0, r.stderr
    rows = table(r.stdout)
    assert rows[0] == ["NAME", "DESCRIPTION"]
    names = [row[0] for row in rows[1:]]
    assert {"manage", "proxy_status", "proxy_health", "a__echo", "b__echo", "a__add"} <= set(names)
    descriptions = dict((row[0], row[1] if len(row) > 1 else "") for row in rows[1:])
    assert descriptions["a__echo"] == "Returns the given text unchanged."


def test_tools_of_one_server(mcpx_bin, ab):
    a, b = ab
    r = run(mcpx_bin, "tools", "b", *servers_flag(a=a.url, b=b.url))
    assert r.returncode == 0, r.stderr
    names = [row[0] for row in table(r.stdout)[1:]]
    assert names and all(n.startswith("b__") for n in names)
    assert "manage" not in names


def test_tools_json(mcpx_bin, ab):
    a, _ = ab
    r = run(mcpx_bin, "tools", "--json", *servers_flag(a=a.url))
    assert r.returncode == 0, r.stderr
    tools = json.loads(r.stdout)["tools"]
    by_name = {t["name"]: t for t in tools}
    assert by_name["a__add"]["server"] == "a"
    assert by_name["a__add"]["tool"] == "add"
    assert by_name["a__add"]["description"]
    assert by_name["manage"]["server"] is None


def test_tools_unknown_server_and_unreachable_server(mcpx_bin, ab, dead_url):
    a, _ = ab
    r = run(mcpx_bin, "tools", "nope", *servers_flag(a=a.url))
    assert r.returncode == 2
    assert 'no server named "nope"' in r.stderr
    r = run(mcpx_bin, "tools", *servers_flag(a=a.url, dead=dead_url))
    assert r.returncode == 1
    assert "a__echo" in r.stdout  # the reachable server's tools are still listed
    assert "dead: failed" in r.stderr


# ---------------------------------------------------------------------------------------------
# call
# ---------------------------------------------------------------------------------------------


def test_call_prints_text_and_structured_content(mcpx_bin, ab):
    a, b = ab
    r = run(mcpx_bin, "call", "a__add", '{"a": 2, "b": 3}', *servers_flag(a=a.url, b=b.url))
    assert r.returncode == 0, r.stderr
    first, rest = r.stdout.split("\n", 1)
    assert first.strip() == "5"
    assert json.loads(rest) == {"sum": 5}
    r = run(mcpx_bin, "call", "b__echo", '{"text": "hello from b"}', *servers_flag(a=a.url, b=b.url))
    assert r.returncode == 0, r.stderr
    assert r.stdout == "hello from b\n"


def test_call_json(mcpx_bin, ab):
    a, _ = ab
    r = run(mcpx_bin, "call", "a__add", '{"a": 1, "b": 1}', "--json", *servers_flag(a=a.url))
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert result["structuredContent"] == {"sum": 2}
    assert result.get("isError") in (None, False)


def test_call_tool_error_exits_1(mcpx_bin, ab):
    a, _ = ab
    r = run(mcpx_bin, "call", "a__fail", '{"message": "it broke"}', *servers_flag(a=a.url))
    assert r.returncode == 1
    assert "it broke" in r.stdout
    r = run(mcpx_bin, "call", "a__fail", '{"message": "it broke"}', "--json", *servers_flag(a=a.url))
    assert r.returncode == 1
    assert json.loads(r.stdout)["isError"] is True


def test_call_unknown_tool_is_a_jsonrpc_error(mcpx_bin, ab):
    a, _ = ab
    r = run(mcpx_bin, "call", "a__nope", "{}", *servers_flag(a=a.url))
    assert r.returncode == 1
    assert "Unknown tool: a__nope" in r.stderr
    assert r.stdout == ""
    r = run(mcpx_bin, "call", "a__nope", "--json", *servers_flag(a=a.url))
    assert r.returncode == 1
    assert json.loads(r.stdout)["error"]["code"] == -32602


def test_call_to_unreachable_server(mcpx_bin, ab, dead_url):
    a, _ = ab
    # Its tools were never listed; the answer says why instead of "unknown tool". a's tools still work.
    r = run(mcpx_bin, "call", "dead__echo", "{}", *servers_flag(a=a.url, dead=dead_url))
    assert r.returncode == 1
    assert "Server 'dead' is unavailable" in r.stdout and "refused" in r.stdout
    r = run(mcpx_bin, "call", "a__echo", '{"text": "x"}', *servers_flag(a=a.url, dead=dead_url))
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["call"], "needs a tool name"),
        (["call", "a__echo", "{not json"], "not valid JSON"),
        (["call", "a__echo", "[1, 2]"], "must be a JSON object"),
        (["call", "a__echo", "{}", "extra"], 'unexpected argument "extra"'),
    ],
)
def test_call_usage_errors_exit_2(mcpx_bin, ab, args, message):
    a, _ = ab
    r = run(mcpx_bin, *args, *servers_flag(a=a.url))
    assert r.returncode == 2
    assert message in r.stderr
    assert r.stdout == ""


def test_call_own_tools(mcpx_bin, ab):
    a, _ = ab
    r = run(mcpx_bin, "call", "proxy_status", "--json", *servers_flag(a=a.url))
    assert r.returncode == 0, r.stderr
    status = json.loads(r.stdout)["structuredContent"]
    assert status["totals"]["ready"] == 1
    r = run(mcpx_bin, "call", "manage", '{"action": "list"}', *servers_flag(a=a.url))
    assert r.returncode == 0, r.stderr
    assert "a" in r.stdout and "ready" in r.stdout


# ---------------------------------------------------------------------------------------------
# check
# ---------------------------------------------------------------------------------------------


def test_check_all_healthy(mcpx_bin, ab):
    a, b = ab
    r = run(mcpx_bin, "check", *servers_flag(a=a.url, b=b.url))
    assert r.returncode == 0, r.stderr
    rows = table(r.stdout)
    assert rows[0] == ["NAME", "STATUS", "LATENCY", "URL", "ERROR"]
    for row in rows[1:3]:
        assert row[1] == "healthy"
        assert re.fullmatch(r"\d+\.\d\d ms", row[2])
    assert r.stdout.rstrip().endswith("2/2 healthy")


def test_check_with_a_dead_server_exits_1(mcpx_bin, ab, dead_url):
    a, _ = ab
    r = run(mcpx_bin, "check", *servers_flag(a=a.url, dead=dead_url))
    assert r.returncode == 1
    assert "1/2 healthy" in r.stdout
    r = run(mcpx_bin, "check", "--json", *servers_flag(a=a.url, dead=dead_url))
    assert r.returncode == 1
    doc = json.loads(r.stdout)
    assert doc["ok"] is False
    assert (doc["healthy"], doc["total"]) == (1, 2)
    by_name = {s["name"]: s for s in doc["servers"]}
    assert by_name["a"]["status"] == "healthy" and by_name["a"]["latencyMs"] > 0
    assert by_name["dead"]["status"] == "unhealthy" and "refused" in by_name["dead"]["error"]


def test_check_ignores_disabled_servers(mcpx_bin, ab, dead_url, tmp_path):
    a, _ = ab
    config = tmp_path / "servers.json"
    config.write_text(json.dumps({"mcpServers": {"a": {"url": a.url}, "off": {"url": dead_url, "enabled": False}}}))
    r = run(mcpx_bin, "check", "--json", "--config", str(config))
    assert r.returncode == 0, r.stdout + r.stderr
    doc = json.loads(r.stdout)
    assert doc["ok"] is True
    assert {s["name"]: s["status"] for s in doc["servers"]} == {"a": "healthy", "off": "disabled"}


# ---------------------------------------------------------------------------------------------
# Config files, the state file, --version
# ---------------------------------------------------------------------------------------------


def test_config_file_end_to_end(mcpx_bin, ab, tmp_path):
    a, b = ab
    config = tmp_path / "servers.json"
    config.write_text(
        "// JSONC, as VS Code writes it\n"
        + json.dumps(
            {
                "mcpServers": {
                    "alpha": {"url": a.url, "tools": ["echo", "add"], "headers": {"Authorization": "Bearer ${TOKEN}"}},
                    "b.example.com": {"url": b.url, "prefix": "beta", "excludeTools": ["fail", "sleep"]},
                }
            }
        )
    )
    r = run(mcpx_bin, "tools", "--json", "--config", str(config), env={"TOKEN": "t0k3n-value"})
    assert r.returncode == 0, r.stderr
    names = {t["name"] for t in json.loads(r.stdout)["tools"]}
    assert {n for n in names if n.startswith("alpha__")} == {"alpha__echo", "alpha__add"}
    assert "beta__echo" in names and "beta__fail" not in names and "beta__sleep" not in names
    assert "t0k3n-value" not in r.stdout + r.stderr


@pytest.mark.parametrize(
    ("content", "env", "message"),
    [
        ('{"mcpServers": {"docs": {"url": "ftp://x"}}}', {}, 'mcpServers.docs.url: must be an http or https URL, not "ftp://x"'),
        (
            '{"mcpServers": {"docs": {"url": "http://h/", "headers": {"Authorization": "Bearer ${DOCS_TOKEN}"}}}}',
            {},
            "mcpServers.docs.headers.Authorization: environment variable DOCS_TOKEN is not set",
        ),
        ('{"mcpServers": {\n  "docs": {"url": "http://h/"\n}', {}, "invalid JSON at line 3, column 2: unexpected end of file"),
        ('{"mcpServers": {"fs": {"command": "npx", "url": "http://h/"}}}', {}, 'mcpServers.fs: has both "command" and a URL; give one'),
        ('{"mcpServers": {"fs": {"command": "npx", "args": "-y"}}}', {}, "mcpServers.fs.args: must be an array of strings, not a string"),
    ],
)
def test_config_errors_exit_2_before_any_protocol(mcpx_bin, tmp_path, content, env, message):
    config = tmp_path / "servers.json"
    config.write_text(content)
    for args in (["--stdio"], ["list"]):
        proc = subprocess.run(  # noqa: S603
            [str(mcpx_bin), *args, "--config", str(config)],
            input='{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}\n',
            capture_output=True,
            text=True,
            env={**{k: v for k, v in os.environ.items() if k != "DOCS_TOKEN"}, "NO_COLOR": "1", **env},
            timeout=RUN_TIMEOUT,
            check=False,
        )
        assert proc.returncode == 2, proc.stderr
        assert proc.stdout == "", "nothing on stdout: mcpx must not speak the protocol"
        assert f"{config}: {message}" in proc.stderr


def test_state_file_keeps_manage_changes(mcpx_bin, ab, tmp_path):
    a, b = ab
    config = tmp_path / "servers.json"
    config.write_text(json.dumps({"mcpServers": {"a": {"url": a.url}, "b": {"url": b.url}}}))
    state = tmp_path / "state.json"
    common = ["--config", str(config), "--state", str(state)]

    r = run(mcpx_bin, "call", "manage", '{"action": "disable", "name": "a"}', *common)
    assert r.returncode == 0, r.stderr
    r = run(mcpx_bin, "call", "manage", '{"action": "remove", "name": "b"}', *common)
    assert r.returncode == 0, r.stderr
    saved = json.loads(state.read_text())
    assert saved["servers"] == [{"name": "a", "enabled": False}]
    assert saved["removed"] == ["b"]

    r = run(mcpx_bin, "list", "--json", *common)
    assert r.returncode == 0, r.stderr
    assert [(s["name"], s["status"]) for s in json.loads(r.stdout)["servers"]] == [("a", "disabled")]

    # A corrupt state file is reported, kept aside, and mcpx starts from the configuration.
    state.write_text('{"version": 1, "servers": [')
    r = run(mcpx_bin, "list", "--json", *common)
    assert r.returncode == 0, r.stderr
    assert "corrupt" in r.stderr
    assert {s["name"] for s in json.loads(r.stdout)["servers"]} == {"a", "b"}
    aside = list(tmp_path.glob("state.json.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_text() == '{"version": 1, "servers": ['


def test_stdio_manage_changes_survive_a_restart(mcpx, example, tmp_path):
    """mcpx --stdio with --config and --state: manage add / disable are kept for the next start."""
    a, b = example("a"), example("b")
    config = tmp_path / "servers.json"
    config.write_text(json.dumps({"mcpServers": {"a": {"url": a.url, "headers": {"Authorization": "Bearer hunter22"}}}}))
    state = tmp_path / "state.json"
    flags = ("--config", str(config), "--state", str(state))

    first = mcpx([], *flags)
    first.initialize()
    first.call_ok("manage", {"action": "add", "name": "b", "url": b.url})
    first.call_ok("manage", {"action": "disable", "name": "a"})
    saved = json.loads(state.read_text())
    assert saved["servers"] == [{"name": "a", "enabled": False}, {"name": "b", "url": b.url, "enabled": True}]
    assert "hunter22" not in state.read_text()
    first.close()

    second = mcpx([], *flags)
    second.initialize()
    names = second.tool_names()
    assert "b__echo" in names
    assert not any(n.startswith("a__") for n in names)
    second.call_ok("manage", {"action": "enable", "name": "a"})
    assert "a__echo" in second.tool_names()
    # Back to what the configuration says: only the added server remains in the state.
    assert json.loads(state.read_text())["servers"] == [{"name": "b", "url": b.url, "enabled": True}]


def test_version(mcpx_bin):
    r = run(mcpx_bin, "--version")
    assert r.returncode == 0
    assert re.fullmatch(r"mcpx \d+\.\d+\.\d+ \(\S+\)\n", r.stdout)


# ---------------------------------------------------------------------------------------------
# Colours
# ---------------------------------------------------------------------------------------------


def run_on_tty(mcpx_bin: Path, args: list[str], env: dict[str, str]) -> str:
    """Run mcpx with stdout on a pseudo-terminal; returns what it wrote there."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(  # noqa: S603
        [str(mcpx_bin), *args], stdin=subprocess.DEVNULL, stdout=follower, stderr=subprocess.DEVNULL, env=env
    )
    os.close(follower)
    chunks: list[bytes] = []
    deadline = time.monotonic() + RUN_TIMEOUT
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.2)
            if ready:
                try:
                    data = os.read(leader, 65536)
                except OSError:  # EIO: the other side closed
                    break
                if not data:
                    break
                chunks.append(data)
            elif proc.poll() is not None:
                break
        proc.wait(timeout=RUN_TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(leader)
    return b"".join(chunks).decode(errors="replace")


def test_colours_only_on_a_tty_without_no_color(mcpx_bin, ab):
    a, _ = ab
    base = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    coloured = run_on_tty(mcpx_bin, ["list", *servers_flag(a=a.url)], base)
    assert ANSI.search(coloured), coloured
    assert "ready" in ANSI.sub("", coloured)
    plain = run_on_tty(mcpx_bin, ["list", *servers_flag(a=a.url)], {**base, "NO_COLOR": "1"})
    assert "ready" in plain and not ANSI.search(plain)
    as_json = run_on_tty(mcpx_bin, ["list", "--json", *servers_flag(a=a.url)], base)
    assert not ANSI.search(as_json)
    assert json.loads(as_json)["servers"][0]["status"] == "ready"
