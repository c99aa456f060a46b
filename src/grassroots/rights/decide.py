"""The combined decision: `RightsChecker.pre_fetch` before a fetch, `post_fetch` after.

The downloader creates one `RightsChecker` per shard/process (it holds the
per-host caches and the loaded registry/blocklist) and, per candidate:

    verdict = await checker.pre_fetch(url, page_url, page_signals)
    if verdict.refused: record (Status.REFUSED, verdict.reason, verdict.rights()); skip
    ... fetch ...
    verdict = checker.post_fetch(verdict, resp.headers, body, content_type,
                                 pdq=pdq_hex, pdq_quality=quality)
    if verdict.refused: drop the bytes, record as above
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from grassroots.rights.ai_txt import AiTxt, ai_txt_from_fetch, ai_txt_signal
from grassroots.rights.blocklist import Blocklist
from grassroots.rights.c2pa import c2pa_signal
from grassroots.rights.config import RightsConfig
from grassroots.rights.fetcher import HostFileCache, TextFetcher
from grassroots.rights.html_meta import html_meta_signal
from grassroots.rights.registry import Registry
from grassroots.rights.robots import RobotsFile, robots_from_fetch, robots_signal
from grassroots.rights.signals import REASON_PRECEDENCE, Outcome, Signal, refused, unknown
from grassroots.rights.tdmrep import (
    TdmChannels,
    TdmRepFile,
    combine_files,
    from_headers,
    from_page_signals,
    tdmrep_from_fetch,
)
from grassroots.rights.x_robots import header_values, x_robots_signal
from grassroots.rights.xmp import xmp_signal
from grassroots.schema import Reason
from grassroots.urls import origin

__all__ = ["Outcome", "RightsChecker", "Signal", "Verdict"]

Headers = Mapping[str, str] | Iterable[tuple[str, str]]


@dataclass(frozen=True)
class Verdict:
    """Every signal seen for one candidate; refused if any of them refused."""

    signals: tuple[Signal, ...] = ()
    tdm: TdmChannels = field(default_factory=TdmChannels)  # carried to post_fetch

    @property
    def refused(self) -> bool:
        return any(s.refused for s in self.signals)

    @property
    def reason(self) -> Reason | None:
        """The refusing Reason that comes first in `signals.REASON_PRECEDENCE`."""
        reasons = {s.reason for s in self.signals if s.reason is not None}
        return next((r for r in REASON_PRECEDENCE if r in reasons), None)

    @property
    def final_before_fetch(self) -> bool:
        """Refused whatever the image response says. Only one refusal can still
        be lifted by the response: a tdmrep.json reservation, which the image's
        ``tdm-reservation`` header overrides unless page meta already decided."""
        return any(
            s.refused and (s.protocol is not Reason.TDMREP or self.tdm.meta.reservation is not None)
            for s in self.signals
        )

    @property
    def refusals(self) -> tuple[Signal, ...]:
        return tuple(s for s in self.signals if s.refused)

    def rights(self) -> list[str]:
        """The ledger's ``rights`` column value."""
        return [s.to_str() for s in self.signals]

    def with_signals(self, signals: Iterable[Signal], tdm: TdmChannels | None = None) -> Verdict:
        return Verdict((*self.signals, *signals), self.tdm if tdm is None else tdm)


async def _lookup_all(requests: list[tuple[HostFileCache, list[str]]]) -> list[list]:
    """Cached host files straight away; the missing ones fetched concurrently."""
    out = [[cache.peek(u) for u in urls] for cache, urls in requests]
    missing = [(i, j, cache, u) for i, (cache, urls) in enumerate(requests) for j, u in enumerate(urls)
               if out[i][j] is None]
    if missing:
        got = await asyncio.gather(*(cache.get(u) for _, _, cache, u in missing))
        for (i, j, _, _), value in zip(missing, got):
            out[i][j] = value
    return out


