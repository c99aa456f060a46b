"""Releases: ``DATASET/releases/<name>/``, each a dataset of its own (shards, ledger,
attributes, embeddings, index/, card/, manifest.json saying what it is).

``Release`` names one, checked once (its name, whether it exists); every command
that takes ``DATASET --release vN`` resolves it here. The applications that make
releases live here too, above the steps they run:

- ``make_release``: select from the dataset or an earlier release (the Select step);
  ``dry_run`` counts what an expression would drop;
- ``make_takedown``: release vN + what to remove -> release vN+1, and everything around it:
    1. the ask gains the PDQ hash of every sample it matches (grassroots.takedown.match.with_copies),
       so copies of a removed image elsewhere go too; the Takedown step writes vN+1 shard by
       shard (shards, ledger, attributes, embeddings and their key maps:
       grassroots.stages.release_files, one function per family);
    2. each vector index of vN is built again from vN+1's embeddings with the same settings
       (``rebuild_index``: the Index step, grassroots.index);
    3. vN+1/takedown.json (what was asked, what matched, counts, request ids handled) and
       vN+1/takedown_removed.txt (the keys removed);
    4. the dataset's registry and blocklist gain the asked and removed URLs and hashes
       (grassroots.takedown.lists; illegal content's URLs by hash only), so later downloads
       refuse them; DATASET/takedowns/removed.csv gains the removed keys
       (grassroots.taken_down), which every later step skips;
    5. everything else under the dataset is purged of them: the dataset's shards,
       embeddings, attributes and candidates, every other release and its index
       (grassroots.purge.purge_everywhere); takedown.json says which;
    6. with ``purge_parent``, vN is deleted atomically (``purge``: renamed away, then removed).
  Steps 2-6 run only when every shard of vN+1 is written and accounted for.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
import uuid
from collections import Counter
from dataclasses import dataclass

import pyarrow.compute as pc
import pyarrow.parquet as pq

from grassroots import io
from grassroots.accounting import accounting_problems
from grassroots.embeddings import embedding_models
from grassroots.errors import FatalError, InputError
from grassroots.layout import DatasetDir
from grassroots.ledger import finished_shards
from grassroots.runner.core import run_step
from grassroots.schema import Reason
from grassroots.select_expr import parse
from grassroots.stages.index import Index
from grassroots.stages.release_files import attribute_tables
from grassroots.stages.select import Curation, Select, concept_counts, joined, verdicts
from grassroots.stages.takedown import Takedown
from grassroots.stats import ShardStats
from grassroots.purge import purge_everywhere
from grassroots.rights.blocklist import url_hash
from grassroots.takedown.lists import append_to_lists
from grassroots.takedown.match import with_copies
from grassroots.takedown.record import TakedownCounts, TakedownRecord
from grassroots.taken_down import append_removed
from grassroots.takedown.requests import KINDS, TakedownAsk

RELEASE_NAME = r"v[0-9]+[A-Za-z0-9._-]*"


@dataclass(frozen=True)
class Release:
    """Release ``name`` of the dataset at ``dataset``: ``dataset/releases/<name>/``."""

    dataset: str
    name: str

    @classmethod
    def named(cls, dataset: str, name: str) -> "Release":
        """A release of ``dataset``, its name checked (v1, v2, v3-fix ...)."""
        if not re.fullmatch(RELEASE_NAME, name or ""):
            raise InputError(name, "is not a release name", "use v1, v2, ... (letters, digits, . _ - after)")
        return cls(str(dataset), name)

    @property
    def layout(self) -> DatasetDir:
        return DatasetDir(self.dataset).release(self.name)

    @property
    def root(self) -> str:
        return self.layout.root

    def exists(self) -> bool:
        return io.exists(self.layout.manifest) or io.exists(self.root)

    def require(self) -> "Release":
        """This release, or the one clear error when there is none."""
        if not self.exists():
            raise InputError(self.root, "no such release", "make one with `grassroots select`")
        return self


def source_of(dataset: str, from_release: str | None) -> str:
    """The directory a new release is made from: the dataset, or its release ``from_release``."""
    return Release.named(dataset, from_release).require().root if from_release else DatasetDir(dataset).root


def new_release(dataset: str, release: str, from_release: str | None) -> tuple[str, str]:
    """(parent, target) directories of a release about to be made, both checked."""
    target = Release.named(dataset, release).root
    parent = source_of(dataset, from_release)
    if parent == target:
        raise InputError(release, "a release cannot be made from itself")
    return parent, target


def dry_run(parent: str, where: str) -> tuple[int, int, Counter]:
    """(kept samples of the parent, how many the expression selects, drops by first failing clause)."""
    layout = DatasetDir(parent)
    tables = attribute_tables(layout)
    total, selected, drops = 0, 0, Counter()
    for shard in finished_shards(layout.root):
        rows = joined(layout, shard, tables)
        for v in verdicts(rows, parse(where, [c for c in rows.column_names if c != "__row"])):
            total += 1
            if v is None:
                selected += 1
            else:
                drops[v] += 1
    return total, selected, drops


def record_release(release: str, parent: str, totals: ShardStats, **details) -> None:
    """The release's manifest.json gains what it is: parent, how it was made (``details``:
    select's expression, a takedown's summary), tables, models, counts."""
    from grassroots.manifest import read_manifest

    manifest = read_manifest(release)
    manifest["release"] = {
        "parent": parent,
        **details,
        "attribute_tables": attribute_tables(DatasetDir(parent)),
        "embedding_models": embedding_models(DatasetDir(parent)),
        "candidates": totals.candidates,
        "selected": totals.kept,
        "dropped": dict(totals.reasons),
    }
    io.write_text_atomic(DatasetDir(release).manifest, json.dumps(manifest, indent=1, default=str))


def remove_tree(path: str) -> None:
    import shutil

    fs, local = io.fs_and_path(path)
    fs.rm(local, recursive=True) if not io.is_local(path) else shutil.rmtree(local)


def safety_columns(parent: DatasetDir) -> list[str]:
    """Columns that hold a safety score: the safety step's table (attributes/safety) and
    every safety head's probability. Empty when the parent has neither."""
    from grassroots.index.items import DETECTOR_COLUMNS, head_tables

    cols = [h for h in head_tables(parent) if h not in DETECTOR_COLUMNS]
    for path in sorted(io.glob(parent.attribute_shards_glob("safety")))[:1]:
        with io.open_file(path) as f:
            cols += [c for c in pq.read_schema(f).names if c != "key"]
    return cols


