"""DATASHEET.md: the sections of Datasheets for Datasets (Gebru et al.), filled from the
ledger and manifests through CardQuery."""

from __future__ import annotations

import json

from grassroots.card.query import CardQuery
from grassroots.card.text import (chain_table, crawl, figure, fill, honoured, num, pct, refusal_table, table,
                                  top_domain_table)


def _steps(q: CardQuery) -> str:
    rows = []
    for stage, t in q.stage_totals().items():
        drops = ", ".join(f"{r}: {num(n)}" for r, n in sorted(t.reasons.items(), key=lambda kv: -kv[1])) or "none"
        rows.append([stage, t.candidates, t.kept, drops])
    return table(["step (dataset)", "in", "kept", "dropped by reason"], rows) if rows else "No step has run."


def _takedowns(q: CardQuery) -> str:
    rows = [[name, rec.parent, rec.at, len(rec.requests), rec.counts.removed] for name, rec in q.takedowns()]
    if not rows:
        return "No takedown has been applied to this release's line."
    return table(["release", "from", "at", "requests", "samples removed"], rows)


def safety_line(q: CardQuery) -> str:
    """The safety step's flags, by detector and rule (empty when it did not run)."""
    flags = q.safety_flags()
    if not flags:
        return ""
    parts = [f"{d} `{rule}`: {num(n)} flagged, {num(x)} excluded from this release" for d, _, rule, n, x in flags]
    return "\n- **Flagged by the safety detectors** (samples of the dataset): " + "; ".join(parts) + "."


def render(q: CardQuery, plots: dict[str, tuple[str, str]]) -> str:
    c = crawl(q)
    start, end = q.collection_period()
    received, handled = q.takedown_requests()
    lists = q.takedown_list_lines()
    licences = q.licences()
    langs = q.languages()
    config = json.dumps(c.politeness, sort_keys=True) if c else "{}"
    return f"""# Datasheet: {q.dataset.rstrip('/').rsplit('/', 1)[-1]} release {q.release}

Sections after Gebru et al., *Datasheets for Datasets* (2021). Numbers come from the ledger;
fields marked "to be filled" need a person.
{figure(plots, "outcomes", "plots/")}
## Motivation

- **For what purpose was the dataset created?** An open image-text dataset for training and
  evaluating CLIP-style models, built so that anyone can rebuild it, honouring creators' opt-outs. {fill("the specific purpose of this release")}
- **Who created it, on whose behalf, who funded it?** {fill("creators, institution, funding")}

## Composition

- **Instances:** {num(q.kept)} image-caption pairs (images with the alt text of the page they were on).
- **Sampled from:** {num(q.candidates())} downloaded candidates; the table under "Preprocessing" says what removed the rest.
- **Bytes of original images:** {num(q.kept_bytes)}.
- **Languages of the source pages:** {", ".join(f"{lang} {pct(s)} ({num(n)})" for lang, n, s in langs)}.
- **Licences found on the pages:** {", ".join(f"{lic} ({num(n)})" for lic, n in licences)}.
- **Labels:** none; captions are the alt text found, not written for the dataset.
- **Confidential or offensive data:** web images can contain both; see the safety measures below. {fill("known issues")}{safety_line(q)}
{figure(plots, "domains")}
{top_domain_table(q)}
{figure(plots, "languages")}{figure(plots, "image_sizes")}{figure(plots, "caption_lengths")}{figure(plots, "concepts")}
## Collection process

- **How collected:** image URLs and alt text extracted from crawled pages, then each image downloaded
  by `{c.user_agent if c else "GrassrootsBot"}`.
- **Inputs:** {", ".join(f"`{i}`" for i in c.inputs) if c and c.inputs else "see manifest.json"}.
- **Time frame (first to last fetch):** {start or "unknown"} to {end or "unknown"}.
- **Politeness settings:** `{config}`.
- **Consent and opt-outs:** no individual consent was sought; every machine-readable reservation was honoured:

{honoured()}

{refusal_table(q)}
{figure(plots, "refusals")}
## Preprocessing, cleaning, filtering

Every step of the dataset, with counts dropped by reason (from each shard's stats):

{_steps(q)}

And the releases down to this one (from their ledgers):

{chain_table(q)}
{figure(plots, "clip_scores")}
The raw data (every candidate with its outcome) is the dataset's ledger, `shards/*.parquet`.

## Uses

- **Intended:** training and evaluating image-text models; research on web data.
- **Not intended:** identifying or profiling people; any use a sample's licence or its creator forbids. {fill("other uses to avoid")}

## Distribution

- **How:** webdataset tar shards with parquet ledgers, attribute tables and embeddings. {fill("where it is published")}
- **Licence:** the images keep their creators' rights (licences found are listed above); {fill("licence of the metadata")}

## Maintenance

- **Who maintains it:** {fill("maintainer and contact")}
- **Takedowns:** anyone can ask for removal (the search page's opt-out form writes
  `takedowns/requests.jsonl`); `grassroots takedown` writes a new release without the samples in any
  artifact and adds their URLs and hashes to the dataset's registry ({num(lists["registry"])} entries) and
  blocklist ({num(lists["blocklist"])} entries), which later downloads refuse. Requests received:
  {num(received)}; handled: {num(handled)}.

{_takedowns(q)}
"""
