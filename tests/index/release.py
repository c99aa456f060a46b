"""A small scored release for index and serve tests: 24 download-shaped samples
(planted near-duplicates, red-tinted 'unsafe' images) from tests/stages/test_score_select,
a tiny random-weights CLIP, a safety head trained on the labels, near-duplicate
clusters, release v1 of every sample, and its index."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from grassroots.embeddings import embedded_shards, read_embeddings
from grassroots.layout import DatasetDir
from grassroots.models.clip import ModelSpec, init_checkpoint
from grassroots.models.head import save_head
from grassroots.train.head import train_head
from grassroots.runner import LocalRunner, run_step
from grassroots.stages import Embed, Index, NearDup, NearDupPairs, Score
from grassroots.stages.embed import EmbedConfig
from grassroots.stages.neardup import NearDupConfig
from grassroots.releases import make_release
from tests.stages.test_score_select import build


@dataclass(frozen=True)
class Release:
    dataset: str
    release: str  # releases/v1
    model_id: str
    checkpoint: str
    labels: dict  # key -> 1 when 'unsafe'


def add_provenance(ds: str) -> None:
    """Give every ledger row what a real download records: page, domain, licence,
    sha256 and rights signals (the search page shows them)."""
    import hashlib

    import pyarrow as pa
    import pyarrow.parquet as pq

    from grassroots.samples import read_sample_files

    layout = DatasetDir(ds)
    for s in range(3):
        t = pq.read_table(layout.shard_parquet(s))
        files = read_sample_files(layout, s)
        keys = t.column("key").to_pylist()
        values = {
            "page_url": [f"http://artist{s}.example/gallery/{k}.html" for k in keys],
            "domain": [f"artist{s}.example" for _ in keys],
            "license": ["https://creativecommons.org/licenses/by/4.0/" if int(k) % 2 else None for k in keys],
            "sha256": [hashlib.sha256(files[k]["jpg"]).hexdigest() for k in keys],
            "rights": [["robots_txt:allowed:", "tdmrep:allowed:no tdmrep.json"] for _ in keys],
        }
        for name, col in values.items():
            i = t.schema.get_field_index(name)
            t = t.set_column(i, t.schema.field(i), pa.array(col, t.schema.field(i).type))
        pq.write_table(t, layout.shard_parquet(s))


def make_scored_release(root, index: bool = True) -> Release:
    ds = str(root / "ds")
    labels = build(ds)
    add_provenance(ds)
    ckpt = str(root / "tiny.pt")
    init_checkpoint("grassroots-tiny", ckpt, seed=0)
    embed = Embed(EmbedConfig(ModelSpec("grassroots-tiny", ckpt), device="cpu", threads=1)).resolved()
    run_step(embed, ds, LocalRunner(1), progress=False)
    layout = DatasetDir(ds)
    keys, img = [], []
    for s in sorted(embedded_shards(layout, embed.model_id)):
        k, i, _ = read_embeddings(layout, embed.model_id, s)
        keys += k
        img.append(i)
    head = train_head("nsfw", embed.model_id, np.concatenate(img), np.array([labels[k] for k in keys]), epochs=300)
    save_head(head, str(root / "nsfw.safetensors"))
    run_step(Score(embed.model_id, (("nsfw", str(root / "nsfw.safetensors")),)), ds, LocalRunner(1), progress=False)
    run_step(NearDupPairs(NearDupConfig(embeddings=embed.model_id, cosine=0)), ds, LocalRunner(1), progress=False)
    run_step(NearDup(), ds, LocalRunner(1), progress=False)
    release, _ = make_release(ds, "v1", "clip >= -2", LocalRunner(1), progress=False)
    if index:
        run_step(Index(embed.model_id), release, LocalRunner(1), progress=False)
    return Release(ds, release, embed.model_id, ckpt, labels)
