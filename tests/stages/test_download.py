"""download end to end against a real loopback server: ledger, tars, resume, retries, input errors."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
from aiohttp import web
from typer.testing import CliRunner

from grassroots.cli import app
from grassroots.fetch.client import FetchConfig
from grassroots.inputs import UrlListSpec
from tests.steps import download
from grassroots.runner import LocalRunner
from grassroots.stages.download import Download, DownloadConfig
from grassroots.ledger import read_samples
from tests.conftest import assert_accounted, loopback_only_socket
from tests.fetch.conftest import jpeg

ROOT = Path(__file__).resolve().parents[2]


def serve_images(server, n: int, slow: set[int] = frozenset(), flaky: set[int] = frozenset(), state=None):
    state = state if state is not None else {"slow_seconds": 30.0, "flaky_fixed": False}

    async def img(request):
        i = int(request.match_info.get("i", request.path.rsplit("/", 1)[-1].split(".")[0]))
        if i in slow and state["slow_seconds"]:
            await asyncio.sleep(state["slow_seconds"])
        if i in flaky and not state["flaky_fixed"]:
            return web.Response(status=503)
        return web.Response(body=jpeg(100 + i, 80 + i, (i * 5 % 256, 60, 90)), content_type="image/jpeg")

    for i in range(n):
        server.routes[f"/img/{i}.jpg"] = img
    return state


def write_list(path: Path, server, n: int, extra_rows=()) -> Path:
    rows = [{"url": server.url(f"/img/{i}.jpg"), "caption": f"picture {i}", "licence": f"cc-{i}"} for i in range(n)]
    rows += list(extra_rows)
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def stage(**cfg) -> Download:
    fetch = FetchConfig(allow_loopback=True, timeout=cfg.pop("timeout", 5), retries=cfg.pop("retries", 0), backoff=0.01)
    return Download(config=DownloadConfig(fetch=fetch, **cfg), socket_factory=loopback_only_socket)


def ledger(ds: Path):
    return read_samples(str(ds))


def test_download_writes_accounted_shards_that_webdataset_reads(tmp_path, server):
    serve_images(server, 25)
    src = write_list(tmp_path / "urls.jsonl", server, 25, extra_rows=[
        {"url": "", "caption": "no url", "licence": None},
        {"url": "http://10.0.0.1/x.jpg", "caption": "private", "licence": None},
        {"url": server.url("/img/missing.jpg"), "caption": "404", "licence": None},
    ])
    ds = tmp_path / "ds"
    totals, _ = download(UrlListSpec(str(src), keep_cols=("licence",)), str(ds),
                         stage(samples_per_shard=10), LocalRunner(processes=2), progress=False)
    assert totals.candidates == 28 and totals.kept == 25
    assert dict(totals.reasons) == {"invalid_url": 1, "blocked_address": 1, "http_error": 1}
    assert_accounted(ds)
    rows = ledger(ds)
    assert len(rows) == 28 and len({r["key"] for r in rows}) == 28
    ok = [r for r in rows if r["status"] == "success"]
    assert all(r["sha256"] and len(r["pdq"]) == 64 and r["width"] and r["height"] == 256 for r in ok)
    assert {r["licence"] for r in ok} == {f"cc-{i}" for i in range(25)}
    blocked = next(r for r in rows if r["reason"] == "blocked_address")
    assert "private" in blocked["error_message"] and blocked["http_status"] is None

    import webdataset as wds

    tars = sorted(str(p) for p in (ds / "shards").glob("*.tar"))
    samples = list(wds.WebDataset(tars, shardshuffle=False).decode("pil"))
    assert len(samples) == 25
    s = samples[0]
    assert s["jpg"].size[1] == 256 and s["txt"].startswith("picture ") and s["json"]["key"] == s["__key__"]
    assert s["json"]["licence"].startswith("cc-")


def test_stuck_connection_is_a_failed_row_not_a_stuck_run(tmp_path, server):
    serve_images(server, 6, slow={2, 4})
    src = write_list(tmp_path / "urls.jsonl", server, 6)
    ds = tmp_path / "ds"
    t0 = time.monotonic()
    totals, _ = download(UrlListSpec(str(src)), str(ds), stage(timeout=1), LocalRunner(), progress=False)
    assert time.monotonic() - t0 < 30  # bounded by the 1 s timeout, not the 30 s hang
    assert totals.kept == 4 and dict(totals.reasons) == {"timeout": 2}
    assert_accounted(ds)


def test_shard_watchdog_bounds_the_shard(tmp_path, server):
    serve_images(server, 4, slow={0, 1, 2, 3})
    src = write_list(tmp_path / "urls.jsonl", server, 4)
    ds = tmp_path / "ds"
    t0 = time.monotonic()
    totals, _ = download(UrlListSpec(str(src)), str(ds), stage(timeout=30, row_timeout=30, shard_timeout=1.5),
                         LocalRunner(), progress=False)
    assert time.monotonic() - t0 < 30  # bounded by the 1.5 s shard watchdog, not the 30 s hang
    assert dict(totals.reasons) == {"watchdog": 4}
    assert_accounted(ds)


def test_retry_failed_reattempts_transient_failures_only(tmp_path, server):
    state = serve_images(server, 10, flaky={3, 7})
    src = write_list(tmp_path / "urls.jsonl", server, 10, extra_rows=[{"url": "http://10.0.0.1/a.jpg", "caption": "x"}])
    ds = tmp_path / "ds"
    first, _ = download(UrlListSpec(str(src)), str(ds), stage(samples_per_shard=4), LocalRunner(), progress=False)
    assert first.kept == 8 and dict(first.reasons) == {"server_error": 2, "blocked_address": 1}
    state["flaky_fixed"] = True
    def image_hits():
        return [h for h in server.hits if h.startswith("/img/")]

    hits_before = len(image_hits())
    again, _ = download(UrlListSpec(str(src)), str(ds), stage(samples_per_shard=4, retry_failed=True),
                        LocalRunner(), progress=False)
    assert len(image_hits()) - hits_before == 2  # only the two transient rows were fetched again
    assert again.skipped_shards == 1  # shard 2 had nothing transient
    rows = ledger(ds)
    assert sum(r["status"] == "success" for r in rows) == 10
    assert [r["reason"] for r in rows if r["status"] != "success"] == ["blocked_address"]
    assert_accounted(ds)


RUN = """
import sys
from grassroots.cli import main
sys.argv = ["grassroots"] + sys.argv[1:]
main()
"""


def test_resume_after_sigkill_mid_shard_gives_the_uninterrupted_kept_set(tmp_path, server):
    state = serve_images(server, 12, slow={9})  # shard 2 (rows 8..11) hangs on row 9
    src = write_list(tmp_path / "urls.jsonl", server, 12)
    ds, ref = tmp_path / "ds", tmp_path / "ref"
    args = [str(src), "-o", str(ds), "--allow-loopback", "--samples-per-shard", "4", "--processes", "1",
            "--timeout", "60", "--concurrency", "2"]
    proc = subprocess.Popen([sys.executable, "-c", RUN, "download", *args], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    marker1 = ds / "_runs" / "download" / "00001.json"
    deadline = time.monotonic() + 60
    while not marker1.exists():
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    # Wait until shard 2 is mid-way: its temporary tar holds samples while row 9 hangs.
    while not [p for p in (ds / "shards").glob(".00002.tar.tmp-*") if p.stat().st_size > 0]:
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (ds / "shards" / "00002.tar").exists()
    assert not (ds / "_runs" / "download" / "00002.json").exists()
    tar0 = (ds / "shards" / "00000.tar").stat().st_mtime_ns
    state["slow_seconds"] = 0
    res = subprocess.run([sys.executable, "-c", RUN, "download", *args], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    assert (ds / "shards" / "00000.tar").stat().st_mtime_ns == tar0  # finished shards not rewritten
    download(UrlListSpec(str(src)), str(ref), stage(samples_per_shard=4), LocalRunner(), progress=False)

    def kept(d):
        return {(r["key"], r["sha256"]) for r in ledger(d) if r["status"] == "success"}

    assert kept(ds) == kept(ref) and len(kept(ds)) == 12
    assert not [p for p in (ds / "shards").iterdir() if ".tmp-" in p.name]
    assert_accounted(ds)
    with tarfile.open(ds / "shards" / "00002.tar") as t:
        assert len(t.getnames()) == 12  # 4 samples x (jpg, txt, json), none twice


@pytest.mark.parametrize("content,args,expect", [
    ("a,b\nhttp://x/1.jpg,cap\n", [], "no column 'url'; columns are ['a', 'b']"),
    ('{"url": "http://x/1.jpg"}\n{broken\n', [], "row 2"),
    ("url\nhttp://x/1.jpg\n", ["--keep-cols", "licence"], "--keep-cols names missing columns ['licence']"),
])
def test_bad_input_gets_a_clear_error(tmp_path, content, args, expect):
    name = "in.jsonl" if content.startswith("{") else "in.csv"
    (tmp_path / name).write_text(content)
    res = CliRunner().invoke(app, ["download", str(tmp_path / name), "-o", str(tmp_path / "ds"), *args])
    assert res.exit_code == 2
    assert expect in " ".join(res.output.split()), res.output
    assert name in res.output


def test_missing_input_file(tmp_path):
    res = CliRunner().invoke(app, ["download", str(tmp_path / "nope.csv"), "-o", str(tmp_path / "ds")])
    assert res.exit_code == 2 and "nope.csv: no such file" in res.output


def test_a_redirect_into_a_disallowed_path_is_refused_before_following(tmp_path, server):
    async def robots(request):
        return web.Response(text="User-agent: *\nDisallow: /private/\n")

    async def hop(request):
        return web.Response(status=302, headers={"Location": "/private/x.jpg"})

    async def private(request):
        return web.Response(body=jpeg(), content_type="image/jpeg")

    server.routes.update({"/robots.txt": robots, "/pub/r.jpg": hop, "/private/x.jpg": private})
    src = write_list(tmp_path / "urls.jsonl", server, 0, extra_rows=[{"url": server.url("/pub/r.jpg"), "caption": "hop"}])
    ds = tmp_path / "ds"
    totals, _ = download(UrlListSpec(str(src)), str(ds), stage(), LocalRunner(), progress=False)
    (row,) = ledger(ds)
    assert (row["status"], row["reason"]) == ("refused", "robots_txt")
    assert "/private/x.jpg" in row["error_message"]
    assert "/private/x.jpg" not in server.hits
    assert_accounted(ds)


def test_an_unexpected_error_on_one_row_is_a_ledger_row_not_a_lost_shard(tmp_path, server, monkeypatch):
    import grassroots.stages.download.row as dl

    serve_images(server, 4)
    real = dl.process_image

    def flaky(body, cfg, content_type=None):
        import io as _io

        from PIL import Image

        if Image.open(_io.BytesIO(body)).size == (102, 82):  # image 2 only
            raise RuntimeError("bug on purpose")
        return real(body, cfg, content_type)

    monkeypatch.setattr(dl, "process_image", flaky)
    src = write_list(tmp_path / "urls.jsonl", server, 4)
    ds = tmp_path / "ds"
    totals, _ = download(UrlListSpec(str(src)), str(ds), stage(), LocalRunner(), progress=False)
    assert totals.kept == 3 and dict(totals.reasons) == {"internal_error": 1}
    (bad,) = [r for r in ledger(ds) if r["status"] != "success"]
    assert "RuntimeError: bug on purpose" in bad["error_message"]
    assert_accounted(ds)


def test_a_killed_import_is_redone_and_another_source_is_refused(tmp_path, server):
    from grassroots.errors import InputError
    from grassroots.layout import DatasetDir
    from grassroots.runner import run_step
    from grassroots.stages import Import

    serve_images(server, 5)
    src = write_list(tmp_path / "urls.jsonl", server, 5)
    ds = tmp_path / "ds"
    run_step(Import(UrlListSpec(str(src)), 2), str(ds), LocalRunner(), progress=False)
    (ds / "_runs" / "import" / "00000.json").unlink()  # as if killed before its marker ...
    (ds / "candidates" / "00002.parquet").unlink()  # ... with its last shard unwritten
    totals, _ = download(UrlListSpec(str(src)), str(ds), stage(samples_per_shard=2), LocalRunner(), progress=False)
    assert totals.candidates == 5 and totals.kept == 5
    assert_accounted(ds)
    other = write_list(tmp_path / "other.jsonl", server, 2)
    with pytest.raises(InputError, match="already holds candidates imported from"):
        download(UrlListSpec(str(other)), str(ds), stage(), LocalRunner(), progress=False)
    assert DatasetDir(str(ds)).run_plan("import").endswith("plan.json")


def test_a_candidate_file_larger_than_a_shard_is_split_and_resumes_to_the_same_plan(tmp_path, server):
    from grassroots.step import load_plan
    from grassroots.runner import run_step
    from grassroots.stages import Import

    serve_images(server, 25)
    src = write_list(tmp_path / "urls.jsonl", server, 25)
    ds = tmp_path / "ds"
    # One big candidate file, as extract writes one per WARC.
    run_step(Import(UrlListSpec(str(src)), 1000), str(ds), LocalRunner(), progress=False)
    totals, _ = download(str(ds), str(ds), stage(samples_per_shard=10), LocalRunner(processes=2), progress=False)
    assert totals.shards == 3 and totals.kept == 25
    plan = load_plan(str(ds), "download")
    assert [t.rows for t in plan] == [(0, 10), (10, 10), (20, 5)]
    rows = ledger(ds)
    assert [r["key"] for r in rows][:2] == ["000000000", "000000001"] and rows[-1]["key"] == "000020004"
    assert_accounted(ds)
    again, _ = download(str(ds), str(ds), stage(samples_per_shard=7), LocalRunner(), progress=False)
    assert again.skipped_shards == 3  # the saved plan wins: nothing re-cut, nothing redone


def test_rights_flags_are_recorded_in_the_manifest(tmp_path, server):
    from grassroots.manifest import read_manifest

    serve_images(server, 2)
    src = write_list(tmp_path / "urls.jsonl", server, 2)
    registry = tmp_path / "optout.txt"
    registry.write_text("example.org\n")
    ds = tmp_path / "ds"
    res = CliRunner().invoke(app, ["download", str(src), "-o", str(ds), "--allow-loopback", "--processes", "1",
                                   "--no-conservative-robots", "--no-honour-noindex", "--registry", str(registry)])
    assert res.exit_code == 0, res.output
    rights = read_manifest(str(ds))["runs"][-1]["config"]["rights"]["config"]
    assert rights["conservative_robots"] is False and rights["honour_noindex"] is False
    assert rights["registry_paths"] == [str(registry)]
    assert "kept" in res.output and "rows/s" in res.output


def test_an_unreadable_candidate_file_fails_its_shard_and_the_run_goes_on(tmp_path, server):
    from grassroots.step import save_plan
    from grassroots.runner import run_step
    from grassroots.stages import Import

    serve_images(server, 6)
    src = write_list(tmp_path / "urls.jsonl", server, 6)
    ds = tmp_path / "ds"
    run_step(Import(UrlListSpec(str(src)), 2), str(ds), LocalRunner(), progress=False)
    dl = stage(samples_per_shard=2)
    save_plan(str(ds), dl.name, dl.plan(str(ds)))  # planned, then the file is damaged
    (ds / "candidates" / "00001.parquet").write_bytes(b"PAR1 not really parquet")
    totals = run_step(dl, str(ds), LocalRunner(), progress=False)
    assert totals.failed_shards == 1 and totals.kept == 4  # shards 0 and 2 done
    failure = json.loads((ds / "_runs" / "download" / "00001.failed.json").read_text())
    assert "00001.parquet" in failure["error"] or "Parquet" in failure["error"]
    assert_accounted(ds)


def test_cli_errors_are_one_line_with_exit_code_2(tmp_path, server):
    serve_images(server, 2)
    src = write_list(tmp_path / "urls.jsonl", server, 2)
    afile = tmp_path / "afile"
    afile.write_text("I am a file, not a directory")
    res = CliRunner().invoke(app, ["download", str(src), "-o", str(afile), "--allow-loopback"])
    assert res.exit_code == 2 and "error:" in res.output and "Traceback" not in res.output
    assert str(afile) in res.output and afile.read_text() == "I am a file, not a directory"
    res = CliRunner().invoke(app, ["download", str(tmp_path / "nope.csv"), "-o", str(tmp_path / "o")])
    assert res.exit_code == 2 and "no such file" in res.output
    res = CliRunner().invoke(app, ["extract", str(tmp_path / "nope.warc.gz"), "-o", str(tmp_path / "o")])
    assert res.exit_code == 2 and "no such file" in res.output


def _as_from_a_shell() -> None:
    """The child starts as from an interactive shell: SIGINT and SIGTERM delivered and
    handled by default, whatever an earlier test left in the pytest process (an ignored
    or blocked signal is inherited through fork and exec)."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


