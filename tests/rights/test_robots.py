"""robots.txt: RFC 9309 semantics (incl. where protego deviates) and fetch rules."""

from __future__ import annotations

import asyncio

import pytest

from grassroots.rights.config import RightsConfig
from grassroots.rights.fetcher import FetchedText, HostFileCache
from tests.rights.net import GuardedTextFetcher
from grassroots.rights.robots import RobotsFile, robots_from_fetch, robots_signal
from grassroots.rights.signals import Outcome
from grassroots.schema import Reason
from tests.rights.helpers import FakeFetcher, Reply, serve

H = "https://example.com"
TOKENS = RightsConfig().tokens()


def can(text: str, path: str, token: str = "GrassrootsBot") -> bool:
    return RobotsFile.parse(text).can_fetch(H + path, token)


def test_gptbot_group_allow_inside_disallow():
    text = "User-agent: GPTBot\nDisallow: /art/\nAllow: /art/public/\n"
    assert can(text, "/art/public/a.jpg", "GPTBot")
    assert not can(text, "/art/private/a.jpg", "GPTBot")
    assert can(text, "/art/private/a.jpg", "GrassrootsBot")  # not our group, no *


def test_dollar_anchor_and_star():
    text = "User-agent: *\nDisallow: /*.png$\n"
    assert not can(text, "/x.png")
    assert not can(text, "/deep/dir/x.png")
    assert can(text, "/x.png?size=2")
    assert can(text, "/x.pngx")


def test_longest_match_wins_and_allow_wins_ties():
    assert can("User-agent: *\nDisallow: /\nAllow: /p\n", "/page")
    assert not can("User-agent: *\nAllow: /img/\nDisallow: /*.jpg\n", "/img/a.jpg")  # 6 > 5 octets
    assert can("User-agent: *\nDisallow: /page\nAllow: /page\n", "/page")  # tie → allow
    assert can("User-agent: *\nDisallow: /*.jpg\nAllow: /*.jpg\n", "/a.jpg")


def test_our_group_replaces_star_without_merging():
    text = "User-agent: *\nDisallow: /\n\nUser-agent: GrassrootsBot\nAllow: /\n"
    assert can(text, "/a.jpg")
    text = "User-agent: *\nDisallow: /a/\n\nUser-agent: GrassrootsBot\nDisallow: /b/\n"
    assert can(text, "/a/x.jpg")  # * rules do not apply to us any more
    assert not can(text, "/b/x.jpg")
    # an empty group of ours still replaces *
    assert can("User-agent: *\nDisallow: /\n\nUser-agent: GrassrootsBot\n", "/x")


def test_groups_naming_the_same_token_merge():
    text = "User-agent: grassrootsbot\nDisallow: /a/\n\nUser-agent: other\nDisallow: /\n\nUser-agent: GRASSROOTSBOT\nDisallow: /b/\n"
    assert not can(text, "/a/1") and not can(text, "/b/1") and can(text, "/c/1")


def test_multiple_user_agents_share_one_group():
    text = "User-agent: foo\nUser-agent: GrassrootsBot\nDisallow: /x/\n"
    assert not can(text, "/x/1")


def test_group_selection_is_exact_token_not_substring():
    # protego would pick "Grassroots" for GrassrootsBot (substring): we do not
    text = "User-agent: Grassroots\nDisallow: /\n"
    assert can(text, "/a.jpg")
    # protego would miss "GrassrootsBot/1.0": the product token is the leading word
    assert not can("User-agent: GrassrootsBot/1.0\nDisallow: /\n", "/a.jpg")
    assert not can("User-agent: grassrootsbot\nDisallow: /\n", "/a.jpg")  # case-insensitive


def test_no_matching_group_and_no_star_allows():
    assert can("User-agent: other\nDisallow: /\n", "/a.jpg")
    assert can("", "/a.jpg")
    assert can("Disallow: /\n", "/a.jpg")  # a rule before any user-agent line is ignored


