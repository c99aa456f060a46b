"""takedown: release vN + a TakedownAsk -> release vN+1 with every matching sample removed.

Made like a ``select`` release (grassroots.stages.release_files: one function per
artifact family), shard for shard: the candidates of vN+1 are vN's kept samples; a
sample the ask matches (grassroots.takedown.match) becomes a ledger row with status
``refused``, reason ``takedown`` and a message naming what matched and who asked; its
tar members, attribute rows, embeddings and key-map rows are not copied. Its caption and
page columns are blanked in the ledger; its URL and hashes stay, so the audit trail
(and the blocklist) can name it. Illegal content (a request or ``--reason`` says so)
keeps its hashes only: URLs, domain and the matched value are withheld. A sample an
earlier takedown removed (grassroots.taken_down) is removed again, whatever the
ask. The orchestration (takedown.json, the dataset's registry and blocklist, the
index, the purge of everything else under the dataset, --purge-parent) is
grassroots.releases.make_takedown.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import ClassVar

from grassroots.layout import DatasetDir
from grassroots.ledger import finished_shards
from grassroots.step import Resources, ShardTask
from grassroots.samples import IMAGE_EXTS, iter_sample_files
from grassroots.schema import Reason, Status
from grassroots.stages import release_files
from grassroots.stats import ShardStats
from grassroots.takedown.match import Matcher
from grassroots.taken_down import TakenDown
from grassroots.takedown.requests import TakedownAsk



@dataclass(frozen=True)
class Takedown:
    name: ClassVar[str] = "takedown"
    resources: ClassVar[Resources] = Resources()
    ledger: ClassVar[str | None] = "shards"
    parent: str  # the release taken down from (vN)
    ask: TakedownAsk
    pdq_max_distance: int = 31
    pdq_min_quality: int = 50
    asked: str = ""  # digest of the ask as the user gave it (before copies were added), when known

    def digest(self) -> str:
        """Names the ask in the plan: a rerun with another ask redoes every shard. The ask as
        given, when known: the copies found depend on the parent, which the purge changes."""
        if self.asked:
            return self.asked
        doc = json.dumps([self.ask.entries, self.ask.file_reason.value, [r.reason.value for r in self.ask.requests],
                          self.pdq_max_distance, self.pdq_min_quality], sort_keys=True)
        return hashlib.sha256(doc.encode()).hexdigest()[:16]

    def plan(self, dataset: str) -> list[ShardTask]:
        parent = DatasetDir(self.parent)
        shards = finished_shards(parent.root)
        release_files.copy_model_info(parent, DatasetDir(dataset))
        return [ShardTask(s, dataset, (parent.shard_parquet(s),), params=(self.digest(),)) for s in shards]

    def outputs(self, layout: DatasetDir) -> list[str]:
        return release_files.outputs(DatasetDir(self.parent), layout)

    def __call__(self, task: ShardTask) -> ShardStats:
        parent, release, shard = DatasetDir(self.parent), DatasetDir(task.dataset), task.shard
        ledger = release_files.kept_ledger(parent, shard)
        matcher = Matcher(self.ask, self.pdq_max_distance, self.pdq_min_quality)
        stored = {}
        if matcher.needs_stored_bytes:
            stored = {k: next((v for e, v in files.items() if e in IMAGE_EXTS), None)
                      for k, files in iter_sample_files(parent, shard)}
        cols = [c for c in ("key", "url", "final_url", "page_url", "sha256", "md5", "pdq", "pdq_quality")
                if c in ledger.column_names]
        rows = ledger.select(cols).to_pylist()
        matches = [matcher.match(r, stored.get(r["key"])) for r in rows]
        earlier = TakenDown.of(self.parent)  # taken down before (the parent was not purged of it)
        removed, messages, illegal = [], [], []
        stats = ShardStats(candidates=len(rows))
        keep = set()
        for row, m in zip(rows, matches):
            bad = bool(m and self.ask.illegal(m.origins)) or row["key"] in earlier.illegal
            gone = m is not None or earlier.removes(row)
            removed.append(gone)
            illegal.append(gone and bad)
            messages.append(m.message(withhold=bad) if m else
                            f"takedown: removed earlier{' (illegal content)' if bad else ''}" if gone else None)
            if not gone:
                keep.add(row["key"])
                stats.keep()
                continue
            stats.drop(Reason.TAKEDOWN)
            stats.count(f"matched_by:{m.kind}" if m else "matched_by:earlier")
            if bad:
                stats.count("illegal_content")
            for origin in (m.origins if m else ()):
                if origin.startswith("request:"):
                    stats.count(origin)
        ledger = release_files.set_columns(ledger, {
            "status": [Status.SUCCESS.value] * len(rows), "reason": [None] * len(rows),
            "error_message": [None] * len(rows)})
        ledger = release_files.mark_removed(ledger, removed, messages, illegal)
        stats.bytes_written = release_files.write_release_shard(parent, release, shard, keep, ledger)
        return stats
