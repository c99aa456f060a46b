"""extract on real WARC/WAT files written with warcio: URLs, captions, charsets,
broken and huge pages, page signals, dedup, WAT parity, accounting, resume, CLI."""

from __future__ import annotations

import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from grassroots.layout import DatasetDir
from grassroots.ledger import shard_stats
from grassroots.runner import LocalRunner
from grassroots.schema import CANDIDATE_SCHEMA
from grassroots.stages.extract import Extract
from tests.steps import extract_only as extract
from tests.conftest import assert_accounted
from tests.extract.warcs import Img, PageSpec, html_page, write_warc, write_wat

PAGE = "http://Example.COM:80/dir/page.html"


def run(tmp_path: Path, pages, name="ds", stage=Extract(), gzip=True):
    warc = tmp_path / f"{name}.warc{'.gz' if gzip else ''}"
    write_warc(warc, pages, gzip=gzip)
    ds = tmp_path / name
    totals = extract([str(warc)], str(ds), stage, LocalRunner(), progress=False)
    rows = pq.read_table(DatasetDir(str(ds)).candidates(0)).to_pylist()
    assert_accounted(ds)
    return totals, rows, ds


def by_caption(rows):
    return {r["caption"]: r for r in rows}


def test_urls_are_resolved_and_normalised(tmp_path):
    body = """<html><head><title>  URL   cases </title></head><body>
      <img src="rel/a.jpg" alt="relative path image">
      <img src="/root/b.jpg" alt="root relative image">
      <img src="//CDN.example.org/c.jpg#frag" alt="protocol relative image">
      <img src="HTTPS://Other.example.net:443/d%7e/%c3%a9 x.jpg" alt="absolute image">
      <img src="../up/./e.jpg" alt="dot segments image">
      <img srcset="s-320.jpg 320w, s-1280.jpg 1280w, s-640.jpg 640w" alt="srcset only image">
      <picture><source srcset="p1.webp 1x, p2.webp 2x"><img alt="picture source image"></picture>
      <img src="data:image/gif;base64,R0lGOD" data-src="lazy/f.jpg" alt="lazy loaded image">
      <img src="data:image/png;base64,AAAA" alt="inline data image">
      <img src="javascript:void(0)" alt="javascript image">
      <img alt="no source at all">
    </body></html>"""
    totals, rows, _ = run(tmp_path, [html_page(PAGE, body)])
    urls = {c: r["url"] for c, r in by_caption(rows).items()}
    assert urls == {
        "relative path image": "http://example.com/dir/rel/a.jpg",
        "root relative image": "http://example.com/root/b.jpg",
        "protocol relative image": "http://cdn.example.org/c.jpg",
        "absolute image": "https://other.example.net/d~/%C3%A9%20x.jpg",
        "dot segments image": "http://example.com/up/e.jpg",
        "srcset only image": "http://example.com/dir/s-1280.jpg",
        "picture source image": "http://example.com/dir/p2.webp",
        "lazy loaded image": "http://example.com/dir/lazy/f.jpg",
    }
    assert totals.reasons == {"bad_scheme": 3}
    assert {r["page_title"] for r in rows} == {"URL cases"}
    assert {r["page_url"] for r in rows} == {PAGE}


def test_base_href_is_used_for_relative_urls(tmp_path):
    body = """<html><head><base href="https://static.example.com/assets/"><base href="/ignored/"></head>
      <body><img src="x.jpg" alt="image under base"><img src="/y.jpg" alt="root under base"></body></html>"""
    _, rows, _ = run(tmp_path, [html_page(PAGE, body)])
    assert {r["url"] for r in rows} == {"https://static.example.com/assets/x.jpg", "https://static.example.com/y.jpg"}


def test_captions_are_decoded_and_cleaned(tmp_path):
    body = """<html><body>
      <img src="a.jpg" alt="Tom &amp; Jerry &eacute;t&eacute; &#x1F600; &lt;b&gt;">
      <img src="b.jpg" alt="  lots\tof \n\n whitespace\r\n here ">
      <img src="c.jpg" alt="bell\x07and\x1bescape">
      <img src="d.jpg" alt="abc">
      <img src="e.jpg" alt="">
      <img src="f.jpg">
    </body></html>"""
    totals, rows, _ = run(tmp_path, [html_page(PAGE, body)])
    assert sorted(r["caption"] for r in rows) == sorted(
        ["Tom & Jerry été \U0001F600 <b>", "lots of whitespace here", "bell and escape"]
    )
    assert totals.reasons == {"caption_too_short": 3}


