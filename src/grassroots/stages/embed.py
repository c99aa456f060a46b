"""embed: shards/NNNNN -> embeddings/<model-id>/{img,txt}/NNNNN.npy + keys/NNNNN.parquet.

CLIP image and caption embeddings of every kept sample (float16, L2-normalised,
one row per embedded sample in ledger order; ``keys`` lists their keys in the
same order), in the layout clip-retrieval users know; numpy, faiss and autofaiss
read the .npy files as they are. ``model.json`` records the model's identity.

Per shard: worker processes decode the next batches of images to pixels
(``models.pixels.PixelFeed``) while the model runs on this one; run inline by
the local runner, the driver starts decoding the first shards before it even
imports torch (``prefetch``), so loading the model costs no decode time.
Captions are tokenised once, each
distinct caption is embedded once, in batches of similar length cut to their
longest caption. A kept sample whose image cannot be decoded is dropped with
``decode_error`` (the accounting invariant: kept samples in == embedded + dropped).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from grassroots.embeddings import start_model_info, write_embeddings
from grassroots.errors import InputError
from grassroots.layout import DatasetDir
from grassroots.ledger import finished_shards, kept_rows
from grassroots.models.clip import ModelIdentity, ModelSpec
from grassroots.models.encode import Encoder, decode_workers, embedding_dim
from grassroots.models.pixels import PixelSpec, feed
from grassroots.step import Resources, ShardTask
from grassroots.runner.worker import cached
from grassroots.samples import IMAGE_EXTS, read_sample_files
from grassroots.schema import Reason
from grassroots.stats import ShardStats


@dataclass(frozen=True)
class EmbedConfig:
    model: ModelSpec
    device: str = "auto"  # auto | cpu | cuda
    precision: str = "auto"  # auto | fp32 | bf16 | fp16
    batch_size: int = 64
    decode_workers: int = 0  # decode processes; 0: all cores but one on the CPU, all cores on CUDA
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
        identity = Embed(self.config, place.device, place.precision, place.why).encoder().identity
        try:
            PixelSpec.of(identity)
        except ValueError as e:
            raise InputError("--model", f"{self.config.model.arch}: {e}") from None
        return Embed(self.config, place.device, place.precision, place.why, identity.model_id, identity)

    # The first shards' images decoded before the model is loaded: at most this many bytes of pixels.
    PREFETCH_BYTES: ClassVar[int] = 512 << 20

    def prefetch(self, dataset: str) -> None:
        """Start decoding the first shards' images now, in worker processes, for a run
        whose tasks will run in this process (the local runner's inline case): called
        before ``resolved()``, the imports and the model load overlap the decoding. Uses
        the geometry the architecture's config implies; does nothing where that is unknown."""
        spec = PixelSpec.from_config(self.config.model.arch, self.config.model.pretrained)
        if spec is None or self.config.batch_size < 1:
            return
        pixels_feed, budget = feed(spec, decode_workers("cpu", self.config.decode_workers)), self.PREFETCH_BYTES
        layout = DatasetDir(dataset)
        for shard in finished_shards(dataset):
            if budget <= 0:
                break
            rows, files = _kept(layout, ShardTask(shard, dataset, (layout.shard_parquet(shard),)))
            batches = self._batches(rows)
            pixels_feed.prefetch(_tag(shard, batches), ([_image(files, r) for r in b] for b in batches))
            budget -= len(rows) * 3 * spec.size * spec.size

    def encoder(self) -> Encoder:
        """The model, loaded once per worker process."""
        key = (self.config.model, self.device, self.precision, self.config.batch_size)
        return cached(key, lambda: Encoder.load(self.config.model, self.device, self.precision,
                                                self.config.batch_size))

    def plan(self, dataset: str) -> list[ShardTask]:
        if not self.model_id:
            raise ValueError("run Embed.resolved() first: device, precision and model are chosen once, by the driver")
        if self.config.batch_size < 1:
            raise InputError("--batch-size", f"must be >= 1, got {self.config.batch_size}")
        layout = DatasetDir(dataset)
        done = finished_shards(dataset)
        identity = self.encoder().identity  # validates the checkpoint against the architecture, here, once
        start_model_info(layout, identity)
        return [ShardTask(s, dataset, (layout.shard_parquet(s),)) for s in done]

    def outputs(self, layout: DatasetDir) -> list[str]:
        return [layout.embedding_dir(self.model_id, kind) for kind in ("img", "txt", "keys")]

    def __call__(self, task: ShardTask) -> ShardStats:
        import torch

        torch.set_num_threads(self.config.threads or max(1, os.cpu_count() or 1))
        layout = DatasetDir(task.dataset)
        rows, files = _kept(layout, task)
        pixels_feed = feed(PixelSpec.of(self.identity), decode_workers(self.device, self.config.decode_workers))
        batches = self._batches(rows)
        decoded = pixels_feed.decoded(_tag(task.shard, batches), ([_image(files, r) for r in b] for b in batches))
        encoder = self.encoder()  # decoding has started meanwhile (the first time: a load)
        identity = encoder.identity
        stats = ShardStats(candidates=len(rows))
        images, kept = self._images(batches, decoded, encoder, stats)
        captions = [_caption(r, files) for r in rows if r["key"] in kept]
        texts = self._texts(captions, encoder)
        keys = [r["key"] for r in rows if r["key"] in kept]
        stats.keep(len(keys))
        stats.bytes_written = write_embeddings(layout, identity.model_id, task.shard, keys, images, texts)
        stats.count("pairs", len(keys))
        return stats

    def _batches(self, rows: list[dict]) -> list[list[dict]]:
        bs = self.config.batch_size
        return [rows[i:i + bs] for i in range(0, len(rows), bs)]

    def _images(self, batches, decoded, encoder: Encoder, stats) -> tuple[np.ndarray, set[str]]:
        """Image embeddings of the decodable samples (in row order), and their keys; an
        image that does not decode drops its sample (decode_error)."""
        out, kept = [], set()
        for batch, (pixels, ok) in zip(batches, decoded):
            for _ in range(int((~ok).sum())):
                stats.drop(Reason.DECODE_ERROR)
            if len(pixels):
                out.append(encoder.pixels(pixels))
                kept.update(r["key"] for r, good in zip(batch, ok) if good)
        return (np.concatenate(out) if out else np.zeros((0, embedding_dim(encoder.model)), np.float32)), kept

    def _texts(self, captions: list[str], encoder: Encoder) -> np.ndarray:
        """Caption embeddings in ``captions`` order, each distinct caption embedded once."""
        distinct = list(dict.fromkeys(captions))
        result = encoder.texts(distinct)
        where = {c: i for i, c in enumerate(distinct)}
        return result[[where[c] for c in captions]]


def _kept(layout: DatasetDir, task: ShardTask) -> tuple[list[dict], dict]:
    """The shard's kept ledger rows (in ledger order) and their stored files."""
    rows = kept_rows(layout, task.shard, ["key", "caption"]).to_pylist()
    return rows, (read_sample_files(layout, task.shard, keys={r["key"] for r in rows}) if rows else {})


def _tag(shard: int, batches: list[list[dict]]) -> tuple:
    """What names a shard's decode work in the feed: the shard and its batches' keys."""
    return (shard, tuple(tuple(r["key"] for r in b) for b in batches))


def _image(files: dict, row: dict) -> bytes | None:
    return next((v for e, v in files.get(row["key"], {}).items() if e in IMAGE_EXTS), None)


def _caption(row: dict, files: dict) -> str:
    """The sample's KEY.txt, as open_clip and clip-retrieval read it; else the ledger's caption."""
    txt = files.get(row["key"], {}).get("txt")
    return txt.decode("utf-8", "replace") if txt is not None else (row["caption"] or "")
