"""Dedup across input files: first occurrence in shard order wins, accounting holds
from extract through dedup, extract's candidates are never rewritten, the result
does not depend on the number of partitions, and a killed dedup resumes."""

from __future__ import annotations

import os

import pyarrow.parquet as pq
import pytest

from grassroots.errors import InputError

from grassroots.layout import DatasetDir
from grassroots.accounting import stage_totals
from grassroots.runner import LocalRunner, RayRunner, run_step
from grassroots.stages.dedup import Dedup, read_candidates
from grassroots.stages.extract import Extract
from tests.steps import extract
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
    """What download will see of candidate shard ``shard``."""
    return read_candidates(str(ds), shard).column("caption").to_pylist()


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
    assert again.skipped_shards == 3 and dd2.skipped_shards == dd2.shards == 1 and dd2.kept == 6


def test_extract_output_is_never_rewritten_and_partitions_do_not_change_the_result(tmp_path):
    make_warcs(tmp_path)
    ds = tmp_path / "ds"
    extract([str(tmp_path / "*.warc.gz")], str(ds), Extract(), LocalRunner(), dedup=False, progress=False)
    layout = DatasetDir(str(ds))
    before = [pq.read_table(layout.candidates(s)) for s in range(3)]
    one = run_step(Dedup(partitions=1), str(ds), LocalRunner(), progress=False)
    expected = [captions(ds, s) for s in range(3)]
    assert [pq.read_table(layout.candidates(s)) for s in range(3)] == before  # extract's files untouched
    for parts, runner in ((5, LocalRunner(processes=2)), (3, RayRunner(processes=2))):
        other = tmp_path / f"ds{parts}"
        extract([str(tmp_path / "*.warc.gz")], str(other), Extract(), LocalRunner(), dedup=False, progress=False)
        many = run_step(Dedup(partitions=parts), str(other), runner, progress=False)
        assert many.shards == parts and (many.kept, many.reasons) == (one.kept, one.reasons)
        assert [captions(other, s) for s in range(3)] == expected
        assert_accounted(other)


def test_a_killed_dedup_resumes_with_the_same_counts(tmp_path):
    make_warcs(tmp_path)
    ds = tmp_path / "ds"
    extract([str(tmp_path / "*.warc.gz")], str(ds), Extract(), LocalRunner(), dedup=False, progress=False)
    layout = DatasetDir(str(ds))
    first = run_step(Dedup(partitions=4), str(ds), LocalRunner(), progress=False)
    expected = [captions(ds, s) for s in range(3)]
    # Killed after partition 2 wrote its file, before its marker.
    os.remove(layout.run_marker("dedup", 2))
    resumed = run_step(Dedup(), str(ds), LocalRunner(), progress=False)
    assert resumed.skipped_shards == 3 and resumed.shards == 4
    total = stage_totals(str(ds))["dedup"]
    assert (total.kept, total.reasons) == (first.kept, first.reasons)
    assert [captions(ds, s) for s in range(3)] == expected
    # Killed before partition 2's marker and file: download refuses a partial dedup.
    os.remove(layout.run_marker("dedup", 2))
    os.remove(layout.dedup_partition(2))
    with pytest.raises(InputError, match="dedup did not finish"):
        read_candidates(str(ds), 1)
    assert_accounted(ds)


def test_files_added_later_are_deduped_against_earlier_ones(tmp_path):
    make_warcs(tmp_path)
    ds = tmp_path / "ds"
    extract([str(tmp_path / "a.warc.gz"), str(tmp_path / "b.warc.gz")], str(ds), Extract(), LocalRunner(),
            progress=False)
    assert captions(ds, 1) == ["picture number 4", "picture number 5"]
    _, dd = extract([str(tmp_path / "*.warc.gz")], str(ds), Extract(), LocalRunner(), progress=False)
    assert dd.skipped_shards == 0 and dd.kept == 6  # the shard range grew: recomputed
    assert captions(ds, 0) == [f"picture number {i}" for i in (1, 2, 3)]
    assert captions(ds, 2) == ["picture number 6"]
    assert_accounted(ds)


