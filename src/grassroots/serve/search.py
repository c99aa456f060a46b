"""SearchService: the release's index and CLIP model behind the API.

Queries are encoded with the model that embedded the release (``model.json``:
architecture + checkpoint, checked by sha256), so a text query lands in the same
space as the images. Results resolve through items.arrow in O(1); a sample's
detail reads its ledger row and attribute rows (one shard each).
"""

from __future__ import annotations

import io as _io
import math
import threading

import numpy as np
import pyarrow.parquet as pq

from grassroots import io
from grassroots.embeddings import model_info
from grassroots.errors import InputError
from grassroots.index import ReleaseIndex, load_index
from grassroots.layout import DatasetDir
from grassroots.releases import Release
from grassroots.serve.config import ServeConfig

RESULT_FIELDS = ("key", "caption", "url", "page_url", "domain", "license")
MEDIA_TYPES = {"jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"}


def _finite(v):
    """NaN and infinities are not JSON: an unscored value is null."""
    return None if isinstance(v, float) and not math.isfinite(v) else v


class ModelUnavailable(Exception):
    """Text and image queries need the release's model; it was not loaded."""


class BadImage(ValueError):
    """An upload that is not a decodable image within the limits."""


def decode_image(data: bytes, max_pixels: int):
    from PIL import Image

    try:
        img = Image.open(_io.BytesIO(data))
        if img.width * img.height > max_pixels:
            raise BadImage(f"image of {img.width}x{img.height} pixels is over the limit of {max_pixels}")
        img.load()
        return img.convert("RGB")
    except BadImage:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise BadImage(f"not a readable image ({type(e).__name__})") from None


class SearchService:
    def __init__(self, config: ServeConfig):
        self.config = config
        self.dataset = DatasetDir(config.dataset)
        self.release = Release.named(config.dataset, config.release).require().layout
        self.index: ReleaseIndex = load_index(self.release.root, config.embeddings)
        self.model_id = self.index.doc["model_id"]
        self._lock = threading.Lock()
        self._model = None
        self.model_error = "not loaded (--no-model)"
        if config.load_model:
            self._load_model()

    def _load_model(self) -> None:
        """The model that embedded the release, through grassroots.models (one load; its
        sha256, computed while it loads, must be the one model.json names)."""
        from grassroots.models.clip import ModelSpec
        from grassroots.models.encode import Encoder

        info = model_info(self.release, self.model_id)
        ckpt, sha = info.get("checkpoint"), info.get("checkpoint_sha256")
        if not ckpt or not io.exists(ckpt):
            self.model_error = f"the checkpoint {ckpt} that embedded this release is not on this machine"
            return
        encoder = Encoder.load(ModelSpec(info["arch"], ckpt), "cpu", "fp32")
        if sha and encoder.identity.checkpoint_sha256 != sha:
            raise InputError(ckpt, "is not the checkpoint that embedded this release (sha256 differs)")
        self._model = encoder
        self.model_error = ""

    # --- queries -------------------------------------------------------------
    def encode_text(self, text: str) -> np.ndarray:
        if self._model is None:
            raise ModelUnavailable(self.model_error)
        with self._lock:
            return self._model.texts([text])[0]

    def encode_image(self, image) -> np.ndarray:
        if self._model is None:
            raise ModelUnavailable(self.model_error)
        with self._lock:
            return self._model.image(image)

    def taken_down(self) -> set[str]:
        """Keys taken down since the index was loaded (or ever): never answered, even by an
        index built before the takedown (grassroots.taken_down, re-read when it changes)."""
        from grassroots.taken_down import TakenDown

        return TakenDown.of(self.dataset.root).keys

    def search(self, vector: np.ndarray, k: int, over: str, safe: bool, dedup: bool = True) -> list[dict]:
        gone = self.taken_down()
        hits = self.index.search(vector, k + min(len(gone), 1000), over, safe, self.config.safety_threshold, dedup)
        hits = [h for h in hits if not gone or self.index.item(h.position)["key"] not in gone][:k]
        return [self.result(h.position, score=round(h.score, 5), folded=h.folded) for h in hits]

    def result(self, position: int, **extra) -> dict:
        item = self.index.item(position)
        out = {f: item[f] for f in RESULT_FIELDS}
        out["image"] = f"/api/image/{item['key']}"
        return {**out, **extra}

    def find_work(self, image, k: int) -> dict:
        """PDQ matches (exact and within the distance) and the nearest images by embedding."""
        from grassroots.imaging.hashes import pdq

        digest, quality = pdq(image)
        gone = self.taken_down()  # read once per request, not per match
        matches = [self.result(p, distance=d, exact=d == 0)
                   for p, d in self.index.pdq_matches(bytes.fromhex(digest), self.config.pdq_distance)
                   if self.index.item(p)["key"] not in gone]
        similar = []
        if self._model is not None:
            similar = self.search(self.encode_image(image), k, "img", safe=False, dedup=False)
        return {"pdq": digest, "pdq_quality": quality, "pdq_distance": self.config.pdq_distance,
                "matches": matches, "similar": similar}

    # --- samples -------------------------------------------------------------
    def position(self, key: str) -> int | None:
        if key in self.taken_down():
            return None
        return self.index.position_of(key)

    def sample(self, position: int) -> dict:
        import pyarrow.compute as pc

        item = self.index.item(position)
        shard, row = int(item["shard"]), int(item["row"])
        with io.open_file(self.release.shard_parquet(shard)) as f:
            ledger = pq.ParquetFile(f).read().slice(row, 1).to_pylist()[0]
        attributes = {}
        for path in io.glob(self.release.attributes_of_shard_glob(shard)):
            with io.open_file(path) as f:
                t = pq.read_table(f)
            rows = (t.filter(pc.equal(t.column("key"), item["key"])).to_pylist()
                    if "key" in t.column_names else [])
            if rows:
                attributes[path.rsplit("/", 2)[-2]] = {c: _finite(v) for c, v in rows[0].items() if c != "key"}
        pick = ("key", "caption", "url", "page_url", "domain", "license", "rights", "page_signals", "width", "height",
                "sha256", "pdq", "page_lang", "fetched_at")
        out = {c: ledger.get(c) for c in pick}
        out["fetched_at"] = str(out["fetched_at"]) if out["fetched_at"] is not None else None
        out["image"] = f"/api/image/{item['key']}"
        out["attributes"] = attributes
        out["unsafe"] = self.index.unsafe(position, self.config.safety_threshold)
        return out

    def image(self, position: int) -> tuple[bytes, str] | None:
        """(image bytes, media type) read from the tar with one seek."""
        item = self.index.item(position)
        if item["image_offset"] is None:
            from grassroots.samples import IMAGE_EXTS, read_sample_files

            files = read_sample_files(self.release, int(item["shard"]), keys={item["key"]}).get(item["key"], {})
            ext = next((e for e in IMAGE_EXTS if e in files), None)
            return (files[ext], MEDIA_TYPES[ext]) if ext else None
        with io.open_file(self.release.shard_tar(int(item["shard"]))) as f:
            f.seek(int(item["image_offset"]))
            return f.read(int(item["image_size"])), MEDIA_TYPES.get(item["image_ext"], "application/octet-stream")

    def info(self) -> dict:
        doc = self.index.doc
        return {"release": self.config.release, "model_id": self.model_id, "count": self.index.count,
                "kind": doc["kind"], "params": doc["params"], "heads": self.index.heads,
                "safety_threshold": self.config.safety_threshold, "text_search": self._model is not None,
                "max_k": self.config.max_k, "max_upload_bytes": self.config.max_upload_bytes}
