"""Survive the cluster, on a real 2-node Ray cluster (a head that runs no task, a worker node
with 3 CPUs; tests/runner/ray_cluster.py, run in a network namespace with only loopback so
nothing binds the machine's other interfaces):
- download, embed and score with the worker node killed mid-step (a fresh one joins): each
  command exits 0 without a rerun, every row is accounted, the outputs equal the local
  runner's (ledger outcomes and hashes, embeddings, score rows), and the summary and
  manifest.json say a node was lost and which shards ran again;
- extract, hash, select, index and takedown on the cluster give the local outputs;
- every node writing to s3:// (moto on loopback), a node killed mid-download: the same rows;
- the driver killed mid-download (SIGKILL): the same command resumes, nothing lost or doubled;
- no node left: one line after the patience, not a wait without end;
- a cluster running another Ray version: one line that says so;
- an unreachable --ray-address: one line at once."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from grassroots.embeddings import embedded_shards, embedding_models, read_embeddings
from grassroots.index import load_index
from grassroots.layout import DatasetDir
from grassroots.ledger import read_samples
from tests.conftest import assert_accounted

ROOT = Path(__file__).resolve().parents[2]


def in_loopback_namespace(*cmd: str) -> subprocess.CompletedProcess:
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.fail("this test needs root and unshare(1) to give the Ray cluster a loopback-only network")
    script = "ip link set lo up && exec " + " ".join(f"'{c}'" for c in cmd)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    env.pop("RAY_ADDRESS", None)
    return subprocess.run(["unshare", "-n", "bash", "-c", script], env=env, capture_output=True, text=True,
                          timeout=900, cwd=ROOT)


def vectors(ds: str) -> dict[str, np.ndarray]:
    layout = DatasetDir(ds)
    (model,) = embedding_models(layout)
    out = {}
    for s in embedded_shards(layout, model):
        keys, img, txt = read_embeddings(layout, model, s)
        out.update({k: np.concatenate([img[i], txt[i]]).astype(np.float32) for i, k in enumerate(keys)})
    return out


def table(ds: str, name: str) -> dict[str, dict]:
    rows = {}
    for path in sorted(Path(ds, "attributes", name).glob("[0-9]*.parquet")):
        rows.update({r["key"]: r for r in pq.read_table(path).to_pylist()})
    return rows


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_node_killed_mid_step_costs_a_retry_not_the_run(tmp_path):
    out = tmp_path / "cluster"
    run = in_loopback_namespace(sys.executable, "-m", "tests.runner.ray_cluster", str(out))
    assert run.returncode == 0, (run.stdout + run.stderr)[-6000:]
    check(out)


def check(out: Path) -> None:
    result = json.loads((out / "result.json").read_text())
    for r in result["local"] + result["ray"]:
        assert r["rc"] == 0, r
        assert "Traceback" not in r["output"], r["output"]
    for r in result["ray"]:
        assert r["node_killed_after_tasks"] is not None, f"{r['args'][0]} finished before the node was killed"
    ref, ray = str(out / "ref"), str(out / "ray")

    a, b = read_samples(ref), read_samples(ray)
    assert len(b) == len(a) == 120
    assert [(r["key"], r["status"], r["reason"], r["sha256"]) for r in b] == \
        [(r["key"], r["status"], r["reason"], r["sha256"]) for r in a]
    assert sum(r["status"] == "success" or r["reason"] == "takedown" for r in b) == 120  # 2 taken down below
    assert_accounted(ray)
    va, vb = vectors(ref), vectors(ray)
    assert va.keys() == vb.keys() and len(vb) == 118
    assert max(float(np.abs(va[k] - vb[k]).max()) for k in va) < 1e-3
    sa, sb = table(ref, "clip"), table(ray, "clip")
    assert sa.keys() == sb.keys() and all(abs(sa[k]["clip"] - sb[k]["clip"]) < 1e-3 for k in sa)

    runs = json.loads(Path(DatasetDir(ray).manifest).read_text())["runs"]
    for step in ("download", "embed-", "score-"):  # the steps whose node was killed
        (run,) = [r for r in runs if r["stage"] == step or (step.endswith("-") and r["stage"].startswith(step))]
        cluster = run["runner"]
        assert cluster["nodes_lost"] >= 1 and cluster["retries"] >= 1 and cluster["lost_tasks"] == 0, (step, cluster)
    assert all("nodes seen, 1 lost" in r["output"] for r in result["ray"]), [r["output"][-800:] for r in result["ray"]]
    # the other steps on the cluster: extract, hash, select, index, takedown give the local outputs
    for r in result["more_local"] + result["more_ray"]:
        assert r["rc"] == 0 and "Traceback" not in r["output"], r
    cand = [[sorted(map(str, pq.read_table(p).to_pylist())) for p in sorted(Path(out, x, "candidates").glob("*.parquet"))]
            for x in ("ref-extract", "ray-extract")]
    assert cand[0] == cand[1] and len(cand[0]) == 3 and sum(map(len, cand[0])) == 480
    assert table(ref, "imghash") == table(ray, "imghash") and len(table(ray, "imghash")) == 118  # 2 purged
    for release in ("v1", "v2"):
        got = [sorted((r["key"], r["status"], r["reason"]) for r in read_samples(str(Path(d, "releases", release))))
               for d in (ref, ray)]
        assert got[0] == got[1], release
        assert_accounted(str(Path(ray, "releases", release)))
    v2 = {r["key"]: r for r in read_samples(str(Path(ray, "releases", "v2")))}
    assert v2["000000003"]["reason"] == v2["000010004"]["reason"] == "takedown"
    items = [sorted(load_index(str(Path(d, "releases", release))).items.column("key").to_pylist())
             for d in (ref, ray) for release in ("v1", "v2")]
    assert items[0] == items[2] and items[1] == items[3] and len(items[0]) == 118  # v1 purged by the takedown
    # the driver killed mid-download (SIGKILL): the same command resumes, nothing lost or doubled
    assert result["driver_killed"]["rc"] != 0 and result["resumed"]["rc"] == 0, result["resumed"]
    resumed = read_samples(str(out / "ray-resumed"))
    assert [(r["key"], r["sha256"]) for r in resumed] == [(r["key"], r["sha256"]) for r in a]
    assert all(r["status"] == "success" for r in resumed)
    assert_accounted(str(out / "ray-resumed"))

    # to s3:// (moto on loopback) from every node, a node killed mid-download
    assert result["s3"]["rc"] == 0 and result["s3"]["node_killed_after_tasks"] is not None, result["s3"]
    assert "nodes seen, 1 lost" in result["s3"]["output"]
    assert [tuple(r) for r in result["s3_rows"]] == [(r["key"], "success", r["sha256"]) for r in a]

    # every node killed, none joins: one line after the patience, not a wait without end
    stop = result["no_nodes"]
    assert stop["error"] and "has had no node with 1 CPU for 5 s" in stop["error"], stop
    assert "add nodes and run the same command again" in stop["error"] and stop["seconds"] < 60, stop

    # a cluster of another Ray version: one line that says so and what to do, no traceback
    other = result["version_mismatch"]
    said = " ".join(other["output"].split())
    assert other["rc"] in (1, 2) and "Traceback" not in other["output"], other
    assert "runs another version of Ray or Python than this machine" in said and "1.13.0" in said, said
    assert "install the same versions on every node" in said, said


def test_an_unreachable_cluster_is_one_line_at_once(tmp_path):
    """Ray itself retries an unreachable --ray-address for minutes; the runner dials it first.
    In a loopback-only namespace, so a bug could not reach another address."""
    listed = tmp_path / "list.jsonl"
    listed.write_text('{"url": "http://127.0.0.1:9/a.jpg"}\n')
    run = in_loopback_namespace(sys.executable, "-m", "grassroots.cli", "download", str(listed), "-o",
                                str(tmp_path / "ds"), "--runner", "ray", "--ray-address", "127.0.0.1:1")
    assert run.returncode == 2, run.stdout + run.stderr
    assert "127.0.0.1:1: no Ray cluster answers there" in " ".join(run.stdout.split())
    assert "Traceback" not in run.stdout + run.stderr