def safety_thresholds(parent: str, where: str) -> list[str] | None:
    """The ``--where`` clauses that threshold a safety score (e.g. ``nsfw < 0.5``);
    None when the parent has no safety table or head (nothing to threshold)."""
    from grassroots.select_expr import tokens

    cols = {c.lower() for c in safety_columns(DatasetDir(parent))}
    if not cols:
        return None
    clauses = parse(where, columns_of_parent(parent)) if where.strip() else []
    return [c.sql for c in clauses if any(k == "name" and t.lower() in cols for k, t in tokens(c.sql))]


def columns_of_parent(parent: str) -> list[str]:
    from grassroots.stages.select import columns_of

    layout = DatasetDir(parent)
    return columns_of(layout, attribute_tables(layout), finished_shards(parent)[0])


def make_release(dataset: str, release: str, where: str, runner, *, parent_release: str | None = None,
                 overwrite: bool = False, progress: bool = True, curation: Curation = Curation()) -> tuple[str, ShardStats]:
    """Select from the dataset (or its release ``parent_release``) into releases/<release>/."""
    parent, target = new_release(dataset, release, parent_release)
    step = Select(parent, where, curation)
    if io.exists(target):
        if not overwrite:
            raise InputError(target, "exists", "pick a new release name, or pass --overwrite to replace it")
        step.clauses(DatasetDir(parent), finished_shards(parent)[0])  # refuse bad input before deleting
        remove_tree(target)
    totals = run_step(step, target, runner, progress=progress)
    details = {"balance": record_balance(parent, target, curation)} if curation.balance is not None else {}
    if curation.sample is not None:
        details["sample"] = {"fraction": curation.sample, "seed": curation.seed}
    record_release(target, parent, totals, where=where, filtered=dict(totals.reasons),
                   safety_thresholds=safety_thresholds(parent, where), **details)
    return target, totals


