"""neardup: the pairs joined into clusters and a representative per cluster, written
as attributes/neardup/NNNNN.parquet (see grassroots.stages.neardup)."""


from __future__ import annotations

from collections import defaultdict
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
        cluster_of = _union_find(np.concatenate(a) if a else np.zeros(0, np.int64),
                                 np.concatenate(b) if b else np.zeros(0, np.int64))
        clip = _clip_scores(layout, set(cluster_of), range(*task.rows))
        best: dict[int, int] = {}
        size: dict[int, int] = defaultdict(int)
        for key, root in cluster_of.items():
            size[root] += 1
            cur = best.get(root)
            if cur is None or (-clip.get(key, -2.0), key) < (-clip.get(cur, -2.0), cur):
                best[root] = key
        stats = ShardStats()
        for s in range(*task.rows):
            path = layout.shard_parquet(s)
            if not io.exists(path):
                continue
            keys = kept_rows(layout, s, ["key"]).column("key").to_pylist()
            reps = [best[cluster_of[int(k)]] if int(k) in cluster_of else int(k) for k in keys]
            table = pa.table({
                "key": keys,
                "neardup_cluster": pa.array([f"{r:0{len(k)}d}" for r, k in zip(reps, keys)], pa.string()),
                "neardup_size": pa.array([size[cluster_of[int(k)]] if int(k) in cluster_of else 1 for k in keys],
                                         pa.int32()),
                "neardup_representative": [r == int(k) for r, k in zip(reps, keys)],
            })
            with io.atomic_write(layout.attribute("neardup", s), "wb") as f:
                pq.write_table(table, f)
            stats.candidates += len(keys)
            stats.keep(len(keys))
        stats.count("clusters", len(best))
        stats.count("duplicates", len(cluster_of) - len(best))
        return stats


def _union_find(a: np.ndarray, b: np.ndarray) -> dict[int, int]:
    """Every id that appears in a pair -> the smallest id of its connected component."""
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        root = x
        while parent.get(root, root) != root:
            root = parent[root]
        while parent.get(x, x) != root:
            parent[x], x = root, parent[x]
        return root

    for x, y in zip(a.tolist(), b.tolist()):
        rx, ry = find(x), find(y)
        if rx != ry:
            parent[max(rx, ry)] = min(rx, ry)
    return {x: find(x) for x in set(a.tolist()) | set(b.tolist())}


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
