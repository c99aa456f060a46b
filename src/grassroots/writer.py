"""ShardWriter: one shard's samples + parquet ledger, written atomically, in any
shard family (``shards``, ``releases/v1/shards`` ...; see grassroots.layout).

Output formats (img2dataset's ``--output_format``):
- ``webdataset`` (default): ``NNNNN.tar`` with KEY.jpg KEY.txt KEY.json, what
  webdataset and open_clip read;
- ``files``: a folder ``NNNNN/`` holding KEY.jpg KEY.txt KEY.json;
- ``parquet``: no tar; the image bytes are a binary column of the ledger
  (``jpg``, ``webp`` or ``png``), null for rows that were not kept.

Samples go under a temporary name; ledger rows are collected and written as
parquet at the end. Only when the block completes are both renamed to their
final names (samples first, then the parquet): a killed run never leaves a
truncated file that looks finished. grassroots.samples reads all three back.
"""

from __future__ import annotations

import enum
import io as _io
import json
import os
import shutil
import tarfile
import time
import uuid
from contextlib import ExitStack

import pyarrow as pa
import pyarrow.parquet as pq

from grassroots import io
from grassroots.errors import InputError
from grassroots.layout import DatasetDir
from grassroots.schema import SAMPLE_SCHEMA


class OutputFormat(str, enum.Enum):
    WEBDATASET = "webdataset"
    FILES = "files"
    PARQUET = "parquet"


def encode_member(content: bytes | str | dict) -> bytes:
    if isinstance(content, dict):
        return json.dumps(content, ensure_ascii=False, sort_keys=True, default=str).encode()
    if isinstance(content, str):
        return content.encode("utf-8")
    return content


def check_output_format(dataset: str, output_format: OutputFormat) -> None:
    """``files`` publishes a folder by renaming it, which object stores cannot do."""
    if OutputFormat(output_format) is OutputFormat.FILES and not io.is_local(dataset):
        raise InputError(dataset, "--output-format files needs a local directory (an object store cannot "
                         "publish a folder at once)", "use webdataset or parquet on object stores")


class ShardWriter:
    def __init__(self, dataset: str, shard: int, schema: pa.Schema = SAMPLE_SCHEMA,
                 family: str = "shards", output_format: OutputFormat = OutputFormat.WEBDATASET):
        self.layout = DatasetDir(dataset)
        self.shard = shard
        self.family = family
        self.schema = schema
        self.format = OutputFormat(output_format)
        self.rows: list[dict] = []
        self.bytes_written = 0
        self._stack = ExitStack()
        self._tar: tarfile.TarFile | None = None
        self._dir: str | None = None  # files: the temporary folder
        self._images: dict[str, dict[str, bytes]] = {}  # parquet: ext -> key -> bytes
        self._mtime = time.time()
        self._table: pa.Table | None = None

    def __enter__(self) -> "ShardWriter":
        check_output_format(self.layout.root, self.format)
        io.makedirs(self.layout.family_dir(self.family))
        if self.format is OutputFormat.WEBDATASET:
            f = self._stack.enter_context(io.atomic_write(self.layout.shard_tar(self.shard, self.family), "wb"))
            self._tar = tarfile.open(fileobj=f, mode="w", format=tarfile.USTAR_FORMAT)
        elif self.format is OutputFormat.FILES:
            final = io.fs_and_path(self.layout.shard_folder(self.shard, self.family))[1]
            parent, name = os.path.split(final)
            self._dir = os.path.join(parent, f".{name}.tmp-{uuid.uuid4().hex[:8]}")
            os.makedirs(self._dir)
        return self

    def add_sample(self, key: str, files: dict[str, bytes | str | dict]) -> None:
        """Add one sample: ``files`` maps extension ("jpg", "txt", "json") to content."""
        if "." in key:
            raise ValueError(f"webdataset keys must not contain dots: {key!r}")
        for ext, content in files.items():
            data = encode_member(content)
            self.bytes_written += len(data)
            if self._tar is not None:
                info = tarfile.TarInfo(f"{key}.{ext}")
                info.size = len(data)
                info.mtime = int(self._mtime)
                info.mode = 0o444
                self._tar.addfile(info, _io.BytesIO(data))
            elif self._dir is not None:
                with open(os.path.join(self._dir, f"{key}.{ext}"), "wb") as f:
                    f.write(data)
            elif ext not in ("txt", "json"):  # parquet: caption and metadata are ledger columns already
                self._images.setdefault(ext, {})[key] = data

    def copy_samples(self, layout: DatasetDir, shard: int, keys: set[str], family: str = "shards") -> set[str]:
        """Copy the samples of ``keys`` from another shard as they are stored: when
        both are tars, runs of selected members are copied as raw byte ranges (no
        re-encoding, ~50x faster than re-packing); returns the keys copied."""
        import mmap

        from grassroots.samples import iter_sample_files, shard_format, tar_member_spans

        copied: set[str] = set()
        if self._tar is not None and shard_format(layout, shard, family) == "webdataset":
            with io.open_file(layout.shard_tar(shard, family)) as f:
                try:
                    data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
                except (AttributeError, OSError, ValueError):  # not a local file (object store)
                    data = f.read()
                try:
                    spans = list(tar_member_spans(data))  # all parsed before anything is written
                except ValueError:  # extended headers: re-pack member by member below
                    spans = None
                try:
                    if spans is not None:
                        run_start = run_end = 0
                        for key, start, end in spans:
                            if key in keys:
                                if start != run_end:
                                    self._write_raw(data[run_start:run_end])
                                    run_start = start
                                run_end = end
                                copied.add(key)
                        self._write_raw(data[run_start:run_end])
                        return copied
                finally:
                    if isinstance(data, mmap.mmap):
                        data.close()
        for key, files in iter_sample_files(layout, shard, family, keys):
            self.add_sample(key, files)
            copied.add(key)
        return copied

    def _write_raw(self, chunk: bytes) -> None:
        if chunk:
            self._tar.fileobj.write(chunk)
            self._tar.offset += len(chunk)
            self.bytes_written += len(chunk)

    def add_row(self, row: dict) -> None:
        self.rows.append(row)

    def set_table(self, table: pa.Table) -> None:
        """The whole ledger at once (instead of add_row), for steps that build it column-wise."""
        self._table = table

    def table(self) -> pa.Table:
        if self._table is not None:
            return self._table
        cols = {f.name: [r.get(f.name) for r in self.rows] for f in self.schema}
        schema = self.schema
        for ext, images in sorted(self._images.items()):
            cols[ext] = [images.get(r.get("key")) for r in self.rows]
            schema = schema.append(pa.field(ext, pa.binary()))
        return pa.Table.from_pydict(cols, schema=schema)

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None and self._tar is not None:
                self._tar.close()
        finally:
            # Closes (and, on success, renames) the tar's temporary file.
            self._stack.__exit__(exc_type, exc, tb)
        if self._dir is not None:
            if exc_type is not None:
                shutil.rmtree(self._dir, ignore_errors=True)
            else:
                final = io.fs_and_path(self.layout.shard_folder(self.shard, self.family))[1]
                shutil.rmtree(final, ignore_errors=True)  # an earlier attempt's (never marked done)
                os.replace(self._dir, final)
        if exc_type is not None:
            return
        table = self.table()
        with io.atomic_write(self.layout.shard_parquet(self.shard, self.family), "wb") as f:
            pq.write_table(table, f, compression="zstd")
            self.bytes_written += f.tell()
