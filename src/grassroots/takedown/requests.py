"""Opt-out and takedown requests: the one record format of DATASET/takedowns/requests.jsonl,
its validation and its append; list files; both read into one TakedownAsk.

The requests queue, ``DATASET/takedowns/requests.jsonl``: written by ``append_request``
(the search page's opt-out form, ``POST /api/optout`` of ``grassroots serve``, goes through
it), read by ``grassroots takedown --requests``. UTF-8, one JSON object per line, appended,
never rewritten. Blank lines are skipped. Fields (``Request.to_dict`` writes them in this order):

    id       string, required, unique in the file: the request's identifier
             (takedown.json lists the ids it handled; new_request makes "r-20250801-3f9c2a1b0d4e")
    time     string, required: when it was received, ISO 8601 with a time zone
             (e.g. "2025-08-01T12:03:00Z")
    release  string or null: the release the requester was looking at (the served one;
             keys are the dataset's, so they hold in later releases too)
    name     string or null, at most 200 characters: who asks (kept in the queue only:
             never copied into a release)
    contact  string or null, at most 320 characters: how to reach them (likewise)
    reason   string, required, one of RequestReason's values:
             "opt-out" | "copyright" | "privacy" | "illegal-content" | "other"
    details  string or null, at most 4000 characters: the requester's own words (queue only)
    remove   object, required, at least one non-empty list; every list optional
             (at most 1000 values each; written in their normal form, all six lists):
               keys     sample keys (digits, as the search API returns them)
               urls     image or page URLs (matched like an opt-out registry URL:
                        normalised, scheme-less, image URL, final URL or page URL)
               domains  domains (the domain and all its subdomains)
               sha256   64 hex digits of the original image bytes (or of the stored copy)
               md5      32 hex digits, likewise
               pdq      64 hex digits: a PDQ hash; matches within the blocklist distance (31)

    {"id": "r-1", "time": "2025-08-01T12:03:00Z", "release": "v1", "name": "A. Artist",
     "contact": "a@example.org", "reason": "opt-out", "details": null,
     "remove": {"keys": [], "urls": ["https://example.org/art/cat.jpg"], "domains": [],
                "sha256": [], "md5": [], "pdq": ["f8f0..."]}}

List files (``--keys --urls --domains --sha256 --md5 --pdq``): one value per line, blank
lines and ``#`` comments skipped; a PDQ line may carry its quality after a comma.
A bad line stops the takedown with the file, the line and what was wrong.
"""

from __future__ import annotations

import datetime as dt
import enum
import fcntl
import json
import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from grassroots import io
from grassroots.errors import InputError
from grassroots.urls import host_of, normalise_url

KINDS = ("keys", "urls", "domains", "sha256", "md5", "pdq")
FORMAT_HINT = "see the requests.jsonl format in grassroots/takedown/requests.py"
# A record's bounds (the serve API's models use these numbers too).
MAX_NAME, MAX_CONTACT, MAX_DETAILS = 200, 320, 4000
MAX_VALUES = 1000  # values in one list
MAX_VALUE = 2048  # characters in one value (a URL)
HEX_DIGITS = {"sha256": 64, "md5": 32, "pdq": 64}
PATTERNS = {"keys": r"^[0-9]{1,32}$", **{k: f"^[0-9a-fA-F]{{{n}}}$" for k, n in HEX_DIGITS.items()}}


class RequestReason(str, enum.Enum):
    OPT_OUT = "opt-out"  # a creator withdraws their work from AI training
    COPYRIGHT = "copyright"
    PRIVACY = "privacy"  # personal data, images of a person
    ILLEGAL_CONTENT = "illegal-content"
    OTHER = "other"


def check_value(kind: str, value: str) -> str:
    """The value in its normal form; ValueError saying what is wrong."""
    value = value.strip()
    if len(value) > MAX_VALUE:
        raise ValueError(f"a value is at most {MAX_VALUE} characters, got {len(value)}")
    if kind == "keys":
        if not re.fullmatch(PATTERNS["keys"], value):
            raise ValueError(f"a key is 1 to 32 digits, got {value!r}")
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
    if kind in HEX_DIGITS:
        if not re.fullmatch(PATTERNS[kind], value):
            raise ValueError(f"{kind} needs {HEX_DIGITS[kind]} hex digits, got {value!r}")
        return value.lower()
    raise ValueError(f"unknown kind {kind!r} (use one of {', '.join(KINDS)})")


