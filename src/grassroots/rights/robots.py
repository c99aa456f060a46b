"""robots.txt (RFC 9309) for the image host and the page host.

Group selection is ours, path matching is protego's. Where protego deviates
from RFC 9309 we work around it (tests in tests/rights/test_robots.py):

- protego picks a group whose user-agent is a *substring* of the queried name
  (``User-agent: Grassroots`` would apply to GrassrootsBot) and misses
  ``User-agent: GPTBot/1.0``. We select groups ourselves: the product token of a
  ``User-agent`` line is its leading run of ``[A-Za-z0-9_-]``, compared
  case-insensitively and in full with ours (digits included, so ``img2dataset``
  matches literally). Groups naming the same token merge; a matching group
  replaces ``*``; no match and no ``*`` → no rules.
- protego turns ``Allow: /dir/index.html`` into an extra ``Allow: /dir/$``. We
  append ``*`` to such allow patterns (a no-op for matching; the rule then counts
  one octet longer in the longest-match rule).

Then the selected rules go to protego under ``User-agent: *``, which gives us
longest match in octets, allow on ties, ``*`` and ``$``, percent-encoding
normalisation and ``/robots.txt`` always allowed.

Fetch status: 2xx → parse (first `RightsConfig.host_file_max_bytes`, the last
partial line dropped); 4xx except 429 → no restrictions; 429, 5xx, other status,
timeout, network error, more than 5 redirects → disallow all, kept
``host_file_retry_s`` then retried.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from protego import Protego

from grassroots.rights.fetcher import FetchedText
from grassroots.rights.signals import Signal, allowed, refused, unknown
from grassroots.schema import Reason

_TOKEN = re.compile(r"[A-Za-z0-9_-]+")
_UA_FIELDS = {"user-agent", "useragent", "user agent"}
_ALLOW_FIELDS = {"allow"}
_DISALLOW_FIELDS = {"disallow", "dissallow", "dissalow", "disalow", "diasllow", "disallaw"}


@dataclass(frozen=True)
class Rule:
    allow: bool
    pattern: str


@dataclass(frozen=True)
class Group:
    tokens: tuple[str, ...]  # lower-case product tokens, "*" for the wildcard
    rules: tuple[Rule, ...]


def product_token(value: str) -> str | None:
    value = value.strip()
    if value.startswith("*"):
        return "*"
    m = _TOKEN.match(value)
    return m.group(0).lower() if m else None


def parse_groups(text: str) -> list[Group]:
    """Split a robots-like file into groups. Unknown and malformed lines are skipped."""
    groups: list[Group] = []
    tokens: list[str] = []
    rules: list[Rule] = []
    in_rules = False
    for raw in text.lstrip("\ufeff").splitlines():
        line = raw.split("#", 1)[0].strip()
        if ":" not in line:
            continue
        name, value = (part.strip() for part in line.split(":", 1))
        name = name.lower()
        if name in _UA_FIELDS:
            if in_rules:  # a user-agent line after rules starts a new group
                groups.append(Group(tuple(tokens), tuple(rules)))
                tokens, rules, in_rules = [], [], False
            token = product_token(value)
            if token:
                tokens.append(token)
        elif name in _ALLOW_FIELDS or name in _DISALLOW_FIELDS:
            in_rules = True
            if value and tokens:  # an empty Disallow allows everything: no rule
                rules.append(Rule(name in _ALLOW_FIELDS, value))
    if tokens:
        groups.append(Group(tuple(tokens), tuple(rules)))
    return groups


def select_rules(groups: list[Group], token: str) -> tuple[Rule, ...] | None:
    """Rules for ``token``: merged groups naming it, else merged ``*`` groups, else None."""
    token = token.lower()
    for wanted in (token, "*"):
        chosen = [g for g in groups if wanted in g.tokens]
        if chosen:
            return tuple(r for g in chosen for r in g.rules)
    return None


def _protego_text(rules: tuple[Rule, ...]) -> str:
    lines = ["User-agent: *"]
    for r in rules:
        pattern = r.pattern
        if r.allow and pattern.endswith("index.html"):
            pattern += "*"  # keep protego from adding "Allow: <dir>/$"
        lines.append(f"{'Allow' if r.allow else 'Disallow'}: {pattern}")
    return "\n".join(lines) + "\n"


@dataclass
class RobotsFile:
    """One host's robots.txt as fetched: rules, allow-all (4xx) or disallow-all."""

    kind: str  # "rules" | "allow_all" | "disallow_all"
    detail: str = ""
    groups: list[Group] = field(default_factory=list)
    _parsers: dict[str, Protego | None] = field(default_factory=dict, repr=False)
    _rules: dict[str, tuple[Rule, ...] | None] = field(default_factory=dict, repr=False)

    @property
    def is_error(self) -> bool:
        return self.kind == "disallow_all"

    @classmethod
    def parse(cls, text: str) -> RobotsFile:
        return cls("rules", "robots.txt", parse_groups(text))

    def parser_for(self, token: str) -> Protego | None:
        """The protego parser for ``token``'s rules (None: no rules). Tokens that
        select the same rules (typically all falling back to ``*``) share one."""
        key = token.lower()
        if key not in self._parsers:
            rules = select_rules(self.groups, key)
            shared = next((p for t, p in self._parsers.items() if self._rules[t] == rules), None)
            self._rules[key] = rules
            self._parsers[key] = shared or (Protego.parse(_protego_text(rules)) if rules else None)
        return self._parsers[key]

    def can_fetch(self, url: str, token: str) -> bool:
        if self.kind != "rules":
            return self.kind == "allow_all"
        parser = self.parser_for(token)
        return parser is None or parser.can_fetch(url, "grassroots-internal")


def robots_from_fetch(fetched: FetchedText, max_bytes: int = 512 * 1024) -> RobotsFile:
    status = fetched.status
    if status is None:
        return RobotsFile("disallow_all", f"robots.txt unreachable ({fetched.error or 'error'})")
    if 200 <= status < 300:
        body = fetched.body
        if len(body) >= max_bytes:  # truncated: drop the partial last line
            body = body[:max_bytes].rpartition(b"\n")[0]
        return RobotsFile.parse(body.decode("utf-8", errors="replace"))
    if 400 <= status < 500 and status != 429:
        return RobotsFile("allow_all", f"no robots.txt ({status})")
    return RobotsFile("disallow_all", f"robots.txt unavailable ({status})")


def robots_signal(robots: RobotsFile, url: str, tokens: tuple[str, ...], role: str) -> Signal:
    """``role`` is "image" or "page"; the detail names it and the refusing token."""
    if robots.kind == "disallow_all":
        return refused(Reason.ROBOTS_UNREACHABLE, f"{role}: {robots.detail}, disallow all")
    if robots.kind == "allow_all":
        return unknown(Reason.ROBOTS_TXT, f"{role}: {robots.detail}")
    decided: dict[int, bool] = {}  # one protego evaluation per distinct rule set
    for token in tokens:
        parser = robots.parser_for(token)
        if id(parser) not in decided:
            decided[id(parser)] = robots.can_fetch(url, token)
        if not decided[id(parser)]:
            return refused(Reason.ROBOTS_TXT, f"{role}: {token} disallowed {url}")
    extra = f" + {len(tokens) - 1} AI tokens" if len(tokens) > 1 else ""
    return allowed(Reason.ROBOTS_TXT, f"{role}: {tokens[0]}{extra} allowed")
