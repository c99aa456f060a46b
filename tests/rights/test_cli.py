"""`grassroots rights check`: explains the decision against a loopback server."""

from __future__ import annotations

import asyncio
import io
import threading

import pytest
from PIL import Image
from typer.testing import CliRunner

from grassroots.rights.cli import _never_fetchable, app
from tests.rights.helpers import Reply, serve


def _jpeg() -> bytes:
    b = io.BytesIO()
    Image.new("RGB", (8, 8), "green").save(b, "JPEG")
    return b.getvalue()


JPEG = {"Content-Type": "image/jpeg"}
ROUTES = {
    "/robots.txt": Reply(200, "User-agent: *\nDisallow: /private/\n"),
    "/ok.jpg": Reply(200, _jpeg(), JPEG),
    "/private/a.jpg": Reply(200, _jpeg(), JPEG),
    "/noai.jpg": Reply(200, _jpeg(), {**JPEG, "X-Robots-Tag": "NOAI"}),
    "/noindex.jpg": Reply(200, _jpeg(), {**JPEG, "X-Robots-Tag": "noindex"}),
    "/page.html": Reply(200, '<html><head><meta name="robots" content="noimageai"></head></html>',
                        {"Content-Type": "text/html"}),
}


@pytest.fixture(scope="module")
def base():
    """The loopback server runs in its own thread and loop (the CLI runs asyncio.run)."""
    loop = asyncio.new_event_loop()
    ready, stop = threading.Event(), None
    box: dict = {}

    async def main():
        nonlocal stop
        stop = asyncio.Event()
        async with serve(ROUTES) as (url, _):
            box["url"] = url
            ready.set()
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(10)
    yield box["url"]
    loop.call_soon_threadsafe(stop.set)
    thread.join(10)


def invoke(*args: str):
    return CliRunner().invoke(app, ["check", *args], catch_exceptions=False)


def test_allowed_exit_0(base):
    r = invoke(f"{base}/ok.jpg", "--allow-loopback")
    assert r.exit_code == 0, r.output
    assert "robots_txt" in r.output and "ALLOWED" in r.output and "c2pa" in r.output


def test_robots_refusal_exit_1_without_fetching_the_image(base):
    r = invoke(f"{base}/private/a.jpg", "--allow-loopback")
    assert r.exit_code == 1 and "REFUSED" in r.output and "robots_txt" in r.output
    assert "not downloaded" in r.output


def test_x_robots_tag_refusal(base):
    r = invoke(f"{base}/noai.jpg", "--allow-loopback")
    assert r.exit_code == 1 and "x_robots_tag" in r.output


def test_no_honour_noindex(base):
    assert invoke(f"{base}/noindex.jpg", "--allow-loopback").exit_code == 1
    assert invoke(f"{base}/noindex.jpg", "--allow-loopback", "--no-honour-noindex").exit_code == 0


def test_page_meta_refusal(base):
    r = invoke(f"{base}/ok.jpg", "--page", f"{base}/page.html", "--allow-loopback")
    assert r.exit_code == 1 and "html_meta" in r.output and "html_meta:noimageai" in r.output


def test_registry_option(base, tmp_path):
    path = tmp_path / "optout.txt"
    path.write_text("127.0.0.1\n")
    r = invoke(f"{base}/ok.jpg", "--allow-loopback", "--registry", str(path))
    assert r.exit_code == 1 and "registry" in r.output


def test_loopback_refused_without_flag(base):
    r = invoke(f"{base}/ok.jpg")
    assert r.exit_code == 2


def test_never_fetchable_uses_the_downloaders_guard():
    assert _never_fetchable("http://127.0.0.1:8080/a", allow_loopback=False)
    assert _never_fetchable("http://[::1]/a", allow_loopback=False)
    assert _never_fetchable("http://0x7f000001/a", allow_loopback=False)
    assert _never_fetchable("http://10.1.2.3/a", allow_loopback=True)
    assert _never_fetchable("http://169.254.169.254/latest/meta-data/", allow_loopback=True)
    assert _never_fetchable("http://127.0.0.1:8080/a", allow_loopback=True) is None
