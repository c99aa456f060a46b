"""X-Robots-Tag response headers, and the directive rules shared with HTML meta.

Each header line is split at commas into items. An item ``token: rest`` whose
``token`` is a bot name (a single word of ``[a-z0-9_.-]``, not a valued
directive such as ``unavailable_after`` or ``max-image-preview``) scopes ``rest``
and every following item on that line to that bot. Unscoped items apply to
everyone. Everything is case-insensitive. Items that look like neither (the
tail of ``unavailable_after: Friday, 25-Jun-2010 ...``) are skipped and do not
change the scope.

``noai`` and ``noimageai`` refuse; ``noindex``, ``noimageindex`` and ``none``
refuse when ``honour_noindex``. Scopes that apply to us: unscoped, our token,
and (conservative mode) the AI-training tokens.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from grassroots.rights.config import RightsConfig
from grassroots.rights.signals import Signal, refused, unknown
from grassroots.schema import Reason

AI_DIRECTIVES = frozenset({"noai", "noimageai"})
INDEX_DIRECTIVES = frozenset({"noindex", "noimageindex", "none"})
VALUED_DIRECTIVES = frozenset(
    {"unavailable_after", "max-image-preview", "max-snippet", "max-video-preview"}
)
_BOT = re.compile(r"[a-z0-9_.-]+")

Scoped = tuple[str | None, str]  # (bot or None for everyone, directive)


def parse_directives(line: str) -> list[Scoped]:
    """One header line (or meta content) → [(scope, directive)], lower-cased."""
    out: list[Scoped] = []
    scope: str | None = None
    for item in line.split(","):
        item = " ".join(item.split()).lower()
        if not item:
            continue
        head, colon, rest = item.partition(":")
        head, rest = head.strip(), rest.strip()
        if not colon:
            if " " in item:  # "noindex nofollow" (space-separated, lenient) or junk
                out.extend((scope, word) for word in item.split() if _BOT.fullmatch(word))
            else:
                out.append((scope, item))
        elif head in VALUED_DIRECTIVES:
            out.append((scope, f"{head}:{rest}"))
        elif _BOT.fullmatch(head):
            scope = head
            if rest:
                out.append((scope, rest))
        # else: junk (e.g. the tail of a date that contained a comma): skip
    return out


def scopes_for(config: RightsConfig) -> frozenset[str | None]:
    return frozenset({None, *(t.lower() for t in config.tokens())})


def refusing(directive: str, config: RightsConfig) -> bool:
    return directive in AI_DIRECTIVES or (config.honour_noindex and directive in INDEX_DIRECTIVES)


def first_refusal(items: Iterable[Scoped], config: RightsConfig) -> str | None:
    """Detail of the first refusing directive that applies to us, or None."""
    applies = scopes_for(config)
    for scope, directive in items:
        if scope in applies and refusing(directive, config):
            return directive if scope is None else f"{scope}: {directive}"
    return None


def header_values(headers: Mapping[str, str] | Iterable[tuple[str, str]], name: str) -> list[str]:
    """All values of header ``name`` (case-insensitive) from a multidict, a dict
    or (name, value) pairs."""
    getall = getattr(headers, "getall", None)
    if getall is not None:
        return list(getall(name, []))
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    return [v for k, v in pairs if k.lower() == name.lower()]


def x_robots_signal(lines: list[str], config: RightsConfig) -> Signal:
    """Decide from the X-Robots-Tag header lines of an image response."""
    if not lines:
        return unknown(Reason.X_ROBOTS_TAG, "no header")
    items = [item for line in lines for item in parse_directives(line)]
    hit = first_refusal(items, config)
    if hit:
        return refused(Reason.X_ROBOTS_TAG, hit)
    return unknown(Reason.X_ROBOTS_TAG, "no opt-out directive: " + "; ".join(lines))
