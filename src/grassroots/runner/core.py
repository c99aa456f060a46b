"""run_shard: the one place that knows about resume, retry, failure records and
completion markers. run_stage: plan -> map through a runner -> summary + manifest."""

from __future__ import annotations

import json
import time
import traceback
from dataclasses import dataclass, field
from typing import Callable, ClassVar, Iterable, Iterator, Protocol

from grassroots import io
from grassroots.errors import FatalError, RetryableError, ShardError
from grassroots.layout import DatasetDir
from grassroots.stats import ShardStats


@dataclass(frozen=True)
class ShardTask:
    """One unit of work: shard number ``shard`` of dataset ``dataset``, reading
    ``inputs`` (the stage's default input for the shard when empty), or only
    ``rows`` = (offset, count) of a single input when an input is split."""

    shard: int
    dataset: str
    inputs: tuple[str, ...] = ()
    rows: tuple[int, int] | None = None


class Stage(Protocol):
    """A frozen dataclass whose fields are its config; picklable."""

    name: ClassVar[str]

    def __call__(self, task: ShardTask) -> ShardStats: ...


@dataclass(frozen=True)
class RetryPolicy:
    retries: int = 3
    backoff_seconds: float = 1.0
    max_backoff_seconds: float = 30.0

    def delay(self, attempt: int) -> float:
        return min(self.backoff_seconds * (2**attempt), self.max_backoff_seconds)


def run_shard(stage: Stage, task: ShardTask, retry: RetryPolicy = RetryPolicy()) -> ShardStats:
    """Run one shard: skip it if its marker exists, retry RetryableError with
    backoff, turn ShardError into a failure record, write the stats JSON last."""
    layout = DatasetDir(task.dataset)
    marker = layout.run_marker(stage.name, task.shard)
    if io.exists(marker):
        done = ShardStats.from_json(io.read_text(marker))
        done.skipped_shards = 1
        return done
    attempt = 0
    while True:
        started = time.monotonic()
        try:
            stats = stage(task)
            break
        except RetryableError as e:
            if attempt >= retry.retries:
                return _record_failure(stage, task, e, attempt + 1)
            time.sleep(retry.delay(attempt))
            attempt += 1
        except ShardError as e:
            return _record_failure(stage, task, e, attempt + 1)
    stats.stage, stats.shard, stats.shards = stage.name, task.shard, 1
    stats.seconds = stats.seconds or (time.monotonic() - started)
    if not stats.accounted:
        raise FatalError(
            f"stage {stage.name} shard {task.shard} lost rows: {stats.candidates} candidates but "
            f"{stats.kept} kept + {stats.dropped} dropped (this is a bug in the stage)"
        )
    io.remove(layout.run_failure(stage.name, task.shard))
    io.write_text_atomic(marker, stats.to_json())  # last: its presence means "done"
    return stats


def _record_failure(stage: Stage, task: ShardTask, error: Exception, attempts: int) -> ShardStats:
    record = {
        "stage": stage.name,
        "shard": task.shard,
        "error": f"{type(error).__name__}: {error}",
        "attempts": attempts,
        "traceback": traceback.format_exception(error),
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    io.write_text_atomic(DatasetDir(task.dataset).run_failure(stage.name, task.shard), json.dumps(record, indent=1))
    return ShardStats(stage=stage.name, shard=task.shard, failed_shards=1)


class Runner(Protocol):
    def map(self, fn: Callable, items: Iterable) -> Iterator: ...
    def describe(self) -> dict: ...


@dataclass(frozen=True)
class _ShardCall:
    """Picklable closure: (stage, retry) applied to a task."""

    stage: Stage
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    def __call__(self, task: ShardTask) -> ShardStats:
        return run_shard(self.stage, task, self.retry)


def run_stage(
    stage: Stage,
    tasks: list[ShardTask],
    runner: Runner,
    *,
    dataset: str,
    config: dict | None = None,
    inputs: list[str] | None = None,
    retry: RetryPolicy = RetryPolicy(),
    progress: bool = True,
    on_shard: Callable[[ShardStats], None] | None = None,
) -> ShardStats:
    """Run every task of a stage through ``runner``; append a run to manifest.json."""
    from grassroots.manifest import record_run
    from grassroots.progress import ShardProgress

    layout = DatasetDir(dataset)
    for d in (layout.shards_dir, layout.candidates_dir):
        io.remove_stale_temporaries(d)
    for stale in io.glob(layout.progress_glob(stage.name)):  # from a killed run
        io.remove(stale)
    started = time.time()
    results: list[ShardStats] = []
    total_rows = sum(t.rows[1] for t in tasks) if tasks and all(t.rows for t in tasks) else None
    with ShardProgress(stage.name, len(tasks), enabled=progress and bool(tasks), dataset=dataset,
                       total_rows=total_rows) as bar:
        for stats in runner.map(_ShardCall(stage, retry), tasks):
            results.append(stats)
            bar.advance(stats)
            if on_shard:
                on_shard(stats)
    total = ShardStats.total(results, stage=stage.name)
    record_run(
        dataset,
        stage=stage.name,
        config=config or {},
        runner=runner.describe(),
        inputs=inputs or [],
        started=started,
        ended=time.time(),
        totals=total,
    )
    return total
