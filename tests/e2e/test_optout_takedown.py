"""The seam between serve and takedown, end to end and as an adversary would test it:
a scored, indexed release v1 is served by `grassroots serve` (uvicorn on 127.0.0.1);
an opt-out for one sample is filed through POST /api/optout (its URL as a person would
type it); `grassroots takedown --requests` writes v2, whose index is rebuilt; then
neither v2's index (loaded with grassroots.index) nor a served v2 API (search by the
sample's embedding, by its key, by its image) returns the sample or its planted copy,
takedown.json lists the request as handled, and the accounting invariant holds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

from grassroots.embeddings import embedded_shards, read_embeddings
from grassroots.index import load_index
from grassroots.layout import DatasetDir
from grassroots.accounting import accounting_problems
from grassroots.takedown.requests import read_requests
from tests.index.release import make_scored_release
from tests.serve.conftest import ROOT, get_json, multipart, post, running_server

KEY, COPY = "000000003", "000020004"  # COPY: a resized re-encoding of KEY's image at another URL


def embedding_of(release: str, model_id: str, key: str) -> tuple[np.ndarray, np.ndarray]:
    layout = DatasetDir(release)
    for s in embedded_shards(layout, model_id):
        keys, img, txt = read_embeddings(layout, model_id, s)
        if key in keys:
            i = keys.index(key)
            return np.asarray(img[i], np.float32), np.asarray(txt[i], np.float32)
    raise KeyError(key)


def image_of(release: str, key: str) -> bytes:
    with tarfile.open(DatasetDir(release).shard_tar(int(key[:5]))) as tar:
        return tar.extractfile(f"{key}.jpg").read()


def search_vector(base: str, vector: np.ndarray, over: str) -> list[str]:
    body = {"vector": vector.tolist(), "k": 100, "over": over, "safe": False, "dedup": False}
    status, found = post(f"{base}/api/search/vector", json.dumps(body).encode(), "application/json")
    assert status == 200, found
    return [r["key"] for r in found["results"]]


def grassroots(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([os.path.join(ROOT, "src"), ROOT,
                                                        os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "grassroots.cli", *args], env=env, capture_output=True,
                          text=True, timeout=600)


@pytest.mark.slow
def test_an_opt_out_filed_on_the_page_api_is_gone_from_the_next_release_and_its_index(tmp_path):
    rel = make_scored_release(tmp_path)
    ds, layout = rel.dataset, DatasetDir(rel.dataset)
    v1, v2 = layout.release("v1").root, layout.release("v2").root
    img, txt = embedding_of(v1, rel.model_id, KEY)
    image = image_of(v1, KEY)

    with running_server(ds) as base:
        assert KEY in search_vector(base, img, "img")[:2]  # found where it is (its copy ties), before the takedown
        sample = get_json(f"{base}/api/sample/{KEY}")[1]
        shouted = sample["url"].replace("http://x/", "HTTP://X:80/")  # as a person might paste it
        req = {"name": "A. Artist", "contact": "artist@example.org", "reason": "opt-out",
               "details": "my picture", "remove": {"urls": [shouted]}}
        status, filed = post(f"{base}/api/optout", json.dumps(req).encode(), "application/json")
        assert status == 201, filed
    assert [r.to_dict() for r in read_requests(layout.takedown_requests)] == [filed]

    run = grassroots("takedown", ds, "--from", "v1", "--release", "v2", "--requests", "--processes", "1")
    assert run.returncode == 0, run.stdout + run.stderr
    said = " ".join(run.stdout.split())  # the console wraps lines at its width, wherever the paths put them
    assert "1 requests handled" in said and "index: rebuilt" in said, said

    record = json.loads(Path(DatasetDir(v2).takedown_record).read_text())
    assert [(r["id"], r["release"], r["reason"]) for r in record["requests"]] == [(filed["id"], "v1", "opt-out")]
    assert record["requests"][0]["matched"] == 2  # the sample and its copy (by PDQ)
    assert record["index"].startswith(f"rebuilt: {rel.model_id} (flat, ")
    assert Path(DatasetDir(v2).takedown_removed).read_text().split() == [KEY, COPY]
    assert accounting_problems(v2) == []

    index = load_index(v2)
    kept = index.items.column("key").to_pylist()
    assert len(kept) == index.count == 24 - 2 and not {KEY, COPY} & set(kept)
    for over, query in (("img", img), ("txt", txt)):
        hits = index.search(query, k=index.count, over=over, safe=False, dedup=False)
        assert len(hits) == index.count and not {KEY, COPY} & {h.key for h in hits}

    with running_server(ds, release="v2") as base:
        assert get_json(f"{base}/api/info")[1]["count"] == 22
        for over, query in (("img", img), ("txt", txt)):
            found = search_vector(base, query, over)
            assert len(found) == 22 and not {KEY, COPY} & set(found), over
        for path in (f"/api/sample/{KEY}", f"/api/similar/{KEY}", f"/api/image/{KEY}", f"/api/sample/{COPY}"):
            assert get_json(base + path)[0] == 404, path
        body, ctype = multipart({"k": "100"}, ("mine.jpg", image, "image/jpeg"))
        status, mine = post(f"{base}/api/find", body, ctype)
        assert status == 200 and mine["matches"] == [], mine["matches"]  # no PDQ match, not even the copy
        assert not {KEY, COPY} & {r["key"] for r in mine["similar"]}
