"""``grassroots eval`` end to end on a quickly trained tiny CLIP: every SPEC
form (folder, CSV, shards), retrieval, the result files' format, the mini-web's
held-out set, and one-line errors for every bad input."""

from __future__ import annotations

import csv
import json
import os

import numpy as np
import pytest
from typer.testing import CliRunner

from grassroots.cli import app
from grassroots.eval import EvalConfig, ZeroShotSpec, evaluate
from grassroots.eval.templates import SCENES
from grassroots.miniweb.heldout import write_heldout
from grassroots.miniweb.scenes import HELD_OUT_PAIRS
from grassroots.models.clip import ModelSpec
from tests.eval.helpers import make_shards

CPU = ["--device", "cpu", "--precision", "fp32", "--batch-size", "16"]
CLASSIFICATION_KEYS = ["dataset", "model", "pretrained", "task", "metrics", "language"]


def run_eval(*args) -> tuple[int, str]:
    res = CliRunner().invoke(app, ["eval", *args])
    return res.exit_code, " ".join(res.output.split())


@pytest.fixture(scope="module")
def scenes(tmp_path_factory) -> str:
    """Every (colour, shape) class with 2 images."""
    return write_heldout(str(tmp_path_factory.mktemp("eval") / "scenes"), per_class=2, seed=7, pairs="all", side=64)


def test_heldout_set_has_every_pair_as_a_class_and_images_of_held_out_pairs_only(tmp_path):
    out = write_heldout(str(tmp_path / "h"), per_class=3, seed=1, side=48)
    classes = sorted(e.name for e in os.scandir(out) if e.is_dir())
    assert len(classes) == 32 and "red_square" in classes and "red_circle" in classes
    with_images = {c for c in classes if os.listdir(os.path.join(out, c))}
    assert with_images == {f"{c}_{s}" for c, s in HELD_OUT_PAIRS}
    assert all(len(os.listdir(os.path.join(out, c))) == 3 for c in with_images)
    assert open(os.path.join(out, "zeroshot_classification_templates.txt")).read().split("\n")[:-1] == list(SCENES)
    first = open(os.path.join(out, "red_square", "00000.jpg"), "rb").read()
    write_heldout(out, per_class=2, seed=1, side=48)  # same seed, same bytes; stale images removed
    assert open(os.path.join(out, "red_square", "00000.jpg"), "rb").read() == first
    assert len(os.listdir(os.path.join(out, "red_square"))) == 2
    res = CliRunner().invoke(app, ["miniweb", "heldout", "-o", str(tmp_path / "cli"), "--per-class", "1",
                                   "--pairs", "all"])
    assert res.exit_code == 0, res.output
    assert all(len(os.listdir(tmp_path / "cli" / c)) == 1 for c in classes)


