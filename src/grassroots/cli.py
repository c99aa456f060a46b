"""The command line: thin. Parse flags into typed configs, call a stage through a runner."""

from __future__ import annotations

import enum
import functools
import json
import sys
import time
from pathlib import Path
from typing import Callable, Optional

import typer
from rich.console import Console

from grassroots import __version__
from grassroots.errors import EXIT_INTERRUPTED, INTERRUPTED, GrassrootsError
from grassroots.imaging.resize import EncodeFormat, ResizeMode
from grassroots.inputs import InputFormat
from grassroots.runner import RunnerKind
from grassroots.writer import OutputFormat

Device = enum.Enum("Device", {"AUTO": "auto", "CPU": "cpu", "CUDA": "cuda"}, type=str)
Precision = enum.Enum("Precision", {"AUTO": "auto", "FP32": "fp32", "BF16": "bf16", "FP16": "fp16"}, type=str)

app = typer.Typer(
    help="Grassroots: open image-text datasets from the public web, honouring creators' opt-outs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    rich_markup_mode=None,  # plain help: option names are never cut at 80 columns
)
console = Console()


# Exit codes (README "Quick start"): scripts can tell what happened.
EXIT_OK = 0
EXIT_FAILED_SHARDS = 1  # some shards failed: rerun the same command to retry them
EXIT_BAD_INPUT = 2  # bad input or options; nothing was run (or the run stopped at once)
EXIT_NOTHING_KEPT = 3  # the run finished, but every row failed, was refused or filtered
# EXIT_INTERRUPTED = 130 (grassroots.errors): Ctrl-C / SIGTERM, rerun the same command to resume


