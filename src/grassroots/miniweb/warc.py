"""Write the mini-web as a Common-Crawl-style WARC (and optionally WAT) file.

Records, gzip-compressed one by one: a ``warcinfo``, then per page a ``request`` and a
``response`` (``Content-Type: application/http; msgtype=response``, HTTP status line
and headers in the block, then the page bytes). Pages are rendered directly, without
HTTP, by the same code the server uses, so payloads equal what the server answers on
the given base URLs. Record ids and dates derive from the seed: same inputs, same file.

The WAT (``--wat``) holds one ``metadata`` record per response with Common Crawl's JSON
layout (as ia-web-commons writes it): Container, Envelope -> {WARC-Header-Metadata of the
response record, Payload-Metadata -> HTTP-Response-Metadata -> {Response-Message, Headers,
HTML-Metadata -> {Head: {Title, Base?, Metas: [{name|property|http-equiv, content}],
Link: [{path: "LINK@/href", url, rel?}], Scripts?}, Links: [{path: "IMG@/src", url, alt?},
{path: "A@/href", url, rel?, text}, ...]}}}. Attribute values are as parsed (entities
decoded, relative URLs unresolved). ``wat_only=True`` writes the WAT and no WARC.

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
    wat_only: bool = False,
) -> dict:
    """Write every page of the mini-web at ``base_urls`` (plus ``pages`` heavy pages if
    ``heavy``) to ``out_path``; with ``wat`` also ``wat_path_for(out_path)``.
    ``wat_only``: write only the WAT (``out_path`` names the WARC it describes; no WARC is
    written). Returns {"warc": path or None, "wat": path or None, "records": n_pages,
    "bytes": size of the WARC, or of the WAT when ``wat_only``}."""
    site = Site(base_urls, seed, spec, hostile_pages=hostile, images_dir=images_dir, captions_csv=captions_csv)
    out_path = Path(out_path)
    wat_file = wat_path_for(out_path) if wat or wat_only else None
    n = 0
    with (io.BytesIO() if wat_only else open(out_path, "wb")) as f, \
            (open(wat_file, "wb") if wat_file else io.BytesIO()) as wf:
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
            if not wat_only:
                writer.write_record(req)
                writer.write_record(resp)
            if wat_writer:
                wat_writer.write_record(_wat_record(wat_writer, url, body, date, resp, seed, out_path.name))
            n += 1
    return {"warc": None if wat_only else str(out_path), "wat": str(wat_file) if wat_file else None,
            "records": n, "bytes": (wat_file if wat_only else out_path).stat().st_size}


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
        self.base: str | None = None
        self.head_links: list[dict] = []  # <link href>: Head.Link
        self.scripts: list[dict] = []  # <script src>: Head.Scripts
        self._anchor: dict | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "title":
            self._in_title = True
        elif tag == "base" and a.get("href") and self.base is None:
            self.base = a["href"]
        elif tag == "link" and a.get("href"):
            self.head_links.append({"path": "LINK@/href", "url": a["href"],
                                    **{k: a[k] for k in ("rel", "type") if a.get(k)}})
        elif tag == "script" and a.get("src"):
            self.scripts.append({"path": "SCRIPT@/src", "url": a["src"]})
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


def _wat_record(writer: WARCWriter, url: str, body: bytes, date: str, resp, seed: int, warc_name: str):
    parser = _HeadAndLinks()
    parser.feed(body.decode("utf-8", "replace"))
    head: dict = {"Title": parser.title.strip()}
    if parser.base:
        head["Base"] = parser.base
    head["Metas"] = parser.metas
    if parser.head_links:
        head["Link"] = parser.head_links
    if parser.scripts:
        head["Scripts"] = parser.scripts
    http_block = resp.http_headers.to_bytes()
    envelope = {
        "Container": {"Filename": warc_name, "Compressed": True},
        "Envelope": {
            "Format": "WARC",
            "WARC-Header-Length": "0",
            "Block-Digest": resp.rec_headers.get_header("WARC-Block-Digest"),
            "Actual-Content-Length": str(len(http_block) + len(body)),
            "WARC-Header-Metadata": {
                "WARC-Type": "response",
                "WARC-Date": date,
                "WARC-Record-ID": resp.rec_headers.get_header("WARC-Record-ID"),
                "Content-Length": str(len(http_block) + len(body)),
                "Content-Type": "application/http; msgtype=response",
                "WARC-Concurrent-To": resp.rec_headers.get_header("WARC-Concurrent-To"),
                "WARC-IP-Address": resp.rec_headers.get_header("WARC-IP-Address"),
                "WARC-Target-URI": url,
                "WARC-Payload-Digest": resp.rec_headers.get_header("WARC-Payload-Digest"),
                "WARC-Block-Digest": resp.rec_headers.get_header("WARC-Block-Digest"),
                "WARC-Identified-Payload-Type": "text/html",
            },  # digests of records not written (wat_only) are absent: dropped below
            "Payload-Metadata": {
                "Actual-Content-Type": "application/http; msgtype=response",
                "HTTP-Response-Metadata": {
                    "Response-Message": {"Version": "HTTP/1.1", "Status": "200", "Reason": "OK"},
                    "Headers": dict(resp.http_headers.headers),
                    "Headers-Length": str(len(http_block)),
                    "Entity-Length": str(len(body)),
                    "Entity-Trailing-Slop-Length": "0",
                    "Entity-Digest": "sha1:" + hashlib.sha1(body).hexdigest(),
                    "HTML-Metadata": {"Head": head, "Links": parser.links},
                },
            },
        },
    }
    for d in (envelope["Envelope"], envelope["Envelope"]["WARC-Header-Metadata"]):
        for k in [k for k, v in d.items() if v is None]:
            del d[k]
    data = json.dumps(envelope, ensure_ascii=False).encode("utf-8")
    return writer.create_warc_record(url, "metadata", payload=io.BytesIO(data), length=len(data),
                                     warc_content_type="application/json", warc_headers_dict={
                                         "WARC-Date": date, "WARC-Refers-To": resp.rec_headers.get_header("WARC-Record-ID"),
                                         "WARC-Record-ID": _record_id(seed, "metadata", url)})
