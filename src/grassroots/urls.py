"""URL helpers shared by stages: registrable domain (eTLD+1) with the bundled
public-suffix list (never fetched from the network)."""

from __future__ import annotations

import functools
from urllib.parse import urlsplit

import tldextract

_extract = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


@functools.lru_cache(maxsize=65536)
def registrable_domain(url: str) -> str | None:
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return None
    if not host:
        return None
    ext = _extract(host)
    if not ext.suffix or not ext.domain:
        return host  # IP addresses, localhost, bare names
    return f"{ext.domain}.{ext.suffix}"