def test_min_caption_chars_flag(tmp_path):
    body = '<img src="a.jpg" alt="abc"><img src="b.jpg" alt="abcdef">'
    totals, rows, _ = run(tmp_path, [html_page(PAGE, body)], stage=Extract(min_caption_chars=2))
    assert totals.kept == 2


def test_non_content_images_are_dropped(tmp_path):
    body = """<html><body>
      <img src="/t/pixel.gif?id=3" alt="tracking pixel gif">
      <img src="/p/photo.jpg" width="1" height="1" alt="declared one by one">
      <img src="/p/photo2.jpg" width="12px" alt="declared tiny width">
      <img src="/static/icons/home.png" alt="home icon in icons dir">
      <img src="/img/site-logo.svg" alt="the site logo image">
      <img src="/favicon.ico" alt="favicon of the site">
      <img src="/p/a.jpg" class="avatar Icon" alt="class says icon">
      <img src="https://stats.g.doubleclick.net/x.jpg" alt="tracker host image">
      <img src="/p/kept.jpg" width="50%" height="300" alt="a real photo of a cat">
    </body></html>"""
    totals, rows, _ = run(tmp_path, [html_page(PAGE, body)])
    assert [r["caption"] for r in rows] == ["a real photo of a cat"]
    assert totals.reasons == {"non_content_image": 8}
    relaxed = Extract(min_declared_side=0, url_patterns=False, markup_hints=False)
    totals, rows, _ = run(tmp_path, [html_page(PAGE, body)], name="relaxed", stage=relaxed)
    assert totals.kept == 9


def test_broken_html_still_extracts(tmp_path):
    body = """<html><head><title>Broken</title><body><div><p>unclosed <img src=a.jpg alt=unquoted-alt-text>
      <table><tr><td><img src="d.jpg" alt="inside a broken table"></div></span></html>
      <img src="e.jpg" alt="after the html end tag"><IMG SRC="f.jpg" ALT="upper case tag">
      <img src="b.jpg" alt="an attribute that never ends>"""
    _, rows, _ = run(tmp_path, [html_page(PAGE, body)])
    captions = {r["caption"] for r in rows}
    assert {"unquoted-alt-text", "inside a broken table", "after the html end tag", "upper case tag"} <= captions


@pytest.mark.parametrize(
    "encoding,declared_in",
    [("windows-1252", "header"), ("windows-1252", "meta"), ("shift_jis", "header"), ("shift_jis", "meta")],
)
def test_non_utf8_pages_with_declared_charset(tmp_path, encoding, declared_in):
    alt = "Café crème à la française" if encoding == "windows-1252" else "富士山と桜の写真です"
    title = "Éditions" if encoding == "windows-1252" else "日本語のページ"
    meta = f'<meta charset="{encoding}">' if declared_in == "meta" else ""
    ctype = f"text/html; charset={encoding}" if declared_in == "header" else "text/html"
    body = f"<html><head>{meta}<title>{title}</title></head><body><img src='a.jpg' alt='{alt}'></body></html>"
    _, rows, _ = run(tmp_path, [html_page(PAGE, body, ctype=ctype, encoding=encoding)])
    assert [(r["caption"], r["page_title"]) for r in rows] == [(alt, title)]
    assert rows[0]["page_lang"] == ("fr" if encoding == "windows-1252" else "ja")


def test_invalid_bytes_do_not_garble_the_page(tmp_path):
    body = "<img src='a.jpg' alt='Crème brûlée \udcff dessert'>".encode("utf-8", "surrogateescape")
    _, rows, _ = run(tmp_path, [(PAGE, body, "text/html; charset=utf-8", {})])
    assert rows[0]["caption"] == "Crème brûlée dessert"


