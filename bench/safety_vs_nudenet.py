"""Benchmark: `grassroots safety` vs NudeNet's own `NudeDetector().detect()` loop,
on the same stored bytes, the same cores, in the same run.

    .venv/bin/python bench/safety_vs_nudenet.py [--corpus bench/_work/corpus] [--limit 600]
        [--image-size 256] [--per-shard 200] [--processes N] [--threads T] [--all-flags]
        [--precisions auto,fp32]

Stores --limit images of the benchmark corpus (Open Clip Art, ../shared/bench/make_corpus.py)
the way `grassroots download` stores them (resized to --image-size, JPEG) into a dataset
under bench/_work/safety/, then times:
  nudenet  NudeDetector().detect(bytes) per image, one process (onnxruntime's default
           threads: every core), the loop NudeNet's README shows;
  safety   the safety step (run_step, local runner, --processes workers, cores/processes
           threads each), captions scored too, once per --precisions: auto (the bf16 screen
           where the CPU has bf16, fp32 onnxruntime for every image it does not clear) and
           fp32 (onnxruntime for every image, as NudeNet).
Prints images/s and images/s per core for both, the ratio, the parity (max difference of
per-class scores, same classes found at 0.25) and what is flagged at 0.5, by class.
"""

from __future__ import annotations

import argparse
import csv
import glob
import json
import os
import random
import shutil
import sys
import time
from collections import Counter
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
WORK = ROOT / "bench" / "_work" / "safety"


def build(corpus: Path, limit: int, image_size: int, per_shard: int = 200) -> tuple[str, dict[str, str]]:
    """A download-shaped dataset of the corpus' images (stored as download stores them);
    reused when it exists. Returns (dataset, key -> corpus file)."""
    from grassroots.imaging.resize import ImageConfig, process_image
    from grassroots.layout import DatasetDir
    from grassroots.schema import SAMPLE_SCHEMA
    from grassroots.stats import ShardStats
    from grassroots.writer import ShardWriter

    ds = WORK / (f"ds-{limit}-{image_size}" + (f"-{per_shard}" if per_shard != 200 else ""))
    index = ds / "sources.json"
    if index.exists():
        return str(ds), json.loads(index.read_text())
    shutil.rmtree(ds, ignore_errors=True)
    with open(corpus / "urls.csv") as f:
        rows = list(csv.DictReader(f))
    rows = random.Random(0).sample(rows, min(limit, len(rows)))  # the csv is sorted by category
    layout, cfg, sources = DatasetDir(str(ds)), ImageConfig(image_size=image_size), {}
    for s in range(0, len(rows), per_shard):
        shard, part = s // per_shard, rows[s:s + per_shard]
        stats = ShardStats(stage="download", shard=shard, candidates=len(part))
        with ShardWriter(str(ds), shard, schema=SAMPLE_SCHEMA) as w:
            for i, r in enumerate(part):
                key = f"{shard:05d}{i:04d}"
                path = corpus / "www" / r["path"]
                res = process_image(path.read_bytes(), cfg)
                if res.error:
                    w.add_row({"key": key, "url": r["path"], "status": "failed", "reason": res.error.value})
                    stats.drop(res.error.value)
                    continue
                w.add_sample(key, {res.ext: res.data, "txt": r["caption"]})
                w.add_row({"key": key, "url": r["path"], "caption": r["caption"], "status": "success"})
                stats.keep()
                sources[key] = str(path)
        os.makedirs(layout.runs_dir("download"), exist_ok=True)
        Path(layout.run_marker("download", shard)).write_text(stats.to_json())
    index.write_text(json.dumps(sources))
    return str(ds), sources


