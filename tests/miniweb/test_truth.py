import collections

import pytest

from grassroots.miniweb.hostile import CASES
from grassroots.miniweb.truth import PRECEDENCE, ai_txt_refuses, directives_refuse, tdmrep_file_value
from grassroots.schema import Reason, Status

# host index, path -> expected reasons (hand-written from specs/rights.md, not computed)
EXPECTED = {
    (1, "/art/public/a.jpg"): [],
    (1, "/art/b.jpg"): ["robots_txt"],
    (1, "/misc/x.png"): ["robots_txt"],
    (1, "/misc/x.png?size=2"): [],
    (1, "/img/from-disallowed-page.jpg"): ["robots_txt"],
    (2, "/mine/x.jpg"): ["robots_txt"],
    (2, "/ours/y.jpg"): [],
    (3, "/img/p0-0.jpg"): ["robots_unreachable"],  # 503 robots.txt
    (4, "/tdm/img/a.jpg"): ["tdmrep"],
    (4, "/tdm/override/b.jpg"): [],
    (4, "/tdm-open/c.jpg"): [],
    (4, "/tdm-open/d.jpg"): ["tdmrep"],
    (4, "/tdm-open/e.png"): [],
    (4, "/tdm-string/f.jpg"): [],
    (4, "/tdm-open/g.jpg"): ["tdmrep"],
    (4, "/tdm-open/h.webp"): ["tdmrep"],
    (4, "/tdm/img2/i.jpg"): [],
    (5, "/ai/a.webp"): ["ai_txt"],
    (5, "/ai/b.WEBP"): ["ai_txt"],
    (5, "/private-ai/c.jpg"): ["ai_txt"],
    (5, "/ai/d.jpg"): [],
    (6, "/xrt/noai.jpg"): ["x_robots_tag"],
    (6, "/xrt/upper.jpg"): ["x_robots_tag"],
    (6, "/xrt/otherbot.jpg"): [],
    (6, "/xrt/noindex-otherbot.jpg"): ["x_robots_tag"],
    (6, "/xrt/two-lines.png"): ["x_robots_tag"],
    (6, "/xrt/unavailable.jpg"): [],
    (6, "/xrt/preview.webp"): [],
    (6, "/meta/a.jpg"): ["html_meta"],
    (6, "/meta/deviantart.jpg"): ["html_meta", "x_robots_tag"],
    (3, "/meta/blocked-host.jpg"): ["html_meta", "robots_unreachable"],
    (6, "/meta/b.jpg"): ["html_meta"],
    (6, "/meta/c.jpg"): [],
    (6, "/meta/d.png"): ["html_meta"],
    (6, "/meta/e.jpg"): [],
    (7, "/xmp/aiml.jpg"): ["iptc_xmp"],
    (7, "/xmp/prohibited.png"): ["iptc_xmp"],
    (7, "/xmp/genai.webp"): ["iptc_xmp"],
    (7, "/xmp/allowed.jpg"): [],
    (7, "/xmp/unspecified.png"): [],
    (7, "/xmp/other-prefix.jpg"): ["iptc_xmp"],
    (7, "/xmp/bare.png"): ["iptc_xmp"],
    (7, "/c2pa/not-allowed.jpg"): ["c2pa"],
    (7, "/c2pa/constrained.png"): ["c2pa"],
    (7, "/c2pa/allowed.webp"): [],
    (7, "/c2pa/both.jpg"): ["iptc_xmp", "c2pa"],
}


@pytest.fixture(scope="module")
def rows(web):
    return {r["url"]: r for r in web.truth()}


def test_rights_cases_match_hand_written_expectations(web, rows):
    for (host, path), reasons in EXPECTED.items():
        row = rows[web.base_urls[host] + path]
        assert row["reasons"] == reasons, (path, row)
        expected = "success" if not reasons else "failed" if reasons == ["robots_unreachable"] else "refused"
        assert row["expect"] == expected
        assert row["reason"] == (reasons[0] if reasons else None)


def test_every_rights_reason_and_hostile_case_covered(web, rows):
    seen = {r for row in rows.values() for r in row["reasons"]}
    assert seen == set(PRECEDENCE) - {"registry", "hash_blocklist"}  # those two need user files
    for case in CASES:
        row = rows[web.base_urls[0] + case.path]
        assert (row["expect"], row["reason"]) == (case.expect, case.reason), case.name
    assert {c.name for c in web.hostile_cases()} == {c.name for c in CASES}
    assert all(c.url.startswith(web.base_urls[0] + "/hostile/") for c in web.hostile_cases())


def test_values_are_schema_reasons_with_matching_status(rows):
    for row in rows.values():
        assert set(row) >= {"url", "page_url", "caption", "expect", "reason", "reasons"}
        assert row["caption"]
        if row["reason"] is None:
            assert row["expect"] == Status.SUCCESS.value
        else:
            assert Reason(row["reason"]).status.value == row["expect"]
        for r in row["reasons"]:
            Reason(r)
        assert row["reasons"] == sorted(row["reasons"], key=PRECEDENCE.index)


def test_hostile_and_rights_cases_are_a_minority(rows):
    counts = collections.Counter(r["expect"] for r in rows.values())
    assert counts["success"] > 0.6 * len(rows)


def test_truth_covers_every_image_on_every_page(web, rows):
    assert set(rows) == set(web.image_urls())
    assert {r["page_url"] for r in rows.values()} <= set(web.page_urls())


def test_rule_helpers():
    assert directives_refuse("noindex, otherbot: noai")
    assert not directives_refuse("otherbot: noai, noindex")  # scope runs to the end of the line
    assert not directives_refuse("unavailable_after: 25 Jun 2010 15:00:00 PST")
    assert directives_refuse("GRASSROOTSBOT: NOAI")
    rules = '[{"location":"/","tdm-reservation":1},{"location":"/img/*.jpg","tdm-reservation":0}]'
    assert tdmrep_file_value(rules, "/img/a.jpg") == 1
    assert tdmrep_file_value("{not json", "/a") is None
    assert tdmrep_file_value('[{"location":"/","tdm-reservation":true}]', "/a") is None
    assert ai_txt_refuses("User-agent: *\nDisallow: *.jpg\n", "/x/A.JPG")
    assert not ai_txt_refuses("User-agent: *\nDisallow: *.jpg\n", "/x/a.png")
