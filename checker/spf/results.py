"""What an SPF evaluation returns: the verdict and the evidence behind it.

Everything here is a frozen dataclass so a result can be passed around,
compared in tests and rendered without fear of it changing underneath.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

#: The seven results of RFC 7208 section 2.6.
Result = Literal[
    "pass", "fail", "softfail", "neutral", "none", "permerror", "temperror"
]
RESULTS: tuple[Result, ...] = (
    "pass", "fail", "softfail", "neutral", "none", "permerror", "temperror"
)

#: Names of the limits of RFC 7208 section 4.6.4, as ``limit_exceeded`` holds.
LIMIT_DNS_TERMS = "dns-terms"
LIMIT_VOID_LOOKUPS = "void-lookups"
LIMIT_MX_NAMES = "mx-names"


@dataclass(frozen=True)
class TermRef:
    """One term of one record: the record's domain, its 1-based place, its text."""

    domain: str
    position: int
    text: str

    def __str__(self) -> str:
        return f"{self.text!r} (term {self.position} of {self.domain})"


@dataclass(frozen=True)
class LookupStep:
    """One DNS query the evaluation made, and why.

    ``status`` is the DNS outcome of ``checker.dns.Answer`` or "invalid" when
    the name could not be queried at all. ``term`` is the term that caused
    the query (None for the record lookup of the checked domain itself).
    ``children`` hold the queries made because of this answer: the terms of
    an included or redirected record, the address lookups of MX or PTR names.
    """

    qname: str
    rdtype: str
    status: str
    records: tuple[str, ...] = ()
    term: TermRef | None = None
    void: bool = False
    detail: str = ""
    children: tuple[LookupStep, ...] = ()

    def line(self) -> str:
        shown = ", ".join(self.records) if self.records else self.status.upper()
        cause = f" by {self.term}" if self.term else ""
        extra = f" [{self.detail}]" if self.detail else ""
        void = " (void)" if self.void else ""
        return f"{self.qname} {self.rdtype}{cause}: {shown}{void}{extra}"


@dataclass(frozen=True)
class SpfEvaluation:
    """The outcome of check_host() and how it was reached.

    ``matched_term`` is the innermost mechanism that matched; ``match_path``
    is the chain of terms from the checked record down to it (an include or
    redirect, then the term inside). ``dns_terms`` and ``void_lookups`` are
    the counters of RFC 7208 section 4.6.4; when one went past its limit,
    ``limit_exceeded`` names it and ``past_limit`` is the first term beyond.
    ``problem`` says in words why the result is none, permerror or
    temperror, and ``problem_term`` is where it arose.
    """

    result: Result
    domain: str
    ip: str
    sender: str
    identity: str = "mailfrom"
    record: str | None = None
    matched_term: TermRef | None = None
    match_path: tuple[TermRef, ...] = ()
    explanation: str | None = None
    lookups: tuple[LookupStep, ...] = ()
    dns_terms: int = 0
    void_lookups: int = 0
    limit_exceeded: str | None = None
    past_limit: TermRef | None = None
    problem: str | None = None
    problem_term: TermRef | None = None

    def walk(self) -> Iterator[tuple[int, LookupStep]]:
        """Every lookup step with its depth in the tree, in the order made."""
        stack = [(0, step) for step in reversed(self.lookups)]
        while stack:
            depth, step = stack.pop()
            yield depth, step
            stack.extend((depth + 1, child) for child in reversed(step.children))

    def render(self) -> str:
        """A human-readable account: verdict, reason, then the lookup tree."""
        lines = [f"SPF {self.result} for {self.ip} as {self.sender} "
                 f"(domain {self.domain}, identity {self.identity})"]
        if self.matched_term:
            path = " -> ".join(str(t) for t in self.match_path)
            lines.append(f"  matched: {path}")
        if self.problem:
            lines.append(f"  problem: {self.problem}")
        if self.explanation is not None:
            lines.append(f"  explanation: {self.explanation}")
        lines.append(f"  DNS-querying terms: {self.dns_terms}/10, "
                     f"void lookups: {self.void_lookups}/2")
        lines.extend("    " + "  " * depth + step.line() for depth, step in self.walk())
        return "\n".join(lines)
