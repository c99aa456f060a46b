"""embed: shards/NNNNN -> embeddings/<model-id>/{img,txt}/NNNNN.npy + keys/NNNNN.parquet.

CLIP image and caption embeddings of every kept sample (float16, L2-normalised,
one row per embedded sample in ledger order; ``keys`` lists their keys in the
same order), in the layout clip-retrieval users know; numpy, faiss and autofaiss
read the .npy files as they are. ``model.json`` records the model's identity.

Per shard: a small thread pool decodes and preprocesses the next batch of
images while the model runs on this one; captions are tokenised once, each
distinct caption is embedded once, in batches of similar length cut to their
longest caption. A kept sample whose image cannot be decoded is dropped with
``decode_error`` (the accounting invariant: kept samples in == embedded + dropped).
"""

from __future__ import annotations

import concurrent.futures
import io as _io
import json
import os
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pyarrow.parquet as pq

from grassroots import io
from grassroots.embeddings import write_embeddings
from grassroots.errors import InputError
from grassroots.layout import DatasetDir
from grassroots.ledger import finished_shards
from grassroots.models.clip import ModelIdentity, ModelSpec
from grassroots.models.encode import decode_threads, embedding_dim, encode_images, encode_texts, prefetched
from grassroots.runner.core import Resources, ShardTask
from grassroots.runner.worker import cached
from grassroots.samples import IMAGE_EXTS, read_sample_files
from grassroots.schema import Reason, Status
from grassroots.stats import ShardStats


@dataclass(frozen=True)
class EmbedConfig:
    model: ModelSpec
    device: str = "auto"  # auto | cpu | cuda
    precision: str = "auto"  # auto | fp32 | bf16 | fp16
    batch_size: int = 64
    decode_threads: int = 0  # decode + preprocess threads; 0: 2 on the CPU (the model has the cores), all cores on CUDA
    threads: int = 0  # torch threads per worker on the CPU; 0: this machine's cores / workers


