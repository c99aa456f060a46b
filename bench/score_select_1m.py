"""Benchmark: score + select, and near-duplicates by embedding, on 1 M synthetic rows.

    .venv/bin/python bench/score_select_1m.py [--rows 1000000] [--shards 10] [--dim 512]

Builds (once; reused) bench/_work/score1m/: 10 download-shaped ledger shards and
embeddings/<model>/ of 1 M rows. The image embeddings are clustered like real
ones (points around 2,000 topic centres on the unit sphere) with 1% planted
near-duplicates (a row's embedding plus small noise, at cosine ~0.97-0.99);
captions embed near their images. Then, in this process, timing each and
tracking peak memory (ru_maxrss of this process and its workers), with
``--processes`` (default 2) workers:

1. score (clip, caption, image tables) + select (``clip >= 0.2 AND width >= 64``);
2. near-duplicates by embedding (neardup-pairs with PDQ off, then neardup),
   with the recall of the planted pairs.

Targets (issue 14, this 2-core machine): (1) under a minute, (2) under 10
minutes with recall >= 0.9, memory under 2 GB throughout.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / "_work" / "score1m"
MODEL = "bench-model"


def peak_mb() -> float:
    """The largest resident size of this process or any worker process so far."""
    return max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)) / 1024


def build(ds: Path, rows: int, shards: int, dim: int) -> np.ndarray:
    """Write the dataset; returns the planted (original, copy) key pairs as int64."""
    from grassroots.embeddings import write_embeddings
    from grassroots.layout import DatasetDir
    from grassroots.schema import SAMPLE_SCHEMA
    from grassroots.stats import ShardStats

    marker = ds / "built.json"
    if marker.exists() and json.loads(marker.read_text()) == [rows, shards, dim]:
        return np.load(ds / "planted.npy")
    shutil.rmtree(ds, ignore_errors=True)
    layout = DatasetDir(str(ds))
    os.makedirs(layout.runs_dir("download"))
    os.makedirs(layout.shards_dir)
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(2000, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    per = rows // shards
    planted = []
    for s in range(shards):
        keys = [f"{s:05d}{r:06d}" for r in range(per)]
        topic = rng.integers(0, len(centres), per)
        img = centres[topic] + rng.normal(scale=0.9 / np.sqrt(dim) * 4, size=(per, dim)).astype(np.float32)
        copies = rng.choice(per, size=per // 100, replace=False)  # 1%: a near-copy of the row before it
        originals = (copies - 1) % per
        img[copies] = img[originals] + rng.normal(scale=0.15 / np.sqrt(dim), size=(len(copies), dim))
        planted += [(int(keys[o]), int(keys[c])) for o, c in zip(originals, copies)]
        img /= np.linalg.norm(img, axis=1, keepdims=True)
        txt = img + rng.normal(scale=1.2 / np.sqrt(dim), size=(per, dim)).astype(np.float32)
        txt /= np.linalg.norm(txt, axis=1, keepdims=True)
        write_embeddings(layout, MODEL, s, keys, img.astype(np.float16), txt.astype(np.float16))
        w = rng.integers(32, 1024, per)
        table = {f.name: pa.nulls(per, f.type) for f in SAMPLE_SCHEMA}
        table.update(key=pa.array(keys), url=pa.array([f"http://x/{k}.jpg" for k in keys]),
                     caption=pa.array([f"a picture of topic {t}" for t in topic]),
                     status=pa.array(["success"] * per), width=pa.array(w, pa.int32()),
                     height=pa.array(rng.integers(32, 1024, per), pa.int32()),
                     bytes=pa.array(rng.integers(2000, 200000, per), pa.int64()))
        table["original_width"], table["original_height"] = table["width"], table["height"]
        pq.write_table(pa.table(table, schema=SAMPLE_SCHEMA), layout.shard_parquet(s))
        write_tar(layout.shard_tar(s), keys)
        stats = ShardStats(stage="download", shard=s, candidates=per, kept=per)
        Path(layout.run_marker("download", s)).write_text(stats.to_json())
        print(f"  built shard {s + 1}/{shards}", file=sys.stderr)
    Path(layout.embeddings_dir(MODEL), "model.json").write_text(json.dumps({"arch": "synthetic"}))
    np.save(ds / "planted.npy", np.array(planted, dtype=np.int64))
    marker.write_text(json.dumps([rows, shards, dim]))
    return np.array(planted, dtype=np.int64)


TINY_JPEG = None


def write_tar(path: str, keys: list[str]) -> None:
    """One small JPEG + caption per key (select copies the selected samples)."""
    import io
    import tarfile

    from PIL import Image

    global TINY_JPEG
    if TINY_JPEG is None:
        buf = io.BytesIO()
        Image.new("RGB", (8, 8), (120, 30, 60)).save(buf, "JPEG")
        TINY_JPEG = buf.getvalue()
    with tarfile.open(path, "w") as tar:
        for k in keys:
            for ext, data in (("jpg", TINY_JPEG), ("txt", b"a picture")):
                info = tarfile.TarInfo(f"{k}.{ext}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))


def clean(ds: Path) -> None:
    for d in ("attributes", "releases"):
        shutil.rmtree(ds / d, ignore_errors=True)
    for d in (ds / "_runs").glob("*"):
        if d.name != "download":
            shutil.rmtree(d)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--shards", type=int, default=10)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--no-neardup", action="store_true", help="only score + select")
    args = ap.parse_args()
    from grassroots.runner import LocalRunner, run_step
    from grassroots.stages import NearDup, NearDupPairs, Score
    from grassroots.stages.neardup import NearDupConfig
    from grassroots.releases import make_release

    ds = WORK / "ds"
    t0 = time.perf_counter()
    planted = build(ds, args.rows, args.shards, args.dim)
    print(f"dataset: {args.rows:,} rows in {args.shards} shards, dim {args.dim} "
          f"({time.perf_counter() - t0:.0f} s to build or load); peak {peak_mb():.0f} MB")
    clean(ds)
    runner = LocalRunner(processes=args.processes)

    t0 = time.perf_counter()
    run_step(Score(MODEL), str(ds), runner, progress=False)
    t_score = time.perf_counter() - t0
    t0 = time.perf_counter()
    _, totals = make_release(str(ds), "v1", "clip >= 0.2 AND width >= 64", runner, progress=False)
    t_select = time.perf_counter() - t0
    print(f"score {t_score:.1f} s + select {t_select:.1f} s = {t_score + t_select:.1f} s "
          f"(target < 60 s); selected {totals.kept:,} of {totals.candidates:,}; peak {peak_mb():.0f} MB")

    if args.no_neardup:
        return
    t0 = time.perf_counter()
    cfg = NearDupConfig(embeddings=MODEL, pdq_distance=-1, cosine=0.95, partitions=4)
    run_step(NearDupPairs(cfg), str(ds), runner, progress=False)
    nd = run_step(NearDup(), str(ds), runner, progress=False)
    t_nd = time.perf_counter() - t0
    found = set()
    for p in sorted((ds / "attributes" / "neardup").glob("pairs-*.parquet")):
        t = pq.read_table(p, columns=["a", "b"])
        found |= set(zip(t.column("a").to_pylist(), t.column("b").to_pylist()))
    truth = {(min(a, b), max(a, b)) for a, b in planted.tolist()}
    recall = len(found & truth) / len(truth)
    print(f"near-dup by embedding: {t_nd:.1f} s (target < 600 s), recall {recall:.3f} of {len(truth):,} planted "
          f"(target >= 0.9), {len(found):,} pairs, {nd.counters['clusters']:,} clusters; peak {peak_mb():.0f} MB "
          f"(target < 2048 MB)")


if __name__ == "__main__":
    main()
