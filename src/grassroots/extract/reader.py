"""Pages from one WARC or WAT file (local or fsspec, gzip or not), via fastwarc.

Only ``response`` records (WARC) and ``metadata`` records (WAT) are returned by
the iterator; a response is parsed only when its HTTP Content-Type is HTML, and
only its first ``max_page_bytes`` bytes (Common Crawl truncates at 1 MiB too).
A file may mix both kinds; each record is read as what it is.
"""

from __future__ import annotations

from typing import Iterator

from fastwarc.warc import ArchiveIterator, WarcRecordType

from grassroots import io
from grassroots.errors import ShardError
from grassroots.extract.html import page_details, page_from_html
from grassroots.extract.page import Page
from grassroots.extract.wat import page_from_wat
from grassroots.stats import ShardStats

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_RECORD_TYPES = WarcRecordType.response | WarcRecordType.metadata


class PageSource:
    """Iterate the pages of ``path``; ``details(page)`` fills metas and licence
    for pages that yielded a candidate (WAT pages arrive with them filled)."""

    def __init__(self, path: str, stats: ShardStats, max_page_bytes: int = 8 << 20):
        self.path = path
        self.stats = stats
        self.max_page_bytes = max_page_bytes
        self._tree = None

    def __iter__(self) -> Iterator[Page]:
        stats = self.stats
        try:
            f = _open(self.path)
        except (OSError, ValueError) as e:
            raise ShardError(f"{self.path}: cannot open: {e}") from e
        with f:
            records = ArchiveIterator(f, record_types=_RECORD_TYPES, parse_http=True, auto_decode="all")
            last_pos = 0
            try:
                for record in records:
                    stats.count("records")
                    last_pos = record.stream_pos
                    page = self._page(record)
                    if page is not None:
                        stats.count("pages")
                        yield page
            except OSError as e:  # corrupt gzip member, truncated file: fail the shard, never half-accept it
                raise ShardError(f"{self.path}: unreadable after {stats.counters['records']} records: {e}") from e
            # fastwarc may end quietly at a truncated or corrupt gzip member: check
            # that the members from the last record on decompress cleanly to EOF.
            problem = _gzip_tail_problem(f, last_pos)
            if problem:
                raise ShardError(f"{self.path}: corrupt after {stats.counters['records']} records: {problem}")

    def _page(self, record) -> Page | None:
        headers = record.headers
        if record.record_type == WarcRecordType.metadata:
            self._tree = None
            if (headers.get("Content-Type") or "").split(";", 1)[0].strip() != "application/json":
                return None
            body = record.reader.read()
            return page_from_wat(body)
        ctype = record.http_content_type
        if ctype is None or ctype.lower() not in HTML_TYPES:
            self.stats.count("non_html_records")
            return None
        url = headers.get("WARC-Target-URI")
        if not url:
            return None
        body = record.reader.read(self.max_page_bytes)
        if record.reader.read(1):
            self.stats.count("truncated_pages")
        self.stats.count("html_bytes", len(body))
        page, self._tree = page_from_html(
            body,
            url.strip("<>"),
            charset=record.http_charset,
            record_id=headers.get("WARC-Record-ID"),
            crawl_date=headers.get("WARC-Date"),
        )
        return page

    def details(self, page: Page) -> None:
        if self._tree is not None:
            page_details(page, self._tree)


def _open(path: str):
    """A local file directly (fsspec's local file object adds ~10% to reading), else fsspec."""
    if io.is_local(path):
        return open(io.fs_and_path(path)[1], "rb")
    return io.open_file(path, "rb")


def _gzip_tail_problem(f, start: int) -> str | None:
    """None if ``f`` is not gzip, or if every gzip member from offset ``start``
    (a record boundary) decompresses completely, ending exactly at EOF."""
    import zlib

    f.seek(0)
    if f.read(2) != b"\x1f\x8b":
        return None
    f.seek(start)
    d, in_member, buf = zlib.decompressobj(wbits=31), False, b""
    while True:
        if not buf:
            buf = f.read(1 << 20)
            if not buf:
                return "the last gzip member is truncated" if in_member else None
        in_member = True
        try:
            d.decompress(buf, 1 << 16)  # output discarded, bounded per call
        except zlib.error as e:
            return f"bad gzip data: {e}"
        if d.eof:
            buf, d, in_member = d.unused_data, zlib.decompressobj(wbits=31), False
        else:
            buf = d.unconsumed_tail
