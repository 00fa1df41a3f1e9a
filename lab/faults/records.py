"""Faults of the organisation's published DNS: PTR and MX records."""

from __future__ import annotations

from typing import ClassVar, Literal

from ..plan import Expected, Plan, reverse_name
from .base import FaultBase


class PtrMissing(FaultBase):
    """A host's address has no PTR record.

    Reproduces an address whose reverse zone the provider never filled in.
    Large receivers refuse mail from such an address (Gmail answers 550 5.7.25,
    Microsoft 550 5.7.1), so it bites the outbound relay first.
    """

    type: Literal["ptr.missing"] = "ptr.missing"
    host: str = "relay"
    #: 6: only the IPv6 address lacks its PTR (the IPv4 path looks fine).
    family: Literal[4, 6] = 4
    findings: ClassVar[tuple[str, ...]] = ("ptr.missing",)

    def _address(self, plan: Plan) -> str | None:
        host = plan.host(self.host)
        return host.address6 if self.family == 6 else host.address

    def apply(self, plan: Plan) -> None:
        address = self._address(plan)
        if address is not None:
            plan.remove(reverse_name(address), "PTR")

    def expected(self, plan: Plan) -> list[Expected]:
        address = self._address(plan)
        if address is None or not _checked(plan, self.host):
            return []
        return [Expected("ptr.missing", address, self.type)]


class PtrMismatch(FaultBase):
    """A host's PTR names a host whose address does not lead back.

    Reproduces a reverse record left over from a renumbering: the PTR exists,
    but forward-confirmed reverse DNS (RFC 8601 section 2.7.3 'iprev') fails
    because the name's A record holds another address.
    """

    type: Literal["ptr.mismatch"] = "ptr.mismatch"
    host: str = "relay"
    name: str | None = None
    findings: ClassVar[tuple[str, ...]] = ("ptr.mismatch",)

    def apply(self, plan: Plan) -> None:
        target = self.name or self._other(plan)
        plan.replace(reverse_name(plan.host(self.host).address), "PTR", target)

    def _other(self, plan: Plan) -> str:
        others = [h for h in plan.hosts.values() if h.name != self.host]
        return others[0].fqdn if others else f"old-{self.host}.{plan.domain}"

    def expected(self, plan: Plan) -> list[Expected]:
        if not _checked(plan, self.host):
            return []
        return [Expected("ptr.mismatch", plan.host(self.host).address, self.type)]


class MxMissing(FaultBase):
    """The domain publishes no MX record.

    Reproduces a zone migrated without its MX. With no MX and no address at
    the apex, RFC 5321 section 5.1 leaves senders nowhere to deliver.
    """

    type: Literal["mx.missing"] = "mx.missing"
    findings: ClassVar[tuple[str, ...]] = ("mx.missing",)

    def apply(self, plan: Plan) -> None:
        plan.remove(plan.domain, "MX")

    def expected(self, plan: Plan) -> list[Expected]:
        return [Expected("mx.missing", plan.domain, self.type)]


class MxHostUnresolvable(FaultBase):
    """The MX names a host that has no address.

    Reproduces an MX still pointing at a decommissioned server: the MX
    lookup succeeds, the exchange's A lookup answers NXDOMAIN.
    """

    type: Literal["mx.host-unresolvable"] = "mx.host-unresolvable"
    exchange: str = "mx-old"
    findings: ClassVar[tuple[str, ...]] = ("mx.host-unresolvable",)

    def _name(self, plan: Plan) -> str:
        return self.exchange if "." in self.exchange else (
            f"{self.exchange}.{plan.domain}")

    def apply(self, plan: Plan) -> None:
        plan.replace(plan.domain, "MX", (10, self._name(plan)))
        plan.remove(self._name(plan), "A")

    def expected(self, plan: Plan) -> list[Expected]:
        return [Expected("mx.host-unresolvable", self._name(plan), self.type)]


def _checked(plan: Plan, host: str) -> bool:
    """The checker looks at PTRs of MX hosts and of the outbound relay."""
    h = plan.host(host)
    mx_names = {str(r.value[1]) for r in plan.find(plan.domain, "MX")
                if isinstance(r.value, tuple)}
    return host == plan.relay or h.fqdn in mx_names


