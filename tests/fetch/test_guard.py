"""The SSRF guard's address decisions, every spelling."""

import ipaddress

import pytest

from grassroots.fetch.guard import AddressPolicy, parse_ip_literal

LOOPBACK_SPELLINGS = [
    "127.0.0.1", "127.0.0.2", "2130706433", "0x7f000001", "0x7F000001", "0177.0.0.1", "0177.0000.0000.0001",
    "127.1", "127.0.1", "0x7f.1", "017700000001", "[::1]", "::1", "[0:0:0:0:0:0:0:1]",
    "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "127.0.0.1.",
]
# Spellings yarl (and so aiohttp) turns into 127.0.0.1 via IDNA / NFKC.
UNICODE_LOOPBACK = ["１２７.０.０.１", "127。0。0。1", "①②⑦.0.0.1", "127．0．0．1"]
ALWAYS_REFUSED = [
    "169.254.169.254", "2852039166", "0xa9fea9fe", "0251.0376.0251.0376", "[::ffff:169.254.169.254]",
    "10.0.0.1", "167772161", "012.0.0.1", "172.16.0.1", "172.31.255.255", "192.168.1.1", "100.64.0.1",
    "0.0.0.0", "0", "[::]", "[fe80::1]", "[fe80::1%eth0]", "[fc00::1]", "[fd00:ec2::254]", "224.0.0.1",
    "255.255.255.255", "192.0.2.1", "[2002:7f00:1::]", "[::127.0.0.1]", "[2001:0:4136:e378:8000:63bf:80ff:fffe]",
]


@pytest.mark.parametrize("host", LOOPBACK_SPELLINGS)
def test_every_loopback_spelling_is_refused_unless_allowed(host):
    ip = parse_ip_literal(host)
    assert ip is not None, host
    assert AddressPolicy(allow_loopback=False).why_refused(ip)
    assert AddressPolicy(allow_loopback=True).why_refused(ip) is None


@pytest.mark.parametrize("host", ALWAYS_REFUSED)
def test_private_link_local_metadata_refused_even_with_allow_loopback(host):
    ip = parse_ip_literal(host)
    assert ip is not None, host
    assert AddressPolicy(allow_loopback=True).why_refused(ip)


def test_public_addresses_and_names():
    assert AddressPolicy().why_refused(ipaddress.ip_address("93.184.216.34")) is None
    assert parse_ip_literal("example.com") is None
    assert parse_ip_literal("0x7f.example") is None
    assert str(parse_ip_literal("0x7f000001")) == "127.0.0.1"
    assert "link-local" in AddressPolicy().why_refused(parse_ip_literal("169.254.169.254"))
