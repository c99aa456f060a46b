"""safety: shards/NNNNN -> attributes/safety/NNNNN.parquet, one row per kept sample, ledger order.

    key, nsfw, <18 NudeNet class columns>, caption_offensive

``nsfw`` (0-1) is the highest score among the exposed classes that make an image
sexually explicit (grassroots.models.safety.EXPLICIT); each class column is the
highest detection of that class in the image (0 when none), exactly as NudeNet's
``NudeDetector().detect()`` scores the same stored bytes; ``caption_offensive`` is
alt-profanity-check's probability for the caption. Both detectors ship inside
their wheels: nothing is downloaded. A sample whose image does not decode keeps
its row (image scores null) and is counted as ``decode_error``.
``select`` thresholds the table (e.g. ``nsfw < 0.5``); ``serve`` hides what is over
the threshold when ``safe`` is on.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from grassroots import io
from grassroots.layout import DatasetDir
from grassroots.ledger import finished_shards, kept_rows
from grassroots.samples import IMAGE_EXTS, read_sample_files
from grassroots.schema import Reason
from grassroots.stats import ShardStats
from grassroots.step import Resources, ShardTask

ATTRIBUTE = "safety"


def safety_schema() -> pa.Schema:
    from grassroots.models.safety import COLUMNS

    return pa.schema([pa.field("key", pa.string(), nullable=False), pa.field("nsfw", pa.float32()),
                      *(pa.field(c, pa.float32()) for c in COLUMNS), pa.field("caption_offensive", pa.float32())])


@dataclass(frozen=True)
class Safety:
    name: ClassVar[str] = "safety"
    resources: ClassVar[Resources] = Resources()
    ledger: ClassVar[str | None] = None
    attribute: ClassVar[str] = ATTRIBUTE
    threads: int = 1  # model and decoding threads per worker (the CLI gives each worker its share of the cores)
    batch_size: int = 16
    precision: str = "auto"  # auto: the bf16 screen where the CPU has bf16 (same answers); fp32: onnxruntime only

    def __post_init__(self) -> None:
        from grassroots.models.safety import PRECISIONS

        if self.precision not in PRECISIONS:
            raise ValueError(f"safety precision {self.precision!r}: use one of {', '.join(PRECISIONS)}")

    def plan(self, dataset: str) -> list[ShardTask]:
        """One task per finished download shard (task N reads shards/N)."""
        from grassroots.models.safety import EXPLICIT, backend, caption_model, session, versions

        session(self.threads)  # a missing onnxruntime or nudenet is one line, before any task
        caption_model()  # its arrays cached once here (grassroots.usercache), not by every worker
        layout = DatasetDir(dataset)
        info = {"detectors": versions(), "image_model": "nudenet/320n.onnx", "nsfw": list(EXPLICIT),
                "caption_model": "profanity_check/data/model.joblib",
                "image_backend": backend(self.precision, self.threads)}
        io.write_text_atomic(layout.attribute_info(self.attribute), json.dumps(info, indent=1))
        return [ShardTask(s, dataset, (layout.shard_parquet(s),)) for s in finished_shards(dataset)]

    def outputs(self, layout: DatasetDir) -> list[str]:
        return [layout.attributes_dir(self.attribute)]

    def __call__(self, task: ShardTask) -> ShardStats:
        from grassroots.models import safety as det

        layout = DatasetDir(task.dataset)
        rows = kept_rows(layout, task.shard, ["key", "caption"])
        keys = rows.column("key").to_pylist()
        files = read_sample_files(layout, task.shard, keys=set(keys)) if keys else {}
        stats = ShardStats(candidates=len(keys))
        images, sizes, ok = [], [], np.zeros(len(keys), bool)
        data = [next((v for e, v in files.get(key, {}).items() if e in IMAGE_EXTS), b"") for key in keys]
        with ThreadPoolExecutor(self.threads) as pool:  # cv2 decodes and resizes without the GIL
            for i, pre in enumerate(pool.map(det.preprocess, data)):
                if pre is None:
                    stats.drop(Reason.DECODE_ERROR)
                    continue
                images.append(pre[0])
                sizes.append(pre[1:])
                ok[i] = True
                stats.keep()
        scores = np.full((len(keys), len(det.LABELS)), np.nan, np.float32)
        if images:
            scores[ok], stats.counters["images_fp32"] = det.detect(images, sizes, self.threads, self.batch_size,
                                                                   self.precision)
        captions = [c or "" for c in rows.column("caption").to_pylist()]
        cols = {"key": keys, "nsfw": _nullable(det.nsfw_of(np.nan_to_num(scores)), ok)}
        cols.update({c: _nullable(scores[:, j], ok) for j, c in enumerate(det.COLUMNS)})
        cols["caption_offensive"] = pa.array(det.offensive(captions), pa.float32())
        stats.counters["images"] = int(ok.sum())
        table = pa.table(cols, schema=safety_schema())
        with io.atomic_write(layout.attribute(self.attribute, task.shard), "wb") as f:
            pq.write_table(table, f, compression="zstd")
            stats.bytes_written = f.tell()
        return stats


def _nullable(values: np.ndarray, ok: np.ndarray) -> pa.Array:
    return pa.array(values.astype(np.float32), pa.float32(), mask=~ok)
