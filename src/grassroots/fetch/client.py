"""Fetcher: one polite, capped, SSRF-guarded HTTP client per shard.

Every request: URL validated, host checked by the SSRF guard (IP literals here,
names in GuardedResolver after DNS), per-host slot taken, redirects followed by
hand so each hop is checked again, 429/503 retried with Retry-After or
exponential backoff (bounded), body streamed up to a byte cap. Every outcome is
a FetchResult with an HTTP status or exactly one failure Reason — no exception
escapes for a bad URL or a bad server.
"""

from __future__ import annotations

import asyncio
import socket
import time
from dataclasses import dataclass, field
from typing import Awaitable, Callable
from urllib.parse import urljoin

import aiohttp
import yarl
from multidict import CIMultiDict, CIMultiDictProxy

from grassroots import __version__
from grassroots.fetch.guard import AddressPolicy, BlockedAddress, GuardedResolver, check_host
from grassroots.fetch.politeness import HostLimiter, retry_after_seconds
from grassroots.schema import Reason

BOT_TOKEN = "GrassrootsBot"
CONTACT_URL = "https://github.com/grassroots-data/grassroots#crawler"


@dataclass(frozen=True)
class FetchConfig:
    allow_loopback: bool = False
    timeout: float = 10.0  # seconds per request (one hop), connect + read
    connect_timeout: float = 5.0
    max_bytes: int = 20 * 1024 * 1024
    max_redirects: int = 5
    concurrency: int = 64  # open requests per process
    host_concurrency: int = 8  # open requests per host
    host_rps: float = 0.0  # request starts per second per host; 0 = no cap
    retries: int = 2  # extra tries on 429/503
    max_retry_after: float = 30.0  # a longer Retry-After fails the row instead of stalling the shard
    backoff: float = 0.5
    dns_cache_seconds: int = 300
    user_agent: str = f"{BOT_TOKEN}/{__version__} (+{CONTACT_URL})"


@dataclass
class FetchResult:
    url: str
    final_url: str | None = None
    status: int | None = None
    headers: CIMultiDictProxy | CIMultiDict = field(default_factory=CIMultiDict)
    body: bytes = b""
    error: Reason | None = None
    message: str | None = None
    seconds: float = 0.0
    redirects: int = 0
    stopped_by: object | None = None  # what before_redirect returned to stop the fetch

    @property
    def ok(self) -> bool:
        return self.error is None and self.stopped_by is None

    @property
    def content_type(self) -> str | None:
        v = self.headers.get("Content-Type")
        return v.split(";", 1)[0].strip().lower() if v else None


class _Fail(Exception):
    def __init__(self, reason: Reason, message: str, status: int | None = None):
        super().__init__(message)
        self.reason, self.message, self.status = reason, message, status


