"""URL helpers, the one home for the whole project: the normal form of a URL
(`normalise_url`) and its parts (`origin`, `host_of`, `path_and_query`,
`registrable_domain`). extract's dedup key, the rights registry, the blocklist's
URL hash and the host-file caches all use these, so one URL has one key everywhere.

The normal form of an absolute http(s) URL (anything else: ``None``):

- leading/trailing C0 controls and spaces stripped, tab/CR/LF removed (as browsers do);
- scheme lower-cased; only ``http`` and ``https``;
- userinfo (``user:pass@``) dropped;
- host lower-cased, trailing dot dropped, non-ASCII hosts IDNA-encoded (punycode);
  a host that cannot be encoded, or holds characters no host may hold: ``None``;
- default port dropped (80 for http, 443 for https); a port that is not 0-65535: ``None``;
- fragment dropped;
- percent-encoding normalised: escapes of unreserved characters (``A-Z a-z 0-9 - . _ ~``)
  decoded, other escapes get upper-case hex, a lone ``%`` becomes ``%25``, and every
  character RFC 3986 does not allow raw (space, non-ASCII, ``" < > [ ] { } | \\ ^ `` ` ``,
  controls) is UTF-8 percent-encoded;
- dot segments removed (RFC 3986 section 5.2.4), after the escapes, so ``/%2E%2E/`` is ``/../``;
- empty path becomes ``/``; an empty query (a bare ``?``) is dropped, any other is kept.

The result is a fixed point: ``normalise_url(normalise_url(u)) == normalise_url(u)``.
The common case (ASCII, no escapes, no dot segments, a host seen before) takes a
fast path: extract calls this for every candidate.
"""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import quote

_DEFAULT_PORT = {"http": 80, "https": 443}
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_LONE_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
# What may stay raw in a path or query: unreserved, sub-delims, ":@/?" and "%" (escapes).
_SAFE = "!$&'()*+,;=:@/?%-._~"
_UNSAFE = re.compile(r"[^A-Za-z0-9!$&'()*+,;=:@/?%\-._~]")
_SLOW = re.compile(r"[^A-Za-z0-9!$&'()*+,;=:@/?\-._~]")  # unsafe, "%" (escapes) or "#"
_SPLIT = re.compile(r"([a-z]+)://([^/?#]*)(.*)", re.DOTALL)  # the common case only
_REG_NAME = re.compile(r"[a-z0-9\-._~!$&'()*+,;=]+")
_IPV6 = re.compile(r"\[[0-9a-f:.]+\]")
_TAB_NEWLINE = str.maketrans("", "", "\t\n\r")
_STRIP = "".join(chr(c) for c in range(0x21))


def _fix_escape(m: re.Match[str]) -> str:
    ch = chr(int(m.group(1), 16))
    return ch if ch in _UNRESERVED else "%" + m.group(1).upper()


def _escapes_to_fix() -> re.Pattern[str]:
    """The escapes `_fix_escape` changes: lower-case hex, or an unreserved character.
    Escapes of non-ASCII text (``%D1%84``) are already in normal form; checking for
    these first skips one Python call per escape on such URLs."""
    codes = sorted(f"{ord(c):02X}" for c in _UNRESERVED)
    by_first: dict[str, str] = {}
    for code in codes:
        by_first[code[0]] = by_first.get(code[0], "") + code[1]
    upper = "|".join(f"{first}[{seconds}]" for first, seconds in by_first.items())
    return re.compile(rf"%(?:[0-9A-Fa-f][a-f]|[a-f][0-9A-F]|{upper})")


_ESCAPE_TO_FIX = _escapes_to_fix()
_UNSAFE_RUN = re.compile(r"[^A-Za-z0-9!$&'()*+,;=:@/?%\-._~]+")


def _encode_run(m: re.Match[str]) -> str:
    """UTF-8 percent-encoding of a run of unsafe characters, as ``quote`` writes it."""
    return "%" + m.group().encode("utf-8").hex("%").upper()


def normalise_percent(text: str) -> str:
    """Percent-encoding as in the normal form (see the module docstring). Keeps
    ``*`` and ``$`` raw, so robots-style patterns can use it too. Idempotent."""
    if "%" in text:
        if _ESCAPE_TO_FIX.search(text) is not None:
            text = _ESCAPE.sub(_fix_escape, text)
        if _LONE_PERCENT.search(text) is not None:
            text = _LONE_PERCENT.sub("%25", text)
    if _UNSAFE.search(text) is None:
        return text
    try:  # runs of unsafe characters encoded at once (~4x cheaper than quote's loop per byte)
        return _UNSAFE_RUN.sub(_encode_run, text)
    except UnicodeEncodeError:  # a lone surrogate: quote's backslashreplace spelling
        return quote(text, safe=_SAFE, errors="backslashreplace")


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


