"""`grassroots train`: a CLIP model from a release, in one loop read top to bottom.

    1. the run: recipe (+ flags), device and precision, RUN/run.json written once
    2. the model and tokenizer, from open_clip (our configs are registered with it)
    3. the data: every kept sample, tokenised (with its hard negatives when the recipe
       asks: train/negatives.py) and (when it fits) decoded once
    4. the length in steps, from --steps, --epochs or --minutes (measured speed)
    5. AdamW, warm-up + cosine, open_clip's ClipLoss (or, with hard negatives, CLIP's loss
       with each image also scored against its own negatives), gradient clipping
    6. resume: weights, optimiser, step and RNG states from checkpoints/last.pt
    7. the loop: batch, loss, step, log (RUN/log.jsonl), checkpoint

A step number says exactly which samples come next (train/data.py), so a run
killed at any step and resumed with --resume ends with the same weights as one
that was never interrupted. Checkpoints are open_clip's format: a dict whose
"state_dict" ``open_clip.create_model_and_transforms(arch, pretrained=PATH)`` and
``grassroots embed --checkpoint`` load; the rest (optimiser, step, RNG) is for resume.

Multi-GPU: ``torchrun --nproc-per-node N -m grassroots.cli train ...`` runs one
process per GPU (DDP); --batch-size is per GPU, and the loss gathers features
across GPUs as open_clip's trainer does.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass

import torch

from grassroots import io
from grassroots.errors import InputError
from grassroots.train import data, negatives
from grassroots.train.recipes import recipe as named_recipe


@dataclass(frozen=True)
class TrainConfig:
    source: str  # a release (DATASET/releases/vN) or a dataset with shards
    run_dir: str
    recipe: str = "tiny"
    minutes: float | None = None
    steps: int | None = None
    epochs: float | None = None
    batch_size: int | None = None
    lr: float | None = None
    resume: bool = False
    device: str = "auto"
    precision: str = "auto"
    seed: int = 0
    checkpoint_every: int = 0  # steps; 0: about every two minutes, and at the end
    log_every: int = 10  # steps
    workers: int = 0  # decode processes; 0: one per core
    cache_gb: float = 4.0  # decoded images held in memory up to this size, else streamed from the tars
    init: str | None = None  # start from these weights instead of random ones
    progress: bool = True
    hard_negatives: bool | None = None  # None: the recipe's


@dataclass(frozen=True)
class TrainResult:
    run_dir: str
    checkpoint: str
    arch: str
    steps: int
    samples_seen: int
    loss: float
    train_seconds: float
    samples_per_second: float


def train(cfg: TrainConfig, console=None) -> TrainResult:
    from open_clip.loss import ClipLoss

    from grassroots.models.clip import create_random, register_configs
    from grassroots.models.device import choose

    say = (lambda msg: console.print(msg, highlight=False)) if console is not None else (lambda msg: None)
    rank, world, local_rank = _distributed()
    ckpt_path = os.path.join(cfg.run_dir, "checkpoints", "last.pt")

    # 1. The run. A resumed run takes its recipe and length from run.json, never from new flags.
    run_json = os.path.join(cfg.run_dir, "run.json")
    if cfg.resume:
        if not os.path.exists(run_json):
            raise InputError(cfg.run_dir, "has no run to resume (no run.json)", "start it without --resume")
        saved = json.loads(io.read_text(run_json))
        rec = named_recipe(saved["recipe"]["name"]).with_overrides(**saved["recipe"])
        if os.path.abspath(cfg.source) != saved["source"]:
            raise InputError(cfg.source, f"the run in {cfg.run_dir} trained on {saved['source']}",
                             "resume with the same SOURCE, or start a new run with another -o")
        seed = saved["seed"]
    else:
        if os.path.exists(ckpt_path):
            raise InputError(cfg.run_dir, "already holds a run (checkpoints/last.pt)",
                             "pass --resume to continue it, or choose another -o")
        rec = named_recipe(cfg.recipe).with_overrides(batch_size=cfg.batch_size, lr=cfg.lr,
                                                      hard_negatives=cfg.hard_negatives)
        saved, seed = None, cfg.seed
    where = choose(cfg.device, "fp32" if cfg.precision == "auto" else cfg.precision)  # bad flags fail here
    device = torch.device(f"cuda:{local_rank}" if where.device == "cuda" else "cpu")
    torch.manual_seed(seed)

    # 2. Model and tokenizer. Dropout-free configs: a step's result depends on its batch only.
    import open_clip

    register_configs()
    if rec.arch not in open_clip.list_models():
        raise InputError("--recipe", f"its architecture {rec.arch!r} is unknown to open_clip")
    model = (open_clip.create_model(rec.arch, pretrained=cfg.init, device=device) if cfg.init
             else create_random(rec.arch, device=device))
    model.train()
    if _convolutional(model.visual):  # oneDNN's convolutions run ~1.8x faster on NHWC (tiny-rn, fp32)
        model.visual.to(memory_format=torch.channels_last)
    tokenizer = open_clip.get_tokenizer(rec.arch)
    image_size = int(model.visual.image_size[0] if isinstance(model.visual.image_size, (tuple, list))
                     else model.visual.image_size)
    pre = getattr(model.visual, "preprocess_cfg", {}) or {}
    mean = torch.tensor(pre.get("mean", open_clip.OPENAI_DATASET_MEAN), device=device).view(1, 3, 1, 1)
    std = torch.tensor(pre.get("std", open_clip.OPENAI_DATASET_STD), device=device).view(1, 3, 1, 1)
    # a run from before text_precision existed ran its text tower at the run's precision
    text_choice = _text_precision(cfg.precision, where, saved and saved.get("text_precision", saved.get("precision")),
                                  lambda precision: _probe_text_seconds(model, tokenizer, device, precision))
    placement = _placement(where, cfg.precision, saved and saved.get("precision"),
                           lambda precision: _probe_seconds(model, tokenizer, image_size, device, mean, std, precision,
                                                            text_fp32=text_choice == "fp32"))
    autocast = _AUTOCAST.get(placement.precision)
    text_fp32 = autocast is not None and text_choice == "fp32"
    text_precision = "fp32" if text_fp32 else placement.precision

    # 3. Data: tokens for every caption; images decoded once when they fit in the cache.
    index = data.index_samples(cfg.source)
    tokens = tokenizer(index.captions)
    negs = None  # (NEGATIVES, n, context) tokens of each caption's negatives, and which have one
    if rec.hard_negatives:
        if world > 1:
            raise InputError("--hard-negatives", "runs in one process only (the loss does not gather negatives)",
                             "train without torchrun, or without --hard-negatives")
        drawn, has = negatives.draw(index.captions, NEGATIVES, seed)
        negs = (torch.stack([tokenizer(d) for d in drawn]), torch.tensor(has, dtype=torch.bool))
    workers = cfg.workers or os.cpu_count() or 1
    cache_bytes = len(index) * 3 * image_size * image_size
    images = None
    if cache_bytes <= cfg.cache_gb * 2**30:
        t0 = time.monotonic()
        with _bar(console, cfg.progress and rank == 0, "decoding", len(index)) as advance:
            images = data.decode_all(index, image_size, workers, progress=advance)
        say(f"decoded {len(index):,} images to {image_size} px in {time.monotonic() - t0:.1f} s "
            f"({cache_bytes / 2**20:.0f} MiB held in memory)")

    # 4. Length in steps (batch_size is per process; a step sees batch_size * world samples).
    global_batch = rec.batch_size * world
    if saved is not None:
        total = saved["total_steps"]
    elif cfg.steps or (not (cfg.epochs or cfg.minutes) and rec.steps):
        total = cfg.steps or rec.steps
    elif cfg.epochs or (not cfg.minutes and rec.epochs):
        total = math.ceil((cfg.epochs or rec.epochs) * len(index) / global_batch)
    else:
        minutes = cfg.minutes or rec.minutes
        total = max(1, int(minutes * 60 / _seconds_per_step(model, images, tokens, negs, rec, device, mean, std,
                                                             autocast, index, seed, image_size, text_fp32)))
    warmup = max(1, min(rec.warmup, total // 10))

    # 5. Optimiser: AdamW, no weight decay on gains, biases and the temperature.
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "logit_scale" not in n]
    other = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "logit_scale" not in n)]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": rec.weight_decay},
                                   {"params": other, "weight_decay": 0.0}],
                                  lr=rec.lr, betas=(rec.beta1, rec.beta2), eps=rec.eps)
    scaler = torch.amp.GradScaler("cuda") if autocast is torch.float16 and device.type == "cuda" else None

    def lr_at(step: int) -> float:
        if step < warmup:
            return rec.lr * (step + 1) / warmup
        return 0.5 * rec.lr * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))

    loss_fn = ClipLoss(local_loss=False, gather_with_grad=True, cache_labels=True, rank=rank, world_size=world)
    forward = _Forward(model, text_fp32)
    if world > 1:
        forward = torch.nn.parallel.DistributedDataParallel(
            forward, device_ids=[local_rank] if device.type == "cuda" else None)

    # 6. Resume: weights, optimiser, step and RNG states.
    start = 0
    if saved is not None and os.path.exists(ckpt_path):
        ckpt = torch.load(ckpt_path, map_location=device, weights_only=True)
        model.load_state_dict(ckpt["state_dict"])
        optimizer.load_state_dict(ckpt["optimizer"])
        if scaler is not None and "scaler" in ckpt:
            scaler.load_state_dict(ckpt["scaler"])
        torch.set_rng_state(ckpt["rng"]["torch"].cpu())
        start = int(ckpt["step"])
        say(f"resuming {cfg.run_dir} at step {start:,} of {total:,} "
            f"(next sample: shard {ckpt['position']['shard']}, key {ckpt['position']['key']})")
    elif rank == 0:
        meta = {"source": os.path.abspath(cfg.source), "recipe": rec.to_dict(), "seed": seed, "total_steps": total,
                "warmup": warmup, "samples": len(index), "world_size": world, "image_size": image_size,
                "device": placement.device, "precision": placement.precision, "text_precision": text_precision,
                "config": asdict(cfg)}
        io.write_text_atomic(run_json, json.dumps(meta, indent=2))
    if rank == 0:
        _truncate_log(cfg.run_dir, start)
    say(f"train {rec.arch} ({rec.name} recipe) on {len(index):,} samples: {total:,} steps of {global_batch} "
        f"on {placement.why}{'; the text tower in fp32 (measured faster here)' if text_fp32 else ''}; "
        f"run in {cfg.run_dir}")

    # 7. The loop.
    stream = None if images is not None else data.stream_batches(
        index, image_size, start, total, rec.batch_size, seed, min(workers, 8), rank, world)
    every = cfg.checkpoint_every
    t_start, t_ckpt, seen, loss_value = time.monotonic(), time.monotonic(), 0, float("nan")
    with _bar(console, cfg.progress and rank == 0, "training", total, start) as advance:
        for step in range(start, total):
            rows = data.rank_positions(step, rec.batch_size, len(index), seed, rank, world)
            pixels = images[rows] if images is not None else next(stream)
            for group in optimizer.param_groups:
                group["lr"] = lr_at(step)
            loss = _batch_loss(forward, loss_fn, pixels, tokens[rows], device, mean, std, autocast,
                               _batch_negatives(negs, rows))
            optimizer.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.unscale_(optimizer)
            else:
                loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), rec.grad_clip)
            if scaler is not None:
                scaler.step(optimizer)
                scaler.update()
            else:
                optimizer.step()
            with torch.no_grad():
                model.logit_scale.clamp_(0, math.log(100))
            loss_value, seen = float(loss.item()), seen + global_batch
            done = step + 1
            rate = seen / max(1e-9, time.monotonic() - t_start)
            advance(1, loss=loss_value, rate=rate)
            if rank == 0 and (done % cfg.log_every == 0 or done == total):
                _log(cfg.run_dir, {"step": done, "loss": round(loss_value, 5), "lr": lr_at(step),
                                   "logit_scale": float(model.logit_scale.detach().exp()), "samples_per_s": round(rate, 1),
                                   "elapsed_s": round(time.monotonic() - t_start, 2),
                                   "next": data.position(done, global_batch, index, seed)})
            due = (every and done % every == 0) or (not every and time.monotonic() - t_ckpt > 120)
            if rank == 0 and (due or done == total):
                _save(ckpt_path, model, optimizer, scaler, done, total, rec, seed,
                      data.position(done, global_batch, index, seed))
                t_ckpt = time.monotonic()
    seconds = time.monotonic() - t_start
    if rank == 0 and start == total and not os.path.exists(ckpt_path):
        _save(ckpt_path, model, optimizer, scaler, total, total, rec, seed, data.position(total, global_batch, index, seed))
    return TrainResult(cfg.run_dir, ckpt_path, rec.arch, total, total * global_batch, loss_value, seconds,
                       seen / seconds if seconds > 0 else 0.0)


# --- the pieces the loop names ----------------------------------------------------------

_AUTOCAST = {"bf16": torch.bfloat16, "fp16": torch.float16}  # fp32: no autocast
# Hard negatives per caption, drawn once and all scored at every step: on bench/scenes_shapes.py
# (seed 0) four a step reached 58.0% held-out top-1 in 1,250 steps where one a step (a new one of
# four each step) reached 50.8% in 1,300; the text tower is the cheap one, so four cost ~1.4x a step.
NEGATIVES = 4


def _batch_negatives(negs, rows):
    """(tokens (NEGATIVES, B, context), has one) of the batch's negative captions; None without."""
    return None if negs is None else (negs[0][:, rows], negs[1][rows])


