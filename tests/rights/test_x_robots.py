"""X-Robots-Tag: per-item scoping, case, several lines, valued directives."""

from __future__ import annotations

from multidict import CIMultiDict

from grassroots.rights.config import RightsConfig
from grassroots.rights.signals import Outcome
from grassroots.rights.x_robots import header_values, parse_directives, x_robots_signal
from grassroots.schema import Reason

CFG = RightsConfig()


def decide(*lines: str, config: RightsConfig = CFG):
    return x_robots_signal(list(lines), config)


def test_scoping_is_per_item():
    assert parse_directives("noindex, otherbot: noai") == [(None, "noindex"), ("otherbot", "noai")]
    loose = RightsConfig(honour_noindex=False)
    assert not decide("noindex, otherbot: noai", config=loose).refused  # noai is otherbot's only
    s = decide("noindex, otherbot: noai")
    assert s.refused and s.detail == "noindex"


def test_scope_carries_to_following_items_on_the_line():
    assert parse_directives("otherbot: noindex, noai") == [("otherbot", "noindex"), ("otherbot", "noai")]
    assert not decide("otherbot: noindex, noai").refused


def test_our_scope_applies():
    s = decide("grassrootsbot: noai")
    assert s.refused and s.reason is Reason.X_ROBOTS_TAG and s.detail == "grassrootsbot: noai"
    assert decide("GrassrootsBot: NoImageAI").refused


def test_upper_case():
    assert decide("NOAI").refused
    assert decide("NoImageAI").refused


def test_two_header_lines_combine_but_scope_does_not_leak():
    assert decide("otherbot: nofollow", "noai").refused
    assert not decide("otherbot: nofollow", "nofollow").refused
    # the scope of line 1 does not carry into line 2
    assert decide("otherbot: all", "noimageai").refused


def test_valued_directives_are_not_bot_names():
    items = parse_directives("unavailable_after: 25 Jun 2010 15:00:00 PST, noai")
    assert items == [(None, "unavailable_after:25 jun 2010 15:00:00 pst"), (None, "noai")]
    assert decide("unavailable_after: 25 Jun 2010 15:00:00 PST, noai").refused
    assert decide("max-image-preview: large, noimageai").refused
    assert not decide("max-image-preview: large").refused


def test_date_with_a_comma_does_not_swallow_the_next_directive():
    # RFC 850 dates contain a comma: the tail "25-Jun-2010 15:00:00 PST" is junk, not a bot
    assert decide("unavailable_after: Friday, 25-Jun-2010 15:00:00 PST, noai").refused


def test_noindex_family_is_configurable():
    for d in ("noindex", "noimageindex", "none"):
        assert decide(d).refused
        assert not decide(d, config=RightsConfig(honour_noindex=False)).refused


def test_conservative_tokens_scoped_refusal():
    assert decide("GPTBot: noai").refused
    assert not decide("GPTBot: noai", config=RightsConfig(conservative_robots=False)).refused


def test_absent_or_permissive_is_unknown():
    assert decide().outcome is Outcome.UNKNOWN
    assert decide("all").outcome is Outcome.UNKNOWN


def test_header_values_from_multidict_dict_and_pairs():
    md = CIMultiDict([("X-Robots-Tag", "noindex"), ("x-robots-tag", "otherbot: noai")])
    assert header_values(md, "X-Robots-Tag") == ["noindex", "otherbot: noai"]
    assert header_values({"X-ROBOTS-TAG": "noai"}, "x-robots-tag") == ["noai"]
    assert header_values([("x-robots-tag", "a"), ("X-Robots-Tag", "b")], "X-Robots-Tag") == ["a", "b"]
