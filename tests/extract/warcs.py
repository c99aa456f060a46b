"""Real WARC and WAT files for extract tests, written with warcio.

`write_warc` writes response records (with HTTP headers) the way Common Crawl
does; `write_wat` writes metadata records in Common Crawl's WAT JSON layout
from a `PageSpec`, independently of the HTML (so WAT-vs-WARC parity is a test,
not a tautology).
"""

from __future__ import annotations

import gzip as gzip_lib
import html as html_lib
import io
import json
import uuid
from dataclasses import dataclass, field

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter


@dataclass
class Img:
    src: str
    alt: str | None


@dataclass
class PageSpec:
    url: str
    title: str
    images: list[Img]
    metas: list[tuple[str, str]] = field(default_factory=list)
    base: str | None = None
    license: str | None = None
    record_id: str = ""
    date: str = "2025-01-01T00:00:00Z"

    def html(self) -> bytes:
        e = html_lib.escape
        head = [f"<title>{e(self.title)}</title>"]
        if self.base:
            head.append(f'<base href="{e(self.base)}">')
        head += [f'<meta name="{e(n)}" content="{e(c)}">' for n, c in self.metas]
        body = []
        for img in self.images:
            alt = "" if img.alt is None else f' alt="{e(img.alt)}"'
            body.append(f'<p>text <img src="{e(img.src)}"{alt}> more</p>')
        if self.license:
            body.append(f'<a rel="license" href="{e(self.license)}">licence</a>')
        return (f"<!doctype html><html><head>{''.join(head)}</head><body>{''.join(body)}</body></html>").encode()

    def wat_json(self) -> dict:
        links = [{"path": "__base__", "url": self.base}] if self.base else []
        for img in self.images:
            link = {"path": "IMG@/src", "url": img.src}
            if img.alt is not None:
                link["alt"] = img.alt
            links.append(link)
        if self.license:
            links.append({"path": "A@/href", "url": self.license, "rel": "license", "text": "licence"})
        return {
            "Container": {"Format": "WARC", "Compressed": True},
            "Envelope": {
                "Format": "WARC",
                "WARC-Header-Metadata": {
                    "WARC-Type": "response",
                    "WARC-Target-URI": self.url,
                    "WARC-Date": self.date,
                    "WARC-Record-ID": self.record_id,
                },
                "Payload-Metadata": {
                    "Actual-Content-Type": "application/http; msgtype=response",
                    "HTTP-Response-Metadata": {
                        "Headers": {"Content-Type": "text/html; charset=utf-8"},
                        "HTML-Metadata": {
                            "Head": {"Title": self.title, "Metas": [{"name": n, "content": c} for n, c in self.metas]},
                            "Links": links,
                        },
                    },
                },
            },
        }


def write_warc(path, pages, gzip: bool = True) -> None:
    """``pages``: (url, body bytes, content-type header, extra WARC headers) tuples,
    or PageSpecs (rendered with their html())."""
    with open(path, "wb") as f:
        w = WARCWriter(f, gzip=gzip)
        w.write_record(w.create_warcinfo_record(str(path), {"software": "tests"}))
        for page in pages:
            if isinstance(page, PageSpec):
                page = (page.url, page.html(), "text/html; charset=utf-8",
                        {"WARC-Record-ID": page.record_id, "WARC-Date": page.date})
            url, body, ctype, warc_headers = page
            req = StatusAndHeaders("GET / HTTP/1.1", [("Host", "x")], is_http_request=True)
            w.write_record(w.create_warc_record(url, "request", http_headers=req))
            http = StatusAndHeaders("200 OK", [("Content-Type", ctype)], protocol="HTTP/1.1")
            w.write_record(w.create_warc_record(url, "response", payload=io.BytesIO(body), length=len(body),
                                                http_headers=http, warc_headers_dict=warc_headers or {}))


def write_wat(path, specs: list[PageSpec]) -> None:
    with open(path, "wb") as f:
        w = WARCWriter(f, gzip=True)
        for spec in specs:
            data = json.dumps(spec.wat_json(), ensure_ascii=False).encode()
            w.write_record(w.create_warc_record(spec.url, "metadata", payload=io.BytesIO(data), length=len(data),
                                                warc_content_type="application/json",
                                                warc_headers_dict={"WARC-Refers-To": spec.record_id}))


def html_page(url: str, body: str, ctype: str = "text/html; charset=utf-8", encoding: str = "utf-8",
              record_id: str = "<urn:uuid:00000000-0000-0000-0000-000000000001>"):
    return (url, body.encode(encoding), ctype, {"WARC-Record-ID": record_id, "WARC-Date": "2025-02-03T04:05:06Z"})


def raw_record(url: str, http: bytes, body: bytes, *, version: bytes = b"WARC/1.0", warc_type: bytes = b"response",
               content_type: bytes = b"application/http; msgtype=response", record_id: str = "",
               extra: list[tuple[bytes, bytes]] = (), trailer: bytes = b"\r\n\r\n") -> bytes:
    """One WARC record byte for byte (no library): for headers and quirks that
    warcio would normalise (old version lines, LF-only HTTP headers, odd types)."""
    block = http + body
    rid = record_id or f"<urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, url)}>"
    lines = [version, b"WARC-Type: " + warc_type, b"WARC-Target-URI: " + url.encode(),
             b"WARC-Date: 2025-01-01T00:00:00Z", b"WARC-Record-ID: " + rid.encode()]
    lines += [k + b": " + v for k, v in extra]
    lines += [b"Content-Type: " + content_type, b"Content-Length: " + str(len(block)).encode()]
    return b"\r\n".join(lines) + b"\r\n\r\n" + block + trailer


def http_head(headers: list[tuple[str, str]], status: str = "200 OK", eol: bytes = b"\r\n") -> bytes:
    lines = [f"HTTP/1.1 {status}"] + [f"{k}: {v}" for k, v in headers]
    return eol.join(line.encode("latin-1") for line in lines) + eol + eol


def write_members(path, records: list[bytes], gzip: bool = True) -> None:
    """Records as written by raw_record, one gzip member each (or uncompressed)."""
    with open(path, "wb") as f:
        for rec in records:
            f.write(gzip_lib.compress(rec) if gzip else rec)
