"""extract: Common Crawl WARC/WAT files -> candidates/NNNNN.parquet (image-alt pairs).

One shard per input file, in sorted order of the expanded inputs (rerun with the
same inputs to resume: finished shards are skipped). Every ``<img>`` seen is a
candidate; it is kept (a row in the shard's parquet, CANDIDATE_SCHEMA) or
dropped with one reason, first match wins (details in grassroots.extract.rules):
caption_too_short, bad_scheme, non_content_image, takedown (a URL or page the
dataset's takedowns list: grassroots.taken_down), duplicate.

Dedup scope: per input file. A (normalised URL, caption) pair already kept in
the same shard is a duplicate. Pairs repeated across files are not dropped here:
shards run independently (any order, any machine), and a deterministic
cross-file rule ("duplicate of an earlier file") needs every earlier shard's
pairs, i.e. a second pass over all candidates; LAION deduplicated on
(URL, caption) the same way inside each worker's batch.

Per page (only for pages that yield a candidate): title, language
(grassroots.extract.lang), page-level rights signals (``page_signals``, in
grassroots.rights.page_signals' format: robots / bot-named / TDMRep meta) and a
licence URL (``rel="license"`` link, else a Creative Commons link).

Counters: records (response/metadata records read), pages (HTML pages or WAT
page records), pages_with_candidates, html_bytes (HTML bytes parsed),
non_html_records, truncated_pages, and the reader's record-level findings
(bad_records, error_status_records, resource_records, truncated_after_records,
files_without_candidates ...; see grassroots.extract.reader), with a few notes
that the CLI prints; ``bytes`` is the input file's size.
"""

from __future__ import annotations

import contextlib
import gc
import time
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from grassroots import io
from grassroots.errors import InputError
from grassroots.extract.html import context_of
from grassroots.extract.lang import detect_languages, page_text
from grassroots.extract.reader import PageSource
from grassroots.extract.rules import Rules, clean_caption, markup_reason, non_content_urls
from grassroots.extract.urls import PageResolver
from grassroots.inputs import source_id, source_version
from grassroots.layout import DatasetDir
from grassroots.step import Resources, ShardTask, load_plan
from grassroots.rights.html_meta import page_signals_from_meta
from grassroots.schema import CANDIDATE_SCHEMA, Reason
from grassroots.stats import ShardStats

# Rows per parquet row group: pages are written a group at a time as they are read,
# so Arrow reuses the same ~20 MB and the shard's rows are never all held (on a
# 600k-row shard: 0.3 s instead of 0.7 s CPU for the tables, most of it the kernel's).
ROW_GROUP_ROWS = 65_536
_PAGE_COLUMNS = ("page_url", "page_title", "page_lang", "warc_record_id", "crawl_date", "page_signals", "license")


