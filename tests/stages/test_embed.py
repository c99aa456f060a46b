"""The embed step with a tiny random-weights CLIP: the same embeddings as plain
open_clip, aligned with the ledger, float16 and normalised, resumable, the same on
Ray, and clear errors for every bad input."""

from __future__ import annotations

import io as _io
import json

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from grassroots.cli import app
from grassroots.errors import InputError
from grassroots.layout import DatasetDir
from grassroots.models.clip import ModelSpec, init_checkpoint, load
from grassroots.runner import LocalRunner, RayRunner, run_step
from grassroots.stages import Embed
from grassroots.stages.embed import EmbedConfig
from tests.conftest import assert_accounted
from tests.stages.test_hash import image_bytes, make_dataset


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("weights") / "tiny.pt"
    init_checkpoint("grassroots-tiny", str(path), seed=0)
    return str(path)


def embed_step(checkpoint: str, **cfg) -> Embed:
    return Embed(EmbedConfig(ModelSpec("grassroots-tiny", checkpoint), device="cpu", threads=1,
                             **{"batch_size": 3, **cfg})).resolved()


def outputs(ds: str, model_id: str, shard: int):
    layout = DatasetDir(ds)
    return (np.load(layout.embedding(model_id, "img", shard)), np.load(layout.embedding(model_id, "txt", shard)),
            pq.read_table(layout.embedding(model_id, "keys", shard)).column("key").to_pylist())


def test_auto_chooses_the_cpu_and_a_measured_precision_and_says_why(tiny):
    step = embed_step(tiny)
    assert step.device == "cpu" and step.precision in ("fp32", "bf16") and "measured" in step.why


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_embeddings_match_plain_open_clip_and_line_up_with_the_ledger(tmp_path, tiny, precision):
    ds = str(tmp_path / "ds")
    make_dataset(ds)
    step = embed_step(tiny, precision=precision)
    assert (step.device, step.precision) == ("cpu", precision)
    totals = run_step(step, ds, LocalRunner(), progress=False)
    assert totals.candidates == 12 and totals.kept == 11 and dict(totals.reasons) == {"decode_error": 1}
    assert_accounted(ds)
    img, txt, keys = outputs(ds, step.model_id, 1)
    assert keys == ["000010000", "000010001", "000010003"]  # ledger order, the undecodable sample dropped
    assert img.dtype == np.float16 and img.shape == (3, 64) and txt.shape == (3, 64)
    assert np.allclose(np.linalg.norm(img.astype(np.float32), axis=1), 1, atol=1e-2)
    # The same model through plain open_clip, at full 77-token padding.
    model, preprocess, tokenizer, _ = load(ModelSpec("grassroots-tiny", tiny))
    with torch.inference_mode():
        ref_img = model.encode_image(torch.stack([preprocess(Image.open(_io.BytesIO(image_bytes(5 + r))).convert("RGB"))
                                                  for r in (0, 1, 3)]), normalize=True).numpy()
        ref_txt = model.encode_text(tokenizer([f"caption {k}" for k in keys]), normalize=True).numpy()
    floor = 0.999 if precision == "fp32" else 0.99  # issue 13's floors against fp32 open_clip
    assert (np.sum(ref_img * img.astype(np.float32), axis=1) >= floor).all()
    assert (np.sum(ref_txt * txt.astype(np.float32), axis=1) >= floor).all()
    meta = json.loads((tmp_path / "ds" / "embeddings" / step.model_id / "model.json").read_text())
    assert meta["arch"] == "grassroots-tiny" and meta["checkpoint_sha256"].startswith(step.model_id.rsplit("-", 1)[1])
    assert meta["precision"] == step.precision and meta["image_size"] == 64 and meta["dtype"] == "float16"
    from grassroots.manifest import read_manifest

    (run,) = [r for r in read_manifest(ds)["runs"] if r["stage"] == step.name]
    recorded = run["config"]["identity"]  # the model's whole identity, as model.json has it
    assert {k: recorded[k] for k in ("arch", "checkpoint_sha256", "precision", "image_size", "mean", "interpolation")} \
        == {k: meta[k] for k in ("arch", "checkpoint_sha256", "precision", "image_size", "mean", "interpolation")}
    again = run_step(step, ds, LocalRunner(), progress=False)
    assert again.skipped_shards == 3


