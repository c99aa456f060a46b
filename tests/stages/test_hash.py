"""The hash step: a step added with no runner or layout code of its own —
resume, local/Ray parity, accounting and the CLI come from the shared driver."""

from __future__ import annotations

import io as _io
import os

import imagehash
import pyarrow.parquet as pq
import pytest
from PIL import Image
from typer.testing import CliRunner

from grassroots.cli import app
from grassroots.layout import DatasetDir
from grassroots.runner import LocalRunner, RayRunner, run_step
from grassroots.schema import SAMPLE_SCHEMA
from grassroots.stages import Hash
from grassroots.writer import ShardWriter
from tests.conftest import assert_accounted


def image_bytes(seed: int) -> bytes:
    img = Image.new("RGB", (64, 48), (seed * 40 % 256, 80, 200 - seed * 30 % 200))
    for x in range(0, 64, 8):
        for y in range(0, 48, 8):
            if (x * 7 + y * 3 + seed * 11) % 5 < 2:
                img.paste((255, 255, 255), (x, y, x + 8, y + 8))
    buf = _io.BytesIO()
    img.save(buf, "JPEG")
    return buf.getvalue()


def make_dataset(ds: str, shards: int = 3) -> None:
    """Download-shaped shards: some kept samples, one failed row, one corrupt image;
    with download's completion markers, as the hash step's plan expects."""
    from grassroots.stats import ShardStats

    layout = DatasetDir(ds)
    for s in range(shards):
        stats = ShardStats(stage="download", shard=s, candidates=5)
        with ShardWriter(ds, s, schema=SAMPLE_SCHEMA) as w:
            for r in range(5):
                key = f"{s:05d}{r:04d}"
                if r == 4:
                    w.add_row({"key": key, "url": f"http://x/{key}", "status": "failed", "reason": "timeout"})
                    stats.drop("timeout")
                    continue
                data = b"not an image" if (s, r) == (1, 2) else image_bytes(s * 5 + r)
                w.add_sample(key, {"jpg": data, "txt": f"caption {key}"})
                w.add_row({"key": key, "url": f"http://x/{key}", "caption": f"caption {key}", "status": "success"})
                stats.keep()
        os.makedirs(layout.runs_dir("download"), exist_ok=True)
        with open(layout.run_marker("download", s), "w") as f:
            f.write(stats.to_json())


def attribute_rows(ds: str, shard: int) -> list[dict]:
    return pq.read_table(DatasetDir(ds).attribute("imghash", shard)).to_pylist()


def test_hash_writes_one_row_per_kept_sample_with_real_phash(tmp_path):
    ds = str(tmp_path / "ds")
    make_dataset(ds)
    totals = run_step(Hash(), ds, LocalRunner(), progress=False)
    assert totals.candidates == 12 and totals.kept == 11 and dict(totals.reasons) == {"decode_error": 1}
    rows = attribute_rows(ds, 0)
    assert [r["key"] for r in rows] == [f"00000{r:04d}" for r in range(4)]  # ledger order, kept only
    expected = imagehash.phash(Image.open(_io.BytesIO(image_bytes(0))))
    assert rows[0]["phash"] == str(expected) and len(rows[0]["dhash"]) == 16
    assert len({r["phash"] for r in rows}) > 1
    bad = [r for r in attribute_rows(ds, 1) if r["key"] == "000010002"]
    assert bad == [{"key": "000010002", "phash": None, "dhash": None}]
    assert_accounted(ds)
    again = run_step(Hash(), ds, LocalRunner(), progress=False)
    assert again.skipped_shards == 3 and again.kept == 11


@pytest.mark.slow
def test_hash_local_and_ray_agree(tmp_path):
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    make_dataset(a)
    make_dataset(b)
    ta = run_step(Hash(), a, LocalRunner(processes=2), progress=False)
    tb = run_step(Hash(), b, RayRunner(processes=2), progress=False)
    assert (ta.kept, ta.reasons) == (tb.kept, tb.reasons)
    assert all(attribute_rows(a, s) == attribute_rows(b, s) for s in range(3))


def test_hash_cli_and_a_dataset_without_shards(tmp_path):
    ds = tmp_path / "ds"
    make_dataset(str(ds), shards=1)
    res = CliRunner().invoke(app, ["hash", str(ds), "--processes", "1"])
    assert res.exit_code == 0, res.output
    assert len(attribute_rows(str(ds), 0)) == 4
    empty = tmp_path / "empty"
    empty.mkdir()
    res = CliRunner().invoke(app, ["hash", str(empty)])
    assert res.exit_code == 2 and "no finished download shards" in res.output and "Traceback" not in res.output
