"""Helpers of the fault, fuzz and soak suites, on top of Tests/e2e/e2e_harness.py.

`StrictPipe` is the e2e `McpxPipe` with stricter bookkeeping: it keeps stdout's raw bytes (a line
that is not valid UTF-8 is a protocol violation even when Python could repair it), counts every
answer per id (an id answered twice is a bug unless the test sent that id twice), and rejects
non-standard JSON (NaN, Infinity) on stdout.

`HostileClient` talks to hostile_backend.py's inspection endpoints.
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
_E2E = _HERE.parent / "e2e"
if str(_E2E) not in sys.path:
    sys.path.insert(0, str(_E2E))

from e2e_harness import _EOF, McpxPipe, jsonrpc_problem, key_of, text_of  # noqa: E402

HOSTILE_BACKEND = _HERE / "hostile_backend.py"

# JSON has no limit on the digits of a number; Python's int() has one (4300) unless lifted. Without
# this, a valid line carrying a 5000-digit number would look like "not JSON" to the checks.
if hasattr(sys, "set_int_max_str_digits"):
    sys.set_int_max_str_digits(0)
TOOL_NAME_RE_TEXT = r"^[a-zA-Z0-9_-]{1,64}$"


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name}")


def strict_loads(text: str) -> Any:
    return json.loads(text, parse_constant=_reject_constant)


class StrictPipe(McpxPipe):
    """McpxPipe that also checks stdout byte by byte and counts answers per id."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.raw_problems: list[str] = []
        self.answer_counts: Counter[str] = Counter()
        self.all_responses: list[dict[str, Any]] = []
        self.allowed_repeats: Counter[str] = Counter()  # ids the test sent more than once
        self.line_count = 0
        self.reported: set[str] = set()  # problems a test already failed on (not reported twice)
        self.expect_exit = False  # set by a test that stops mcpx itself (EOF, SIGTERM)
        super().__init__(*args, **kwargs)

    # The reader thread: strict UTF-8, one message per complete line.
    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in iter(self.proc.stdout.readline, b""):
            self.line_count += 1
            if not raw.endswith(b"\n"):
                self.raw_problems.append(f"line {self.line_count}: no newline at the end of output: {raw[:120]!r}")
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                self.raw_problems.append(f"line {self.line_count}: invalid UTF-8 ({exc}): {raw[:200]!r}")
                line = raw.decode("utf-8", errors="replace")
            line = line[:-1] if line.endswith("\n") else line
            try:
                strict_loads(line)
            except ValueError as exc:
                if "non-standard" in str(exc):
                    self.raw_problems.append(f"line {self.line_count}: {exc}: {line[:200]!r}")
            self.lines.append(line)
            self._inbox.put(line)
        self._inbox.put(_EOF)

    def _file(self, msg: dict[str, Any]) -> None:
        if "method" not in msg and "id" in msg:
            self.answer_counts[key_of(msg["id"])] += 1
            self.all_responses.append(msg)
        super()._file(msg)

    def allow_repeat(self, request_id: Any, times: int = 1) -> None:
        """The test sends `request_id` `times` more times: that many extra answers are expected."""
        self.allowed_repeats[key_of(request_id)] += times

    def duplicate_answers(self) -> list[str]:
        return [
            f"id {k} answered {n} times"
            for k, n in self.answer_counts.items()
            if k != "null" and n > 1 + self.allowed_repeats.get(k, 0)
        ]

    def stdout_problems(self) -> list[str]:
        return super().stdout_problems() + self.raw_problems + self.duplicate_answers()

    def take_stdout_problems(self) -> list[str]:
        """stdout_problems() for a test that fails on them itself: the fixture will not repeat them."""
        problems = [p for p in self.stdout_problems() if p not in self.reported]
        self.reported.update(problems)
        return problems

    def send_bytes(self, data: bytes) -> None:
        """Write raw bytes (no newline added, nothing checked) to mcpx's stdin."""
        assert self.proc.stdin is not None
        with self._write_lock:
            try:
                self.proc.stdin.write(data)
                self.proc.stdin.flush()
            except (BrokenPipeError, OSError):
                self._fail(f"could not write to mcpx stdin: {data[:200]!r}")

    def responses_for(self, request_id: Any) -> list[dict[str, Any]]:
        key = key_of(request_id)
        return [m for m in self.all_responses if key_of(m.get("id")) == key]

    def assert_alive(self) -> None:
        if self.proc.poll() is not None:
            self._fail("mcpx died")

    def ping_ok(self, timeout: float = 10.0) -> None:
        """mcpx still answers (the check after every hostile input)."""
        response = self.request("ping", timeout=timeout)
        assert response.get("result") == {}, f"ping after hostile input: {response}"

    # -- proxy_status ---------------------------------------------------------------------------
    def status(self, timeout: float = 10.0) -> dict[str, Any]:
        response = self.call_tool("proxy_status", {}, timeout=timeout)
        assert "result" in response, response
        structured = response["result"].get("structuredContent")
        assert isinstance(structured, dict), f"proxy_status has no structuredContent: {response}"
        return structured

    def server_status(self, name: str, timeout: float = 10.0) -> dict[str, Any]:
        for server in self.status(timeout)["servers"]:
            if server.get("name") == name:
                return server
        raise AssertionError(f"proxy_status does not list server {name!r}")

    def stats(self, name: str) -> dict[str, Any]:
        return self.server_status(name).get("stats") or {}

    def wait_ready(self, names: list[str], timeout: float = 15.0) -> list[str]:
        """Wait until every exposed tool in `names` is listed."""
        return self.wait_tools(lambda listed: all(n in listed for n in names), timeout=timeout)


