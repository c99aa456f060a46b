"""select: the parent's kept samples + attribute tables -> releases/<vN>/ (a dataset of its own).

For each shard of the parent (the dataset, or an earlier release), the attribute
tables are joined on ``key`` in DuckDB and every kept sample is tested against
the ``--where`` clauses in order; a sample that was taken down
(grassroots.taken_down) is never selected, whatever the clauses: it becomes a
``refused``/``takedown`` row. The release gets, under the same shard
numbers and keys: tars of the selected samples; a ledger with every parent
sample, selected (success) or ``filtered`` with the reason ``filtered:<first
failing clause>``; the selected rows of every attribute table and embedding.
Only attribute tables and shards are read: re-thresholding never runs a model.
After ``--where``, a ``Curation`` may keep fewer: MetaCLIP's balancing over the concepts
table (``--balance T``: ``filtered:balance``, ``filtered:no_concept``) and a uniform seeded
sample (``--sample F``: ``filtered:sample``), each draw fixed by (seed, entry, key).

The step runs with the release directory as its dataset: its markers, plan and
manifest are the release's own, and ``grassroots stats releases/vN`` checks its
accounting (parent kept samples == selected + filtered by clause).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from typing import ClassVar

import pyarrow as pa
import pyarrow.parquet as pq

from grassroots import io
from grassroots.errors import InputError, ShardError
from grassroots.layout import DatasetDir
from grassroots.ledger import finished_shards, kept_rows
from grassroots.step import Resources, ShardTask
from grassroots.schema import Reason, Status, selection_reason
from grassroots.select_expr import Clause, parse
from grassroots.stages import release_files
from grassroots.stages.release_files import (attribute_tables, copy_model_info, kept_ledger, mark_removed,
                                             set_columns, write_release_shard)
from grassroots.taken_down import TakenDown
from grassroots.stats import ShardStats

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
    joins, seen = "", set()
    # The safety step's table first: its ``nsfw`` is the detector's. A column a table
    # before already has (a head named nsfw) is ``<table>_<column>`` (nsfw_nsfw).
    for i, name in enumerate(sorted(tables, key=lambda t: t != "safety")):
        path = parent.attribute(name, shard)
        if not io.exists(path):
            continue
        with io.open_file(path) as f:
            attrs = pq.read_table(f)
        con.register(f"t{i}", attrs)
        cols = [c for c in attrs.column_names if c != "key"]
        sql += "".join(f", t{i}.\"{c}\"" + (f" AS \"{name}_{c}\"" if c in seen else "") for c in cols)
        seen.update(cols)
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
class Curation:
    """What select keeps beyond ``--where``, each draw a function of (seed, entry, key) only,
    so the release does not depend on the order rows are read in, the shards or the runner:
    - ``balance`` T (MetaCLIP): an entry of the concepts table matched by n samples of the
      parent keeps each of them with probability min(1, T/n); a sample stays if any of its
      entries keeps it; one with no entry is ``filtered:no_concept`` (kept with ``keep_unmatched``);
    - ``sample`` F: each sample kept with probability F (the uniform baseline)."""

    balance: float | None = None
    sample: float | None = None
    seed: int = 0
    keep_unmatched: bool = False

    def __bool__(self) -> bool:
        return self.balance is not None or self.sample is not None

    def params(self) -> tuple[str, ...]:
        return (f"balance={self.balance}", f"sample={self.sample}", f"seed={self.seed}",
                f"keep_unmatched={self.keep_unmatched}") if self else ()

    def verdict(self, key: str, concepts: list[str] | None, counts: dict[str, int]) -> str | None:
        """None (kept) or the clause that drops the sample (after --where kept it)."""
        if self.balance is not None:
            entries = concepts or []
            if not entries:
                if not self.keep_unmatched:
                    return "no_concept"
            elif not any(draw(self.seed, e, key) < self.balance / max(1, counts.get(e, 1)) for e in entries):
                return "balance"
        if self.sample is not None and draw(self.seed, "", key) >= self.sample:
            return "sample"
        return None


def draw(seed: int, entry: str, key: str) -> float:
    """A uniform number in [0, 1) fixed by (seed, entry, key)."""
    digest = hashlib.blake2b(f"{seed}\0{entry}\0{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def concept_counts(parent: DatasetDir) -> dict[str, int]:
    """Samples per entry among the parent's kept samples (its concepts table)."""
    counts: Counter = Counter()
    for shard in finished_shards(parent.root):
        path = parent.attribute("concepts", shard)
        if not io.exists(path):
            continue
        keep = set(kept_rows(parent, shard, ["key"]).column("key").to_pylist())
        with io.open_file(path) as f:
            for row in pq.read_table(f, columns=["key", "concepts"]).to_pylist():
                if row["key"] in keep:
                    counts.update(set(row["concepts"] or ()))
    return dict(counts)


