"""Image URLs as extract stores them: resolved against the page and ``<base href>``,
then normalised with `grassroots.urls.normalise_url` (the project's one normal form:
see that module) so that the same image written two ways deduplicates, and gets the
same key here as in the rights registry and blocklist. Only http(s) URLs come back;
anything else (``data:``, ``javascript:``, ``ftp:``, unparseable) is ``None``.
"""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

from grassroots.urls import normalise_path, normalise_url, origin

_SCHEMES = ("http", "https")
# The HTML URL parser removes ASCII tab and newline anywhere, and strips
# leading/trailing C0 control characters and spaces.
_TAB_NEWLINE = str.maketrans("", "", "\t\n\r")
_STRIP = "".join(chr(c) for c in range(0x21))


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
        site = origin(base)  # the common case: a path from the site root
        return site + normalise_path(raw) if site else None
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
