"""The index step: exact search on a small release, an IVF index past the
threshold (recall against exact search), the key map, PDQ matching, removal,
resume and the CLI."""

from __future__ import annotations

import json
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from grassroots.cli import app
from grassroots.embeddings import read_embeddings, write_embeddings
from grassroots.index import build_index, load_index, remove_keys
from grassroots.index.build import NPROBES, TARGET_RECALL
from grassroots.layout import DatasetDir
from grassroots.runner import LocalRunner, run_step
from grassroots.stages import Index
from tests.index.release import make_scored_release


@pytest.fixture(scope="module")
def rel(tmp_path_factory):
    return make_scored_release(tmp_path_factory.mktemp("index"))


def test_small_release_gets_an_exact_index_whose_hits_resolve_to_their_samples(rel):
    ix = load_index(rel.release)
    assert ix.doc["kind"] == "flat" and ix.count == 24 and ix.doc["heads"] == ["nsfw"]
    assert ix.doc["model"]["arch"] == "grassroots-tiny"
    layout = DatasetDir(rel.release)
    keys, img, txt = read_embeddings(layout, rel.model_id, 1)
    for i, key in enumerate(keys):
        hit = ix.search(img[i], 1, "img", safe=False, dedup=False)[0]
        assert hit.key == key and hit.score > 0.999
        by_caption = ix.search(txt[i], 1, "txt", safe=False, dedup=False)[0]  # rows 7 share "CLICK HERE"
        assert ix.item(by_caption.position)["caption"] == ix.item(hit.position)["caption"]
    pos = ix.position_of("000010003")
    item = ix.item(pos)
    assert (item["key"], item["shard"], item["url"]) == ("000010003", 1, "http://x/000010003.jpg")
    ledger = pq.read_table(layout.shard_parquet(1)).to_pylist()
    assert ledger[item["row"]]["key"] == "000010003"
    with open(layout.shard_tar(1), "rb") as f:  # the byte range is the image
        f.seek(item["image_offset"])
        data = f.read(item["image_size"])
    import hashlib
    assert hashlib.sha256(data).hexdigest() == ledger[item["row"]]["sha256"]
    assert ix.position_of("999999999") is None and ix.position_of("") is None


def test_safety_filter_and_near_duplicate_folding(rel):
    ix = load_index(rel.release)
    q = ix.embedding(0)
    everything = ix.search(q, 24, safe=False, dedup=False)
    assert len(everything) == 24
    safe = ix.search(q, 24, safe=True, dedup=False)
    nsfw = ix.items.column("nsfw").to_pylist()
    assert all(nsfw[h.position] < 0.5 for h in safe)
    assert 0 < len(safe) < 24  # the head hides the red-tinted images
    folded = ix.search(q, 24, safe=False, dedup=True)
    clusters = [ix.item(h.position)["neardup_cluster"] for h in folded]
    assert len(clusters) == len(set(clusters)) == len(set(ix.items.column("neardup_cluster").to_pylist()))
    # each hit says how many copies were folded into it: every other one of the 24 is one
    assert sum(h.folded for h in folded) == 24 - len(folded) == 3 and {h.folded for h in folded} == {0, 1}
    assert all(h.folded == 0 for h in everything)


def test_pdq_finds_the_exact_copy_and_the_planted_near_copies(rel):
    ix = load_index(rel.release)
    src = ix.item(ix.position_of("000000001"))["pdq"]
    found = {ix.item(p)["key"]: d for p, d in ix.pdq_matches(src, 31)}
    assert found["000000001"] == 0
    assert 0 < found["000010002"] <= 31  # re-encoded copy (tests/stages/test_score_select.PLANTED)
    assert list(found.values()) == sorted(found.values())


