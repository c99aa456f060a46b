"""Every step on Ray vs the local runner, on one machine: the ratio per step (issue 29's target
>= 0.9x).

    python bench/ray_steps.py [--limit 3000] [--processes 2]

Re-runs itself inside a network namespace with only loopback (``unshare -n``, as root), as
bench/ray_cluster.py does. The benchmark corpus (Open Clip Art, ../shared/bench/make_corpus.py)
is served by nginx on loopback. A single-node Ray cluster with the machine's cores
(``ray.cluster_utils.Cluster``) is started once, as a cluster is on a real deployment, and
every Ray command joins it with ``--ray-address`` (so Ray's own start-up, ~5 s a command when
``--runner ray`` starts a private Ray, is not counted; the README says what it costs).
Two datasets are built step by step, one per runner, the runners alternating step by step
so a change in the machine's load hits both:

    download -> hash -> safety -> embed (a random-init grassroots-tiny checkpoint, CPU)
    -> score -> select -> index -> takedown (10 keys)

Each command is timed whole (its Python start-up included, the same for both runners). It
prints a table of wall times and local/Ray ratios, and checks that both runners produced the
same kept keys and attribute rows.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "src"))


def grassroots(args: list[str]) -> tuple[float, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    t0 = time.monotonic()
    done = subprocess.run([str(ROOT / ".venv" / "bin" / "grassroots"), *args], env=env, capture_output=True, text=True)
    wall = time.monotonic() - t0
    if done.returncode != 0:
        raise SystemExit(f"grassroots {' '.join(args)}: rc {done.returncode}\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return wall, done.stdout


def attribute_rows(ds: Path, table: str) -> list[dict]:
    """The table's rows by key (download writes a shard's rows in the order they finish, so
    the two runners' ledgers hold the same rows in another order)."""
    import pyarrow.parquet as pq

    rows = [r for f in sorted((ds / "attributes" / table).glob("0*.parquet")) for r in pq.read_table(f).to_pylist()]
    return sorted(rows, key=lambda r: r["key"])


def inside(args) -> None:
    from ray.cluster_utils import Cluster

    from download_vs_img2dataset import served_corpus, write_url_list
    from grassroots.ledger import read_samples
    from grassroots.models.clip import init_checkpoint

    work = Path(tempfile.mkdtemp(prefix="gr-raysteps-", dir=str(ROOT / "bench" / "_work")))
    checkpoint = str(work / "tiny.pt")
    init_checkpoint("grassroots-tiny", checkpoint, seed=0)
    temp = tempfile.mkdtemp(prefix="gr-ray-", dir="/tmp")
    cores = os.cpu_count() or 1
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": cores, "node_ip_address": "127.0.0.1", "include_dashboard": False, "temp_dir": temp})
    cluster.wait_for_nodes()
    runners = {"local": ["--processes", str(args.processes)],
               "ray": ["--runner", "ray", "--ray-address", cluster.address, "--processes", str(args.processes)]}
    ds = {name: work / name for name in runners}
    times: dict[str, dict[str, float]] = {}
    try:
        with served_corpus() as port:
            urls, n = write_url_list(port, args.limit)

            def steps(name: str):
                d, r = str(ds[name]), runners[name]
                yield "download", ["download", str(urls), "-o", d, "--allow-loopback", "--samples-per-shard", "500",
                                   "--image-size", "256", "--resize-mode", "keep_ratio", *r]
                yield "hash", ["hash", d, *r]
                yield "safety", ["safety", d, *r]
                yield "embed", ["embed", d, "--model", "grassroots-tiny", "--checkpoint", checkpoint, "--device", "cpu",
                                "--precision", "fp32",  # auto picks fp32 or bf16 by a timing probe: equal rows need one
                                *r]
                model_id = next((ds[name] / "embeddings").iterdir()).name
                yield "score", ["score", d, "--embeddings", model_id, *r]
                yield "select", ["select", d, "--release", "v1", "--where", "clip >= -1 AND nsfw < 0.5", *r]
                index_runner = r[:-2]  # index has no --processes
                yield "index", ["index", d, "--release", "v1", *index_runner]
                keys = [row["key"] for row in read_samples(d, ["key", "status"]) if row["status"] == "success"][:10]
                (work / f"takedown-{name}.txt").write_text("\n".join(keys) + "\n")
                yield "takedown", ["takedown", d, "--from", "v1", "--release", "v2", "--keys",
                                   str(work / f"takedown-{name}.txt"), *r]

            gens = {name: steps(name) for name in runners}
            while True:
                progressed = False
                for name, gen in gens.items():
                    step = next(gen, None)
                    if step is None:
                        continue
                    progressed = True
                    wall, _ = grassroots(step[1])
                    times.setdefault(step[0], {})[name] = wall
                    print(f"{step[0]:9s} {name:5s} {wall:6.1f} s", flush=True)
                if not progressed:
                    break
    finally:
        cluster.shutdown()
        shutil.rmtree(temp, ignore_errors=True)

    same_keys = ({r["key"] for r in read_samples(str(ds["local"]), ["key", "status"]) if r["status"] == "success"}
                 == {r["key"] for r in read_samples(str(ds["ray"]), ["key", "status"]) if r["status"] == "success"})
    same_rows = {t: attribute_rows(ds["local"], t) == attribute_rows(ds["ray"], t) for t in ("safety", "clip", "pdq")
                 if (ds["local"] / "attributes" / t).exists()}
    print(f"\n{n} images, {cores} cores, --processes {args.processes}; Ray: a running single-node cluster "
          "joined with --ray-address")
    print("| step | local | Ray | local/Ray |")
    print("| --- | ---: | ---: | ---: |")
    for step, t in times.items():
        print(f"| {step} | {t['local']:.1f} s | {t['ray']:.1f} s | {t['local'] / t['ray']:.2f}x |")
    total = {k: sum(t[k] for t in times.values()) for k in runners}
    print(f"| all | {total['local']:.1f} s | {total['ray']:.1f} s | {total['local'] / total['ray']:.2f}x |")
    print(f"same kept keys: {same_keys}; same attribute rows: {same_rows}")
    if all(same_rows.values()) and same_keys:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"kept for a look: {work}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--limit", type=int, default=3000, help="images of the corpus (0: all)")
    ap.add_argument("--processes", type=int, default=os.cpu_count() or 1, help="workers / Ray CPUs of each step")
    args = ap.parse_args()
    from ray_cluster import in_loopback_netns

    in_loopback_netns()
    inside(args)


if __name__ == "__main__":
    main()
