"""A real multi-node Ray cluster on one machine, losing a node mid-step, as a user meets it.

Run by tests/runner/test_ray_cluster.py inside a network namespace of its own (``unshare -n``
with only loopback up), so that no node binds or dials anything but 127.0.0.1:

    python -m tests.runner.ray_cluster OUT

- an image server on 127.0.0.1 (distinct pictures, each answer delayed so shards take seconds);
- the reference: ``grassroots download``, ``embed``, ``score`` with the local runner;
- a cluster (``ray.cluster_utils.Cluster``: a head that runs no task and a worker node with 3
  CPUs, its own temp dir), and the same three commands with ``--runner ray --ray-address``; during each,
  once the step has finished ``KILL_AFTER`` tasks, the worker node is killed (not gracefully)
  and a fresh one joins;
- OUT/result.json: each command's exit code and output, and when the node was killed.
The test compares OUT/ref and OUT/ray.
"""

from __future__ import annotations

import glob
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
from PIL import Image

IMAGES, PER_SHARD, DELAY = 120, 10, 0.4
KILL_AFTER = {"download": 2, "embed-": 1, "score-": 1}  # finished tasks before the node dies
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def picture(i: int) -> bytes:
    rng = np.random.default_rng(i)
    small = rng.integers(0, 255, size=(6, 6, 3), dtype=np.uint8)
    img = Image.fromarray(small).resize((96, 80), Image.BILINEAR)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue()


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        if self.path.startswith("/img/"):
            time.sleep(DELAY)
            body, ctype, status = picture(int(self.path.rsplit("/", 1)[-1].split(".")[0])), "image/jpeg", 200
        else:
            body, ctype, status = b"not here", "text/plain", 404
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def cli(*args: str, tick: Callable[[subprocess.Popen], None] | None = None) -> dict:
    """Run a grassroots command; ``tick`` is called every 50 ms while it runs (in this, the
    main thread: Ray's cluster_utils starts nodes only from the main thread)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([os.path.join(ROOT, "src"), ROOT])}
    started = time.monotonic()
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen([sys.executable, "-m", "grassroots.cli", *args], env=env, stdout=log,
                                stderr=subprocess.STDOUT, text=True)
        while proc.poll() is None:
            if tick is not None:
                tick(proc)
            if time.monotonic() - started > 600:
                proc.kill()
            time.sleep(0.05)
        log.seek(0)
        output = log.read()
    return {"args": list(args), "rc": proc.returncode, "seconds": round(time.monotonic() - started, 1),
            "output": output[-4000:]}


class Killer:
    """Kills the worker node once the step's run folder holds ``after`` completion markers
    (and its plan), then a fresh node joins: called from cli's tick."""

    def __init__(self, cluster, runs: str, after: int):
        self.cluster, self.runs, self.after, self.killed_at = cluster, runs, after, None

    def __call__(self, proc: subprocess.Popen) -> None:
        if self.killed_at is not None:
            return
        from grassroots import io as gio  # local folders and s3:// alike

        planned = gio.glob(f"{self.runs}/plan.json")
        done = [p for p in gio.glob(f"{self.runs}/[0-9]*.json") if p.rsplit("/", 1)[-1].count(".") == 1]
        if planned and len(done) >= self.after:
            worker = next(iter(self.cluster.worker_nodes))
            self.cluster.remove_node(worker, allow_graceful=False)
            self.killed_at = len(done)
            self.cluster.add_node(num_cpus=3, node_ip_address="127.0.0.1")


class DriverKiller:
    """SIGKILLs the running command (the Ray driver) once 3 of its tasks are done."""

    def __init__(self, runs: str):
        self.runs = runs

    def __call__(self, proc: subprocess.Popen) -> None:
        done = [p for p in glob.glob(os.path.join(self.runs, "[0-9]*.json")) if os.path.basename(p).count(".") == 1]
        if len(done) >= 3 and proc.poll() is None:
            proc.kill()