def _one_line_errors(fn: Callable) -> Callable:
    """Expected errors (bad input, unreadable or unwritable paths) become one
    line on the console and exit code 2, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except GrassrootsError as e:
            console.print(f"[bold red]error:[/] {e}", soft_wrap=True, markup=True, highlight=False)
        except OSError as e:
            where = f"{e.filename}: " if getattr(e, "filename", None) else ""
            console.print(f"[bold red]error:[/] {where}{e.strerror or e}", soft_wrap=True, highlight=False)
        except KeyboardInterrupt:
            say_interrupted()
            raise typer.Exit(EXIT_INTERRUPTED) from None
        raise typer.Exit(EXIT_BAD_INPUT)

    return wrapper


_interrupt_said = False


def say_interrupted() -> None:
    """The line every exit 130 prints, whatever state the shared console is in: an
    interrupt can land inside rich's rendering (between its buffer's enter and exit),
    after which that console only buffers; a fresh console has its own buffer."""
    global _interrupt_said
    out = sys.stdout
    out = getattr(out, "rich_proxied_file", out)  # a progress display's redirect, left in place
    Console(file=out).print(f"[yellow]{INTERRUPTED}[/]", highlight=False)
    _interrupt_said = True


def command(*args, **kwargs) -> Callable:
    """``app.command`` with one-line errors."""
    return lambda fn: app.command(*args, **kwargs)(_one_line_errors(fn))


def _mount_subcommands() -> None:
    from grassroots.miniweb.cli import app as miniweb_app
    from grassroots.rights.cli import app as rights_app

    app.add_typer(miniweb_app, name="miniweb", help="The local test web: serve it, write it as a WARC crawl.")
    app.add_typer(rights_app, name="rights", help="Explain what every opt-out protocol decides for a URL.")


_mount_subcommands()


def _version(value: bool) -> None:
    if value:
        console.print(f"grassroots {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    pass


@command()
def stats(
    dataset: str = typer.Argument(..., help="A dataset directory (the -o of a stage)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for machines instead of a table."),
) -> None:
    """Candidates, kept, and drops by reason, per stage; checks the accounting invariant."""
    from grassroots.accounting import accounting_problems, stage_totals
    from grassroots.ledger import failed_shards

    from grassroots import io

    if not io.isdir(dataset):
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
    from grassroots.report import print_stats

    if not totals:
        console.print(f"[yellow]{dataset}: no stage has completed a shard yet[/]")
        return
    for stage, t in totals.items():
        print_stats(console, f"{stage}: {t.shards} shards, {t.seconds:.1f} worker-seconds", t)
        if failures.get(stage):
            console.print(f"[red]{stage}: {len(failures[stage])} shard(s) failed: {sorted(failures[stage])} "
                      f"(see {dataset}/_runs/{stage}/*.failed.json; rerun the stage to retry them)[/]")
    if problems:
        console.print("[bold red]accounting problems:[/]")
        for p in problems:
            console.print(f"  - {p}")
    else:
        console.print("[green]accounting: every candidate is kept or dropped with one reason[/]")


RUNNER_HELP = "local: a process pool on this machine; ray: the same shard tasks on Ray."


def _runner(runner: RunnerKind, processes: int, ray_address: Optional[str]):
    from grassroots.runner import make_runner

    return make_runner(RunnerKind(runner).value, processes, ray_address)


def _default_processes() -> int:
    import os

    return max(1, os.cpu_count() or 1)


@command()
def download(
    input: str = typer.Argument(..., help="URL list (.csv .tsv .parquet .jsonl .txt, optionally .gz) or a dataset directory with candidates/ from extract."),
    output: str = typer.Option(..., "-o", "--output", help="Dataset directory to write (created; rerun to resume)."),
    url_col: str = typer.Option("url", help="Column holding image URLs."),
    caption_col: str = typer.Option("caption", help="Column holding captions (alt text)."),
    keep_cols: str = typer.Option("", help="Comma-separated extra input columns to keep in parquet and json."),
    input_format: Optional[InputFormat] = typer.Option(None, help="Default: from the file's extension."),
    samples_per_shard: int = typer.Option(10_000, min=1, help="Rows per output shard."),
    image_size: int = typer.Option(256, min=1, help="Target size in pixels (see --resize-mode)."),
    resize_mode: ResizeMode = typer.Option(ResizeMode.KEEP_RATIO, help="How to fit --image-size (img2dataset's modes)."),
    resize_only_if_bigger: bool = typer.Option(False, help="Never upscale."),
    min_image_size: int = typer.Option(0, min=0, help="Drop images whose smaller side is below this (filtered)."),
    max_aspect_ratio: float = typer.Option(float("inf"), help="Drop images with a larger aspect ratio (filtered)."),
    encode_format: EncodeFormat = typer.Option(EncodeFormat.JPG, help="Image format in the shards (webp: see README for open_clip)."),
    encode_quality: int = typer.Option(95, min=1, max=100, help="JPEG/WebP quality."),
    skip_reencode: bool = typer.Option(False, help="Keep the original bytes when no resize is needed and the format matches."),
    max_bytes: int = typer.Option(20 * 1024 * 1024, help="Largest response body accepted (bytes)."),
    max_pixels: int = typer.Option(50_000_000, help="Largest image accepted, read from the header (decompression bombs)."),
    timeout: float = typer.Option(10.0, help="Seconds per request (connect + read)."),
    max_redirects: int = typer.Option(5, min=0, help="Redirects followed per image."),
    concurrency: int = typer.Option(64, min=1, help="Open requests per process."),
    host_concurrency: int = typer.Option(8, min=1, help="Open requests per host (politeness)."),
    host_rps: float = typer.Option(0.0, min=0, help="Request starts per second per host; 0 = no cap."),
    shard_by_host: bool = typer.Option(False, help="Put each site's (registrable domain's) URLs in one shard, so one worker owns the site and the per-host caps hold crawl-wide."),
    retries: int = typer.Option(2, min=0, help="Extra tries on 429/503 (honouring Retry-After)."),
    allow_loopback: bool = typer.Option(False, help="Admit 127.0.0.0/8 and ::1 (local servers, tests). Private, link-local and metadata addresses stay refused."),
    md5: bool = typer.Option(False, help="Also record md5 of the original bytes."),
    pdq: bool = typer.Option(True, help="Record the PDQ perceptual hash (for dedup and blocklists)."),
    conservative_robots: bool = typer.Option(True, help="Also refuse what robots.txt, ai.txt or bot-scoped tags deny to common AI-training crawlers (CCBot, GPTBot, Google-Extended, ClaudeBot, anthropic-ai, img2dataset)."),
    honour_noindex: bool = typer.Option(True, help="Treat noindex / noimageindex / none as a refusal, as img2dataset does."),
    registry: list[Path] = typer.Option([], help="Opt-out registry file (domains, URL prefixes, URLs); repeatable. Checked before any fetch."),
    blocklist: list[Path] = typer.Option([], help="Hash blocklist file (md5, sha256, URL hash, PDQ); repeatable. Checked before writing."),
    retry_failed: bool = typer.Option(False, help="Re-attempt rows of finished shards that failed for transient reasons (timeouts, 5xx, 429); never refused rows."),
    output_format: OutputFormat = typer.Option(OutputFormat.WEBDATASET, help="webdataset: NNNNN.tar; files: a folder NNNNN/ of files; parquet: images in the ledger parquet."),
    verify_hash: str = typer.Option("", metavar="COLUMN:ALGO", help="Fail rows whose bytes do not match the input's hash column (md5, sha256, sha512), e.g. sha256:sha256."),
    user_agent_token: str = typer.Option("", help="Appended to the User-Agent (GrassrootsBot/... stays first)."),
    runner: RunnerKind = typer.Option(RunnerKind.LOCAL, help=RUNNER_HELP),
    processes: int = typer.Option(_default_processes(), min=1, help="Worker processes (local) or Ray CPUs."),
    ray_address: Optional[str] = typer.Option(None, help="Join this Ray cluster (e.g. auto, ray://host:10001) instead of starting one."),
) -> None:
    """Download images into webdataset tar + parquet shards, honouring every opt-out.

    img2dataset's flags work too (--url_list, --output_folder, --thread_count ...; see README)."""
    import dataclasses
    import time

    from grassroots.fetch.client import FetchConfig
    from grassroots.imaging.resize import ImageConfig
    from grassroots.inputs import UrlListSpec
    from grassroots.report import print_stats
    from grassroots.rights.config import RightsConfig
    from grassroots.rights.gate import RightsGate
    from grassroots.runner import run_step
    from grassroots.stages import Download, Import
    from grassroots.stages.download import DownloadConfig

    try:
        image = ImageConfig(image_size=image_size, resize_mode=ResizeMode(resize_mode),
                            resize_only_if_bigger=resize_only_if_bigger, min_image_size=min_image_size,
                            max_aspect_ratio=max_aspect_ratio, encode_format=EncodeFormat(encode_format),
                            encode_quality=encode_quality, skip_reencode=skip_reencode, max_pixels=max_pixels)
    except ValueError as e:
        raise typer.BadParameter(str(e)) from None
    fetch = FetchConfig(allow_loopback=allow_loopback, timeout=timeout, max_bytes=max_bytes,
                        max_redirects=max_redirects, concurrency=concurrency, host_concurrency=host_concurrency,
                        host_rps=host_rps, retries=retries)
    if user_agent_token:
        fetch = dataclasses.replace(fetch, user_agent=f"{fetch.user_agent} {user_agent_token}")
    verify = None
    if verify_hash:
        col, _, algo = verify_hash.partition(":")
        verify = (col, (algo or "sha256").lower())
        keep_cols = ",".join(dict.fromkeys([*(c for c in keep_cols.split(",") if c.strip()), col]))
    from grassroots.takedown.lists import dataset_lists

    own_registry, own_blocklist = dataset_lists(str(output))  # what earlier takedowns removed
    if own_registry or own_blocklist:
        console.print(f"refusing what takedowns removed from {output}: {', '.join(own_registry + own_blocklist)}",
                      highlight=False)
    rights = RightsGate(RightsConfig(conservative_robots=conservative_robots, honour_noindex=honour_noindex,
                                     registry_paths=tuple(dict.fromkeys([*map(str, registry), *own_registry])),
                                     blocklist_paths=tuple(dict.fromkeys([*map(str, blocklist), *own_blocklist]))))
    config = DownloadConfig(fetch=fetch, image=image, samples_per_shard=samples_per_shard, md5=md5, pdq=pdq,
                            retry_failed=retry_failed, output_format=output_format, verify_hash=verify,
                            shard_by_host=shard_by_host)
    from grassroots import io

    from_dataset = io.isdir(input)
    stage = Download(config=config, rights=rights, source=input if from_dataset else None)
    started = time.monotonic()
    with _runner(runner, processes, ray_address).session() as run:
        if not from_dataset:
            spec = UrlListSpec(path=input, url_col=url_col, caption_col=caption_col or None,
                               keep_cols=tuple(c.strip() for c in keep_cols.split(",") if c.strip()),
                               input_format=input_format.value if input_format else None)
            run_step(Import(spec, samples_per_shard), str(output), run, progress=False)
        totals = run_step(stage, str(output), run)
    print_stats(console, f"download -> {output}", totals, time.monotonic() - started)
    _finish(output, totals)