@dataclass(frozen=True)
class Extract:
    name: ClassVar[str] = "extract"
    resources: ClassVar[Resources] = Resources()
    ledger: ClassVar[str | None] = None
    inputs: tuple[str, ...] = ()  # WARC/WAT files or globs; empty: the saved plan's files
    min_caption_chars: int = 5
    min_declared_side: int = 20
    url_patterns: bool = True
    markup_hints: bool = True
    context_chars: int = 200  # 0: no context snippet
    max_page_bytes: int = 8 << 20
    detect_language: bool = True

    @property
    def rules(self) -> Rules:
        return Rules(self.min_caption_chars, self.min_declared_side, self.url_patterns, self.markup_hints)

    def plan(self, dataset: str) -> list[ShardTask]:
        """One task per input file: globs expanded, paths resolved, sorted, duplicates
        removed. A rerun keeps every planned file's number and appends new files
        after them, so a glob that matches more files later never shifts finished shards."""
        files: list[str] = []
        for pattern in self.inputs:
            found = io.glob(pattern) if any(c in pattern for c in "*?[") else [pattern]
            if not found or not all(io.exists(f) for f in found):
                raise InputError(pattern, "no such file", "give WARC/WAT paths or globs (local or fsspec URLs)")
            files.extend(source_id(f) for f in found)
        saved = load_plan(dataset, self.name) or []
        known = [t.inputs[0] for t in saved]
        if not files and not known:
            raise InputError(dataset, "no input files given and no earlier extract to resume",
                             "give WARC/WAT paths or globs")
        planned = known + sorted(set(files) - set(known))
        # A file that changed since it was extracted (size, mtime) is extracted again.
        versions = {t.inputs[0]: t.params for t in saved}
        return [ShardTask(shard=i, dataset=dataset, inputs=(f,),
                          params=(source_version(f),) if io.exists(f) else versions.get(f, ()))
                for i, f in enumerate(planned)]

    def outputs(self, layout: DatasetDir) -> list[str]:
        return [layout.candidates_dir]

    def __call__(self, task: ShardTask) -> ShardStats:
        (path,) = task.inputs
        started = time.monotonic()
        stats = ShardStats()
        rows = _Rows()
        rules = self.rules
        source = PageSource(path, stats, self.max_page_bytes)
        with _no_gc_passes(), io.atomic_write(DatasetDir(task.dataset).candidates(task.shard), "wb") as f:
            with pq.ParquetWriter(f, CANDIDATE_SCHEMA, compression="zstd") as writer:
                self._read(source, rules, rows, stats, writer, taken_down(task.dataset))
                if rows.page_rows or not rows.groups_written:  # the rest; an empty file has one empty group
                    self._write_group(rows, len(rows.page_rows), writer)
            stats.bytes_written = f.tell()
        stats.bytes = _size(path)
        stats.seconds = time.monotonic() - started
        return stats

    def _read(self, source: PageSource, rules: Rules, rows: "_Rows", stats: ShardStats, writer, guard) -> None:
        seen: set[tuple[str, str]] = set()  # (url, caption) pairs kept in this file; freed when it ends
        for page in source:
            stats.candidates += len(page.images)  # every image seen must leave: kept or dropped
            first = len(rows.url)
            self._page_images(page, rules, rows, stats, seen, guard)
            n = len(rows.url) - first
            if n:
                stats.keep(n)
                stats.count("pages_with_candidates")
                source.details(page)
                self._page_fields(page, rows, first, n)
                full = rows.full_group(ROW_GROUP_ROWS)
                if full:
                    self._write_group(rows, full, writer)

    def _write_group(self, rows: "_Rows", pages: int, writer) -> None:
        """The first ``pages`` pages held as one row group, languages identified
        together (2k pages at a time: py3langid's tables stay in the CPU caches)."""
        langs = detect_languages(rows.lang_texts[:pages]) if self.detect_language else None
        writer.write_table(rows.pop_table(pages, langs))

    def _page_images(self, page, rules: Rules, rows: "_Rows", stats: ShardStats, seen: set, guard=None) -> None:
        """Apply the rules to the page's images (first matching reason wins, in the
        order caption, URL, non-content, duplicate); kept ones go to ``rows`` (the
        caller counts them). The URL rule runs once per page over its candidates.
        ``guard``: the dataset's takedowns (None when it has none): a URL or page they
        list is refused (``takedown``)."""
        min_chars = self.min_caption_chars
        resolve = PageResolver(page.base)
        # Past the caption and URL rules, as parallel lists (cheaper than a tuple each).
        imgs: list = []
        urls: list[str] = []
        captions: list[str] = []
        too_short = bad_scheme = non_content = 0
        for img in page.images:
            caption = clean_caption(img.alt)
            if len(caption) < min_chars:
                too_short += 1
                continue
            url = resolve(img.src)
            if url is None:
                bad_scheme += 1
                continue
            if (img.width or img.height or img.hints) and markup_reason(rules, img.width, img.height, img.hints):
                non_content += 1
                continue
            imgs.append(img)
            urls.append(url)
            captions.append(caption)
        if urls and rules.url_patterns:
            flagged = non_content_urls(urls)
            if flagged:
                non_content += len(flagged)
                imgs, urls, captions = _without(flagged, imgs, urls, captions)
        if guard is not None and urls:
            refused = [i for i, url in enumerate(urls) if guard.removes({"url": url, "page_url": page.url})]
            if refused:
                stats.drop(Reason.TAKEDOWN, len(refused))
                imgs, urls, captions = _without(refused, imgs, urls, captions)
        kept_urls, kept_captions, contexts = rows.url, rows.caption, rows.context
        first = len(kept_urls)
        with_context = self.context_chars > 0 and any(img.node is not None for img in imgs)
        size = len(seen)
        for i, pair in enumerate(zip(urls, captions)):
            seen.add(pair)
            if len(seen) == size:  # already kept in this file
                continue
            size += 1
            kept_urls.append(pair[0])
            kept_captions.append(pair[1])
            if with_context:
                img = imgs[i]
                contexts.append(context_of(img.node, self.context_chars) if img.node is not None else None)
        if not with_context:
            contexts.extend([None] * (len(kept_urls) - len(contexts)))
        duplicates = len(urls) - (len(kept_urls) - first)
        for reason, n in ((Reason.CAPTION_TOO_SHORT, too_short), (Reason.BAD_SCHEME, bad_scheme),
                          (Reason.NON_CONTENT_IMAGE, non_content), (Reason.DUPLICATE, duplicates)):
            if n:
                stats.drop(reason, n)

    def _page_fields(self, page, rows: "_Rows", first: int, n: int) -> None:
        if self.detect_language:  # identified at the end of the shard, all pages together
            rows.lang_texts.append(page_text(page.title, page.meta("description"), rows.caption[first:]))
        signals = page_signals_from_meta(page.metas)
        rows.add_page(n, (page.url, page.title, None, page.record_id, page.crawl_date, signals, page.license))


