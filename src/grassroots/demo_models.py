"""grassroots demo, the model half: a CLIP model from nothing, used to filter,
search and take down, and the cards written from the ledger.

    embed (random weights) -> safety (NudeNet, alt-profanity-check) -> train v0 on
    everything -> embed + score with v0 -> select release v1 by v0's CLIP score and
    nsfw < 0.5 -> train v1 on v1 (same steps)
    -> held-out zero-shot of v0 and v1 -> index v1 -> serve, file an opt-out
    through the API -> takedown: release v2 -> card of v2

Nothing is downloaded: the first model is random, the next ones are ours. The
mini-web's ground truth says which alt texts do not describe their image
(``mismatch``), so the filter's precision and recall are measured, not guessed.
"""

from __future__ import annotations

import json
import os
import statistics
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from grassroots import io
from grassroots.layout import DatasetDir
from grassroots.ledger import read_samples

TINY_EMBED_ARCH = "grassroots-tiny"  # the random-weights model of the first embed
# Training steps of each model (batch 128) when no time budget is given: a fixed number,
# so a seed gives the same models and figures on a quiet and on a busy machine (only the
# time changes). Chosen with bench/bootstrap_seeds.py --size medium (the demo's web):
# see the README's demo section for the figures over seeds and the time it takes.
DEMO_TRAIN_STEPS = 120
# What one run cannot show: the bootstrap over seeds (bench/bootstrap_seeds.py, README
# "The bootstrap over seeds"), printed beside this run's figures so one noisy run is
# never read as the result.
BOOTSTRAP_OVER_SEEDS = "+17.6 ± 13.2 points over 5 seeds (400 steps, large web; bench/bootstrap_seeds.py)"


@dataclass(frozen=True)
class LoopConfig:
    train_steps: int = DEMO_TRAIN_STEPS  # per model (v1 gets v0's number of steps)
    train_minutes: float | None = None  # instead of steps: a time budget (the figures then depend on the load)
    batch_size: int = 128
    drop_share: float = 0.25  # the lowest CLIP scores dropped by the selection
    heldout_per_class: int = 20
    processes: int = 2
    seed: int = 0
    progress: bool = True


@dataclass
class LoopResult:
    v0: dict  # steps, seconds, checkpoint, heldout top-1/top-5
    v1: dict
    threshold: float
    filter_precision: float
    filter_recall: float
    mismatched: int
    dropped: int
    release_v1: int
    release_v2: int
    search_ms_p50: float
    optout_id: str
    takedown_removed: int
    card_dir: str
    serve_command: str
    safety: dict = field(default_factory=dict)  # the safety step: seconds, images, nsfw, offensive flagged


