"""purge: remove every taken-down sample from one dataset directory, in place, shard by shard.

Runs on the dataset and on each of its releases after a takedown
(grassroots.purge.purge_everywhere). For every shard that holds a key of
DATASET/takedowns/removed.csv (grassroots.taken_down):
- the tar is rewritten without the sample's members (raw byte copy of the others) and
  the ledger's row becomes ``refused``/``takedown`` with caption, page and rights
  blanked (URLs too for illegal content); both are written under temporary names
  and renamed, the tar first, so a crash leaves a shard a rerun finishes;
- the completion marker of the step that wrote the ledger (download, select or
  takedown) is recomputed from the new ledger, so the accounting invariant holds:
  the sample is now a candidate dropped with one reason, ``takedown``;
- every per-shard attribute table loses the sample's row, and every embedding model
  its vectors and key-map row (the vectors first, the key map last: a rerun that
  finds vectors already shorter than the key map knows they are done).
Shards without a listed key are read (the ledger's key column) and left alone.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from grassroots import io
from grassroots.embeddings import embedding_models, write_embeddings
from grassroots.layout import DatasetDir
from grassroots.ledger import finished_shards
from grassroots.samples import shard_format, stored_keys
from grassroots.schema import Reason, Status
from grassroots.stages import release_files
from grassroots.stats import ShardStats
from grassroots.step import Resources, ShardTask
from grassroots.taken_down import TakenDown
from grassroots.writer import OutputFormat, ShardWriter

LEDGER_STEPS = ("download", "select", "takedown")  # the steps whose markers account for a ledger


@dataclass(frozen=True)
class Purge:
    name: ClassVar[str] = "purge"
    resources: ClassVar[Resources] = Resources()
    ledger: ClassVar[str | None] = None  # rewrites the owner step's ledger; its marker is recomputed
    record: str  # digest of the takedown record: a later takedown visits every shard again

    def plan(self, dataset: str) -> list[ShardTask]:
        layout = DatasetDir(dataset)
        return [ShardTask(s, dataset, (layout.shard_parquet(s),), params=(self.record,))
                for s in finished_shards(dataset)]

    def outputs(self, layout: DatasetDir) -> list[str]:
        return release_files.outputs(layout, layout)

    def __call__(self, task: ShardTask) -> ShardStats:
        layout, shard = DatasetDir(task.dataset), task.shard
        taken = TakenDown.of(layout.root)
        with io.open_file(layout.shard_parquet(shard)) as f:
            keys = pq.read_table(f, columns=["key"]).column("key").to_pylist()
        hit = [k in taken.keys for k in keys]
        stats = ShardStats(candidates=len(keys))
        stats.keep(len(keys) - sum(hit))
        stats.drop(Reason.TAKEDOWN, sum(hit))
        if any(hit):
            stats.count("purged", purge_ledger(layout, shard, taken))
            purge_attributes(layout, shard, taken.keys)
            purge_embeddings(layout, shard, taken.keys)
        return stats


def purge_ledger(layout: DatasetDir, shard: int, taken: TakenDown) -> int:
    """The shard's tar and ledger without the taken-down samples; how many rows changed."""
    with io.open_file(layout.shard_parquet(shard)) as f:
        ledger = pq.read_table(f)
    keys = ledger.column("key").to_pylist()
    status, reason = ledger.column("status").to_pylist(), ledger.column("reason").to_pylist()
    messages = ledger.column("error_message").to_pylist()
    hit = [k in taken.keys for k in keys]
    fresh = [h and not (s == Status.REFUSED.value and r == Reason.TAKEDOWN.value)
             for h, s, r in zip(hit, status, reason)]
    messages = [f"takedown: {'illegal content, ' if k in taken.illegal else ''}removed by the takedown that made "
                f"{taken.by_release.get(k) or 'a later release'}" if new else m for k, m, new in zip(keys, messages, fresh)]
    purged = release_files.mark_removed(ledger, hit, messages, [k in taken.illegal for k in keys])
    stored = stored_keys(layout, shard)
    if purged.equals(ledger) and not stored & taken.keys:
        return 0
    fmt = OutputFormat(shard_format(layout, shard) or OutputFormat.WEBDATASET.value)
    with ShardWriter(layout.root, shard, schema=purged.schema, output_format=fmt) as w:
        w.copy_samples(layout, shard, stored - taken.keys)
        w.set_table(purged)
    recount_owner(layout, shard, purged)
    return sum(fresh)


def recount_owner(layout: DatasetDir, shard: int, ledger: pa.Table) -> None:
    """The marker of the step that wrote ``ledger``: kept and dropped counted from it."""
    for step in LEDGER_STEPS:
        marker = layout.run_marker(step, shard)
        if io.exists(marker):
            st = ShardStats.from_json(io.read_text(marker))
            status, reason = ledger.column("status").to_pylist(), ledger.column("reason").to_pylist()
            st.kept = sum(s == Status.SUCCESS.value for s in status)
            st.reasons = Counter(r for s, r in zip(status, reason) if s != Status.SUCCESS.value)
            io.write_text_atomic(marker, st.to_json())
            return


def purge_attributes(layout: DatasetDir, shard: int, removed: set[str]) -> None:
    for path in io.glob(layout.attributes_of_shard_glob(shard)):
        with io.open_file(path) as f:
            t = pq.read_table(f)
        if "key" not in t.column_names:
            continue
        keep = [k not in removed for k in t.column("key").to_pylist()]
        if not all(keep):
            with io.atomic_write(path, "wb") as f:
                pq.write_table(t.filter(pa.array(keep, pa.bool_())), f)


def purge_embeddings(layout: DatasetDir, shard: int, removed: set[str]) -> None:
    for model in embedding_models(layout):
        if not io.exists(layout.embedding(model, "keys", shard)):
            continue
        with io.open_file(layout.embedding(model, "keys", shard)) as f:
            keys = pq.read_table(f).column("key").to_pylist()
        keep = np.array([k not in removed for k in keys], bool)
        if keep.all():
            continue
        arrays = []
        for kind in ("img", "txt"):
            with io.open_file(layout.embedding(model, kind, shard)) as f:
                arr = np.load(f)
            arrays.append(arr[keep] if len(arr) == len(keys) else arr)  # shorter: done by an earlier try
        write_embeddings(layout, model, shard, [k for k, ok in zip(keys, keep) if ok], *arrays)