def test_two_models_never_mix_and_a_precision_change_is_refused(tmp_path, tiny):
    ds = str(tmp_path / "ds")
    make_dataset(ds, shards=1)
    other = str(tmp_path / "other.pt")
    init_checkpoint("grassroots-tiny", other, seed=1)
    a, b = embed_step(tiny), embed_step(other)
    run_step(a, ds, LocalRunner(), progress=False)
    run_step(b, ds, LocalRunner(), progress=False)
    assert a.model_id != b.model_id
    assert not np.allclose(outputs(ds, a.model_id, 0)[0], outputs(ds, b.model_id, 0)[0])
    bf16 = Embed(EmbedConfig(ModelSpec("grassroots-tiny", tiny), device="cpu",
                             precision="fp32" if a.precision == "bf16" else "bf16")).resolved()
    with pytest.raises(InputError, match="embeddings of this model"):
        run_step(bf16, ds, LocalRunner(), progress=False)


@pytest.mark.slow
def test_embed_on_ray_matches_local(tmp_path, tiny):
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    make_dataset(a)
    make_dataset(b)
    step = embed_step(tiny)
    ta = run_step(step, a, LocalRunner(processes=2), progress=False)
    tb = run_step(step, b, RayRunner(processes=2), progress=False)
    assert (ta.kept, ta.reasons) == (tb.kept, tb.reasons)
    for s in range(3):
        ia, ta_, ka = outputs(a, step.model_id, s)
        ib, tb_, kb = outputs(b, step.model_id, s)
        assert ka == kb and np.array_equal(ia, ib) and np.array_equal(ta_, tb_)


def test_clear_errors(tmp_path, tiny):
    ds = tmp_path / "ds"
    make_dataset(str(ds), shards=1)
    cli = CliRunner()

    def run(*args):
        res = cli.invoke(app, ["embed", str(ds), "--model", "grassroots-tiny", *args])
        assert res.exit_code == 2 and "Traceback" not in res.output, res.output
        return " ".join(res.output.split())

    assert "no such checkpoint file" in run("--checkpoint", str(tmp_path / "missing.pt"))
    assert "no weights given" in run()
    assert "CUDA was asked for" in run("--checkpoint", tiny, "--device", "cuda")
    broken = tmp_path / "broken.pt"
    sd = torch.load(tiny)["state_dict"]
    sd["visual.proj"] = torch.zeros(3, 3)
    torch.save({"state_dict": sd}, broken)
    assert "do not fit grassroots-tiny" in run("--checkpoint", str(broken))
    truncated, junk = tmp_path / "truncated.pt", tmp_path / "junk.pt"
    truncated.write_bytes(open(tiny, "rb").read()[:4096])
    junk.write_text("not a checkpoint")
    assert "damaged or truncated checkpoint" in run("--checkpoint", str(truncated))
    assert "not a checkpoint torch.save wrote" in run("--checkpoint", str(junk))
    res = cli.invoke(app, ["embed", str(ds), "--model", "ViT-Nope", "--checkpoint", tiny])
    assert res.exit_code == 2 and "unknown architecture" in res.output
    empty = tmp_path / "empty"
    empty.mkdir()
    res = cli.invoke(app, ["embed", str(empty), "--model", "grassroots-tiny", "--checkpoint", tiny])
    assert res.exit_code == 2 and "no finished download shards" in res.output
    res = cli.invoke(app, ["embed", str(ds), "--model", "grassroots-tiny", "--checkpoint", tiny, "--device", "cpu"])
    assert res.exit_code == 0 and "pairs/s" in res.output and "cpu:" in res.output, res.output


def test_open_clip_is_imported_without_transformers_unless_the_architecture_needs_it():
    """open_clip imports HuggingFace transformers whenever it is installed (~0.9 s of a
    command's start); an architecture without an HF text tower skips it, and one that
    needs it later in the same process still gets it (a fresh interpreter for each)."""
    import subprocess
    import sys

    code = """
import sys
from grassroots.models.clip import register_configs
oc = register_configs("ViT-B-32")
assert "transformers" not in sys.modules and oc.hf_model.transformers is None
assert "ViT-B-32" in oc.list_models() and "grassroots-tiny" in oc.list_models()
import transformers  # anyone else still can
register_configs("roberta-ViT-B-32")  # needs an HF text tower: open_clip's HF module again, with it
assert oc.hf_model.transformers is transformers and oc.model.HFTextEncoder is oc.hf_model.HFTextEncoder
"""
    first_hf = """
import sys
from grassroots.models.clip import register_configs
oc = register_configs("coca_ViT-B-32")  # CoCa generates captions with transformers
assert oc.hf_model.transformers is sys.modules["transformers"]
"""
    for c in (code, first_hf):
        res = subprocess.run([sys.executable, "-c", c], capture_output=True, text=True, timeout=120)
        assert res.returncode == 0, res.stderr[-2000:]
