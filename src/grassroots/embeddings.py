"""Reading and writing embeddings/<model-id>/ (see grassroots.stages.embed):
img/NNNNN.npy and txt/NNNNN.npy (float16, normalised) aligned with keys/NNNNN.parquet."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from grassroots import io
from grassroots.errors import InputError
from grassroots.layout import DatasetDir

KEYS_SCHEMA = pa.schema([pa.field("key", pa.string(), nullable=False)])


def model_info(layout: DatasetDir, model_id: str) -> dict:
    path = layout.model_info(model_id)
    if not io.exists(path):
        found = embedding_models(layout)
        raise InputError(layout.embeddings_dir(model_id), "no such embeddings",
                         f"run `grassroots embed` first; this dataset has: {', '.join(found) or 'none'}")
    return json.loads(io.read_text(path))


def start_model_info(layout: DatasetDir, identity) -> None:
    """Write embeddings/<model-id>/model.json for a model's ``identity`` (a
    grassroots.models.clip.ModelIdentity), or check the one there: a folder holds one
    precision of one model's embeddings."""
    out = layout.embeddings_dir(identity.model_id)
    path = layout.model_info(identity.model_id)
    if io.exists(path):
        old = json.loads(io.read_text(path))
        if old.get("precision") != identity.precision:
            raise InputError(out, f"holds {old.get('precision')} embeddings of this model, "
                             f"this run asks for {identity.precision}",
                             f"pass --precision {old.get('precision')}, or remove {out}")
        return
    doc = {"format": 1, **identity.to_dict(), "dtype": "float16", "normalised": True,
           "files": {"img": "img/NNNNN.npy", "txt": "txt/NNNNN.npy", "keys": "keys/NNNNN.parquet"}}
    io.write_text_atomic(path, json.dumps(doc, indent=1))


def embedding_models(layout: DatasetDir) -> list[str]:
    """The model ids under embeddings/."""
    return [p.rstrip("/").rsplit("/", 1)[-1] for p in io.glob(layout.embedding_models_glob())]


def embedded_shards(layout: DatasetDir, model_id: str) -> list[int]:
    return [DatasetDir.shard_of(p) for p in io.glob(layout.embedding_keys_glob(model_id))]


def read_embeddings(layout: DatasetDir, model_id: str, shard: int,
                    mmap: bool = False) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(keys, image embeddings, text embeddings) of one shard; ``mmap``: local files
    are memory-mapped (read lazily, nothing copied) instead of loaded."""
    with io.open_file(layout.embedding(model_id, "keys", shard)) as f:
        keys = pq.read_table(f).column("key").to_pylist()
    arrays = []
    for kind in ("img", "txt"):
        path = layout.embedding(model_id, kind, shard)
        if mmap and io.is_local(path):
            arrays.append(np.load(io.fs_and_path(path)[1], mmap_mode="r"))
        else:
            with io.open_file(path) as f:
                arrays.append(np.load(f))
    return keys, arrays[0], arrays[1]


def write_embeddings(layout: DatasetDir, model_id: str, shard: int, keys: list[str], img: np.ndarray,
                     txt: np.ndarray) -> int:
    """Write one shard's embeddings (keys last); bytes written."""
    n = 0
    for kind, arr in (("img", img), ("txt", txt)):
        with io.atomic_write(layout.embedding(model_id, kind, shard), "wb") as f:
            np.save(f, arr.astype(np.float16))
            n += f.tell()
    with io.atomic_write(layout.embedding(model_id, "keys", shard), "wb") as f:
        pq.write_table(pa.table({"key": keys}, schema=KEYS_SCHEMA), f)
    return n
