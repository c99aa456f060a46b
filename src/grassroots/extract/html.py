"""One HTML page -> a Page: parsed once with selectolax's lexbor backend, never with regex.

selectolax, not resiliparse's HTMLTree (same lexbor engine): resiliparse 2.0 keeps
every node it hands out in a weak-reference cache (~2.5 us per image and per
parent), which made HTML the largest cost of extract; the answers are the same
(a differential run over random tag soup and mini-web pages found no difference).
resiliparse still picks the charset, and names the title when a <title> sits
inside <svg>/<math> (lexbor's tag search cannot tell the namespaces apart).

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
from selectolax.lexbor import LexborHTMLParser

from grassroots.extract.page import ImageRef, Page
from grassroots.extract.urls import best_srcset, resolve, resolve_base

LAZY_ATTRS = ("data-src", "data-lazy-src", "data-original")
SRCSET_ATTRS = ("data-srcset", "srcset")
REL_LICENSE_SELECTOR = "[rel~=license][href]"
CC_LICENSE_SELECTOR = '[href*="creativecommons.org/licenses/"], [href*="creativecommons.org/publicdomain/"]'
CONTEXT_MAX_CHILDREN = 20  # a parent with more elements is a gallery, not a caption
FIGURE_WALK_BUDGET = 32  # elements of a <figure> walked in Python before asking a selector


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


def html_utf8(body: bytes, declared: str | None) -> bytes:
    """``decode_html(body, declared)`` as UTF-8, the form lexbor parses. Most pages
    are valid UTF-8 already, or ASCII in an ASCII-compatible charset: then the bytes
    themselves (a decode and re-encode of the whole page saved)."""
    codec = decode_charset(body, declared)
    if codec == "utf-8":
        if body.isascii():
            return body
        try:
            body.decode("utf-8")  # valid: decoding with "replace" would change nothing
        except UnicodeDecodeError:
            return decode_html(body, declared).encode("utf-8")
        return body[3:] if body.startswith(b"\xef\xbb\xbf") else body
    if codec in ASCII_COMPATIBLE and body.isascii():
        return body
    return decode_html(body, declared).encode("utf-8", "replace")  # (no surrogates: "replace" decoding)


# Codecs (as map_encoding_to_html5 names them) that decode every ASCII-only byte
# string to the same characters; stateful ones (iso2022_*) and UTF-16 are not here.
ASCII_COMPATIBLE = frozenset(
    ["cp866", "gbk", "gb18030", "big5", "euc_jp", "euc_kr", "shift_jis", "koi8-r", "koi8-u", "mac-roman"]
    + [f"cp{n}" for n in range(1250, 1259)]
    + [f"iso8859-{n}" for n in (*range(2, 12), *range(13, 17))]
)


def parse_tree(body: bytes, declared_charset: str | None) -> LexborHTMLParser:
    return LexborHTMLParser(html_utf8(body, declared_charset))


def page_from_html(
    body: bytes,
    url: str,
    *,
    charset: str | None = None,
    record_id: str | None = None,
    crawl_date: str | None = None,
) -> tuple[Page, LexborHTMLParser]:
    """The page's images and page-level fields; the tree is returned for callers
    that need more from it (``page_details``)."""
    tree = parse_tree(body, charset)
    page = Page(url=url, base=url, title=None, record_id=record_id, crawl_date=crawl_date)
    imgs = tree.tags("img")
    if not imgs:
        return page, tree  # nothing to extract: skip the rest of the page
    page.base = resolve_base(_base_href(tree), url)
    page.title = _title(tree)
    page.images = [_image(img) for img in imgs]
    return page, tree


def page_details(page: Page, tree: LexborHTMLParser) -> None:
    """Fill metas and licence: only for pages that yielded a candidate."""
    metas = []
    for m in tree.tags("meta"):  # what "meta[name]" selects, without compiling a selector per page
        attrs = m.attributes
        if "name" in attrs:
            metas.append(((attrs["name"] or "").strip().lower(), attrs.get("content") or ""))
    page.metas = metas
    page.license = _license(tree, page.base)


def _base_href(tree: LexborHTMLParser) -> str | None:
    """The ``href`` of the first ``<base href>`` ("" when it has no value)."""
    for base in tree.tags("base"):
        attrs = base.attributes
        if "href" in attrs:
            return attrs["href"] or ""
    return None


def _title(tree: LexborHTMLParser) -> str | None:
    """The text of the document's first HTML ``<title>`` (as ``document.title``),
    whitespace collapsed. A ``<title>`` inside ``<svg>``/``<math>`` may be an SVG
    or MathML element, which lexbor's tag search does not tell apart: such
    (rare) pages ask resiliparse, whose ``title`` checks the namespace."""
    head = tree.head
    if head is not None:  # the usual place: a <title> child of <head> is the first in the document
        for child in head.iter():
            if child.tag == "title":
                return " ".join(child.text_lexbor().split()) or None
    for node in tree.tags("title"):
        parent = node.parent
        while parent is not None:
            if parent.tag in _FOREIGN_ROOTS:
                from resiliparse.parse.html import HTMLTree

                text = tree.raw_html.decode("utf-8", "replace")
                return " ".join((HTMLTree.parse(text).title or "").split()) or None
            parent = parent.parent
        return " ".join(node.text_lexbor().split()) or None
    return None


_FOREIGN_ROOTS = frozenset({"svg", "math"})


def _image(img) -> ImageRef:
    # One dict per <img> (lexbor: a valueless attribute is None; resiliparse said "",
    # which every use below treats as None does).
    attrs = img.attributes
    get = attrs.get
    src = get("data-src") or get("data-lazy-src") or get("data-original")  # LAZY_ATTRS
    if src and not src.strip():  # a blank one: the first that is not blank, if any
        src = next((v for v in map(get, LAZY_ATTRS) if v and v.strip()), None)
    elif not src:
        src = None
    if src is None:
        src = get("src")
        if not src or not src.strip() or src.lstrip()[:5].lower() == "data:":
            src = _from_srcset(img, attrs) or src
    cls, id_ = get("class"), get("id")
    hints = (f"{cls} {id_}" if id_ else cls) if cls else (id_ or "")
    return ImageRef(src, get("alt"), get("width"), get("height"), hints, img)


def _from_srcset(img, attrs: dict) -> str | None:
    for attr in SRCSET_ATTRS:
        found = best_srcset(attrs.get(attr))
        if found:
            return found
    picture = img.parent
    if picture is not None and picture.tag == "picture":
        for source in picture.css("source"):
            a = source.attributes
            found = best_srcset(a.get("srcset") or a.get("data-srcset"))
            if found:
                return found
    return None


def _license(tree: LexborHTMLParser, base: str) -> str | None:
    # Two selectors, two passes: one pass with both as a selector list is slower.
    for selector in (REL_LICENSE_SELECTOR, CC_LICENSE_SELECTOR):
        for el in tree.css(selector):
            url = resolve(el.attributes.get("href"), base)
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
        if node.next is None and parent.first_child.mem_id == node.mem_id:
            return None  # the image alone in its figure (an <img> has no text): no caption
        cap = _first_figcaption(parent)
        text = (cap if cap is not None else parent).text_lexbor()  # textContent, as resiliparse's .text
    elif tag in ("body", "html") or _more_children(parent, CONTEXT_MAX_CHILDREN):
        return None
    else:
        text = parent.text_lexbor()
    text = " ".join(text.split())
    if len(text) > max_chars:
        text = text[:max_chars].rsplit(" ", 1)[0]
    return text or None


def _more_children(node, limit: int) -> bool:
    """``node`` has more than ``limit`` child elements (``iter`` also yields comments)."""
    count = 0
    for child in node.iter():
        if child.is_element_node:
            count += 1
            if count > limit:
                return True
    return False


def _first_figcaption(figure):
    """The first ``<figcaption>`` inside ``figure`` in tree order, at any depth (as
    ``css_first("figcaption")``). A figure is usually a few elements: walked here,
    which is cheaper than compiling a selector; a big one goes to the selector."""
    budget = FIGURE_WALK_BUDGET
    node = figure.first_child
    while node is not None:
        if node.tag == "figcaption":
            return node
        budget -= 1
        if budget <= 0:
            return figure.css_first("figcaption")
        child = node.first_child
        if child is not None:  # preorder: down first, then along, then back up
            node = child
            continue
        while node.next is None:
            node = node.parent
            if node is None or node.mem_id == figure.mem_id:
                return None
        node = node.next
    return None
