"""The safety step's table where it matters: select warns when it applies no safety
threshold and records the ones it applies, the index hides what the detector flags
when ``safe`` is on (besides any head), and the cards count flagged and excluded."""

from __future__ import annotations

import json
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from grassroots.cli import app
from grassroots.index import load_index
from grassroots.layout import DatasetDir
from grassroots.ledger import finished_shards, kept_rows
from grassroots.models.safety import COLUMNS
from grassroots.releases import make_release, safety_thresholds
from grassroots.runner import LocalRunner, run_step
from grassroots.stages import Index
from grassroots.stages.safety import safety_schema
from tests.index.release import make_scored_release

FLAGGED = {"000000000", "000010001", "000020003"}  # the detector 'flags' these (nsfw 0.9)


@pytest.fixture(scope="module")
def rel(tmp_path_factory):
    """The scored release's dataset with a safety table written as the step writes it
    (synthetic images score 0 with NudeNet: the scores are planted here)."""
    r = make_scored_release(tmp_path_factory.mktemp("safety"), index=False)
    layout = DatasetDir(r.dataset)
    os.makedirs(layout.attributes_dir("safety"))
    for s in finished_shards(r.dataset):
        keys = kept_rows(layout, s, ["key"]).column("key").to_pylist()
        cols = {"key": keys, "nsfw": [0.9 if k in FLAGGED else 0.01 for k in keys]}
        cols.update({c: [0.0] * len(keys) for c in COLUMNS})
        cols["caption_offensive"] = [0.7 if k == "000000002" else 0.0 for k in keys]
        pq.write_table(pa.table(cols, schema=safety_schema()), layout.attribute("safety", s))
    with open(layout.attribute_info("safety"), "w") as f:
        json.dump({"detectors": {"nudenet": "3.4.2", "alt-profanity-check": "1.9.1"}}, f)
    return r


def test_select_warns_without_a_safety_threshold_and_records_the_ones_used(rel):
    assert safety_thresholds(rel.dataset, "clip >= -2") == [] and safety_thresholds(rel.dataset, "") == []
    assert safety_thresholds(rel.dataset, "clip >= -2 AND nsfw < 0.5 AND caption_offensive < 0.5") == \
        ["nsfw < 0.5", "caption_offensive < 0.5"]
    res = CliRunner().invoke(app, ["select", rel.dataset, "--release", "v2", "--where", "clip >= -2",
                                   "--processes", "1"])
    assert res.exit_code == 0, res.output
    assert "no safety threshold is applied" in res.output
    res = CliRunner().invoke(app, ["select", rel.dataset, "--release", "v3", "--where", "clip >= -2 AND nsfw < 0.5",
                                   "--processes", "1"])
    assert res.exit_code == 0 and "no safety threshold" not in res.output, res.output
    manifest = json.loads(open(DatasetDir(rel.dataset).release("v3").manifest).read())
    assert manifest["release"]["safety_thresholds"] == ["nsfw < 0.5"]
    assert manifest["release"]["selected"] == 24 - len(FLAGGED)


def test_serve_hides_what_the_detector_flags_when_safe(rel):
    release, _ = make_release(rel.dataset, "v4", "clip >= -2", LocalRunner(1), progress=False)
    run_step(Index(rel.model_id), release, LocalRunner(1), progress=False)
    ix = load_index(release)
    assert ix.doc["heads"] == ["nsfw", "safety_nsfw"]  # the trained head and the detector
    q = ix.embedding(0)
    everything = {ix.item(h.position)["key"] for h in ix.search(q, 24, safe=False, dedup=False)}
    safe = {ix.item(h.position)["key"] for h in ix.search(q, 24, safe=True, dedup=False)}
    assert FLAGGED <= everything and not FLAGGED & safe


def test_cards_count_flagged_and_excluded_by_detector(rel):
    from grassroots.card import write_card

    make_release(rel.dataset, "v5", "clip >= -2 AND nsfw < 0.5", LocalRunner(1), progress=False)
    write_card(rel.dataset, "v5")
    card = DatasetDir(rel.dataset).release("v5").card_dir
    eu = open(f"{card}/EU_PUBLIC_SUMMARY.md").read()
    assert "safety detector nudenet 3.4.2 (`nsfw`" in eu and "nsfw < 0.5: 3 samples flagged, 3 of them not in" in eu
    assert "alt-profanity-check 1.9.1" in eu and "caption_offensive >= 0.5 flagged, not thresholded: 1 samples flagged, 0 of" in eu
    assert "illegal-content hash lists at download (matched before anything is written) | none given: 0 images" in eu
    sheet = open(f"{card}/DATASHEET.md").read()
    assert "Flagged by the safety detectors" in sheet and "3 excluded from this release" in sheet


def test_train_head_from_the_detector_prints_its_agreement(rel, tmp_path):
    out = tmp_path / "detector.safetensors"
    res = CliRunner().invoke(app, ["train-head", rel.dataset, "--embeddings", rel.model_id, "--labels-from",
                                   "safety:nsfw>=0.8", "--name", "nsfw_detector", "-o", str(out)])
    assert res.exit_code == 0, res.output
    said = " ".join(res.output.split())  # the console wraps long lines
    assert out.exists() and "agreement with safety:nsfw>=0.8 at 0.5:" in said and "(3 positive)" in said
    res = CliRunner().invoke(app, ["train-head", rel.dataset, "--embeddings", rel.model_id, "--labels-from",
                                   "safety:nsfw>=0.95", "-o", str(out)])
    assert res.exit_code != 0 and "nothing to learn" in " ".join(res.output.split()) and "Traceback" not in res.output
    res = CliRunner().invoke(app, ["train-head", rel.dataset, "--embeddings", rel.model_id, "--labels-from",
                                   "safety:nsfw", "-o", str(out)])
    assert res.exit_code != 0 and "TABLE:COLUMN>=VALUE" in " ".join(res.output.split())


def test_only_float_columns_of_their_own_name_are_safety_heads(tmp_path):
    """A table of lists (the concepts step's ``concepts``) or of text named like its folder is
    not a head the page hides samples by; it used to end the index build (a list is no float)."""
    import os

    import pyarrow as pa
    import pyarrow.parquet as pq

    from grassroots.index.items import head_tables
    from grassroots.layout import DatasetDir

    layout = DatasetDir(str(tmp_path / "ds"))
    tables = {"concepts": pa.table({"key": ["a"], "concepts": [["red circle"]], "concept_count": [1]}),
              "mytags": pa.table({"key": ["a"], "mytags": ["x"]}),
              "gore": pa.table({"key": ["a"], "gore": pa.array([0.7], pa.float32())})}
    for name, table in tables.items():
        path = layout.attribute(name, 0)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        pq.write_table(table, path)
    assert head_tables(layout) == ["gore"]
