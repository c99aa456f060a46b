"""README.md: a Hugging Face dataset card (YAML metadata, then the sections of the Hub's
dataset card template), every number from CardQuery."""

from __future__ import annotations

import re

import yaml

from grassroots.card.query import CardQuery
from grassroots.card.text import (chain_table, crawl, figure, fill, honoured, num, pct, politeness, refusal_table,
                                  top_domain_table)


def metadata(q: CardQuery) -> dict:
    langs = [lang for lang, _, share in q.languages() if re.fullmatch(r"[a-z]{2,3}", lang)]
    return {
        "pretty_name": f"{q.dataset.rstrip('/').rsplit('/', 1)[-1]} {q.release}",
        "license": "other",
        "license_name": "per-sample",
        "license_details": "Each image keeps its creator's rights; the licence found on its page, if any, "
                           "is in the `license` column. The metadata and code are Apache-2.0.",
        "task_categories": ["zero-shot-image-classification", "image-to-text", "text-to-image"],
        "language": langs or ["multilingual"],
        "multilinguality": ["multilingual" if len(langs) > 1 else "monolingual"],
        "size_categories": [q.size_category()],
        "source_datasets": ["original"],
        "annotations_creators": ["found"],
        "language_creators": ["found"],
        "tags": ["image-text", "clip", "webdataset", "opt-out-respecting", "grassroots"],
    }


def render(q: CardQuery, plots: dict[str, tuple[str, str]]) -> str:
    c = crawl(q)
    start, end = q.collection_period()
    sizes = q.size_summary()
    received, handled = q.takedown_requests()
    meta = yaml.safe_dump(metadata(q), sort_keys=False, allow_unicode=True)
    return f"""---
{meta}---

# Dataset card for {metadata(q)["pretty_name"]}

Image-text pairs collected from the public web by [Grassroots](https://github.com/) with every
machine-readable creator opt-out honoured. All numbers below are computed from the release's
ledger (one parquet row per candidate); see `DATASHEET.md` and `EU_PUBLIC_SUMMARY.md` beside this file.

## Dataset details

- **Samples:** {num(q.kept)} image-caption pairs ({num(q.kept_bytes)} bytes of original images).
- **Collected:** {start or "unknown"} to {end or "unknown"} by {c.user_agent if c else "GrassrootsBot"}.
- **Curated by:** {fill("who curates and publishes this release, and how to contact them")}
- **Funded by:** {fill("funding, if any")}
- **Languages (of the source pages):** {", ".join(f"{lang} {pct(s)}" for lang, _, s in q.languages()[:8])}.

## Uses

Intended for training and evaluating contrastive image-text models (CLIP) for research, and for
studying web image-text data. Not for identifying people, and not for any use a sample's licence
or its creator's opt-out forbids. {fill("further intended or out-of-scope uses")}

## Dataset structure

`shards/NNNNN.tar` are webdataset shards (`KEY.jpg`, `KEY.txt`, `KEY.json`); `shards/NNNNN.parquet`
is the ledger (one row per candidate of this release with `status` and `reason`);
`attributes/<name>/` hold scores by key; `embeddings/<model>/` hold CLIP embeddings.
Median original size {num(sizes["original_width"])} x {num(sizes["original_height"])} px, stored at
{num(sizes["width"])} x {num(sizes["height"])} px; median caption length {num(sizes["caption_chars"])} characters.
{figure(plots, "image_sizes")}{figure(plots, "caption_lengths")}
## Dataset creation

### Source data

Candidates came from {", ".join(f"`{i}`" for i in c.inputs) if c and c.inputs else "the inputs in manifest.json"}
and were downloaded with politeness limits ({politeness(c)}).

{top_domain_table(q)}
{figure(plots, "domains")}{figure(plots, "languages")}{figure(plots, "concepts")}
### Processing: every candidate accounted for

{chain_table(q)}
{figure(plots, "outcomes")}{figure(plots, "clip_scores")}
### Opt-outs honoured

{honoured()}

{refusal_table(q)}
{figure(plots, "refusals")}
## Personal and sensitive information

Web images may show people and captions may name them. {fill("what was done about personal data beyond the takedown procedure")}

## Bias, risks and limitations

The sample reflects which sites allow crawling and which pages have alt text; shares by domain and
language are above. {fill("known biases and risks")}

## Takedowns

Anyone can ask for a sample's removal (`takedowns/requests.jsonl`, the search page's opt-out form);
`grassroots takedown` writes a new release without it in every artifact. Requests received:
{num(received)}, handled: {num(handled)}.

## Citation

{fill("how to cite this release")}
"""
