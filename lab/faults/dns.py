"""Faults of the lab's DNS server itself: the ways real name servers fail."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar, Literal

from pydantic import Field

from ..dns.responder import Rule
from ..plan import Expected, Plan
from .base import FaultBase, Location

#: The types the checker asks at the domain itself, and so can see fail.
_CHECKED_TYPES = ("MX", "TXT")


class _AnswerFault(FaultBase):
    """Common shape: one misbehaviour for some types of the domain's name."""

    types: list[Literal["MX", "TXT"]] = Field(default_factory=lambda: ["MX"],
                                                min_length=1)
    action: ClassVar[str] = ""

    def apply(self, plan: Plan) -> None:
        plan.dns_rules.append(Rule(plan.domain, self.action,
                                   types=frozenset(self.types)))

    def expected(self, plan: Plan) -> list[Expected]:
        code = f"dns.{self.action}"
        return [Expected(code, f"{plan.domain}/{t}", self.type) for t in self.types]


class DnsServfail(_AnswerFault):
    """The name server answers SERVFAIL for the domain.

    Reproduces a server that cannot load the zone (an expired DNSSEC
    signature, a broken zone file after an edit): every resolver answers
    SERVFAIL, and a correct checker calls the check inconclusive, not the
    record missing.
    """

    type: Literal["dns.servfail"] = "dns.servfail"
    action: ClassVar[str] = "servfail"
    findings: ClassVar[tuple[str, ...]] = ("dns.servfail",)


class DnsTimeout(_AnswerFault):
    """The name server does not answer at all for the domain.

    Reproduces a firewall or a broken load balancer in front of the
    authoritative servers: queries vanish, clients wait for their timeout.
    """

    type: Literal["dns.timeout"] = "dns.timeout"
    action: ClassVar[str] = "timeout"
    findings: ClassVar[tuple[str, ...]] = ("dns.timeout",)


class DnsRefused(_AnswerFault):
    """The name server answers REFUSED for the domain.

    Reproduces a server that has lost the zone from its configuration, or an
    ACL that refuses the querier.
    """

    type: Literal["dns.refused"] = "dns.refused"
    action: ClassVar[str] = "refused"
    findings: ClassVar[tuple[str, ...]] = ("dns.refused",)


class DnsNxdomain(FaultBase):
    """The domain itself answers NXDOMAIN.

    Reproduces a lapsed registration or a deleted zone at the provider: the
    whole name is gone, so there is nothing to deliver to and no policy to
    read. RFC 8020: nothing exists below an NXDOMAIN either.
    """

    type: Literal["dns.nxdomain"] = "dns.nxdomain"
    findings: ClassVar[tuple[str, ...]] = ("dns.nxdomain",)

    def apply(self, plan: Plan) -> None:
        plan.dns_rules.append(Rule(plan.domain, "nxdomain"))

    def expected(self, plan: Plan) -> list[Expected]:
        return [Expected("dns.nxdomain", plan.domain, self.type)]


class DnsSlow(FaultBase):
    """The name server answers the domain's queries late.

    Reproduces an overloaded or far-away server: answers arrive, but each
    takes long enough that senders with tight timeouts give up.
    """

    type: Literal["dns.slow"] = "dns.slow"
    delay: float = Field(default=0.8, gt=0, le=5.0)
    findings: ClassVar[tuple[str, ...]] = ("dns.slow",)

    def apply(self, plan: Plan) -> None:
        plan.dns_rules.append(Rule(plan.domain, "slow", delay=self.delay))

    def expected(self, plan: Plan) -> list[Expected]:
        return [Expected("dns.slow", plan.domain, self.type)]


class DnsTcpBlocked(FaultBase):
    """DNS over TCP is blocked, and the SPF answer is too large for UDP.

    Reproduces a firewall that allows only UDP port 53 (a common, wrong,
    belief that DNS is UDP only) in front of a domain whose SPF record lists
    many addresses: the UDP answer comes back truncated (TC bit, RFC 1035
    section 4.2.1), the retry over TCP (RFC 7766) never connects, and SPF
    ends in temperror at every receiver.
    """

    type: Literal["dns.tcp-blocked"] = "dns.tcp-blocked"
    needs_relay: ClassVar[bool] = True
    mode: Literal["drop", "reject"] = "drop"
    findings: ClassVar[tuple[str, ...]] = ("dns.tcp-blocked",)

    def apply(self, plan: Plan) -> None:
        # A record past the 1232-octet EDNS limit the lab uses (RFC 9715).
        offices = " ".join(f"ip4:198.51.100.{i}" for i in range(1, 80))
        relay = plan.relay_host.address
        record = f"v=spf1 mx {offices} ip4:{relay} -all"
        kept = [r for r in plan.find(plan.domain, "TXT")
                if not str(r.value).startswith("v=spf1")]
        plan.remove(plan.domain, "TXT")
        plan.records.extend(kept)
        plan.add(plan.domain, "TXT", record)
        plan.blocked[(plan.resolver.name, 53)] = self.mode

    def expected(self, plan: Plan) -> list[Expected]:
        return [Expected("dns.tcp-blocked", f"{plan.domain}/TXT", self.type)]


class DnsLame(FaultBase):
    """One of the domain's name servers is not authoritative for it.

    Reproduces a delegation left pointing at a server that was never given
    the zone, or lost it (RFC 1912 section 2.8, 'lame delegation'): about one
    query in N goes to a server that answers REFUSED.
    """

    type: Literal["dns.lame"] = "dns.lame"
    server: str = "ns2"
    findings: ClassVar[tuple[str, ...]] = ("dns.lame",)

    def check(self, scenario) -> Iterator[tuple[Location, str]]:  # type: ignore
        if self.server in {h.name for h in scenario.organisation.hosts}:
            yield ("server",), f"must not be a host of the organisation: {self.server}"

    def apply(self, plan: Plan) -> None:
        host = plan.add_host(self.server, ("dns-lame",), {"dns": 53})
        plan.add(plan.domain, "NS", host.fqdn)

    def expected(self, plan: Plan) -> list[Expected]:
        return [Expected("dns.lame", f"{self.server}.{plan.domain}", self.type)]
