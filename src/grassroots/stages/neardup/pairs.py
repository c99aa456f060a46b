"""neardup-pairs: candidate near-duplicate pairs, by PDQ bands and an inverted file on
embeddings, in partitions (see grassroots.stages.neardup)."""


from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from grassroots import io
from grassroots.embeddings import embedded_shards, model_info, read_embeddings
from grassroots.layout import DatasetDir
from grassroots.ledger import finished_shards, shard_stats, kept_rows
from grassroots.step import Resources, ShardTask
from grassroots.stats import ShardStats

from grassroots.stages.neardup.spread import measure, read_info, sample_embeddings, write_info

BANDS = 16
MIN_PDQ_QUALITY = 50
PER_CLUSTER = 1000  # images per k-means cluster (sets the number of clusters)
_PAIRS = pa.schema([pa.field("a", pa.int64()), pa.field("b", pa.int64()), pa.field("kind", pa.string()),
                    pa.field("score", pa.float32())])


@dataclass(frozen=True)
class NearDupConfig:
    embeddings: str | None = None  # model id; None: PDQ only
    pdq_distance: int = 31  # Hamming distance <= this is a near-duplicate (as in PDQ matching); -1: off
    cosine: float = 0.95  # embedding cosine >= this is a near-duplicate; 0: off
    partitions: int = 0  # 0: one per ~2M images