def run_model_loop(dataset: str, truth: list[dict], out: str, runner, cfg: LoopConfig, say) -> LoopResult:
    from grassroots.models.clip import init_checkpoint

    layout = DatasetDir(dataset)
    random_ckpt = str(Path(out) / "models" / "random-init.pt")
    init_checkpoint(TINY_EMBED_ARCH, random_ckpt, seed=cfg.seed)
    t0 = time.monotonic()
    random_id = _embed(TINY_EMBED_ARCH, random_ckpt, dataset, runner, cfg)
    say(f"[bold]5. embed[/] every kept image and caption with random weights ({random_id}, "
        f"{time.monotonic() - t0:.1f} s): no downloaded model anywhere")
    safety = _safety(dataset, runner, cfg)
    say(f"[bold]5b. safety[/] NudeNet and alt-profanity-check (weights inside their packages) on "
        f"{safety['images']} images in {safety['seconds']:.1f} s ({safety['images'] / max(safety['seconds'], 1e-9):.0f} "
        f"images/s): {safety['nsfw']} flagged nsfw >= 0.5, {safety['offensive']} captions offensive >= 0.5; "
        f"release v1 keeps nsfw < 0.5")

    heldout = _heldout(out, cfg)  # its class names are the concept entries; step 9 evaluates on it
    matched, captions = _concepts(dataset, heldout, runner, cfg)
    say(f"[bold]5c. concepts[/] the held-out set's 32 (colour, shape) names looked for in every caption "
        f"(MetaCLIP's matching; `select --balance` would cap them): {matched} of {captions} captions name one; "
        f"the card plots them")

    boot = bootstrap(dataset, truth, out, runner, cfg, say, heldout)
    index_model = _index(boot.release_v1, boot.v0_id, runner, cfg)
    latency, optout = _serve_and_opt_out(dataset, boot.release_v1, index_model)
    say(f"[bold]10. index + serve[/] release v1 ({index_model}): text search p50 {latency:.1f} ms through "
        f"the HTTP API; an opt-out request {optout['id']} filed through it for "
        f"{optout['remove']['urls'][0]}")

    from grassroots.releases import make_takedown
    from grassroots.takedown.requests import build_ask

    td = make_takedown(dataset, "v1", "v2", build_ask(layout.takedown_requests, {}), runner, progress=cfg.progress)
    removed = td.record.counts.removed if td.record else 0
    say(f"[bold]11. takedown[/] release v2 = v1 without {removed} sample(s) (and their copies): tars, ledger, "
        f"embeddings, attributes and index; purged from the dataset and v1 too, every later step skips them, "
        f"later downloads refuse them ({td.release}/takedown.json)")

    from grassroots.card import write_card

    write_card(dataset, "v2")
    card_dir = DatasetDir(dataset).release("v2").card_dir
    say(f"[bold]12. card[/] {card_dir}: README.md (Hugging Face card), DATASHEET.md, "
        f"EU_PUBLIC_SUMMARY.md, plots/ — every number from the ledger")
    v2_kept = sum(r["status"] == "success" for r in read_samples(td.release, ["key", "status"]))
    return LoopResult(
        v0={"steps": boot.v0.steps, "batch_size": cfg.batch_size, "checkpoint": boot.v0.checkpoint, **boot.acc["v0"]},
        v1={"steps": boot.v1.steps, "checkpoint": boot.v1.checkpoint, **boot.acc["v1"]},
        threshold=boot.threshold, filter_precision=boot.precision, filter_recall=boot.recall,
        mismatched=boot.mismatched, dropped=boot.dropped, release_v1=boot.kept, release_v2=v2_kept,
        search_ms_p50=latency, optout_id=optout["id"], takedown_removed=removed, card_dir=card_dir,
        serve_command=f"grassroots serve {dataset} --release v2", safety=safety)


