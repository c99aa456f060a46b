"""The steps, in pipeline order (see DESIGN.md "Data flow" and "Steps").

    import    a URL list            -> candidates/NNNNN.parquet                 (stages/import_list.py)
    extract   WARC/WAT files        -> candidates/NNNNN.parquet                 (stages/extract.py)
    dedup     candidates            -> attributes/dedup/partition-NNNNN.parquet (stages/dedup.py)
    download  candidates (- dedup)  -> shards/NNNNN.tar + .parquet ledger       (stages/download/)
    hash      shards/NNNNN.tar      -> attributes/imghash/NNNNN.parquet         (stages/hash.py)
    safety    shards/NNNNN.tar      -> attributes/safety/NNNNN.parquet          (stages/safety.py)
    concepts  ledger captions       -> attributes/concepts/NNNNN.parquet        (stages/concepts.py)
    embed     shards/NNNNN.tar      -> embeddings/<model-id>/{img,txt,keys}/NNNNN (stages/embed.py)
    score     ledger + embeddings   -> attributes/{clip,caption,image,<head>}/NNNNN.parquet (stages/score.py)
    neardup-pairs, neardup  PDQ + embeddings -> attributes/neardup/NNNNN.parquet (stages/neardup/)
    select    attributes + shards   -> releases/vN/ (a dataset: shards, ledger, attributes, embeddings)
    index     a release's embeddings -> releases/vN/index/<model-id>/ (faiss + items.arrow)  (stages/index.py)
    takedown  releases/vN + requests -> releases/vN+1/ (every artifact without the removed samples)

Each is a frozen dataclass (its fields are its config) with name, resources,
ledger, plan(dataset), __call__(task) and outputs(layout), run by
grassroots.runner.run_step. Adding a step: a module here, a line below, a CLI command.
"""

import importlib

# Step class -> its module, in pipeline order. A step's module (and what it imports:
# aiohttp, torch, faiss ...) loads when the step is first named (PEP 562), so
# `grassroots extract` does not pay for the download or embed steps' imports.
_MODULES = {
    "Import": "import_list",
    "Extract": "extract",
    "Dedup": "dedup",
    "Download": "download",
    "Hash": "hash",
    "Safety": "safety",
    "Concepts": "concepts",
    "Embed": "embed",
    "Score": "score",
    "NearDupPairs": "neardup.pairs",
    "NearDup": "neardup.clusters",
    "Select": "select",
    "Index": "index",
    "Takedown": "takedown",
}
__all__ = [*_MODULES, "STEPS"]


def __getattr__(name: str):
    if name == "STEPS":
        return tuple(__getattr__(n) for n in _MODULES)
    if name in _MODULES:
        return getattr(importlib.import_module(f"grassroots.stages.{_MODULES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
