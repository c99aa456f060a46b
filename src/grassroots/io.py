"""File access through fsspec, and atomic writes (temporary name + rename).

A reader never sees a partly written file under its final name: for local
paths we write ``.NAME.tmp-<random>`` in the same directory and ``os.replace``;
object stores (s3://, gs://) publish an object only when its upload completes.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from typing import IO, Iterator

import fsspec
from fsspec.core import url_to_fs


def fs_and_path(path: str):
    return url_to_fs(str(path))


def is_local(path: str) -> bool:
    fs, _ = fs_and_path(path)
    return "file" in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,))


def open_file(path: str, mode: str = "rb", **kwargs) -> IO:
    """Open a local or remote file (fsspec); ``compression="infer"`` is allowed."""
    return fsspec.open(str(path), mode, **kwargs).open()


def exists(path: str) -> bool:
    fs, p = fs_and_path(path)
    return fs.exists(p)


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
        f = open_file(path, mode)
        try:
            yield f
        except BaseException:
            # Closing would commit the upload: discard it instead, so nothing
            # partial appears under the final name.
            discard = getattr(f, "discard", None)
            if discard is not None:
                discard()
            else:
                f.close()
                remove(path)
            raise
        f.close()
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
