"""Human-readable tables of what a stage did (rich)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from grassroots.schema import REASON_STATUS, Reason
from grassroots.stats import ShardStats

_COLOR = {"refused": "magenta", "failed": "red", "filtered": "yellow"}
_ORDER = ("refused", "failed", "filtered")


def stats_table(title: str, t: ShardStats, wall_seconds: float | None = None) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("outcome")
    table.add_column("reason")
    table.add_column("rows", justify="right")
    table.add_column("share", justify="right")
    denom = max(t.candidates, 1)
    table.add_row("[bold]candidates[/]", "", f"{t.candidates:,}", "100.0%")
    table.add_row("[green]kept[/]", "", f"{t.kept:,}", f"{100 * t.kept / denom:.1f}%")
    for reason, n in sorted(t.reasons.items(), key=lambda kv: (_ORDER.index(REASON_STATUS[Reason(kv[0])].value), -kv[1])):
        status = REASON_STATUS[Reason(reason)].value
        table.add_row(f"[{_COLOR[status]}]{status}[/]", reason, f"{n:,}", f"{100 * n / denom:.1f}%")
    for name, n in sorted(t.counters.items()):
        table.add_row("[dim]counter[/]", name, f"{n:,}", "")
    if wall_seconds:
        table.caption = f"{t.candidates / wall_seconds:,.1f} rows/s · {t.kept / wall_seconds:,.1f} kept/s · {wall_seconds:.1f} s"
    return table


def print_stats(console: Console, title: str, t: ShardStats, wall_seconds: float | None = None) -> None:
    console.print(stats_table(title, t, wall_seconds))
