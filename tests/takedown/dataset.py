"""A small download-shaped dataset with everything a release carries: stored images with
real hashes (sha256, md5, PDQ), refused/failed/filtered rows, attribute tables (the real
hash step, a clip table), embeddings and a release v1 made by select. Shared by the
takedown and card tests."""

from __future__ import annotations

import datetime as dt
import hashlib
import io as _io
import json
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from grassroots.embeddings import write_embeddings
from grassroots.imaging.hashes import pdq
from grassroots.layout import DatasetDir
from grassroots.runner import LocalRunner, run_step
from grassroots.schema import SAMPLE_SCHEMA
from grassroots.stages import Hash
from grassroots.releases import make_release
from grassroots.stats import ShardStats
from grassroots.urls import registrable_domain
from grassroots.writer import ShardWriter
from tests.stages.test_score_select import jpeg, picture

SHARDS, PER_SHARD = 2, 10
MODEL = "grassroots-tiny-test"
HOSTS = ("art.example.org", "cdn.photos.example.net", "pics.example.com", "blog.example.de")
# (shard, row) -> (status, reason) of the rows that were not kept
DROPS = {(0, 7): ("refused", "robots_txt"), (0, 8): ("refused", "tdmrep"), (0, 9): ("failed", "timeout"),
         (1, 8): ("refused", "robots_txt"), (1, 9): ("filtered", "image_too_small")}
COPY, COPY_OF = (1, 6), (0, 2)
FETCHED = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.timezone.utc)


def url_of(s: int, r: int) -> str:
    return f"https://{HOSTS[(s * PER_SHARD + r) % len(HOSTS)]}/gallery/{s}-{r}.jpg"


def build(ds: str) -> dict[str, bytes]:
    """Writes the dataset and release v1 (clip >= -0.5); returns key -> stored image bytes."""
    layout = DatasetDir(ds)
    os.makedirs(layout.runs_dir("download"), exist_ok=True)
    images, rng = {}, np.random.default_rng(0)
    for s in range(SHARDS):
        stats = ShardStats(stage="download", shard=s, candidates=PER_SHARD)
        with ShardWriter(ds, s, schema=SAMPLE_SCHEMA) as w:
            for r in range(PER_SHARD):
                key, url = f"{s:05d}{r:04d}", url_of(s, r)
                base = {"key": key, "url": url, "page_url": url.rsplit("/", 1)[0] + "/",
                        "domain": registrable_domain(url),
                        "fetched_at": FETCHED + dt.timedelta(days=s * PER_SHARD + r),
                        "page_lang": ("en", "de", "fr")[r % 3], "caption": f"a secret caption {s}-{r}"}
                if (s, r) in DROPS:
                    status, reason = DROPS[(s, r)]
                    w.add_row({**base, "status": status, "reason": reason, "caption": None})
                    stats.drop(reason)
                    continue
                if (s, r) == COPY:  # a resized, re-encoded copy of another sample, at another URL
                    data = jpeg(picture(COPY_OF[0] * 100 + COPY_OF[1], red=False).resize((100, 100)), quality=60)
                else:
                    data = jpeg(picture(s * 100 + r, red=False), quality=90)
                decoded = Image.open(_io.BytesIO(data)).convert("RGB")
                h, q = pdq(decoded)
                side = decoded.width
                images[key] = data
                w.add_sample(key, {"jpg": data, "txt": base["caption"], "json": {"key": key, "url": url}})
                w.add_row({**base, "status": "success", "width": side, "height": side, "original_width": side,
                           "original_height": side, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(),
                           "md5": hashlib.md5(data).hexdigest(), "pdq": h, "pdq_quality": q,
                           "license": "https://creativecommons.org/licenses/by/4.0/" if r % 2 else None,
                           "rights": ["robots_txt:unknown:no rule"], "content_type": "image/jpeg",
                           "http_status": 200})
                stats.keep()
        with open(layout.run_marker("download", s), "w") as f:
            f.write(stats.to_json())
        keys = sorted(k for k in images if k.startswith(f"{s:05d}"))
        os.makedirs(os.path.dirname(layout.attribute("clip", s)), exist_ok=True)
        pq.write_table(pa.table({"key": keys, "clip": [0.9 - 0.1 * (i % 8) for i in range(len(keys))]}),
                       layout.attribute("clip", s))
        vecs = rng.normal(size=(len(keys), 8)).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        write_embeddings(layout, MODEL, s, keys, vecs, vecs[:, ::-1].copy())
    with open(f"{layout.embeddings_dir(MODEL)}/model.json", "w") as f:
        json.dump({"model": MODEL}, f)
    run_step(Hash(), ds, LocalRunner(processes=1), progress=False)
    make_release(ds, "v1", "clip >= 0.25", LocalRunner(processes=1), progress=False)
    return images
