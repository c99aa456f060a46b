"""On the demo's dataset, with a random-weights model: embed, score (with a head),
select at two thresholds; both releases load with webdataset, counts add up and
the accounting invariant holds for every step."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from grassroots.demo import DemoConfig, run_demo
from grassroots.models.clip import ModelSpec, init_checkpoint
from grassroots.models.head import save_head, train_head
from grassroots.embeddings import embedded_shards, read_embeddings
from grassroots.layout import DatasetDir
from grassroots.runner import LocalRunner, run_step
from grassroots.stages import Embed, NearDup, NearDupPairs, Score
from grassroots.stages.embed import EmbedConfig
from grassroots.stages.neardup import NearDupConfig
from grassroots.stages.select import make_release
from tests.conftest import assert_accounted


@pytest.mark.slow
def test_score_and_select_on_the_demo_dataset(tmp_path):
    import webdataset as wds

    res = run_demo(DemoConfig(out=str(tmp_path / "demo"), processes=2, size="tiny"), progress=False)
    ds = res.dataset
    ckpt = str(tmp_path / "tiny.pt")
    init_checkpoint("grassroots-tiny", ckpt)
    embed = Embed(EmbedConfig(ModelSpec("grassroots-tiny", ckpt), device="cpu", threads=1)).resolved()
    e = run_step(embed, ds, LocalRunner(), progress=False)
    assert e.kept == res.kept
    # A head trained on arbitrary labels of these embeddings, just to exercise the path end to end.
    layout = DatasetDir(ds)
    keys, img = [], []
    for s in embedded_shards(layout, embed.model_id):
        k, i, _ = read_embeddings(layout, embed.model_id, s)
        keys += k
        img.append(i)
    labels = np.array([int(k) % 2 for k in keys])
    head = train_head("watermark", embed.model_id, np.concatenate(img), labels, epochs=20)
    save_head(head, str(tmp_path / "wm.safetensors"))
    run_step(Score(embed.model_id, (("watermark", str(tmp_path / "wm.safetensors")),)), ds, LocalRunner(),
             progress=False)
    run_step(NearDupPairs(NearDupConfig(embeddings=embed.model_id, cosine=0)), ds, LocalRunner(), progress=False)
    run_step(NearDup(), ds, LocalRunner(), progress=False)
    releases = {}
    for name, where in (("v1", "neardup_representative AND width >= 16"),
                        ("v2", "neardup_representative AND width >= 16 AND watermark < 0.5 AND clip >= 0")):
        target, totals = make_release(ds, name, where, LocalRunner(), progress=False)
        assert totals.candidates == res.kept and totals.kept + totals.dropped == res.kept
        assert_accounted(target)
        tars = sorted(str(p) for p in Path(target, "shards").glob("*.tar"))
        samples = list(wds.WebDataset(tars, shardshuffle=False).decode("pil"))
        assert len(samples) == totals.kept and all(s["txt"] for s in samples)
        releases[name] = totals
    assert 0 < releases["v2"].kept <= releases["v1"].kept
    assert_accounted(ds)
