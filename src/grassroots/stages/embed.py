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
from grassroots.models.clip import ModelSpec
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
        step = Embed(self.config, place.device, place.precision, place.why)
        return Embed(self.config, place.device, place.precision, place.why, step.model()[3].model_id)

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
        import torch
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
        batches = [rows[i:i + bs] for i in range(0, len(rows), bs)]
        # On CUDA the GPU outruns a few decode threads (~2,500 pairs/s for ViT-B-32 needs ~2,500 images/s).
        threads = self.config.decode_threads or (max(2, os.cpu_count() or 1) if self.device == "cuda" else 2)
        with concurrent.futures.ThreadPoolExecutor(threads) as pool:
            pending = [pool.map(decode, b) for b in batches[:2]]
            for i, batch in enumerate(batches):
                tensors = list(pending[i])
                if i + 2 < len(batches):
                    pending.append(pool.map(decode, batches[i + 2]))
                good = [(r, t) for r, t in zip(batch, tensors) if t is not None]
                for r, t in zip(batch, tensors):
                    if t is None:
                        stats.drop(Reason.DECODE_ERROR)
                if not good:
                    continue
                x = torch.stack([t for _, t in good]).to(self.device, dtype=_dtype(self.precision))
                with torch.inference_mode():
                    out.append(_normalised(model.encode_image(x)))
                kept.update(r["key"] for r, _ in good)
        return (np.concatenate(out) if out else np.zeros((0, model_dim(model)), np.float16)), kept

    def _texts(self, captions: list[str], model, tokenizer) -> np.ndarray:
        """Caption embeddings in ``captions`` order: each distinct caption once, in
        batches of similar token length, each cut to its longest caption."""
        import torch

        from grassroots.models.clip import encode_text

        if not captions:
            return np.zeros((0, model_dim(model)), np.float16)
        distinct = list(dict.fromkeys(captions))
        tokens = tokenizer(distinct)
        order = torch.argsort((tokens != 0).sum(dim=1), stable=True)
        result = np.zeros((len(distinct), model_dim(model)), np.float16)
        bs = max(self.config.batch_size, 1) * 2  # text is cheaper per sample than images
        with torch.inference_mode():
            for i in range(0, len(distinct), bs):
                idx = order[i:i + bs]
                result[idx.numpy()] = _normalised(encode_text(model, tokens[idx].to(self.device)))
        where = {c: i for i, c in enumerate(distinct)}
        return result[[where[c] for c in captions]]


def _caption(row: dict, files: dict) -> str:
    """The sample's KEY.txt, as open_clip and clip-retrieval read it; else the ledger's caption."""
    txt = files.get(row["key"], {}).get("txt")
    return txt.decode("utf-8", "replace") if txt is not None else (row["caption"] or "")


def model_dim(model) -> int:
    proj = getattr(model, "text_projection", None)
    return int(proj.shape[-1]) if proj is not None and hasattr(proj, "shape") else int(model.visual.output_dim)


def _dtype(precision: str):
    import torch

    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


def _normalised(x) -> np.ndarray:
    import torch

    x = torch.nn.functional.normalize(x.float(), dim=-1)
    return x.cpu().numpy().astype(np.float16)
