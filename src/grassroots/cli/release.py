"""Release commands: select, takedown, index, card."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from grassroots.cli.common import RUNNER_HELP, command, console, default_processes, finish, runner_of
from grassroots.runner import RunnerKind
from grassroots.takedown.requests import RequestReason as TakedownReason


@command()
def select(
    dataset: str = typer.Argument(..., help="The dataset directory."),
    release: str = typer.Option(..., help="Name of the release to write: releases/<name>/ (v1, v2 ...)."),
    where: str = typer.Option("", help="Boolean expression over attribute columns, e.g. \"clip >= 0.28 AND neardup_representative\" (default: every kept sample; then --balance or --sample decide)."),
    balance: Optional[float] = typer.Option(None, min=0, help="MetaCLIP's balancing over the concepts table (`grassroots concepts`): an entry matched by n samples keeps each with probability min(1, T/n)."),
    keep_unmatched: bool = typer.Option(False, help="With --balance: keep samples whose caption matches no entry (else filtered:no_concept)."),
    sample: Optional[float] = typer.Option(None, min=0, max=1, help="Keep a uniform random fraction of what --where (and --balance) kept: the baseline to compare a curation with."),
    seed: int = typer.Option(0, help="Seed of --balance and --sample (each draw is fixed by seed, entry and key)."),
    from_release: Optional[str] = typer.Option(None, "--from", help="Select from this release instead of the whole dataset."),
    dry_run: bool = typer.Option(False, help="Only print how many samples each clause would drop."),
    overwrite: bool = typer.Option(False, help="Replace the release if it exists."),
    runner: RunnerKind = typer.Option(RunnerKind.LOCAL, help=RUNNER_HELP),
    processes: int = typer.Option(default_processes(), min=1, help="Worker processes (local) or Ray CPUs."),
    ray_address: Optional[str] = typer.Option(None, help="Join this Ray cluster (e.g. auto, ray://host:10001) instead of starting one."),
) -> None:
    """Make a release: the samples that pass --where (then --balance, --sample), with their ledger, attributes and embeddings."""
    from grassroots.releases import dry_run as count_drops
    from grassroots.releases import make_release, source_of
    from grassroots.report import print_stats

    from grassroots.errors import InputError
    from grassroots.stages.select import Curation

    if not where.strip() and balance is None and sample is None:
        raise InputError("--where", "nothing to select by", "pass --where, --balance or --sample")
    if dry_run:
        if not where.strip():
            raise InputError("--dry-run", "counts what --where drops", "pass --where")
        total, selected, drops = count_drops(source_of(str(dataset), from_release), where)
        console.print(f"{selected} of {total} samples would be selected", highlight=False)
        for clause, n in drops.most_common():
            console.print(f"  filtered:{clause:<24} {n:>8}", highlight=False)
        return
    from grassroots.releases import safety_thresholds

    if safety_thresholds(source_of(str(dataset), from_release), where) == []:
        console.print("[yellow]warning: no safety threshold is applied: the dataset has safety scores "
                      "(attributes/safety or a safety head) but --where thresholds none of them; "
                      "e.g. add \"AND nsfw < 0.5\"[/]", highlight=False)
    target, totals = make_release(str(dataset), release, where, runner_of(runner, processes, ray_address),
                                  parent_release=from_release, overwrite=overwrite,
                                  curation=Curation(balance, sample, seed, keep_unmatched))
    print_stats(console, f"select -> {target}", totals)
    finish(target, totals)


@command()
def takedown(
    dataset: Path = typer.Argument(..., help="The dataset directory."),
    from_release: str = typer.Option(..., "--from", help="The release to take samples down from (vN)."),
    release: str = typer.Option(..., help="Name of the release to write without them (vN+1)."),
    requests: bool = typer.Option(False, "--requests", help="Apply the opt-out requests in DATASET/takedowns/requests.jsonl."),
    urls: list[Path] = typer.Option([], help="File: image or page URLs to remove, one per line; repeatable."),
    domains: list[Path] = typer.Option([], help="File: domains to remove (with their subdomains), one per line."),
    sha256: list[Path] = typer.Option([], help="File: sha256 digests (original or stored bytes), one per line."),
    md5: list[Path] = typer.Option([], help="File: md5 digests, one per line."),
    pdq: list[Path] = typer.Option([], help="File: PDQ hashes (64 hex); matches within Hamming distance 31 (re-encoded, resized copies)."),
    keys: list[Path] = typer.Option([], help="File: sample keys, one per line."),
    hash_list: list[Path] = typer.Option([], help="A hash list in its exchange format (one hash a line with or without a type, TYPE:HASH, CSV/TSV with a hash column; MD5, SHA-256, PDQ with a quality), e.g. of illegal content (with --reason illegal-content); repeatable."),
    reason: TakedownReason = typer.Option(TakedownReason.OTHER, help="Why the listed values go (a request carries its own). illegal-content: nothing of the sample is kept anywhere, not even its URL; the audit trail keeps its hashes."),
    purge_parent: bool = typer.Option(False, help="Then delete the --from release atomically."),
    runner: RunnerKind = typer.Option(RunnerKind.LOCAL, help=RUNNER_HELP),
    processes: int = typer.Option(default_processes(), min=1, help="Worker processes (local) or Ray CPUs."),
    ray_address: Optional[str] = typer.Option(None, help="Join this Ray cluster (e.g. auto, ray://host:10001) instead of starting one."),
) -> None:
    """Write a release without the samples asked to be removed, and remove them from everything else under
    DATASET: the dataset's shards, embeddings, attributes and candidates, every release and its index.
    Every later step skips them."""
    from grassroots.layout import DatasetDir
    from grassroots.report import print_stats
    from grassroots.releases import make_takedown
    from grassroots.takedown.requests import build_ask

    layout = DatasetDir(str(dataset))
    ask = build_ask(layout.takedown_requests if requests else None,
                    {"urls": urls, "domains": domains, "sha256": sha256, "md5": md5, "pdq": pdq, "keys": keys},
                    reason=reason.value, hash_lists=hash_list)
    with runner_of(runner, processes, ray_address).session() as run:  # one Ray job for the takedown and the index
        res = make_takedown(str(dataset), from_release, release, ask, run, purge_parent=purge_parent)
    print_stats(console, f"takedown {from_release} -> {res.release}", res.totals)
    if res.record is not None:
        rec = res.record
        console.print(f"removed {rec.counts.removed} samples ({res.release}/{rec.removed_keys}); "
                      f"{len(rec.requests)} requests handled; index: {rec.index}", highlight=False)
        console.print(f"later downloads refuse them: {rec.lists_appended['registry']}, "
                      f"{rec.lists_appended['blocklist']}", highlight=False)
        for p in rec.purged:
            console.print(f"purged {p['removed']} samples from {p['dir']}", highlight=False)
        if rec.counts.illegal_content:
            console.print(f"{rec.counts.illegal_content} removed as illegal content: only their hashes are kept",
                          highlight=False)
        if rec.parent_purged:
            console.print(f"deleted {layout.release(from_release).root}", highlight=False)
        for name in res.stale_cards:
            console.print(f"the card of {name} counts the removed samples: write it again with "
                          f"`grassroots card {dataset} --release {name}`", highlight=False)
        console.print("[bold]copies already published elsewhere are not reached[/bold]: a release copied or "
                      "uploaded before this takedown still holds these samples; replace those copies with "
                      f"{res.release} (which releases were copied out is yours to know)")
    finish(Path(res.release), res.totals)


@command()
def card(
    dataset: Path = typer.Argument(..., help="The dataset directory."),
    release: str = typer.Option(..., help="The release to describe (v1, v2 ...)."),
) -> None:
    """Write releases/<release>/card/: README.md (HF card), DATASHEET.md, EU_PUBLIC_SUMMARY.md, plots/."""
    from grassroots.card import write_card

    written = write_card(str(dataset), release)
    for path in written:
        console.print(f"wrote {path}", highlight=False)
    console.print("fields marked 'TO BE FILLED BY THE PROVIDER' need a person", highlight=False)


@command()
def index(
    dataset: Path = typer.Argument(..., help="The dataset directory."),
    release: str = typer.Option(..., help="The release to index: releases/<name>/ (v1, v2 ...)."),
    embeddings: Optional[str] = typer.Option(None, help="The model id under the release's embeddings/ (default: its only one)."),
    exact_max: Optional[int] = typer.Option(None, min=0, help="Exact (flat) search up to this many images; an IVF index beyond (default 50000, measured in bench/search.py)."),
    runner: RunnerKind = typer.Option(RunnerKind.LOCAL, help=RUNNER_HELP),
    ray_address: Optional[str] = typer.Option(None, help="Join this Ray cluster (e.g. auto, ray://host:10001) instead of starting one."),
) -> None:
    """Vector index of a release's image and caption embeddings -> releases/<name>/index/<model-id>/."""
    import time

    from grassroots.releases import Release
    from grassroots.report import print_stats
    from grassroots.runner import run_step
    from grassroots.stages import Index

    target = Release.named(str(dataset), release).require().root
    step = Index.resolved(target, embeddings, exact_max)
    started = time.monotonic()
    totals = run_step(step, target, runner_of(runner, 1, ray_address))
    print_stats(console, f"index -> {target}/index/{step.embeddings}", totals, time.monotonic() - started)
    finish(Path(target), totals)
