"""score -> neardup -> select on a small dataset with planted near-duplicates and
labelled 'unsafe' images, with a tiny random-weights CLIP: attribute tables, a
trained safety head, near-duplicate precision/recall, releases at two thresholds
that webdataset loads, the accounting invariant, zero model runs in select, and
clear refusals of bad input."""

from __future__ import annotations

import io as _io
import json
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image, ImageFilter
from typer.testing import CliRunner

from grassroots.cli import app
from grassroots.errors import InputError
from grassroots.imaging.hashes import pdq
from grassroots.layout import DatasetDir
from grassroots.models.clip import ModelSpec, init_checkpoint
from grassroots.runner import LocalRunner, run_step
from grassroots.schema import SAMPLE_SCHEMA
from grassroots.stages import Embed, NearDup, NearDupPairs, Score
from grassroots.stages.embed import EmbedConfig
from grassroots.stages.neardup import NearDupConfig
from grassroots.releases import dry_run, make_release
from grassroots.stats import ShardStats
from grassroots.writer import ShardWriter
from tests.conftest import assert_accounted

SHARDS, PER_SHARD = 3, 8


def picture(seed: int, red: bool) -> Image.Image:
    """A smooth random picture (PDQ needs gradients); 'unsafe' ones are red-tinted."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, size=(16, 16, 3)).astype(np.uint8)
    if red:
        small[..., 0] = np.maximum(small[..., 0], 200)
        small[..., 1:] //= 3
    return Image.fromarray(small).resize((128, 128), Image.Resampling.NEAREST).filter(ImageFilter.GaussianBlur(1.5))


def jpeg(img: Image.Image, quality: int = 90) -> bytes:
    buf = _io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


# (shard, row) -> how it was made from another sample: the planted near-duplicates.
PLANTED = {(1, 2): ((0, 1), "reencode"), (2, 4): ((0, 3), "resize"), (2, 6): ((1, 5), "crop")}


def build(ds: str) -> dict[str, int]:
    """Download-shaped shards (ledger with pdq, tar) + markers; returns key -> unsafe label."""
    layout = DatasetDir(ds)
    os.makedirs(layout.runs_dir("download"), exist_ok=True)
    images: dict[tuple[int, int], Image.Image] = {}
    labels = {}
    for s in range(SHARDS):
        stats = ShardStats(stage="download", shard=s, candidates=PER_SHARD)
        with ShardWriter(ds, s, schema=SAMPLE_SCHEMA) as w:
            for r in range(PER_SHARD):
                key = f"{s:05d}{r:04d}"
                red = (s * PER_SHARD + r) % 3 == 0
                if (s, r) in PLANTED:
                    (ps, pr), how = PLANTED[(s, r)]
                    src = images[(ps, pr)]
                    img = {"reencode": src, "resize": src.resize((100, 100)), "crop": src.crop((1, 1, 127, 127))}[how]
                    data = jpeg(img, quality=60)
                    red = (ps * PER_SHARD + pr) % 3 == 0
                else:
                    img = picture(s * 100 + r, red)
                    data = jpeg(img)
                images[(s, r)] = img
                labels[key] = int(red)
                h, q = pdq(Image.open(_io.BytesIO(data)).convert("RGB"))
                caption = "CLICK HERE" if r == 7 else f"a picture number {s}-{r}"
                w.add_sample(key, {"jpg": data, "txt": caption})
                w.add_row({"key": key, "url": f"http://x/{key}.jpg", "caption": caption, "status": "success",
                           "width": img.width, "height": img.height, "original_width": img.width,
                           "original_height": img.height, "bytes": len(data), "pdq": h, "pdq_quality": q,
                           "page_lang": "en"})
                stats.keep()
        with open(layout.run_marker("download", s), "w") as f:
            f.write(stats.to_json())
    return labels


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    root = tmp_path_factory.mktemp("scored")
    ds = str(root / "ds")
    labels = build(ds)
    ckpt = str(root / "tiny.pt")
    init_checkpoint("grassroots-tiny", ckpt, seed=0)
    embed = Embed(EmbedConfig(ModelSpec("grassroots-tiny", ckpt), device="cpu", threads=1)).resolved()
    run_step(embed, ds, LocalRunner(), progress=False)
    pq.write_table(pa.table({"key": list(labels), "label": list(labels.values())}), root / "labels.parquet")
    res = CliRunner().invoke(app, ["train-head", ds, "--embeddings", embed.model_id, "--labels",
                                   str(root / "labels.parquet"), "-o", str(root / "nsfw.safetensors")])
    assert res.exit_code == 0, res.output
    head = str(root / "nsfw.safetensors")
    # A random-weights model puts every image within cosine 0.999 of every other: score measures
    # that and leaves the embedding threshold out (PDQ finds the copies here; embedding
    # near-duplicates are tested on planted vectors below and in test_neardup).
    res = CliRunner().invoke(app, ["score", ds, "--embeddings", embed.model_id, "--head", f"nsfw={head}",
                                   "--processes", "1"])
    assert res.exit_code == 0, res.output
    return ds, embed.model_id, labels, head, res.output


def table(ds: str, name: str) -> list[dict]:
    layout = DatasetDir(ds)
    return [r for s in range(SHARDS) for r in pq.read_table(layout.attribute(name, s)).to_pylist()]


def test_attribute_tables_line_up_with_the_kept_samples(scored):
    ds, model_id, labels, _, output = scored
    keys = sorted(labels)
    for name in ("clip", "caption", "image", "nsfw", "neardup"):
        assert [r["key"] for r in table(ds, name)] == keys, name
    assert all(-1.01 <= r["clip"] <= 1.01 for r in table(ds, "clip"))
    caption = {r["key"]: r for r in table(ds, "caption")}
    assert caption["000000007"]["boilerplate"] and caption["000000007"]["all_caps"]
    assert not caption["000000001"]["boilerplate"] and caption["000000001"]["lang"] == "en"
    image = {r["key"]: r for r in table(ds, "image")}
    assert image["000020004"]["width"] == 100 and image["000000000"]["aspect"] == 1.0
    assert 0 < image["000000000"]["bytes_per_pixel"] < 3
    assert "AUC" not in output  # score says nothing of training


def test_a_random_weights_model_threshold_is_not_used(scored):
    ds, model_id, _, _, output = scored
    assert "of random pairs of " + model_id in output and "the embedding threshold was not used" in output
    assert json.loads(open(DatasetDir(ds).attribute_info("neardup")).read())["embedding_pairs"] is False


def test_safety_head_separates_the_labelled_images(scored):
    from grassroots.eval.metrics import roc_auc
    from grassroots.models.head import load_head

    ds, model_id, labels, head_path, _ = scored
    head = load_head(head_path)
    assert head.embedding_model == model_id and head.auc is not None
    nsfw = {r["key"]: r["nsfw"] for r in table(ds, "nsfw")}
    keys = sorted(labels)
    auc = roc_auc(np.array([labels[k] for k in keys]), np.array([nsfw[k] for k in keys]))
    assert auc >= 0.9, auc


def test_neardup_finds_the_planted_copies(scored):
    ds, *_ = scored
    rows = {r["key"]: r for r in table(ds, "neardup")}
    truth = {frozenset((f"{s:05d}{r:04d}", f"{ps:05d}{pr:04d}")) for (s, r), ((ps, pr), _) in PLANTED.items()}
    clusters: dict[str, set] = {}
    for k, r in rows.items():
        clusters.setdefault(r["neardup_cluster"], set()).add(k)
    found = {frozenset((a, b)) for c in clusters.values() for a in c for b in c if a < b}
    recall = len(found & truth) / len(truth)
    precision = len(found & truth) / max(len(found), 1)
    print(f"near-dup precision {precision:.2f} recall {recall:.2f} ({len(found)} pairs found, {len(truth)} planted)")
    assert recall == 1.0 and precision == 1.0
    for pair in truth:  # one representative per cluster
        assert sum(rows[k]["neardup_representative"] for k in pair) == 1
    assert all(r["neardup_representative"] for k, r in rows.items() if not any(k in p for p in truth))


def test_select_makes_releases_that_rethreshold_without_a_model(scored, tmp_path, monkeypatch):
    import webdataset as wds

    import grassroots.models.clip as clip_module

    ds, model_id, labels, _, _ = scored

    def no_model(*a, **k):
        raise AssertionError("select ran a model")

    monkeypatch.setattr(clip_module, "load", no_model)
    monkeypatch.setattr("open_clip.create_model_and_transforms", no_model)
    loose = "clip >= -1 AND neardup_representative AND width >= 64"
    strict = "clip >= 0 AND nsfw < 0.5 AND neardup_representative AND width >= 64"
    total, selected, drops = dry_run(ds, strict)
    assert total == SHARDS * PER_SHARD and selected + sum(drops.values()) == total
    results = {}
    for name, where in (("v1", loose), ("v2", strict)):
        target, totals = make_release(ds, name, where, LocalRunner(), progress=False)
        assert totals.candidates == total
        assert_accounted(target)
        results[name] = (target, totals)
    v1, t1 = results["v1"]
    v2, t2 = results["v2"]
    assert dict(t1.reasons) == {"filtered:neardup_representative": 3}
    assert t2.kept == selected and dict(t2.reasons) == {f"filtered:{k}": v for k, v in drops.items()}
    assert t2.kept < t1.kept
    tars = sorted(str(p) for p in DatasetDir(v2).shards_dir and __import__("pathlib").Path(v2, "shards").glob("*.tar"))
    samples = list(wds.WebDataset(tars, shardshuffle=False).decode("pil"))
    assert len(samples) == t2.kept and all(s["jpg"].size == (128, 128) for s in samples)
    # The release carries its own attributes and embeddings for the selected keys.
    kept = {s["__key__"] for s in samples}
    rel_clip = [r["key"] for s in range(SHARDS) for r in pq.read_table(DatasetDir(v2).attribute("clip", s)).to_pylist()]
    assert set(rel_clip) == kept
    rel_keys = [k for s in range(SHARDS)
                for k in pq.read_table(DatasetDir(v2).embedding(model_id, "keys", s)).column("key").to_pylist()]
    assert set(rel_keys) == kept
    ledger = [r for s in range(SHARDS) for r in pq.read_table(DatasetDir(v2).shard_parquet(s)).to_pylist()]
    assert len(ledger) == total and {r["status"] for r in ledger} == {"success", "filtered"}
    manifest = __import__("json").loads(open(DatasetDir(v2).manifest).read())
    assert manifest["release"]["where"] == strict and manifest["release"]["selected"] == t2.kept
    assert model_id in manifest["release"]["embedding_models"]
    # A release of a release.
    target, t3 = make_release(ds, "v3", "nsfw < 0.5", LocalRunner(), parent_release="v1", progress=False)
    assert t3.candidates == t1.kept
    assert_accounted(target)


def test_bad_input_to_select_and_score(scored, tmp_path):
    ds, model_id, _, head, _ = scored
    with pytest.raises(InputError, match="(?s)unknown column 'clipp'.*available columns: .*clip"):
        dry_run(ds, "clipp >= 0.3")
    for evil in ("clip > 0; DROP TABLE x", "clip > (SELECT 1)", "read_parquet('/etc/passwd') IS NULL",
                 "clip > 0 -- comment", '"clip" > 0'):
        with pytest.raises(InputError):
            dry_run(ds, evil)
    make_release(ds, "v9", "clip >= -1", LocalRunner(), progress=False)
    res = CliRunner().invoke(app, ["select", ds, "--release", "v9", "--where", "clip >= 0"])
    assert res.exit_code == 2 and "exists" in res.output and "--overwrite" in res.output
    res = CliRunner().invoke(app, ["select", ds, "--release", "v9", "--where", "clip >= 0", "--overwrite",
                                   "--processes", "1"])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(app, ["select", ds, "--release", "v9", "--where", "nope > 1", "--dry-run"])
    assert res.exit_code == 2 and "unknown column" in res.output
    res = CliRunner().invoke(app, ["select", ds, "--release", "v8", "--where", "clip >= 0", "--dry-run"])
    assert res.exit_code == 0 and "would be selected" in res.output
    res = CliRunner().invoke(app, ["score", ds, "--embeddings", "other-model", "--head", f"nsfw={head}"])
    assert res.exit_code == 2 and "no such embeddings" in res.output


def test_embedding_neardup_finds_planted_vectors_across_partitions(tmp_path):
    from grassroots.embeddings import write_embeddings
    from grassroots.stages.neardup.pairs import _embedding_pairs, _partition_members

    rng = np.random.default_rng(0)
    base = rng.normal(size=(400, 32)).astype(np.float32)
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    dups = base[:40] + rng.normal(scale=0.03, size=(40, 32)).astype(np.float32)
    dups /= np.linalg.norm(dups, axis=1, keepdims=True)
    emb = np.concatenate([base, dups]).astype(np.float16)
    layout = DatasetDir(str(tmp_path))
    for s in range(2):  # two shards: the copies live in the second
        rows = range(s * 220, min((s + 1) * 220, len(emb)))
        write_embeddings(layout, "m", s, [f"{s:05d}{r:04d}" for r in range(len(rows))], emb[rows.start:rows.stop],
                         emb[rows.start:rows.stop])
    key = {i: int(f"{i // 220:05d}{i % 220:04d}") for i in range(len(emb))}
    centroids = base[rng.permutation(400)[:8]]
    found = set()
    for part in range(3):
        ids, members, clusters = _partition_members(layout, "m", range(2), centroids, part, 3)
        assert len(ids) < 2 * len(emb)  # a partition holds a part of the embeddings
        pairs = _embedding_pairs(ids, members, clusters, cosine=0.95)
        found |= {(int(a), int(b)) for a, b in zip(pairs["a"], pairs["b"])}
    truth = {(key[i], key[400 + i]) for i in range(40)}
    assert len(found & truth) / len(truth) >= 0.9 and found <= truth | {(b, a) for a, b in truth}


@pytest.mark.slow
def test_score_neardup_and_select_on_ray_match_local(scored, tmp_path):
    from grassroots.runner import RayRunner

    ds, model_id, _, head, _ = scored
    other = str(tmp_path / "ray")
    build(other)
    import shutil

    shutil.copytree(os.path.join(ds, "embeddings"), os.path.join(other, "embeddings"))
    with RayRunner(processes=2).session() as ray:
        run_step(Score(model_id, (("nsfw", head),)), other, ray, progress=False)
        run_step(NearDupPairs(NearDupConfig(embeddings=model_id, cosine=0, partitions=2)), other, ray, progress=False)
        run_step(NearDup(), other, ray, progress=False)
        _, t_ray = make_release(other, "v1", "clip >= 0 AND neardup_representative", ray, progress=False)
    _, t_local = make_release(ds, "v7", "clip >= 0 AND neardup_representative", LocalRunner(), progress=False)
    for name in ("clip", "caption", "image", "nsfw", "neardup"):
        assert table(other, name) == table(ds, name), name
    assert (t_ray.kept, t_ray.reasons) == (t_local.kept, t_local.reasons)
