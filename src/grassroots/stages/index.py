"""index: a release's embeddings -> releases/vN/index/<model-id>/ (format: grassroots.index).

A whole-release step with one task: it trains on a sample and adds the
embeddings shard by shard (memory: the index's codes and the sample, never all
vectors). The task's params name the embedding shards and their row counts, so
a release that changed (a takedown) is indexed again instead of skipped. A key that
was taken down (grassroots.taken_down) is never indexed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from grassroots.layout import DatasetDir
from grassroots.step import Resources, ShardTask
from grassroots.stats import ShardStats


@dataclass(frozen=True)
class Index:
    kind: ClassVar[str] = "index"
    resources: ClassVar[Resources] = Resources()
    ledger: ClassVar[str | None] = None
    embeddings: str  # the model id under embeddings/ (resolved by resolved())
    exact_max: int | None = None  # flat (exact) search up to this many vectors; None: grassroots.index.EXACT_MAX

    @property
    def name(self) -> str:
        return f"{self.kind}-{self.embeddings}"

    @classmethod
    def resolved(cls, release: str, embeddings: str | None = None, exact_max: int | None = None) -> "Index":
        """The step for the release's one embedding model, or the one named (clear errors otherwise)."""
        from grassroots.index.build import pick_model

        return cls(pick_model(DatasetDir(release), embeddings), exact_max)

    def plan(self, dataset: str) -> list[ShardTask]:
        from grassroots.index.build import source_of

        layout = DatasetDir(dataset)
        source = source_of(layout, self.embeddings)
        return [ShardTask(0, dataset, (layout.embeddings_dir(self.embeddings),),
                          params=(f"exact_max={self.exact_max}", "source=" + ",".join(f"{s}:{n}" for s, n in source)))]

    def outputs(self, layout: DatasetDir) -> list[str]:
        return [layout.index(self.embeddings).root]

    def __call__(self, task: ShardTask) -> ShardStats:
        from grassroots.index.build import EXACT_MAX, build_index
        from grassroots.taken_down import TakenDown

        doc = build_index(task.dataset, self.embeddings, exclude_keys=frozenset(TakenDown.of(task.dataset).keys),
                          exact_max=EXACT_MAX if self.exact_max is None else self.exact_max)
        stats = ShardStats(candidates=doc["count"])
        stats.keep(doc["count"])
        stats.count(f"kind_{doc['kind']}", 1)
        return stats