def stored_images(ds: str) -> dict[str, bytes]:
    from grassroots.layout import DatasetDir
    from grassroots.ledger import finished_shards, kept_rows
    from grassroots.samples import IMAGE_EXTS, read_sample_files

    out = {}
    layout = DatasetDir(ds)
    for s in finished_shards(ds):
        keys = kept_rows(layout, s, ["key"]).column("key").to_pylist()
        for k, files in read_sample_files(layout, s, keys=set(keys)).items():
            out[k] = next(v for e, v in files.items() if e in IMAGE_EXTS)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=ROOT / "bench" / "_work" / "corpus")
    ap.add_argument("--limit", type=int, default=600)
    ap.add_argument("--image-size", type=int, default=256)
    ap.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--per-shard", type=int, default=200, help="samples per shard of the dataset built")
    ap.add_argument("--threads", type=int, default=0, help="onnxruntime threads per worker (0: cores / processes)")
    ap.add_argument("--all-flags", action="store_true", help="list every image flagged at 0.5")
    ap.add_argument("--precisions", default="auto,fp32", help="the safety step's --precision values to time")
    args = ap.parse_args()
    cores = os.cpu_count() or 1

    from nudenet import NudeDetector

    from grassroots.layout import DatasetDir
    from grassroots.models.safety import COLUMNS, versions
    from grassroots.runner import LocalRunner, run_step
    from grassroots.stages import Safety

    ds, sources = build(args.corpus, args.limit, args.image_size, args.per_shard)
    images = stored_images(ds)
    print(f"{len(images)} stored images ({args.image_size} px, smaller side) of {args.corpus}; {cores} cores; "
          f"{versions()}", flush=True)

    detector = NudeDetector()
    detector.detect(next(iter(images.values())))  # warm up, as the step's session is warm after its first batch
    started = time.perf_counter()
    ref = {k: detector.detect(v) for k, v in images.items()}
    t_ref = time.perf_counter() - started

    threads = args.threads or max(1, cores // args.processes)
    n = len(images)
    print(f"nudenet  NudeDetector().detect() loop: {n / t_ref:7.1f} images/s  {n / t_ref / cores:6.1f} per core  ({t_ref:.1f} s)")
    for precision in args.precisions.split(","):
        shutil.rmtree(DatasetDir(ds).runs_dir("safety"), ignore_errors=True)
        shutil.rmtree(DatasetDir(ds).attributes_dir("safety"), ignore_errors=True)
        started = time.perf_counter()
        totals = run_step(Safety(threads=threads, precision=precision), ds, LocalRunner(processes=args.processes),
                          progress=False)
        t_ours = time.perf_counter() - started
        flagged = report(ds, ref, COLUMNS)
        print(f"safety   --precision {precision}, {args.processes} process(es) x {threads} thread(s): "
              f"{n / t_ours:7.1f} images/s  {n / t_ours / cores:6.1f} per core  ({t_ours:.1f} s, captions and step "
              f"start-up included; {totals.counters['images_fp32']} of {totals.counters['images']} images through "
              f"fp32)  ratio {t_ref / t_ours:.2f}x")
        print(f"accounting: kept {totals.kept}, dropped {dict(totals.reasons)}")
    for k, score, hit in flagged if args.all_flags else flagged[:10]:
        print(f"  {k} nsfw {score:.2f} {hit} {sources.get(k)}")


def report(ds: str, ref: dict, columns: tuple[str, ...]) -> list:
    """Parity with NudeNet's answers, and what the step flags; the flagged images."""
    import pyarrow.parquet as pq

    from grassroots.layout import DatasetDir

    files = sorted(glob.glob(DatasetDir(ds).attribute_shards_glob("safety")))
    ours = {r["key"]: r for f in files for r in pq.read_table(f).to_pylist()}
    worst, same, flagged, classes = 0.0, 0, [], Counter()
    for k, dets in ref.items():
        want = dict.fromkeys(columns, 0.0)
        for d in dets:
            want[d["class"].lower()] = max(want[d["class"].lower()], d["score"])
        got = ours[k]
        worst = max(worst, max(abs(got[c] - want[c]) for c in columns))
        same += all((got[c] >= 0.25) == (want[c] >= 0.25) for c in columns)
        hit = [c for c in columns if got[c] >= 0.5]
        classes.update(hit)
        if got["nsfw"] >= 0.5:
            flagged.append((k, got["nsfw"], hit))
    n = len(ref)
    print(f"parity   max |difference| of per-class scores {worst:.4f}; same classes found at 0.25 on {same}/{n}")
    print(f"flagged nsfw >= 0.5: {len(flagged)}/{n}; any class >= 0.5 by class: {dict(classes.most_common())}")
    offensive = sum(r["caption_offensive"] >= 0.5 for r in ours.values())
    print(f"captions offensive >= 0.5: {offensive}/{n}")
    return flagged


if __name__ == "__main__":
    main()
