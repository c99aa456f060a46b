from tests.fetch.conftest import server  # noqa: F401  (the counting loopback server fixture)
