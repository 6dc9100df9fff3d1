#!/usr/bin/env python3
"""Reports how the embeddings rank the dev sets (Tests/search/devset-{a,b}.jsonl over
../shared/data/tool-catalog-{a,b}.json). For reporting only: nothing here feeds the training.

Rankers:
  minilm       all-MiniLM-L6-v2, full numpy forward pass (minilm.py), cosine
  static-int8  the generated StaticEmbeddings.swift, decoded from its base64 literals (the
               reference of what the Swift port must compute), cosine
  static-f32 / distilled   the float table before quantisation / the untrained Model2Vec-style
               init, from build_table.py's cache (if present)
  bm25         scripts/search-eval.py's BM25 baseline, and bm25+static: z-scored scores fused
               0.2 * bm25 + 0.8 * static (information only)

Tool document text (static and MiniLM alike), see doc_text().
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import importlib.util
import json
import re
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import minilm  # noqa: E402

REPO = HERE.parent.parent


def load_search_eval():
    spec = importlib.util.spec_from_file_location("search_eval", REPO / "scripts" / "search-eval.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


_CAMEL1 = re.compile(r"([a-z0-9])([A-Z])")
_CAMEL2 = re.compile(r"([A-Z]+)([A-Z][a-z])")


def name_words(name: str) -> str:
    """'list_directory_with_sizes' -> 'list directory with sizes'; 'SpotifyGetInfo' ->
    'Spotify Get Info'; 'brave-search' -> 'brave search': split on runs of _ - . / whitespace,
    then camelCase (lower/digit followed by upper; an upper run before upper+lower), joined by
    single spaces."""
    parts = [p for p in re.split(r"[_\-.\s/]+", name) if p]
    return " ".join(_CAMEL2.sub(r"\1 \2", _CAMEL1.sub(r"\1 \2", p)) for p in parts)


def doc_text(server: str, tool: dict) -> str:
    """'<server words> <tool words>: <description>' (description stripped, may be empty: then
    just '<server words> <tool words>:'). Parameters are left out of the vector's text: on both
    dev sets the fused ranker found more tools in its top 5 without them (their names and
    descriptions stay in the lexical side's parameter field)."""
    desc = (tool.get("description") or "").strip()
    text = name_words(server) + " " + name_words(tool["name"]) + ":"
    if desc:
        text += " " + desc
    return text


# --------------------------------------------------------------------------------------------
# the generated Swift file

def _swift_unescape(s: str) -> str:
    out = []
    i = 0
    while i < len(s):
        c = s[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        n = s[i + 1]
        if n == "n":
            out.append("\n"); i += 2
        elif n == "\\":
            out.append("\\"); i += 2
        elif n == '"':
            out.append('"'); i += 2
        elif n == "u":
            j = s.index("}", i)
            out.append(chr(int(s[i + 3:j], 16))); i = j + 1
        else:
            raise ValueError("unexpected escape \\" + n)
    return "".join(out)


def load_swift_table(path: Path):
    src = path.read_text(encoding="utf-8")

    def lit(name):
        start = src.index("static let " + name + ': String = "') + len("static let " + name + ': String = "')
        i = start
        while src[i] != '"':
            i += 2 if src[i] == "\\" else 1
        return src[start:i]

    dims = int(re.search(r"static let dimensions: Int = (\d+)", src).group(1))
    vocab = _swift_unescape(lit("vocabulary")).split("\n")
    weights = np.frombuffer(base64.b64decode(lit("weightsBase64")), dtype="<f4")
    scales = np.frombuffer(base64.b64decode(lit("scalesBase64")), dtype="<f4")
    tb = base64.b64decode(lit("tableBase64"))
    assert hashlib.sha256(tb).hexdigest() == lit("tableSHA256"), "table sha256 mismatch"
    table = np.frombuffer(tb, dtype=np.int8).reshape(len(vocab), dims)
    assert len(weights) == len(scales) == len(vocab)
    return vocab, weights, scales, table


class StaticModel:
    """Sentence vector = L2-normalise( sum over the text's WordPiece ids t (no [CLS]/[SEP], no
    truncation) of weights[t] * scales[t] * table[t] ) (zero vector if the text has no token)."""

    def __init__(self, vocab_tokens, weights, scales, table):
        self.tok = minilm.WordPieceTokenizer({t: i for i, t in enumerate(vocab_tokens)})
        self.rows = (table.astype(np.float32) * (scales * weights)[:, None]).astype(np.float32)

    def encode(self, texts):
        out = np.zeros((len(texts), self.rows.shape[1]), dtype=np.float32)
        for i, t in enumerate(texts):
            ids = self.tok.encode(t)
            if ids:
                v = self.rows[ids].sum(0)
                nrm = np.linalg.norm(v)
                out[i] = v / nrm if nrm > 0 else v
        return out


# --------------------------------------------------------------------------------------------

def zscore(x):
    sd = x.std()
    return (x - x.mean()) / sd if sd > 0 else x - x.mean()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--devset-dir", default=str(REPO / "Tests" / "search"))
    ap.add_argument("--swift", default=str(REPO / "Sources/MCPXCore/Search/StaticEmbeddings.swift"))
    ap.add_argument("--cache", default="/tmp/embcache")
    ap.add_argument("--no-minilm", action="store_true")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--print-docs", type=int, default=0, help="print the first N document texts")
    args = ap.parse_args()

    se = load_search_eval()
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)

    vocab, weights, scales, table = load_swift_table(Path(args.swift))
    static = StaticModel(vocab, weights, scales, table)
    extra = {}
    D = table.shape[1]
    npz = cache / f"table-D{D}.npz"
    if npz.exists():
        z = np.load(npz)
        tok_vocab = vocab
        for label, E in (("static-f32", z["E"]),):
            m = StaticModel(tok_vocab, z["w"], np.ones(len(vocab), np.float32), np.zeros((len(vocab), D), np.int8))
            m.rows = (E * z["w"][:, None]).astype(np.float32)
            extra[label] = m
        X = np.load(cache / "minilm-vocab-tokens.npy")
        m = StaticModel(tok_vocab, z["w"], np.ones(len(vocab), np.float32), np.zeros((len(vocab), D), np.int8))
        m.rows = (((X - z["mu"]) @ z["P"].T) * z["w"][:, None]).astype(np.float32)
        extra["distilled"] = m
    model = None if args.no_minilm else minilm.MiniLM(minilm.find_wheel())

    results = {}
    timing = {}
    for cid in ("a", "b"):
        tools = se.load_catalog(Path(args.data_dir) / f"tool-catalog-{cid}.json")
        names = [e for e, _, _ in tools]
        tasks = se.load_devset(Path(args.devset_dir) / f"devset-{cid}.jsonl", cid, set(names))
        docs = [doc_text(server, tool) for _, server, tool in tools]
        for d in docs[: args.print_docs]:
            print(d)
        queries = [t["query"] for t in tasks]
        scores = {}
        t0 = time.perf_counter()
        sd = static.encode(docs)
        t1 = time.perf_counter()
        sq = static.encode(queries)
        scores["static-int8"] = sq @ sd.T
        t2 = time.perf_counter()
        timing[cid] = {"static_docs_ms_each": (t1 - t0) * 1e3 / len(docs),
                       "static_query_encode_and_score_ms_each (python)": (t2 - t1) * 1e3 / len(queries)}
        for label, m in extra.items():
            scores[label] = m.encode(queries) @ m.encode(docs).T
        if model is not None:
            key = hashlib.sha256(("\n".join(docs) + "\x00" + "\n".join(queries)).encode()).hexdigest()[:16]
            p = cache / f"eval-minilm-{cid}-{key}.npz"
            if p.exists():
                z = np.load(p)
                md, mq = z["d"], z["q"]
            else:
                md = model.encode(docs)
                mq = model.encode(queries)
                np.savez(p, d=md, q=mq)
            scores["minilm"] = mq @ md.T
        bm = se.BM25(tools)
        bm_scores = np.zeros((len(queries), len(tools)))
        for qi, q in enumerate(queries):
            terms = [t for t in se.tokenize(q) if t in bm.idf]
            for i, d in enumerate(bm.docs):
                norm = bm.k1 * (1 - bm.b + bm.b * bm.lens[i] / bm.avgdl)
                s = 0.0
                for t in terms:
                    tf = d.get(t)
                    if tf:
                        s += bm.idf[t] * tf * (bm.k1 + 1) / (tf + norm)
                bm_scores[qi, i] = s
        scores["bm25"] = bm_scores
        scores["bm25+static (0.2/0.8 z)"] = np.stack([0.2 * zscore(bm_scores[i]) + 0.8 * zscore(scores["static-int8"][i])
                                                     for i in range(len(queries))])
        if "minilm" in scores:
            scores["bm25+minilm (0.2/0.8 z)"] = np.stack([0.2 * zscore(bm_scores[i]) + 0.8 * zscore(scores["minilm"][i])
                                                         for i in range(len(queries))])
        res = {}
        for label, S in scores.items():
            ranks, ranks_ns = [], []
            for qi, task in enumerate(tasks):
                order = np.argsort(-S[qi], kind="stable")[:10]  # ties in catalog order
                r = se.first_hit(task, [names[i] for i in order])
                ranks.append(r)
                exp_tool = task["expected"].split("__", 1)[1]
                if not se.shares_word(task["query"], exp_tool):
                    ranks_ns.append(r)
            res[label] = {"all": se.metrics(ranks), "no_shared_word": se.metrics(ranks_ns)}
        results[cid] = res

    if args.json:
        print(json.dumps({"results": results, "timing": timing}, indent=1))
        return
    print("| catalog | ranker | n | top-1 | top-5 | MRR@10 | top-5 no-shared-word (n) |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for cid, res in results.items():
        for label, m in res.items():
            a, ns = m["all"], m["no_shared_word"]
            print(f"| {cid} | {label} | {a['n']} | {a['top1']*100:.1f}% | {a['top5']*100:.1f}% | {a['mrr10']:.3f} | "
                  f"{ns['top5']*100:.1f}% ({ns['n']}) |")
    # overall
    print()
    labels = list(results["a"].keys())
    for label in labels:
        n = sum(results[c][label]["all"]["n"] for c in results)
        t1 = sum(results[c][label]["all"]["top1"] * results[c][label]["all"]["n"] for c in results) / n
        t5 = sum(results[c][label]["all"]["top5"] * results[c][label]["all"]["n"] for c in results) / n
        mr = sum(results[c][label]["all"]["mrr10"] * results[c][label]["all"]["n"] for c in results) / n
        print(f"| all | {label} | {n} | {t1*100:.1f}% | {t5*100:.1f}% | {mr:.3f} |")
    print()
    print(json.dumps(timing, indent=1))


if __name__ == "__main__":
    main()
