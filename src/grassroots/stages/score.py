"""score: ledger + embeddings -> attribute tables, one row per kept sample, ledger order.

    attributes/clip/NNNNN.parquet     key, clip (image-caption cosine; null if not embedded)
    attributes/caption/NNNNN.parquet  key, caption_chars, caption_words, lang, all_caps, url_like,
                                      filename_like, boilerplate
    attributes/image/NNNNN.parquet    key, width, height, aspect, bytes_per_pixel
    attributes/<head>/NNNNN.parquet   key, <head> (probability from a safety head, e.g. nsfw)

Scores live beside the data (dolma): ``select`` applies thresholds to them, so
changing a threshold never re-runs a model. Each table's ``model.json`` names
the embedding model its scores come from; scoring with another model is refused
until the old tables are removed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from grassroots import io
from grassroots.embeddings import embedded_shards, model_info, read_embeddings
from grassroots.errors import InputError
from grassroots.layout import DatasetDir
from grassroots.models.head import load_head
from grassroots.runner.core import Resources, ShardTask
from grassroots.schema import Status
from grassroots.stats import ShardStats

_URL = re.compile(r"^\s*(https?://|www\.)\S+\s*$", re.I)
_FILENAME = re.compile(r"^\s*[\w\-. ]{1,80}\.(jpe?g|png|gif|webp|bmp|tiff?|heic)\s*$", re.I)
_CAMERA = re.compile(r"^\s*(img|dsc|dscn|dcim|pxl|photo|image|p)[_\- ]?\d{3,}", re.I)
_BOILERPLATE = re.compile(r"\b(click here|read more|learn more|buy now|shop now|add to cart|image not found|"
                          r"no image available|placeholder|thumbnail|loading\.\.\.|untitled)\b", re.I)

MODEL_TABLES = ("clip",)  # tables whose values depend on the embedding model (plus every head)


def caption_flags(caption: str) -> dict:
    letters = [c for c in caption if c.isalpha()]
    return {
        "caption_chars": len(caption),
        "caption_words": len(caption.split()),
        "all_caps": len(letters) >= 4 and all(c.isupper() for c in letters),
        "url_like": bool(_URL.match(caption)),
        "filename_like": bool(_FILENAME.match(caption) or _CAMERA.match(caption)),
        "boilerplate": bool(_BOILERPLATE.search(caption)),
    }


@dataclass(frozen=True)
class Score:
    kind: ClassVar[str] = "score"
    resources: ClassVar[Resources] = Resources()
    ledger: ClassVar[str | None] = None
    embeddings: str  # model id under embeddings/
    heads: tuple[tuple[str, str], ...] = ()  # (name, head file)

    @property
    def name(self) -> str:
        return f"{self.kind}-{self.embeddings}"

    def tables(self) -> list[str]:
        return ["clip", "caption", "image", *(n for n, _ in self.heads)]

    def plan(self, dataset: str) -> list[ShardTask]:
        layout = DatasetDir(dataset)
        model_info(layout, self.embeddings)  # clear error when the embeddings do not exist
        for name, path in self.heads:
            if not re.fullmatch(r"[a-z][a-z0-9_]{0,30}", name):
                raise InputError(f"--head {name}={path}", "a head name is lower-case letters, digits and _")
            if name in ("clip", "caption", "image", "neardup", "dedup", "imghash"):
                raise InputError(f"--head {name}={path}", f"{name!r} is a built-in table's name")
            head = load_head(path, name)
            if head.embedding_model != self.embeddings:
                raise InputError(path, f"this head was trained on {head.embedding_model} embeddings, "
                                 f"not {self.embeddings}", "train a head on these embeddings (grassroots train-head)")
        for table in (*MODEL_TABLES, *(n for n, _ in self.heads)):
            path = f"{layout.attributes_dir(table)}/model.json"
            if io.exists(path):
                old = json.loads(io.read_text(path))["embedding_model"]
                if old != self.embeddings:
                    raise InputError(layout.attributes_dir(table), f"holds scores from {old}",
                                     f"remove {layout.attributes_dir(table)} to score with {self.embeddings}")
            else:
                io.write_text_atomic(path, json.dumps({"embedding_model": self.embeddings}))
        shards = embedded_shards(layout, self.embeddings)
        if not shards:
            raise InputError(layout.embeddings_dir(self.embeddings), "holds no embedded shards",
                             "run `grassroots embed` first")
        return [ShardTask(s, dataset, (layout.shard_parquet(s), layout.embedding(self.embeddings, "keys", s)))
                for s in shards]

    def outputs(self, layout: DatasetDir) -> list[str]:
        return [layout.attributes_dir(t) for t in self.tables()]

    def __call__(self, task: ShardTask) -> ShardStats:
        layout = DatasetDir(task.dataset)
        with io.open_file(task.inputs[0]) as f:
            ledger = pq.read_table(f)
        cols = {c: ledger.column(c).to_pylist() for c in
                ("key", "status", "caption", "width", "height", "bytes", "original_width", "original_height",
                 "page_lang") if c in ledger.column_names}
        rows = [i for i, s in enumerate(cols["status"]) if s == Status.SUCCESS.value]
        keys = [cols["key"][i] for i in rows]
        emb_keys, img, txt = read_embeddings(layout, self.embeddings, task.shard)
        at = {k: i for i, k in enumerate(emb_keys)}
        where = np.array([at.get(k, -1) for k in keys], dtype=np.int64)
        has = where >= 0
        clip = np.full(len(keys), np.nan, dtype=np.float32)
        if has.any():
            a, b = img[where[has]].astype(np.float32), txt[where[has]].astype(np.float32)
            clip[has] = np.sum(a * b, axis=1)
        stats = ShardStats(candidates=len(keys))
        self._write(layout, "clip", task.shard, {"key": keys, "clip": _nullable(clip, has)})
        caps = [caption_flags(cols["caption"][i] or "") for i in rows]
        lang = cols.get("page_lang", [None] * len(cols["key"]))
        self._write(layout, "caption", task.shard, {
            "key": keys, **({k: [c[k] for c in caps] for k in caps[0]} if caps else _empty_caption()),
            "lang": [lang[i] for i in rows]})
        w, h = [cols["width"][i] for i in rows], [cols["height"][i] for i in rows]
        ow = [cols.get("original_width", cols["width"])[i] or 0 for i in rows]
        oh = [cols.get("original_height", cols["height"])[i] or 0 for i in rows]
        size = [cols.get("bytes", [None] * len(cols["key"]))[i] for i in rows]
        self._write(layout, "image", task.shard, {
            "key": keys, "width": w, "height": h,
            "aspect": [max(a, b) / min(a, b) if a and b else None for a, b in zip(w, h)],
            "bytes_per_pixel": [s / (x * y) if s and x and y else None for s, x, y in zip(size, ow, oh)]})
        for name, path in self.heads:
            probs = np.full(len(keys), np.nan, dtype=np.float32)
            if has.any():
                probs[has] = load_head(path, name).predict(img[where[has]])
            self._write(layout, name, task.shard, {"key": keys, name: _nullable(probs, has)})
        stats.keep(len(keys))
        stats.count("not_embedded", int((~has).sum()))
        return stats

    @staticmethod
    def _write(layout: DatasetDir, table: str, shard: int, columns: dict) -> None:
        with io.atomic_write(layout.attribute(table, shard), "wb") as f:
            pq.write_table(pa.table(columns), f, compression="zstd")


def _nullable(values: np.ndarray, present: np.ndarray) -> pa.Array:
    return pa.array(values, mask=~present, type=pa.float32())


def _empty_caption() -> dict:
    return {k: [] for k in caption_flags("")}
