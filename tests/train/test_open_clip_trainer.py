"""Interop with open_clip's own trainer (issue 15): `open_clip_train.main` trains on our
download/release tars unchanged, its checkpoint loads in open_clip and in
`grassroots embed --checkpoint`, and it starts from the weights of
a `grassroots train` checkpoint with --pretrained."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import pytest
import torch

from grassroots.train.loop import TrainConfig, train
from tests.train import open_clip_cli
from tests.train.scenes_ds import make_scene_dataset

ARCH = "grassroots-train-tiny"


@pytest.fixture(scope="module")
def scenes(tmp_path_factory) -> str:
    ds = str(tmp_path_factory.mktemp("scenes") / "ds")
    make_scene_dataset(ds, 32, shards=2)
    return ds


def run_open_clip(ds: str, logs: str, name: str, samples: int, *extra: str) -> tuple[str, list[dict]]:
    cmd = open_clip_cli.command(os.path.join(ds, "shards", "{00000..00001}.tar"), logs, name,
                                samples=samples, batch_size=8, extra=extra)
    done = subprocess.run(cmd, env={**open_clip_cli.env(), "OMP_NUM_THREADS": "2"}, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    run = os.path.join(logs, name)
    return run, open_clip_cli.steps(os.path.join(run, "out.log"))


def state_dict(path: str) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]


def test_open_clip_trainer_trains_two_steps_on_our_tars_and_we_load_its_checkpoint(scenes, tmp_path):
    import open_clip

    from grassroots.models.clip import ModelSpec, load, register_configs

    run, steps = run_open_clip(scenes, str(tmp_path / "logs"), "oc", 16, "--lr", "1e-3", "--warmup", "1")
    # two optimiser steps of 8 samples each, read from our tars (a decode failure would drop samples)
    assert [(s["epoch"], s["seen"], s["of"]) for s in steps] == [(0, 8, 16), (0, 16, 16)]
    assert all(math.isfinite(s["loss"]) and 0 < s["loss"] < 10 for s in steps), steps
    ckpt_path = os.path.join(run, "checkpoints", "epoch_1.pt")
    ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=True)
    assert ckpt["epoch"] == 1 and ckpt["optimizer"]["state"], "no optimiser step was taken"
    assert all(int(s["step"]) == 2 for s in ckpt["optimizer"]["state"].values())

    register_configs()
    model, _, _ = open_clip.create_model_and_transforms(ARCH, pretrained=ckpt_path)
    assert all(torch.equal(v, ckpt["state_dict"][k]) for k, v in model.state_dict().items())
    ours, _, _, identity = load(ModelSpec(ARCH, checkpoint=ckpt_path))
    assert all(torch.equal(v, ckpt["state_dict"][k]) for k, v in ours.state_dict().items())
    assert identity.image_size == 32 and identity.checkpoint_sha256
    done = subprocess.run([sys.executable, "-m", "grassroots.cli", "embed", scenes, "--model", ARCH,
                           "--checkpoint", ckpt_path, "--processes", "1"], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert os.path.isdir(os.path.join(scenes, "embeddings", identity.model_id, "img"))


def test_open_clip_trainer_starts_from_a_grassroots_train_checkpoint(scenes, tmp_path):
    ours = train(TrainConfig(scenes, str(tmp_path / "ours"), steps=1, batch_size=8, workers=1, progress=False))
    # lr 0: open_clip's step leaves the weights it loaded untouched, so they must be ours, bit for bit
    run, steps = run_open_clip(scenes, str(tmp_path / "logs"), "from-ours", 8,
                               "--pretrained", ours.checkpoint, "--lr", "0", "--warmup", "1")
    assert len(steps) == 1
    theirs, mine = state_dict(os.path.join(run, "checkpoints", "epoch_1.pt")), state_dict(ours.checkpoint)
    assert theirs.keys() == mine.keys()
    assert all(torch.equal(theirs[k], mine[k]) for k in mine)
