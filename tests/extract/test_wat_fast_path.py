"""The fast paths of extract (issue 12) give the output of the full rules, row for
row and column by column: `PageResolver` against `resolve` (urljoin + normalise_url),
the per-page URL rule against `non_content_url`, orjson and the licence prefilter
against json and a scan of every link. The reference below is the per-image loop
extract had before; the oracle functions are the full rules in src."""

from __future__ import annotations

import itertools
import json

import msgspec
import pyarrow.parquet as pq
import pytest

from grassroots.extract import wat
from grassroots.extract.html import context_of
from grassroots.extract.rules import clean_caption, image_reason, non_content_url, non_content_urls
from grassroots.extract.urls import PageResolver, resolve
from grassroots.layout import DatasetDir
from grassroots.runner import ShardTask
from grassroots.schema import Reason
from grassroots.stages.extract import Extract
from tests.extract.warcs import Img, PageSpec, write_warc, write_wat

BASES = [
    "http://example.com/dir/page.html", "http://Example.COM:80/dir/", "https://example.com",
    "https://example.com/", "http://example.com/a//b/page", "http://example.com/a/./b/page",
    "http://example.com/a/../b/page", "http://bücher.example/dir/p", "http://example.com/dir/page.html?q=1#frag",
    "http://example.com/dir/p#f/x", "http://user:pw@example.com:8080/d/p", "http://example.com/%7Ex/p",
    "http://example.com/d;p=1/x;q=2", "http://example.com:99999/p", "http://[::1]:8080/d/p",
    "http://example.com./d/", "http://ex ample.com/d/",
]
RAWS = [
    "img/a.jpg", "./img/b.jpg", "../up/c.jpg", "../../../../c2.jpg", "//cdn.example.org/d.jpg", "/root/e.jpg",
    "?q=1", "f.jpg?x=1&y=2", "f2.jpg?x=/../y", "HTTP://Example.COM/G.jpg", "http://EXAMPLE.com:80/h.jpg",
    "https://example.com:443/i.jpg", "http://example.com:8080/j.jpg", "http://example.com:08080/j2.jpg",
    "http://user:pw@example.com/k.jpg", "http://bücher.example/l.jpg", "http://xn--bcher-kva.example/l2.jpg",
    "http://example.com/a/./b/../m.jpg", "http://example.com/%7Euser/%2e%2e/n%20o.jpg", "/p q.jpg",
    "http://example.com/p q.jpg", "  http://example.com/r.jpg  ", "\thttp://exa\nmple.com/r2.jpg",
    "http://example.com/s.jpg#frag", "s2.jpg#frag", "data:image/png;base64,xx", "javascript:void(0)",
    "mailto:x@y", "ftp://example.com/f.jpg", "http://example.com:99999/t.jpg", "http://[::1]/u.jpg",
    "http://[::1", "http://example.com", "http://example.com?x", "http://example.com/?", "/?", "/x?",
    "a//b.jpg", "a:b.jpg", "img/ü.jpg", "\\img\\v.jpg", "http:\\\\example.com\\w.jpg", "http://example.com./x.jpg",
    "http://ex ample.com/y.jpg", "http:///z.jpg", "http://@example.com/z2.jpg", "http://example.com:/z3.jpg",
    "img;v=1/a.jpg", ";x", "a.b/c.d", ".hidden.jpg", "..jpg", "~u/x.jpg", "%41.jpg", "", " ", None,
    # non-ASCII and escapes (bench/wat_shapes.py's intl shape)
    "фото/снимок.jpg", "img/%d1%84%D0%BE.jpg", "img/a%2Fb.jpg", "img/%7euser.jpg", "img/50%.jpg", "img/50%zz.jpg",
    "img/a b.jpg", "img/a%20b.jpg", "/фото.jpg", "/img/%e5%86%99.jpg", "//bücher.example/x.jpg",
    "//static.example.com/ü.jpg", "//static.example.com/%e5%86%99.jpg", "//static.example.com/a/%2e%2e/b.jpg",
    "//static.example.com:8080/ü.jpg", "//static.example.com/ü.jpg?x=1", "//ex ample.com/ü.jpg",
    "http://пример.рф/фото.jpg", "img/%2e%2e/x.jpg", "img/%2E./x.jpg", "img/ü.jpg#f", "img/ü\\x.jpg",
    "img/\u00e9\u0301.jpg", "img/\U0001F600.jpg", "img/ü/./x.jpg", "ü/../x.jpg", "img/ü\x7f.jpg",
    # the one-match fast path and the non-ASCII shortcuts (issue 26): hosts not in normal form, ports,
    # userinfo, queries, non-ASCII around escapes, and what resolve cleans up first
    "//Static.Example.com/x.jpg", "//static.example.com./x.jpg", "//a@static.example.com/x.jpg",
    "https://a-b_c~d.example/x;y=1/z.jpg?q=1&r=2", "https://EXAMPLE.com/ü.jpg", "http://example.com./ü.jpg",
    "http://example.com/фото.jpg?x=ü", "http://example.com:8080/фото.jpg", "http://u@example.com/фото.jpg",
    "http://bücher.example/фото.jpg ", "http://example.com/a\\ü.jpg", "http://example.com/ü\tx.jpg",
    "http://example.com/ü%2e%2e/x.jpg", "http://example.com/ü#f", "http://-x.example/a.jpg", "http://x-.example/a.jpg",
    "/a/b ü.jpg", "/фото.jpg#x", "/фото.jpg?q", "/%D1%84%d0%be.jpg", "/ü%2E%2E/x.jpg", "/ü\\x.jpg", "/ü:x.jpg",
    "a.jpg?", "a/b.jpg?x", "x:y/ü.jpg", "ü//x.jpg", "//ü.example//x.jpg",
    # escapes already in normal form take the one-match path (upper-case, bytes of non-ASCII text)
    "img/%E5%86%99-1.jpg", "%E5%86%99.jpg", "/img/%D1%84%D0%BE.jpg", "//static.example.com/%C3%A9.jpg",
    "https://cdn.example.fr/caf%C3%A9.jpg", "https://cdn.example.fr/caf%C3%A9.jpg?q=%E5%86", "img/%C3%a9.jpg",
    "img/%C3%A9%7E.jpg", "img/%C3%A9%2e%2e/x.jpg", "img/%C3%A9/../x.jpg", "img/%C3%A9%.jpg", "img/%C3%A9%C.jpg",
    "img/%C3%A9ü.jpg", "//Static.example.com/%C3%A9.jpg", "https://EXAMPLE.fr/%C3%A9.jpg", "img/%41%C3%A9.jpg",
    "img/%C3%A9%20x.jpg", "%2E%2E/x.jpg", "%7E/x.jpg",
]


