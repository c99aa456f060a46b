"""explain(): both rights phases for one URL, as a crawl would run them (the
library behind ``grassroots rights check``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from grassroots.rights.config import RightsConfig
from grassroots.rights.decide import RightsChecker, Verdict
from grassroots.rights.fetcher import TextFetcher
from grassroots.rights.html_meta import page_signals_from_html


@dataclass
class FetchedImage:
    status: int | None
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    content_type: str | None = None
    error: str | None = None


ImageFetcher = Callable[[str], Awaitable[FetchedImage]]


def guarded_image_fetcher(fetcher) -> ImageFetcher:
    """An ImageFetcher over grassroots.fetch.client.Fetcher."""

    async def fetch(url: str) -> FetchedImage:
        res = await fetcher.fetch(url)
        if not res.ok:
            return FetchedImage(res.status, error=f"{res.error.value}: {res.message}")
        return FetchedImage(res.status, list(res.headers.items()), res.body, res.content_type)

    return fetch


@dataclass
class Explanation:
    verdict: Verdict
    page_signals: list[str]
    notes: list[str]


async def explain(
    url: str,
    page: str | None,
    config: RightsConfig,
    text_fetcher: TextFetcher,
    image_fetcher: ImageFetcher,
) -> Explanation:
    """Run both phases as the downloader would; fetch the image only if pre_fetch allows."""
    fetcher = text_fetcher
    notes: list[str] = []
    page_signals: list[str] = []
    if page:
        fetched = await fetcher(page)
        if fetched.status is not None and 200 <= fetched.status < 300:
            page_signals = page_signals_from_html(fetched.body)
        else:
            notes.append(f"page not fetched ({fetched.status or fetched.error}): no page signals")
    checker = RightsChecker(config, fetcher)
    verdict = await checker.pre_fetch(url, page, page_signals)
    if verdict.final_before_fetch:
        notes.append("refused before the fetch: the image was not downloaded")
    else:
        image = await image_fetcher(url)
        if image.status is None or not 200 <= image.status < 300:
            notes.append(f"image not fetched ({image.status or image.error}): after-fetch checks skipped")
        else:
            verdict = checker.post_fetch(verdict, image.headers, image.body, image.content_type)
    return Explanation(verdict, page_signals, notes)
