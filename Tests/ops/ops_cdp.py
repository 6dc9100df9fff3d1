"""A headless chromium driven over the Chrome DevTools Protocol (websockets' sync client).

`Chromium` starts the system browser (`/usr/bin/chromium`, or $CHROMIUM) with
--remote-debugging-port=0 and a throwaway profile, reads the chosen port from DevToolsActivePort,
and opens pages (`Page`). A page records every event it receives, so a test can look at console
messages, exceptions, log entries, network requests and navigations after the fact.
Closing asks the browser to close over CDP, then kills the process by PID.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")


def find_chromium() -> str | None:
    env = os.environ.get("CHROMIUM")
    if env:
        return env if os.access(env, os.X_OK) else None
    for candidate in CHROMIUM_CANDIDATES:
        if os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("chromium")


class CDPError(AssertionError):
    pass


class Page:
    """One page target's CDP session."""

    def __init__(self, ws_url: str) -> None:
        # legacy=True: a connection kept across calls (closed in close()), not a `with` block.
        self.ws: ClientConnection = connect(ws_url, max_size=None, open_timeout=10, ping_interval=None, legacy=True)
        self.events: list[dict[str, Any]] = []
        self._ids = itertools.count(1)

    def send(self, method: str, params: dict[str, Any] | None = None, timeout: float = 15.0) -> dict[str, Any]:
        msg_id = next(self._ids)
        self.ws.send(json.dumps({"id": msg_id, "method": method, "params": params or {}}))
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise CDPError(f"CDP {method}: no answer within {timeout}s")
            try:
                raw = self.ws.recv(timeout=left)
            except TimeoutError:
                continue
            msg = json.loads(raw)
            if msg.get("id") == msg_id:
                if "error" in msg:
                    raise CDPError(f"CDP {method}: {msg['error']}")
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)

    def pump(self, seconds: float) -> None:
        """Record events arriving during `seconds`."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                raw = self.ws.recv(timeout=left)
            except TimeoutError:
                return
            msg = json.loads(raw)
            if "method" in msg:
                self.events.append(msg)

    def wait_event(self, method: str, timeout: float = 10.0, since: int = 0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        seen = since
        while True:
            for event in self.events[seen:]:
                if event["method"] == method:
                    return event
            seen = len(self.events)
            left = deadline - time.monotonic()
            if left <= 0:
                raise CDPError(f"no {method} event within {timeout}s")
            self.pump(min(left, 0.2))

    def events_of(self, method: str) -> list[dict[str, Any]]:
        return [e["params"] for e in self.events if e["method"] == method]

    def evaluate(self, expression: str, timeout: float = 10.0) -> Any:
        result = self.send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
            timeout=timeout,
        )
        if "exceptionDetails" in result:
            raise CDPError(f"evaluate {expression!r}: {result['exceptionDetails']}")
        return result.get("result", {}).get("value")

    def navigate(self, url: str, timeout: float = 15.0) -> None:
        mark = len(self.events)
        answer = self.send("Page.navigate", {"url": url}, timeout=timeout)
        if answer.get("errorText"):
            raise CDPError(f"navigating to {url}: {answer['errorText']}")
        self.wait_event("Page.loadEventFired", timeout=timeout, since=mark)

    def screenshot(self, path: Path) -> Path:
        data = self.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        try:
            self.ws.close()
        except Exception:  # noqa: BLE001 - closing on teardown
            pass


class Chromium:
    def __init__(self, binary: str, work_dir: Path, registry: Any) -> None:
        self.profile = work_dir / "chromium-profile"
        self.profile.mkdir(parents=True, exist_ok=True)
        (self.profile / "DevToolsActivePort").unlink(missing_ok=True)  # a stale one names a dead port
        self.log_path = work_dir / "chromium.log"
        argv = [
            binary,
            "--headless=new",
            "--no-sandbox",  # root in CI containers
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--remote-debugging-port=0",
            "--remote-debugging-address=127.0.0.1",
            f"--user-data-dir={self.profile}",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--disable-default-apps",
            "--disable-features=Translate,MediaRouter,OptimizationHints",
            "--metrics-recording-only",
            "--mute-audio",
            "--window-size=1280,1000",
            "about:blank",
        ]
        self._registry = registry
        with open(self.log_path, "wb") as log:
            self.proc: subprocess.Popen[bytes] = registry.spawn(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        self.port = self._wait_port()
        self.pages: list[Page] = []

    def _wait_port(self, timeout: float = 20.0) -> int:
        marker = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                first = marker.read_text().splitlines()[0].strip()
                if first.isdigit():
                    return int(first)
            except (OSError, IndexError):
                pass
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        log = self.log_path.read_text(errors="replace")[-3000:]
        raise AssertionError(f"chromium did not open its DevTools port (exit code {self.proc.poll()}):\n{log}")

    def _json(self, path: str, method: str = "GET") -> Any:
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", method=method)
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - loopback
            return json.loads(resp.read())

    def new_page(self) -> Page:
        target = self._json("/json/new?about:blank", method="PUT")
        page = Page(target["webSocketDebuggerUrl"])
        self.pages.append(page)
        for domain in ("Page", "Runtime", "Log", "Network"):
            page.send(f"{domain}.enable")
        page.send("Emulation.setDeviceMetricsOverride", {"width": 1280, "height": 1000, "deviceScaleFactor": 1, "mobile": False})
        return page

    def close(self) -> None:
        for page in self.pages:
            page.close()
        try:
            version = self._json("/json/version")
            with connect(version["webSocketDebuggerUrl"], open_timeout=5) as browser:
                browser.send(json.dumps({"id": 1, "method": "Browser.close"}))
                try:
                    browser.recv(timeout=3)
                except Exception:  # noqa: BLE001 - it closes the socket as it goes
                    pass
        except Exception:  # noqa: BLE001 - fall back to the kill below
            pass
        self._registry.kill(self.proc, grace=5)
