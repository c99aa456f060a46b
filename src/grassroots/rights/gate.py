"""RightsGate: the rights layer as the downloader uses it, per shard.

Wraps a RightsChecker whose host-file fetches (robots.txt, ai.txt,
tdmrep.json) go through the downloader's own Fetcher, so they get the same
SSRF guard, politeness and caps as image fetches.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

from grassroots.rights.config import RightsConfig
from grassroots.rights.decide import RightsChecker
from grassroots.rights.fetcher import FetchedText


class HostFileFetcher:
    """TextFetcher over the downloader's Fetcher. A host file over the cap is
    cut at the cap (RFC 9309: parse at least 500 KiB), not treated as an error."""

    def __init__(self, fetcher, max_bytes: int):
        self._fetcher, self._max = fetcher, max_bytes

    async def __call__(self, url: str) -> FetchedText:
        res = await self._fetcher.fetch(url, max_bytes=self._max, truncate=True)
        if res.status is None:
            return FetchedText(None, b"", res.error.value if res.error else "no response")
        return FetchedText(res.status, res.body, res.error.value if res.error and res.status >= 400 else None)


@dataclass(frozen=True)
class RightsGate:
    config: RightsConfig = field(default_factory=RightsConfig)

    @contextlib.asynccontextmanager
    async def open(self, fetcher):
        async with RightsChecker(self.config, HostFileFetcher(fetcher, self.config.host_file_max_bytes)) as checker:
            yield checker