class _Forward(torch.nn.Module):
    """(image features, text features, logit scale) of a batch; captions cut to the
    batch's longest (models/clip.encode_text), the same result as padding to 77.
    One module, so DDP sees one forward."""

    def __init__(self, model, text_fp32: bool = False):
        super().__init__()
        self.model, self.text_fp32 = model, text_fp32
        self.nhwc = _convolutional(model.visual)

    def forward(self, images, tokens):
        from grassroots.models.clip import features

        if self.nhwc:
            images = images.contiguous(memory_format=torch.channels_last)
        return features(self.model, images, tokens, text_fp32=self.text_fp32)


def _convolutional(tower) -> bool:
    """Whether an image tower is built of 2-d convolutions (a ResNet; a ViT has one, its patch stem)."""
    return sum(isinstance(m, torch.nn.Conv2d) for m in tower.modules()) > 1


def _placement(where, asked: str, resumed: str | None, probe):
    """The precision, once the model exists. Asked for: kept. Resumed: the run's own, so
    its steps are those of a run never stopped. CUDA: fp16 AMP with a gradient scaler. A
    CPU: fp32 unless bf16 autocast makes a training step of this very model >= 1.1x
    faster, measured with ``probe(precision) -> seconds`` (a faster bf16 matmul is not
    enough: on a CPU with AMX the tiny recipe trains at 0.79x under autocast, the small
    one at 2.9x; README, Train). The probe costs about 1 s (tiny) to 6 s (small)."""
    from grassroots.models.device import Placement

    if asked != "auto":
        return where
    dev = where.why.split(";")[0]
    if resumed and not (where.device == "cpu" and resumed == "fp16"):
        return Placement(where.device, resumed, f"{dev}; {resumed}, as the run began")
    if where.device == "cuda":
        return Placement("cuda", "fp16", f"{dev}; fp16 AMP with a gradient scaler")
    try:
        gain = probe("fp32") / probe("bf16")
    except RuntimeError:  # no bf16 autocast on this CPU at all
        return Placement("cpu", "fp32", f"{dev}; fp32 (bf16 autocast does not run here)")
    if gain >= 1.1:
        return Placement("cpu", "bf16", f"{dev}; bf16 autocast (a training step of this model measured "
                                        f"{gain:.1f}x faster than fp32 here)")
    return Placement("cpu", "fp32", f"{dev}; fp32 (a training step under bf16 autocast measured {gain:.2f}x "
                                    f"of fp32 here)")


