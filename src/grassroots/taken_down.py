"""What was taken down, the one record every step reads.

    DATASET/takedowns/removed.csv   ``key,release,reason``: every sample key a takedown
                                    removed, the release that takedown made, and
                                    ``illegal-content`` or nothing (appended, never rewritten)
    DATASET/takedowns/registry.txt  URLs and domains taken down (grassroots.takedown.lists)
    DATASET/takedowns/blocklist.txt their hashes: sha256, md5, PDQ, url_sha256

``TakenDown.of(path)`` reads them for a dataset or any of its releases (cached while
the files do not change). A sample is taken down when its key is listed, its image,
final or page URL is in the registry or the blocklist's URL hashes, or its sha256 or
md5 is blocklisted. ``grassroots.ledger.kept_rows`` leaves such samples out, so embed,
score, hash, near-dup, train and eval never see them; select and takedown write them
as ``refused``/``takedown`` rows; index and serve leave their keys out; download and
extract into the dataset refuse their URLs before any request. (PDQ copies are found
when the takedown runs, and their keys and hashes land here.)
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import pyarrow as pa

from grassroots import io
from grassroots.layout import DatasetDir
from grassroots.rights.blocklist import Blocklist
from grassroots.rights.registry import Registry

ILLEGAL = "illegal-content"
ROW_COLUMNS = ("key", "url", "final_url", "page_url", "sha256", "md5")


@dataclass
class TakenDown:
    keys: set[str] = field(default_factory=set)
    illegal: set[str] = field(default_factory=set)  # keys removed as illegal content
    by_release: dict[str, str] = field(default_factory=dict)  # key -> the takedown release that removed it
    registry: Registry = field(default_factory=Registry)
    blocklist: Blocklist = field(default_factory=Blocklist)

    def __bool__(self) -> bool:
        return bool(self.keys or len(self.registry) or self.blocklist.sha256 or self.blocklist.md5
                    or self.blocklist.url_sha256)

    @classmethod
    def of(cls, path: str) -> "TakenDown":
        """The record of the dataset ``path`` belongs to (a dataset or one of its releases)."""
        layout = DatasetDir(DatasetDir(path).dataset_root)
        files = (layout.takedown_removed_all, layout.takedown_registry, layout.takedown_blocklist)
        stamp = tuple(_stamp(p) for p in files)
        cached = _CACHE.get(layout.root)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        record = cls.read(layout)
        _CACHE[layout.root] = (stamp, record)
        return record

    @classmethod
    def read(cls, layout: DatasetDir) -> "TakenDown":
        record = cls()
        if not io.exists(layout.takedowns_dir):
            return record
        if io.exists(layout.takedown_removed_all):
            for line in io.read_text(layout.takedown_removed_all).splitlines():
                key, _, rest = line.strip().partition(",")
                if not key or key == "key":
                    continue
                release, _, reason = rest.partition(",")
                record.keys.add(key)
                record.by_release.setdefault(key, release)
                if reason.strip() == ILLEGAL:
                    record.illegal.add(key)
        if io.exists(layout.takedown_registry):
            record.registry = Registry.load([layout.takedown_registry])
        if io.exists(layout.takedown_blocklist):
            record.blocklist = Blocklist.load([layout.takedown_blocklist])
        return record

    def removes(self, row: dict) -> bool:
        """Whether a ledger row (key, url, final_url, page_url, sha256, md5) was taken down."""
        if row.get("key") in self.keys:
            return True
        for url in (row.get("url"), row.get("final_url"), row.get("page_url")):
            if url and ((len(self.registry) and self.registry.match(url))
                        or (self.blocklist.url_sha256 and self.blocklist.check_url(url))):
                return True
        return bool((row.get("sha256") and row.get("sha256") in self.blocklist.sha256)
                    or (row.get("md5") and row.get("md5") in self.blocklist.md5))

    def mask(self, table: pa.Table) -> list[bool]:
        """Per row of a ledger table: True when taken down (the columns of ROW_COLUMNS it has)."""
        cols = [c for c in ROW_COLUMNS if c in table.column_names]
        if cols == ["key"] or not (len(self.registry) or self.blocklist.sha256 or self.blocklist.md5
                                   or self.blocklist.url_sha256):
            return [k in self.keys for k in table.column("key").to_pylist()]
        return [self.removes(r) for r in table.select(cols).to_pylist()]


_CACHE: dict[str, tuple[tuple, TakenDown]] = {}


def _stamp(path: str) -> tuple:
    if io.is_local(path):
        try:
            st = os.stat(io.fs_and_path(path)[1])
        except FileNotFoundError:
            return (None,)
        return (st.st_mtime_ns, st.st_size)
    return (object(),)  # object stores: read again every time


def append_removed(dataset: str, release: str, keys: dict[str, bool]) -> int:
    """Add ``keys`` (key -> removed as illegal content) to DATASET/takedowns/removed.csv;
    the lines added (a key already listed is not listed again)."""
    layout = DatasetDir(dataset)
    old = io.read_text(layout.takedown_removed_all) if io.exists(layout.takedown_removed_all) else ""
    present = {ln.split(",", 1)[0] for ln in old.splitlines()}
    new = [f"{k},{release},{ILLEGAL if illegal else ''}" for k, illegal in sorted(keys.items()) if k not in present]
    if new or not old:
        io.makedirs(layout.takedowns_dir)
        head = "" if old else "key,release,reason\n"
        io.write_text_atomic(layout.takedown_removed_all, old + head + "".join(f"{ln}\n" for ln in new))
    return len(new)
