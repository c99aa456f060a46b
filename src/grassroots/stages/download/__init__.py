"""download: candidates/NNNNN.parquet -> shards/NNNNN.tar (webdataset) + shards/NNNNN.parquet.

One asyncio loop per shard fetches rows concurrently through a guarded, polite
Fetcher; image work (decode, resize, encode, PDQ) runs in a small thread pool
(Pillow releases the GIL). Every candidate row ends as exactly one ledger row:
success, or failed/refused/filtered with one Reason (the per-row chain is
grassroots.stages.download.row.decide_row). Refused bytes are never written. A
row deadline and a shard watchdog bound the time: a stuck connection becomes a
failed row, never a stuck run.

Candidates are read through dedup (grassroots.stages.dedup.read_candidates);
a candidate file larger than ``samples_per_shard`` rows (one WARC's worth from
extract) is cut into several shards; with ``shard_by_host`` each registrable
domain's rows go to one shard instead (grassroots.stages.download.host_shards); the plan
is saved for resume.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import math
import time
from dataclasses import dataclass, field
from typing import Callable, ClassVar

import pyarrow as pa
import pyarrow.parquet as pq

from grassroots import io
from grassroots.errors import InputError
from grassroots.fetch.client import Fetcher, FetchConfig
from grassroots.fetch.politeness import ROW_DEADLINE
from grassroots.imaging.resize import ImageConfig
from grassroots.layout import DatasetDir
from grassroots.step import Resources, ShardTask, load_plan, split_rows
from grassroots.progress import RowReporter
from grassroots.rights.gate import RightsGate
from grassroots.samples import IMAGE_EXTS, read_sample_files
from grassroots.schema import CANDIDATE_SCHEMA, SAMPLE_SCHEMA, TRANSIENT_REASONS, Candidate, Reason, Status, make_key
from grassroots.stages.dedup import candidate_counts, read_candidates
from grassroots.stages.download.row import HASHES, Outcome, decide_row, ledger_row, sample_json
from grassroots.stages.download.host_shards import plan_by_host, read_by_host
from grassroots.stats import ShardStats
from grassroots.writer import OutputFormat, ShardWriter, check_output_format


@dataclass(frozen=True)
class DownloadConfig:
    fetch: FetchConfig = field(default_factory=FetchConfig)
    image: ImageConfig = field(default_factory=ImageConfig)
    samples_per_shard: int = 10_000  # sets the key width; larger candidate files are split
    md5: bool = False
    pdq: bool = True
    image_threads: int = 2
    row_timeout: float = 60.0  # whole row: rights files, fetch with retries, image work
    shard_timeout: float | None = None  # default: enough for every row to hit row_timeout
    retry_failed: bool = False  # re-attempt transient failures of an earlier run
    output_format: OutputFormat = OutputFormat.WEBDATASET
    verify_hash: tuple[str, str] | None = None  # (input column, md5|sha256|sha512): fail rows whose bytes differ
    shard_by_host: bool = False  # each registrable domain's URLs in one shard (stages/download/host_shards.py)


@dataclass(frozen=True)
class Download:
    name: ClassVar[str] = "download"
    resources: ClassVar[Resources] = Resources()
    ledger: ClassVar[str | None] = "shards"
    config: DownloadConfig = field(default_factory=DownloadConfig)
    rights: RightsGate = field(default_factory=RightsGate)
    source: str | None = None  # dataset whose candidates to download (default: the output dataset)
    # Tests pass a factory that refuses non-loopback sockets (see tests/conftest.py).
    socket_factory: Callable | None = field(default=None, compare=False, repr=False)

    def plan(self, dataset: str) -> list[ShardTask]:
        """The saved plan wins (resume never re-cuts); else every candidate shard,
        as dedup left it, cut into parts of at most ``samples_per_shard`` rows."""
        self._validate_rights_files()
        check_output_format(dataset, self.config.output_format)
        saved = load_plan(dataset, self.name)
        if saved is not None:
            if (saved[0].partition is not None) != self.config.shard_by_host:
                was = "with" if saved[0].partition is not None else "without"
                raise InputError(dataset, f"was planned {was} --shard-by-host",
                                 f"rerun {was} it to resume, or write to a new -o directory")
            if self.config.retry_failed:
                reopen_transient_failures(dataset, saved)
            return saved
        source = self.source or dataset
        counts = candidate_counts(source)
        if not counts:
            raise InputError(source, "is a directory without candidates/*.parquet",
                             "run `grassroots extract ... -o DIR` first, or pass a URL list file")
        self._validate_verify_hash(source)
        if self.config.shard_by_host:
            return plan_by_host(dataset, source, counts, self.config.samples_per_shard)
        src = DatasetDir(source)
        return split_rows(dataset, [(src.candidates(s), n) for s, n in counts], self.config.samples_per_shard)

    def outputs(self, layout: DatasetDir) -> list[str]:
        return [layout.family_dir(self.ledger)]

    def _validate_verify_hash(self, source: str) -> None:
        """--verify-hash names an input column and an algorithm; both must exist."""
        if self.config.verify_hash is None:
            return
        col, algo = self.config.verify_hash
        if algo not in HASHES:
            raise InputError("--verify-hash", f"unknown hash {algo!r}", f"use one of {', '.join(HASHES)}")
        layout = DatasetDir(source)
        with io.open_file(layout.candidates(0)) as f:
            names = pq.read_schema(f).names
        if col not in names:
            raise InputError(layout.candidates(0), f"--verify-hash column {col!r} is not in the input",
                             "name it in --keep-cols too (img2dataset's --verify_hash does this for you)")

    def _validate_rights_files(self) -> None:
        """Load the registry and blocklist once up front, so a bad line stops the
        run with its file and row before any shard starts."""
        from grassroots.rights.blocklist import Blocklist
        from grassroots.rights.registry import Registry

        cfg = self.rights.config
        Registry.load(cfg.registry_paths)
        Blocklist.load(cfg.blocklist_paths, cfg.pdq_min_quality, cfg.pdq_max_distance)

    def __call__(self, task: ShardTask) -> ShardStats:
        layout = DatasetDir(task.dataset)
        if task.partition is not None:  # --shard-by-host: this task's domains, from every candidate file
            candidates = read_by_host(task)
        else:
            (path,) = task.inputs
            candidates = read_candidates(*DatasetDir.candidates_owner(path))
            if task.rows is not None:  # one part of a candidate file larger than a shard
                candidates = candidates.slice(*task.rows)
        previous = _previous_rows(layout, task.shard) if self.config.retry_failed else {}
        started = time.monotonic()
        extra = [f for f in candidates.schema if f.name not in CANDIDATE_SCHEMA.names]
        schema = pa.schema(list(SAMPLE_SCHEMA) + [f for f in extra if f.name not in SAMPLE_SCHEMA.names])
        stats = ShardStats(candidates=candidates.num_rows)
        with ShardWriter(task.dataset, task.shard, schema=schema, family=self.ledger,
                         output_format=self.config.output_format) as writer:
            rows = Candidate.rows_of(candidates)
            asyncio.run(_ShardRun(self, task.shard, rows, writer, stats, previous, layout).run())
        stats.seconds = time.monotonic() - started
        stats.bytes_written = writer.bytes_written
        return stats


def reopen_transient_failures(dataset: str, tasks: list[ShardTask]) -> list[int]:
    """For --retry-failed: un-mark finished shards that have transient failures,
    so this run re-attempts those rows (and keeps the rest as they are)."""
    layout = DatasetDir(dataset)
    reopened = []
    transient = {r.value for r in TRANSIENT_REASONS}
    for t in tasks:
        marker = layout.run_marker(Download.name, t.shard)
        if not io.exists(marker) or not io.exists(layout.shard_parquet(t.shard)):
            continue
        with io.open_file(layout.shard_parquet(t.shard)) as f:
            reasons = pq.read_table(f, columns=["reason"]).column("reason").to_pylist()
        if any(r in transient for r in reasons):
            io.remove(marker)
            reopened.append(t.shard)
    return reopened


def _previous_rows(layout: DatasetDir, shard: int) -> dict[str, tuple[dict, dict[str, bytes]]]:
    """Rows of an earlier run worth keeping as they are (not transient failures),
    with the stored files of the kept ones."""
    path = layout.shard_parquet(shard)
    if not io.exists(path):
        return {}
    with io.open_file(path) as f:
        table = pq.read_table(f)
    table = table.drop_columns([c for c in IMAGE_EXTS if c in table.column_names])  # parquet output format
    rows = {r["key"]: r for r in table.to_pylist()}
    keep = {k: r for k, r in rows.items() if r["reason"] is None or Reason(r["reason"]) not in TRANSIENT_REASONS}
    files = read_sample_files(layout, shard, keys=set(keep))
    # A success whose sample is missing is fetched again.
    return {k: (r, files.get(k, {})) for k, r in keep.items() if r["status"] != Status.SUCCESS.value or files.get(k)}


class _ShardRun:
    """Scheduling of one shard: a queue of candidates, ``concurrency`` workers
    running decide_row under a row deadline, a shard watchdog, ledger writes."""

    def __init__(self, stage: Download, shard: int, rows: list[Candidate], writer: ShardWriter,
                 stats: ShardStats, previous: dict, layout: DatasetDir):
        self.stage, self.cfg, self.shard = stage, stage.config, shard
        self.rows, self.writer, self.stats, self.previous = rows, writer, stats, previous
        self.layout = layout
        self.width = max(4, len(str(max(self.cfg.samples_per_shard, len(rows)) - 1)))
        self.done: set[str] = set()

    async def run(self) -> None:
        cfg = self.cfg
        budget = cfg.shard_timeout or (math.ceil(len(self.rows) / max(cfg.fetch.concurrency, 1)) * cfg.row_timeout + 60)
        queue: asyncio.Queue = asyncio.Queue()
        for i, cand in enumerate(self.rows):
            key = make_key(self.shard, i, self.width)
            if key in self.previous:
                self._reuse(key, *self.previous[key])
            else:
                queue.put_nowait((key, cand))
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=cfg.image_threads, thread_name_prefix="image")
        reporter = RowReporter(self.layout.root, Download.name, self.shard, len(self.rows))
        ticker = asyncio.create_task(self._report_rows(reporter))
        try:
            async with Fetcher(cfg.fetch, self.stage.socket_factory) as fetcher, self.stage.rights.open(fetcher) as rights:
                workers = [asyncio.create_task(self._worker(queue, fetcher, rights, pool))
                           for _ in range(min(cfg.fetch.concurrency, max(queue.qsize(), 1)))]
                try:
                    await asyncio.wait(workers, timeout=budget)  # the rest is cut by the watchdog
                finally:  # also on Ctrl-C: the workers end with the shard, quietly
                    for w in workers:
                        w.cancel()
                    await asyncio.wait(workers)
        finally:
            ticker.cancel()
            reporter.close()
            pool.shutdown(wait=False, cancel_futures=True)
        # Whatever the watchdog cut short is still accounted for.
        for i, cand in enumerate(self.rows):
            key = make_key(self.shard, i, self.width)
            if key not in self.done:
                self._record(key, cand, Outcome(Reason.WATCHDOG, f"shard watchdog: not finished within {budget:.0f} s"))

    async def _report_rows(self, reporter) -> None:
        while True:
            await asyncio.sleep(1.0)
            await asyncio.get_running_loop().run_in_executor(None, reporter.report, len(self.done))

    async def _worker(self, queue, fetcher, rights, pool) -> None:
        cfg = self.cfg
        while not queue.empty():
            key, cand = queue.get_nowait()
            try:
                async with asyncio.timeout(cfg.row_timeout) as deadline:
                    ROW_DEADLINE.set(deadline)  # politeness waits extend it (fetch/politeness.py)
                    out = await decide_row(cand, fetcher, rights, pool, cfg.image, cfg.md5, cfg.pdq,
                                           cfg.verify_hash)
            except TimeoutError:
                out = Outcome(Reason.WATCHDOG, f"row not finished within {cfg.row_timeout:g} s "
                              "(not counting politeness waits)")
            except Exception as e:  # noqa: BLE001 - a bug on one row must not lose the shard
                out = Outcome(Reason.INTERNAL_ERROR, f"{type(e).__name__}: {e}")
            self._record(key, cand, out)

    # --- ledger ------------------------------------------------------------
    def _record(self, key: str, cand: Candidate, out: Outcome) -> None:
        if key in self.done:
            return
        self.done.add(key)
        row = ledger_row(key, cand, out)
        if out.reason is None:
            self.writer.add_sample(key, {out.image.ext: out.image.data, "txt": cand.caption or "",
                                         "json": sample_json(row)})
            self.stats.keep()
            self.stats.bytes += row.get("bytes") or 0
        else:
            self.stats.drop(out.reason)
        self.writer.add_row(row)

    def _reuse(self, key: str, ledger: dict, files: dict[str, bytes]) -> None:
        self.done.add(key)
        self.writer.add_row(ledger)
        if ledger["status"] == Status.SUCCESS.value:
            self.writer.add_sample(key, files)
            self.stats.keep()
        else:
            self.stats.drop(Reason(ledger["reason"]))
