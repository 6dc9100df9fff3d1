"""Registry discovery (issue 18, in part): manage search_registry and install against a local
registry of the tests' own (v0.1 API, paging, deleted and deprecated entries, remote and package
entries); mcpx registry search / show."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from e2e_harness import text_of

HERE = Path(__file__).parent


@pytest.fixture
def registry(example, tmp_path, processes):
    """A registry whose entries point at a live example backend; yields its URL."""
    a = example("weather")
    entries = [
        {"server": {"name": "io.example/weather", "version": "1.2.0", "description": "Weather forecasts. For anywhere.",
                    "remotes": [{"type": "streamable-http", "url": a.url.replace("/mcp", "/{path}"),
                                 "variables": {"path": {"isRequired": True, "default": "mcp"}},
                                 "headers": [{"name": "X-Api-Key", "isRequired": True, "isSecret": True}]}]}},
        {"server": {"name": "io.example/old-weather", "version": "0.9.0", "description": "The old weather server.",
                    "remotes": [{"type": "streamable-http", "url": a.url}]}, "status": "deprecated"},
        {"server": {"name": "io.example/gone-weather", "version": "0.1.0", "description": "A deleted weather server.",
                    "remotes": [{"type": "streamable-http", "url": a.url}]}, "status": "deleted"},
        {"server": {"name": "io.example/weather-cli", "version": "2.0.0", "description": "Weather as a local package.",
                    "packages": [{"registryType": "npm", "identifier": "@example/weather-mcp", "version": "2.0.0",
                                  "transport": {"type": "stdio"},
                                  "environmentVariables": [{"name": "WEATHER_TOKEN", "isRequired": True, "isSecret": True}]}]}},
        {"server": {"name": "io.example/files", "version": "1.0.0", "description": "Files and folders.",
                    "remotes": [{"type": "sse", "url": "http://127.0.0.1:9/sse"}]}},
    ]
    path = tmp_path / "entries.json"
    path.write_text(json.dumps(entries))
    proc = processes.spawn([sys.executable, str(HERE / "registry" / "registry_server.py"), str(path)],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) if hasattr(processes, "spawn") else None
    if proc is None:
        proc = subprocess.Popen([sys.executable, str(HERE / "registry" / "registry_server.py"), str(path)], stdout=subprocess.PIPE)
    line = proc.stdout.readline().decode().strip()
    assert line.startswith("listening on "), line
    yield line.split(" ", 2)[2]
    proc.kill()
    proc.wait(5)


def ok(r):
    assert "result" in r and not r["result"].get("isError"), r
    return r["result"]


def err(r) -> str:
    assert r["result"].get("isError"), r
    return text_of(r["result"])


def test_search_pages_and_skips_deleted(registry, mcpx, manage):
    pipe = mcpx((), "--registry", registry)
    pipe.initialize()
    result = ok(manage(pipe, "search_registry", query="weather"))
    names = [s["name"] for s in result["structuredContent"]["servers"]]
    assert set(names) == {"io.example/weather", "io.example/old-weather", "io.example/weather-cli"}, names
    text = text_of(result)
    assert "deprecated" in text and "gone-weather" not in text
    assert "remote streamable-http" in text and "package npm @example/weather-mcp@2.0.0" in text


def test_install_a_remote_with_values_and_a_missing_one(registry, mcpx, manage):
    pipe = mcpx((), "--registry", registry)
    pipe.initialize()
    missing = err(manage(pipe, "install", registry_name="io.example/weather"))
    assert "X-Api-Key" in missing
    added = ok(manage(pipe, "install", registry_name="io.example/weather", values={"X-Api-Key": "secret-key-1234567890"}))
    assert added["structuredContent"]["server"] == "weather"
    assert text_of(ok(pipe.call_tool("weather__echo", {"text": "sunny"}))) == "sunny"
    listing = json.dumps(ok(manage(pipe, "list")))
    assert "secret-key-1234567890" not in listing
    history = ok(manage(pipe, "history"))["structuredContent"]["entries"]
    assert history[-1]["action"] == "install" and "secret-key-1234567890" not in json.dumps(history)


def test_install_a_package_needs_allow_command(registry, mcpx, manage):
    pipe = mcpx((), "--registry", registry)
    pipe.initialize()
    refused = err(manage(pipe, "install", registry_name="io.example/weather-cli", values={"WEATHER_TOKEN": "tok-abcdefghijklmnop"}))
    assert "--allow-command" in refused
    pipe2 = mcpx((), "--registry", registry, "--allow-command", "npx", "--connect-timeout", "3")
    pipe2.initialize()
    need = err(manage(pipe2, "install", registry_name="io.example/weather-cli"))
    assert "WEATHER_TOKEN" in need
    spawned = manage(pipe2, "install", registry_name="io.example/weather-cli", values={"WEATHER_TOKEN": "tok-abcdefghijklmnop"}, timeout=60)
    # npx either runs the package (network) or fails to start it here; either way it was allowed
    # and tried, not refused by the allow-list, and the token never shows.
    text = json.dumps(spawned)
    assert "allow-command" not in text and "tok-abcdefghijklmnop" not in text


def test_terminal_registry_search_and_show(registry, mcpx_bin):
    out = subprocess.run([str(mcpx_bin), "registry", "search", "weather", "--registry", registry], capture_output=True, text=True, timeout=20)
    assert out.returncode == 0, out.stderr
    assert "io.example/weather " in out.stdout and "gone-weather" not in out.stdout
    show = subprocess.run([str(mcpx_bin), "registry", "show", "io.example/files", "--registry", registry], capture_output=True, text=True, timeout=20)
    assert show.returncode == 0 and json.loads(show.stdout)["name"] == "io.example/files", show
