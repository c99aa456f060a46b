"""Which samples a TakedownAsk removes, and why.

URLs and domains are matched by the opt-out registry's own rules
(grassroots.rights.registry: normalised, scheme-less; a domain covers its subdomains)
against the image URL, the URL after redirects and the page URL; hashes by the hash
blocklist's (grassroots.rights.blocklist: sha256/md5 exact, PDQ within its Hamming
distance, low-quality PDQs skipped). The same lists are appended to the dataset's
registry and blocklist files, so what a takedown removed, a later download refuses.
sha256 and md5 match the original bytes (ledger) or the stored copy (the file a
person got from the search page); PDQ matches the ledger's hash, or the stored image's
when the ledger has none.
"""

from __future__ import annotations

import io as _io
from dataclasses import dataclass

from grassroots.rights.blocklist import Blocklist
from grassroots.rights.registry import Registry
from grassroots.takedown.requests import TakedownAsk


@dataclass(frozen=True)
class Match:
    kind: str  # keys | urls | domains | sha256 | md5 | pdq
    value: str  # the asked value that matched
    origins: tuple[str, ...]  # request:<id> / file:<path>
    detail: str = ""  # e.g. the PDQ distance

    def message(self, withhold: bool = False) -> str:
        """Why the sample went; ``withhold`` (illegal content): the matched value is not named."""
        if withhold:
            return f"takedown: illegal content, matched by {self.kind}; asked by {', '.join(self.origins)}"
        extra = f" ({self.detail})" if self.detail else ""
        return f"takedown: {self.kind} {self.value}{extra}; asked by {', '.join(self.origins)}"


@dataclass
class Matcher:
    ask: TakedownAsk
    pdq_max_distance: int = 31
    pdq_min_quality: int = 50

    def __post_init__(self) -> None:
        self.keys = set(self.ask.values("keys"))
        self.registry = Registry()
        for url in self.ask.values("urls"):
            self.registry.add("url", url)
        for domain in self.ask.values("domains"):
            self.registry.add("domain", domain)
        self._url_of = {}  # scheme-less form -> the asked URL
        for url in self.ask.values("urls"):
            probe = Registry()
            probe.add("url", url)
            self._url_of[next(iter(probe.urls))] = url
        self.blocklist = Blocklist(self.pdq_min_quality, self.pdq_max_distance)
        for kind in ("sha256", "md5", "pdq"):
            for value in self.ask.values(kind):
                self.blocklist.add(kind, value)

    @property
    def needs_stored_bytes(self) -> bool:
        return bool(self.blocklist.sha256 or self.blocklist.md5 or self.blocklist.pdq_hex)

    def _match(self, kind: str, value: str, detail: str = "") -> Match:
        return Match(kind, value, self.ask.origins(kind, value), detail)

    def match(self, row: dict, stored: bytes | None = None) -> Match | None:
        """Why the ledger row (key, url, final_url, page_url, sha256, md5, pdq, pdq_quality)
        is taken down, or None. ``stored``: the sample's stored image bytes, if read."""
        if row["key"] in self.keys:
            return self._match("keys", row["key"])
        if len(self.registry):
            for url in (row.get("url"), row.get("final_url"), row.get("page_url")):
                hit = url and self.registry.match(url)
                if hit:
                    kind, value = hit.split(" ", 1)
                    if kind == "domain":
                        return self._match("domains", value)
                    return self._match("urls", self._url_of.get(value, value))
        digests = [(row.get("sha256"), row.get("md5"))]
        if stored is not None and (self.blocklist.sha256 or self.blocklist.md5):
            from grassroots.imaging.hashes import md5_hex, sha256_hex

            digests.append((sha256_hex(stored), md5_hex(stored)))
        for sha256, md5 in digests:
            if sha256 and sha256 in self.blocklist.sha256:
                return self._match("sha256", sha256)
            if md5 and md5 in self.blocklist.md5:
                return self._match("md5", md5)
        if self.blocklist.pdq_hex:
            pdq, quality = row.get("pdq"), row.get("pdq_quality")
            if not pdq and stored is not None:
                pdq, quality = stored_pdq(stored)
            hit = self.blocklist.check_pdq(pdq, quality)
            if hit:
                _, value, _, distance = hit.split(" ")
                return self._match("pdq", value, f"distance {distance}")
        return None


def stored_pdq(data: bytes) -> tuple[str | None, int | None]:
    from PIL import Image

    from grassroots.imaging.hashes import pdq

    try:
        with Image.open(_io.BytesIO(data)) as img:
            return pdq(img.convert("RGB"))
    except (OSError, ValueError, Image.DecompressionBombError):
        return None, None


def with_copies(ask: TakedownAsk, parent, pdq_max_distance: int = 31, pdq_min_quality: int = 50) -> TakedownAsk:
    """``ask`` plus the PDQ hash of every sample it matches in ``parent`` (by key, URL,
    domain or digest in the ledger), so re-encoded or resized copies of a removed image
    elsewhere in the release go too: after a takedown, a search by the removed image finds
    nothing within the PDQ distance. A copy's origins name the requests of the original."""
    import pyarrow.parquet as pq

    from grassroots import io
    from grassroots.ledger import finished_shards
    from grassroots.schema import Status
    from grassroots.takedown.requests import AskBuilder

    matcher = Matcher(ask, pdq_max_distance, pdq_min_quality)
    builder = AskBuilder(requests=list(ask.requests), file_reason=ask.file_reason)
    for kind, value, origins in ask.entries:
        for origin in origins:
            builder.add(kind, value, origin)
    cols = ["key", "status", "url", "final_url", "page_url", "sha256", "md5", "pdq", "pdq_quality"]
    for shard in finished_shards(parent.root):
        with io.open_file(parent.shard_parquet(shard)) as f:
            rows = pq.read_table(f, columns=cols).to_pylist()
        for row in rows:
            m = row["status"] == Status.SUCCESS.value and row["pdq"] and matcher.match(row)
            if m:
                for origin in (*m.origins, f"copy-of:{row['key']}"):
                    builder.add("pdq", row["pdq"], origin)
    return builder.build()
