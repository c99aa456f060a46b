#!/usr/bin/env python3
"""Download benchmark: grassroots vs a real img2dataset run, same input, same machine.

    .venv/bin/python bench/download_vs_img2dataset.py [--limit N] [--rounds 2] [--processes 2]

1. Builds (or reuses) the Open Clip Art corpus with ../shared/bench/make_corpus.py
   under bench/_work/corpus (falls back to the mini-web's generated images when
   that script or Debian's packages are unavailable).
2. Serves it with nginx on 127.0.0.1 (installed with apt-get if missing).
3. Installs img2dataset in its own venv (bench/.venv-img2dataset).
4. Runs both, alternating, with the same settings: 256 px keep_ratio, jpg q95,
   webdataset output, the same process count; ours with --allow-loopback.
   img2dataset runs under a time limit (it has been seen to hang at the end).
5. Measures the single-process decode+resize+encode limit over the same bytes.
6. Prints images/s for each, the ratio, and how many input rows each accounted for.

Target: ours >= 4x img2dataset's images/s and >= 50% of (single-process
limit x processes), with 100% of rows accounted for.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORK = HERE / "_work"
CORPUS = WORK / "corpus"
I2D_VENV = HERE / ".venv-img2dataset"
SHARED_CORPUS = ROOT.parent / "shared" / "bench" / "make_corpus.py"


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def build_corpus() -> str:
    if (CORPUS / "urls.csv").exists():
        return "openclipart"
    if SHARED_CORPUS.exists():
        try:
            sh([sys.executable, str(SHARED_CORPUS), str(CORPUS)])
            return "openclipart"
        except subprocess.CalledProcessError as e:
            print(f"make_corpus.py failed ({e}); falling back to mini-web images", file=sys.stderr)
    from grassroots.miniweb.scenes import write_corpus  # generated scenes, no data files

    write_corpus(CORPUS, n=2000, seed=0)
    return "miniweb"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_nginx(root: Path, port: int) -> subprocess.Popen:
    if not shutil.which("nginx"):
        sh(["apt-get", "install", "-y", "-qq", "nginx-light"], stdout=subprocess.DEVNULL)
    conf_dir = Path(tempfile.mkdtemp(prefix="nginx-bench-"))
    conf = conf_dir / "nginx.conf"
    conf.write_text(f"""
