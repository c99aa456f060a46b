"""End to end on the mini-web: crawl -> WARC -> extract -> download with the rights
layer. The mini-web's ground truth says what a correct crawler must do with every
image; the run must do exactly that, store no refused bytes, and send no request
for an image refused before fetching."""

from __future__ import annotations

import json
import tarfile
from collections import Counter

import pytest

from grassroots.fetch.client import FetchConfig
from grassroots.inputs import UrlListSpec
from grassroots.miniweb import write_warc
from tests.steps import download
from grassroots.runner import LocalRunner
from grassroots.stages.download import Download, DownloadConfig
from tests.steps import extract_only as extract
from grassroots.ledger import read_samples
from tests.conftest import assert_accounted, loopback_only_socket

PRE_FETCH = {"registry", "robots_txt", "ai_txt", "html_meta"}


def ledger(ds):
    return {r["url"]: r for r in read_samples(str(ds))}


def stage() -> Download:
    return Download(config=DownloadConfig(fetch=FetchConfig(allow_loopback=True)), socket_factory=loopback_only_socket)


@pytest.fixture(scope="module")
def crawled(web, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("crawl")
    web.reset()
    write_warc(str(tmp / "crawl.warc.gz"), web.base_urls, seed=0)
    ds = tmp / "ds"
    extract([str(tmp / "crawl.warc.gz")], str(ds), progress=False)
    totals, _ = download(str(ds), str(ds), stage(), LocalRunner(processes=2), progress=False)
    return ds, totals, dict(web.requests_seen)


def test_the_run_does_what_the_ground_truth_says(web, crawled):
    ds, totals, _ = crawled
    assert_accounted(ds)
    rows = ledger(ds)
    truth = {t["url"]: t for t in web.truth()}
    missing = sorted(set(truth) - set(rows))
    assert not missing, f"images on the pages that never reached download: {missing[:5]}"
    wrong = [
        f"{t['case']}: {u} expected {(t['expect'], t['reason'])} got {(rows[u]['status'], rows[u]['reason'])} "
        f"({rows[u]['error_message']})"
        for u, t in truth.items()
        if (rows[u]["status"], rows[u]["reason"]) != (t["expect"], t["reason"])
    ]
    assert not wrong, "\n".join(wrong)
    refused = Counter(r["reason"] for r in rows.values() if r["status"] == "refused")
    assert set(refused) >= {"robots_txt", "x_robots_tag", "html_meta", "tdmrep", "ai_txt", "iptc_xmp", "c2pa"}


def test_every_refusal_is_recorded_with_all_signals(crawled):
    ds, _, _ = crawled
    for r in ledger(ds).values():
        if r["status"] == "refused":
            assert any(s.startswith(f"{r['reason']}:refused") for s in r["rights"]), r
        if r["status"] == "success":
            assert r["rights"] and not any(":refused" in s for s in r["rights"]), r


def test_refused_bytes_are_never_written(crawled):
    ds, _, _ = crawled
    rows = ledger(ds)
    refused_urls = {u for u, r in rows.items() if r["status"] == "refused"}
    refused_keys = {r["key"] for r in rows.values() if r["status"] == "refused"}
    for tar_path in sorted((ds / "shards").glob("*.tar")):
        with tarfile.open(tar_path) as tar:
            for m in tar.getmembers():
                assert m.name.split(".", 1)[0] not in refused_keys
                if m.name.endswith(".json"):
                    assert json.loads(tar.extractfile(m).read())["url"] not in refused_urls
    leftovers = [p for p in ds.rglob("*") if p.is_file() and p.suffix in (".jpg", ".png", ".webp")]
    assert not leftovers


def test_no_request_for_an_image_refused_before_fetching(crawled):
    ds, _, seen = crawled
    pre = [u for u, r in ledger(ds).items()
           if r["status"] == "refused" and r["reason"] in PRE_FETCH]
    assert pre
    requested = [u for u in pre if seen.get(u, 0)]
    assert not requested, requested


def test_extract_then_download_reaches_the_same_images_as_a_url_list(web, crawled, tmp_path):
    ds, _, _ = crawled
    rows = ledger(ds)
    direct = tmp_path / "urls.jsonl"
    direct.write_text("".join(json.dumps({"url": t["url"], "caption": t["caption"], "page_url": t["page_url"]}) + "\n" for t in web.truth()))
    web.reset()
    ds2 = tmp_path / "direct"
    download(UrlListSpec(str(direct)), str(ds2), stage(), LocalRunner(processes=2), progress=False)
    direct_rows = ledger(ds2)
    assert set(direct_rows) == set(rows)
    # Page-level signals (meta robots, TDMRep meta) only exist in a crawl; they
    # explain every difference between the two runs, in either direction.
    differing = [u for u in rows
                 if (rows[u]["status"], rows[u]["reason"]) != (direct_rows[u]["status"], direct_rows[u]["reason"])]
    assert differing
    unexplained = [u for u in differing if not rows[u]["page_signals"]]
    assert not unexplained, unexplained
    assert sum(r["status"] == "success" for r in rows.values()) > 0.7 * len(rows)
