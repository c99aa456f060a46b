"""RightsGate: how the downloader asks the rights layer, before and after a fetch.

(Provisional pass-through; wired to grassroots.rights.decide in the rights issue.)
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

from grassroots.schema import Reason


@dataclass
class GateDecision:
    refused: bool = False
    reason: Reason | None = None
    message: str | None = None
    signals: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RightsGate:
    enabled: bool = True

    @contextlib.asynccontextmanager
    async def open(self, fetcher):
        yield _GateSession()


class _GateSession:
    async def pre_fetch(self, url, page_url, page_signals) -> GateDecision:
        return GateDecision()

    async def post_fetch(self, pre: GateDecision, res, sha256=None, pdq=None) -> GateDecision:
        return pre
