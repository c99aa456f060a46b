"""The command line: thin. Parse flags into typed configs, call a stage through a runner."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from grassroots import __version__

app = typer.Typer(
    help="Grassroots: open image-text datasets from the public web, honouring creators' opt-outs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
out = Console()


def _version(value: bool) -> None:
    if value:
        out.print(f"grassroots {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    pass


@app.command()
def stats(
    dataset: Path = typer.Argument(..., help="A dataset directory (the -o of a stage)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for machines instead of a table."),
) -> None:
    """Candidates, kept, and drops by reason, per stage; checks the accounting invariant."""
    from grassroots.ledger import accounting_problems, failed_shards, stage_totals

    if not dataset.is_dir():
        raise typer.BadParameter(f"{dataset} is not a directory", param_hint="DATASET")
    totals = stage_totals(str(dataset))
    problems = accounting_problems(str(dataset))
    failures = {s: failed_shards(str(dataset), s) for s in totals}
    if as_json:
        doc = {
            "dataset": str(dataset),
            "stages": {s: t.to_dict() for s, t in totals.items()},
            "failed_shards": {s: sorted(f) for s, f in failures.items() if f},
            "accounting_problems": problems,
        }
        print(json.dumps(doc, indent=1))
    else:
        _print_stats_table(str(dataset), totals, failures, problems)
    if problems:
        raise typer.Exit(1)


def _print_stats_table(dataset, totals, failures, problems) -> None:
    from grassroots.schema import REASON_STATUS, Reason

    if not totals:
        out.print(f"[yellow]{dataset}: no stage has completed a shard yet[/]")
        return
    for stage, t in totals.items():
        table = Table(title=f"{stage}: {t.shards} shards, {t.seconds:.1f} worker-seconds", title_justify="left")
        table.add_column("outcome")
        table.add_column("reason")
        table.add_column("rows", justify="right")
        table.add_column("share", justify="right")
        denom = max(t.candidates, 1)
        table.add_row("[bold]candidates[/]", "", f"{t.candidates:,}", "100.0%")
        table.add_row("[green]kept[/]", "", f"{t.kept:,}", f"{100 * t.kept / denom:.1f}%")
        for reason, n in sorted(t.reasons.items(), key=lambda kv: (REASON_STATUS[Reason(kv[0])].value, -kv[1])):
            status = REASON_STATUS[Reason(reason)].value
            color = {"refused": "magenta", "failed": "red", "filtered": "yellow"}[status]
            table.add_row(f"[{color}]{status}[/]", reason, f"{n:,}", f"{100 * n / denom:.1f}%")
        for name, n in sorted(t.counters.items()):
            table.add_row("[dim]counter[/]", name, f"{n:,}", "")
        out.print(table)
        if failures.get(stage):
            out.print(f"[red]{stage}: {len(failures[stage])} shard(s) failed: {sorted(failures[stage])} "
                      f"(see {dataset}/_runs/{stage}/*.failed.json; rerun the stage to retry them)[/]")
    if problems:
        out.print("[bold red]accounting problems:[/]")
        for p in problems:
            out.print(f"  - {p}")
    else:
        out.print("[green]accounting: every candidate is kept or dropped with one reason[/]")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