def write_warcs(out: str) -> list[str]:
    """Three small WARC files (one extract task each) of pages with captioned images."""
    from tests.extract.warcs import html_page, write_warc

    paths = []
    for w in range(3):
        pages = [html_page(f"http://site{w}.example/page{p}.html",
                           "".join(f"<img src='/img/{p}-{i}.jpg' alt='a caption for image {w} {p} {i}'>"
                                   for i in range(8)),
                           record_id=f"<urn:uuid:00000000-0000-0000-0000-{w:04d}{p:08d}>") for p in range(20)]
        paths.append(os.path.join(out, f"crawl-{w}.warc.gz"))
        write_warc(paths[-1], pages)
    return paths


def no_nodes(address: str, ds: str) -> dict:
    from grassroots.errors import FatalError
    from grassroots.runner import RayRunner, run_step
    from grassroots.stages import Hash

    started = time.monotonic()
    try:
        run_step(Hash(), ds, RayRunner(processes=3, address=address, no_nodes_seconds=5), progress=False)
        error = None
    except FatalError as e:
        error = str(e)
    return {"error": error, "seconds": round(time.monotonic() - started, 1)}


def claim_another_ray_version(address: str) -> None:
    """Rewrite the cluster's metadata in its GCS (what `ray start` wrote there) to name a Ray
    release other than this one: every driver that joins then fails Ray's version check."""
    import ray._common.usage.usage_constants as usage_constant
    from ray._private import ray_constants
    from ray._raylet import GcsClient

    gcs = GcsClient(address=address)
    key, namespace = usage_constant.CLUSTER_METADATA_KEY, ray_constants.KV_NAMESPACE_CLUSTER
    metadata = json.loads(gcs.internal_kv_get(key, namespace=namespace))
    metadata["ray_version"] = "1.13.0"
    gcs.internal_kv_put(key, json.dumps(metadata).encode(), True, namespace=namespace)


def start_s3() -> str:
    """moto's S3 server on loopback, its endpoint and test credentials in the environment that
    the cluster's nodes and every command inherit; returns a fresh bucket's URL."""
    import s3fs
    from moto.server import ThreadedMotoServer

    from tests.s3 import ENV, UNSET

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    for name in UNSET:
        os.environ.pop(name, None)
    os.environ.update({**ENV, "AWS_ENDPOINT_URL": f"http://{host}:{port}", "AWS_CONFIG_FILE": "/dev/null",
                       "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"})
    s3fs.S3FileSystem().mkdir("cluster")
    return "s3://cluster"


