"""User-supplied opt-out registries, checked before any fetch.

File format (UTF-8 text, one entry per line; blank lines and ``#`` comments
(at line start or after whitespace) skipped):

    example.com                          a domain and all its subdomains
    https://example.com/portfolio/*      a URL prefix (trailing ``*``)
    https://example.com/art/cat.jpg      one exact URL
    domain,example.org                   the same, as CSV: kind,value with kind in
    prefix,https://example.org/art/      domain | prefix | url
    url,https://example.org/a.jpg

URLs are compared after `grassroots.urls.normalise_url` and without their scheme (an opt-out
of ``https://x/a.jpg`` also covers ``http://x/a.jpg``). Both the image URL and
the page URL are checked.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from grassroots.rights.listfile import add_lines
from grassroots.urls import host_of, normalise_url

KINDS = ("domain", "prefix", "url")
_COMMENT = re.compile(r"(^|\s)#.*$")  # whole-line or after whitespace (URLs keep fragments)


def _schemeless(url: str) -> str:
    normal = normalise_url(url)
    if normal is None:
        raise ValueError(f"not an absolute http(s) URL: {url!r}")
    return normal.split("://", 1)[1]


@dataclass
class Registry:
    domains: set[str] = field(default_factory=set)
    prefixes: list[str] = field(default_factory=list)
    urls: set[str] = field(default_factory=set)

    def add(self, kind: str, value: str) -> None:
        value = value.strip()
        if kind == "domain":
            self.domains.add(host_of(f"http://{value.strip('.')}/") or value.lower())
        elif kind == "prefix":
            self.prefixes.append(_schemeless(value.removesuffix("*")))
        elif kind == "url":
            self.urls.add(_schemeless(value))
        else:
            raise ValueError(f"unknown registry kind {kind!r} (use one of {', '.join(KINDS)})")

    def add_line(self, line: str) -> None:
        line = _COMMENT.sub("", line).strip()
        if not line:
            return
        kind, comma, value = line.partition(",")
        if comma and kind.strip().lower() in KINDS:
            self.add(kind.strip().lower(), value)
        elif "://" not in line:
            self.add("domain", line)
        elif line.endswith("*"):
            self.add("prefix", line)
        else:
            self.add("url", line)

    @classmethod
    def load(cls, paths: Iterable[str | Path]) -> Registry:
        registry = cls()
        add_lines(paths, registry.add_line, "one domain, URL prefix or URL per line; see grassroots/rights/README.md")
        return registry

    def __len__(self) -> int:
        return len(self.domains) + len(self.prefixes) + len(self.urls)

    def match(self, url: str) -> str | None:
        """Why ``url`` is opted out (the matching entry), or None."""
        host = host_of(url)
        labels = host.split(".")
        for i in range(len(labels)):
            if ".".join(labels[i:]) in self.domains:
                return f"domain {'.'.join(labels[i:])}"
        try:
            key = _schemeless(url)
        except ValueError:
            return None
        if key in self.urls:
            return f"url {key}"
        for prefix in self.prefixes:
            if key.startswith(prefix):
                return f"prefix {prefix}"
        return None
