#!/usr/bin/env python3
"""Ctrl-C at random moments, many times, beside a CPU-bound neighbour.

    .venv/bin/python bench/interrupt_stress.py [--runs 50] [--max-delay 3] [--no-neighbour]

Each run starts ``grassroots download`` (the console script, as a user runs it)
on a URL list served on 127.0.0.1 (some images answer slowly, so a shard is
always in flight), sends SIGINT after a random delay in [0, max-delay] s (seeded),
and classifies the ending:

- ``130 + line``: exit 130 and "interrupted; rerun the same command to resume"
  (what every interrupt must give once Python runs our code);
- ``130 silent``: exit 130 without the line (the bug of issue 26: typer turned
  the KeyboardInterrupt into a silent exit 130);
- ``finished``: the run ended before the signal (only with long delays);
- ``killed by SIGINT``: the signal came before Python installed its handler;
- ``traceback``: any output with a traceback;
- ``hang``: not ended 10 s after the signal (killed).

A CPU-bound neighbour (one busy process per core) runs throughout unless
``--no-neighbour``: the moment of the interrupt shifts with the load, which is
what made the old test flaky. The suite's test signals at fixed points
(tests/stages/test_download.py); this covers the moments in between.
"""

from __future__ import annotations

import argparse
import collections
import io
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GRASSROOTS = ROOT / ".venv" / "bin" / "grassroots"
LINE = "interrupted; rerun the same command to resume"


def _jpeg() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (96, 64), (30, 120, 200)).save(buf, "JPEG")
    return buf.getvalue()


def serve(body: bytes) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            if self.path == "/robots.txt":
                self.send_response(404)
                self.end_headers()
                return
            if "slow" in self.path:
                time.sleep(30)
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            try:
                self.wfile.write(body)
            except OSError:  # the interrupted run closed the connection
                pass

        def log_message(self, *a):
            pass

    class Server(ThreadingHTTPServer):
        def handle_error(self, request, client_address):  # a run that went away: not news
            pass

    server = Server(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _spin(stop) -> None:
    x = 0
    while not stop.is_set():
        x = (x * 31 + 7) % 1_000_003


def classify(rc: int | None, out: str) -> str:
    if rc is None:
        return "hang"
    if "Traceback" in out:
        return "traceback"
    if rc == 130:
        return "130 + line" if LINE in out else "130 silent"
    if rc == -signal.SIGINT:
        return "killed by SIGINT"
    if rc in (0, 3):
        return "finished"
    return f"exit {rc}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--max-delay", type=float, default=3.0, help="signal within [0, this] s of the start")
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-neighbour", action="store_true", help="no CPU-bound process beside the runs")
    a = ap.parse_args()
    server = serve(_jpeg())
    port = server.server_address[1]
    work = Path(tempfile.mkdtemp(prefix="interrupt-stress-"))
    urls = work / "urls.csv"
    urls.write_text("url,caption\n" + "".join(
        f"http://127.0.0.1:{port}/{'slow' if i % 4 == 1 else 'img'}{i}.jpg,picture {i}\n" for i in range(24)))
    stop = multiprocessing.Event()
    neighbours = [] if a.no_neighbour else [multiprocessing.Process(target=_spin, args=(stop,), daemon=True)
                                            for _ in range(os.cpu_count() or 1)]
    for p in neighbours:
        p.start()
    rng = random.Random(a.seed)
    counts: collections.Counter = collections.Counter()
    bad: list[str] = []
    try:
        for i in range(a.runs):
            out_dir = work / f"ds{i}"
            delay = rng.uniform(0, a.max_delay)
            cmd = [str(GRASSROOTS), "download", str(urls), "-o", str(out_dir), "--allow-loopback",
                   "--samples-per-shard", "6", "--processes", str(a.processes), "--timeout", "60"]
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                    start_new_session=True)  # the signal goes to this process only, as a kill would
            time.sleep(delay)
            proc.send_signal(signal.SIGINT)
            try:
                out, _ = proc.communicate(timeout=10)
                rc = proc.returncode
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                out, _ = proc.communicate()
                rc = None
            kind = classify(rc, out)
            counts[kind] += 1
            if kind not in ("130 + line", "finished", "killed by SIGINT"):  # the last: before Python runs
                bad.append(f"run {i} (signal at {delay:.2f} s): {kind}\n{out[-1500:]}")
            print(f"run {i + 1:3d}: SIGINT at {delay:4.2f} s -> {kind}", flush=True)
    finally:
        stop.set()
        for p in neighbours:
            p.join(5)
        server.shutdown()
    print()
    print(f"{a.runs} runs, SIGINT within {a.max_delay:g} s, "
          f"{'no neighbour' if a.no_neighbour else f'{len(neighbours)} CPU-bound neighbours'}:")
    for kind, n in counts.most_common():
        print(f"  {kind:18s} {n}")
    for b in bad:
        print("\n" + b)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
