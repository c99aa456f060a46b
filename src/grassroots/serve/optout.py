"""Opt-out requests from the search page -> DATASET/takedowns/requests.jsonl.

One JSON object per line, appended, never rewritten (the takedown step reads it):

    {"id": "optout-<16 hex>", "received_at": "2026-01-31T12:00:00Z", "release": "v1",
     "name": "...", "contact": "...", "reason": "...",
     "keys": ["000000001"], "urls": ["http://..."], "domains": ["example.com"],
     "pdq": ["<64 hex>"], "sha256": ["<64 hex>"]}

Each line is written by one ``write`` on a file opened with O_APPEND under an
exclusive ``flock`` (and a process-local lock), then fsynced: concurrent
requests (threads or several server processes) never interleave or overwrite.
Lists are deduplicated and keep their order; at least one is non-empty.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import threading
import time
from collections import deque

from grassroots import io
from grassroots.layout import DatasetDir

TARGETS = ("keys", "urls", "domains", "pdq", "sha256")


class OptOutQueue:
    def __init__(self, dataset: DatasetDir, release: str):
        self.path = dataset.takedown_requests
        self.release = release
        self._lock = threading.Lock()

    def append(self, name: str, contact: str, reason: str, targets: dict[str, list[str]]) -> dict:
        record = {"id": f"optout-{secrets.token_hex(8)}",
                  "received_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                  "release": self.release, "name": name, "contact": contact, "reason": reason,
                  **{t: list(dict.fromkeys(targets.get(t) or [])) for t in TARGETS}}
        line = (json.dumps(record, ensure_ascii=False) + "\n").encode()
        local = io.fs_and_path(self.path)[1]
        os.makedirs(os.path.dirname(local), exist_ok=True)
        with self._lock:
            fd = os.open(local, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                written = os.write(fd, line)
                if written != len(line):
                    raise OSError(f"short write to {local}")
                os.fsync(fd)
            finally:
                os.close(fd)  # releases the flock
        return record


class RateLimiter:
    """At most ``limit`` events per client in any ``window`` seconds (sliding window)."""

    def __init__(self, limit: int, window: float, clock=time.monotonic):
        self.limit, self.window, self.clock = limit, window, clock
        self._events: dict[str, deque] = {}
        self._lock = threading.Lock()

    def allow(self, client: str) -> tuple[bool, float]:
        """(allowed, seconds until the next event would be allowed)."""
        now = self.clock()
        with self._lock:
            q = self._events.setdefault(client, deque())
            while q and q[0] <= now - self.window:
                q.popleft()
            if len(q) >= self.limit:
                return False, q[0] + self.window - now
            q.append(now)
            if len(self._events) > 100_000:  # forget idle clients
                self._events = {c: e for c, e in self._events.items() if e and e[-1] > now - self.window}
            return True, 0.0
