"""grassroots train: learning, exact resume after kill -9, open_clip's checkpoint
format, the streamed and cached data paths, and clear errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from grassroots.errors import InputError
from grassroots.train.loop import TrainConfig, train
from tests.train.scenes_ds import make_scene_dataset

ARCH = "grassroots-train-tiny"
CLI = [sys.executable, "-m", "grassroots.cli"]


@pytest.fixture(scope="module")
def scenes(tmp_path_factory) -> str:
    ds = str(tmp_path_factory.mktemp("scenes") / "ds")
    make_scene_dataset(ds, 192, shards=3)
    return ds


def weights(path: str) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]


def cfg(ds: str, run: str, **kw) -> TrainConfig:
    kw.setdefault("batch_size", 32)
    # Not auto: its timing probe (bf16 against fp32) can choose differently for two runs on a
    # busy machine, and tests that compare two runs' weights then fail at random (it did, once,
    # in a full `make test`). test_auto_precision_* covers auto.
    kw.setdefault("precision", "fp32")
    return TrainConfig(ds, run, progress=False, workers=1, **kw)


def test_training_lowers_the_loss_and_logs_each_step_window(scenes, tmp_path):
    run = str(tmp_path / "run")
    res = train(cfg(scenes, run, steps=40, lr=2e-3, log_every=5))
    log = [json.loads(line) for line in open(os.path.join(run, "log.jsonl"))]
    assert [r["step"] for r in log] == list(range(5, 41, 5))
    assert log[-1]["loss"] < log[0]["loss"] - 0.3, log  # ln(32) = 3.47 at chance
    assert res.steps == 40 and res.samples_seen == 40 * 32
    # the data position is told as (epoch, shard, key): step 40 of 32 = sample 1280 = epoch 6 of 192
    assert log[-1]["next"]["epoch"] == 1280 // 192 and log[-1]["next"]["offset"] == 1280 % 192
    meta = json.load(open(os.path.join(run, "run.json")))
    assert meta["total_steps"] == 40 and meta["samples"] == 192 and meta["recipe"]["arch"] == ARCH


@pytest.mark.timeout(600)
def test_kill_9_then_resume_ends_with_the_weights_of_an_uninterrupted_run(scenes, tmp_path):
    args = ["train", scenes, "--steps", "16", "--batch-size", "32", "--checkpoint-every", "4", "--workers", "1",
            "--precision", "fp32"]  # not auto: two runs' timing probes could choose differently on a busy machine
    whole, cut = str(tmp_path / "whole"), str(tmp_path / "cut")
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    subprocess.run([*CLI, *args, "-o", whole], check=True, env=env, capture_output=True)

    proc = subprocess.Popen([*CLI, *args, "-o", cut], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpt = os.path.join(cut, "checkpoints", "last.pt")
    deadline = time.monotonic() + 120
    while not os.path.exists(ckpt) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = torch.load(ckpt, map_location="cpu", weights_only=True)["step"]
    assert 4 <= killed_at < 16, "the run was not killed mid-way"

    done = subprocess.run([*CLI, *args, "-o", cut, "--resume"], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"resuming {cut} at step {killed_at}" in " ".join(done.stdout.split())
    a, b = weights(os.path.join(whole, "checkpoints", "last.pt")), weights(ckpt)
    assert a.keys() == b.keys()
    for name in a:
        assert torch.allclose(a[name], b[name], rtol=0, atol=1e-6), name
    steps = [json.loads(line)["step"] for line in open(os.path.join(cut, "log.jsonl"))]
    assert steps == sorted(set(steps)) and steps[-1] == 16  # log lines past the checkpoint are not doubled


def test_checkpoints_load_in_open_clip_and_in_embed(scenes, tmp_path):
    import open_clip

    from grassroots.models.clip import ModelSpec, load, register_configs

    run = str(tmp_path / "run")
    res = train(cfg(scenes, run, steps=3))
    register_configs()
    model, _, preprocess = open_clip.create_model_and_transforms(ARCH, pretrained=res.checkpoint)
    trained = weights(res.checkpoint)
    assert all(torch.equal(v, trained[k]) for k, v in model.state_dict().items())
    from grassroots.models.clip import checkpoint_arch, init_checkpoint

    assert checkpoint_arch(res.checkpoint) == ARCH  # embed and eval need no --model for our checkpoints
    assert checkpoint_arch(init_checkpoint(ARCH, str(tmp_path / "plain.pt")) and str(tmp_path / "plain.pt")) is None
    loaded, _, _, identity = load(ModelSpec(ARCH, checkpoint=res.checkpoint))
    assert identity.image_size == 32 and identity.checkpoint_sha256
    from grassroots.runner import LocalRunner, run_step
    from grassroots.stages import Embed
    from grassroots.stages.embed import EmbedConfig

    step = Embed(EmbedConfig(ModelSpec(ARCH, res.checkpoint), device="cpu", threads=1)).resolved()
    totals = run_step(step, scenes, LocalRunner(), progress=False)
    assert totals.kept == 192 and step.model_id == identity.model_id
    assert os.path.isdir(os.path.join(scenes, "embeddings", identity.model_id, "img"))


def test_images_streamed_from_the_tars_train_exactly_as_the_memory_cache(scenes, tmp_path):
    a = train(cfg(scenes, str(tmp_path / "cached"), steps=4))
    b = train(cfg(scenes, str(tmp_path / "streamed"), steps=4, cache_gb=0.0))
    wa, wb = weights(a.checkpoint), weights(b.checkpoint)
    assert all(torch.allclose(wa[k], wb[k], rtol=0, atol=1e-6) for k in wa)


def test_hard_negatives_train_from_the_flag_and_a_resumed_run_keeps_them(scenes, tmp_path):
    from typer.testing import CliRunner

    from grassroots.cli import app

    run = str(tmp_path / "neg")
    res = CliRunner().invoke(app, ["train", scenes, "-o", run, "--steps", "4", "--batch-size", "32", "--workers", "1",
                                   "--precision", "fp32", "--hard-negatives"])
    assert res.exit_code == 0, res.output
    assert json.load(open(os.path.join(run, "run.json")))["recipe"]["hard_negatives"] is True
    plain = train(cfg(scenes, str(tmp_path / "plain"), steps=4))
    again = train(cfg(scenes, str(tmp_path / "again"), steps=4, hard_negatives=True))
    wn, wp, wa = weights(os.path.join(run, "checkpoints", "last.pt")), weights(plain.checkpoint), weights(again.checkpoint)
    assert any(not torch.equal(wn[k], wp[k]) for k in wn)  # the negatives changed the gradient
    assert all(torch.allclose(wn[k], wa[k], rtol=0, atol=1e-6) for k in wn)  # and are fixed by the seed
    # a resume takes them from run.json, not from the (absent) flag
    resumed = train(cfg(scenes, run, resume=True))
    assert resumed.steps == 4


def test_every_recipe_names_a_model_open_clip_builds_and_tiny_rn_trains(scenes, tmp_path):
    import open_clip

    from grassroots.models.clip import register_configs
    from grassroots.train.recipes import RECIPES

    register_configs()
    assert all(r.arch in open_clip.list_models() for r in RECIPES.values())
    res = train(cfg(scenes, str(tmp_path / "rn"), recipe="tiny-rn", steps=2))
    meta = json.load(open(os.path.join(str(tmp_path / "rn"), "run.json")))
    assert meta["image_size"] == 96 and meta["recipe"]["hard_negatives"] is True and res.steps == 2
    assert np.isfinite(res.loss)
    # its convolutions train channels-last (NHWC); the checkpoint still loads as a plain open_clip model
    model = open_clip.create_model(res.arch, pretrained=res.checkpoint)
    stem = weights(res.checkpoint)["visual.conv1.weight"]
    assert stem.is_contiguous(memory_format=torch.channels_last) and not stem.is_contiguous()
    assert torch.equal(model.state_dict()["visual.conv1.weight"], stem)


def test_a_recipe_with_fixed_steps_trains_them_unless_told_another_length(scenes, tmp_path, monkeypatch):
    from dataclasses import replace

    from grassroots.train import recipes

    monkeypatch.setitem(recipes.RECIPES, "fixed", replace(recipes.RECIPES["tiny"], name="fixed", steps=3))
    assert train(cfg(scenes, str(tmp_path / "a"), recipe="fixed")).steps == 3
    assert train(cfg(scenes, str(tmp_path / "b"), recipe="fixed", epochs=1.0)).steps == 6  # 192 samples / 32
    assert train(cfg(scenes, str(tmp_path / "c"), recipe="fixed", steps=2)).steps == 2


def test_the_data_order_is_a_fresh_permutation_per_epoch_and_seed():
    from grassroots.train.data import batch_positions

    n, b = 10, 4
    seen = np.concatenate([batch_positions(s, b, n, seed=0) for s in range(5)])  # 20 samples = 2 epochs
    assert sorted(seen[:n]) == list(range(n)) and sorted(seen[n:]) == list(range(n))
    assert list(seen[:n]) != list(seen[n:])  # each epoch its own order
    assert list(batch_positions(0, b, n, seed=1)) != list(batch_positions(0, b, n, seed=0))
    assert list(batch_positions(3, b, n, seed=0)) == list(seen[12:16])  # a step alone says its samples


def test_clear_errors(scenes, tmp_path):
    with pytest.raises(InputError, match="no run to resume"):
        train(cfg(scenes, str(tmp_path / "none"), steps=1, resume=True))
    with pytest.raises(InputError, match="unknown recipe"):
        train(cfg(scenes, str(tmp_path / "r"), steps=1, recipe="huge"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="no finished download shards"):
        train(cfg(str(empty), str(tmp_path / "e"), steps=1))
    run = str(tmp_path / "run")
    train(cfg(scenes, run, steps=1))
    with pytest.raises(InputError, match="pass --resume"):  # never silently restarts over a run
        train(cfg(scenes, run, steps=1))
    with pytest.raises(InputError, match="trained on"):
        train(cfg(str(empty), run, steps=1, resume=True))
    bad = subprocess.run([*CLI, "train", scenes, "-o", str(tmp_path / "x"), "--steps", "2", "--minutes", "1"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "at most one of" in bad.stdout + bad.stderr


def test_precision_is_chosen_after_the_device_by_timing_the_model():
    from grassroots.models.device import choose
    from grassroots.train.loop import _placement

    cpu = choose("auto", "fp32")
    times = {"fp32": 1.0, "bf16": 1.25}  # seconds per step under each precision, as a probe would time them
    slower = _placement(cpu, "auto", None, times.get)
    assert (slower.device, slower.precision) == ("cpu", "fp32") and "measured 0.80x of fp32" in slower.why
    faster = _placement(cpu, "auto", None, {"fp32": 2.9, "bf16": 1.0}.get)
    assert faster.precision == "bf16" and "2.9x faster" in faster.why
    assert _placement(choose("cpu", "bf16"), "bf16", None, times.get).precision == "bf16"  # asked for: kept
    resumed = _placement(cpu, "auto", "bf16", times.get)  # a resumed run keeps its own, whatever the probe says
    assert resumed.precision == "bf16" and "as the run began" in resumed.why
    with pytest.raises(InputError, match="no CUDA device"):
        choose("cuda", "fp32")
    with pytest.raises(InputError, match="fp16 is not supported on the CPU"):
        choose("cpu", "fp16")


def test_the_text_tower_keeps_fp32_under_bf16_where_it_measures_faster_so():
    from grassroots.models.device import choose
    from grassroots.train.loop import _text_precision

    cpu = choose("auto", "fp32")
    assert _text_precision("auto", cpu, None, {"fp32": 1.0, "bf16": 1.5}.get) == "fp32"
    assert _text_precision("auto", cpu, None, {"fp32": 2.0, "bf16": 1.0}.get) == "bf16"
    assert _text_precision("bf16", choose("cpu", "bf16"), None, {"fp32": 1.0, "bf16": 9.0}.get) is None  # asked: kept
    assert _text_precision("auto", cpu, "bf16", {"fp32": 1.0, "bf16": 9.0}.get) == "bf16"  # resumed: the run's

    def no_bf16(precision):
        if precision == "bf16":
            raise RuntimeError("no bf16 here")
        return 1.0

    assert _text_precision("auto", cpu, None, no_bf16) is None


def test_auto_precision_is_measured_on_the_model_and_recorded(scenes, tmp_path):
    run = str(tmp_path / "run")
    done = subprocess.run([*CLI, "train", scenes, "-o", run, "--steps", "1", "--batch-size", "16", "--workers", "1"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    said = " ".join(done.stdout.split())
    meta = json.load(open(os.path.join(run, "run.json")))
    assert meta["device"] == "cpu" and meta["precision"] in ("fp32", "bf16")
    assert meta["text_precision"] in ("fp32", "bf16")
    assert meta["precision"] == "bf16" or meta["text_precision"] == "fp32"  # no bf16 text in an fp32 run
    assert "a training step" in said and "measured" in said and f"{meta['precision']}" in said


def test_train_takes_a_release_the_way_the_release_commands_do(scenes, tmp_path):
    """`grassroots train DATASET --release vN` (as select, index, serve and card name a
    release) trains on that release; a missing one is the one clear error."""
    import shutil

    from grassroots.releases import make_release
    from grassroots.runner import LocalRunner

    import pyarrow as pa
    import pyarrow.parquet as pq

    from grassroots.layout import DatasetDir
    from grassroots.ledger import finished_shards, kept_rows

    ds = tmp_path / "ds"
    shutil.copytree(scenes, ds)
    layout = DatasetDir(str(ds))
    for shard in finished_shards(str(ds)):  # an attribute table to select on: every other sample
        keys = kept_rows(layout, shard, ["key"]).column("key").to_pylist()
        (ds / "attributes" / "pick").mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table({"key": keys, "even": [i % 2 == 0 for i in range(len(keys))]}),
                       layout.attribute("pick", shard))
    target, totals = make_release(str(ds), "v1", "even", LocalRunner(), progress=False)
    missing = subprocess.run([*CLI, "train", str(ds), "--release", "v7", "-o", str(tmp_path / "m"), "--steps", "1"],
                             capture_output=True, text=True)
    assert missing.returncode == 2 and "no such release" in missing.stdout + missing.stderr
    assert "Traceback" not in missing.stdout + missing.stderr
    ok = subprocess.run([*CLI, "train", str(ds), "--release", "v1", "-o", str(tmp_path / "run"), "--steps", "1",
                         "--precision", "fp32"], capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["source"] == target and run["samples"] == totals.kept
