"""A static count of DNS-querying terms over a whole include/redirect tree.

check_host() stops at the first match, so a record that needs 14 lookups
for the last of its includes passes for every client that an early term
matches, and fails with permerror only for the others. A checker must warn
about that before it bites, so this walk follows every include and every
redirect (section 6.1 ignores redirect next to "all", and so does this) and
counts each DNS-querying term once, in the order an unmatched client would
reach it (RFC 7208 section 4.6.4).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .lookups import FAILED, MAX_DNS_TERMS, Resolver, is_void
from .names import query_name_problem, strip_root
from .results import TermRef
from .terms import Mechanism, Modifier, SpfSyntaxError, parse_record, select_record

#: How many records one walk fetches at most, so a hostile tree stays cheap.
MAX_RECORDS = 40


@dataclass(frozen=True)
class CountedTerm:
    """A DNS-querying term, the running count after it, and what it led to."""

    term: TermRef
    running_total: int
    target: str | None = None
    note: str = ""
    nested: tuple[CountedTerm, ...] = ()


@dataclass(frozen=True)
class LookupCount:
    """The worst case of one domain's SPF tree against the limit of 10."""

    domain: str
    total: int
    terms: tuple[CountedTerm, ...]
    first_past_limit: TermRef | None
    problems: tuple[str, ...] = ()

    @property
    def exceeds_limit(self) -> bool:
        return self.total > MAX_DNS_TERMS


@dataclass
class _Walk:
    dns: Resolver
    total: int = 0
    fetched: int = 0
    first_past: TermRef | None = None
    problems: list[str] = field(default_factory=list)


async def count_lookups(dns: Resolver, domain: str) -> LookupCount:
    """Count every DNS-querying term reachable from ``domain``'s record.

    Targets holding macros depend on the message and are counted but not
    followed; the note of their ``CountedTerm`` says so.
    """
    walk = _Walk(dns)
    name = strip_root(domain.strip()).lower()
    terms = await _walk_record(walk, name, (name,))
    return LookupCount(domain=name, total=walk.total, terms=terms,
                       first_past_limit=walk.first_past,
                       problems=tuple(walk.problems))


async def _walk_record(walk: _Walk, domain: str,
                       chain: tuple[str, ...]) -> tuple[CountedTerm, ...]:
    walk.fetched += 1
    answer = await walk.dns.query(domain, "TXT")
    if answer.status in FAILED or is_void(answer):
        walk.problems.append(f"{domain}: TXT lookup gave {answer.status}")
        return ()
    selection = select_record(answer.records)
    if selection.record is None:
        walk.problems.append(f"{domain}: {selection.problem}")
        return ()
    try:
        record = parse_record(selection.record)
    except SpfSyntaxError as exc:
        walk.problems.append(f"{domain}: syntax error in term {exc.position} "
                             f"{exc.text!r}: {exc.reason}")
        return ()

    # Mechanisms in order, then redirect: the path of a client nothing matches.
    order: list[Mechanism | Modifier] = list(record.mechanisms)
    if record.redirect is not None:
        order.append(record.redirect)
    counted: list[CountedTerm] = []
    for term in order:
        if not term.queries_dns:
            continue
        ref = TermRef(domain, term.position, term.text)
        walk.total += 1
        if walk.total == MAX_DNS_TERMS + 1:
            walk.first_past = ref
        counted.append(await _follow(walk, term, ref, chain))
    return tuple(counted)


async def _follow(walk: _Walk, term: Mechanism | Modifier, ref: TermRef,
                  chain: tuple[str, ...]) -> CountedTerm:
    running = walk.total
    recurses = (isinstance(term, Mechanism) and term.name == "include") or \
        isinstance(term, Modifier)
    spec = term.value if isinstance(term, Modifier) else term.domain_spec
    # TODO: mx terms are not checked for more than 10 MX names; that needs a
    # query per mx term, which this count of terms does not make yet.
    if not recurses or spec is None:
        return CountedTerm(ref, running)
    if spec.has_macros:
        return CountedTerm(ref, running, note="target depends on the message; "
                           "not followed")

    target = strip_root(spec.text).lower()
    if query_name_problem(target):
        return CountedTerm(ref, running, target, note="target is not a valid name")
    if target in chain:
        walk.problems.append(f"{ref} loops back to {target}")
        return CountedTerm(ref, running, target, note="loop: not followed again")
    if walk.fetched >= MAX_RECORDS:
        return CountedTerm(ref, running, target,
                           note=f"not followed: more than {MAX_RECORDS} records")
    nested = await _walk_record(walk, target, (*chain, target))
    return CountedTerm(ref, running, target, nested=nested)