class MxToCname(FaultBase):
    """The MX names an alias (a CNAME) instead of a host.

    Reproduces an MX pointed at a load balancer's friendly name. RFC 2181
    section 10.3 forbids it: many senders follow the alias anyway, some
    refuse, and the answer costs an extra lookup.
    """

    type: Literal["mx.to-cname"] = "mx.to-cname"
    alias: str = "mail-in"
    findings: ClassVar[tuple[str, ...]] = ("mx.cname",)

    def apply(self, plan: Plan) -> None:
        name = f"{self.alias}.{plan.domain}"
        targets = [r.value[1] for r in plan.find(plan.domain, "MX")
                   if isinstance(r.value, tuple)]
        target = str(targets[0]) if targets else plan.relay_host.fqdn
        plan.add(name, "CNAME", target)
        plan.replace(plan.domain, "MX", (10, name))
        # The alias's owner bought a certificate for it: TLS is not the fault.
        for h in plan.hosts.values():
            if h.fqdn == target:
                plan.cert_names.setdefault(h.name, []).append(name)

    def expected(self, plan: Plan) -> list[Expected]:
        return [Expected("mx.cname", f"{self.alias}.{plan.domain}", self.type)]


class MxToIpLiteral(FaultBase):
    """The MX holds an address where a host name belongs.

    Reproduces an admin who typed the server's IP into the MX field. RFC 5321
    section 5.1 (and RFC 7505 section 1) want a name; senders look the
    'name' up, find nothing, and give up.
    """

    type: Literal["mx.to-ip-literal"] = "mx.to-ip-literal"
    host: str = "mx1"
    findings: ClassVar[tuple[str, ...]] = ("mx.ip-literal",)

    def apply(self, plan: Plan) -> None:
        plan.replace(plan.domain, "MX", (10, plan.host(self.host).address))

    def expected(self, plan: Plan) -> list[Expected]:
        return [Expected("mx.ip-literal", plan.host(self.host).address, self.type)]


class MxNull(FaultBase):
    """The domain publishes a null MX although it sends and receives mail.

    Reproduces a parked-domain template applied to a live domain. RFC 7505
    says the domain accepts no mail: senders bounce at once (5.1.10), so
    even replies to the domain's own outgoing mail are lost.
    """

    type: Literal["mx.null"] = "mx.null"
    findings: ClassVar[tuple[str, ...]] = ("mx.null",)

    def apply(self, plan: Plan) -> None:
        plan.replace(plan.domain, "MX", (0, "."))

    def expected(self, plan: Plan) -> list[Expected]:
        return [Expected("mx.null", plan.domain, self.type)]


class MxImplicit(FaultBase):
    """No MX; the domain's own address receives the mail.

    Reproduces a small domain that relies on the implicit MX of RFC 5321
    section 5.1. It works with conforming senders, but it is fragile: some
    filters treat a domain without MX as unable to receive mail.
    """

    type: Literal["mx.implicit"] = "mx.implicit"
    host: str = "mx1"
    findings: ClassVar[tuple[str, ...]] = ("mx.implicit",)

    def apply(self, plan: Plan) -> None:
        plan.remove(plan.domain, "MX")
        plan.add(plan.domain, "A", plan.host(self.host).address)
        plan.cert_names.setdefault(self.host, []).append(plan.domain)

    def expected(self, plan: Plan) -> list[Expected]:
        return [Expected("mx.implicit", plan.domain, self.type)]


class MxWrongAddress(FaultBase):
    """The MX host's A record holds an old address where nothing listens.

    Reproduces a server moved to a new address while its A record kept the
    old one: senders resolve the MX, connect to the old address, and are
    refused; their mail waits in their queues, then bounces.
    """

    type: Literal["mx.wrong-address"] = "mx.wrong-address"
    host: str = "mx1"
    findings: ClassVar[tuple[str, ...]] = ("port.closed", "ptr.missing")

    def apply(self, plan: Plan) -> None:
        host = plan.host(self.host)
        plan.replace(host.fqdn, "A", plan.spare_address(3))

    def expected(self, plan: Plan) -> list[Expected]:
        fqdn = plan.host(self.host).fqdn
        return [Expected("port.closed", f"{fqdn}:25", self.type),
                Expected("ptr.missing", plan.spare_address(3), self.type)]
