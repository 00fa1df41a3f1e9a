"""Delegation: every name server listed for the domain must answer for it."""

from __future__ import annotations

import asyncio
import time

import dns.exception
import dns.flags
import dns.message
import dns.rcode

from ..dns import DnsClient, udp_exchange
from ..findings import Finding
from ..target import Target
from .dnsfail import dns_failure
from .mx import addresses


async def probe_ns(client: DnsClient, target: Target) -> list[Finding]:
    answer = await client.query(target.domain, "NS")
    if answer.status == "nxdomain":
        return []  # the MX probe reports the missing domain
    if not answer.definite:
        return [dns_failure(answer, "the NS lookup failed")]
    names = sorted(str(n) for n in answer.records)
    results = await asyncio.gather(*(_authoritative(client, target, n)
                                     for n in names))
    return [f for f in results if f is not None]


async def _authoritative(client: DnsClient, target: Target,
                         name: str) -> Finding | None:
    """Ask the server itself for the SOA, without recursion (RFC 1912 2.8)."""
    found, _ = await addresses(client, name)
    if not found:
        return None  # an unresolvable NS is out of reach, not proven lame
    seen = []
    for address in found:
        query = dns.message.make_query(target.domain, "SOA")
        query.flags &= ~dns.flags.RD
        port = target.port(address, 53)
        started = time.monotonic()
        try:
            reply = await udp_exchange(query, address, port, client.timeout)
        except (dns.exception.Timeout, asyncio.TimeoutError, OSError) as exc:
            seen.append(f"SOA {target.domain} @{address}:{port}: no reply ({exc})")
            continue
        took = (time.monotonic() - started) * 1000
        rcode = dns.rcode.to_text(reply.rcode())
        authoritative = bool(reply.flags & dns.flags.AA)
        line = (f"SOA {target.domain} @{address}:{port} ({took:.0f} ms): {rcode}"
                f"{', authoritative' if authoritative else ', not authoritative'}")
        if reply.rcode() == dns.rcode.NOERROR and authoritative and reply.answer:
            return None
        seen.append(line)
    if any("no reply" in s for s in seen) and len(seen) == len(found):
        return None  # unreachable, which other probes show; lame needs an answer
    return Finding("dns.lame", name,
                   f"name server {name} does not answer for {target.domain}",
                   (answer_line(client, target.domain), *seen))


def answer_line(client: DnsClient, domain: str) -> str:
    asked = [q for q in client.queries if q.qname == domain and q.rdtype == "NS"]
    return asked[0].evidence() if asked else f"NS {domain}"