def _finish(dataset: str, *totals) -> None:
    """Tell the user what needs action, then exit with the code that says what happened."""
    from grassroots.report import print_advice

    for t in totals:
        print_advice(console, str(dataset), t)
    if any(t.failed_shards for t in totals):
        n = sum(t.failed_shards for t in totals)
        console.print(f"[red]{n} shard(s) failed; rerun the same command to retry them.[/]")
        raise typer.Exit(EXIT_FAILED_SHARDS)
    last = totals[-1]
    if last.candidates and not last.kept:
        console.print(f"[red]{last.stage}: nothing kept: every one of {last.candidates} rows failed, "
                      "was refused or was filtered (exit code 3)[/]")
        raise typer.Exit(EXIT_NOTHING_KEPT)


@command()
def extract(
    inputs: list[str] = typer.Argument(..., help="WARC or WAT files (local paths, fsspec URLs or globs; gzip or not). One shard per file."),
    output: str = typer.Option(..., "-o", "--output", help="Dataset directory: writes candidates/NNNNN.parquet (rerun to resume)."),
    min_caption_chars: int = typer.Option(5, min=0, help="Drop images whose cleaned alt text is shorter (caption_too_short)."),
    min_declared_side: int = typer.Option(20, min=0, help="Drop images whose width or height attribute is below this many pixels (tracking pixels, icons); 0 = off."),
    url_patterns: bool = typer.Option(True, help="Drop icon/logo/sprite/spacer/tracker URLs (non_content_image)."),
    markup_hints: bool = typer.Option(True, help="Drop images whose class/id says icon, logo, sprite, tracking ... (non_content_image)."),
    context_chars: int = typer.Option(200, min=0, help="Keep up to this much nearby text (figcaption or parent); 0 = none."),
    max_page_bytes: int = typer.Option(8 << 20, min=1, help="Parse at most this many bytes of one HTML page."),
    detect_language: bool = typer.Option(True, help="Identify each page's language (page_lang)."),
    dedup: bool = typer.Option(True, help="Also drop (url, caption) pairs already found in another input file (duplicates are always dropped within a file)."),
    runner: RunnerKind = typer.Option(RunnerKind.LOCAL, help=RUNNER_HELP),
    processes: int = typer.Option(_default_processes(), min=1, help="Worker processes (local) or Ray CPUs."),
    ray_address: Optional[str] = typer.Option(None, help="Join this Ray cluster (e.g. auto, ray://host:10001) instead of starting one."),
) -> None:
    """Extract image-alt text candidates from Common Crawl WARC/WAT files (LAION rules)."""
    import time

    from grassroots.report import print_stats
    from grassroots.runner import run_step
    from grassroots.stages import Dedup, Extract

    stage = Extract(inputs=tuple(inputs), min_caption_chars=min_caption_chars,
                    min_declared_side=min_declared_side, url_patterns=url_patterns, markup_hints=markup_hints,
                    context_chars=context_chars, max_page_bytes=max_page_bytes, detect_language=detect_language)
    started = time.monotonic()
    with _runner(runner, processes, ray_address).session() as run:
        totals = run_step(stage, str(output), run)
        deduped = run_step(Dedup(), str(output), run) if dedup and not totals.failed_shards else None
    print_stats(console, f"extract -> {output}", totals, time.monotonic() - started)
    if deduped is not None:
        print_stats(console, "dedup across input files", deduped)
    _finish(output, totals)


