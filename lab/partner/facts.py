"""Gathering ``ClientFacts``: the DNS questions a large receiver asks.

Only the questions the policy needs are asked, all through the lab's DNS:
the client's PTR and those names' addresses (forward-confirmed reverse DNS,
RFC 8601 section 2.7.3 calls it "iprev"), the HELO name's addresses, each
blocklist (RFC 5782: the reversed address under the list's zone, A then
TXT for the reason) and the SPF verdict (pyspf).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging

from lab.relay.resolver import LabResolver

from .policy import ClientFacts, Listing, PartnerPolicy, blocklist_kind
from .spf_verdict import spf_verdict

log = logging.getLogger(__name__)

#: A bound on PTR names followed for the forward check (RFC 8601 2.7.3
#: suggests a small limit; Postfix uses the first few as well).
MAX_PTR_NAMES = 5


def blocklist_name(address: str, zone: str) -> str:
    """``2.0.0.127.<zone>`` for 127.0.0.2, nibbles for IPv6 (RFC 5782 2.1, 2.4)."""
    ip = ipaddress.ip_address(address)
    if ip.version == 4:
        reversed_part = ".".join(reversed(address.split(".")))
    else:
        reversed_part = ".".join(reversed(ip.exploded.replace(":", "")))
    return f"{reversed_part}.{zone.rstrip('.')}"


async def _listing(resolver: LabResolver, address: str, zone: str) -> Listing:
    name = blocklist_name(address, zone)
    found = await resolver.query(name, "A")
    if found.status in ("nxdomain", "nodata"):
        return Listing(zone, "clean")
    if found.status != "ok":
        log.warning("blocklist %s did not answer for %s (%s); accepting", zone,
                    address, found.status)
        return Listing(zone, "error")

    answers = [str(a) for a in found.records]
    kinds = [blocklist_kind(a) for a in answers]
    if "listed" not in kinds:
        log.warning("blocklist %s answered %s for %s: a refusal or error code, "
                    "not a listing; accepting", zone, ", ".join(answers), address)
        return Listing(zone, "error", answers[0])

    txt = await resolver.query(name, "TXT")
    reason = " ".join(b"".join(r).decode("utf-8", "replace")  # type: ignore[arg-type]
                      for r in txt.records if isinstance(r, tuple))
    return Listing(zone, "listed", answers[kinds.index("listed")], reason)


async def _reverse(resolver: LabResolver, address: str
                   ) -> tuple[str, tuple[str, ...], tuple[str, ...], bool]:
    ptr = await resolver.ptr(address)
    names = tuple(str(n) for n in ptr.records)[:MAX_PTR_NAMES]
    answers = await asyncio.gather(*(resolver.addresses(n) for n in names))
    confirmed, unsure = [], False
    for name, (a, aaaa) in zip(names, answers):
        if address in (*a.records, *aaaa.records):
            confirmed.append(name)
        elif not (a.definite and aaaa.definite):
            unsure = True
    return ptr.status, names, tuple(confirmed), unsure


async def gather_facts(policy: PartnerPolicy, resolver: LabResolver, address: str,
                       helo: str, mail_from: str, receiver: str) -> ClientFacts:
    """Ask what ``policy`` needs to know about this client and sender."""
    ptr_status, names, confirmed, unsure = "nodata", (), (), False
    if policy.require_ptr or policy.require_fcrdns:
        ptr_status, names, confirmed, unsure = await _reverse(resolver, address)

    helo_status, helo_addresses = "nodata", ()
    if policy.require_helo_match and not helo.startswith("["):
        a, aaaa = await resolver.addresses(helo)
        helo_addresses = tuple(str(x) for x in (*a.records, *aaaa.records))
        helo_status = "ok" if helo_addresses else (
            a.status if not a.definite else aaaa.status
            if not aaaa.definite else a.status)

    listings = tuple(await asyncio.gather(
        *(_listing(resolver, address, zone) for zone in policy.blocklists)))

    # Evaluated even when the policy ignores it: Received-SPF shows it.
    verdict = await spf_verdict(address, mail_from, helo, receiver=receiver,
                                server=resolver.server, port=resolver.port,
                                timeout=resolver.timeout)

    return ClientFacts(
        address=address, helo=helo, ptr_status=ptr_status, ptr_names=names,
        confirmed_names=confirmed, forward_unsure=unsure, helo_status=helo_status,
        helo_addresses=helo_addresses, mail_from=mail_from,
        spf_result=verdict.result, spf_explanation=verdict.explanation,
        listings=listings)
