"""Page language: py3langid (langid.py's model, shipped inside the package).

Detected from what both WARC and WAT inputs carry: the page title, its meta
description and the alt texts of its candidates (LAION-5B also identified
language from the captions). Chosen by bench/extract_langid.py on 84 short
page-like texts in 14 languages: py3langid 100% at ~80 us/text; lingua 100% at
~8.5 ms/text; resiliparse's detect_fast 73% at ~4 us/text (built for long text).
Only pages that yield at least one candidate are identified.

Speed: py3langid walks its byte DFA in a Python loop and multiplies a float16
table (numpy converts it element by element). ``_FastScorer`` computes the
same thing with numpy: the model's DFA states are at most ``DFA_DEPTH`` bytes
deep, so the state after byte i is the DFA run from the start state over bytes
i-DFA_DEPTH+1..i, which is DFA_DEPTH vectorised steps over all positions at
once; features are counted in first-seen order (as py3langid's Counter) and
scored against a float32 copy of the table (float16 -> float32 is exact). The
result is py3langid's, bit for bit (tests/extract/test_lang.py checks both the
depth and the scores); if py3langid's internals change shape it falls back to
``classify``. extract calls ``detect_languages`` once per shard with every
page's text: the model's tables then stay in the CPU caches (~3x faster than
one page at a time between page parses), with the same answers.
"""

from __future__ import annotations

import math
import threading
import unicodedata
from functools import lru_cache

import numpy as np

_NEVER = np.iinfo(np.intp).max
MAX_CHARS = 400  # the cost grows with the text; a title and a few captions suffice
MIN_CONFIDENCE = 0.2  # below this (normalised probability) the language is unknown: null
DFA_DEPTH = 6  # longest path from the start state of py3langid 0.4's bundled model


def _identifier():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


