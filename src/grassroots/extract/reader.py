"""Pages from one WARC or WAT file (local or fsspec, gzip or not), via fastwarc.

Only ``response`` and ``resource`` records (WARC) and ``metadata`` records
(WAT) are returned by the iterator; a response is parsed only when its HTTP
status is below 400 and its Content-Type is HTML, and only its first
``max_page_bytes`` bytes (Common Crawl truncates at 1 MiB too). A file may mix
both kinds; each record is read as what it is.

Real crawls are messy, and no problem is silent (counters and notes in the
shard's stats) nor costs more than the records it touches:
- a record whose body does not decode as its headers say is a ``bad_records``
  (its raw body is used when that is HTML); the file goes on;
- a file that breaks off (a partial download, a corrupt gzip member) keeps the
  records read before the break: ``truncated_after_records`` and a note;
- HTTP headers ending in LF only (ClueWeb09) are read; WARC/0.18 is read;
- a response without a Content-Type is sniffed: parsed when its body starts
  like HTML (``untyped_html_records``), else a ``non_html_records``;
- an ARC file, or anything else that is not a WARC, fails the shard with a
  message that says what it is and what to do;
- error pages (``error_status_records``) and ``resource_records`` are counted;
- a file whose HTML records give no candidate at all says so in a note.
"""

from __future__ import annotations

import os
from typing import Iterator

from fastwarc.warc import ArchiveIterator, WarcRecordType

from grassroots import io
from grassroots.errors import ShardError
from grassroots.extract.decode import DecodeError, decode_body, encodings, looks_like_html
from grassroots.extract.html import page_details, page_from_html
from grassroots.extract.page import Page
from grassroots.extract.wat import page_from_wat
from grassroots.stats import ShardStats

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_RECORD_TYPES = WarcRecordType.response | WarcRecordType.metadata | WarcRecordType.resource
_RESPONSE, _METADATA = WarcRecordType.response, WarcRecordType.metadata
BAD_RECORD_NOTES = 3  # examples kept per file; the counter has the total