def test_folder_csv_and_shards_forms_agree_and_write_clip_benchmark_json(tmp_path, scenes, trained):
    # Folder: classes from subfolder names, templates from the folder's file.
    code, out = run_eval(trained, "--zeroshot", scenes, "-o", str(tmp_path / "folder.json"), *CPU)
    assert code == 0, out
    assert "64 images, 32 classes, 8 templates" in out and "zeroshot_classification_templates.txt" in out
    doc = json.loads((tmp_path / "folder.json").read_text())
    assert list(doc) == CLASSIFICATION_KEYS and list(doc["metrics"]) == ["acc1", "acc5", "mean_per_class_recall"]
    assert doc["dataset"] == "scenes" and doc["model"] == "grassroots-tiny" and doc["pretrained"] == trained
    assert doc["task"] == "zeroshot_classification" and doc["language"] == "en"
    m = doc["metrics"]
    assert 0.15 < m["acc1"] < 1 and m["acc5"] > m["acc1"]  # trained: far above chance (1/32), not perfect
    assert m["mean_per_class_recall"] == pytest.approx(m["acc1"])  # balanced classes

    # CSV: the same images and classes -> the same numbers.
    classes = sorted(e.name for e in os.scandir(scenes) if e.is_dir())
    names = tmp_path / "classes.txt"
    names.write_text("\n".join(c.replace("_", " ") for c in classes) + "\n")
    with open(tmp_path / "set.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "label"])
        for c in classes:
            for img in sorted(os.listdir(os.path.join(scenes, c))):
                w.writerow([os.path.relpath(os.path.join(scenes, c, img), tmp_path), c.replace("_", " ")])
    code, out = run_eval(trained, "--zeroshot", str(tmp_path / "set.csv"), "--classnames", str(names),
                         "--templates", os.path.join(scenes, "zeroshot_classification_templates.txt"),
                         "-o", str(tmp_path / "csv.json"), *CPU)
    assert code == 0, out
    csv_doc = json.loads((tmp_path / "csv.json").read_text())
    assert csv_doc["dataset"] == "set" and csv_doc["metrics"] == pytest.approx(m)

    # Another template set changes the class weights, so the numbers.
    code, out = run_eval(trained, "--zeroshot", scenes, "--templates", "photo", "-o", str(tmp_path / "p.json"), *CPU)
    assert code == 0 and "1 templates (photo)" in out, out


def test_shards_with_a_label_column_and_retrieval_one_file_per_task(tmp_path, trained):
    ds = str(tmp_path / "ds")
    kept = make_shards(ds, per_shard=10, shards=2, unlabelled=3)
    code, out = run_eval(trained, "--zeroshot", ds, "--retrieval", ds, "--templates", "scenes",
                         "-o", str(tmp_path / "r_{task}_{dataset}_{model}.json"), *CPU)
    assert code == 0, out
    assert "3 samples without a label were left out" in out and "20 image-caption pairs" in out
    zs = json.loads((tmp_path / "r_zeroshot_classification_ds_grassroots-tiny.json").read_text())
    rt = json.loads((tmp_path / "r_zeroshot_retrieval_ds_grassroots-tiny.json").read_text())
    assert list(rt) == CLASSIFICATION_KEYS and rt["task"] == "zeroshot_retrieval"
    assert list(rt["metrics"]) == [f"{d}_retrieval_recall@{k}" for k in (1, 5, 10) for d in ("image", "text")]
    r = rt["metrics"]
    assert all(0 <= v <= 1 for v in r.values())
    assert r["image_retrieval_recall@1"] <= r["image_retrieval_recall@5"] <= r["image_retrieval_recall@10"]
    assert r["image_retrieval_recall@10"] > 10 / 20  # better than chance (k / n) on 20 pairs
    labels = {row["label"] for row in kept if row["label"]}
    assert "17 images, " in out and f"{len(labels)} classes" in out
    assert set(zs["metrics"]) == {"acc1", "acc5", "mean_per_class_recall"}


def test_evaluate_from_python(tmp_path, scenes, trained):
    [result] = evaluate(EvalConfig(ModelSpec("grassroots-tiny", trained), str(tmp_path / "x.json"),
                                   zeroshot=ZeroShotSpec(scenes), device="cpu", precision="fp32", progress=False),
                        log=lambda line: None)
    assert result.path == str(tmp_path / "x.json") and result.to_json() == json.loads(open(result.path).read())
    assert not np.isnan(result.metrics["acc5"])


def test_one_line_errors(tmp_path, random_tiny, scenes):
    def error(*args) -> str:
        code, out = run_eval(*args, "-o", str(tmp_path / "e.json"), *CPU)
        assert code == 2 and "Traceback" not in out, out
        assert not (tmp_path / "e.json").exists()
        return out

    assert "no such checkpoint file" in error(str(tmp_path / "missing.pt"), "--zeroshot", scenes)
    assert "nothing to evaluate" in error(random_tiny)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "has no class subfolders" in error(random_tiny, "--zeroshot", str(empty))
    (empty / "cat").mkdir()
    (empty / "cat" / "notes.txt").write_text("x")
    assert "class subfolders hold no images" in error(random_tiny, "--zeroshot", str(empty))
    assert "no such file or folder" in error(random_tiny, "--zeroshot", str(tmp_path / "nope"))

    bad_csv = tmp_path / "bad.csv"
    img = os.path.join(scenes, "red_square", "00000.jpg")
    bad_csv.write_text(f"path,label\n{img},red square\nmissing/0001.jpg,blue star\n")
    out = error(random_tiny, "--zeroshot", str(bad_csv))
    assert "bad.csv, row 3" in out and "image file missing/0001.jpg does not exist" in out
    (tmp_path / "nohead.csv").write_text(f"{img},red square\n")
    assert "needs a header with columns path,label" in error(random_tiny, "--zeroshot", str(tmp_path / "nohead.csv"))
    (tmp_path / "names.txt").write_text("red square\n")
    bad_csv.write_text(f"path,label\n{img},red square\n{img},blue star\n")
    out = error(random_tiny, "--zeroshot", str(bad_csv), "--classnames", str(tmp_path / "names.txt"))
    assert "row 3" in out and "label 'blue star' is not one of the 1 class names" in out

    ds = str(tmp_path / "nolabels")
    make_shards(ds, per_shard=2, shards=1, label_column=None)
    out = error(random_tiny, "--zeroshot", ds)
    assert "has no 'label' column" in out and "--keep-cols label" in out
    assert "has no shards/" in error(random_tiny, "--retrieval", str(empty))
    (empty / "shards").mkdir()
    assert "has no finished download shards" in error(random_tiny, "--retrieval", str(empty))

    assert "put {task} in the path" in error(random_tiny, "--zeroshot", scenes, "--retrieval", ds)
    assert "neither a template set nor a file" in error(random_tiny, "--zeroshot", scenes, "--templates", "nope")
    (tmp_path / "t.txt").write_text("a photo\n")
    assert "has no {c}" in error(random_tiny, "--zeroshot", scenes, "--templates", str(tmp_path / "t.txt"))
    assert "unknown architecture" in error(random_tiny, "--zeroshot", scenes, "--model", "ViT-Nope")


def test_help_is_readable_at_80_columns():
    import subprocess
    import sys

    from tests.stages.test_download import ROOT, RUN

    env = {**os.environ, "COLUMNS": "80", "TERM": "xterm"}
    for cmd in (["eval"], ["miniweb", "heldout"]):
        out = subprocess.run([sys.executable, "-c", RUN, *cmd, "--help"], cwd=ROOT, capture_output=True,
                             text=True, env=env).stdout
        assert out and max(len(line) for line in out.splitlines()) <= 80, out
        assert "…" not in out