def main(out: str) -> None:
    from ray.cluster_utils import Cluster

    from grassroots.models.clip import init_checkpoint

    os.makedirs(out, exist_ok=True)
    bucket = start_s3()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    listed = os.path.join(out, "list.jsonl")
    with open(listed, "w") as f:
        for i in range(IMAGES):
            f.write(json.dumps({"url": f"{base}/img/{i}.jpg", "caption": f"picture number {i}"}) + "\n")
    ckpt = os.path.join(out, "tiny.pt")
    init_checkpoint("grassroots-tiny", ckpt)

    def steps(ds: str) -> list[tuple[str, list[str] | Callable[[], list[str]]]]:
        """(the step's _runs folder, the command) in order; score names the model embed wrote."""
        def model() -> str:
            return sorted(os.listdir(os.path.join(ds, "embeddings")))[0]
        return [("download", ["download", listed, "-o", ds, "--allow-loopback", "--samples-per-shard", str(PER_SHARD)]),
                ("embed-", ["embed", ds, "--model", "grassroots-tiny", "--checkpoint", ckpt, "--device", "cpu",
                            "--precision", "fp32", "--batch-size", "8"]),  # auto: fp32 or bf16 by a timing probe
                ("score-", lambda: ["score", ds, "--embeddings", model()])]

    def more(ds: str, ex: str) -> list[list[str]]:
        """The other steps, on a cluster that keeps its nodes: the same outputs as local."""
        return [["extract", *warcs, "-o", ex], ["hash", ds],
                ["select", ds, "--release", "v1", "--where", "clip >= -1"], ["index", ds, "--release", "v1"],
                ["takedown", ds, "--from", "v1", "--release", "v2", "--keys", keys]]

    warcs = write_warcs(out)
    keys = os.path.join(out, "keys.txt")
    with open(keys, "w") as f:
        f.write("000000003\n000010004\n")  # two samples, taken down from v1
    result: dict = {"local": [], "ray": [], "more_local": [], "more_ray": []}
    ref = os.path.join(out, "ref")
    for _, args in steps(ref):
        result["local"].append(cli(*(args() if callable(args) else args), "--processes", "2"))
    for args in more(ref, os.path.join(out, "ref-extract")):
        result["more_local"].append(cli(*args, *(["--processes", "2"] if args[0] != "index" else [])))

    temp = tempfile.mkdtemp(prefix="gr-ray-", dir="/tmp")  # its own (AF_UNIX paths: at most 107 bytes)
    # The head runs no task (as on most clusters), so every task in flight is on the worker node
    # that dies: each kill costs retries for certain, never a lucky miss.
    # The GCS declares a silent node dead after 3 missed checks 0.5 s apart (default: 5 x 3 s),
    # so each kill costs seconds here, not 15 s of waiting (the runner's behaviour is the same).
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 0, "node_ip_address": "127.0.0.1", "include_dashboard": False, "temp_dir": temp,
        "_system_config": {"health_check_period_ms": 500, "health_check_timeout_ms": 500,
                           "health_check_failure_threshold": 3}})
    cluster.add_node(num_cpus=3, node_ip_address="127.0.0.1")
    cluster.wait_for_nodes()
    ds = os.path.join(out, "ray")
    try:
        for stage, args in steps(ds):
            args = args() if callable(args) else args
            killer = Killer(cluster, os.path.join(ds, "_runs", f"{stage}*" if stage.endswith("-") else stage),
                            KILL_AFTER[stage])
            run = cli(*args, "--runner", "ray", "--ray-address", cluster.address, "--processes", "3", tick=killer)
            run["node_killed_after_tasks"] = killer.killed_at
            result["ray"].append(run)
        address = ["--runner", "ray", "--ray-address", cluster.address]
        # Every node writes to the object store, and one of them dies on the way.
        remote = f"{bucket}/ds"
        killer = Killer(cluster, f"{remote}/_runs/download", 2)
        result["s3"] = cli(*steps(remote)[0][1], *address, "--processes", "3", tick=killer)
        result["s3"]["node_killed_after_tasks"] = killer.killed_at
        for args in more(ds, os.path.join(out, "ray-extract")):
            result["more_ray"].append(cli(*args, *address, *(["--processes", "3"] if args[0] != "index" else [])))
        # The driver dies mid-download (SIGKILL, as when a laptop closes): the same command resumes.
        resumed = os.path.join(out, "ray-resumed")
        first = steps(resumed)[0][1]
        result["driver_killed"] = cli(*first, *address, "--processes", "3",
                                      tick=DriverKiller(os.path.join(resumed, "_runs", "download")))
        result["resumed"] = cli(*first, *address, "--processes", "3")
        # No node left that can run a task: the step stops with one line instead of waiting.
        cluster.remove_node(next(iter(cluster.worker_nodes)), allow_graceful=False)
        result["no_nodes"] = no_nodes(cluster.address, ds)
        # The cluster says it runs another Ray (as one started from another install would):
        # the command is one line that says so, no traceback.
        claim_another_ray_version(cluster.address)
        result["version_mismatch"] = cli("hash", ds, *address, "--processes", "1")
    finally:
        cluster.shutdown()
        server.shutdown()
        shutil.rmtree(temp, ignore_errors=True)
    from grassroots.ledger import read_samples

    result["s3_rows"] = [(r["key"], r["status"], r["sha256"]) for r in read_samples(f"{bucket}/ds")]
    with open(os.path.join(out, "result.json"), "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1])
