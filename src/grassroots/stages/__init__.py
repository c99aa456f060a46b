"""The stages, in pipeline order (see DESIGN.md "Data flow").

    extract   WARC/WAT files        -> candidates/NNNNN.parquet        (stages/extract.py)
    dedup     candidates            -> candidates, (url, caption) unique across files (stages/dedup.py)
    download  candidates            -> shards/NNNNN.tar + .parquet     (stages/download.py)
              (a URL list is first imported into candidates/ by grassroots.inputs)

Later milestones add embed, score/dedup, select, index, train, eval, card.
Each stage is a frozen dataclass run shard by shard through grassroots.runner.
"""

PIPELINE = ("extract", "dedup", "download")
