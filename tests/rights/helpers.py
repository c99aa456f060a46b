"""Test helpers for the rights package: a loopback aiohttp server and a fake fetcher."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from grassroots.rights.fetcher import FetchedText


@dataclass
class Reply:
    status: int = 200
    body: bytes | str = b""
    headers: dict[str, str] | None = None
    delay: float = 0.0


Route = Reply | Callable[[web.Request], web.StreamResponse]


@contextlib.asynccontextmanager
async def serve(routes: dict[str, Route]):
    """Serve ``routes`` (path → Reply or handler) on 127.0.0.1:<free port>; yields
    (base_url, hits) where hits counts requests per path. Unknown paths → 404."""
    hits: dict[str, int] = {}

    async def handle(request: web.Request) -> web.StreamResponse:
        path = request.path_qs if request.path_qs in routes else request.path
        hits[path] = hits.get(path, 0) + 1
        route = routes.get(path)
        if route is None:
            return web.Response(status=404, text="not found")
        if callable(route):
            return await route(request)
        if route.delay:
            await asyncio.sleep(route.delay)
        body = route.body.encode() if isinstance(route.body, str) else route.body
        return web.Response(status=route.status, body=body, headers=route.headers)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", hits
    finally:
        await runner.cleanup()


class FakeFetcher:
    """A TextFetcher over a dict url → FetchedText (missing → 404); counts calls."""

    def __init__(self, files: dict[str, FetchedText | str] | None = None, delay: float = 0.0):
        self.files = files or {}
        self.delay = delay
        self.calls: list[str] = []

    async def __call__(self, url: str) -> FetchedText:
        self.calls.append(url)
        if self.delay:
            await asyncio.sleep(self.delay)
        got = self.files.get(url)
        if got is None:
            return FetchedText(404, b"not found")
        if isinstance(got, str):
            return FetchedText(200, got.encode())
        return got
