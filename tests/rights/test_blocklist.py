"""Hash blocklists: md5, sha256, URL hash, PDQ at Hamming <= 31, quality < 50 skipped."""

from __future__ import annotations

import hashlib

import pytest

from grassroots.errors import InputError
from grassroots.rights.blocklist import Blocklist, url_hash

BODY = b"\x89PNG synthetic bytes"
BASE = "f" * 64  # 256 one-bits


def flip(hex64: str, n: int) -> str:
    """``hex64`` with its first ``n`` bits flipped (Hamming distance n)."""
    value = int(hex64, 16) ^ (((1 << n) - 1) << (256 - n))
    return f"{value:064x}"


@pytest.fixture
def blocklist(tmp_path):
    path = tmp_path / "hashes.csv"
    path.write_text(
        "kind,value,quality\n"
        f"md5,{hashlib.md5(b'md5 listed').hexdigest()}\n"
        f"sha256,{hashlib.sha256(BODY).hexdigest().upper()}  # upper case is fine\n"
        f"url_sha256,{url_hash('https://example.com/listed.jpg')}\n"
        "url https://example.com/raw#1.jpg\n"
        f"pdq,{BASE},90\n"
        f"pdq,{'0' * 64},10\n"  # low quality: skipped on load
    )
    return Blocklist.load([path])


def test_byte_hashes(blocklist):
    assert blocklist.check_bytes(BODY).startswith("sha256 ")
    assert blocklist.check_bytes(b"md5 listed").startswith("md5 ")
    assert blocklist.check_bytes(b"other") is None
    assert blocklist.check_bytes(b"ignored", sha256=hashlib.sha256(BODY).hexdigest()) is not None


def test_url_hash_is_sha256_of_normalised_url(blocklist):
    assert url_hash("HTTPS://EXAMPLE.com:443/listed.jpg") == hashlib.sha256(b"https://example.com/listed.jpg").hexdigest()
    assert blocklist.check_url("https://Example.com/listed.jpg")
    assert blocklist.check_url("https://example.com/raw")  # "#1.jpg" is a fragment (dropped), not a comment
    assert blocklist.check_url("https://example.com/other.jpg") is None


def test_pdq_distance_31_matches_32_does_not(blocklist):
    assert flip(BASE, 31).count("f") < 64
    hit = blocklist.check_pdq(flip(BASE, 31), quality=100)
    assert hit and hit.endswith("distance 31")
    assert blocklist.check_pdq(flip(BASE, 32), quality=100) is None
    assert blocklist.check_pdq(BASE, quality=100).endswith("distance 0")


def test_pdq_low_quality_sample_skipped(blocklist):
    assert blocklist.check_pdq(BASE, quality=49) is None
    assert blocklist.check_pdq(BASE, quality=50) is not None


def test_pdq_low_quality_list_entry_skipped(blocklist):
    assert len(blocklist.pdq_hex) == 1
    assert blocklist.check_pdq("0" * 64, quality=100) is None


def test_many_pdq_entries_vectorised():
    bl = Blocklist()
    for i in range(2000):
        bl.add("pdq", f"{i:064x}")
    bl.add("pdq", flip(BASE, 3))
    assert bl.check_pdq(BASE, 80).endswith("distance 3")


def test_bad_entries_fail_loudly(tmp_path):
    for text in ("sha1,abc\n", "md5,xyz\n", "pdq,1234\n"):
        path = tmp_path / "bad.txt"
        path.write_text(text)
        with pytest.raises(InputError):
            Blocklist.load([path])
