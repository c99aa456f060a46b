"""Spawning ai.txt: a robots-like file at ``/ai.txt``.

Parsed with the robots.txt group rules (`robots.parse_groups`: junk lines
skipped, our token's group replaces ``*``, conservative mode also checks the
AI-training tokens). Patterns without a leading ``/`` get one (``*.jpg`` →
``/*.jpg``). Longest match wins, allow wins ties, as in robots.txt.

Case policy: extension-only patterns (``/*.jpg``, ``*.JPG$``) match the URL
case-insensitively, so ``Disallow: *.jpg`` also refuses ``/A.JPG`` (ai.txt
generators list lower-case extensions; servers serve both). Every other pattern
is case-sensitive like robots.txt.

A 2xx file is a signal (allowed when nothing refuses); 4xx/5xx/network error →
unknown (no file, no statement).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from grassroots.rights.fetcher import FetchedText
from grassroots.rights.patterns import PathPattern
from grassroots.rights.robots import Group, parse_groups, select_rules
from grassroots.rights.signals import Signal, allowed, refused, unknown
from grassroots.schema import Reason
from grassroots.urls import path_and_query

_EXTENSION_ONLY = re.compile(r"/\*\.[A-Za-z0-9]+\$?")


@lru_cache(maxsize=4096)
def compile_rule(pattern: str) -> PathPattern:
    if not pattern.startswith("/"):
        pattern = "/" + pattern
    return PathPattern(pattern, ignore_case=_EXTENSION_ONLY.fullmatch(pattern) is not None)


@dataclass
class AiTxt:
    groups: list[Group] | None  # None: no file
    detail: str = "ai.txt"
    transient: bool = False  # 5xx / network error: cached only host_file_retry_s

    def disallowed(self, url: str, token: str) -> str | None:
        """The deciding disallow pattern for ``token``, or None when allowed."""
        rules = select_rules(self.groups or [], token)
        if not rules:
            return None
        path = path_and_query(url)
        best: tuple[int, bool, str] | None = None  # (length, allow, pattern)
        for rule in rules:
            compiled = compile_rule(rule.pattern)
            if compiled.matches(path):
                key = (compiled.length, rule.allow, rule.pattern)
                if best is None or key[:2] > best[:2]:
                    best = key
        return best[2] if best and not best[1] else None


def ai_txt_from_fetch(fetched: FetchedText, max_bytes: int = 512 * 1024) -> AiTxt:
    if fetched.status is not None and 200 <= fetched.status < 300:
        text = fetched.body[:max_bytes].decode("utf-8", errors="replace")
        return AiTxt(parse_groups(text))
    transient = fetched.status is None or fetched.status >= 500
    return AiTxt(None, f"no ai.txt ({fetched.status or fetched.error})", transient)


def ai_txt_signal(ai: AiTxt, url: str, tokens: tuple[str, ...], role: str) -> Signal:
    if ai.groups is None:
        return unknown(Reason.AI_TXT, f"{role}: {ai.detail}")
    for token in tokens:
        pattern = ai.disallowed(url, token)
        if pattern is not None:
            return refused(Reason.AI_TXT, f"{role}: {token} Disallow {pattern}")
    return allowed(Reason.AI_TXT, f"{role}: not disallowed")