@pytest.mark.parametrize("base", BASES)
def test_page_resolver_is_resolve(base):
    resolver = PageResolver(base)
    for raw in RAWS:
        assert resolver(raw) == resolve(raw, base), (base, raw)


def test_one_search_per_page_flags_what_the_url_rule_flags():
    urls = [resolve(raw, base) for base, raw in itertools.product(BASES, RAWS)] + [
        "http://example.com/ico/favicon.ico", "https://www.facebook.com/tr?id=1", "http://stats.wp.com/z.gif",
        "http://example.com/images/800px-photo.jpg", "http://example.com/spacer.gif", "http://a.doubleclick.net/x",
        "http://example.com/current/secure.jpg", "http://example.com/Logo-Big.PNG", "http://example.com/x.cur",
    ]
    urls = [u for u in urls if u]
    assert non_content_urls(urls) == [i for i, u in enumerate(urls) if non_content_url(u)]
    assert non_content_urls([]) == []


def _reference_page_images(self, page, rules, rows, stats, seen, guard=None):
    """extract's per-image loop before issue 12: every rule per image, in order."""
    for img in page.images:
        caption = clean_caption(img.alt)
        if len(caption) < self.min_caption_chars:
            stats.drop(Reason.CAPTION_TOO_SHORT)
            continue
        url = resolve(img.src, page.base)
        if url is None:
            stats.drop(Reason.BAD_SCHEME)
            continue
        reason = image_reason(rules, url, img.width, img.height, img.hints)
        if reason is not None:
            stats.drop(reason)
            continue
        if (url, caption) in seen:
            stats.drop(Reason.DUPLICATE)
            continue
        seen.add((url, caption))
        rows.url.append(url)
        rows.caption.append(caption)
        rows.context.append(context_of(img.node, self.context_chars) if self.context_chars > 0 else None)


class _JsonOnly:  # orjson's interface over the standard library's json
    JSONDecodeError = ValueError
    loads = staticmethod(json.loads)


class _Refuse:  # msgspec's decoder refusing every record: all go through json and wat._lenient
    def decode(self, payload):
        raise msgspec.ValidationError("the reference reads every record leniently")


