"""download --shard-by-host: each registrable domain's rows land in one shard, every
candidate is still accounted for exactly once, the run resumes, and the per-host
cap holds across worker processes."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections import defaultdict

import pytest
from aiohttp import web as aioweb
from typer.testing import CliRunner

from grassroots.cli import app
from grassroots.errors import InputError
from grassroots.fetch.client import FetchConfig
from grassroots.inputs import UrlListSpec
from grassroots.ledger import read_samples
from grassroots.miniweb import MiniWeb
from grassroots.runner import LocalRunner
from grassroots.stages.download import Download, DownloadConfig
from grassroots.stages.download.host_shards import domain_partition
from tests.conftest import assert_accounted, loopback_only_socket
from tests.fetch.conftest import jpeg
from tests.steps import download


def stage(host_concurrency: int = 8, **cfg) -> Download:
    fetch = FetchConfig(allow_loopback=True, host_concurrency=host_concurrency, retries=0)
    return Download(config=DownloadConfig(fetch=fetch, **cfg), socket_factory=loopback_only_socket)


def test_a_domain_is_one_partition_and_the_assignment_is_stable_across_processes():
    urls = ["http://img1.example.co.uk/a.jpg", "https://img2.example.co.uk/b.jpg", "http://example.co.uk/c",
            "http://other.org/x.jpg", "http://127.0.0.3:8080/y.jpg", "", None]
    parts = domain_partition(urls, 7)
    assert len(set(parts[:3])) == 1 and parts[5] == parts[6]
    code = ("import sys, json; from grassroots.stages.download.host_shards import domain_partition; "
            f"print(json.dumps(domain_partition({urls!r}, 7).tolist()))")
    for seed in ("1", "2"):  # Python's own hash() would differ between these
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                             env={**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": os.pathsep.join(sys.path)})
        assert json.loads(out.stdout) == parts.tolist()


@pytest.fixture(scope="module")
def web():
    with MiniWeb(seed=0, hosts=6, hostile=False) as w:
        yield w


def test_each_domain_lands_in_one_shard_with_the_same_totals(web, tmp_path):
    src = tmp_path / "urls.jsonl"
    src.write_text("".join(json.dumps({k: t[k] for k in ("url", "caption", "page_url")}) + "\n"
                           for t in web.truth()))
    by_host, plain = str(tmp_path / "by-host"), str(tmp_path / "plain")
    t_host, _ = download(UrlListSpec(str(src)), by_host, stage(samples_per_shard=20, shard_by_host=True),
                         LocalRunner(2))
    t_plain, _ = download(UrlListSpec(str(src)), plain, stage(samples_per_shard=20), LocalRunner(2))
    assert (t_host.candidates, t_host.kept, dict(t_host.reasons)) == \
           (t_plain.candidates, t_plain.kept, dict(t_plain.reasons))
    assert t_host.candidates == len(web.truth()) and t_host.shards == t_plain.shards
    assert_accounted(by_host)

    def shards_of_domain(ds):
        out = defaultdict(set)
        for r in read_samples(ds):
            out[r["domain"]].add(r["key"][:5])
        return out

    assert all(len(s) == 1 for s in shards_of_domain(by_host).values()), shards_of_domain(by_host)
    assert any(len(s) > 1 for s in shards_of_domain(plain).values())  # what the option changes
    rows = lambda ds: sorted((r["url"], r["status"], r["reason"], r["sha256"]) for r in read_samples(ds))  # noqa: E731
    assert rows(by_host) == rows(plain)  # every candidate exactly once, with the same outcome

    again, _ = download(UrlListSpec(str(src)), by_host, stage(samples_per_shard=20, shard_by_host=True),
                        LocalRunner(2))
    assert again.skipped_shards == t_host.shards
    with pytest.raises(InputError, match="was planned with --shard-by-host"):
        download(UrlListSpec(str(src)), by_host, stage(samples_per_shard=20), LocalRunner(2))


def serve_slow_images(server, n: int) -> dict:
    """Images that take 0.3 s each; records the most requests in flight at once."""
    seen = {"now": 0, "peak": 0}

    async def img(request):
        seen["now"] += 1
        seen["peak"] = max(seen["peak"], seen["now"])
        try:
            await asyncio.sleep(0.3)
            return aioweb.Response(body=jpeg(64, 48), content_type="image/jpeg")
        finally:
            seen["now"] -= 1

    for i in range(n):
        server.routes[f"/img/{i}.jpg"] = img
    return seen


@pytest.mark.parametrize("by_host,peak", [(True, 1), (False, 2)])
def test_the_host_cap_holds_across_processes_only_with_the_option(tmp_path, server, by_host, peak):
    seen = serve_slow_images(server, 24)
    src = tmp_path / "urls.txt"
    src.write_text("".join(server.url(f"/img/{i}.jpg") + "\n" for i in range(24)))
    args = ["download", str(src), "-o", str(tmp_path / "ds"), "--allow-loopback", "--samples-per-shard", "4",
            "--processes", "2", "--host-concurrency", "1", *(["--shard-by-host"] if by_host else [])]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert seen["peak"] == peak
    assert_accounted(tmp_path / "ds")
