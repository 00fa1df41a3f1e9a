"""The diagnosis: every probe, concurrently, into one report.

The probes that depend on nothing start at once (MX, SPF, client service
discovery, the relay's PTR, the name its greeting announces and the
blocklists the target names); each MX host's address then gets its PTR, its
SMTP probe (and LDAPS where the state marks an Edge server) in parallel, and
each discovered client port its protocol probe, next to the end-to-end flow.
Every network step has its own short timeout, so the whole run is bounded by
a few of them, not by their sum. The CRLs the certificates name are fetched
last, once each.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from .dns import DnsClient
from .findings import Finding
from .probes import tls
from .probes.dmarc import probe_dmarc
from .probes.dnsfail import dns_failure
from .probes.flow import Endpoint, probe_flow
from .probes.http import probe_crl, probe_https, probe_redirect
from .probes.imap import probe_imap
from .probes.ldaps import probe_ldaps
from .probes.mx import Exchange, addresses, probe_mx
from .probes.ns import probe_ns
from .probes.outbound import probe_outbound
from .probes.pop3 import probe_pop3
from .probes.ptr import probe_ptr
from .probes.views import probe_views
from .probes.smtp import probe_smtp_port
from .probes.spf import probe_spf
from .probes.starttls import PortResult
from .spf import parse_record, select_record
from .spf.terms import SpfSyntaxError
from .target import Target

#: A DNS answer slower than this is worth a finding (RFC 1034 section 5.3.1
#: leaves the number to us; senders commonly give up after a few seconds).
SLOW_MS = 500.0

#: Client service discovery: RFC 6186 section 3, and Autodiscover's SRV.
SRV_LABELS = {"submission": "_submission._tcp", "imap": "_imap._tcp",
              "imaps": "_imaps._tcp", "pop3": "_pop3._tcp",
              "pop3s": "_pop3s._tcp", "autodiscover": "_autodiscover._tcp"}
#: The Edge Synchronization port on an MX that the state marks "edge".
LDAPS_PORT = 50636

Host = tuple[str, str, int]

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
            "resolver": "{}:{}".format(*self.target.resolver),
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
    # With split DNS every answer says which view it came from.
    view = target.view if target.internal_resolver is not None else ""
    dns = DnsClient(target.resolver[0], target.resolver[1], timeout=dns_timeout,
                    view=view)

    async def inbound() -> tuple[list[Exchange], list[Finding], list[PortResult]]:
        routing = await probe_mx(dns, target.domain)
        exchanges, found = routing.exchanges, list(routing.findings)
        if routing.null_mx and await _sends_mail(dns, target.domain):
            found.append(Finding(
                "mx.null", target.domain,
                f"{target.domain} publishes a null MX (accepts no mail) although "
                "its SPF record authorises senders, so replies bounce",
                tuple(a.evidence() for a in dns.queries
                      if a.qname == target.domain and a.rdtype in ("MX", "TXT"))))
        ptrs, ports = [], []
        for ex in exchanges:
            for address in ex.addresses:
                ptrs.append(probe_ptr(dns, address, f"MX {ex.name}"))
                ports.append(probe_smtp_port(target, ex.name, address, 25, timeout))
                if target.has_role(address, "edge"):
                    ports.append(probe_ldaps(target, ex.name, address, LDAPS_PORT,
                                             timeout))
        ptr_parts, port_parts = await asyncio.gather(
            asyncio.gather(*ptrs), asyncio.gather(*ports))
        for part in ptr_parts:
            found.extend(part)
        return exchanges, found, list(port_parts)

    async def discover(service: str) -> tuple[list[Host], list[Finding]]:
        srv = await dns.query(f"{SRV_LABELS[service]}.{target.domain}", "SRV")
        if not srv.definite:
            if service == "submission":
                return [], [dns_failure(srv, "submission discovery failed")]
            log.debug("%s discovery inconclusive: %s", service, srv.evidence())
            return [], []
        hosts = []
        for record in srv.records:
            _, _, port, name = str(record).split()
            name = name.rstrip(".").lower()
            if name:
                found, _ = await addresses(dns, name)
                hosts.extend((name, a, int(port)) for a in found)
        return hosts, []

    async def clients() -> tuple[list[Host], list[Finding], list[PortResult]]:
        # RFC 6186: clients find their servers through SRV records.
        services = list(SRV_LABELS)
        found_by, autodiscover_a = await asyncio.gather(
            asyncio.gather(*(discover(s) for s in services)),
            addresses(dns, f"autodiscover.{target.domain}"))
        hosts = {s: h for s, (h, _) in zip(services, found_by)}
        errors = [f for _, part in found_by for f in part]
        named = f"autodiscover.{target.domain}"
        web = list(dict.fromkeys(
            [*hosts["autodiscover"], *((named, a, 443) for a in autodiscover_a[0])]))

        jobs = [probe_smtp_port(target, n, a, p, timeout)
                for n, a, p in hosts["submission"]]
        jobs += [probe_imap(target, n, a, p, s == "imaps", timeout)
                 for s in ("imap", "imaps") for n, a, p in hosts[s]]
        jobs += [probe_pop3(target, n, a, p, s == "pop3s", timeout)
                 for s in ("pop3", "pop3s") for n, a, p in hosts[s]]
        jobs += [probe_https(target, n, a, p, timeout) for n, a, p in web]
        jobs += [probe_redirect(target, dns, named, a, timeout)
                 for a in autodiscover_a[0]]
        flow = probe_flow(target, _endpoint(hosts, "submission"),
                          _endpoint(hosts, "imaps", "imap"),
                          _endpoint(hosts, "pop3s", "pop3"), timeout)
        results, flow_found = await asyncio.gather(asyncio.gather(*jobs), flow)
        return hosts["submission"], [*errors, *flow_found], list(results)

    outbound = [probe_ptr(dns, ip, "outbound relay") for ip in target.outbound]
    outbound += [probe_outbound(target, dns, ip, timeout) for ip in target.outbound]
    ((exchanges, mx_found, mx_ports), (subs, sub_found, sub_ports), spf_found,
     dmarc_found, ns_found, view_found, *ptr_found) = await asyncio.gather(
        inbound(), clients(), probe_spf(dns, target.domain, target.outbound),
        probe_dmarc(dns, target.domain), probe_ns(dns, target),
        probe_views(dns, target), *outbound)

    ports = [*mx_ports, *sub_ports]
    port_found = [f for r in ports for f in r.findings]
    crl_found = await _crls(target, dns, ports, port_found, timeout)
    transport = [*port_found, *crl_found, *sub_found]
    findings = [*mx_found, *_flow_filtered(transport), *spf_found, *dmarc_found,
                *ns_found, *view_found, *(f for part in ptr_found for f in part),
                *_slow(dns)]
    if any(f.code == "dns.internal-only" for f in view_found):
        # The MX is there, only in the wrong view: that is the finding.
        findings = [f for f in findings if f.code != "mx.missing"]
    if any(f.code == "dns.nxdomain" for f in findings):
        # Nothing exists below a name that does not exist (RFC 8020): the
        # missing policy records are the same fault, not three more.
        findings = [f for f in findings
                    if f.code not in ("spf.missing", "dmarc.missing")]
    misnamed = {f.subject for f in findings if f.code in ("mx.cname", "mx.implicit")}
    if misnamed:
        # The MX names an alias or the bare domain, not the host; its remedy
        # (name the canonical host in the MX) also mends the name check.
        # TODO: accept the CNAME-expanded name itself (RFC 7672 section 2.2.2).
        findings = [f for f in findings if f.code != "tls.name-mismatch"
                    or f.subject.rpartition(":")[0] not in misnamed]
    first = {(f.code, f.subject): f for f in reversed(findings)}
    unique = sorted(first.values(), key=lambda f: (f.code, f.subject))
    return Report(target, unique, exchanges, subs,
                  time.monotonic() - started, len(dns.queries))


def _endpoint(hosts: dict[str, list[Host]], *services: str) -> Endpoint | None:
    """The first discovered host of the first service that has one."""
    for service in services:
        for name, address, port in hosts.get(service, ()):
            return Endpoint(name, address, port, implicit=service.endswith("s")
                            and service != "submission")
    return None


async def _crls(target: Target, dns: DnsClient, ports: list[PortResult],
                found: list[Finding], timeout: float) -> list[Finding]:
    """Each CRL distribution point named by a presented certificate, once."""
    urls: dict[str, None] = {}
    for result in ports:
        for der in result.chain[:1]:
            for url in tls.crl_urls(tls.x509.load_der_x509_certificate(der)):
                urls[url] = None
    blocked = {f.subject for f in found if f.code.startswith("port.")}
    parts = await asyncio.gather(*(probe_crl(target, dns, url, timeout)
                                   for url in urls))
    crls = []
    for url, part in zip(urls, parts):
        host, port = _authority(url)
        if f"{host}:{port}" not in blocked:
            crls.extend(part)
    return crls


def _authority(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return (parts.hostname or "").lower(), parts.port or 80


def _flow_filtered(findings: list[Finding]) -> list[Finding]:
    """The flow's findings only where no transport finding explains them."""
    subjects = {f.subject for f in findings if not f.code.startswith("flow.")}
    return [f for f in findings if not f.code.startswith("flow.")
            or not subjects.intersection(f.extra.get("involved", ()))]


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
