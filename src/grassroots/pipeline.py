"""Library entry points that plan a stage's tasks and run them through a runner.

The CLI and the demo call these; they take typed configs, never argparse/typer
objects."""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import asdict, is_dataclass

import pyarrow.parquet as pq

from grassroots import io
from grassroots.errors import InputError
from grassroots.inputs import UrlListSpec, candidate_shards, import_candidates, read_url_list
from grassroots.layout import DatasetDir
from grassroots.plan import split_plan
from grassroots.runner import ShardTask, run_stage
from grassroots.schema import TRANSIENT_REASONS
from grassroots.stages.download import Download
from grassroots.stats import ShardStats


def config_dict(obj) -> dict:
    """A JSON-able view of a (nested) frozen dataclass config, for manifest.json."""

    def conv(v):
        if is_dataclass(v):
            return {k: conv(x) for k, x in asdict(v).items()}
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [conv(x) for x in v]
        if hasattr(v, "value"):
            return v.value
        if isinstance(v, float) and v == float("inf"):
            return "inf"
        return v

    return conv(obj)


def prepare_candidates(source: str | UrlListSpec, dataset: str, samples_per_shard: int) -> list[int]:
    """Make sure ``dataset/candidates/`` holds the input; return its shard numbers.

    ``source`` is a URL list spec, or a dataset directory from extract (its
    candidates are copied when it is not ``dataset`` itself)."""
    layout = DatasetDir(dataset)
    if isinstance(source, UrlListSpec):
        import_candidates(read_url_list(source), dataset, samples_per_shard, source.path)
    else:
        src = DatasetDir(source)
        shards = candidate_shards(source)
        if not shards:
            raise InputError(source, "is a directory without candidates/*.parquet",
                             "run `grassroots extract ... -o DIR` first, or pass a URL list file")
        if os.path.abspath(source) != os.path.abspath(dataset):
            io.makedirs(layout.candidates_dir)
            for s in shards:
                if not io.exists(layout.candidates(s)):
                    with io.atomic_write(layout.candidates(s), "wb") as f, io.open_file(src.candidates(s)) as g:
                        shutil.copyfileobj(g, f)
    return candidate_shards(dataset)


def reopen_transient_failures(dataset: str, shards: list[int], stage: str = Download.name) -> list[int]:
    """For --retry-failed: un-mark finished shards that have transient failures,
    so the next run re-attempts those rows (and keeps the rest as they are)."""
    layout = DatasetDir(dataset)
    reopened = []
    transient = {r.value for r in TRANSIENT_REASONS}
    for s in shards:
        marker = layout.run_marker(stage, s)
        if not io.exists(marker) or not io.exists(layout.shard_parquet(s)):
            continue
        reasons = pq.read_table(layout.shard_parquet(s), columns=["reason"]).column("reason").to_pylist()
        if any(r in transient for r in reasons):
            io.remove(marker)
            reopened.append(s)
    return reopened


def download(source, dataset: str, stage: Download, runner, *, progress: bool = True) -> tuple[ShardStats, float]:
    """Run the download stage; return (totals of this run, wall seconds)."""
    started = time.monotonic()
    _validate_rights_files(stage)
    layout = DatasetDir(dataset)
    spp = stage.config.samples_per_shard
    candidates = [layout.candidates(s) for s in prepare_candidates(source, dataset, spp)]
    # Candidate files larger than a shard (one WARC's worth from extract) are cut
    # into shards of --samples-per-shard rows; the plan is kept for resume.
    plan = split_plan(dataset, stage.name, candidates, spp)
    if stage.config.retry_failed:
        reopen_transient_failures(dataset, [p.shard for p in plan])
    tasks = [ShardTask(shard=p.shard, dataset=dataset, inputs=(p.input,), rows=(p.offset, p.rows)) for p in plan]
    inputs = [source.path] if isinstance(source, UrlListSpec) else [str(source)]
    totals = run_stage(stage, tasks, runner, dataset=dataset, config=config_dict(stage), inputs=inputs, progress=progress)
    return totals, time.monotonic() - started


def _validate_rights_files(stage: Download) -> None:
    """Load the registry and blocklist once up front, so a bad line stops the run
    with its file and row before any shard starts."""
    from grassroots.rights.blocklist import Blocklist
    from grassroots.rights.registry import Registry

    cfg = stage.rights.config
    Registry.load(cfg.registry_paths)
    Blocklist.load(cfg.blocklist_paths, cfg.pdq_min_quality, cfg.pdq_max_distance)


def extract(inputs: list[str], dataset: str, stage, runner, *, dedup: bool = True,
            progress: bool = True) -> tuple[ShardStats, ShardStats | None]:
    """extract every input file, then (by default) dedup across files.
    Returns (extract totals of this run, dedup totals or None)."""
    from grassroots.stages.dedup import dedup_candidates
    from grassroots.stages.extract import extract as run_extract

    totals = run_extract(inputs, dataset, stage, runner, progress=progress)
    return totals, (dedup_candidates(dataset) if dedup else None)
