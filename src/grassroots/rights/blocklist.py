"""Hash blocklists, checked before any byte is written (URL hashes before the fetch).

File format (UTF-8 text, one entry per line; blank lines, ``#`` comments and a
``kind,value,quality`` header skipped; fields separated by a comma or whitespace):

    md5,<32 hex>              md5 of the original response bytes
    sha256,<64 hex>           sha256 of the original response bytes
    url_sha256,<64 hex>       sha256 of normalise_url(url) as UTF-8 (`url_hash`)
    url,<absolute URL>        convenience: hashed on load like url_sha256
    pdq,<64 hex>[,quality]    PDQ hash; matches at Hamming distance <= 31

    sha1,<40 hex>             sha1 of the original response bytes

The exchange formats hash lists for illegal content come in are read too:

    <hex>                     one hash a line, no type: 32 hex md5, 40 sha1, 64 sha256
    <64 hex>,<quality>        a PDQ hash with its quality (a 64-hex hash with a quality is PDQ)
    TYPE:<hex>                a type prefix (md5:, sha1:, SHA-256:, pdq: ...)
    CSV or TSV with a header  a hash column (hash, value, signal_value, md5, sha1, sha256,
                              pdq, pdq_hash ...), optionally a type column (kind, type,
                              signal_type, hash_type, algorithm) and a quality column

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

_HEX = {"md5": 32, "sha1": 40, "sha256": 64, "url_sha256": 64, "pdq": 64}
_BY_LENGTH = {32: "md5", 40: "sha1", 64: "sha256"}  # an untyped hash
_TYPE_COLUMNS = ("kind", "type", "signal_type", "hash_type", "algorithm")
_HASH_COLUMNS = ("value", "hash", "signal_value", "digest", "pdq", "pdq_hash", "sha256", "sha1", "md5")
_QUALITY_COLUMNS = ("quality", "pdq_quality")
_OTHER_COLUMNS = ("id", "signal_id", "source", "notes", "description", "tags", "label", "category", "date",
                  "created", "created_time", "added", "updated")  # read past, never used


def hash_kind(name: str) -> str | None:
    """The blocklist kind a list's type name means (``SHA-256``, ``photo_pdq``, ``hash_md5`` ...)."""
    low = re.sub(r"[^a-z0-9]", "", name.lower())
    low = re.sub(r"^(hash|photo|video|image)", "", low) or low
    low = re.sub(r"hash$", "", low) or low
    return {"md5": "md5", "sha1": "sha1", "sha256": "sha256", "pdq": "pdq", "url": "url",
            "urlsha256": "url_sha256"}.get(low)


_HINT = ("one hash per line (KIND,VALUE[,QUALITY], TYPE:HASH or a bare md5/sha1/sha256), "
         "or CSV/TSV with a hash column; see grassroots/rights/blocklist.py")


