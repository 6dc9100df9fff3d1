"""Seeded generator of JSON-RPC lines for mcpx's stdin: valid MCP messages, then mutated.

Everything comes from one `random.Random(seed)`, so a seed replays the exact same lines
(FUZZ_SEED=<seed>). `classify()` says what a line is by strict JSON-RPC rules, which decides how
many answers mcpx owes it.
"""

from __future__ import annotations

import json
import os
import random
import re
from dataclasses import dataclass
from typing import Any

# FUZZ_SEED replays a run (the seed is printed by every fuzz test); FUZZ_SECONDS (default 30) is
# the budget of all fuzz tests together.
SEED = int(os.environ["FUZZ_SEED"]) if os.environ.get("FUZZ_SEED") else random.SystemRandom().randrange(2**32)
SECONDS = float(os.environ.get("FUZZ_SECONDS") or 30)

LEVELS = ["debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"]
VERSIONS = ["2025-11-25", "2025-06-18", "2024-11-05", "1999-01-01", ""]  # never 2025-03-26 (batches)
UNICODE_POOL = [
    "a", "Z", "0", " ", "é", "名", "😀", "\u202e", "\u2028", "\u0000", "\u001f", "\"", "\\", "/", "\ufeff", "\uffff",
    "\U0010ffff", "\t", "\r", "\n", "<", "&", "'", "\x7f",
]


def random_text(rng: random.Random, max_len: int = 40) -> str:
    return "".join(rng.choice(UNICODE_POOL) for _ in range(rng.randint(0, max_len)))


def random_value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(12 if depth < 3 else 8)
    if kind == 0:
        return None
    if kind == 1:
        return rng.random() < 0.5
    if kind == 2:
        return rng.choice([0, -1, 1, 2**31, 2**53 + 1, 2**63 - 1, -(2**63), 2**63, 2**64, 10**30, -(10**30)])
    if kind == 3:
        return rng.choice([0.5, -0.0, 1e300, -1e-300, 3.0, 1e16])
    if kind in (4, 5, 6, 7):
        return random_text(rng)
    if kind in (8, 9):
        return [random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {random_text(rng, 8): random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))}


@dataclass
class Line:
    data: bytes
    base: str  # which valid message it came from
    mutations: list[str]
    base_id: Any = None  # the id before mutation (None for notifications)


