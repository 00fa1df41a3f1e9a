"""The diagnosis: every probe, concurrently, into one report.

The probes that depend on nothing start at once (MX, SPF, submission
discovery, the relay's PTR); each MX host's address then gets its PTR and
its SMTP probe in parallel. Every network step has its own short timeout,
so the whole run is bounded by a few of them, not by their sum.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from .dns import DnsClient
from .findings import Finding
from .probes.mx import Exchange, addresses, inconclusive, probe_mx
from .probes.ptr import probe_ptr
from .probes.smtp import probe_smtp
from .probes.spf import probe_spf
from .target import Target

log = logging.getLogger(__name__)


@dataclass
class Report:
    target: Target
    findings: list[Finding]
    exchanges: list[Exchange] = field(default_factory=list)
    submission: list[tuple[str, str, int]] = field(default_factory=list)
    elapsed_s: float = 0.0
    queries: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "format": 1,
            "domain": self.target.domain,
            "resolver": "%s:%d" % self.target.resolver,
            "outbound": list(self.target.outbound),
            "findings": [f.to_json() for f in self.findings],
            "exchanges": [
                {"preference": e.preference, "name": e.name,
                 "addresses": list(e.addresses)} for e in self.exchanges
            ],
            "submission": [
                {"name": n, "address": a, "port": p} for n, a, p in self.submission
            ],
            "elapsed_s": round(self.elapsed_s, 3),
            "dns_queries": self.queries,
        }


async def diagnose(target: Target, *, timeout: float = 3.0,
                   dns_timeout: float = 2.0) -> Report:
    started = time.monotonic()
    dns = DnsClient(target.resolver[0], target.resolver[1], timeout=dns_timeout)

    async def inbound() -> tuple[list[Exchange], list[Finding]]:
        exchanges, found = await probe_mx(dns, target.domain)
        jobs = []
        for ex in exchanges:
            for address in ex.addresses:
                jobs.append(probe_ptr(dns, address, f"MX {ex.name}"))
                jobs.append(probe_smtp(target, ex.name, address, 25, timeout))
        for part in await asyncio.gather(*jobs):
            found.extend(part)
        return exchanges, found

    async def submission() -> tuple[list[tuple[str, str, int]], list[Finding]]:
        # RFC 6186: clients find the submission server through SRV.
        srv = await dns.query(f"_submission._tcp.{target.domain}", "SRV")
        if not srv.definite:
            return [], [inconclusive(srv, "submission discovery failed")]
        hosts = []
        for record in srv.records:
            _, _, port, name = str(record).split()
            name = name.rstrip(".").lower()
            if name:
                found, _ = await addresses(dns, name)
                hosts.extend((name, a, int(port)) for a in found)
        results = await asyncio.gather(*(
            probe_smtp(target, n, a, p, timeout) for n, a, p in hosts))
        return hosts, [f for part in results for f in part]

    outbound = [probe_ptr(dns, ip, "outbound relay") for ip in target.outbound]
    (exchanges, mx_found), (subs, sub_found), spf_found, *ptr_found = (
        await asyncio.gather(inbound(), submission(),
                             probe_spf(dns, target.domain, target.outbound),
                             *outbound))

    findings = [*mx_found, *sub_found, *spf_found,
                *(f for part in ptr_found for f in part)]
    first = {(f.code, f.subject): f for f in reversed(findings)}
    unique = sorted(first.values(), key=lambda f: (f.code, f.subject))
    return Report(target, unique, exchanges, subs,
                  time.monotonic() - started, len(dns.queries))
