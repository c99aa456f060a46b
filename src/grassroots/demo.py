"""grassroots demo: the whole milestone-1 pipeline on the built-in mini-web.

start the mini-web (many hosts on 127.0.0.x, rights cases, hostile cases)
  -> crawl it to a WARC (+ WAT)  -> extract candidates  -> download with the
  rights layer -> ledger summary, checked against the mini-web's ground truth.

No network beyond loopback, no downloaded weights. Everything it reports is
measured in this run.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from grassroots.errors import InputError
from grassroots.ledger import read_samples

SIZES = {"tiny": 1, "small": 4, "medium": 24, "large": 100}  # plain pages per host (5 images each)
MARKER = ".grassroots-demo"

PROTOCOL_NAMES = {
    "registry": "opt-out registry",
    "robots_txt": "robots.txt (RFC 9309)",
    "x_robots_tag": "X-Robots-Tag header",
    "html_meta": "page <meta name=robots>",
    "tdmrep": "TDMRep (W3C)",
    "ai_txt": "ai.txt (Spawning)",
    "iptc_xmp": "IPTC plus:DataMining (XMP)",
    "c2pa": "C2PA / CAWG training-mining",
    "hash_blocklist": "hash blocklist",
}


@dataclass(frozen=True)
class DemoConfig:
    out: str = "demo-out"
    runner: str = "local"
    processes: int = max(1, os.cpu_count() or 1)
    size: str = "small"
    seed: int = 0
    hosts: int = 8
    labelled_pages: int = 1  # per host: unsafe stand-ins and near-duplicate copies (for filters)
    mismatched_share: float = 0.25  # plain images whose alt text is not about them (for the CLIP filter)


@dataclass
class DemoResult:
    dataset: str
    warc: str
    extract_seconds: float
    download_seconds: float
    candidates: int
    kept: int
    refused: Counter
    failed: Counter
    filtered: Counter
    truth_total: int
    truth_matched: int
    truth_mismatches: list[str]
    kept_urls: set[str]
    truth: list[dict]  # the mini-web's ground truth rows (url, expect, reason, label, duplicate_of ...)


def _fresh_dir(out: Path) -> None:
    if out.exists():
        if not (out / MARKER).exists() and any(out.iterdir()):
            raise InputError(str(out), "exists and is not a previous demo output",
                             "pass --out with a new or empty directory")
        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / MARKER).write_text("written by `grassroots demo`; safe to delete\n")


def run_demo(cfg: DemoConfig, console: Console | None = None, progress: bool = True) -> DemoResult:
    from grassroots.fetch.client import FetchConfig
    from grassroots.miniweb import MiniWeb, load_spec, write_warc
    from grassroots.runner import make_runner, run_step
    from grassroots.stages import Dedup, Download, Extract
    from grassroots.stages.download import DownloadConfig

    say = (console or Console(quiet=True)).print
    if cfg.size not in SIZES:
        raise InputError("--size", f"unknown size {cfg.size!r}", f"use one of {sorted(SIZES)}")
    out = Path(cfg.out)
    _fresh_dir(out)
    spec = dataclasses.replace(load_spec(), pages_per_host=SIZES[cfg.size], labelled_pages=cfg.labelled_pages,
                               mismatched_share=cfg.mismatched_share)
    runner = make_runner(cfg.runner, cfg.processes, None)
    dataset = out / "dataset"
    with MiniWeb(seed=cfg.seed, hosts=cfg.hosts, spec=spec) as web, runner.session() as runner:
        say(f"[bold]1. mini-web[/] serving {cfg.hosts} hosts on {web.base_urls[0]} … {web.base_urls[-1]}"
            f" ({len(web.page_urls())} pages, {len(web.image_urls())} images; ground truth at {web.control_url}/_truth.json)")
        warc = out / "crawl" / "miniweb.warc.gz"
        warc.parent.mkdir()
        write_warc(str(warc), web.base_urls, seed=cfg.seed, wat=True, spec=spec)
        say(f"[bold]2. crawl[/] wrote {warc} (+ WAT) — {warc.stat().st_size / 1e6:.2f} MB")
        t0 = time.monotonic()
        ex = run_step(Extract(inputs=(str(warc),)), str(dataset), runner, progress=progress)
        run_step(Dedup(), str(dataset), runner, progress=progress)
        t_extract = time.monotonic() - t0
        say(f"[bold]3. extract[/] {ex.counters.get('pages', 0)} pages -> {ex.kept} candidates "
            f"({ex.dropped} dropped by LAION rules) in {t_extract:.1f} s")
        stage = Download(config=DownloadConfig(fetch=FetchConfig(allow_loopback=True)))
        say("[bold]4. download[/] with the rights layer (robots.txt, X-Robots-Tag, TDMRep, ai.txt, IPTC, C2PA) …")
        t0 = time.monotonic()
        dl = run_step(stage, str(dataset), runner, progress=progress)
        t_download = time.monotonic() - t0
        truth = web.truth()
    rows = {r["url"]: r for r in read_samples(str(dataset), ["url", "status", "reason", "error_message"])}
    def got(row: dict | None) -> str:
        return "no row" if row is None else f"{row['status']}/{row['reason']} ({row['error_message']})"

    mismatches = [
        f"{t['url']}: expected {t['expect']}/{t['reason']}, got {got(rows.get(t['url']))}"
        for t in truth
        if t["url"] not in rows or (rows[t["url"]]["status"], rows[t["url"]]["reason"]) != (t["expect"], t["reason"])
    ]
    by = {s: Counter(r["reason"] for r in rows.values() if r["status"] == s) for s in ("refused", "failed", "filtered")}
    return DemoResult(
        dataset=str(dataset), warc=str(warc), extract_seconds=t_extract, download_seconds=t_download,
        candidates=dl.candidates, kept=dl.kept, refused=by["refused"], failed=by["failed"], filtered=by["filtered"],
        truth_total=len(truth), truth_matched=len(truth) - len(mismatches), truth_mismatches=mismatches,
        kept_urls={u for u, r in rows.items() if r["status"] == "success"},
        truth=truth,
    )


def print_report(res: DemoResult, console: Console, next_steps: bool = True) -> None:
    table = Table(title="what happened to every image found on the mini-web", title_justify="left")
    table.add_column("outcome")
    table.add_column("why")
    table.add_column("images", justify="right")
    table.add_row("[green]kept[/]", "downloaded, resized, written to shards/", str(res.kept))
    for reason, n in res.refused.most_common():
        table.add_row("[magenta]refused[/]", PROTOCOL_NAMES.get(reason, reason), str(n))
    for reason, n in res.failed.most_common():
        table.add_row("[red]failed[/]", reason, str(n))
    for reason, n in res.filtered.most_common():
        table.add_row("[yellow]filtered[/]", reason, str(n))
    table.add_row("[bold]total[/]", "every candidate accounted for", str(res.candidates))
    console.print(table)
    ok = res.truth_matched == res.truth_total
    console.print(f"ground truth: {res.truth_matched}/{res.truth_total} images handled as a correct crawler must"
                  + ("" if ok else " [red](mismatches below)[/]"))
    for m in res.truth_mismatches[:10]:
        console.print(f"  [red]-[/] {m}")
    console.print(f"download: {res.candidates / res.download_seconds:.1f} candidates/s, "
                  f"{res.kept / res.download_seconds:.1f} images/s kept, {res.download_seconds:.1f} s "
                  f"(the mini-web's hostile cases include deliberate 10 s timeouts)")
    console.print(f"\n[bold]your dataset:[/] {res.dataset}   (crawl: {res.warc})")
    if next_steps:
        print_next_steps(res, console)


def print_next_steps(res: DemoResult, console: Console) -> None:
    console.print("[bold]next:[/]")
    if os.environ.get("VIRTUAL_ENV") is None:
        console.print("  . .venv/bin/activate                             # puts grassroots on PATH")
    console.print(f"  grassroots stats {res.dataset}")
    console.print(f"  python -c \"import duckdb; duckdb.sql(\\\"select status, reason, count(*) n from "
                  f"'{res.dataset}/shards/*.parquet' group by all order by n desc\\\").show()\"", soft_wrap=True)
    console.print("  grassroots rights check URL --page PAGE_URL     # why a URL would be refused")
    console.print("  grassroots download urls.csv -o mydata          # your own URL list")
    console.print("  grassroots extract 'crawl/*.warc.gz' -o mydata && grassroots download mydata -o mydata",
                  soft_wrap=True)
