"""URL normalisation shared by the rights checks.

`normalize_url` is the one definition used for registry matching and for the
blocklist's URL hash (``url_sha256 = sha256(normalize_url(url))``):

- scheme and host lower-cased, IDN hosts in punycode, trailing dot and userinfo
  dropped, default ports (80 for http, 443 for https) dropped;
- empty path becomes ``/``; the fragment is dropped; the query is kept;
- percent-encoding normalised: escapes of unreserved characters
  (``A-Z a-z 0-9 - . _ ~``) are decoded, other escapes get upper-case hex,
  non-ASCII characters and spaces are UTF-8 percent-encoded.
"""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit

_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
# Everything printable in ASCII that may appear in a URL stays as it is ("%" too,
# so escapes that are already there are not encoded twice).
_SAFE = "!#$%&'()*+,/:;=?@[]~*"
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _fix_escape(m: re.Match[str]) -> str:
    char = chr(int(m.group(1), 16))
    return char if char in _UNRESERVED else "%" + m.group(1).upper()


def normalize_percent(text: str) -> str:
    """Decode escaped unreserved characters, upper-case other escapes, encode
    non-ASCII and whitespace. Idempotent; keeps ``*`` and ``$`` (patterns use it)."""
    return _ESCAPE.sub(_fix_escape, quote(text, safe=_SAFE))


def _host(hostname: str) -> str:
    host = hostname.rstrip(".").lower()
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return host


def origin(url: str) -> str:
    """``scheme://host[:port]`` of an absolute http(s) URL (the host-file cache key).

    Raises ValueError for anything that is not an absolute http(s) URL.
    """
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise ValueError(f"not an absolute http(s) URL: {url!r}")
    port = parts.port
    host = _host(parts.hostname)
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def host_of(url: str) -> str:
    """Lower-case host (punycode for IDN, no trailing dot), or "" if none."""
    return _host(urlsplit(url.strip()).hostname or "")


def path_and_query(url: str) -> str:
    """The part that robots-style patterns match: normalised path, plus ``?query``
    when the URL has a ``?`` (even an empty query)."""
    text = url.strip().partition("#")[0]
    parts = urlsplit(text)
    path = normalize_percent(parts.path or "/")
    if not path.startswith("/"):
        path = "/" + path
    if "?" in text:
        path += "?" + normalize_percent(parts.query)
    return path


def normalize_url(url: str) -> str:
    """Canonical form of an absolute http(s) URL (see the module docstring)."""
    return origin(url) + path_and_query(url)