def synthetic_release(root, n: int, dim: int = 32, shards: int = 4, seed: int = 0,
                      vectors: np.ndarray | None = None) -> tuple[str, np.ndarray]:
    """A release of clustered unit vectors (no images): embeddings + minimal ledgers."""
    if vectors is None:
        rng = np.random.default_rng(seed)
        centers = rng.normal(size=(40, dim))
        vectors = centers[rng.integers(0, 40, n)] + 0.35 * rng.normal(size=(n, dim))
    n, dim = vectors.shape
    x = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float16)
    layout = DatasetDir(str(root / "rel"))
    per = -(-n // shards)
    for s in range(shards):
        rows = range(s * per, min(n, (s + 1) * per))
        keys = [f"{s:05d}{r - s * per:06d}" for r in rows]
        write_embeddings(layout, "m", s, keys, x[list(rows)], x[list(rows)])
        os.makedirs(os.path.dirname(layout.shard_parquet(s)), exist_ok=True)
        pq.write_table(pa.table({"key": keys, "status": ["success"] * len(keys), "url": [f"http://h/{k}" for k in keys],
                                 "caption": [f"c {k}" for k in keys]}), layout.shard_parquet(s))
    with open(f"{layout.embeddings_dir('m')}/model.json", "w") as f:
        json.dump({"arch": "none", "embed_dim": dim}, f)
    return layout.root, x.astype(np.float32)


def test_past_the_threshold_an_ivf_index_keeps_recall_against_exact_search(tmp_path):
    release, x = synthetic_release(tmp_path, 6000)
    doc = build_index(release, exact_max=1000)
    assert doc["kind"] == "ivf" and doc["count"] == 6000 and doc["params"]["nlist"] == 64
    assert doc["params"]["calibration_recall_at_10"] >= 0.97 and doc["params"]["nprobe"] >= 1
    ix = load_index(release)
    rng = np.random.default_rng(1)
    queries = x[rng.choice(len(x), 100, replace=False)] + 0.05 * rng.normal(size=(100, x.shape[1]))
    exact = np.argsort(-(queries @ x.T), axis=1)[:, :10]
    recall = np.mean([len({h.position for h in ix.search(q, 10, safe=False, dedup=False)} & set(e)) / 10
                      for q, e in zip(queries, exact)])
    assert recall >= 0.95, recall


def crowded(seed: int = 0, dim: int = 64, sub: int = 48, clusters: int = 200):
    """Draws of CLIP-like crowded vectors (bench/search.py's crowded384, scaled down): a
    48-d subspace of flat spectrum, clusters of Pareto(0.7) sizes, a shared offset, noise."""
    rng = np.random.default_rng(seed)
    basis = np.linalg.qr(rng.normal(size=(dim, sub)))[0].T
    sd = 1 / np.arange(1, sub + 1) ** 0.25
    centers = rng.normal(size=(clusters, sub)) * sd
    scales = 0.3 * sd * np.exp(0.5 * rng.normal(size=(clusters, sub)))
    p = rng.pareto(0.7, clusters) + 1

    def draw(n: int) -> np.ndarray:
        c = rng.choice(clusters, n, p=p / p.sum())
        x = (centers[c] + scales[c] * rng.normal(size=(n, sub))) @ basis + 0.6 + 0.05 * rng.normal(size=(n, dim))
        return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    return draw


def test_calibration_picks_the_smallest_probe_count_reaching_the_target_on_crowded_vectors(tmp_path):
    draw = crowded()
    release, x = synthetic_release(tmp_path, 0, vectors=draw(12000))
    params = build_index(release, exact_max=1000)["params"]
    tried = params["calibration"]  # [nprobe, recall after re-ranking], ascending, up to the first meeting the target
    assert params["codec"] == "sq8u" and params["nlist"] == 128 and params["calibration_queries"] == 300
    assert [n for n, _ in tried] == [n for n in NPROBES if n <= tried[-1][0]] and tried[-1][0] == params["nprobe"]
    assert tried[-1][1] >= TARGET_RECALL > max(r for _, r in tried[:-1])
    assert params["nprobe"] > 4  # crowded: the few nearest lists miss neighbours
    ix = load_index(release)
    queries = draw(200)  # held out: never indexed
    exact = np.argsort(-(queries @ x.T), axis=1)[:, :10]
    recall = np.mean([len({h.position for h in ix.search(q, 10, safe=False, dedup=False)} & set(e)) / 10
                      for q, e in zip(queries, exact)])
    assert recall >= 0.95, recall


def test_an_ivf_loses_removed_keys_and_an_index_of_the_previous_codec_still_loads(tmp_path):
    import faiss

    release, x = synthetic_release(tmp_path, 6000)
    doc = build_index(release, exact_max=1000)
    path = load_index(release).path
    gone = [f"{s:05d}{r:06d}" for s, r in ((0, 5), (2, 17))]
    assert remove_keys(path, set(gone)) == 2
    ix = load_index(release)
    assert ix.count == 5998
    assert not {h.key for q in x[:200] for h in ix.search(q, 10, safe=False, dedup=False)} & set(gone)
    # format 1 as first written: IVF-SQ8 (per-dimension ranges), no rotation; it loads and searches as before
    old = faiss.IndexIVFScalarQuantizer(faiss.IndexFlatIP(32), 32, 64, faiss.ScalarQuantizer.QT_8bit,
                                        faiss.METRIC_INNER_PRODUCT)
    old.train(x)
    ids = ix.items.column("id").to_numpy()  # ids are rows of x, less the removed ones
    old.add_with_ids(x[ids], ids)
    for kind in ("img", "txt"):
        with open(f"{path}/{kind}.faiss", "wb") as f:
            f.write(faiss.serialize_index(old).tobytes())
    with open(f"{path}/index.json", "w") as f:
        json.dump({**doc, "params": {"codec": "sq8", "nlist": 64, "nprobe": 8, "rerank": 4}}, f)
    ix = load_index(release)
    assert ix.search(x[42], 1, safe=False, dedup=False)[0].key == "00000000042"
    assert not {h.key for q in x[:200] for h in ix.search(q, 10, safe=False, dedup=False)} & set(gone)


def test_excluded_and_removed_keys_are_never_returned(tmp_path):
    release, x = synthetic_release(tmp_path, 400)
    gone = {"00000000003", "00001000007"}
    build_index(release, exclude_keys=frozenset(gone))
    ix = load_index(release)
    assert ix.count == 398 and all(ix.position_of(k) is None for k in gone)
    path = ix.path
    assert remove_keys(path, {"00002000005", "nope"}) == 1
    ix = load_index(release)
    assert ix.count == 397 and ix.position_of("00002000005") is None
    for i in range(0, 400, 7):  # every hit still resolves to the right sample after the ids got a hole
        hit = ix.search(x[i], 1, safe=False, dedup=False)[0]
        assert np.allclose(ix.embedding(hit.position), x[i], atol=2e-3) or hit.key in gone | {"00002000005"}
    assert not {h.key for q in x[:50] for h in ix.search(q, 20, safe=False, dedup=False)} & (gone | {"00002000005"})


def test_index_step_resumes_and_rebuilds_when_the_release_changes(tmp_path):
    release, _ = synthetic_release(tmp_path, 300)
    first = run_step(Index.resolved(release), release, LocalRunner(1), progress=False)
    assert first.kept == 300
    assert run_step(Index.resolved(release), release, LocalRunner(1), progress=False).skipped_shards == 1
    layout = DatasetDir(release)
    keys, img, txt = read_embeddings(layout, "m", 0)
    write_embeddings(layout, "m", 0, keys[:10], img[:10], txt[:10])  # a takedown shrank shard 0
    again = run_step(Index.resolved(release), release, LocalRunner(1), progress=False)
    assert again.skipped_shards == 0 and again.kept == 300 - 65


def test_cli_indexes_a_release_and_refuses_a_missing_one(rel, tmp_path):
    res = CliRunner().invoke(app, ["index", rel.dataset, "--release", "v1"])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(app, ["index", rel.dataset, "--release", "v9"])
    assert res.exit_code == 2 and "no such release" in res.output