worker_processes 1;
daemon off;
pid {conf_dir}/nginx.pid;
error_log {conf_dir}/error.log;
events {{ worker_connections 1024; }}
http {{
  include /etc/nginx/mime.types;
  access_log off;
  sendfile on;
  keepalive_requests 100000;
  client_body_temp_path {conf_dir};
  proxy_temp_path {conf_dir};
  fastcgi_temp_path {conf_dir};
  uwsgi_temp_path {conf_dir};
  scgi_temp_path {conf_dir};
  server {{ listen 127.0.0.1:{port}; root {root}; }}
}}
""")
    proc = subprocess.Popen(["nginx", "-c", str(conf), "-p", str(conf_dir)])
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nginx did not start")


@contextlib.contextmanager
def served_corpus():
    """The corpus served by nginx on a free loopback port (yields the port); stopped after."""
    port = free_port()
    nginx = start_nginx(CORPUS / "www", port)
    try:
        yield port
    finally:
        nginx.send_signal(signal.SIGQUIT)
        nginx.wait(timeout=10)


def write_url_list(port: int, limit: int) -> tuple[Path, int]:
    out = WORK / f"urls-{port}.csv"
    with open(CORPUS / "urls.csv", newline="") as f, open(out, "w", newline="") as g:
        rd, wr = csv.DictReader(f), csv.writer(g)
        wr.writerow(["url", "caption"])
        n = 0
        for row in rd:
            if limit and n >= limit:
                break
            wr.writerow([f"http://127.0.0.1:{port}/{row['path']}", row["caption"]])
            n += 1
    return out, n


def ensure_img2dataset() -> Path:
    exe = I2D_VENV / "bin" / "img2dataset"
    if not exe.exists():
        sh([sys.executable, "-m", "venv", str(I2D_VENV)])
        sh([str(I2D_VENV / "bin" / "pip"), "install", "-q", "img2dataset"])
    return exe


def run_ours(urls: Path, processes: int) -> dict:
    out = Path(tempfile.mkdtemp(prefix="gr-", dir=WORK))
    cmd = [str(ROOT / ".venv" / "bin" / "grassroots"), "download", str(urls), "-o", str(out),
           "--allow-loopback", "--image-size", "256", "--resize-mode", "keep_ratio", "--encode-format", "jpg",
           "--encode-quality", "95", "--processes", str(processes), "--samples-per-shard", "1000"]
    t0 = time.monotonic()
    res = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.monotonic() - t0
    if res.returncode != 0:
        print(res.stdout[-3000:], res.stderr[-3000:], file=sys.stderr)
    stats = json.loads(subprocess.run([str(ROOT / ".venv" / "bin" / "grassroots"), "stats", str(out), "--json"],
                                      capture_output=True, text=True).stdout)
    d = stats["stages"].get("download", {})
    shutil.rmtree(out, ignore_errors=True)
    return {"wall": wall, "kept": d.get("kept", 0), "accounted": d.get("candidates", 0)}


def run_img2dataset(exe: Path, urls: Path, processes: int, limit_s: float) -> dict:
    out = Path(tempfile.mkdtemp(prefix="i2d-", dir=WORK))
    cmd = [str(exe), "--url_list", str(urls), "--input_format", "csv", "--url_col", "url", "--caption_col", "caption",
           "--output_folder", str(out), "--output_format", "webdataset", "--image_size", "256",
           "--resize_mode", "keep_ratio", "--encode_format", "jpg", "--encode_quality", "95",
           "--processes_count", str(processes), "--thread_count", "64", "--number_sample_per_shard", "1000",
           "--distributor", "multiprocessing", "--enable_wandb", "False"]
    t0, t0_wall = time.monotonic(), time.time()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    hung = False
    try:
        proc.wait(timeout=limit_s)
    except subprocess.TimeoutExpired:
        hung = True
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    wall = time.monotonic() - t0
    kept = accounted = 0
    import pyarrow.parquet as pq

    complete = []
    for p in glob.glob(str(out / "*.parquet")):
        try:
            t = pq.read_table(p, columns=["status"]).column("status").to_pylist()
        except Exception:  # noqa: BLE001 - a shard it never finished writing
            continue
        complete.append(p)
        accounted += len(t)
        kept += sum(s == "success" for s in t)
    if hung and complete:  # generous to img2dataset: time to its last complete shard, not to the kill
        wall = max(os.path.getmtime(p) for p in complete) - t0_wall
    shutil.rmtree(out, ignore_errors=True)
    return {"wall": wall, "kept": kept, "accounted": accounted, "hung": hung}


def single_process_limit(urls: Path, sample: int = 600) -> float:
    """Images/s of decode + resize (256 keep_ratio) + encode (jpg q95) in one process, same bytes."""
    from grassroots.imaging.resize import ImageConfig, process_image

    with open(urls, newline="") as f:
        paths = [r["url"].split("/", 3)[3] for r in csv.DictReader(f)][:sample]
    blobs = [(CORPUS / "www" / p).read_bytes() for p in paths]
    cfg = ImageConfig(image_size=256)
    t0 = time.monotonic()
    for b in blobs:
        process_image(b, cfg)
    return len(blobs) / (time.monotonic() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--limit", type=int, default=0, help="use only the first N images (0 = all)")
    ap.add_argument("--rounds", type=int, default=2, help="alternating runs of each tool")
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--i2d-limit-s", type=float, default=600, help="kill img2dataset after this long")
    a = ap.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    source = build_corpus()
    with served_corpus() as port:
        urls, n = write_url_list(port, a.limit)
        exe = ensure_img2dataset()
        print(f"corpus: {source}, {n} images, served by nginx on 127.0.0.1:{port}; processes={a.processes}")
        limit = single_process_limit(urls)
        print(f"single-process decode+resize+encode limit: {limit:.1f} images/s "
              f"(x{a.processes} processes = {limit * a.processes:.1f})")
        ours, theirs = [], []
        for r in range(a.rounds):
            o = run_ours(urls, a.processes)
            ours.append(o)
            print(f"round {r + 1} grassroots : {o['kept'] / o['wall']:7.1f} images/s  "
                  f"({o['kept']} kept, {o['accounted']}/{n} rows accounted, {o['wall']:.1f} s)")
            t = run_img2dataset(exe, urls, a.processes, a.i2d_limit_s)
            theirs.append(t)
            print(f"round {r + 1} img2dataset: {t['kept'] / t['wall']:7.1f} images/s  "
                  f"({t['kept']} kept, {t['accounted']}/{n} rows accounted, {t['wall']:.1f} s"
                  f"{', HUNG: killed after %.0f s' % a.i2d_limit_s if t['hung'] else ''})")
        o_ips = max(x["kept"] / x["wall"] for x in ours)
        t_ips = max(x["kept"] / x["wall"] for x in theirs)
        print()
        print(f"grassroots  best: {o_ips:.1f} images/s, rows accounted {min(x['accounted'] for x in ours)}/{n}")
        print(f"img2dataset best: {t_ips:.1f} images/s, rows accounted {min(x['accounted'] for x in theirs)}/{n}")
        print(f"ratio: {o_ips / max(t_ips, 1e-9):.2f}x img2dataset (target >= 4x)")
        print(f"share of the decode+resize+encode limit x {a.processes}: "
              f"{100 * o_ips / (limit * a.processes):.0f}% (target >= 50%)")


if __name__ == "__main__":
    main()
