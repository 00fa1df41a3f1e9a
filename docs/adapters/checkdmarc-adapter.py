#!/usr/bin/env python3
"""checkdmarc (from PyPI) behind the Mailflow Lab checker contract.

    checkdmarc-adapter.py DOMAIN RESOLVER_IP RESOLVER_PORT

Score it with the mapping file next to this script:

    adapter='python docs/adapters/checkdmarc-adapter.py'
    maillab verify --map docs/adapters/checkdmarc.map.yaml \\
      --checker "$adapter {domain} {resolver_ip} {resolver_port}"

checkdmarc reports free text; this adapter turns each error and warning of
its JSON into a finding whose code says where it came from and what kind it
is (``checkdmarc.spf.error.syntax``, ``checkdmarc.mx.warning.cname``, ...),
keeping the text as evidence. The mapping file then says which of those codes mean which
of ours. checkdmarc asks plain DNS on port 53 only, so the lab must run on
standard ports (it does when started as root).

checkdmarc runs in this process with a fence around the socket layer: any
connection or datagram to an address outside loopback is refused, so a
default (the system resolver, an HTTPS fetch) cannot leave the machine.
"""

from __future__ import annotations

import ipaddress
import json
import re
import socket
import sys
from typing import Any

DNS_TIMEOUT = 2.0

#: (where, pattern of checkdmarc's text, our kind), first match wins. "where"
#: is a section (its error and warnings), or a section and ".error" or
#: ".warning"; a named group "subject" in the pattern names what the finding
#: is about (the domain otherwise).
KINDS: tuple[tuple[str, str, str], ...] = (
    ("*", r"lifetime expired|timed out", "timeout"),
    ("*", r"answered refused", "refused"),
    ("*", r"answered servfail", "servfail"),
    ("spf", r"include target (?P<subject>\S+) has no spf", "include-missing"),
    ("spf.error", r"^the domain does not exist", "domain-missing"),
    ("spf.error", r"does not exist|no spf record", "not-found"),
    ("spf", r"multiple spf", "multiple-records"),
    ("spf", r"maximum dns lookups|too many dns lookups", "too-many-lookups"),
    ("spf", r"void dns lookups", "too-many-void-lookups"),
    ("spf", r"not a valid spf|syntax|expected", "syntax"),
    ("spf.warning", r"ptr mechanism", "ptr-mechanism"),
    ("spf.warning", r"mx mechanism points .* does not have any mx", "mx-without-mx"),
    ("spf.warning", r"the domain \S+ does not exist", "void-lookup"),
    ("spf.warning", r"unknown modifier", "unknown-modifier"),
    ("dmarc", r"unrelated txt records", "unrelated-records"),
    ("dmarc.error", r"does not exist|no dmarc", "not-found"),
    ("dmarc", r"syntax|not a valid|expected", "syntax"),
    ("dmarc.warning", r"p tag value of none", "policy-none"),
    ("dmarc.warning", r"rua email address", "rua"),
    ("mx.error", r"the domain \S+ does not exist", "domain-missing"),
    ("mx.warning", r"the domain (?P<subject>\S+) does not exist", "host-unresolvable"),
    ("mx.warning", r"ip address (?P<subject>[0-9a-f.:]+[0-9a-f])", "ip-literal"),
    ("mx.warning", r"cname", "cname"),
    ("mx.warning", r"null mx", "null"),
    ("mx.warning", r"has no mx records", "no-mx"),
    ("ns", r"does not exist", "domain-missing"),
    ("soa", r"does not exist", "domain-missing"),
    ("mta_sts", r"does not exist", "not-found"),
    ("smtp_tls_reporting", r"does not exist", "not-found"),
    ("bimi", r"does not exist", "not-found"),
)

#: The sections of checkdmarc's report this adapter reads.
SECTIONS = ("spf", "dmarc", "mx", "ns", "soa", "mta_sts", "smtp_tls_reporting",
            "bimi")


def fence_to_loopback() -> None:
    """Refuse every IP connection or datagram not addressed to loopback."""
    connect, connect_ex, sendto = (socket.socket.connect,
                                   socket.socket.connect_ex, socket.socket.sendto)

    def allowed(sock: socket.socket, address: Any) -> None:
        if sock.family not in (socket.AF_INET, socket.AF_INET6):
            return
        try:
            if ipaddress.ip_address(address[0]).is_loopback:
                return
        except ValueError:
            pass
        print(f"fence: refused {address[0]}, not on loopback", file=sys.stderr)
        raise PermissionError(f"refused: {address[0]} is not on loopback")

    def fenced_connect(self: socket.socket, address: Any) -> None:
        allowed(self, address)
        return connect(self, address)

    def fenced_connect_ex(self: socket.socket, address: Any) -> int:
        allowed(self, address)
        return connect_ex(self, address)

    def fenced_sendto(self: socket.socket, data: bytes, *args: Any) -> int:
        allowed(self, args[-1])
        return sendto(self, data, *args)

    socket.socket.connect = fenced_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = fenced_connect_ex  # type: ignore[method-assign]
    socket.socket.sendto = fenced_sendto  # type: ignore[method-assign]


def kind(where: str, text: str) -> tuple[str, str | None]:
    """Our kind for one of checkdmarc's texts, and the subject it names."""
    low = text.lower()
    section = where.split(".")[0]
    for place, pattern, name in KINDS:
        if place not in ("*", where, section):
            continue
        m = re.search(pattern, low)
        if m:
            return name, m.groupdict().get("subject")
    return "other", None


def convert(report: dict[str, Any], domain: str) -> dict[str, Any]:
    """checkdmarc's JSON for one domain as the contract's JSON (pure)."""
    findings = []
    for section in SECTIONS:
        part = report.get(section)
        if not isinstance(part, dict):
            continue
        texts = ([(f"{section}.error", "error", part["error"])]
                 if part.get("error") else [])
        texts += [(f"{section}.warning", "warning", w)
                  for w in part.get("warnings") or []]
        for where, severity, text in texts:
            name, subject = kind(where, str(text))
            findings.append({
                "code": f"checkdmarc.{where}.{name}",
                "subject": (subject or domain).rstrip("."),
                "severity": severity, "evidence": [str(text)],
            })
    return {"findings": findings}


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: checkdmarc-adapter.py DOMAIN RESOLVER_IP RESOLVER_PORT",
              file=sys.stderr)
        return 2
    domain, ip, port = argv
    if port != "53":
        print(f"checkdmarc asks port 53 only; this lab's resolver is on {port}",
              file=sys.stderr)
        return 2

    fence_to_loopback()
    import checkdmarc  # after the fence: nothing of it may run unfenced

    results = checkdmarc.check_domains([domain], nameservers=[ip],
                                       timeout=DNS_TIMEOUT)
    report = json.loads(checkdmarc.results_to_json(results))
    if isinstance(report, list):
        report = report[0]
    print(json.dumps(convert(report, domain), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
