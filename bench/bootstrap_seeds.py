#!/usr/bin/env python3
"""The bootstrap loop's target (issue 15): model v1, trained on the release that model v0
selected, beats v0 on held-out zero-shot by more than the spread over seeds.

    .venv/bin/python bench/bootstrap_seeds.py [--size large] [--steps 400] [--seeds 0 1 2 3 4]
                                              [--heldout-per-class 100]

Downloads the demo's mini-web once (`grassroots demo`'s dataset half: 25% of the plain
images carry an alt text about another image, a camera file name or boilerplate; the ground
truth says which), then per seed, on a copy of that dataset, runs `demo_models.bootstrap`:
train v0 on everything -> embed + score with v0 -> select release v1 (the lowest 25% of CLIP
scores and the caption flags dropped) -> train v1 on v1 for the same number of steps ->
held-out zero-shot of both on the 5 (colour, shape) pairs the web never showed, among all 32.
The seed sets the weights, the data order and the held-out images. Steps are fixed, so the
result does not depend on how busy the machine is.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
WORK = ROOT / "bench" / "_work" / "bootstrap"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", default="large", help="the demo's mini-web size")
    ap.add_argument("--steps", type=int, default=400, help="training steps of each model (batch 128)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--heldout-per-class", type=int, default=100,
                    help="held-out images per (colour, shape) pair: 5 pairs, so 500 images per seed")
    args = ap.parse_args()

    from grassroots.demo import DemoConfig, run_demo
    from grassroots.demo_models import LoopConfig, bootstrap
    from grassroots.runner import make_runner

    t0 = time.monotonic()
    base = run_demo(DemoConfig(out=str(WORK / "web"), size=args.size, processes=2), progress=False)
    print(f"mini-web ({args.size}) downloaded: {base.kept} kept of {base.candidates} in "
          f"{time.monotonic() - t0:.0f} s", flush=True)
    rows = []
    for seed in args.seeds:
        out = WORK / f"seed{seed}"
        shutil.rmtree(out, ignore_errors=True)
        shutil.copytree(base.dataset, out / "dataset")
        cfg = LoopConfig(train_steps=args.steps, heldout_per_class=args.heldout_per_class, seed=seed, progress=False)
        t0 = time.monotonic()
        with make_runner("local", 2, None).session() as runner:
            b = bootstrap(str(out / "dataset"), base.truth, str(out), runner, cfg, say=lambda line: None)
        rows.append((seed, b.acc["v0"]["acc1"], b.acc["v1"]["acc1"], b.precision, b.recall, b.kept))
        print(f"seed {seed}: held-out top-1 v0 {rows[-1][1]:.1%} -> v1 {rows[-1][2]:.1%}; filter precision "
              f"{b.precision:.0%}, recall {b.recall:.0%} of {b.mismatched} mismatched; release v1 {b.kept} samples "
              f"({time.monotonic() - t0:.0f} s)", flush=True)
    v0 = [r[1] for r in rows]
    v1 = [r[2] for r in rows]
    gain = [b - a for a, b in zip(v0, v1)]
    sd = statistics.stdev if len(rows) > 1 else (lambda xs: 0.0)
    print(f"\n{len(rows)} seeds, {args.steps} steps of 128 per model, chance {1 / 32:.1%}:")
    print(f"  v0 held-out top-1 {statistics.mean(v0):.1%} ± {sd(v0):.1%}")
    print(f"  v1 held-out top-1 {statistics.mean(v1):.1%} ± {sd(v1):.1%}")
    print(f"  v1 - v0 {statistics.mean(gain):+.1%} ± {sd(gain):.1%} (min {min(gain):+.1%}, v1 ahead on "
          f"{sum(g > 0 for g in gain)} of {len(gain)} seeds); margin over the larger seed spread: "
          f"{statistics.mean(gain) - max(sd(v0), sd(v1)):+.1%}")
    print(f"  held-out images per seed: {5 * args.heldout_per_class} (binomial sd of one model's top-1 at "
          f"{statistics.mean(v1):.0%}: ±{(statistics.mean(v1) * (1 - statistics.mean(v1)) / (5 * args.heldout_per_class)) ** 0.5:.1%})")


if __name__ == "__main__":
    main()
