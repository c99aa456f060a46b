"""Behaviour kept through the speed-ups of extract (html.py shortcuts for CSS
selectors, the lazy-load attribute order, column-wise parquet building, direct
local file reads)."""

from __future__ import annotations

import pyarrow.parquet as pq

from grassroots.layout import DatasetDir
from grassroots.runner import LocalRunner
from grassroots.schema import CANDIDATE_SCHEMA
from grassroots.stages.extract import extract
from tests.extract.test_extract import PAGE, run
from tests.extract.warcs import html_page, write_warc


def _urls(rows):
    return {r["caption"]: r["url"] for r in rows}


def test_first_base_with_an_href_wins(tmp_path):
    body = """<html><head><base target="_blank"><base href="https://cdn.example.org/x/"><base href="/no/">
      </head><body><img src="a.jpg" alt="relative to base"></body></html>"""
    _, rows, _ = run(tmp_path, [html_page(PAGE, body)])
    assert _urls(rows) == {"relative to base": "https://cdn.example.org/x/a.jpg"}


def test_blank_lazy_attributes_fall_through_in_order(tmp_path):
    body = """<img data-src="  " data-lazy-src="lazy.jpg" src="plain.jpg" alt="second lazy attribute">
      <img data-src=" " src="plain2.jpg" alt="all lazy attributes blank">
      <img data-src="" data-original="orig.jpg" src="p3.jpg" alt="empty then original">
      <img src="data:image/gif;base64,R0l" srcset="s1.jpg 1x, s2.jpg 2x" alt="placeholder src, srcset">"""
    _, rows, _ = run(tmp_path, [html_page(PAGE, body)])
    assert _urls(rows) == {
        "second lazy attribute": "http://example.com/dir/lazy.jpg",
        "all lazy attributes blank": "http://example.com/dir/plain2.jpg",
        "empty then original": "http://example.com/dir/orig.jpg",
        "placeholder src, srcset": "http://example.com/dir/s2.jpg",
    }


def test_class_and_id_hints(tmp_path):
    body = """<img src="a.jpg" alt="id names a logo" id="site-logo"><img src="b.jpg" alt="class and id" class="hero" id="main">
      <img src="c.jpg" alt="class names a button" class="x btn"><img src="d.jpg" alt="neither class nor id">"""
    totals, rows, _ = run(tmp_path, [html_page(PAGE, body)])
    assert sorted(r["caption"] for r in rows) == ["class and id", "neither class nor id"]
    assert totals.reasons == {"non_content_image": 2}


def test_nested_figcaption_and_picture_context(tmp_path):
    body = """<figure><img src="a.jpg" alt="caption is nested"><div><figcaption>Deep  caption</figcaption></div></figure>
      <figure><picture><source srcset="b.webp"><img src="b.jpg" alt="inside a picture"></picture>
      <figcaption>Picture caption</figcaption><figcaption>second</figcaption></figure>"""
    _, rows, _ = run(tmp_path, [html_page(PAGE, body)])
    assert {r["caption"]: r["context"] for r in rows} == {
        "caption is nested": "Deep caption",
        "inside a picture": "Picture caption",
    }


def test_page_columns_repeat_per_candidate_and_empty_shards(tmp_path):
    one = "<title>One</title><img src=a.jpg alt='first page image'><img src=b.jpg alt='first page other'>"
    two = "<title>Two</title><p>no images</p>"
    three = "<title>Three</title><img src=c.jpg alt='third page image'><meta name=robots content=noimageai>"
    _, rows, _ = run(tmp_path, [html_page(PAGE, one), html_page("http://example.com/2", two),
                                html_page("http://example.com/3", three)])
    assert [(r["page_title"], r["caption"]) for r in rows] == [
        ("One", "first page image"), ("One", "first page other"), ("Three", "third page image")]
    assert [r["page_signals"] for r in rows] == [[], [], ["html_meta:noimageai"]]
    _, rows, ds = run(tmp_path, [html_page("http://example.com/2", two)], name="empty")
    table = pq.read_table(DatasetDir(str(ds)).candidates(0))
    assert table.num_rows == 0 and table.schema.equals(CANDIDATE_SCHEMA)


def test_fsspec_url_input(tmp_path):
    warc = tmp_path / "u.warc.gz"
    write_warc(warc, [html_page(PAGE, "<img src=a.jpg alt='through fsspec'>")])
    ds = tmp_path / "ds"
    totals = extract([f"file://{warc}"], str(ds), progress=False, runner=LocalRunner())
    assert totals.kept == 1
