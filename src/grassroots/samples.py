"""Reading samples back from a shard family, whatever its output format
(grassroots.writer: webdataset tar, a folder of files, or image columns of the
ledger parquet): key -> {extension: bytes}."""

from __future__ import annotations

import os
import tarfile

import pyarrow.compute as pc
import pyarrow.parquet as pq

from grassroots import io
from grassroots.layout import DatasetDir

IMAGE_EXTS = ("jpg", "jpeg", "png", "webp")


def shard_format(layout: DatasetDir, shard: int, family: str = "shards") -> str | None:
    """webdataset, files or parquet; None when the shard holds no samples."""
    if io.exists(layout.shard_tar(shard, family)):
        return "webdataset"
    if io.exists(layout.shard_folder(shard, family)):
        return "files"
    path = layout.shard_parquet(shard, family)
    if io.exists(path):
        with io.open_file(path) as f:
            names = pq.read_schema(f).names
        if any(ext in names for ext in IMAGE_EXTS):
            return "parquet"
    return None


def read_sample_files(layout: DatasetDir, shard: int, family: str = "shards",
                      keys: set[str] | None = None) -> dict[str, dict[str, bytes]]:
    """The stored samples of a shard (only ``keys`` when given)."""
    fmt = shard_format(layout, shard, family)
    out: dict[str, dict[str, bytes]] = {}
    if fmt == "webdataset":
        with io.open_file(layout.shard_tar(shard, family)) as f, tarfile.open(fileobj=f, mode="r|") as tar:
            for m in tar:
                key, _, ext = m.name.partition(".")
                if keys is None or key in keys:
                    out.setdefault(key, {})[ext] = tar.extractfile(m).read()
    elif fmt == "files":
        folder = io.fs_and_path(layout.shard_folder(shard, family))[1]
        for name in sorted(os.listdir(folder)):
            key, _, ext = name.partition(".")
            if keys is None or key in keys:
                with open(os.path.join(folder, name), "rb") as f:
                    out.setdefault(key, {})[ext] = f.read()
    elif fmt == "parquet":
        with io.open_file(layout.shard_parquet(shard, family)) as f:
            table = pq.read_table(f)
        exts = [e for e in IMAGE_EXTS if e in table.column_names]
        for row in table.select(["key", "caption", *exts]).to_pylist():
            image = next(((e, row[e]) for e in exts if row[e] is not None), None)
            if image is not None and (keys is None or row["key"] in keys):
                out[row["key"]] = {image[0]: image[1], "txt": (row["caption"] or "").encode()}
    return out


def stored_keys(layout: DatasetDir, shard: int, family: str = "shards") -> set[str]:
    """Keys with samples stored in the shard (without reading image bytes where possible)."""
    fmt = shard_format(layout, shard, family)
    if fmt == "webdataset":
        with io.open_file(layout.shard_tar(shard, family)) as f, tarfile.open(fileobj=f, mode="r|") as tar:
            return {m.name.split(".", 1)[0] for m in tar}
    if fmt == "files":
        return {n.split(".", 1)[0] for n in os.listdir(io.fs_and_path(layout.shard_folder(shard, family))[1])}
    if fmt == "parquet":
        with io.open_file(layout.shard_parquet(shard, family)) as f:
            table = pq.read_table(f)
        exts = [e for e in IMAGE_EXTS if e in table.column_names]
        present = [pc.is_valid(table.column(e)).to_pylist() for e in exts]
        keys = table.column("key").to_pylist()
        return {k for i, k in enumerate(keys) if any(p[i] for p in present)}
    return set()
