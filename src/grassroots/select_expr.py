"""The ``--where`` expression of ``grassroots select``: a boolean expression over
attribute columns, checked token by token before DuckDB sees it, and cut into
its top-level AND clauses so a dropped sample can name the first one it failed.

Allowed: column names, numbers, 'strings', comparisons (= != <> < <= > >=),
arithmetic, AND / OR / NOT, IS [NOT] NULL, BETWEEN ... AND ..., IN (...), LIKE,
TRUE / FALSE, parentheses and a few functions (abs, length, lower, upper,
coalesce, least, greatest). Anything else (``;``, comments, quoted identifiers,
subqueries, functions that read files) is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from grassroots.errors import InputError

KEYWORDS = {"and", "or", "not", "is", "null", "true", "false", "between", "in", "like"}
FUNCTIONS = {"abs", "length", "lower", "upper", "coalesce", "least", "greatest"}
_TOKEN = re.compile(r"""\s+|(?P<str>'(?:[^']|'')*')|(?P<num>\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+)|"""
                    r"""(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<op><=|>=|<>|!=|=|<|>|\(|\)|,|\+|-|\*|/|%)""")


@dataclass(frozen=True)
class Clause:
    name: str  # the first column it names: the reason suffix (filtered:<name>)
    sql: str


def tokens(expr: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if m is None:
            raise InputError("--where", f"cannot use {expr[pos:pos + 12]!r} (at character {pos + 1})",
                             "write a boolean expression over attribute columns, e.g. "
                             "\"clip >= 0.28 AND neardup_representative\"")
        if m.lastgroup:
            out.append((m.lastgroup, m.group(m.lastgroup)))
        pos = m.end()
    return out


def parse(expr: str, columns: list[str]) -> list[Clause]:
    """The expression's top-level AND clauses; InputError for anything not allowed."""
    toks = tokens(expr)
    if not toks:
        raise InputError("--where", "is empty", "e.g. --where \"clip >= 0.28\"")
    known = {c.lower(): c for c in columns}
    clauses: list[list[str]] = [[]]
    names: list[str | None] = [None]
    depth, between = 0, False
    for i, (kind, text) in enumerate(toks):
        low = text.lower()
        if kind == "name":
            follows_paren = i + 1 < len(toks) and toks[i + 1][1] == "("
            if follows_paren and low not in FUNCTIONS:
                raise InputError("--where", f"function {text!r} is not allowed",
                                 f"allowed: {', '.join(sorted(FUNCTIONS))}")
            if not follows_paren and low not in KEYWORDS and low not in known:
                raise InputError("--where", f"unknown column {text!r}",
                                 f"available columns: {', '.join(sorted(columns))}")
            if low == "between":
                between = True
            if low == "and" and depth == 0:
                if between:
                    between = False
                else:
                    clauses.append([])
                    names.append(None)
                    continue
            if low in known and names[-1] is None and not follows_paren:
                names[-1] = known[low]
        elif text == "(":
            depth += 1
        elif text == ")":
            depth -= 1
            if depth < 0:
                raise InputError("--where", "unbalanced parentheses")
        clauses[-1].append(text)
    if depth != 0:
        raise InputError("--where", "unbalanced parentheses")
    if any(not c for c in clauses):
        raise InputError("--where", "an AND with nothing on one side")
    return [Clause(name or f"clause{i + 1}", " ".join(c)) for i, (name, c) in enumerate(zip(names, clauses))]
