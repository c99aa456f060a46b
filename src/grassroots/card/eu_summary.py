"""EU_PUBLIC_SUMMARY.md: the sections of the AI Office's "Template for the public summary of
training content for general-purpose AI models" (July 2025, AI Act Art. 53(1)(d)) that a
dataset provider can fill, auto-filled where the ledger knows the answer (CardQuery); what
only the model provider can say is marked "to be filled"."""

from __future__ import annotations

from grassroots.card.query import CardQuery
from grassroots.card.text import (crawl, figure, fill, honoured, num, politeness, public_name, refusal_table,
                                  table, top_domain_table)


def ai_tokens(c) -> str:
    """What the summary says of the AI-training tokens the crawl also honoured (from manifest.json)."""
    if c is None:
        return " (other tokens: see manifest.json)"
    tokens = c.ai_tokens_checked
    if not tokens:
        return " only (conservative mode off: other crawlers' rules were not applied)"
    return f" and, conservatively, for common AI-training tokens ({', '.join(tokens)})"


def _measures(q: CardQuery) -> str:
    rows = []
    c = crawl(q)
    blocklists = [public_name(p) for p in (c.rights.get("blocklist_paths") if c else None) or []]
    refused, illegal = q.hash_list_refusals()
    rows.append(["hash blocklists at download (md5, sha1, sha256, URL hash, PDQ)",
                 f"{', '.join(blocklists) or 'none given'}: {num(refused)} images refused"])
    illegal_lists = (c.rights.get("illegal_list_paths") if c else None) or []
    rows.append(["illegal-content hash lists at download (matched before anything is written)",
                 f"{', '.join(illegal_lists) or 'none given'}: {num(illegal)} images refused, recorded with hashes only"])
    thresholds = q.thresholds()
    for name, path in q.safety_heads():
        rule = f"{name} {thresholds[name][0]} {thresholds[name][1]:g}" if name in thresholds else "scored, not thresholded"
        rows.append([f"safety head `{name}` ({public_name(path)})", rule])
    for detector, column, rule, flagged, excluded in q.safety_flags():
        rows.append([f"safety detector {detector} (`{column}`, weights in its package)",
                     f"{rule}: {num(flagged)} samples flagged, {num(excluded)} of them not in this release"])
    lists = q.takedown_list_lines()
    rows.append(["takedown blocklist of this dataset (refused by later downloads)", f"{num(lists['blocklist'])} hashes"])
    return table(["measure", "setting"], rows)


def render(q: CardQuery, plots: dict[str, tuple[str, str]]) -> str:
    c = crawl(q)
    start, end = q.collection_period()
    received, handled = q.takedown_requests()
    removed = q.takedown_removed()
    where = q.select_where()
    return f"""# Public summary of training content (EU AI Act, Article 53(1)(d))

Following the AI Office's template of July 2025, for the training data of release **{q.release}**.
Sections a dataset provider can answer are filled from the dataset's ledger; fields marked
"to be filled" are for the model provider. This summary covers one data source of a model:
{fill("other training data of the model, if any")}

## 1. General information

### 1.1 Provider identification
- Provider name and contact details: {fill("provider name and contact")}
- Authorised representative (if established outside the EU): {fill("name and contact, or 'not applicable'")}

### 1.2 Model identification
- Versioned model name(s): {fill("model name and version")}
- Model dependencies (models this one was fine-tuned from): {fill("base model's summary, or 'none'")}
- Date of placement of the model on the Union market: {fill("date")}

### 1.3 Modalities, overall training data size and other characteristics
- Modality: image and text (image-caption pairs).
- Training data size (this release): **{q.eu_size_bin()}** ({num(q.kept)} images with captions).
- Types of content: photographs, illustrations and other images published on web pages, with their alt text.
- Latest date of data collection: {end or "unknown"}.
- Languages of the captions' pages: {", ".join(f"{lang} ({num(n)})" for lang, n, _ in q.languages())}.

## 2. List of data sources

### 2.1 Publicly available datasets
{fill("publicly available datasets used to train the model, or 'none'")}

### 2.2 Private non-publicly available datasets obtained from third parties
{fill("licensed or other private datasets, or 'none'")}

### 2.3 Data crawled and scraped from online sources
- Crawler: `{c.user_agent if c else "GrassrootsBot"}` (product token `GrassrootsBot`, contact URL in the user agent).
- Purpose of the crawler: collecting image-text pairs to train and evaluate image-text models.
- Behaviour: it identifies itself; honours robots.txt (RFC 9309) and ai.txt for its own token{ai_tokens(c)};
  honours every opt-out below before fetching or before storing; does not log in, solve captchas or pass
  paywalls; caps requests per host ({politeness(c)}).
- Period of data collection: {start or "unknown"} to {end or "unknown"} (first and last fetch in the ledger).
- Sources crawled: {", ".join(f"`{i}`" for i in c.inputs) if c and c.inputs else "see manifest.json"} ({fill("describe the crawl, e.g. Common Crawl snapshot names")}).
- Most relevant domain names:

{top_domain_table(q)}
{figure(plots, "domains")}
### 2.4 User data
Not collected by this dataset. {fill("user data used to train the model, or 'none'")}

### 2.5 Synthetic data
None in this dataset. {fill("synthetic data used to train the model, or 'none'")}

### 2.6 Other sources of data
{fill("other sources, or 'none'")}

## 3. Data processing aspects

### 3.1 Respect of reservation of rights from the text and data mining exception
Every machine-readable reservation of rights (DSM Directive Art. 4(3)) known to the crawler was
honoured; "no signal" was never taken as permission. Protocols honoured:

{honoured()}

Samples refused, by the protocol that refused them (a sample refused by several counts once; `takedown`
counts samples removed on request after collection):

{refusal_table(q)}
{figure(plots, "refusals")}
Takedown requests received: {num(received)}; handled: {num(handled)}; samples removed by takedowns in
this release's line: {num(removed)}. Removed URLs and hashes are refused by later downloads.
{fill("the provider's copyright policy and how rightsholders can reach it")}

### 3.2 Removal of illegal content
Measures before training:

{_measures(q)}

Samples removed on request as illegal content in this release's line: {num(q.takedown_illegal())} (removed
from the dataset and every release, with their image bytes, captions and embeddings; the audit trail
keeps their hashes only, and later downloads refuse them by hash of their URL and of their bytes).

Selection expression applied to this release: `{where or "none"}`.
{fill("other measures against illegal content (e.g. CSAM hash lists used, and their source)")}

### 3.3 Other information (optional)
{fill("anything else the provider wants to state")}
"""
