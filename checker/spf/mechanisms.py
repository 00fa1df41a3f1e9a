"""The mechanisms that match on addresses: a, mx, ptr, exists, ip4, ip6.

Each function answers "does this mechanism match the client?" for one
term, making its DNS queries through the ``Evaluation`` so they land in the
lookup tree. include and redirect recurse into check_host() and live in the
evaluator. Unless RFC 7208 says otherwise, a failed query ends the check
with temperror, and NXDOMAIN is the same as an empty answer (section 5).
"""

from __future__ import annotations

import ipaddress

from .lookups import FAILED, MAX_NAMES, Abort, Evaluation, Step
from .names import IPAddress, is_same_or_subdomain, query_name_problem, strip_root
from .results import LIMIT_MX_NAMES, TermRef
from .terms import Mechanism


def in_network(ip: IPAddress, address: IPAddress, mechanism: Mechanism) -> bool:
    """Does ``ip`` share the mechanism's prefix with ``address`` (5.3, 5.4)?"""
    if ip.version != address.version:
        return False
    if ip.version == 4:
        length = 32 if mechanism.cidr4 is None else mechanism.cidr4
    else:
        length = 128 if mechanism.cidr6 is None else mechanism.cidr6
    network = ipaddress.ip_network(f"{address}/{length}", strict=False)
    return ip in network


def match_ip(mechanism: Mechanism, ip: IPAddress) -> bool:
    """ip4 and ip6 (section 5.6): an IPv4 client never matches ip6."""
    network = mechanism.network
    return network is not None and ip.version == network.version and ip in network


def _temperror(name: str, rdtype: str, status: str, term: TermRef) -> Abort:
    return Abort("temperror", f"{name} {rdtype} lookup for {term} failed: "
                 f"{status} (RFC 7208 section 5)", term)


async def match_a(run: Evaluation, mechanism: Mechanism, target: str,
                  steps: list[Step], term: TermRef) -> bool:
    """Section 5.3: any A/AAAA record of the target within the prefix."""
    found = await run.addresses(target, steps, term, counts_void=True)
    if found is None:
        rdtype = "A" if run.ip.version == 4 else "AAAA"
        raise _temperror(target, rdtype, steps[-1].status, term)
    return any(in_network(run.ip, address, mechanism) for address in found)


async def match_mx(run: Evaluation, mechanism: Mechanism, target: str,
                   steps: list[Step], term: TermRef) -> bool:
    """Section 5.4: any address of any MX host of the target.

    More than 10 MX names is a permerror (section 4.6.4, where RFC 7208
    settled the old dispute in favour of permerror). The target itself is
    never taken as its own MX when it has none (section 5.4).
    """
    answer, step = await run.query(target, "MX", steps, term, counts_void=True)
    if answer.status in FAILED:
        raise _temperror(target, "MX", answer.status, term)
    exchanges = sorted((r for r in answer.records if isinstance(r, tuple)),
                       key=lambda r: int(r[0]))
    if len(exchanges) > MAX_NAMES:
        raise Abort("permerror", f"{target} has {len(exchanges)} MX records; "
                    f"{term} may look at no more than {MAX_NAMES} "
                    "(RFC 7208 section 4.6.4)", term, LIMIT_MX_NAMES)

    for _preference, exchange in exchanges:
        name = strip_root(str(exchange)).lower()
        # RFC 7505: a null MX (".") names no host at all.
        problem = query_name_problem(name)
        if problem:
            step.children.append(Step(qname=name or ".", rdtype="-",
                                      status="invalid", term=term,
                                      detail=f"MX host not queried: {problem}"))
            continue
        found = await run.addresses(name, step.children, term)
        if found is None:
            rdtype = "A" if run.ip.version == 4 else "AAAA"
            raise _temperror(name, rdtype, step.children[-1].status, term)
        if any(in_network(run.ip, address, mechanism) for address in found):
            return True
    return False


async def match_ptr(run: Evaluation, target: str, steps: list[Step],
                    term: TermRef) -> bool:
    """Section 5.5: a validated PTR name equal to or below the target.

    Only names that could match are validated, in the order of the answer,
    among its first 10. DNS errors make a name (or the whole PTR set) count
    as not validated instead of ending the check.
    """
    names, ptr_step = await run.ptr_names(steps, term, counts_void=True)
    for name in names:
        if not is_same_or_subdomain(name, target):
            continue
        if await run.validates(name, ptr_step.children, term):
            return True
    return False


async def match_exists(run: Evaluation, target: str, steps: list[Step],
                       term: TermRef) -> bool:
    """Section 5.7: an A query, whatever the client's family; any answer matches."""
    answer, _ = await run.query(target, "A", steps, term, counts_void=True)
    if answer.status in FAILED:
        raise _temperror(target, "A", answer.status, term)
    return answer.status == "ok" and bool(answer.records)
