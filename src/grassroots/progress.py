"""Progress display (rich): shards done, and rows done inside running shards.

A running shard reports its rows in ``_runs/<stage>/NNNNN.progress`` (see
``RowReporter``); the display polls those files, so it works the same for the
inline runner, a process pool and Ray on a shared filesystem.
"""

from __future__ import annotations

import json
import threading
import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from grassroots import io
from grassroots.layout import DatasetDir
from grassroots.stats import ShardStats

console = Console(stderr=True)


class RowReporter:
    """Used inside a stage: ``report(done)`` at most once a second, ``close()`` at the end."""

    def __init__(self, dataset: str, stage: str, shard: int, total: int, every: float = 1.0):
        self.path = DatasetDir(dataset).run_progress(stage, shard)
        self.total, self.every, self._last = total, every, 0.0

    def report(self, done: int, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._last >= self.every:
            self._last = now
            io.write_text_atomic(self.path, json.dumps({"done": done, "total": self.total}))

    def close(self) -> None:
        io.remove(self.path)


class ShardProgress:
    """Shards done / total; rows done / total (finished shards plus running ones)."""

    def __init__(self, stage: str, total: int, enabled: bool = True, dataset: str | None = None,
                 total_rows: int | None = None):
        self.enabled = enabled
        self.kept = self.dropped = self.rows_finished = 0
        self._glob = DatasetDir(dataset).progress_glob(stage) if dataset else None
        self._total_rows = total_rows
        self._shards_total, self._shards_done = total, 0
        # The bar follows rows when their total is known (a smooth ETA), else shards.
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[unit]} · {task.fields[detail]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            disable=not enabled,
        )
        self._task = self._progress.add_task(stage, total=total_rows or total,
                                             unit="rows" if total_rows else "shards", detail="")
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._poller = threading.Thread(target=self._poll, daemon=True, name="progress")

    def __enter__(self) -> "ShardProgress":
        self._progress.__enter__()
        if self.enabled and self._glob:
            self._poller.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._poller.is_alive():
            self._poller.join(2)
        self._progress.__exit__(*exc)

    def advance(self, stats: ShardStats) -> None:
        with self._lock:
            self.kept += stats.kept
            self.dropped += stats.dropped
            self.rows_finished += stats.candidates
            self._refresh(0, advance=1)

    def _running_rows(self) -> int:
        done = 0
        for path in io.glob(self._glob):
            try:
                done += json.loads(io.read_text(path))["done"]
            except (OSError, ValueError, KeyError):
                continue  # just finished, or being replaced
        return done

    def _poll(self) -> None:
        while not self._stop.wait(1.0):
            running = self._running_rows()
            with self._lock:
                self._refresh(running)

    def _refresh(self, running: int, advance: int = 0) -> None:
        self._shards_done += advance
        rows = self.rows_finished + running
        if self._total_rows:
            detail = f"{self._shards_done}/{self._shards_total} shards · {self.kept:,} kept · {self.dropped:,} dropped"
            self._progress.update(self._task, completed=min(rows, self._total_rows), detail=detail)
        else:
            detail = f"{rows:,} rows · {self.kept:,} kept · {self.dropped:,} dropped"
            self._progress.update(self._task, completed=self._shards_done, detail=detail)
