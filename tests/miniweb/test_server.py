import io
import json
import time

from PIL import Image

from grassroots.miniweb import MiniWeb
from grassroots.miniweb.pages import render_page
from grassroots.miniweb.site import Site

from .helpers import fetch


def test_starts_fast_and_stops_cleanly():
    t = time.monotonic()
    web = MiniWeb(seed=3, hosts=16).start()
    try:
        assert time.monotonic() - t < 2.0
        assert len(web.base_urls) == 16 and web.base_urls[15].startswith("http://127.0.0.17:")
        assert fetch(web.base_urls[15] + "/robots.txt")[0] == 200
    finally:
        t = time.monotonic()
        web.stop()
    assert time.monotonic() - t < 3.0


def test_every_page_served_as_html(web):
    for url in web.page_urls():
        status, headers, body = fetch(url)
        assert status == 200 and headers["content-type"].startswith("text/html"), url
        assert b"<img " in body


def test_plain_images_decode_with_their_format(web):
    urls = [u for u in web.image_urls() if "/img/" in u][:15]
    for url in urls:
        status, headers, body = fetch(url)
        im = Image.open(io.BytesIO(body))
        assert status == 200 and headers["content-type"] == Image.MIME[im.format], url
    assert len({u.rsplit(".", 1)[1] for u in web.image_urls()}) >= 3


def test_rights_files_per_host(web):
    b = web.base_urls
    assert fetch(b[0] + "/robots.txt")[0] == 200
    assert b"GPTBot" in fetch(b[1] + "/robots.txt")[2]
    assert fetch(b[3] + "/robots.txt")[0] == 503
    assert fetch(b[4] + "/robots.txt")[0] == 404
    status, headers, body = fetch(b[4] + "/.well-known/tdmrep.json")
    assert status == 200 and json.loads(body)[0]["tdm-reservation"] == 1
    assert fetch(b[0] + "/.well-known/tdmrep.json")[0] == 404
    assert fetch(b[5] + "/ai.txt")[0] == 200 and fetch(b[0] + "/ai.txt")[0] == 404


def test_rights_headers_and_meta(web):
    _, h, _ = fetch(web.base_urls[6] + "/xrt/two-lines.png")
    assert h["x-robots-tag"].split("\n") == ["otherbot: noindex", "GrassrootsBot: noimageai"]
    _, h, _ = fetch(web.base_urls[4] + "/tdm-open/d.jpg")
    assert h["tdm-reservation"] == "1" and h["tdm-policy"].startswith("https://")
    _, _, body = fetch(web.base_urls[6] + "/meta/noimageai.html")
    assert b'<meta name="robots" content="noimageai">' in body
    _, _, body = fetch(web.base_urls[4] + "/tdm-meta.html")
    assert b'<meta name="tdm-reservation" content="1">' in body


def test_requests_seen_counts_per_url(web):
    url = web.base_urls[2] + "/p/0.html"
    before = web.requests_seen[url]
    fetch(url)
    fetch(url)
    assert web.requests_seen[url] == before + 2
    assert web.requests_seen[web.base_urls[2] + "/never-requested"] == 0


def test_control_host(web):
    status, _, body = fetch(web.control_url + "/")
    assert status == 200 and json.loads(body)["base_urls"] == web.base_urls
    status, _, body = fetch(web.control_url + "/_truth.json")
    assert status == 200 and json.loads(body) == web.truth()


def test_same_seed_same_bytes(web):
    with MiniWeb(seed=0, hosts=8) as other:
        plain = [u for u in web.image_urls() if "/c2pa/" not in u and "/hostile/" not in u]
        for url in plain[::7] + [u for u in plain if "/xmp/" in u]:
            path = url.split("/", 3)[3]
            i = next(i for i, b in enumerate(web.base_urls) if url.startswith(b + "/"))
            assert fetch(url)[2] == fetch(f"{other.base_urls[i]}/{path}")[2], url
        # pages differ only by the port in absolute links
        for page in web.page_urls()[:10]:
            i = next(i for i, b in enumerate(web.base_urls) if page.startswith(b + "/"))
            mine = fetch(page)[2].replace(f":{web.port}".encode(), b":PORT")
            theirs = fetch(other.base_urls[i] + page[len(web.base_urls[i]) :])[2]
            assert mine == theirs.replace(f":{other.port}".encode(), b":PORT")


def test_different_seed_different_content(web):
    a = Site(web.base_urls, seed=0)
    b = Site(web.base_urls, seed=1)
    assert [i.caption for i in a.images.values()][:20] != [i.caption for i in b.images.values()][:20]


def test_served_page_equals_site_rendering(web):
    site = Site(web.base_urls, seed=0)
    for page in list(site.pages.values())[:20]:
        assert fetch(site.url(page.host, page.path))[2] == render_page(site, page)


def test_heavy_pages_served(web):
    from grassroots.miniweb.pages import heavy_host, heavy_path

    site = Site(web.base_urls, seed=0)
    for k in (0, 9):
        url = site.url(heavy_host(site, k), heavy_path(k))
        status, _, body = fetch(url)
        assert status == 200 and 50_000 <= len(body) <= 170_000 and body.count(b"<img ") >= 20
    assert fetch(web.base_urls[1] + heavy_path(0))[0] == 404  # wrong host
    status, headers, body = fetch(web.base_urls[0] + "/heavy-img/0-0.webp")
    assert status == 200 and Image.open(io.BytesIO(body)).format == "WEBP"
    assert fetch(web.base_urls[0] + "/pixel.gif")[1]["content-type"] == "image/gif"
