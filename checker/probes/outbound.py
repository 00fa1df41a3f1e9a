"""The outbound relay as receivers judge it: the name it announces, and the
DNS blocklists that list its address.

A receiver that checks HELO looks up the name the client gave: RFC 5321
section 4.1.4 wants a name that resolves to an address record (or an
address literal), and RFC 1912 section 2.1 wants the names and addresses of
a host to agree. An MTA greets and says EHLO with the same host name, so the
probe reads the name from the relay's own 220 greeting on port 25. A relay
that does not listen there says nothing either way: many relays only send.

Blocklists (RFC 5782) are asked only in the zones the target names, through
the target's resolver: a checker queries the lists it is configured with,
never a list of its own choosing.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
from dataclasses import dataclass
from typing import Literal

from ..dns import Answer, DnsClient
from ..findings import Finding
from ..target import Target
from .dnsfail import dns_failure
from .mx import addresses
from .smtp_client import Reply, SmtpSession
from .tcp import connect

log = logging.getLogger(__name__)

SMTP_PORT = 25

#: RFC 5782 section 2.1: a listing answers an address in 127.0.0.0/8;
#: 127.0.0.1 is never listed (section 5), and we take .255 as no host.
LISTED = (ipaddress.ip_address("127.0.0.2"), ipaddress.ip_address("127.0.0.254"))
#: What large lists answer when they refuse the query itself (a typo in the
#: zone, a public resolver, too many queries): an error, not a listing.
REFUSALS = (ipaddress.ip_address("127.255.255.252"),
            ipaddress.ip_address("127.255.255.255"))

ListingKind = Literal["listed", "refusal", "unexpected"]
NameVerdict = Literal["ok", "unresolvable", "mismatch", "inconclusive"]

# A host name as a greeting carries it (RFC 1123 section 2.1 labels).
_HOST_NAME = re.compile(r"^(?=.*[a-z-])[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?$")


# region: verdicts without I/O

def announced_name(banner: Reply) -> str | None:
    """The host name a 220 greeting announces (RFC 5321 section 4.3.1).

    None for a greeting that is not 220, and for an address literal or a
    masked banner, which name no host to look up.
    """
    if banner.code != 220 or not banner.lines:
        return None

    words = banner.lines[0].split()
    name = words[0].rstrip(".").lower() if words else ""
    return name if _HOST_NAME.match(name) else None


def name_verdict(address: str, answers: list[Answer]) -> NameVerdict:
    """Whether the A/AAAA answers for an announced name lead to ``address``."""
    wanted = ipaddress.ip_address(address)
    found = {ipaddress.ip_address(str(r)) for a in answers if a.status == "ok"
             for r in a.records}
    if wanted in found:
        return "ok"

    # A timeout or SERVFAIL says nothing about the name (RFC 8499).
    if not all(a.definite for a in answers):
        return "inconclusive"
    return "mismatch" if found else "unresolvable"


def listing_kind(answer: str) -> ListingKind:
    """Classify one A answer of a blocklist (RFC 5782 section 2.1)."""
    try:
        ip = ipaddress.ip_address(answer)
    except ValueError:
        return "unexpected"

    if ip.version != 4:
        return "unexpected"
    if LISTED[0] <= ip <= LISTED[1]:
        return "listed"
    if REFUSALS[0] <= ip <= REFUSALS[1]:
        return "refusal"
    # 127.0.0.1, or an address outside 127/8 (a resolver that rewrites
    # NXDOMAIN): neither is a listing.
    return "unexpected"


def blocklist_query(address: str, zone: str) -> str:
    """``13.0.77.127.<zone>``; nibbles for IPv6 (RFC 5782 sections 2.1, 2.4)."""
    ip = ipaddress.ip_address(address)
    if ip.version == 4:
        reversed_part = ".".join(reversed(str(ip).split(".")))
    else:
        reversed_part = ".".join(reversed(ip.exploded.replace(":", "")))
    return f"{reversed_part}.{zone.rstrip('.').lower()}"


def txt_reason(answer: Answer) -> str:
    """The TXT reason a list gives, its strings joined (RFC 5782 section 2.1)."""
    texts = [b"".join(r).decode("utf-8", "replace") for r in answer.records
             if isinstance(r, tuple) and all(isinstance(p, bytes) for p in r)]
    return " ".join(texts)

# endregion


async def probe_outbound(target: Target, dns: DnsClient, address: str,
                         timeout: float) -> list[Finding]:
    """Every check of one outbound address, concurrently."""
    parts = await asyncio.gather(
        probe_announced_name(target, dns, address, timeout),
        probe_blocklists(dns, address, target.blocklists))
    return [f for part in parts for f in part]


async def probe_announced_name(target: Target, dns: DnsClient, address: str,
                               timeout: float) -> list[Finding]:
    """Whether the name in the relay's greeting resolves back to the relay."""
    banner = await _read_banner(address, target.port(address, SMTP_PORT), timeout)
    if banner is None:
        return []

    name = announced_name(banner)
    if name is None:
        log.debug("relay %s announces no host name: %s", address, banner.text)
        return []

    found, answers = await addresses(dns, name)
    verdict = name_verdict(address, answers)
    if verdict == "ok":
        return []

    greeting = f"S: {banner.code} {banner.lines[0]}"
    evidence = (greeting, *(a.evidence() for a in answers))
    if verdict == "inconclusive":
        failed = next(a for a in answers if not a.definite)
        return [dns_failure(failed, f"cannot resolve the relay's name {name}")]
    if verdict == "unresolvable":
        return [Finding(
            "relay.ehlo-unresolvable", address,
            f"the outbound relay {address} greets as {name}, a name with no "
            "address; receivers that check HELO refuse its mail", evidence,
            extra={"name": name})]
    return [Finding(
        "relay.ehlo-mismatch", address,
        f"the outbound relay {address} greets as {name}, which resolves to "
        f"{', '.join(found)}, not to the relay", evidence, extra={"name": name})]


