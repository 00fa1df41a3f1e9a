"""A partner organisation's receiving policy: pure decisions on gathered facts.

The server gathers what a large receiver knows about a client (PTR,
forward-confirmed reverse DNS, the HELO name's addresses, the SPF verdict,
DNS blocklist answers) into ``ClientFacts``; ``judge`` turns facts and a
``PartnerPolicy`` into the reply a real receiver would give. Like Postfix
with ``smtpd_delay_reject``, every check answers at RCPT TO, so the relay
sees the reason attached to a recipient. Texts follow what large receivers
send, with the enhanced codes of RFC 3463, RFC 7372 (SPF) and RFC 8689's
registry (5.7.25 for reverse DNS).
"""

from __future__ import annotations

import ipaddress
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Literal

SpfMode = Literal["reject", "defer-temperror", "ignore"]
ListingKind = Literal["listed", "error", "clean"]

MAX_GREYLIST = 10_000
MAX_RATE_CLIENTS = 10_000


@dataclass(frozen=True)
class PartnerPolicy:
    """What the partner demands of a sending client.

    ``spf``: ``reject`` refuses an SPF fail (550 5.7.23); ``defer-temperror``
    also defers a temporary SPF error (451 4.7.24); ``ignore`` only records
    the verdict in a Received-SPF header. ``rate_limit`` is the number of
    messages one client address may send per ``rate_window`` seconds.
    """

    require_ptr: bool = False
    require_fcrdns: bool = False
    require_helo_match: bool = False
    spf: SpfMode = "ignore"
    blocklists: tuple[str, ...] = ()
    greylist_seconds: float | None = None
    rate_limit: int | None = None
    rate_window: float = 60.0
    max_recipients: int = 100
    max_message: int = 10 * 1024 * 1024


@dataclass(frozen=True)
class Listing:
    """A DNS blocklist's answer about one address."""

    zone: str
    kind: ListingKind
    answer: str = ""
    reason: str = ""


@dataclass(frozen=True)
class ClientFacts:
    """What DNS says about the connecting client, for one transaction."""

    address: str
    helo: str
    #: ``ok``/``nxdomain``/``nodata`` or a temporary failure (see resolver).
    ptr_status: str = "nodata"
    ptr_names: tuple[str, ...] = ()
    #: The PTR names whose A/AAAA include ``address``.
    confirmed_names: tuple[str, ...] = ()
    #: True when some PTR name's forward lookup could not be answered.
    forward_unsure: bool = False
    helo_status: str = "nodata"
    helo_addresses: tuple[str, ...] = ()
    mail_from: str = ""
    spf_result: str = "none"
    spf_explanation: str = ""
    listings: tuple[Listing, ...] = ()


def blocklist_kind(answer: str) -> ListingKind:
    """Classify a blocklist A answer (RFC 5782 section 2.3).

    127.0.0.2 up to 127.0.0.255 means listed. Large lists answer
    127.255.255.252-255 when they refuse a query (a typo in the zone, a
    public resolver, too many queries): that is an error, not a listing,
    and treating it as one would refuse everybody's mail.
    """
    try:
        ip = ipaddress.ip_address(answer)
    except ValueError:
        return "error"
    if ipaddress.ip_address("127.255.255.252") <= ip <= \
            ipaddress.ip_address("127.255.255.255"):
        return "error"
    if ipaddress.ip_address("127.0.0.2") <= ip <= ipaddress.ip_address("127.0.0.255"):
        return "listed"
    return "error"


def helo_is_fqdn(helo: str) -> bool:
    """A domain with a dot, or an address literal (RFC 5321 section 4.1.1.1)."""
    if helo.startswith("[") and helo.endswith("]"):
        return True
    labels = helo.rstrip(".").split(".")
    return len(labels) >= 2 and all(labels) and not helo.replace(".", "").isdigit()


def _temporary(status: str) -> bool:
    return status not in ("ok", "nxdomain", "nodata")


def judge(policy: PartnerPolicy, facts: ClientFacts) -> str | None:
    """The refusal for this client and transaction, or None to accept."""
    ip = facts.address

    if policy.require_ptr or policy.require_fcrdns:
        if _temporary(facts.ptr_status):
            return (f"450 4.7.25 Client host rejected: cannot find your reverse "
                    f"hostname, [{ip}] (try again later)")
        if not facts.ptr_names:
            return (f"550-5.7.25 [{ip}] The IP address sending this message does "
                    f"not have a\r\n550-5.7.25 PTR record setup, or the "
                    f"corresponding forward DNS entry does\r\n550 5.7.25 not "
                    f"point to the sending IP.")
    if policy.require_fcrdns and not facts.confirmed_names:
        if facts.forward_unsure:
            return (f"450 4.7.25 Client host rejected: cannot confirm your "
                    f"hostname {facts.ptr_names[0]}, [{ip}] (try again later)")
        return (f"550 5.7.25 [{ip}] Client host rejected: the reverse name "
                f"{facts.ptr_names[0]} does not resolve back to {ip} "
                f"(forward-confirmed reverse DNS failed)")

    if policy.require_helo_match:
        refusal = _judge_helo(facts)
        if refusal:
            return refusal

    for listing in facts.listings:
        if listing.kind == "listed":
            reason = listing.reason or f"listed by {listing.zone}"
            return (f"550 5.7.1 Service unavailable; Client host [{ip}] blocked "
                    f"using {listing.zone}; {reason}")

    return _judge_spf(policy, facts)


