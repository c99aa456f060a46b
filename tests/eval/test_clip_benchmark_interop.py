"""Interop: CLIP_benchmark (package ``clip-benchmark``) evaluates our checkpoint
on the same data and its numbers agree with ``grassroots eval`` within 0.5 points.

CLIP_benchmark reads local data through its ``wds/`` datasets (test/{0..N-1}.tar
+ nshards.txt, classnames.txt + zeroshot_classification_templates.txt, or
dataset_type.txt = retrieval). Retrieval reads our release tars unchanged (by
symlink); classification reads the held-out folder's images packed as KEY.jpg +
KEY.cls. It loads our checkpoint with ``--model_type open_clip --pretrained PATH``;
the only help it needs is our architecture registered with open_clip
(``register_configs()``), as any open_clip user of a custom config does.
"""

from __future__ import annotations

import json
import os
import sys

import pytest
from typer.testing import CliRunner

from grassroots.cli import app
from grassroots.eval.templates import SCENES
from grassroots.miniweb.heldout import write_heldout
from grassroots.models.clip import register_configs
from tests.eval.helpers import clip_benchmark_wds, folder_as_tar, make_shards

clip_benchmark_cli = pytest.importorskip("clip_benchmark.cli", reason="pip install clip-benchmark (test extra)")
from clip_benchmark.metrics import zeroshot_classification  # noqa: E402



def _accuracy_numpy2(output, target, topk=(1,)):
    """CLIP_benchmark 1.6.2's ``accuracy`` with ``.item()`` where it calls float() on a
    1-element array, which NumPy >= 2.3 refuses ("only 0-dimensional arrays can be
    converted to Python scalars"; LAION-AI/CLIP_benchmark#147, open). Same numbers."""
    pred = output.topk(max(topk), 1, True, True)[1].t()
    correct = pred.eq(target.view(1, -1).expand_as(pred))
    return [correct[:k].reshape(-1).float().sum().item() / len(target) for k in topk]


CPU = ["--device", "cpu", "--precision", "fp32", "--batch-size", "16"]


def run_clip_benchmark(monkeypatch, tmp_path, dataset_root: str, checkpoint: str, task: str) -> dict:
    register_configs()
    out = tmp_path / f"cb_{task}.json"
    monkeypatch.setattr(sys, "argv", [
        "clip_benchmark", "eval", "--dataset", "wds/grassroots", "--dataset_root", dataset_root,
        "--task", task, "--model_type", "open_clip", "--model", "grassroots-tiny", "--pretrained", checkpoint,
        "--no_amp", "--num_workers", "0", "--batch_size", "16", "--recall_k", "1", "5", "10",
        "--output", str(out), "--quiet"])
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)  # same device as ours
    monkeypatch.setattr(zeroshot_classification, "accuracy", _accuracy_numpy2)
    clip_benchmark_cli.main()
    return json.loads(out.read_text())


def ours(tmp_path, *args) -> dict:
    res = CliRunner().invoke(app, ["eval", *args, "-o", str(tmp_path / "ours.json"), *CPU])
    assert res.exit_code == 0, res.output
    return json.loads((tmp_path / "ours.json").read_text())


def test_zeroshot_classification_agrees_with_clip_benchmark(tmp_path, monkeypatch, trained):
    folder = write_heldout(str(tmp_path / "scenes"), per_class=2, seed=11, pairs="all", side=64)
    classnames = sorted(e.name.replace("_", " ") for e in os.scandir(folder) if e.is_dir())
    tar = folder_as_tar(folder, classnames, str(tmp_path / "scenes.tar"))
    root = clip_benchmark_wds(str(tmp_path / "cb_cls"), [tar], classnames, list(SCENES))
    theirs = run_clip_benchmark(monkeypatch, tmp_path, root, trained, "zeroshot_classification")
    mine = ours(tmp_path, trained, "--zeroshot", folder)
    assert set(mine) == set(theirs) and set(mine["metrics"]) == set(theirs["metrics"])
    assert mine["metrics"]["acc5"] > 5 / 32  # above chance: the agreement is not about zeros
    for k, v in theirs["metrics"].items():
        assert abs(mine["metrics"][k] - v) <= 0.005, (k, mine["metrics"], theirs["metrics"])


def test_retrieval_on_our_shards_agrees_with_clip_benchmark(tmp_path, monkeypatch, trained):
    ds = str(tmp_path / "ds")
    make_shards(ds, per_shard=12, shards=2, label_column=None)
    tars = [f"{ds}/shards/{s:05d}.tar" for s in range(2)]
    root = clip_benchmark_wds(str(tmp_path / "cb_ret"), tars)
    theirs = run_clip_benchmark(monkeypatch, tmp_path, root, trained, "zeroshot_retrieval")
    mine = ours(tmp_path, trained, "--retrieval", ds)
    assert list(mine["metrics"]) == list(theirs["metrics"])
    assert mine["metrics"]["image_retrieval_recall@10"] > 0
    for k, v in theirs["metrics"].items():
        assert abs(mine["metrics"][k] - v) <= 0.005, (k, mine["metrics"], theirs["metrics"])
