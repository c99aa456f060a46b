"""dedup: drop (url, caption) pairs already kept in an earlier candidate shard.

extract drops duplicates within each input file as it reads it; this pass
extends that to the whole run, LAION-style: the first occurrence in shard order
wins, so the result does not depend on which worker finished first. It reads
only the url and caption columns to decide, and rewrites a candidates file only
when it holds duplicates.

Crash safety: a shard's stats are written to ``NNNNN.pending.json`` before its
file is replaced, and renamed to the completion marker after; a rerun finishes
a pending shard from the recorded stats, so no count is lost.
"""

from __future__ import annotations

import hashlib
import time

import pyarrow.parquet as pq

from grassroots import io
from grassroots.inputs import candidate_shards
from grassroots.layout import DatasetDir
from grassroots.manifest import record_run
from grassroots.schema import Reason
from grassroots.stats import ShardStats

STAGE = "dedup"


def _pair_digests(table) -> list[bytes]:
    urls = table.column("url").to_pylist()
    caps = table.column("caption").to_pylist()
    return [hashlib.blake2b(f"{u}\0{c or ''}".encode(), digest_size=16).digest() for u, c in zip(urls, caps)]


def dedup_candidates(dataset: str) -> ShardStats:
    """Run the cross-file dedup over ``dataset/candidates``; return its totals.

    Shards deduped on an earlier run are taken as they are, and every shard new
    since then is deduped against all of them and against earlier new shards:
    no pair is left twice, whatever order files arrived in."""
    layout = DatasetDir(dataset)
    started = time.time()
    seen: set[bytes] = set()
    results: list[ShardStats] = []
    todo = []
    for shard in candidate_shards(dataset):
        marker = layout.run_marker(STAGE, shard)
        if io.exists(marker):
            seen.update(_read_keys(layout.candidates(shard)))
            done = ShardStats.from_json(io.read_text(marker))
            done.skipped_shards = 1
            results.append(done)
        else:
            todo.append(shard)
    for shard in todo:
        path, marker = layout.candidates(shard), layout.run_marker(STAGE, shard)
        pending = marker.removesuffix(".json") + ".pending.json"
        keys = _read_keys(path)
        if io.exists(pending):  # killed mid-way: the recorded stats stand
            stats = ShardStats.from_json(io.read_text(pending))
            if len(keys) != stats.kept:  # ... and the file was not replaced yet
                _rewrite(path, [k not in seen for k in keys])
            seen.update(keys)
        else:
            keep = []
            for k in keys:
                keep.append(k not in seen)
                seen.add(k)
            stats = ShardStats(stage=STAGE, shard=shard, candidates=len(keys))
            stats.keep(sum(keep))
            stats.drop(Reason.DUPLICATE, len(keys) - sum(keep))
            if stats.dropped:
                io.write_text_atomic(pending, stats.to_json())
                _rewrite(path, keep)
        io.write_text_atomic(marker, stats.to_json())
        io.remove(pending)
        results.append(stats)
    total = ShardStats.total(results, stage=STAGE)
    record_run(dataset, stage=STAGE, config={"key": "(url, caption)", "scope": "every candidate file of the dataset"},
               runner={"runner": "driver"}, inputs=[layout.candidates_dir], started=started, ended=time.time(),
               totals=total)
    return total


def _read_keys(path: str) -> list[bytes]:
    with io.open_file(path) as f:
        return _pair_digests(pq.read_table(f, columns=["url", "caption"]))


def _rewrite(path: str, keep: list[bool]) -> None:
    import pyarrow as pa

    with io.open_file(path) as f:
        table = pq.read_table(f)
    with io.atomic_write(path, "wb") as f:
        pq.write_table(table.filter(pa.array(keep)), f, compression="zstd")