def normalise_path(rest: str) -> str:
    """The normal form of what follows the authority: ``path[?query][#fragment]``
    (or a reference from the site root, ``/...``) becomes ``path[?query]``."""
    if _SLOW.search(rest) is None and "/." not in rest and rest[:1] == "/" and rest[-1] != "?":
        return rest  # fast path: already in normal form
    if "\t" in rest or "\n" in rest or "\r" in rest:
        rest = rest.translate(_TAB_NEWLINE)
    rest = rest.rstrip(_STRIP)  # the end of the URL
    if "#" in rest:
        rest = rest.partition("#")[0]
    path, _, query = rest.partition("?")
    if path:
        path = normalise_percent(path)
        if "/." in path:
            path = _remove_dot_segments(path)
    else:
        path = "/"
    if query:
        return f"{path}?{normalise_percent(query)}"
    return path


def _host(host: str) -> str | None:
    """Lower-case host, no trailing dot, punycode for IDN; None if invalid."""
    if host.startswith("["):
        host = host.lower()
        return host if _IPV6.fullmatch(host) else None
    host = host.lower().rstrip(".")
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    return host if _REG_NAME.fullmatch(host) else None


@lru_cache(maxsize=4096)
def _authority(scheme: str, netloc: str) -> tuple[str, str] | None:
    """(``host[:port]`` as in the normal form, host) or None if invalid."""
    netloc = netloc.rpartition("@")[2]  # userinfo dropped
    if netloc.startswith("["):  # IPv6 literal
        end = netloc.find("]") + 1
        if end <= 0:
            return None
        host, port = netloc[:end], netloc[end:]
        if port and not port.startswith(":"):
            return None
        port = port[1:]
    else:
        host, _, port = netloc.partition(":")
    host = _host(host)
    if not host:
        return None
    if port:
        if not (port.isascii() and port.isdigit()) or int(port) > 65535:
            return None
        if int(port) != _DEFAULT_PORT[scheme]:
            return f"{host}:{int(port)}", host
    return host, host


def _split(url: str) -> tuple[str, tuple[str, str], str] | None:
    """(scheme, _authority(), rest after the authority) of an absolute http(s) URL."""
    if not url:
        return None
    if url[0] <= " " or url[-1] <= " ":
        url = url.strip(_STRIP)
    if "\t" in url or "\n" in url or "\r" in url:
        url = url.translate(_TAB_NEWLINE)
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in _DEFAULT_PORT:
        return None
    cut = len(rest)
    for ch in "/?#":
        i = rest.find(ch, 0, cut)
        if i >= 0:
            cut = i
    authority = _authority(scheme, rest[:cut])
    if authority is None:
        return None
    return scheme, authority, rest[cut:]


def normalise_url(url: str) -> str | None:
    """The normal form of an absolute http(s) URL (see the module docstring), or None."""
    m = _SPLIT.match(url)  # fast path: lower-case scheme, nothing around the URL to strip
    if m is not None:
        scheme, netloc, rest = m.groups()
        if scheme in _DEFAULT_PORT:
            authority = _authority(scheme, netloc)
            if authority is not None:  # else maybe a tab or newline: the general path
                return f"{scheme}://{authority[0]}{normalise_path(rest)}"
    parts = _split(url)
    if parts is None:
        return None
    scheme, (authority, _), rest = parts
    return f"{scheme}://{authority}{normalise_path(rest)}"


@lru_cache(maxsize=1024)
def origin(url: str) -> str | None:
    """``scheme://host[:port]`` as in the normal form (the host-file cache key), or None."""
    parts = _split(url)
    return None if parts is None else f"{parts[0]}://{parts[1][0]}"


def host_of(url: str) -> str:
    """The host as in the normal form (IPv6 without brackets), or "" if none or invalid."""
    parts = _split(url)
    return "" if parts is None else parts[1][1].strip("[]")


def path_and_query(url: str) -> str:
    """The normal form's ``path[?query]`` of an absolute URL: what robots-style
    patterns (ai.txt, tdmrep.json) match. "/" when there is no authority."""
    parts = _split(url)
    return "/" if parts is None else normalise_path(parts[2])


def registrable_domain(url: str) -> str | None:
    """eTLD+1 of the URL's host with the bundled public-suffix list (never fetched
    from the network); the host itself for IP addresses, localhost and bare names."""
    host = host_of(url)
    return _registrable(host) if host else None


@lru_cache(maxsize=1)
def _suffixes():
    import tldextract  # ~140 ms (requests): only for the stages that need domains

    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


@lru_cache(maxsize=65536)
def _registrable(host: str) -> str:
    ext = _suffixes()(host)
    if not ext.suffix or not ext.domain:
        return host
    return f"{ext.domain}.{ext.suffix}"
