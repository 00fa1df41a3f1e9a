"""The addresses an isolated lab may use: documentation ranges only.

Inside its namespace a lab could use any address, but one that belongs to
someone real would confuse whoever reads its logs and packet captures. So
scenario addresses must lie in the ranges set aside for documentation
(RFC 5737 for IPv4, RFC 3849 for IPv6). Hosts without an address get one
from 192.0.2.10 up, in scenario order, the way loopback mode counts.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from .errors import IsolationError

DOCUMENTATION_NETS = tuple(ipaddress.ip_network(n) for n in (
    "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32"))

#: Where default host addresses are counted from (``.10`` up, like loopback).
DEFAULT_NET = ipaddress.ip_network("192.0.2.0/24")
FIRST_HOST = 10


class NotDocumentation(IsolationError):
    """A scenario address outside the documentation ranges."""


def check_documentation(address: str) -> str:
    """``address`` in canonical form, if it is in a documentation range."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        raise NotDocumentation(f"not an IP address: {address!r}") from None
    if not any(ip in net for net in DOCUMENTATION_NETS):
        ranges = ", ".join(str(n) for n in DOCUMENTATION_NETS)
        raise NotDocumentation(f"{address} is not in a documentation range "
                               f"({ranges}); isolated labs use only those")
    return ip.compressed


def default_address(index: int) -> str:
    """The address of the ``index``-th host (from 0) that names none."""
    return str(DEFAULT_NET[FIRST_HOST + index])


def spare_address(n: int = 0) -> str:
    """An address no default host uses (for an 'old' server's records)."""
    return str(DEFAULT_NET[250 - n])


def reverse_zones(addresses: Iterable[str]) -> list[str]:
    """The reverse zones that cover ``addresses``: a /24 or a /64 each."""
    zones: list[str] = []
    for address in addresses:
        ip = ipaddress.ip_address(address)
        labels = ip.reverse_pointer.split(".")
        # in-addr.arpa: drop the host octet; ip6.arpa: drop 16 host nibbles.
        zone = ".".join(labels[1:] if ip.version == 4 else labels[16:])
        if zone not in zones:
            zones.append(zone)
    return zones
