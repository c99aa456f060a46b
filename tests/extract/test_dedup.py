"""Dedup across input files: first occurrence in shard order wins, accounting holds
from extract through dedup, and a killed dedup resumes without losing counts."""

from __future__ import annotations

import pyarrow.parquet as pq

from grassroots.layout import DatasetDir
from grassroots.ledger import stage_totals
from grassroots.pipeline import extract
from grassroots.runner import LocalRunner
from grassroots.stages.dedup import dedup_candidates
from grassroots.stages.extract import Extract
from tests.conftest import assert_accounted
from tests.extract.warcs import html_page, write_warc


def page(n: int, imgs: list[str]) -> tuple:
    return html_page(f"http://site{n}.example/p.html",
                     "".join(f"<img src='http://cdn.example/{i}.jpg' alt='picture number {i}'>" for i in imgs))


def make_warcs(tmp_path):
    write_warc(tmp_path / "a.warc.gz", [page(1, ["1", "2", "3"])])
    write_warc(tmp_path / "b.warc.gz", [page(2, ["2", "3", "4"]), page(3, ["4", "5"])])  # 4 twice in b
    write_warc(tmp_path / "c.warc.gz", [page(4, ["1", "5", "6"])])


def captions(ds, shard):
    return pq.read_table(DatasetDir(str(ds)).candidates(shard)).column("caption").to_pylist()


def test_pairs_seen_in_an_earlier_file_are_dropped_and_counted(tmp_path):
    make_warcs(tmp_path)
    ds = tmp_path / "ds"
    ex, dd = extract([str(tmp_path / "*.warc.gz")], str(ds), Extract(), LocalRunner(processes=2), progress=False)
    assert ex.candidates == 11 and ex.kept == 10 and ex.reasons["duplicate"] == 1  # 4 twice within b
    assert dd.candidates == ex.kept and dd.kept == 6 and dd.reasons == {"duplicate": 4}
    assert captions(ds, 0) == [f"picture number {i}" for i in (1, 2, 3)]
    assert captions(ds, 1) == ["picture number 4", "picture number 5"]
    assert captions(ds, 2) == ["picture number 6"]
    totals = stage_totals(str(ds))
    assert list(totals) == ["extract", "dedup"]
    assert_accounted(ds)
    again, dd2 = extract([str(tmp_path / "*.warc.gz")], str(ds), Extract(), LocalRunner(), progress=False)
    assert again.skipped_shards == 3 and dd2.skipped_shards == 3 and dd2.kept == 6


def test_a_killed_dedup_resumes_with_the_same_counts(tmp_path):
    import os
    import shutil

    make_warcs(tmp_path)
    ds = tmp_path / "ds"
    extract([str(tmp_path / "*.warc.gz")], str(ds), Extract(), LocalRunner(), dedup=False, progress=False)
    layout = DatasetDir(str(ds))
    shutil.copy(layout.candidates(2), tmp_path / "c-before.parquet")
    first = dedup_candidates(str(ds))
    marker = layout.run_marker("dedup", 2)
    pending = marker.removesuffix(".json") + ".pending.json"
    for file_replaced in (True, False):
        # Killed after recording shard 2's stats, after or before replacing its file.
        os.replace(marker, pending)
        if not file_replaced:
            shutil.copy(tmp_path / "c-before.parquet", layout.candidates(2))
        resumed = dedup_candidates(str(ds))
        assert (resumed.kept, resumed.reasons) == (first.kept, first.reasons)
        assert captions(ds, 2) == ["picture number 6"] and not os.path.exists(pending)
        assert_accounted(ds)


def test_no_dedup_flag_keeps_cross_file_duplicates(tmp_path):
    make_warcs(tmp_path)
    ds = tmp_path / "ds"
    ex, dd = extract([str(tmp_path / "*.warc.gz")], str(ds), Extract(), LocalRunner(), dedup=False, progress=False)
    assert dd is None and sum(len(captions(ds, s)) for s in range(3)) == 10
