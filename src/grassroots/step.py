"""The contract between steps and runners: what a task is, what a step must
provide, what a runner does, and the step's saved plan.

A step (grassroots.stages) is a frozen dataclass whose fields are its config:
``plan(dataset) -> [ShardTask]``, ``__call__(task) -> ShardStats``, ``outputs(layout)``.
A runner (grassroots.runner) maps tasks onto workers; grassroots.runner.core's
driver plans, runs and records. Both sides import this module and nothing of
each other.

Plans: the tasks of a step, saved in _runs/<step>/plan.json (one format for
every step) so that resume never maps a shard number to different input. A
step's ``plan()`` decides how a saved plan is reused (download keeps it as it is,
extract appends new files); ``save_plan`` writes the result and, for a task whose
definition changed since it ran, removes its completion marker: a changed task
is not done.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Callable, ClassVar, ContextManager, Iterable, Iterator, Protocol

import pyarrow.parquet as pq

from grassroots import io
from grassroots.layout import DatasetDir
from grassroots.stats import ShardStats


@dataclass(frozen=True)
class Resources:
    """What one task of a step needs: Ray options, and GPU pinning on the local runner."""

    cpus: float = 1
    gpus: float = 0
    memory: int | None = None  # bytes; Ray schedules by it


@dataclass(frozen=True)
class ShardTask:
    """One unit of work: task ``shard`` of a step on dataset ``dataset``.

    ``inputs``: what it reads (files or directories). ``rows``: (offset, count)
    of a single input: rows of a parquet file, or shards of a directory.
    ``partition``: (index, count) for a whole-dataset step split by hash prefix.
    ``params``: settings that change the task's result (e.g. a threshold), so a
    rerun with other settings redoes it.
    Everything but ``dataset`` is saved in the step's plan.json."""

    shard: int
    dataset: str
    inputs: tuple[str, ...] = ()
    rows: tuple[int, int] | None = None
    partition: tuple[int, int] | None = None
    params: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {"shard": self.shard, "inputs": list(self.inputs),
                "rows": list(self.rows) if self.rows else None,
                "partition": list(self.partition) if self.partition else None,
                **({"params": list(self.params)} if self.params else {})}

    @classmethod
    def from_dict(cls, d: dict, dataset: str) -> "ShardTask":
        return cls(shard=int(d["shard"]), dataset=dataset, inputs=tuple(d.get("inputs") or ()),
                   rows=tuple(d["rows"]) if d.get("rows") else None,
                   partition=tuple(d["partition"]) if d.get("partition") else None,
                   params=tuple(d.get("params") or ()))


class Step(Protocol):
    """A frozen dataclass whose fields are its config; picklable.

    ``name`` names its runs (_runs/<name>/); usually a ClassVar, or a property
    when the outputs depend on more than the step (embed-<model-id>).
    ``ledger``: the shard family (e.g. "shards") whose NNNNN.parquet holds one
    row per candidate of task NNNNN with status and reason, and whose NNNNN.tar
    holds the kept samples; None when the step writes no per-candidate ledger."""

    name: ClassVar[str]
    resources: ClassVar[Resources]
    ledger: ClassVar[str | None]

    def plan(self, dataset: str) -> list[ShardTask]: ...

    def __call__(self, task: ShardTask) -> ShardStats: ...

    def outputs(self, layout: DatasetDir) -> list[str]: ...


class Runner(Protocol):
    def map(self, fn: Callable, items: Iterable, resources: Resources = Resources()) -> Iterator: ...

    def describe(self) -> dict: ...

    def notes(self) -> list[str]:
        """What the last step's summary should say about the workers (e.g. nodes lost, retries)."""
        ...

    def session(self) -> ContextManager["Runner"]:
        """Keep the runner's workers (a Ray cluster connection) up across several steps."""
        ...


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
