"""Benchmark: extract throughput, single process, on a >= 200 MB mini-web WARC.

    .venv/bin/python bench/extract.py [--mb 200] [--rounds 1] [--profile]

Builds (once; reused afterwards) bench/_work/extract/heavy.warc.gz with the
mini-web's WARC writer (heavy 50-150 KB pages: CSS, scripts, navigation,
paragraphs, 20-40 figures and a tracking pixel each), then runs the extract
stage on it in this process and prints MB/s of WARC (compressed file bytes and
uncompressed HTML bytes) and candidates/s. Target: >= 50 MB/s of WARC per core.
``--profile`` writes a py-spy flame graph next to the WARC.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / "_work" / "extract"
PAGES_PER_MB = 36  # heavy pages per MB of gzipped WARC (measured: ~28 KB each)


def build_warc(mb: int) -> Path:
    path = WORK / f"heavy-{mb}mb.warc.gz"
    if path.exists():
        return path
    from grassroots.miniweb import write_warc

    WORK.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    t0 = time.perf_counter()
    urls = [f"http://127.0.0.{i + 1}:8080" for i in range(8)]
    info = write_warc(tmp, urls, seed=7, pages=mb * PAGES_PER_MB, heavy=True)
    tmp.rename(path)
    print(f"built {path} ({info['bytes'] / 1e6:.0f} MB, {info['records']} pages) in {time.perf_counter() - t0:.0f}s")
    return path


def run_once(warc: Path) -> dict:
    from grassroots.runner import ShardTask
    from grassroots.stages.extract import Extract

    out = WORK / "dataset"
    shutil.rmtree(out, ignore_errors=True)
    (out / "candidates").mkdir(parents=True)
    stage = Extract()
    t0, c0 = time.perf_counter(), time.process_time()
    stats = stage(ShardTask(shard=0, dataset=str(out), inputs=(str(warc),)))
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {
        "seconds": round(seconds, 2),
        "cpu_seconds": round(cpu, 2),  # steadier than wall time on a shared machine
        "warc_MB_per_cpu_s": round(stats.bytes / 1e6 / cpu, 1),
        "warc_MB": round(stats.bytes / 1e6, 1),
        "html_MB": round(stats.counters["html_bytes"] / 1e6, 1),
        "warc_MB_per_s": round(stats.bytes / 1e6 / seconds, 1),
        "html_MB_per_s": round(stats.counters["html_bytes"] / 1e6 / seconds, 1),
        "pages_per_s": round(stats.counters["pages"] / seconds),
        "images_seen_per_s": round(stats.candidates / seconds),
        "candidates_kept_per_s": round(stats.kept / seconds),
        "pages": stats.counters["pages"],
        "images_seen": stats.candidates,
        "kept": stats.kept,
        "reasons": dict(stats.reasons),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=int, default=200, help="size of the WARC to build (MB, gzipped)")
    ap.add_argument("--rounds", type=int, default=1, help="runs in this process (reports best and median)")
    ap.add_argument("--profile", action="store_true", help="record a py-spy flame graph of one round")
    args = ap.parse_args()
    warc = build_warc(args.mb)
    if args.profile:
        svg = WORK / "extract-profile.svg"
        py_spy = Path(sys.executable).with_name("py-spy")
        subprocess.run([str(py_spy), "record", "-o", str(svg), "-r", "200", "--", sys.executable, __file__,
                        "--mb", str(args.mb)], check=True)
        print(f"flame graph: {svg}")
        return
    print(f"cpu: {os.cpu_count()} cores; python {sys.version.split()[0]}; single process")
    rates, cpu_rates = [], []
    for _ in range(args.rounds):
        result = run_once(warc)
        rates.append(result["warc_MB_per_s"])
        cpu_rates.append(result["warc_MB_per_cpu_s"])
        print(json.dumps(result))
    if len(rates) > 1:  # the first round also loads the language model (~0.6 s)
        print(f"warc MB/s over {len(rates)} rounds: best {max(rates)}, median {statistics.median(rates)}; "
              f"per CPU second: best {max(cpu_rates)}, median {statistics.median(cpu_rates)}")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src"))
    main()
