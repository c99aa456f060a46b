"""Image URLs as extract stores them: resolved against the page and ``<base href>``,
then normalised so that the same image written two ways deduplicates.

Normalisation: scheme and host lower-cased (non-ASCII hosts IDNA-encoded), the
default port dropped (``:80`` for http, ``:443`` for https), the fragment dropped,
an empty path made ``/``, percent-escapes upper-cased, escapes of unreserved
characters decoded (``%7E`` -> ``~``), and characters that must be escaped
(spaces, non-ASCII, a lone ``%``) percent-encoded as UTF-8. Only http(s) URLs
come back; anything else (``data:``, ``javascript:``, ``ftp:``, unparseable) is
``None``.
"""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import quote, urljoin, urlsplit

_SCHEMES = ("http", "https")
_DEFAULT_PORT = {"http": 80, "https": 443}
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_LONE_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_SAFE_PATH = "/:@!$&'()*+,;=-._~%"
_SAFE_QUERY = _SAFE_PATH + "?"
# The HTML URL parser removes ASCII tab and newline anywhere, and strips
# leading/trailing C0 control characters and spaces.
_TAB_NEWLINE = str.maketrans("", "", "\t\n\r")
_STRIP = "".join(chr(c) for c in range(0x21))


def _fix_escape(m: re.Match) -> str:
    ch = chr(int(m.group(1), 16))
    return ch if ch in _UNRESERVED else "%" + m.group(1).upper()


def _normalise_part(text: str, safe: str) -> str:
    if "%" in text:
        text = _LONE_PERCENT.sub("%25", _ESCAPE.sub(_fix_escape, text))
    if text.isascii() and " " not in text and '"' not in text and "<" not in text and ">" not in text:
        return text
    return quote(text, safe=safe)


def _host(hostname: str) -> str | None:
    if hostname.isascii():
        return hostname
    try:
        return hostname.encode("idna").decode("ascii")
    except UnicodeError:
        return None


def _netloc(scheme: str, netloc: str) -> str | None:
    """Lower-cased host (IDNA for non-ASCII), default port dropped; None if invalid."""
    userinfo = ""
    if "@" in netloc:
        userinfo, _, netloc = netloc.rpartition("@")
        userinfo += "@"
    if netloc.startswith("["):  # IPv6 literal
        end = netloc.find("]")
        if end < 0:
            return None
        host, port = netloc[: end + 1].lower(), netloc[end + 1 :].lstrip(":")
    else:
        host, _, port = netloc.partition(":")
        host = _host(host.lower().rstrip("."))
    if not host:
        return None
    if port:
        if not port.isdigit() or int(port) > 65535:
            return None
        if int(port) != _DEFAULT_PORT[scheme]:
            return f"{userinfo}{host}:{int(port)}"
    return userinfo + host


def _path_query(rest: str) -> str:
    """``rest`` is path[?query][#fragment]: drop the fragment, normalise escapes."""
    rest = rest.split("#", 1)[0]
    path, sep, query = rest.partition("?")
    if "/." in path:
        path = _remove_dot_segments(path)
    path = _normalise_part(path or "/", _SAFE_PATH)
    if query:
        return f"{path}?{_normalise_part(query, _SAFE_QUERY)}"
    return path


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 section 5.2.4: ``/a/./b/../c`` -> ``/a/c``."""
    out: list[str] = []
    segments = path.split("/")
    for i, seg in enumerate(segments):
        last = i == len(segments) - 1
        if seg == ".":
            if last:
                out.append("")
        elif seg == "..":
            if len(out) > 1:
                out.pop()
            if last:
                out.append("")
        else:
            out.append(seg)
    return "/".join(out) if out and out[0] == "" else "/" + "/".join(out)


def normalise_url(url: str) -> str | None:
    """The normal form of an absolute http(s) URL, or None."""
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in _SCHEMES:
        return None
    cut = len(rest)
    for ch in "/?#":
        i = rest.find(ch)
        if 0 <= i < cut:
            cut = i
    netloc = _netloc(scheme, rest[:cut])
    if netloc is None:
        return None
    return f"{scheme}://{netloc}{_path_query(rest[cut:])}"


@lru_cache(maxsize=64)
def _origin(base: str) -> str | None:
    """``scheme://host[:port]`` of a base URL, normalised."""
    n = normalise_url(base)
    if n is None:
        return None
    scheme, _, rest = n.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0].split('?', 1)[0]}"


def resolve(raw: str | None, base: str) -> str | None:
    """Resolve an attribute value against ``base`` (page URL or ``<base href>``)
    and normalise it; None for empty, non-http(s) or unparseable values."""
    if not raw:
        return None
    if "\t" in raw or "\n" in raw or "\r" in raw:
        raw = raw.translate(_TAB_NEWLINE)
    raw = raw.strip(_STRIP)
    if not raw:
        return None
    if raw[0] == "/" and raw[1:2] != "/" and "\\" not in raw:
        origin = _origin(base)  # the common case: a path from the site root
        return origin + _path_query(raw) if origin else None
    low = raw[:8].lower()
    if low.startswith(("http://", "https://")):
        if "\\" not in raw:
            return normalise_url(raw)
    elif low.startswith(("data:", "javascript:")):
        return None
    try:
        raw = urljoin(base, raw)
    except ValueError:
        return None
    if "\\" in raw:
        raw = raw.replace("\\", "/")
    return normalise_url(raw)


def resolve_base(base_href: str | None, page_url: str) -> str:
    """The URL relative references resolve against: the first ``<base href>``
    (itself resolved against the page URL) when it is http(s), else the page URL."""
    if base_href:
        raw = base_href.translate(_TAB_NEWLINE).strip(_STRIP)
        if raw:
            try:
                joined = urljoin(page_url, raw)
            except ValueError:
                return page_url
            if urlsplit(joined).scheme.lower() in _SCHEMES:
                return joined
    return page_url


def best_srcset(srcset: str | None) -> str | None:
    """The largest candidate of a ``srcset`` (by ``w`` descriptor, else ``x``;
    a candidate without a descriptor is ``1x``), or None when empty.

    Follows the HTML "parse a srcset attribute" steps closely enough for real
    pages: URLs may contain commas; descriptors follow whitespace.
    """
    if not srcset:
        return None
    best, best_score = None, (-1, -1.0)
    i, n = 0, len(srcset)
    while i < n:
        while i < n and (srcset[i].isspace() or srcset[i] == ","):
            i += 1
        if i >= n:
            break
        j = i
        while j < n and not srcset[j].isspace():
            j += 1
        url = srcset[i:j]
        descriptors = ""
        if url.endswith(","):
            url = url.rstrip(",")
            i = j
        else:
            k = srcset.find(",", j)
            k = n if k < 0 else k
            descriptors = srcset[j:k]
            i = k + 1
        score = _score(descriptors)
        if url and score > best_score:
            best, best_score = url, score
    return best


def _score(descriptors: str) -> tuple[int, float]:
    for d in descriptors.split():
        d = d.lower()
        try:
            if d.endswith("w"):
                return (1, float(d[:-1]))
            if d.endswith("x"):
                return (0, float(d[:-1]))
        except ValueError:
            continue
    return (0, 1.0)