class HostileClient:
    """The inspection side of one hostile_backend.py process."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.base = f"http://127.0.0.1:{port}"

    def url(self, path: str) -> str:
        return self.base + (path if path.startswith("/") else "/" + path)

    def _get(self, path: str) -> Any:
        with urllib.request.urlopen(self.base + path, timeout=10) as resp:  # noqa: S310 - loopback only
            return json.loads(resp.read())

    def log(self, path: str) -> list[dict[str, Any]]:
        path = path.split("?")[0]
        return self._get(f"/_log?path={urllib.request.quote(path)}")

    def messages(self, path: str) -> list[dict[str, Any]]:
        return [e["message"] for e in self.log(path) if isinstance(e.get("message"), dict)]

    def stats(self, path: str) -> dict[str, int]:
        return self._get(f"/_stats?path={urllib.request.quote(path.split('?')[0])}")

    def trap(self) -> dict[str, Any]:
        return self._get("/_trap")

    def control(self, path: str, **params: Any) -> None:
        data = json.dumps({k: str(v) for k, v in params.items()}).encode()
        req = urllib.request.Request(self.base + "/_control" + path.split("?")[0], data=data, method="POST")
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310
            resp.read()

    def wait_message(self, path: str, predicate: Any, timeout: float = 5.0) -> dict[str, Any] | None:
        deadline = time.monotonic() + timeout
        while True:
            for m in self.messages(path):
                if predicate(m):
                    return m
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.05)


def proc_figures(pid: int) -> dict[str, int]:
    """VmRSS (KiB), thread count and open file descriptors of a process (Linux /proc)."""
    figures: dict[str, int] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                figures["rss_kib"] = int(line.split()[1])
            elif line.startswith("Threads:"):
                figures["threads"] = int(line.split()[1])
        figures["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        pass
    return figures


def is_tool_error(response: dict[str, Any]) -> bool:
    return "result" in response and response["result"].get("isError") is True


__all__ = [
    "HOSTILE_BACKEND",
    "HostileClient",
    "McpxPipe",
    "StrictPipe",
    "TOOL_NAME_RE_TEXT",
    "is_tool_error",
    "jsonrpc_problem",
    "key_of",
    "proc_figures",
    "strict_loads",
    "text_of",
]
