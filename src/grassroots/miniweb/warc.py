"""Write the mini-web as a Common-Crawl-style WARC (and optionally WAT) file.

Records, gzip-compressed one by one: a ``warcinfo``, then per page a ``request`` and a
``response`` (``Content-Type: application/http; msgtype=response``, HTTP status line
and headers in the block, then the page bytes). Pages are rendered directly, without
HTTP, by the same code the server uses, so payloads equal what the server answers on
the given base URLs. Record ids and dates derive from the seed: same inputs, same file.

The WAT (``--wat``) holds one ``metadata`` record per response with Common Crawl's JSON
envelope: Envelope -> Payload-Metadata -> HTTP-Response-Metadata -> HTML-Metadata ->
{Head: {Title, Metas}, Links: [{path: "IMG@/src", url, alt}, {path: "A@/href", ...}]}.

``heavy=True`` adds ``pages`` heavy pages (50-150 KB each, see pages.py); about
7,000 of them (some 30 KB each once gzipped) make a 200 MB WARC for extraction benchmarks.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import uuid
import zlib
from html.parser import HTMLParser
from pathlib import Path

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from . import pages as pages_mod
from .site import Site
from .spec import Spec

CRAWL_START = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)
USER_AGENT = "CCBot/2.0 (https://commoncrawl.org/faq/)"


class _Writer(WARCWriter):
    """One gzip member per record, like warcio's gzip=True, at level 6 (warcio uses 9,
    which triples the time for heavy WARCs and saves ~1%)."""

    def __init__(self, out):
        super().__init__(out, gzip=False)

    def _write_warc_record(self, out, record):
        buf = io.BytesIO()
        super()._write_warc_record(buf, record)
        z = zlib.compressobj(6, zlib.DEFLATED, zlib.MAX_WBITS + 16)
        out.write(z.compress(buf.getvalue()) + z.flush())


def wat_path_for(out_path: str | Path) -> Path:
    p = str(out_path)
    return Path(p[: -len(".warc.gz")] + ".warc.wat.gz" if p.endswith(".warc.gz") else p + ".wat.gz")


def iter_pages(site: Site, heavy_pages: int = 0):
    """(url, html bytes) for every site page, then ``heavy_pages`` heavy pages."""
    for page in site.pages.values():
        yield site.url(page.host, page.path), pages_mod.render_page(site, page)
    for k in range(heavy_pages):
        yield site.url(pages_mod.heavy_host(site, k), pages_mod.heavy_path(k)), pages_mod.render_heavy(site, k)


def write_warc(
    out_path: str | Path,
    base_urls: list[str],
    seed: int = 0,
    pages: int = 0,
    heavy: bool = False,
    wat: bool = False,
    spec: Spec | None = None,
    hostile: bool = True,
    images_dir: str | Path | None = None,
    captions_csv: str | Path | None = None,
) -> dict:
    """Write every page of the mini-web at ``base_urls`` (plus ``pages`` heavy pages if
    ``heavy``) to ``out_path``; with ``wat`` also ``wat_path_for(out_path)``.
    Returns {"warc": path, "wat": path or None, "records": n_pages, "bytes": size}."""
    site = Site(base_urls, seed, spec, hostile_pages=hostile, images_dir=images_dir, captions_csv=captions_csv)
    out_path = Path(out_path)
    wat_file = wat_path_for(out_path) if wat else None
    n = 0
    with open(out_path, "wb") as f, (open(wat_file, "wb") if wat_file else io.BytesIO()) as wf:
        writer = _Writer(f)
        wat_writer = _Writer(wf) if wat_file else None
        info = {"software": "grassroots-miniweb", "format": "WARC File Format 1.1", "seed": str(seed),
                "robots": "classic", "isPartOf": "grassroots-miniweb"}
        warcinfo = writer.create_warcinfo_record(out_path.name, info)
        warcinfo.rec_headers.replace_header("WARC-Date", CRAWL_START.strftime("%Y-%m-%dT%H:%M:%SZ"))
        warcinfo.rec_headers.replace_header("WARC-Record-ID", _record_id(seed, "warcinfo", out_path.name))
        writer.write_record(warcinfo)
        for url, body in iter_pages(site, pages if heavy else 0):
            date = (CRAWL_START + dt.timedelta(seconds=n)).strftime("%Y-%m-%dT%H:%M:%SZ")
            req, resp = _records(writer, url, body, date, seed)
            writer.write_record(req)
            writer.write_record(resp)
            if wat_writer:
                wat_writer.write_record(_wat_record(wat_writer, url, body, date, resp, seed))
            n += 1
    return {"warc": str(out_path), "wat": str(wat_file) if wat_file else None, "records": n,
            "bytes": out_path.stat().st_size}


def _record_id(seed: int, *parts: str) -> str:
    return f"<urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, '|'.join((str(seed), *parts)))}>"


def _records(writer: WARCWriter, url: str, body: bytes, date: str, seed: int):
    host = url.split("/")[2]
    path = url.split(host, 1)[1] or "/"
    req_headers = StatusAndHeaders(f"GET {path} HTTP/1.1", [("Host", host), ("User-Agent", USER_AGENT),
                                   ("Accept", "text/html")], is_http_request=True)
    req = writer.create_warc_record(url, "request", http_headers=req_headers, warc_headers_dict={
        "WARC-Date": date, "WARC-Record-ID": _record_id(seed, "request", url)})
    http = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8"),
                                       ("Content-Length", str(len(body)))], protocol="HTTP/1.1")
    resp = writer.create_warc_record(url, "response", payload=io.BytesIO(body), length=len(body),
                                     http_headers=http, warc_headers_dict={
                                         "WARC-Date": date, "WARC-Record-ID": _record_id(seed, "response", url),
                                         "WARC-Concurrent-To": _record_id(seed, "request", url),
                                         "WARC-IP-Address": host.split(":")[0]})
    return req, resp


class _HeadAndLinks(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.title, self.metas, self.links, self._in_title = "", [], [], False
        self._anchor: dict | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "title":
            self._in_title = True
        elif tag == "meta" and ("name" in a or "property" in a or "http-equiv" in a):
            self.metas.append({k: v for k, v in a.items() if k in ("name", "property", "http-equiv", "content")})
        elif tag == "img" and a.get("src"):
            link = {"path": "IMG@/src", "url": a["src"]}
            if a.get("alt") is not None:
                link["alt"] = a["alt"]
            self.links.append(link)
        elif tag == "a" and a.get("href"):
            self._anchor = {"path": "A@/href", "url": a["href"], "text": ""}
            if a.get("rel"):
                self._anchor["rel"] = a["rel"]
            self.links.append(self._anchor)

    def handle_endtag(self, tag):
        if tag == "title":
            self._in_title = False
        elif tag == "a":
            self._anchor = None

    def handle_data(self, data):
        if self._in_title:
            self.title += data
        elif self._anchor is not None:
            self._anchor["text"] += data


def _wat_record(writer: WARCWriter, url: str, body: bytes, date: str, resp, seed: int):
    parser = _HeadAndLinks()
    parser.feed(body.decode("utf-8", "replace"))
    head = {"Title": parser.title.strip(), "Metas": parser.metas}
    http_block = resp.http_headers.to_bytes()
    envelope = {
        "Container": {"Format": "WARC", "Compressed": True},
        "Envelope": {
            "Format": "WARC",
            "WARC-Header-Length": "0",
            "Block-Digest": resp.rec_headers.get_header("WARC-Block-Digest"),
            "Actual-Content-Length": str(len(http_block) + len(body)),
            "WARC-Header-Metadata": {
                "WARC-Type": "response",
                "WARC-Target-URI": url,
                "WARC-Date": date,
                "WARC-Record-ID": resp.rec_headers.get_header("WARC-Record-ID"),
                "Content-Type": "application/http; msgtype=response",
            },
            "Payload-Metadata": {
                "Actual-Content-Type": "application/http; msgtype=response",
                "HTTP-Response-Metadata": {
                    "Response-Message": {"Version": "HTTP/1.1", "Status": "200", "Reason": "OK"},
                    "Headers": dict(resp.http_headers.headers),
                    "Headers-Length": str(len(http_block)),
                    "Entity-Length": str(len(body)),
                    "Entity-Digest": "sha1:" + hashlib.sha1(body).hexdigest(),
                    "HTML-Metadata": {"Head": head, "Links": parser.links},
                },
            },
        },
    }
    data = json.dumps(envelope, ensure_ascii=False).encode("utf-8")
    return writer.create_warc_record(url, "metadata", payload=io.BytesIO(data), length=len(data),
                                     warc_content_type="application/json", warc_headers_dict={
                                         "WARC-Date": date, "WARC-Refers-To": resp.rec_headers.get_header("WARC-Record-ID"),
                                         "WARC-Record-ID": _record_id(seed, "metadata", url)})