class _ListReader:
    """One list file's lines, in any of the formats above (a header line sets its columns)."""

    def __init__(self, blocklist: "Blocklist"):
        self.blocklist = blocklist
        self.columns: list[str] | None = None

    def __call__(self, line: str) -> None:
        line = re.sub(r"(^|\s)#.*$", "", line).strip()
        if not line:
            return
        sep = "\t" if "\t" in line else ","
        fields = [f.strip().strip('"') for f in (line.split(sep) if sep in line else line.split())]
        if self.columns is None and self._header(fields):
            return
        if self.columns is not None:
            row = dict(zip(self.columns, fields))
            kind_col = next((c for c in _TYPE_COLUMNS if c in row), None)
            hash_col = next(c for c in _HASH_COLUMNS if c in self.columns)
            value = row.get(hash_col, "")
            kind = hash_kind(row[kind_col]) if kind_col else hash_kind(hash_col)
            quality = next((row[c] for c in _QUALITY_COLUMNS if row.get(c)), None)
            if kind_col and kind is None:
                raise ValueError(f"unknown hash type {row[kind_col]!r}")
            self._add(kind, value, quality)
            return
        head, colon, rest = fields[0].partition(":")
        if colon and hash_kind(head) and not head.lower().startswith("http"):
            self._add(hash_kind(head), rest, fields[1] if len(fields) > 1 else None)
        elif hash_kind(fields[0]) and len(fields) > 1:
            self._add(hash_kind(fields[0]), fields[1], fields[2] if len(fields) > 2 else None)
        else:
            self._add(None, fields[0], fields[1] if len(fields) > 1 else None)

    def _header(self, fields: list[str]) -> bool:
        names = [f.lower() for f in fields]
        known = (*_TYPE_COLUMNS, *_HASH_COLUMNS, *_QUALITY_COLUMNS, *_OTHER_COLUMNS)
        if any(n in _HASH_COLUMNS for n in names) and all(n in known for n in names):
            self.columns = names
            return True
        return False

    def _add(self, kind: str | None, value: str, quality: str | None) -> None:
        value = value.strip()
        if kind is None:  # untyped: by length; a 64-hex hash with a quality is PDQ
            kind = "pdq" if quality is not None and len(value) == 64 else _BY_LENGTH.get(len(value))
            if kind is None:
                raise ValueError(f"cannot tell the hash type of {value!r} (32 hex md5, 40 sha1, 64 sha256; "
                                 "PDQ needs a quality or a pdq: prefix)")
        try:
            q = int(float(quality)) if quality not in (None, "") else None
        except ValueError:
            raise ValueError(f"quality must be a number, got {quality!r}") from None
        self.blocklist.add(kind, value, q)


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
    sha1: set[str] = field(default_factory=set)
    url_sha256: set[str] = field(default_factory=set)
    pdq_hex: list[str] = field(default_factory=list)
    illegal: set[str] = field(default_factory=set)  # values from illegal-content lists (their hits say so)
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
        """One line of a list without a header (``kind,value[,quality]``, ``type:hash`` or a bare hash)."""
        _ListReader(self)(line)

    @classmethod
    def load(cls, paths: Iterable[str | Path], min_quality: int = 50, max_distance: int = 31,
             illegal_paths: Iterable[str | Path] = ()) -> Blocklist:
        """``illegal_paths``: hash lists of illegal content (CSAM lists and the like): a hit on
        one says ``illegal-content list``, and download records that row with hashes only."""
        blocklist = cls(min_quality, max_distance)
        for path in paths:  # a header line sets the columns of its own file only
            add_lines([path], _ListReader(blocklist), _HINT)
        for path in illegal_paths:
            before = blocklist.values()
            add_lines([path], _ListReader(blocklist), _HINT)
            blocklist.illegal |= blocklist.values() - before
        return blocklist

    def values(self) -> set[str]:
        return self.md5 | self.sha1 | self.sha256 | self.url_sha256 | set(self.pdq_hex)

    def _said(self, kind: str, value: str, extra: str = "") -> str:
        return f"{'illegal-content list ' if value in self.illegal else ''}{kind} {value}{extra}"

    def __len__(self) -> int:
        return len(self.md5) + len(self.sha1) + len(self.sha256) + len(self.url_sha256) + len(self.pdq_hex)

    def check_url(self, url: str) -> str | None:
        try:
            digest = url_hash(url)
        except ValueError:
            return None
        return self._said("url_sha256", digest) if digest in self.url_sha256 else None

    def check_bytes(self, body: bytes, sha256: str | None = None, md5: str | None = None) -> str | None:
        if self.sha256:
            sha256 = sha256 or hashlib.sha256(body).hexdigest()
            if sha256 in self.sha256:
                return self._said("sha256", sha256)
        if self.md5:
            md5 = md5 or hashlib.md5(body, usedforsecurity=False).hexdigest()
            if md5 in self.md5:
                return self._said("md5", md5)
        if self.sha1:
            sha1 = hashlib.sha1(body, usedforsecurity=False).hexdigest()
            if sha1 in self.sha1:
                return self._said("sha1", sha1)
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
            return self._said("pdq", self.pdq_hex[best], f" distance {int(distances[best])}")
        return None
