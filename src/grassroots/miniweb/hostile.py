"""Hostile behaviours, each at its own image-looking URL under /hostile/ on host 0.

Expected outcomes assume a correct client with the default caps below
(DEFAULT_CAPS): loopback allowed for the mini-web, every other private, link-local
or metadata address refused, 10 s per request, 5 redirects, 20 MB, Retry-After
honoured, at least one retry on 429/503. ``cases()`` lists them for the
downloader's tests; ``/hostile/index.html`` and ``/hostile/captions.html`` put them
on pages so an extract -> download run meets them too.

| path under /hostile/          | behaviour                                        | expect
| timeout/x.jpg                 | accepts, never answers (until shutdown)          | failed timeout
| slow-drip/x.jpg               | real JPEG, Content-Length set, 1 byte per second | failed timeout
| status/500/x.jpg              | 500                                              | failed server_error
| status/404/x.jpg, 403         | 404 / 403                                        | failed http_error
| status/429/x.jpg              | 429 Retry-After: 1, forever                      | failed rate_limited
| status/503/x.jpg              | 503 Retry-After: 1, forever                      | failed rate_limited
| retry-after/<n>/x.jpg         | 503 Retry-After: 1 for the first n requests      | success
| retry-429/<n>/x.jpg           | 429 Retry-After: 1 for the first n requests      | success
| redirect/<n>/x.jpg            | n chained 302s, then the image (3 ok, 12 not)    | success / too_many_redirects
| loop/a.jpg                    | a -> b -> a ...                                  | failed redirect_loop
| to-metadata/x.jpg             | 302 to http://169.254.169.254/latest/meta-data/  | failed blocked_address
| to-private/x.jpg              | 302 to http://10.0.0.1/x.jpg                     | failed blocked_address
| to-mapped/x.jpg               | 302 to http://[::ffff:169.254.169.254]/          | failed blocked_address
| content-type/text-plain.jpg   | real JPEG served as text/plain                   | success (sniff bytes)
| content-type/none.jpg         | real JPEG with no Content-Type header            | success (sniff bytes)
| html-as-image/x.jpg           | HTML, text/html                                  | failed not_an_image
| html-as-image/lying.jpg       | HTML, image/jpeg                                 | failed not_an_image
| truncated/x.jpg               | first half of a JPEG                             | failed decode_error
| corrupt/x.jpg                 | JPEG with a bogus Huffman table                  | failed decode_error
| empty/x.jpg                   | 200, zero bytes                                  | failed empty_body
| too-large/declared.jpg        | 60 MB stream, Content-Length declared            | failed too_large
| too-large/chunked.jpg         | 60 MB stream, chunked (no length)                | failed too_large
| bomb/x.png, bomb/x.jpg        | small file whose header says 30000x30000         | failed decompression_bomb
| reset/x.jpg                   | headers + half the body, then TCP RST            | failed connection_reset
| long/aaa...a.jpg              | 4000+ character URL, a normal image              | success
| caption/<i>.jpg               | normal images whose alt text is broken           | success, caption cleaned

Nothing here ever connects anywhere: redirects to private addresses are only emitted.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import zlib
from dataclasses import dataclass
from typing import Callable

from grassroots.fetch.client import FetchConfig

_FETCH = FetchConfig()  # the downloader's defaults: the expectations below assume them
DEFAULT_CAPS = {"timeout_s": _FETCH.timeout, "max_redirects": _FETCH.max_redirects,
                "max_bytes": _FETCH.max_bytes, "retry_after_s": 1}
TOO_LARGE_BYTES = 60 * 2**20
BOMB_SIDE = 30000
LONG_PATH = "/hostile/long/" + "a" * 4000 + ".jpg"
PRIVATE_TARGETS = {
    "to-metadata": "http://169.254.169.254/latest/meta-data/",
    "to-private": "http://10.0.0.1/x.jpg",
    "to-mapped": "http://[::ffff:169.254.169.254]/",
}


@dataclass(frozen=True)
class HostileCase:
    name: str
    path: str
    expect: str  # success | failed
    reason: str | None  # grassroots.schema.Reason value; None for success
    max_seconds: float  # what a correct client with DEFAULT_CAPS may need
    note: str = ""
    url: str = ""  # filled in by MiniWeb.hostile_cases()


_T = DEFAULT_CAPS["timeout_s"] + 2

CASES: tuple[HostileCase, ...] = (
    HostileCase("timeout", "/hostile/timeout/x.jpg", "failed", "timeout", _T, "never answers"),
    HostileCase("slow_drip", "/hostile/slow-drip/x.jpg", "failed", "timeout", _T, "1 byte/s"),
    HostileCase("server_error", "/hostile/status/500/x.jpg", "failed", "server_error", 5),
    HostileCase("not_found", "/hostile/status/404/x.jpg", "failed", "http_error", 2),
    HostileCase("forbidden", "/hostile/status/403/x.jpg", "failed", "http_error", 2),
    HostileCase("rate_limited", "/hostile/status/429/x.jpg", "failed", "rate_limited", 8, "Retry-After: 1"),
    HostileCase("unavailable", "/hostile/status/503/x.jpg", "failed", "rate_limited", 8, "Retry-After: 1"),
    HostileCase("retry_after_recovers", "/hostile/retry-after/1/x.jpg", "success", None, 5, "503 once"),
    HostileCase("retry_429_recovers", "/hostile/retry-429/1/x.jpg", "success", None, 5, "429 once"),
    HostileCase("redirect_chain_ok", "/hostile/redirect/3/x.jpg", "success", None, 3, "3 hops"),
    HostileCase("redirect_chain_long", "/hostile/redirect/12/x.jpg", "failed", "too_many_redirects", 3),
    HostileCase("redirect_loop", "/hostile/loop/a.jpg", "failed", "redirect_loop", 3),
    *(
        HostileCase(n.replace("-", "_"), f"/hostile/{n}/x.jpg", "failed", "blocked_address", 2, t)
        for n, t in PRIVATE_TARGETS.items()
    ),
    HostileCase("content_type_text", "/hostile/content-type/text-plain.jpg", "success", None, 2),
    HostileCase("content_type_none", "/hostile/content-type/none.jpg", "success", None, 2),
    HostileCase("html_as_image", "/hostile/html-as-image/x.jpg", "failed", "not_an_image", 2),
    HostileCase("html_lying_type", "/hostile/html-as-image/lying.jpg", "failed", "not_an_image", 2),
    HostileCase("truncated_jpeg", "/hostile/truncated/x.jpg", "failed", "decode_error", 2),
    HostileCase("corrupt_jpeg", "/hostile/corrupt/x.jpg", "failed", "decode_error", 2),
    HostileCase("empty_body", "/hostile/empty/x.jpg", "failed", "empty_body", 2),
    HostileCase("too_large_declared", "/hostile/too-large/declared.jpg", "failed", "too_large", 5),
    HostileCase("too_large_chunked", "/hostile/too-large/chunked.jpg", "failed", "too_large", 5),
    HostileCase("bomb_png", "/hostile/bomb/x.png", "failed", "decompression_bomb", 2),
    HostileCase("bomb_jpeg", "/hostile/bomb/x.jpg", "failed", "decompression_bomb", 2),
    HostileCase("connection_reset", "/hostile/reset/x.jpg", "failed", "connection_reset", 5),
    HostileCase("long_url", LONG_PATH, "success", None, 2, "4000+ characters"),
)


def _controls(c: str) -> str:
    w = c.split(" ")
    return w[0] + "\x00 " + " ".join(w[1:2]) + "\x07 " + " ".join(w[2:]) + "\x1f"


GARBLES: tuple[tuple[str, Callable[[str], str]], ...] = (
    ("caption_controls", _controls),  # NUL, BEL, US between words
    ("caption_bad_utf8", lambda c: c + " \udcff\udcfe"),  # bytes FF FE (invalid UTF-8) at the end
    ("caption_whitespace", lambda c: "\t" + c.replace(" ", " \n  ") + " \x1b\r\n"),  # layout + ESC
)


def pages():
    """(page path, title, [(image path, case name, garble or None)]) for host 0."""
    yield "/hostile/index.html", "Hostile cases", [(c.path, c.name, None) for c in CASES]
    yield "/hostile/captions.html", "Broken captions", [
        (f"/hostile/caption/{i}.jpg", name, fn) for i, (name, fn) in enumerate(GARBLES)
    ]


# ------------------------------------------------------------------ crafted bytes
def bomb_png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", BOMB_SIDE, BOMB_SIDE, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * (BOMB_SIDE * 3 + 1) * 4)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def bomb_jpeg(jpeg: bytes) -> bytes:
    """A real JPEG whose SOF header claims BOMB_SIDE x BOMB_SIDE pixels."""
    i = jpeg.find(b"\xff\xc0")
    if i < 0:
        raise ValueError("no baseline SOF0 marker")
    return jpeg[: i + 5] + struct.pack(">HH", BOMB_SIDE, BOMB_SIDE) + jpeg[i + 9 :]


def corrupt_jpeg(jpeg: bytes) -> bytes:
    """Bogus Huffman code counts: Pillow opens it, then fails to decode."""
    i = jpeg.find(b"\xff\xc4")
    return jpeg[: i + 5] + b"\xff" * 16 + jpeg[i + 21 :]


HTML_BODY = b"<!doctype html><html><head><title>Not an image</title></head><body>hello</body></html>"


# ------------------------------------------------------------------ serving
async def handle(request, site, state):
    """Answer a /hostile/... request on host 0. ``state`` has .stopping, .attempts."""
    from aiohttp import web

    path = request.path_qs
    parts = request.path.split("/")[2:]  # after /hostile/
    kind = parts[0] if parts else ""

    def redirect(location: str) -> web.Response:  # verbatim Location (no URL normalising)
        return web.Response(status=302, headers={"Location": location})

    def image(p: str = path) -> web.Response:
        return web.Response(body=site.image_bytes(0, p), content_type="image/jpeg")

    if kind == "timeout":
        await state.stopping.wait()
        return web.Response(status=503)
    if kind == "slow-drip":
        return await _drip(request, site.image_bytes(0, path), state)
    if kind == "status" and len(parts) > 1 and parts[1].isdigit():
        code = int(parts[1])
        headers = {"Retry-After": "1"} if code in (429, 503) else {}
        return web.Response(status=code, text=f"{code}\n", headers=headers)
    if kind in ("retry-after", "retry-429") and len(parts) > 1 and parts[1].isdigit():
        key = (0, path)
        state.attempts[key] = state.attempts.get(key, 0) + 1
        if state.attempts[key] <= int(parts[1]):
            code = 503 if kind == "retry-after" else 429
            return web.Response(status=code, text="try later\n", headers={"Retry-After": "1"})
        return image()
    if kind == "redirect" and len(parts) > 1 and parts[1].isdigit():
        n = int(parts[1])
        if n == 0:
            return image()
        return redirect(f"/hostile/redirect/{n - 1}/" + "/".join(parts[2:]))
    if kind == "loop":
        return redirect("/hostile/loop/b.jpg" if request.path.endswith("a.jpg") else "/hostile/loop/a.jpg")
    if kind in PRIVATE_TARGETS:
        return redirect(PRIVATE_TARGETS[kind])
    if kind == "content-type":
        data = site.image_bytes(0, path)
        if parts[-1].startswith("none"):
            return await _raw(request, data, [], reset=False)
        return web.Response(body=data, headers={"Content-Type": "text/plain"})
    if kind == "html-as-image":
        ctype = "image/jpeg" if "lying" in request.path else "text/html"
        return web.Response(body=HTML_BODY, headers={"Content-Type": ctype})
    if kind == "truncated":
        data = site.image_bytes(0, path)
        return web.Response(body=data[: len(data) // 2], content_type="image/jpeg")
    if kind == "corrupt":
        return web.Response(body=corrupt_jpeg(site.image_bytes(0, path)), content_type="image/jpeg")
    if kind == "empty":
        return web.Response(body=b"", content_type="image/jpeg")
    if kind == "too-large":
        return await _flood(request, declared="declared" in request.path)
    if kind == "bomb":
        if request.path.endswith(".png"):
            return web.Response(body=bomb_png(), content_type="image/png")
        return web.Response(body=bomb_jpeg(site.image_bytes(0, path)), content_type="image/jpeg")
    if kind == "reset":
        return await _raw(request, site.image_bytes(0, path), [("Content-Type", "image/jpeg")], reset=True)
    if kind in ("long", "caption"):
        return image()
    raise web.HTTPNotFound()


async def _drip(request, data: bytes, state):
    from aiohttp import web

    resp = web.StreamResponse(headers={"Content-Type": "image/jpeg"})
    resp.content_length = len(data)
    await resp.prepare(request)
    try:
        for i in range(len(data)):
            await resp.write(data[i : i + 1])
            try:
                await asyncio.wait_for(state.stopping.wait(), 1.0)
                break  # shutting down
            except asyncio.TimeoutError:
                pass
    except (ConnectionError, RuntimeError):
        pass
    return resp


async def _flood(request, declared: bool):
    from aiohttp import web

    resp = web.StreamResponse(headers={"Content-Type": "image/jpeg"})
    if declared:
        resp.content_length = TOO_LARGE_BYTES
    else:
        resp.enable_chunked_encoding()
    await resp.prepare(request)
    block = b"\xff\xd8\xff\xe0" + bytes(2**16 - 4)  # JPEG-looking start, zeros after
    try:
        await resp.write(block)
        zeros = bytes(2**16)
        for _ in range(TOO_LARGE_BYTES // 2**16 - 1):
            await resp.write(zeros)
    except (ConnectionError, RuntimeError):
        pass
    return resp


async def _raw(request, body: bytes, headers: list[tuple[str, str]], reset: bool):
    """Write an HTTP response by hand (no Content-Type unless given); RST if ``reset``."""
    from aiohttp import web

    lines = ["HTTP/1.1 200 OK", f"Content-Length: {len(body)}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers]
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    transport = request.transport
    if transport is None:
        raise web.HTTPServiceUnavailable()
    if reset:
        transport.write(head + body[: len(body) // 2])
        await asyncio.sleep(0.05)  # let the partial body reach the client
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    else:
        transport.write(head + body)
        transport.close()
    raise asyncio.CancelledError  # the connection is finished; aiohttp must not answer again
