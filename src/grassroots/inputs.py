"""Read a user's URL list (csv, tsv, parquet, jsonl, txt) into candidate shards.

Rows are never dropped here: a row with an empty URL becomes a candidate that
download records as failed (invalid_url), so every input row is accounted for.
"""

from __future__ import annotations

import enum
import json
import os
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from grassroots import io
from grassroots.errors import InputError
from grassroots.layout import DatasetDir
from grassroots.schema import CANDIDATE_SCHEMA

FORMATS = ("csv", "tsv", "parquet", "jsonl", "json", "txt")
InputFormat = enum.Enum("InputFormat", {f.upper(): f for f in FORMATS}, type=str)  # for the CLI's choices


@dataclass(frozen=True)
class UrlListSpec:
    path: str
    url_col: str = "url"
    caption_col: str | None = "caption"
    keep_cols: tuple[str, ...] = ()
    input_format: str | None = None  # inferred from the extension when None


def _format_of(spec: UrlListSpec) -> str:
    if spec.input_format:
        if spec.input_format not in FORMATS:
            raise InputError(spec.path, f"unknown input format {spec.input_format!r}",
                             f"use one of {', '.join(FORMATS)}")
        return spec.input_format
    name = spec.path.lower()
    for suffix in (".gz", ".zst", ".bz2"):
        name = name.removesuffix(suffix)
    ext = name.rsplit(".", 1)[-1] if "." in name.rsplit("/", 1)[-1] else ""
    if ext == "ndjson":
        return "jsonl"
    if ext not in FORMATS:
        raise InputError(spec.path, f"cannot tell the format from the extension {ext!r}",
                         "name the file .csv/.tsv/.parquet/.jsonl/.txt or pass --input-format")
    return ext


def read_url_list(spec: UrlListSpec) -> pa.Table:
    """The input as a table in CANDIDATE_SCHEMA, plus the kept extra columns."""
    if not io.exists(spec.path):
        raise InputError(spec.path, "no such file")
    fmt = _format_of(spec)
    try:
        with io.open_file(spec.path, "rb", compression="infer") as f:
            if fmt in ("csv", "tsv"):
                table = pacsv.read_csv(
                    f,
                    parse_options=pacsv.ParseOptions(delimiter="\t" if fmt == "tsv" else ",", newlines_in_values=True),
                    convert_options=pacsv.ConvertOptions(strings_can_be_null=True, column_types={
                        spec.url_col: pa.string(), **({spec.caption_col: pa.string()} if spec.caption_col else {})}),
                )
            elif fmt == "parquet":
                table = pq.read_table(f)
            elif fmt in ("jsonl", "json"):
                table = _read_json_lines(f.read(), spec.path)
            else:
                lines = [ln.strip() for ln in f.read().decode("utf-8", "replace").splitlines()]
                table = pa.table({spec.url_col: [ln for ln in lines if ln and not ln.startswith("#")]})
    except pa.ArrowInvalid as e:
        raise InputError(spec.path, f"cannot parse as {fmt}: {e}", "check the file's format and delimiter") from None
    return _to_candidates(table, spec)


def _read_json_lines(data: bytes, path: str) -> pa.Table:
    try:
        return pajson.read_json(pa.BufferReader(data))
    except pa.ArrowInvalid:
        rows = []
        for i, line in enumerate(data.decode("utf-8", "replace").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise InputError(path, f"invalid JSON: {e.msg}", "one JSON object per line", row=i) from None
        return pa.Table.from_pylist(rows)


def _to_candidates(table: pa.Table, spec: UrlListSpec) -> pa.Table:
    cols = table.column_names
    if spec.url_col not in cols:
        raise InputError(spec.path, f"no column {spec.url_col!r}; columns are {cols}",
                         "pass --url-col with the name of the column holding image URLs")
    if spec.caption_col and spec.caption_col not in cols and spec.caption_col != "caption":
        raise InputError(spec.path, f"no column {spec.caption_col!r}; columns are {cols}",
                         "pass --caption-col, or omit it for a list without captions")
    missing = [c for c in spec.keep_cols if c not in cols]
    if missing:
        raise InputError(spec.path, f"--keep-cols names missing columns {missing}; columns are {cols}")
    n = table.num_rows
    out = {}
    for field in CANDIDATE_SCHEMA:
        if field.name == "url":
            src = table.column(spec.url_col)
        elif field.name == "caption" and spec.caption_col in cols:
            src = table.column(spec.caption_col)
        elif field.name in cols and field.name not in (spec.url_col,):
            src = table.column(field.name)
        else:
            out[field.name] = pa.nulls(n, field.type)
            continue
        if field.name == "url":
            import pyarrow.compute as pc  # ~50 ms to import: only when a list is read

            src = pc.fill_null(src.cast(pa.string()), "")
        out[field.name] = src.cast(field.type)
    fields = list(CANDIDATE_SCHEMA)
    for c in spec.keep_cols:
        if c in out:
            continue
        out[c] = table.column(c)
        fields.append(pa.field(c, table.schema.field(c).type))
    return pa.table(out, schema=pa.schema(fields))


def candidate_shards(dataset: str) -> list[int]:
    return [DatasetDir.shard_of(p) for p in io.glob(DatasetDir(dataset).candidates_glob())]


def source_version(path: str) -> str:
    """Which version of an input a plan saw: size and modification time (local),
    or the object store's ETag / size and date; a changed file is a changed task."""
    fs, p = io.fs_and_path(path)
    info = fs.info(p)
    stamp = info.get("mtime") or info.get("ETag") or info.get("LastModified") or info.get("etag") or ""
    if hasattr(stamp, "timestamp"):
        stamp = stamp.timestamp()
    return f"size={info.get('size')},version={stamp}"


def source_id(path: str) -> str:
    """How a plan names an input: local paths resolved to an absolute path, so
    that a rerun from another directory or with another spelling is the same input."""
    return os.path.abspath(io.fs_and_path(path)[1]) if io.is_local(path) else path
