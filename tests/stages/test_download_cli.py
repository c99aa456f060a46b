"""What a newcomer and an img2dataset user meet on the command line: exit codes,
advice on the console, refused enum values, resume whatever the path spelling,
img2dataset's flags and output formats, help and tables at 80 columns."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import pyarrow.parquet as pq
import pytest
from rich.console import Console
from typer.testing import CliRunner

from grassroots.cli import EXIT_BAD_INPUT, EXIT_NOTHING_KEPT, app
from grassroots.img2dataset_compat import CompatError, translate
from grassroots.layout import DatasetDir
from grassroots.samples import read_sample_files
from tests.conftest import assert_accounted
from tests.stages.test_download import ROOT, RUN, ledger, serve_images, write_list


def run_cli(args: list[str]):
    """Through main(): img2dataset spellings are translated there."""
    translated, _ = translate(args)
    return CliRunner().invoke(app, translated)


def test_every_row_failed_is_exit_code_3_with_advice_for_loopback(tmp_path, server):
    serve_images(server, 3)
    src = write_list(tmp_path / "urls.jsonl", server, 3)
    res = run_cli(["download", str(src), "-o", str(tmp_path / "ds"), "--processes", "1"])
    assert res.exit_code == EXIT_NOTHING_KEPT, res.output
    text = " ".join(res.output.split())
    assert "3 of 3 rows are blocked_address" in text and "--allow-loopback" in text
    assert "nothing kept" in text


def test_a_failed_shard_prints_its_cause(tmp_path, server):

    serve_images(server, 4)
    src = write_list(tmp_path / "urls.jsonl", server, 4)
    ds = tmp_path / "ds"
    res = run_cli(["download", str(src), "-o", str(ds), "--allow-loopback", "--samples-per-shard", "2",
                   "--processes", "1"])
    assert res.exit_code == 0, res.output
    for s in (0, 1):
        os.remove(DatasetDir(str(ds)).run_marker("download", s))
    (ds / "candidates" / "00001.parquet").write_bytes(b"garbage")
    # The saved plan is reused; shard 1's input is now unreadable.
    res = run_cli(["download", str(src), "-o", str(ds), "--allow-loopback", "--samples-per-shard", "2",
                   "--processes", "1"])
    assert res.exit_code == 1
    text = " ".join(res.output.split())
    assert "download shard 1 failed:" in text and "rerun the same command" in text


@pytest.mark.parametrize("flag,value", [("--input-format", "xlsx"), ("--resize-mode", "stretch"),
                                        ("--encode-format", "gif"), ("--runner", "spark"),
                                        ("--output-format", "tfrecord")])
def test_unknown_values_of_enum_options_are_refused(tmp_path, flag, value):
    (tmp_path / "urls.csv").write_text("url\nhttp://127.0.0.1:9/a.jpg\n")
    res = CliRunner().invoke(app, ["download", str(tmp_path / "urls.csv"), "-o", str(tmp_path / "ds"), flag, value])
    assert res.exit_code == EXIT_BAD_INPUT and value in res.output
    assert not (tmp_path / "ds").exists()  # refused before anything was written


def test_resume_does_not_depend_on_how_a_path_is_spelled(tmp_path, server):
    from tests.extract.warcs import html_page, write_warc

    fixtures = tmp_path / "fixtures"
    fixtures.mkdir()
    write_warc(fixtures / "x.warc.gz", [html_page("http://site.example/p.html", "<img src=a.jpg alt='a picture here'>")])
    work = tmp_path / "work"
    work.mkdir()
    ds = tmp_path / "ds"
    first = subprocess.run([sys.executable, "-c", RUN, "extract", "../fixtures/./x.warc.gz", "-o", str(ds)],
                           cwd=work, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert first.returncode == 0, first.stdout + first.stderr
    again = subprocess.run([sys.executable, "-c", RUN, "extract", str(fixtures / "x.warc.gz"), "-o", str(ds)],
                           cwd=ROOT, capture_output=True, text=True)
    assert again.returncode == 0, again.stdout + again.stderr
    assert len(list((ds / "candidates").glob("*.parquet"))) == 1  # one shard, not two
    plan = json.loads((ds / "_runs" / "extract" / "plan.json").read_text())
    assert [t["inputs"] for t in plan["tasks"]] == [[str(fixtures / "x.warc.gz")]]
    # A URL list downloaded from another directory is the same list.
    serve_images(server, 2)
    src = write_list(tmp_path / "urls.jsonl", server, 2)
    out = tmp_path / "out"
    args = ["--allow-loopback", "--processes", "1"]
    res = run_cli(["download", str(src), "-o", str(out), *args])
    assert res.exit_code == 0, res.output
    rel = subprocess.run([sys.executable, "-c", RUN, "download", "../urls.jsonl", "-o", "../out", *args],
                         cwd=work, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert rel.returncode == 0 and "different" not in rel.stdout, rel.stdout + rel.stderr


def test_a_command_copied_from_img2dataset_runs_with_its_column_names(tmp_path, server):
    serve_images(server, 4)
    rows = [{"URL": server.url(f"/img/{i}.jpg"), "TEXT": f"picture {i}", "LICENSE": f"cc-{i}"} for i in range(4)]
    import pyarrow as pa

    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "laion.parquet")
    out = tmp_path / "laion400m-data"
    args = ["download", "--url_list", str(tmp_path / "laion.parquet"), "--input_format", "parquet",
            "--url_col", "URL", "--caption_col", "TEXT", "--output_format", "webdataset",
            "--output_folder", str(out), "--processes_count", "1", "--thread_count", "16", "--image_size", "64",
            "--resize_only_if_bigger=True", "--resize_mode=border", "--skip_reencode", "False",
            "--save_additional_columns", '["LICENSE"]', "--enable_wandb", "True", "--number_sample_per_shard", "3",
            "--encode_quality", "90", "--min_image_size", "10", "--timeout", "5", "--retries", "0",
            "--compute_hash", "md5", "--user_agent_token", "laion-test", "--incremental_mode", "incremental",
            "--disallowed_header_directives", '["noai","noimageai","noindex","noimageindex"]',
            "--allow-loopback"]
    translated, notes = translate(args)
    assert any("enable_wandb" in n for n in notes)
    res = CliRunner().invoke(app, translated)
    assert res.exit_code == 0, res.output
    rows = ledger(out)
    assert [r["caption"] for r in rows] == [f"picture {i}" for i in range(4)]
    assert all(r["status"] == "success" and r["width"] == 64 and r["md5"] for r in rows)
    assert {"key", "url", "caption", "status", "error_message", "width", "height", "original_width",
            "original_height", "sha256", "LICENSE"} <= set(rows[0])
    assert sorted(p.name for p in (out / "shards").glob("*.tar")) == ["00000.tar", "00001.tar"]
    from grassroots.manifest import read_manifest

    fetch = read_manifest(str(out))["runs"][-1]["config"]["config"]["fetch"]
    assert fetch["user_agent"].startswith("GrassrootsBot/") and fetch["user_agent"].endswith(" laion-test")
    assert fetch["concurrency"] == 16
    with pytest.raises(CompatError, match="overwrite"):
        translate(["download", "--incremental_mode", "overwrite"])


@pytest.mark.parametrize("fmt", ["files", "parquet"])
def test_output_formats_files_and_parquet_are_readable_and_accounted(tmp_path, server, fmt):
    serve_images(server, 3)
    src = write_list(tmp_path / "urls.jsonl", server, 3)
    ds = tmp_path / "ds"
    res = run_cli(["download", "--url_list", str(src), "--output_folder", str(ds), "--output_format", fmt,
                   "--allow-loopback", "--processes", "1"])
    assert res.exit_code == 0, res.output
    assert not (ds / "shards" / "00000.tar").exists()
    if fmt == "files":
        names = sorted(os.listdir(ds / "shards" / "00000"))
        assert names[:3] == ["000000000.jpg", "000000000.json", "000000000.txt"] and len(names) == 9
        assert (ds / "shards" / "00000" / "000000001.txt").read_text() == "picture 1"
    else:
        table = pq.read_table(ds / "shards" / "00000.parquet")
        assert table.schema.field("jpg").type.equals(__import__("pyarrow").binary())
        assert all(b[:2] == b"\xff\xd8" for b in table.column("jpg").to_pylist())
    files = read_sample_files(DatasetDir(str(ds)), 0)
    assert len(files) == 3 and all(f["jpg"][:2] == b"\xff\xd8" for f in files.values())
    assert_accounted(ds)
    res = CliRunner().invoke(app, ["hash", str(ds), "--processes", "1"])
    assert res.exit_code == 0, res.output


def test_verify_hash_fails_rows_whose_bytes_differ(tmp_path, server):
    serve_images(server, 3)
    rows = [json.loads(line) for line in write_list(tmp_path / "tmp.jsonl", server, 3).read_text().splitlines()]
    import urllib.request

    for i, r in enumerate(rows):
        body = urllib.request.urlopen(r["url"]).read()
        r["sha256"] = hashlib.sha256(body).hexdigest() if i != 1 else "0" * 64
    (tmp_path / "urls.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    ds = tmp_path / "ds"
    res = run_cli(["download", "--url_list", str(tmp_path / "urls.jsonl"), "--output_folder", str(ds),
                   "--verify_hash", '["sha256","sha256"]', "--allow-loopback", "--processes", "1"])
    assert res.exit_code == 0, res.output
    got = {r["caption"]: (r["status"], r["reason"]) for r in ledger(ds)}
    assert got == {"picture 0": ("success", None), "picture 1": ("failed", "hash_mismatch"),
                   "picture 2": ("success", None)}
    assert_accounted(ds)


def test_help_is_readable_at_80_columns_and_tables_keep_their_borders():
    from grassroots.report import stats_table
    from grassroots.stats import ShardStats

    env = {**os.environ, "COLUMNS": "80", "TERM": "xterm"}
    for cmd in (["download"], ["extract"], ["hash"], ["stats"], ["demo"], ["embed"], ["score"], ["select"],
                ["train-head"], ["model", "init"], ["takedown"], ["card"],
                ["index"], ["serve"], ["train"], ["eval"]):
        out = subprocess.run([sys.executable, "-c", RUN, *cmd, "--help"], cwd=ROOT, capture_output=True,
                             text=True, env=env).stdout
        assert out and max(len(line) for line in out.splitlines()) <= 80, out
        assert "…" not in out
    out = subprocess.run([sys.executable, "-c", RUN, "download", "--help"], cwd=ROOT, capture_output=True,
                         text=True, env=env).stdout
    for name in ("--samples-per-shard", "--allow-loopback", "--resize-only-if-bigger", "--conservative-robots",
                 "--output-format", "--verify-hash"):
        assert name in out
    t = ShardStats(stage="download", candidates=100, kept=10)
    t.drop("robots_unreachable", 50)
    t.drop("decompression_bomb", 40)
    console = Console(width=80, record=True, force_terminal=False)
    console.print(stats_table("download -> /a/rather/long/path/to/the/output/dataset/directory", t, 12.5))
    lines = console.export_text().splitlines()
    assert max(len(line) for line in lines) <= 80
    body = [line for line in lines if line.strip().startswith(("│", "┃"))]
    assert body and all(line.rstrip().endswith(("│", "┃")) for line in body)


def test_a_changed_input_file_is_extracted_again_and_a_changed_list_is_refused(tmp_path, server):
    from tests.extract.warcs import html_page, write_warc
    from tests.steps import extract_only

    warc = tmp_path / "x.warc.gz"
    write_warc(warc, [html_page("http://site.example/p.html", "<img src=a.jpg alt='the first picture'>")])
    ds = tmp_path / "ds"
    assert extract_only([str(warc)], str(ds)).kept == 1
    assert extract_only([str(warc)], str(ds)).skipped_shards == 1  # unchanged: resumed
    write_warc(warc, [html_page("http://site.example/p.html", "<img src=a.jpg alt='the first picture'>"
                                                              "<img src=b.jpg alt='a second picture'>")])
    os.utime(warc, (1, 1))  # a different modification time, whatever the clock
    again = extract_only([str(warc)], str(ds))
    assert again.skipped_shards == 0 and again.kept == 2
    serve_images(server, 2)
    src = write_list(tmp_path / "urls.jsonl", server, 2)
    out = tmp_path / "out"
    args = ["--allow-loopback", "--processes", "1"]
    assert run_cli(["download", str(src), "-o", str(out), *args]).exit_code == 0
    write_list(src, server, 1)
    res = run_cli(["download", str(src), "-o", str(out), *args])
    assert res.exit_code == 2 and "changed since it was imported" in res.output