def _struct_links(links: list) -> list:
    """Decoded JSON links (dicts, or anything) as page_from_wat reads them."""
    record = wat._lenient({"Envelope": {"Payload-Metadata": {"HTTP-Response-Metadata": {
        "HTML-Metadata": {"Links": links}}}}})
    return record.Envelope.payload.http.html.Links


def _run(path, out):
    (out / "candidates").mkdir(parents=True)
    stats = Extract()(ShardTask(shard=0, dataset=str(out), inputs=(str(path),)))
    return stats, pq.read_table(DatasetDir(str(out)).candidates(0))


def _assert_same_as_reference(path, tmp_path, monkeypatch):
    fast_stats, fast = _run(path, tmp_path / "fast")
    with monkeypatch.context() as m:
        m.setattr(Extract, "_page_images", _reference_page_images)
        m.setattr(wat, "orjson", _JsonOnly)
        m.setattr(wat, "_DECODER", _Refuse())
        m.setattr(wat, "_may_hold_license", lambda *links: True)
        ref_stats, ref = _run(path, tmp_path / "ref")
    assert fast.schema.equals(ref.schema)
    for name in ref.column_names:  # every column, row for row
        assert fast.column(name).to_pylist() == ref.column(name).to_pylist(), name
    assert fast_stats.candidates == ref_stats.candidates and fast_stats.kept == ref_stats.kept
    assert dict(fast_stats.reasons) == dict(ref_stats.reasons)
    assert dict(fast_stats.counters) == dict(ref_stats.counters)
    return ref


def test_miniweb_wat_and_warc_as_before(tmp_path, monkeypatch):
    from grassroots.miniweb import write_warc as miniweb_warc

    info = miniweb_warc(tmp_path / "m.warc.gz", ["http://127.0.0.1:8080", "http://127.0.0.2:8080"], seed=3,
                        pages=5, heavy=True, wat=True)
    rows = _assert_same_as_reference(info["wat"], tmp_path / "wat", monkeypatch)
    assert rows.num_rows > 100
    rows = _assert_same_as_reference(info["warc"], tmp_path / "warc", monkeypatch)
    assert rows.num_rows > 100


def _hostile_specs() -> list[PageSpec]:
    specs, n = [], 0
    base_hrefs = [None, "../other/", "//cdn.example.org/x/", "HTTPS://CDN.example.org/", "javascript:x", "?q"]
    licenses = [None, "https://creativecommons.org/licenses/by/4.0/", "LICENSE.html", "//CreativeCommons.org/x"]
    for p, (page_url, base) in enumerate(itertools.product(BASES, base_hrefs)):
        images = [Img(raw, f"picture number {i % 40}") for i, raw in enumerate(RAWS) if raw is not None]
        images += [Img("x.jpg", None), Img("y.jpg", "tiny"), Img("/ico/favicon.ico", "the site icon"),
                   Img("https://www.facebook.com/tr?id=1", "a tracking pixel"), Img("img/a.jpg", "picture number 0")]
        n += 1
        specs.append(PageSpec(url=page_url.replace(" ", "%20"), title=f"Page {p}", images=images, base=base,
                              license=licenses[p % len(licenses)], metas=[("description", "hostile URLs")],
                              record_id=f"<urn:uuid:00000000-0000-0000-0000-{p:012d}>"))
    return specs


def test_hostile_urls_wat_and_warc_as_before(tmp_path, monkeypatch):
    specs = _hostile_specs()
    write_wat(tmp_path / "h.warc.wat.gz", specs)
    write_warc(tmp_path / "h.warc.gz", specs)
    rows = _assert_same_as_reference(tmp_path / "h.warc.wat.gz", tmp_path / "wat", monkeypatch)
    assert rows.num_rows > 300 and any(rows.column("license").to_pylist())
    _assert_same_as_reference(tmp_path / "h.warc.gz", tmp_path / "warc", monkeypatch)


def test_json_that_orjson_refuses_is_still_read():
    doc = {"Envelope": {"WARC-Header-Metadata": {"WARC-Target-URI": "http://example.com/", "WARC-Type": "response"},
                        "Payload-Metadata": {"HTTP-Response-Metadata": {"HTML-Metadata": {
                            "Head": {"Title": "lone \ud800 surrogate"},
                            "Links": [{"path": "IMG@/src", "url": "/a.jpg", "alt": "a picture", "n": 2 ** 70}]}}}}}
    page = wat.page_from_wat(json.dumps(doc).encode())
    assert page is not None and [i.src for i in page.images] == ["/a.jpg"]
    assert wat.page_from_wat(b"[1, 2]") is None and wat.page_from_wat(b"{not json") is None


