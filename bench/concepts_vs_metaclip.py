"""Concept matching: grassroots' Matcher vs MetaCLIP's own substr_matching, same captions, same entries.

    python bench/concepts_vs_metaclip.py --metaclip PATH/TO/MetaCLIP [--entries 500000] [--captions 20000]

MetaCLIP's code (CC-BY-NC) is not copied here: clone github.com/facebookresearch/MetaCLIP and
pass its folder; its ``metaclip/metaclip1/substr_matching.py`` (a loop over every entry) and
``substr_matching_ahocorasick.py`` (its own automaton) are imported from there.
The entry list is built to the scale of MetaCLIP's (500k): wordfreq's frequent words of eight
languages, then bigrams of the most frequent English words until the size is reached.
Captions: the benchmark corpus's titles (../shared/bench/make_corpus.py; bench/_work/corpus),
repeated to ``--captions``. One process, one core; captions/s per core printed with the ratio.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def entries_at_scale(n: int) -> list[str]:
    from wordfreq import top_n_list

    words = []
    for lang in ("en", "de", "fr", "es", "it", "nl", "pt", "pl"):
        words += [w for w in top_n_list(lang, 30_000) if w.isalpha() and len(w) >= 3]
    out = list(dict.fromkeys(words))
    head = [w for w in top_n_list("en", 5_000) if w.isalpha() and len(w) >= 3]
    for a, b in itertools.product(head, head):
        if len(out) >= n:
            break
        if a != b:
            out.append(f"{a} {b}")
    return out[:n]


def captions(limit: int) -> list[str]:
    corpus = ROOT / "bench" / "_work" / "corpus" / "urls.csv"
    if not corpus.exists():
        sys.exit(f"{corpus} is missing: build the corpus with ../shared/bench/make_corpus.py (see bench/download_vs_img2dataset.py)")
    with open(corpus, newline="") as f:
        titles = [row["caption"] for row in csv.DictReader(f) if row["caption"]]
    return list(itertools.islice(itertools.cycle(titles), limit))


def rate(fn, texts: list[str]) -> tuple[float, int]:
    t0 = time.perf_counter()
    found = sum(len(fn(t)) for t in texts)
    return len(texts) / (time.perf_counter() - t0), found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--metaclip", required=True, help="a clone of github.com/facebookresearch/MetaCLIP")
    ap.add_argument("--entries", type=int, default=500_000)
    ap.add_argument("--captions", type=int, default=20_000)
    ap.add_argument("--loop-captions", type=int, default=200, help="captions for MetaCLIP's plain loop (slow)")
    args = ap.parse_args()
    from grassroots.stages.concepts import Matcher

    entries = entries_at_scale(args.entries)
    texts = captions(args.captions)
    print(f"{len(entries):,} entries, {len(texts):,} captions (benchmark corpus titles), one core", flush=True)
    t0 = time.perf_counter()
    ours = Matcher(entries)
    print(f"grassroots Matcher: built in {time.perf_counter() - t0:.1f} s", flush=True)
    ours_rate, ours_found = rate(ours.find, texts)
    print(f"  {ours_rate:,.0f} captions/s ({ours_found:,} matches)", flush=True)

    sys.path.insert(0, str(Path(args.metaclip) / "metaclip" / "metaclip1"))
    import substr_matching as loop  # noqa: E402  (MetaCLIP's own module, from its clone)
    import substr_matching_ahocorasick as aho  # noqa: E402

    loop_rate, _ = rate(lambda t: loop.substr_matching(t, entries), texts[:args.loop_captions])
    print(f"MetaCLIP substr_matching (a loop over the entries): {loop_rate:,.1f} captions/s "
          f"-> grassroots {ours_rate / loop_rate:,.0f}x", flush=True)
    t0 = time.perf_counter()
    aho.substr_matching(texts[0], entries)
    print(f"MetaCLIP substr_matching_ahocorasick: built in {time.perf_counter() - t0:.1f} s", flush=True)
    aho_rate, aho_found = rate(lambda t: aho.substr_matching(t, entries), texts)
    print(f"  {aho_rate:,.0f} captions/s ({aho_found:,} matches; its rule is case-sensitive, bounded by spaces and "
          f",.;:?!`) -> grassroots {ours_rate / aho_rate:.2f}x", flush=True)


if __name__ == "__main__":
    main()
