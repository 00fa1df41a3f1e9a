"""Where mail for a domain goes: MX, then addresses, as RFC 5321 section 5.1 says.

The rules are pure functions of DNS answers; ``find_route`` only asks the
questions. MX hosts are tried in preference order; a domain without MX
records is its own mail exchanger (the implicit MX); a lone null MX
("0 .", RFC 7505) says the domain takes no mail at all. Addresses outside
the allowed networks (loopback unless told otherwise) are never used: the
lab must not send mail off this machine.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from .resolver import LabResolver, Lookup

log = logging.getLogger(__name__)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Where lab mail may go when the caller names no other networks.
LOOPBACK: tuple[Network, ...] = (ipaddress.ip_network("127.0.0.0/8"),
                                 ipaddress.ip_network("::1/128"))
#: A bound on MX hosts tried per attempt (Postfix: smtp_mx_address_limit).
MAX_MX_HOSTS = 5


@dataclass(frozen=True)
class Target:
    host: str
    preference: int
    address: str


@dataclass(frozen=True)
class RouteFailure:
    kind: Literal["temporary", "permanent"]
    status: str
    reason: str


@dataclass(frozen=True)
class Route:
    targets: tuple[Target, ...] = ()
    failure: RouteFailure | None = None


def exchangers(domain: str, mx: Lookup) -> list[tuple[int, str]] | RouteFailure:
    """The MX hosts of ``domain`` in the order to try them, or why there are none."""
    if mx.status == "nodata":
        return [(0, domain)]  # the implicit MX (RFC 5321 section 5.1)
    if mx.status == "nxdomain":
        return RouteFailure("permanent", "5.1.2",
                            f"Host or domain name not found. Name service error "
                            f"for name={domain} type=MX: Host not found")
    if mx.status != "ok":
        return RouteFailure("temporary", "4.4.3",
                            f"Host or domain name not found. Name service error "
                            f"for name={domain} type=MX: Host not found, try again"
                            f" ({mx.status})")

    records = [r for r in mx.records if isinstance(r, tuple)]
    real = [(int(p), str(h)) for p, h in records if h]
    if not real:
        return RouteFailure("permanent", "5.1.10",
                            f"Domain {domain} does not accept mail (null MX)")
    # TODO: shuffle hosts of equal preference (RFC 5321 section 5.1); the lab
    # keeps a stable order so that transcripts repeat.
    return sorted(real)[:MAX_MX_HOSTS]


def allowed_address(address: str, allowed: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip.version == net.version and ip in net for net in allowed)


def assemble(domain: str, hosts: list[tuple[int, str]],
             answers: list[tuple[Lookup, Lookup]],
             allowed: Sequence[Network] = LOOPBACK) -> Route:
    """Targets from each host's A and AAAA answers, in MX order."""
    targets: list[Target] = []
    unsure: list[str] = []
    refused: list[str] = []
    for (pref, host), (a, aaaa) in zip(hosts, answers):
        if not (a.definite and aaaa.definite):
            unsure.append(host)
        for address in (*a.records, *aaaa.records):
            if not isinstance(address, str):
                continue
            if allowed_address(address, allowed):
                targets.append(Target(host, pref, address))
            else:
                refused.append(f"{host}[{address}]")

    if refused:
        log.warning("relay: refusing addresses outside the lab for %s: %s",
                    domain, ", ".join(refused))
    if targets:
        return Route(tuple(targets))
    if unsure:
        return Route(failure=RouteFailure(
            "temporary", "4.4.3",
            f"Host or domain name not found. Name service error for "
            f"name={unsure[0]} type=A: Host not found, try again"))
    if refused:
        return Route(failure=RouteFailure(
            "permanent", "5.4.4",
            f"Refusing to deliver outside the lab: {', '.join(refused)}"))
    return Route(failure=RouteFailure(
        "permanent", "5.4.4",
        f"Host or domain name not found. Name service error for "
        f"name={hosts[0][1]} type=A: Host not found"))


async def find_route(resolver: LabResolver, domain: str,
                     allowed: Sequence[Network] = LOOPBACK) -> Route:
    """Ask the lab's DNS for the MX, then the hosts' addresses."""
    hosts = exchangers(domain, await resolver.query(domain, "MX"))
    if isinstance(hosts, RouteFailure):
        return Route(failure=hosts)
    answers = await asyncio.gather(*(resolver.addresses(h) for _, h in hosts))
    return assemble(domain, hosts, list(answers), allowed)
