"""Behaviour kept through the speed-ups of extract (html.py shortcuts for CSS
selectors, the lazy-load attribute order, column-wise parquet building, direct
local file reads)."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from grassroots.layout import DatasetDir
from grassroots.runner import LocalRunner
from grassroots.schema import CANDIDATE_SCHEMA
from tests.steps import extract_only as extract
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


# selectolax (lexbor) port of html.py: behaviour kept from the resiliparse version


def test_lexbor_bytes_are_the_decoded_page():
    from grassroots.extract.html import decode_html, html_utf8

    bodies = [
        (b"<p>plain ascii</p>", None), (b"<p>plain ascii</p>", "utf-8"), (b"<p>ascii</p>", "windows-1252"),
        ("<p>caf\u00e9 \U0001F600</p>".encode(), "utf-8"), (b"\xef\xbb\xbf<p>bom \xc3\xa9</p>", None),
        (b"<p>bad \xff\xfe utf-8</p>", "utf-8"), ("<p>Caf\u00e9</p>".encode("cp1252"), "iso-8859-1"),
        ("<p>\u5bcc\u58eb\u5c71</p>".encode("shift_jis"), "shift_jis"), (b"<p>ascii</p>", "shift_jis"),
        ("<p>utf16</p>".encode("utf-16"), None), (b"<p>\x1b$B\x3b\x33\x1b(B</p>", "iso-2022-jp"),
        (b'<meta charset="windows-1251"><p>\xcf\xf0\xe8</p>', None), (b"<p>nul \x00 byte</p>", "utf-8"),
    ]
    for body, declared in bodies:
        assert html_utf8(body, declared) == decode_html(body, declared).encode("utf-8"), (body, declared)


def test_image_reason_declared_size_fast_path():
    from grassroots.extract.rules import Rules, declared_too_small, image_reason

    values = [None, "", "0", "19", "20", "640", "12px", " 12 ", "50%", "auto", "1.5", "٣", "0019", "99999999999"]
    for min_side in (0, 20):
        rules = Rules(min_declared_side=min_side)
        for w in values:
            for h in values:
                dropped = image_reason(rules, "http://example.com/photo.jpg", w, h, "") is not None
                assert dropped == declared_too_small(w, h, min_side), (w, h, min_side)


def test_first_figcaption_walk_matches_the_selector():
    from selectolax.lexbor import LexborHTMLParser

    from grassroots.extract.html import FIGURE_WALK_BUDGET, _first_figcaption

    figures = [
        "<figure><img></figure>",
        "<figure><div><span>x</span><p><figcaption>deep</figcaption></p></div><figcaption>direct</figcaption></figure>",
        "<figure><!--c-->text<b><i></i></b></figure><figcaption>outside</figcaption>",
        "<figure>" + "<div><span>x</span></div>" * FIGURE_WALK_BUDGET + "<figcaption>late</figcaption></figure>",
        "<figure>" + "<p>x</p>" * (2 * FIGURE_WALK_BUDGET) + "</figure><figcaption>after</figcaption>",
    ]
    for html in figures:
        fig = LexborHTMLParser(html).tags("figure")[0]
        a, b = _first_figcaption(fig), fig.css_first("figcaption")
        assert (a is None) == (b is None) and (a is None or a.mem_id == b.mem_id), html


def test_title_is_the_first_html_title(tmp_path):
    pages = [
        html_page(PAGE, "<body><svg><title>icon</title></svg><title> Real  title </title><img src=a.jpg alt='after an svg title'>"),
        html_page("http://example.com/2", "<body><svg><title>only an svg title</title></svg><img src=b.jpg alt='svg title only'>"),
        html_page("http://example.com/3", "<head><title>Head</title></head><body><title>Body</title><img src=c.jpg alt='head title wins'>"),
    ]
    _, rows, _ = run(tmp_path, pages)
    assert {r["caption"]: r["page_title"] for r in rows} == {
        "after an svg title": "Real title", "svg title only": None, "head title wins": "Head"}


def test_context_counts_child_elements_not_comments(tmp_path):
    body = "<div>" + "<span>s</span><!-- c -->" * 19 + "<img src=a.jpg alt='twenty children'></div>"
    _, rows, _ = run(tmp_path, [html_page(PAGE, body)])
    assert rows[0]["context"] == "s" * 19  # 20 elements (and 19 comments): not a gallery


def test_extract_imports_no_other_step():
    """The step modules load when first named (grassroots.stages.__getattr__):
    `grassroots extract` does not import the download or embed steps (aiohttp, torch)."""
    import subprocess
    import sys

    code = ("import sys; from grassroots.stages import Dedup, Extract; "
            "print(sorted(m for m in ('aiohttp', 'torch', 'grassroots.stages.download', 'grassroots.stages.embed') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    from grassroots import stages

    assert [s.name for s in stages.STEPS[:4]] == ["import", "extract", "dedup", "download"]
    assert stages.STEPS[-1].name == "takedown" and len(stages.STEPS) == 14
    with pytest.raises(AttributeError):
        stages.NoSuchStep  # noqa: B018


def test_gc_settings_are_restored_after_a_shard_even_when_it_fails():
    import gc

    from grassroots.stages.extract import _no_gc_passes

    enabled = gc.isenabled()
    with pytest.raises(RuntimeError), _no_gc_passes():
        assert not gc.isenabled()
        raise RuntimeError("a failing shard")
    assert gc.isenabled() == enabled


@pytest.mark.parametrize("kind", ["wat", "warc"])
def test_a_shard_leaves_no_cyclic_garbage_that_grows_with_its_pages(tmp_path, kind):
    """extract runs with the cyclic collector off (`_no_gc_passes`): that is only
    safe while pages make no reference cycles, so what a shard leaves for the
    collector must not grow with its pages."""
    import gc

    from grassroots.layout import DatasetDir
    from grassroots.miniweb import write_warc as miniweb_warc
    from grassroots.step import ShardTask
    from grassroots.stages.extract import Extract

    left = []
    for pages in (5, 60):
        info = miniweb_warc(tmp_path / f"m{pages}.warc.gz", ["http://127.0.0.1:8080"], seed=5, pages=pages,
                            heavy=True, wat=True)
        out = tmp_path / f"out-{kind}-{pages}"
        (out / "candidates").mkdir(parents=True)
        gc.collect()
        stats = Extract()(ShardTask(shard=0, dataset=str(out), inputs=(str(info[kind]),)))
        assert stats.kept > 20 * pages and DatasetDir(str(out)).candidates(0)
        left.append(gc.collect())
    assert left[1] <= left[0] + 50, left  # 12x the pages, not 12x the garbage