@command("hash")
def hash_images(
    dataset: str = typer.Argument(..., help="A dataset directory with shards/ from download."),
    runner: RunnerKind = typer.Option(RunnerKind.LOCAL, help=RUNNER_HELP),
    processes: int = typer.Option(_default_processes(), min=1, help="Worker processes (local) or Ray CPUs."),
    ray_address: Optional[str] = typer.Option(None, help="Join this Ray cluster (e.g. auto, ray://host:10001) instead of starting one."),
) -> None:
    """Perceptual hashes (pHash, dHash) of every kept image -> attributes/imghash/NNNNN.parquet."""
    import time

    from grassroots.report import print_stats
    from grassroots.runner import run_step
    from grassroots.stages import Hash

    started = time.monotonic()
    totals = run_step(Hash(), str(dataset), _runner(runner, processes, ray_address))
    print_stats(console, f"hash -> {dataset}/attributes/{Hash.attribute}", totals, time.monotonic() - started)
    _finish(dataset, totals)


@command()
def embed(
    dataset: str = typer.Argument(..., help="A dataset directory with shards/ from download."),
    model: Optional[str] = typer.Option(None, "--model", help="open_clip architecture (e.g. ViT-B-32, grassroots-tiny); default: the one a `grassroots train` checkpoint records, else ViT-B-32."),
    checkpoint: Optional[Path] = typer.Option(None, help="Local weights: an open_clip state_dict, or a `grassroots train` checkpoint."),
    pretrained: Optional[str] = typer.Option(None, help="An open_clip pretrained tag (downloads from the hub; needs network)."),
    device: Device = typer.Option(Device.AUTO, help="auto: CUDA when visible, else the CPU."),
    precision: Precision = typer.Option(Precision.AUTO, help="auto: fp16 on CUDA; on a CPU, bf16 only where it measures faster than fp32."),
    batch_size: int = typer.Option(64, min=1, help="Images per forward pass."),
    runner: RunnerKind = typer.Option(RunnerKind.LOCAL, help=RUNNER_HELP),
    processes: int = typer.Option(1, min=1, help="Worker processes on the CPU (one per GPU when GPUs are visible) or Ray CPUs."),
    ray_address: Optional[str] = typer.Option(None, help="Join this Ray cluster (e.g. auto, ray://host:10001) instead of starting one."),
) -> None:
    """CLIP image + caption embeddings of every kept sample -> embeddings/<model-id>/ (clip-retrieval's layout)."""
    import os
    import time

    from grassroots.models.clip import ModelSpec
    from grassroots.models.pixels import close_feeds
    from grassroots.report import print_stats
    from grassroots.runner import LocalRunner, run_step
    from grassroots.stages import Embed
    from grassroots.stages.embed import EmbedConfig

    from grassroots.models.clip import checkpoint_arch

    model = model or checkpoint_arch(str(checkpoint) if checkpoint else None) or "ViT-B-32"
    spec = ModelSpec(model, str(checkpoint) if checkpoint else None, pretrained)
    threads = max(1, (os.cpu_count() or 1) // processes)
    step = Embed(EmbedConfig(spec, device.value, precision.value, batch_size, threads=threads))
    run = _runner(runner, processes, ray_address)
    try:
        if isinstance(run, LocalRunner) and run.inline(Embed.resources) and os.path.isdir(dataset):
            step.prefetch(dataset)  # decode the first shards while torch is imported and the model loads
        step = step.resolved()
        console.print(f"embed with {model} ({step.model_id}) on {step.why}", highlight=False)
        started = time.monotonic()
        totals = run_step(step, str(dataset), run)
        wall = time.monotonic() - started
    finally:
        close_feeds()  # an error leaves no decoding behind to wait for
    print_stats(console, f"embed -> {dataset}/embeddings/{step.model_id}", totals, wall)
    if totals.counters.get("pairs"):
        console.print(f"{totals.counters['pairs'] / wall:.1f} image+caption pairs/s", highlight=False)
    _finish(dataset, totals)


@command()
def score(
    dataset: str = typer.Argument(..., help="A dataset directory (or a release) with embeddings/."),
    embeddings: str = typer.Option(..., help="The model id under embeddings/ (what `grassroots embed` printed)."),
    head: list[str] = typer.Option([], help="A safety head NAME=FILE (e.g. nsfw=nsfw.safetensors); repeatable."),
    neardup: bool = typer.Option(True, help="Also cluster near-duplicate images (PDQ and embeddings)."),
    pdq_distance: int = typer.Option(31, min=-1, help="PDQ Hamming distance <= this is a near-duplicate (found for sure up to 15, mostly up to 31); -1: off."),
    cosine: float = typer.Option(0.95, min=0, max=1, help="Embedding cosine >= this is a near-duplicate; 0: off."),
    runner: RunnerKind = typer.Option(RunnerKind.LOCAL, help=RUNNER_HELP),
    processes: int = typer.Option(_default_processes(), min=1, help="Worker processes (local) or Ray CPUs."),
    ray_address: Optional[str] = typer.Option(None, help="Join this Ray cluster (e.g. auto, ray://host:10001) instead of starting one."),
) -> None:
    """Attribute tables beside the data: clip, caption, image, heads, neardup (select thresholds them)."""
    import time

    from grassroots.errors import InputError
    from grassroots.report import print_stats
    from grassroots.runner import run_step
    from grassroots.stages import NearDup, NearDupPairs, Score
    from grassroots.stages.neardup import NearDupConfig

    heads = []
    for h in head:
        name, sep, path = h.partition("=")
        if not sep or not name or not path:
            raise InputError(f"--head {h}", "expected NAME=FILE", "e.g. --head nsfw=nsfw.safetensors")
        heads.append((name, path))
    started = time.monotonic()
    with _runner(runner, processes, ray_address).session() as run:
        totals = [run_step(Score(embeddings, tuple(heads)), str(dataset), run)]
        if neardup:
            cfg = NearDupConfig(embeddings=embeddings, pdq_distance=pdq_distance, cosine=cosine)
            totals.append(run_step(NearDupPairs(cfg), str(dataset), run))
            totals.append(run_step(NearDup(), str(dataset), run))
    for t in totals:
        print_stats(console, f"{t.stage} -> {dataset}/attributes", t)
    console.print(f"scored in {time.monotonic() - started:.1f} s", highlight=False)
    _finish(dataset, *totals)


@command()
def select(
    dataset: str = typer.Argument(..., help="The dataset directory."),
    release: str = typer.Option(..., help="Name of the release to write: releases/<name>/ (v1, v2 ...)."),
    where: str = typer.Option(..., help="Boolean expression over attribute columns, e.g. \"clip >= 0.28 AND neardup_representative\"."),
    from_release: Optional[str] = typer.Option(None, "--from", help="Select from this release instead of the whole dataset."),
    dry_run: bool = typer.Option(False, help="Only print how many samples each clause would drop."),
    overwrite: bool = typer.Option(False, help="Replace the release if it exists."),
    runner: RunnerKind = typer.Option(RunnerKind.LOCAL, help=RUNNER_HELP),
    processes: int = typer.Option(_default_processes(), min=1, help="Worker processes (local) or Ray CPUs."),
    ray_address: Optional[str] = typer.Option(None, help="Join this Ray cluster (e.g. auto, ray://host:10001) instead of starting one."),
) -> None:
    """Make a release: the samples that pass --where, with their ledger, attributes and embeddings."""
    from grassroots.layout import DatasetDir
    from grassroots.report import print_stats
    from grassroots.stages.select import dry_run as count_drops
    from grassroots.stages.select import make_release

    if dry_run:
        parent = DatasetDir(str(dataset)).release(from_release).root if from_release else str(dataset)
        total, selected, drops = count_drops(parent, where)
        console.print(f"{selected} of {total} samples would be selected", highlight=False)
        for clause, n in drops.most_common():
            console.print(f"  filtered:{clause:<24} {n:>8}", highlight=False)
        return
    target, totals = make_release(str(dataset), release, where, _runner(runner, processes, ray_address),
                                  parent_release=from_release, overwrite=overwrite)
    print_stats(console, f"select -> {target}", totals)
    _finish(target, totals)


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
    purge_parent: bool = typer.Option(False, help="Then delete the --from release atomically."),
    runner: RunnerKind = typer.Option(RunnerKind.LOCAL, help=RUNNER_HELP),
    processes: int = typer.Option(_default_processes(), min=1, help="Worker processes (local) or Ray CPUs."),
    ray_address: Optional[str] = typer.Option(None, help="Join this Ray cluster (e.g. auto, ray://host:10001) instead of starting one."),
) -> None:
    """Write a release without the samples asked to be removed: tars, ledger, attributes, embeddings, index."""
    from grassroots.layout import DatasetDir
    from grassroots.report import print_stats
    from grassroots.takedown.release import make_takedown
    from grassroots.takedown.requests import build_ask

    layout = DatasetDir(str(dataset))
    ask = build_ask(layout.takedown_requests if requests else None,
                    {"urls": urls, "domains": domains, "sha256": sha256, "md5": md5, "pdq": pdq, "keys": keys})
    res = make_takedown(str(dataset), from_release, release, ask, _runner(runner, processes, ray_address),
                        purge_parent=purge_parent)
    print_stats(console, f"takedown {from_release} -> {res.release}", res.totals)
    if res.record is not None:
        rec = res.record
        console.print(f"removed {rec['counts']['removed']} samples ({res.release}/takedown_removed.txt); "
                      f"{len(rec['requests'])} requests handled; index: {rec['index']}", highlight=False)
        console.print(f"later downloads refuse them: {rec['lists_appended']['registry']}, "
                      f"{rec['lists_appended']['blocklist']}", highlight=False)
        if rec["parent_purged"]:
            console.print(f"deleted {layout.release(from_release).root}", highlight=False)
    _finish(Path(res.release), res.totals)


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

    from grassroots.errors import InputError
    from grassroots.layout import DatasetDir
    from grassroots.report import print_stats
    from grassroots.runner import run_step
    from grassroots.stages import Index

    target = DatasetDir(str(dataset)).release(release).root
    if not Path(target).exists():
        raise InputError(target, "no such release", "make one with `grassroots select`")
    step = Index.resolved(target, embeddings, exact_max)
    started = time.monotonic()
    totals = run_step(step, target, _runner(runner, 1, ray_address))
    print_stats(console, f"index -> {target}/index/{step.embeddings}", totals, time.monotonic() - started)
    _finish(Path(target), totals)


