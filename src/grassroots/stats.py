"""ShardStats: what one shard of one stage did. Addable; JSON round-trip.

``candidates`` is set by the stage from its input (rows read, images seen),
independently of ``keep``/``drop``; each candidate must leave as kept (status
success) or dropped with exactly one reason. ``accounted`` checks that invariant.

``notes`` are a few short sentences about what went wrong without failing the
shard (a bad record, a truncated file), for the console and the stats JSON;
counters carry the totals, notes keep at most ``MAX_NOTES`` examples.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field

from grassroots.schema import Reason, Status, reason_value, status_of

MAX_NOTES = 5


@dataclass
class ShardStats:
    stage: str = ""
    shard: int | None = None
    candidates: int = 0
    kept: int = 0
    reasons: Counter = field(default_factory=Counter)  # reason value -> rows dropped
    counters: Counter = field(default_factory=Counter)  # other counts (pages, images_seen ...)
    seconds: float = 0.0
    bytes: int = 0  # bytes read (input) for the shard
    bytes_written: int = 0
    shards: int = 1  # how many shards were summed into this
    failed_shards: int = 0
    skipped_shards: int = 0  # already done on an earlier run
    notes: list[str] = field(default_factory=list)  # at most MAX_NOTES, oldest first

    # --- recording -------------------------------------------------------
    def keep(self, n: int = 1) -> None:
        self.kept += n

    def drop(self, reason: Reason | str, n: int = 1) -> None:
        self.reasons[reason_value(reason)] += n

    def count(self, name: str, n: int = 1) -> None:
        self.counters[name] += n

    def note(self, text: str) -> None:
        """Keep ``text`` if fewer than MAX_NOTES are kept (counters hold the totals)."""
        if len(self.notes) < MAX_NOTES:
            self.notes.append(text)

    # --- views -----------------------------------------------------------
    @property
    def dropped(self) -> int:
        return sum(self.reasons.values())

    @property
    def accounted(self) -> bool:
        return self.candidates == self.kept + self.dropped

    def by_status(self) -> dict[str, int]:
        out: Counter = Counter({Status.SUCCESS.value: self.kept})
        for reason, n in self.reasons.items():
            out[status_of(reason).value] += n
        return {s.value: out.get(s.value, 0) for s in Status}

    # --- algebra ---------------------------------------------------------
    def __add__(self, other: "ShardStats") -> "ShardStats":
        return ShardStats(
            stage=self.stage or other.stage,
            shard=None,
            candidates=self.candidates + other.candidates,
            kept=self.kept + other.kept,
            reasons=self.reasons + other.reasons,
            counters=self.counters + other.counters,
            seconds=self.seconds + other.seconds,
            bytes=self.bytes + other.bytes,
            bytes_written=self.bytes_written + other.bytes_written,
            shards=self.shards + other.shards,
            failed_shards=self.failed_shards + other.failed_shards,
            skipped_shards=self.skipped_shards + other.skipped_shards,
            notes=(self.notes + other.notes)[:MAX_NOTES],
        )

    @classmethod
    def total(cls, items: "list[ShardStats]", stage: str = "") -> "ShardStats":
        out = cls(stage=stage, shards=0)
        for s in items:
            out = out + s
        return out

    # --- JSON ------------------------------------------------------------
    def to_dict(self) -> dict:
        return {
            "stage": self.stage,
            "shard": self.shard,
            "candidates": self.candidates,
            "kept": self.kept,
            "reasons": dict(sorted(self.reasons.items())),
            "by_status": self.by_status(),
            "counters": dict(sorted(self.counters.items())),
            "seconds": round(self.seconds, 4),
            "bytes": self.bytes,
            "bytes_written": self.bytes_written,
            "shards": self.shards,
            "failed_shards": self.failed_shards,
            "skipped_shards": self.skipped_shards,
            "notes": list(self.notes),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> "ShardStats":
        return cls(
            stage=d.get("stage", ""),
            shard=d.get("shard"),
            candidates=int(d.get("candidates", 0)),
            kept=int(d.get("kept", 0)),
            reasons=Counter(d.get("reasons", {})),
            counters=Counter(d.get("counters", {})),
            seconds=float(d.get("seconds", 0.0)),
            bytes=int(d.get("bytes", 0)),
            bytes_written=int(d.get("bytes_written", 0)),
            shards=int(d.get("shards", 1)),
            failed_shards=int(d.get("failed_shards", 0)),
            skipped_shards=int(d.get("skipped_shards", 0)),
            notes=[str(n) for n in d.get("notes", [])][:MAX_NOTES],
        )

    @classmethod
    def from_json(cls, text: str) -> "ShardStats":
        return cls.from_dict(json.loads(text))
