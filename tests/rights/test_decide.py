"""The combined decision: pre_fetch + post_fetch, precedence, ledger strings, caching."""

from __future__ import annotations

import asyncio
import json

import pytest
from multidict import CIMultiDict

from grassroots.rights import RightsChecker, RightsConfig, Signal, Verdict
from grassroots.rights.blocklist import Blocklist, url_hash
from grassroots.rights.fetcher import FetchedText
from grassroots.rights.signals import Outcome
from grassroots.schema import Reason
from tests.rights.helpers import FakeFetcher

IMG = "https://cdn.example/img/a.jpg"
PAGE = "https://blog.example/post/1"


def run(coro):
    return asyncio.run(coro)


def by_protocol(verdict: Verdict, protocol: str) -> list[Signal]:
    return [s for s in verdict.signals if s.protocol == protocol]


def test_nothing_anywhere_is_not_refused_and_not_permission():
    fake = FakeFetcher()
    checker = RightsChecker(fetcher=fake)
    v = run(checker.pre_fetch(IMG, PAGE, []))
    assert not v.refused and v.reason is None
    assert all(s.outcome is Outcome.UNKNOWN for s in v.signals)  # 404s are not permission
    assert {s.protocol for s in v.signals} == {"robots_txt", "ai_txt", "tdmrep", "html_meta"}
    assert len(by_protocol(v, "robots_txt")) == 2  # image host and page host
    v = checker.post_fetch(v, {}, b"bytes", "image/jpeg")
    assert not v.refused
    assert all(s.outcome is Outcome.UNKNOWN for s in v.signals)
    assert {s.protocol for s in v.signals} >= {"x_robots_tag", "iptc_xmp", "c2pa"}
    for text in v.rights():
        protocol, outcome, _ = text.split(":", 2)
        assert outcome in ("refused", "allowed", "unknown") and protocol in {r.value for r in Reason}


def test_page_host_robots_refuses_images_from_that_page():
    fake = FakeFetcher({"https://blog.example/robots.txt": "User-agent: *\nDisallow: /post/\n"})
    v = run(RightsChecker(fetcher=fake).pre_fetch(IMG, PAGE))
    assert v.refused and v.reason is Reason.ROBOTS_TXT
    assert [s.detail.split(":")[0] for s in v.refusals] == ["page"]


def test_image_host_robots_conservative_token():
    fake = FakeFetcher({"https://cdn.example/robots.txt": "User-agent: ClaudeBot\nDisallow: /img/\n"})
    v = run(RightsChecker(fetcher=fake).pre_fetch(IMG))
    assert v.refused and "ClaudeBot" in v.refusals[0].detail
    loose = RightsChecker(RightsConfig(conservative_robots=False), fetcher=FakeFetcher(fake.files))
    assert not run(loose.pre_fetch(IMG)).refused


def test_registry_refuses_before_any_fetch(tmp_path):
    path = tmp_path / "optout.txt"
    path.write_text("blog.example\n")
    fake = FakeFetcher()
    checker = RightsChecker(RightsConfig(registry_paths=(str(path),)), fetcher=fake)
    v = run(checker.pre_fetch(IMG, PAGE))
    assert v.refused and v.reason is Reason.REGISTRY and "page: domain blog.example" in v.refusals[0].detail
    assert fake.calls == []
    assert by_protocol(run(checker.pre_fetch("https://other.example/a.jpg")), "registry")[0].outcome is Outcome.UNKNOWN


def test_url_blocklist_refuses_before_any_fetch():
    bl = Blocklist()
    bl.add("url_sha256", url_hash(IMG))
    fake = FakeFetcher()
    v = run(RightsChecker(fetcher=fake, blocklist=bl).pre_fetch(IMG))
    assert v.refused and v.reason is Reason.HASH_BLOCKLIST and fake.calls == []


def test_page_signals_html_meta_and_tdm_meta():
    checker = RightsChecker(fetcher=FakeFetcher())
    v = run(checker.pre_fetch(IMG, PAGE, ["html_meta:noimageai"]))
    assert v.refused and v.reason is Reason.HTML_META
    v = run(checker.pre_fetch(IMG, PAGE, ["tdmrep:1", "tdm-policy:https://blog.example/policy"]))
    assert v.reason is Reason.TDMREP and "policy=https://blog.example/policy" in by_protocol(v, "tdmrep")[0].to_str()


