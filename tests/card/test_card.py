"""grassroots card: the three documents and the plots exist, the HF card parses with
huggingface_hub, the EU summary has the template's sections with the person-only fields
marked, and the numbers in the documents match the ledger, recomputed here with pyarrow
and plain Python (no DuckDB, no grassroots query code)."""

from __future__ import annotations

import math
import re
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from PIL import Image
from typer.testing import CliRunner

from grassroots.cli import app
from grassroots.layout import DatasetDir
from grassroots.runner import LocalRunner
from grassroots.releases import make_takedown
from grassroots.takedown.requests import build_ask
from tests.takedown.dataset import build
from tests.takedown.test_takedown import write_requests


def ledger(root: str) -> list[dict]:
    return [r for p in sorted(Path(root, "shards").glob("*.parquet")) for r in pq.read_table(p).to_pylist()]


@pytest.fixture(scope="module")
def carded(tmp_path_factory):
    root = tmp_path_factory.mktemp("card")
    ds = str(root / "ds")
    build(ds)
    write_requests(ds)
    make_takedown(ds, "v1", "v2", build_ask(DatasetDir(ds).takedown_requests, {}), LocalRunner(processes=1),
                  progress=False)
    res = CliRunner().invoke(app, ["card", ds, "--release", "v2"])
    assert res.exit_code == 0, res.output
    card = Path(DatasetDir(ds).release("v2").card_dir)
    return ds, card, {name: (card / name).read_text() for name in ("README.md", "DATASHEET.md", "EU_PUBLIC_SUMMARY.md")}


def md_table(text: str, header: str) -> list[list[str]]:
    """The rows of the markdown table whose header row starts with ``header``."""
    lines = text.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith(f"| {header}"))
    rows = []
    for ln in lines[start + 2:]:
        if not ln.startswith("|"):
            break
        rows.append([c.strip() for c in ln.strip("|").split("|")])
    return rows


def test_documents_and_plots_are_written_and_every_figure_link_resolves(carded):
    ds, card, docs = carded
    plots = sorted(p.name for p in (card / "plots").glob("*.png"))
    assert plots == sorted(["outcomes.png", "refusals.png", "domains.png", "image_sizes.png", "caption_lengths.png",
                            "languages.png", "clip_scores.png"])
    for p in plots:
        with Image.open(card / "plots" / p) as img:
            assert img.width >= 400 and img.height >= 150
    for name, text in docs.items():
        links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
        assert links, name
        assert all((card / link).is_file() for link in links), name


def test_the_readme_is_a_dataset_card_huggingface_hub_parses(carded):
    from huggingface_hub import DatasetCard

    ds, card, docs = carded
    parsed = DatasetCard.load(card / "README.md")
    data = parsed.data.to_dict()
    assert data["license"] == "other" and data["size_categories"] == ["n<1K"]
    assert "zero-shot-image-classification" in data["task_categories"] and data["source_datasets"] == ["original"]
    assert set(data["language"]) == {"en", "de", "fr"}
    assert parsed.text.lstrip().startswith("# Dataset card for ds v2")
    for section in ("## Uses", "## Dataset structure", "## Dataset creation", "## Takedowns",
                    "## Personal and sensitive information", "## Bias, risks and limitations"):
        assert section in parsed.text


def test_the_eu_summary_has_the_template_sections_and_marks_what_a_person_must_fill(carded):
    _, _, docs = carded
    eu = docs["EU_PUBLIC_SUMMARY.md"]
    for heading in ("## 1. General information", "### 1.1 Provider identification", "### 1.2 Model identification",
                    "### 1.3 Modalities", "## 2. List of data sources", "### 2.1 Publicly available datasets",
                    "### 2.2 Private", "### 2.3 Data crawled and scraped", "### 2.4 User data",
                    "### 2.5 Synthetic data", "### 2.6 Other", "## 3. Data processing aspects",
                    "### 3.1 Respect of reservation of rights", "### 3.2 Removal of illegal content"):
        assert heading in eu, heading
    provider = eu.split("### 1.1")[1].split("### 1.2")[0]
    assert provider.count("TO BE FILLED BY THE PROVIDER") == 2
    assert "Less than 1 million images" in eu
    for doc in ("DATASHEET.md", "README.md"):
        assert "TO BE FILLED BY THE PROVIDER" in docs[doc]


def test_the_numbers_match_the_ledger_recomputed_independently(carded):
    ds, _, docs = carded
    base = ledger(ds)
    v2 = ledger(DatasetDir(ds).release("v2").root)
    kept = [r for r in v2 if r["status"] == "success"]
    eu, sheet = docs["EU_PUBLIC_SUMMARY.md"], docs["DATASHEET.md"]
    # size
    assert f"({len(kept)} images with captions)" in eu
    assert f"**Instances:** {len(kept)} image-caption pairs" in sheet
    assert f"{sum(r['bytes'] for r in kept):,}" in sheet
    # refusals by protocol (download) and takedowns (the release line)
    refused = Counter(r["reason"] for r in base if r["status"] == "refused")
    refused["takedown"] = sum(r["reason"] == "takedown" for r in v2)
    assert {row[0]: int(row[1]) for row in md_table(eu, "protocol")} == dict(refused)
    # top 10% of domains, N rounded up, ties at the cut-off included
    counts = Counter(r["domain"] for r in kept).most_common()
    n = math.ceil(len(counts) / 10)
    top = {d: c for d, c in counts if c >= counts[n - 1][1]}
    rows = md_table(eu, "domain")
    assert {row[0]: int(row[1]) for row in rows} == top
    assert all(row[2] == f"{top[row[0]] / len(kept):.1%}" for row in rows)
    # collection period: first and last fetch of any downloaded candidate
    times = [r["fetched_at"] for r in base if r["fetched_at"]]
    assert f"Period of data collection: {min(times).date()} to {max(times).date()}" in eu
    assert f"Latest date of data collection: {max(times).date()}" in eu
    # languages
    langs = Counter(r["page_lang"] for r in kept)
    shown = dict(re.findall(r"(\w+) \((\d+)\)", eu.split("Languages of the captions' pages:")[1].splitlines()[0]))
    assert {k: int(v) for k, v in shown.items()} == dict(langs)
    # takedown requests and the release line
    assert "Takedown requests received: 3; handled: 3" in eu
    chain = {row[0]: row for row in md_table(sheet, "step | how")}
    v1 = ledger(DatasetDir(ds).release("v1").root)
    # A release's candidates are its parent's kept samples when it was made: the takedown since
    # purged them from the parent too (refused/takedown rows there now).
    def kept_then(rows): return sum(r["status"] == "success" or r["reason"] == "takedown" for r in rows)
    assert int(chain["v1"][2]) == kept_then(base)
    assert int(chain["v1"][3]) == sum(r["status"] == "success" for r in v1)
    assert int(chain["v2"][2]) == kept_then(v1) and int(chain["v2"][3]) == len(kept)
    assert f"takedown: {sum(r['reason'] == 'takedown' for r in v2)}" in chain["v2"][4]


def test_card_of_a_missing_release_is_one_line(tmp_path):
    res = CliRunner().invoke(app, ["card", str(tmp_path), "--release", "v1"])
    assert res.exit_code == 2 and "no such release" in res.output and "Traceback" not in res.output


