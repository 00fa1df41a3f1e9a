"""Split DNS: the internal view the organisation's servers use against the
external view the internet sees. Each piece of evidence says its view."""

from __future__ import annotations

import asyncio
import ipaddress

from ..dns import Answer, DnsClient
from ..findings import Finding
from ..target import Target


def _seen(view: str, answer: Answer) -> str:
    # Answers carry their view already when the clients are labelled.
    text = answer.evidence()
    return text if text.startswith("[") else f"[{view} view] {text}"


async def probe_views(here: DnsClient, target: Target) -> list[Finding]:
    """Compare the view the checker stands in with the other one."""
    if target.internal_resolver is None:
        return []
    if target.view == "internal":
        assert target.external_resolver is not None
        host, port = target.external_resolver
        internal = here
        external = DnsClient(host, port, timeout=here.timeout, view="external")
    else:
        host, port = target.internal_resolver
        external = here
        internal = DnsClient(host, port, timeout=here.timeout, view="internal")
    results = await asyncio.gather(
        _internal_only(external, internal, target.domain),
        _forwarder(internal, target),
        *(_split(external, internal, ip) for ip in target.outbound))
    return [f for part in results for f in part]


async def _internal_only(external: DnsClient, internal: DnsClient,
                         domain: str) -> list[Finding]:
    """The MX must be in the external view too: the internet asks there."""
    outside, inside = await asyncio.gather(external.query(domain, "MX"),
                                           internal.query(domain, "MX"))
    if outside.status in ("nodata", "nxdomain") and inside.status == "ok":
        return [Finding(
            "dns.internal-only", f"{domain}/MX",
            f"the MX of {domain} is published only in the internal view",
            (_seen("external", outside), _seen("internal", inside)))]
    return []


async def _forwarder(internal: DnsClient, target: Target) -> list[Finding]:
    """The organisation's servers must resolve the domains they mail to."""
    for domain in target.outside[:3]:
        answer = await internal.query(domain, "MX")
        if answer.definite:
            return []
        address = target.internal_resolver[0] if target.internal_resolver else ""
        return [Finding(
            "dns.forwarder-broken", address,
            f"the internal resolver {address} cannot resolve outside names "
            f"({domain}: {answer.status.upper()}), so outbound mail stalls",
            (_seen("internal", answer),))]
    return []


async def _split(external: DnsClient, internal: DnsClient,
                 ip: str) -> list[Finding]:
    """The relay's name must lead to the same address in both views."""
    rname = ipaddress.ip_address(ip).reverse_pointer
    ptr = await external.query(rname, "PTR")
    if ptr.status != "ok":
        return []  # the PTR probe reports that
    rdtype = "AAAA" if ":" in ip else "A"
    findings = []
    for name in sorted({str(n) for n in ptr.records})[:5]:
        outside, inside = await asyncio.gather(external.query(name, rdtype),
                                               internal.query(name, rdtype))
        if not (outside.definite and inside.definite):
            continue
        if set(map(str, outside.records)) != set(map(str, inside.records)):
            findings.append(Finding(
                "dns.split-mismatch", name,
                f"{name} has different addresses inside and outside",
                (_seen("external", ptr), _seen("external", outside),
                 _seen("internal", inside))))
    return findings
