import pytest

from grassroots.miniweb import MiniWeb


@pytest.fixture(scope="module")
def web():
    with MiniWeb(seed=0, hosts=8) as w:
        yield w
