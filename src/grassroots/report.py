"""Human-readable tables of what a stage did (rich)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from grassroots.schema import Reason, status_of
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
    for reason, n in sorted(t.reasons.items(), key=lambda kv: (_ORDER.index(status_of(kv[0]).value), -kv[1])):
        status = status_of(reason).value
        table.add_row(f"[{_COLOR[status]}]{status}[/]", reason, f"{n:,}", f"{100 * n / denom:.1f}%")
    for name, n in sorted(t.counters.items()):
        table.add_row("[dim]counter[/]", name, f"{n:,}", "")
    if wall_seconds:
        table.caption = f"{t.candidates / wall_seconds:,.1f} rows/s · {t.kept / wall_seconds:,.1f} kept/s · {wall_seconds:.1f} s"
    return table


def print_stats(console: Console, title: str, t: ShardStats, wall_seconds: float | None = None) -> None:
    console.print(stats_table(title, t, wall_seconds))


# Reasons that usually need the user to do something, with what to do; shown
# when they are at least ADVICE_SHARE of a run's candidates.
ADVICE_SHARE = 0.5
_ADVICE = {
    Reason.BLOCKED_ADDRESS: "refused before connecting: the URLs point at loopback/private addresses. "
                            "For a server on this machine pass --allow-loopback (private and metadata "
                            "addresses stay refused).",
    Reason.DNS_ERROR: "host names did not resolve: check this machine's network and DNS.",
    Reason.TIMEOUT: "requests timed out: a slow or overloaded host; try --timeout, then --retry-failed.",
    Reason.ROBOTS_UNREACHABLE: "robots.txt could not be read (an outage, not an opt-out): "
                               "rerun later with --retry-failed.",
    Reason.INVALID_URL: "the URL column does not hold absolute http(s) URLs: check --url-col.",
}


def print_advice(console: Console, dataset: str, t: ShardStats, shards_shown: int = 5) -> None:
    """Print the cause of each failed shard (a few) and what to do about a dominant reason."""
    from grassroots.ledger import failed_shards

    if t.failed_shards:
        failures = failed_shards(dataset, t.stage)
        for shard, record in sorted(failures.items())[:shards_shown]:
            console.print(f"[red]{t.stage} shard {shard} failed:[/] {record.get('error', '?')}",
                          soft_wrap=True, highlight=False)
        if len(failures) > shards_shown:
            console.print(f"[red]... and {len(failures) - shards_shown} more "
                          f"(see {dataset}/_runs/{t.stage}/*.failed.json)[/]", highlight=False)
    for note in t.notes:  # per-shard findings: bad records, truncated files, 0 candidates from N pages
        console.print(f"[yellow]note:[/] {note}", soft_wrap=True, highlight=False)
    for reason, n in t.reasons.most_common():
        hint = _ADVICE.get(reason)
        if hint and t.candidates and n / t.candidates >= ADVICE_SHARE:
            console.print(f"[yellow]note:[/] {n} of {t.candidates} rows are {reason}: {hint}",
                          soft_wrap=True, highlight=False)
