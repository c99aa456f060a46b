"""The opt-out endpoint's per-client rate limit. The request record, its checks and the
append to DATASET/takedowns/requests.jsonl are grassroots.takedown.requests (one format
for the page, the API and the takedown step)."""

from __future__ import annotations

import threading
import time
from collections import deque


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