def test_percent_encoding_normalised():
    assert not can("User-agent: *\nDisallow: /%7Euser/\n", "/~user/a.jpg")
    assert not can("User-agent: *\nDisallow: /~user/\n", "/%7euser/a.jpg")
    assert not can("User-agent: *\nDisallow: /café/\n", "/caf%C3%A9/a.jpg")
    assert not can("User-agent: *\nDisallow: /caf%C3%A9/\n", "/café/a.jpg")


def test_matching_is_case_sensitive():
    assert can("User-agent: *\nDisallow: /Private/\n", "/private/a.jpg")


def test_robots_txt_itself_always_allowed():
    assert can("User-agent: *\nDisallow: /\n", "/robots.txt")


def test_index_html_allow_does_not_open_the_directory():
    # protego would add "Allow: /dir/$" for "Allow: /dir/index.html"
    text = "User-agent: *\nDisallow: /dir/\nAllow: /dir/index.html\n"
    assert not can(text, "/dir/")
    assert can(text, "/dir/index.html")


def test_comments_bom_and_junk_lines():
    text = "\ufeff# hello\nUser-agent: * # all\nthis is junk\nDisallow: /x/ # no\n"
    assert not can(text, "/x/a") and can(text, "/y")


def test_conservative_mode_names_the_refusing_token():
    robots = RobotsFile.parse("User-agent: GPTBot\nDisallow: /\n")
    s = robots_signal(robots, H + "/a.jpg", TOKENS, "image")
    assert s.outcome is Outcome.REFUSED and s.reason is Reason.ROBOTS_TXT
    assert "GPTBot" in s.detail
    loose = RightsConfig(conservative_robots=False).tokens()
    assert robots_signal(robots, H + "/a.jpg", loose, "image").outcome is Outcome.ALLOWED


def test_img2dataset_matched_literally():
    robots = RobotsFile.parse("User-agent: img2dataset\nDisallow: /\n")
    s = robots_signal(robots, H + "/a.jpg", TOKENS, "image")
    assert s.refused and "img2dataset" in s.detail
    # "img" alone is another bot
    assert not robots_signal(RobotsFile.parse("User-agent: img\nDisallow: /\n"), H + "/a", TOKENS, "image").refused


@pytest.mark.parametrize(
    "fetched, kind",
    [
        (FetchedText(200, b"User-agent: *\nDisallow:\n"), "rules"),
        (FetchedText(404), "allow_all"),
        (FetchedText(403), "allow_all"),
        (FetchedText(410), "allow_all"),
        (FetchedText(429), "disallow_all"),
        (FetchedText(500), "disallow_all"),
        (FetchedText(503), "disallow_all"),
        (FetchedText(None, error="timeout"), "disallow_all"),
        (FetchedText(None, error="too_many_redirects"), "disallow_all"),
    ],
)
def test_status_rules(fetched, kind):
    assert robots_from_fetch(fetched).kind == kind


def test_404_signal_is_unknown_not_permission():
    s = robots_signal(robots_from_fetch(FetchedText(404)), H + "/a.jpg", TOKENS, "image")
    assert s.outcome is Outcome.UNKNOWN


async def _robots_via_server(routes, path="/a.jpg", timeout_s=2.0):
    async with serve(routes) as (base, hits):
        fetcher = GuardedTextFetcher(timeout_s=timeout_s)
        try:
            robots = robots_from_fetch(await fetcher(base + "/robots.txt"))
        finally:
            await fetcher.close()
        return robots_signal(robots, base + path, TOKENS, "image"), hits


def test_server_503_refuses_the_host():
    s, _ = asyncio.run(_robots_via_server({"/robots.txt": Reply(503, "busy")}))
    assert s.refused and "503" in s.detail


def test_server_404_allows_all():
    s, _ = asyncio.run(_robots_via_server({}))
    assert not s.refused and s.outcome is Outcome.UNKNOWN


