"""File access through fsspec, and atomic writes.

A reader never sees a partly written file under its final name. Local paths:
we write ``.NAME.tmp-<random>`` in the same directory and ``os.replace`` it.
Object stores (s3://, gs://) have no rename, and need none: an object appears
only when its upload completes (one PUT, or a multipart upload completed on
close), so a failed block discards the upload instead of completing it, and a
killed process leaves at most an unfinished multipart upload, which no reader
sees (an S3 lifecycle rule removes those; see README "Object stores").

Remote filesystems are opened without fsspec's listings cache: several
processes write the same dataset, and a cached listing would hide their
markers and shards from a later ``exists`` or ``glob``.

Endpoints and credentials come from the environment or fsspec's configuration
(``AWS_ENDPOINT_URL``, ``FSSPEC_S3_ENDPOINT_URL``, ``~/.config/fsspec/``), so
every worker of a run sees the same store without flags.
"""

from __future__ import annotations

import contextlib
import io as _io
import os
import uuid
from typing import IO, Iterator

import fsspec
from fsspec.core import url_to_fs

from grassroots.errors import FatalError


_LOCAL_PROTOCOLS = (None, "file", "local")


def fs_and_path(path: str):
    """(filesystem, path within it); remote ones without a listings cache."""
    path = str(path)
    protocol = fsspec.core.split_protocol(path)[0]
    if protocol in _LOCAL_PROTOCOLS:
        return url_to_fs(path)
    try:
        return url_to_fs(path, use_listings_cache=False)
    except ImportError as e:  # s3fs, gcsfs ... not installed
        extra = " (pip install 'grassroots[s3]')" if protocol in ("s3", "s3a") else ""
        raise FatalError(f"{path}: {protocol}:// needs a filesystem package: {e}{extra}") from None


def is_local(path: str) -> bool:
    fs, _ = fs_and_path(path)
    return "file" in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,))


def open_file(path: str, mode: str = "rb", **kwargs) -> IO:
    """Open a local or remote file (fsspec); ``compression="infer"`` is allowed."""
    fs, p = fs_and_path(path)
    if "b" not in mode:
        kwargs.setdefault("encoding", "utf-8")
    return fs.open(p, mode, **kwargs)


def exists(path: str) -> bool:
    fs, p = fs_and_path(path)
    return fs.exists(p)


def isdir(path: str) -> bool:
    """A local directory, or an object-store prefix holding objects."""
    fs, p = fs_and_path(path)
    return fs.isdir(p)


def makedirs(path: str) -> None:
    fs, p = fs_and_path(path)
    fs.makedirs(p, exist_ok=True)


def glob(pattern: str) -> list[str]:
    """Sorted matches, with the protocol kept for remote paths."""
    fs, p = fs_and_path(pattern)
    found = sorted(fs.glob(p))
    if is_local(pattern):
        return found
    return [fs.unstrip_protocol(f) for f in found]


def read_text(path: str) -> str:
    with open_file(path, "rt", encoding="utf-8") as f:
        return f.read()


def remove(path: str) -> None:
    fs, p = fs_and_path(path)
    if fs.exists(p):
        fs.rm(p)


@contextlib.contextmanager
def atomic_write(path: str, mode: str = "wb") -> Iterator[IO]:
    """Write to a temporary name, rename to ``path`` only if the block succeeds."""
    path = str(path)
    if not is_local(path):
        yield from _remote_write(path, mode)
        return
    _, local = fs_and_path(path)
    directory, name = os.path.split(local)
    os.makedirs(directory or ".", exist_ok=True)
    tmp = os.path.join(directory, f".{name}.tmp-{uuid.uuid4().hex[:8]}")
    f = open(tmp, mode) if "b" in mode else open(tmp, mode, encoding="utf-8")
    try:
        with f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, local)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def _remote_write(path: str, mode: str) -> Iterator[IO]:
    """An object store's upload, completed (published) only if the block succeeds."""
    fs, p = fs_and_path(path)
    raw = fs.open(p, "wb")
    f = raw if "b" in mode else _io.TextIOWrapper(raw, encoding="utf-8")
    try:
        yield f
        if f is not raw:
            f.detach()  # flushes the text into the upload's buffer
    except BaseException:
        # Closing would complete the upload: abort it instead (S3's multipart
        # abort), then mark the file closed so nothing completes it later.
        if f is not raw:
            with contextlib.suppress(Exception):
                f.detach()
        with contextlib.suppress(Exception):
            raw.discard()
        raw.closed = True
        raise
    raw.close()


def write_text_atomic(path: str, text: str) -> None:
    with atomic_write(path, "w") as f:
        f.write(text)


def remove_stale_temporaries(directory: str) -> int:
    """Delete ``.*.tmp-*`` files a killed run left behind; return how many."""
    if not is_local(directory):
        return 0
    _, local = fs_and_path(directory)
    if not os.path.isdir(local):
        return 0
    n = 0
    for name in os.listdir(local):
        if name.startswith(".") and ".tmp-" in name:
            with contextlib.suppress(FileNotFoundError):
                os.remove(os.path.join(local, name))
                n += 1
    return n
