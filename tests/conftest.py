from __future__ import annotations

import pytest

from grassroots.ledger import accounting_problems


def assert_accounted(dataset) -> None:
    """candidates == kept + sum(drops by reason), per shard and in total, and the
    per-sample ledger agrees with the stats (see grassroots.ledger)."""
    problems = accounting_problems(str(dataset))
    assert not problems, "accounting invariant broken:\n" + "\n".join(problems)


@pytest.fixture
def accounted():
    return assert_accounted
