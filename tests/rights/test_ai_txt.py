"""ai.txt: robots-like, patterns without a leading slash, longest match, extension case."""

from __future__ import annotations

from grassroots.rights.ai_txt import AiTxt, ai_txt_from_fetch, ai_txt_signal
from grassroots.rights.config import RightsConfig
from grassroots.rights.fetcher import FetchedText
from grassroots.rights.signals import Outcome
from grassroots.schema import Reason

H = "https://example.com"
TOKENS = RightsConfig().tokens()

SPAWNING = """# Spawning AI
# Prevent datasets from using the following file types

User-Agent: *
Disallow: *.jpg
Disallow: *.jpeg
Disallow: *.png
Allow: *.txt
Allow: /open/
<html>junk</html>
"""


def decide(text: str, path: str):
    return ai_txt_signal(ai_txt_from_fetch(FetchedText(200, text.encode())), H + path, TOKENS, "image")


def test_extension_patterns_without_leading_slash():
    s = decide(SPAWNING, "/images/cat.jpg")
    assert s.refused and s.reason is Reason.AI_TXT and "*.jpg" in s.detail
    assert decide(SPAWNING, "/notes.txt").outcome is Outcome.ALLOWED
    assert decide(SPAWNING, "/images/cat.gif").outcome is Outcome.ALLOWED


def test_extension_patterns_case_insensitive():
    assert decide(SPAWNING, "/images/CAT.JPG").refused
    assert decide(SPAWNING, "/images/cat.Png").refused


def test_other_patterns_case_sensitive():
    text = "User-agent: *\nDisallow: /Private/\n"
    assert decide(text, "/Private/a.gif").refused
    assert not decide(text, "/private/a.gif").refused


def test_longest_match_wins():
    # "/open/" and "/*.jpg" are both 6 octets: the tie goes to allow
    assert decide(SPAWNING, "/open/a.jpg").outcome is Outcome.ALLOWED
    text = "User-agent: *\nAllow: /a/\nDisallow: /a/*.jpg\n"
    assert decide(text, "/a/x.jpg").refused
    assert not decide(text, "/a/x.gif").refused


def test_disallow_all_and_specific_group():
    assert decide("User-agent: *\nDisallow: /\n", "/x.gif").refused
    text = "User-agent: *\nDisallow: /\n\nUser-agent: GrassrootsBot\nAllow: /\n"
    ai = ai_txt_from_fetch(FetchedText(200, text.encode()))
    ours_only = RightsConfig(conservative_robots=False).tokens()
    assert ai_txt_signal(ai, H + "/x.gif", ours_only, "image").outcome is Outcome.ALLOWED
    # conservative: CCBot (first AI token) still falls under "*", which disallows
    assert "CCBot" in decide(text, "/x.gif").detail
    assert decide("User-agent: GPTBot\nDisallow: *.jpg\n", "/x.jpg").refused  # conservative


def test_missing_file_is_unknown():
    for fetched in (FetchedText(404), FetchedText(500), FetchedText(None, error="timeout")):
        ai = ai_txt_from_fetch(fetched)
        assert ai_txt_signal(ai, H + "/a.jpg", TOKENS, "image").outcome is Outcome.UNKNOWN
    assert ai_txt_from_fetch(FetchedText(500)).transient and not ai_txt_from_fetch(FetchedText(404)).transient


def test_html_soft_404_has_no_rules():
    ai = ai_txt_from_fetch(FetchedText(200, b"<html><body>Not found</body></html>"))
    assert isinstance(ai, AiTxt) and not ai_txt_signal(ai, H + "/a.jpg", TOKENS, "image").refused
