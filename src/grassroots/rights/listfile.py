"""Reading the user's line-based list files (opt-out registry, hash blocklist)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from grassroots import io
from grassroots.errors import InputError


def add_lines(paths: Iterable[str | Path], add_line: Callable[[str], None], hint: str) -> None:
    """Feed every line of every file (local or fsspec) to ``add_line``; a line it
    rejects (ValueError) stops the run with the file, the row and what was wrong."""
    for path in paths:
        if not io.exists(str(path)):
            raise InputError(str(path), "no such file")
        for n, line in enumerate(io.read_text(str(path)).splitlines(), 1):
            try:
                add_line(line)
            except ValueError as e:
                raise InputError(str(path), str(e), hint, row=n) from e
