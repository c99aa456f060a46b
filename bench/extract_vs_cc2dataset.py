#!/usr/bin/env python3
"""WAT extraction benchmark: `grassroots extract` vs cc2dataset, same file, same machine.

    .venv/bin/python bench/extract_vs_cc2dataset.py [--pages 20000] [--rounds 3] [--shapes ...] [--ray]

1. Builds (once; reused afterwards) a Common-Crawl-shaped WAT of each shape under
   bench/_work/cc/, so no single shape carries the claim:
   ``heavy``, with the mini-web's WAT writer (~20-40 captioned images a page, a
   tracking pixel, an alt-less logo, navigation links; about a third of the image
   URLs absolute, the rest root-relative); ``cc-mix``, ``anchors`` and ``intl``
   from bench/wat_shapes.py, written independently of the mini-web (20-120 links
   a page, two thirds anchors, image URLs root-, path- and protocol-relative and
   absolute, alt texts of 0-8 words; long anchor-dominated link lists and pages
   with no image; non-ASCII alt texts and URLs).
2. Installs cc2dataset in its own venv (bench/.venv-cc2dataset).
3. Alternates, ``--rounds`` times: cc2dataset's ``process_wat(path, "image")`` in a
   subprocess of its venv (parse only: it writes nothing; timed inside the process,
   so its interpreter start-up and imports, pyspark's included, are not counted), and
   the whole ``grassroots extract FILE -o DIR --processes 1`` command (start-up,
   language ID, parquet writing and the dedup step included), and the same command
   with ``--no-detect-language --no-dedup`` (the work cc2dataset does not do); wall
   clock and CPU seconds (the CPU figure is steadier on a shared machine).
4. Prints the times per round, and per shape the medians, the ratio (cc2dataset time /
   grassroots time: >= 1.0 means grassroots is at least as fast) and the candidates each found.

``--also SRC``: also times the command with another checkout's ``src/`` (the code
before a change, say), in the same alternation.

``--user-venv``: runs grassroots from bench/.venv-user (built once with ``pip install -e .``
alone, as users install it) instead of the project's .venv, which also holds the test
extras: they bring pandas, which pyarrow imports on its first array.

``--ray`` (``--ray-only``: that alone): also runs extract and dedup on 4 copies of the
WAT on a local Ray with 2 CPUs and on the local runner with 2 processes, ``--rounds``
times, timing the runner's start and stop apart from the steps, and prints the
steps' throughput ratio (and the whole run's, start and stop included).

Targets (issues 12, 26): ratio >= 1.0 (median) on every shape, in the dev venv and with
--user-venv; Ray >= 0.9x local.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORK = HERE / "_work" / "cc"
CC_VENV = HERE / ".venv-cc2dataset"
USER_VENV = HERE / ".venv-user"
BARE = ("--no-detect-language", "--no-dedup")  # the work cc2dataset does not do either
SHAPES = ("heavy", "cc-mix", "anchors", "intl")  # heavy: the mini-web's writer; the rest: bench/wat_shapes.py

# Runs inside cc2dataset's venv: the parse alone, timed around process_wat.
CC_SCRIPT = """
import json, sys, time
from cc2dataset.main import process_wat
t0, c0 = time.perf_counter(), time.process_time()
rows = list(process_wat(sys.argv[1], "image"))
seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
print(json.dumps({"seconds": seconds, "cpu": cpu, "candidates": len(rows),
                  "unique_url_alt": len({(r[1], r[2]) for r in rows})}))