# The CLI as the console script runs it, with the signal sent by the process itself
# at a defined point (argv[1]): while typer is imported, while typer parses the
# command line, while the step plans, right after the first shard goes to a worker.
# "outside" sends nothing: the test signals from outside, mid-shard.
RUN_AT = """
import os, signal, sys, time
point, sig = sys.argv[1], getattr(signal, sys.argv[2])
sys.argv = ["grassroots"] + sys.argv[3:]

def hit():
    with open(os.environ["HIT_AT"], "w") as f:  # CLOCK_MONOTONIC: one clock for every process
        f.write(repr(time.monotonic()))
    os.kill(os.getpid(), sig)

if point == "import":
    class Hook:
        def find_spec(self, name, path=None, target=None):
            if name == "typer":
                sys.meta_path.remove(self)
                hit()
            return None
    sys.meta_path.insert(0, Hook())
elif point == "parse":
    from typer._click.core import Context  # typer carries its own click
    init = Context.__init__
    def first_context(self, *a, **k):
        Context.__init__ = init
        hit()
        init(self, *a, **k)
    Context.__init__ = first_context
elif point == "plan":
    from grassroots.stages.download import Download
    plan = Download.plan
    def plan_hit(self, dataset):
        hit()
        return plan(self, dataset)
    Download.plan = plan_hit
elif point == "workers":
    from concurrent.futures import ProcessPoolExecutor
    submit = ProcessPoolExecutor.submit
    def submit_hit(self, *a, **k):
        fut = submit(self, *a, **k)
        hit()
        return fut
    ProcessPoolExecutor.submit = submit_hit
from grassroots.__main__ import main
main()
"""


