"""The user's cache folder for derived model files: $XDG_CACHE_HOME or ~/.cache, then
grassroots/. Callers name an entry by what it is derived from (package version, file size
and mtime), so an upgrade never reads a stale entry."""

from __future__ import annotations

import os
from pathlib import Path


def cache_path(tag: str) -> Path | None:
    """Where the entry ``tag`` lives; None when no absolute cache folder is known (never one
    relative to the working directory)."""
    root = Path(os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"))
    if not root.is_absolute():
        return None
    return root / "grassroots" / tag
