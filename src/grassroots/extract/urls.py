"""Image URLs as extract stores them: resolved against the page and ``<base href>``,
then normalised with `grassroots.urls.normalise_url` (the project's one normal form:
see that module) so that the same image written two ways deduplicates, and gets the
same key here as in the rights registry and blocklist. Only http(s) URLs come back;
anything else (``data:``, ``javascript:``, ``ftp:``, unparseable) is ``None``.

`PageResolver` is `resolve` for the images of one page: it answers the common
cases (an absolute URL already in normal form but for its host, a path from the
site root, a plain relative path) without ``urljoin`` and falls back to `resolve`
for everything else; tests/extract/test_fast_paths.py checks that both agree.
"""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

from grassroots.urls import _authority, normalise_path, normalise_percent, normalise_url, origin

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


# Characters that may stay raw in the normal form (RFC 3986 unreserved, sub-delims,
# ":@/?"): no "%" (escapes), "#", "\\", whitespace, controls or non-ASCII.
_SAFE = r"[A-Za-z0-9!$&'()*+,;=:@/?\-._~]"
_NETLOC = r"[A-Za-z0-9!$&'()*+,;=:@\-._~]+"
_ABSOLUTE = re.compile(rf"(https?)://({_NETLOC})(/{_SAFE}*)")  # fullmatch
# What keeps a reference off the non-ASCII fast paths: whitespace and controls, "\\",
# "#", "?", ":" (a scheme, a port), and an escaped dot (a dot segment once decoded).
_UNPLAIN = re.compile(r"[\x00-\x20\x7f\\#?:]|%2[eE]")
# What resolve cleans up before normalise_url: tab, CR, LF, "\\" (leading and
# trailing spaces and controls are checked apart).
_NOT_AS_IS = re.compile(r"[\t\n\r\\]")
# A host already in normal form (lower-case ASCII a host may hold, no trailing dot,
# no port or userinfo): `_authority` returns it unchanged.
_NORMAL_HOST = r"[a-z0-9!$&'()*+,;=\-_~](?:[a-z0-9!$&'()*+,;=\-._~]*[a-z0-9!$&'()*+,;=\-_~])?"
# An escape already in normal form that a plain reference may hold: a byte of non-ASCII
# text, upper-case (``%E5%86%99``; never an unreserved character, so never decoded).
_NORMAL_ESCAPE = r"%[89A-F][0-9A-F]"
# Safe characters and such escapes, unrolled (a run of safe characters, then escape + run)
# so the common reference, without escapes, is one run of a character class.
_SAFE_PATH = rf"{_SAFE}*(?:{_NORMAL_ESCAPE}{_SAFE}*)*"
# A relative reference: no ":" (a scheme), and it does not start with "/", "?", "." or "%" but
# for such an escape.
_RELATIVE_FIRST = r"[A-Za-z0-9!$&'()*+,;=@\-_~]"
_RELATIVE_CHAR = r"[A-Za-z0-9!$&'()*+,;=@/?\-._~]"
# The references already in normal form but for the join, told apart by the group
# that matched: absolute (returned as it is), network-path (the base's scheme),
# rooted (the base's origin), relative (the base's directory; not with "//").
# Callers first send anything ending in "?" or holding "/." elsewhere.
_PLAIN = re.compile(
    rf"(?P<absolute>https?://{_NORMAL_HOST}/{_SAFE_PATH})"
    rf"|(?P<network>//{_NORMAL_HOST}/{_SAFE_PATH})"
    rf"|(?P<rooted>/(?!/){_SAFE_PATH})"
    rf"|(?P<relative>(?:{_RELATIVE_FIRST}|{_NORMAL_ESCAPE})"
    rf"{_RELATIVE_CHAR}*(?:{_NORMAL_ESCAPE}{_RELATIVE_CHAR}*)*)"
)
_BASE_DIR = re.compile(rf"(https?)://({_NETLOC})(/(?:[A-Za-z0-9!$&'()*+,;=:@/\-._~]*/)?)[^/?]*(?:\?{_SAFE}*)?")