"""


def build_wat(pages: int) -> Path:
    path = WORK / f"cc-{pages}.warc.wat.gz"
    if path.exists():
        return path
    sys.path.insert(0, str(ROOT / "src"))
    from grassroots.miniweb import write_warc

    WORK.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    urls = [f"http://127.0.0.{i + 1}:8080" for i in range(8)]
    tmp = WORK / f"tmp-{pages}.warc.gz"
    info = write_warc(tmp, urls, seed=7, pages=pages, heavy=True, wat_only=True)
    Path(info["wat"]).rename(path)
    print(f"built {path} ({info['bytes'] / 1e6:.1f} MB, {info['records']} pages) in {time.perf_counter() - t0:.0f}s")
    return path


def ensure_cc2dataset() -> Path:
    py = CC_VENV / "bin" / "python"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(CC_VENV)], check=True)
        subprocess.run([str(CC_VENV / "bin" / "pip"), "install", "-q", "cc2dataset"], check=True)
    return py


def ensure_user_venv() -> Path:
    py = USER_VENV / "bin" / "python"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(USER_VENV)], check=True)
        subprocess.run([str(USER_VENV / "bin" / "pip"), "install", "-q", "-e", str(ROOT)], check=True)
    return py


def run_cc2dataset(py: Path, wat: Path) -> dict:
    res = subprocess.run([str(py), "-c", CC_SCRIPT, str(wat)], capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


PYTHON = sys.executable  # --python: the interpreter (venv) grassroots' command runs with


def grassroots_cmd() -> list[str]:
    """This checkout's code with PYTHON (by default the project's venv)."""
    return [PYTHON, "-m", "grassroots.cli"]


def _env(src: Path) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(src), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def run_grassroots(inputs: list[Path], processes: int = 1, runner: str = "local", src: Path = ROOT / "src",
                   flags: tuple[str, ...] = ()) -> dict:
    out = Path(tempfile.mkdtemp(prefix="gr-", dir=WORK))
    shutil.rmtree(out)
    cmd = [*grassroots_cmd(), "extract", *map(str, inputs), "-o", str(out), "--processes", str(processes),
           "--runner", runner, *flags]
    t0, r0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    res = subprocess.run(cmd, capture_output=True, text=True, env=_env(src))
    seconds, r1 = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)  # of all its processes (Ray's: partly)
    if res.returncode != 0:
        print(res.stdout[-3000:], res.stderr[-3000:], file=sys.stderr)
        raise SystemExit(f"grassroots extract failed ({res.returncode})")
    import pyarrow.parquet as pq

    kept = sum(pq.read_metadata(p).num_rows for p in sorted((out / "candidates").glob("*.parquet")))
    dedup = sum(pq.read_metadata(p).num_rows for p in sorted((out / "attributes").rglob("*.parquet")))
    shutil.rmtree(out, ignore_errors=True)
    return {"seconds": seconds, "cpu": cpu, "candidates": kept, "dedup_rows": dedup}


def build_shape(shape: str, pages: int) -> Path:
    """The WAT of one shape: ``heavy`` from the mini-web's writer, the others from
    bench/wat_shapes.py (written independently of it)."""
    if shape == "heavy":
        return build_wat(pages)
    path = WORK / f"shape-{shape}-{pages}.warc.wat.gz"
    if not path.exists():
        sys.path.insert(0, str(HERE))
        from wat_shapes import write_wat

        WORK.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        info = write_wat(shape, pages, str(tmp))
        tmp.rename(path)
        print(f"built {path.name}: {info['bytes'] / 1e6:.1f} MB, {info['records']} pages, {info['links']:,} links, "
              f"{info['images']:,} images")
    return path


def bench_shape(shape: str, wat: Path, py: Path, rounds: int, also: Path | None) -> dict:
    cc, gr, bare, other = [], [], [], []
    for r in range(rounds):
        cc.append(run_cc2dataset(py, wat))
        gr.append(run_grassroots([wat]))
        bare.append(run_grassroots([wat], flags=BARE))
        if also:
            other.append(run_grassroots([wat], src=also))
            print(f"  {shape} round {r + 1}: {also}: {other[-1]['seconds']:.2f} s wall, {other[-1]['cpu']:.2f} s CPU "
                  f"({other[-1]['candidates']} candidates)")
        print(f"  {shape} round {r + 1}: cc2dataset {cc[-1]['seconds']:.2f} s wall, {cc[-1]['cpu']:.2f} s CPU "
              f"({cc[-1]['candidates']} candidates); grassroots {gr[-1]['seconds']:.2f} s wall, "
              f"{gr[-1]['cpu']:.2f} s CPU ({gr[-1]['candidates']} candidates); bare {bare[-1]['seconds']:.2f} s",
              flush=True)

    def med(xs, k):
        return statistics.median(x[k] for x in xs)

    return {"shape": shape, "mb": wat.stat().st_size / 1e6, "cc_s": med(cc, "seconds"), "cc_cpu": med(cc, "cpu"),
            "gr_s": med(gr, "seconds"), "gr_cpu": med(gr, "cpu"), "bare_s": med(bare, "seconds"),
            "bare_cpu": med(bare, "cpu"), "n_cc": cc[0]["candidates"], "n_gr": gr[0]["candidates"],
            "other_s": med(other, "seconds") if other else None, "other_cpu": med(other, "cpu") if other else None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pages", type=int, default=20000, help="pages in each WAT")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--shapes", default=",".join(SHAPES),
                    help=f"comma-separated WAT shapes to time, each reported apart (default: {','.join(SHAPES)}; "
                    "see bench/wat_shapes.py)")
    ap.add_argument("--build-only", action="store_true", help="build the WATs (and cc2dataset's venv) and stop")
    ap.add_argument("--ray", action="store_true", help="also compare Ray (2 CPUs) with local on 4 WAT files")
    ap.add_argument("--ray-only", action="store_true", help="only the Ray vs local comparison")
    ap.add_argument("--user-venv", action="store_true", help="run grassroots from bench/.venv-user (built once: "
                    "`pip install -e .` alone, as a user installs it; the project's .venv also holds the test "
                    "extras, which bring pandas, and pyarrow then imports it on its first array)")
    ap.add_argument("--python", help="run grassroots with this interpreter instead")
    ap.add_argument("--also", type=Path, help="also time the extract command of another checkout's src/ "
                    "(e.g. the code before a change), alternating with the others")
    args = ap.parse_args()
    global PYTHON
    PYTHON = args.python or (str(ensure_user_venv()) if args.user_venv else sys.executable)
    shapes = [x.strip() for x in args.shapes.split(",") if x.strip()]
    unknown = set(shapes) - set(SHAPES)
    if unknown:
        ap.error(f"unknown shape(s) {', '.join(sorted(unknown))}: choose from {', '.join(SHAPES)}")
    wats = {shape: build_shape(shape, args.pages) for shape in shapes}
    py = ensure_cc2dataset()
    for src in (ROOT / "src", args.also):  # as an installed package runs: bytecode compiled once, not per run
        if src is not None:
            subprocess.run([PYTHON, "-m", "compileall", "-q", str(src)], check=True, capture_output=True)
    if args.build_only:
        return
    if args.ray_only:
        run_ray_vs_local(wats.get("heavy") or build_wat(args.pages), args.rounds)
        return
    cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")), "?")
    print(f"{time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores ({cpu}); grassroots --processes 1 with {PYTHON}; "
          f"load average at start {os.getloadavg()[0]:.2f}")
    results = [bench_shape(shape, wat, py, args.rounds, args.also) for shape, wat in wats.items()]
    print("\n| shape | MB gz | cc2dataset parse (s wall / CPU) | grassroots extract (s wall / CPU) | "
          "ratio wall | ratio CPU | without lang ID + dedup: ratio wall | candidates gr / cc |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        print(f"| {r['shape']} | {r['mb']:.1f} | {r['cc_s']:.2f} / {r['cc_cpu']:.2f} | {r['gr_s']:.2f} / "
              f"{r['gr_cpu']:.2f} | {r['cc_s'] / r['gr_s']:.2f}x | {r['cc_cpu'] / r['gr_cpu']:.2f}x | "
              f"{r['cc_s'] / r['bare_s']:.2f}x | {r['n_gr']:,} / {r['n_cc']:,} |")
    if args.also:
        print(f"\n{args.also} (medians, s wall / CPU): " + "; ".join(
            f"{r['shape']} {r['other_s']:.2f} / {r['other_cpu']:.2f}" for r in results))
    print(f"\nratio = cc2dataset's median time / grassroots' ({args.rounds} rounds, alternating; >= 1.0: grassroots "
          f"at least as fast, whole command vs cc2dataset's parse only). cc2dataset counts every IMG link; "
          f"grassroots keeps those with a caption and an http(s) URL. Load average at end {os.getloadavg()[0]:.2f} "
          f"(CPU seconds are the steadier figure on a shared machine).")
    if args.ray:
        run_ray_vs_local(wats.get("heavy") or build_wat(args.pages), args.rounds)


# Runs with this checkout's code: the two steps of `grassroots extract` on a runner,
# timed by phase (the runner's start and stop apart from the steps).
RUNNER_SCRIPT = """
import json, sys, time
t0 = time.perf_counter()
from grassroots.runner import LocalRunner, RayRunner, run_step
from grassroots.stages import Dedup, Extract

