"""extract on WARCs as they come from real crawls (issue 11): one bad record,
a partial download, ClueWeb09's WARC/0.18 quirks, ARC files, error pages and
resource records. Every problem is counted in the stats, none is silent, and
none costs the good records around it."""

from __future__ import annotations

import gzip
import io
import zlib
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from grassroots.layout import DatasetDir
from grassroots.ledger import shard_stats
from grassroots.runner import LocalRunner
from tests.steps import extract_only as extract
from grassroots.stats import MAX_NOTES, ShardStats
from tests.conftest import assert_accounted
from tests.extract.warcs import http_head, raw_record, write_members

HTML = "text/html; charset=utf-8"


def page_html(i: int, alt: str | None = None) -> bytes:
    return f"<html><body><p>page {i}</p><img src='/img/{i}.jpg' alt='{alt or f'good picture number {i}'}'></body></html>".encode()


def good(i: int) -> bytes:
    return raw_record(f"http://example.com/{i}", http_head([("Content-Type", HTML)]), page_html(i))


def run(tmp_path: Path, warc: Path, name: str = "ds"):
    ds = tmp_path / name
    totals = extract([str(warc)], str(ds), runner=LocalRunner(), progress=False)
    assert_accounted(ds)
    path = Path(DatasetDir(str(ds)).candidates(0))
    rows = pq.read_table(path).to_pylist() if path.exists() else []
    return totals, rows, ds


def failure(ds: Path) -> str:
    return Path(DatasetDir(str(ds)).run_failure("extract", 0)).read_text()


# --- 1. one bad record, a partial download -------------------------------------------


@pytest.mark.parametrize("encoding", ["gzip", "br"])
def test_an_undecodable_record_is_counted_and_the_file_goes_on(tmp_path, encoding):
    bad_html = raw_record("http://example.com/bad", http_head([("Content-Type", HTML), ("Content-Encoding", encoding)]),
                          page_html(999, "the raw body is plain html"), record_id="<urn:uuid:bad-html>")
    bad_binary = raw_record("http://example.com/bin", http_head([("Content-Type", HTML), ("Content-Encoding", encoding)]),
                            bytes(range(256)) * 4, record_id="<urn:uuid:bad-binary>")
    records = [good(i) for i in range(50)] + [bad_html, bad_binary] + [good(i) for i in range(50, 100)]
    write_members(tmp_path / "a.warc.gz", records)
    totals, rows, _ = run(tmp_path, tmp_path / "a.warc.gz")
    assert totals.failed_shards == 0
    assert totals.kept == 101  # 100 good pages + the bad one read from its raw (HTML) body
    assert "the raw body is plain html" in {r["caption"] for r in rows}
    assert totals.counters["bad_records"] == 2
    assert totals.counters["pages"] == 101
    notes = "\n".join(totals.notes)
    assert "<urn:uuid:bad-html>" in notes and "<urn:uuid:bad-binary>" in notes and encoding in notes


def test_encoded_bodies_are_decoded(tmp_path):
    from fastwarc.stream_io import BrotliWriter

    def brotli(data: bytes) -> bytes:
        buf = io.BytesIO()
        w = BrotliWriter(buf)
        w.write(data)
        w.close()
        return buf.getvalue()

    def chunked(data: bytes) -> bytes:
        return b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in (data[:10], data[10:])) + b"0\r\n\r\n"

    cases = {
        "gzip": ([("Content-Encoding", "gzip")], gzip.compress),
        "deflate": ([("Content-Encoding", "deflate")], zlib.compress),
        "br": ([("Content-Encoding", "br")], brotli),
        "chunked": ([("Transfer-Encoding", "chunked")], chunked),
        "chunked-gzip": ([("Content-Encoding", "gzip"), ("Transfer-Encoding", "chunked")],
                         lambda b: chunked(gzip.compress(b))),
        "identity": ([("Content-Encoding", "identity")], lambda b: b),
    }
    records = [raw_record(f"http://example.com/{name}", http_head([("Content-Type", HTML)] + headers),
                          encode(page_html(0, f"encoded with {name}")))
               for name, (headers, encode) in cases.items()]
    write_members(tmp_path / "enc.warc.gz", records)
    totals, rows, _ = run(tmp_path, tmp_path / "enc.warc.gz")
    assert sorted(r["caption"] for r in rows) == sorted(f"encoded with {name}" for name in cases)
    assert totals.counters["bad_records"] == 0


