#!/usr/bin/env python3
"""Download A/B: any git ref against the working tree, same corpus, same venv, alternating.

    .venv/bin/python bench/download_ab.py REF [--limit 3000] [--rounds 2] [--processes 2 1]

Run it before a change to download, fetch, rights, imaging or the writer lands
(REF = main, or the last commit the README's figure came from), and keep the
README's figure from its table.

- The corpus is bench/download_vs_img2dataset.py's (Open Clip Art, served by
  nginx on 127.0.0.1); the command is that bench's (256 px keep_ratio, jpg q95,
  1000 samples a shard, --allow-loopback).
- REF is checked out with ``git worktree`` under bench/_work/ab-<sha>; it runs as
  ``python -m grassroots.cli`` with ``PYTHONPATH=<worktree>/src`` in this venv, so
  only the code differs. Both sources are byte-compiled first (as installed).
- Rounds alternate (ref, tree, ref, tree ...) so drift in the machine's speed
  hits both; each process count gets its own rows. The kept rows must match.
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

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from download_vs_img2dataset import WORK, build_corpus, served_corpus, write_url_list  # noqa: E402

PYTHON = ROOT / ".venv" / "bin" / "python"


def checkout(ref: str) -> tuple[str, Path]:
    sha = subprocess.run(["git", "rev-parse", "--verify", f"{ref}^{{commit}}"], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout.strip()
    tree = WORK / f"ab-{sha[:10]}"
    if not tree.exists():
        subprocess.run(["git", "worktree", "add", "--detach", str(tree), sha], cwd=ROOT, check=True,
                       capture_output=True)
    return sha, tree / "src"


def run(src: Path, urls: Path, processes: int) -> dict:
    out = Path(tempfile.mkdtemp(prefix="ab-", dir=WORK))
    cmd = [str(PYTHON), "-m", "grassroots.cli", "download", str(urls), "-o", str(out), "--allow-loopback",
           "--image-size", "256", "--resize-mode", "keep_ratio", "--encode-format", "jpg", "--encode-quality", "95",
           "--processes", str(processes), "--samples-per-shard", "1000"]
    env = {**os.environ, "PYTHONPATH": str(src)}
    t0 = time.monotonic()
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.monotonic() - t0
    if res.returncode != 0:
        print(res.stdout[-2000:], res.stderr[-2000:], file=sys.stderr)
    import pyarrow.parquet as pq

    import pyarrow as pa

    parts = [pq.read_table(f, columns=["key", "status"]) for f in sorted((out / "shards").glob("*.parquet"))]
    ledger = pa.concat_tables(parts) if parts else None
    kept = sorted(k for k, s in zip(ledger.column("key").to_pylist(), ledger.column("status").to_pylist())
                  if s == "success") if ledger is not None else []
    shutil.rmtree(out, ignore_errors=True)
    return {"wall": wall, "kept": len(kept), "keys": kept, "rows": ledger.num_rows if ledger is not None else 0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("ref", help="git ref to compare with the working tree (e.g. main, 676dc61)")
    ap.add_argument("--limit", type=int, default=3000, help="first N images of the corpus (0 = all)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--processes", type=int, nargs="+", default=[2, 1])
    a = ap.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    source = build_corpus()
    sha, ref_src = checkout(a.ref)
    subprocess.run([str(PYTHON), "-m", "compileall", "-q", str(ref_src), str(ROOT / "src")], check=True)
    with served_corpus() as port:
        urls, n = write_url_list(port, a.limit)
        cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")), "?")
        print(f"{time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores ({cpu}); corpus: {source}, {n} images, "
              f"nginx on 127.0.0.1:{port}")
        print(f"A = {a.ref} ({sha[:10]}), B = working tree")
        table = []
        for p in a.processes:
            walls: dict[str, list[float]] = {"A": [], "B": []}
            keys = {}
            for r in range(a.rounds):
                for name, src in (("A", ref_src), ("B", ROOT / "src")):
                    res = run(src, urls, p)
                    walls[name].append(res["wall"])
                    keys[name] = res["keys"]
                    print(f"  --processes {p} round {r + 1} {name}: {res['wall']:6.2f} s, "
                          f"{res['kept']} kept of {res['rows']} rows", flush=True)
            same = "same kept keys" if keys["A"] == keys["B"] else \
                f"KEPT KEYS DIFFER ({len(keys['A'])} vs {len(keys['B'])})"
            a_best, b_best = min(walls["A"]), min(walls["B"])
            table.append((p, walls, a_best, b_best, len(keys["B"]), same))
        print()
        print(f"| --processes | A {a.ref} (s, each round) | B tree (s, each round) | A best img/s | B best img/s "
              f"| B vs A | kept |")
        print("| ---: | --- | --- | ---: | ---: | ---: | --- |")
        for p, walls, a_best, b_best, kept, same in table:
            print(f"| {p} | {', '.join(f'{w:.1f}' for w in walls['A'])} | {', '.join(f'{w:.1f}' for w in walls['B'])} "
                  f"| {kept / a_best:.0f} | {kept / b_best:.0f} | {a_best / b_best:.2f}x | {kept}, {same} |")


if __name__ == "__main__":
    main()
