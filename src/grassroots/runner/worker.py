"""Per-worker-process state: a loaded model is cached for the life of the
worker (a process of the local pool, or a Ray worker), so a step that runs many
shards on one worker loads its model once."""

from __future__ import annotations

from typing import Callable, Hashable, TypeVar

T = TypeVar("T")
_CACHE: dict[Hashable, object] = {}
MAX_ENTRIES = 2  # a worker runs one step at a time; keep the model of the previous one too


def cached(key: Hashable, load: Callable[[], T]) -> T:
    """``load()``'s result for ``key``, computed once per worker process."""
    if key not in _CACHE:
        while len(_CACHE) >= MAX_ENTRIES:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = load()
    return _CACHE[key]  # type: ignore[return-value]
