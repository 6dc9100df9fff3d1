"""Training corpus for the static table: English sentences from docstrings of locally installed
Python code (the Debian stdlib and dist-packages under /usr/lib/python3*/, and the test venv
.venv-test, whose packages are pinned in Tests/requirements.txt).

Never reads the evaluation catalogs (../shared/data) or the dev sets (Tests/search).

Recipe (deterministic): walk each root in sorted order, skipping test directories
(test, tests, idle_test, testing) and __pycache__; parse every *.py / *.pyi with `ast` (files that
do not parse are skipped); take the docstrings of modules, classes and (async) functions in
`ast.walk` order; for each docstring (inspect.cleandoc), split into paragraphs on blank lines,
stop at the first section header (Args:, Returns:, Parameters, Example, ...), skip paragraphs
that look like code, lists or tables; join each paragraph's lines, split it into sentences; keep
sentences of 4-40 words whose characters are mostly letters; collapse whitespace; add the
names of documented classes/functions and their parameters as phrases ("read_text_file" ->
"read text file", 2-6 words); drop
duplicates (case-insensitive) keeping the first; finally keep at most `limit` sentences, chosen by
a seeded shuffle.
"""

from __future__ import annotations

import ast
import glob
import hashlib
import inspect
import os
import random
import re
import warnings

EXCLUDED_DIRS = {"test", "tests", "idle_test", "testing", "__pycache__", "site-packages-tests"}

SECTION = re.compile(
    r"^(args|arguments|parameters|params|returns?|yields?|raises|examples?|notes?|see also|"
    r"attributes|keyword arguments|kwargs|usage|references|todo|warnings?|methods|"
    r"other parameters|deprecated)\s*:?\s*$", re.I)
SENT_SPLIT = re.compile(r"(?<=[.!?])\s+(?=[A-Z(\"'`])")
CODEY = re.compile(r"(>>>|\.\.\. |::|:param|:type|:return|:rtype|:raises|@|=>|\{|\}|\$|\\[a-z]|==|!=|\|)")
WORD = re.compile(r"\S+")


def default_roots(repo: str) -> list[str]:
    roots = sorted(glob.glob("/usr/lib/python3*/"))
    # the complete CPython stdlib of the interpreter running this script (Debian's
    # /usr/lib/python3.11 is a partial split of it), without its tests and site-packages
    import sysconfig
    std = sysconfig.get_paths()["stdlib"]
    if os.path.isdir(std) and os.path.realpath(std) + "/" not in [os.path.realpath(r) + "/" for r in roots]:
        roots.append(std)
    venv = sorted(glob.glob(os.path.join(repo, ".venv-test", "lib", "python3*", "site-packages")))
    return roots + venv


def iter_files(root: str):
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in EXCLUDED_DIRS and not d.endswith(".dist-info")
                             and not d.endswith(".egg-info") and d != "site-packages")
        for f in sorted(filenames):
            if f.endswith(".py") or f.endswith(".pyi"):
                yield os.path.join(dirpath, f)


