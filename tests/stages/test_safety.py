"""The safety step: NudeNet's own answers on real stored images, batched; resume,
accounting, a corrupt image, local/Ray parity, and a missing onnxruntime."""

from __future__ import annotations

import glob
import json
import os
import sys

import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from grassroots.cli import app
from grassroots.layout import DatasetDir
from grassroots.models import safety as det
from grassroots.runner import LocalRunner, RayRunner, run_step
from grassroots.schema import SAMPLE_SCHEMA
from grassroots.stages import Safety
from grassroots.stats import ShardStats
from grassroots.writer import ShardWriter
from tests.conftest import assert_accounted

# Small public-domain images (Open Clip Art, from the benchmark corpus) on which NudeNet finds body parts.
IMAGES = sorted(glob.glob(os.path.join(os.path.dirname(__file__), "data", "safety", "*.jpg")))
# ... and ones where it finds nothing (a house, a network switch, tetris).
CLEAR = sorted(glob.glob(os.path.join(os.path.dirname(__file__), "data", "safety-clear", "*.jpg")))
CAPTIONS = ["a drawing of a person", "what the fuck is this shit", "feet on a beach", "a red circle"]


def make_dataset(ds: str, shards: int = 2, extra: tuple[bytes, ...] = ()) -> list[bytes]:
    """Download-shaped shards of the real images (as stored bytes) and ``extra``, a failed row
    and, in shard 1, a corrupt image; with download's completion markers."""
    layout = DatasetDir(ds)
    stored = [open(p, "rb").read() for p in IMAGES] + list(extra)
    for s in range(shards):
        stats = ShardStats(stage="download", shard=s, candidates=len(stored) + 2)
        with ShardWriter(ds, s, schema=SAMPLE_SCHEMA) as w:
            for r, data in enumerate([*stored, b"not an image" if s == 1 else stored[0], None]):
                key = f"{s:05d}{r:04d}"
                if data is None:
                    w.add_row({"key": key, "url": f"http://x/{key}", "status": "failed", "reason": "timeout"})
                    stats.drop("timeout")
                    continue
                caption = CAPTIONS[r % len(CAPTIONS)]
                w.add_sample(key, {"jpg": data, "txt": caption})
                w.add_row({"key": key, "url": f"http://x/{key}", "caption": caption, "status": "success"})
                stats.keep()
        os.makedirs(layout.runs_dir("download"), exist_ok=True)
        with open(layout.run_marker("download", s), "w") as f:
            f.write(stats.to_json())
    return stored


def rows(ds: str, shard: int) -> list[dict]:
    return pq.read_table(DatasetDir(ds).attribute("safety", shard)).to_pylist()


def nudenet_scores(data: bytes) -> dict[str, float]:
    from nudenet import NudeDetector

    out: dict[str, float] = {}
    for d in NudeDetector().detect(data):
        out[d["class"].lower()] = max(out.get(d["class"].lower(), 0.0), d["score"])
    return out


def test_scores_equal_nudenet_on_real_stored_images(tmp_path):
    assert len(IMAGES) >= 3
    ds = str(tmp_path / "ds")
    stored = make_dataset(ds, shards=1)
    totals = run_step(Safety(batch_size=3), ds, LocalRunner(), progress=False)
    assert totals.kept == len(stored) + 1 and not totals.reasons
    found = 0
    for row, data in zip(rows(ds, 0), stored):
        ref = nudenet_scores(data)
        found += len(ref)
        for c in det.COLUMNS:
            assert abs(row[c] - ref.get(c, 0.0)) <= 0.05, (row["key"], c, row[c], ref)
            assert (row[c] >= 0.25) == (ref.get(c, 0.0) >= 0.25)
        assert row["nsfw"] == max(row[c.lower()] for c in det.EXPLICIT)
    assert found >= 3  # the images are ones where NudeNet finds something: parity is not all zeros


def test_the_bf16_screen_gives_fp32s_scores_and_clears_the_empty_images(tmp_path):
    a, b = str(tmp_path / "auto"), str(tmp_path / "fp32")
    plain = tuple(open(p, "rb").read() for p in CLEAR)
    make_dataset(a, shards=1, extra=plain)
    make_dataset(b, shards=1, extra=plain)
    ta = run_step(Safety(batch_size=4), a, LocalRunner(), progress=False)
    tb = run_step(Safety(batch_size=4, precision="fp32"), b, LocalRunner(), progress=False)
    assert rows(a, 0) == rows(b, 0)  # the same scores, bit for bit
    assert all(r["nsfw"] == 0 and r["face_female"] == 0 for r in rows(a, 0)[len(IMAGES):len(IMAGES) + len(plain)])
    images = len(IMAGES) + len(plain) + 1
    assert ta.counters["images"] == tb.counters["images"] == tb.counters["images_fp32"] == images
    backend = json.loads(open(DatasetDir(a).attribute_info("safety")).read())["image_backend"]
    if det.screen(1) is not None:  # this CPU computes bf16: the empty images never reach fp32, the others all do
        assert "bf16 screen" in backend
        assert ta.counters["images_fp32"] == len(IMAGES) + 1
    else:
        assert backend == "fp32 onnxruntime" and ta.counters["images_fp32"] == images
    with pytest.raises(ValueError, match="fp32"):
        Safety(precision="bf16")