@command()
def serve(
    dataset: Path = typer.Argument(..., help="The dataset directory."),
    release: str = typer.Option("v1", help="The release to search (indexed with `grassroots index`)."),
    embeddings: Optional[str] = typer.Option(None, help="The model id of the index (default: the release's only one)."),
    host: str = typer.Option("127.0.0.1", help="Address to listen on (0.0.0.0 exposes it to the network)."),
    port: int = typer.Option(8000, min=1, max=65535, help="Port to listen on."),
    max_upload_mb: float = typer.Option(8.0, min=0.01, help="Largest image upload accepted (MB)."),
    safety_threshold: float = typer.Option(0.5, min=0, max=1, help="Hide samples whose safety-head probability is >= this (when safe=true, the default)."),
    optout_per_hour: int = typer.Option(30, min=1, help="Opt-out requests one client may file per hour."),
    model: bool = typer.Option(True, help="Load the release's model for text and image queries (--no-model: vector queries only)."),
) -> None:
    """Search API + page for a release: text/image search, find my work, opt-out requests."""
    from grassroots.serve.app import create_app
    from grassroots.serve.config import ServeConfig

    import uvicorn

    config = ServeConfig(str(dataset), release, embeddings, max_upload_bytes=int(max_upload_mb * 1024 * 1024),
                         safety_threshold=safety_threshold, optout_per_window=optout_per_hour,
                         optout_window_seconds=3600.0, load_model=model)
    app_ = create_app(config)
    console.print(f"serving {dataset}/releases/{release} on http://{host}:{port}/", highlight=False)
    uvicorn.run(app_, host=host, port=port, log_level="warning")


