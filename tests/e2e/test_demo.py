"""The demo end to end, at a tiny size, on both runners: accounting, ground truth,
and the same kept set from local and Ray."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from typer.testing import CliRunner

from grassroots.cli import app
from grassroots.demo import DemoConfig, run_demo
from tests.conftest import assert_accounted


def portless(urls):
    """The mini-web picks a free port per run: compare (host, path)."""
    return {(urlsplit(u).hostname, urlsplit(u).path) for u in urls}


@pytest.mark.slow
def test_demo_on_local_and_ray_matches_ground_truth_and_each_other(tmp_path):
    results = {}
    for runner in ("local", "ray"):
        res = run_demo(DemoConfig(out=str(tmp_path / runner), runner=runner, processes=2, size="tiny"), progress=False)
        assert_accounted(res.dataset)
        assert res.truth_matched == res.truth_total, res.truth_mismatches
        assert res.kept > 0 and res.candidates == res.truth_total
        assert set(res.refused) >= {"robots_txt", "x_robots_tag", "html_meta", "tdmrep", "ai_txt", "iptc_xmp", "c2pa"}
        results[runner] = res
    assert portless(results["local"].kept_urls) == portless(results["ray"].kept_urls)


def test_demo_cli_reports_and_refuses_to_clobber_other_directories(tmp_path):
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.txt").write_text("keep me")
    res = CliRunner().invoke(app, ["demo", "--out", str(precious), "--size", "tiny", "--no-models"])
    assert res.exit_code == 2 and "not a previous demo output" in res.output
    assert (precious / "thesis.txt").exists()

    out = tmp_path / "demo"
    res = CliRunner().invoke(app, ["demo", "--out", str(out), "--size", "tiny", "--processes", "1", "--no-models"])
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "robots.txt (RFC 9309)" in text and "C2PA" in text and "ground truth:" in text
    assert "images/s kept" in text and f"{out}/dataset" in text
    # A second run replaces the earlier demo's output.
    res = CliRunner().invoke(app, ["demo", "--out", str(out), "--size", "tiny", "--processes", "1", "--no-models"])
    assert res.exit_code == 0, res.output
