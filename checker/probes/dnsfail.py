"""When DNS cannot answer: a finding that says what was met, not a verdict.

A timeout or a SERVFAIL says nothing about the record asked for, so the
check it belongs to is inconclusive; the finding names the outcome instead
(RFC 8499 vocabulary), and never claims the record is missing.
"""

from __future__ import annotations

from ..dns import Answer
from ..findings import Finding


def failure_code(answer: Answer) -> str:
    if answer.status == "servfail":
        return "dns.servfail"
    if answer.status == "refused":
        return "dns.refused"
    if answer.truncated and answer.via == "tcp":
        return "dns.tcp-blocked"
    return "dns.timeout"


def dns_failure(answer: Answer, why: str) -> Finding:
    code = failure_code(answer)
    return Finding(code, f"{answer.qname}/{answer.rdtype}",
                   f"{why}: {answer.status.upper()}"
                   + (" over TCP after a truncated UDP answer"
                      if code == "dns.tcp-blocked" else "")
                   + "; the check is inconclusive",
                   (answer.evidence(),))