class _FastScorer:
    """py3langid's ``classify`` (norm_probs=True), vectorised; see the module docstring."""

    def __init__(self, ident, depth: int = DFA_DEPTH):
        nm = ident.tk_nextmove
        self.nextmove = np.frombuffer(nm, dtype=np.dtype(nm.typecode))  # shares py3langid's memory
        self.rowbase = np.asarray(ident.tk_row, dtype=np.intp) << 8
        self.output = np.asarray(ident.tk_output, dtype=np.intp)
        self.table = np.asarray(ident.nb_ptc, dtype=np.float32)
        self.prior = ident.nb_pc
        self.classes = list(ident.nb_classes)
        self.alias_pairs = list(ident._alias_pairs)
        self.depth = depth
        self._scratch = threading.local()
        if not ident._norm_probs or self.table.ndim != 2 or self.table.shape[1] != len(self.classes):
            raise ValueError("unexpected py3langid model layout")

    def features(self, data: bytes) -> np.ndarray:
        """Feature index of every byte position that emits one, in text order."""
        b = np.frombuffer(data, dtype=np.uint8).astype(np.intp)
        n = len(b)
        state = np.zeros(n, dtype=np.intp)
        nextmove, rowbase = self.nextmove, self.rowbase
        for back in range(min(self.depth, n) - 1, -1, -1):  # byte i-back, for every position i >= back
            s = state[back:]
            state[back:] = nextmove[rowbase[s] + b[: n - back]]
        f = self.output[state]
        return f[f >= 0]

    def features_many(self, datas: list[bytes]) -> list[np.ndarray]:
        """``features`` of each of ``datas``, computed over their concatenation at
        once (a step applies only where the byte it reads is of the same text:
        the same integers as one text at a time, ~5x cheaper for short texts)."""
        lens = np.fromiter(map(len, datas), dtype=np.intp, count=len(datas))
        b = np.frombuffer(b"".join(datas), dtype=np.uint8).astype(np.intp)
        n = len(b)
        ends = np.cumsum(lens)
        first = np.repeat(ends - lens, lens)  # the index of its text's first byte, per position
        pos = np.arange(n)
        state = np.zeros(n, dtype=np.intp)
        nextmove, rowbase = self.nextmove, self.rowbase
        for back in range(self.depth - 1, -1, -1):
            s = state[back:]
            stepped = nextmove[rowbase[s] + b[: n - back]]
            state[back:] = np.where(pos[: n - back] >= first[back:], stepped, s)
        f = self.output[state]
        keep = f >= 0
        bounds = np.concatenate(([0], np.cumsum(keep)))[ends]
        return np.split(f[keep], bounds[:-1])

    def _counts(self, f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The distinct features of ``f`` in first-seen order, as py3langid's Counter
        (the order of the sum in ``raw_scores``, so of its rounding), and their
        counts: ~3x cheaper than a Counter or np.unique, with two per-thread
        scratch arrays over all features, left as found."""
        scratch = self._scratch.__dict__
        if not scratch:
            scratch["first"] = np.full(len(self.table), _NEVER, dtype=np.intp)
            scratch["count"] = np.zeros(len(self.table), dtype=np.intp)
        first, count = scratch["first"], scratch["count"]
        pos = np.arange(len(f))
        try:
            np.minimum.at(first, f, pos)
            uniq = f[first[f] == pos]
            np.add.at(count, f, 1)
            return uniq, count[uniq]
        finally:
            first[f] = _NEVER
            count[f] = 0

    @staticmethod
    def _bytes(text: str) -> bytes:
        if text.isupper():
            text = text.lower()
        return unicodedata.normalize("NFC", text).encode("utf8", errors="surrogatepass")

    def raw_scores(self, text: str, data: bytes | None = None, f: np.ndarray | None = None) -> tuple[np.ndarray, int]:
        """The class scores before normalisation, and the text's length in bytes
        (``data``, ``f``: the text's bytes and features when already computed)."""
        if data is None:
            data = self._bytes(text)
        if f is None:
            f = self.features(data)
        if len(f):
            idx, counts = self._counts(f)
            scores = np.log1p(counts.astype(np.float32)) @ self.table[idx] + self.prior
        else:
            scores = np.zeros(len(self.classes), dtype=np.float32)
        return scores, len(data)

    def classify(self, text: str) -> tuple[str, float]:
        scores, nbytes = self.raw_scores(text)
        scores *= 1.0 / math.sqrt(nbytes or 1)
        np.exp(scores - scores.max(), out=scores)
        scores /= scores.sum()
        for i, j in self.alias_pairs:
            scores[i] += scores[j]
            scores[j] = 0.0
        i = int(scores.argmax())
        return self.classes[i], float(scores[i])

    def classify_many(self, texts: list[str]) -> list[tuple[str, float]]:
        """``classify`` of each text, bit for bit: the same float32 operations,
        row by row of one matrix (tests/extract/test_lang.py compares them)."""
        if not texts:
            return []
        rows = []
        for i in range(0, len(texts), 512):  # features of 512 texts at a time: bounded memory
            chunk = texts[i : i + 512]
            datas = [self._bytes(t) for t in chunk]
            rows.extend(self.raw_scores(t, d, f) for t, d, f in zip(chunk, datas, self.features_many(datas)))
        scores = np.stack([r for r, _ in rows])
        scores *= np.array([1.0 / math.sqrt(n or 1) for _, n in rows], dtype=np.float32)[:, None]
        scores -= scores.max(axis=1, keepdims=True)
        np.exp(scores, out=scores)
        scores /= scores.sum(axis=1, keepdims=True)
        for i, j in self.alias_pairs:
            scores[:, i] += scores[:, j]
            scores[:, j] = 0.0
        best = scores.argmax(axis=1)
        classes = self.classes
        return [(classes[i], float(p)) for i, p in zip(best.tolist(), scores[np.arange(len(best)), best].tolist())]


@lru_cache(maxsize=1)
def _classifier():
    """Loaded once per process (~0.6 s: the model is xz-compressed)."""
    ident = _identifier()
    try:
        return _FastScorer(ident).classify
    except (AttributeError, TypeError, ValueError):  # py3langid internals changed: the slow path
        return ident.classify


def detect_language(text: str) -> str | None:
    """ISO 639-1 code (``en``, ``de``, ...) or None when unsure."""
    text = text[:MAX_CHARS]
    if not text.strip():
        return None
    return _answer(*_classifier()(text))


def detect_languages(texts: list[str]) -> list[str | None]:
    """``detect_language`` of each text, computed together: extract calls it once
    per shard with every page's text, so the model's tables (~100 MB) stay in the
    CPU caches (page parsing in between evicts them: ~3x slower per page), and
    the normalisation runs once over a matrix."""
    classify = _classifier()
    scorer = getattr(classify, "__self__", None)
    if not isinstance(scorer, _FastScorer):
        return [detect_language(t) for t in texts]
    texts = [t[:MAX_CHARS] for t in texts]
    todo = [i for i, t in enumerate(texts) if t.strip()]
    out: list[str | None] = [None] * len(texts)
    for i, (lang, confidence) in zip(todo, scorer.classify_many([texts[i] for i in todo])):
        out[i] = _answer(lang, confidence)
    return out


def _answer(lang: str, confidence: float) -> str | None:
    if confidence < MIN_CONFIDENCE or lang in ("zxx", "und"):
        return None
    return lang


def page_text(title: str | None, description: str | None, captions: list[str]) -> str:
    parts = [p for p in (title, description) if p]
    size = sum(len(p) for p in parts)
    for c in captions:
        if size >= MAX_CHARS:
            break
        parts.append(c)
        size += len(c) + 1
    return " ".join(parts)
