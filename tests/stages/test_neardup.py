"""Near-duplicate clusters never chain (issue 28): star clusters around representatives
whatever order the pairs come in; a weak model whose embeddings are concentrated is
measured at `score` and its threshold not used (PDQ only), so no giant cluster; a real
cluster bigger than max(50, 0.5%) is reported with its size and the advice to raise
the threshold. Datasets here are ledgers (no images) and planted embeddings."""

from __future__ import annotations

import json
import os

import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from grassroots.cli import app
from grassroots.embeddings import write_embeddings
from grassroots.layout import DatasetDir
from grassroots.ledger import finished_shards
from grassroots.runner import LocalRunner, run_step
from grassroots.schema import SAMPLE_SCHEMA
from grassroots.stages import NearDup, NearDupPairs
from grassroots.stages.neardup import NearDupConfig
from grassroots.stages.neardup.clusters import star_clusters
from grassroots.stages.neardup.spread import MAX_OVER, measure
from grassroots.step import load_plan
from grassroots.stats import ShardStats
from grassroots.writer import ShardWriter

MODEL = "m"
PER_SHARD = 100


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def concentrated(n: int, dim: int = 32, noise: float = 0.03, seed: int = 0) -> np.ndarray:
    """A weak model: one common direction plus a little noise (most pairs at cosine >= 0.95)."""
    rng = np.random.default_rng(seed)
    return unit(np.ones(dim) + rng.normal(scale=noise, size=(n, dim)))


def key(i: int) -> str:
    return f"{i // PER_SHARD:05d}{i % PER_SHARD:04d}"


