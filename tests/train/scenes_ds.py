"""Datasets of mini-web scenes written straight into download-shaped shards (real
webdataset tars + ledger parquet + completion markers), for training tests: the
same files `grassroots download` writes, without serving and fetching them."""

from __future__ import annotations

import os

from grassroots.layout import DatasetDir
from grassroots.miniweb.scenes import encode, key_rng, make_scene, render
from grassroots.schema import SAMPLE_SCHEMA
from grassroots.stats import ShardStats
from grassroots.writer import ShardWriter


def make_scene_dataset(ds: str, n: int, shards: int = 2, seed: int = 0, max_side: int = 96) -> list[str]:
    """``n`` train-split scenes over ``shards`` shards; returns their captions in key order."""
    layout, captions = DatasetDir(ds), []
    per = -(-n // shards)
    for s in range(shards):
        rows = range(s * per, min(n, (s + 1) * per))
        stats = ShardStats(stage="download", shard=s, candidates=len(rows))
        with ShardWriter(ds, s, schema=SAMPLE_SCHEMA) as w:
            for i in rows:
                key = f"{s:05d}{i - s * per:04d}"
                scene = make_scene(key_rng("train-test", seed, i), max_side=max_side)
                w.add_sample(key, {"jpg": encode(render(scene), "jpg"), "txt": scene.caption})
                w.add_row({"key": key, "url": f"http://127.0.0.1/{key}.jpg", "caption": scene.caption,
                           "status": "success"})
                stats.keep()
                captions.append(scene.caption)
        os.makedirs(layout.runs_dir("download"), exist_ok=True)
        with open(layout.run_marker("download", s), "w") as f:
            f.write(stats.to_json())
    return captions