def _text_precision(asked: str, where, resumed: str | None, probe) -> str | None:
    """The text tower's precision when the run is under bf16 autocast on a CPU (auto): bf16
    only where the text tower alone measures >= 1.1x faster so (``probe(precision) -> seconds``),
    since a small tower's matrices are too small for bf16 to pay for its casts (tiny-rn's
    2x128 tower: 1.5x slower under autocast, while its ResNet runs 1.25x faster). Chosen
    first, so the whole-step probe of ``_placement`` times bf16 as it would run. None: the
    run's own precision (asked for, CUDA, no bf16 here). Resumed: the run's choice."""
    if resumed:
        return resumed
    if asked != "auto" or where.device != "cpu":
        return None
    try:
        return "bf16" if probe("fp32") / probe("bf16") >= 1.1 else "fp32"
    except RuntimeError:  # no bf16 autocast on this CPU
        return None


def _synthetic_captions(tokenizer, batch: int):
    """Tokens of ``batch`` distinct captions of a typical length, for the speed probes."""
    return tokenizer([f"a small picture number {i} on a plain background" for i in range(batch)])


def _probe_text_seconds(model, tokenizer, device, precision, batch: int = 256) -> float:
    """Best time of the text tower's forward and backward on a synthetic batch at ``precision``
    (no optimiser step: the weights are not touched; the gradients are cleared)."""
    from grassroots.models.clip import encode_text

    tokens = _synthetic_captions(tokenizer, batch).to(device)
    autocast, times = _AUTOCAST.get(precision), []
    for _ in range(3):
        t0 = time.perf_counter()
        with torch.autocast(device.type, dtype=autocast, enabled=autocast is not None):
            out = encode_text(model, tokens)
        out.float().sum().backward()
        times.append(time.perf_counter() - t0)
    model.zero_grad(set_to_none=True)
    return min(times[1:])


