"""Reading samples back from a shard family, whatever its output format
(grassroots.writer: webdataset tar, a folder of files, or image columns of the
ledger parquet): key -> {extension: bytes}."""

from __future__ import annotations

import io as _io
import os
import tarfile
from typing import Iterator

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


def iter_sample_files(layout: DatasetDir, shard: int, family: str = "shards",
                      keys: set[str] | None = None) -> Iterator[tuple[str, dict[str, bytes]]]:
    """(key, {extension: bytes}) of the stored samples of a shard, in stored order
    (only ``keys`` when given); a tar is streamed, never held whole."""
    fmt = shard_format(layout, shard, family)
    if fmt == "webdataset":
        current, files = None, {}
        with io.open_file(layout.shard_tar(shard, family)) as f, tarfile.open(fileobj=f, mode="r|") as tar:
            for m in tar:
                key, _, ext = m.name.partition(".")
                if key != current:
                    if current is not None and files:
                        yield current, files
                    current, files = key, {}
                if keys is None or key in keys:
                    files[ext] = tar.extractfile(m).read()
        if current is not None and files:
            yield current, files
    elif fmt == "files":
        folder = io.fs_and_path(layout.shard_folder(shard, family))[1]
        grouped: dict[str, dict[str, bytes]] = {}
        for name in sorted(os.listdir(folder)):
            key, _, ext = name.partition(".")
            if keys is None or key in keys:
                with open(os.path.join(folder, name), "rb") as f:
                    grouped.setdefault(key, {})[ext] = f.read()
        yield from grouped.items()
    elif fmt == "parquet":
        with io.open_file(layout.shard_parquet(shard, family)) as f:
            table = pq.read_table(f)
        exts = [e for e in IMAGE_EXTS if e in table.column_names]
        for row in table.select(["key", "caption", *exts]).to_pylist():
            image = next(((e, row[e]) for e in exts if row[e] is not None), None)
            if image is not None and (keys is None or row["key"] in keys):
                yield row["key"], {image[0]: image[1], "txt": (row["caption"] or "").encode()}


def tar_member_spans(data) -> Iterator[tuple[str, int, int]]:
    """(key, start, end) of every member of a ustar tar held in ``data`` (bytes or
    an mmap): the byte range of its header and padded data, for copying samples
    between tars without decoding them. Raises ValueError for extended headers."""
    pos, n = 0, len(data)
    while pos + 512 <= n:
        header = data[pos:pos + 512]
        if not header.strip(b"\0"):
            return
        kind = header[156:157]
        if kind not in (b"0", b"\0"):
            raise ValueError(f"tar member type {kind!r} needs the slow path")
        size = int(header[124:136].split(b"\0", 1)[0].strip() or b"0", 8)
        end = pos + 512 + -(-size // 512) * 512
        if end > n:
            raise ValueError("truncated tar")
        yield header[:100].split(b"\0", 1)[0].split(b".", 1)[0].decode("utf-8"), pos, end
        pos = end


def image_spans(data) -> dict[str, tuple[int, int, str]]:
    """key -> (offset of its data, size, extension) of every image member of a
    webdataset tar held in ``data`` (bytes or an mmap): the one reader of image
    byte ranges (train's random access, the index's items). Extended headers go
    through tarfile."""
    out: dict[str, tuple[int, int, str]] = {}
    try:
        for key, start, _ in tar_member_spans(data):
            ext = bytes(data[start:start + 100]).split(b"\0", 1)[0].decode("utf-8").partition(".")[2]
            if ext in IMAGE_EXTS:
                size = int(bytes(data[start + 124:start + 136]).split(b"\0", 1)[0].strip() or b"0", 8)
                out[key] = (start + 512, size, ext)
        return out
    except ValueError:
        out = {}
    with tarfile.open(fileobj=_io.BytesIO(bytes(data)), mode="r:") as tar:
        for m in tar:
            key, _, ext = m.name.partition(".")
            if ext in IMAGE_EXTS and m.isfile():
                out[key] = (m.offset_data, m.size, ext)
    return out


def read_sample_files(layout: DatasetDir, shard: int, family: str = "shards",
                      keys: set[str] | None = None) -> dict[str, dict[str, bytes]]:
    """The stored samples of a shard (only ``keys`` when given), by key."""
    return dict(iter_sample_files(layout, shard, family, keys))


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
        import pyarrow.compute as pc  # ~60 ms to import: only for parquet-format shards

        present = [pc.is_valid(table.column(e)).to_pylist() for e in exts]
        keys = table.column("key").to_pylist()
        return {k for i, k in enumerate(keys) if any(p[i] for p in present)}
    return set()
