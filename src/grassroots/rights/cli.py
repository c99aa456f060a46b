"""``grassroots rights check URL``: what a crawl would decide for one URL, and why.

The default fetchers are plain aiohttp. ``--allow-loopback`` only guards literal
hosts (localhost, private/loopback/link-local IPs); the downloader's SSRF-guarded
client (which also checks resolved addresses and redirects) replaces them when
the lead wires it in: pass ``text_fetcher`` / ``image_fetcher`` to `explain`.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from grassroots.rights.config import RightsConfig
from grassroots.rights.decide import RightsChecker, Verdict
from grassroots.rights.fetcher import AiohttpTextFetcher, TextFetcher
from grassroots.rights.html_meta import page_signals_from_html
from grassroots.rights.signals import Outcome
from grassroots.rights.urls import host_of

app = typer.Typer(help="Explain the rights decision for one URL.", no_args_is_help=True)


@dataclass
class FetchedImage:
    status: int | None
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    content_type: str | None = None
    error: str | None = None


ImageFetcher = Callable[[str], Awaitable[FetchedImage]]


async def aiohttp_image_fetcher(url: str, max_bytes: int = 50 * 1024 * 1024) -> FetchedImage:
    import aiohttp

    timeout = aiohttp.ClientTimeout(total=30)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session:
            async with session.get(url, max_redirects=5) as resp:
                body = await resp.content.read(max_bytes)
                return FetchedImage(resp.status, list(resp.headers.items()), body, resp.content_type)
    except (aiohttp.ClientError, OSError, TimeoutError, asyncio.TimeoutError) as e:
        return FetchedImage(None, error=type(e).__name__)


def is_local_literal(url: str) -> bool:
    host = host_of(url).strip("[]")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return not ipaddress.ip_address(host).is_global
    except ValueError:
        return False


@dataclass
class Explanation:
    verdict: Verdict
    page_signals: list[str]
    notes: list[str]


async def explain(
    url: str,
    page: str | None,
    config: RightsConfig,
    text_fetcher: TextFetcher | None = None,
    image_fetcher: ImageFetcher = aiohttp_image_fetcher,
) -> Explanation:
    """Run both phases as the downloader would; fetch the image only if pre_fetch allows."""
    own = text_fetcher is None
    fetcher = text_fetcher or AiohttpTextFetcher(max_bytes=config.host_file_max_bytes)
    notes: list[str] = []
    try:
        page_signals: list[str] = []
        if page:
            fetched = await fetcher(page)
            if fetched.status is not None and 200 <= fetched.status < 300:
                page_signals = page_signals_from_html(fetched.body)
            else:
                notes.append(f"page not fetched ({fetched.status or fetched.error}): no page signals")
        checker = RightsChecker(config, fetcher)
        verdict = await checker.pre_fetch(url, page, page_signals)
        if verdict.refused:
            notes.append("refused before the fetch: the image was not downloaded")
        else:
            image = await image_fetcher(url)
            if image.status is None or not 200 <= image.status < 300:
                notes.append(f"image not fetched ({image.status or image.error}): after-fetch checks skipped")
            else:
                verdict = checker.post_fetch(verdict, image.headers, image.body, image.content_type)
        return Explanation(verdict, page_signals, notes)
    finally:
        if own:
            await fetcher.close()  # type: ignore[attr-defined]


_STYLE = {Outcome.REFUSED: "bold red", Outcome.ALLOWED: "green", Outcome.UNKNOWN: "dim"}


@app.callback()
def _group() -> None:
    """Rights checks (robots.txt, ai.txt, TDMRep, X-Robots-Tag, meta, XMP, C2PA, lists)."""


@app.command()
def check(
    url: str = typer.Argument(..., help="image URL"),
    page: str | None = typer.Option(None, "--page", help="URL of the page the image was found on"),
    conservative_robots: bool = typer.Option(True, "--conservative-robots/--no-conservative-robots"),
    honour_noindex: bool = typer.Option(True, "--honour-noindex/--no-honour-noindex"),
    registry: list[Path] = typer.Option([], "--registry", help="opt-out registry file (repeatable)"),
    blocklist: list[Path] = typer.Option([], "--blocklist", help="hash blocklist file (repeatable)"),
    allow_loopback: bool = typer.Option(False, "--allow-loopback", help="allow localhost/private hosts"),
) -> None:
    """Explain, protocol by protocol, what a crawl would decide for URL. Exit 0 allowed, 1 refused."""
    for target in filter(None, (url, page)):
        if is_local_literal(target) and not allow_loopback:
            typer.echo(f"refusing to fetch non-public host in {target} (use --allow-loopback)", err=True)
            raise typer.Exit(2)
    config = RightsConfig(
        conservative_robots=conservative_robots,
        honour_noindex=honour_noindex,
        registry_paths=tuple(str(p) for p in registry),
        blocklist_paths=tuple(str(p) for p in blocklist),
    )
    try:
        result = asyncio.run(explain(url, page, config))
    except ValueError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from e
    console = Console()
    table = Table("protocol", "outcome", "detail", title=f"rights check: {url}")
    for s in result.verdict.signals:
        table.add_row(s.protocol, f"[{_STYLE[s.outcome]}]{s.outcome.value}[/]", s.detail)
    console.print(table)
    if result.page_signals:
        console.print("page signals: " + ", ".join(result.page_signals))
    for note in result.notes:
        console.print(f"note: {note}")
    verdict = result.verdict
    if verdict.refused:
        console.print(f"[bold red]REFUSED[/] ({verdict.reason.value})")
        raise typer.Exit(1)
    console.print("[green]ALLOWED[/] (no refusal; unknown is not permission)")