def main():
    out, kind, files = sys.argv[1], sys.argv[2], sys.argv[3:]
    runner = RayRunner(processes=2) if kind == "ray" else LocalRunner(processes=2)
    t1 = time.perf_counter()
    with runner.session() as run:
        t2 = time.perf_counter()
        ex = run_step(Extract(inputs=tuple(files)), out, run, progress=False)
        t3 = time.perf_counter()
        dd = run_step(Dedup(), out, run, progress=False)
        t4 = time.perf_counter()
    t5 = time.perf_counter()
    print(json.dumps({"imports": t1 - t0, "start": t2 - t1, "extract": t3 - t2, "dedup": t4 - t3,
                      "stop": t5 - t4, "whole": t5 - t0, "candidates": ex.kept, "after_dedup": dd.kept}))

if __name__ == "__main__":
    main()
"""


def run_runner(files: list[Path], kind: str) -> dict:
    out = Path(tempfile.mkdtemp(prefix="gr-", dir=WORK))
    shutil.rmtree(out)
    script = WORK / "runner_phases.py"  # a file: spawned local workers re-import the main module
    script.write_text(RUNNER_SCRIPT)
    res = subprocess.run([sys.executable, str(script), str(out), kind, *map(str, files)], capture_output=True,
                         text=True, env=_env(ROOT / "src"))
    shutil.rmtree(out, ignore_errors=True)
    if res.returncode != 0:
        print(res.stdout[-3000:], res.stderr[-3000:], file=sys.stderr)
        raise SystemExit(f"the {kind} runner failed ({res.returncode})")
    return json.loads(res.stdout.strip().splitlines()[-1])


def run_ray_vs_local(wat: Path, rounds: int) -> None:
    copies = []
    for i in range(4):  # four files with different names (one shard each)
        p = WORK / f"copy{i}-{wat.name}"
        if not p.exists():
            os.link(wat, p)
        copies.append(p)
    total = sum(p.stat().st_size for p in copies) / 1e6
    local, ray = [], []
    for r in range(rounds):
        local.append(run_runner(copies, "local"))
        ray.append(run_runner(copies, "ray"))
        print(f"round {r + 1}: " + "; ".join(
            f"{k}: start {x['start']:.1f} s, extract {x['extract']:.1f} s, dedup {x['dedup']:.1f} s, "
            f"stop {x['stop']:.1f} s, whole {x['whole']:.1f} s" for k, x in (("local", local[-1]), ("ray", ray[-1]))))
    med = {k: {f: statistics.median(x[f] for x in runs) for f in runs[0]} for k, runs in (("local", local),
                                                                                        ("ray", ray))}
    steps = {k: m["extract"] + m["dedup"] for k, m in med.items()}
    print(f"\n4 WAT files ({total:.0f} MB), 2 CPUs, medians of {rounds}: the two steps: local {steps['local']:.1f} s "
          f"({total / steps['local']:.1f} MB/s), ray {steps['ray']:.1f} s ({total / steps['ray']:.1f} MB/s): "
          f"ray/local throughput **{steps['local'] / steps['ray']:.2f}x**; the whole run with the runner's start and "
          f"stop: local {med['local']['whole']:.1f} s, ray {med['ray']['whole']:.1f} s "
          f"({med['local']['whole'] / med['ray']['whole']:.2f}x; a local Ray starts in "
          f"{med['ray']['start']:.1f} s and stops in {med['ray']['stop']:.1f} s); candidates "
          f"{local[0]['candidates']} / {ray[0]['candidates']}, after dedup {local[0]['after_dedup']} / "
          f"{ray[0]['after_dedup']}")


if __name__ == "__main__":
    main()
