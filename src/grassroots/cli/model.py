"""Model commands: model init, train, train-head, eval."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from grassroots.cli.common import Device, Precision, app, command, console, one_line_errors


@command("train-head")
def train_head(
    dataset: Path = typer.Argument(..., help="A dataset directory with embeddings/."),
    embeddings: str = typer.Option(..., help="The model id under embeddings/."),
    labels: Optional[Path] = typer.Option(None, help="Parquet (or csv) with columns key, label (0/1)."),
    labels_from: Optional[str] = typer.Option(None, help="Label by a detector instead: TABLE:COLUMN>=VALUE, e.g. safety:nsfw>=0.8 (the head learns the detector's answers)."),
    output: Path = typer.Option(..., "-o", "--output", help="Head file to write (.safetensors)."),
    name: str = typer.Option("nsfw", help="What the head scores: its attribute table's name."),
    hidden: int = typer.Option(0, min=0, help="0: logistic regression; N: a 2-layer MLP with N hidden units."),
    epochs: int = typer.Option(300, min=1, help="Full-batch training steps."),
) -> None:
    """Train a safety head (nsfw, watermark ...) on image embeddings; prints the held-out AUC."""
    from grassroots.train.head import labels_from as read_rule
    from grassroots.train.head import train_head_from_dataset

    if (labels is None) == (labels_from is None):
        raise typer.BadParameter("give one of --labels and --labels-from")
    source = str(labels) if labels is not None else read_rule(str(dataset), labels_from)
    head = train_head_from_dataset(str(dataset), embeddings, source, str(output), name, hidden, epochs)
    console.print(f"wrote {output}: {name} head on {embeddings}, held-out AUC {head.auc:.3f}", highlight=False)
    if labels_from is not None:
        from grassroots.train.head import agreement

        agree, pos, n, heldout = agreement(str(dataset), embeddings, head, source)
        console.print(f"agreement with {labels_from} at 0.5: {agree:.1%} of {n} labelled samples ({pos} positive); "
                      f"held-out {heldout:.1%}", highlight=False)


@command()
def train(
    source: Path = typer.Argument(..., help="A dataset (with --release: its release vN), a release's path (DATASET/releases/vN), or a dataset with shards/ to train on."),
    output: Path = typer.Option(..., "-o", "--output", help="Run directory: run.json, log.jsonl, checkpoints/last.pt."),
    release: Optional[str] = typer.Option(None, help="Train on this release of the dataset (v1, v2 ...), as select, index, serve and card name it."),
    recipe: str = typer.Option("tiny", help="tiny (CPU minutes) | tiny-rn (CPU minutes, small objects: 96 px, hard negatives) | small (one GPU, < 1 h) | vit-b-32 (clusters); README \"Train\"."),
    minutes: Optional[float] = typer.Option(None, min=0.01, help="Train for about this long (steps fixed from measured speed)."),
    steps: Optional[int] = typer.Option(None, min=1, help="Train for exactly this many steps."),
    epochs: Optional[float] = typer.Option(None, min=0.01, help="Train for this many passes over the samples."),
    batch_size: Optional[int] = typer.Option(None, min=2, help="Samples per step (per GPU under torchrun); default: the recipe's."),
    lr: Optional[float] = typer.Option(None, min=0.0, help="Peak learning rate; default: the recipe's."),
    hard_negatives: Optional[bool] = typer.Option(None, "--hard-negatives/--no-hard-negatives", help="Each caption also brings four negatives, each with one word swapped for one other captions use in its place (\"two red stars\" -> \"two blue stars\"), so every word naming something in the image gets a gradient; one process only. Default: the recipe's."),
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
    if release is not None:
        from grassroots.releases import Release

        source = Release.named(str(source), release).require().root
    cfg = TrainConfig(str(source), str(output), recipe, minutes, steps, epochs, batch_size, lr, resume,
                      device.value, precision.value, seed, checkpoint_every, init=str(init) if init else None,
                      workers=workers, hard_negatives=hard_negatives)
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
@one_line_errors
def model_init(
    output: Path = typer.Option(..., "-o", "--output", help="Checkpoint file to write (open_clip state_dict)."),
    model: str = typer.Option("grassroots-tiny", "--model", help="open_clip architecture or grassroots-tiny."),
    seed: int = typer.Option(0, help="Seed of the random weights."),
) -> None:
    """Random-initialised weights of an architecture (tests, benchmarks, the start of training)."""
    from grassroots.models.clip import init_checkpoint

    sha = init_checkpoint(model, str(output), seed)
    console.print(f"wrote {output} ({model}, random weights, seed {seed}, sha256 {sha[:12]})", highlight=False)
