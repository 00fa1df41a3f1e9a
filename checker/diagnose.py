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
from .probes.dmarc import probe_dmarc
from .probes.dnsfail import dns_failure
from .probes.mx import Exchange, addresses, probe_mx
from .probes.ns import probe_ns
from .probes.ptr import probe_ptr
from .probes.smtp import probe_smtp
from .probes.spf import probe_spf
from .spf import parse_record, select_record
from .spf.terms import SpfSyntaxError
from .target import Target

#: A DNS answer slower than this is worth a finding (RFC 1034 section 5.3.1
#: leaves the number to us; senders commonly give up after a few seconds).
SLOW_MS = 500.0

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
        routing = await probe_mx(dns, target.domain)
        exchanges, found = routing.exchanges, list(routing.findings)
        if routing.null_mx and await _sends_mail(dns, target.domain):
            found.append(Finding(
                "mx.null", target.domain,
                f"{target.domain} publishes a null MX (accepts no mail) although "
                "its SPF record authorises senders, so replies bounce",
                tuple(a.evidence() for a in dns.queries
                      if a.qname == target.domain and a.rdtype in ("MX", "TXT"))))
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
            return [], [dns_failure(srv, "submission discovery failed")]
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
    ((exchanges, mx_found), (subs, sub_found), spf_found, dmarc_found, ns_found,
     *ptr_found) = await asyncio.gather(
        inbound(), submission(), probe_spf(dns, target.domain, target.outbound),
        probe_dmarc(dns, target.domain), probe_ns(dns, target), *outbound)

    findings = [*mx_found, *sub_found, *spf_found, *dmarc_found, *ns_found,
                *(f for part in ptr_found for f in part), *_slow(dns)]
    if any(f.code == "dns.nxdomain" for f in findings):
        # Nothing exists below a name that does not exist (RFC 8020): the
        # missing policy records are the same fault, not three more.
        findings = [f for f in findings
                    if f.code not in ("spf.missing", "dmarc.missing")]
    first = {(f.code, f.subject): f for f in reversed(findings)}
    unique = sorted(first.values(), key=lambda f: (f.code, f.subject))
    return Report(target, unique, exchanges, subs,
                  time.monotonic() - started, len(dns.queries))


def _slow(dns: DnsClient) -> list[Finding]:
    slow: dict[str, list[str]] = {}
    for answer in dns.queries:
        if answer.definite and answer.elapsed_ms > SLOW_MS:
            slow.setdefault(answer.qname, []).append(answer.evidence())
    return [Finding("dns.slow", name,
                    f"answers for {name} take over {SLOW_MS:.0f} ms",
                    tuple(lines)) for name, lines in slow.items()]


async def _sends_mail(dns: DnsClient, domain: str) -> bool:
    """Whether the domain's SPF record authorises any sender at all."""
    txt = await dns.query(domain, "TXT")
    record = select_record(txt.records).record if txt.status == "ok" else None
    if record is None:
        return False
    try:
        parsed = parse_record(record)
    except SpfSyntaxError:
        return True
    return any(m.name != "all" or m.qualifier in ("", "+")
               for m in parsed.mechanisms)
