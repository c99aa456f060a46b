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


def test_the_exchange_formats_hash_lists_come_in(tmp_path):
    """One hash a line with or without a type; TYPE:HASH; CSV and TSV with a hash column;
    md5, sha1, sha256 and PDQ with an optional quality."""
    body = b"listed image bytes"
    md5, sha1, sha256 = (hashlib.new(a, body).hexdigest() for a in ("md5", "sha1", "sha256"))
    files = {
        "bare_md5.txt": f"# an NCMEC-style list: bare hashes\n{md5.upper()}\n",
        "bare_sha1.txt": f"{sha1}\n",
        "bare_sha256.txt": f"{sha256}\n",
        "prefixed.txt": f"SHA-256:{sha256}\nsha1:{sha1}\nmd5:{md5}\npdq:{flip(BASE, 3)}\n",
        "pdq_quality.csv": f"{BASE},90\n{'0' * 64},10\n",
        "pdq.tsv": f"signal_type\tsignal_value\tquality\nPDQ\t{BASE}\t100\nmd5\t{md5}\t\n",
        "hashes.csv": f"id,hash,quality\n1,{sha1},\n",
        "pdq_column.csv": f"pdq_hash,pdq_quality\n{BASE},80\n",
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
        b = Blocklist.load([tmp_path / name])
        assert len(b) >= 1, name
        if name.startswith("pdq"):
            assert b.check_pdq(BASE, 100), name
        assert bool(b.check_bytes(body)) == (not name.startswith("pdq") or name == "pdq.tsv"), name
    assert Blocklist.load([tmp_path / "pdq_quality.csv"]).pdq_hex == [BASE]  # quality 10 skipped
    assert Blocklist.load([tmp_path / "bare_sha1.txt"]).check_bytes(body) == f"sha1 {sha1}"
    assert Blocklist.load([tmp_path / "bare_sha256.txt"]).pdq_hex == []  # a bare 64-hex hash is sha256
    for bad in ("abcdef\n", "signal_type,signal_value\nphotodna,00ff\n", f"{BASE},high\n"):
        (tmp_path / "bad.txt").write_text(bad)
        with pytest.raises(InputError):
            Blocklist.load([tmp_path / "bad.txt"])
