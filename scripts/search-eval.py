#!/usr/bin/env python3
"""Evaluate tool search on the development sets in Tests/search/.

For each catalog (a, b) this loads Tests/search/devset-<c>.jsonl, checks it against
../shared/data/tool-catalog-<c>.json, and ranks every task's query with

  * bm25: plain Okapi BM25 (k1=1.2, b=0.75) implemented here, one document per tool
          (exposed name `server__tool` split into words + description + parameter names,
          lowercase alphanumeric tokens, no stemming, no stop words);
  * mcpx: `$MCPX_BIN search --catalog FILE` (default .build/debug/mcpx), all queries of a
          catalog on stdin in one process, one `{"ranked": [...]}` line back per query.
          Skipped with a message when the binary is missing or does not support `search`.

A task is a hit at k when the first k names contain `expected` or any name in `also`.
Reported per catalog and overall: n, top-1, top-5, MRR@10, for all tasks and for the
subset whose query shares no word with the expected tool's name (see name_words()).

Python 3 standard library only.

  scripts/search-eval.py                      markdown table
  scripts/search-eval.py --json               machine-readable
  scripts/search-eval.py --show-misses 20     also print the first 20 misses of mcpx
  MCPX_BIN=/tmp/mcpx scripts/search-eval.py   another binary
"""

import argparse
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEVSET_DIR = os.path.join(ROOT, "Tests", "search")
DEFAULT_DATA = os.path.normpath(os.path.join(ROOT, "..", "shared", "data"))
CATALOGS = ("a", "b")
K1, B = 1.2, 0.75
TOP_N = 10


class DevsetError(Exception):
    pass


# ---------------------------------------------------------------- words

_CAMEL1 = re.compile(r"([a-z0-9])([A-Z])")
_CAMEL2 = re.compile(r"([A-Z]+)([A-Z][a-z])")
_ALNUM = re.compile(r"[a-z0-9]+")


def split_camel(text):
    return _CAMEL2.sub(r"\1 \2", _CAMEL1.sub(r"\1 \2", text))


def name_words(name):
    """Words of a tool name: split on _ - . and camelCase, lowercased, words of <= 2 letters
    dropped. 'list_directory_with_sizes' -> {list, directory, with, sizes};
    'SpotifyGetInfo' -> {spotify, get, info}; 'd1_database_query' -> {database, query}."""
    words = set()
    for part in re.split(r"[_\-.\s/]+", name):
        for w in split_camel(part).lower().split():
            if len(w) > 2:
                words.add(w)
    return words


def query_words(query):
    return {w for w in _ALNUM.findall(query.lower()) if len(w) > 2}


def _singular(w):
    if len(w) > 4 and w.endswith("ies"):
        return w[:-3] + "y"
    if len(w) > 3 and w.endswith("es") and w[-3] in "sxz":
        return w[:-2]
    if len(w) > 3 and w.endswith("s") and not w.endswith("ss"):
        return w[:-1]
    return w


def shares_word(query, tool_name):
    """True if the query reuses a word of the tool's name (case-insensitive, exact word)."""
    return bool(query_words(query) & name_words(tool_name))


def shares_word_loose(query, name):
    """Stricter variant for information: singular/plural folded, name may be server__tool."""
    q = {_singular(w) for w in query_words(query)}
    n = {_singular(w) for w in name_words(name)}
    return bool(q & n)


# ---------------------------------------------------------------- catalog and dev set

def load_catalog(path):
    with open(path, encoding="utf-8") as f:
        cat = json.load(f)
    tools = []  # (exposed, server, tool dict), in catalog order
    for server in cat["servers"]:
        for tool in server.get("tools", []):
            tools.append((server["name"] + "__" + tool["name"], server["name"], tool))
    return tools


