"""Reading ledgers back: per-step stats from the completion markers, and the
per-sample ledger of every step that writes one (a step's ``ledger`` names its
shard family, e.g. download's ``shards``). ``kept_rows`` is the one way to read
the kept rows of a shard; ``step_problems`` checks the shards a step just wrote
against their stats (the driver runs it; whole datasets: grassroots.accounting)."""

from __future__ import annotations

import json
from collections import Counter

import pyarrow.parquet as pq

from grassroots import io
from grassroots.layout import DatasetDir
from grassroots.samples import stored_keys
from grassroots.schema import Status
from grassroots.stats import ShardStats
from grassroots.step import load_plan


def shard_stats(dataset: str, stage: str) -> dict[int, ShardStats]:
    layout = DatasetDir(dataset)
    out = {}
    for path in io.glob(layout.markers_glob(stage)):
        if path.rsplit("/", 1)[-1].count(".") != 1:  # NNNNN.failed.json
            continue
        out[DatasetDir.shard_of(path)] = ShardStats.from_json(io.read_text(path))
    return out


def finished_shards(dataset: str) -> list[int]:
    """Shards whose per-sample ledger (shards/NNNNN.parquet) is complete: written
    by download in a dataset, or by select or takedown in a release. Steps that read samples
    plan over these; none is a clear error."""
    from grassroots.errors import InputError

    done = sorted(shard_stats(dataset, "download") or shard_stats(dataset, "select")
                  or shard_stats(dataset, "takedown"))
    if not done:
        raise InputError(dataset, "has no finished download shards", "run `grassroots download` first")
    return done


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


def kept_rows(layout: DatasetDir, shard: int, columns: list[str] | None = None, family: str = "shards", *,
              taken_down: bool = False):
    """The kept (success) rows of one shard's ledger as a pyarrow Table, in ledger order,
    without the samples taken down (grassroots.taken_down: every step that reads
    samples reads them here). ``taken_down=True``: with them (select and takedown write
    them as refused rows of a release)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from grassroots.taken_down import ROW_COLUMNS, TakenDown

    guard = None if taken_down else TakenDown.of(layout.root)
    path = layout.shard_parquet(shard, family)
    want = None
    if columns is not None:
        want = list(dict.fromkeys([*columns, "status"]))
        if guard:
            with io.open_file(path) as f:
                names = pq.read_schema(f).names
            want = list(dict.fromkeys([*want, *(c for c in ROW_COLUMNS if c in names)]))
    with io.open_file(path) as f:
        table = pq.read_table(f, columns=want)
    table = table.filter(pc.equal(table.column("status"), Status.SUCCESS.value))
    if guard:
        table = table.filter(pa.array([not gone for gone in guard.mask(table)], pa.bool_()))
    if columns is not None:
        table = table.select(columns)
    return table


def step_problems(dataset: str, step, shards) -> list[str]:
    """The accounting problems of ``shards`` of one step that just ran (what the
    driver checks: the tasks this run finished, not the whole dataset)."""
    layout = DatasetDir(dataset)
    per_shard = shard_stats(dataset, step.name)
    planned = {t.shard: t for t in load_plan(dataset, step.name) or []} if step.ledger else {}
    problems: list[str] = []
    for shard in sorted(set(shards) & set(per_shard)):
        st = per_shard[shard]
        if not st.accounted:
            problems.append(f"{step.name} shard {shard}: {st.candidates} candidates != {st.kept} kept + "
                            f"{st.dropped} dropped")
        if step.ledger:
            problems += ledger_problems(layout, step.ledger, step.name, shard, st, planned.get(shard))
    return problems


def ledger_problems(layout: DatasetDir, family: str, stage: str, shard: int, st: ShardStats, task) -> list[str]:
    """How one shard's ledger (``family``) disagrees with its stats and its stored samples."""
    where = f"{stage} shard {shard}"
    path = layout.shard_parquet(shard, family)
    if not io.exists(path):
        return [f"{where}: marked done but {path} is missing"]
    with io.open_file(path) as f:
        table = pq.read_table(f, columns=["key", "status", "reason"])
    problems = []
    if task is not None and task.rows is not None and task.rows[1] != st.candidates:
        problems.append(f"{where}: its planned input ({task.inputs[0]}) has {task.rows[1]} rows, "
                        f"stats say {st.candidates} candidates")
    if table.num_rows != st.candidates:
        problems.append(f"{where}: parquet has {table.num_rows} rows, stats say {st.candidates} candidates")
    keys = table.column("key").to_pylist()
    if len(set(keys)) != len(keys):
        problems.append(f"{where}: duplicate keys in {path}")
    status = table.column("status").to_pylist()
    reason_col = table.column("reason").to_pylist()
    reasons = Counter(r for s, r in zip(status, reason_col) if s != Status.SUCCESS.value)
    if reasons != +st.reasons:
        problems.append(f"{where}: parquet reasons {dict(reasons)} != stats {dict(st.reasons)}")
    success = {k for k, s in zip(keys, status) if s == Status.SUCCESS.value}
    if len(success) != st.kept:
        problems.append(f"{where}: {len(success)} success rows, stats say {st.kept} kept")
    if any(s != Status.SUCCESS.value and r is None for s, r in zip(status, reason_col)):
        problems.append(f"{where}: a dropped row has no reason")
    if success:
        stored = stored_keys(layout, shard, family)
        if not stored:
            problems.append(f"{where}: {len(success)} success rows but no samples stored")
        elif stored != success:
            problems.append(
                f"{where}: stored samples differ from success rows "
                f"({len(stored - success)} extra, {len(success - stored)} missing)"
            )
    return problems
