"""hash: shards/NNNNN (tar, files or parquet) -> attributes/imghash/NNNNN.parquet (key, phash, dhash).

Perceptual hashes (imagehash's pHash and dHash, 64 bits as 16 hex digits) of
every kept sample, one row per success row of the shard's ledger, in ledger
order. A sample whose image cannot be decoded keeps its row (hashes null) and
is counted as dropped with ``decode_error``.
"""

from __future__ import annotations

import io as _io
from dataclasses import dataclass
from typing import ClassVar

import pyarrow as pa
import pyarrow.parquet as pq

from grassroots import io
from grassroots.layout import DatasetDir
from grassroots.ledger import finished_shards, kept_rows
from grassroots.step import Resources, ShardTask
from grassroots.samples import IMAGE_EXTS, read_sample_files
from grassroots.schema import Reason
from grassroots.stats import ShardStats

IMGHASH_SCHEMA = pa.schema([pa.field("key", pa.string(), nullable=False),
                            pa.field("phash", pa.string()), pa.field("dhash", pa.string())])


@dataclass(frozen=True)
class Hash:
    name: ClassVar[str] = "hash"
    resources: ClassVar[Resources] = Resources()
    ledger: ClassVar[str | None] = None
    attribute: ClassVar[str] = "imghash"
    hash_size: int = 8

    def plan(self, dataset: str) -> list[ShardTask]:
        """One task per finished download shard (task N reads shards/N)."""
        layout = DatasetDir(dataset)
        done = finished_shards(dataset)
        return [ShardTask(s, dataset, (layout.shard_parquet(s),)) for s in done]

    def outputs(self, layout: DatasetDir) -> list[str]:
        return [layout.attributes_dir(self.attribute)]

    def __call__(self, task: ShardTask) -> ShardStats:
        import imagehash
        from PIL import Image

        keys = kept_rows(DatasetDir(task.dataset), task.shard, ["key"]).column("key").to_pylist()
        files = read_sample_files(DatasetDir(task.dataset), task.shard, keys=set(keys)) if keys else {}
        images = {k: next((v for e, v in f.items() if e in IMAGE_EXTS), b"") for k, f in files.items()}
        stats = ShardStats(candidates=len(keys))
        phash, dhash = [], []
        for key in keys:
            try:
                with Image.open(_io.BytesIO(images[key])) as img:
                    img.load()
                    p, d = imagehash.phash(img, self.hash_size), imagehash.dhash(img, self.hash_size)
            except (KeyError, OSError, ValueError, Image.DecompressionBombError):
                phash.append(None)
                dhash.append(None)
                stats.drop(Reason.DECODE_ERROR)
                continue
            phash.append(str(p))
            dhash.append(str(d))
            stats.keep()
        table = pa.table({"key": keys, "phash": phash, "dhash": dhash}, schema=IMGHASH_SCHEMA)
        with io.atomic_write(DatasetDir(task.dataset).attribute(self.attribute, task.shard), "wb") as f:
            pq.write_table(table, f, compression="zstd")
            stats.bytes_written = f.tell()
        return stats