def record_balance(parent: str, target: str, curation: Curation) -> dict:
    """balance.json gains the samples per entry after balancing; the manifest's summary."""
    layout = DatasetDir(target)
    doc = json.loads(io.read_text(layout.balance_counts))
    doc["after"] = concept_counts(layout)
    entries = DatasetDir(DatasetDir(parent).dataset_root).concept_entries
    digest = (hashlib.sha256(io.read_text(entries).encode()).hexdigest() if io.exists(entries) else None)
    doc.update(T=curation.balance, seed=curation.seed, keep_unmatched=curation.keep_unmatched, entries_sha256=digest)
    io.write_text_atomic(layout.balance_counts, json.dumps(doc, sort_keys=True))
    top = sorted(doc["before"].items(), key=lambda kv: (-kv[1], kv[0]))[:20]
    return {"T": curation.balance, "seed": curation.seed, "keep_unmatched": curation.keep_unmatched,
            "entries_sha256": digest, "entries_matched": len(doc["before"]), "counts": os.path.basename(layout.balance_counts),
            "top_entries": [{"entry": e, "before": n, "after": doc["after"].get(e, 0)} for e, n in top]}


@dataclass
class TakedownResult:
    release: str
    totals: ShardStats
    record: TakedownRecord | None  # takedown.json (None when shards failed: rerun to finish)
    stale_cards: tuple[str, ...] = ()  # releases whose card the purge made out of date


def rebuild_index(parent: DatasetDir, release: DatasetDir, runner, progress: bool = True) -> str:
    """The index family: for every index of vN (``index/<model-id>/index.json``), the Index
    step builds vN+1's from vN+1's embeddings (which hold no removed key) with the same
    model and ``exact_max`` (so the same kind at the same size). vN's index is never copied.
    Returns what was done, for takedown.json and the console."""
    if not io.exists(parent.index_dir):
        return "none: the parent release has no index"
    built = []
    for path in sorted(io.glob(parent.index_docs_glob())):
        settings = json.loads(io.read_text(path))
        step = Index(settings["model_id"], settings.get("exact_max"))
        totals = run_step(step, release.root, runner, progress=progress)
        if totals.failed_shards:
            raise FatalError(f"{release.root}: rebuilding the {step.embeddings} index failed "
                             "(the console says why); run the takedown again to finish")
        doc = json.loads(io.read_text(release.index(step.embeddings).doc))
        built.append(f"{doc['model_id']} ({doc['kind']}, {doc['count']} images)")
    if not built:
        return "none: the parent release's index/ holds no index (no index.json)"
    return "rebuilt: " + ", ".join(built)


def removed_rows(release: DatasetDir, parent: DatasetDir) -> list[dict]:
    """The samples the takedown removed: the parent's ledger rows (URLs and hashes as they
    were), each with ``illegal`` (removed as illegal content: the release's row withholds its URLs)."""
    gone = {}
    for path in sorted(io.glob(release.shard_parquets_glob())):
        with io.open_file(path) as f:
            t = pq.read_table(f, columns=["key", "reason", "error_message"])
        t = t.filter(pc.equal(t.column("reason"), Reason.TAKEDOWN.value))
        gone.update({r["key"]: "illegal content" in (r["error_message"] or "") for r in t.to_pylist()})
    rows = []
    for path in sorted(io.glob(parent.shard_parquets_glob())):
        with io.open_file(path) as f:
            t = pq.read_table(f, columns=["key", "url", "final_url", "sha256", "md5", "pdq", "pdq_quality"])
        rows += [{**r, "illegal": gone[r["key"]]} for r in t.to_pylist() if r["key"] in gone]
    return rows


def purge(parent: str) -> None:
    """Delete release vN atomically: one rename takes it out of the dataset, then its files
    are removed (a crash in between leaves releases/.vN.purged-* behind, never a partial vN)."""
    if not io.is_local(parent):
        remove_tree(parent)  # object stores have no atomic rename of a folder
        return
    local = io.fs_and_path(parent)[1]
    head, name = os.path.split(local.rstrip("/"))
    trash = os.path.join(head, f".{name}.purged-{uuid.uuid4().hex[:8]}")
    os.replace(local, trash)
    remove_tree(trash)