@command("train-head")
def train_head(
    dataset: Path = typer.Argument(..., help="A dataset directory with embeddings/."),
    embeddings: str = typer.Option(..., help="The model id under embeddings/."),
    labels: Path = typer.Option(..., help="Parquet (or csv) with columns key, label (0/1)."),
    output: Path = typer.Option(..., "-o", "--output", help="Head file to write (.safetensors)."),
    name: str = typer.Option("nsfw", help="What the head scores: its attribute table's name."),
    hidden: int = typer.Option(0, min=0, help="0: logistic regression; N: a 2-layer MLP with N hidden units."),
    epochs: int = typer.Option(300, min=1, help="Full-batch training steps."),
) -> None:
    """Train a safety head (nsfw, watermark ...) on image embeddings; prints the held-out AUC."""
    from grassroots.models.train_head import train_head_from_dataset

    head = train_head_from_dataset(str(dataset), embeddings, str(labels), str(output), name, hidden, epochs)
    console.print(f"wrote {output}: {name} head on {embeddings}, held-out AUC {head.auc:.3f}", highlight=False)


@command()
def train(
    source: Path = typer.Argument(..., help="A release (DATASET/releases/vN) or a dataset with shards/ to train on."),
    output: Path = typer.Option(..., "-o", "--output", help="Run directory: run.json, log.jsonl, checkpoints/last.pt."),
    recipe: str = typer.Option("tiny", help="tiny (CPU minutes) | small (one GPU, < 1 h) | vit-b-32 (clusters); README \"Train\"."),
    minutes: Optional[float] = typer.Option(None, min=0.01, help="Train for about this long (steps fixed from measured speed)."),
    steps: Optional[int] = typer.Option(None, min=1, help="Train for exactly this many steps."),
    epochs: Optional[float] = typer.Option(None, min=0.01, help="Train for this many passes over the samples."),
    batch_size: Optional[int] = typer.Option(None, min=2, help="Samples per step (per GPU under torchrun); default: the recipe's."),
    lr: Optional[float] = typer.Option(None, min=0.0, help="Peak learning rate; default: the recipe's."),
    resume: bool = typer.Option(False, help="Continue the run in --output from its last checkpoint, at the exact sample."),
    device: Device = typer.Option(Device.AUTO, help="auto: CUDA when visible, else the CPU."),
    precision: Precision = typer.Option(Precision.AUTO, help="auto: fp16 AMP on CUDA; on a CPU, bf16 autocast only where a training step of the model measures >= 1.1x faster than fp32."),
    seed: int = typer.Option(0, help="Seed of the weights and the data order."),
    checkpoint_every: int = typer.Option(0, min=0, help="Checkpoint every N steps (0: about every two minutes); always at the end."),
    init: Optional[Path] = typer.Option(None, help="Start from these weights (an open_clip checkpoint) instead of random ones."),
    workers: int = typer.Option(0, min=0, help="Image decoding processes (0: one per core)."),
) -> None:
    """Train a CLIP model on a release: open_clip configs and loss, AdamW, warm-up + cosine, resumable."""
    from grassroots.train.loop import TrainConfig, train as run_training

    if sum(x is not None for x in (minutes, steps, epochs)) > 1:
        raise typer.BadParameter("give at most one of --minutes, --steps, --epochs")
    cfg = TrainConfig(str(source), str(output), recipe, minutes, steps, epochs, batch_size, lr, resume,
                      device.value, precision.value, seed, checkpoint_every, init=str(init) if init else None,
                      workers=workers)
    res = run_training(cfg, console)
    console.print(f"trained {res.arch}: {res.steps:,} steps, {res.samples_seen:,} samples seen, final loss "
                  f"{res.loss:.3f}, {res.samples_per_second:,.0f} samples/s -> {res.checkpoint}", highlight=False)
    console.print(f"use it: grassroots embed DATASET --model {res.arch} --checkpoint {res.checkpoint}",
                  highlight=False)


