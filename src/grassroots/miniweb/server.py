"""The mini-web server: many virtual hosts on loopback, one port, one background thread.

Hosts are told apart by the local address a connection arrived on, not the Host
header: ``127.0.0.1`` is the control host (``/`` lists the hosts, ``/_truth.json`` is
the ground truth); content host ``i`` is ``127.0.0.(i + 2)`` (so at most 253 hosts).
All listen on the same port (``port=0`` picks a free one). Linux routes all of
127.0.0.0/8 to the loopback interface, so no setup is needed.

    with MiniWeb(seed=0, hosts=8) as web:
        web.base_urls, web.page_urls(), web.image_urls(), web.truth()
        web.hostile_cases(), web.requests_seen   # Counter: full URL -> requests
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import threading
from pathlib import Path

from . import hostile, pages, truth
from .site import Site
from .spec import Spec, load_spec

CONTROL_ADDRESS = "127.0.0.1"
MAX_HOSTS = 253
PIXEL_GIF = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
_quiet = logging.getLogger("grassroots.miniweb.server")
_quiet.setLevel(logging.CRITICAL)  # hostile endpoints abort connections on purpose


def host_address(i: int) -> str:
    """Loopback address of content host ``i``."""
    if not 0 <= i < MAX_HOSTS:
        raise ValueError(f"host index must be in [0, {MAX_HOSTS}), got {i}")
    return f"127.0.0.{i + 2}"


@dataclasses.dataclass
class _State:
    stopping: asyncio.Event
    attempts: dict


class MiniWeb:
    """A running mini-web. Use as a context manager, or call start() / stop()."""

    def __init__(
        self,
        seed: int = 0,
        hosts: int = 8,
        port: int = 0,
        spec: Spec | str | Path | None = None,
        hostile: bool = True,
        images_dir: str | Path | None = None,
        captions_csv: str | Path | None = None,
    ):
        if not 1 <= hosts <= MAX_HOSTS:
            raise ValueError(f"hosts must be in [1, {MAX_HOSTS}]")
        self.seed, self.n_hosts, self._port_req = seed, hosts, port
        self.spec = spec if isinstance(spec, Spec) else load_spec(spec)
        self._site_kw = dict(hostile_pages=hostile, images_dir=images_dir, captions_csv=captions_csv)
        self.port = 0
        self.site: Site | None = None
        self.requests_seen: collections.Counter[str] = collections.Counter()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._truth: list[dict] | None = None
        self._state: _State | None = None

    # ---------------------------------------------------------------- public API
    @property
    def base_urls(self) -> list[str]:
        return [f"http://{host_address(i)}:{self.port}" for i in range(self.n_hosts)]

    @property
    def control_url(self) -> str:
        return f"http://{CONTROL_ADDRESS}:{self.port}"

    def page_urls(self) -> list[str]:
        return self._site().page_urls()

    def image_urls(self) -> list[str]:
        return self._site().image_urls()

    def truth(self) -> list[dict]:
        if self._truth is None:
            self._truth = truth.truth_rows(self._site())
        return [dict(r) for r in self._truth]

    def hostile_cases(self) -> list[hostile.HostileCase]:
        return [dataclasses.replace(c, url=self.base_urls[0] + c.path) for c in hostile.CASES]

    def reset(self) -> None:
        """Forget requests seen and retry counters (retry-after cases answer 503 again)."""
        self.requests_seen.clear()
        if self._state is not None:
            self._state.attempts.clear()

    def __enter__(self) -> MiniWeb:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> MiniWeb:
        ready = threading.Event()
        self._error: BaseException | None = None
        self._state = None
        self._thread = threading.Thread(target=self._serve, args=(ready,), name="miniweb", daemon=True)
        self._thread.start()
        ready.wait()
        if self._error is not None:
            self._thread.join()
            raise self._error
        return self

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        self._loop.call_soon_threadsafe(self._begin_stop)
        self._thread.join(timeout=15)
        self._loop = self._thread = None

    # ---------------------------------------------------------------- thread
    def _site(self) -> Site:
        if self.site is None:
            raise RuntimeError("MiniWeb is not started")
        return self.site

    def _serve(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            runner = loop.run_until_complete(self._startup())
        except BaseException as e:  # reported to start()
            self._error = e
            ready.set()
            loop.close()
            return
        self._loop = loop
        ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(runner.cleanup())
            loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()

    def _begin_stop(self) -> None:
        self._state.stopping.set()
        asyncio.get_running_loop().call_later(0.05, asyncio.get_running_loop().stop)

    async def _startup(self):
        from aiohttp import web

        self._state = _State(asyncio.Event(), {})
        counter = self._count

        @web.middleware
        async def count(request, handler):
            return await counter(request, handler)

        app = web.Application(middlewares=[count])
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        for attempt in range(5):
            runner = web.AppRunner(app, access_log=None, logger=_quiet, shutdown_timeout=0.5)
            await runner.setup()
            try:
                await web.TCPSite(runner, CONTROL_ADDRESS, self._port_req).start()
                port = runner.addresses[0][1]
                for i in range(self.n_hosts):
                    await web.TCPSite(runner, host_address(i), port).start()
                break
            except OSError:
                await runner.cleanup()
                if self._port_req or attempt == 4:
                    raise
        self.port = port
        self.site = Site(self.base_urls, self.seed, self.spec, **self._site_kw)
        return runner

    # ---------------------------------------------------------------- handlers
    async def _count(self, request, handler):
        ip = request.transport.get_extra_info("sockname")[0] if request.transport else "?"
        self.requests_seen[f"http://{ip}:{self.port}{request.path_qs}"] += 1
        return await handler(request)

    async def _dispatch(self, request):
        from aiohttp import web

        ip = request.transport.get_extra_info("sockname")[0]
        site = self._site()
        path = request.path
        if ip == CONTROL_ADDRESS:
            if path == "/_truth.json":
                rows = await asyncio.get_running_loop().run_in_executor(None, self.truth)
                return web.json_response(rows)
            if path == "/":
                return web.json_response({"seed": self.seed, "base_urls": self.base_urls, "truth": "/_truth.json"})
            raise web.HTTPNotFound()
        host = int(ip.rsplit(".", 1)[1]) - 2
        hs = site.host_spec(host)
        if path == "/robots.txt":
            if hs.robots_status != 200:
                return web.Response(status=hs.robots_status, text=f"{hs.robots_status}\n")
            text = hs.robots_txt if hs.robots_txt is not None else site.spec.plain_robots_txt
            return web.Response(text=text, content_type="text/plain")
        if path == "/ai.txt" and hs.ai_txt is not None:
            return web.Response(text=hs.ai_txt, content_type="text/plain")
        if path == "/.well-known/tdmrep.json" and hs.tdmrep_json is not None:
            return web.Response(text=hs.tdmrep_json, content_type="application/json")
        if path == "/":
            return _html(pages.render_index(site, host))
        page = site.pages.get((host, path))
        if page is not None:
            return _html(pages.render_page(site, page))
        if path.startswith("/heavy/") and path.endswith(".html") and path[7:-5].isdigit():
            k = int(path[7:-5])
            if pages.heavy_host(site, k) == host:
                return _html(await _in_thread(pages.render_heavy, site, k))
        if path.startswith("/hostile/") and host == 0:
            return await hostile.handle(request, site, self._state)
        if path == "/pixel.gif":
            return web.Response(body=PIXEL_GIF, content_type="image/gif")
        key = (host, request.path_qs)
        if key in site.images or path.startswith(("/img/", "/heavy-img/", "/static/")):
            data = await _in_thread(site.image_bytes, *key)
            return web.Response(body=data, headers=site.image_headers(*key))
        raise web.HTTPNotFound()


async def _in_thread(fn, *args):
    return await asyncio.get_running_loop().run_in_executor(None, fn, *args)


def _html(body: bytes):
    from aiohttp import web

    return web.Response(body=body, headers={"Content-Type": "text/html; charset=utf-8"})
