"""Download with hash lists in their exchange formats: a plain blocklist hit is refused
with its URL in the ledger; a hit on an illegal-content list is refused before anything
is written and recorded with hashes only (no URL, caption or page)."""

from __future__ import annotations

import hashlib

from typer.testing import CliRunner

from grassroots.cli import app
from grassroots.layout import DatasetDir
from grassroots.samples import read_sample_files
from tests.conftest import assert_accounted
from tests.fetch.conftest import jpeg
from tests.stages.test_download import ledger, serve_images, write_list


def test_illegal_content_list_hits_are_refused_and_kept_as_hashes_only(tmp_path, server):
    serve_images(server, 4)
    src = write_list(tmp_path / "urls.jsonl", server, 4)
    body = {i: jpeg(100 + i, 80 + i, (i * 5 % 256, 60, 90)) for i in range(4)}  # what serve_images sends
    (tmp_path / "plain.txt").write_text(hashlib.sha1(body[1]).hexdigest() + "\n")  # a bare sha1
    (tmp_path / "illegal.csv").write_text("signal_type,signal_value\nMD5," + hashlib.md5(body[2]).hexdigest() + "\n")
    ds = tmp_path / "ds"
    res = CliRunner().invoke(app, ["download", str(src), "-o", str(ds), "--allow-loopback", "--processes", "1",
                                   "--blocklist", str(tmp_path / "plain.txt"),
                                   "--illegal-list", str(tmp_path / "illegal.csv")])
    assert res.exit_code == 0, res.output
    rows = {r["key"]: r for r in ledger(ds)}
    by_caption = {r["caption"]: r for r in rows.values() if r["caption"]}
    plain = by_caption["picture 1"]
    assert (plain["status"], plain["reason"]) == ("refused", "hash_blocklist") and plain["url"].endswith("/img/1.jpg")
    assert "illegal" not in plain["error_message"]
    illegal = [r for r in rows.values() if "illegal-content list" in (r["error_message"] or "")]
    assert len(illegal) == 1
    bad = illegal[0]
    assert (bad["status"], bad["reason"], bad["url"], bad["caption"], bad["page_url"], bad["rights"]) == \
        ("refused", "hash_blocklist", "", None, None, None)
    assert bad["sha256"] == hashlib.sha256(body[2]).hexdigest() and "url_sha256 " in bad["error_message"]
    assert "/img/2.jpg" not in str(bad)
    stored = read_sample_files(DatasetDir(str(ds)), 0)
    assert len(stored) == 2 and bad["key"] not in stored and plain["key"] not in stored
    assert_accounted(str(ds))
