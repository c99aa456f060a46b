#!/usr/bin/env python3
"""A recipe per scene generator, over seeds: does it hold on scenes it was not chosen on?

    .venv/bin/python bench/train_tiny_generators.py [--recipe tiny] [--steps N] [--seeds 0 1 2]
        [--generators miniweb shapes] [--samples 20000] [--per-class 100] [--jobs 1]

Two generators, written apart from each other:

- ``miniweb``: the mini-web's scenes (grassroots.miniweb.scenes; tests/train/scenes_ds.py
  writes them as shards), evaluated on ``grassroots miniweb heldout`` (32 classes, 5 held-out
  pairs: chance 3.1%);
- ``shapes``: bench/scenes_shapes.py (small rotated shapes, star and cross among them, 1-3 an
  image, clutter lines, blur, colour jitter, light and dark backgrounds, captions with number
  words), evaluated on its own held-out folder (30 classes, 5 held-out pairs: chance 3.3%).

Per generator: N training scenes as download-shaped shards, then per seed, as a user would,
``python -m grassroots.cli train DATASET -o RUN --recipe R --steps S --seed K`` and
``python -m grassroots.cli eval RUN/checkpoints/last.pt --zeroshot FOLDER``. Prints held-out
top-1/top-5 per seed, mean ± sd, steps, seconds a step, training and whole-command time, and
writes it all to bench/_work/generators/RECIPE-S-GENERATORS.json. Steps are fixed, so accuracy does not
depend on how busy the machine is; the times do. Target (issue 31): >= 60% held-out top-1 on
each generator within 10 minutes of training on a 2-core CPU, 3 seeds.
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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
WORK = ROOT / "bench" / "_work" / "generators"
GR = [sys.executable, "-m", "grassroots.cli"]
CHANCE = {"miniweb": 1 / 32, "shapes": 1 / 30}


def dataset(generator: str, samples: int, per_class: int) -> tuple[Path, Path]:
    """(training dataset, held-out folder) of a generator, written once."""
    ds, heldout = WORK / f"{generator}-train-{samples}", WORK / f"{generator}-heldout-{per_class}"
    if not (ds / "shards").exists():
        t0 = time.monotonic()
        if generator == "miniweb":
            from tests.train.scenes_ds import make_scene_dataset

            make_scene_dataset(str(ds), samples, shards=4)
        else:
            from bench.scenes_shapes import write_train

            write_train(str(ds), samples, shards=4)
        print(f"wrote {samples:,} {generator} scenes in {time.monotonic() - t0:.0f} s -> {ds}", flush=True)
    if not heldout.exists():
        if generator == "miniweb":
            subprocess.run([*GR, "miniweb", "heldout", "-o", str(heldout), "--per-class", str(per_class)],
                           check=True, capture_output=True)
        else:
            from bench.scenes_shapes import write_heldout

            write_heldout(str(heldout), per_class)
    return ds, heldout


def run_seed(generator: str, ds: Path, heldout: Path, recipe: str, steps: int | None, seed: int,
             extra: list[str], threads: int | None = None) -> dict:
    run = WORK / "runs" / f"{generator}-{recipe}-{steps or 'default'}-s{seed}"
    shutil.rmtree(run, ignore_errors=True)
    length = ["--steps", str(steps)] if steps else []
    t0 = time.monotonic()
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)} if threads else None
    subprocess.run([*GR, "train", str(ds), "-o", str(run), "--recipe", recipe, *length, "--seed", str(seed),
                    *extra], check=True, capture_output=True, env=env)
    whole = time.monotonic() - t0
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    meta = json.loads((run / "run.json").read_text())
    out = run / "heldout.json"
    subprocess.run([*GR, "eval", str(run / "checkpoints" / "last.pt"), "--zeroshot", str(heldout), "-o", str(out)],
                   check=True, capture_output=True)
    metrics = json.loads(out.read_text())["metrics"]
    return {"generator": generator, "seed": seed, "acc1": metrics["acc1"], "acc5": metrics["acc5"],
            "steps": meta["total_steps"], "arch": meta["recipe"]["arch"], "precision": meta["precision"],
            "loss": log[-1]["loss"], "train_s": log[-1]["elapsed_s"], "whole_s": round(whole, 1),
            "s_per_step": log[-1]["elapsed_s"] / meta["total_steps"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recipe", default="tiny")
    ap.add_argument("--steps", type=int, default=None, help="default: the recipe's own length")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--generators", nargs="+", default=["miniweb", "shapes"], choices=sorted(CHANCE))
    ap.add_argument("--samples", type=int, default=20000)
    ap.add_argument("--per-class", type=int, default=100)
    ap.add_argument("--extra", default="", help="more flags for `grassroots train`, e.g. '--batch-size 128'")
    ap.add_argument("--jobs", type=int, default=1,
                    help="runs at once, each with cores/jobs threads: the same accuracy where the length is in "
                         "steps (fixed by the recipe or --steps), but the times are not those of a quiet machine")
    args = ap.parse_args()

    data = {g: dataset(g, args.samples, args.per_class) for g in args.generators}
    todo = [(g, seed) for g in args.generators for seed in args.seeds]
    threads = max(1, (os.cpu_count() or 1) // args.jobs) if args.jobs > 1 else None
    rows = []
    with ThreadPoolExecutor(args.jobs) as pool:
        futures = [pool.submit(run_seed, g, *data[g], args.recipe, args.steps, seed, args.extra.split(), threads)
                   for g, seed in todo]
        for (generator, seed), future in zip(todo, futures):
            r = future.result()
            rows.append(r)
            print(f"{generator} seed {seed}: held-out top-1 {r['acc1']:.1%}, top-5 {r['acc5']:.1%}; {r['steps']} steps "
                  f"({r['arch']}, {r['precision']}), loss {r['loss']:.2f}, {r['s_per_step']:.2f} s/step, training "
                  f"{r['train_s'] / 60:.1f} min ({r['whole_s'] / 60:.1f} min whole command)", flush=True)
    print(f"\nrecipe {args.recipe}, {args.samples:,} scenes per generator, seeds {args.seeds}:")
    print("| generator | top-1 per seed | mean ± sd | top-5 mean | steps | s/step | training min (whole) |")
    print("| --- | --- | --- | --- | ---: | ---: | --- |")
    summary = {}
    for generator in args.generators:
        mine = [r for r in rows if r["generator"] == generator]
        top1 = [r["acc1"] for r in mine]
        sd = statistics.stdev(top1) if len(top1) > 1 else 0.0
        summary[generator] = {"mean": statistics.mean(top1), "sd": sd, "min": min(top1), "chance": CHANCE[generator]}
        print(f"| {generator} | {', '.join(f'{a:.1%}' for a in top1)} | {statistics.mean(top1):.1%} ± {sd:.1%} | "
              f"{statistics.mean(r['acc5'] for r in mine):.1%} | {mine[0]['steps']} | "
              f"{statistics.mean(r['s_per_step'] for r in mine):.2f} | "
              f"{statistics.mean(r['train_s'] for r in mine) / 60:.1f} ({statistics.mean(r['whole_s'] for r in mine) / 60:.1f}) |")
    out = WORK / f"{args.recipe}-{args.steps or 'default'}-{'+'.join(args.generators)}{args.extra.replace(' ', '')}.json"
    out.write_text(json.dumps({"args": vars(args), "rows": rows, "summary": summary}, indent=2))
    print(f"\n-> {out}")


if __name__ == "__main__":
    main()
