"""A small real HTTP server on 127.0.0.1 (aiohttp, in a thread) that counts requests."""

from __future__ import annotations

import asyncio
import io
import threading

import pytest
from aiohttp import web
from PIL import Image


def jpeg(w=64, h=48, color=(200, 30, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), color).save(buf, "JPEG")
    return buf.getvalue()


class Server:
    def __init__(self):
        self.hits: list[str] = []
        self.port = 0
        self.routes: dict[str, callable] = {}

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.hits.append(request.path_qs)
        fn = self.routes.get(request.path)
        if fn is None:
            return web.Response(status=404, text="nope")
        return await fn(request)


@pytest.fixture
def server():
    srv = Server()
    ready = threading.Event()
    loop = asyncio.new_event_loop()
    state = {}

    async def start():
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", srv.handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        srv.port = site._server.sockets[0].getsockname()[1]
        state["runner"] = runner
        ready.set()

    def run():
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        loop.run_forever()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    assert ready.wait(10)
    yield srv
    async def stop():
        for task in asyncio.all_tasks():  # handlers still sleeping (slow routes)
            if task is not asyncio.current_task():
                task.cancel()
        await state["runner"].cleanup()

    try:
        asyncio.run_coroutine_threadsafe(stop(), loop).result(5)
    except Exception:  # noqa: BLE001 - teardown must not hang a test
        pass
    loop.call_soon_threadsafe(loop.stop)
    t.join(10)
