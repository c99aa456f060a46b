import json
import os
import signal
import subprocess
import sys
import time

from typer.testing import CliRunner

from grassroots.miniweb.cli import app

from .helpers import fetch


def test_spec_and_truth_commands():
    runner = CliRunner()
    r = runner.invoke(app, ["spec"])
    assert r.exit_code == 0 and "[[hosts]]" in r.output
    r = runner.invoke(app, ["truth", "--port", "9999", "--hosts", "8"])
    rows = [json.loads(line) for line in r.output.splitlines()]
    assert r.exit_code == 0 and rows and rows[0]["url"].startswith("http://127.0.0.")
    assert all(":9999/" in row["url"] for row in rows)


def test_warc_command(tmp_path):
    out = tmp_path / "crawl.warc.gz"
    r = CliRunner().invoke(app, ["warc", "-o", str(out), "--wat", "--port", "9999", "--hosts", "4"])
    assert r.exit_code == 0, r.output
    result = json.loads(r.output)
    assert out.exists() and os.path.exists(result["wat"]) and result["records"] > 10


def test_serve_prints_urls_and_stops_on_sigterm():
    proc = subprocess.Popen(
        [sys.executable, "-m", "grassroots.miniweb", "serve", "--port", "0", "--hosts", "3"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        lines = [proc.stdout.readline() for _ in range(4)]
        assert lines[0].startswith("control http://127.0.0.1:")
        base = lines[1].strip()
        assert base.startswith("http://127.0.0.2:") and lines[3].startswith("http://127.0.0.4:")
        assert fetch(base + "/p/0.html")[0] == 200
        t = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0 and time.monotonic() - t < 5
    finally:
        if proc.poll() is None:
            proc.kill()