def load_devset(path, catalog_id, exposed_names):
    """Read and validate a dev set. Raises DevsetError listing every problem found."""
    tasks, problems, seen = [], [], {}
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = "%s:%d" % (path, lineno)
            try:
                t = json.loads(line)
            except ValueError as e:
                problems.append("%s: not JSON (%s)" % (where, e))
                continue
            q, exp, also = t.get("query"), t.get("expected"), t.get("also", [])
            if not isinstance(q, str) or not q.strip():
                problems.append("%s: empty or missing query" % where)
            if not isinstance(exp, str):
                problems.append("%s: missing expected" % where)
                continue
            if not isinstance(also, list) or not all(isinstance(x, str) for x in also):
                problems.append("%s: 'also' must be a list of names" % where)
                also = []
            if t.get("catalog") != catalog_id:
                problems.append("%s: catalog is %r, expected %r" % (where, t.get("catalog"), catalog_id))
            for name in [exp] + also:
                if name not in exposed_names:
                    problems.append("%s: %r is not a tool of catalog %s" % (where, name, catalog_id))
            if exp in also:
                problems.append("%s: expected %r repeated in also" % (where, exp))
            if len(set(also)) != len(also):
                problems.append("%s: duplicate names in also" % where)
            key = (q or "").strip().lower()
            if key in seen:
                problems.append("%s: duplicate query (also at line %d)" % (where, seen[key]))
            seen[key] = lineno
            tasks.append({"query": q, "expected": exp, "also": also, "line": lineno})
    if problems:
        raise DevsetError("\n".join(problems))
    if not tasks:
        raise DevsetError("%s: no tasks" % path)
    return tasks


# ---------------------------------------------------------------- BM25 baseline

def tokenize(text):
    return _ALNUM.findall(split_camel(text).lower())


class BM25:
    def __init__(self, tools, k1=K1, b=B):
        self.k1, self.b = k1, b
        self.names = [e for e, _, _ in tools]
        self.docs = []
        for exposed, _server, tool in tools:
            params = list(((tool.get("inputSchema") or {}).get("properties") or {}).keys())
            text = " ".join([exposed.replace("__", " "), tool.get("description") or ""] + params)
            self.docs.append(Counter(tokenize(text)))
        self.lens = [sum(d.values()) for d in self.docs]
        self.avgdl = sum(self.lens) / float(len(self.lens))
        df = Counter()
        for d in self.docs:
            df.update(d.keys())
        n = len(self.docs)
        self.idf = {t: math.log(1 + (n - c + 0.5) / (c + 0.5)) for t, c in df.items()}

    def rank(self, query, n=TOP_N):
        terms = [t for t in tokenize(query) if t in self.idf]
        scores = []
        for i, d in enumerate(self.docs):
            s = 0.0
            norm = self.k1 * (1 - self.b + self.b * self.lens[i] / self.avgdl)
            for t in terms:
                tf = d.get(t)
                if tf:
                    s += self.idf[t] * tf * (self.k1 + 1) / (tf + norm)
            scores.append((-s, i))
        scores.sort()  # best score first, ties in catalog order
        return [self.names[i] for _, i in scores[:n]]


# ---------------------------------------------------------------- mcpx

