"""The dashboard (`GET /dashboard` of `mcpx --http`) in a real headless chromium, over CDP.

It must load without console errors or exceptions, show every server, fetch nothing but from the
mcpx origin, and update itself (no reload) after a tool call made through POST /call.
A screenshot is kept in tmp_path, and copied to $MCPX_SCREENSHOT_OUT when that is set.

Needs Debian's `chromium` (apt). Without it the tests skip, except in CI (CI set), where they fail.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from ops_cdp import Chromium, Page, find_chromium
from ops_harness import McpxHTTP

pytestmark = pytest.mark.timeout(30)  # each test takes well under 15 s

TOKEN = "dash-token-4711"
UPDATE_WAIT = 5.0
SERVER_NAMES = ("alpha", "bravo", "ghost")  # ghost: nothing listens


@pytest.fixture
def chromium(processes: Any, tmp_path: Path) -> Iterator[Chromium]:
    binary = find_chromium()
    if binary is None:
        message = "chromium is not installed (apt-get install chromium); the dashboard tests need a real browser"
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    browser = Chromium(binary, tmp_path, processes)
    yield browser
    browser.close()


@pytest.fixture
def dashboard_mcpx(example, mcpx_http, dead_url):
    def start(token: str | None = None) -> McpxHTTP:
        alpha, bravo = example("alpha"), example("bravo")
        server = mcpx_http({"alpha": alpha.url, "bravo": bravo.url, "ghost": dead_url}, "--connect-timeout", "2", "--startup-timeout", "1", token=token)
        server.wait_healthy(2)
        return server

    return start


def page_text(page: Page) -> str:
    return page.evaluate("document.body ? document.body.innerText : ''") or ""


def problems(page: Page) -> list[str]:
    found: list[str] = []
    for p in page.events_of("Runtime.consoleAPICalled"):
        if p.get("type") in ("error", "assert"):
            args = [a.get("value", a.get("description", "")) for a in p.get("args", [])]
            found.append(f"console.{p['type']}: {args}")
    for p in page.events_of("Runtime.exceptionThrown"):
        details = p.get("exceptionDetails", {})
        found.append(f"exception: {details.get('text')} {details.get('exception', {}).get('description', '')}")
    for p in page.events_of("Log.entryAdded"):
        entry = p.get("entry", {})
        if entry.get("level") == "error":
            found.append(f"log error ({entry.get('source')}): {entry.get('text')} {entry.get('url', '')}")
    return found


def foreign_requests(page: Page, base_url: str) -> list[str]:
    origin = urlsplit(base_url)
    urls = [p["request"]["url"] for p in page.events_of("Network.requestWillBeSent")]
    urls += [p["url"] for p in page.events_of("Network.webSocketCreated")]
    foreign = []
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme in ("data", "blob", "about"):
            continue
        if parts.scheme in ("http", "ws") and parts.netloc == origin.netloc:
            continue
        foreign.append(url)
    return foreign


def save_screenshot(page: Page, tmp_path: Path, name: str, publish: bool) -> Path:
    shot = page.screenshot(tmp_path / name)
    assert shot.stat().st_size > 1000, "the screenshot is (nearly) empty"
    out = os.environ.get("MCPX_SCREENSHOT_OUT")
    if publish and out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, out)
    print(f"dashboard screenshot: {shot}")
    return shot


def check_dashboard(page: Page, server: McpxHTTP, url: str, tmp_path: Path, shot_name: str, publish: bool) -> None:
    page.navigate(url)
    page.pump(2.5)  # first data fetch and render
    before = page_text(page)
    for name in SERVER_NAMES:
        assert name in before, f"the dashboard does not show server {name!r}:\n{before[:2000]}"

    mark = before.count("whoami")
    for _ in range(3):
        server.call_ok("alpha__whoami")
    deadline = time.monotonic() + UPDATE_WAIT
    after = before
    while time.monotonic() < deadline:
        page.pump(0.25)
        after = page_text(page)
        if after.count("whoami") > mark:
            break
    assert after.count("whoami") > mark and after != before, (
        f"the dashboard did not show the call to alpha__whoami within {UPDATE_WAIT}s "
        f"(no reload allowed).\n--- before ---\n{before[:1500]}\n--- after ---\n{after[:1500]}"
    )
    lowered = after.lower()
    assert "p50" in lowered and "p99" in lowered, f"no p50/p99 latency on the dashboard:\n{after[:2000]}"
    assert "uptime" in lowered and "client" in lowered, f"no uptime / clients on the dashboard:\n{after[:2000]}"

    page.pump(0.5)
    save_screenshot(page, tmp_path, shot_name, publish)
    assert not problems(page), (
        "the dashboard logged errors (a 404 for /favicon.ico counts too: the console shows it):\n"
        + "\n".join(problems(page))
    )
    assert not foreign_requests(page, server.base_url), f"requests outside {server.base_url}: {foreign_requests(page, server.base_url)}"
    loads = page.events_of("Page.loadEventFired")
    navigations = [p for p in page.events_of("Page.frameNavigated") if not p["frame"].get("parentId")]
    assert len(loads) == 1 and len(navigations) == 1, (
        f"the dashboard reloaded itself ({len(loads)} loads, {len(navigations)} navigations): it must update in place"
    )
    requests = page.events_of("Network.requestWillBeSent")
    assert requests, "the browser recorded no request at all"


def test_dashboard_in_a_browser(chromium, dashboard_mcpx, tmp_path):
    server = dashboard_mcpx()
    page = chromium.new_page()
    check_dashboard(page, server, server.base_url + "/dashboard", tmp_path, "dashboard.png", publish=True)


def test_dashboard_with_a_token(chromium, dashboard_mcpx, tmp_path):
    server = dashboard_mcpx(token=TOKEN)
    page = chromium.new_page()
    check_dashboard(page, server, f"{server.base_url}/dashboard?token={TOKEN}", tmp_path, "dashboard-token.png", publish=False)
    refused = [
        (p["response"]["url"], p["response"]["status"])
        for p in page.events_of("Network.responseReceived")
        if p["response"]["status"] in (401, 403)
    ]
    assert not refused, f"the dashboard's own requests were refused (does it use the token?): {refused}"
