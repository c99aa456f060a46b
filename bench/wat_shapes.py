"""Common-Crawl-shaped WAT files of several shapes, for the extract benchmark.

Written here, independently of the mini-web's writer (grassroots.miniweb.warc),
so no single generator carries the speed claim. Each shape is a mix real WATs
have; bench/extract_vs_cc2dataset.py reports the ratio per shape.

- ``heavy``: not here; the mini-web's heavy pages (20-40 captioned images a page).
- ``cc-mix``: 20-120 links a page, about two thirds anchors (``A@/href``) and one
  third images; image URLs mixed root-relative, path-relative (``img/x.webp``),
  protocol-relative (``//static.host/x.gif``) and absolute; alt texts of 0-8
  words, some empty, some missing.
- ``anchors``: long link lists (100-400) dominated by anchors (95%), a third of
  the pages with no image at all, and some with no links.
- ``intl``: as cc-mix, with non-ASCII alt texts (Cyrillic, Greek, CJK, Arabic,
  accented Latin) and non-ASCII URLs (IDN hosts, UTF-8 and percent-encoded paths).

    python bench/wat_shapes.py SHAPE PAGES OUT.warc.wat.gz
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import random
import sys
import zlib

SHAPES = ("cc-mix", "anchors", "intl")

_WORDS = ("red blue green small large old new photo view house garden street river mountain city dog cat bird "
          "car bike tree flower beach night day winter summer family people child woman man food table chair "
          "book shop market church bridge tower park lake sea boat train station map logo icon banner").split()
_INTL = ("Москва река ночью", "красный дом у озера", "Ελληνικό νησί το καλοκαίρι", "東京の夜景", "桜の花と寺",
         "北京 故宫 冬天", "서울 한강 야경", "مدينة القاهرة ليلا", "café à Montréal", "Straße in München",
         "niño con perro en la playa", "İstanbul köprüsü", "żółty rower w Krakowie", "São Paulo à noite")
_EXTS = ("jpg", "jpeg", "png", "webp", "gif")
_TLDS = ("com", "org", "net", "de", "fr", "co.uk", "io", "jp")


def _alt(rng: random.Random, intl: bool) -> str | None:
    r = rng.random()
    if r < 0.08:
        return None  # no alt attribute
    if r < 0.18:
        return ""  # alt=""
    if intl and rng.random() < 0.6:
        return rng.choice(_INTL) + ("" if rng.random() < 0.5 else " " + " ".join(rng.sample(_WORDS, 2)))
    return " ".join(rng.choice(_WORDS) for _ in range(rng.randint(1, 8)))


def _image_url(rng: random.Random, host: str, intl: bool) -> str:
    name = f"{rng.choice(_WORDS)}-{rng.randrange(10**6)}.{rng.choice(_EXTS)}"
    if intl and rng.random() < 0.3:
        name = rng.choice(("фото", "写真", "φωτο", "café", "straße")) + f"-{rng.randrange(10**5)}.jpg"
        if rng.random() < 0.5:
            from urllib.parse import quote

            name = quote(name)
    r = rng.random()
    if r < 0.3:
        return f"/images/{rng.randrange(100)}/{name}"  # root-relative
    if r < 0.5:
        return f"img/{name}"  # path-relative
    if r < 0.65:
        return f"//static.{host}/{name}"  # protocol-relative
    scheme = rng.choice(("http", "https"))
    if intl and rng.random() < 0.2:
        return f"{scheme}://{rng.choice(('bücher', 'пример', '例え', 'ελλάδα'))}.{rng.choice(_TLDS)}/{name}"
    return f"{scheme}://cdn{rng.randrange(5)}.{host}/{name}"  # absolute


def _anchor(rng: random.Random, host: str) -> dict:
    r = rng.random()
    if r < 0.5:
        url = f"/{rng.choice(_WORDS)}/{rng.randrange(10**5)}.html"
    elif r < 0.7:
        url = f"{rng.choice(_WORDS)}.html"
    elif r < 0.8:
        url = "#" + rng.choice(_WORDS)
    else:
        url = f"https://{rng.choice(_WORDS)}{rng.randrange(1000)}.{rng.choice(_TLDS)}/"
    link = {"path": "A@/href", "url": url}
    if rng.random() < 0.7:
        link["text"] = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(1, 4)))
    if rng.random() < 0.1:
        link["rel"] = "nofollow"
    return link


def _links(shape: str, rng: random.Random, host: str) -> list[dict]:
    intl = shape == "intl"
    if shape == "anchors":
        r = rng.random()
        n = 0 if r < 0.05 else rng.randint(100, 400)
        image_share = 0.0 if r < 0.35 else 0.05
    else:
        n, image_share = rng.randint(20, 120), 1 / 3
    links = []
    for _ in range(n):
        if rng.random() < image_share:
            link = {"path": "IMG@/src", "url": _image_url(rng, host, intl)}
            alt = _alt(rng, intl)
            if alt is not None:
                link["alt"] = alt
            links.append(link)
        else:
            links.append(_anchor(rng, host))
    return links


def _record(url: str, date: str, payload: dict, n: int) -> bytes:
    data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    rid = f"<urn:uuid:{hashlib.md5(f'{url}{n}'.encode()).hexdigest()}>"
    head = (f"WARC/1.0\r\nWARC-Type: metadata\r\nWARC-Target-URI: {url}\r\nWARC-Date: {date}\r\n"
            f"WARC-Record-ID: {rid}\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n")
    z = zlib.compressobj(6, zlib.DEFLATED, zlib.MAX_WBITS + 16)
    return z.compress(head.encode("utf-8") + data + b"\r\n\r\n") + z.flush()


def write_wat(shape: str, pages: int, out: str, seed: int = 11) -> dict:
    """Write ``pages`` metadata records of ``shape``; returns {"bytes", "records", "links", "images"}."""
    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}: one of {', '.join(SHAPES)}")
    rng = random.Random(f"{shape}-{seed}")
    start = dt.datetime(2025, 3, 1, tzinfo=dt.timezone.utc)
    n_links = n_images = 0
    with open(out, "wb") as f:
        for n in range(pages):
            host = f"{rng.choice(_WORDS)}{rng.randrange(2000)}.{rng.choice(_TLDS)}"
            url = f"https://www.{host}/{rng.choice(_WORDS)}/{n}.html"
            date = (start + dt.timedelta(seconds=n)).strftime("%Y-%m-%dT%H:%M:%SZ")
            links = _links(shape, rng, host)
            n_links += len(links)
            n_images += sum(link["path"] == "IMG@/src" for link in links)
            title = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(2, 8))).title()
            head = {"Title": title, "Metas": [{"name": "description", "content": title.lower()}]}
            if shape == "intl":
                head["Title"] = rng.choice(_INTL)
            payload = {
                "Container": {"Filename": "bench.warc.gz", "Compressed": True},
                "Envelope": {
                    "Format": "WARC",
                    "WARC-Header-Metadata": {"WARC-Type": "response", "WARC-Date": date,
                                             "WARC-Record-ID": f"<urn:uuid:{hashlib.md5(url.encode()).hexdigest()}>",
                                             "WARC-Target-URI": url},
                    "Payload-Metadata": {
                        "Actual-Content-Type": "application/http; msgtype=response",
                        "HTTP-Response-Metadata": {
                            "Response-Message": {"Version": "HTTP/1.1", "Status": "200", "Reason": "OK"},
                            "Headers": {"Content-Type": "text/html; charset=utf-8"},
                            "HTML-Metadata": {"Head": head, "Links": links},
                        },
                    },
                },
            }
            f.write(_record(url, date, payload, n))
        size = f.tell()
    return {"bytes": size, "records": pages, "links": n_links, "images": n_images}


if __name__ == "__main__":
    shape, pages, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    print(json.dumps(write_wat(shape, pages, out)))
