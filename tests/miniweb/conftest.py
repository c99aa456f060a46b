import pytest

from grassroots.miniweb import MiniWeb


@pytest.fixture(scope="session")
def web():
    with MiniWeb(seed=0, hosts=8) as w:
        yield w


