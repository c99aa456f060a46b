#!/usr/bin/env python3
"""The `tiny` recipe's target: held-out zero-shot on mini-web scenes, over seeds.

    .venv/bin/python bench/train_tiny_zeroshot.py [--samples 40000] [--steps 400] [--seeds 0 1 2]

Writes N mini-web scenes (the generator the mini-web draws its images with; train split:
the held-out (colour, shape) pairs never appear) into download-shaped shards, trains
`grassroots train --recipe tiny --steps S` once per seed, and evaluates each model with
`grassroots eval` on the held-out set of `grassroots miniweb heldout` (all 32 pairs are
classes, images only of the 5 held-out pairs: chance 1/32). Prints top-1/top-5 per seed,
mean and spread, and training wall time (steps are fixed, so the result does not depend on
how busy the machine is; the time does). Target (issue 15): >= 60% top-1 within 10 minutes
of training on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
WORK = ROOT / "bench" / "_work" / "train_tiny"
GR = [sys.executable, "-m", "grassroots.cli"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=40000)
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--per-class", type=int, default=40)
    args = ap.parse_args()

    from tests.train.scenes_ds import make_scene_dataset

    ds = WORK / f"scenes-{args.samples}"
    if not (ds / "shards").exists():
        t0 = time.monotonic()
        make_scene_dataset(str(ds), args.samples, shards=max(1, args.samples // 5000))
        print(f"wrote {args.samples} scenes in {time.monotonic() - t0:.0f} s -> {ds}")
    heldout = WORK / "heldout"
    if not heldout.exists():
        subprocess.run([*GR, "miniweb", "heldout", "-o", str(heldout), "--per-class", str(args.per_class)], check=True)
    rows = []
    for seed in args.seeds:
        run = WORK / f"run-s{seed}-{args.steps}x{args.batch_size}"
        if not (run / "checkpoints" / "last.pt").exists() or json.loads((run / "run.json").read_text())["total_steps"] != args.steps:
            subprocess.run(["rm", "-rf", str(run)], check=True)
            t0 = time.monotonic()
            subprocess.run([*GR, "train", str(ds), "-o", str(run), "--recipe", "tiny", "--steps", str(args.steps),
                            "--batch-size", str(args.batch_size), "--seed", str(seed)], check=True)
            (run / "wall.txt").write_text(f"{time.monotonic() - t0:.1f}")
        log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
        out = run / "heldout.json"
        subprocess.run([*GR, "eval", str(run / "checkpoints" / "last.pt"), "--model", "grassroots-train-tiny",
                        "--zeroshot", str(heldout), "-o", str(out)], check=True, capture_output=True)
        metrics = json.loads(out.read_text())["metrics"]
        rows.append((seed, metrics["acc1"], metrics["acc5"], log[-1]["elapsed_s"], float((run / "wall.txt").read_text())))
        print(f"seed {seed}: held-out top-1 {metrics['acc1']:.1%}, top-5 {metrics['acc5']:.1%}; "
              f"training {log[-1]['elapsed_s'] / 60:.1f} min ({rows[-1][4] / 60:.1f} min whole command)", flush=True)
    top1 = [r[1] for r in rows]
    spread = statistics.stdev(top1) if len(top1) > 1 else 0.0
    print(f"\ntiny recipe, {args.steps} steps of {args.batch_size} on {args.samples} scenes, {len(rows)} seeds: "
          f"held-out top-1 {statistics.mean(top1):.1%} ± {spread:.1%} (min {min(top1):.1%}, chance {1 / 32:.1%}); "
          f"training {statistics.mean(r[3] for r in rows) / 60:.1f} min per seed")


if __name__ == "__main__":
    main()