@dataclass(frozen=True)
class Embed:
    kind: ClassVar[str] = "embed"
    resources: ClassVar[Resources] = Resources(cpus=1, gpus=1)
    ledger: ClassVar[str | None] = None
    config: EmbedConfig
    # Chosen once, by the driver (resolved()), so every worker does the same; in manifest.json.
    device: str = ""
    precision: str = ""
    why: str = ""  # why that device and precision, for the console
    model_id: str = ""  # architecture + checkpoint sha256: the output folder
    identity: ModelIdentity | None = None  # the whole of model.json's identity, so manifest.json records it too

    @property
    def name(self) -> str:
        """Runs are per model (_runs/embed-<model-id>/): two models never share a marker."""
        return f"{self.kind}-{self.model_id}"

    def resolved(self) -> "Embed":
        """The step with device and precision chosen and the model identified."""
        from grassroots.models.clip import validate
        from grassroots.models.device import choose

        if self.model_id:
            return self
        validate(self.config.model)  # before any measurement or loading
        place = choose(self.config.device, self.config.precision)
        identity = Embed(self.config, place.device, place.precision, place.why).model()[3]
        return Embed(self.config, place.device, place.precision, place.why, identity.model_id, identity)

    def model(self):
        """(model, preprocess, tokenizer, identity), loaded once per worker process."""
        from grassroots.models.clip import load

        key = (self.config.model, self.device, self.precision)
        return cached(key, lambda: load(self.config.model, self.device, self.precision))

    def plan(self, dataset: str) -> list[ShardTask]:
        if not self.model_id:
            raise ValueError("run Embed.resolved() first: device, precision and model are chosen once, by the driver")
        if self.config.batch_size < 1:
            raise InputError("--batch-size", f"must be >= 1, got {self.config.batch_size}")
        layout = DatasetDir(dataset)
        done = finished_shards(dataset)
        identity = self.model()[3]  # validates the checkpoint against the architecture, here, once
        out = layout.embeddings_dir(identity.model_id)
        doc = {"format": 1, **identity.to_dict(), "dtype": "float16", "normalised": True,
               "files": {"img": "img/NNNNN.npy", "txt": "txt/NNNNN.npy", "keys": "keys/NNNNN.parquet"}}
        path = f"{out}/model.json"
        if io.exists(path):
            old = json.loads(io.read_text(path))
            if old.get("precision") != identity.precision:
                raise InputError(out, f"holds {old.get('precision')} embeddings of this model, "
                                 f"this run asks for {identity.precision}",
                                 f"pass --precision {old.get('precision')}, or remove {out}")
        else:
            io.write_text_atomic(path, json.dumps(doc, indent=1))
        return [ShardTask(s, dataset, (layout.shard_parquet(s),)) for s in done]

    def outputs(self, layout: DatasetDir) -> list[str]:
        base = layout.embeddings_dir(self.model_id)
        return [f"{base}/img", f"{base}/txt", f"{base}/keys"]

    def __call__(self, task: ShardTask) -> ShardStats:
        import torch

        torch.set_num_threads(self.config.threads or max(1, os.cpu_count() or 1))
        model, preprocess, tokenizer, identity = self.model()
        layout = DatasetDir(task.dataset)
        (ledger_path,) = task.inputs
        with io.open_file(ledger_path) as f:
            ledger = pq.read_table(f, columns=["key", "status", "caption"]).to_pylist()
        rows = [r for r in ledger if r["status"] == Status.SUCCESS.value]
        stats = ShardStats(candidates=len(rows))
        files = read_sample_files(layout, task.shard, keys={r["key"] for r in rows}) if rows else {}
        images, kept = self._images(rows, files, preprocess, model, stats)
        captions = [_caption(r, files) for r in rows if r["key"] in kept]
        texts = self._texts(captions, model, tokenizer)
        keys = [r["key"] for r in rows if r["key"] in kept]
        stats.keep(len(keys))
        stats.bytes_written = write_embeddings(layout, identity.model_id, task.shard, keys, images, texts)
        stats.count("pairs", len(keys))
        return stats

    def _images(self, rows, files, preprocess, model, stats) -> tuple[np.ndarray, set[str]]:
        """Image embeddings of the decodable samples (in row order), and their keys.
        Decoding of batch i+1 overlaps the model's work on batch i."""
        from PIL import Image

        def decode(row):
            data = next((v for e, v in files.get(row["key"], {}).items() if e in IMAGE_EXTS), None)
            if data is None:
                return None
            try:
                with Image.open(_io.BytesIO(data)) as img:
                    return preprocess(img.convert("RGB"))
            except (OSError, ValueError, Image.DecompressionBombError):
                return None

        bs, out, kept = self.config.batch_size, [], set()
        batches = (rows[i:i + bs] for i in range(0, len(rows), bs))
        with concurrent.futures.ThreadPoolExecutor(decode_threads(self.device, self.config.decode_threads)) as pool:
            for batch, tensors in prefetched(pool, decode, batches):
                good = [(r, t) for r, t in zip(batch, tensors) if t is not None]
                for _ in range(len(batch) - len(good)):
                    stats.drop(Reason.DECODE_ERROR)
                if good:
                    out.append(encode_images(model, [t for _, t in good], self.device, self.precision))
                    kept.update(r["key"] for r, _ in good)
        return (np.concatenate(out) if out else np.zeros((0, embedding_dim(model)), np.float32)), kept

    def _texts(self, captions: list[str], model, tokenizer) -> np.ndarray:
        """Caption embeddings in ``captions`` order, each distinct caption embedded once."""
        distinct = list(dict.fromkeys(captions))
        result = encode_texts(model, tokenizer, distinct, self.device, max(self.config.batch_size, 1) * 2)
        where = {c: i for i, c in enumerate(distinct)}
        return result[[where[c] for c in captions]]


def _caption(row: dict, files: dict) -> str:
    """The sample's KEY.txt, as open_clip and clip-retrieval read it; else the ledger's caption."""
    txt = files.get(row["key"], {}).get("txt")
    return txt.decode("utf-8", "replace") if txt is not None else (row["caption"] or "")
