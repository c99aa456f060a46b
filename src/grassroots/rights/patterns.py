"""Robots-style path patterns for tdmrep.json and ai.txt (robots.txt uses protego).

``*`` matches any run of characters (including none and ``/``), a trailing ``$``
anchors the end, everything else is literal and matched from the start of the
path. Patterns and paths are compared after the same percent-encoding
normalisation (`grassroots.urls.normalise_percent`), so ``/%7Euser`` and ``/~user`` agree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from grassroots.urls import normalise_percent


@dataclass(frozen=True)
class PathPattern:
    """One compiled pattern. ``length`` is its size in octets, used by the
    longest-match rule (robots.txt, ai.txt)."""

    text: str
    ignore_case: bool = False
    length: int = field(init=False)
    _regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        normal = normalise_percent(self.text)
        anchored = normal.endswith("$")
        body = normal[:-1] if anchored else normal
        regex = ".*".join(re.escape(part) for part in body.split("*"))
        flags = re.DOTALL | (re.IGNORECASE if self.ignore_case else 0)
        object.__setattr__(self, "length", len(normal.encode()))
        object.__setattr__(self, "_regex", re.compile(regex + ("$" if anchored else ""), flags))

    def matches(self, path: str) -> bool:
        """``path`` must already be normalised (`grassroots.urls.path_and_query`)."""
        return self._regex.match(path) is not None