def make_dataset(ds: str, img: np.ndarray, pdq: list[str | None], seed: int = 1) -> None:
    """Download-shaped ledgers (no images) + markers + embeddings of model ``m``; captions'
    embeddings are random, so CLIP scores (and representatives) differ."""
    layout = DatasetDir(ds)
    os.makedirs(layout.runs_dir("download"), exist_ok=True)
    txt = unit(np.random.default_rng(seed).normal(size=img.shape))
    for s in range(-(-len(img) // PER_SHARD)):
        rows = range(s * PER_SHARD, min((s + 1) * PER_SHARD, len(img)))
        with ShardWriter(ds, s, schema=SAMPLE_SCHEMA) as w:
            for i in rows:
                w.add_row({"key": key(i), "url": f"http://x/{key(i)}.jpg", "caption": f"picture {i}",
                           "status": "success", "width": 64, "height": 64, "pdq": pdq[i],
                           "pdq_quality": 100 if pdq[i] else None})
        stats = ShardStats(stage="download", shard=s, candidates=len(rows), kept=len(rows))
        with open(layout.run_marker("download", s), "w") as f:
            f.write(stats.to_json())
        write_embeddings(layout, MODEL, s, [key(i) for i in rows], img[rows.start:rows.stop], txt[rows.start:rows.stop])
    with open(layout.model_info(MODEL), "w") as f:
        json.dump({"format": 1, "model_id": MODEL}, f)


def planted_pdq(n: int, copies: dict[int, int], seed: int = 2) -> list[str]:
    """Random PDQ hashes; ``copies`` maps i -> j: i's hash is j's with 3 bits flipped."""
    rng = np.random.default_rng(seed)
    bits = rng.integers(0, 2, size=(n, 256), dtype=np.uint8)
    for i, j in copies.items():
        bits[i] = bits[j]
        bits[i, [7, 100, 200]] ^= 1
    return [np.packbits(b).tobytes().hex() for b in bits]


def neardup(ds: str) -> dict[str, dict]:
    layout = DatasetDir(ds)
    out = {}
    for s in finished_shards(ds):
        out.update({r["key"]: r for r in pq.read_table(layout.attribute("neardup", s)).to_pylist()})
    return out


def clusters_of(rows: dict[str, dict]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for k, r in rows.items():
        out.setdefault(r["neardup_cluster"], set()).add(k)
    return out


def score(ds: str, *args: str):
    res = CliRunner().invoke(app, ["score", ds, "--embeddings", MODEL, "--processes", "1", *args])
    assert res.exit_code == 0, res.output
    return res.output


# --- star clusters --------------------------------------------------------


def test_star_clusters_never_chain_and_ignore_the_order_of_pairs():
    rng = np.random.default_rng(0)
    chain = [(i, i + 1) for i in range(20)]  # 0-1-2-...-20: union-find made one cluster
    graph = {tuple(sorted(p)) for p in rng.integers(100, 160, size=(150, 2)).tolist() if p[0] != p[1]}
    pairs = np.array(chain + sorted(graph), dtype=np.int64)
    clip = {i: float(rng.random()) for i in range(0, 160, 3)}  # some images without a score
    reps = star_clusters(pairs[:, 0], pairs[:, 1], clip)
    linked = {tuple(sorted(p)) for p in pairs.tolist()}
    for member, rep in reps.items():  # every member is a near-duplicate of its representative itself
        assert member == rep or tuple(sorted((member, rep))) in linked
        assert reps[rep] == rep
    assert max(np.bincount(list(reps.values()))) <= 1 + max(np.bincount(pairs.ravel()))
    for seed in range(5):  # any order, either side of a pair, duplicates: the same clusters
        order = np.random.default_rng(seed).permutation(len(pairs))
        shuffled = np.concatenate([pairs[order], pairs[order[:10]]])
        flip = np.random.default_rng(seed + 10).random(len(shuffled)) < 0.5
        a = np.where(flip, shuffled[:, 1], shuffled[:, 0])
        b = np.where(flip, shuffled[:, 0], shuffled[:, 1])
        assert star_clusters(a, b, dict(reversed(list(clip.items())))) == reps


def test_the_representative_is_the_highest_clip_score_then_the_smallest_key():
    a, b = np.array([1, 2, 3]), np.array([2, 3, 4])  # a chain 1-2-3-4
    assert star_clusters(a, b, {3: 0.9}) == {1: 1, 2: 3, 3: 3, 4: 3}  # 3 first takes 2 and 4; 1 is left alone
    assert star_clusters(a, b, {}) == {1: 1, 2: 1, 3: 3, 4: 3}  # no scores: by key
    assert star_clusters(np.zeros(0, np.int64), np.zeros(0, np.int64), {}) == {}


# --- the model's spread ---------------------------------------------------


def test_spread_tells_a_weak_model_from_a_spread_one():
    weak = measure(concentrated(2000), MODEL, 0.95)
    assert not weak.usable and weak.random_over > MAX_OVER and weak.nearest_p50 > 0.95
    spread = measure(unit(np.random.default_rng(0).normal(size=(2000, 32))), MODEL, 0.95)
    assert spread.usable and spread.random_over == 0 and spread.random_p99 < 0.6
    assert measure(concentrated(1), MODEL, 0.95).usable  # nothing to measure


# --- score on a weak model ------------------------------------------------


@pytest.fixture(scope="module")
def weak(tmp_path_factory):
    """300 images of a weak model (all pairs near cosine 0.97) and 5 planted PDQ copies."""
    ds = str(tmp_path_factory.mktemp("weak") / "ds")
    copies = {10: 3, 120: 50, 250: 199, 260: 20, 299: 0}
    make_dataset(ds, concentrated(300), planted_pdq(300, copies))
    return ds, copies, score(ds)


def test_a_weak_model_threshold_is_not_used_and_the_console_says_so(weak):
    ds, _, output = weak
    assert "the embedding threshold was not used" in output and "PDQ only" in output
    info = json.loads(open(DatasetDir(ds).attribute_info("neardup")).read())
    assert info["embedding_model"] == MODEL and info["embedding_pairs"] is False
    assert info["spread"]["random_over"] > MAX_OVER and "not used" in info["note"]
    assert load_plan(ds, NearDupPairs.name)[0].params[-1] == "embedding_pairs=off"


def test_a_weak_model_makes_no_giant_cluster(weak):
    ds, copies, _ = weak
    rows = neardup(ds)
    assert len(rows) == 300
    found = {frozenset(c) for c in clusters_of(rows).values() if len(c) > 1}
    assert found == {frozenset((key(i), key(j))) for i, j in copies.items()}  # PDQ's pairs, nothing else
    assert sum(r["neardup_representative"] for r in rows.values()) == 300 - len(copies)


def test_forced_embedding_pairs_of_a_weak_model_still_make_stars(weak):
    """Without the fallback, the pairs of a weak model cover most of the release: star
    clusters still never chain, but the one around the first representative is huge (the
    guard's case)."""
    from grassroots.stages.neardup.pairs import _embedding_pairs

    x = concentrated(300)
    pairs = _embedding_pairs(np.arange(300), x.astype(np.float16), np.zeros(300, np.int64), 0.95)
    assert len(pairs) > 0.2 * 300 * 299 / 2
    reps = star_clusters(pairs["a"], pairs["b"], {})
    linked = set(zip(pairs["a"].tolist(), pairs["b"].tolist()))
    assert all(m == r or (min(m, r), max(m, r)) in linked for m, r in reps.items())


# --- a real big cluster, and order independence ---------------------------


@pytest.fixture(scope="module")
def meme(tmp_path_factory):
    """600 unrelated images, 60 copies of one of them (a meme), 3 PDQ copies: the
    model's spread is fine (under 1% of random pairs pass), the cluster is real and big."""
    rng = np.random.default_rng(3)
    base = unit(rng.normal(size=(600, 64)))
    copies = unit(base[7] + rng.normal(scale=0.01, size=(60, 64)))
    img = np.concatenate([base, copies])
    ds = str(tmp_path_factory.mktemp("meme") / "ds")
    pdq = planted_pdq(660, {100: 5, 41: 40, 300: 301})
    make_dataset(ds, img, pdq)
    return ds, score(ds)


def test_a_big_cluster_is_reported_with_its_size_and_advice(meme):
    ds, output = meme
    assert "embedding threshold was not used" not in output
    info = json.loads(open(DatasetDir(ds).attribute_info("neardup")).read())
    assert info["embedding_pairs"] is True and info["spread"]["random_over"] <= MAX_OVER
    rows = neardup(ds)
    sizes = sorted((len(c) for c in clusters_of(rows).values()), reverse=True)
    assert sizes[0] == 61 and sizes[1:4] == [2, 2, 2] and set(sizes[4:]) == {1}
    assert "a near-duplicate cluster holds 61 of 660 images" in output
    assert "more than max(50, 0.5% of 660) = 50" in output and "raise the threshold" in output


def test_clusters_do_not_depend_on_partitions_or_the_order_pairs_are_read(meme, tmp_path):
    ds, _ = meme
    before = neardup(ds)
    cfg = NearDupConfig(embeddings=MODEL, partitions=3)
    run_step(NearDupPairs(cfg), ds, LocalRunner(1), progress=False)
    run_step(NearDup(), ds, LocalRunner(1), progress=False)
    assert neardup(ds) == before
    task = NearDup().plan(ds)[0]
    rng = np.random.default_rng(0)
    for path in task.inputs:  # every pairs file shuffled, read in reverse order
        t = pq.read_table(path)
        pq.write_table(t.take(rng.permutation(t.num_rows)), path)
    NearDup()(type(task)(task.shard, ds, tuple(reversed(task.inputs)), task.rows, task.partition, task.params))
    assert neardup(ds) == before
