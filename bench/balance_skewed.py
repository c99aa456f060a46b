#!/usr/bin/env python3
"""Does MetaCLIP balancing help a model trained from scratch on skewed data? (issue 32)

    .venv/bin/python bench/balance_skewed.py [--scenes 12000] [--steps 300] [--seeds 0 1 2 3 4]
                                             [--T 165] [--per-class 20]

1. Skewed scenes: the mini-web's scene generator (grassroots.miniweb.scenes) with the
   (colour, shape) pair of each group drawn from a Zipf law over the 27 pairs the web shows
   (the head pair ~100x as frequent as the tail one; the 5 held-out pairs never appear),
   written as a download-shaped dataset (webdataset tars + ledger), as in the train bench.
2. `grassroots concepts DS --entries-from-eval EVAL`: the 32 pair names are the entries.
3. Per seed, three releases of the same dataset, each trained with
   `grassroots train --recipe tiny --steps S --seed SEED` (the same steps):
   (a) `select --sample F --seed SEED`, F = M / N, a uniform sample of M;
   (b) `select --balance T --seed SEED`: MetaCLIP's balancing, M samples;
   (c) everything (N).
4. Zero-shot over all 32 pair names on a balanced eval set (`grassroots miniweb heldout
   --pairs all`: P images of every pair): mean per-class accuracy over the 27 seen pairs, the
   accuracy on the tail half of them (the 13 rarest), and on the 5 held-out pairs.
Prints a table per seed and the gain of (b) over (a) with its spread over seeds. Target: (b)
beats (a) on the tail half by more than the seed spread.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]  # grassroots, and tests.train.scenes_ds's shard writer
WORK = ROOT / "bench" / "_work" / "balance"
GR = [sys.executable, "-m", "grassroots.cli"]


def zipf_pairs(a: float = 1.4) -> tuple[list[tuple[str, str]], list[float]]:
    """The 27 seen pairs in a fixed random order and their Zipf weights (rank**-a: with a = 1.4
    the first is 27**1.4 ~ 100x the last)."""
    from grassroots.miniweb.scenes import caption_splits, key_rng

    pairs = list(caption_splits()["train"])
    key_rng("zipf-order").shuffle(pairs)
    return pairs, [(rank + 1) ** -a for rank in range(len(pairs))]


def write_scenes(ds: Path, n: int, shards: int = 4) -> None:
    from grassroots.miniweb.scenes import BACKGROUNDS, COLOURS, RELATIONS, Group, Scene, encode, key_rng, render
    from tests.train.scenes_ds import write_download_shards

    pairs, weights = zipf_pairs()

    def sample(i: int) -> tuple[bytes, str]:
        rng = key_rng("skewed", i)
        groups = [Group(rng.choice((1, 1, 2, 3)), *rng.choices(pairs, weights)[0])]
        relation = None
        if rng.random() < 0.4:
            colour, shape = rng.choices(pairs, weights)[0]
            if colour != groups[0].colour:
                groups.append(Group(rng.choice((1, 2)), colour, shape))
                relation = rng.choice(RELATIONS)
        bg = rng.choice([b for b in BACKGROUNDS if b not in {COLOURS[g.colour] for g in groups}])
        scene = Scene(tuple(groups), relation, rng.choice(("plain", "plain", "stripes", "dots")), bg, None,
                      96, 96, rng.getrandbits(32))
        return encode(render(scene), "jpg"), scene.caption

    write_download_shards(str(ds), n, shards, sample)


def gr(*args: str) -> str:
    done = subprocess.run([*GR, *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"grassroots {' '.join(args)} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return done.stdout


def kept(release: Path) -> int:
    from grassroots.ledger import read_samples

    return sum(r["status"] == "success" for r in read_samples(str(release), ["key", "status"]))


def subset(full: Path, out: Path, classes: set[str]) -> Path:
    """The eval set with images only of ``classes`` (every class folder stays: all are labels)."""
    if not out.exists():
        shutil.copytree(full, out)
        for folder in out.iterdir():
            if folder.is_dir() and folder.name not in classes:
                for img in folder.glob("*.jpg"):
                    img.unlink()
    return out


def top1(run: Path, folder: Path, name: str) -> float:
    out = run / f"{name}.json"
    gr("eval", str(run / "checkpoints" / "last.pt"), "--zeroshot", str(folder), "-o", str(out))
    return json.loads(out.read_text())["metrics"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenes", type=int, default=12000)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--T", type=int, default=165, help="balancing cap per entry")
    ap.add_argument("--per-class", type=int, default=20, help="eval images per (colour, shape) pair")
    ap.add_argument("--arms", default="uniform,balanced,all", help="which of the three to train")
    args = ap.parse_args()

    from grassroots.miniweb.heldout import write_heldout
    from grassroots.miniweb.scenes import HELD_OUT_PAIRS

    WORK.mkdir(parents=True, exist_ok=True)
    ds = WORK / f"skewed-{args.scenes}"
    if not (ds / "shards").exists():
        t0 = time.monotonic()
        write_scenes(ds, args.scenes)
        print(f"wrote {args.scenes} skewed scenes in {time.monotonic() - t0:.0f} s -> {ds}", flush=True)
    evalset = WORK / f"eval-all-{args.per_class}"
    if not evalset.exists():
        write_heldout(str(evalset), per_class=args.per_class, pairs="all", side=96)
    gr("concepts", str(ds), "--entries-from-eval", str(evalset), "--processes", "1")

    pairs, _ = zipf_pairs()
    names = {p: f"{p[0]}_{p[1]}" for p in pairs}
    counts = {}
    for path in (ds / "attributes" / "concepts").glob("0*.parquet"):
        import pyarrow.parquet as pq

        for entries in pq.read_table(path, columns=["concepts"]).column("concepts").to_pylist():
            for e in entries:
                counts[e] = counts.get(e, 0) + 1
    by_count = sorted(pairs, key=lambda p: counts.get(f"{p[0]} {p[1]}", 0))
    tail = {names[p] for p in by_count[:13]}
    print("samples naming each seen pair, rarest first: "
          + ", ".join(f"{p[0]} {p[1]} {counts.get(f'{p[0]} {p[1]}', 0)}" for p in by_count), flush=True)
    sets = {"seen": subset(evalset, WORK / f"eval-seen-{args.per_class}", set(names.values())),
            "tail": subset(evalset, WORK / f"eval-tail-{args.per_class}", tail),
            "held_out": subset(evalset, WORK / f"eval-heldout-{args.per_class}",
                               {f"{c}_{s}" for c, s in HELD_OUT_PAIRS})}
    total = kept(ds)
    rows = []
    for seed in args.seeds:
        balanced = ds / "releases" / f"v{seed}-balanced"
        gr("select", str(ds), "--release", f"v{seed}-balanced", "--balance", str(args.T), "--seed", str(seed), "--overwrite")
        m = kept(balanced)
        gr("select", str(ds), "--release", f"v{seed}-uniform", "--sample", f"{m / total:.6f}", "--seed", str(seed),
           "--overwrite")
        arms = {"uniform": ds / "releases" / f"v{seed}-uniform", "balanced": balanced, "all": ds}
        arms = {k: v for k, v in arms.items() if k in args.arms.split(",")}
        result = {}
        for arm, source in arms.items():
            run = WORK / f"run-{arm}-s{seed}-{args.steps}"
            shutil.rmtree(run, ignore_errors=True)
            t0 = time.monotonic()
            gr("train", str(source), "-o", str(run), "--recipe", "tiny", "--steps", str(args.steps),
               "--seed", str(seed))
            scores = {k: top1(run, folder, k) for k, folder in sets.items()}
            result[arm] = {"samples": kept(source) if arm != "all" else total,
                           "seen_mean_per_class": scores["seen"]["mean_per_class_recall"],
                           "tail": scores["tail"]["acc1"], "held_out": scores["held_out"]["acc1"],
                           "seconds": round(time.monotonic() - t0)}
        rows.append(result)
        print(f"seed {seed}: " + "; ".join(
            f"{arm} ({r['samples']}): seen mean per-class {r['seen_mean_per_class']:.1%}, tail half {r['tail']:.1%}, "
            f"held-out {r['held_out']:.1%}" for arm, r in result.items()), flush=True)
    sd = statistics.stdev if len(rows) > 1 else (lambda xs: 0.0)
    print(f"\n{len(rows)} seeds, {args.steps} steps of tiny each, T = {args.T}, {total} scenes:")
    print("| arm | samples | seen pairs, mean per-class | tail half (13 rarest) | held-out pairs |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for arm in rows[0]:
        col = {k: [r[arm][k] for r in rows] for k in ("seen_mean_per_class", "tail", "held_out")}
        print(f"| {arm} | {rows[0][arm]['samples']} | " + " | ".join(
            f"{statistics.mean(v):.1%} ± {sd(v):.1%}" for v in col.values()) + " |")
    for k in ("seen_mean_per_class", "tail"):
        gain = [r["balanced"][k] - r["uniform"][k] for r in rows]
        spread = max(sd([r["balanced"][k] for r in rows]), sd([r["uniform"][k] for r in rows]))
        print(f"balanced - uniform, {k}: {statistics.mean(gain):+.1%} ± {sd(gain):.1%} "
              f"(ahead on {sum(g > 0 for g in gain)} of {len(gain)} seeds; larger seed spread {spread:.1%})")


if __name__ == "__main__":
    main()