class Fetcher:
    """``async with Fetcher(cfg) as f: r = await f.fetch(url)``."""

    def __init__(self, config: FetchConfig = FetchConfig(), socket_factory: Callable | None = None):
        self.config = config
        self.policy = AddressPolicy(allow_loopback=config.allow_loopback)
        self._socket_factory = socket_factory
        self._session: aiohttp.ClientSession | None = None
        self._limiter = HostLimiter(config.host_concurrency, config.host_rps)
        self._resolver = GuardedResolver(self.policy)
        self._host_verdicts: dict[str, asyncio.Future] = {}

    async def __aenter__(self) -> "Fetcher":
        kw = {"socket_factory": self._socket_factory} if self._socket_factory else {}
        connector = aiohttp.TCPConnector(
            resolver=self._resolver,
            limit=self.config.concurrency,
            limit_per_host=self.config.host_concurrency,
            ttl_dns_cache=self.config.dns_cache_seconds,
            enable_cleanup_closed=True,
            **kw,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            headers={"User-Agent": self.config.user_agent, "Accept": "image/*,*/*;q=0.8"},
            auto_decompress=True,
            skip_auto_headers=("Accept-Encoding",),
        )
        return self

    async def __aexit__(self, *exc) -> None:
        if self._session is not None:
            await self._session.close()

    async def fetch(
        self,
        url: str,
        max_bytes: int | None = None,
        truncate: bool = False,
        before_redirect: Callable[[str], Awaitable[object | None]] | None = None,
    ) -> FetchResult:
        """Fetch ``url``; a body over ``max_bytes`` fails the fetch (too_large), or
        with ``truncate`` is cut at ``max_bytes`` (robots.txt and other host files).
        ``before_redirect(next_url)`` runs before each redirect is followed; if it
        returns something, the fetch stops there and ``stopped_by`` holds it."""
        started = time.monotonic()
        result = FetchResult(url=url)
        try:
            await self._fetch(url, result, max_bytes or self.config.max_bytes, truncate, before_redirect)
        except _Fail as f:
            # A network failure after a redirect has no status of its own.
            result.error, result.message, result.status = f.reason, f.message, f.status
        result.seconds = time.monotonic() - started
        return result

    async def precheck(self, url: str) -> tuple[Reason, str] | None:
        """Why ``url`` can never be fetched — invalid, or its host is (or resolves
        to) an address the guard refuses, or does not resolve — found without
        sending anything; None if it may be tried. Cached per host."""
        try:
            host = _validate(url).host
            check_host(host, self.policy)
        except _Fail as f:
            return f.reason, f.message
        except BlockedAddress as e:
            return Reason.BLOCKED_ADDRESS, f"refused before connecting: {e}"
        if host not in self._host_verdicts:
            self._host_verdicts[host] = asyncio.ensure_future(self._resolve_verdict(host))
        return await asyncio.shield(self._host_verdicts[host])

    async def _resolve_verdict(self, host: str) -> tuple[Reason, str] | None:
        try:
            await self._resolver.resolve(host, 80, socket.AF_UNSPEC)
        except BlockedAddress as e:
            return Reason.BLOCKED_ADDRESS, f"refused before connecting: {host}: {e}"
        except OSError as e:
            return Reason.DNS_ERROR, str(e)
        return None

    async def _fetch(self, url: str, result: FetchResult, max_bytes: int, truncate: bool, before_redirect) -> None:
        cfg = self.config
        current, seen, attempt = url, {url}, 0
        while True:
            # The host as aiohttp will see it (yarl applies IDNA/NFKC: "１２７.０.０.１"
            # is 127.0.0.1), checked before any connection, on every hop.
            target = _validate(current)
            try:
                check_host(target.host, self.policy)
            except BlockedAddress as e:
                raise _Fail(Reason.BLOCKED_ADDRESS, f"refused before connecting to {target.host}: {e}") from None
            async with self._limiter.slot(f"{target.host}:{target.port}"):
                hop = await self._one_request(target, max_bytes, truncate)
            status, headers, body = hop
            result.status, result.headers, result.final_url = status, headers, current
            if 300 <= status < 400 and "Location" in headers:
                nxt = urljoin(current, headers["Location"])
                if nxt in seen:
                    raise _Fail(Reason.REDIRECT_LOOP, f"redirect loop back to {nxt}", status)
                result.redirects += 1
                if result.redirects > cfg.max_redirects:
                    raise _Fail(Reason.TOO_MANY_REDIRECTS, f"more than {cfg.max_redirects} redirects", status)
                if before_redirect is not None:
                    stop = await before_redirect(nxt)
                    if stop is not None:
                        result.stopped_by, result.final_url = stop, nxt
                        return
                seen.add(nxt)
                current = nxt
                continue
            if status in (429, 503):
                wait = retry_after_seconds(headers.get("Retry-After"))
                if attempt < cfg.retries and (wait is None or wait <= cfg.max_retry_after):
                    await asyncio.sleep(wait if wait is not None else cfg.backoff * 2**attempt)
                    attempt += 1
                    continue
                reason = Reason.RATE_LIMITED if status == 429 or wait is not None else Reason.SERVER_ERROR
                raise _Fail(reason, f"HTTP {status} after {attempt + 1} tries", status)
            if status >= 500:
                raise _Fail(Reason.SERVER_ERROR, f"HTTP {status}", status)
            if status >= 400:
                raise _Fail(Reason.HTTP_ERROR, f"HTTP {status}", status)
            if status != 200 and not body:
                raise _Fail(Reason.HTTP_ERROR, f"HTTP {status} without a body", status)
            if not body and not truncate:
                raise _Fail(Reason.EMPTY_BODY, "the response body is empty", status)
            result.body = body
            return

    async def _one_request(self, url: yarl.URL, max_bytes: int, truncate: bool = False):
        cfg = self.config
        timeout = aiohttp.ClientTimeout(total=cfg.timeout, sock_connect=cfg.connect_timeout)
        try:
            async with self._session.get(url, allow_redirects=False, timeout=timeout) as resp:
                length = resp.content_length
                if 300 <= resp.status < 400 or resp.status >= 400:
                    return resp.status, resp.headers, b""
                if length is not None and length > max_bytes and not truncate:
                    raise _Fail(Reason.TOO_LARGE, f"Content-Length {length} over the {max_bytes}-byte cap", resp.status)
                chunks, size = [], 0
                async for chunk in resp.content.iter_chunked(1 << 16):
                    size += len(chunk)
                    if size > max_bytes:
                        if truncate:
                            chunks.append(chunk[: max_bytes - (size - len(chunk))])
                            break
                        raise _Fail(Reason.TOO_LARGE, f"body over the {max_bytes}-byte cap", resp.status)
                    chunks.append(chunk)
                return resp.status, resp.headers, b"".join(chunks)
        except _Fail:
            raise
        except BlockedAddress as e:
            raise _Fail(Reason.BLOCKED_ADDRESS, f"refused before connecting: {e}") from None
        except aiohttp.ConnectionTimeoutError:  # before asyncio.TimeoutError: it is one
            raise _Fail(Reason.TIMEOUT, f"could not connect within {cfg.connect_timeout:g} s") from None
        except asyncio.TimeoutError:
            raise _Fail(Reason.TIMEOUT, f"no complete answer within {cfg.timeout:g} s") from None
        except aiohttp.ClientConnectorDNSError as e:
            raise _Fail(Reason.DNS_ERROR, str(e)) from None
        except aiohttp.ClientConnectorError as e:
            raise _Fail(Reason.CONNECT_ERROR, str(e)) from None
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError, aiohttp.ClientOSError,
                ConnectionResetError) as e:
            raise _Fail(Reason.CONNECTION_RESET, f"{type(e).__name__}: {e}") from None
        except (aiohttp.InvalidURL, ValueError) as e:
            raise _Fail(Reason.INVALID_URL, f"{type(e).__name__}: {e}") from None
        except aiohttp.ClientResponseError as e:
            raise _Fail(Reason.HTTP_ERROR, f"bad response: {e.message}") from None
        except aiohttp.ClientError as e:
            raise _Fail(Reason.CONNECT_ERROR, f"{type(e).__name__}: {e}") from None


def _validate(url: str) -> yarl.URL:
    """The URL exactly as aiohttp will request it, or _Fail(INVALID_URL) for
    anything we will not fetch."""
    try:
        parsed = yarl.URL(url)
        host, scheme = parsed.host, parsed.scheme
        parsed.port  # noqa: B018 - raises on a bad port
    except (ValueError, TypeError, UnicodeError) as e:
        raise _Fail(Reason.INVALID_URL, f"unparseable URL: {e}") from None
    if scheme not in ("http", "https"):
        raise _Fail(Reason.INVALID_URL, f"scheme {scheme!r} is not http(s)")
    if not host:
        raise _Fail(Reason.INVALID_URL, "URL has no host")
    return parsed