@dataclass(frozen=True)
class Request:
    """One line of requests.jsonl, validated and in normal form (make it with
    validate_request or new_request)."""

    id: str
    time: str
    reason: RequestReason
    remove: tuple[tuple[str, tuple[str, ...]], ...]  # (kind, values) for every kind, in KINDS order
    name: str | None = None
    contact: str | None = None
    details: str | None = None
    release: str | None = None

    def to_dict(self) -> dict:
        return {"id": self.id, "time": self.time, "release": self.release, "name": self.name,
                "contact": self.contact, "reason": self.reason.value, "details": self.details,
                "remove": {kind: list(values) for kind, values in self.remove}}


def _text(doc: dict, name: str, limit: int) -> str | None:
    value = doc.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise ValueError(f"'{name}' must be a string of at most {limit} characters, or null")
    return value.strip() or None


def validate_request(doc: object) -> Request:
    """A request from its JSON object (a line of requests.jsonl); ValueError saying what is wrong."""
    if not isinstance(doc, dict):
        raise ValueError("a request is a JSON object")
    unknown = sorted(set(doc) - {"id", "time", "release", "name", "contact", "reason", "details", "remove"})
    if unknown:
        raise ValueError(f"unknown fields {unknown} (use id, time, release, name, contact, reason, details, remove)")
    rid = doc.get("id")
    if not isinstance(rid, str) or not rid.strip() or len(rid) > 100:
        raise ValueError("'id' must be a non-empty string of at most 100 characters")
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
        raise ValueError(f"'remove' must be an object of lists ({', '.join(KINDS)})")
    unknown = sorted(set(remove) - set(KINDS))
    if unknown:
        raise ValueError(f"'remove' has unknown fields {unknown} (use {', '.join(KINDS)})")
    lists = []
    for kind in KINDS:
        values = remove.get(kind) or []
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise ValueError(f"'remove.{kind}' must be a list of strings")
        if len(values) > MAX_VALUES:
            raise ValueError(f"'remove.{kind}' has {len(values)} values (at most {MAX_VALUES})")
        try:
            normal = tuple(dict.fromkeys(check_value(kind, v) for v in values))
        except ValueError as e:
            raise ValueError(f"'remove.{kind}': {e}") from None
        lists.append((kind, normal))
    if not any(values for _, values in lists):
        raise ValueError("'remove' names nothing to remove")
    return Request(rid.strip(), str(when), reason, tuple(lists), name=_text(doc, "name", MAX_NAME),
                   contact=_text(doc, "contact", MAX_CONTACT), details=_text(doc, "details", MAX_DETAILS),
                   release=_text(doc, "release", 100))


def parse_request(line: str) -> Request:
    """One requests.jsonl line; ValueError saying what is wrong."""
    try:
        doc = json.loads(line)
    except json.JSONDecodeError as e:
        raise ValueError(f"not JSON ({e.msg})") from None
    return validate_request(doc)


def new_request(reason: str, remove: dict[str, list[str]], *, name: str | None = None, contact: str | None = None,
                details: str | None = None, release: str | None = None) -> Request:
    """A request received now, with a fresh id; validated like a line of the queue."""
    now = dt.datetime.now(dt.timezone.utc)
    return validate_request({"id": f"r-{now:%Y%m%d}-{secrets.token_hex(6)}", "time": f"{now:%Y-%m-%dT%H:%M:%SZ}",
                             "release": release, "name": name, "contact": contact,
                             "reason": getattr(reason, "value", reason), "details": details, "remove": remove})