def _probe_seconds(model, tokenizer, image_size, device, mean, std, precision, batch: int = 32,
                   text_fp32: bool = False) -> float:
    """Time of a training step at ``precision`` on a synthetic batch (its own generator:
    the run's RNG is not touched)."""
    gen = torch.Generator().manual_seed(0)
    pixels = torch.randint(0, 256, (batch, 3, image_size, image_size), dtype=torch.uint8, generator=gen)
    tokens = _synthetic_captions(tokenizer, batch)
    return _best_step_seconds(model, lambda step: (pixels, tokens), 3, device, mean, std, _AUTOCAST.get(precision),
                              text_fp32)


def _batch_loss(forward, loss_fn, pixels, tokens, device, mean, std, autocast, negs=None):
    """The CLIP loss of one batch: uint8 pixels normalised on the device, features
    L2-normalised in fp32 (autocast only around the towers). ``negs``: (tokens, has one)
    of each sample's negative caption, encoded with the batch's captions."""
    import torch.nn.functional as F

    x = ((pixels.to(device, non_blocking=True).float() / 255.0) - mean) / std
    b = tokens.shape[0]
    if negs is not None:
        tokens = torch.cat([tokens, negs[0].reshape(-1, negs[0].shape[-1])])
    with torch.autocast(device.type, dtype=autocast, enabled=autocast is not None):
        img, txt, scale = forward(x, tokens.to(device, non_blocking=True))
        img, txt = F.normalize(img.float(), dim=-1), F.normalize(txt.float(), dim=-1)
        if negs is not None:
            return negatives.clip_loss_with_negatives(img, txt[:b], txt[b:].view(-1, b, txt.shape[-1]), scale.float(),
                                                      negs[1].to(device))
        return loss_fn(img, txt, scale.float())


