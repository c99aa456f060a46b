"""Eval test data: a quickly trained tiny CLIP (so the numbers are not those of
random weights), labelled and captioned shards, and CLIP_benchmark's webdataset
layout over the same images."""

from __future__ import annotations

import io as _io
import os
import tarfile

import pyarrow as pa

from grassroots.layout import DatasetDir
from grassroots.miniweb.heldout import heldout_scene
from grassroots.miniweb.scenes import COLOURS, SHAPES, encode, key_rng, make_scene, render
from grassroots.schema import SAMPLE_SCHEMA
from grassroots.stats import ShardStats
from grassroots.writer import ShardWriter

PAIRS = [(c, s) for c in COLOURS for s in SHAPES]


def scene_jpg(colour: str, shape: str, seed: int, index: int, side: int = 64) -> bytes:
    return encode(render(heldout_scene(colour, shape, seed, index, side)), "jpg")


def train_tiny(path: str, steps: int = 100, seed: int = 0, batch: int = 64, lr: float = 1e-3) -> str:
    """grassroots-tiny trained for a few CPU seconds on single-group scenes captioned
    "a red square" ...: zero-shot accuracy well above chance, far from perfect."""
    import open_clip
    import torch
    from PIL import Image

    from grassroots.models.clip import register_configs

    register_configs()
    torch.manual_seed(seed)
    model, _, preprocess = open_clip.create_model_and_transforms("grassroots-tiny", pretrained=None)
    tokenizer = open_clip.get_tokenizer("grassroots-tiny")
    images, captions = [], []
    for i in range(8):
        for c, s in PAIRS:
            images.append(preprocess(Image.open(_io.BytesIO(scene_jpg(c, s, seed + 1000, i))).convert("RGB")))
            captions.append(f"a {c} {s}")
    x, t = torch.stack(images), tokenizer(captions)
    loss_fn = open_clip.ClipLoss()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.1)
    g = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(steps):
        idx = torch.randperm(len(x), generator=g)[:batch]
        loss = loss_fn(*model(x[idx], t[idx]))
        opt.zero_grad()
        loss.backward()
        opt.step()
    torch.save({"state_dict": model.state_dict()}, path)
    return path


def make_shards(ds: str, per_shard: int = 12, shards: int = 2, label_column: str | None = "label",
                unlabelled: int = 0) -> list[dict]:
    """Download-shaped shards of scenes: KEY.jpg + KEY.txt (distinct captions) + a
    failed row per shard, an optional label column (the scene's first (colour, shape)),
    and download's completion markers. Returns the kept rows."""
    schema = SAMPLE_SCHEMA.append(pa.field(label_column, pa.string())) if label_column else SAMPLE_SCHEMA
    layout, kept, seen, n = DatasetDir(ds), [], set(), 0
    for s in range(shards):
        stats = ShardStats(stage="download", shard=s, candidates=per_shard + 1)
        with ShardWriter(ds, s, schema=schema) as w:
            for r in range(per_shard):
                while True:  # distinct captions: a caption has exactly one image
                    scene = make_scene(key_rng("eval-test", n), max_side=96)
                    n += 1
                    if scene.caption not in seen:
                        break
                seen.add(scene.caption)
                key = f"{s:05d}{r:04d}"
                g = scene.groups[0]
                row = {"key": key, "url": f"http://x/{key}", "caption": scene.caption, "status": "success"}
                if label_column:
                    row[label_column] = None if len(kept) < unlabelled else f"{g.colour} {g.shape}"
                w.add_sample(key, {"jpg": encode(render(scene), "jpg"), "txt": scene.caption})
                w.add_row(row)
                kept.append(row)
                stats.keep()
            w.add_row({"key": f"{s:05d}{per_shard:04d}", "url": "http://x/failed", "status": "failed",
                       "reason": "timeout"})
            stats.drop("timeout")
        os.makedirs(layout.runs_dir("download"), exist_ok=True)
        with open(layout.run_marker("download", s), "w") as f:
            f.write(stats.to_json())
    return kept


def clip_benchmark_wds(root: str, tars: list[str], classnames: list[str] | None = None,
                       templates: list[str] | None = None) -> str:
    """CLIP_benchmark's webdataset layout (clip_benchmark/datasets/builder.py,
    build_wds_dataset) pointing at ``tars`` by symlink: test/{0..N-1}.tar,
    test/nshards.txt, and classnames + templates (classification) or
    dataset_type.txt = retrieval."""
    os.makedirs(f"{root}/test", exist_ok=True)
    for i, tar in enumerate(tars):
        os.symlink(os.path.abspath(tar), f"{root}/test/{i}.tar")
    with open(f"{root}/test/nshards.txt", "w") as f:
        f.write(str(len(tars)))
    if classnames is None:
        with open(f"{root}/dataset_type.txt", "w") as f:
            f.write("retrieval\n")
    else:
        with open(f"{root}/classnames.txt", "w") as f:
            f.write("\n".join(classnames) + "\n")
        with open(f"{root}/zeroshot_classification_templates.txt", "w") as f:
            f.write("\n".join(templates or []) + "\n")
    return root


def folder_as_tar(folder: str, classnames: list[str], tar_path: str) -> str:
    """The images of an eval folder as one webdataset tar of KEY.jpg + KEY.cls
    (the class index), for CLIP_benchmark's wds reader."""
    with tarfile.open(tar_path, "w") as tar:
        n = 0
        for index, name in enumerate(classnames):
            sub = os.path.join(folder, name.replace(" ", "_"))
            for fname in sorted(os.listdir(sub)):
                for ext, data in (("jpg", open(os.path.join(sub, fname), "rb").read()), ("cls", str(index).encode())):
                    info = tarfile.TarInfo(f"{n:06d}.{ext}")
                    info.size = len(data)
                    tar.addfile(info, _io.BytesIO(data))
                n += 1
    return tar_path