class Generator:
    """Makes lines: `next_line()` -> Line. Ids are unique per generator (strings and integers)."""

    def __init__(self, seed: int, tools: list[str]) -> None:
        self.rng = random.Random(seed)
        self.tools = tools
        self.n = 0

    def fresh_id(self) -> Any:
        self.n += 1
        return f"fz-{self.n}" if self.rng.random() < 0.5 else 1_000_000 + self.n

    def base_message(self) -> tuple[str, dict[str, Any]]:
        rng = self.rng
        rid = self.fresh_id()
        choice = rng.randrange(22)

        def req(method: str, params: Any = None) -> dict[str, Any]:
            m: dict[str, Any] = {"jsonrpc": "2.0", "id": rid, "method": method}
            if params is not None:
                m["params"] = params
            return m

        if choice <= 2:
            return "ping", req("ping")
        if choice == 3:
            return "tools/list", req("tools/list", {} if rng.random() < 0.5 else None)
        if choice <= 7:
            return "echo", req("tools/call", {"name": "a__echo", "arguments": {"text": random_text(rng)}})
        if choice == 8:
            return "add", req("tools/call", {"name": "a__add", "arguments": {"a": random_value(rng), "b": rng.randint(-5, 5)}})
        if choice == 9:
            return "sleep", req("tools/call", {"name": "a__sleep", "arguments": {"ms": rng.randint(0, 30)}})
        if choice == 10:
            name = rng.choice(self.tools + ["nope__x", "", "proxy_status", "proxy_health"])
            return "call", req("tools/call", {"name": name, "arguments": random_value(rng)} if rng.random() < 0.5 else {"name": name})
        if choice == 11:
            return "manage", req("tools/call", {"name": "manage", "arguments": {"action": rng.choice(["list", "health", "remove", "add"]), "name": "a"}})
        if choice == 12:
            return "lists", req(rng.choice(["prompts/list", "resources/list", "resources/templates/list"]), {})
        if choice == 13:
            return "setLevel", req("logging/setLevel", {"level": rng.choice(LEVELS + ["loud", 3])})
        if choice == 14:
            return "complete", req("completion/complete", {"ref": {"type": "ref/prompt", "name": random_text(rng, 6)}, "argument": {"name": "x", "value": ""}})
        if choice == 15:
            params = {"protocolVersion": rng.choice(VERSIONS), "capabilities": random_value(rng) if rng.random() < 0.3 else {},
                      "clientInfo": {"name": "fuzz", "version": "1"}}
            return "initialize", req("initialize", params)
        if choice == 16:
            return "unknown", req(rng.choice(["foo", "tools/foo", "notifications/initialized", "sampling/createMessage"]), random_value(rng))
        if choice == 17:
            return "resources/read", req("resources/read", {"uri": rng.choice(["a+file:///x", "nope", "", random_text(rng, 10)])})
        # Messages that get no answer.
        if choice == 18:
            return "notification", {"jsonrpc": "2.0", "method": rng.choice(["notifications/initialized", "notifications/whatever", "notifications/progress"]), "params": {}}
        if choice == 19:
            # Cancels an id nobody used (never one in flight).
            return "cancel", {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": f"never-{self.n}"}}
        if choice == 20:
            return "response", {"jsonrpc": "2.0", "id": f"resp-{self.n}", "result": random_value(rng)}
        return "error-response", {"jsonrpc": "2.0", "id": f"resp-{self.n}", "error": {"code": -1, "message": random_text(rng)}}

    # -- mutations ------------------------------------------------------------------------------
    def mutate_structure(self, msg: dict[str, Any]) -> tuple[dict[str, Any] | list[Any], str]:
        rng = self.rng
        m = json.loads(json.dumps(msg))
        what = rng.randrange(7)
        if what == 0:
            key = rng.choice(["id", "method", "params", "jsonrpc"])
            m[key] = random_value(rng)
            return m, f"swap {key}"
        if what == 1:
            key = rng.choice(["id", "method", "params", "jsonrpc"])
            m.pop(key, None)
            return m, f"drop {key}"
        if what == 2 and isinstance(m.get("params"), dict) and m["params"]:
            key = rng.choice(list(m["params"]))
            m["params"][key] = random_value(rng)
            return m, f"swap params.{key}"
        if what == 3 and isinstance(m.get("params"), dict) and isinstance(m["params"].get("arguments"), dict):
            m["params"]["arguments"] = rng.choice([[], "str", 5, None, True, {"deep": [[[[[]]]]]}])
            return m, "swap arguments"
        if what == 4:
            m[random_text(rng, 6)] = random_value(rng)
            return m, "extra member"
        if what == 5 and "id" in m:
            m["id"] = rng.choice([2**63, 2**64, -(2**63) - 1, 10**30, 1.0, 2.5, -0.0, True, None, "", "x" * 5000, [m["id"]], {"id": m["id"]}])
            return m, "odd id"
        return [m], "batch"

    def mutate_bytes(self, data: bytes) -> tuple[bytes, str]:
        rng = self.rng
        b = bytearray(data)
        what = rng.randrange(8)
        if what == 0 and b:
            for _ in range(rng.randint(1, 4)):
                i = rng.randrange(len(b))
                b[i] = rng.randrange(256)
            name = "byte flip"
        elif what == 1 and len(b) > 1:
            b = b[: rng.randrange(1, len(b))]
            name = "truncate"
        elif what == 2:
            i = rng.randrange(len(b) + 1)
            b[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
            name = "insert bytes"
        elif what == 3 and len(b) > 2:
            i = rng.randrange(len(b))
            del b[i : i + rng.randint(1, 8)]
            name = "delete bytes"
        elif what == 4:
            i = rng.randrange(len(b) + 1)
            b[i:i] = rng.choice([b"\\", b"\\u", b"\\ud800", b"\\x", b'"', b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x00", b"\t", b"\\u0000"])
            name = "insert escape"
        elif what == 5:
            b = bytearray(data.replace(b":", b": ", 1) + b" " * rng.randint(0, 3))
            name = "whitespace"
        elif what == 6:
            i = rng.randrange(len(b) + 1)
            b[i:i] = rng.choice([b"1e400", b"-0", b"123456789012345678901234567890", b"NaN", b"[" * 300, b"{}" * 3])
            name = "insert token"
        else:
            b = bytearray(b"[" * rng.choice([1, 255, 256, 257, 5000, 100_000]) + bytes(b))
            name = "deep prefix"
        # One message per line: a newline byte would make two lines.
        return bytes(b).replace(b"\n", b" "), name

    def next_line(self) -> Line:
        base, msg = self.base_message()
        rng = self.rng
        mutations: list[str] = []
        obj: Any = msg
        if rng.random() < 0.25:
            obj, name = self.mutate_structure(msg)
            mutations.append(name)
        data = json.dumps(obj, separators=(",", ":"), ensure_ascii=rng.random() < 0.3).encode("utf-8", errors="surrogatepass")
        for _ in range(rng.choice([0, 0, 1, 1, 2, 3])):
            data, name = self.mutate_bytes(data)
            mutations.append(name)
        return Line(data.replace(b"\n", b" "), base, mutations, msg.get("id"))


# ---------------------------------------------------------------------------------------------
# What a line is (strict JSON-RPC 2.0 over UTF-8 JSON)
# ---------------------------------------------------------------------------------------------


@dataclass
class Kind:
    what: str  # request | notification | response | bad-json | bad-request | bad-notification | ambiguous | blank
    id: Any = None

    @property
    def id_key(self) -> str | None:
        return json.dumps(self.id) if self.what == "request" else None


def _reject(name: str) -> Any:
    raise ValueError(name)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        raise KeyError("duplicate key")
    return dict(pairs)


def _has_lone_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        return any(0xD800 <= ord(c) <= 0xDFFF for c in value)
    if isinstance(value, list):
        return any(_has_lone_surrogate(v) for v in value)
    if isinstance(value, dict):
        return any(_has_lone_surrogate(k) or _has_lone_surrogate(v) for k, v in value.items())
    return False


def classify(data: bytes) -> Kind:
    stripped = data.rstrip(b"\r")
    if not stripped.strip(b" \t"):
        return Kind("blank")
    try:
        text = stripped.decode("utf-8")
        msg = json.loads(text, parse_constant=_reject, object_pairs_hook=_no_duplicates)
    except KeyError:
        return Kind("ambiguous")  # duplicate member names: which one counts is unspecified
    except (UnicodeDecodeError, ValueError, RecursionError):
        return Kind("bad-json")
    if _has_lone_surrogate(msg):
        return Kind("ambiguous")  # JSON by the grammar, not Unicode: refusing or echoing are both fine
    if isinstance(msg, list):
        return Kind("bad-request")  # batches are for 2025-03-26 only
    if not isinstance(msg, dict):
        return Kind("bad-request")
    has_id = "id" in msg
    rid = msg.get("id")
    valid_id = isinstance(rid, (str, int)) and not isinstance(rid, bool) and (not isinstance(rid, int) or -(2**63) <= rid < 2**63)
    if isinstance(rid, int) and not isinstance(rid, bool) and not -(2**63) <= rid < 2**63:
        return Kind("ambiguous")  # beyond 64 bits: echoing it exactly or refusing it are both fine
    if msg.get("jsonrpc") != "2.0":
        return Kind("bad-request" if has_id or "method" in msg else "ambiguous")
    if "method" in msg:
        method = msg["method"]
        params_ok = "params" not in msg or isinstance(msg["params"], (dict, list))
        if not isinstance(method, str) or not method or not params_ok:
            return Kind("bad-request" if has_id else "bad-notification")
        if not has_id:
            return Kind("notification")
        if not valid_id:
            return Kind("bad-request")
        return Kind("request", rid)
    if ("result" in msg) != ("error" in msg) and has_id:
        # A result needs a real id; an error may carry null (it answered something unreadable).
        return Kind("response" if valid_id or (rid is None and "error" in msg) else "ambiguous")
    return Kind("ambiguous" if ("result" in msg or "error" in msg) else "bad-request")


_ID_TOKEN = re.compile(rb'"id"\s*:\s*("(?:[^"\\]|\\.)*"|-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)')


def norm_id(value: Any) -> tuple[str, Any] | None:
    """An id as mcpx may read it: integral numbers as integers, strings as strings."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return ("n", value)
    if isinstance(value, float):
        return ("n", int(value)) if value.is_integer() else ("f", value)
    if isinstance(value, str):
        return ("s", value)
    return None


def lenient_id(data: bytes) -> tuple[str, Any] | None:
    """The first "id" member's value as a lenient reader would see it (None when unreadable)."""
    match = _ID_TOKEN.search(data)
    if not match:
        return None
    token = match.group(1)
    try:
        return norm_id(json.loads(token.decode("utf-8")))
    except (UnicodeDecodeError, ValueError):
        return ("raw", token)


def expected_answers(kind: Kind) -> range:
    """How many answers a line of this kind must get."""
    return {
        "request": range(1, 2),
        # Strictly a parse error is owed; mcpx reads some broken lines leniently (a notification
        # with bad bytes in its params stays a notification). Exact codes for chosen broken lines
        # are pinned by Tests/faults/test_fault_stdin.py; here: never more than one answer.
        "bad-json": range(0, 2),
        "bad-request": range(1, 2),
        "notification": range(0, 1),
        "response": range(0, 1),
        "blank": range(0, 1),
        "bad-notification": range(0, 2),
        "ambiguous": range(0, 2),
    }[kind.what]
