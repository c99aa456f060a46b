"""The pipeline's commands: extract, download, hash, safety, concepts, embed, score, stats, and the demo."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Optional

import typer

from grassroots.cli.common import RUNNER_HELP, Device, Precision, SafetyPrecision, command, console, default_processes, finish, runner_of
from grassroots.demo_models import DEMO_TRAIN_STEPS
from grassroots.imaging import EncodeFormat, ResizeMode
from grassroots.inputs import InputFormat
from grassroots.runner import RunnerKind
from grassroots.writer import OutputFormat


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
    blocklist: list[Path] = typer.Option([], help="Hash blocklist file (md5, sha1, sha256, URL hash, PDQ; one hash a line with or without a type, or CSV/TSV with a hash column); repeatable. Checked before writing."),
    illegal_list: list[Path] = typer.Option([], help="Hash list of illegal content (e.g. CSAM hash lists; the same formats): matched on the original bytes before writing, a hit is recorded with hashes only; repeatable."),
    retry_failed: bool = typer.Option(False, help="Re-attempt rows of finished shards that failed for transient reasons (timeouts, 5xx, 429); never refused rows."),
    output_format: OutputFormat = typer.Option(OutputFormat.WEBDATASET, help="webdataset: NNNNN.tar; files: a folder NNNNN/ of files; parquet: images in the ledger parquet."),
    verify_hash: str = typer.Option("", metavar="COLUMN:ALGO", help="Fail rows whose bytes do not match the input's hash column (md5, sha256, sha512), e.g. sha256:sha256."),
    user_agent_token: str = typer.Option("", help="Appended to the User-Agent (GrassrootsBot/... stays first)."),
    runner: RunnerKind = typer.Option(RunnerKind.LOCAL, help=RUNNER_HELP),
    processes: int = typer.Option(default_processes(), min=1, help="Worker processes (local) or Ray CPUs."),
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
                                     blocklist_paths=tuple(dict.fromkeys([*map(str, blocklist), *own_blocklist])),
                                     illegal_list_paths=tuple(map(str, illegal_list))))
    config = DownloadConfig(fetch=fetch, image=image, samples_per_shard=samples_per_shard, md5=md5, pdq=pdq,
                            retry_failed=retry_failed, output_format=output_format, verify_hash=verify,
                            shard_by_host=shard_by_host)
    from grassroots import io

    from_dataset = io.isdir(input)
    stage = Download(config=config, rights=rights, source=input if from_dataset else None)
    started = time.monotonic()
    with runner_of(runner, processes, ray_address).session() as run:
        if not from_dataset:
            spec = UrlListSpec(path=input, url_col=url_col, caption_col=caption_col or None,
                               keep_cols=tuple(c.strip() for c in keep_cols.split(",") if c.strip()),
                               input_format=input_format.value if input_format else None)
            run_step(Import(spec, samples_per_shard), str(output), run, progress=False)
        totals = run_step(stage, str(output), run)
    print_stats(console, f"download -> {output}", totals, time.monotonic() - started)
    finish(output, totals)


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
    processes: int = typer.Option(default_processes(), min=1, help="Worker processes (local) or Ray CPUs."),
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
    with runner_of(runner, processes, ray_address).session() as run:
        totals = run_step(stage, str(output), run)
        deduped = run_step(Dedup(), str(output), run) if dedup and not totals.failed_shards else None
    print_stats(console, f"extract -> {output}", totals, time.monotonic() - started)
    if deduped is not None:
        print_stats(console, "dedup across input files", deduped)
    finish(output, totals)


@command("hash")
def hash_images(
    dataset: str = typer.Argument(..., help="A dataset directory with shards/ from download."),
    runner: RunnerKind = typer.Option(RunnerKind.LOCAL, help=RUNNER_HELP),
    processes: int = typer.Option(default_processes(), min=1, help="Worker processes (local) or Ray CPUs."),
    ray_address: Optional[str] = typer.Option(None, help="Join this Ray cluster (e.g. auto, ray://host:10001) instead of starting one."),
) -> None:
    """Perceptual hashes (pHash, dHash) of every kept image -> attributes/imghash/NNNNN.parquet."""
    import time

    from grassroots.report import print_stats
    from grassroots.runner import run_step
    from grassroots.stages import Hash

    started = time.monotonic()
    totals = run_step(Hash(), str(dataset), runner_of(runner, processes, ray_address))
    print_stats(console, f"hash -> {dataset}/attributes/{Hash.attribute}", totals, time.monotonic() - started)
    finish(dataset, totals)


@command()
def safety(
    dataset: str = typer.Argument(..., help="A dataset directory with shards/ from download."),
    batch_size: int = typer.Option(16, min=1, help="Images per model call."),
    precision: SafetyPrecision = typer.Option(SafetyPrecision.AUTO, help="auto: where the CPU computes bf16 natively, a bf16 pass sorts out the images with nothing in them and the rest run in fp32 (the same scores as fp32, faster); fp32: every image through onnxruntime in fp32, as NudeNet runs."),
    runner: RunnerKind = typer.Option(RunnerKind.LOCAL, help=RUNNER_HELP),
    processes: int = typer.Option(1, min=1, help="Worker processes (local) or Ray CPUs; each runs its share of the cores' threads. One process with every core's threads is the fastest on one machine (the model's threads scale, and no shard waits for a busy worker)."),
    ray_address: Optional[str] = typer.Option(None, help="Join this Ray cluster (e.g. auto, ray://host:10001) instead of starting one."),
) -> None:
    """NudeNet's 18 body-part classes + nsfw, and caption_offensive, of every kept sample -> attributes/safety/."""
    import os

    from grassroots.report import print_stats
    from grassroots.runner import run_step
    from grassroots.stages import Safety

    threads = max(1, (os.cpu_count() or 1) // processes)
    started = time.monotonic()
    totals = run_step(Safety(threads=threads, batch_size=batch_size, precision=precision.value), str(dataset), runner_of(runner, processes, ray_address))
    wall = time.monotonic() - started
    print_stats(console, f"safety -> {dataset}/attributes/{Safety.attribute}", totals, wall)
    if totals.counters.get("images"):
        console.print(f"{totals.counters['images'] / wall:.1f} images/s", highlight=False)
    finish(dataset, totals)


@command()
def concepts(
    dataset: str = typer.Argument(..., help="A dataset directory with shards/ from download."),
    entries: Optional[str] = typer.Option(None, help="Entry list: a file, one concept per line (# comments), or 'default' (wordfreq's 20,000 most frequent words of --languages)."),
    entries_from_eval: list[Path] = typer.Option([], help="Add an eval set's class names (any set `grassroots eval --zeroshot` reads: a folder of class subfolders, a CSV, a dataset); repeatable (DataComp's text-based filter)."),
    languages: str = typer.Option("en", help="With --entries default: the languages' word lists, comma-separated."),
    runner: RunnerKind = typer.Option(RunnerKind.LOCAL, help=RUNNER_HELP),
    processes: int = typer.Option(default_processes(), min=1, help="Worker processes (local) or Ray CPUs."),
    ray_address: Optional[str] = typer.Option(None, help="Join this Ray cluster (e.g. auto, ray://host:10001) instead of starting one."),
) -> None:
    """The concept entries in every kept caption (MetaCLIP's matching) -> attributes/concepts/ (then `select --balance`)."""
    from grassroots.errors import InputError
    from grassroots.eval.data import ZeroShotSpec, load_classification
    from grassroots.report import print_stats
    from grassroots.runner import run_step
    from grassroots.stages import Concepts
    from grassroots.stages.concepts import default_entries, read_entries, write_entries

    if entries is None and not entries_from_eval:
        raise InputError("--entries", "no entry list", "pass --entries FILE, --entries default or --entries-from-eval FOLDER")
    found = ([] if entries is None else default_entries(languages.split(",")) if entries == "default"
             else read_entries(entries))
    for source in entries_from_eval:  # any eval set `grassroots eval --zeroshot` reads: its class names
        found += list(load_classification(ZeroShotSpec(str(source))).classnames)
    digest = write_entries(dataset, found)
    started = time.monotonic()
    totals = run_step(Concepts(digest), dataset, runner_of(runner, processes, ray_address))
    wall = time.monotonic() - started
    print_stats(console, f"concepts -> {dataset}/attributes/concepts ({len(set(found))} entries)", totals, wall)
    if totals.candidates:
        console.print(f"{totals.counters.get('matched', 0)} of {totals.candidates} captions match an entry; "
                      f"{totals.candidates / wall:.0f} captions/s", highlight=False)
    finish(dataset, totals)


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
    run = runner_of(runner, processes, ray_address)
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
    finish(dataset, totals)


@command()
def score(
    dataset: str = typer.Argument(..., help="A dataset directory (or a release) with embeddings/."),
    embeddings: str = typer.Option(..., help="The model id under embeddings/ (what `grassroots embed` printed)."),
    head: list[str] = typer.Option([], help="A safety head NAME=FILE (e.g. nsfw=nsfw.safetensors); repeatable."),
    neardup: bool = typer.Option(True, help="Also cluster near-duplicate images (PDQ and embeddings)."),
    pdq_distance: int = typer.Option(31, min=-1, help="PDQ Hamming distance <= this is a near-duplicate (found for sure up to 15, mostly up to 31); -1: off."),
    cosine: float = typer.Option(0.95, min=0, max=1, help="Embedding cosine >= this is a near-duplicate; 0: off. Not used for a model where more than 1% of random pairs pass it (PDQ only; the console says so)."),
    runner: RunnerKind = typer.Option(RunnerKind.LOCAL, help=RUNNER_HELP),
    processes: int = typer.Option(default_processes(), min=1, help="Worker processes (local) or Ray CPUs."),
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
    with runner_of(runner, processes, ray_address).session() as run:
        totals = [run_step(Score(embeddings, tuple(heads)), str(dataset), run)]
        if neardup:
            cfg = NearDupConfig(embeddings=embeddings, pdq_distance=pdq_distance, cosine=cosine)
            totals.append(run_step(NearDupPairs(cfg), str(dataset), run))
            totals.append(run_step(NearDup(), str(dataset), run))
    for t in totals:
        print_stats(console, f"{t.stage} -> {dataset}/attributes", t)
    console.print(f"scored in {time.monotonic() - started:.1f} s", highlight=False)
    finish(dataset, *totals)


@command()
def demo(
    out: Path = typer.Option(Path("demo-out"), "--out", help="Where to write the crawl and the dataset (replaced if it is an earlier demo's)."),
    runner: RunnerKind = typer.Option(RunnerKind.LOCAL, help=RUNNER_HELP),
    size: str = typer.Option("medium", help="tiny | small | medium | large: how many pages the mini-web serves."),
    processes: int = typer.Option(default_processes(), min=1, help="Worker processes (local) or Ray CPUs."),
    seed: int = typer.Option(0, help="Seed of the mini-web's content and of the models."),
    models: bool = typer.Option(True, help="Then the model half: train CLIP v0, filter, train v1, eval, index, serve, takedown, card."),
    train_steps: int = typer.Option(DEMO_TRAIN_STEPS, min=1, help="Training steps of each model (batch 128): fixed, so the same seed gives the same figures on a quiet or a busy machine."),
    train_minutes: Optional[float] = typer.Option(None, min=0.05, help="Train model v0 for this long instead (v1 gets the same steps); the figures then depend on how busy the machine is."),
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
                                  LoopConfig(train_steps=train_steps, train_minutes=train_minutes,
                                             processes=processes, seed=seed),
                                  lambda msg: console.print(msg, highlight=False))
        print_loop_report(res, loop, console, time.monotonic() - started)
