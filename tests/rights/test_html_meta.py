"""Page meta → page-signal strings → decision."""

from __future__ import annotations

from resiliparse.parse.html import HTMLTree

from grassroots.rights.config import RightsConfig
from grassroots.rights.html_meta import html_meta_signal, page_signals_from_html
from grassroots.rights.page_signals import make_page_signal, parse_page_signal
from grassroots.rights.signals import Outcome
from grassroots.schema import Reason

CFG = RightsConfig()

PAGE = """<!doctype html><html><head>
<meta charset="utf-8">
<META NAME="Robots" CONTENT="NoImageAI, max-image-preview:large">
<meta name="GPTBot" content="noai">
<meta name="otherbot" content="noai">
<meta name="tdm-reservation" content=" 1 ">
<meta name="tdm-policy" content="https://example.com/policy.json">
<meta property="og:title" content="x">
</head><body><p>text with &lt;meta name="robots" content="noai"&gt; in it</p></body></html>"""


def test_page_signals_from_html():
    signals = page_signals_from_html(PAGE)
    assert signals == [
        "html_meta:noimageai",
        "html_meta:max-image-preview:large",
        "html_meta@gptbot:noai",
        "tdmrep:1",
        "tdm-policy:https://example.com/policy.json",
    ]


def test_accepts_bytes_and_a_parsed_tree():
    assert page_signals_from_html(PAGE.encode()) == page_signals_from_html(HTMLTree.parse(PAGE))


def test_text_that_looks_like_meta_is_not_meta():
    assert page_signals_from_html("<p>&lt;meta name=robots content=noai&gt;</p><!-- <meta name=robots content=noai> -->") == []


def test_our_bot_named_meta():
    assert page_signals_from_html('<meta name="GrassrootsBot" content="noai">') == ["html_meta@grassrootsbot:noai"]


def test_format_round_trip():
    assert parse_page_signal("html_meta@gptbot:noai") == ("html_meta", "gptbot", "noai")
    assert parse_page_signal("html_meta:max-image-preview:large") == ("html_meta", None, "max-image-preview:large")
    assert parse_page_signal("tdm-policy:https://x/y") == ("tdm-policy", None, "https://x/y")
    assert make_page_signal("html_meta", "noai", "GPTBot") == "html_meta@gptbot:noai"


def test_decision_from_page_signals():
    s = html_meta_signal(["html_meta:noimageai"], CFG)
    assert s.refused and s.reason is Reason.HTML_META and s.detail == "noimageai"
    assert html_meta_signal(["html_meta@gptbot:noai"], CFG).refused
    assert not html_meta_signal(["html_meta@gptbot:noai"], RightsConfig(conservative_robots=False)).refused
    assert not html_meta_signal(["html_meta@otherbot:noai"], CFG).refused
    assert html_meta_signal(["html_meta:noindex"], CFG).refused
    assert not html_meta_signal(["html_meta:noindex"], RightsConfig(honour_noindex=False)).refused


def test_no_meta_is_unknown():
    assert html_meta_signal([], CFG).outcome is Outcome.UNKNOWN
    assert html_meta_signal(["tdmrep:1"], CFG).outcome is Outcome.UNKNOWN
    assert html_meta_signal(["html_meta:all"], CFG).outcome is Outcome.UNKNOWN