@dataclass(frozen=True)
class Select:
    name: ClassVar[str] = "select"
    resources: ClassVar[Resources] = Resources()
    ledger: ClassVar[str | None] = "shards"
    parent: str  # the dataset or release directory selected from
    where: str = ""  # empty: every kept sample passes (then only the curation decides)
    curation: Curation = Curation()

    def clauses(self, parent: DatasetDir, shard: int) -> list[Clause]:
        if not self.where.strip():
            return []
        return parse(self.where, columns_of(parent, attribute_tables(parent), shard))

    def plan(self, dataset: str) -> list[ShardTask]:
        parent = DatasetDir(self.parent)
        shards = finished_shards(parent.root)
        self.clauses(parent, shards[0])  # the expression is checked before anything is written
        if self.curation.balance is not None:
            if not io.glob(parent.attribute_shards_glob("concepts")):
                raise InputError(parent.root, "has no concepts table", "run `grassroots concepts DATASET --entries ...` first")
            io.write_text_atomic(DatasetDir(dataset).balance_counts,
                                 json.dumps({"before": concept_counts(parent)}, sort_keys=True))
        copy_model_info(parent, DatasetDir(dataset))
        return [ShardTask(s, dataset, (parent.shard_parquet(s),), params=(self.where, *self.curation.params()))
                for s in shards]

    def outputs(self, layout: DatasetDir) -> list[str]:
        return release_files.outputs(DatasetDir(self.parent), layout)

    def __call__(self, task: ShardTask) -> ShardStats:
        parent, release, shard = DatasetDir(self.parent), DatasetDir(task.dataset), task.shard
        rows = joined(parent, shard, attribute_tables(parent))
        clauses = parse(self.where, [c for c in rows.column_names if c != "__row"]) if self.where.strip() else []
        verdict = verdicts(rows, clauses) if clauses else [None] * rows.num_rows
        keys = rows.column("key").to_pylist()
        if self.curation:
            counts = (json.loads(io.read_text(release.balance_counts))["before"]
                      if self.curation.balance is not None else {})
            concepts = rows.column("concepts").to_pylist() if "concepts" in rows.column_names else [None] * len(keys)
            verdict = [v if v is not None else self.curation.verdict(k, c, counts)
                       for v, k, c in zip(verdict, keys, concepts)]
        selected = {k for k, v in zip(keys, verdict) if v is None}
        ledger = kept_ledger(parent, shard)  # the release's candidates, in the order of ``rows``
        if ledger.column("key").to_pylist() != keys:
            raise ShardError(f"{parent.shard_parquet(shard)}: attribute join changed the sample order (a bug)")
        reasons = [None if v is None else selection_reason(v) for v in verdict]
        ledger = set_columns(ledger, {
            "status": [Status.SUCCESS.value if v is None else Status.FILTERED.value for v in verdict],
            "reason": reasons,
            "error_message": [None if v is None else f"select: failed the clause on {v}" for v in verdict]})
        taken = TakenDown.of(parent.root)
        gone = taken.mask(ledger) if taken else [False] * len(keys)
        if any(gone):  # taken down, but the parent still holds it (it was not purged): never selected
            ledger = mark_removed(ledger, gone, ["takedown: removed earlier"] * len(keys),
                                  [k in taken.illegal for k in keys])
            selected -= {k for k, g in zip(keys, gone) if g}
            reasons = [Reason.TAKEDOWN.value if g else r for r, g in zip(reasons, gone)]
        stats = ShardStats(candidates=len(keys))
        stats.keep(len(selected))
        for r in reasons:
            if r is not None:
                stats.drop(r)
        stats.bytes_written = write_release_shard(parent, release, shard, selected, ledger)
        return stats