@pytest.mark.parametrize("damage", ["truncated", "corrupt"])
def test_a_partial_download_keeps_the_records_before_the_break(tmp_path, damage):
    members = [gzip.compress(good(i)) for i in range(100)]
    head = b"".join(members[:60])
    if damage == "truncated":  # the download stopped inside record 60
        data = head + members[60][: len(members[60]) // 2]
    else:  # record 60's member is garbled, the rest is intact
        data = head + members[60][:20] + b"\x00garbage" * 40 + b"".join(members[61:])
    (tmp_path / "p.warc.gz").write_bytes(data)
    totals, rows, ds = run(tmp_path, tmp_path / "p.warc.gz")
    assert totals.failed_shards == 0
    assert totals.kept == 60 and len(rows) == 60
    shard = shard_stats(str(ds), "extract")[0]  # the stats JSON of the shard says so
    assert shard.counters["truncated_files"] == 1 and shard.counters["truncated_after_records"] == 60
    assert any("p.warc.gz: truncated after 60 records" in n for n in shard.notes)


def test_a_file_that_is_not_a_warc_fails_with_a_clear_message(tmp_path):
    (tmp_path / "x.warc.gz").write_bytes(gzip.compress(b"<html><body>not an archive</body></html>"))
    totals, _, ds = run(tmp_path, tmp_path / "x.warc.gz")
    assert totals.failed_shards == 1
    assert "not a WARC or WAT file" in failure(ds)


def test_notes_round_trip_and_sum_capped():
    a, b = ShardStats(), ShardStats()
    for i in range(MAX_NOTES + 2):
        a.note(f"a{i}")
    b.note("b0")
    assert len(a.notes) == MAX_NOTES
    assert ShardStats.from_json(a.to_json()).notes == a.notes
    assert (b + a).notes == ["b0"] + a.notes[: MAX_NOTES - 1]
    assert ShardStats.from_dict({}).notes == []


# --- 2. ClueWeb09 (WARC/0.18) and files that yield nothing ---------------------------


def clueweb_records(n: int) -> list[bytes]:
    """ClueWeb09's quirks: a WARC/0.18 version line, Content-Type
    'application/http;msgtype=response' (no space), a WARC-TREC-ID, a non-ISO
    WARC-Date, HTTP headers ending in LF only, and a 'Content-Encoding: gzip'
    header kept over the body that was stored decoded."""
    info = b"software: Nutch 1.0-dev (modified for clueweb09)\nformat: WARC file version 0.18\n"
    out = [raw_record("", b"", info, version=b"WARC/0.18", warc_type=b"warcinfo",
                      content_type=b"application/warc-fields", record_id="<urn:uuid:info>")]
    for i in range(n):
        body = f"<html><head><title>ページ {i}</title></head><body><img src='/p/{i}.jpg' alt='富士山の写真 {i} 枚目'>" \
               f"<img src='/p/{i}b.jpg' alt='桜の写真 {i}'></body></html>".encode("euc_jp")
        http = http_head([("Content-Type", "text/html; charset=EUC-JP"), ("Content-Encoding", "gzip"),
                          ("Content-Length", str(len(body)))], eol=b"\n")
        out.append(raw_record(f"http://www.example.jp/{i}.html", http, body, version=b"WARC/0.18",
                              content_type=b"application/http;msgtype=response",
                              extra=[(b"WARC-TREC-ID", f"clueweb09-ja0016-50-{i:05d}".encode()),
                                     (b"WARC-Identified-Payload-Type", b"")]))
    return out


def test_clueweb09_quirks_are_read(tmp_path):
    write_members(tmp_path / "cw.warc.gz", clueweb_records(5))
    totals, rows, _ = run(tmp_path, tmp_path / "cw.warc.gz")
    assert totals.kept == 10
    assert totals.counters["pages"] == 5 and totals.counters["non_html_records"] == 0
    assert "富士山の写真 3 枚目" in {r["caption"] for r in rows}
    assert {r["page_title"] for r in rows} >= {"ページ 0"}


def test_zero_candidates_from_html_records_is_said(tmp_path):
    records = [raw_record(f"http://example.com/{i}", http_head([("Content-Type", HTML)]), page_html(i, "abc"))
               for i in range(3)]
    write_members(tmp_path / "z.warc.gz", records)
    totals, _, _ = run(tmp_path, tmp_path / "z.warc.gz")
    assert totals.kept == 0 and totals.failed_shards == 0
    assert totals.counters["files_without_candidates"] == 1
    assert any("0 candidates from 3 HTML records" in n for n in totals.notes)


def test_a_response_without_content_type_is_sniffed(tmp_path):
    records = [
        raw_record("http://example.com/untyped", http_head([("Server", "old")]), page_html(1, "picture on an untyped page")),
        raw_record("http://example.com/blob", http_head([("Server", "old")]), bytes(range(256)) * 8),
    ]
    write_members(tmp_path / "u.warc.gz", records)
    totals, rows, _ = run(tmp_path, tmp_path / "u.warc.gz")
    assert [r["caption"] for r in rows] == ["picture on an untyped page"]
    assert totals.counters["untyped_html_records"] == 1 and totals.counters["non_html_records"] == 1


# --- 3. ARC files ---------------------------------------------------------------------


def arc_file(pages: list[tuple[str, bytes]]) -> bytes:
    """An ARC v1 file (Internet Archive's pre-WARC format), one gzip member per record."""
    meta = b"1 0 Grassroots tests\nURL IP-address Archive-date Content-type Archive-length\n"
    members = [gzip.compress(b"filedesc://test.arc 0.0.0.0 20080101000000 text/plain %d\n%s\n" % (len(meta), meta))]
    for url, body in pages:
        http = http_head([("Content-Type", "text/html"), ("Content-Length", str(len(body)))])
        members.append(gzip.compress(b"%s 192.0.2.1 20080101000000 text/html %d\n%s%s\n"
                                     % (url.encode(), len(http) + len(body), http, body)))
    return b"".join(members)


def test_arc_files_are_refused_with_what_to_do(tmp_path):
    from warcio.recompressor import Recompressor

    arc = tmp_path / "old.arc.gz"
    arc.write_bytes(arc_file([(f"http://example.com/{i}", page_html(i)) for i in range(3)]))
    totals, _, ds = run(tmp_path, arc)
    assert totals.failed_shards == 1
    message = failure(ds)
    assert "ARC" in message and "warcio recompress" in message
    # the advice works: the converted file gives the pages' candidates
    Recompressor(str(arc), str(tmp_path / "old.warc.gz")).recompress()
    totals, rows, _ = run(tmp_path, tmp_path / "old.warc.gz", name="converted")
    assert totals.kept == 3 and totals.failed_shards == 0


# --- 4. error pages and resource records ---------------------------------------------


def test_error_pages_and_resource_records_are_counted_not_used(tmp_path):
    records = [
        good(0),
        raw_record("http://example.com/missing", http_head([("Content-Type", HTML)], status="404 Not Found"),
                   page_html(1, "picture on a not found page")),
        raw_record("http://example.com/broken", http_head([("Content-Type", HTML)], status="503 Service Unavailable"),
                   page_html(2, "picture on an error page")),
        raw_record("http://example.com/res.html", b"", page_html(3, "picture in a resource record"),
                   warc_type=b"resource", content_type=b"text/html"),
    ]
    write_members(tmp_path / "e.warc.gz", records)
    totals, rows, _ = run(tmp_path, tmp_path / "e.warc.gz")
    assert [r["caption"] for r in rows] == ["good picture number 0"]
    assert totals.counters["error_status_records"] == 2
    assert totals.counters["resource_records"] == 1
    assert totals.counters["pages"] == 1


def test_the_console_says_when_html_records_gave_no_candidates(tmp_path):
    from typer.testing import CliRunner

    from grassroots.cli import EXIT_NOTHING_KEPT, app

    records = [raw_record(f"http://example.com/{i}", http_head([("Content-Type", HTML)]), page_html(i, "abc"))
               for i in range(3)]
    write_members(tmp_path / "z.warc.gz", records)
    res = CliRunner().invoke(app, ["extract", str(tmp_path / "z.warc.gz"), "-o", str(tmp_path / "ds"),
                                   "--processes", "1"])
    text = " ".join(res.output.split())
    assert "0 candidates from 3 HTML records" in text and res.exit_code == EXIT_NOTHING_KEPT, res.output