@pytest.mark.parametrize("processes,point,sig", [
    ("2", "import", "SIGINT"), ("2", "parse", "SIGINT"), ("1", "plan", "SIGINT"), ("2", "workers", "SIGINT"),
    ("2", "workers", "SIGTERM"), ("1", "outside", "SIGINT"), ("2", "outside", "SIGINT"), ("1", "outside", "SIGTERM")])
def test_an_interrupted_run_ends_quickly_with_its_line_and_resumes(tmp_path, server, processes, point, sig):
    """Wherever the interrupt lands, the run ends within seconds with exit 130 and
    the line (typer alone would exit 130 silently before the command starts), no
    traceback, and the same command resumes to the full result."""
    state = serve_images(server, 12, slow={1, 5, 9})  # every shard hangs on one row
    src = write_list(tmp_path / "urls.jsonl", server, 12)
    ds = tmp_path / "ds"
    args = [str(src), "-o", str(ds), "--allow-loopback", "--samples-per-shard", "4", "--processes", processes,
            "--timeout", "60", "--concurrency", "2"]
    hit_at = tmp_path / "hit_at"
    proc = subprocess.Popen([sys.executable, "-c", RUN_AT, point, sig, "download", *args], cwd=ROOT,
                            env={**os.environ, "HIT_AT": str(hit_at)}, preexec_fn=_as_from_a_shell,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if point == "outside":  # mid-shard: a worker is writing a shard and waits on a slow row
        deadline = time.monotonic() + 60
        while not [p for p in (ds / "shards").glob(".*.tar.tmp-*")] if (ds / "shards").exists() else True:
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        time.sleep(0.3)
        sent = time.monotonic()
        os.kill(proc.pid, getattr(signal, sig))
    try:
        out, _ = proc.communicate(timeout=10 if point == "outside" else 60)  # startup included
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail(f"the run did not end in time after the interrupt ({point})")
    if point != "outside":
        sent = float(hit_at.read_text())
    assert time.monotonic() - sent < 10  # a slow row would hold it 60 s
    assert proc.returncode == 130, out
    assert "interrupted; rerun the same command to resume" in out, out
    assert "Traceback" not in out and "CancelledError" not in out, out
    if point in ("import", "parse"):
        assert not ds.exists()  # nothing ran
        return
    state["slow_seconds"] = 0
    res = subprocess.run([sys.executable, "-m", "grassroots", "download", *args], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    assert sum(r["status"] == "success" for r in ledger(ds)) == 12
    assert_accounted(ds)


@pytest.mark.slow
def test_import_and_download_on_ray_match_local(tmp_path, server):
    from grassroots.runner import RayRunner

    serve_images(server, 10)
    src = write_list(tmp_path / "urls.jsonl", server, 10, extra_rows=[{"url": "", "caption": "no url"}])
    results = {}
    for name, runner in (("local", LocalRunner(processes=2)), ("ray", RayRunner(processes=2))):
        ds = tmp_path / name
        totals, _ = download(UrlListSpec(str(src)), str(ds), stage(samples_per_shard=4), runner, progress=False)
        assert_accounted(ds)
        results[name] = (totals, {(r["key"], r["status"], r["reason"], r["sha256"]) for r in ledger(ds)})
    assert results["local"][1] == results["ray"][1]
    assert (results["local"][0].kept, results["local"][0].reasons) == (results["ray"][0].kept, results["ray"][0].reasons)