def test_huge_page_and_thousands_of_images(tmp_path):
    filler = "<p>" + "lorem ipsum dolor sit amet " * 40 + "</p>\n"
    huge = "<html><body>" + filler * 5000 + "<img src='/end.jpg' alt='image at the very end'></body></html>"
    many = "<html><body><div>" + "".join(
        f"<img src='/g/{i}.jpg' alt='gallery picture number {i % 2500}'>" for i in range(5000)
    ) + "</div></body></html>"
    assert len(huge) > 5_000_000
    t0 = time.monotonic()
    totals, rows, _ = run(tmp_path, [html_page(PAGE, huge), html_page("http://example.com/g.html", many)])
    assert time.monotonic() - t0 < 20
    assert totals.kept == 1 + 5000  # distinct URLs, so no duplicates
    assert totals.counters["pages"] == 2
    capped = Extract(max_page_bytes=1 << 20)
    totals, rows, _ = run(tmp_path, [html_page(PAGE, huge)], name="capped", stage=capped)
    assert totals.kept == 0 and totals.counters["truncated_pages"] == 1


def test_page_signals_and_license_reach_candidates(tmp_path):
    body = """<html><head><title>Signals</title>
      <meta name="robots" content="noindex, otherbot: noai">
      <meta name="GrassrootsBot" content="noimageai">
      <meta name="tdm-reservation" content="1">
      <meta name="tdm-policy" content="https://example.com/policy.json">
      <link rel="license" href="https://creativecommons.org/licenses/by-sa/4.0/">
      </head><body><img src="a.jpg" alt="picture with signals"></body></html>"""
    plain = "<html><body><a href='http://creativecommons.org/publicdomain/zero/1.0/'>CC0</a><img src='b.jpg' alt='picture without signals'></body></html>"
    _, rows, _ = run(tmp_path, [html_page(PAGE, body), html_page("http://example.com/p2", plain)])
    signed, unsigned = by_caption(rows)["picture with signals"], by_caption(rows)["picture without signals"]
    assert signed["page_signals"] == [
        "html_meta:noindex", "html_meta@otherbot:noai", "html_meta@grassrootsbot:noimageai",
        "tdmrep:1", "tdm-policy:https://example.com/policy.json",
    ]
    assert signed["license"] == "https://creativecommons.org/licenses/by-sa/4.0/"
    assert unsigned["page_signals"] == []
    assert unsigned["license"] == "http://creativecommons.org/publicdomain/zero/1.0/"
    assert signed["warc_record_id"] == "<urn:uuid:00000000-0000-0000-0000-000000000001>"
    assert signed["crawl_date"] == "2025-02-03T04:05:06Z"
    assert signed["page_lang"] == "en"


def test_context_snippet(tmp_path):
    body = """<html><body><figure><img src="a.jpg" alt="figure image here"><figcaption>The caption
      of the  figure</figcaption></figure><p>Before <img src="b.jpg" alt="inline image here"> after.</p></body></html>"""
    _, rows, _ = run(tmp_path, [html_page(PAGE, body)])
    ctx = {r["caption"]: r["context"] for r in rows}
    assert ctx == {"figure image here": "The caption of the figure", "inline image here": "Before after."}
    _, rows, _ = run(tmp_path, [html_page(PAGE, body)], name="noctx", stage=Extract(context_chars=0))
    assert {r["context"] for r in rows} == {None}


def test_dedup_within_a_file_counts_duplicates(tmp_path):
    one = "<img src='/a.jpg' alt='same picture'><img src='/a.jpg#x' alt='same  picture'><img src='/a.jpg' alt='other caption'>"
    two = "<img src='http://EXAMPLE.com/a.jpg' alt='same picture'><img src='/b.jpg' alt='same picture'>"
    totals, rows, _ = run(tmp_path, [html_page(PAGE, one), html_page("http://example.com/2", two)])
    assert totals.reasons == {"duplicate": 2}
    assert sorted((r["url"], r["caption"]) for r in rows) == [
        ("http://example.com/a.jpg", "other caption"),
        ("http://example.com/a.jpg", "same picture"),
        ("http://example.com/b.jpg", "same picture"),
    ]


def test_non_html_records_are_skipped_and_counted(tmp_path):
    pages = [
        (PAGE + ".jpg", b"\xff\xd8\xff\xe0 not html <img src=a alt=aaaaaaa>", "image/jpeg", {}),
        ("http://example.com/s.css", b"img { }", "text/css", {}),
        html_page(PAGE, "<img src=a.jpg alt='the only page image'>", ctype="application/xhtml+xml"),
    ]
    totals, rows, _ = run(tmp_path, pages, gzip=False)
    assert totals.kept == 1
    assert totals.counters["non_html_records"] == 2
    assert totals.counters["pages"] == 1
    assert totals.counters["records"] == 3  # response records; request/warcinfo are not read
    assert totals.bytes > 0