@command("eval")
def eval_checkpoint(
    checkpoint: str = typer.Argument(..., help="Weights: an open_clip state_dict or a `grassroots train` checkpoint (or a pretrained tag with --pretrained-tag)."),
    model: Optional[str] = typer.Option(None, "--model", help="The checkpoint's open_clip architecture (e.g. ViT-B-32); default: the one a `grassroots train` checkpoint records, else grassroots-tiny."),
    zeroshot: Optional[str] = typer.Option(None, "--zeroshot", help="Zero-shot classification set: a folder of class subfolders, a path,label CSV, or a dataset/release with a label column."),
    templates: Optional[str] = typer.Option(None, "--templates", help="Prompt templates: scenes, photo, openai, or a file (.txt one per line, .json list). Default: the folder's zeroshot_classification_templates.txt, else openai."),
    label_column: str = typer.Option("label", "--label-column", help="Shards: the ledger column holding each sample's class."),
    classnames: Optional[Path] = typer.Option(None, "--classnames", help="CSV/shards: the classes, one per line (classes without images still compete)."),
    retrieval: Optional[Path] = typer.Option(None, "--retrieval", help="A dataset or release: image<->caption recall@1/5/10 over its kept samples."),
    output: str = typer.Option(..., "-o", "--output", help="Result JSON (CLIP_benchmark's format); may hold {task} {dataset} {model} {pretrained} {language}, and must hold {task} when both tasks run."),
    pretrained_tag: bool = typer.Option(False, "--pretrained-tag", help="CHECKPOINT is an open_clip pretrained tag (downloads from the hub; needs network)."),
    device: Device = typer.Option(Device.AUTO, help="auto: CUDA when visible, else the CPU."),
    precision: Precision = typer.Option(Precision.AUTO, help="auto: fp16 on CUDA; on a CPU, bf16 only where it measures faster than fp32."),
    batch_size: int = typer.Option(64, "--batch-size", min=1, help="Images per forward pass."),
) -> None:
    """Zero-shot classification and retrieval of a CLIP checkpoint -> CLIP_benchmark result JSON."""
    from grassroots.eval import EvalConfig, ZeroShotSpec, evaluate
    from grassroots.models.clip import ModelSpec

    from grassroots.models.clip import checkpoint_arch

    model = model or (None if pretrained_tag else checkpoint_arch(checkpoint)) or "grassroots-tiny"
    spec = ModelSpec(model, pretrained=checkpoint) if pretrained_tag else ModelSpec(model, checkpoint)
    config = EvalConfig(
        model=spec, output=output, retrieval=str(retrieval) if retrieval else None, templates=templates,
        zeroshot=ZeroShotSpec(zeroshot, label_column, str(classnames) if classnames else None) if zeroshot else None,
        device=device.value, precision=precision.value, batch_size=batch_size)
    for r in evaluate(config, log=lambda line: console.print(line, highlight=False, soft_wrap=True)):
        numbers = "  ".join(f"{k} {v:.4f}" for k, v in r.metrics.items())
        console.print(f"{r.task.value} on {r.dataset}: {numbers}", highlight=False, soft_wrap=True)
        for note in r.notes:
            console.print(f"  {note}", highlight=False, soft_wrap=True)
        console.print(f"  -> {r.path}", highlight=False, soft_wrap=True)