def _seconds_per_step(model, images, tokens, negs, rec, device, mean, std, autocast, index, seed,
                      image_size, text_fp32: bool = False) -> float:
    """Time of one training step on the run's own first batches, reading and negative captions
    included (for --minutes)."""
    tars = data.TarImages(index, image_size) if images is None else None  # opened once, not per image

    def batch(step):
        rows = data.rank_positions(step, rec.batch_size, len(index), seed)
        pixels = images[rows] if images is not None else torch.stack([tars[i] for i in rows])
        return pixels, tokens[rows], _batch_negatives(negs, rows)

    return _best_step_seconds(model, batch, 4, device, mean, std, autocast, text_fp32) * 1.03


def _best_step_seconds(model, batch, steps: int, device, mean, std, autocast, text_fp32: bool = False) -> float:
    """Best time of a training step (after the first) of a throw-away copy of ``model``,
    ``batch(step) -> (pixels, tokens[, negatives])`` inside the timing: the run's weights are not touched."""
    import copy

    from open_clip.loss import ClipLoss

    probe = copy.deepcopy(model)
    opt = torch.optim.AdamW(probe.parameters(), lr=0.0)
    forward, loss_fn, times = _Forward(probe, text_fp32), ClipLoss(), []
    for step in range(steps):
        t0 = time.perf_counter()
        pixels, toks, *negs = batch(step)
        loss = _batch_loss(forward, loss_fn, pixels, toks, device, mean, std, autocast, negs[0] if negs else None)
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    return min(times[1:])


