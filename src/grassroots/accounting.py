"""The accounting invariant, checked: every candidate that enters a step leaves it
once, kept or dropped with one reason, per shard and in total; for steps that
keep a ledger, the parquet rows, their statuses and reasons and the stored
samples agree with the stats. ``grassroots stats``, the cards and takedown
check whole datasets here; the driver (grassroots.runner.core.run_step) checks
the shards a step just wrote with grassroots.ledger.step_problems, the same
per-shard check.

This module stands above grassroots.stages (it reads the pipeline's order and
which steps keep a ledger); grassroots.ledger below it only reads.
"""

from __future__ import annotations

from grassroots import io
from grassroots.layout import DatasetDir
from grassroots.ledger import ledger_problems, shard_stats
from grassroots.stats import ShardStats
from grassroots.step import load_plan


def stage_names(dataset: str) -> list[str]:
    """Steps that ran on the dataset, in pipeline order (others after, by name)."""
    from grassroots.stages import STEPS

    order = tuple(getattr(s, "kind", None) or s.name for s in STEPS)  # embed runs are embed-<model-id>
    found = {p.rstrip("/").rsplit("/", 1)[-1] for p in io.glob(DatasetDir(dataset).stages_glob())}

    def rank(name: str) -> tuple:
        kind = name.split("-", 1)[0]
        return (order.index(kind) if kind in order else len(order), name)

    return sorted(found, key=rank)


def stage_totals(dataset: str) -> dict[str, ShardStats]:
    return {
        stage: ShardStats.total(list(shard_stats(dataset, stage).values()), stage=stage)
        for stage in stage_names(dataset)
    }


def accounting_problems(dataset: str, steps: tuple = ()) -> list[str]:
    """Every way the dataset breaks the accounting invariant, as sentences.

    For every step and shard: candidates == kept + sum(drops by reason). For
    steps with a ledger (download, and any of ``steps`` beyond the registered
    ones), also: as many ledger rows as planned input rows and as candidates,
    statuses and reasons matching the stats, one tar sample per success row.
    """
    from grassroots.stages import STEPS

    ledgers = {s.name: s.ledger for s in (*STEPS, *steps) if s.ledger}
    layout = DatasetDir(dataset)
    problems: list[str] = []
    for stage in stage_names(dataset):
        per_shard = shard_stats(dataset, stage)
        planned = {t.shard: t for t in load_plan(dataset, stage) or []} if stage in ledgers else {}
        for shard, st in sorted(per_shard.items()):
            if not st.accounted:
                problems.append(
                    f"{stage} shard {shard}: {st.candidates} candidates != {st.kept} kept + {st.dropped} dropped"
                )
            if stage in ledgers:
                problems += ledger_problems(layout, ledgers[stage], stage, shard, st, planned.get(shard))
        total = ShardStats.total(list(per_shard.values()))
        if not total.accounted:
            problems.append(f"{stage} total: {total.candidates} != {total.kept} + {total.dropped}")
    return problems
