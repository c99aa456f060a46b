"""A takedown sticks, played as an adversary on a real pipeline run: the demo's dataset
(crawled from the mini-web, extracted, downloaded), embedded by a random-weights tiny CLIP,
scored, with two indexed releases. Four samples are taken down four ways (image URL,
sha256 of the served bytes, PDQ of a resized re-encoded copy, an opt-out filed through
the served page) while a server runs on v1. Then a release selected from the base, its
index, its server, a few training steps on it, a server that was running all along, and
a download of the same URL list: none brings a removed sample back, and a byte scan of
every file under DATASET finds no removed image, vector or caption (the same scan finds
them all before)."""

from __future__ import annotations

import io as _io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from grassroots.demo import DemoConfig, run_demo
from grassroots.embeddings import embedded_shards, read_embeddings
from grassroots.imaging.hashes import pdq
from grassroots.layout import DatasetDir
from grassroots.ledger import read_samples
from grassroots.models.clip import ModelSpec, init_checkpoint
from grassroots.releases import make_release
from grassroots.runner import LocalRunner, run_step
from grassroots.samples import read_sample_files
from grassroots.stages import Embed, Index, Score
from grassroots.stages.embed import EmbedConfig
from grassroots.train.data import index_samples
from tests.conftest import assert_accounted
from tests.serve.conftest import ROOT, get_json, post, running_server