class RightsChecker:
    """Per-run state of the rights layer: config, host-file caches, registry, blocklist."""

    def __init__(
        self,
        config: RightsConfig | None = None,
        fetcher: TextFetcher | None = None,  # required in practice: the downloader's guarded HostFileFetcher
        *,
        registry: Registry | None = None,
        blocklist: Blocklist | None = None,
    ) -> None:
        self.config = config = config or RightsConfig()
        if fetcher is None:
            raise TypeError("RightsChecker needs a TextFetcher (grassroots.rights.gate.HostFileFetcher over the "
                            "downloader's Fetcher): host files must go through the SSRF guard")
        self.fetcher = fetcher
        # (explicit None checks: an empty Registry/Blocklist is falsy)
        self.registry = Registry.load(config.registry_paths) if registry is None else registry
        self.blocklist = (
            Blocklist.load(config.blocklist_paths, config.pdq_min_quality, config.pdq_max_distance,
                           illegal_paths=config.illegal_list_paths)
            if blocklist is None else blocklist
        )
        ttl, retry, cap = config.host_file_ttl_s, config.host_file_retry_s, config.host_file_max_bytes
        self.robots: HostFileCache[RobotsFile] = HostFileCache(
            self.fetcher, "/robots.txt", lambda f: robots_from_fetch(f, cap), ttl, retry,
            is_error=lambda r: r.is_error,
        )
        self.ai_txt: HostFileCache[AiTxt] = HostFileCache(
            self.fetcher, "/ai.txt", lambda f: ai_txt_from_fetch(f, cap), ttl, retry,
            is_error=lambda a: a.transient,
        )
        self.tdmrep: HostFileCache[TdmRepFile] = HostFileCache(
            self.fetcher, "/.well-known/tdmrep.json", tdmrep_from_fetch, ttl, retry,
            is_error=lambda t: t.transient,
        )

    def _listed(self, url: str, page_url: str | None) -> list[Signal]:
        out = []
        if len(self.registry):
            hits = [(role, self.registry.match(u)) for role, u in (("image", url), ("page", page_url)) if u]
            hits = [f"{role}: {hit}" for role, hit in hits if hit]
            out.append(refused(Reason.REGISTRY, "; ".join(hits)) if hits
                       else unknown(Reason.REGISTRY, "not listed"))
        if len(self.blocklist):
            hit = self.blocklist.check_url(url)
            if hit:
                out.append(refused(Reason.HASH_BLOCKLIST, hit))
        return out

    async def pre_fetch(
        self, url: str, page_url: str | None = None, page_signals: Sequence[str] = ()
    ) -> Verdict:
        """Registry and URL blocklist (no fetch at all when they refuse), then
        robots.txt (image host and page host), ai.txt, tdmrep.json, page signals.

        ``url`` must be an absolute http(s) URL (ValueError otherwise); a ``page_url``
        that is not one is noted and its host checks are skipped.
        """
        if origin(url) is None:  # a URL we cannot check
            raise ValueError(f"not an absolute http(s) URL: {url!r}")
        notes: list[Signal] = []
        if page_url:
            if origin(page_url) is None:
                notes.append(unknown(Reason.ROBOTS_TXT, f"page: not an http(s) URL: {page_url}"))
                page_url = None
        listed = self._listed(url, page_url)
        if any(s.refused for s in listed):
            return Verdict(tuple(listed))
        roles = [("image", url)] + ([("page", page_url)] if page_url else [])
        tokens = self.config.tokens()
        urls = [u for _, u in roles]
        robots, ais, tdms = await _lookup_all([(c, urls) for c in (self.robots, self.ai_txt, self.tdmrep)])
        signals = listed + notes
        signals += [robots_signal(r, u, tokens, role) for r, (role, u) in zip(robots, roles)]
        signals += [ai_txt_signal(a, u, tokens, role) for a, (role, u) in zip(ais, roles)]
        tdm = TdmChannels(
            file=combine_files([t.lookup(u) for t, (_, u) in zip(tdms, roles)]),
            meta=from_page_signals(page_signals),
        )
        signals += [tdm.signal(), html_meta_signal(page_signals, self.config)]
        return Verdict(tuple(signals), tdm)

    def post_fetch(
        self,
        verdict: Verdict,
        headers: Headers,
        body: bytes,
        content_type: str | None = None,
        *,
        pdq: str | None = None,
        pdq_quality: int | None = None,
        sha256: str | None = None,
        md5: str | None = None,
    ) -> Verdict:
        """X-Robots-Tag, TDMRep headers (re-deciding TDMRep with all three channels),
        XMP, C2PA, hash blocklist. Pass ``pdq``/``pdq_quality`` (and the hex digests if
        already computed) to include them; call it before writing any byte."""
        tdm = verdict.tdm.with_header(from_headers(headers))
        kept = tuple(s for s in verdict.signals if s.protocol is not Reason.TDMREP)
        signals = [
            x_robots_signal(header_values(headers, "x-robots-tag"), self.config),
            tdm.signal(),
            xmp_signal(body),
            c2pa_signal(body, content_type, self.config.c2pa_require_valid),
        ]
        if len(self.blocklist):
            hit = self.blocklist.check_bytes(body, sha256, md5) or self.blocklist.check_pdq(pdq, pdq_quality)
            signals.append(refused(Reason.HASH_BLOCKLIST, hit) if hit
                           else unknown(Reason.HASH_BLOCKLIST, "not listed"))
        return Verdict(kept, tdm).with_signals(signals)
