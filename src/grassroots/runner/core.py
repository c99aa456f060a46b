"""The step shape, run_shard and the driver.

run_shard is the one place that knows about resume, retry, failure records and
completion markers. run_step is the one driver: plan (saved once, one format)
-> map the tasks through a runner -> summary + manifest entry. Runners differ
only in how they map tasks (local.py, ray.py).
"""

from __future__ import annotations

import json
import time
import traceback
from dataclasses import dataclass, field
from typing import Callable, ClassVar, ContextManager, Iterable, Iterator, Protocol

import pyarrow as pa

from grassroots import io
from grassroots.errors import FatalError, RetryableError, ShardError
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

    def session(self) -> ContextManager["Runner"]:
        """Keep the runner's workers (a Ray cluster connection) up across several steps."""
        ...


@dataclass(frozen=True)
class RetryPolicy:
    retries: int = 3
    backoff_seconds: float = 1.0
    max_backoff_seconds: float = 30.0

    def delay(self, attempt: int) -> float:
        return min(self.backoff_seconds * (2**attempt), self.max_backoff_seconds)


# OSErrors that another try cannot fix: the shard fails at once.
_PERMANENT_OS_ERRORS = (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError)


def run_shard(step: Step, task: ShardTask, retry: RetryPolicy = RetryPolicy()) -> ShardStats:
    """Run one task: skip it if its marker exists; retry RetryableError and
    transient I/O errors (OSError) with backoff; a ShardError, a permanent I/O
    error, an unreadable table or exhausted retries become a failure record;
    the stats JSON is written last."""
    layout = DatasetDir(task.dataset)
    marker = layout.run_marker(step.name, task.shard)
    if io.exists(marker):
        done = ShardStats.from_json(io.read_text(marker))
        done.skipped_shards = 1
        return done
    attempt = 0
    while True:
        started = time.monotonic()
        try:
            stats = step(task)
            break
        except (ShardError, pa.ArrowInvalid, *_PERMANENT_OS_ERRORS) as e:
            return _record_failure(step, task, e, attempt + 1)
        except (RetryableError, OSError) as e:
            if attempt >= retry.retries:
                return _record_failure(step, task, e, attempt + 1)
            time.sleep(retry.delay(attempt))
            attempt += 1
    stats.stage, stats.shard, stats.shards = step.name, task.shard, 1
    stats.seconds = stats.seconds or (time.monotonic() - started)
    if not stats.accounted:
        raise FatalError(
            f"step {step.name} shard {task.shard} lost rows: {stats.candidates} candidates but "
            f"{stats.kept} kept + {stats.dropped} dropped (this is a bug in the step)"
        )
    io.remove(layout.run_failure(step.name, task.shard))
    io.write_text_atomic(marker, stats.to_json())  # last: its presence means "done"
    return stats


def _record_failure(step: Step, task: ShardTask, error: BaseException, attempts: int) -> ShardStats:
    record = {
        "stage": step.name,
        "shard": task.shard,
        "error": f"{type(error).__name__}: {error}",
        "attempts": attempts,
        "traceback": traceback.format_exception(error),
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    io.write_text_atomic(DatasetDir(task.dataset).run_failure(step.name, task.shard), json.dumps(record, indent=1))
    return ShardStats(stage=step.name, shard=task.shard, failed_shards=1)


@dataclass(frozen=True)
class _ShardCall:
    """Picklable closure: (step, retry) applied to a task."""

    step: Step
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    def __call__(self, task: ShardTask) -> ShardStats:
        return run_shard(self.step, task, self.retry)


def run_step(
    step: Step,
    dataset: str,
    runner: Runner,
    *,
    retry: RetryPolicy = RetryPolicy(),
    progress: bool = True,
) -> ShardStats:
    """Plan ``step`` on ``dataset`` (the saved plan is reconciled: a task that
    changed is no longer done), run its tasks through ``runner``, append a run
    to manifest.json and return the totals of this run."""
    from grassroots.manifest import config_dict, record_run
    from grassroots.plan import save_plan
    from grassroots.progress import ShardProgress

    layout = DatasetDir(dataset)
    started = time.time()
    tasks = step.plan(dataset)
    save_plan(dataset, step.name, tasks)
    for directory in step.outputs(layout):
        io.makedirs(directory)
        io.remove_stale_temporaries(directory)
    for stale in io.glob(layout.progress_glob(step.name)):  # from a killed run
        io.remove(stale)
    results: list[ShardStats] = []
    total_rows = sum(t.rows[1] for t in tasks) if tasks and all(t.rows for t in tasks) and step.ledger else None
    with ShardProgress(step.name, len(tasks), enabled=progress and bool(tasks), dataset=dataset,
                       total_rows=total_rows) as bar:
        for stats in runner.map(_ShardCall(step, retry), tasks, step.resources):
            results.append(stats)
            bar.advance(stats)
    total = ShardStats.total(results, stage=step.name)
    record_run(
        dataset,
        stage=step.name,
        config=config_dict(step),
        runner=runner.describe(),
        inputs=list(dict.fromkeys(i for t in tasks for i in t.inputs)),
        started=started,
        ended=time.time(),
        totals=total,
    )
    return total