def test_tdmrep_file_one_then_image_header_zero_allows():
    rules = [{"location": "/", "tdm-reservation": 1}, {"location": "/img/*.jpg", "tdm-reservation": 0}]
    fake = FakeFetcher({"https://cdn.example/.well-known/tdmrep.json": json.dumps(rules)})
    checker = RightsChecker(fetcher=fake)
    v = run(checker.pre_fetch(IMG))
    assert v.refused and v.reason is Reason.TDMREP  # first match: "/" → 1
    v = checker.post_fetch(v, {"tdm-reservation": "0"}, b"x", "image/jpeg")
    assert not v.refused
    [tdm] = by_protocol(v, "tdmrep")  # re-decided, not appended
    assert tdm.outcome is Outcome.ALLOWED and "overrides tdmrep.json" in tdm.detail
    # page meta outranks the header
    v = run(checker.pre_fetch(IMG, PAGE, ["tdmrep:1"]))
    assert checker.post_fetch(v, {"tdm-reservation": "0"}, b"x").refused


def test_post_fetch_x_robots_and_precedence():
    fake = FakeFetcher({"https://cdn.example/ai.txt": "User-agent: *\nDisallow: *.jpg\n"})
    checker = RightsChecker(fetcher=fake)
    v = run(checker.pre_fetch(IMG))
    assert v.reason is Reason.AI_TXT
    headers = CIMultiDict([("X-Robots-Tag", "otherbot: noindex"), ("X-Robots-Tag", "NOAI")])
    v = checker.post_fetch(v, headers, b"x", "image/jpeg")
    assert {s.reason for s in v.refusals} == {Reason.AI_TXT, Reason.X_ROBOTS_TAG}
    assert v.reason is Reason.AI_TXT  # documented precedence; all refusals recorded


def test_post_fetch_blocklist_with_pdq():
    bl = Blocklist()
    bl.add("pdq", "a" * 64)
    checker = RightsChecker(fetcher=FakeFetcher(), blocklist=bl)
    v = run(checker.pre_fetch(IMG))
    assert not checker.post_fetch(v, {}, b"x", pdq="a" * 64, pdq_quality=10).refused
    v2 = checker.post_fetch(v, {}, b"x", pdq="a" * 64, pdq_quality=90)
    assert v2.refused and v2.reason is Reason.HASH_BLOCKLIST


def test_blocklist_outranks_other_refusals():
    bl = Blocklist()
    bl.add("md5", "9dd4e461268c8034f5c8564e155c67a6")  # md5(b"x")
    checker = RightsChecker(fetcher=FakeFetcher(), blocklist=bl)
    v = checker.post_fetch(run(checker.pre_fetch(IMG)), {"X-Robots-Tag": "noai"}, b"x")
    assert v.reason is Reason.HASH_BLOCKLIST and len(v.refusals) == 2


def test_unreachable_robots_refuses_and_host_files_fetched_once_under_load():
    fake = FakeFetcher({"https://cdn.example/robots.txt": FetchedText(503)}, delay=0.02)
    checker = RightsChecker(fetcher=fake)

    async def many():
        return await asyncio.gather(*(checker.pre_fetch(f"https://cdn.example/img/{i}.jpg", PAGE) for i in range(40)))

    verdicts = run(many())
    # Disallow all (RFC 9309), reported as robots_unreachable: not a creator's opt-out.
    assert all(v.refused and v.reason is Reason.ROBOTS_UNREACHABLE for v in verdicts)
    assert sorted(fake.calls) == sorted({c for c in fake.calls})  # no URL fetched twice
    assert len(fake.calls) == 6  # robots, ai.txt, tdmrep.json × 2 hosts


def test_signal_string_round_trip():
    s = Signal(Reason.TDMREP, Outcome.REFUSED, "html meta=1 policy=https://x/y:z")
    assert s.to_str() == "tdmrep:refused:html meta=1 policy=https://x/y:z"
    assert Signal.from_str(s.to_str()) == s and s.reason is Reason.TDMREP
    # Only a refusal carries a reason; the protocol is always a rights Reason.
    assert Signal(Reason.ROBOTS_TXT, Outcome.UNKNOWN, "x").reason is None
    with pytest.raises(ValueError):
        Signal.from_str("not_a_protocol:refused:x")


def test_config_manifest_and_limits():
    manifest = RightsConfig(registry_paths=("a.txt",)).to_manifest()
    json.dumps(manifest)
    assert manifest["tokens_checked"][0] == "GrassrootsBot" and "img2dataset" in manifest["tokens_checked"]
    assert manifest["honour_noindex"] is True and manifest["registry_paths"] == ["a.txt"]
    with pytest.raises(ValueError):
        RightsConfig(host_file_ttl_s=2 * 24 * 3600)
    with pytest.raises(ValueError):
        RightsConfig(host_file_max_bytes=100 * 1024)


def test_invalid_url_raises():
    with pytest.raises(ValueError):
        run(RightsChecker(fetcher=FakeFetcher()).pre_fetch("ftp://x/a.jpg"))


def test_bad_page_url_is_noted_and_skipped():
    fake = FakeFetcher()
    v = run(RightsChecker(fetcher=fake).pre_fetch(IMG, "about:blank"))
    assert not v.refused and any("page: not an http(s) URL" in s.detail for s in v.signals)
    assert all("about:" not in c for c in fake.calls)