def grassroots(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([os.path.join(ROOT, "src"), ROOT,
                                                        os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "grassroots.cli", *args], env=env, capture_output=True,
                          text=True, timeout=600)


def vectors(layout: DatasetDir, model_id: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    out = {}
    for s in embedded_shards(layout, model_id):
        keys, img, txt = read_embeddings(layout, model_id, s)
        out.update({k: (np.array(img[i]), np.array(txt[i])) for i, k in enumerate(keys)})
    return out


def scan(root: str, needles: dict[str, list[bytes]]) -> dict[str, set[str]]:
    hits: dict[str, set[str]] = {}
    for path in Path(root).rglob("*"):
        if path.is_file():
            blob = path.read_bytes()
            for key, ns in needles.items():
                if any(n in blob for n in ns):
                    hits.setdefault(key, set()).add(str(path.relative_to(root)))
    return hits


def search(base: str, vector: np.ndarray, over: str) -> set[str]:
    body = {"vector": np.asarray(vector, np.float32).tolist(), "k": 100, "over": over, "safe": False, "dedup": False}
    status, found = post(f"{base}/api/search/vector", json.dumps(body).encode(), "application/json")
    assert status == 200, found
    return {r["key"] for r in found["results"]}


@pytest.mark.slow
def test_four_takedowns_stick_through_select_index_serve_train_and_download(tmp_path):
    res = run_demo(DemoConfig(out=str(tmp_path / "demo"), processes=2, size="tiny"), progress=False)
    ds, layout = res.dataset, DatasetDir(res.dataset)
    ckpt = str(tmp_path / "tiny.pt")
    init_checkpoint("grassroots-tiny", ckpt)
    embed = Embed(EmbedConfig(ModelSpec("grassroots-tiny", ckpt), device="cpu", threads=1)).resolved()
    run_step(embed, ds, LocalRunner(), progress=False)
    run_step(Score(embed.model_id), ds, LocalRunner(), progress=False)
    make_release(ds, "v1", "clip >= -1", LocalRunner(), progress=False)
    make_release(ds, "v2", "width >= 16", LocalRunner(), parent_release="v1", progress=False)
    for name in ("v1", "v2"):
        run_step(Index(embed.model_id), layout.release(name).root, LocalRunner(), progress=False)

    rows = read_samples(ds)
    kept = [r for r in rows if r["status"] == "success"]
    captions = [r["caption"] for r in rows if r["caption"]]
    stored = {k: f for s in range(len(embedded_shards(layout, embed.model_id)))
              for k, f in read_sample_files(layout, s).items()}
    image = {k: next(v for e, v in f.items() if e in ("jpg", "png", "webp")) for k, f in stored.items()}
    # victims whose caption is in no other caption (a scan for it finds only it)
    fit = [r for r in kept if sum(r["caption"] in c for c in captions) == 1 and (r["pdq_quality"] or 0) >= 50]
    assert len(fit) >= 4
    by_url, by_sha, by_pdq, by_page = (r["key"] for r in fit[:4])
    victims = {by_url, by_sha, by_pdq, by_page}
    vecs = vectors(layout, embed.model_id)
    caption_of = {r["key"]: r["caption"] for r in kept}
    needles = {k: [image[k][len(image[k]) // 2:len(image[k]) // 2 + 64], *(v.tobytes() for v in vecs[k]),
                   caption_of[k].encode()] for k in victims}
    before = scan(ds, needles)
    assert set(before) == victims  # the scan finds each of them where it is
    url_of = {r["key"]: r["url"] for r in kept}
    listed = tmp_path / "list.jsonl"
    listed.write_text("".join(json.dumps({"url": r["url"], "caption": r["caption"]}) + "\n" for r in kept))

    (tmp_path / "urls.txt").write_text(url_of[by_url] + "\n")
    with running_server(ds, release="v1") as v1:
        assert by_page in search(v1, vecs[by_page][0], "img")
        served = _get(f"{v1}/api/image/{by_sha}")
        (tmp_path / "sha.txt").write_text(__import__("hashlib").sha256(served).hexdigest() + "\n")
        copy = Image.open(_io.BytesIO(image[by_pdq])).convert("RGB")
        copy = copy.resize((copy.width * 3 // 4, copy.height * 3 // 4))
        buf = _io.BytesIO()
        copy.save(buf, "JPEG", quality=60)
        h, q = pdq(Image.open(_io.BytesIO(buf.getvalue())).convert("RGB"))
        (tmp_path / "pdq.txt").write_text(f"{h},{q}\n")
        req = {"name": "A. Artist", "contact": "artist@example.org", "reason": "opt-out",
               "remove": {"urls": [url_of[by_page]]}}
        status, filed = post(f"{v1}/api/optout", json.dumps(req).encode(), "application/json")
        assert status == 201, filed

        run = grassroots("takedown", ds, "--from", "v2", "--release", "v3", "--requests",
                         "--urls", str(tmp_path / "urls.txt"), "--sha256", str(tmp_path / "sha.txt"),
                         "--pdq", str(tmp_path / "pdq.txt"), "--processes", "1")
        assert run.returncode == 0, run.stdout + run.stderr
        assert "copies already published elsewhere" in " ".join(run.stdout.split())
        # The server that ran through the takedown answers none of them any more.
        for key in victims:
            assert get_json(f"{v1}/api/sample/{key}")[0] == 404
            assert key not in search(v1, vecs[key][0], "img") | search(v1, vecs[key][1], "txt")

    record = json.loads(Path(layout.release("v3").takedown_record).read_text())
    assert {"dataset", "releases/v1", "releases/v2"} <= {p["dir"] for p in record["purged"]}
    gone = set(Path(layout.release("v3").takedown_removed).read_text().split())
    assert victims <= gone

    v4, totals = make_release(ds, "v4", "clip >= -1", LocalRunner(), progress=False)  # from the base
    assert not victims & {r["key"] for r in read_samples(v4) if r["status"] == "success"}
    assert totals.kept == len(kept) - len(gone)
    run_step(Index(embed.model_id), v4, LocalRunner(), progress=False)
    with running_server(ds, release="v4") as base:
        for key in victims:
            assert get_json(f"{base}/api/sample/{key}")[0] == 404
            assert key not in search(base, vecs[key][0], "img") | search(base, vecs[key][1], "txt")

    assert not victims & set(index_samples(v4).keys) and not victims & set(index_samples(ds).keys)
    run = grassroots("train", ds, "--release", "v4", "-o", str(tmp_path / "run"), "--steps", "2",
                     "--batch-size", "8", "--device", "cpu")
    assert run.returncode == 0, run.stdout + run.stderr

    # The same URL list again, with the dataset's takedown lists: refused before any request.
    run = grassroots("download", str(listed), "-o", str(tmp_path / "again"), "--allow-loopback", "--processes", "1",
                     "--registry", layout.takedown_registry, "--blocklist", layout.takedown_blocklist)
    assert run.returncode == 3, run.stdout + run.stderr  # nothing kept: the mini-web is gone, the rest fail
    again = {r["url"]: r for r in read_samples(str(tmp_path / "again"))}
    for key in victims:
        assert (again[url_of[key]]["status"], again[url_of[key]]["reason"]) == ("refused", "registry"), key
    assert {u for u, r in again.items() if r["reason"] == "registry"} == {url_of[k] for k in gone}

    for root in (ds, *(layout.release(v).root for v in ("v1", "v2", "v3", "v4"))):
        assert_accounted(root)
    assert scan(ds, needles) == {}


def _get(url: str) -> bytes:
    import urllib.request

    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read()