def _parity_specs():
    specs = []
    for p in range(6):
        images = [Img(f"/img/{p}/{i}.jpg", f"picture {i} on page {p}") for i in range(5)]
        images += [Img(f"//cdn.example.net/{p}.png", "protocol relative one"), Img("rel.jpg", "tiny"),
                   Img("data:image/gif;base64,AA", "inline data picture"), Img("/pixel.gif", "a tracking pixel"),
                   Img(f"/img/{p}/0.jpg", "picture 0 on page " + str(p)), Img("/noalt.jpg", None),
                   Img("x.jpg", "Fish & chips <b>bold</b> café")]
        specs.append(PageSpec(
            url=f"http://site{p % 2}.example.com/a/page{p}.html",
            title=f"Page number {p} about pictures",
            images=images,
            metas=[("robots", "noimageai")] if p == 1 else [("tdm-reservation", "1")] if p == 2 else [],
            base="https://static.example.com/b/" if p == 3 else None,
            license="https://creativecommons.org/licenses/by/4.0/" if p == 4 else None,
            record_id=f"<urn:uuid:00000000-0000-0000-0000-00000000000{p}>",
            date=f"2025-01-0{p + 1}T00:00:00Z",
        ))
    return specs


def test_wat_gives_the_same_candidates_as_the_warc(tmp_path):
    specs = _parity_specs()
    write_warc(tmp_path / "c.warc.gz", specs)
    write_wat(tmp_path / "c.warc.wat.gz", specs)
    ta = extract([str(tmp_path / "c.warc.gz")], str(tmp_path / "a"), progress=False)
    tb = extract([str(tmp_path / "c.warc.wat.gz")], str(tmp_path / "b"), progress=False)
    a = pq.read_table(DatasetDir(str(tmp_path / "a")).candidates(0)).drop(["context"])
    b = pq.read_table(DatasetDir(str(tmp_path / "b")).candidates(0)).drop(["context"])
    assert a.num_rows == 39 and a.equals(b)
    assert ta.reasons == tb.reasons and ta.candidates == tb.candidates == 6 * 12
    # duplicates: "picture 0" twice on each page, and x.jpg on pages of the same host
    assert ta.reasons == {"caption_too_short": 12, "bad_scheme": 6, "non_content_image": 6, "duplicate": 9}
    rows = a.to_pylist()
    assert {r["page_lang"] for r in rows} == {"en"}
    assert {tuple(r["page_signals"]) for r in rows} == {(), ("html_meta:noimageai",), ("tdmrep:1",)}
    assert any(r["url"].startswith("https://static.example.com/b/") for r in rows)


def test_miniweb_wat_matches_its_warc(tmp_path):
    from grassroots.miniweb import write_warc as miniweb_warc

    info = miniweb_warc(tmp_path / "m.warc.gz", ["http://127.0.0.1:8080", "http://127.0.0.2:8080"], seed=3, wat=True)
    ta = extract([info["warc"]], str(tmp_path / "a"), progress=False)
    tb = extract([info["wat"]], str(tmp_path / "b"), progress=False)
    a = pq.read_table(DatasetDir(str(tmp_path / "a")).candidates(0)).drop(["context"])
    b = pq.read_table(DatasetDir(str(tmp_path / "b")).candidates(0)).drop(["context"])
    assert a.num_rows > 50 and a.equals(b)
    assert ta.to_dict()["reasons"] == tb.to_dict()["reasons"]


def test_accounting_resume_and_one_shard_per_file(tmp_path):
    for i in range(3):
        write_warc(tmp_path / f"in-{i}.warc.gz", [html_page(f"http://example.com/{i}", "<img src=a.jpg alt='shared caption'><img src=b.jpg alt=x>")])
    ds = tmp_path / "ds"
    first = extract([str(tmp_path / "in-*.warc.gz")], str(ds), progress=False)
    assert first.shards == 3 and first.kept == 3 and first.reasons == {"caption_too_short": 3}
    assert_accounted(ds)
    marker = Path(DatasetDir(str(ds)).run_marker("extract", 1))
    mtime = marker.stat().st_mtime_ns
    (ds / "candidates" / "00002.parquet").unlink()
    Path(DatasetDir(str(ds)).run_marker("extract", 2)).unlink()  # as if shard 2 never finished
    again = extract([str(tmp_path / "in-*.warc.gz")], str(ds), progress=False)
    assert again.skipped_shards == 2 and again.kept == 3
    assert marker.stat().st_mtime_ns == mtime
    assert (ds / "candidates" / "00002.parquet").exists()
    assert sorted(shard_stats(str(ds), "extract")) == [0, 1, 2]
    table = pq.read_table(DatasetDir(str(ds)).candidates(0))
    assert table.schema.equals(CANDIDATE_SCHEMA)
    assert_accounted(ds)


