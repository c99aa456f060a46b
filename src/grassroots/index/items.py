"""items.arrow: one row per indexed sample, in faiss-id order (see grassroots.index).

Built shard by shard from the release: the embedding keys (the order of the
vectors), the release ledger (caption, URL, page, licence, hashes), the tar
(byte range of each image, so the server reads it with one seek), and the
attribute tables the search page filters on (safety heads, near-duplicate cluster).
"""

from __future__ import annotations

import mmap

import pyarrow as pa
import pyarrow.parquet as pq

from grassroots import io
from grassroots.layout import DatasetDir, IndexDir
from grassroots.samples import image_spans
from grassroots.schema import Status

LEDGER_COLUMNS = ("caption", "url", "page_url", "domain", "license", "sha256", "pdq")
BUILTIN_TABLES = ("clip", "caption", "image", "neardup", "imghash", "dedup", "safety")
# Detector scores the page filters on like a head's probability: items column -> (table, column).
DETECTOR_COLUMNS = {"safety_nsfw": ("safety", "nsfw")}


def items_schema(heads: list[str]) -> pa.Schema:
    return pa.schema([
        pa.field("id", pa.int64(), nullable=False), pa.field("key", pa.string(), nullable=False),
        pa.field("shard", pa.int32()), pa.field("row", pa.int32()), pa.field("emb_row", pa.int32()),
        *(pa.field(c, pa.string()) for c in LEDGER_COLUMNS if c != "pdq"),
        pa.field("pdq", pa.binary(32)),
        pa.field("image_offset", pa.int64()), pa.field("image_size", pa.int64()), pa.field("image_ext", pa.string()),
        pa.field("neardup_cluster", pa.string()),
        *(pa.field(h, pa.float32()) for h in heads),
    ])


def head_tables(layout: DatasetDir) -> list[str]:
    """The items columns a sample is hidden by when ``safe`` is on: attribute tables written
    from a safety head (not a built-in table, and holding a float column of its own name: score
    writes ``attributes/<head>/NNNNN.parquet``: key, <head>), then the safety step's
    detector scores (DETECTOR_COLUMNS) where that table exists."""
    out = []
    for p in sorted(io.glob(layout.attribute_shards_glob("*"))):
        name = p.rsplit("/", 2)[-2]
        if name not in BUILTIN_TABLES and name not in out:
            with io.open_file(p) as f:
                schema = pq.read_schema(f)
            if name in schema.names and pa.types.is_floating(schema.field(name).type):
                out.append(name)
    for column, (table, _) in DETECTOR_COLUMNS.items():
        if io.glob(layout.attribute_shards_glob(table)):
            out.append(column)
    return out


def tar_ranges(layout: DatasetDir, shard: int) -> dict[str, tuple[int, int, str]]:
    """key -> (data offset, size, extension) of each image member of shards/NNNNN.tar."""
    path = layout.shard_tar(shard)
    if not io.exists(path):
        return {}
    with io.open_file(path) as f:
        try:
            data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        except (AttributeError, OSError, ValueError):  # not a local file (object store)
            data = f.read()
    try:
        return image_spans(data)
    finally:
        if isinstance(data, mmap.mmap):
            data.close()


def _attribute_column(layout: DatasetDir, table: str, column: str, shard: int) -> dict:
    path = layout.attribute(table, shard)
    if not io.exists(path):
        return {}
    with io.open_file(path) as f:
        t = pq.read_table(f, columns=["key", column])
    return dict(zip(t.column("key").to_pylist(), t.column(column).to_pylist()))


def shard_items(layout: DatasetDir, shard: int, keys: list[str], emb_rows: list[int], first_id: int,
                heads: list[str], schema: pa.Schema) -> pa.Table:
    """The items of one shard's embedded samples (``keys``, the order of the vectors;
    ``emb_rows``: their rows in the shard's embedding files)."""
    with io.open_file(layout.shard_parquet(shard)) as f:
        names = pq.read_schema(f).names
        f.seek(0)
        ledger = pq.read_table(f, columns=["key", "status", *(c for c in LEDGER_COLUMNS if c in names)])
    row_of = {k: i for i, (k, s) in enumerate(zip(ledger.column("key").to_pylist(),
                                                  ledger.column("status").to_pylist()))
              if s == Status.SUCCESS.value}
    rows = [row_of.get(k) for k in keys]
    take = pa.array([r if r is not None else 0 for r in rows], pa.int64())
    ranges = tar_ranges(layout, shard)
    cols: dict[str, object] = {"id": pa.array(range(first_id, first_id + len(keys)), pa.int64()), "key": keys,
                               "shard": [shard] * len(keys), "row": rows, "emb_row": emb_rows}
    for c in LEDGER_COLUMNS:
        if c not in names:
            cols[c] = pa.nulls(len(keys))
        elif c == "pdq":
            cols[c] = [bytes.fromhex(h) if h and len(h) == 64 else None
                       for h in ledger.column(c).take(take).to_pylist()]
        else:
            cols[c] = ledger.column(c).take(take)
    spans = [ranges.get(k) for k in keys]
    cols["image_offset"] = [s[0] if s else None for s in spans]
    cols["image_size"] = [s[1] if s else None for s in spans]
    cols["image_ext"] = [s[2] if s else None for s in spans]
    cluster = _attribute_column(layout, "neardup", "neardup_cluster", shard)
    cols["neardup_cluster"] = [cluster.get(k) for k in keys]
    for h in heads:
        probs = _attribute_column(layout, *DETECTOR_COLUMNS.get(h, (h, h)), shard)
        cols[h] = [probs.get(k) for k in keys]
    return pa.Table.from_pydict({f.name: cols[f.name] for f in schema}, schema=schema)


def read_items(index: IndexDir) -> pa.Table:
    """items.arrow, memory-mapped when local (nothing is copied until read)."""
    path = index.items
    if io.is_local(path):
        return pa.ipc.open_file(pa.memory_map(io.fs_and_path(path)[1], "r")).read_all()
    with io.open_file(path) as f:
        return pa.ipc.open_file(pa.BufferReader(f.read())).read_all()
