"""After a takedown: remove what was taken down from everything under DATASET.

``purge_everywhere`` visits the dataset and every release (releases/v*), in that order:
1. candidates/ (the dataset only): rows whose URL or page the takedown lists name keep
   their URL (or, for illegal content, an empty one) and lose caption, title and context;
2. the Purge step (grassroots.stages.purge), shard by shard through the runner: tars,
   ledgers, the ledger step's markers, attribute tables, embeddings and key maps;
3. whole-directory files: near-duplicate pairs naming a removed key;
4. each vector index is built again without the removed keys (the Index step sees its
   source change);
5. scratch: temporary files and folders a killed run left (``.*.tmp-*``), failure
   records (``_runs/*/NNNNN.failed.json``: they may quote a URL; a rerun of a failed task
   writes its own again), releases deleted half-way (``releases/.vN.purged-*``);
6. the directory's manifest.json gains ``purged``: which takedown removed how many, when;
   and its accounting is checked (a sample taken down is a candidate dropped with the
   reason ``takedown``).
A release's card holds counts, not samples: the console says which to write again.
Every part is idempotent: a run killed anywhere finishes when the takedown is run again.
What left the machine (a release copied elsewhere, a model trained on it) is out of reach.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.parquet as pq

from grassroots import io
from grassroots.accounting import accounting_problems
from grassroots.errors import FatalError
from grassroots.layout import DatasetDir
from grassroots.runner.core import run_step
from grassroots.stages import Index
from grassroots.stages.purge import Purge
from grassroots.taken_down import TakenDown

CANDIDATE_TEXT = ("caption", "page_title", "context")


@dataclass(frozen=True)
class Purged:
    root: str
    removed: int  # samples removed from this directory by this run
    index: str  # what happened to its index
    card_stale: bool = False  # it has a card whose counts the purge changed (`grassroots card` writes it again)


def purge_everywhere(dataset: str, takedown: str, runner, progress: bool = True) -> list[Purged]:
    """Remove every sample of DATASET/takedowns/removed.csv from the dataset and all its releases."""
    layout = DatasetDir(dataset)
    taken = TakenDown.read(layout)
    record = hashlib.sha256(io.read_text(layout.takedown_removed_all).encode()).hexdigest()[:16]
    dirs = [layout] + [DatasetDir(p) for p in sorted(io.glob(layout.releases_glob())) if io.exists(p)]
    out = []
    for d in dirs:
        if not (io.glob(d.markers_glob("download")) or io.glob(d.markers_glob("select"))
                or io.glob(d.markers_glob("takedown"))):
            continue  # nothing written yet (a release being made elsewhere)
        purge_candidates(d, taken)
        totals = run_step(Purge(record), d.root, runner, progress=progress)
        if totals.failed_shards:
            raise FatalError(f"{d.root}: purging {totals.failed_shards} shards failed (the console says why); "
                             "run the takedown again to finish")
        purge_pairs(d, taken.keys)
        index = rebuild_indexes(d, runner, progress)
        purge_scratch(d)
        removed = totals.counters.get("purged", 0)
        if removed:
            note_purge(d, takedown, removed)
        problems = accounting_problems(d.root)
        if problems:
            raise FatalError(f"{d.root}: after the purge the accounting invariant breaks: {problems[0]}")
        out.append(Purged(d.root, removed, index, card_stale=bool(removed) and io.exists(d.card_dir)))
    return out


def purge_candidates(layout: DatasetDir, taken: TakenDown) -> None:
    for path in io.glob(layout.candidates_glob()):
        with io.open_file(path) as f:
            t = pq.read_table(f)
        cols = [c for c in ("url", "page_url") if c in t.column_names]
        rows = t.select(cols).to_pylist()
        gone = [taken.removes(r) for r in rows]
        bad = [g and (any(taken.blocklist.check_url(u) for u in r.values() if u)) for g, r in zip(gone, rows)]
        if not any(gone):
            continue
        for name in t.column_names:
            i = t.schema.get_field_index(name)
            field = t.schema.field(i)
            old = t.column(name).to_pylist()
            if name in CANDIDATE_TEXT:
                new = [None if g else v for v, g in zip(old, gone)]
            elif name in ("url", "page_url"):
                new = [(None if field.nullable else "") if b else v for v, b in zip(old, bad)]
            else:
                continue
            if new != old:
                t = t.set_column(i, field, pa.array(new, field.type))
        with io.atomic_write(path, "wb") as f:
            pq.write_table(t, f)


def purge_pairs(layout: DatasetDir, removed: set[str]) -> None:
    """Near-duplicate pairs (integer keys a, b) that name a removed sample."""
    ids = {int(k) for k in removed}
    for path in io.glob(layout.neardup_pairs_glob()):
        with io.open_file(path) as f:
            t = pq.read_table(f)
        if not {"a", "b"} <= set(t.column_names):
            continue
        keep = [a not in ids and b not in ids for a, b in zip(t.column("a").to_pylist(), t.column("b").to_pylist())]
        if not all(keep):
            with io.atomic_write(path, "wb") as f:
                pq.write_table(t.filter(pa.array(keep, pa.bool_())), f)


def rebuild_indexes(layout: DatasetDir, runner, progress: bool) -> str:
    """Every index of the directory built again from its (purged) embeddings, same settings."""
    built = []
    for path in sorted(io.glob(layout.index_docs_glob())):
        settings = json.loads(io.read_text(path))
        totals = run_step(Index(settings["model_id"], settings.get("exact_max")), layout.root, runner,
                          progress=progress)
        if totals.failed_shards:
            raise FatalError(f"{layout.root}: rebuilding the {settings['model_id']} index failed; "
                             "run the takedown again to finish")
        built.append(settings["model_id"] + (" (unchanged)" if totals.skipped_shards else " (rebuilt)"))
    return ", ".join(built) or "none"


def purge_scratch(layout: DatasetDir) -> None:
    """Temporary files and folders anywhere under the directory, failure records, and
    releases deleted half-way: what a killed run can leave holding a sample's bytes."""
    if not io.is_local(layout.root):
        return
    root = io.fs_and_path(layout.root)[1]
    for here, dirs, files in os.walk(root):
        for name in list(dirs):
            if name.startswith(".") and (".tmp-" in name or ".purged-" in name):
                shutil.rmtree(os.path.join(here, name), ignore_errors=True)
                dirs.remove(name)
        for name in files:
            if (name.startswith(".") and ".tmp-" in name) or name.endswith(".failed.json"):
                os.remove(os.path.join(here, name))


def note_purge(layout: DatasetDir, takedown: str, removed: int) -> None:
    from grassroots.manifest import read_manifest

    manifest = read_manifest(layout.root) if io.exists(layout.manifest) else {}
    entry = {"by_takedown": takedown, "removed": removed, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    manifest["purged"] = [*manifest.get("purged", []), entry]
    io.write_text_atomic(layout.manifest, json.dumps(manifest, indent=1, default=str))
