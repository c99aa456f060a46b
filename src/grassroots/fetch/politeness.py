"""Per-host politeness: a concurrency cap and a requests-per-second cap per host,
and Retry-After parsing."""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import time
from collections import defaultdict


class HostLimiter:
    """``async with limiter.slot(host):`` waits for a free connection slot on that
    host and for the host's minimum interval between request starts."""

    def __init__(self, concurrency: int, rps: float):
        self._sems: dict[str, asyncio.Semaphore] = defaultdict(lambda: asyncio.Semaphore(max(1, concurrency)))
        self._interval = 1.0 / rps if rps > 0 else 0.0
        self._next: dict[str, float] = defaultdict(float)

    @contextlib.asynccontextmanager
    async def slot(self, host: str):
        async with self._sems[host]:
            if self._interval:
                now = time.monotonic()
                start = max(now, self._next[host])
                self._next[host] = start + self._interval
                if start > now:
                    await asyncio.sleep(start - now)
            yield


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())