def test_no_dedup_flag_keeps_cross_file_duplicates(tmp_path):
    make_warcs(tmp_path)
    ds = tmp_path / "ds"
    ex, dd = extract([str(tmp_path / "*.warc.gz")], str(ds), Extract(), LocalRunner(), dedup=False, progress=False)
    assert dd is None and sum(len(captions(ds, s)) for s in range(3)) == 10


def test_pair_digests_are_blake2b_of_url_nul_caption():
    import hashlib

    import numpy as np
    import pyarrow as pa

    from grassroots.stages.dedup import _pair_digests

    urls, caps = ["http://a/1.jpg", "http://a/2.jpg", "http://b/ü.jpg", "http://a/2.jpg"], ["one", None, "ünï\x00", ""]
    table = pa.table({"url": pa.chunked_array([urls[:2], urls[2:]]), "caption": pa.chunked_array([caps[:2], caps[2:]])})
    want = b"".join(hashlib.blake2b(f"{u}\0{c or ''}".encode(), digest_size=16).digest() for u, c in zip(urls, caps))
    got = _pair_digests(table)
    assert got.tobytes() == want and got[1] == got[3] and len(_pair_digests(table.slice(0, 0))) == 0
    assert isinstance(got, np.ndarray)


def test_repeats_compares_pairs_exactly_and_the_first_occurrence_wins():
    """`_repeats` marks every row whose (url, caption) equals an earlier row's (a null
    caption as ""), by the strings themselves: pairs a joined ``url \\0 caption`` key
    would confuse stay apart, and chunked input (several shards) is one sequence."""
    import numpy as np
    import pyarrow as pa

    from grassroots.stages.dedup import _repeats

    rng = np.random.default_rng(12)
    url_pool = ["http://a/1.jpg", "http://a/2.jpg", "http://b/ü.jpg", "http://a/1.jpg\0x"]
    cap_pool = ["one", "", None, "ünï", "x", "\0x"]
    for n in (0, 1, 2, 50, 3000):
        urls = [url_pool[i] for i in rng.integers(0, len(url_pool), n)]
        caps = [cap_pool[i] for i in rng.integers(0, len(cap_pool), n)]
        seen, want = set(), []
        for u, c in zip(urls, caps):
            want.append((u, c or "") in seen)
            seen.add((u, c or ""))
        half = n // 2
        table = pa.table({"url": pa.chunked_array([urls[:half], urls[half:]], pa.string()),
                          "caption": pa.chunked_array([caps[:half], caps[half:]], pa.string())})
        assert _repeats(table).tolist() == want, n
    # ("http://a/\0b", "c") and ("http://a/", "b\0c") both join to "http://a/\0b\0c": both stay.
    crafted = pa.table({"url": ["http://a/\0b", "http://a/", "http://a/"], "caption": ["c", "b\0c", "b\0c"]})
    assert _repeats(crafted).tolist() == [False, False, True]


def test_one_file_is_not_read_again_and_the_result_is_the_grouping_s(tmp_path):
    """With one candidate file there is no other file to compare with, and extract already
    dropped its repeated pairs: dedup writes an empty result without reading the strings,
    and grouping the file's pairs (what it would have done) finds no repeat either."""
    from grassroots.stages import dedup as dedup_stage

    write_warc(tmp_path / "b.warc.gz", [page(2, ["2", "3", "4"]), page(3, ["4", "5", "4"])])
    ds = tmp_path / "ds"
    ex, dd = extract([str(tmp_path / "b.warc.gz")], str(ds), Extract(), LocalRunner(processes=1), progress=False)
    assert ex.reasons["duplicate"] == 2 and dd.candidates == dd.kept == ex.kept == 4 and not dd.reasons
    table = pq.read_table(DatasetDir(str(ds)).candidates(0), columns=["url", "caption"])
    assert not dedup_stage._repeats(table).any()
    assert pq.read_table(DatasetDir(str(ds)).dedup_partition(0)).num_rows == 0
    assert captions(ds, 0) == [f"picture number {i}" for i in (2, 3, 4, 5)]
    assert_accounted(ds)
