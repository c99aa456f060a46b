"""The dataset's own opt-out lists: what a takedown removed, a later download refuses.

    DATASET/takedowns/registry.txt    an opt-out registry (grassroots.rights.registry):
                                      `url,<URL>` and `domain,<domain>` lines, checked before any request
    DATASET/takedowns/blocklist.txt   a hash blocklist (grassroots.rights.blocklist):
                                      `sha256,` `md5,` `pdq,<hex>,<quality>` lines, checked before writing;
                                      `url_sha256,` lines (illegal content's URLs, by hash), before any request

A takedown appends every URL, domain and hash it was asked to remove, and the URL and
hashes of every sample it removed (so a copy at another URL is refused by its bytes).
``grassroots download ... -o DATASET`` adds both files to its --registry/--blocklist by
itself; a download into another directory names them (--registry DATASET/takedowns/registry.txt).
Lines are never removed; each block says which release and requests it came from.
"""

from __future__ import annotations

import time

from grassroots import io
from grassroots.layout import DatasetDir
from grassroots.rights.blocklist import Blocklist
from grassroots.rights.registry import Registry


def dataset_lists(dataset: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(registry files, blocklist files) the dataset's takedowns have written (those that exist)."""
    layout = DatasetDir(dataset)
    return (tuple(p for p in (layout.takedown_registry,) if io.exists(p)),
            tuple(p for p in (layout.takedown_blocklist,) if io.exists(p)))


def _append(path: str, lines: list[str], header: str) -> int:
    """Append the lines not already in the file (atomically: the file is rewritten whole)."""
    old = io.read_text(path) if io.exists(path) else ""
    present = {ln.strip() for ln in old.splitlines()}
    new = list(dict.fromkeys(ln for ln in lines if ln not in present))
    if new:
        text = old + ("" if not old or old.endswith("\n") else "\n") + f"# {header}\n" + "\n".join(new) + "\n"
        io.write_text_atomic(path, text)
    return len(new)


def append_to_lists(dataset: str, *, urls: list[str], domains: list[str], sha256: list[str], md5: list[str],
                    pdq: list[tuple[str, int | None]], note: str, url_hashes: list[str] = ()) -> dict[str, int]:
    """Append to the dataset's registry and blocklist; lines added to each. Every line is
    checked by the same parser downloads use, so a file a takedown wrote always loads.
    ``url_hashes``: URLs of illegal content, listed by hash only (``url_sha256``: refused
    before any request all the same)."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    registry = [f"url,{u}" for u in urls] + [f"domain,{d}" for d in domains]
    blocklist = ([f"url_sha256,{h}" for h in url_hashes] + [f"sha256,{h}" for h in sha256] + [f"md5,{h}" for h in md5]
                 + [f"pdq,{h}" + (f",{q}" if q is not None else "") for h, q in pdq])
    check_registry, check_blocklist = Registry(), Blocklist()
    for line in registry:
        check_registry.add_line(line)
    for line in blocklist:
        check_blocklist.add_line(line)
    layout = DatasetDir(dataset)
    io.makedirs(layout.takedowns_dir)
    return {"registry": _append(layout.takedown_registry, registry, f"{note} ({stamp})"),
            "blocklist": _append(layout.takedown_blocklist, blocklist, f"{note} ({stamp})")}
