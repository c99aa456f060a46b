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
``classify``. extract calls ``detect_languages`` once per row group (~2k
pages) with every page's text: the model's tables then stay in the CPU caches
(~3x faster than one page at a time between page parses), with the same answers.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import threading
import unicodedata
from functools import lru_cache
from pathlib import Path

import numpy as np

from grassroots.usercache import cache_path

_NEVER = np.iinfo(np.intp).max
MAX_CHARS = 400  # the cost grows with the text; a title and a few captions suffice
MIN_CONFIDENCE = 0.2  # below this (normalised probability) the language is unknown: null
DFA_DEPTH = 6  # longest path from the start state of py3langid 0.4's bundled model


def _identifier():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


class _FastScorer:
    """py3langid's ``classify`` (norm_probs=True), vectorised; see the module docstring."""

    _ARRAYS = ("nextmove", "rowbase", "output", "table", "prior")  # what save/load keep

    def __init__(self, ident=None, depth: int = DFA_DEPTH, *, arrays: dict | None = None):
        if arrays is None:
            if not ident._norm_probs:
                raise ValueError("unexpected py3langid model layout")
            nm = ident.tk_nextmove
            arrays = {
                "nextmove": np.frombuffer(nm, dtype=np.dtype(nm.typecode)),  # shares py3langid's memory
                "rowbase": np.asarray(ident.tk_row, dtype=np.intp) << 8,
                "output": np.asarray(ident.tk_output, dtype=np.intp),
                "table": np.asarray(ident.nb_ptc, dtype=np.float32),
                "prior": np.asarray(ident.nb_pc),
                "classes": list(ident.nb_classes),
                "alias_pairs": [list(p) for p in ident._alias_pairs],
            }
        self.nextmove, self.rowbase, self.output, self.table, self.prior = (arrays[k] for k in self._ARRAYS)
        self.classes = list(arrays["classes"])
        self.alias_pairs = [tuple(p) for p in arrays["alias_pairs"]]
        self.depth = depth
        self._scratch = threading.local()
        if self.table.ndim != 2 or self.table.shape[1] != len(self.classes):
            raise ValueError("unexpected py3langid model layout")

    def save(self, directory: Path) -> None:
        """The scorer's arrays as .npy files (plus classes.json) in ``directory``,
        written to a temporary sibling and renamed: a reader never sees half a cache."""
        tmp = None
        try:
            directory.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=directory.name + ".", dir=directory.parent))
            for k in self._ARRAYS:
                np.save(tmp / f"{k}.npy", np.ascontiguousarray(getattr(self, k)), allow_pickle=False)
            (tmp / "classes.json").write_text(json.dumps({"classes": self.classes, "alias_pairs": self.alias_pairs,
                                                          "depth": self.depth}))
            os.rename(tmp, directory)
        except OSError:  # another process won the race, or the disk said no: the cache is optional
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)

    @classmethod
    def load(cls, directory: Path) -> "_FastScorer":
        """The scorer ``save`` wrote (memory-mapped: no copy, pages read on first use)."""
        meta = json.loads((directory / "classes.json").read_text())
        # mapped read-only, seen as plain arrays (np.memmap's Python-level __getitem__
        # would add ~20% to the scoring)
        arrays = {k: np.load(directory / f"{k}.npy", mmap_mode="r", allow_pickle=False).view(np.ndarray)
                  for k in cls._ARRAYS}
        return cls(depth=meta["depth"], arrays={**arrays, **meta})

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
        raw = np.frombuffer(b"".join(datas), dtype=np.uint8)
        n = len(raw)
        ends = np.cumsum(lens)
        # Every temporary lives in per-thread scratch arrays (out=): fresh ~2 MB arrays
        # per step made malloc trim and re-fault the heap each time (~0.3 s of
        # kernel time for 20k pages, as much as the walk itself).
        b, offset, state, step, nxt, mask = self._walk_buffers(n)
        np.copyto(b, raw, casting="safe")
        np.subtract(self._scratch.walk_positions[:n], np.repeat(ends - lens, lens), out=offset)  # within its text
        state[:] = 0
        nextmove, rowbase = self.nextmove, self.rowbase
        for back in range(self.depth - 1, -1, -1):
            m = n - back
            if m <= 0:
                continue
            s = state[back:]
            np.take(rowbase, s, out=step[:m])
            np.add(step[:m], b[:m], out=step[:m])
            np.take(nextmove, step[:m], out=nxt[:m])
            np.greater_equal(offset[back:], back, out=mask[:m])  # the byte read is of the same text
            np.copyto(s, nxt[:m], where=mask[:m])
        f = np.take(self.output, state, out=step)
        keep = np.greater_equal(f, 0, out=mask)
        bounds = np.concatenate(([0], np.cumsum(keep, out=offset)))[ends]  # offset: free again
        return np.split(f[keep], bounds[:-1])

    def _walk_buffers(self, n: int) -> tuple[np.ndarray, ...]:
        """Six per-thread scratch arrays of length ``n`` for `features_many`."""
        scratch = self._scratch.__dict__
        bufs = scratch.get("walk")
        if bufs is None or len(bufs[0]) < n:
            size = max(n, 1 << 18)
            bufs = scratch["walk"] = (*(np.empty(size, dtype=np.intp) for _ in range(4)),
                                      np.empty(size, dtype=self.nextmove.dtype), np.empty(size, dtype=bool))
            scratch["walk_positions"] = np.arange(size)
        return tuple(a[:n] for a in bufs)

    def _counts(self, f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The distinct features of ``f`` in first-seen order, as py3langid's Counter
        (the order of the sum in ``raw_scores``, so of its rounding), and their
        counts: ~3x cheaper than a Counter or np.unique, with two per-thread
        scratch arrays over all features, left as found."""
        scratch = self._scratch.__dict__
        if "first" not in scratch:
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
            # ndarray.take: ~2x cheaper than table[idx] for these few hundred rows
            scores = np.log1p(counts.astype(np.float32)) @ self.table.take(idx, axis=0) + self.prior
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
    """Loaded once per process: from the scorer cache (memory-mapped, ~10 ms), else
    from py3langid's xz-compressed model (~0.6 s), then cached for the next run."""
    cache = _scorer_cache()
    if cache is not None and cache.is_dir():
        try:
            return _FastScorer.load(cache).classify
        except (OSError, ValueError, KeyError, TypeError):  # damaged: rebuilt below
            shutil.rmtree(cache, ignore_errors=True)
    ident = _identifier()
    try:
        scorer = _FastScorer(ident)
    except (AttributeError, TypeError, ValueError):  # py3langid internals changed: the slow path
        return ident.classify
    if cache is not None:
        scorer.save(cache)
    return scorer.classify


def _scorer_cache() -> Path | None:
    """Where the decompressed model's arrays are kept between runs (usercache), one entry
    per py3langid version and model file (size, mtime). None when the model file cannot be
    found."""
    try:
        from importlib.metadata import version

        from py3langid.langid import MODEL_DIR, MODEL_FILE

        model = Path(MODEL_FILE)
        if not model.is_absolute():
            model = Path(MODEL_DIR) / model
        st = model.stat()
        tag = f"py3langid-{version('py3langid')}-{st.st_size}-{st.st_mtime_ns}-d{DFA_DEPTH}"
    except (ImportError, OSError, ValueError):
        return None
    return cache_path(tag)


def detect_language(text: str) -> str | None:
    """ISO 639-1 code (``en``, ``de``, ...) or None when unsure."""
    text = text[:MAX_CHARS]
    if not text.strip():
        return None
    return _answer(*_classifier()(text))


def detect_languages(texts: list[str]) -> list[str | None]:
    """``detect_language`` of each text, computed together: extract calls it once
    per row group with its pages' texts, so the model's tables (~100 MB) stay in the
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
