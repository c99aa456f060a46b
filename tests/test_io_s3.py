"""grassroots.io against a real S3 server (moto on loopback): atomic writes never
publish a partial object, even when the writer is killed mid-upload; listings see
what other processes wrote."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from grassroots import io
from grassroots.writer import ShardWriter
from tests.s3 import s3, s3_server  # noqa: F401  (fixtures)

BLOCK = 5 * 1024 * 1024  # S3's smallest part; s3fs's default block is 50 MiB
BIG = 12 * 1024 * 1024  # > BLOCK: a multipart upload


@pytest.fixture
def small_blocks(s3, monkeypatch):
    """Uploads in 5 MiB parts (set as a user would: fsspec's configuration)."""
    import fsspec.config
    import s3fs

    monkeypatch.setitem(fsspec.config.conf, "s3", {"default_block_size": BLOCK})
    monkeypatch.setenv("FSSPEC_S3", f'{{"default_block_size": {BLOCK}}}')  # for subprocesses
    s3fs.S3FileSystem.clear_instance_cache()
    yield s3
    s3fs.S3FileSystem.clear_instance_cache()


class Boom(Exception):
    pass


@pytest.mark.parametrize("mode,data", [("wb", b"x" * 100), ("wb", os.urandom(BIG)), ("w", "text " * 100)])
def test_atomic_write_publishes_only_a_complete_object(small_blocks, mode, data):
    s3 = small_blocks
    path = f"{s3}/d/obj"
    with pytest.raises(Boom):
        with io.atomic_write(path, mode) as f:
            f.write(data)
            raise Boom
    assert not io.exists(path) and io.glob(f"{s3}/d/*") == []
    with io.atomic_write(path, mode) as f:
        f.write(data)
    with io.open_file(path, "rb" if "b" in mode else "r") as f:
        assert f.read() == data
    assert io.glob(f"{s3}/d/*") == [path]


KILLED_WRITER = """
import os, signal, sys
from grassroots import io
from grassroots.writer import ShardWriter
dataset = sys.argv[1]
with ShardWriter(dataset, 0) as w:
    for i in range(4):
        w.add_sample(f"{i:09d}", {"jpg": os.urandom(4 * 1024 * 1024), "txt": "caption"})
        w.add_row({"key": f"{i:09d}", "status": "success"})
    assert w._tar.fileobj.parts, "16 MiB in 5 MiB parts: some are uploaded"
    print("uploading", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_writer_killed_mid_upload_leaves_no_shard(small_blocks):
    s3 = small_blocks
    ds = f"{s3}/ds"
    res = subprocess.run([sys.executable, "-c", KILLED_WRITER, ds], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert res.returncode == -9 and "uploading" in res.stdout, res.stderr
    fs, bucket = io.fs_and_path(s3)
    assert fs.list_multipart_uploads(bucket), "the test meant to kill the writer mid-upload"
    assert io.glob(f"{ds}/shards/*") == []
    # A rerun writes the shard whole.
    with ShardWriter(ds, 0) as w:
        w.add_sample("000000000", {"jpg": b"\xff\xd8", "txt": "c"})
        w.add_row({"key": "000000000", "url": "http://x/0.jpg", "status": "success"})
    assert io.glob(f"{ds}/shards/*") == [f"{ds}/shards/00000.parquet", f"{ds}/shards/00000.tar"]


def test_listings_see_what_another_process_wrote(s3):
    io.write_text_atomic(f"{s3}/m/0.json", "{}")
    assert io.glob(f"{s3}/m/*.json") == [f"{s3}/m/0.json"] and not io.exists(f"{s3}/m/1.json")
    code = f"from grassroots import io; io.write_text_atomic({s3 + '/m/1.json'!r}, '{{}}')"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60,
                   env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert io.exists(f"{s3}/m/1.json") and io.glob(f"{s3}/m/*.json") == [f"{s3}/m/0.json", f"{s3}/m/1.json"]
