"""`grassroots demo`, the whole loop, as a newcomer runs it: crawl, rights, download,
a CLIP model trained from nothing, filtering with it, a second model, held-out
zero-shot, index, serve, an opt-out filed through the API, a takedown release and
its cards. Every artifact is checked on disk, and the accounting holds in each release."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from grassroots.accounting import accounting_problems
from grassroots.ledger import read_samples


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_whole_loop_runs_and_leaves_every_artifact(tmp_path):
    out = tmp_path / "demo"
    done = subprocess.run([sys.executable, "-m", "grassroots.cli", "demo", "--out", str(out), "--size", "small",
                           "--train-steps", "20", "--processes", "2"], capture_output=True, text=True,
                          timeout=900, env={**__import__("os").environ, "COLUMNS": "200"})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    text = done.stdout
    for step in ("5. embed", "5b. safety", "5c. concepts", "6. train v0", "7. score + select", "8. train v1", "9. eval", "10. index + serve",
                 "11. takedown", "12. card", "the figures that matter", "grassroots serve"):
        assert step in text, step
    ds = out / "dataset"
    v0, v1 = (json.loads((out / "eval" / f"{m}.json").read_text()) for m in ("v0", "v1"))
    assert v0["task"] == "zeroshot_classification" and 0 <= v1["metrics"]["acc1"] <= 1
    for m in ("v0", "v1"):
        assert (out / "models" / m / "checkpoints" / "last.pt").exists()
    requests = [json.loads(line) for line in (ds / "takedowns" / "requests.jsonl").read_text().splitlines()]
    assert len(requests) == 1 and requests[0]["remove"]["urls"]
    record = json.loads((ds / "releases" / "v2" / "takedown.json").read_text())
    assert requests[0]["id"] in json.dumps(record["requests"]) and record["counts"]["removed"] >= 1
    assert record["index"].startswith("rebuilt")
    removed_url = requests[0]["remove"]["urls"][0]
    v2_rows = {r["url"]: r for r in read_samples(str(ds / "releases" / "v2"), ["url", "status", "reason"])}
    assert v2_rows[removed_url]["status"] == "refused" and v2_rows[removed_url]["reason"] == "takedown"
    for release in ("v1", "v2"):
        assert accounting_problems(str(ds / "releases" / release)) == []
    card = ds / "releases" / "v2" / "card"
    assert {"README.md", "DATASHEET.md", "EU_PUBLIC_SUMMARY.md"} <= {p.name for p in card.iterdir()}
    assert list((card / "plots").glob("*.png"))
    # the concept distribution of the release (the 32 (colour, shape) names of the held-out set)
    assert (card / "plots" / "concepts.png").exists() and "plots/concepts.png" in (card / "README.md").read_text()
    assert_summary_names_the_tokens_honoured(ds, (card / "EU_PUBLIC_SUMMARY.md").read_text())
    assert_no_local_paths(card, out)
    assert any((ds / "releases" / "v1" / "index").iterdir())


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_model_half_on_ray_writes_the_same_releases_as_local(tmp_path):
    """The same dataset, the same training steps: the steps of the model half (embed,
    score, select, index, takedown) on a local Ray give the releases of the local runner,
    and the same held-out figures although the local run shares the CPU with a busy
    neighbour (issue 31: steps are fixed, so the load changes the time, not the result)."""
    import shutil

    from grassroots.demo import DemoConfig, run_demo
    from grassroots.demo_models import LoopConfig, run_model_loop
    from grassroots.runner import make_runner

    res = run_demo(DemoConfig(out=str(tmp_path / "demo"), processes=2, size="tiny"), progress=False)
    keys, figures = {}, {}
    for kind in ("local", "ray"):
        out = tmp_path / kind
        shutil.copytree(res.dataset, out / "dataset")
        # a CPU-bound neighbour while the local run trains, embeds and scores
        busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"])] if kind == "local" else []
        try:
            with make_runner(kind, 2, None).session() as runner:
                loop = run_model_loop(str(out / "dataset"), res.truth, str(out), runner,
                                      LoopConfig(train_steps=8, batch_size=32, heldout_per_class=3, processes=2,
                                                 progress=False), say=lambda msg: None)
        finally:
            for p in busy:
                p.kill()
                p.wait()
        figures[kind] = {"v0": (loop.v0["acc1"], loop.v0["acc5"]), "v1": (loop.v1["acc1"], loop.v1["acc5"]),
                         "threshold": loop.threshold, "filter": (loop.filter_precision, loop.filter_recall),
                         "steps": (loop.v0["steps"], loop.v1["steps"])}
        keys[kind] = {(release, outcome): sorted(
            r["key"] for r in read_samples(str(out / "dataset" / "releases" / release), ["key", "status", "reason"])
            if (r["status"], r["reason"]) == outcome) for release in ("v1", "v2")
            for outcome in (("success", None), ("refused", "takedown"))}
    local = keys["local"]
    # the takedown removed samples from v2, and purged them from v1 too
    assert local[("v2", ("refused", "takedown"))] and local[("v1", ("success", None))]
    assert local[("v1", ("refused", "takedown"))] == local[("v2", ("refused", "takedown"))]
    assert local[("v1", ("success", None))] == local[("v2", ("success", None))]
    assert keys["ray"] == keys["local"]
    assert figures["local"] == figures["ray"] and figures["local"]["steps"] == (8, 8)


def assert_summary_names_the_tokens_honoured(ds, summary: str) -> None:
    """The EU summary against manifest.json of the real run, field by field: a renamed field
    (the card read `tokens_checked`, the manifest writes `ai_tokens`: "()" was published) fails."""
    runs = [r for r in json.loads((ds / "manifest.json").read_text())["runs"] if r["stage"] == "download"]
    rights = runs[-1]["config"]["rights"]["config"]
    lines = summary.splitlines()
    at = next(i for i, ln in enumerate(lines) if "honours robots.txt" in ln)
    text = " ".join(lines[at:at + 2])
    assert rights["user_agent"] in summary and "()" not in text, text
    if rights["conservative_robots"]:
        assert rights["ai_tokens"] and all(t in text for t in rights["ai_tokens"] if t != rights["user_agent"]), text
    else:
        assert "conservative mode off" in text, text


def assert_no_local_paths(card, out) -> None:
    """A published card names no folder of the operator's machine (the run wrote under
    ``out``, an absolute path), no home folder, no host name: sources by file name only."""
    import os
    import socket

    host = socket.gethostname()
    leaks = [str(out), str(out.resolve()), os.path.expanduser("~") + "/", host if len(host) >= 4 else ""]
    for doc in ("README.md", "DATASHEET.md", "EU_PUBLIC_SUMMARY.md"):
        text = (card / doc).read_text()
        found = [leak for leak in leaks if leak and leak in text]
        assert not found, (doc, found)
    assert "miniweb.warc.gz" in (card / "EU_PUBLIC_SUMMARY.md").read_text()  # the source, by its file name
