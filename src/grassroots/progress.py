"""Progress display for work over more than one shard (rich)."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from grassroots.stats import ShardStats

console = Console(stderr=True)


class ShardProgress:
    """Shards done / total, with kept and dropped rows so far."""

    def __init__(self, stage: str, total: int, enabled: bool = True):
        self.enabled = enabled
        self.kept = self.dropped = 0
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("shards · {task.fields[rows]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            disable=not enabled,
        )
        self._task = self._progress.add_task(stage, total=total, rows="")

    def __enter__(self) -> "ShardProgress":
        self._progress.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._progress.__exit__(*exc)

    def advance(self, stats: ShardStats) -> None:
        self.kept += stats.kept
        self.dropped += stats.dropped
        self._progress.update(
            self._task, advance=1, rows=f"{self.kept:,} kept · {self.dropped:,} dropped"
        )
