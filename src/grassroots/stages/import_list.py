"""import: a user's URL list (csv, tsv, parquet, jsonl, txt) -> candidates/NNNNN.parquet.

A step with one task. Its plan names the source (resolved path); a dataset
holds candidates from one source only, so importing another list into it is
refused, and so is importing into a dataset that extract filled. Rows are never
dropped here: a row with an empty URL becomes a candidate that download records
as failed (invalid_url).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import pyarrow.parquet as pq

from grassroots import io
from grassroots.errors import InputError
from grassroots.inputs import UrlListSpec, candidate_shards, read_url_list, source_id, source_version
from grassroots.layout import DatasetDir
from grassroots.step import Resources, ShardTask, load_plan
from grassroots.stats import ShardStats


@dataclass(frozen=True)
class Import:
    name: ClassVar[str] = "import"
    resources: ClassVar[Resources] = Resources()
    ledger: ClassVar[str | None] = None
    source: UrlListSpec
    samples_per_shard: int = 10_000

    def plan(self, dataset: str) -> list[ShardTask]:
        if self.samples_per_shard < 1:
            raise InputError(self.source.path, f"--samples-per-shard must be >= 1, got {self.samples_per_shard}")
        if not io.exists(self.source.path):
            raise InputError(self.source.path, "no such file")
        task = ShardTask(0, dataset, (source_id(self.source.path),), params=(source_version(self.source.path),))
        saved = load_plan(dataset, self.name)
        if saved is not None and saved[0].inputs != task.inputs:
            raise InputError(dataset, f"already holds candidates imported from {saved[0].inputs[0]}",
                             "write to a new -o directory to download another list")
        if saved is not None and saved[0].params and saved[0].params != task.params:
            raise InputError(self.source.path, f"changed since it was imported into {dataset}",
                             "write to a new -o directory to download the new version")
        if saved is None and candidate_shards(dataset):
            raise InputError(dataset, "already holds candidates (from extract?)",
                             "pass that dataset directory as INPUT, or write to a new -o directory")
        return [task]

    def outputs(self, layout: DatasetDir) -> list[str]:
        return [layout.candidates_dir]

    def __call__(self, task: ShardTask) -> ShardStats:
        table = read_url_list(self.source)
        layout, spp = DatasetDir(task.dataset), self.samples_per_shard
        shards = max(1, -(-table.num_rows // spp))
        for s in range(shards):
            with io.atomic_write(layout.candidates(s), "wb") as f:
                pq.write_table(table.slice(s * spp, spp), f)
        stats = ShardStats(candidates=table.num_rows)
        stats.keep(table.num_rows)
        stats.count("candidate_shards", shards)
        return stats
