"""A release's cards, written to releases/vN/card/: README.md (a Hugging Face dataset
card), DATASHEET.md (Datasheets for Datasets), EU_PUBLIC_SUMMARY.md (the AI Office's
template) and plots/*.png. Every number comes from one query module (card/query.py).

    query.py       CardQuery: DuckDB over the ledger parquet + manifests + takedown records
    plots.py       the figures (matplotlib)
    text.py        markdown pieces and facts shared by the documents
    hf_card.py  datasheet.py  eu_summary.py   one document each
"""

from __future__ import annotations

import os

from grassroots import io
from grassroots.errors import InputError
from grassroots.releases import Release

DOCUMENTS = ("README.md", "DATASHEET.md", "EU_PUBLIC_SUMMARY.md")


def write_card(dataset: str, release: str) -> list[str]:
    """Write releases/<release>/card/ (replacing an earlier card); the paths written."""
    from grassroots.card import datasheet, eu_summary, hf_card
    from grassroots.card.plots import draw_all
    from grassroots.card.query import CardQuery

    layout = Release.named(dataset, release).require().layout
    if not io.is_local(layout.root):
        raise InputError(layout.root, "cards are written to a local release directory",
                         "copy the release to a local disk, or run on a machine that mounts it")
    q = CardQuery(dataset, release)
    try:
        folder = io.fs_and_path(layout.card_dir)[1]
        plots = draw_all(q, os.path.join(folder, "plots"))
        written = [os.path.join(folder, "plots", f) for f, _ in plots.values()]
        for name, module in zip(DOCUMENTS, (hf_card, datasheet, eu_summary)):
            path = f"{layout.card_dir}/{name}"
            io.write_text_atomic(path, module.render(q, plots))
            written.append(path)
    finally:
        q.con.close()  # DuckDB's threads end here, not in the interpreter's exit
    return written
