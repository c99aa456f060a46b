"""What a takedown is asked to remove: opt-out requests and list files, read into one TakedownAsk.

The requests queue, ``DATASET/takedowns/requests.jsonl`` (written by the search page's
opt-out form, ``grassroots serve``; read by ``grassroots takedown --requests``): UTF-8,
one JSON object per line, appended, never rewritten. Blank lines are skipped. Fields:

    id       string, required, unique in the file: the request's identifier
             (takedown.json lists the ids it handled; e.g. "r-20250801-3f9c2a")
    time     string, required: when it was received, ISO 8601 with a time zone
             (e.g. "2025-08-01T12:03:00Z")
    name     string or null: who asks (kept in the queue only: never copied into a release)
    contact  string or null: how to reach them (likewise never copied into a release)
    remove   object, required, at least one non-empty list; every list optional:
               keys     sample keys (digits, as the search API returns them)
               urls     image or page URLs (matched like an opt-out registry URL:
                        normalised, scheme-less, image URL, final URL or page URL)
               domains  domains (the domain and all its subdomains)
               sha256   64 hex digits of the original image bytes (or of the stored copy)
               md5      32 hex digits, likewise
               pdq      64 hex digits: a PDQ hash; matches within the blocklist distance (31)
    reason   string, required, one of RequestReason's values:
             "opt-out" | "copyright" | "privacy" | "illegal-content" | "other"

    {"id": "r-1", "time": "2025-08-01T12:03:00Z", "name": "A. Artist", "contact": "a@example.org",
     "remove": {"urls": ["https://example.org/art/cat.jpg"], "pdq": ["f8f0..."]}, "reason": "opt-out"}

List files (``--keys --urls --domains --sha256 --md5 --pdq``): one value per line, blank
lines and ``#`` comments skipped; a PDQ line may carry its quality after a comma.
A bad line stops the takedown with the file, the line and what was wrong.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from grassroots import io
from grassroots.errors import InputError
from grassroots.urls import host_of, normalise_url

KINDS = ("keys", "urls", "domains", "sha256", "md5", "pdq")
FORMAT_HINT = "see the requests.jsonl format in grassroots/takedown/requests.py"


class RequestReason(str, enum.Enum):
    OPT_OUT = "opt-out"  # a creator withdraws their work from AI training
    COPYRIGHT = "copyright"
    PRIVACY = "privacy"  # personal data, images of a person
    ILLEGAL_CONTENT = "illegal-content"
    OTHER = "other"


_HEX = {"sha256": 64, "md5": 32, "pdq": 64}


def check_value(kind: str, value: str) -> str:
    """The value in its normal form; ValueError saying what is wrong."""
    value = value.strip()
    if kind == "keys":
        if not value.isdigit():
            raise ValueError(f"a key is digits only, got {value!r}")
        return value
    if kind == "urls":
        normal = normalise_url(value)
        if normal is None:
            raise ValueError(f"not an absolute http(s) URL: {value!r}")
        return normal
    if kind == "domains":
        host = host_of(f"http://{value.strip('.')}/")
        if not host or "/" in value:
            raise ValueError(f"not a domain name: {value!r}")
        return host
    value = value.lower()
    if kind in _HEX:
        if len(value) != _HEX[kind] or not re.fullmatch(r"[0-9a-f]+", value):
            raise ValueError(f"{kind} needs {_HEX[kind]} hex digits, got {value!r}")
        return value
    raise ValueError(f"unknown kind {kind!r} (use one of {', '.join(KINDS)})")


@dataclass(frozen=True)
class Request:
    id: str
    time: str
    reason: RequestReason
    remove: tuple[tuple[str, tuple[str, ...]], ...]  # (kind, values) in KINDS order


@dataclass(frozen=True)
class TakedownAsk:
    """Everything to remove: (kind, value) -> where it was asked ("request:<id>" or "file:<path>")."""

    entries: tuple[tuple[str, str, tuple[str, ...]], ...] = ()  # (kind, normal value, origins)
    requests: tuple[Request, ...] = ()

    def values(self, kind: str) -> list[str]:
        return [v for k, v, _ in self.entries if k == kind]

    def origins(self, kind: str, value: str) -> tuple[str, ...]:
        return next((o for k, v, o in self.entries if k == kind and v == value), ())

    def __len__(self) -> int:
        return len(self.entries)

    def to_dict(self) -> dict:
        return {kind: self.values(kind) for kind in KINDS}


@dataclass
class AskBuilder:
    found: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)

    def add(self, kind: str, value: str, origin: str) -> None:
        origins = self.found.setdefault((kind, check_value(kind, value)), [])
        if origin not in origins:
            origins.append(origin)

    def build(self) -> TakedownAsk:
        order = {k: i for i, k in enumerate(KINDS)}
        entries = sorted(((k, v, tuple(o)) for (k, v), o in self.found.items()), key=lambda e: (order[e[0]], e[1]))
        return TakedownAsk(tuple(entries), tuple(self.requests))


def parse_request(line: str) -> Request:
    """One requests.jsonl line; ValueError saying what is wrong."""
    try:
        doc = json.loads(line)
    except json.JSONDecodeError as e:
        raise ValueError(f"not JSON ({e.msg})") from None
    if not isinstance(doc, dict):
        raise ValueError("a request is a JSON object")
    rid = doc.get("id")
    if not isinstance(rid, str) or not rid.strip():
        raise ValueError("'id' must be a non-empty string")
    when = doc.get("time")
    try:
        parsed = dt.datetime.fromisoformat(str(when).replace("Z", "+00:00"))
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise ValueError(f"'time' must be ISO 8601 with a time zone, got {when!r}")
    try:
        reason = RequestReason(doc.get("reason"))
    except ValueError:
        raise ValueError(f"'reason' must be one of {', '.join(r.value for r in RequestReason)}, "
                         f"got {doc.get('reason')!r}") from None
    remove = doc.get("remove")
    if not isinstance(remove, dict):
        raise ValueError("'remove' must be an object of lists (keys, urls, domains, sha256, md5, pdq)")
    unknown = sorted(set(remove) - set(KINDS))
    if unknown:
        raise ValueError(f"'remove' has unknown fields {unknown} (use {', '.join(KINDS)})")
    lists = []
    for kind in KINDS:
        values = remove.get(kind) or []
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise ValueError(f"'remove.{kind}' must be a list of strings")
        lists.append((kind, tuple(check_value(kind, v) for v in values)))
    if not any(values for _, values in lists):
        raise ValueError("'remove' names nothing to remove")
    return Request(rid.strip(), str(when), reason, tuple(lists))


def read_requests(path: str) -> list[Request]:
    if not io.exists(path):
        raise InputError(path, "no takedown requests", "the search page's opt-out form writes them; "
                         "or pass lists with --urls, --keys, --sha256 ...")
    out, seen = [], set()
    for n, line in enumerate(io.read_text(path).splitlines(), 1):
        if not line.strip():
            continue
        try:
            req = parse_request(line)
        except ValueError as e:
            raise InputError(path, str(e), FORMAT_HINT, row=n) from None
        if req.id in seen:
            raise InputError(path, f"request id {req.id!r} appears twice", "ids must be unique", row=n)
        seen.add(req.id)
        out.append(req)
    return out


def build_ask(requests_path: str | None, files: dict[str, list[str | Path]]) -> TakedownAsk:
    """One TakedownAsk from the requests queue (when given) and list files by kind."""
    ask = AskBuilder()
    if requests_path is not None:
        for req in read_requests(requests_path):
            ask.requests.append(req)
            for kind, values in req.remove:
                for v in values:
                    ask.add(kind, v, f"request:{req.id}")
    for kind, paths in files.items():
        for path in paths:
            path = str(path)
            if not io.exists(path):
                raise InputError(path, "no such file", f"the list given for {kind}")
            for n, line in enumerate(io.read_text(path).splitlines(), 1):
                value = re.sub(r"(^|\s)#.*$", "", line).strip()
                if kind == "pdq":
                    value = re.split(r"[,\s]+", value)[0] if value else value
                if not value:
                    continue
                try:
                    ask.add(kind, value, f"file:{path}")
                except ValueError as e:
                    raise InputError(path, str(e), f"one {kind.rstrip('s')} per line", row=n) from None
    return ask.build()
