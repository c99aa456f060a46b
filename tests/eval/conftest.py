from __future__ import annotations

import pytest

from grassroots.models.clip import init_checkpoint
from tests.eval.helpers import train_tiny


@pytest.fixture(scope="session")
def trained(tmp_path_factory) -> str:
    """grassroots-tiny after a few seconds of training: zero-shot numbers above chance."""
    return train_tiny(str(tmp_path_factory.mktemp("weights") / "trained.pt"))


@pytest.fixture(scope="session")
def random_tiny(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("weights") / "random.pt"
    init_checkpoint("grassroots-tiny", str(path), seed=0)
    return str(path)