def test_cli_extract(tmp_path):
    from grassroots.cli import app

    write_warc(tmp_path / "one.warc.gz", [html_page(PAGE, "<img src=a.jpg alt='a cli picture'><img src=b.jpg alt=no>")])
    out = tmp_path / "ds"
    result = CliRunner().invoke(app, ["extract", str(tmp_path / "*.warc.gz"), "-o", str(out), "--processes", "1",
                                      "--min-caption-chars", "2"])
    assert result.exit_code == 0, result.output
    assert pq.read_table(DatasetDir(str(out)).candidates(0)).num_rows == 2
    result = CliRunner().invoke(app, ["extract", str(tmp_path / "missing.warc.gz"), "-o", str(out)])
    assert result.exit_code == 2 and "no such file" in result.output


def test_process_pool_and_a_corrupt_file(tmp_path):
    for i in range(2):
        write_warc(tmp_path / f"ok-{i}.warc.gz", [html_page(f"http://example.com/{i}", f"<img src=a{i}.jpg alt='pool picture {i}'>")])
    good = (tmp_path / "ok-0.warc.gz").read_bytes()
    (tmp_path / "ok-2.warc.gz").write_bytes(good[: len(good) // 2] + b"\x00garbage" * 50)
    ds = tmp_path / "ds"
    totals = extract([str(tmp_path / "ok-*.warc.gz")], str(ds), runner=LocalRunner(processes=2), progress=False)
    # the corrupt file completes with what it held before the break, and says so
    assert totals.kept == 2 and totals.failed_shards == 0
    broken = shard_stats(str(ds), "extract")[2]
    assert broken.counters["truncated_files"] == 1 and broken.counters["truncated_after_records"] == 0
    assert broken.notes and "ok-2.warc.gz: truncated after 0 records" in broken.notes[0]
    assert not Path(DatasetDir(str(ds)).run_failure("extract", 2)).exists()
    assert_accounted(ds)


def test_truncated_or_corrupt_gzip_tail_is_detected(tmp_path):
    import gzip
    import io as _io

    from grassroots.extract.reader import _gzip_tail_problem

    members = gzip.compress(b"record one" * 100) + gzip.compress(b"record two" * 100)
    assert _gzip_tail_problem(_io.BytesIO(members), 0) is None
    second = len(gzip.compress(b"record one" * 100))
    assert _gzip_tail_problem(_io.BytesIO(members), second) is None
    assert "truncated" in _gzip_tail_problem(_io.BytesIO(members[:-10]), second)
    assert "bad gzip" in _gzip_tail_problem(_io.BytesIO(members + b"\x00garbage" * 5), second)
    assert _gzip_tail_problem(_io.BytesIO(b"WARC/1.1\r\n..."), 0) is None  # not gzip: nothing to check


def test_extract_into_a_dataset_refuses_what_its_takedowns_list(tmp_path):
    """The dataset's takedown lists (registry: URL, domain; blocklist: a URL's hash) drop a
    candidate as ``takedown`` before it is written: a later download never sees it."""
    from grassroots.rights.blocklist import url_hash
    from grassroots.takedown.lists import append_to_lists

    ds = tmp_path / "ds"
    append_to_lists(str(ds), urls=["https://example.com/gone.jpg"], domains=["optout.example.org"],
                    url_hashes=[url_hash("http://example.com/illegal.jpg")], sha256=[], md5=[], pdq=[], note="test")
    body = ("<img src='http://example.com/gone.jpg' alt='taken down picture'>"
            "<img src='http://cdn.optout.example.org/x.jpg' alt='opted out domain'>"
            "<img src='/illegal.jpg' alt='listed by hash only'>"
            "<img src='/kept.jpg' alt='a kept picture'>")
    totals, rows, _ = run(tmp_path, [html_page(PAGE, body)])
    assert totals.reasons == {"takedown": 3}
    assert [r["url"] for r in rows] == ["http://example.com/kept.jpg"]
