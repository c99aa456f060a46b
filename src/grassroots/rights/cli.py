"""``grassroots rights check URL``: what a crawl would decide for one URL, and why.

Fetches go through the downloader's Fetcher: same SSRF guard (resolved
addresses and every redirect checked), caps and User-Agent as a real crawl.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from grassroots.rights.config import RightsConfig
from grassroots.rights.signals import Outcome

app = typer.Typer(help="Explain the rights decision for one URL.", no_args_is_help=True, rich_markup_mode=None)


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
    allow_loopback: bool = typer.Option(False, "--allow-loopback", help="admit 127.0.0.0/8 and ::1 (local servers); private and metadata addresses stay refused"),
) -> None:
    """Explain, protocol by protocol, what a crawl would decide for URL. Exit 0 allowed, 1 refused."""
    from grassroots.fetch.client import FetchConfig, Fetcher
    from grassroots.rights.explain import Explanation, explain, guarded_image_fetcher
    from grassroots.rights.gate import HostFileFetcher

    for target in filter(None, (url, page)):
        problem = _never_fetchable(target, allow_loopback)
        if problem:
            typer.echo(f"refusing {target}: {problem}", err=True)
            raise typer.Exit(2)
    config = RightsConfig(
        conservative_robots=conservative_robots,
        honour_noindex=honour_noindex,
        registry_paths=tuple(str(p) for p in registry),
        blocklist_paths=tuple(str(p) for p in blocklist),
    )
    async def run() -> Explanation:
        async with Fetcher(FetchConfig(allow_loopback=allow_loopback)) as f:
            return await explain(url, page, config, HostFileFetcher(f, config.host_file_max_bytes),
                                 guarded_image_fetcher(f))

    try:
        result = asyncio.run(run())
    except ValueError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from e
    console = Console()
    table = Table("protocol", "outcome", "detail", title=f"rights check: {url}")
    for s in result.verdict.signals:
        table.add_row(s.protocol.value, f"[{_STYLE[s.outcome]}]{s.outcome.value}[/]", s.detail)
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


def _never_fetchable(url: str, allow_loopback: bool) -> str | None:
    from grassroots.fetch.client import FetchConfig, Fetcher

    async def go():
        async with Fetcher(FetchConfig(allow_loopback=allow_loopback)) as f:
            return await f.precheck(url)

    found = asyncio.run(go())
    return found[1] if found else None
