"""The vocabulary every check speaks: `Outcome`, `Signal`, and reason precedence.

A `Signal` is what one protocol said about one sample. Its ledger form
(`Signal.to_str`, stored in the samples table's ``rights`` list column) is
``"<protocol>:<outcome>:<detail>"``: protocol is a `Reason` value
(``robots_txt``, ``x_robots_tag``, ...), outcome is ``refused`` / ``allowed`` /
``unknown``. Only the first two colons separate fields; the detail may contain
more (URLs). Every check that ran leaves a signal, permissive and unknown ones
too; ``unknown`` never counts as permission.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from grassroots.schema import Reason


class Outcome(str, enum.Enum):
    REFUSED = "refused"
    ALLOWED = "allowed"  # an explicit statement that permits (or a present file that does not refuse)
    UNKNOWN = "unknown"  # no signal: never to be reported as permission


# When several protocols refuse one sample, Verdict.reason is the first of these.
# Registry and blocklist first (user decisions / takedowns), then in check order.
REASON_PRECEDENCE: tuple[Reason, ...] = (
    Reason.REGISTRY,
    Reason.HASH_BLOCKLIST,
    Reason.ROBOTS_TXT,
    Reason.AI_TXT,
    Reason.TDMREP,
    Reason.HTML_META,
    Reason.X_ROBOTS_TAG,
    Reason.IPTC_XMP,
    Reason.C2PA,
    Reason.ROBOTS_UNREACHABLE,  # not an opt-out: any real refusal above names the reason
)


@dataclass(frozen=True)
class Signal:
    protocol: Reason  # the rights protocol that spoke (a refusal Reason)
    outcome: Outcome
    detail: str = ""

    @property
    def refused(self) -> bool:
        return self.outcome is Outcome.REFUSED

    @property
    def reason(self) -> Reason | None:
        """The refusal Reason, or None when the signal does not refuse."""
        return self.protocol if self.refused else None

    def to_str(self) -> str:
        detail = " ".join(self.detail.split())  # one line, no stray whitespace
        return f"{self.protocol.value}:{self.outcome.value}:{detail}"

    @classmethod
    def from_str(cls, text: str) -> Signal:
        protocol, outcome, detail = text.split(":", 2)
        return cls(Reason(protocol), Outcome(outcome), detail)


def refused(reason: Reason, detail: str) -> Signal:
    return Signal(reason, Outcome.REFUSED, detail)


def allowed(reason: Reason, detail: str) -> Signal:
    return Signal(reason, Outcome.ALLOWED, detail)


def unknown(reason: Reason, detail: str) -> Signal:
    return Signal(reason, Outcome.UNKNOWN, detail)
