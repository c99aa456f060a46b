"""Step plans: the tasks of a step, saved in _runs/<step>/plan.json (one format
for every step) so that resume never maps a shard number to different input.

A step's ``plan()`` decides how a saved plan is reused (download keeps it as it
is, extract appends new files); ``save_plan`` writes the result and, for a task
whose definition changed since it ran, removes its completion marker: a changed
task is not done.
"""

from __future__ import annotations

import json

import pyarrow.parquet as pq

from grassroots import io
from grassroots.layout import DatasetDir
from grassroots.runner.core import ShardTask

FORMAT = 2


def load_plan(dataset: str, step: str) -> list[ShardTask] | None:
    path = DatasetDir(dataset).run_plan(step)
    if not io.exists(path):
        return None
    doc = json.loads(io.read_text(path))
    return [ShardTask.from_dict(t, dataset) for t in doc["tasks"]]


def save_plan(dataset: str, step: str, tasks: list[ShardTask]) -> None:
    layout = DatasetDir(dataset)
    saved = {t.shard: t for t in load_plan(dataset, step) or []}
    if [saved.get(t.shard) for t in tasks] == list(tasks) and len(saved) == len(tasks):
        return
    for t in tasks:
        if t.shard in saved and saved[t.shard] != t:
            io.remove(layout.run_marker(step, t.shard))
            io.remove(layout.run_failure(step, t.shard))
    doc = {"format": FORMAT, "step": step, "tasks": [t.to_dict() for t in tasks]}
    io.write_text_atomic(layout.run_plan(step), json.dumps(doc, indent=1))


def parquet_rows(path: str) -> int:
    with io.open_file(path) as f:
        return pq.read_metadata(f).num_rows


def split_rows(dataset: str, inputs: list[tuple[str, int]], rows_per_shard: int) -> list[ShardTask]:
    """Tasks over ``inputs`` = [(parquet path, rows)], each cut into parts of at
    most ``rows_per_shard`` rows, numbered in order (an empty input is one empty task)."""
    tasks: list[ShardTask] = []
    for path, n in inputs:
        for offset in range(0, max(n, 1), rows_per_shard):
            tasks.append(ShardTask(len(tasks), dataset, (path,), (offset, min(rows_per_shard, n - offset))))
    return tasks
