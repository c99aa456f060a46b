"""download: candidates/NNNNN.parquet -> shards/NNNNN.tar (webdataset) + shards/NNNNN.parquet.

One asyncio loop per shard fetches rows concurrently through a guarded, polite
Fetcher; image work (decode, resize, encode, PDQ) runs in a small thread pool
(Pillow releases the GIL). Every candidate row ends as exactly one ledger row:
success, or failed/refused/filtered with one Reason. Refused bytes are never
written. A row deadline and a shard watchdog bound the time: a stuck
connection becomes a failed row, never a stuck run.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import functools
import math
import time
from dataclasses import dataclass, field
from typing import Callable, ClassVar

import pyarrow as pa
import pyarrow.parquet as pq

from grassroots import io
from grassroots.fetch.client import Fetcher, FetchConfig, FetchResult
from grassroots.fetch.politeness import ROW_DEADLINE
from grassroots.imaging.hashes import md5_hex, pdq, sha256_hex
from grassroots.imaging.resize import ImageConfig, process_image
from grassroots.layout import DatasetDir
from grassroots.progress import RowReporter
from grassroots.rights.gate import RightsGate
from grassroots.runner.core import ShardTask
from grassroots.schema import CANDIDATE_SCHEMA, SAMPLE_SCHEMA, TRANSIENT_REASONS, Reason, Status, make_key
from grassroots.stats import ShardStats
from grassroots.urls import registrable_domain
from grassroots.writer import ShardWriter


@dataclass(frozen=True)
class DownloadConfig:
    fetch: FetchConfig = field(default_factory=FetchConfig)
    image: ImageConfig = field(default_factory=ImageConfig)
    samples_per_shard: int = 10_000  # sets the key width; the import splits shards
    md5: bool = False
    pdq: bool = True
    image_threads: int = 2
    row_timeout: float = 60.0  # whole row: rights files, fetch with retries, image work
    shard_timeout: float | None = None  # default: enough for every row to hit row_timeout
    retry_failed: bool = False  # re-attempt transient failures of an earlier run


@dataclass(frozen=True)
class Download:
    name: ClassVar[str] = "download"
    config: DownloadConfig = field(default_factory=DownloadConfig)
    rights: RightsGate = field(default_factory=RightsGate)
    # Tests pass a factory that refuses non-loopback sockets (see tests/conftest.py).
    socket_factory: Callable | None = field(default=None, compare=False, repr=False)

    def __call__(self, task: ShardTask) -> ShardStats:
        layout = DatasetDir(task.dataset)
        with io.open_file(task.inputs[0] if task.inputs else layout.candidates(task.shard)) as f:
            candidates = pq.read_table(f)
        if task.rows is not None:  # one part of a candidate file larger than a shard
            candidates = candidates.slice(*task.rows)
        previous = _previous_rows(layout, task.shard) if self.config.retry_failed else {}
        started = time.monotonic()
        extra = [f for f in candidates.schema if f.name not in CANDIDATE_SCHEMA.names]
        schema = pa.schema(list(SAMPLE_SCHEMA) + [f for f in extra if f.name not in SAMPLE_SCHEMA.names])
        stats = ShardStats(candidates=candidates.num_rows)
        with ShardWriter(task.dataset, task.shard, schema=schema) as writer:
            asyncio.run(_ShardRun(self, task.shard, candidates.to_pylist(), writer, stats, previous, layout).run())
        stats.seconds = time.monotonic() - started
        stats.bytes_written = writer.bytes_written
        return stats


def _previous_rows(layout: DatasetDir, shard: int) -> dict[str, tuple[dict, dict[str, bytes]]]:
    """Rows of an earlier run worth keeping as they are (not transient failures),
    with the tar members of the kept ones."""
    import tarfile

    path = layout.shard_parquet(shard)
    if not io.exists(path):
        return {}
    rows = {r["key"]: r for r in pq.read_table(path).to_pylist()}
    keep = {k: r for k, r in rows.items() if r["reason"] is None or Reason(r["reason"]) not in TRANSIENT_REASONS}
    files: dict[str, dict[str, bytes]] = {k: {} for k in keep}
    if io.exists(layout.shard_tar(shard)):
        with io.open_file(layout.shard_tar(shard)) as f, tarfile.open(fileobj=f, mode="r|") as tar:
            for m in tar:
                key, ext = m.name.split(".", 1)
                if key in files:
                    files[key][ext] = tar.extractfile(m).read()
    # A success whose samples are missing from the tar is fetched again.
    return {k: (r, files[k]) for k, r in keep.items() if r["status"] != Status.SUCCESS.value or files[k]}


class _ShardRun:
    def __init__(self, stage: Download, shard: int, rows: list[dict], writer: ShardWriter,
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
        for i, row in enumerate(self.rows):
            key = make_key(self.shard, i, self.width)
            if key in self.previous:
                self._reuse(key, *self.previous[key])
            else:
                queue.put_nowait((key, row))
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=cfg.image_threads, thread_name_prefix="image")
        reporter = RowReporter(self.layout.root, Download.name, self.shard, len(self.rows))
        ticker = asyncio.create_task(self._report_rows(reporter))
        try:
            async with Fetcher(cfg.fetch, self.stage.socket_factory) as fetcher, self.stage.rights.open(fetcher) as rights:
                workers = [asyncio.create_task(self._worker(queue, fetcher, rights, pool))
                           for _ in range(min(cfg.fetch.concurrency, max(queue.qsize(), 1)))]
                try:
                    await asyncio.wait_for(asyncio.gather(*workers), timeout=budget)
                except asyncio.TimeoutError:
                    pass
                for w in workers:
                    w.cancel()
        finally:
            ticker.cancel()
            reporter.close()
            pool.shutdown(wait=False, cancel_futures=True)
        # Whatever the watchdog cut short is still accounted for.
        for i, row in enumerate(self.rows):
            key = make_key(self.shard, i, self.width)
            if key not in self.done:
                self._drop(key, row, Reason.WATCHDOG, f"shard watchdog: not finished within {budget:.0f} s")

    async def _report_rows(self, reporter) -> None:
        while True:
            await asyncio.sleep(1.0)
            await asyncio.get_running_loop().run_in_executor(None, reporter.report, len(self.done))

    async def _worker(self, queue, fetcher, rights, pool) -> None:
        while not queue.empty():
            key, row = queue.get_nowait()
            try:
                async with asyncio.timeout(self.cfg.row_timeout) as deadline:
                    ROW_DEADLINE.set(deadline)  # politeness waits extend it (fetch/politeness.py)
                    await self._row(key, row, fetcher, rights, pool)
            except TimeoutError:
                self._drop(key, row, Reason.WATCHDOG, f"row not finished within {self.cfg.row_timeout:g} s "
                           "(not counting politeness waits)")
            except Exception as e:  # noqa: BLE001 - a bug on one row must not lose the shard
                self._drop(key, row, Reason.INTERNAL_ERROR, f"{type(e).__name__}: {e}")

    async def _row(self, key: str, row: dict, fetcher: Fetcher, rights, pool) -> None:
        url = row.get("url") or ""
        never = await fetcher.precheck(url)  # invalid URL or refused address: no request at all
        if never is not None:
            return self._drop(key, row, *never)
        try:
            pre = await rights.pre_fetch(url, row.get("page_url"), row.get("page_signals") or [])
        except ValueError as e:  # not an absolute http(s) URL: nothing to check or fetch
            return self._drop(key, row, Reason.INVALID_URL, f"{e}")
        if pre.final_before_fetch:  # refused before any request for the image itself
            return self._drop(key, row, pre.reason, _refusal_message(pre), rights=pre.rights())
        async def before_redirect(next_url: str):
            """A redirect to another URL is a new fetch: its host's opt-outs apply first."""
            if await fetcher.precheck(next_url) is not None:
                return None  # the fetcher itself refuses it (blocked address, invalid URL)
            try:
                hop = await rights.pre_fetch(next_url, row.get("page_url"), row.get("page_signals") or [])
            except ValueError:
                return None  # the fetcher fails it as invalid_url
            return hop if hop.final_before_fetch else None

        res = await fetcher.fetch(url, before_redirect=before_redirect)
        base = _fetch_columns(res)
        if res.stopped_by is not None:
            hop = res.stopped_by
            return self._drop(key, row, hop.reason, f"redirect to {res.final_url} refused: {_refusal_message(hop)}",
                              rights=pre.rights() + hop.rights(), **base)
        if not res.ok:
            return self._drop(key, row, res.error, res.message, rights=pre.rights(), **base)
        loop = asyncio.get_running_loop()
        img = await loop.run_in_executor(pool, functools.partial(process_image, res.body, self.cfg.image, res.content_type))
        base.update(original_width=img.original_width, original_height=img.original_height,
                    sha256=sha256_hex(res.body), md5=md5_hex(res.body) if self.cfg.md5 else None)
        if img.error is None and self.cfg.pdq:
            base["pdq"], base["pdq_quality"] = await loop.run_in_executor(pool, pdq, img.image)
        post = await loop.run_in_executor(pool, functools.partial(
            rights.post_fetch, pre, list(res.headers.items()), res.body, res.content_type,
            pdq=base.get("pdq"), pdq_quality=base.get("pdq_quality"), sha256=base["sha256"], md5=base.get("md5")))
        if post.refused:  # before anything is written: refused bytes go nowhere
            return self._drop(key, row, post.reason, _refusal_message(post), rights=post.rights(), **base)
        if img.error is not None:
            return self._drop(key, row, img.error, img.message, rights=post.rights(), **base)
        self._keep(key, row, img, rights=post.rights(), **base)

    # --- ledger ------------------------------------------------------------
    def _ledger_row(self, key: str, row: dict, **cols) -> dict:
        out = {k: v for k, v in row.items() if k in self.writer.schema.names}
        out.update(key=key, url=row.get("url") or "", domain=registrable_domain(row.get("url") or ""))
        out.update({k: v for k, v in cols.items() if v is not None})
        return out

    def _drop(self, key: str, row: dict, reason: Reason, message: str | None, **cols) -> None:
        if key in self.done:
            return
        self.done.add(key)
        self.writer.add_row(self._ledger_row(key, row, status=reason.status.value, reason=reason.value,
                                             error_message=message, **cols))
        self.stats.drop(reason)

    def _keep(self, key: str, row: dict, img, **cols) -> None:
        if key in self.done:
            return
        self.done.add(key)
        ledger = self._ledger_row(key, row, status=Status.SUCCESS.value, width=img.width, height=img.height, **cols)
        meta = {k: v for k, v in ledger.items() if v is not None and k != "fetched_at"}
        meta["fetched_at"] = ledger.get("fetched_at").isoformat() if ledger.get("fetched_at") else None
        self.writer.add_sample(key, {img.ext: img.data, "txt": row.get("caption") or "", "json": meta})
        self.writer.add_row(ledger)
        self.stats.keep()
        self.stats.bytes += cols.get("bytes") or 0

    def _reuse(self, key: str, ledger: dict, files: dict[str, bytes]) -> None:
        self.done.add(key)
        self.writer.add_row(ledger)
        if ledger["status"] == Status.SUCCESS.value:
            self.writer.add_sample(key, files)
            self.stats.keep()
        else:
            self.stats.drop(Reason(ledger["reason"]))


def _refusal_message(verdict) -> str:
    return "; ".join(s.to_str() for s in verdict.refusals)


def _fetch_columns(res: FetchResult) -> dict:
    return {
        "final_url": res.final_url if res.final_url != res.url else None,
        "http_status": res.status,
        "content_type": res.content_type,
        "bytes": len(res.body) if res.body else None,
        "download_seconds": round(res.seconds, 4),
        "fetched_at": dt.datetime.now(dt.timezone.utc),
    }
