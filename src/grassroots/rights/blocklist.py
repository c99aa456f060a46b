"""Hash blocklists, checked before any byte is written (URL hashes before the fetch).

File format (UTF-8 text, one entry per line; blank lines, ``#`` comments and a
``kind,value,quality`` header skipped; fields separated by a comma or whitespace):

    md5,<32 hex>              md5 of the original response bytes
    sha256,<64 hex>           sha256 of the original response bytes
    url_sha256,<64 hex>       sha256 of normalise_url(url) as UTF-8 (`url_hash`)
    url,<absolute URL>        convenience: hashed on load like url_sha256
    pdq,<64 hex>[,quality]    PDQ hash; matches at Hamming distance <= 31

PDQ entries with a quality below 50 are skipped on load, and a sample's PDQ is not
compared when its own quality is below 50 (unknown quality: compared) (both thresholds from RightsConfig).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from grassroots.rights.listfile import add_lines
from grassroots.urls import normalise_url

_HEX = {"md5": 32, "sha256": 64, "url_sha256": 64, "pdq": 64}


def url_hash(url: str) -> str:
    """sha256 (hex) of ``grassroots.urls.normalise_url(url)`` encoded as UTF-8: the
    project's one normal form, the same key extract dedups on. It lower-cases scheme
    and host, IDNA-encodes the host, drops userinfo, the default port, the fragment
    and an empty ``?``, removes dot segments and normalises percent-encoding, so
    ``HTTPS://user@Example.COM:443/a/../b.jpg?#x`` hashes as ``https://example.com/b.jpg``.
    ValueError for anything that is not an absolute http(s) URL."""
    normal = normalise_url(url)
    if normal is None:
        raise ValueError(f"not an absolute http(s) URL: {url!r}")
    return hashlib.sha256(normal.encode()).hexdigest()


def pdq_words(hex64: str) -> np.ndarray:
    """64 hex chars (256 bits) → 4 uint64 words."""
    return np.frombuffer(bytes.fromhex(hex64), dtype=">u8").astype(np.uint64)


@dataclass
class Blocklist:
    min_quality: int = 50
    max_distance: int = 31
    md5: set[str] = field(default_factory=set)
    sha256: set[str] = field(default_factory=set)
    url_sha256: set[str] = field(default_factory=set)
    pdq_hex: list[str] = field(default_factory=list)
    _pdq: np.ndarray | None = field(default=None, repr=False)  # built on first use

    def add(self, kind: str, value: str, quality: int | None = None) -> None:
        kind, value = kind.lower(), value.strip()
        if kind == "url":
            kind, value = "url_sha256", url_hash(value)
        value = value.lower()
        if kind not in _HEX:
            raise ValueError(f"unknown blocklist kind {kind!r}")
        if len(value) != _HEX[kind] or not re.fullmatch(r"[0-9a-f]+", value):
            raise ValueError(f"{kind} needs {_HEX[kind]} hex digits, got {value!r}")
        if kind == "pdq":
            if quality is not None and quality < self.min_quality:
                return
            self.pdq_hex.append(value)
            self._pdq = None
        else:
            getattr(self, kind).add(value)

    def add_line(self, line: str) -> None:
        line = re.sub(r"(^|\s)#.*$", "", line)
        fields = [f for f in re.split(r"[,\s]+", line) if f]
        if not fields or fields[0].lower() == "kind":
            return
        quality = int(fields[2]) if len(fields) > 2 else None
        self.add(fields[0], fields[1] if len(fields) > 1 else "", quality)

    @classmethod
    def load(cls, paths: Iterable[str | Path], min_quality: int = 50, max_distance: int = 31) -> Blocklist:
        blocklist = cls(min_quality, max_distance)
        add_lines(paths, blocklist.add_line, "one 'KIND VALUE [QUALITY]' per line; see grassroots/rights/README.md")
        return blocklist

    def __len__(self) -> int:
        return len(self.md5) + len(self.sha256) + len(self.url_sha256) + len(self.pdq_hex)

    def check_url(self, url: str) -> str | None:
        try:
            digest = url_hash(url)
        except ValueError:
            return None
        return f"url_sha256 {digest}" if digest in self.url_sha256 else None

    def check_bytes(self, body: bytes, sha256: str | None = None, md5: str | None = None) -> str | None:
        if self.sha256:
            sha256 = sha256 or hashlib.sha256(body).hexdigest()
            if sha256 in self.sha256:
                return f"sha256 {sha256}"
        if self.md5:
            md5 = md5 or hashlib.md5(body, usedforsecurity=False).hexdigest()
            if md5 in self.md5:
                return f"md5 {md5}"
        return None

    def check_pdq(self, pdq: str | None, quality: int | None) -> str | None:
        """Nearest listed PDQ hash within ``max_distance``; skipped for low-quality samples."""
        if not pdq or not self.pdq_hex or (quality is not None and quality < self.min_quality):
            return None
        if self._pdq is None:
            self._pdq = np.stack([pdq_words(h) for h in self.pdq_hex])
        distances = np.bitwise_count(self._pdq ^ pdq_words(pdq.lower())).sum(axis=1)
        best = int(np.argmin(distances))
        if distances[best] <= self.max_distance:
            return f"pdq {self.pdq_hex[best]} distance {int(distances[best])}"
        return None
