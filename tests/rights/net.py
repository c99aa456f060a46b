"""The rights layer's host-file fetches in tests go through the downloader's
guarded Fetcher, as in production (loopback allowed, nothing else)."""

from __future__ import annotations

from grassroots.fetch.client import FetchConfig, Fetcher
from grassroots.rights.fetcher import FetchedText
from grassroots.rights.gate import HostFileFetcher
from tests.conftest import loopback_only_socket


class GuardedTextFetcher:
    def __init__(self, timeout_s: float = 10.0, max_bytes: int = 512 * 1024):
        cfg = FetchConfig(allow_loopback=True, timeout=timeout_s, connect_timeout=timeout_s, retries=0)
        self._fetcher = Fetcher(cfg, socket_factory=loopback_only_socket)
        self._inner: HostFileFetcher | None = None
        self._max = max_bytes

    async def __call__(self, url: str) -> FetchedText:
        if self._inner is None:
            await self._fetcher.__aenter__()
            self._inner = HostFileFetcher(self._fetcher, self._max)
        return await self._inner(url)

    async def close(self) -> None:
        if self._inner is not None:
            await self._fetcher.__aexit__(None, None, None)
            self._inner = None