model_app = typer.Typer(help="Model weights: make a random-initialised checkpoint.", no_args_is_help=True,
                        rich_markup_mode=None)
app.add_typer(model_app, name="model")


@model_app.command("init")
@_one_line_errors
def model_init(
    output: Path = typer.Option(..., "-o", "--output", help="Checkpoint file to write (open_clip state_dict)."),
    model: str = typer.Option("grassroots-tiny", "--model", help="open_clip architecture or grassroots-tiny."),
    seed: int = typer.Option(0, help="Seed of the random weights."),
) -> None:
    """Random-initialised weights of an architecture (tests, benchmarks, the start of training)."""
    from grassroots.models.clip import init_checkpoint

    sha = init_checkpoint(model, str(output), seed)
    console.print(f"wrote {output} ({model}, random weights, seed {seed}, sha256 {sha[:12]})", highlight=False)


@command()
def demo(
    out: Path = typer.Option(Path("demo-out"), "--out", help="Where to write the crawl and the dataset (replaced if it is an earlier demo's)."),
    runner: RunnerKind = typer.Option(RunnerKind.LOCAL, help=RUNNER_HELP),
    size: str = typer.Option("medium", help="tiny | small | medium | large: how many pages the mini-web serves."),
    processes: int = typer.Option(_default_processes(), min=1, help="Worker processes (local) or Ray CPUs."),
    seed: int = typer.Option(0, help="Seed of the mini-web's content and of the models."),
    models: bool = typer.Option(True, help="Then the model half: train CLIP v0, filter, train v1, eval, index, serve, takedown, card."),
    train_minutes: float = typer.Option(1.0, min=0.05, help="Training time of model v0 (v1 gets the same steps)."),
) -> None:
    """The whole loop on the built-in mini-web: crawl -> extract -> download with rights -> embed ->
    train our own CLIP -> filter with it -> train again -> eval -> index + serve -> takedown -> card."""
    from grassroots.demo import DemoConfig, print_report, run_demo

    started = time.monotonic()
    res = run_demo(DemoConfig(out=str(out), runner=RunnerKind(runner).value, processes=processes, size=size,
                              seed=seed), console)
    print_report(res, console, next_steps=not models)
    if res.truth_matched != res.truth_total:
        raise typer.Exit(1)
    if models:
        from grassroots.demo_models import LoopConfig, print_loop_report, run_model_loop
        from grassroots.runner import make_runner

        console.print("\n[bold]the model half[/]: no downloaded weights; every model below is trained here")
        with make_runner(RunnerKind(runner).value, processes, None).session() as pool:
            loop = run_model_loop(res.dataset, res.truth, str(out), pool,
                                  LoopConfig(train_minutes=train_minutes, processes=processes, seed=seed),
                                  lambda msg: console.print(msg, highlight=False))
        print_loop_report(res, loop, console, time.monotonic() - started)


def main() -> None:
    """The console script (through grassroots.__main__, which guards the imports).
    An interrupt anywhere ends with exit 130 and the line: inside a command the
    wrapper says it; before one starts (building or parsing the command line) typer
    turns the KeyboardInterrupt into a silent exit 130, which is caught here."""
    import signal

    from grassroots.img2dataset_compat import CompatError, translate

    signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM ends a run like Ctrl-C
    try:
        try:
            args, notes = translate(sys.argv[1:])
        except CompatError as e:
            console.print(f"[bold red]error:[/] {e}", soft_wrap=True, highlight=False)
            sys.exit(EXIT_BAD_INPUT)
        for note in notes:
            console.print(f"[dim]{note}[/]", highlight=False)
        app(args=args, prog_name="grassroots")
    except KeyboardInterrupt:
        say_interrupted()
        sys.exit(EXIT_INTERRUPTED)
    except SystemExit as e:
        if e.code == EXIT_INTERRUPTED and not _interrupt_said:
            say_interrupted()
        raise


if __name__ == "__main__":
    main()
