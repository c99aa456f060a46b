"""TDMRep (W3C CG final report, 2024-05-10): tdmrep.json, HTTP headers, HTML meta.

Channels in increasing precedence: ``/.well-known/tdmrep.json`` < response
headers < page ``<meta>``. The effective value comes from the highest channel
that has one; a channel without a value (absent, malformed, ``"1"``, ``true``)
never resets a lower one. ``tdm-reservation: 1`` refuses, ``0`` is allowed,
unset is unknown (never "allowed"). The ``tdm-policy`` URL of the deciding
channel is recorded in the signal detail when the reservation is 1.

tdmrep.json is a JSON array of ``{"location", "tdm-reservation", "tdm-policy"?}``;
locations are robots-style patterns (`patterns.PathPattern`, case-sensitive,
matched from the path start) and the FIRST matching entry in array order wins.
Entries that are not objects, lack a string location or have a reservation other
than the integers 0/1 are skipped. A file that is not a JSON array (or a 4xx/5xx,
network error) gives no value for the whole host.

The image host's file is checked for the image URL and the page host's file for
the page URL; if both have a value, 1 wins (conservative).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from grassroots.rights import page_signals as ps
from grassroots.rights.fetcher import FetchedText
from grassroots.rights.patterns import PathPattern
from grassroots.rights.signals import Signal, allowed, refused, unknown
from grassroots.rights.x_robots import header_values
from grassroots.schema import Reason
from grassroots.urls import path_and_query


@dataclass(frozen=True)
class TdmValue:
    """One channel's say: reservation 0/1 or None (unset), policy URL, where from."""

    reservation: int | None = None
    policy: str | None = None
    source: str = ""


def parse_reservation(value: object) -> int | None:
    """JSON: only the integers 0 and 1 (not "1", not true). Text (headers, meta):
    only "0" and "1"."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and value in (0, 1):
        return value
    if isinstance(value, str) and value.strip() in ("0", "1"):
        return int(value.strip())
    return None


@dataclass(frozen=True)
class TdmRepFile:
    rules: tuple[tuple[PathPattern, int, str | None], ...] = ()
    detail: str = "no tdmrep.json"
    transient: bool = False  # 5xx / network error: cached only host_file_retry_s

    def lookup(self, url: str) -> TdmValue:
        path = path_and_query(url)
        for pattern, reservation, policy in self.rules:
            if pattern.matches(path):
                return TdmValue(reservation, policy, f"tdmrep.json location {pattern.text}")
        return TdmValue(source=self.detail)


def parse_tdmrep_json(body: bytes) -> TdmRepFile:
    try:
        data = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError):
        return TdmRepFile(detail="tdmrep.json malformed")
    if not isinstance(data, list):
        return TdmRepFile(detail="tdmrep.json not an array")
    rules = []
    for entry in data:
        if not isinstance(entry, dict) or not isinstance(entry.get("location"), str):
            continue
        reservation = entry.get("tdm-reservation")
        if isinstance(reservation, str):  # "1" as a string is not a value in JSON
            continue
        reservation = parse_reservation(reservation)
        if reservation is None:
            continue
        policy = entry.get("tdm-policy")
        policy = policy if isinstance(policy, str) else None
        rules.append((PathPattern(entry["location"]), reservation, policy))
    return TdmRepFile(tuple(rules), "tdmrep.json: no matching location")


def tdmrep_from_fetch(fetched: FetchedText) -> TdmRepFile:
    if fetched.status is not None and 200 <= fetched.status < 300:
        return parse_tdmrep_json(fetched.body)
    transient = fetched.status is None or fetched.status >= 500
    return TdmRepFile(detail=f"no tdmrep.json ({fetched.status or fetched.error})", transient=transient)


def combine_files(values: Sequence[TdmValue]) -> TdmValue:
    """Image-host and page-host file values → one file channel (1 wins, then 0)."""
    for wanted in (1, 0):
        for v in values:
            if v.reservation == wanted:
                return v
    return TdmValue(source="; ".join(dict.fromkeys(v.source for v in values if v.source)))


def _text_channel(reservation: str | None, policy: str | None, source: str) -> TdmValue:
    return TdmValue(parse_reservation(reservation) if reservation is not None else None,
                    (policy or "").strip() or None, source)


def from_headers(headers: Mapping[str, str]) -> TdmValue:
    res, pol = header_values(headers, "tdm-reservation"), header_values(headers, "tdm-policy")
    return _text_channel(res[-1] if res else None, pol[-1] if pol else None, "header")


def from_page_signals(page_signals: Sequence[str]) -> TdmValue:
    reservation = policy = None
    for text in page_signals:
        kind, _, value = ps.parse_page_signal(text)
        if kind == ps.TDMREP:
            reservation = value
        elif kind == ps.TDM_POLICY:
            policy = value
    return _text_channel(reservation, policy, "html meta")


@dataclass(frozen=True)
class TdmChannels:
    """The three channels, carried from pre_fetch to post_fetch."""

    file: TdmValue = TdmValue()
    header: TdmValue = TdmValue()
    meta: TdmValue = TdmValue()

    def with_header(self, header: TdmValue) -> TdmChannels:
        return replace(self, header=header)

    def signal(self) -> Signal:
        ordered = [c for c in (self.meta, self.header, self.file) if c.reservation is not None]
        if not ordered:
            return unknown(Reason.TDMREP, f"unset ({self.file.source})" if self.file.source else "unset")
        win = ordered[0]
        overridden = [f"{c.source}={c.reservation}" for c in ordered[1:] if c.reservation != win.reservation]
        detail = f"{win.source}={win.reservation}"
        if overridden:
            detail += f" (overrides {', '.join(overridden)})"
        if win.reservation == 1:
            if win.policy:
                detail += f" policy={win.policy}"
            return refused(Reason.TDMREP, detail)
        return allowed(Reason.TDMREP, detail)