def test_server_redirect_chain_followed():
    routes = {"/robots.txt": Reply(301, headers={"Location": "/r1"})}
    for i in range(1, 4):
        routes[f"/r{i}"] = Reply(302, headers={"Location": f"/r{i + 1}"})
    routes["/r4"] = Reply(200, "User-agent: *\nDisallow: /a.jpg\n")
    s, _ = asyncio.run(_robots_via_server(routes))
    assert s.refused and "/a.jpg" in s.detail  # 4 redirects: rules applied


def test_server_too_many_redirects_disallows():
    routes = {"/robots.txt": Reply(302, headers={"Location": "/r1"})}
    for i in range(1, 10):
        routes[f"/r{i}"] = Reply(302, headers={"Location": f"/r{i + 1}"})
    s, _ = asyncio.run(_robots_via_server(routes, path="/anything.jpg"))
    assert s.refused and "unreachable" in s.detail


def test_server_timeout_disallows():
    s, _ = asyncio.run(_robots_via_server({"/robots.txt": Reply(200, "", delay=1)}, timeout_s=0.2))
    assert s.refused and "timeout" in s.detail


def test_server_large_file_parsed_past_500_kib():
    filler = "".join(f"Disallow: /filler/{i:08d}/\n" for i in range(18_000))  # ~ 490 KiB
    text = "User-agent: *\n" + filler + "Disallow: /late/\n"
    assert 480 * 1024 < len(text) < 512 * 1024
    s, _ = asyncio.run(_robots_via_server({"/robots.txt": Reply(200, text)}, path="/late/a.jpg"))
    assert s.refused


def test_truncated_file_drops_the_partial_last_line():
    text = "User-agent: *\nDisallow: /ok/\n" + "#" * 600_000 + "\nDisallow: /"
    robots = robots_from_fetch(FetchedText(200, text.encode()[: 512 * 1024]))
    assert robots.can_fetch(H + "/a.jpg", "x") and not robots.can_fetch(H + "/ok/a", "x")


def test_cache_single_flight_and_ttl():
    now = [0.0]
    fake = FakeFetcher({H + "/robots.txt": "User-agent: *\nDisallow: /x/\n"}, delay=0.05)
    cache = HostFileCache(fake, "/robots.txt", robots_from_fetch, ttl_s=100, retry_s=10,
                          is_error=lambda r: r.is_error, clock=lambda: now[0])

    async def burst():
        return await asyncio.gather(*(cache.get(f"{H}/img/{i}.jpg") for i in range(50)))

    results = asyncio.run(burst())
    assert len(fake.calls) == 1 and all(r is results[0] for r in results)
    now[0] = 99
    asyncio.run(cache.get(H + "/a"))
    assert len(fake.calls) == 1
    now[0] = 101
    asyncio.run(cache.get(H + "/a"))
    assert len(fake.calls) == 2
    asyncio.run(cache.get("http://example.com/a"))  # another scheme: another origin
    asyncio.run(cache.get("https://example.com:8443/a"))
    assert len(fake.calls) == 4


def test_unreachable_robots_retried_after_retry_window():
    now = [0.0]
    fake = FakeFetcher({H + "/robots.txt": FetchedText(503)})
    cache = HostFileCache(fake, "/robots.txt", robots_from_fetch, ttl_s=1000, retry_s=10,
                          is_error=lambda r: r.is_error, clock=lambda: now[0])
    assert asyncio.run(cache.get(H + "/a")).kind == "disallow_all"
    now[0] = 5
    assert asyncio.run(cache.get(H + "/a")).kind == "disallow_all" and len(fake.calls) == 1
    fake.files[H + "/robots.txt"] = "User-agent: *\nAllow: /\n"
    now[0] = 11
    assert asyncio.run(cache.get(H + "/a")).kind == "rules" and len(fake.calls) == 2


def test_a_raising_fetcher_disallows():
    async def broken(url):
        raise RuntimeError("bug")

    cache = HostFileCache(broken, "/robots.txt", robots_from_fetch, 100, 10)
    assert asyncio.run(cache.get(H + "/a")).kind == "disallow_all"
