"""concepts: every kept caption matched against a list of concept entries (MetaCLIP's
curation) -> attributes/concepts/NNNNN.parquet: ``key``, ``concepts`` (the entries found,
sorted, each once) and ``concept_count``.

The entry list is written once into the dataset, attributes/concepts/entries.txt (one
entry per line, normalised: case-folded, spaces collapsed), and the step's plan names its
sha256, so every task (on any node) matches the same list and a new list redoes the step.

Matching. MetaCLIP pads each entry with spaces and the caption's , . ; : ? ! ` with spaces,
then looks for the entry as a substring (so it matches whole words, case as written). Ours:
- **whole words, case-folded**: caption and entries are NFKC-normalised and case-folded, every
  run of characters that are not letters or digits becomes one space (hyphens, quotes,
  brackets too, not only MetaCLIP's seven marks), and the padded entry is looked for: "cat"
  is found in "A cat.", "black-cat" and "(Cat)" but not in "concatenate";
- **English plurals**: an entry also matches its -s, -es and y -> -ies forms ("cat" in "cats",
  "bus" in "buses", "city" in "cities"), counted as the entry itself;
- **scripts written without spaces** (Chinese, Japanese, Thai, Lao, Khmer, Myanmar):
  no boundary exists, so an entry with such a character matches as a plain substring.
All forms of all entries go into one Aho-Corasick automaton (pyahocorasick): one pass over
a caption finds every match, so 500,000 entries cost about what 50 do per caption.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from typing import ClassVar, Iterable

import pyarrow as pa
import pyarrow.parquet as pq

from grassroots import io
from grassroots.errors import InputError
from grassroots.layout import DatasetDir
from grassroots.ledger import finished_shards, kept_rows
from grassroots.stats import ShardStats
from grassroots.step import Resources, ShardTask

TABLE = "concepts"
SCHEMA = pa.schema([pa.field("key", pa.string(), nullable=False), pa.field("concepts", pa.list_(pa.string())),
                    pa.field("concept_count", pa.int32())])
_UNSPACED = re.compile(r"[\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff"
                       r"\uac00-\ud7af\uf900-\ufaff]")


def normalise(entry: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", entry).casefold().split())


def plurals(entry: str) -> list[str]:
    """The entry's English plural forms (only for a last word of ASCII letters)."""
    last = entry.rsplit(" ", 1)[-1]
    if not last.isascii() or not last.isalpha() or len(last) < 2:
        return []
    if last.endswith("y") and last[-2] not in "aeiou":
        return [entry[:-1] + "ies"]
    if last.endswith(("s", "x", "z", "ch", "sh")):
        return [entry + "es"]
    return [entry + "s", entry + "es"]


def read_entries(path: str) -> list[str]:
    """An entry list file: one entry per line, blank lines and ``#`` comments skipped."""
    if not io.exists(path):
        raise InputError(path, "no such entry list", "one concept per line, or --entries default")
    out = []
    for line in io.read_text(path).splitlines():
        entry = normalise(line.split("#", 1)[0] if line.lstrip().startswith("#") else line)
        if entry:
            out.append(entry)
    return out


def default_entries(languages: Iterable[str] = ("en",), per_language: int = 20_000) -> list[str]:
    """``--entries default``: wordfreq's most frequent words of each language (its lists ship
    inside the package), alphabetic, at least 3 letters; function words are not removed by
    part of speech (wordfreq has no tags): they match often, and balancing caps them like any
    head entry. No bigrams (wordfreq lists single words)."""
    from wordfreq import top_n_list

    out = []
    for lang in languages:
        out += [w for w in top_n_list(lang, per_language) if len(w) >= 3 and w.isalpha()]
    return list(dict.fromkeys(normalise(w) for w in out))


def write_entries(dataset: str, entries: Iterable[str]) -> str:
    """Write the dataset's entry list (normalised, each once, sorted); its sha256."""
    unique = sorted({normalise(e) for e in entries} - {""})
    if not unique:
        raise InputError("--entries", "the entry list is empty", "one concept per line")
    text = "".join(f"{e}\n" for e in unique)
    io.write_text_atomic(DatasetDir(dataset).concept_entries, text)
    return hashlib.sha256(text.encode()).hexdigest()


_NONWORD = re.compile(r"[\W_]+")
_ASCII_SPACES = str.maketrans({c: " " for c in map(chr, range(128)) if not c.isalnum()})


def _spaced(text: str) -> str:
    """Case-folded, every run of characters that are not letters or digits one space, padded:
    an entry " cat " is then found only as a whole word (MetaCLIP pads the same way). ASCII
    text (most alt text) takes a translate table instead of NFKC and a regex: 2x faster."""
    if text.isascii():
        return f" {' '.join(text.lower().translate(_ASCII_SPACES).split())} "
    return f" {_NONWORD.sub(' ', unicodedata.normalize('NFKC', text).casefold()).strip()} "


@dataclass
class Matcher:
    """All forms of all entries in one automaton; ``find(caption)`` -> the entries in it."""

    entries: list[str]

    def __post_init__(self) -> None:
        import ahocorasick

        self.automaton = ahocorasick.Automaton()
        forms: dict[str, set[str]] = {}
        for entry in self.entries:
            for form in (entry, *plurals(entry)):
                word = _spaced(form)
                if _UNSPACED.search(word):  # no spaces between words: a plain substring
                    word = word.strip()
                if word.strip():
                    forms.setdefault(word, set()).add(entry)
        for word, owners in forms.items():
            self.automaton.add_word(word, tuple(sorted(owners)))
        if forms:
            self.automaton.make_automaton()
        self.empty = not forms

    def find(self, caption: str | None) -> list[str]:
        if not caption or self.empty:
            return []
        found: set[str] = set()
        for _, owners in self.automaton.iter(_spaced(caption)):
            found.update(owners)
        return sorted(found)


@dataclass(frozen=True)
class Concepts:
    name: ClassVar[str] = "concepts"
    resources: ClassVar[Resources] = Resources()
    ledger: ClassVar[str | None] = None
    entries: str  # sha256 of attributes/concepts/entries.txt (write_entries)

    def plan(self, dataset: str) -> list[ShardTask]:
        layout = DatasetDir(dataset)
        if not io.exists(layout.concept_entries):
            raise InputError(layout.concept_entries, "no entry list", "run `grassroots concepts DATASET --entries FILE`")
        return [ShardTask(s, dataset, (layout.shard_parquet(s), layout.concept_entries), params=(self.entries,))
                for s in finished_shards(dataset)]

    def outputs(self, layout: DatasetDir) -> list[str]:
        return [layout.attributes_dir(TABLE)]

    def __call__(self, task: ShardTask) -> ShardStats:
        from grassroots.runner.worker import cached

        layout = DatasetDir(task.dataset)
        matcher = cached(("concepts", task.dataset, self.entries),
                         lambda: Matcher(read_entries(layout.concept_entries)))
        rows = kept_rows(layout, task.shard, ["key", "caption"]).to_pylist()
        found = [matcher.find(r["caption"]) for r in rows]
        table = pa.table({"key": [r["key"] for r in rows], "concepts": found,
                          "concept_count": [len(f) for f in found]}, schema=SCHEMA)
        with io.atomic_write(layout.attribute(TABLE, task.shard), "wb") as f:
            pq.write_table(table, f)
        stats = ShardStats(candidates=len(rows))
        stats.keep(len(rows))
        stats.count("matched", sum(1 for f in found if f))
        stats.count("matches", sum(len(f) for f in found))
        return stats
