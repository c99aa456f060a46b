"""The steps, in pipeline order (see DESIGN.md "Data flow" and "Steps").

    import    a URL list            -> candidates/NNNNN.parquet                 (stages/import_list.py)
    extract   WARC/WAT files        -> candidates/NNNNN.parquet                 (stages/extract.py)
    dedup     candidates            -> attributes/dedup/partition-NNNNN.parquet (stages/dedup.py)
    download  candidates (- dedup)  -> shards/NNNNN.tar + .parquet ledger       (stages/download.py)
    hash      shards/NNNNN.tar      -> attributes/imghash/NNNNN.parquet         (stages/hash.py)
    embed     shards/NNNNN.tar      -> embeddings/<model-id>/{img,txt,keys}/NNNNN (stages/embed.py)
    score     ledger + embeddings   -> attributes/{clip,caption,image,<head>}/NNNNN.parquet (stages/score.py)
    neardup-pairs, neardup  PDQ + embeddings -> attributes/neardup/NNNNN.parquet (stages/neardup.py)
    select    attributes + shards   -> releases/vN/ (a dataset: shards, ledger, attributes, embeddings)
    index     a release's embeddings -> releases/vN/index/<model-id>/ (faiss + items.arrow)  (stages/index.py)
    takedown  releases/vN + requests -> releases/vN+1/ (every artifact without the removed samples)

Each is a frozen dataclass (its fields are its config) with name, resources,
ledger, plan(dataset), __call__(task) and outputs(layout), run by
grassroots.runner.run_step. Adding a step: a module here, a line below, a CLI command.
"""

from grassroots.stages.dedup import Dedup
from grassroots.stages.download import Download
from grassroots.stages.embed import Embed
from grassroots.stages.extract import Extract
from grassroots.stages.hash import Hash
from grassroots.stages.import_list import Import
from grassroots.stages.index import Index
from grassroots.stages.neardup import NearDup, NearDupPairs
from grassroots.stages.score import Score
from grassroots.stages.select import Select
from grassroots.stages.takedown import Takedown

STEPS = (Import, Extract, Dedup, Download, Hash, Embed, Score, NearDupPairs, NearDup, Select, Index, Takedown)