def docstrings(src: str):
    """Yields ("doc", text) for module/class/function docstrings and ("help", text) for string
    literals passed as description=/help=/doc= keyword arguments (argparse help, pydantic Field
    descriptions, ...)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tree = ast.parse(src)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            d = ast.get_docstring(node, clean=True)
            if d:
                yield "doc", d
                if not isinstance(node, ast.Module):
                    yield "name", node.name
                    if not isinstance(node, ast.ClassDef):
                        for a in node.args.args + node.args.kwonlyargs:
                            yield "name", a.arg
        elif isinstance(node, ast.Call):
            for kw in node.keywords:
                if kw.arg in ("description", "help", "doc") and isinstance(kw.value, ast.Constant) \
                        and isinstance(kw.value.value, str):
                    yield "help", kw.value.value


CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def name_phrase(name: str) -> str | None:
    """"read_text_file" / "readTextFile" -> "read text file"; None unless 2-6 alphabetic words,
    one of them at least 3 letters long."""
    words = [w.lower() for part in name.strip("_").split("_") for w in CAMEL.split(part) if w]
    if not (2 <= len(words) <= 6) or not all(w.isalpha() and w.isascii() for w in words):
        return None
    if max(len(w) for w in words) < 3:
        return None
    return " ".join(words)


def good_sentence(s: str) -> bool:
    words = WORD.findall(s)
    if not (4 <= len(words) <= 40):
        return False
    if CODEY.search(s):
        return False
    letters = sum(c.isalpha() for c in s)
    if letters < 0.7 * len(s.replace(" ", "")):
        return False
    if not s[0].isalpha() and s[0] not in "\"'(`":
        return False
    if sum(1 for w in words if w.isalpha() and w.islower()) < 2:
        return False
    try:
        s.encode("ascii")
    except UnicodeEncodeError:
        return False
    return True


ARG_LINE = re.compile(r"^\s*(?::param\s+)?\*{0,2}[A-Za-z_][A-Za-z0-9_]*(?:\s*\([^)]*\))?\s*:\s+(\S.*)$")
BULLET = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")


def _split(text: str):
    text = re.sub(r"\s+", " ", text).strip()
    for s in SENT_SPLIT.split(text):
        s = s.strip()
        if good_sentence(s):
            yield s


def sentences_of(doc: str, max_paragraphs: int = 12):
    """Sentences of a docstring: prose paragraphs (up to the first section header), plus the
    descriptions of "name: description" / "name (type): description" / ":param name: ..." lines
    and of bullet items anywhere in the docstring."""
    doc = inspect.cleandoc(doc)
    paras = re.split(r"\n\s*\n", doc)
    in_sections = False
    for p in paras[:max_paragraphs]:
        lines = p.strip().splitlines()
        if not lines:
            continue
        if SECTION.match(lines[0].strip()) or (len(lines) > 1 and re.match(r"^[=\-~^]{3,}$", lines[1].strip())):
            in_sections = True
        # argument-style and bullet lines (with their indented continuation lines)
        items = []
        for l in lines:
            m = ARG_LINE.match(l)
            b = BULLET.match(l)
            if m and not SECTION.match(l.strip()):
                items.append([m.group(1)])
            elif b:
                items.append([l[b.end():]])
            elif items and items[-1] is not None and l.startswith((" ", "\t")) and l.strip():
                items[-1].append(l.strip())
            elif not l.startswith((" ", "\t")):
                items.append(None)
        for it in items:
            if it:
                yield from _split(" ".join(it))
        if in_sections:
            continue
        if any(l.startswith(("    ", "\t", ">>>")) or ARG_LINE.match(l) or BULLET.match(l) for l in lines):
            continue
        yield from _split(" ".join(l.strip() for l in lines))


def build_corpus(roots: list[str], limit: int = 80000, seed: int = 0) -> tuple[list[str], dict]:
    seen = set()
    out = []
    stats = {}
    for root in roots:
        nfiles = 0
        nsent = 0
        for path in iter_files(root):
            try:
                with open(path, "rb") as fh:
                    src = fh.read().decode("utf-8")
                docs = list(docstrings(src))
            except (SyntaxError, ValueError, UnicodeDecodeError, RecursionError, OSError):
                continue
            nfiles += 1
            for kind, d in docs:
                if kind == "name":
                    p = name_phrase(d)
                    found = [p] if p else []
                else:
                    found = sentences_of(d) if kind == "doc" else _split(d)
                for s in found:
                    k = s.lower()
                    if k in seen:
                        continue
                    seen.add(k)
                    out.append(s)
                    nsent += 1
        stats[root] = {"files": nfiles, "sentences": nsent}
    rng = random.Random(seed)
    idx = list(range(len(out)))
    rng.shuffle(idx)
    kept = sorted(idx[:limit])
    corpus = [out[i] for i in kept]
    stats["total_unique"] = len(out)
    stats["kept"] = len(corpus)
    stats["sha256"] = hashlib.sha256("\n".join(corpus).encode()).hexdigest()
    return corpus, stats


if __name__ == "__main__":
    import json
    import sys
    repo = sys.argv[1] if len(sys.argv) > 1 else "/work/main"
    c, st = build_corpus(default_roots(repo))
    print(json.dumps(st, indent=1))
    r = random.Random(1)
    for s in r.sample(c, 30):
        print("-", s)
