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
   (c) everything (N);
   and the bootstrap on top (v0 -> v1, as `demo_models.bootstrap`: embed + score a copy of the
   dataset with v0's checkpoint, drop the lowest quarter of CLIP scores among the samples v0
   trained on, train v1 for the same steps):
   (d) `boot`: v0 = (c), v1 on everything but the lowest quarter (the bootstrap alone);
   (e) `balboot`: v0 = (b), v1 = `select --balance T --seed SEED --where "clip >= Q"` (the
       lowest quarter dropped, then balanced: MetaCLIP's own order, filters before the cap).
4. Zero-shot over all 32 pair names on a balanced eval set (`grassroots miniweb heldout
   --pairs all`: P images of every pair): mean per-class accuracy over the 27 seen pairs, the
   accuracy on the tail half of them (the 13 rarest), and on the 5 held-out pairs.
Prints a table per seed and the gain of (b) over (a) with its spread over seeds. Target: (b)
beats (a) on the tail half by more than the seed spread. Each (seed, arm)'s figures are kept
in WORK/results-*.json, so a rerun with more seeds or arms trains only what is missing
(--fresh forgets them). Arms (a)-(c) run for every seed before (d)-(e) start.
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

import numpy as np

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


def scored_copy(ds: Path, name: str, run: Path) -> tuple[Path, dict[str, float]]:
    """A copy of the dataset (its tars shared by hard links: nothing rewrites them) scored with
    ``run``'s checkpoint: the CLIP score of every kept sample."""
    from grassroots.demo_models import _clip_scores
    from grassroots.layout import DatasetDir

    copy = WORK / name
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(ds, copy, copy_function=os_link, ignore=shutil.ignore_patterns("releases", "embeddings"))
    gr("embed", str(copy), "--checkpoint", str(run / "checkpoints" / "last.pt"), "--device", "cpu")
    model_id = next((copy / "embeddings").iterdir()).name
    gr("score", str(copy), "--embeddings", model_id, "--no-neardup", "--processes", "1")
    return copy, _clip_scores(DatasetDir(str(copy)))


def os_link(src: str, dst: str) -> None:
    if src.endswith(".tar"):
        os.link(src, dst)
    else:
        shutil.copy2(src, dst)


def keys_of(release: Path) -> set[str]:
    from grassroots.ledger import read_samples

    return {r["key"] for r in read_samples(str(release), ["key", "status"]) if r["status"] == "success"}


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
    ap.add_argument("--arms", default="uniform,balanced,all,boot,balboot", help="which arms to train")
    ap.add_argument("--fresh", action="store_true", help="forget the figures of earlier runs")
    ap.add_argument("--results", type=Path, help="where the figures are kept (default: WORK/results-<settings>.json); "
                    "a second run beside the first needs its own file")
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
    cache_file = args.results or WORK / f"results-{args.scenes}-{args.steps}-T{args.T}-{args.per_class}.json"
    cache = {} if args.fresh or not cache_file.exists() else json.loads(cache_file.read_text())
    wanted = args.arms.split(",")

    def train_eval(arm: str, seed: int, source: Path, samples: int) -> dict:
        """Train tiny on ``source`` and evaluate it, unless this (seed, arm) is in the cache."""
        if f"{seed}:{arm}" not in cache:
            run = WORK / f"run-{arm}-s{seed}-{args.steps}"
            shutil.rmtree(run, ignore_errors=True)
            t0 = time.monotonic()
            gr("train", str(source), "-o", str(run), "--recipe", "tiny", "--steps", str(args.steps),
               "--seed", str(seed))
            scores = {k: top1(run, folder, k) for k, folder in sets.items()}
            cache[f"{seed}:{arm}"] = {"samples": samples, "seen_mean_per_class": scores["seen"]["mean_per_class_recall"],
                                      "tail": scores["tail"]["acc1"], "held_out": scores["held_out"]["acc1"],
                                      "seconds": round(time.monotonic() - t0)}
            cache_file.write_text(json.dumps(cache, indent=1))
        r = cache[f"{seed}:{arm}"]
        print(f"seed {seed}, {arm} ({r['samples']}): seen mean per-class {r['seen_mean_per_class']:.1%}, "
              f"tail half {r['tail']:.1%}, held-out {r['held_out']:.1%} ({r['seconds']} s)", flush=True)
        return r

    def releases(seed: int) -> tuple[Path, Path]:
        balanced, uniform = ds / "releases" / f"v{seed}-balanced", ds / "releases" / f"v{seed}-uniform"
        if not balanced.exists():
            gr("select", str(ds), "--release", balanced.name, "--balance", str(args.T), "--seed", str(seed))
        if not uniform.exists():
            gr("select", str(ds), "--release", uniform.name, "--sample", f"{kept(balanced) / total:.6f}",
               "--seed", str(seed))
        return balanced, uniform

    for seed in args.seeds:  # (a)-(c) for every seed first: they are the measure the issue asks for
        balanced, uniform = releases(seed)
        for arm, source in {"uniform": uniform, "balanced": balanced, "all": ds}.items():
            if arm in wanted or (arm == "all" and "boot" in wanted) or (arm == "balanced" and "balboot" in wanted):
                train_eval(arm, seed, source, kept(source) if arm != "all" else total)
    for seed in args.seeds:  # then the bootstrap on top of (c) and of (b)
        balanced, _ = releases(seed)
        for arm, v0_arm, base in (("boot", "all", None), ("balboot", "balanced", balanced)):
            if arm not in wanted or f"{seed}:{arm}" in cache:
                if f"{seed}:{arm}" in cache:
                    train_eval(arm, seed, ds, cache[f"{seed}:{arm}"]["samples"])
                continue
            copy, scores = scored_copy(ds, f"scored-{arm}-s{seed}", WORK / f"run-{v0_arm}-s{seed}-{args.steps}")
            pool = keys_of(base) if base is not None else set(scores)
            cut = float(np.quantile([scores[k] for k in pool if k in scores], 0.25))
            extra = ["--balance", str(args.T), "--seed", str(seed)] if base is not None else []
            gr("select", str(copy), "--release", "v1", "--where", f"clip >= {cut:.6f}", *extra)
            v1 = copy / "releases" / "v1"
            train_eval(arm, seed, v1, kept(v1))
            shutil.rmtree(copy / "embeddings", ignore_errors=True)

    rows = {arm: [cache[f"{s}:{arm}"] for s in args.seeds if f"{s}:{arm}" in cache]
            for arm in ("uniform", "balanced", "all", "boot", "balboot")}
    rows = {arm: r for arm, r in rows.items() if r}
    sd = lambda xs: statistics.stdev(xs) if len(xs) > 1 else 0.0  # noqa: E731
    print(f"\n{args.steps} steps of tiny each, T = {args.T}, {total} scenes, seeds {args.seeds}:")
    print("| arm | seeds | samples | seen pairs, mean per-class | tail half (13 rarest) | held-out pairs |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for arm, rs in rows.items():
        col = {k: [r[k] for r in rs] for k in ("seen_mean_per_class", "tail", "held_out")}
        print(f"| {arm} | {len(rs)} | {min(r['samples'] for r in rs)}-{max(r['samples'] for r in rs)} | " + " | ".join(
            f"{statistics.mean(v):.1%} ± {sd(v):.1%}" for v in col.values()) + " |")
    for a, b in (("balanced", "uniform"), ("all", "balanced"), ("boot", "all"), ("balboot", "balanced"),
                 ("balboot", "boot")):
        seeds = [s for s in args.seeds if f"{s}:{a}" in cache and f"{s}:{b}" in cache]
        for k in ("seen_mean_per_class", "tail"):
            if seeds:
                gain = [cache[f"{s}:{a}"][k] - cache[f"{s}:{b}"][k] for s in seeds]
                spread = max(sd([cache[f"{s}:{a}"][k] for s in seeds]), sd([cache[f"{s}:{b}"][k] for s in seeds]))
                print(f"{a} - {b}, {k}: {statistics.mean(gain):+.1%} ± {sd(gain):.1%} (ahead on "
                      f"{sum(g > 0 for g in gain)} of {len(gain)} seeds; larger seed spread {spread:.1%})")

if __name__ == "__main__":
    main()
