"""Shard plans: which input (file, and rows of it) each shard number stands
for, saved in _runs/<stage>/plan.json on a stage's first run and reused by every
rerun, so resume never maps a shard number to different input."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import pyarrow.parquet as pq

from grassroots import io
from grassroots.layout import DatasetDir


@dataclass(frozen=True)
class PlannedShard:
    shard: int
    input: str
    offset: int
    rows: int


def load_plan(dataset: str, stage: str) -> list[PlannedShard] | None:
    path = DatasetDir(dataset).run_plan(stage)
    if not io.exists(path):
        return None
    return [PlannedShard(**p) for p in json.loads(io.read_text(path))["shards"]]


def split_plan(dataset: str, stage: str, inputs: list[str], rows_per_shard: int) -> list[PlannedShard]:
    """Each parquet input cut into parts of at most ``rows_per_shard`` rows, numbered
    in order; the saved plan wins over a new one (resume)."""
    saved = load_plan(dataset, stage)
    if saved is not None:
        return saved
    plan: list[PlannedShard] = []
    for path in inputs:
        with io.open_file(path) as f:
            n = pq.read_metadata(f).num_rows
        for offset in range(0, max(n, 1), rows_per_shard):
            plan.append(PlannedShard(len(plan), path, offset, min(rows_per_shard, n - offset)))
    io.write_text_atomic(DatasetDir(dataset).run_plan(stage),
                         json.dumps({"shards": [asdict(p) for p in plan]}, indent=1))
    return plan
