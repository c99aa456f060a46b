"""select: the parent's kept samples + attribute tables -> releases/<vN>/ (a dataset of its own).

For each shard of the parent (the dataset, or an earlier release), the attribute
tables are joined on ``key`` in DuckDB and every kept sample is tested against
the ``--where`` clauses in order. The release gets, under the same shard
numbers and keys: tars of the selected samples; a ledger with every parent
sample, selected (success) or ``filtered`` with the reason ``filtered:<first
failing clause>``; the selected rows of every attribute table and embedding.
Only attribute tables and shards are read: re-thresholding never runs a model.

The step runs with the release directory as its dataset: its markers, plan and
manifest are the release's own, and ``grassroots stats releases/vN`` checks its
accounting (parent kept samples == selected + filtered by clause).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import ClassVar

import pyarrow as pa
import pyarrow.parquet as pq

from grassroots import io
from grassroots.embeddings import embedding_models, read_embeddings, write_embeddings
from grassroots.errors import InputError, ShardError
from grassroots.layout import DatasetDir
from grassroots.ledger import finished_shards
from grassroots.runner.core import Resources, ShardTask
from grassroots.samples import IMAGE_EXTS
from grassroots.schema import Status, selection_reason
from grassroots.select_expr import Clause, parse
from grassroots.stats import ShardStats
from grassroots.writer import ShardWriter

NOT_ATTRIBUTES = ("dedup",)  # attribute folders that are not per-shard key tables


def attribute_tables(layout: DatasetDir) -> list[str]:
    names = [p.rstrip("/").rsplit("/", 1)[-1] for p in io.glob(f"{layout.root}/attributes/*")]
    return [n for n in names if n not in NOT_ATTRIBUTES and io.glob(f"{layout.attributes_dir(n)}/[0-9]*.parquet")]


def joined(parent: DatasetDir, shard: int, tables: list[str]) -> pa.Table:
    """The parent's kept samples of one shard (ledger order) with every attribute column."""
    import duckdb

    with io.open_file(parent.shard_parquet(shard)) as f:
        ledger = pq.read_table(f, columns=["key", "status"])
    # The ledger's order, numbered here: DuckDB's parallel joins keep no order of their own.
    ledger = ledger.append_column("__row", pa.array(range(ledger.num_rows), pa.int64()))
    con = duckdb.connect()
    con.register("ledger", ledger)
    sql = "SELECT ledger.key, ledger.__row"
    joins = ""
    for i, name in enumerate(tables):
        path = parent.attribute(name, shard)
        if not io.exists(path):
            continue
        with io.open_file(path) as f:
            attrs = pq.read_table(f)
        con.register(f"t{i}", attrs)
        cols = [c for c in attrs.column_names if c != "key"]
        sql += "".join(f", t{i}.\"{c}\"" for c in cols)
        joins += f" LEFT JOIN t{i} ON t{i}.key = ledger.key"
    sql += f" FROM ledger{joins} WHERE ledger.status = '{Status.SUCCESS.value}'"
    return con.sql(f"SELECT * FROM ({sql}) ORDER BY __row").to_arrow_table()


def columns_of(parent: DatasetDir, tables: list[str], shard: int) -> list[str]:
    return [c for c in joined(parent, shard, tables).column_names if c != "__row"]


def verdicts(table: pa.Table, clauses: list[Clause]) -> list[str | None]:
    """Per row: None (selected) or the name of the first clause it fails (false or null)."""
    import duckdb

    con = duckdb.connect()
    con.register("j", table)
    cases = " ".join(f"WHEN NOT coalesce(CAST(({c.sql}) AS BOOLEAN), false) THEN '{c.name}'" for c in clauses)
    try:
        out = con.sql(f"SELECT CASE {cases} ELSE NULL END AS why FROM j ORDER BY __row").to_arrow_table()
    except duckdb.Error as e:
        raise InputError("--where", f"cannot evaluate: {str(e).splitlines()[0]}") from None
    return out.column("why").to_pylist()


