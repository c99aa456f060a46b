"""dedup: drop (url, caption) pairs already found in an earlier candidate shard.

extract drops duplicates within each input file as it reads it; this step
extends that to the whole dataset, LAION-style: the first occurrence in shard
order wins, so the result does not depend on which worker finished first.

It never rewrites extract's output. Its result is an attribute: task P of N
reads the url and caption columns of every candidate shard, keeps the pairs of
its partition (N > 1: a partition by blake2b digest of ``url \\0 caption``; one
partition per PAIRS_PER_PARTITION candidates, so a task holds at most that
many pairs' strings) and writes ``attributes/dedup/partition-P.parquet``: the
(shard, row) of every duplicate in its partition, sorted. Pairs are compared
exactly (DuckDB groups the strings themselves, not digests of them: no crafted
or unlucky collision can make one pair shadow another), a null caption as "".
``read_candidates`` applies the result to a candidate shard; download reads
candidates through it.

Files added to the dataset later change the plan (the shard range grows), so
every partition is recomputed: earlier shards keep their result (first wins).
"""

from __future__ import annotations

import hashlib
import math
import os
import tempfile
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from grassroots import io
from grassroots.errors import InputError
from grassroots.inputs import candidate_shards
from grassroots.layout import DatasetDir
from grassroots.step import Resources, ShardTask, load_plan, parquet_rows
from grassroots.schema import CANDIDATE_SCHEMA, Reason
from grassroots.stats import ShardStats

PAIRS_PER_PARTITION = 5_000_000  # ~0.7 GB of url and caption strings per task, as much again in DuckDB
_PAIRS = pa.schema([CANDIDATE_SCHEMA.field("url"), CANDIDATE_SCHEMA.field("caption")])
_DUPLICATES = pa.schema([pa.field("shard", pa.int32()), pa.field("row", pa.int32())])


@dataclass(frozen=True)
class Dedup:
    name: ClassVar[str] = "dedup"
    resources: ClassVar[Resources] = Resources()
    ledger: ClassVar[str | None] = None
    partitions: int = 0  # 0: one per PAIRS_PER_PARTITION candidates

    def plan(self, dataset: str) -> list[ShardTask]:
        layout = DatasetDir(dataset)
        shards = candidate_shards(dataset)
        if shards != list(range(len(shards))):
            raise InputError(layout.candidates_dir, f"candidate shards are not numbered 0..{len(shards) - 1}",
                             "this directory was not written by grassroots extract/import")
        saved = load_plan(dataset, self.name)
        if saved:  # the partition count is part of the result's layout: keep it
            n = saved[0].partition[1]
        elif self.partitions:
            n = self.partitions
        else:
            rows = sum(parquet_rows(layout.candidates(s)) for s in shards)
            n = max(1, math.ceil(rows / PAIRS_PER_PARTITION))
        return [ShardTask(p, dataset, (layout.candidates_dir,), (0, len(shards)), (p, n)) for p in range(n)]

    def outputs(self, layout: DatasetDir) -> list[str]:
        return [layout.attributes_dir(self.name)]

    def __call__(self, task: ShardTask) -> ShardStats:
        layout = DatasetDir(task.dataset)
        part, parts = task.partition
        first, count = task.rows
        if count == 1 and parts == 1:
            # One candidate file: extract dropped the pairs it repeats as it read it (the same
            # exact (url, caption) rule), and there is no other file to compare with, so there
            # is nothing to find (a single-WAT run: ~0.3 s of reading and grouping saved).
            rows = parquet_rows(layout.candidates(first))
            with io.atomic_write(layout.dedup_partition(part), "wb") as f:
                pq.write_table(_DUPLICATES.empty_table(), f)
            stats = ShardStats(candidates=rows)
            stats.keep(rows)
            return stats
        pairs, where = [], []
        for shard in range(first, first + count):
            with io.open_file(layout.candidates(shard)) as f:
                table, rows = _partition_pairs(f, part, parts)
            pairs.append(table)
            where.append(np.stack([np.full(len(rows), shard, np.int32), rows.astype(np.int32)], axis=1))
        table = pa.concat_tables(pairs) if pairs else _PAIRS.empty_table()
        at = np.concatenate(where) if where else np.empty((0, 2), np.int32)
        dup = _repeats(table)
        dups = at[dup]
        with io.atomic_write(layout.dedup_partition(part), "wb") as f:
            pq.write_table(pa.table({"shard": dups[:, 0], "row": dups[:, 1]}, schema=_DUPLICATES), f)
        stats = ShardStats(candidates=len(dup))
        stats.keep(len(dup) - int(dup.sum()))
        stats.drop(Reason.DUPLICATE, int(dup.sum()))
        return stats