def _judge_helo(facts: ClientFacts) -> str | None:
    helo = facts.helo
    if not helo_is_fqdn(helo):
        return (f"504 5.5.2 <{helo}>: Helo command rejected: need fully-qualified "
                f"hostname")
    if helo.startswith("["):
        literal = helo[1:-1].removeprefix("IPv6:")
        if literal == facts.address:
            return None
        return (f"550 5.7.1 <{helo}>: Helo command rejected: the address literal "
                f"is not your address [{facts.address}]")
    if _temporary(facts.helo_status):
        return f"450 4.7.1 <{helo}>: Helo command rejected: Host not found, try again"
    if not facts.helo_addresses:
        return f"550 5.7.1 <{helo}>: Helo command rejected: Host not found"
    if facts.address not in facts.helo_addresses:
        return (f"550 5.7.1 <{helo}>: Helo command rejected: the name does not "
                f"resolve to your address [{facts.address}]")
    return None


def _judge_spf(policy: PartnerPolicy, facts: ClientFacts) -> str | None:
    if policy.spf == "ignore":
        return None
    identity = facts.mail_from.rpartition("@")[2] or facts.helo
    why = f" ({facts.spf_explanation})" if facts.spf_explanation else ""
    if facts.spf_result == "fail":
        return (f"550-5.7.23 The message was rejected because of Sender Policy "
                f"Framework\r\n550 5.7.23 violation: {identity} does not allow "
                f"[{facts.address}] to send its mail{why}")
    if facts.spf_result == "temperror" and policy.spf == "defer-temperror":
        return (f"451 4.7.24 Temporary SPF error evaluating the policy of "
                f"{identity}; try again later{why}")
    return None


def spf_header(facts: ClientFacts, receiver: str) -> str:
    """A Received-SPF header (RFC 7208 section 9.1) for a stored message."""
    identity = "mailfrom" if facts.mail_from else "helo"
    sender = facts.mail_from or f"postmaster@{facts.helo}"
    why = facts.spf_explanation or "no explanation"
    return (f"Received-SPF: {facts.spf_result} ({receiver}: {why})"
            f"\r\n\tclient-ip={facts.address}; envelope-from=\"{sender}\";"
            f" helo={facts.helo}; receiver={receiver}; identity={identity}")


@dataclass
class Greylist:
    """First attempts of a (client ip, mail_from, rcpt_to) triplet wait.

    A triplet seen less than ``delay`` seconds ago is deferred; once it has
    waited, it passes from then on. The oldest triplets are forgotten past
    ``limit`` entries, so the table is bounded.
    """

    delay: float
    limit: int = MAX_GREYLIST
    _first_seen: OrderedDict[tuple[str, str, str], float] = field(
        default_factory=OrderedDict)

    def check(self, triplet: tuple[str, str, str], now: float) -> float:
        """0 when the triplet may pass, otherwise the seconds still to wait."""
        key = (triplet[0], triplet[1].lower(), triplet[2].lower())
        first = self._first_seen.get(key)
        if first is None:
            self._first_seen[key] = now
            while len(self._first_seen) > self.limit:
                self._first_seen.popitem(last=False)
            return self.delay
        return max(0.0, first + self.delay - now)


@dataclass
class RateLimiter:
    """At most ``limit`` messages per client address in a sliding window."""

    limit: int
    window: float = 60.0
    max_clients: int = MAX_RATE_CLIENTS
    _seen: OrderedDict[str, deque[float]] = field(default_factory=OrderedDict)

    def allow(self, address: str, now: float) -> bool:
        times = self._seen.setdefault(address, deque())
        self._seen.move_to_end(address)
        while times and times[0] <= now - self.window:
            times.popleft()
        while len(self._seen) > self.max_clients:
            self._seen.popitem(last=False)
        if len(times) >= self.limit:
            return False
        times.append(now)
        return True


def rate_reply(address: str) -> str:
    return (f"421 4.7.0 [{address}] Our system has detected an unusual rate of "
            f"mail from your IP address. Try again later.")


def greylist_reply(rcpt_to: str, wait: float) -> str:
    return (f"451 4.7.1 <{rcpt_to}>: Recipient address rejected: Greylisted, "
            f"try again in {max(1, round(wait))} seconds")
