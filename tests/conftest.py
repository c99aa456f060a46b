from __future__ import annotations

import ipaddress
import socket

import pytest

from grassroots.accounting import accounting_problems


def assert_accounted(dataset) -> None:
    """candidates == kept + sum(drops by reason), per shard and in total, and the
    per-sample ledger agrees with the stats (see grassroots.ledger)."""
    from tests.toy_stage import ToyStage

    problems = accounting_problems(str(dataset), steps=(ToyStage,))
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


def _numeric_or_localhost(host) -> bool:
    if host is None:
        return True
    h = host.decode() if isinstance(host, bytes) else str(host)
    if h == "localhost":
        return True
    try:
        ipaddress.ip_address(h.strip("[]").split("%", 1)[0])
        return True
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def _no_traffic_outside_loopback(monkeypatch):
    """Every test: a TCP connect() to a non-loopback address, or a DNS lookup of a
    name, raises instead of leaving the machine — and is recorded, so the test
    fails at teardown even if the code under test swallowed the exception."""
    attempts: list = []
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def guarded(real):
        def connect(self, address):
            if (self.family in (socket.AF_INET, socket.AF_INET6) and self.type == socket.SOCK_STREAM
                    and not _is_loopback(address)):
                attempts.append(address)
                raise NonLoopbackConnection(f"attempted connection to {address!r}")
            return real(self, address)
        return connect

    def getaddrinfo(host, *args, **kwargs):
        if not _numeric_or_localhost(host):
            attempts.append(("dns", host))
            raise socket.gaierror(socket.EAI_NONAME, f"tests may not resolve {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", guarded(real_connect))
    monkeypatch.setattr(socket.socket, "connect_ex", guarded(real_connect_ex))
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield
    assert not attempts, f"the test tried to reach outside loopback: {attempts}"
