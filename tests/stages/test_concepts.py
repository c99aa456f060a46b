"""Concepts and curation without a teacher: MetaCLIP's matching (case, plurals, word
boundaries, overlapping entries, scripts without spaces), the concepts step (accounting,
Ray parity), and select's --balance and --sample (seeded, independent of shard order,
processes and runner; accounted; counts before and after recorded)."""

from __future__ import annotations

import json
import os
from collections import Counter

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from grassroots.cli import app
from grassroots.layout import DatasetDir
from grassroots.ledger import read_samples
from grassroots.releases import make_release
from grassroots.runner import LocalRunner, RayRunner, run_step
from grassroots.schema import SAMPLE_SCHEMA
from grassroots.stages.concepts import Concepts, Matcher, default_entries, write_entries
from grassroots.stages.select import Curation, draw
from grassroots.stats import ShardStats
from grassroots.writer import ShardWriter
from tests.conftest import assert_accounted
from tests.stages.test_score_select import jpeg, picture

ENTRIES = ["cat", "dog", "red car", "car", "bus", "city", "猫", "кошка"]
# Skewed: "cat" in most captions, "bus" in few; some match nothing.
CAPTIONS = (["a cat on a mat"] * 6 + ["two cats and a dog"] * 2 + ["a red car in the city"] + ["buses"]
            + ["concatenate nothing"] + ["一只猫"])


def test_matching_case_plurals_boundaries_overlaps_and_scripts():
    m = Matcher(ENTRIES)
    assert m.find("A CAT.") == ["cat"]
    assert m.find("Two Cats, one Dog") == ["cat", "dog"]
    assert m.find("concatenate the dogma") == []  # no entry inside a longer word
    assert m.find("black-cat") == ["cat"]
    assert m.find("the Red Car of the cities") == ["car", "city", "red car"]  # overlapping entries, each once
    assert m.find("two buses") == ["bus"]
    assert m.find("一只猫在睡觉") == ["猫"]  # no spaces between words: a plain substring
    assert m.find("Кошка спит") == ["кошка"]  # case-folded beyond ASCII
    assert m.find(None) == [] and m.find("") == []


def test_default_entries_come_from_the_word_lists_inside_wordfreq():
    entries = default_entries(("en",), 2000)
    assert 1000 < len(entries) <= 2000 and "house" in entries
    assert all(len(e) >= 3 and e.isalpha() for e in entries)


def build(ds: str, shards: int = 3) -> None:
    layout = DatasetDir(ds)
    os.makedirs(layout.runs_dir("download"), exist_ok=True)
    for s in range(shards):
        stats = ShardStats(stage="download", shard=s, candidates=len(CAPTIONS))
        with ShardWriter(ds, s, schema=SAMPLE_SCHEMA) as w:
            for r, caption in enumerate(CAPTIONS):
                key = f"{s:05d}{r:04d}"
                w.add_sample(key, {"jpg": jpeg(picture(s * 100 + r, red=False)), "txt": caption})
                w.add_row({"key": key, "url": f"https://x.example/{key}.jpg", "caption": caption, "status": "success",
                           "width": 64, "height": 64})
                stats.keep()
        with open(layout.run_marker("download", s), "w") as f:
            f.write(stats.to_json())


@pytest.fixture(scope="module")
def ds(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("concepts") / "ds")
    build(root)
    digest = write_entries(root, ENTRIES)
    totals = run_step(Concepts(digest), root, LocalRunner(processes=2), progress=False)
    assert totals.candidates == totals.kept == 3 * len(CAPTIONS)
    return root


def concepts_of(root: str) -> dict[str, list[str]]:
    folder = DatasetDir(root).attributes_dir("concepts")
    out = {}
    for name in sorted(n for n in os.listdir(folder) if n[0].isdigit()):
        out.update({r["key"]: r["concepts"] for r in pq.read_table(os.path.join(folder, name)).to_pylist()})
    return out


def test_the_step_writes_every_kept_caption_s_entries_and_ray_agrees(ds, tmp_path):
    found = concepts_of(ds)
    assert len(found) == 3 * len(CAPTIONS)
    assert found["000000006"] == ["cat", "dog"] and found["000000010"] == [] and found["000020011"] == ["猫"]
    assert_accounted(ds)
    other = str(tmp_path / "ray")
    build(other)
    run_step(Concepts(write_entries(other, ENTRIES)), other, RayRunner(processes=2), progress=False)
    assert concepts_of(other) == found


def balanced(ds: str, name: str, curation: Curation, runner=None, where: str = "") -> dict[str, dict]:
    target, totals = make_release(ds, name, where, runner or LocalRunner(processes=1), curation=curation,
                                  progress=False, overwrite=True)
    assert_accounted(target)
    return {r["key"]: r for r in read_samples(target)}


