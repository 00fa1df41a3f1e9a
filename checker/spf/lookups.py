"""The DNS side of one SPF evaluation: queries, their record, the limits.

``Evaluation`` is the mutable state of a single check_host() run, shared by
every nested include and redirect because RFC 7208 section 4.6.4 counts
across the whole check. Each query it makes becomes a step of the lookup
tree, attached under the step that caused it. A limit crossed, or an error
that ends the check, is raised as ``Abort`` and caught at the top.
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass, field
from typing import Protocol

from ..dns import Answer
from .macros import MacroContext, MacroString, expand
from .names import (
    IPAddress,
    is_same_or_subdomain,
    query_name_problem,
    reverse_name,
    strip_root,
    truncate_left,
)
from .results import (
    LIMIT_DNS_TERMS,
    LIMIT_VOID_LOOKUPS,
    LookupStep,
    Result,
    TermRef,
)

log = logging.getLogger(__name__)

#: Section 4.6.4: at most 10 DNS-querying terms, at most 2 void lookups,
#: at most 10 names from one MX or PTR answer.
MAX_DNS_TERMS = 10
MAX_VOID_LOOKUPS = 2
MAX_NAMES = 10

#: Answers that only say the question went unanswered (RFC 7208 sections
#: 4.4 and 5 make them temperror where an answer was needed).
FAILED = frozenset({"servfail", "refused", "timeout", "error"})


class Resolver(Protocol):
    """Anything that answers like ``checker.dns.DnsClient``."""

    async def query(self, qname: str, rdtype: str) -> Answer: ...


class Abort(Exception):
    """Ends the whole check with ``result`` (permerror or temperror)."""

    def __init__(self, result: Result, problem: str, term: TermRef | None,
                 limit: str | None = None) -> None:
        super().__init__(problem)
        self.result = result
        self.problem = problem
        self.term = term
        self.limit = limit


@dataclass
class Step:
    """A lookup step under construction; frozen into ``LookupStep`` at the end."""

    qname: str
    rdtype: str
    status: str
    records: tuple[str, ...] = ()
    term: TermRef | None = None
    void: bool = False
    detail: str = ""
    children: list[Step] = field(default_factory=list)

    def freeze(self) -> LookupStep:
        return LookupStep(
            qname=self.qname, rdtype=self.rdtype, status=self.status,
            records=self.records, term=self.term, void=self.void,
            detail=self.detail,
            children=tuple(child.freeze() for child in self.children),
        )


def is_void(answer: Answer) -> bool:
    """Section 4.6.4: NXDOMAIN, or NOERROR with no answer records."""
    return answer.status in ("nxdomain", "nodata") or (
        answer.status == "ok" and not answer.records)


def _show(record: object) -> str:
    if isinstance(record, tuple) and all(isinstance(p, bytes) for p in record):
        return " ".join('"' + p.decode("ascii", "backslashreplace") + '"'
                        for p in record)
    if isinstance(record, tuple) and len(record) == 2:
        return f"{record[0]} {record[1]}"
    return str(record)


@dataclass
class Evaluation:
    """State of one check_host() run (the whole tree of includes)."""

    dns: Resolver
    ip: IPAddress
    sender: str
    local_part: str
    sender_domain: str
    helo: str
    receiver: str
    now: int
    dns_terms: int = 0
    void_lookups: int = 0
    validated: dict[str, str] = field(default_factory=dict)
    record: str | None = None

    async def query(self, qname: str, rdtype: str, steps: list[Step],
                    term: TermRef | None, *, counts_void: bool = False
                    ) -> tuple[Answer, Step]:
        """Ask, record the step under ``steps``, and count a void answer."""
        try:
            answer = await self.dns.query(qname, rdtype)
        except Exception as exc:  # noqa: BLE001 - a resolver bug is evidence too
            answer = Answer(qname=qname, rdtype=rdtype, status="error",
                            detail=f"{type(exc).__name__}: {exc}")
        step = Step(qname=qname, rdtype=rdtype, status=answer.status,
                    records=tuple(_show(r) for r in answer.records), term=term,
                    detail=answer.detail)
        steps.append(step)
        log.debug("spf query %s %s for %s: %s", qname, rdtype, term, answer.status)

        # TODO: only a term's own query counts as void, not the address
        # lookups of MX or PTR names; RFC 7208 4.6.4 does not say which count.
        if counts_void and is_void(answer):
            step.void = True
            self.void_lookups += 1
            if self.void_lookups > MAX_VOID_LOOKUPS:
                raise Abort("permerror",
                            f"more than {MAX_VOID_LOOKUPS} void lookups: "
                            f"{qname} {rdtype} was number {self.void_lookups} "
                            "(RFC 7208 section 4.6.4)", term, LIMIT_VOID_LOOKUPS)
        return answer, step

    def count_term(self, term: TermRef) -> None:
        """Section 4.6.4: the 11th DNS-querying term ends the check."""
        if self.dns_terms >= MAX_DNS_TERMS:
            raise Abort("permerror",
                        f"more than {MAX_DNS_TERMS} DNS-querying terms; the "
                        f"first past the limit is {term} "
                        "(RFC 7208 section 4.6.4)", term, LIMIT_DNS_TERMS)
        self.dns_terms += 1

    def context(self, domain: str) -> MacroContext:
        return MacroContext(
            sender=self.sender, local_part=self.local_part,
            sender_domain=self.sender_domain, domain=domain, ip=self.ip,
            helo=self.helo, receiver=self.receiver, now=self.now,
            validated_name=self.validated.get(domain.lower(), "unknown"),
        )

    async def expand(self, spec: MacroString, domain: str, steps: list[Step],
                     term: TermRef | None) -> str:
        """Expand ``spec`` for ``domain``, looking up %{p} first if it is used."""
        if spec.uses("p"):
            await self.resolve_p(domain, steps, term)
        return expand(spec, self.context(domain))

    async def target(self, spec: MacroString | None, domain: str,
                     steps: list[Step], term: TermRef | None
                     ) -> tuple[str, str | None]:
        """The target-name of a term (section 4.8) and why it is unusable, if so."""
        if spec is None:
            return domain, None
        name = truncate_left(strip_root(await self.expand(spec, domain, steps, term)))
        problem = query_name_problem(name)
        if problem:
            steps.append(Step(qname=name, rdtype="-", status="invalid", term=term,
                              detail=f"not queried: {problem}"))
        return name, problem

    async def addresses(self, name: str, steps: list[Step], term: TermRef | None,
                        *, counts_void: bool = False) -> tuple[IPAddress, ...] | None:
        """A or AAAA of ``name`` by the client's family; None on a DNS failure."""
        rdtype = "A" if self.ip.version == 4 else "AAAA"
        answer, _ = await self.query(name, rdtype, steps, term,
                                     counts_void=counts_void)
        if answer.status in FAILED:
            return None
        return tuple(_parse_addresses(answer.records, self.ip.version))

    async def ptr_names(self, steps: list[Step], term: TermRef | None,
                        *, counts_void: bool) -> tuple[list[str], Step]:
        """The first 10 names of the client's PTR records (sections 4.6.4, 5.5).

        A DNS error here makes the names unknown rather than failing the check.
        """
        answer, step = await self.query(reverse_name(self.ip), "PTR", steps, term,
                                        counts_void=counts_void)
        names = [strip_root(str(r)).lower() for r in answer.records
                 if answer.status == "ok"]
        if len(names) > MAX_NAMES:
            step.detail = (f"{len(names)} PTR names; only the first "
                           f"{MAX_NAMES} are checked (RFC 7208 section 4.6.4)")
        return names[:MAX_NAMES], step

    async def validates(self, name: str, steps: list[Step],
                        term: TermRef | None) -> bool:
        """Does ``name`` lead back to the client's address (section 5.5)?"""
        if query_name_problem(name):
            return False
        found = await self.addresses(name, steps, term)
        return bool(found) and self.ip in found

    async def resolve_p(self, domain: str, steps: list[Step],
                        term: TermRef | None) -> str:
        """The %{p} value: a validated name, preferring ``domain`` (7.3)."""
        # TODO: these PTR lookups do not count towards the 10-term limit;
        # section 4.6.4 is unclear and the term using %{p} is counted already.
        key = domain.lower()
        if key in self.validated:
            return self.validated[key]
        names, ptr_step = await self.ptr_names(steps, term, counts_void=False)
        preferred = [n for n in names if is_same_or_subdomain(n, domain)]
        others = [n for n in names if n not in preferred]
        value = "unknown"
        for name in preferred + others:
            if await self.validates(name, ptr_step.children, term):
                value = name
                break
        self.validated[key] = value
        return value


def _parse_addresses(records: tuple[object, ...], version: int) -> list[IPAddress]:
    out: list[IPAddress] = []
    for record in records:
        try:
            address = ipaddress.ip_address(str(record))
        except ValueError:
            continue
        if address.version == version:
            out.append(address)
    return out