def _partition_pairs(f, part: int, parts: int, batch_rows: int = 65_536) -> tuple[pa.Table, np.ndarray]:
    """The url and caption columns of one candidate file, only the rows of partition
    ``part`` of ``parts``, and those rows' numbers in the file."""
    if parts == 1:
        table = pq.read_table(f, columns=["url", "caption"], use_threads=False)  # one CPU per task
        return table, np.arange(table.num_rows)
    tables, rows, offset = [], [], 0
    for batch in pq.ParquetFile(f).iter_batches(batch_size=batch_rows, columns=["url", "caption"]):
        batch = pa.Table.from_batches([batch])
        mine = np.nonzero(_partition_of(_pair_digests(batch), parts) == part)[0]
        tables.append(batch.take(mine))
        rows.append(mine + offset)
        offset += batch.num_rows
    if not tables:
        return _PAIRS.empty_table(), np.empty(0, np.int64)
    return pa.concat_tables(tables), np.concatenate(rows)


def _repeats(pairs: pa.Table) -> np.ndarray:
    """True for every row whose (url, caption) equals an earlier row's (a null
    caption as ""): exact string comparison, in DuckDB (one thread, as the task's
    CPU; past its memory limit it spills to a temporary folder). ~2.5x cheaper than
    a blake2b digest per pair in Python, and no collision is possible."""
    import duckdb

    n = pairs.num_rows
    repeat = np.ones(n, dtype=bool)
    if n == 0:
        return repeat
    con = duckdb.connect(config={"threads": 1, "memory_limit": "2GB",
                                 "temp_directory": os.path.join(tempfile.gettempdir(), "grassroots-dedup")})
    try:
        con.register("pairs", pairs.append_column("i", pa.array(np.arange(n))))
        firsts = con.execute("SELECT min(i) FROM pairs GROUP BY url, coalesce(caption, '')").fetchnumpy()
    finally:
        con.close()
    repeat[next(iter(firsts.values()))] = False
    return repeat


_DIGEST = np.dtype([("hi", "<u8"), ("lo", "<u8")])


def _pair_digests(table: pa.Table) -> np.ndarray:
    """blake2b-128 of ``url \\0 caption`` (a null caption as ""), per row: which
    partition a pair belongs to. The keys are joined by Arrow, so Python only hashes."""
    caption = pc.fill_null(table.column("caption"), "")
    keys = pc.cast(pc.binary_join_element_wise(table.column("url"), caption, "\0"), pa.binary()).to_pylist()
    blake2b = hashlib.blake2b
    return np.frombuffer(b"".join([blake2b(k, digest_size=16).digest() for k in keys]), dtype=_DIGEST)


def _partition_of(digests: np.ndarray, parts: int) -> np.ndarray:
    return digests["hi"] % np.uint64(parts)


def dedup_ready(dataset: str) -> bool:
    """True when dedup's result applies to the dataset: it ran, and every partition finished.
    Raises when it started but did not finish (its result would be partial)."""
    layout = DatasetDir(dataset)
    tasks = load_plan(dataset, Dedup.name)
    if tasks is None:
        return False
    missing = [t.shard for t in tasks if not io.exists(layout.run_marker(Dedup.name, t.shard))]
    if missing:
        raise InputError(dataset, f"dedup did not finish ({len(missing)} of {len(tasks)} partitions missing)",
                         "rerun the same `grassroots extract` command to finish it, or rerun with --no-dedup")
    return True


def duplicate_rows(dataset: str, shard: int) -> np.ndarray:
    """Rows of candidates/shard that dedup dropped (sorted); empty when dedup did not run."""
    if not dedup_ready(dataset):
        return np.empty(0, np.int64)
    rows = []
    for path in io.glob(DatasetDir(dataset).dedup_partitions_glob()):
        with io.open_file(path) as f:
            t = pq.read_table(f, filters=[("shard", "=", shard)], columns=["row"])
        rows.append(t.column("row").to_numpy())
    return np.sort(np.concatenate(rows)) if rows else np.empty(0, np.int64)


def read_candidates(dataset: str, shard: int) -> pa.Table:
    """candidates/shard as download sees it: extract's rows minus dedup's duplicates."""
    with io.open_file(DatasetDir(dataset).candidates(shard)) as f:
        table = pq.read_table(f)
    drop = duplicate_rows(dataset, shard)
    if len(drop) == 0:
        return table
    keep = np.ones(table.num_rows, dtype=bool)
    keep[drop] = False
    return table.filter(pa.array(keep))


def candidate_counts(dataset: str) -> list[tuple[int, int]]:
    """(shard, rows download will see) for every candidate shard; reads each
    dedup partition once."""
    layout = DatasetDir(dataset)
    shards = candidate_shards(dataset)
    dropped = np.zeros(len(shards) + 1, np.int64)
    if dedup_ready(dataset):
        for path in io.glob(layout.dedup_partitions_glob()):
            with io.open_file(path) as f:
                col = pq.read_table(f, columns=["shard"]).column("shard").to_numpy()
            dropped += np.bincount(col, minlength=len(dropped))[: len(dropped)]
    return [(s, parquet_rows(layout.candidates(s)) - int(dropped[s])) for s in shards]