def append_request(path: str, request: Request) -> None:
    """Append one request to the queue: one ``write`` of the whole line to a file opened
    with O_APPEND, under an exclusive ``flock``, then fsync. Concurrent appends (threads or
    processes: each opens the file, so each holds its own lock) never interleave, and
    nothing already in the file is rewritten. The queue lives on a local disk."""
    if not io.is_local(path):
        raise InputError(path, "the requests queue must be on a local disk",
                         "serve a dataset directory that is a local path")
    line = (json.dumps(request.to_dict(), ensure_ascii=False) + "\n").encode()
    local = io.fs_and_path(path)[1]
    os.makedirs(os.path.dirname(local), exist_ok=True)
    fd = os.open(local, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        if os.write(fd, line) != len(line):
            raise OSError(f"short write to {local}")
        os.fsync(fd)
    finally:
        os.close(fd)  # releases the lock


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


@dataclass(frozen=True)
class TakedownAsk:
    """Everything to remove: (kind, value) -> where it was asked ("request:<id>" or "file:<path>")."""

    entries: tuple[tuple[str, str, tuple[str, ...]], ...] = ()  # (kind, normal value, origins)
    requests: tuple[Request, ...] = ()
    file_reason: RequestReason = RequestReason.OTHER  # why the list files' values go (--reason)

    def illegal(self, origins: tuple[str, ...]) -> bool:
        """Whether values asked by ``origins`` are illegal content (the request's reason,
        or --reason for list files): nothing but their hashes may be kept."""
        bad = {f"request:{r.id}" for r in self.requests if r.reason is RequestReason.ILLEGAL_CONTENT}
        if self.file_reason is RequestReason.ILLEGAL_CONTENT:
            bad |= {o for o in origins if o.startswith("file:")}
        return any(o in bad for o in origins)

    def withheld(self, kind: str, value: str) -> bool:
        """A URL asked as illegal content: published files name its hash, not the URL."""
        return kind == "urls" and self.illegal(self.origins(kind, value))

    def values(self, kind: str) -> list[str]:
        return [v for k, v, _ in self.entries if k == kind]

    def origins(self, kind: str, value: str) -> tuple[str, ...]:
        return next((o for k, v, o in self.entries if k == kind and v == value), ())

    def __len__(self) -> int:
        return len(self.entries)

    def public_config(self) -> dict:
        """For manifest.json: what was asked (``to_dict``), why, and the request ids; never
        a requester's name or contact, a list file's local path, or a withheld URL."""
        return {"asked": self.to_dict(), "file_reason": self.file_reason.value,
                "requests": [{"id": r.id, "reason": r.reason.value} for r in self.requests]}

    def to_dict(self) -> dict:
        """What was asked, for takedown.json: a withheld URL as ``url_sha256:<hex>``."""
        from grassroots.rights.blocklist import url_hash

        return {kind: [f"url_sha256:{url_hash(v)}" if self.withheld(kind, v) else v for v in self.values(kind)]
                for kind in KINDS}


@dataclass
class AskBuilder:
    found: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    file_reason: RequestReason = RequestReason.OTHER

    def add(self, kind: str, value: str, origin: str) -> None:
        origins = self.found.setdefault((kind, check_value(kind, value)), [])
        if origin not in origins:
            origins.append(origin)

    def build(self) -> TakedownAsk:
        order = {k: i for i, k in enumerate(KINDS)}
        entries = sorted(((k, v, tuple(o)) for (k, v), o in self.found.items()), key=lambda e: (order[e[0]], e[1]))
        return TakedownAsk(tuple(entries), tuple(self.requests), self.file_reason)


def add_hash_lists(ask: AskBuilder, paths: list[str | Path]) -> None:
    """Hash lists in their exchange formats (grassroots.rights.blocklist reads them: one hash
    a line with or without a type, TYPE:HASH, CSV/TSV with a hash column; MD5, SHA-1,
    SHA-256, PDQ with a quality): their md5, sha256 and PDQ values join the ask. SHA-1 and
    URL hashes cannot be matched against a dataset (the ledger records neither): one clear
    error when a list holds nothing else."""
    from grassroots.rights.blocklist import Blocklist

    for path in map(str, paths):
        if not io.exists(path):
            raise InputError(path, "no such file", "the hash list given with --hash-list")
        try:
            listed = Blocklist.load([path], min_quality=0)
        except InputError:
            raise
        except ValueError as e:
            raise InputError(path, str(e), "see the formats in grassroots/rights/blocklist.py") from None
        values = [("sha256", v) for v in sorted(listed.sha256)] + [("md5", v) for v in sorted(listed.md5)]
        values += [("pdq", v) for v in listed.pdq_hex]
        if not values:
            raise InputError(path, "holds no md5, sha256 or PDQ hash a dataset can be matched against",
                             "SHA-1 and URL hashes are matched at download: `grassroots download ... --illegal-list`")
        for kind, value in values:
            ask.add(kind, value, f"file:{path}")


def build_ask(requests_path: str | None, files: dict[str, list[str | Path]],
              reason: RequestReason | str = RequestReason.OTHER, hash_lists: list[str | Path] = ()) -> TakedownAsk:
    """One TakedownAsk from the requests queue (when given), list files by kind and hash
    lists in their exchange formats; ``reason``: why the files' values go (a request
    carries its own)."""
    ask = AskBuilder(file_reason=RequestReason(reason))
    add_hash_lists(ask, list(hash_lists))
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
