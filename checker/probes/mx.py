"""Mail routing: the MX records and the addresses of their exchanges."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from ..dns import Answer, DnsClient
from ..findings import Finding


@dataclass(frozen=True)
class Exchange:
    preference: int
    name: str
    addresses: tuple[str, ...]


def inconclusive(answer: Answer, why: str) -> Finding:
    return Finding("dns.inconclusive", f"{answer.qname}/{answer.rdtype}",
                   f"{why}: {answer.status.upper()}", (answer.evidence(),))


async def addresses(dns: DnsClient, name: str) -> tuple[list[str], list[Answer]]:
    a, aaaa = await asyncio.gather(dns.query(name, "A"), dns.query(name, "AAAA"))
    found = [str(r) for ans in (a, aaaa) if ans.status == "ok" for r in ans.records]
    return found, [a, aaaa]


async def probe_mx(dns: DnsClient, domain: str) -> tuple[list[Exchange], list[Finding]]:
    """The exchanges to deliver to, in preference order, and what is wrong."""
    answer = await dns.query(domain, "MX")
    if not answer.definite:
        return [], [inconclusive(answer, "the MX lookup failed")]

    if answer.status != "ok":
        # RFC 5321 section 5.1: no MX means the domain itself is the exchange.
        found, asked = await addresses(dns, domain)
        if found:
            return [Exchange(0, domain, tuple(found))], []
        undecided = [a for a in asked if not a.definite]
        if undecided:
            return [], [inconclusive(undecided[0], "the implicit MX lookup failed")]
        evidence = (answer.evidence(), *(a.evidence() for a in asked))
        return [], [Finding("mx.missing", domain,
                            f"{domain} has no MX record and no address", evidence)]

    records = sorted((r for r in answer.records if isinstance(r, tuple)),
                     key=lambda r: (r[0], r[1]))
    resolved = await asyncio.gather(*(addresses(dns, str(r[1])) for r in records))
    exchanges: list[Exchange] = []
    findings: list[Finding] = []
    for (pref, name), (found, asked) in zip(records, resolved, strict=True):
        if found:
            exchanges.append(Exchange(int(pref), str(name), tuple(found)))
            continue
        undecided = [a for a in asked if not a.definite]
        if undecided:
            findings.append(inconclusive(undecided[0], f"cannot resolve MX {name}"))
            continue
        findings.append(Finding(
            "mx.host-unresolvable", str(name),
            f"MX {pref} {name} has no address",
            (answer.evidence(), *(a.evidence() for a in asked))))
    return exchanges, findings
