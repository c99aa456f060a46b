"""neardup: the pairs grouped into star clusters around representatives (no chaining),
written as attributes/neardup/NNNNN.parquet (see grassroots.stages.neardup)."""


from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from grassroots import io
from grassroots.errors import InputError
from grassroots.layout import DatasetDir
from grassroots.ledger import finished_shards, kept_rows
from grassroots.step import Resources, ShardTask
from grassroots.stats import ShardStats

from grassroots.stages.neardup.pairs import NearDupPairs

BIG_CLUSTER_MIN, BIG_CLUSTER_SHARE = 50, 0.005  # a cluster over max(50, 0.5% of the rows) is reported
_NO_CLIP = -2.0  # below any cosine: an image without a CLIP score is ranked last


@dataclass(frozen=True)
class NearDup:
    name: ClassVar[str] = "neardup"
    resources: ClassVar[Resources] = Resources()
    ledger: ClassVar[str | None] = None

    def plan(self, dataset: str) -> list[ShardTask]:
        from grassroots.step import load_plan

        layout = DatasetDir(dataset)
        shards = finished_shards(dataset)
        tasks = load_plan(dataset, NearDupPairs.name) or []
        missing = [t.shard for t in tasks if not io.exists(layout.run_marker(NearDupPairs.name, t.shard))]
        if not tasks or missing:
            raise InputError(dataset, "has no finished near-duplicate pairs", "run `grassroots score` first")
        pairs = tuple(layout.neardup_pairs(t.partition[0]) for t in tasks)
        return [ShardTask(0, dataset, pairs, (0, max(shards) + 1), params=tasks[0].params)]

    def outputs(self, layout: DatasetDir) -> list[str]:
        return [layout.attributes_dir("neardup")]

    def __call__(self, task: ShardTask) -> ShardStats:
        layout = DatasetDir(task.dataset)
        a, b = [], []
        for path in task.inputs:
            with io.open_file(path) as f:
                t = pq.read_table(f, columns=["a", "b"])
            a.append(t.column("a").to_numpy())
            b.append(t.column("b").to_numpy())
        a = np.concatenate(a) if a else np.zeros(0, np.int64)
        b = np.concatenate(b) if b else np.zeros(0, np.int64)
        clip = _clip_scores(layout, set(a.tolist()) | set(b.tolist()), range(*task.rows))
        rep_of = star_clusters(a, b, clip)
        size = Counter(rep_of.values())
        stats = ShardStats()
        names: dict[int, str] = {}
        for s in range(*task.rows):
            path = layout.shard_parquet(s)
            if not io.exists(path):
                continue
            keys = kept_rows(layout, s, ["key"]).column("key").to_pylist()
            reps = [rep_of.get(int(k), int(k)) for k in keys]
            names.update((r, f"{r:0{len(k)}d}") for r, k in zip(reps, keys) if size[r] > 1)
            table = pa.table({
                "key": keys,
                "neardup_cluster": pa.array([f"{r:0{len(k)}d}" for r, k in zip(reps, keys)], pa.string()),
                "neardup_size": pa.array([size.get(r, 1) for r in reps], pa.int32()),
                "neardup_representative": [r == int(k) for r, k in zip(reps, keys)],
            })
            with io.atomic_write(layout.attribute("neardup", s), "wb") as f:
                pq.write_table(table, f)
            stats.candidates += len(keys)
            stats.keep(len(keys))
        stats.count("clusters", sum(n > 1 for n in size.values()))
        stats.count("duplicates", len(rep_of) - len(size))
        _report_big_clusters(stats, size, names)
        return stats


def star_clusters(a: np.ndarray, b: np.ndarray, clip: dict[int, float]) -> dict[int, int]:
    """Every id that appears in a pair (a[i], b[i]) -> its representative, with no chaining:
    ids are taken in the order (CLIP score desc, id asc); an id not yet in a cluster becomes
    a representative and takes every id it has a pair with that is not yet in one. So every
    member is a near-duplicate of its representative itself, and the result depends only on
    the set of pairs and the scores, never on the order they are read in."""
    ids, inverse = np.unique(np.concatenate([a, b]), return_inverse=True)
    if not len(ids):
        return {}
    src = np.concatenate([inverse[:len(a)], inverse[len(a):]])
    dst = np.concatenate([inverse[len(a):], inverse[:len(a)]])
    by_src = np.argsort(src, kind="stable")
    neighbours = dst[by_src]
    starts = np.searchsorted(src[by_src], np.arange(len(ids) + 1))
    score = np.array([clip.get(i, _NO_CLIP) for i in ids.tolist()], dtype=np.float64)
    rep = np.full(len(ids), -1, dtype=np.int64)
    for i in np.lexsort((ids, -score)).tolist():
        if rep[i] >= 0:
            continue
        rep[i] = i
        mine = neighbours[starts[i]:starts[i + 1]]
        rep[mine[rep[mine] < 0]] = i
    return dict(zip(ids.tolist(), ids[rep].tolist()))


def big_cluster_limit(rows: int) -> int:
    """A cluster holding more images than this is reported: max(50, 0.5% of the rows)."""
    return max(BIG_CLUSTER_MIN, math.floor(BIG_CLUSTER_SHARE * rows))


def _report_big_clusters(stats: ShardStats, size: Counter, names: dict[int, str]) -> None:
    limit = big_cluster_limit(stats.candidates)
    big = sorted(((n, r) for r, n in size.items() if n > limit), key=lambda x: (-x[0], x[1]))
    stats.count("big_clusters", len(big))
    for n, r in big[:3]:
        stats.note(f"a near-duplicate cluster holds {n} of {stats.candidates} images (representative "
                   f"{names.get(r, r)}; more than max({BIG_CLUSTER_MIN}, {BIG_CLUSTER_SHARE:.1%} of "
                   f"{stats.candidates}) = {limit}): unless they are all copies of one image, raise the "
                   f"threshold (a higher --cosine, a lower --pdq-distance)")


def _clip_scores(layout: DatasetDir, ids: set[int], shards) -> dict[int, float]:
    out: dict[int, float] = {}
    if not ids:
        return out
    for s in shards:
        path = layout.attribute("clip", s)
        if not io.exists(path):
            continue
        with io.open_file(path) as f:
            t = pq.read_table(f)
        for k, v in zip(t.column("key").to_pylist(), t.column("clip").to_pylist()):
            if int(k) in ids and v is not None:
                out[int(k)] = v
    return out