def test_without_openvino_every_image_runs_fp32_with_the_same_scores(tmp_path, monkeypatch):
    a, b = str(tmp_path / "with"), str(tmp_path / "without")
    clear = tuple(open(p, "rb").read() for p in CLEAR)
    make_dataset(a, shards=1, extra=clear)
    make_dataset(b, shards=1, extra=clear)
    run_step(Safety(), a, LocalRunner(), progress=False)
    det.screen.cache_clear()
    monkeypatch.setitem(sys.modules, "openvino", None)  # import openvino raises ImportError
    try:
        tb = run_step(Safety(), b, LocalRunner(), progress=False)
    finally:
        det.screen.cache_clear()
    assert tb.counters["images_fp32"] == tb.counters["images"] == len(IMAGES) + len(clear) + 1
    assert json.loads(open(DatasetDir(b).attribute_info("safety")).read())["image_backend"] == "fp32 onnxruntime"
    assert rows(a, 0) == rows(b, 0)


def test_accounting_corrupt_image_captions_and_resume(tmp_path):
    ds = str(tmp_path / "ds")
    make_dataset(ds)
    totals = run_step(Safety(), ds, LocalRunner(), progress=False)
    n = len(IMAGES) + 1
    assert (totals.candidates, totals.kept, dict(totals.reasons)) == (2 * n, 2 * n - 1, {"decode_error": 1})
    r0, r1 = rows(ds, 0), rows(ds, 1)
    assert [r["key"] for r in r0] == [f"00000{i:04d}" for i in range(n)]  # kept only, ledger order
    bad = r1[-1]
    assert bad["key"] == f"00001{n - 1:04d}" and bad["nsfw"] is None and bad["face_female"] is None
    assert bad["caption_offensive"] is not None
    offensive = {r["key"]: r["caption_offensive"] for r in r0}
    assert offensive["000000001"] > 0.9 and offensive["000000003"] < 0.2
    assert_accounted(ds)
    again = run_step(Safety(), ds, LocalRunner(), progress=False)
    assert again.skipped_shards == 2 and again.kept == 2 * n - 1


@pytest.mark.slow
def test_safety_local_and_ray_agree(tmp_path):
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    make_dataset(a)
    make_dataset(b)
    ta = run_step(Safety(), a, LocalRunner(processes=2), progress=False)
    tb = run_step(Safety(), b, RayRunner(processes=2), progress=False)
    assert (ta.kept, ta.reasons) == (tb.kept, tb.reasons)
    assert all(rows(a, s) == rows(b, s) for s in range(2))


def test_safety_cli(tmp_path):
    ds = tmp_path / "ds"
    make_dataset(str(ds), shards=1)
    res = CliRunner().invoke(app, ["safety", str(ds), "--processes", "1"])
    assert res.exit_code == 0, res.output
    assert "images/s" in res.output and len(rows(str(ds), 0)) == len(IMAGES) + 1


def test_a_missing_onnxruntime_is_one_line(tmp_path, monkeypatch):
    ds = tmp_path / "ds"
    make_dataset(str(ds), shards=1)
    det.session.cache_clear()
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime raises ImportError
    try:
        res = CliRunner().invoke(app, ["safety", str(ds), "--processes", "1"])
    finally:
        det.session.cache_clear()
    assert res.exit_code != 0 and "Traceback" not in res.output
    lines = [ln for ln in res.output.splitlines() if "onnxruntime" in ln]
    assert lines and "make install" in lines[0], res.output
    assert not os.path.exists(DatasetDir(str(ds)).attribute("safety", 0))


def test_the_caption_model_is_profanity_checks_own_without_scikit_learn(tmp_path):
    import subprocess

    from profanity_check import predict_prob

    captions = [*CAPTIONS, "", "Ünïcödé Straße FUCK you", "the the the", "shit, shit; damn!", "a", "x" * 300,
                "Porträt einer Frau", "日本語のキャプション", "you are an idiot and a moron"]
    det.caption_model.cache_clear()
    model = det.CaptionModel.from_package()
    assert np.abs(model.predict(captions) - predict_prob(captions)).max() < 1e-12
    model.save(tmp_path / "m.npz")
    assert np.array_equal(det.CaptionModel.load(tmp_path / "m.npz").predict(captions), model.predict(captions))
    # A worker reads the cached arrays: no scikit-learn import (1.5 s a process)
    code = ("import sys; from grassroots.models.safety import offensive; "
            f"p = offensive({captions!r}); print('sklearn' in sys.modules, round(float(p[1]), 6))")
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    first = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    again = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    want = round(float(predict_prob([captions[1]])[0]), 6)
    assert first.stdout.split() == ["True", str(want)]  # built the cache entry, with scikit-learn
    assert again.stdout.split() == ["False", str(want)]  # read it
