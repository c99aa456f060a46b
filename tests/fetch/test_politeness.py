"""Politeness against a real loopback server: identity, per-host caps, Retry-After,
bounded backoff, connection reuse, byte caps."""

from __future__ import annotations

import asyncio
import time

from aiohttp import web

from grassroots.fetch.client import FetchConfig, Fetcher
from grassroots.schema import Reason
from tests.conftest import loopback_only_socket
from tests.fetch.conftest import jpeg


def run(coro_fn, **cfg):
    async def go():
        async with Fetcher(FetchConfig(allow_loopback=True, **cfg), socket_factory=loopback_only_socket) as f:
            return await coro_fn(f)

    return asyncio.run(go())


def test_identifies_itself_and_reuses_connections(server):
    seen = {"ua": set(), "peers": set()}

    async def img(request):
        seen["ua"].add(request.headers["User-Agent"])
        seen["peers"].add(request.transport.get_extra_info("peername")[1])
        return web.Response(body=jpeg(), content_type="image/jpeg")

    server.routes["/a.jpg"] = img

    async def sequential(f):
        return [await f.fetch(server.url("/a.jpg")) for _ in range(10)]

    results = run(sequential)
    assert all(r.ok for r in results)
    (ua,) = seen["ua"]
    assert ua.startswith("GrassrootsBot/") and "(+http" in ua
    assert len(seen["peers"]) == 1  # one keep-alive connection for ten requests


def test_per_host_concurrency_cap(server):
    state = {"now": 0, "max": 0}

    async def slow(request):
        state["now"] += 1
        state["max"] = max(state["max"], state["now"])
        await asyncio.sleep(0.15)
        state["now"] -= 1
        return web.Response(body=jpeg(), content_type="image/jpeg")

    server.routes["/s.jpg"] = slow

    async def burst(f):
        return await asyncio.gather(*(f.fetch(server.url("/s.jpg") + f"?{i}") for i in range(8)))

    assert all(r.ok for r in run(burst, host_concurrency=2))
    assert state["max"] == 2


def test_per_host_requests_per_second_cap(server):
    starts = []

    async def img(request):
        starts.append(time.monotonic())
        return web.Response(body=jpeg(), content_type="image/jpeg")

    server.routes["/r.jpg"] = img

    async def burst(f):
        return await asyncio.gather(*(f.fetch(server.url("/r.jpg") + f"?{i}") for i in range(6)))

    assert all(r.ok for r in run(burst, host_rps=5))
    assert starts[-1] - starts[0] >= 0.95  # 6 starts at 5/s span at least 1 s


def test_retry_after_is_honoured_then_bounded(server):
    calls = {"flaky": [], "never": 0}

    async def flaky(request):
        calls["flaky"].append(time.monotonic())
        if len(calls["flaky"]) == 1:
            return web.Response(status=503, headers={"Retry-After": "1"})
        return web.Response(body=jpeg(), content_type="image/jpeg")

    async def never(request):
        calls["never"] += 1
        return web.Response(status=429, headers={"Retry-After": "0"})

    async def forever(request):
        return web.Response(status=429, headers={"Retry-After": "3600"})

    server.routes.update({"/flaky.jpg": flaky, "/never.jpg": never, "/forever.jpg": forever})

    async def go(f):
        return [await f.fetch(server.url(p)) for p in ("/flaky.jpg", "/never.jpg", "/forever.jpg")]

    t0 = time.monotonic()
    ok, never_ok, forever_ok = run(go, retries=2)
    assert ok.ok and calls["flaky"][1] - calls["flaky"][0] >= 0.95
    assert never_ok.error == Reason.RATE_LIMITED and calls["never"] == 3  # 1 try + 2 retries
    assert forever_ok.error == Reason.RATE_LIMITED  # a Retry-After over the cap fails at once
    assert time.monotonic() - t0 < 20  # no 3600 s wait


def test_byte_cap_and_truncation_for_host_files(server):
    async def big(request):
        return web.Response(body=b"x" * 100_000, content_type="text/plain")

    server.routes["/big.txt"] = big

    async def go(f):
        return await f.fetch(server.url("/big.txt"), max_bytes=1000), await f.fetch(
            server.url("/big.txt"), max_bytes=1000, truncate=True)

    capped, truncated = run(go)
    assert capped.error == Reason.TOO_LARGE and capped.body == b""
    assert truncated.ok and truncated.body == b"x" * 1000
