"""Reverse DNS: a PTR for the address, and a name that leads back to it."""

from __future__ import annotations

import asyncio
import ipaddress

from ..dns import DnsClient
from ..findings import Finding
from .dnsfail import dns_failure

#: RFC 8601 section 2.7.3 lets a verifier stop after this many PTR names.
MAX_PTR_NAMES = 10


async def probe_ptr(dns: DnsClient, address: str, role: str) -> list[Finding]:
    rname = ipaddress.ip_address(address).reverse_pointer
    answer = await dns.query(rname, "PTR")
    if not answer.definite:
        return [dns_failure(answer, f"the PTR lookup for {address} failed")]
    if answer.status != "ok":
        return [Finding("ptr.missing", address,
                        f"the {role} address {address} has no PTR record",
                        (answer.evidence(),))]

    names = [str(n) for n in answer.records][:MAX_PTR_NAMES]
    rdtype = "AAAA" if ":" in address else "A"
    forward = await asyncio.gather(*(dns.query(n, rdtype) for n in names))
    wanted = ipaddress.ip_address(address)
    for ans in forward:
        if ans.status == "ok" and any(
                ipaddress.ip_address(str(r)) == wanted for r in ans.records):
            return []
    undecided = [a for a in forward if not a.definite]
    if undecided:
        return [dns_failure(undecided[0], f"cannot confirm the PTR of {address}")]
    return [Finding(
        "ptr.mismatch", address,
        f"the PTR of the {role} address {address} names "
        f"{', '.join(names)}, which does not lead back to it",
        (answer.evidence(), *(a.evidence() for a in forward)))]
