"""Findings: what the checker concludes, and the catalogue of their codes.

A code is stable: scenarios, scores and other people's tooling key on it.
Each has one severity, a meaning, what evidence proves it, the remediation
and the document the remediation rests on.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Severity = Literal["error", "warning", "info"]


@dataclass(frozen=True)
class Code:
    code: str
    severity: Severity
    meaning: str
    proof: str
    remediation: str
    reference: str


CATALOGUE: dict[str, Code] = {c.code: c for c in (
    Code("mx.missing", "error",
         "The domain publishes no MX record and no address to fall back on.",
         "The MX query answered NXDOMAIN or NODATA, and so did A/AAAA at the apex.",
         "Publish MX records naming the hosts that accept mail for the domain.",
         "RFC 5321 section 5.1"),
    Code("mx.host-unresolvable", "error",
         "An MX record names a host that has no address.",
         "The exchange's A and AAAA queries answered NXDOMAIN or NODATA.",
         "Point the MX at a host with an A/AAAA record, or add the missing "
         "address record.",
         "RFC 5321 section 5.1; RFC 2181 section 10.3"),
    Code("ptr.missing", "error",
         "A sending or receiving address has no PTR record.",
         "The PTR query for the address's in-addr.arpa name answered NXDOMAIN "
         "or NODATA.",
         "Ask whoever holds the address block (the ISP or cloud provider) to "
         "publish a PTR naming the host, matching its A record and EHLO name.",
         "RFC 1912 section 2.1; RFC 8601 section 2.7.3"),
    Code("ptr.mismatch", "error",
         "A PTR names a host whose address does not lead back "
         "(forward-confirmed reverse DNS fails).",
         "The PTR answer's names, looked up forward, do not include the address.",
         "Make the PTR name a host whose A/AAAA record holds this address.",
         "RFC 8601 section 2.7.3 (iprev)"),
    Code("spf.missing", "warning",
         "The domain publishes no SPF record.",
         "No TXT record at the domain begins with 'v=spf1'.",
         "Publish one TXT record 'v=spf1 ... -all' listing the outbound relays.",
         "RFC 7208 section 4.5"),
    Code("spf.syntax", "error",
         "The SPF record does not parse, so every check ends in permerror.",
         "The evaluator's permerror and the term it could not parse.",
         "Fix the term named in the evidence; see the record syntax of RFC 7208.",
         "RFC 7208 sections 4.6 and 12"),
    Code("spf.too-many-lookups", "error",
         "Evaluating the SPF record needs more than 10 DNS-querying terms.",
         "The lookup tree with its count, and the first term past the limit.",
         "Flatten includes or drop unused ones until at most 10 terms query DNS.",
         "RFC 7208 section 4.6.4"),
    Code("spf.ip-not-authorized", "error",
         "The SPF record does not authorise the outbound relay's address.",
         "check_host() for the relay's address gave fail, softfail or neutral.",
         "Add the relay's address (ip4:/ip6:) or a mechanism that covers it.",
         "RFC 7208 section 2.6"),
    Code("port.filtered", "error",
         "A mail port does not answer: connections time out, as behind a "
         "firewall that drops packets.",
         "The TCP connect timed out with no reply.",
         "Allow the port through every firewall between the clients and the host.",
         "RFC 5321 section 4.5.3.2 (for SMTP timeouts)"),
    Code("port.closed", "error",
         "A mail port refuses connections: nothing listens, or a firewall "
         "rejects.",
         "The TCP connect was refused (reset) at once.",
         "Start the service on the port, or remove the rejecting firewall rule.",
         "RFC 9293 section 3.10.7.1"),
    Code("smtp.banner-bad", "error",
         "The SMTP server's greeting is missing or is not a 220.",
         "The transcript: the first line the server sent, or none in time.",
         "Make the server greet with '220 <its host name>' promptly.",
         "RFC 5321 section 4.3.1"),
    Code("smtp.ehlo-refused", "error",
         "The SMTP server refuses EHLO.",
         "The transcript: the EHLO command and its reply.",
         "Allow EHLO from any client; refusing it breaks ESMTP for every sender.",
         "RFC 5321 section 4.1.1.1"),
    Code("dns.inconclusive", "info",
         "A question the diagnosis needed could not be answered (a timeout, "
         "SERVFAIL or REFUSED); the check it belongs to is left undecided.",
         "The query and what the resolver did instead of answering.",
         "Check the authoritative servers and the resolver path for the name.",
         "RFC 8499 section 3"),
)}


@dataclass(frozen=True)
class Finding:
    code: str
    subject: str
    summary: str
    evidence: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @property
    def meta(self) -> Code:
        return CATALOGUE[self.code]

    def to_json(self) -> dict[str, Any]:
        meta = self.meta
        out = asdict(self)
        out["evidence"] = list(self.evidence)
        out.update(severity=meta.severity, remediation=meta.remediation,
                   reference=meta.reference)
        if not self.extra:
            out.pop("extra")
        return out
