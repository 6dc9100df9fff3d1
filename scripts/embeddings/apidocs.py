"""Second part of the training corpus: sentences from the API reference data two pinned PyPI
packages ship, the genre closest to tool descriptions ("Creates a new bucket.", "Lists the
messages in the user's mailbox.", "The maximum number of results to return.").

- botocore (AWS): `botocore/data/<service>/<version>/service-2.json.gz`, the documentation of
  every operation and of every shape member (HTML, tags stripped), and each operation's name as
  a phrase (`CreateBucket` -> "create bucket").
- google-api-python-client: `googleapiclient/discovery_cache/documents/*.json`, the description of
  every method (resources walked recursively), of its parameters and of the schemas' properties.

Both wheels are opened as zip files, never installed, and checked against the sha256 below (the
script exits otherwise). Never reads the evaluation catalogs (../shared/data) or the dev sets.

Recipe (deterministic): packages in the order below, files in sorted order, JSON keys in file
order; text: tags removed, HTML entities decoded, whitespace collapsed, split into sentences and
filtered as in corpus.py; operation/method texts first, then member/parameter texts, per package;
duplicates (case-insensitive, also against the first part of the corpus) dropped. Then at most
`per_package` sentences of each package: all operation/method sentences up to that cap, the rest
filled with member/parameter sentences chosen by a seeded shuffle (kept in their original order).
"""

from __future__ import annotations

import gzip
import hashlib
import html
import json
import random
import re
import sys
import zipfile
from pathlib import Path

import corpus as corpus_mod

PACKAGES = [
    # (wheel file name, sha256, kind)
    ("botocore-1.35.99-py3-none-any.whl", "b22d27b6b617fc2d7342090d6129000af2efd20174215948c0d7ae2da0fab445", "botocore"),
    ("google_api_python_client-2.154.0-py2.py3-none-any.whl", "a521bbbb2ec0ba9d6f307cdd64ed6e21eeac372d1bd7493a4ab5022941f784ad", "google"),
]
PIP_DOWNLOAD = "pip download --no-deps botocore==1.35.99 google-api-python-client==2.154.0 -d /tmp/apidocs"

TAG = re.compile(r"<[^>]+>")
CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def clean(text: str) -> str:
    text = TAG.sub(" ", text)
    text = html.unescape(text)
    return re.sub(r"\s+", " ", text).strip()


def sentences(text: str):
    # only the first paragraph-ish part: API docs often end with long notes and examples
    yield from corpus_mod._split(clean(text)[:1500])


def op_phrase(name: str) -> str | None:
    words = [w.lower() for w in CAMEL.split(name) if w]
    if not (2 <= len(words) <= 6) or not all(w.isalpha() and w.isascii() for w in words):
        return None
    return " ".join(words)


def botocore_texts(z: zipfile.ZipFile):
    ops, members = [], []
    for n in sorted(x for x in z.namelist() if x.endswith("/service-2.json.gz")):
        d = json.loads(gzip.decompress(z.read(n)))
        for name, op in d.get("operations", {}).items():
            p = op_phrase(name)
            if p:
                ops.append(p)
            ops.extend(sentences(op.get("documentation", "")))
        for shape in d.get("shapes", {}).values():
            for m in shape.get("members", {}).values():
                members.extend(sentences(m.get("documentation", "")))
    return ops, members


def google_texts(z: zipfile.ZipFile):
    ops, members = [], []

    def walk(res):
        for m in res.get("methods", {}).values():
            ops.extend(sentences(m.get("description", "")))
            for p in m.get("parameters", {}).values():
                members.extend(sentences(p.get("description", "")))
        for r in res.get("resources", {}).values():
            walk(r)

    for n in sorted(x for x in z.namelist() if x.startswith("googleapiclient/discovery_cache/documents/") and x.endswith(".json")):
        d = json.loads(z.read(n))
        walk(d)
        for s in d.get("schemas", {}).values():
            for p in s.get("properties", {}).values():
                members.extend(sentences(p.get("description", "")))
    return ops, members


def build(wheel_dir: str, seen: set[str], per_package: int, seed: int) -> tuple[list[str], dict]:
    out, stats = [], {}
    for fname, digest, kind in PACKAGES:
        path = Path(wheel_dir) / fname
        if not path.exists():
            sys.exit(f"apidocs: {path} missing; fetch it with: {PIP_DOWNLOAD}")
        got = hashlib.sha256(path.read_bytes()).hexdigest()
        if got != digest:
            sys.exit(f"apidocs: {path} has sha256 {got}, expected {digest}")
        with zipfile.ZipFile(path) as z:
            ops, members = botocore_texts(z) if kind == "botocore" else google_texts(z)

        def unique(xs):
            r = []
            for s in xs:
                k = s.lower()
                if k not in seen:
                    seen.add(k)
                    r.append(s)
            return r

        ops, members = unique(ops), unique(members)
        kept_ops = ops[:per_package]
        rest = max(0, per_package - len(kept_ops))
        idx = list(range(len(members)))
        random.Random(seed).shuffle(idx)
        kept_members = [members[i] for i in sorted(idx[:rest])]
        out += kept_ops + kept_members
        stats[kind] = {"wheel": fname, "operations": len(ops), "members": len(members),
                       "kept": len(kept_ops) + len(kept_members)}
    stats["kept"] = len(out)
    stats["sha256"] = hashlib.sha256("\n".join(out).encode()).hexdigest()
    return out, stats


if __name__ == "__main__":
    c, st = build(sys.argv[1] if len(sys.argv) > 1 else "/tmp/apidocs", set(), 35000, 20240531)
    print(json.dumps(st, indent=1))
    r = random.Random(1)
    for s in r.sample(c, 30):
        print("-", s)