@dataclass(frozen=True)
class NearDupPairs:
    name: ClassVar[str] = "neardup-pairs"
    resources: ClassVar[Resources] = Resources()
    ledger: ClassVar[str | None] = None
    config: NearDupConfig = NearDupConfig()

    def plan(self, dataset: str) -> list[ShardTask]:
        layout = DatasetDir(dataset)
        shards = finished_shards(dataset)
        rows = sum(st.kept for st in (shard_stats(dataset, "download") or shard_stats(dataset, "select")).values())
        n = self.config.partitions or max(1, math.ceil(rows / 2_000_000))
        inputs = [layout.shards_dir]
        spread = None
        if self.config.embeddings and self.config.cosine > 0:
            model_info(layout, self.config.embeddings)
            sample = sample_embeddings(layout, self.config.embeddings)
            spread = measure(sample, self.config.embeddings, self.config.cosine)
            if spread.usable:  # else PDQ only: a threshold most pairs pass finds no copies
                inputs.append(layout.embeddings_dir(self.config.embeddings))
                _fit_centroids(layout, self.config.embeddings, max(1, rows // PER_CLUSTER), sample)
        write_info(layout, self.config.embeddings, self.config.cosine, spread)
        params = (*self.params(), f"embedding_pairs={'on' if len(inputs) > 1 else 'off'}")
        return [ShardTask(p, dataset, tuple(inputs), (0, max(shards) + 1), (p, n), params) for p in range(n)]

    def params(self) -> tuple[str, ...]:
        c = self.config
        return (f"pdq_distance={c.pdq_distance}", f"cosine={c.cosine}", f"embeddings={c.embeddings}")

    def outputs(self, layout: DatasetDir) -> list[str]:
        return [layout.attributes_dir("neardup")]

    def __call__(self, task: ShardTask) -> ShardStats:
        layout = DatasetDir(task.dataset)
        part, parts = task.partition
        shards = range(*task.rows)
        stats = ShardStats()
        if part == 0 and (note := read_info(layout).get("note")):
            stats.note(note)  # said once, by the first partition
        found: list[np.ndarray] = []
        if self.config.pdq_distance >= 0:
            ids, bits = _pdq_hashes(layout, shards)
            stats.count("pdq_hashes", len(ids))
            found.append(_pdq_pairs(ids, bits, [b for b in range(BANDS) if b % parts == part],
                                    self.config.pdq_distance))
        if len(task.inputs) > 1:
            centroids = np.load(layout.neardup_centroids(self.config.embeddings))
            ids, emb, clusters = _partition_members(layout, self.config.embeddings, shards, centroids, part, parts)
            stats.count("embeddings", len(ids))
            found.append(_embedding_pairs(ids, emb, clusters, self.config.cosine))
        pairs = np.concatenate(found) if found else np.zeros(0, _PAIR_DTYPE)
        pairs = np.unique(pairs)  # a pair found in two bands or clusters counts once per kind
        stats.count("pairs", len(pairs))
        table = pa.table({"a": pairs["a"], "b": pairs["b"], "kind": pairs["kind"].astype(str),
                          "score": pairs["score"]}, schema=_PAIRS)
        with io.atomic_write(layout.neardup_pairs(part), "wb") as f:
            pq.write_table(table, f)
        return stats


_PAIR_DTYPE = np.dtype([("a", "<i8"), ("b", "<i8"), ("kind", "U3"), ("score", "<f4")])


def _pdq_hashes(layout: DatasetDir, shards) -> tuple[np.ndarray, np.ndarray]:
    ids, hashes = [], []
    for s in shards:
        path = layout.shard_parquet(s)
        if not io.exists(path):
            continue
        for r in kept_rows(layout, s, ["key", "pdq", "pdq_quality"]).to_pylist():
            if r["pdq"] and (r["pdq_quality"] or 0) >= MIN_PDQ_QUALITY:
                ids.append(int(r["key"]))
                hashes.append(bytes.fromhex(r["pdq"]))
    bits = np.frombuffer(b"".join(hashes), dtype=np.uint8).reshape(-1, 32) if hashes else np.zeros((0, 32), np.uint8)
    return np.array(ids, dtype=np.int64), bits


def _pdq_pairs(ids: np.ndarray, bits: np.ndarray, bands: list[int], max_distance: int) -> np.ndarray:
    out = []
    for band in bands:
        value = bits[:, 2 * band].astype(np.int64) << 8 | bits[:, 2 * band + 1]
        order = np.argsort(value, kind="stable")
        starts = np.flatnonzero(np.r_[True, value[order][1:] != value[order][:-1]])
        for group in np.split(order, starts[1:]):
            if len(group) < 2:
                continue
            i, j = np.triu_indices(len(group), k=1)
            xor = bits[group[i]] ^ bits[group[j]]
            dist = np.unpackbits(xor, axis=1).sum(axis=1)
            keep = dist <= max_distance
            if keep.any():
                out.append(_pairs(ids[group[i][keep]], ids[group[j][keep]], "pdq", dist[keep]))
    return np.concatenate(out) if out else np.zeros(0, _PAIR_DTYPE)


def _pairs(a: np.ndarray, b: np.ndarray, kind: str, score) -> np.ndarray:
    out = np.zeros(len(a), _PAIR_DTYPE)
    out["a"], out["b"] = np.minimum(a, b), np.maximum(a, b)
    out["kind"], out["score"] = kind, score
    return out


def _fit_centroids(layout: DatasetDir, model_id: str, k: int, x: np.ndarray, iters: int = 10) -> None:
    """k-means (spherical, seeded) on a sample ``x`` of the image embeddings, saved for the tasks."""
    rng = np.random.default_rng(0)
    k = max(1, min(k, len(x)))
    c = x[rng.permutation(len(x))[:k]].copy()
    for _ in range(iters):
        assign = np.argmax(x @ c.T, axis=1)
        sums = np.zeros_like(c)
        np.add.at(sums, assign, x)
        moved = np.bincount(assign, minlength=k) > 0
        c[moved] = sums[moved]
        c /= np.maximum(np.linalg.norm(c, axis=1, keepdims=True), 1e-12)
    with io.atomic_write(layout.neardup_centroids(model_id), "wb") as f:
        np.save(f, c)


def _partition_members(layout: DatasetDir, model_id: str, shards, centroids: np.ndarray, part: int, parts: int,
                       block: int = 8192):
    """(ids, embeddings, clusters) of the images whose 2 nearest centroids include a
    cluster of this partition: one pass over memory-mapped shards, so a task holds
    ~2/parts of the embeddings, never all of them."""
    available = set(embedded_shards(layout, model_id))
    ids, embs, clusters = [], [], []
    near_k = min(2, len(centroids))
    for s in shards:
        if s not in available:
            continue
        keys, img, _ = read_embeddings(layout, model_id, s, mmap=True)
        key_ids = np.array([int(k) for k in keys], dtype=np.int64)
        for i in range(0, len(keys), block):
            x16 = np.asarray(img[i:i + block])
            near = np.argsort(-(x16.astype(np.float32) @ centroids.T), axis=1)[:, :near_k]
            for j in range(near_k):
                rows = np.flatnonzero(near[:, j] % parts == part)
                ids.append(key_ids[i + rows])
                embs.append(x16[rows].astype(np.float16))
                clusters.append(near[rows, j])
    if not ids:
        return np.zeros(0, np.int64), np.zeros((0, centroids.shape[1]), np.float16), np.zeros(0, np.int64)
    return np.concatenate(ids), np.concatenate(embs), np.concatenate(clusters)


def _embedding_pairs(ids, emb, clusters, cosine: float, block: int = 4096) -> np.ndarray:
    """Pairs of rows in the same cluster with cosine >= ``cosine``."""
    out = []
    order = np.argsort(clusters, kind="stable")
    starts = np.flatnonzero(np.r_[True, clusters[order][1:] != clusters[order][:-1]]) if len(order) else []
    for rows in np.split(order, starts[1:]) if len(order) else []:
        if len(rows) < 2:
            continue
        x = emb[rows].astype(np.float32)
        for i in range(0, len(rows), block):
            sims = x[i:i + block] @ x.T
            a, b = np.nonzero(sims >= cosine)
            a = a + i
            keep = a < b
            if keep.any():
                out.append(_pairs(ids[rows[a[keep]]], ids[rows[b[keep]]], "emb", sims[a[keep] - i, b[keep]]))
    return np.concatenate(out) if out else np.zeros(0, _PAIR_DTYPE)