def _old_may_hold_license(payload: bytes) -> bool:
    """The byte search the decoded-links prefilter replaced."""
    return b'"rel"' in payload or b"creativecommons.org" in payload or b"\\u" in payload


def _wat_doc(head: dict, links, raw: str | None = None) -> bytes:
    meta = {"Head": head, "Links": links}
    doc = {"Envelope": {"WARC-Header-Metadata": {"WARC-Target-URI": "http://example.com/d/p.html"},
                        "Payload-Metadata": {"HTTP-Response-Metadata": {"HTML-Metadata": meta}}}}
    text = json.dumps(doc, ensure_ascii=False)
    return (text if raw is None else text.replace('"@RAW@"', raw)).encode()


IMG = {"path": "IMG@/src", "url": "/a.jpg", "alt": "a picture"}
CC = "https://creativecommons.org/licenses/by/4.0/"
HOSTILE_LICENSE_DOCS = [
    _wat_doc({}, [IMG]),
    _wat_doc({}, [IMG, {"path": "A@/href", "url": "/l.html", "rel": "license"}]),
    _wat_doc({}, [IMG, {"path": "A@/href", "url": "/l.html", "rel": "nofollow LICENSE"}]),
    _wat_doc({}, [IMG, {"path": "A@/href", "url": "/l.html", "rel": None}]),
    _wat_doc({}, [IMG, {"path": "A@/href", "url": CC}]),
    _wat_doc({}, [IMG, {"path": "A@/href", "url": CC.upper()}]),  # no match either way
    _wat_doc({}, [IMG, {"path": "IMG@/src", "url": CC, "alt": "cc logo image"}]),  # not an href
    _wat_doc({"Link": [{"path": "LINK@/href", "url": "/lic", "rel": "license"}]}, [IMG]),
    _wat_doc({"Link": [{"path": "LINK@/href", "url": CC}]}, [IMG]),
    _wat_doc({"Link": "not a list"}, [IMG]),
    _wat_doc({"Link": {"rel": "license", "url": "/x"}}, [IMG]),
    _wat_doc({"Link": [1, "rel", None]}, [IMG]),
    _wat_doc({"Link": [1, {"rel": "license", "url": "/x"}]}, [IMG]),
    _wat_doc({"Title": "creativecommons.org in a title"}, [IMG]),
    _wat_doc({}, [IMG, {"path": "A@/href", "url": 5}]),
    _wat_doc({}, [IMG, {"path": "A@/href", "url": ["https://creativecommons.org/licenses/"]}]),
    # JSON escapes that spell the key or the marker: decoded, they are what they spell
    _wat_doc({}, [IMG, "@RAW@"], raw='{"path": "A@/href", "url": "/l.html", "\\u0072el": "license"}'),
    _wat_doc({}, [IMG, "@RAW@"], raw='{"path": "A@/href", "url": "https://creativec\\u006fmmons.org/licenses/by/"}'),
    _wat_doc({}, [IMG, "@RAW@"], raw='{"path": "A@/href", "url": "https:\\/\\/creativecommons.org\\/licenses\\/by\\/"}'),
    _wat_doc({"Title": "caf\\u00e9"}, [IMG]),
]


def _page_or_error(payload: bytes):
    try:
        page = wat.page_from_wat(payload)
        return None if page is None else (page.license, [(i.src, i.alt) for i in page.images])
    except Exception as e:  # noqa: BLE001 - the kind of failure is what is compared
        return type(e).__name__


@pytest.mark.parametrize("payload", HOSTILE_LICENSE_DOCS)
def test_license_prefilter_on_decoded_links_is_the_byte_search_on_hostile_records(payload, monkeypatch):
    record = wat._lenient(json.loads(payload))
    head = record.Envelope.payload.http.html.Head
    links = record.Envelope.payload.http.html.Links
    prefilter = wat._may_hold_license([*(head.Link or []), *links])
    if prefilter:  # never runs _license where the byte search did not
        assert _old_may_hold_license(payload)
    assert prefilter or not wat._scan_links(links)[2]  # page_from_wat's one pass over the links
    assert not wat._scan_links(links)[2] or _old_may_hold_license(payload)
    fast = _page_or_error(payload)
    with monkeypatch.context() as m:
        m.setattr(wat, "_may_hold_license", lambda *links: _old_may_hold_license(payload))
        before = _page_or_error(payload)
        m.setattr(wat, "_may_hold_license", lambda *links: True)
        every_link = _page_or_error(payload)
    if not isinstance(before, str):  # the record was read before: the same page now
        assert fast == before
    if not isinstance(every_link, str):  # and the licence a scan of every link finds
        assert fast == every_link
    assert not isinstance(fast, str) or isinstance(before, str)  # no new failure


