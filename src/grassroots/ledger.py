"""Reading what a dataset accounts for: per-stage stats from the completion
markers, and the per-sample ledger (shards/*.parquet)."""

from __future__ import annotations

import json
import tarfile
from collections import Counter

import pyarrow.parquet as pq

from grassroots import io
from grassroots.layout import DatasetDir
from grassroots.plan import load_plan
from grassroots.schema import Status
from grassroots.stats import ShardStats


def stage_names(dataset: str) -> list[str]:
    """Stages that ran on the dataset, in pipeline order (others after, by name)."""
    from grassroots.stages import PIPELINE

    order = ("import", *PIPELINE)
    found = {p.rstrip("/").rsplit("/", 1)[-1] for p in io.glob(DatasetDir(dataset).stages_glob())}
    return sorted(found, key=lambda s: (order.index(s) if s in order else len(order), s))


def shard_stats(dataset: str, stage: str) -> dict[int, ShardStats]:
    layout = DatasetDir(dataset)
    out = {}
    for path in io.glob(layout.markers_glob(stage)):
        if path.rsplit("/", 1)[-1].count(".") != 1:  # NNNNN.failed.json, NNNNN.pending.json
            continue
        out[DatasetDir.shard_of(path)] = ShardStats.from_json(io.read_text(path))
    return out


def failed_shards(dataset: str, stage: str) -> dict[int, dict]:
    layout = DatasetDir(dataset)
    return {
        DatasetDir.shard_of(p): json.loads(io.read_text(p))
        for p in io.glob(layout.failures_glob(stage))
    }


def read_samples(dataset: str, columns: list[str] | None = None) -> list[dict]:
    """Every ledger row of the dataset (shards/*.parquet), in key order."""
    rows = []
    for path in io.glob(DatasetDir(dataset).shard_parquets_glob()):
        with io.open_file(path) as f:
            rows += pq.read_table(f, columns=columns).to_pylist()
    return sorted(rows, key=lambda r: r.get("key") or "")


def stage_totals(dataset: str) -> dict[str, ShardStats]:
    return {
        stage: ShardStats.total(list(shard_stats(dataset, stage).values()), stage=stage)
        for stage in stage_names(dataset)
    }


def accounting_problems(dataset: str, ledger_stages: tuple[str, ...] = ("download",)) -> list[str]:
    """Every way the dataset breaks the accounting invariant, as sentences.

    For every stage and shard: candidates == kept + sum(drops by reason). For
    stages whose shards/NNNNN.parquet is a per-sample ledger (download), also:
    one parquet row per candidate, statuses and reasons matching the stats,
    and one tar sample per success row.
    """
    layout = DatasetDir(dataset)
    problems: list[str] = []
    for stage in stage_names(dataset):
        per_shard = shard_stats(dataset, stage)
        for shard, st in sorted(per_shard.items()):
            if not st.accounted:
                problems.append(
                    f"{stage} shard {shard}: {st.candidates} candidates != {st.kept} kept + {st.dropped} dropped"
                )
            if stage not in ledger_stages:
                continue
            problems += _ledger_problems(layout, stage, shard, st)
        total = ShardStats.total(list(per_shard.values()))
        if not total.accounted:
            problems.append(f"{stage} total: {total.candidates} != {total.kept} + {total.dropped}")
    return problems


def _ledger_problems(layout: DatasetDir, stage: str, shard: int, st: ShardStats) -> list[str]:
    where = f"{stage} shard {shard}"
    path = layout.shard_parquet(shard)
    if not io.exists(path):
        return [f"{where}: marked done but {path} is missing"]
    table = pq.read_table(path, columns=["key", "status", "reason"])
    problems = []
    planned = {p.shard: p for p in load_plan(layout.root, stage) or []}
    if shard in planned:
        inputs, source = planned[shard].rows, f"its planned input ({planned[shard].input})"
    elif io.exists(layout.candidates(shard)):
        source = layout.candidates(shard)
        with io.open_file(source) as f:
            inputs = pq.read_metadata(f).num_rows
    else:
        inputs, source = st.candidates, "?"
    if inputs != st.candidates:
        problems.append(f"{where}: {source} has {inputs} rows, stats say {st.candidates} candidates")
    if table.num_rows != st.candidates:
        problems.append(f"{where}: parquet has {table.num_rows} rows, stats say {st.candidates} candidates")
    keys = table.column("key").to_pylist()
    if len(set(keys)) != len(keys):
        problems.append(f"{where}: duplicate keys in {path}")
    status = table.column("status").to_pylist()
    reasons = Counter(r for s, r in zip(status, table.column("reason").to_pylist()) if s != Status.SUCCESS.value)
    if reasons != +st.reasons:
        problems.append(f"{where}: parquet reasons {dict(reasons)} != stats {dict(st.reasons)}")
    success = {k for k, s in zip(keys, status) if s == Status.SUCCESS.value}
    if len(success) != st.kept:
        problems.append(f"{where}: {len(success)} success rows, stats say {st.kept} kept")
    if None in reasons or any(s != Status.SUCCESS.value and r is None for s, r in zip(status, table.column("reason").to_pylist())):
        problems.append(f"{where}: a dropped row has no reason")
    tar_path = layout.shard_tar(shard)
    if io.exists(tar_path):
        with io.open_file(tar_path, "rb") as f, tarfile.open(fileobj=f, mode="r|") as tar:
            in_tar = {m.name.split(".", 1)[0] for m in tar}
        if in_tar != success:
            problems.append(
                f"{where}: tar samples differ from success rows "
                f"({len(in_tar - success)} extra, {len(success - in_tar)} missing)"
            )
    elif success:
        problems.append(f"{where}: {len(success)} success rows but no {tar_path}")
    return problems
