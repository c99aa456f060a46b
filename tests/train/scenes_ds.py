"""Datasets of mini-web scenes written straight into download-shaped shards (real
webdataset tars + ledger parquet + completion markers), for training tests: the
same files `grassroots download` writes, without serving and fetching them."""

from __future__ import annotations

import os
from typing import Callable

from grassroots.layout import DatasetDir
from grassroots.miniweb.scenes import encode, key_rng, make_scene, render
from grassroots.schema import SAMPLE_SCHEMA
from grassroots.stats import ShardStats
from grassroots.writer import ShardWriter


def make_scene_dataset(ds: str, n: int, shards: int = 2, seed: int = 0, max_side: int = 96) -> list[str]:
    """``n`` train-split scenes over ``shards`` shards; returns their captions in key order."""
    def sample(i: int) -> tuple[bytes, str]:
        scene = make_scene(key_rng("train-test", seed, i), max_side=max_side)
        return encode(render(scene), "jpg"), scene.caption

    return write_download_shards(ds, n, shards, sample)


def write_download_shards(ds: str, n: int, shards: int, sample: Callable[[int], tuple[bytes, str]],
                          url_prefix: str = "http://127.0.0.1/") -> list[str]:
    """Samples 0..n-1 (``sample(i)``: JPEG bytes and caption) as ``download`` writes them,
    ``shards`` shards of consecutive samples with their markers; returns the captions in key order."""
    layout, captions = DatasetDir(ds), []
    per = -(-n // shards)
    for s in range(shards):
        rows = range(s * per, min(n, (s + 1) * per))
        stats = ShardStats(stage="download", shard=s, candidates=len(rows))
        with ShardWriter(ds, s, schema=SAMPLE_SCHEMA) as w:
            for i in rows:
                key = f"{s:05d}{i - s * per:04d}"
                jpg, caption = sample(i)
                w.add_sample(key, {"jpg": jpg, "txt": caption})
                w.add_row({"key": key, "url": f"{url_prefix}{key}.jpg", "caption": caption, "status": "success"})
                stats.keep()
                captions.append(caption)
        os.makedirs(layout.runs_dir("download"), exist_ok=True)
        with open(layout.run_marker("download", s), "w") as f:
            f.write(stats.to_json())
    return captions