def _without(drop: list[int], *columns: list) -> list[list]:
    """``columns`` without the rows at the indices ``drop``."""
    gone = set(drop)
    keep = [i for i in range(len(columns[0])) if i not in gone]
    return [[column[i] for i in keep] for column in columns]


def taken_down(dataset: str):
    """The takedowns of the dataset extract writes into, or None when it has none."""
    from grassroots.taken_down import TakenDown

    taken = TakenDown.of(dataset)
    return taken if taken else None


class _Rows:
    """The candidates of the pages not written yet, column by column: per-candidate
    columns as lists, page columns once per page (repeated into rows when the
    table is built). Written a row group of whole pages at a time (`full_group`,
    `pop_table`), so a shard's rows are never all in memory at once."""

    def __init__(self):
        self.url: list[str] = []
        self.caption: list[str] = []
        self.context: list[str | None] = []
        self.page_values: list[tuple] = []  # one tuple per page with candidates, _PAGE_COLUMNS order
        self.page_rows: list[int] = []  # candidates of that page
        self.lang_texts: list[str] = []  # per page with candidates, when languages are detected
        self.groups_written = 0

    def add_page(self, n: int, values: tuple) -> None:
        self.page_values.append(values)
        self.page_rows.append(n)

    def full_group(self, max_rows: int) -> int:
        """How many pages to write now as one row group: the held pages but the last
        when the last took them over ``max_rows`` rows (0: none yet). Groups are
        whole pages, at most ``max_rows`` rows unless one page has more."""
        if len(self.url) > max_rows and len(self.page_rows) > 1:
            return len(self.page_rows) - 1
        return 0

    def pop_table(self, pages: int, langs: list[str | None] | None = None) -> pa.Table:
        """The rows of the first ``pages`` held pages as one table (``langs``: their
        page_lang), which are then no longer held."""
        counts = self.page_rows[:pages]
        rows = sum(counts)
        index = pa.array(np.repeat(np.arange(pages, dtype=np.int64), counts))
        values = self.page_values[:pages]
        per_page = dict(zip(_PAGE_COLUMNS, zip(*values))) if values else {}
        if values and langs is not None:
            if len(langs) != pages:
                raise ValueError("one language per page")
            per_page["page_lang"] = langs
        arrays = []
        for f in CANDIDATE_SCHEMA:
            if f.name in per_page:
                arrays.append(pa.array(per_page[f.name], type=f.type).take(index))
            elif f.name in _PAGE_COLUMNS:
                arrays.append(pa.nulls(0, type=f.type))
            else:
                arrays.append(pa.array(getattr(self, f.name)[:rows], type=f.type))
        for column in (self.url, self.caption, self.context):
            del column[:rows]
        for column in (self.page_values, self.page_rows, self.lang_texts):
            del column[:pages]
        self.groups_written += 1
        return pa.Table.from_arrays(arrays, schema=CANDIDATE_SCHEMA)


@contextlib.contextmanager
def _no_gc_passes():
    """No cyclic garbage collection while a shard is extracted (the collector's state
    restored after). Every page's JSON or DOM makes hundreds of containers and the
    within-file dedup keeps a tuple per candidate; each pass walks what survived
    since the last, so however rarely it runs the collector walked every kept pair
    once (~0.16 s, 4% of a 600k-candidate WAT; with the defaults, passes every 700
    new containers: ~6%). Pages make no reference cycles (refcounting frees
    them: tests/extract/test_fast_paths.py checks that a shard leaves the same few
    hundred cyclic objects whatever its size), so nothing piles up meanwhile."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _size(path: str) -> int:
    try:
        fs, p = io.fs_and_path(path)
        return int(fs.size(p) or 0)
    except (OSError, ValueError):
        return 0
