from __future__ import annotations

import ipaddress
import socket

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


def _is_loopback(address) -> bool:
    if isinstance(address, (str, bytes)):  # AF_UNIX path
        return True
    host = address[0]
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return host == "localhost"


class NonLoopbackConnection(AssertionError):
    """A test tried to open a connection outside 127.0.0.0/8 / ::1."""


def loopback_only_socket(addr_info):
    """aiohttp TCPConnector socket_factory for tests: refuses non-loopback targets
    instead of sending traffic, so an SSRF bug fails the test."""
    family, type_, proto, _, sockaddr = addr_info
    if not _is_loopback(sockaddr):
        raise NonLoopbackConnection(f"attempted connection to {sockaddr[0]}")
    return socket.socket(family, type_, proto)


@pytest.fixture(autouse=True)
def _no_traffic_outside_loopback(monkeypatch):
    """Every test: a connect() to a non-loopback address raises instead of sending."""
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address):
            raise NonLoopbackConnection(f"attempted connection to {address!r}")
        return real_connect(self, address)

    def connect_ex(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address):
            raise NonLoopbackConnection(f"attempted connection to {address!r}")
        return real_connect_ex(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
