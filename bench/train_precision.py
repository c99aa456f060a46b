#!/usr/bin/env python3
"""Which precision `grassroots train --precision auto` should pick on a CPU, measured.

    .venv/bin/python bench/train_precision.py [--recipe tiny] [--steps 30] [--rounds 2]

On the scene dataset of bench/train_vs_open_clip.py (20,000 scenes in 4 shards, built
once), runs `grassroots train --recipe R --steps S` with `--precision fp32` and with
`--precision bf16` (torch.autocast around the towers), alternating, and prints each
one's steady-state samples/s (steps after the 10th, from RUN/log.jsonl) next to the bf16
matmul speed-up `grassroots embed` measures (models/device.bf16_speedup). A CPU whose bf16
matmuls are faster (which is why embed picks bf16 there) can still train a small model
slower under autocast: every op's inputs are cast, and the small matrices gain little.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from train_vs_open_clip import WORK, dataset  # noqa: E402

GR = [sys.executable, "-m", "grassroots.cli"]


def steady_rate(run: Path) -> float:
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    first, last = next(r for r in log if r["step"] >= 10), log[-1]
    return (last["step"] - first["step"]) * json.loads((run / "run.json").read_text())["recipe"]["batch_size"] \
        / (last["elapsed_s"] - first["elapsed_s"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recipe", default="tiny")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=2)
    a = ap.parse_args()

    from grassroots.models.device import bf16_speedup

    ds = dataset(20000, 4)
    rates: dict[str, list[float]] = {"fp32": [], "bf16": []}
    for r in range(a.rounds):
        for precision in rates:
            run = WORK / f"train-precision-{precision}"
            shutil.rmtree(run, ignore_errors=True)
            subprocess.run([*GR, "train", str(ds), "-o", str(run), "--recipe", a.recipe, "--steps", str(a.steps),
                            "--precision", precision, "--device", "cpu"], check=True, stdout=subprocess.DEVNULL)
            rates[precision].append(steady_rate(run))
            print(f"round {r + 1} {precision}: {rates[precision][-1]:.1f} samples/s", flush=True)
    fp32, bf16 = statistics.median(rates["fp32"]), statistics.median(rates["bf16"])
    print(f"\n{a.recipe} recipe, steady state, medians of {a.rounds}: fp32 {fp32:.1f} samples/s, bf16 autocast "
          f"{bf16:.1f} ({bf16 / fp32:.2f}x); a bf16 matmul here: {bf16_speedup():.2f}x fp32")


if __name__ == "__main__":
    main()
