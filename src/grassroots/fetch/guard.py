"""SSRF guard: decide whether an address may be connected to, before connecting.

Allowed: globally routable unicast addresses. Refused: loopback, private
(10/8, 172.16/12, 192.168/16, fc00::/7), link-local (169.254/16 incl. the cloud
metadata address 169.254.169.254, fe80::/10), CGNAT, multicast, reserved,
unspecified, documentation ranges — anything ``ipaddress`` says is not global.
IPv4-mapped/compatible IPv6 (``::ffff:127.0.0.1``) is judged by its IPv4 address.
``allow_loopback`` admits 127.0.0.0/8 and ::1 only (the mini-web, tests,
benchmarks); private, link-local and metadata addresses stay refused.

Host spellings are normalised the way C resolvers (inet_aton) read them, so
``2130706433``, ``0x7f000001``, ``0177.0.0.1``, ``127.1`` and ``0x7f.1`` are all
seen as 127.0.0.1. Names are resolved once and every address checked; the
connection then goes to a checked address (see GuardedResolver), so a name
cannot resolve differently between check and connect.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from typing import Any

from aiohttp.abc import AbstractResolver

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class BlockedAddress(Exception):
    """The host is (or resolves to) an address the guard refuses."""


def parse_ip_literal(host: str) -> IPAddress | None:
    """The address a host string denotes if it is an IP literal in any spelling."""
    h = host.strip().rstrip(".").lower()
    if h.startswith("[") and h.endswith("]"):
        h = h[1:-1]
    if "%" in h:  # IPv6 zone id: fe80::1%eth0
        h = h.split("%", 1)[0]
    try:
        return ipaddress.ip_address(h)
    except ValueError:
        pass
    if h and all(c in "0123456789abcdefx." for c in h):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(h))
        except OSError:
            return None
    return None


def _unwrap(ip: IPAddress) -> IPAddress:
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip.sixtofour is not None:
            return ip.sixtofour
        if ip.teredo is not None:
            return ip.teredo[1]
        # IPv4-compatible (deprecated) ::a.b.c.d
        if int(ip) >> 32 == 0 and int(ip) > 1:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


@dataclass(frozen=True)
class AddressPolicy:
    allow_loopback: bool = False

    def why_refused(self, ip: IPAddress) -> str | None:
        """None if the address may be connected to, else a short explanation."""
        real = _unwrap(ip)
        if real.is_loopback:
            # Only plain (or IPv4-mapped) loopback is admitted: a 6to4/Teredo
            # wrapper around 127.x would route elsewhere.
            direct = ip.is_loopback or getattr(ip, "ipv4_mapped", None) is not None
            if self.allow_loopback and direct:
                return None
            return f"{ip} is a loopback address (pass --allow-loopback for local servers)"
        if real.is_link_local:
            return f"{ip} is link-local (cloud metadata lives at 169.254.169.254)"
        if real.is_multicast:
            return f"{ip} is multicast"
        if real.is_unspecified:
            return f"{ip} is unspecified"
        if real.is_private:
            return f"{ip} is a private address"
        if real.is_reserved or not real.is_global:
            return f"{ip} is not a public address"
        return None

    def check(self, ip: IPAddress) -> None:
        why = self.why_refused(ip)
        if why:
            raise BlockedAddress(why)


async def _system_resolve(host: str, port: int, family: int) -> list[tuple[int, str]]:
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, family=family, type=socket.SOCK_STREAM)
    return [(fam, sockaddr[0]) for fam, _, _, _, sockaddr in infos]


class GuardedResolver(AbstractResolver):
    """aiohttp resolver that refuses blocked addresses before any connection.

    aiohttp skips the resolver for canonical IP literals, so Fetcher also calls
    ``check_host`` on every URL (first request and each redirect)."""

    def __init__(self, policy: AddressPolicy, resolve=_system_resolve):
        self.policy = policy
        self._resolve = resolve

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_UNSPEC) -> list[dict[str, Any]]:
        literal = parse_ip_literal(host)
        if literal is not None:
            self.policy.check(literal)
            addrs = [(socket.AF_INET6 if literal.version == 6 else socket.AF_INET, str(literal))]
        else:
            try:
                addrs = await self._resolve(host, port, family)
            except socket.gaierror as e:
                raise OSError(f"cannot resolve {host}: {e}") from e
            if not addrs:
                raise OSError(f"cannot resolve {host}: no addresses")
            for _, a in addrs:
                self.policy.check(ipaddress.ip_address(a.split("%", 1)[0]))
        return [
            {"hostname": host, "host": a, "port": port, "family": fam, "proto": 0,
             "flags": socket.AI_NUMERICHOST}
            for fam, a in addrs
        ]

    async def close(self) -> None:
        return None


def check_host(host: str, policy: AddressPolicy) -> None:
    """Refuse IP-literal hosts synchronously (names are checked by GuardedResolver)."""
    literal = parse_ip_literal(host)
    if literal is not None:
        policy.check(literal)
