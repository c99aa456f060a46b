#!/usr/bin/env python3
"""Our own CLIP on real images (issue 15): train on the Open Clip Art corpus, titles as
captions, and evaluate zero-shot over its categories on held-out images, against chance.

    .venv/bin/python bench/train_openclipart.py [--minutes 10] [--recipe tiny] [--heldout 0.2]

1. Builds (or reuses) the corpus with ../shared/bench/make_corpus.py (8,121 public-domain
   clip-art images from Debian's packages: title, creator, licence, category).
2. Splits it (a fixed share held out, chosen by a hash of the file name, so the copies of
   an image filed under several folders land on the same side), serves it with nginx on 127.0.0.1 and downloads both splits with
   `grassroots download --keep-cols category`.
3. `grassroots train` on the training split only, for --minutes.
4. `grassroots eval` on the held-out split: zero-shot classification over all categories
   (prompts such as "clip art of {c}."), and image<->title retrieval recall. Chance is
   printed next to each number: 1/C for top-1 and mean per-class recall, the largest
   category's share for an always-the-same-class guess, k/N for retrieval recall@k.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from download_vs_img2dataset import CORPUS, WORK, build_corpus, free_port, start_nginx  # noqa: E402

OUT = WORK / "openclipart"
GR = [sys.executable, "-m", "grassroots.cli"]
TEMPLATES = ["clip art of {c}.", "a drawing of {c}.", "{c} clipart.", "an illustration of {c}.", "{c}."]


def category_name(folder: str) -> str:
    return folder.replace("_", " ").replace("-", " ").strip().lower()


def split(rows: list[dict], share: float) -> tuple[list[dict], list[dict]]:
    # by file name, not path: the corpus files some images under several folders
    # (animals/x.png and animals/amphibian/x.png), and both copies must land on one side
    def held(path: str) -> bool:
        return int(hashlib.sha256(os.path.basename(path).encode()).hexdigest()[:8], 16) / 2**32 < share

    return [r for r in rows if not held(r["path"])], [r for r in rows if held(r["path"])]


def write_list(rows: list[dict], port: int, path: Path) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["url", "caption", "category"])
        for r in rows:
            w.writerow([f"http://127.0.0.1:{port}/{r['path']}", r["caption"], category_name(r["category"])])


def download(urls: Path, ds: Path) -> None:
    if (ds / ".bench-complete").exists():
        return
    subprocess.run(["rm", "-rf", str(ds)], check=True)
    subprocess.run([*GR, "download", str(urls), "-o", str(ds), "--allow-loopback", "--processes", "2",
                    "--keep-cols", "category", "--samples-per-shard", "1000"], check=True, stdout=subprocess.DEVNULL)
    (ds / ".bench-complete").write_text("")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--recipe", default="tiny")
    ap.add_argument("--heldout", type=float, default=0.2, help="share of each category held out")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    source = build_corpus()
    if source != "openclipart":
        sys.exit("the Open Clip Art corpus could not be built (make_corpus.py needs apt-get); nothing to measure")
    with open(CORPUS / "urls.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    train_rows, held_rows = split(rows, args.heldout)
    classes = sorted({category_name(r["category"]) for r in rows})
    OUT.mkdir(parents=True, exist_ok=True)
    port = free_port()
    nginx = start_nginx(CORPUS / "www", port)
    try:
        for name, part in (("train", train_rows), ("heldout", held_rows)):
            write_list(part, port, OUT / f"{name}.csv")
            t0 = time.monotonic()
            download(OUT / f"{name}.csv", OUT / name)
            print(f"{name}: {len(part)} images downloaded in {time.monotonic() - t0:.0f} s", flush=True)
    finally:
        nginx.terminate()
        nginx.wait()

    (OUT / "classnames.txt").write_text("\n".join(classes) + "\n")
    (OUT / "templates.txt").write_text("\n".join(TEMPLATES) + "\n")
    run = OUT / f"run-{args.recipe}-{args.minutes:g}min-s{args.seed}"
    subprocess.run(["rm", "-rf", str(run)], check=True)
    t0 = time.monotonic()
    subprocess.run([*GR, "train", str(OUT / "train"), "-o", str(run), "--recipe", args.recipe,
                    "--minutes", str(args.minutes), "--seed", str(args.seed)], check=True)
    wall = time.monotonic() - t0
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    result = run / "{task}.json"
    subprocess.run([*GR, "eval", str(run / "checkpoints" / "last.pt"), "--zeroshot", str(OUT / "heldout"),
                    "--label-column", "category", "--classnames", str(OUT / "classnames.txt"),
                    "--templates", str(OUT / "templates.txt"), "--retrieval", str(OUT / "heldout"),
                    "-o", str(result)], check=True, capture_output=True)
    zs = json.loads((run / "zeroshot_classification.json").read_text())["metrics"]
    rt = json.loads((run / "zeroshot_retrieval.json").read_text())["metrics"]

    held_counts = Counter(category_name(r["category"]) for r in held_rows)
    n_held = sum(held_counts.values())
    print(f"\nOpen Clip Art: {len(rows)} images, {len(classes)} categories; trained on {len(train_rows)}, "
          f"held out {n_held}")
    print(f"training: recipe {args.recipe}, {log[-1]['step']} steps, {log[-1]['elapsed_s'] / 60:.1f} min "
          f"({wall / 60:.1f} min whole command), final loss {log[-1]['loss']:.2f}")
    named = sum(any(w in r["caption"].lower() for w in {c, c.rstrip("s"), *c.split()} if len(w) > 3)
                for r in train_rows for c in [category_name(r["category"])])
    top = Counter(r["caption"] for r in train_rows).most_common(3)
    print(f"training titles that name their category: {named / len(train_rows):.1%}; most common titles: "
          + ", ".join(f"{t!r} x{n}" for t, n in top))
    print(f"zero-shot over {len(classes)} categories on held-out images:")
    print(f"  top-1 {zs['acc1']:.1%}   (chance {1 / len(classes):.1%}; always the largest category "
          f"'{held_counts.most_common(1)[0][0]}' {held_counts.most_common(1)[0][1] / n_held:.1%})")
    print(f"  top-5 {zs['acc5']:.1%}   (chance {min(5, len(classes)) / len(classes):.1%})")
    print(f"  mean per-class recall {zs['mean_per_class_recall']:.1%}   (chance {1 / len(classes):.1%})")
    print(f"held-out image<->title retrieval among {n_held}:")
    for k in (1, 5, 10):
        print(f"  title->image R@{k} {rt[f'image_retrieval_recall@{k}']:.1%}, image->title R@{k} "
              f"{rt[f'text_retrieval_recall@{k}']:.1%}   (chance {k / n_held:.2%})")


if __name__ == "__main__":
    main()