class PageResolver:
    """``resolve(raw, base)`` for one ``base``, with the common cases cheap:

    - ``http(s)://host/path`` of safe characters without dot segments: as it is when
      the host is already in normal form, else through `normalise_url`;
    - ``/path`` (not ``//``): the base's origin + the path;
    - ``//host/path``: as ``scheme://host/path`` with the base's scheme;
    - references holding non-ASCII characters or escapes (no whitespace, ``\\``,
      ``#``, ``?``, ``:`` or escaped dot): the same joins, with the reference's
      percent-encoding normalised, no ``urljoin``;
    - ``dir/file.jpg`` (no ``:``, ``//`` or dot segment) against a base whose
      path is itself plain: the base's directory + the reference (what ``urljoin``
      and `normalise_url` give for these).

    Anything else goes through `resolve`."""

    __slots__ = ("base", "_origin", "_dir")

    def __init__(self, base: str):
        self.base = base
        self._origin: str | None | bool = False  # computed on first use
        self._dir: str | None | bool = False

    def __call__(self, raw: str | None) -> str | None:
        if not raw or raw[-1] == "?" or "/." in raw:
            return resolve(raw, self.base)
        m = _PLAIN.fullmatch(raw)  # most references: one match, no call
        if m is not None:
            kind = m.lastgroup
            if kind == "absolute":
                return raw
            if kind == "rooted":
                site = self._site()
                return site + raw if site else None
            if kind == "relative":
                directory = self._directory() if "//" not in raw else None
                if directory:
                    return directory + raw
            else:  # network: //host/path
                scheme = self._scheme()
                if scheme:
                    return scheme + raw
            return resolve(raw, self.base)
        # Not plain: non-ASCII characters, escapes, a host not in normal form, or worse.
        if raw.startswith(("http://", "https://")) and raw[-1] > " " and _NOT_AS_IS.search(raw) is None:
            return normalise_url(raw)  # what resolve does with it, without its clean-up
        if raw[0] == "/":
            if raw[1:2] == "/":  # protocol-relative //host/path: the base's scheme, then as absolute
                scheme = self._scheme()
                m = _ABSOLUTE.fullmatch(scheme + raw) if scheme else None
                if m is not None:  # a host to normalise (case, port)
                    scheme, netloc, path = m.groups()
                    authority = _authority(scheme, netloc)
                    return None if authority is None else f"{scheme}://{authority[0]}{path}"
                if scheme and _UNPLAIN.search(raw) is None:  # non-ASCII or escapes: no urljoin needed
                    return normalise_url(scheme + raw)
            elif _UNPLAIN.search(raw) is None:  # from the site root, with non-ASCII characters or escapes
                site = self._site()
                return site + normalise_percent(raw) if site else None
        elif "//" not in raw and raw[0] != "." and _UNPLAIN.search(raw) is None:
            # dir/file.jpg with non-ASCII characters or escapes. The base's directory is in normal
            # form and ends with "/": the reference's escapes normalise on their own (none spans the join).
            directory = self._directory()
            if directory:
                return directory + normalise_percent(raw)
        return resolve(raw, self.base)

    def _site(self) -> str | None:
        """The base's origin in normal form (computed once)."""
        if self._origin is False:
            self._origin = origin(self.base)
        return self._origin

    def _directory(self) -> str | None:
        """The base's directory in normal form, when its path is plain (computed once)."""
        if self._dir is False:
            self._dir = _base_dir(self.base)
        return self._dir

    def _scheme(self) -> str:
        """``http:`` or ``https:`` (the base is an absolute http(s) URL), or "" when it
        is neither: nothing then matches the absolute fast path."""
        low = self.base[:6].lower()
        return "https:" if low == "https:" else "http:" if low[:5] == "http:" else ""


def _base_dir(base: str) -> str | None:
    """The normal form of ``base`` up to the last "/" of its path, when that path
    is plain (safe characters, no empty or dot segments); else None."""
    m = _BASE_DIR.fullmatch(base)
    if m is None:
        return None
    scheme, netloc, path = m.groups()
    if "//" in path or "/." in path:
        return None
    authority = _authority(scheme, netloc)
    return None if authority is None else f"{scheme}://{authority[0]}{path}"


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
