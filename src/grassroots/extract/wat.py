"""One WAT metadata record -> a Page, from Common Crawl's WAT JSON layout:

    Envelope
      WARC-Header-Metadata   {WARC-Type, WARC-Target-URI, WARC-Record-ID, WARC-Date}
                             of the response record the WAT entry describes
      Payload-Metadata
        HTTP-Response-Metadata
          HTML-Metadata
            Head   {Title, Metas: [{name, content}], Link: [{path, url, rel}], Base?}
            Links  [{path: "IMG@/src", url, alt?}, {path: "A@/href", url, rel?, text?}, ...]

Links hold attribute values as parsed (entities decoded, relative URLs
unresolved); a
``{path: "__base__", url}`` link or ``Head.Base`` is the page's ``<base href>``.

What a WAT does not carry, so WAT input cannot apply: lazy-load attributes and
``srcset`` (only ``IMG@/src``), declared width/height and class/id (the
attribute rules), and page text (no context snippet). For every ``<img>`` with
an ``src`` that those do not decide, WAT and WARC give the same candidate.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec
import orjson

from grassroots.extract.page import ImageRef, Page
from grassroots.extract.urls import resolve, resolve_base

CC_LICENSE_MARKERS = ("creativecommons.org/licenses/", "creativecommons.org/publicdomain/")


# The part of a WAT record extract reads, as msgspec structs: msgspec decodes only
# these keys and skips the rest unread (an anchor's text, the HTTP headers, the
# container), ~1.4x cheaper than orjson building every dict, and ~3x on pages whose
# links are mostly anchors. A record whose values have other types than these (a
# hostile or broken writer) is read by `_lenient` instead, with the same result
# where the types are these.
class _Link(msgspec.Struct):
    path: str | None = None
    url: Any = None  # an anchor's URL of another type is skipped by _license
    alt: str | None = None
    rel: Any = None  # idem


class _Meta(msgspec.Struct):
    name: str | None = None
    content: str | None = None


class _Head(msgspec.Struct):
    Title: str | None = None
    Metas: list[_Meta] | None = None
    Link: list[_Link] | None = None
    Base: str | None = None


class _Html(msgspec.Struct):
    Head: _Head | None = None
    Links: list[_Link] | None = None


class _Http(msgspec.Struct):
    html: _Html | None = msgspec.field(default=None, name="HTML-Metadata")


class _Payload(msgspec.Struct):
    http: _Http | None = msgspec.field(default=None, name="HTTP-Response-Metadata")


class _Warc(msgspec.Struct):
    type: str | None = msgspec.field(default="response", name="WARC-Type")
    target: str | None = msgspec.field(default=None, name="WARC-Target-URI")
    record_id: str | None = msgspec.field(default=None, name="WARC-Record-ID")
    date: str | None = msgspec.field(default=None, name="WARC-Date")


class _Envelope(msgspec.Struct):
    warc: _Warc | None = msgspec.field(default=None, name="WARC-Header-Metadata")
    payload: _Payload | None = msgspec.field(default=None, name="Payload-Metadata")


class _Record(msgspec.Struct):
    Envelope: _Envelope | None = None


_DECODER = msgspec.json.Decoder(_Record)


def page_from_wat(payload: bytes | str) -> Page | None:
    """The Page a WAT JSON record describes, or None when it is not an HTML response."""
    try:
        record = _DECODER.decode(payload)
    except msgspec.DecodeError:  # other types than WATs hold (ValidationError), or JSON only json takes:
        record = _lenient(_loads(payload))  # NaN, lone surrogate escapes, huge integers
    if record is None or record.Envelope is None:
        return None
    env = record.Envelope
    warc = env.warc or _Warc()
    if warc.type != "response":
        return None
    html = env.payload.http.html if env.payload is not None and env.payload.http is not None else None
    url = warc.target
    if html is None or not url:
        return None
    head = html.Head or _Head()
    images, base_link, license_link = _scan_links(html.Links or [])
    title = head.Title
    page = Page(
        url=url,
        base=resolve_base(head.Base or base_link, url),
        title=" ".join(title.split()) or None if title else None,
        record_id=warc.record_id,
        crawl_date=warc.date,
    )
    page.images = images
    if images:
        page.metas = [((m.name or "").strip().lower(), m.content or "") for m in head.Metas or () if m.name]
        head_links = head.Link or []
        if license_link or _may_hold_license(head_links):
            page.license = _license([*head_links, *(html.Links or ())], page.base)
    return page


def _loads(payload: bytes | str):
    """The record as Python values (orjson, else json for what orjson refuses), or None."""
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError:
        try:
            return json.loads(payload)
        except ValueError:
            return None


def _lenient(doc) -> _Record | None:
    """``doc`` (decoded JSON) as a `_Record`, leniently: a value of another type than
    the layout's is missing (None), a link or meta that is not an object is skipped.
    A record msgspec reads gives the same `_Record` here."""
    def obj(d, key) -> dict:
        v = d.get(key)
        return v if type(v) is dict else {}

    def text(d: dict, key: str, default=None):
        v = d.get(key, default)
        return v if v is None or type(v) is str else None

    def links(value) -> list[_Link] | None:
        if type(value) is not list:
            return None
        return [_Link(text(ln, "path"), ln.get("url"), text(ln, "alt"), ln.get("rel")) for ln in value
                if type(ln) is dict]

    if type(doc) is not dict or type(doc.get("Envelope")) is not dict:
        return None
    env = doc["Envelope"]
    w = env.get("WARC-Header-Metadata")
    warc = _Warc(text(w, "WARC-Type", "response"), text(w, "WARC-Target-URI"), text(w, "WARC-Record-ID"),
                 text(w, "WARC-Date")) if type(w) is dict else None
    html = None
    meta = obj(obj(env, "Payload-Metadata"), "HTTP-Response-Metadata").get("HTML-Metadata")
    if type(meta) is dict:
        h = meta.get("Head")
        head = None
        if type(h) is dict:
            metas = h.get("Metas")
            head = _Head(text(h, "Title"),
                         [_Meta(text(m, "name"), text(m, "content")) for m in metas if type(m) is dict]
                         if type(metas) is list else None,
                         links(h.get("Link")), text(h, "Base"))
        html = _Html(head, links(meta.get("Links")))
    return _Record(_Envelope(warc, _Payload(_Http(html))))


def _scan_links(links: list[_Link]) -> tuple[list[ImageRef], str | None, bool]:
    """One pass over a record's Links (~100 a page; three passes cost ~1.7x as much):
    its images (``IMG@/src``, in order), the URL of its first ``__base__`` link, and
    whether any link could be one `_license` takes: a link whose ``rel`` mentions
    "license" in any case (``rel="nofollow"``, on most anchors of real pages, does
    not), or a non-image link whose URL contains ``creativecommons.org`` (an image's
    URL never is a licence). False only when `_license` would find nothing in them."""
    images: list[ImageRef] = []
    append = images.append
    base, seen_base, maybe_license = None, False, False
    for ln in links:
        path = ln.path
        if path == "IMG@/src":
            url = ln.url
            append(ImageRef(url if type(url) is str else None, ln.alt))
            if not maybe_license and ln.rel is not None:
                maybe_license = _rel_may_say_license(ln.rel)
            continue
        if path == "__base__" and not seen_base:
            url = ln.url
            base, seen_base = url if type(url) is str else None, True
        if not maybe_license:
            if ln.rel is not None and _rel_may_say_license(ln.rel):
                maybe_license = True
            else:
                url = ln.url
                maybe_license = type(url) is str and "creativecommons.org" in url
    return images, base, maybe_license


def _rel_may_say_license(rel) -> bool:
    """Whether `_license` could read this ``rel`` as a licence: a string holding the
    word "license" in any case."""
    return type(rel) is str and ("icense" in rel or "license" in rel.lower())


def _may_hold_license(links: list[_Link]) -> bool:
    """For ``Head.Link`` (the record's Links: `_scan_links`): False only when no
    link can match `_license`: no link has a ``rel`` that may say "license" and no
    link URL contains ``creativecommons.org``. Checked on the decoded links (~2x
    cheaper than searching the record's bytes for those and for a ``\\u``
    escape); whenever it is True, the byte search it replaces was True too, so
    `_license` never runs where it did not before."""
    for ln in links:
        if ln.rel is not None and _rel_may_say_license(ln.rel):
            return True
        url = ln.url
        if type(url) is str and "creativecommons.org" in url:
            return True
    return False


def _license(links: list[_Link], base: str) -> str | None:
    """The page's licence URL: the first ``rel~="license"`` link, else the first anchor
    to a Creative Commons licence. Values that are not strings (a hostile WAT) are skipped."""
    for ln in links:
        rel, url = ln.rel, ln.url
        if type(rel) is str and type(url) is str and url and "license" in rel.lower().split():
            url = resolve(url, base)
            if url:
                return url
    for ln in links:
        raw, path = ln.url, ln.path
        if (type(raw) is str and type(path) is str and path.endswith("@/href")
                and any(m in raw for m in CC_LICENSE_MARKERS)):
            url = resolve(raw, base)
            if url:
                return url
    return None
