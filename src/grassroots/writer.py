"""ShardWriter: one shard's webdataset tar + parquet ledger, written atomically,
in any shard family (``shards``, ``releases/v1/shards`` ...; see grassroots.layout).

Samples go to a tar under a temporary name (KEY.jpg, KEY.txt, KEY.json, ...);
ledger rows are collected and written as parquet at the end. Only when the
block completes are both renamed to their final names (tar first, then the
parquet): a killed run never leaves a truncated file that looks finished.
"""

from __future__ import annotations

import io as _io
import json
import tarfile
import time
from contextlib import ExitStack

import pyarrow as pa
import pyarrow.parquet as pq

from grassroots import io
from grassroots.layout import DatasetDir
from grassroots.schema import SAMPLE_SCHEMA


class ShardWriter:
    def __init__(self, dataset: str, shard: int, schema: pa.Schema = SAMPLE_SCHEMA, tar: bool = True,
                 family: str = "shards"):
        self.layout = DatasetDir(dataset)
        self.shard = shard
        self.family = family
        self.schema = schema
        self.rows: list[dict] = []
        self.bytes_written = 0
        self._want_tar = tar
        self._stack = ExitStack()
        self._tar: tarfile.TarFile | None = None
        self._mtime = time.time()

    def __enter__(self) -> "ShardWriter":
        io.makedirs(self.layout.family_dir(self.family))
        if self._want_tar:
            f = self._stack.enter_context(io.atomic_write(self.layout.shard_tar(self.shard, self.family), "wb"))
            self._tar = tarfile.open(fileobj=f, mode="w", format=tarfile.USTAR_FORMAT)
        return self

    def add_sample(self, key: str, files: dict[str, bytes | str | dict]) -> None:
        """Add one webdataset sample: ``files`` maps extension ("jpg", "txt", "json") to content."""
        assert self._tar is not None, "ShardWriter opened with tar=False"
        if "." in key:
            raise ValueError(f"webdataset keys must not contain dots: {key!r}")
        for ext, content in files.items():
            if isinstance(content, dict):
                data = json.dumps(content, ensure_ascii=False, sort_keys=True, default=str).encode()
            elif isinstance(content, str):
                data = content.encode("utf-8")
            else:
                data = content
            info = tarfile.TarInfo(f"{key}.{ext}")
            info.size = len(data)
            info.mtime = int(self._mtime)
            info.mode = 0o444
            self._tar.addfile(info, _io.BytesIO(data))
            self.bytes_written += len(data)

    def add_row(self, row: dict) -> None:
        self.rows.append(row)

    def table(self) -> pa.Table:
        cols = {f.name: [r.get(f.name) for r in self.rows] for f in self.schema}
        return pa.Table.from_pydict(cols, schema=self.schema)

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None and self._tar is not None:
                self._tar.close()
        finally:
            # Closes (and, on success, renames) the tar's temporary file.
            self._stack.__exit__(exc_type, exc, tb)
        if exc_type is not None:
            return
        table = self.table()
        with io.atomic_write(self.layout.shard_parquet(self.shard, self.family), "wb") as f:
            pq.write_table(table, f, compression="zstd")
            self.bytes_written += f.tell()
