"""The pipeline on an object store: every step reads and writes s3:// through
fsspec (s3fs), against a real S3 server on loopback (moto; tests/s3.py), with
the same results as on a local directory, resume after a killed run, and the
accounting invariant checked on the store."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from grassroots import io
from grassroots.cli import app
from grassroots.fetch.client import FetchConfig
from grassroots.inputs import UrlListSpec
from grassroots.layout import DatasetDir
from grassroots.accounting import accounting_problems
from grassroots.ledger import read_samples
from grassroots.miniweb import MiniWeb, write_warc
from grassroots.models.clip import ModelSpec, init_checkpoint
from grassroots.runner import LocalRunner, run_step
from grassroots.samples import iter_sample_files
from grassroots.stages import Embed, Extract, Hash, NearDup, NearDupPairs, Score
from grassroots.stages.download import Download, DownloadConfig
from grassroots.stages.embed import EmbedConfig
from grassroots.stages.neardup import NearDupConfig
from grassroots.releases import make_release
from tests.conftest import assert_accounted, loopback_only_socket
from tests.s3 import s3, s3_server  # noqa: F401  (fixtures)
from tests.stages.test_download import RUN, serve_images, write_list
from tests.stages.conftest import server  # noqa: F401
from tests.steps import download, extract

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def web():
    with MiniWeb(seed=0, hosts=4, hostile=False) as w:
        yield w


def stage(**cfg) -> Download:
    return Download(config=DownloadConfig(fetch=FetchConfig(allow_loopback=True), **cfg),
                    socket_factory=loopback_only_socket)


def url_list(web) -> str:
    return "".join(json.dumps({k: t[k] for k in ("url", "caption", "page_url")}) + "\n" for t in web.truth())


def outcomes(ds: str) -> dict:
    return {r["key"]: (r["url"], r["status"], r["reason"], r["sha256"]) for r in read_samples(ds)}


def test_url_list_on_s3_downloads_hashes_embeds_and_selects_like_a_local_run(s3, web, tmp_path):
    (tmp_path / "urls.jsonl").write_text(url_list(web))
    with io.atomic_write(f"{s3}/lists/urls.jsonl", "w") as f:  # the input list on the store too
        f.write(url_list(web))
    ds = f"{s3}/ds"
    totals, _ = download(UrlListSpec(f"{s3}/lists/urls.jsonl"), ds, stage(samples_per_shard=20), LocalRunner(2))
    local, _ = download(UrlListSpec(str(tmp_path / "urls.jsonl")), str(tmp_path / "ds"), stage(samples_per_shard=20),
                        LocalRunner(2))
    assert totals.candidates == len(web.truth()) and totals.kept > 50
    assert (totals.candidates, totals.kept, dict(totals.reasons)) == (local.candidates, local.kept, dict(local.reasons))
    assert outcomes(ds) == outcomes(str(tmp_path / "ds"))
    assert_accounted(ds)
    tars = io.glob(f"{ds}/shards/*.tar")
    assert len(tars) == 4 and not io.exists(f"{ds}/shards/.00000.tar.tmp")  # nothing but finished objects
    kept = {k for k, (_, status, _, _) in outcomes(ds).items() if status == "success"}
    assert {k for s in range(4) for k, _ in iter_sample_files(DatasetDir(ds), s)} == kept
    # Rerunning on the store skips every finished shard.
    again, _ = download(UrlListSpec(f"{s3}/lists/urls.jsonl"), ds, stage(samples_per_shard=20), LocalRunner(2))
    assert again.skipped_shards == 4

    hashed = run_step(Hash(), ds, LocalRunner(2), progress=False)
    assert hashed.kept == len(kept) and len(io.glob(f"{ds}/attributes/imghash/*.parquet")) == 4

    checkpoint = str(tmp_path / "tiny.pt")
    init_checkpoint("grassroots-tiny", checkpoint, seed=0)
    embed = Embed(EmbedConfig(ModelSpec("grassroots-tiny", checkpoint), device="cpu", threads=1)).resolved()
    embedded = run_step(embed, ds, LocalRunner(), progress=False)
    assert embedded.kept == len(kept) and io.exists(f"{ds}/embeddings/{embed.model_id}/model.json")
    run_step(Score(embed.model_id), ds, LocalRunner(2), progress=False)
    run_step(NearDupPairs(NearDupConfig(embeddings=embed.model_id, cosine=0)), ds, LocalRunner(2), progress=False)
    run_step(NearDup(), ds, LocalRunner(2), progress=False)
    target, selected = make_release(ds, "v1", "caption_words >= 8 AND width >= 64", LocalRunner(2), progress=False)
    assert target == f"{ds}/releases/v1" and 0 < selected.kept < len(kept)
    assert not accounting_problems(ds) and not accounting_problems(target)
    words = {r["key"]: len(r["caption"].split()) for r in read_samples(ds) if r["status"] == "success"}
    released = {r["key"] for r in read_samples(target) if r["status"] == "success"}
    assert released and all(words[k] >= 8 for k in released)


def test_extract_reads_warcs_on_s3(s3, web, tmp_path):
    write_warc(str(tmp_path / "crawl.warc.gz"), web.base_urls, seed=0)
    fs, bucket = io.fs_and_path(s3)
    fs.put(str(tmp_path / "crawl.warc.gz"), f"{bucket}/crawl/a.warc.gz")
    fs.put(str(tmp_path / "crawl.warc.gz"), f"{bucket}/crawl/b.warc.gz")  # all duplicates of a
    totals, deduped = extract([f"{s3}/crawl/*.warc.gz"], f"{s3}/ds", Extract(), LocalRunner(2))
    local, _ = extract([str(tmp_path / "crawl.warc.gz")], str(tmp_path / "ds"), Extract(), LocalRunner())
    assert totals.shards == 2 and totals.kept == 2 * local.kept > 0
    assert deduped.kept == local.kept and deduped.reasons["duplicate"] == local.kept
    assert_accounted(f"{s3}/ds")


def test_the_cli_resumes_a_killed_download_on_s3(s3, server, tmp_path):
    state = serve_images(server, 12, slow={9})  # shard 2 (rows 8..11) hangs on row 9
    src = write_list(tmp_path / "urls.jsonl", server, 12)
    ds = f"{s3}/ds"
    args = ["download", str(src), "-o", ds, "--allow-loopback", "--samples-per-shard", "4", "--processes", "1",
            "--timeout", "60", "--concurrency", "2"]
    proc = subprocess.Popen([sys.executable, "-c", RUN, *args], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 90
    while not io.exists(f"{ds}/_runs/download/00001.json"):
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.1)
    time.sleep(1.0)  # shard 2 is under way, waiting on row 9
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not io.exists(f"{ds}/shards/00002.tar") and not io.exists(f"{ds}/_runs/download/00002.json")
    first = io.fs_and_path(f"{ds}/shards/00000.tar")[0].info(f"{ds}/shards/00000.tar")["ETag"]
    state["slow_seconds"] = 0
    res = subprocess.run([sys.executable, "-c", RUN, *args], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    assert io.fs_and_path(ds)[0].info(f"{ds}/shards/00000.tar")["ETag"] == first  # not rewritten
    assert sum(r["status"] == "success" for r in read_samples(ds)) == 12
    assert_accounted(ds)
    with io.open_file(f"{ds}/shards/00002.tar") as f, tarfile.open(fileobj=f, mode="r|") as t:
        assert len(t.getnames()) == 12  # 4 samples x (jpg, txt, json), none twice
    res = CliRunner().invoke(app, ["stats", ds, "--json"])
    assert res.exit_code == 0 and json.loads(res.output)["stages"]["download"]["kept"] == 12


def test_files_output_on_a_store_is_refused_in_one_line(s3, server, tmp_path):
    src = write_list(tmp_path / "urls.jsonl", server, 2)
    res = CliRunner().invoke(app, ["download", str(src), "-o", f"{s3}/ds", "--output-format", "files"])
    assert res.exit_code == 2 and "--output-format files needs a local directory" in res.output