def test_row_groups_hold_the_same_rows_as_one_table(tmp_path, monkeypatch):
    """Candidates are written a row group at a time (ROW_GROUP_ROWS): the same
    table, row for row, as one group, whatever the group size."""
    from grassroots.miniweb import write_warc as miniweb_warc
    from grassroots.stages import extract as extract_stage

    info = miniweb_warc(tmp_path / "m.warc.gz", ["http://127.0.0.1:8080"], seed=4, pages=6, heavy=True, wat=True)
    _, whole = _run(info["wat"], tmp_path / "whole")
    assert pq.ParquetFile(DatasetDir(str(tmp_path / "whole")).candidates(0)).metadata.num_row_groups == 1
    for rows in (1, 7, 40, whole.num_rows - 1, whole.num_rows):
        monkeypatch.setattr(extract_stage, "ROW_GROUP_ROWS", rows)
        out = tmp_path / f"g{rows}"
        _, grouped = _run(info["wat"], out)
        assert grouped.equals(whole), rows
        groups = pq.ParquetFile(DatasetDir(str(out)).candidates(0)).metadata
        assert groups.num_row_groups > 1 or rows >= whole.num_rows
        sizes = [groups.row_group(i).num_rows for i in range(groups.num_row_groups)]
        assert sum(sizes) == whole.num_rows and (rows < 30 or max(sizes) <= rows)  # pages stay whole


def test_row_groups_are_whole_pages_and_rows_are_not_held_after_writing():
    from grassroots.stages.extract import _Rows

    def held(counts, max_rows):
        rows, groups = _Rows(), []
        for p, n in enumerate(counts):
            rows.url.extend(f"http://e/{p}/{i}.jpg" for i in range(n))
            rows.caption.extend(f"caption {p}.{i}" for i in range(n))
            rows.context.extend([None] * n)
            rows.add_page(n, (f"http://e/{p}", f"t{p}", None, None, None, [], None))
            full = rows.full_group(max_rows)
            if full:
                groups.append(rows.pop_table(full, [f"l{p}"] * full))
        groups.append(rows.pop_table(len(rows.page_rows)))
        assert rows.url == rows.caption == rows.context == rows.page_values == rows.page_rows == []
        return groups

    counts = [3, 1, 5, 2, 2]
    (whole,) = held(counts, 100)
    assert whole.num_rows == 13 and whole.column("caption").to_pylist()[3] == "caption 1.0"
    for max_rows in (1, 2, 4, 6, 13):
        parts = held(counts, max_rows)
        assert pa_concat(parts).drop_columns(["page_lang"]).equals(whole.drop_columns(["page_lang"]))
        sizes = [t.num_rows for t in parts]
        for t in parts[:-1]:  # greedy: as many whole pages as fit, at least one
            pages = t.column("page_url").to_pylist()
            assert len(set(pages)) == 1 or t.num_rows <= max_rows
        assert all(a + counts_of_next > max_rows for a, counts_of_next in
                   zip(sizes[:-1], [p.column("page_url").to_pylist().count(p.column("page_url")[0].as_py())
                                    for p in parts[1:]]))
    (only,) = held([], 10)
    assert only.num_rows == 0 and only.schema.equals(whole.schema)



def pa_concat(tables):
    import pyarrow as pa

    return pa.concat_tables(tables).combine_chunks()


