"""Every hostile behaviour reachable and behaving as documented in hostile.py."""

import http.client
import io
import socket
import time

import pytest
from PIL import Image

from grassroots.miniweb.hostile import BOMB_SIDE, PRIVATE_TARGETS, TOO_LARGE_BYTES

from .helpers import fetch

pytestmark = pytest.mark.timeout(30)


def url(web, path):
    return web.base_urls[0] + path


def raw_get(web, path: str, timeout: float) -> socket.socket:
    s = socket.create_connection(("127.0.0.2", web.port), timeout=timeout)
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.2\r\nConnection: close\r\n\r\n".encode())
    return s


def test_timeout_never_answers(web):
    s = raw_get(web, "/hostile/timeout/x.jpg", timeout=1.0)
    with pytest.raises(socket.timeout):
        s.recv(1)
    s.close()


def test_slow_drip_one_byte_per_second(web):
    s = raw_get(web, "/hostile/slow-drip/x.jpg", timeout=0.5)
    got, t = b"", time.monotonic()
    while time.monotonic() - t < 2.5:
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            continue
        if not chunk:
            break
        got += chunk
    s.close()
    head, _, body = got.partition(b"\r\n\r\n")
    assert b"200 OK" in head and b"Content-Length:" in head
    assert 1 <= len(body) <= 4


@pytest.mark.parametrize("code", [500, 404, 403, 429, 503])
def test_status_codes(web, code):
    status, headers, _ = fetch(url(web, f"/hostile/status/{code}/x.jpg"))
    assert status == code
    if code in (429, 503):
        assert headers["retry-after"] == "1"


@pytest.mark.parametrize("kind, code", [("retry-after", 503), ("retry-429", 429)])
def test_retry_after_recovers_after_n(web, kind, code):
    path = f"/hostile/{kind}/2/fresh-{code}.jpg"
    assert [fetch(url(web, path))[0] for _ in range(3)] == [code, code, 200]
    web.reset()
    assert fetch(url(web, path))[0] == code


def follow(web, path, limit=30):
    hops = []
    while len(hops) < limit:
        status, headers, body = fetch(url(web, path))
        if status not in (301, 302, 303, 307, 308):
            return hops, status, body
        hops.append(headers["location"])
        path = headers["location"]
    return hops, None, b""


def test_redirect_chains_and_loop(web):
    hops, status, body = follow(web, "/hostile/redirect/3/x.jpg")
    assert len(hops) == 3 and status == 200 and Image.open(io.BytesIO(body)).format == "JPEG"
    hops, status, _ = follow(web, "/hostile/redirect/12/x.jpg")
    assert len(hops) == 12 and status == 200
    hops, status, _ = follow(web, "/hostile/loop/a.jpg", limit=6)
    assert status is None and hops[:3] == ["/hostile/loop/b.jpg", "/hostile/loop/a.jpg", "/hostile/loop/b.jpg"]


@pytest.mark.parametrize("name, target", list(PRIVATE_TARGETS.items()))
def test_redirects_to_private_addresses_are_only_emitted(web, name, target):
    status, headers, _ = fetch(url(web, f"/hostile/{name}/x.jpg"))
    assert status == 302 and headers["location"] == target


def test_wrong_and_missing_content_types(web):
    status, headers, body = fetch(url(web, "/hostile/content-type/text-plain.jpg"))
    assert headers["content-type"] == "text/plain" and Image.open(io.BytesIO(body)).format == "JPEG"
    status, headers, body = fetch(url(web, "/hostile/content-type/none.jpg"))
    assert status == 200 and "content-type" not in headers and Image.open(io.BytesIO(body)).format == "JPEG"


def test_html_served_as_image(web):
    _, headers, body = fetch(url(web, "/hostile/html-as-image/x.jpg"))
    assert headers["content-type"] == "text/html" and body.startswith(b"<!doctype html>")
    _, headers, body = fetch(url(web, "/hostile/html-as-image/lying.jpg"))
    assert headers["content-type"] == "image/jpeg" and body.startswith(b"<!doctype html>")


@pytest.mark.parametrize("path", ["/hostile/truncated/x.jpg", "/hostile/corrupt/x.jpg"])
def test_broken_jpegs_open_but_fail_to_decode(web, path):
    _, _, body = fetch(url(web, path))
    im = Image.open(io.BytesIO(body))
    assert im.format == "JPEG"
    with pytest.raises(OSError):
        im.load()


def test_empty_body(web):
    status, headers, body = fetch(url(web, "/hostile/empty/x.jpg"))
    assert status == 200 and body == b"" and headers["content-length"] == "0"


@pytest.mark.parametrize("name", ["declared", "chunked"])
def test_too_large_streams(web, name):
    conn = http.client.HTTPConnection(f"127.0.0.2:{web.port}", timeout=5)
    conn.request("GET", f"/hostile/too-large/{name}.jpg")
    resp = conn.getresponse()
    if name == "declared":
        assert int(resp.getheader("content-length")) == TOO_LARGE_BYTES
    else:
        assert resp.getheader("transfer-encoding") == "chunked"
    total = 0
    while total <= 21 * 2**20:  # past a 20 MB cap, then hang up
        chunk = resp.read(2**20)
        assert chunk
        total += len(chunk)
    conn.close()


@pytest.mark.parametrize("ext", ["png", "jpg"])
def test_decompression_bombs_are_small_files_with_huge_headers(web, ext):
    _, _, body = fetch(url(web, f"/hostile/bomb/x.{ext}"))
    assert len(body) < 200_000
    Image.MAX_IMAGE_PIXELS, old = None, Image.MAX_IMAGE_PIXELS
    try:
        assert Image.open(io.BytesIO(body)).size == (BOMB_SIDE, BOMB_SIDE)
    finally:
        Image.MAX_IMAGE_PIXELS = old


def test_connection_reset_mid_body(web):
    conn = http.client.HTTPConnection(f"127.0.0.2:{web.port}", timeout=5)
    conn.request("GET", "/hostile/reset/x.jpg")
    resp = conn.getresponse()
    assert resp.status == 200
    with pytest.raises((ConnectionResetError, http.client.IncompleteRead)):
        resp.read()
    conn.close()


def test_long_url_serves_an_image(web):
    case = next(c for c in web.hostile_cases() if c.name == "long_url")
    assert len(case.url) > 4000
    status, _, body = fetch(case.url)
    assert status == 200 and Image.open(io.BytesIO(body)).format == "JPEG"


def test_hostile_pages_list_every_case(web):
    _, _, body = fetch(url(web, "/hostile/index.html"))
    for case in web.hostile_cases():
        assert case.path.encode() in body
    _, _, body = fetch(url(web, "/hostile/captions.html"))
    assert b"\x00" in body and b"\xff\xfe" in body and b"\x1b" in body
    rows = [r for r in web.truth() if "/hostile/caption/" in r["url"]]
    assert len(rows) == 3 and all(r["expect"] == "success" and "\x00" not in r["caption"] for r in rows)


def test_server_still_healthy_after_hostile_cases(web):
    assert fetch(web.base_urls[0] + "/p/0.html")[0] == 200
