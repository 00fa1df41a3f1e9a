"""Faults of split DNS: the internal view the organisation's own servers
use, and the external view the internet sees."""

from __future__ import annotations

from typing import ClassVar, Literal

from ..plan import Expected, Plan, Rec
from .base import FaultBase


class DnsInternalOnly(FaultBase):
    """A record is published only in the internal view.

    Reproduces a record added on the internal DNS server and never on the
    public one: from inside everything works (Outlook, the relay), from the
    internet the record does not exist. With the MX, nobody outside can
    deliver to the organisation.
    """

    type: Literal["dns.internal-only"] = "dns.internal-only"
    rtype: Literal["MX"] = "MX"
    findings: ClassVar[tuple[str, ...]] = ("dns.internal-only",)

    def apply(self, plan: Plan) -> None:
        view = plan.internal_view()
        moved = plan.remove(plan.domain, self.rtype)
        view.only_inside.extend(moved)

    def expected(self, plan: Plan) -> list[Expected]:
        return [Expected("dns.internal-only", f"{plan.domain}/{self.rtype}",
                         self.type)]


class DnsForwarderBroken(FaultBase):
    """The internal resolver cannot resolve names outside the organisation.

    Reproduces a forwarder pointing at a retired upstream: internal names
    resolve, so inbound mail and clients work, but the relay cannot look up
    any recipient domain's MX and outbound mail stalls in its queue.
    """

    type: Literal["dns.forwarder-broken"] = "dns.forwarder-broken"
    findings: ClassVar[tuple[str, ...]] = ("dns.forwarder-broken",)

    def apply(self, plan: Plan) -> None:
        plan.internal_view().outside_names = "servfail"
        if not plan.outside:
            # The checker needs one outside name to ask for; a partner the
            # organisation corresponds with is the natural one.
            plan.outside.append("fabrikam.test")
            plan.zones.append("fabrikam.test")
            plan.add("fabrikam.test", "NS", plan.resolver.fqdn)
            plan.add("fabrikam.test", "MX", (10, "mx.fabrikam.test"))
            plan.add("mx.fabrikam.test", "A", plan.spare_address(5))

    def expected(self, plan: Plan) -> list[Expected]:
        assert plan.internal is not None
        return [Expected("dns.forwarder-broken", plan.internal.host.address,
                         self.type)]


class DnsSplitMismatch(FaultBase):
    """The relay's address differs between the internal and external views.

    Reproduces a renumbered relay whose internal A record was updated and
    whose public one was not (or the other way round): its PTR confirms in
    one view and not in the other, so what the admin sees from inside is
    not what receivers see.
    """

    type: Literal["dns.split-mismatch"] = "dns.split-mismatch"
    host: str = "relay"
    findings: ClassVar[tuple[str, ...]] = ("dns.split-mismatch",)

    def apply(self, plan: Plan) -> None:
        view = plan.internal_view()
        host = plan.host(self.host)
        for rec in plan.find(host.fqdn, "A"):
            view.only_outside.append(rec)
        view.only_inside.append(Rec(host.fqdn, "A", plan.spare_address(6)))

    def expected(self, plan: Plan) -> list[Expected]:
        return [Expected("dns.split-mismatch", plan.host(self.host).fqdn,
                         self.type)]
