"""Per-host politeness: a concurrency cap and a requests-per-second cap per host,
and Retry-After parsing."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import email.utils
import time
from collections import defaultdict

# The running row's deadline (an asyncio.Timeout), if any: time spent waiting
# for a host's politeness slot is added back to it, so a polite crawl of one
# big host never turns waiting rows into watchdog failures.
ROW_DEADLINE: contextvars.ContextVar = contextvars.ContextVar("row_deadline", default=None)


class HostLimiter:
    """``async with limiter.slot(host):`` waits for a free connection slot on that
    host and for the host's minimum interval between request starts."""

    def __init__(self, concurrency: int, rps: float):
        self._sems: dict[str, asyncio.Semaphore] = defaultdict(lambda: asyncio.Semaphore(max(1, concurrency)))
        self._interval = 1.0 / rps if rps > 0 else 0.0
        self._next: dict[str, float] = defaultdict(float)

    @contextlib.asynccontextmanager
    async def slot(self, host: str):
        waiting_since = time.monotonic()
        async with self._sems[host]:
            if self._interval:
                now = time.monotonic()
                start = max(now, self._next[host])
                self._next[host] = start + self._interval
                if start > now:
                    try:
                        await asyncio.sleep(start - now)
                    except asyncio.CancelledError:
                        if self._next[host] == start + self._interval:
                            self._next[host] = start  # give the unused start back
                        raise
            _extend_row_deadline(time.monotonic() - waiting_since)
            yield


def _extend_row_deadline(waited: float) -> None:
    deadline = ROW_DEADLINE.get()
    if deadline is not None and waited > 0.001 and deadline.when() is not None:
        deadline.reschedule(deadline.when() + waited)


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