def make_takedown(dataset: str, from_release: str, release: str, ask: TakedownAsk, runner, *,
                  purge_parent: bool = False, progress: bool = True) -> TakedownResult:
    if not len(ask):
        raise InputError("takedown", "nothing to remove",
                         "pass --requests (takedowns/requests.jsonl) or lists: --urls --domains --keys --sha256 --md5 --pdq --hash-list")
    parent, target = new_release(dataset, release, from_release)
    layout = DatasetDir(target)
    if io.exists(target) and not io.exists(layout.run_plan(Takedown.name)):
        raise InputError(target, "exists and was not made by a takedown", "pick a new release name")
    step = Takedown(parent, with_copies(ask, DatasetDir(parent)), asked=Takedown(parent, ask).digest())
    totals = run_step(step, target, runner, progress=progress)
    if totals.failed_shards:
        return TakedownResult(target, totals, None)
    problems = accounting_problems(target)
    if problems:
        raise FatalError(f"{target}: the takedown release breaks the accounting invariant: {problems[0]}")
    rows = removed_rows(layout, DatasetDir(parent))
    io.write_text_atomic(layout.takedown_removed, "".join(f"{k}\n" for k in sorted(r["key"] for r in rows)))
    lists = append_to_lists(
        dataset, note=f"takedown {from_release} -> {release}",
        urls=list(dict.fromkeys([*(u for u in ask.values("urls") if not ask.withheld("urls", u)),
                                 *(r["url"] for r in rows if r["url"] and not r["illegal"])])),
        url_hashes=list(dict.fromkeys(url_hash(u) for u in [
            *(u for u in ask.values("urls") if ask.withheld("urls", u)),
            *(u for r in rows if r["illegal"] for u in (r["url"], r["final_url"]) if u)])),
        domains=ask.values("domains"),
        sha256=list(dict.fromkeys([*ask.values("sha256"), *(r["sha256"] for r in rows if r["sha256"])])),
        md5=list(dict.fromkeys([*ask.values("md5"), *(r["md5"] for r in rows if r["md5"])])),
        pdq=list(dict.fromkeys([*((h, None) for h in ask.values("pdq")),
                                *((r["pdq"], r["pdq_quality"]) for r in rows if r["pdq"])])))
    index = rebuild_index(DatasetDir(parent), layout, runner, progress)
    append_removed(dataset, release, {r["key"]: r["illegal"] for r in rows})
    purged = purge_everywhere(dataset, release, runner, progress)
    top = DatasetDir(dataset).root
    record = TakedownRecord(
        parent=from_release,
        release=release,
        at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        asked=ask.to_dict(),
        requests=tuple({"id": r.id, "time": r.time, "release": r.release, "reason": r.reason.value,
                        "matched": totals.counters.get(f"request:{r.id}", 0)} for r in ask.requests),
        matched_by={k: totals.counters.get(f"matched_by:{k}", 0) for k in KINDS},
        counts=TakedownCounts(totals.candidates, totals.kept, totals.reasons.get(Reason.TAKEDOWN.value, 0),
                              totals.counters.get("illegal_content", 0)),
        removed_keys=os.path.basename(layout.takedown_removed),
        index=index,
        lists_appended={"registry": "takedowns/registry.txt", "registry_lines": lists["registry"],
                        "blocklist": "takedowns/blocklist.txt", "blocklist_lines": lists["blocklist"]},
        parent_purged=purge_parent,
        purged=tuple({"dir": "dataset" if p.root == top else p.root[len(top) + 1:], "removed": p.removed}
                     for p in purged if p.removed),
    )
    record.write(layout)
    record_release(target, parent, totals, takedown=os.path.basename(layout.takedown_record),
                   removed=record.counts.removed)
    if purge_parent:
        purge(parent)
    return TakedownResult(target, totals, record,
                          tuple(p.root.rsplit("/", 1)[-1] for p in purged if p.card_stale and p.root != parent))
