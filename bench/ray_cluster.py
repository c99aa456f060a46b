"""Download on a multi-node Ray cluster vs the local runner, and what losing nodes costs.

    python bench/ray_cluster.py [--limit 3000] [--kill-every 30]

Re-runs itself inside a network namespace with only loopback (``unshare -n``, as root), so
the cluster binds and dials 127.0.0.1 only. The benchmark corpus (Open Clip Art images,
../shared/bench/make_corpus.py) is served by nginx on loopback, as bench/download_vs_img2dataset.py
does. In one run, the same URL list, ``--samples-per-shard 250``:

1. the local runner, 2 processes;
2. a 3-node cluster (``ray.cluster_utils.Cluster``: a head that runs no task, two worker
   nodes with 1 CPU each: the same 2 CPUs), no failure;
3. the same cluster, one worker node killed (not gracefully) every ``--kill-every`` seconds
   and a fresh one joining (``--detect-seconds``: the GCS's health checks set so that a
   silent node is declared dead after that long instead of Ray's 15 s; on a real cluster,
   ``ray start --head --system-config='{"health_check_period_ms": ...}'``);
and prints wall times, Ray/local (target >= 0.9x), the extra time the losses cost against the
shards that were in flight on the killed nodes, and whether every row is accounted.
"""

from __future__ import annotations

import argparse
import json
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
PER_SHARD = 250


def grassroots(args: list[str], tick=None) -> tuple[float, int, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    t0 = time.monotonic()
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen([str(ROOT / ".venv" / "bin" / "grassroots"), *args], env=env, stdout=log,
                                stderr=subprocess.STDOUT, text=True)
        while proc.poll() is None:
            if tick:
                tick()
            time.sleep(0.1)
        log.seek(0)
        return time.monotonic() - t0, proc.returncode, log.read()


def accounted(ds: str, n: int) -> str:
    from grassroots.accounting import accounting_problems
    from grassroots.ledger import read_samples

    rows = read_samples(ds, ["key", "status"])
    problems = accounting_problems(ds)
    keys = [r["key"] for r in rows]
    return (f"{len(rows)} of {n} rows, {sum(r['status'] == 'success' for r in rows)} kept, "
            f"{'no duplicate keys' if len(set(keys)) == len(keys) else 'DUPLICATE KEYS'}, "
            f"{'accounting holds' if not problems else 'ACCOUNTING: ' + problems[0]}")


def in_loopback_netns() -> None:
    """Re-run this script inside a network namespace where only loopback exists (``unshare
    -n``, as root), so a cluster binds and dials 127.0.0.1 only; returns when already there."""
    if os.environ.get("GR_BENCH_NETNS") != "1":
        env = {**os.environ, "GR_BENCH_NETNS": "1"}
        cmd = " ".join(["ip link set lo up && exec", sys.executable, *map(str, sys.argv)])
        sys.exit(subprocess.run(["unshare", "-n", "bash", "-c", cmd], env=env).returncode)


def inside(args) -> None:
    from ray.cluster_utils import Cluster

    from download_vs_img2dataset import served_corpus, write_url_list

    work = Path(tempfile.mkdtemp(prefix="gr-raybench-", dir=str(ROOT / "bench" / "_work")))
    with served_corpus() as port:
        urls, n = write_url_list(port, args.limit)
        common = ["download", str(urls), "--allow-loopback", "--samples-per-shard", str(PER_SHARD),
                  "--image-size", "256", "--resize-mode", "keep_ratio"]
        t_local, rc, _ = grassroots([*common, "-o", str(work / "local"), "--processes", "2"])
        print(f"local runner, 2 processes: {t_local:.1f} s (rc {rc}); {accounted(str(work / 'local'), n)}", flush=True)
        temp = tempfile.mkdtemp(prefix="gr-ray-", dir="/tmp")
        head = {"num_cpus": 0, "node_ip_address": "127.0.0.1", "include_dashboard": False, "temp_dir": temp}
        if args.detect_seconds:  # the GCS declares a silent node dead after 3 missed checks this far apart / 3
            period = max(100, int(args.detect_seconds * 1000 / 3))
            head["_system_config"] = {"health_check_period_ms": period, "health_check_timeout_ms": period,
                                      "health_check_failure_threshold": 3}
        print(f"cluster: a node lost is noticed after about {args.detect_seconds or 15:.1f} s "
              f"({'--detect-seconds' if args.detect_seconds else 'Ray default: 5 missed checks 3 s apart'})", flush=True)
        cluster = Cluster(initialize_head=True, head_node_args=head)
        for _ in range(2):
            cluster.add_node(num_cpus=1, node_ip_address="127.0.0.1")
        cluster.wait_for_nodes()
        ray_args = ["--runner", "ray", "--ray-address", cluster.address, "--processes", "2"]
        try:
            t_ray, rc, _ = grassroots([*common, "-o", str(work / "ray"), *ray_args])
            print(f"3-node cluster, no failure: {t_ray:.1f} s (rc {rc}); Ray/local {t_local / t_ray:.2f}x "
                  f"(target >= 0.9x); {accounted(str(work / 'ray'), n)}", flush=True)
            kills, last = [], [time.monotonic()]

            def killer() -> None:
                if time.monotonic() - last[0] >= args.kill_every:
                    victim = sorted(cluster.worker_nodes, key=id)[0]
                    cluster.remove_node(victim, allow_graceful=False)
                    cluster.add_node(num_cpus=1, node_ip_address="127.0.0.1")
                    kills.append(round(time.monotonic() - last[0], 1))
                    last[0] = time.monotonic()

            t_kill, rc, out = grassroots([*common, "-o", str(work / "killed"), *ray_args], tick=killer)
            note = next((ln for ln in out.splitlines() if "note: ray:" in ln), "no ray note")
            print(f"the same, a node killed every {args.kill_every:.0f} s ({len(kills)} kills): {t_kill:.1f} s "
                  f"(rc {rc}); {accounted(str(work / 'killed'), n)}", flush=True)
            print(f"  {note.strip()}", flush=True)
            runs = json.loads((work / "killed" / "manifest.json").read_text())["runs"]
            retries = runs[-1]["runner"].get("retries", 0)
            backups = runs[-1]["runner"].get("backups", 0)
            per_shard = t_ray / max(1, -(-n // PER_SHARD)) * 2  # a shard's time on one of the 2 CPUs
            print(f"  {retries} shards run again, {backups} of them as backups of silent tasks (before Ray declared "
                  "the node dead)", flush=True)
            print(f"  the losses cost {t_kill - t_ray:+.1f} s; the shards redone ({retries}) took about "
                  f"{retries * per_shard:.1f} s of CPU, {retries * per_shard / 2:.1f} s on 2 CPUs, plus the time "
                  "to notice the loss and start a node", flush=True)
        finally:
            cluster.shutdown()
            shutil.rmtree(temp, ignore_errors=True)
    shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--limit", type=int, default=3000, help="images of the corpus (0: all 8,121)")
    ap.add_argument("--kill-every", type=float, default=30.0, help="seconds between node kills")
    ap.add_argument("--detect-seconds", type=float, default=0.0,
                    help="how soon the cluster's GCS declares a silent node dead (its health checks; "
                         "0: Ray's default, 15 s): a node loss costs this wait plus the shards redone")
    args = ap.parse_args()
    in_loopback_netns()
    inside(args)


if __name__ == "__main__":
    main()
