"""The vectorised language scorer gives py3langid's answers, bit for bit."""

from __future__ import annotations

import random

import numpy as np
import pytest

from grassroots.extract import lang

TEXTS = [
    "Best hiking trails in the Lake District | A walker standing on a rocky ridge at sunset",
    "Die schönsten Wanderwege im Schwarzwald | Ein Wanderer auf einem Felsen bei Sonnenuntergang",
    "Les plus beaux sentiers de randonnée des Alpes | Un randonneur sur une crête au coucher du soleil",
    "東京の桜の名所 | 満開の桜の下を歩く人々",
    "Лучшие маршруты для походов | Турист на скалистом хребте на закате",
    "أفضل مسارات المشي لمسافات طويلة | متنزه يقف على سلسلة صخرية عند غروب الشمس",
    "SHOUTING TITLE IN CAPITALS",
    "a",
    "",
    "   ",
    "1234 5678 !!!",
    "\ud800 lone surrogate and ünïcödé",
]


@pytest.fixture(scope="module")
def ident():
    return lang._identifier()


@pytest.fixture(scope="module")
def scorer(ident):
    return lang._FastScorer(ident)


def _random_texts(n: int) -> list[str]:
    rng = random.Random(5)
    pool = " ".join(TEXTS)
    out = []
    for _ in range(n):
        k = rng.randint(0, 500)
        if rng.random() < 0.3:
            out.append("".join(chr(rng.choice((rng.randint(0, 0x7F), rng.randint(0x80, 0x3000)))) for _ in range(k)))
        else:
            i = rng.randint(0, len(pool))
            out.append(pool[i : i + k])
    return out


def test_fast_scorer_matches_py3langid_exactly(ident, scorer):
    for text in TEXTS + _random_texts(400):
        assert scorer.classify(text) == ident.classify(text), repr(text)


def test_the_dfa_is_no_deeper_than_the_window(ident):
    """The vectorised walk is exact only if every DFA state is reachable from the
    start in at most DFA_DEPTH bytes (breadth-first search over the model)."""
    nextmove = np.frombuffer(ident.tk_nextmove, dtype=np.dtype(ident.tk_nextmove.typecode))
    rowbase = np.asarray(ident.tk_row, dtype=np.intp) << 8
    seen = np.zeros(len(rowbase), dtype=bool)
    seen[0] = True
    frontier, depth = np.array([0]), 0
    while True:
        reached = np.zeros(len(rowbase), dtype=bool)
        reached[nextmove[(rowbase[frontier][:, None] + np.arange(256)).ravel()]] = True
        frontier = np.flatnonzero(reached & ~seen)
        if not len(frontier):
            break
        seen[frontier] = True
        depth += 1
    assert seen.all()
    assert depth <= lang.DFA_DEPTH


def test_detect_language():
    assert lang.detect_language(TEXTS[0]) == "en"
    assert lang.detect_language(TEXTS[1]) == "de"
    assert lang.detect_language("   ") is None
    assert lang.detect_language("") is None


def test_classify_many_is_classify_row_by_row(scorer):
    texts = TEXTS + _random_texts(400)
    texts = [t for t in texts if t.strip()]
    assert scorer.classify_many(texts) == [scorer.classify(t) for t in texts]
    assert scorer.classify_many([]) == []


def test_detect_languages_matches_detect_language():
    texts = TEXTS + _random_texts(200) + ["x" * 1000, "Ein Wanderer " * 60]
    assert lang.detect_languages(texts) == [lang.detect_language(t) for t in texts]
    assert lang.detect_languages([]) == []


def test_features_of_many_texts_at_once_are_each_texts_features(scorer):
    rng = random.Random(5)
    datas = [bytes(rng.randrange(256) for _ in range(rng.randrange(1, 12))) for _ in range(500)]
    datas += [t.encode() for t in ("a", "ab", "the quick brown fox", "Über Straße", "日本語のテキスト")]
    for data, many in zip(datas, scorer.features_many(datas)):
        assert np.array_equal(scorer.features(data), many)


def test_the_scorer_cache_gives_the_same_answers(ident, scorer, tmp_path, monkeypatch):
    """The arrays kept between runs (~/.cache/grassroots/py3langid-...) score bit
    for bit as the scorer built from py3langid's model; a damaged cache is rebuilt,
    an unwritable one is skipped."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    lang._classifier.cache_clear()
    try:
        cache = lang._scorer_cache()
        assert cache is not None and cache.parent == tmp_path / "cache" / "grassroots"
        texts = TEXTS + _random_texts(200)
        built = lang._classifier()  # no cache yet: from the model, then saved
        assert cache.is_dir() and built.__self__.classes == scorer.classes
        loaded = lang._FastScorer.load(cache)
        assert type(loaded.table) is np.ndarray and not loaded.table.flags.writeable  # mapped, read-only
        assert loaded.classify_many(texts) == scorer.classify_many(texts)
        assert [loaded.classify(t) for t in texts] == [ident.classify(t) for t in texts]
        lang._classifier.cache_clear()
        assert isinstance(lang._classifier().__self__, lang._FastScorer)  # from the cache this time
        assert lang.detect_languages(texts) == [lang._answer(*ident.classify(t[: lang.MAX_CHARS])) if t[: lang.MAX_CHARS].strip() else None for t in texts]

        (cache / "table.npy").write_bytes(b"damaged")  # a damaged cache: rebuilt
        lang._classifier.cache_clear()
        assert lang._classifier()("Die schönsten Wanderwege im Schwarzwald") == scorer.classify(
            "Die schönsten Wanderwege im Schwarzwald")
        assert lang._FastScorer.load(cache).classify_many(texts) == scorer.classify_many(texts)

        monkeypatch.setenv("XDG_CACHE_HOME", "relative/path")  # never a cache relative to the cwd
        assert lang._scorer_cache() is None

        blocked = tmp_path / "file"  # the cache folder cannot be created: works without one
        blocked.write_text("")
        monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
        lang._classifier.cache_clear()
        assert lang._classifier()(TEXTS[2]) == scorer.classify(TEXTS[2])
    finally:
        lang._classifier.cache_clear()
