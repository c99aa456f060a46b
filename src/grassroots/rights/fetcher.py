"""Fetching the per-host files (robots.txt, ai.txt, tdmrep.json) and caching them.

The downloader (rights/gate.py ``HostFileFetcher``) and ``grassroots rights check``
(rights/explain.py) inject the SSRF-guarded, polite grassroots.fetch client as a
`TextFetcher`; there is no unguarded default. A fetcher must
follow at most 5 redirects, cap the body at ``max_bytes`` (a truncated body is
fine: the parsers read what they got) and report network errors, timeouts and
too many redirects as ``status=None`` with a short ``error``.

`HostFileCache` keeps one parsed file per origin (scheme, host, port) for a TTL
and makes concurrent lookups of the same origin share one fetch.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from grassroots.urls import origin

T = TypeVar("T")


def _origin(url: str) -> str:
    """The cache key; ValueError for anything that is not an absolute http(s) URL."""
    key = origin(url)
    if key is None:
        raise ValueError(f"not an absolute http(s) URL: {url!r}")
    return key


@dataclass(frozen=True)
class FetchedText:
    status: int | None  # None: network error, timeout, too many redirects
    body: bytes = b""
    error: str | None = None


class TextFetcher(Protocol):
    async def __call__(self, url: str) -> FetchedText: ...


@dataclass
class _Entry(Generic[T]):
    value: T
    expires: float


class HostFileCache(Generic[T]):
    """``await cache.get(url)`` → the parsed ``/<path>`` of that URL's origin.

    ``parse`` turns a `FetchedText` into a value; ``is_error(value)`` marks values
    that are only kept ``retry_s`` (a robots.txt that answered 503 is retried
    after that, and until then keeps refusing).
    """

    def __init__(
        self,
        fetcher: TextFetcher,
        path: str,
        parse: Callable[[FetchedText], T],
        ttl_s: float,
        retry_s: float,
        is_error: Callable[[T], bool] = lambda _v: False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.fetcher, self.path, self.parse = fetcher, path, parse
        self.ttl_s, self.retry_s, self.is_error, self.clock = ttl_s, retry_s, is_error, clock
        self._entries: dict[str, _Entry[T]] = {}
        self._inflight: dict[str, asyncio.Future[T]] = {}
        self.fetches = 0  # how many times the fetcher was called (tests, stats)

    def peek(self, url: str) -> T | None:
        """The cached value if fresh, without awaiting (the common, hot path)."""
        entry = self._entries.get(_origin(url))
        return entry.value if entry is not None and entry.expires > self.clock() else None

    async def get(self, url: str) -> T:
        key = _origin(url)
        entry = self._entries.get(key)
        if entry is not None and entry.expires > self.clock():
            return entry.value
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.ensure_future(self._load(key))
            self._inflight[key] = task
            task.add_done_callback(lambda _t, k=key: self._inflight.pop(k, None))
        # shield: one cancelled caller must not cancel the fetch the others wait on
        return await asyncio.shield(task)

    async def _load(self, key: str) -> T:
        self.fetches += 1
        try:
            fetched = await self.fetcher(key + self.path)
        except Exception as e:  # a fetcher bug must not look like permission
            fetched = FetchedText(None, error=type(e).__name__)
        value = self.parse(fetched)
        ttl = self.retry_s if self.is_error(value) else self.ttl_s
        self._entries[key] = _Entry(value, self.clock() + ttl)
        return value
