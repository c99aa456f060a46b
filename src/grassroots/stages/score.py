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
from grassroots.ledger import kept_rows
from grassroots.models.head import load_head
from grassroots.step import Resources, ShardTask
from grassroots.stats import ShardStats

# Caption flags, as RE2 patterns (pyarrow.compute runs them over a whole column).
URL_LIKE = r"^\s*(?i:https?://|www\.)\S+\s*$"
FILENAME_LIKE = (r"^\s*(?i:[\w\-. ]{1,80}\.(jpe?g|png|gif|webp|bmp|tiff?|heic))\s*$|"
                 r"^\s*(?i:img|dsc|dscn|dcim|pxl|photo|image|p)[_\- ]?\d{3,}")
BOILERPLATE = (r"(?i)\b(click here|read more|learn more|buy now|shop now|add to cart|image not found|"
               r"no image available|placeholder|thumbnail|loading\.\.\.|untitled)\b")

MODEL_TABLES = ("clip",)  # tables whose values depend on the embedding model (plus every head)


def caption_flags(captions: pa.Array) -> dict[str, pa.Array]:
    """Length, words and quality flags of a column of captions (nulls count as empty)."""
    import pyarrow.compute as pc

    text = pc.fill_null(captions.cast(pa.string()), "")
    letters = pc.count_substring_regex(text, r"\pL")
    return {
        "caption_chars": pc.utf8_length(text).cast(pa.int32()),
        "caption_words": pc.count_substring_regex(text, r"\S+").cast(pa.int32()),
        "all_caps": pc.and_(pc.greater_equal(letters, 4), pc.equal(letters, pc.count_substring_regex(text, r"\p{Lu}"))),
        "url_like": pc.match_substring_regex(text, URL_LIKE),
        "filename_like": pc.match_substring_regex(text, FILENAME_LIKE),
        "boilerplate": pc.match_substring_regex(text, BOILERPLATE),
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
            path = layout.attribute_info(table)
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
        import pyarrow.compute as pc

        layout = DatasetDir(task.dataset)
        ledger = kept_rows(layout, task.shard)  # task.inputs[0] is this shard's ledger
        col = lambda name: ledger.column(name) if name in ledger.column_names else pa.nulls(ledger.num_rows)  # noqa: E731
        keys = ledger.column("key")
        emb_keys, img, txt = read_embeddings(layout, self.embeddings, task.shard)
        at = {k: i for i, k in enumerate(emb_keys)}
        where = np.array([at.get(k, -1) for k in keys.to_pylist()], dtype=np.int64)
        has = where >= 0
        clip = np.full(len(keys), np.nan, dtype=np.float32)
        if has.any():
            a, b = img[where[has]].astype(np.float32), txt[where[has]].astype(np.float32)
            clip[has] = np.einsum("ij,ij->i", a, b)
        self._write(layout, "clip", task.shard, {"key": keys, "clip": _nullable(clip, has)})
        self._write(layout, "caption", task.shard, {"key": keys, **caption_flags(col("caption").combine_chunks()),
                                                    "lang": col("page_lang")})
        w = pc.cast(col("width"), pa.float64())
        h = pc.cast(col("height"), pa.float64())
        ow = pc.cast(pc.coalesce(col("original_width"), col("width")), pa.float64())
        oh = pc.cast(pc.coalesce(col("original_height"), col("height")), pa.float64())
        area = pc.if_else(pc.greater(pc.multiply(ow, oh), 0), pc.multiply(ow, oh), None)
        self._write(layout, "image", task.shard, {
            "key": keys, "width": col("width"), "height": col("height"),
            "aspect": pc.divide(pc.max_element_wise(w, h), pc.if_else(pc.greater(pc.min_element_wise(w, h), 0),
                                                                       pc.min_element_wise(w, h), None)),
            "bytes_per_pixel": pc.divide(pc.cast(col("bytes"), pa.float64()), area)})
        for name, path in self.heads:
            probs = np.full(len(keys), np.nan, dtype=np.float32)
            if has.any():
                probs[has] = load_head(path, name).predict(img[where[has]])
            self._write(layout, name, task.shard, {"key": keys, name: _nullable(probs, has)})
        stats = ShardStats(candidates=len(keys))
        stats.keep(len(keys))
        stats.count("not_embedded", int((~has).sum()))
        return stats

    @staticmethod
    def _write(layout: DatasetDir, table: str, shard: int, columns: dict) -> None:
        with io.atomic_write(layout.attribute(table, shard), "wb") as f:
            pq.write_table(pa.table(columns), f, compression="zstd")


def _nullable(values: np.ndarray, present: np.ndarray) -> pa.Array:
    return pa.array(values, mask=~present, type=pa.float32())


