"""TDMRep: tdmrep.json first match, channel precedence, unset is not allowed."""

from __future__ import annotations

import asyncio
import json

import pytest

from grassroots.rights.fetcher import FetchedText
from tests.rights.net import GuardedTextFetcher
from grassroots.rights.signals import Outcome
from grassroots.rights.tdmrep import (
    TdmChannels,
    TdmValue,
    combine_files,
    from_headers,
    from_page_signals,
    parse_tdmrep_json,
    tdmrep_from_fetch,
)
from grassroots.schema import Reason
from tests.rights.helpers import Reply, serve

H = "https://example.com"


def lookup(rules, path: str) -> TdmValue:
    return parse_tdmrep_json(json.dumps(rules).encode()).lookup(H + path)


def test_first_match_wins_not_longest():
    rules = [{"location": "/", "tdm-reservation": 1}, {"location": "/img/*.jpg", "tdm-reservation": 0}]
    assert lookup(rules, "/img/a.jpg").reservation == 1
    assert lookup(list(reversed(rules)), "/img/a.jpg").reservation == 0


def test_patterns_star_dollar_case_sensitive():
    rules = [{"location": "/*.png$", "tdm-reservation": 1}, {"location": "/Photos/", "tdm-reservation": 1}]
    assert lookup(rules, "/a/b.png").reservation == 1
    assert lookup(rules, "/a/b.png?x=1").reservation is None
    assert lookup(rules, "/photos/a.jpg").reservation is None
    assert lookup(rules, "/Photos/a.jpg").reservation == 1


def test_policy_recorded_and_detail():
    rules = [{"location": "/", "tdm-reservation": 1, "tdm-policy": "https://example.com/policy.json"}]
    s = TdmChannels(file=lookup(rules, "/a.jpg")).signal()
    assert s.refused and s.reason is Reason.TDMREP
    assert "policy=https://example.com/policy.json" in s.to_str()


@pytest.mark.parametrize(
    "body",
    [b"{not json", b'{"location": "/", "tdm-reservation": 1}', b"[]",
     b'[{"location": "/", "tdm-reservation": "1"}]', b'[{"location": "/", "tdm-reservation": true}]',
     b'[{"location": "/", "tdm-reservation": 2}]', b'[{"tdm-reservation": 1}]', b"\xff\xfe"],
)
def test_malformed_is_unset_not_allowed(body):
    value = parse_tdmrep_json(body).lookup(H + "/a.jpg")
    assert value.reservation is None
    assert TdmChannels(file=value).signal().outcome is Outcome.UNKNOWN


def test_malformed_entry_skipped_but_later_valid_entry_counts():
    rules = [{"location": "/", "tdm-reservation": "1"}, {"location": "/", "tdm-reservation": 1}]
    assert lookup(rules, "/a").reservation == 1


def test_404_and_errors_unset():
    assert tdmrep_from_fetch(FetchedText(404)).lookup(H + "/a").reservation is None
    assert tdmrep_from_fetch(FetchedText(None, error="timeout")).transient


def test_header_zero_overrides_file_one():
    ch = TdmChannels(file=lookup([{"location": "/", "tdm-reservation": 1}], "/a.jpg"))
    ch = ch.with_header(from_headers({"TDM-Reservation": "0"}))
    s = ch.signal()
    assert s.outcome is Outcome.ALLOWED and "overrides" in s.detail


def test_meta_overrides_header_and_absence_never_resets():
    file1 = lookup([{"location": "/", "tdm-reservation": 1}], "/a.jpg")
    assert TdmChannels(file=file1, header=from_headers({})).signal().refused  # absent header
    assert TdmChannels(file=file1, header=from_headers({"tdm-reservation": "maybe"})).signal().refused
    meta0 = from_page_signals(["tdmrep:0"])
    header1 = from_headers({"tdm-reservation": "1"})
    assert TdmChannels(header=header1, meta=meta0).signal().outcome is Outcome.ALLOWED
    meta1 = from_page_signals(["tdmrep:1", "tdm-policy:https://p/x"])
    s = TdmChannels(header=from_headers({"tdm-reservation": "0"}), meta=meta1).signal()
    assert s.refused and "policy=https://p/x" in s.detail


def test_policy_ignored_when_not_reserved():
    s = TdmChannels(header=from_headers({"tdm-reservation": "0", "tdm-policy": "https://p"})).signal()
    assert s.outcome is Outcome.ALLOWED and "policy" not in s.detail


def test_all_unset_is_unknown():
    assert TdmChannels().signal().outcome is Outcome.UNKNOWN


def test_image_and_page_files_combine_conservatively():
    one, zero, unset = TdmValue(1, source="a"), TdmValue(0, source="b"), TdmValue(source="c")
    assert combine_files([zero, one]).reservation == 1
    assert combine_files([unset, zero]).reservation == 0
    assert combine_files([unset, unset]).reservation is None


def test_fetched_from_server():
    rules = [{"location": "/private/", "tdm-reservation": 1, "tdm-policy": "https://x/p"}]

    async def go():
        async with serve({"/.well-known/tdmrep.json": Reply(200, json.dumps(rules))}) as (base, _):
            fetcher = GuardedTextFetcher(timeout_s=2)
            try:
                return base, tdmrep_from_fetch(await fetcher(base + "/.well-known/tdmrep.json"))
            finally:
                await fetcher.close()

    base, file = asyncio.run(go())
    assert file.lookup(base + "/private/a.jpg").reservation == 1
    assert file.lookup(base + "/public/a.jpg").reservation is None