@pytest.mark.parametrize("links", [
    [],
    [IMG, {"path": "__base__", "url": "/b1/"}, {"path": "__base__", "url": "/b2/"}, IMG],
    [{"path": "__base__"}, {"path": "__base__", "url": "/b2/"}, IMG],  # the first base link wins, even empty
    [{"path": "IMG@/src", "alt": "no src"}, {"path": "IMG@/src", "url": "/x.jpg", "rel": "license"}],
    [{"url": "/no-path.jpg", "alt": "x"}, {"path": None, "url": CC}, {"path": "A@/href", "url": 5}],
    [{"path": "A@/href", "url": "/next", "rel": "nofollow"}, IMG, {"path": "A@/href", "url": "/x", "rel": "noopener"}],
    [{"path": "A@/href", "url": "/terms", "rel": "nofollow LICENSE"}, IMG],
    [{"path": "A@/href", "url": "/terms", "rel": ["license"]}, IMG],  # not a string: skipped
    [{"path": None, "url": CC, "rel": "license"}, {"path": "A@/href", "url": 7, "rel": "license"}, IMG],
])
def test_one_pass_over_the_links_is_the_three_passes_it_replaced(links):
    images, base, maybe_license = wat._scan_links(_struct_links(links))
    assert [(i.src, i.alt) for i in images] == [(ln.get("url"), ln.get("alt")) for ln in links
                                                if ln.get("path") == "IMG@/src"]
    assert base == next((ln.get("url") for ln in links if ln.get("path") == "__base__"), None)
    # The prefilter: True for every link that could be a licence (a rel that is not a
    # string, or one that says "license" in any case; a creativecommons.org anchor),
    # False for the rest, so rel="nofollow" on most anchors of a real page costs nothing.
    assert maybe_license == any(
        (isinstance(ln.get("rel"), str) and "license" in ln["rel"].lower())
        or (ln.get("path") != "IMG@/src" and isinstance(ln.get("url"), str) and "creativecommons.org" in ln["url"])
        for ln in links)
    found = wat._license(_struct_links(links), "http://example.com/")  # values of any type: never raises
    assert found is None or maybe_license


def _records(path) -> list[bytes]:
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    with open(path, "rb") as f:
        return [r.reader.read() for r in ArchiveIterator(f, record_types=WarcRecordType.metadata, parse_http=False)]


def test_msgspec_reads_each_record_as_the_lenient_reader_does(tmp_path):
    """The typed decoder (keys extract does not read are skipped unread) and the
    lenient reader of decoded JSON give the same record, on the mini-web's WAT and
    on records with hostile URLs, licences and non-ASCII text."""
    from grassroots.miniweb import write_warc as miniweb_warc

    info = miniweb_warc(tmp_path / "m.warc.gz", ["http://127.0.0.1:8080"], seed=5, pages=4, heavy=True, wat=True)
    write_wat(tmp_path / "h.warc.wat.gz", _hostile_specs())
    payloads = _records(info["wat"]) + _records(tmp_path / "h.warc.wat.gz") + HOSTILE_LICENSE_DOCS
    checked = 0
    for payload in payloads:
        try:
            typed = wat._DECODER.decode(payload)
        except msgspec.ValidationError:  # other types than WATs hold: only the lenient reader reads it
            continue
        assert typed == wat._lenient(json.loads(payload))
        checked += 1
    assert checked > 100


@pytest.mark.parametrize("links, expected", [
    (["not a link", 5, None, {"path": "IMG@/src", "url": "/a.jpg", "alt": "a picture"}], [("/a.jpg", "a picture")]),
    ([{"path": "IMG@/src", "url": 5, "alt": "a number for a URL"}], [(None, "a number for a URL")]),
    ([{"path": "IMG@/src", "url": "/b.jpg", "alt": ["a", "list"]}], [("/b.jpg", None)]),
    ([{"path": 7, "url": "/c.jpg", "alt": "a number for a path"}, IMG], [("/a.jpg", "a picture")]),
])
def test_a_record_off_the_layout_is_read_leniently_not_fatally(links, expected, tmp_path):
    """A link that is not an object, or a value of another type than WATs hold, is
    skipped or missing; it used to raise and end the whole file's extraction."""
    payload = _wat_doc({"Title": ["not", "text"], "Metas": [3, {"name": "description", "content": 4}]}, links)
    page = wat.page_from_wat(payload)
    assert [(i.src, i.alt) for i in page.images] == expected
    assert page.title is None and page.metas == [("description", "")]  # a content of another type: empty
    # In a file: the record's images are accounted (kept or dropped) and the file goes on.
    import io as _io

    from warcio.warcwriter import WARCWriter

    path = tmp_path / "odd.warc.wat.gz"
    with open(path, "wb") as f:
        w = WARCWriter(f, gzip=True)
        for data in (payload, _wat_doc({}, [IMG])):
            w.write_record(w.create_warc_record("http://example.com/d/p.html", "metadata",
                                                payload=_io.BytesIO(data), length=len(data),
                                                warc_content_type="application/json"))
    stats, rows = _run(path, tmp_path / "out")
    assert stats.candidates == len(expected) + 1 and stats.candidates == stats.kept + sum(stats.reasons.values())
    assert "/a.jpg" in rows.column("url").to_pylist()[-1]
