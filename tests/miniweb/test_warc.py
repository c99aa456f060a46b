import json

import pytest
from fastwarc.warc import ArchiveIterator as FastIterator
from fastwarc.warc import WarcRecordType
from warcio.archiveiterator import ArchiveIterator

from grassroots.miniweb import write_warc
from grassroots.miniweb.pages import heavy_host, heavy_path
from grassroots.miniweb.site import Site

from .helpers import fetch


@pytest.fixture(scope="module")
def crawl(web, tmp_path_factory):
    out = tmp_path_factory.mktemp("warc") / "crawl.warc.gz"
    result = write_warc(out, web.base_urls, seed=0, pages=6, heavy=True, wat=True)
    return result


def test_fastwarc_reads_every_page_and_bytes_equal_the_server(web, crawl):
    site = Site(web.base_urls, seed=0)
    heavy = [site.url(heavy_host(site, k), heavy_path(k)) for k in range(6)]
    expected = set(web.page_urls()) | set(heavy)
    seen, types = {}, []
    with open(crawl["warc"], "rb") as f:
        for rec in FastIterator(f, parse_http=True):
            types.append(rec.record_type)
            if rec.record_type == WarcRecordType.response:
                assert rec.headers["Content-Type"] == "application/http; msgtype=response"
                assert rec.headers["WARC-Date"] and rec.headers["WARC-Record-ID"]
                assert rec.http_headers.status_code == 200
                seen[rec.headers["WARC-Target-URI"]] = rec.reader.read()
    assert types[0] == WarcRecordType.warcinfo
    assert types.count(WarcRecordType.request) == types.count(WarcRecordType.response) == len(expected)
    assert set(seen) == expected
    for url in list(web.page_urls())[:15] + heavy[:2]:
        assert seen[url] == fetch(url)[2], url


def test_warcio_reads_it(crawl):
    n = 0
    with open(crawl["warc"], "rb") as f:
        for rec in ArchiveIterator(f):
            if rec.rec_type == "response":
                assert rec.http_headers.get_header("Content-Type").startswith("text/html")
                assert rec.content_stream().read()
                n += 1
    assert n == crawl["records"]


def test_wat_is_json_with_image_links(web, crawl):
    n_img = 0
    with open(crawl["wat"], "rb") as f:
        for rec in ArchiveIterator(f):
            if rec.rec_type != "metadata":
                continue
            env = json.loads(rec.content_stream().read())["Envelope"]
            assert env["WARC-Header-Metadata"]["WARC-Type"] == "response"
            html = env["Payload-Metadata"]["HTTP-Response-Metadata"]["HTML-Metadata"]
            assert html["Head"]["Title"]
            imgs = [link for link in html["Links"] if link["path"] == "IMG@/src"]
            n_img += sum(1 for link in imgs if link.get("alt"))
            if env["WARC-Header-Metadata"]["WARC-Target-URI"].endswith("/meta/noimageai.html"):
                assert {"name": "robots", "content": "noimageai"} in html["Head"]["Metas"]
    assert n_img >= len(web.truth())


def test_same_inputs_same_warc(web, tmp_path):
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    a = write_warc(tmp_path / "a" / "c.warc.gz", web.base_urls, seed=0)
    b = write_warc(tmp_path / "b" / "c.warc.gz", web.base_urls, seed=0)
    assert open(a["warc"], "rb").read() == open(b["warc"], "rb").read()