@dataclass(frozen=True)
class Select:
    name: ClassVar[str] = "select"
    resources: ClassVar[Resources] = Resources()
    ledger: ClassVar[str | None] = "shards"
    parent: str  # the dataset or release directory selected from
    where: str

    def clauses(self, parent: DatasetDir, shard: int) -> list[Clause]:
        return parse(self.where, columns_of(parent, attribute_tables(parent), shard))

    def plan(self, dataset: str) -> list[ShardTask]:
        parent = DatasetDir(self.parent)
        shards = finished_shards(parent.root)
        self.clauses(parent, shards[0])  # the expression is checked before anything is written
        layout = DatasetDir(dataset)
        for model in embedding_models(parent):
            info = f"{parent.embeddings_dir(model)}/model.json"
            if io.exists(info):
                io.write_text_atomic(f"{layout.embeddings_dir(model)}/model.json", io.read_text(info))
        return [ShardTask(s, dataset, (parent.shard_parquet(s),), params=(self.where,)) for s in shards]

    def outputs(self, layout: DatasetDir) -> list[str]:
        parent = DatasetDir(self.parent)
        models = embedding_models(parent)
        return [layout.shards_dir, *(layout.attributes_dir(t) for t in attribute_tables(parent)),
                *(f"{layout.embeddings_dir(m)}/{k}" for m in models for k in ("img", "txt", "keys"))]

    def __call__(self, task: ShardTask) -> ShardStats:
        import pyarrow.compute as pc

        parent, release, shard = DatasetDir(self.parent), DatasetDir(task.dataset), task.shard
        tables = attribute_tables(parent)
        rows = joined(parent, shard, tables)
        verdict = verdicts(rows, parse(self.where, [c for c in rows.column_names if c != "__row"]))
        keys = rows.column("key").to_pylist()
        selected = {k for k, v in zip(keys, verdict) if v is None}
        with io.open_file(parent.shard_parquet(shard)) as f:
            ledger = pq.read_table(f)
        ledger = ledger.drop_columns([c for c in IMAGE_EXTS if c in ledger.column_names])
        # Only the parent's kept samples are candidates of a release (same order as ``rows``).
        ledger = ledger.filter(pc.equal(ledger.column("status"), Status.SUCCESS.value))
        if ledger.column("key").to_pylist() != keys:
            raise ShardError(f"{parent.shard_parquet(shard)}: attribute join changed the sample order (a bug)")
        reasons = [None if v is None else selection_reason(v) for v in verdict]
        for name, values in (("status", [Status.SUCCESS.value if v is None else Status.FILTERED.value
                                         for v in verdict]),
                             ("reason", reasons),
                             ("error_message", [None if v is None else f"select: failed the clause on {v}"
                                               for v in verdict])):
            i = ledger.schema.get_field_index(name)
            ledger = ledger.set_column(i, ledger.schema.field(i), pa.array(values, ledger.schema.field(i).type))
        stats = ShardStats(candidates=len(keys))
        stats.keep(len(selected))
        for r in reasons:
            if r is not None:
                stats.drop(r)
        with ShardWriter(release.root, shard, schema=ledger.schema) as w:
            missing = selected - w.copy_samples(parent, shard, selected)
            if missing:
                raise ShardError(f"{parent.shard_parquet(shard)}: {len(missing)} kept samples have no stored files "
                                 f"(e.g. {min(missing)}; a damaged parent: rerun its download)")
            w.set_table(ledger)
        self._subset_attributes(parent, release, shard, tables, selected)
        self._subset_embeddings(parent, release, shard, selected)
        stats.bytes_written = w.bytes_written
        return stats

    @staticmethod
    def _subset_attributes(parent, release, shard, tables, selected) -> None:
        for name in tables:
            path = parent.attribute(name, shard)
            if not io.exists(path):
                continue
            with io.open_file(path) as f:
                t = pq.read_table(f)
            mask = pa.array([k in selected for k in t.column("key").to_pylist()], pa.bool_())
            with io.atomic_write(release.attribute(name, shard), "wb") as f:
                pq.write_table(t.filter(mask), f)

    @staticmethod
    def _subset_embeddings(parent, release, shard, selected) -> None:
        for model in embedding_models(parent):
            if not io.exists(parent.embedding(model, "keys", shard)):
                continue
            keys, img, txt = read_embeddings(parent, model, shard)
            idx = [i for i, k in enumerate(keys) if k in selected]
            write_embeddings(release, model, shard, [keys[i] for i in idx], img[idx], txt[idx])


def dry_run(parent: str, where: str) -> tuple[int, int, Counter]:
    """(kept samples of the parent, how many the expression selects, drops by first failing clause)."""
    layout = DatasetDir(parent)
    tables = attribute_tables(layout)
    total, selected, drops = 0, 0, Counter()
    for shard in finished_shards(layout.root):
        rows = joined(layout, shard, tables)
        for v in verdicts(rows, parse(where, [c for c in rows.column_names if c != "__row"])):
            total += 1
            if v is None:
                selected += 1
            else:
                drops[v] += 1
    return total, selected, drops


def record_release(release: str, step: Select, totals: ShardStats) -> None:
    """The release's manifest.json gains what it is: parent, expression, tables, models, counts."""
    from grassroots.manifest import read_manifest

    parent = DatasetDir(step.parent)
    manifest = read_manifest(release)
    manifest["release"] = {
        "parent": step.parent,
        "where": step.where,
        "attribute_tables": attribute_tables(parent),
        "embedding_models": embedding_models(parent),
        "candidates": totals.candidates,
        "selected": totals.kept,
        "filtered": dict(totals.reasons),
    }
    io.write_text_atomic(DatasetDir(release).manifest, json.dumps(manifest, indent=1, default=str))


RELEASE_NAME = r"v[0-9]+[A-Za-z0-9._-]*"


def make_release(dataset: str, release: str, where: str, runner, *, parent_release: str | None = None,
                 overwrite: bool = False, progress: bool = True) -> tuple[str, ShardStats]:
    """Select from the dataset (or its release ``parent_release``) into releases/<release>/."""
    import re
    import shutil

    from grassroots.runner.core import run_step

    for name in (release, parent_release):
        if name is not None and not re.fullmatch(RELEASE_NAME, name):
            raise InputError(name, "is not a release name", "use v1, v2, ... (letters, digits, . _ - after)")
    layout = DatasetDir(dataset)
    target = layout.release(release).root
    parent = layout.release(parent_release).root if parent_release else layout.root
    if parent_release and not io.exists(parent):
        raise InputError(parent, "no such release")
    if parent == target:
        raise InputError(release, "a release cannot be selected from itself")
    if io.exists(target):
        if not overwrite:
            raise InputError(target, "exists", "pick a new release name, or pass --overwrite to replace it")
        step = Select(parent, where)
        step.clauses(DatasetDir(parent), finished_shards(parent)[0])  # refuse bad input before deleting
        fs, local = io.fs_and_path(target)
        fs.rm(local, recursive=True) if not io.is_local(target) else shutil.rmtree(local)
    step = Select(parent, where)
    totals = run_step(step, target, runner, progress=progress)
    record_release(target, step, totals)
    return target, totals