def test_balance_caps_the_head_entry_is_seeded_and_independent_of_processes_and_runner(ds):
    rows = balanced(ds, "v1", Curation(balance=3, seed=7))
    kept = {k for k, r in rows.items() if r["status"] == "success"}
    reasons = Counter(r["reason"] for r in rows.values() if r["status"] != "success")
    assert reasons["filtered:no_concept"] == 3  # "concatenate nothing" in each shard
    assert reasons["filtered:balance"] > 0
    n = Counter(e for c in concepts_of(ds).values() for e in set(c))
    for key in kept:  # each kept sample won its draw for one of its entries
        assert any(draw(7, e, key) < 3 / n[e] for e in concepts_of(ds)[key])
    assert {"000000009", "000010009", "000020009"} <= kept  # "buses": its entry is rare (3 <= T): always kept
    again = balanced(ds, "v2", Curation(balance=3, seed=7), LocalRunner(processes=2))
    on_ray = balanced(ds, "v3", Curation(balance=3, seed=7), RayRunner(processes=2))
    assert {k: r["reason"] for k, r in again.items()} == {k: r["reason"] for k, r in rows.items()}
    assert {k for k, r in on_ray.items() if r["status"] == "success"} == kept
    other_seed = balanced(ds, "v4", Curation(balance=3, seed=8))
    assert {k for k, r in other_seed.items() if r["status"] == "success"} != kept
    doc = json.loads(open(DatasetDir(ds).release("v1").balance_counts).read())
    assert doc["before"]["cat"] == 24 and doc["after"]["cat"] < 24 and doc["T"] == 3 and doc["seed"] == 7
    manifest = json.load(open(DatasetDir(ds).release("v1").manifest))["release"]["balance"]
    assert manifest["top_entries"][0] == {"entry": "cat", "before": 24, "after": doc["after"]["cat"]}
    assert manifest["entries_sha256"] and manifest["entries_matched"] == len(doc["before"])


def test_keep_unmatched_and_a_seeded_sample_combined_with_where(ds):
    rows = balanced(ds, "v5", Curation(balance=100, keep_unmatched=True))
    assert all(r["status"] == "success" for r in rows.values())  # T above every count, unmatched kept
    rows = balanced(ds, "v6", Curation(sample=0.5, seed=1), where="concept_count >= 1")
    reasons = Counter(r["reason"] for r in rows.values())
    assert reasons["filtered:concept_count"] == 3 and 0 < reasons["filtered:sample"] < 33
    kept = {k for k, r in rows.items() if r["status"] == "success"}
    assert kept == {k for k in rows if rows[k]["reason"] is None and draw(1, "", k) < 0.5}


def test_the_cli_matches_balances_and_refuses_a_balance_without_concepts(tmp_path):
    root = str(tmp_path / "ds")
    build(root, shards=1)
    (tmp_path / "entries.txt").write_text("# concepts\ncat\nDog\n\n")
    res = CliRunner().invoke(app, ["concepts", root, "--entries", str(tmp_path / "entries.txt"), "--processes", "1"])
    assert res.exit_code == 0, res.output
    assert "8 of 12 captions match an entry" in res.output
    res = CliRunner().invoke(app, ["select", root, "--release", "v1", "--balance", "2", "--seed", "3",
                                   "--processes", "1"])
    assert res.exit_code == 0, res.output
    bare = str(tmp_path / "bare")
    build(bare, shards=1)
    res = CliRunner().invoke(app, ["select", bare, "--release", "v1", "--balance", "2"])
    assert res.exit_code == 2 and "has no concepts table" in res.output and "grassroots concepts" in res.output
    res = CliRunner().invoke(app, ["select", bare, "--release", "v1"])
    assert res.exit_code == 2 and "nothing to select by" in res.output


def test_the_card_plots_the_release_s_concepts_beside_the_dataset_s(ds):
    """The card's concept figure: for the top entries, samples of the dataset naming each and
    those of the release (here a balanced one: the head entry capped), recomputed here."""
    from grassroots.card import write_card
    from grassroots.card.query import CardQuery

    rows = balanced(ds, "v9", Curation(balance=3, seed=7))
    kept = {k for k, r in rows.items() if r["status"] == "success"}
    found = concepts_of(ds)
    before = Counter(e for c in found.values() for e in c)
    after = Counter(e for k, c in found.items() if k in kept for e in c)
    top = CardQuery(ds, "v9").concepts(15)
    assert top[0] == ("cat", before["cat"], after["cat"]) and after["cat"] < before["cat"]
    assert {e: (n, r) for e, n, r in top} == {e: (before[e], after[e]) for e in before}
    assert CardQuery(ds, "v9").balance()["T"] == 3
    write_card(ds, "v9")
    card = DatasetDir(ds).release("v9").card_dir
    assert os.path.getsize(os.path.join(card, "plots", "concepts.png")) > 5000
    readme = open(os.path.join(card, "README.md")).read()
    assert "plots/concepts.png" in readme and "T = 3" in readme
