"""Mail routing: the MX records and the addresses of their exchanges."""

from __future__ import annotations

import asyncio
import ipaddress
from dataclasses import dataclass

from ..dns import Answer, DnsClient
from ..findings import Finding
from .dnsfail import dns_failure


@dataclass(frozen=True)
class Exchange:
    preference: int
    name: str
    addresses: tuple[str, ...]


@dataclass(frozen=True)
class Routing:
    """What the MX lookup established about the domain."""

    exchanges: list[Exchange]
    findings: list[Finding]
    null_mx: bool = False
    exists: bool = True


async def addresses(dns: DnsClient, name: str) -> tuple[list[str], list[Answer]]:
    a, aaaa = await asyncio.gather(dns.query(name, "A"), dns.query(name, "AAAA"))
    found = [str(r) for ans in (a, aaaa) if ans.status == "ok" for r in ans.records]
    return found, [a, aaaa]


def _is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


async def probe_mx(dns: DnsClient, domain: str) -> Routing:
    """The exchanges to deliver to, in preference order, and what is wrong."""
    answer = await dns.query(domain, "MX")
    if not answer.definite:
        return Routing([], [dns_failure(answer, "the MX lookup failed")])
    if answer.status == "nxdomain":
        return Routing([], [Finding("dns.nxdomain", domain,
                                    f"{domain} does not exist (NXDOMAIN)",
                                    (answer.evidence(),))], exists=False)
    if answer.status != "ok":
        return await _implicit(dns, domain, answer)

    records = sorted((r for r in answer.records if isinstance(r, tuple)),
                     key=lambda r: (r[0], r[1]))
    # RFC 7505 section 3: a single MX of '.' says the domain takes no mail.
    if len(records) == 1 and records[0][1] in ("", "."):
        return Routing([], [], null_mx=True)

    exchanges: list[Exchange] = []
    findings: list[Finding] = []
    names = [str(r[1]) for r in records if not _is_address(str(r[1]))]
    for pref, name in records:
        if _is_address(str(name)):
            findings.append(Finding(
                "mx.ip-literal", str(name),
                f"MX {pref} {name} is an address, not a host name",
                (answer.evidence(),)))
    resolved = dict(zip(names, await asyncio.gather(
        *(addresses(dns, n) for n in names)), strict=True))

    for pref, name in records:
        if str(name) not in resolved:
            continue
        found, asked = resolved[str(name)]
        aliased = [a for a in asked if a.cnames]
        if aliased:
            findings.append(Finding(
                "mx.cname", str(name), f"MX {pref} {name} is an alias (CNAME)",
                (answer.evidence(), *(a.evidence() for a in aliased))))
        if found:
            exchanges.append(Exchange(int(pref), str(name), tuple(found)))
            continue
        undecided = [a for a in asked if not a.definite]
        if undecided:
            findings.append(dns_failure(undecided[0], f"cannot resolve MX {name}"))
            continue
        findings.append(Finding(
            "mx.host-unresolvable", str(name),
            f"MX {pref} {name} has no address",
            (answer.evidence(), *(a.evidence() for a in asked))))
    return Routing(exchanges, findings)


async def _implicit(dns: DnsClient, domain: str, answer: Answer) -> Routing:
    """RFC 5321 section 5.1: no MX means the domain itself is the exchange."""
    found, asked = await addresses(dns, domain)
    evidence = (answer.evidence(), *(a.evidence() for a in asked))
    if found:
        return Routing([Exchange(0, domain, tuple(found))], [Finding(
            "mx.implicit", domain,
            f"{domain} has no MX; mail goes to its own address {found[0]}",
            evidence)])
    undecided = [a for a in asked if not a.definite]
    if undecided:
        return Routing([], [dns_failure(undecided[0],
                                        "the implicit MX lookup failed")])
    return Routing([], [Finding("mx.missing", domain,
                                f"{domain} has no MX record and no address",
                                evidence)])
