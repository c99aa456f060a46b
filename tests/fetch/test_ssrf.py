"""SSRF: refusal happens before any connection, for every spelling and after redirects.

The Fetcher gets a socket factory that raises on a non-loopback address, and the
whole test session refuses non-loopback connect(): a bug fails the test instead
of sending traffic."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web

from grassroots.fetch.client import FetchConfig, Fetcher
from grassroots.schema import Reason
from tests.conftest import loopback_only_socket
from tests.fetch.conftest import jpeg
from tests.fetch.test_guard import LOOPBACK_SPELLINGS, UNICODE_LOOPBACK


def fetch_all(urls, **cfg):
    async def go():
        async with Fetcher(FetchConfig(timeout=5, **cfg), socket_factory=loopback_only_socket) as f:
            return await asyncio.gather(*(f.fetch(u) for u in urls))

    return asyncio.run(go())


def _spelled(server, host):
    h = host if host.startswith("[") or ":" not in host else f"[{host}]"
    return f"http://{h}:{server.port}/img.jpg"


def test_loopback_spellings_refused_without_flag_and_server_sees_nothing(server):
    async def img(request):
        return web.Response(body=jpeg(), content_type="image/jpeg")

    server.routes["/img.jpg"] = img
    urls = [_spelled(server, h) for h in LOOPBACK_SPELLINGS + UNICODE_LOOPBACK]
    urls.append(f"http://localhost:{server.port}/img.jpg")
    results = fetch_all(urls)
    assert [r.error for r in results] == [Reason.BLOCKED_ADDRESS] * len(urls), [(r.url, r.message) for r in results]
    assert server.hits == []


def test_allow_loopback_admits_loopback(server):
    async def img(request):
        return web.Response(body=jpeg(), content_type="image/jpeg")

    server.routes["/img.jpg"] = img
    urls = [_spelled(server, h) for h in ("127.0.0.1", "0x7f000001", "2130706433", "127.1")]
    results = fetch_all(urls, allow_loopback=True)
    assert results[0].ok and results[1].ok, [r.message for r in results]
    # yarl rejects other non-canonical IPv4 spellings outright: never connected.
    assert [r.error for r in results[2:]] == [Reason.INVALID_URL] * 2
    assert len(server.hits) == 2


@pytest.mark.parametrize("target", [
    "http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/x.jpg", "http://[::ffff:169.254.169.254]/",
    "http://0xa9fea9fe/", "http://192.168.0.1:8080/a.jpg", "http://[fd00:ec2::254]/",
    "http://１６９.２５４.１６９.２５４/latest/", "http://１０.０.０.１/x.jpg",
])
def test_redirect_to_private_or_metadata_refused_before_connecting(server, target):
    async def redirect(request):
        return web.Response(status=302, headers={"Location": target})

    server.routes["/r.jpg"] = redirect
    (res,) = fetch_all([server.url("/r.jpg")], allow_loopback=True)
    assert res.error == Reason.BLOCKED_ADDRESS, res.message
    assert server.hits == ["/r.jpg"]


def test_names_resolving_to_private_addresses_refused():
    from grassroots.fetch.guard import AddressPolicy, BlockedAddress, GuardedResolver

    async def fake_dns(host, port, family):
        return [(2, "10.1.2.3")]

    async def go():
        return await GuardedResolver(AddressPolicy(allow_loopback=True), resolve=fake_dns).resolve("intranet.example", 80)

    with pytest.raises(BlockedAddress, match="private"):
        asyncio.run(go())


def test_bad_urls_are_failed_rows_not_exceptions():
    results = fetch_all(["ftp://127.0.0.1/x.jpg", "not a url", "http:///nohost", "http://127.0.0.1:99999/x", ""],
                        allow_loopback=True)
    assert [r.error for r in results] == [Reason.INVALID_URL] * 5