def run_mcpx(binary, catalog_path, queries, timeout):
    """Returns (rankings, seconds) or (None, reason)."""
    if not os.path.isfile(binary) or not os.access(binary, os.X_OK):
        return None, "binary not found: %s" % binary
    stdin = "".join(json.dumps({"query": q}, ensure_ascii=False) + "\n" for q in queries)
    start = time.monotonic()
    try:
        p = subprocess.run([binary, "search", "--catalog", catalog_path], input=stdin.encode("utf-8"),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, "timed out after %ss" % timeout
    except OSError as e:
        return None, "could not run %s: %s" % (binary, e)
    elapsed = time.monotonic() - start
    err = p.stderr.decode("utf-8", "replace").strip().splitlines()
    if p.returncode != 0:
        return None, "exit %d%s" % (p.returncode, (": " + err[-1]) if err else "")
    rankings = []
    for line in p.stdout.decode("utf-8", "replace").splitlines():
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            return None, "printed a line that is not JSON: %r" % line[:120]
        if not isinstance(obj, dict) or not isinstance(obj.get("ranked"), list):
            return None, "printed a line without a 'ranked' list: %r" % line[:120]
        rankings.append([x for x in obj["ranked"] if isinstance(x, str)])
    if not rankings:
        return None, "printed no JSON"
    if len(rankings) != len(queries):
        return None, "answered %d lines for %d queries" % (len(rankings), len(queries))
    return rankings, elapsed


# ---------------------------------------------------------------- metrics

def first_hit(task, ranked):
    good = {task["expected"]} | set(task["also"])
    for i, name in enumerate(ranked[:TOP_N]):
        if name in good:
            return i + 1
    return None


def metrics(ranks):
    n = len(ranks)
    if n == 0:
        return {"n": 0, "top1": None, "top5": None, "mrr10": None}
    return {
        "n": n,
        "top1": sum(1 for r in ranks if r == 1) / n,
        "top5": sum(1 for r in ranks if r is not None and r <= 5) / n,
        "mrr10": sum(1.0 / r for r in ranks if r is not None) / n,
    }


def summarize(tasks, ranks):
    return {
        "all": metrics(ranks),
        "no_shared_word": metrics([r for t, r in zip(tasks, ranks) if not t["shares"]]),
    }


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", action="store_true", help="print machine-readable JSON")
    ap.add_argument("--show-misses", type=int, default=0, metavar="N",
                    help="print the first N misses (not in top 5) of mcpx")
    ap.add_argument("--data-dir", default=os.environ.get("SEARCH_EVAL_DATA", DEFAULT_DATA),
                    help="directory with tool-catalog-{a,b}.json (default %(default)s)")
    ap.add_argument("--devset-dir", default=DEVSET_DIR, help="directory with devset-{a,b}.jsonl (default %(default)s)")
    ap.add_argument("--catalog", choices=CATALOGS, action="append",
                    help="only this catalog (repeatable; default both)")
    ap.add_argument("--mcpx-bin", default=os.environ.get("MCPX_BIN", os.path.join(ROOT, ".build", "debug", "mcpx")))
    ap.add_argument("--no-mcpx", action="store_true", help="BM25 only")
    ap.add_argument("--timeout", type=float, default=600, help="seconds allowed for one mcpx run")
    args = ap.parse_args()

    catalogs = args.catalog or list(CATALOGS)
    result = {"catalogs": {}, "overall": {}, "notes": []}
    all_tasks, all_ranks = [], {"bm25": [], "mcpx": []}
    mcpx_ok, mcpx_seconds, mcpx_queries = not args.no_mcpx, 0.0, 0
    misses = []

    for c in catalogs:
        cat_path = os.path.join(args.data_dir, "tool-catalog-%s.json" % c)
        dev_path = os.path.join(args.devset_dir, "devset-%s.jsonl" % c)
        tools = load_catalog(cat_path)
        exposed = {e for e, _, _ in tools}
        if len(exposed) != len(tools):
            print("warning: catalog %s has duplicate exposed names" % c, file=sys.stderr)
        try:
            tasks = load_devset(dev_path, c, exposed)
        except DevsetError as e:
            print("INVALID DEV SET %s:\n%s" % (dev_path, e), file=sys.stderr)
            sys.exit(2)
        for t in tasks:
            tool_name = t["expected"].split("__", 1)[1]
            t["shares"] = shares_word(t["query"], tool_name)
            t["shares_loose"] = shares_word_loose(t["query"], t["expected"])
        entry = {
            "tools": len(tools),
            "servers_covered": len({t["expected"].split("__")[0] for t in tasks}),
            "tools_covered": len({t["expected"] for t in tasks}),
            "no_shared_word_fraction": sum(1 for t in tasks if not t["shares"]) / len(tasks),
            "no_shared_word_fraction_strict": sum(1 for t in tasks if not t["shares_loose"]) / len(tasks),
            "with_also": sum(1 for t in tasks if t["also"]),
        }

        bm25 = BM25(tools)
        ranks = [first_hit(t, bm25.rank(t["query"])) for t in tasks]
        entry["bm25"] = summarize(tasks, ranks)
        all_ranks["bm25"] += ranks

        if mcpx_ok:
            got, info = run_mcpx(args.mcpx_bin, cat_path, [t["query"] for t in tasks], args.timeout)
            if got is None:
                mcpx_ok = False
                result["notes"].append("mcpx skipped: %s (%s search --catalog %s)" % (info, args.mcpx_bin, cat_path))
            else:
                ranks_m = [first_hit(t, r) for t, r in zip(tasks, got)]
                entry["mcpx"] = summarize(tasks, ranks_m)
                entry["mcpx"]["ms_per_query"] = 1000.0 * info / len(tasks)
                mcpx_seconds += info
                mcpx_queries += len(tasks)
                all_ranks["mcpx"] += ranks_m
                for t, r, rk in zip(tasks, got, ranks_m):
                    if rk is None or rk > 5:
                        misses.append({"catalog": c, "line": t["line"], "query": t["query"],
                                       "expected": t["expected"], "also": t["also"],
                                       "rank": rk, "top5": r[:5]})
        result["catalogs"][c] = entry
        all_tasks += tasks

    result["overall"]["n"] = len(all_tasks)
    result["overall"]["no_shared_word_fraction"] = sum(1 for t in all_tasks if not t["shares"]) / len(all_tasks)
    result["overall"]["no_shared_word_fraction_strict"] = sum(1 for t in all_tasks if not t["shares_loose"]) / len(all_tasks)
    result["overall"]["bm25"] = summarize(all_tasks, all_ranks["bm25"])
    if mcpx_ok:
        result["overall"]["mcpx"] = summarize(all_tasks, all_ranks["mcpx"])
        result["overall"]["mcpx"]["ms_per_query"] = 1000.0 * mcpx_seconds / mcpx_queries
        result["mcpx_bin"] = args.mcpx_bin
    else:
        for entry in result["catalogs"].values():
            entry.pop("mcpx", None)
    result["mcpx_misses"] = misses if mcpx_ok else []

    if args.json:
        out = dict(result)
        if args.show_misses:
            out["mcpx_misses"] = out["mcpx_misses"][:args.show_misses]
        else:
            out.pop("mcpx_misses")
        print(json.dumps(out, indent=2, ensure_ascii=False))
        return

    print_markdown(result, catalogs, mcpx_ok)
    if args.show_misses:
        print()
        if not mcpx_ok:
            print("(no mcpx misses to show: mcpx was not evaluated)")
        else:
            print("First %d of %d mcpx misses (expected not in top 5):" % (min(args.show_misses, len(misses)), len(misses)))
            for m in misses[:args.show_misses]:
                print()
                print("- [%s:%d] %s" % (m["catalog"], m["line"], m["query"]))
                print("  expected: %s%s  (rank %s)" % (m["expected"], (" also: " + ", ".join(m["also"])) if m["also"] else "",
                                                     m["rank"] if m["rank"] else ">10"))
                print("  top 5:    %s" % ", ".join(m["top5"]))


def pct(x):
    return "-" if x is None else "%.1f%%" % (100 * x)


def print_markdown(result, catalogs, mcpx_ok):
    for note in result["notes"]:
        print("> " + note)
    if result["notes"]:
        print()
    for c in catalogs:
        e = result["catalogs"][c]
        print("catalog %s: %d tools, %d tasks over %d servers / %d distinct tools, %d with also-correct; "
              "no shared word with the tool name: %s (strict, plurals folded and server name included: %s)"
              % (c, e["tools"], e["bm25"]["all"]["n"], e["servers_covered"], e["tools_covered"], e["with_also"],
                 pct(e["no_shared_word_fraction"]), pct(e["no_shared_word_fraction_strict"])))
    o = result["overall"]
    print("overall: %d tasks, no shared word: %s (strict: %s)" % (o["n"], pct(o["no_shared_word_fraction"]),
                                                                 pct(o["no_shared_word_fraction_strict"])))
    print()
    print("| catalog | ranker | subset | n | top-1 | top-5 | MRR@10 | ms/query |")
    print("|---|---|---|---:|---:|---:|---:|---:|")
    rows = [(c, result["catalogs"][c]) for c in catalogs] + [("all", o)]
    for label, e in rows:
        for ranker in ("bm25", "mcpx"):
            if ranker not in e:
                continue
            ms = e[ranker].get("ms_per_query")
            for subset in ("all", "no_shared_word"):
                m = e[ranker][subset]
                print("| %s | %s | %s | %d | %s | %s | %s | %s |" % (
                    label, ranker, "all" if subset == "all" else "no shared word", m["n"], pct(m["top1"]),
                    pct(m["top5"]), "-" if m["mrr10"] is None else "%.3f" % m["mrr10"],
                    ("%.1f" % ms) if (ms is not None and subset == "all") else ""))
    if mcpx_ok:
        print()
        print("mcpx: %s" % result.get("mcpx_bin"))


if __name__ == "__main__":
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    main()