def _safety(dataset: str, runner, cfg: LoopConfig) -> dict:
    """The safety step on every kept sample: seconds, images, flagged at 0.5."""
    import pyarrow as pa

    from grassroots.runner import LocalRunner, run_step
    from grassroots.stages import Safety

    t0 = time.monotonic()
    threads = max(1, (os.cpu_count() or 1) // cfg.processes)
    if isinstance(runner, LocalRunner):  # as `grassroots safety` by default: one process with every core's threads
        runner, threads = LocalRunner(processes=1), os.cpu_count() or 1
    totals = run_step(Safety(threads=threads), dataset, runner, progress=cfg.progress)
    seconds = time.monotonic() - t0
    files = sorted(io.glob(DatasetDir(dataset).attribute_shards_glob(Safety.attribute)))
    t = pa.concat_tables([pq.read_table(f, columns=["nsfw", "caption_offensive"]) for f in files])
    nsfw, off = (np.nan_to_num(t.column(c).to_numpy(zero_copy_only=False).astype(float)) for c in t.column_names)
    return {"seconds": seconds, "images": int(totals.counters.get("images", 0)),
            "nsfw": int((nsfw >= 0.5).sum()), "offensive": int((off >= 0.5).sum())}


def _concepts(dataset: str, heldout: str, runner, cfg: LoopConfig) -> tuple[int, int]:
    """The concepts step with the eval set's class names as entries (`grassroots concepts
    --entries-from-eval`): (captions matching an entry, captions)."""
    from grassroots.eval.data import ZeroShotSpec, load_classification
    from grassroots.runner import run_step
    from grassroots.stages import Concepts
    from grassroots.stages.concepts import write_entries

    digest = write_entries(dataset, load_classification(ZeroShotSpec(heldout)).classnames)
    totals = run_step(Concepts(digest), dataset, runner, progress=cfg.progress)
    return int(totals.counters.get("matched", 0)), totals.candidates


@dataclass
class Bootstrap:
    v0: object  # TrainResult
    v1: object
    v0_id: str  # the model id of v0's embeddings
    release_v1: str
    kept: int
    threshold: float
    precision: float
    recall: float
    mismatched: int
    dropped: int
    acc: dict  # "v0"/"v1" -> held-out acc1, acc5, eval JSON


def bootstrap(dataset: str, truth: list[dict], out: str, runner, cfg: LoopConfig, say,
              heldout: str | None = None) -> Bootstrap:
    """Steps 6-9: train v0 on everything, embed + score with v0, select release v1 by v0's
    CLIP score, train v1 on it for the same steps, and evaluate both on the held-out pairs.
    ``bench/bootstrap_seeds.py`` runs this over seeds."""
    from grassroots.runner import run_step
    from grassroots.stages import Score
    from grassroots.releases import make_release
    from grassroots.train.loop import TrainConfig, train

    models, layout = Path(out) / "models", DatasetDir(dataset)
    t0 = time.monotonic()
    # fp32, not auto: auto times bf16 against fp32 first, and on a busy machine that probe could
    # choose differently, so the same seed would not give the same figures (issue 31).
    v0 = train(TrainConfig(dataset, str(models / "v0"), recipe="tiny", seed=cfg.seed,
                           minutes=cfg.train_minutes, steps=None if cfg.train_minutes else cfg.train_steps,
                           batch_size=cfg.batch_size, workers=cfg.processes, progress=cfg.progress,
                           precision="fp32"))
    say(f"[bold]6. train v0[/] tiny CLIP on all {len(_kept(dataset))} kept pairs: {v0.steps} steps, "
        f"{v0.samples_per_second:.0f} samples/s, loss {v0.loss:.2f} ({time.monotonic() - t0:.0f} s)")

    v0_id = _embed(v0.arch, v0.checkpoint, dataset, runner, cfg)
    run_step(Score(v0_id), dataset, runner, progress=cfg.progress)
    scores = _clip_scores(layout)
    threshold = float(np.quantile(list(scores.values()), cfg.drop_share))
    where = f"clip >= {threshold:.6f} AND NOT filename_like AND NOT boilerplate"
    if io.glob(layout.attribute_shards_glob("safety")):
        where += " AND nsfw < 0.5"  # the safety step's threshold (recorded in v1's manifest)
    release_v1, totals = make_release(dataset, "v1", where, runner, progress=cfg.progress)
    kept_v1 = {r["key"] for r in read_samples(release_v1, ["key", "status"]) if r["status"] == "success"}
    precision, recall, mismatched, dropped = _filter_quality(dataset, truth, kept_v1)
    say(f"[bold]7. score + select[/] with v0: release v1 keeps {totals.kept} of {totals.candidates} "
        f"({where}); of the pairs whose alt text is not about the image, {recall:.0%} are dropped, "
        f"and {precision:.0%} of the dropped are such pairs")

    t0 = time.monotonic()
    v1 = train(TrainConfig(release_v1, str(models / "v1"), recipe="tiny", steps=v0.steps, seed=cfg.seed,
                           batch_size=cfg.batch_size, workers=cfg.processes, progress=cfg.progress,
                           precision="fp32"))
    say(f"[bold]8. train v1[/] on release v1, the same {v1.steps} steps ({time.monotonic() - t0:.0f} s)")

    heldout = heldout or _heldout(out, cfg)  # the held-out set, written now unless the caller did
    acc = {name: _zeroshot(res.arch, res.checkpoint, heldout, out, name, cfg) for name, res in (("v0", v0), ("v1", v1))}
    chance = acc["v1"]["chance"]
    say(f"[bold]9. eval[/] zero-shot on (colour, shape) pairs the web never showed, among all "
        f"{acc['v1']['classes']} (chance {chance:.1%}): v0 top-1 {acc['v0']['acc1']:.0%} "
        f"({acc['v0']['acc1'] / chance:.1f}x chance) -> v1 top-1 {acc['v1']['acc1']:.0%} "
        f"({acc['v1']['acc1'] / chance:.1f}x chance)")
    return Bootstrap(v0, v1, v0_id, release_v1, totals.kept, threshold, precision, recall, mismatched,
                     dropped, acc)


# --- the pieces ---------------------------------------------------------------------------

def _embed(arch: str, checkpoint: str, dataset: str, runner, cfg: LoopConfig) -> str:
    """The Embed step with this checkpoint on the CPU, the cores shared by the workers; its model id."""
    from grassroots.models.clip import ModelSpec
    from grassroots.runner import run_step
    from grassroots.stages import Embed
    from grassroots.stages.embed import EmbedConfig

    step = Embed(EmbedConfig(ModelSpec(arch, checkpoint), device="cpu",
                             threads=max(1, (os.cpu_count() or 1) // cfg.processes))).resolved()
    run_step(step, dataset, runner, progress=cfg.progress)
    return step.model_id


def _kept(dataset: str) -> set[str]:
    return {r["key"] for r in read_samples(dataset, ["key", "status"]) if r["status"] == "success"}


def _clip_scores(layout: DatasetDir) -> dict[str, float]:
    from grassroots import io

    scores = {}
    for path in io.glob(os.path.join(layout.attributes_dir("clip"), "*.parquet")):
        for row in pq.read_table(path, columns=["key", "clip"]).to_pylist():
            if row["clip"] is not None:
                scores[row["key"]] = row["clip"]
    return scores


def _filter_quality(dataset: str, truth: list[dict], kept_after: set[str]) -> tuple[float, float, int, int]:
    """Precision and recall of the selection at removing the kept pairs whose alt text is
    not about the image (the mini-web's ground truth ``mismatch``)."""
    rows = read_samples(dataset, ["key", "url", "status"])
    kept = {r["key"]: r["url"] for r in rows if r["status"] == "success"}
    bad_urls = {t["url"] for t in truth if t.get("mismatch")}
    bad = {k for k, u in kept.items() if u in bad_urls}
    dropped = set(kept) - kept_after
    hit = len(bad & dropped)
    return hit / max(1, len(dropped)), hit / max(1, len(bad)), len(bad), len(dropped)


def _heldout(out: str, cfg: LoopConfig) -> str:
    from grassroots.miniweb.heldout import write_heldout

    return write_heldout(str(Path(out) / "eval" / "heldout"), per_class=cfg.heldout_per_class, seed=cfg.seed)


def _zeroshot(arch: str, checkpoint: str, heldout: str, out: str, name: str, cfg: LoopConfig) -> dict:
    from grassroots.eval import EvalConfig, ZeroShotSpec, evaluate
    from grassroots.models.clip import ModelSpec

    result = evaluate(EvalConfig(ModelSpec(arch, checkpoint), str(Path(out) / "eval" / f"{name}.json"),
                                 zeroshot=ZeroShotSpec(heldout), device="cpu", precision="fp32",
                                 progress=cfg.progress), log=lambda line: None)[0]
    classes = sum(1 for p in Path(heldout).iterdir() if p.is_dir())  # every (colour, shape) pair is a label
    return {"acc1": result.metrics["acc1"], "acc5": result.metrics["acc5"], "eval": result.path,
            "classes": classes, "chance": 1 / classes}


def _index(release: str, model_id: str, runner, cfg: LoopConfig) -> str:
    from grassroots.runner import run_step
    from grassroots.stages.index import Index

    step = Index.resolved(release, embeddings=model_id)
    run_step(step, release, runner, progress=cfg.progress)
    return step.embeddings


def _serve_and_opt_out(dataset: str, release: str, model_id: str) -> tuple[float, dict]:
    """Serve release v1 on 127.0.0.1 (a free port), time text queries through HTTP, and
    file an opt-out for one sample through POST /api/optout, as the page does."""
    import socket

    import uvicorn

    from grassroots.serve.app import create_app
    from grassroots.serve.config import ServeConfig

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(ServeConfig(dataset, release=os.path.basename(release))),
                                           host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        times = []
        for q in ("a red circle", "two blue squares above a green star", "a yellow triangle on a striped background",
                  "three purple stars", "an orange circle left of a black square") * 4:
            t0 = time.perf_counter()
            with urllib.request.urlopen(f"{base}/api/search?{urllib.parse.urlencode({'q': q, 'k': 10})}") as r:
                hits = json.load(r)
            times.append((time.perf_counter() - t0) * 1000)
        first = hits["results"][0]
        with urllib.request.urlopen(f"{base}/api/sample/{first['key']}") as r:
            sample = json.load(r)
        body = json.dumps({"name": "A. Creator", "contact": "creator@example.invalid", "reason": "opt-out",
                           "details": "filed by grassroots demo", "remove": {"urls": [sample["url"]]}}).encode()
        req = urllib.request.Request(f"{base}/api/optout", data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req) as r:
            record = json.load(r)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    return statistics.median(times[2:]), record


def print_loop_report(res, loop: LoopResult, console, seconds: float) -> None:
    from rich.table import Table

    from grassroots.demo import print_next_steps

    table = Table(title="the figures that matter", title_justify="left")
    table.add_column("what")
    table.add_column("measured in this run", justify="right")
    table.add_row("candidates found / kept", f"{res.candidates} / {res.kept}")
    table.add_row("refused by a creator's opt-out", str(sum(res.refused.values())))
    table.add_row("failed / filtered", f"{sum(res.failed.values())} / {sum(res.filtered.values())}")
    chance = loop.v1["chance"]
    table.add_row("models trained (each)", f"{loop.v0['steps']} steps of {loop.v0['batch_size']}")
    table.add_row(f"held-out zero-shot top-1, v0 -> v1 (chance {chance:.1%})",
                  f"{loop.v0['acc1']:.1%} -> {loop.v1['acc1']:.1%} ({loop.v1['acc1'] / chance:.1f}x chance)")
    table.add_row("held-out zero-shot top-5, v0 -> v1", f"{loop.v0['acc5']:.1%} -> {loop.v1['acc5']:.1%}")
    table.add_row("bootstrap v1 - v0: this run (one seed)", f"{100 * (loop.v1['acc1'] - loop.v0['acc1']):+.1f} points")
    table.add_row("bootstrap v1 - v0: over seeds (the result)", BOOTSTRAP_OVER_SEEDS)
    table.add_row("filter: mismatched pairs dropped (recall)", f"{loop.filter_recall:.0%} of {loop.mismatched}")
    table.add_row("filter: dropped that were mismatched (precision)", f"{loop.filter_precision:.0%} of {loop.dropped}")
    table.add_row("release v1 -> v2 (after the takedown)", f"{loop.release_v1} -> {loop.release_v2}")
    if loop.safety:
        table.add_row("safety: flagged nsfw / offensive caption (>= 0.5)", f"{loop.safety['nsfw']} / {loop.safety['offensive']}")
        table.add_row("safety step", f"{loop.safety['seconds']:.1f} s, {loop.safety['images']} images")
    table.add_row("text search p50, through HTTP", f"{loop.search_ms_p50:.1f} ms")
    table.add_row("whole demo", f"{seconds:.0f} s")
    console.print(table)
    console.print(f"models: {loop.v0['checkpoint']}, {loop.v1['checkpoint']} (open_clip checkpoints)", highlight=False)
    console.print(f"cards: {loop.card_dir}", highlight=False)
    console.print(f"[bold]search it:[/] {loop.serve_command}   then open http://127.0.0.1:8000/", highlight=False)
    print_next_steps(res, console)
