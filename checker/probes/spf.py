"""The domain's SPF record, evaluated for each outbound relay address."""

from __future__ import annotations

from ..dns import DnsClient
from ..findings import Finding
from ..spf import check_host, count_lookups
from ..spf.results import LIMIT_DNS_TERMS, SpfEvaluation

#: Evaluated when no outbound address is known, to judge the record alone.
#: TEST-NET-1 (RFC 5737) is never a real sender.
PROBE_ADDRESS = "192.0.2.1"


def _evidence(ev: SpfEvaluation) -> tuple[str, ...]:
    return tuple(ev.render().splitlines())


async def probe_spf(dns: DnsClient, domain: str,
                    outbound: tuple[str, ...]) -> list[Finding]:
    findings: list[Finding] = []
    addresses = outbound or (PROBE_ADDRESS,)
    for ip in addresses:
        ev = await check_host(dns, ip, domain, f"postmaster@{domain}", helo=domain)
        finding = _judge(ev, domain, ip, is_relay=bool(outbound))
        if finding is not None:
            findings.append(finding)
        if ev.result in ("none", "permerror", "temperror"):
            return findings  # the record's own problem: the same for every address

    # An address that matches early never reaches the limit; another sender's
    # might. Walk the whole tree once to see the worst case.
    count = await count_lookups(dns, domain)
    if count.exceeds_limit:
        findings.append(Finding(
            "spf.too-many-lookups", domain,
            f"SPF for {domain} can need {count.total} DNS lookups (limit 10); "
            f"the first term past the limit is {count.first_past_limit}",
            (f"static count of DNS-querying terms: {count.total}",
             *count.problems)))
    return findings


def _judge(ev: SpfEvaluation, domain: str, ip: str, *,
           is_relay: bool) -> Finding | None:
    if ev.result == "none":
        return Finding("spf.missing", domain, f"{domain} publishes no SPF record",
                       _evidence(ev))
    if ev.result == "temperror":
        return Finding("dns.inconclusive", f"{domain}/SPF",
                       f"SPF for {domain} could not be evaluated: {ev.problem}",
                       _evidence(ev))
    if ev.result == "permerror":
        if ev.limit_exceeded == LIMIT_DNS_TERMS:
            return Finding(
                "spf.too-many-lookups", domain,
                f"SPF for {domain} needs more than 10 DNS lookups; the first "
                f"term past the limit is {ev.past_limit}", _evidence(ev))
        return Finding("spf.syntax", domain,
                       f"the SPF record of {domain} is broken: {ev.problem}",
                       _evidence(ev))
    if ev.result in ("fail", "softfail", "neutral") and is_relay:
        return Finding("spf.ip-not-authorized", domain,
                       f"SPF of {domain} gives {ev.result} for the outbound "
                       f"relay {ip}", _evidence(ev))
    return None
