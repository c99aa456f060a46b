"""takedown.json: what a takedown release records of itself (the audit trail the
cards and the console read), one typed record written and read here only."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from grassroots import io
from grassroots.layout import DatasetDir


@dataclass(frozen=True)
class TakedownCounts:
    candidates: int = 0  # samples of the parent release
    kept: int = 0
    removed: int = 0
    illegal_content: int = 0  # of removed: as illegal content (hashes kept only)


@dataclass(frozen=True)
class TakedownRecord:
    parent: str  # the release taken from (vN)
    release: str  # the release written (vN+1)
    at: str  # UTC, ISO 8601
    asked: dict  # kind -> values asked (grassroots.takedown.requests.TakedownAsk.to_dict)
    requests: tuple[dict, ...] = ()  # {id, time, release, reason, matched} per request handled
    matched_by: dict = field(default_factory=dict)  # kind -> samples matched by it
    counts: TakedownCounts = field(default_factory=TakedownCounts)
    removed_keys: str = "takedown_removed.txt"  # file name, beside takedown.json
    index: str = ""  # what was done to the release's vector indexes
    lists_appended: dict = field(default_factory=dict)  # registry/blocklist paths and lines added
    parent_purged: bool = False
    purged: tuple[dict, ...] = ()  # {"dir": "dataset" | "releases/vK", "removed": n}: what else was purged

    def to_dict(self) -> dict:
        doc = asdict(self)
        doc["requests"] = list(self.requests)
        doc["purged"] = list(self.purged)
        return doc

    @classmethod
    def from_dict(cls, doc: dict) -> "TakedownRecord":
        return cls(parent=doc.get("parent", ""), release=doc.get("release", ""), at=doc.get("at", ""),
                   asked=doc.get("asked") or {}, requests=tuple(doc.get("requests") or ()),
                   matched_by=doc.get("matched_by") or {}, counts=TakedownCounts(**(doc.get("counts") or {})),
                   removed_keys=doc.get("removed_keys", "takedown_removed.txt"), index=doc.get("index", ""),
                   lists_appended=doc.get("lists_appended") or {}, parent_purged=bool(doc.get("parent_purged")),
                   purged=tuple(doc.get("purged") or ()))

    def write(self, release: DatasetDir) -> None:
        io.write_text_atomic(release.takedown_record, json.dumps(self.to_dict(), indent=1))

    @classmethod
    def read(cls, release: DatasetDir) -> "TakedownRecord | None":
        """The record of a release made by a takedown; None for any other release."""
        if not io.exists(release.takedown_record):
            return None
        return cls.from_dict(json.loads(io.read_text(release.takedown_record)))
