#!/usr/bin/env python3
"""Training benchmark: `grassroots train` vs open_clip's own trainer (open_clip_train),
same model, same data, same machine, same batch size and hyper-parameters, fp32.

    .venv/bin/python bench/train_vs_open_clip.py [--samples 20000] [--steps 60] [--rounds 3]
                                                  [--recipe tiny] [--batch-size 256] [--warm 10]

1. Writes (or reuses) a scene dataset: --samples mini-web scenes as download-shaped
   webdataset shards (tests/train/scenes_ds.make_scene_dataset) in bench/_work.
2. Runs, alternating which goes first, whole commands with the recipe's model and
   hyper-parameters (lr, weight decay, betas, eps, warm-up, gradient clipping) for
   exactly --steps steps of --batch-size:
   - `python -m grassroots.cli train DS -o RUN --steps S --batch-size B ...`
     (decodes every image once up front, then trains from memory);
   - `python -m open_clip_train.main --train-data 'DS/shards/{...}.tar' --dataset-type
     webdataset --train-num-samples S*B --precision fp32 --workers W ...` (our configs
     registered first; tests/train/open_clip_cli.py), decoding on the fly in W loader
     workers, as its users run it.
   Both with OMP_NUM_THREADS = the core count.
3. Reports, per round and as medians: steady-state samples/s over steps
   (warm, S] (from our log.jsonl's elapsed_s and from open_clip's per-step
   "Batch (t)", both the wall time of those steps, data waits included), and the
   whole command's wall time (start-up, decoding, checkpoint). Ratios are ours /
   open_clip's, measured in this run.

The machine may be shared with other work: rounds alternate, and min..max is printed
so the noise is visible.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORK = HERE / "_work"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from grassroots.train.recipes import recipe as named_recipe  # noqa: E402
from tests.train import open_clip_cli  # noqa: E402
from tests.train.scenes_ds import make_scene_dataset  # noqa: E402


def dataset(samples: int, shards: int) -> Path:
    ds = WORK / f"train-scenes-{samples}x{shards}"
    if not (ds / "_runs" / "download" / f"{shards - 1:05d}.json").exists():
        shutil.rmtree(ds, ignore_errors=True)
        t0 = time.monotonic()
        make_scene_dataset(str(ds), samples, shards=shards)
        print(f"wrote {samples:,} scenes in {shards} shards to {ds} ({time.monotonic() - t0:.0f} s)", flush=True)
    return ds


def env(threads: int) -> dict[str, str]:
    return {**open_clip_cli.env(), "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}


def run_ours(ds: Path, out: Path, args, threads: int) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "grassroots.cli", "train", str(ds), "-o", str(out), "--recipe", args.recipe,
           "--steps", str(args.steps), "--batch-size", str(args.batch_size), "--checkpoint-every", str(args.steps),
           "--device", "cpu", "--precision", "fp32"]
    t0 = time.monotonic()
    done = subprocess.run(cmd, env=env(threads), capture_output=True, text=True)
    wall = time.monotonic() - t0
    if done.returncode != 0:
        sys.exit(f"grassroots train failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    log = {r["step"]: r for r in map(json.loads, open(out / "log.jsonl"))}
    seconds = log[args.steps]["elapsed_s"] - log[args.warm]["elapsed_s"]
    return {"rate": (args.steps - args.warm) * args.batch_size / seconds, "wall": wall,
            "loss": log[args.steps]["loss"]}


def run_open_clip(ds: Path, logs: Path, args, threads: int, shards: int) -> dict:
    shutil.rmtree(logs, ignore_errors=True)
    rec = named_recipe(args.recipe)
    urls = str(ds / "shards" / f"{{00000..{shards - 1:05d}}}.tar")
    cmd = open_clip_cli.command(urls, str(logs), "oc", samples=args.steps * args.batch_size, batch_size=args.batch_size,
                                model=rec.arch, workers=args.oc_workers,
                                extra=("--lr", str(rec.lr), "--wd", str(rec.weight_decay), "--beta1", str(rec.beta1),
                                       "--beta2", str(rec.beta2), "--eps", str(rec.eps),
                                       "--warmup", str(max(1, min(rec.warmup, args.steps // 10))),
                                       "--grad-clip-norm", str(rec.grad_clip), "--seed", "0"))
    t0 = time.monotonic()
    done = subprocess.run(cmd, env=env(threads), capture_output=True, text=True)
    wall = time.monotonic() - t0
    if done.returncode != 0:
        sys.exit(f"open_clip_train failed:\n{done.stderr[-3000:]}")
    steps = open_clip_cli.steps(str(logs / "oc" / "out.log"))
    if len(steps) != args.steps:
        sys.exit(f"open_clip_train logged {len(steps)} steps, expected {args.steps}")
    seconds = sum(s["batch_s"] for s in steps[args.warm:])
    return {"rate": (args.steps - args.warm) * args.batch_size / seconds, "wall": wall, "loss": steps[-1]["loss"]}


def spread(xs: list[float], fmt: str = "{:.1f}") -> str:
    return f"{fmt.format(statistics.median(xs))} ({fmt.format(min(xs))}..{fmt.format(max(xs))})"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--samples", type=int, default=20_000)
    p.add_argument("--shards", type=int, default=4)
    p.add_argument("--recipe", default="tiny", help="grassroots recipe: its model and hyper-parameters for both tools")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--warm", type=int, default=10, help="steps left out of the steady-state rate (a multiple of 10)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--oc-workers", type=int, default=1, help="open_clip_train's data loader workers")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = p.parse_args()
    if args.warm % 10 or args.steps % 10 or args.warm >= args.steps:
        p.error("--steps and --warm must be multiples of 10 (our log's step) with --warm < --steps")
    if args.steps * args.batch_size > args.samples:
        p.error("--steps x --batch-size must fit in one pass over --samples (open_clip_train runs one epoch)")

    ds = dataset(args.samples, args.shards)
    rec = named_recipe(args.recipe)
    print(f"model {rec.arch} ({args.recipe} recipe), batch {args.batch_size}, {args.steps} steps "
          f"(steady state: steps {args.warm + 1}-{args.steps}), fp32, {args.threads} threads, "
          f"open_clip_train workers {args.oc_workers}; load average {os.getloadavg()[0]:.1f}", flush=True)
    ours, theirs = [], []
    for r in range(args.rounds):
        order = ("ours", "open_clip") if r % 2 == 0 else ("open_clip", "ours")
        for who in order:
            if who == "ours":
                ours.append(run_ours(ds, WORK / "train-bench-ours", args, args.threads))
            else:
                theirs.append(run_open_clip(ds, WORK / "train-bench-oc", args, args.threads, args.shards))
        a, b = ours[-1], theirs[-1]
        print(f"round {r + 1}: grassroots {a['rate']:.1f} samples/s ({a['wall']:.1f} s whole, loss {a['loss']:.3f}) | "
              f"open_clip_train {b['rate']:.1f} samples/s ({b['wall']:.1f} s whole, loss {b['loss']:.3f}) | "
              f"ratio {a['rate'] / b['rate']:.2f}x steady, {b['wall'] / a['wall']:.2f}x whole; "
              f"load {os.getloadavg()[0]:.1f}", flush=True)

    ro, rt = [x["rate"] for x in ours], [x["rate"] for x in theirs]
    wo, wt = [x["wall"] for x in ours], [x["wall"] for x in theirs]
    print("\n| tool | steady samples/s, median (min..max) | whole command s, median (min..max) |")
    print("| --- | ---: | ---: |")
    print(f"| grassroots train | {spread(ro)} | {spread(wo)} |")
    print(f"| open_clip_train | {spread(rt)} | {spread(wt)} |")
    ratios = [a / b for a, b in zip(ro, rt)]
    print(f"\nsteady-state ratio grassroots / open_clip_train: {statistics.median(ratios):.2f}x "
          f"(per round {', '.join(f'{x:.2f}' for x in ratios)})")
    print(f"whole-command speed ratio (open_clip s / grassroots s): "
          f"{statistics.median([b / a for a, b in zip(wo, wt)]):.2f}x")


if __name__ == "__main__":
    main()
