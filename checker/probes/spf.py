"""The domain's SPF record, judged as a whole and for each outbound relay."""

from __future__ import annotations

from ..dns import Answer, DnsClient
from ..findings import Finding
from ..spf import check_host, count_lookups, parse_record, select_record
from ..spf.results import LIMIT_DNS_TERMS, LIMIT_VOID_LOOKUPS, SpfEvaluation
from ..spf.terms import SpfSyntaxError
from .dnsfail import dns_failure

#: Evaluated when no outbound address is known, to judge the record alone.
#: TEST-NET-1 (RFC 5737) is never a real sender.
PROBE_ADDRESS = "192.0.2.1"


def _evidence(ev: SpfEvaluation) -> tuple[str, ...]:
    return tuple(ev.render().splitlines())


async def probe_spf(dns: DnsClient, domain: str,
                    outbound: tuple[str, ...]) -> list[Finding]:
    txt = await dns.query(domain, "TXT")
    if not txt.definite:
        return [dns_failure(txt, "the SPF lookup failed")]
    if txt.status == "nxdomain":
        return []  # the MX probe reports the domain that does not exist

    findings = _record_shape(txt, domain)
    if any(f.code == "spf.multiple-records" for f in findings):
        return findings

    addresses = outbound or (PROBE_ADDRESS,)
    for ip in addresses:
        ev = await check_host(dns, ip, domain, f"postmaster@{domain}", helo=domain)
        finding = _judge(dns, ev, domain, ip, is_relay=bool(outbound))
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


def _record_shape(txt: Answer, domain: str) -> list[Finding]:
    """What the published text alone shows, before any evaluation."""
    selection = select_record(txt.records)
    if selection.spf_count > 1:
        return [Finding("spf.multiple-records", domain,
                        f"{domain} publishes {selection.spf_count} SPF records",
                        (txt.evidence(),))]
    if selection.record is None:
        return []

    findings = []
    spf_txt = [r for r in txt.records if isinstance(r, tuple)
               and b"".join(r).lower().startswith(b"v=spf1")]
    if spf_txt and len(spf_txt[0]) == 1 and len(spf_txt[0][0]) == 255 and \
            not _ends_the_record(spf_txt[0][0]):
        findings.append(Finding(
            "spf.unsplit-long-string", domain,
            f"the SPF record of {domain} is one 255-octet string: it was cut "
            "at the string limit and lost its end", (txt.evidence(),)))
    try:
        record = parse_record(selection.record)
    except SpfSyntaxError:
        return findings  # the evaluation reports the syntax error
    for mech in record.mechanisms:
        if mech.name == "ptr":
            findings.append(Finding(
                "spf.ptr-mechanism", domain,
                f"the SPF record of {domain} uses 'ptr' (term {mech.position})",
                (txt.evidence(),)))
        if mech.name == "all" and mech.qualifier in ("", "+"):
            findings.append(Finding(
                "spf.plus-all", domain,
                f"the SPF record of {domain} ends in '{mech.text}': any host "
                "passes", (txt.evidence(),)))
    return findings


def _ends_the_record(text: bytes) -> bool:
    """Whether a record's last term closes it (an 'all' or a redirect): a
    record that does is whole, even at exactly 255 octets."""
    last = text.decode("utf-8", "replace").split()[-1].lower().lstrip("+-~?")
    return last == "all" or last.startswith("redirect=")


def _judge(dns: DnsClient, ev: SpfEvaluation, domain: str, ip: str, *,
           is_relay: bool) -> Finding | None:
    if ev.result == "none":
        return Finding("spf.missing", domain, f"{domain} publishes no SPF record",
                       _evidence(ev))
    if ev.result == "temperror":
        failed = _failed_answer(dns, ev)
        if failed is not None:
            finding = dns_failure(failed, f"SPF for {domain} ended in temperror")
            return Finding(finding.code, finding.subject, finding.summary,
                           finding.evidence + _evidence(ev))
        return Finding("dns.timeout", f"{domain}/TXT",
                       f"SPF for {domain} could not be evaluated: {ev.problem}",
                       _evidence(ev))
    if ev.result == "permerror":
        return _permerror(ev, domain)
    if ev.result in ("fail", "softfail", "neutral") and is_relay:
        return Finding("spf.ip-not-authorized", domain,
                       f"SPF of {domain} gives {ev.result} for the outbound "
                       f"relay {ip}", _evidence(ev))
    return None


def _permerror(ev: SpfEvaluation, domain: str) -> Finding:
    if ev.limit_exceeded == LIMIT_DNS_TERMS:
        return Finding(
            "spf.too-many-lookups", domain,
            f"SPF for {domain} needs more than 10 DNS lookups; the first "
            f"term past the limit is {ev.past_limit}", _evidence(ev))
    if ev.limit_exceeded == LIMIT_VOID_LOOKUPS:
        return Finding(
            "spf.void-lookups", domain,
            f"SPF for {domain} makes more than 2 lookups that find nothing; "
            f"the third is {ev.past_limit}", _evidence(ev))
    term = ev.problem_term
    if term is not None and term.text.lower().lstrip("+-~?").startswith(
            "include:") and term.domain == domain:
        target = term.text.split(":", 1)[1].lower()
        return Finding(
            "spf.include-missing", target,
            f"the SPF record of {domain} includes {target}, which has no SPF "
            "record", _evidence(ev))
    return Finding("spf.syntax", domain,
                   f"the SPF record of {domain} is broken: {ev.problem}",
                   _evidence(ev))


def _failed_answer(dns: DnsClient, ev: SpfEvaluation) -> Answer | None:
    """The DNS answer behind a temperror, with its transport details."""
    for _, step in ev.walk():
        if step.status in ("servfail", "timeout", "refused", "error"):
            for answer in reversed(dns.queries):
                if answer.qname == step.qname.rstrip(".").lower() and \
                        answer.rdtype == step.rdtype:
                    return answer
    return None