class PageSource:
    """Iterate the pages of ``path``; ``details(page)`` fills metas and licence
    for pages that yielded a candidate (WAT pages arrive with them filled)."""

    def __init__(self, path: str, stats: ShardStats, max_page_bytes: int = 8 << 20):
        self.path = path
        self.name = os.path.basename(path.rstrip("/"))
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
            _check_format(f, self.path)
            # parse_http=False: HTTP headers are parsed per record (LF-only allowed,
            # no auto_decode), so one bad record never stops the iterator.
            records = ArchiveIterator(f, record_types=_RECORD_TYPES, parse_http=False)
            last_pos, complete = 0, 0  # records read to their end
            try:
                for record in records:
                    stats.count("records")
                    last_pos = record.stream_pos
                    page = self._page(record)
                    complete += 1
                    if page is not None:
                        stats.count("pages")
                        yield page
            except OSError as e:  # corrupt gzip member, truncated file, garbage between records
                self._truncated(complete, str(e))
            else:
                # fastwarc may end quietly at a truncated or corrupt gzip member: check
                # that the members from the last record on decompress cleanly to EOF
                # (if not, that last record is the one cut off).
                problem = _gzip_tail_problem(f, last_pos)
                if problem:
                    self._truncated(max(complete - 1, 0), problem)
        # The stage has counted the last page's candidates by now (it asks for the next page).
        html = stats.counters["pages"]
        if html and not stats.kept:
            stats.count("files_without_candidates")
            stats.note(f"{self.name}: 0 candidates from {html} HTML records")

    def _truncated(self, n: int, cause: str) -> None:
        self.stats.count("truncated_files")  # also when n == 0
        self.stats.count("truncated_after_records", n)
        self.stats.note(f"{self.name}: truncated after {n} records ({cause.strip()[:120]}); the records before are kept")

    def _bad_record(self, record, cause: str) -> None:
        self.stats.count("bad_records")
        if self.stats.counters["bad_records"] <= BAD_RECORD_NOTES:
            rid = record.headers.get("WARC-Record-ID") or f"at offset {record.stream_pos}"
            self.stats.note(f"{self.name}: bad record {rid}: {cause}")

    def _page(self, record) -> Page | None:
        headers = record.headers
        rtype = record.record_type
        if rtype == _METADATA:
            self._tree = None
            if (headers.get("Content-Type") or "").split(";", 1)[0].strip() != "application/json":
                return None
            body = record.reader.read()
            return page_from_wat(body)
        if rtype != _RESPONSE:
            self.stats.count("resource_records")
            return None
        try:
            record.parse_http(quirks_mode=True)  # quirks: HTTP headers ending in LF only (ClueWeb09)
        except OSError as e:
            self._bad_record(record, f"HTTP headers: {e}")
            return None
        http = record.http_headers
        if http is not None and (http.status_code or 0) >= 400:
            self.stats.count("error_status_records")
            return None
        ctype, head = record.http_content_type, b""
        if ctype is None and http is not None:  # no Content-Type: sniff the body as a browser does
            head = record.reader.read(1024)
            if looks_like_html(head):
                self.stats.count("untyped_html_records")
                ctype = "text/html"
        if ctype is None or ctype.lower() not in HTML_TYPES:
            self.stats.count("non_html_records")
            return None
        url = headers.get("WARC-Target-URI")
        if not url:
            return None
        body = self._body(record, http, head)
        if body is None:
            return None
        self.stats.count("html_bytes", len(body))
        page, self._tree = page_from_html(
            body,
            url.strip("<>"),
            charset=record.http_charset,
            record_id=headers.get("WARC-Record-ID"),
            crawl_date=headers.get("WARC-Date"),
        )
        return page

    def _body(self, record, http, head: bytes = b"") -> bytes | None:
        """The decoded payload (at most max_page_bytes; ``head``: its first bytes,
        already read), or None for a bad record whose raw body is not HTML either."""
        limit, reader = self.max_page_bytes, record.reader
        codings, chunked = encodings(http.get("Content-Encoding"), http.get("Transfer-Encoding"))
        if not codings and not chunked:  # the common case: stored decoded
            body = head + reader.read(limit - len(head)) if head else reader.read(limit)
            if reader.read(1):
                self.stats.count("truncated_pages")
            return body
        raw = head + reader.read()
        try:
            body = decode_body(raw, codings, chunked, limit + 1)
        except DecodeError as e:
            fallback = looks_like_html(raw)
            self._bad_record(record, f"{e}; " + ("used the raw body" if fallback else "skipped"))
            if not fallback:
                return None
            body = raw
        if len(body) > limit:
            self.stats.count("truncated_pages")
            body = body[:limit]
        return body

    def details(self, page: Page) -> None:
        if self._tree is not None:
            page_details(page, self._tree)


def _open(path: str):
    """A local file directly (fsspec's local file object adds ~10% to reading), else fsspec."""
    if io.is_local(path):
        return open(io.fs_and_path(path)[1], "rb")
    return io.open_file(path, "rb")


def _check_format(f, path: str) -> None:
    """Fail the shard, saying what to do, when the file's first bytes are an ARC
    file or anything else that is not a WARC (zstd/lz4 files are left to fastwarc)."""
    import zlib

    head = f.read(1 << 16)
    f.seek(0)
    if head[:2] == b"\x1f\x8b":
        try:
            head = zlib.decompressobj(wbits=31).decompress(head, 256)
        except zlib.error:
            return  # a broken first member: fastwarc's error says more
    elif head[:4] in (b"\x28\xb5\x2f\xfd", b"\x04\x22\x4d\x18"):
        return
    head = head.lstrip()
    if not head or head.startswith(b"WARC/"):
        return
    if head.startswith(b"filedesc://"):
        raise ShardError(
            f"{path}: an ARC file (the Internet Archive format before WARC), which extract does not read; "
            "convert it to WARC first, e.g. `warcio recompress FILE.arc.gz FILE.warc.gz`, and extract that"
        )
    raise ShardError(f"{path}: not a WARC or WAT file (it starts with {head[:24]!r})")


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