def _save(path, model, optimizer, scaler, step, total, rec, seed, position) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    ckpt = {"name": os.path.basename(os.path.dirname(os.path.dirname(path))), "arch": rec.arch,
            "step": step, "total_steps": total, "seed": seed, "recipe": rec.to_dict(), "position": position,
            "state_dict": model.state_dict(), "optimizer": optimizer.state_dict(),
            "rng": {"torch": torch.get_rng_state()}}
    if scaler is not None:
        ckpt["scaler"] = scaler.state_dict()
    tmp = f"{path}.tmp"
    torch.save(ckpt, tmp)
    os.replace(tmp, path)  # a kill -9 never leaves a half-written last.pt


def _log(run_dir: str, record: dict) -> None:
    with open(os.path.join(run_dir, "log.jsonl"), "a") as f:
        f.write(json.dumps(record) + "\n")


def _truncate_log(run_dir: str, step: int) -> None:
    """Drop log lines past the checkpoint we resume from (they will be logged again)."""
    path = os.path.join(run_dir, "log.jsonl")
    if os.path.exists(path):
        keep = [line for line in open(path) if line.strip() and json.loads(line)["step"] <= step]
        io.write_text_atomic(path, "".join(keep))


def _distributed() -> tuple[int, int, int]:
    """(rank, world size, local rank): torchrun's environment, or a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1, 0
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        torch.cuda.set_device(local)
    return dist.get_rank(), world, local


class _bar:
    """A rich progress bar (steps, loss, samples/s, ETA); ``advance(n, **fields)``."""

    def __init__(self, console, enabled: bool, what: str, total: int, done: int = 0):
        self.enabled, self.what, self.total, self.done = enabled and console is not None, what, total, done

    def __enter__(self):
        if not self.enabled:
            return lambda n=1, **fields: None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, \
            TimeRemainingColumn

        from grassroots.progress import console

        self.progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[detail]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                                 console=console)
        self.progress.start()
        task = self.progress.add_task(self.what, total=self.total, completed=self.done, detail="")

        def advance(n=1, loss=None, rate=None):
            detail = f"loss {loss:.3f} · {rate:,.0f} samples/s" if loss is not None else ""
            self.progress.update(task, advance=n, detail=detail)

        return advance

    def __exit__(self, *exc):
        if self.enabled:
            self.progress.stop()
        return False
