"""run_shard and the driver (the step contract itself is grassroots.step).

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

import pyarrow as pa

from grassroots import io
from grassroots.errors import FatalError, RetryableError, ShardError
from grassroots.layout import DatasetDir
from grassroots.stats import ShardStats
from grassroots.step import Runner, ShardTask, Step, save_plan


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

    def lost(self, task: ShardTask, error: BaseException) -> ShardStats:
        """The runner lost the task for good (its node or worker died, again and again):
        a failure record, as for any failed task; the rerun redoes it."""
        return _record_failure(self.step, task, error, attempts=0)


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
    for note in runner.notes():
        total.note(note)
    problems = _accounting(step, dataset, results)
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
    if problems:
        raise FatalError(f"{step.name} on {dataset}: the accounting check failed ({len(problems)} problems; "
                         f"a bug, please report it): " + "; ".join(problems[:5]))
    return total


def _accounting(step: Step, dataset: str, results: list[ShardStats]) -> list[str]:
    """The accounting check of a step that keeps a ledger, over the tasks this run
    finished (skipped ones were checked when they ran; failed ones wrote nothing)."""
    if not getattr(step, "ledger", None):
        return []
    from grassroots.ledger import step_problems

    ran = [s.shard for s in results if not s.skipped_shards and not s.failed_shards and s.shard is not None]
    return step_problems(dataset, step, ran)
