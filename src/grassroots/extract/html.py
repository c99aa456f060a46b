"""One HTML page -> a Page: parsed once with resiliparse (lexbor), never with regex.

Decoding: the charset the HTTP ``Content-Type`` declares; else the page's own
``<meta charset>`` / ``http-equiv`` (resiliparse reads it from the first 1 KiB);
else uchardet's guess; a byte-order mark overrides all. Names are mapped the
WHATWG way (``latin1`` -> windows-1252, ``gb2312`` -> gbk, ...); invalid bytes
become U+FFFD, which caption cleaning removes.

The URL taken for an ``<img>``, in order: a lazy-load attribute (``data-src``,
``data-lazy-src``, ``data-original``: the page's script would swap it in),
else ``src`` unless empty or a ``data:`` placeholder, else the largest candidate
of ``data-srcset`` / ``srcset``, else of the first ``<picture><source srcset>``.
"""

from __future__ import annotations

from resiliparse.parse.encoding import detect_encoding, map_encoding_to_html5
from resiliparse.parse.html import HTMLTree

from grassroots.extract.page import ImageRef, Page
from grassroots.extract.urls import best_srcset, resolve, resolve_base

LAZY_ATTRS = ("data-src", "data-lazy-src", "data-original")
SRCSET_ATTRS = ("data-srcset", "srcset")
CC_LICENSE_SELECTOR = '[href*="creativecommons.org/licenses/"], [href*="creativecommons.org/publicdomain/"]'
CONTEXT_MAX_CHILDREN = 20  # a parent with more elements is a gallery, not a caption


_BOMS = ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"))


def decode_charset(body: bytes, declared: str | None) -> str:
    """The Python codec to decode ``body`` with (see the module docstring)."""
    for bom, codec in _BOMS:
        if body.startswith(bom):
            return codec
    if declared:
        return map_encoding_to_html5(declared)
    return detect_encoding(body, max_len=8192, from_html_meta=True)


def decode_html(body: bytes, declared: str | None) -> str:
    """The page as text. Invalid bytes become U+FFFD (never a silent switch of
    the whole page to another charset)."""
    codec = decode_charset(body, declared)
    try:
        text = body.decode(codec, "replace")
    except LookupError:  # a WHATWG name Python has no codec for
        text = body.decode(detect_encoding(body, max_len=8192), "replace")
    return text[1:] if text.startswith("\ufeff") else text


def parse_tree(body: bytes, declared_charset: str | None) -> HTMLTree:
    return HTMLTree.parse(decode_html(body, declared_charset))


def page_from_html(
    body: bytes,
    url: str,
    *,
    charset: str | None = None,
    record_id: str | None = None,
    crawl_date: str | None = None,
) -> tuple[Page, HTMLTree | None]:
    """The page's images and page-level fields; the tree is returned for callers
    that need more from it (None when the page has no element tree)."""
    tree = parse_tree(body, charset)
    doc = tree.document
    page = Page(url=url, base=url, title=None, record_id=record_id, crawl_date=crawl_date)
    if doc is None:
        return page, None
    # Slice once: resiliparse rebuilds a node list on every index or iteration step.
    imgs = doc.get_elements_by_tag_name("img")[:]
    if not imgs:
        return page, tree  # nothing to extract: skip the rest of the page
    page.base = resolve_base(_base_href(doc), url)
    page.title = " ".join((tree.title or "").split()) or None
    page.images = [_image(img) for img in imgs]
    return page, tree


def page_details(page: Page, tree: HTMLTree) -> None:
    """Fill metas and licence: only for pages that yielded a candidate."""
    doc = tree.document
    page.metas = [
        ((m.getattr("name") or "").strip().lower(), m.getattr("content") or "")
        for m in doc.query_selector_all("meta[name]")[:]
    ]
    page.license = _license(doc, page.base)


def _base_href(doc) -> str | None:
    """The ``href`` of the first ``<base href>`` (what ``base[href]`` selects, without
    compiling a selector per page)."""
    for base in doc.get_elements_by_tag_name("base")[:]:
        href = base.getattr("href")
        if href is not None:
            return href
    return None


def _image(img) -> ImageRef:
    getattr_ = img.getattr
    src = getattr_("data-src") or getattr_("data-lazy-src") or getattr_("data-original")  # LAZY_ATTRS
    if src and not src.strip():  # a blank one: the first that is not blank, if any
        src = next((v for v in map(getattr_, LAZY_ATTRS) if v and v.strip()), None)
    elif not src:
        src = None
    if src is None:
        src = getattr_("src")
        if not src or not src.strip() or src.lstrip()[:5].lower() == "data:":
            src = _from_srcset(img) or src
    cls, id_ = getattr_("class"), getattr_("id")
    hints = (f"{cls} {id_}" if id_ else cls) if cls else (id_ or "")
    return ImageRef(src, getattr_("alt"), getattr_("width"), getattr_("height"), hints, img)


def _from_srcset(img) -> str | None:
    for attr in SRCSET_ATTRS:
        found = best_srcset(img.getattr(attr))
        if found:
            return found
    picture = img.parent
    if picture is not None and picture.tag == "picture":
        for source in picture.get_elements_by_tag_name("source")[:]:
            found = best_srcset(source.getattr("srcset") or source.getattr("data-srcset"))
            if found:
                return found
    return None


def _license(doc, base: str) -> str | None:
    for el in doc.query_selector_all("[rel~=license][href]")[:]:
        url = resolve(el.getattr("href"), base)
        if url:
            return url
    for el in doc.query_selector_all(CC_LICENSE_SELECTOR)[:]:
        url = resolve(el.getattr("href"), base)
        if url:
            return url
    return None


def context_of(node, max_chars: int) -> str | None:
    """Text near an image: the ``<figcaption>`` of the ``<figure>`` it is in,
    else its parent's text when the parent is small (not a gallery or the body)."""
    if node is None or max_chars <= 0:
        return None
    parent = node.parent
    if parent is None:
        return None
    tag = parent.tag
    if tag == "picture":  # <figure><picture><img>: look one level up
        parent = parent.parent
        if parent is None:
            return None
        tag = parent.tag
    if tag == "figure":
        caps = parent.get_elements_by_tag_name("figcaption")  # the first, as query_selector: no selector to compile
        text = caps[0].text if len(caps) else parent.text
    elif tag in ("body", "html") or parent.child_element_count > CONTEXT_MAX_CHILDREN:
        return None
    else:
        text = parent.text
    text = " ".join(text.split())
    if len(text) > max_chars:
        text = text[:max_chars].rsplit(" ", 1)[0]
    return text or None