async def _read_banner(address: str, port: int, timeout: float) -> Reply | None:
    """The greeting on the relay's port 25, or None when it gives none."""
    conn = await connect(address, port, timeout)
    if conn.state != "open":
        log.debug("relay %s has no SMTP listener: %s", address, conn.evidence())
        return None

    session = SmtpSession(conn, timeout)
    try:
        banner = await session.read_reply()
    except (OSError, ValueError, TimeoutError) as exc:
        log.debug("relay %s: no usable greeting (%s)", address, type(exc).__name__)
        await conn.close()
        return None

    try:
        # A polite client ends the session it opened (RFC 5321 4.1.1.10).
        await session.command("QUIT")
    except (OSError, ValueError, TimeoutError):
        log.debug("relay %s: no answer to QUIT", address)
    finally:
        await conn.close()
    return banner


@dataclass(frozen=True)
class ListAnswer:
    """What one blocklist said about one address."""

    zone: str
    listed: bool = False
    reason: str = ""
    evidence: tuple[str, ...] = ()
    failure: Finding | None = None


async def probe_blocklists(dns: DnsClient, address: str,
                           zones: tuple[str, ...]) -> list[Finding]:
    """One finding for the address, naming every zone that lists it."""
    answers = await asyncio.gather(*(_ask_list(dns, address, z) for z in zones))

    found = [a.failure for a in answers if a.failure is not None]
    listed = [a for a in answers if a.listed]
    if listed:
        names = ", ".join(a.zone for a in listed)
        found.append(Finding(
            "relay.listed", address,
            f"the outbound relay address {address} is listed by {names}: "
            + "; ".join(a.reason for a in listed),
            tuple(line for a in listed for line in a.evidence),
            extra={"reasons": {a.zone: a.reason for a in listed}}))
    return found


async def _ask_list(dns: DnsClient, address: str, zone: str) -> ListAnswer:
    name = blocklist_query(address, zone)
    answer = await dns.query(name, "A")
    if answer.status in ("nxdomain", "nodata"):
        log.debug("%s is not listed by %s: %s", address, zone, answer.evidence())
        return ListAnswer(zone)
    if not answer.definite:
        why = f"the {zone} lookup of {address} failed"
        return ListAnswer(zone, failure=dns_failure(answer, why))

    if "listed" not in [listing_kind(str(r)) for r in answer.records]:
        # The list refused the query, or answered out of range: no listing.
        log.debug("%s gave an error code, not a listing: %s", zone,
                  answer.evidence())
        return ListAnswer(zone)

    txt = await dns.query(name, "TXT")
    reason = txt_reason(txt) if txt.status == "ok" else ""
    return ListAnswer(zone, True, reason or f"listed by {zone}",
                      (answer.evidence(), txt.evidence()))
