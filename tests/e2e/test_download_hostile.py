"""Every hostile behaviour of the mini-web ends as one ledger row with the right
reason, within a bounded time, and the run completes; SSRF refusals send nothing."""

from __future__ import annotations

import json
import time


from grassroots.fetch.client import FetchConfig
from grassroots.inputs import UrlListSpec
from tests.steps import download
from grassroots.runner import LocalRunner
from grassroots.stages.download import Download, DownloadConfig
from grassroots.ledger import read_samples
from tests.conftest import assert_accounted, loopback_only_socket


def rows_of(ds):
    return {r["url"]: r for r in read_samples(str(ds))}


def run(tmp_path, urls, allow_loopback=True, name="ds"):
    src = tmp_path / f"{name}.jsonl"
    src.write_text("".join(json.dumps({"url": u, "caption": "hostile case"}) + "\n" for u in urls))
    ds = tmp_path / name
    stage = Download(config=DownloadConfig(fetch=FetchConfig(allow_loopback=allow_loopback)),
                     socket_factory=loopback_only_socket)
    t0 = time.monotonic()
    totals, _ = download(UrlListSpec(str(src)), str(ds), stage, LocalRunner(), progress=False)
    return ds, totals, time.monotonic() - t0


def test_every_hostile_case_is_one_row_with_the_documented_outcome(tmp_path, web):
    web.reset()
    cases = web.hostile_cases()
    ds, totals, wall = run(tmp_path, [c.url for c in cases])
    assert totals.candidates == len(cases)
    assert_accounted(ds)
    rows = rows_of(ds)
    wrong = []
    for c in cases:
        r = rows[c.url]
        got = (r["status"], r["reason"])
        if got != (c.expect, c.reason):
            wrong.append(f"{c.name}: expected {(c.expect, c.reason)}, got {got} ({r['error_message']})")
        elif r["download_seconds"] is not None and r["download_seconds"] > c.max_seconds:
            wrong.append(f"{c.name}: took {r['download_seconds']:.1f} s > {c.max_seconds} s")
    assert not wrong, "\n".join(wrong)
    # All run concurrently: the slowest cases (timeouts) bound the run.
    assert wall < 40, wall


def test_ssrf_without_allow_loopback_the_miniweb_sees_no_request(tmp_path, web):
    web.reset()
    port = web.port
    spellings = ["127.0.0.2", "2130706434", "0x7f000002", "0177.0.0.2", "127.2", "[::ffff:127.0.0.2]", "localhost"]
    urls = [f"http://{h}:{port}/p/0.html" for h in spellings] + [c.url for c in web.hostile_cases()[:3]]
    ds, totals, _ = run(tmp_path, urls, allow_loopback=False)
    assert totals.kept == 0
    assert sum(web.requests_seen.values()) == 0, dict(web.requests_seen)
    rows = rows_of(ds)
    for u in urls:
        # Refused before any request (robots.txt included): IP literals by the
        # guard, names after the guarded DNS lookup.
        assert rows[u]["reason"] == "blocked_address", rows[u]
    assert_accounted(ds)


def test_redirects_to_metadata_and_private_addresses_are_refused_before_connecting(tmp_path, web):
    web.reset()
    cases = [c for c in web.hostile_cases() if c.name in ("to_metadata", "to_private", "to_mapped")]
    ds, totals, _ = run(tmp_path, [c.url for c in cases])
    rows = rows_of(ds)
    assert {rows[c.url]["reason"] for c in cases} == {"blocked_address"}
    assert all(web.requests_seen[c.url] == 1 for c in cases)
