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
from grassroots.schema import Reason


_ANSWERED = frozenset({Reason.HTTP_ERROR, Reason.SERVER_ERROR, Reason.RATE_LIMITED})


class HostFileFetcher:
    """TextFetcher over the downloader's Fetcher. A host file over the cap is
    cut at the cap (RFC 9309: parse at least 500 KiB), not treated as an error."""

    def __init__(self, fetcher, max_bytes: int):
        self._fetcher, self._max = fetcher, max_bytes

    async def __call__(self, url: str) -> FetchedText:
        res = await self._fetcher.fetch(url, max_bytes=self._max, truncate=True)
        if res.error in _ANSWERED or res.error is None:
            return FetchedText(res.status, res.body, res.error.value if res.error else None)
        # Network errors, blocked addresses, redirect loops: no answer from the
        # host (robots.txt: disallow all; ai.txt / tdmrep.json: try again later).
        return FetchedText(None, b"", f"{res.error.value}: {res.message}")


@dataclass(frozen=True)
class RightsGate:
    config: RightsConfig = field(default_factory=RightsConfig)

    @contextlib.asynccontextmanager
    async def open(self, fetcher):
        # The checker owns nothing to close: the fetcher belongs to the caller.
        yield RightsChecker(self.config, HostFileFetcher(fetcher, self.config.host_file_max_bytes))
