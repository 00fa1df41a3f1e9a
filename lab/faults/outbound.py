"""Faults of the outbound relay's standing with receivers: the host name it
announces, and a DNS blocklist that lists its address."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from typing import ClassVar, Literal

from pydantic import field_validator

from ..plan import Expected, Plan
from .base import FaultBase, Location

# RFC 1123 section 2.1 labels, as host names use them.
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def _labels(value: str) -> str:
    name = value.strip().rstrip(".").lower()
    if not name or not all(_LABEL.match(x) for x in name.split(".")):
        raise ValueError(f"not a host name: {value!r}")
    return name


class RelayEhloUnresolvable(FaultBase):
    """The relay greets and says EHLO with a host name that has no address.

    Reproduces an MTA left with the machine's internal name (Postfix
    'myhostname' taken from the system, 'smtp.internal.<domain>'): RFC 5321
    section 4.1.4 wants an EHLO name that resolves, and receivers that check
    HELO (Postfix reject_unknown_helo_hostname) refuse the mail with 5.7.1
    while lenient ones accept it.
    """

    type: Literal["relay.ehlo-unresolvable"] = "relay.ehlo-unresolvable"
    #: The name under the domain the relay announces; it gets no A record.
    name: str = "smtp.internal"
    needs_relay: ClassVar[bool] = True
    findings: ClassVar[tuple[str, ...]] = ("relay.ehlo-unresolvable",)

    _check_name = field_validator("name")(classmethod(lambda cls, v: _labels(v)))

    def check(self, scenario) -> Iterator[tuple[Location, str]]:  # type: ignore
        yield from super().check(scenario)
        hosts = {h.name for h in scenario.organisation.hosts}
        names = {r.name.lower().rstrip(".") for r in scenario.organisation.records}
        if self.name in hosts or self.name in names:
            yield ("name",), f"{self.name!r} is a name with records in the zone"

    def apply(self, plan: Plan) -> None:
        plan.ehlo = f"{self.name}.{plan.domain}"

    def expected(self, plan: Plan) -> list[Expected]:
        # The checker reads the name from the relay's greeting on port 25.
        if (plan.relay, 25) in plan.blocked:
            return []
        return [Expected("relay.ehlo-unresolvable", plan.relay_host.address,
                         self.type)]


class RelayListed(FaultBase):
    """A DNS blocklist lists the relay's address.

    Reproduces the morning after a compromised account sent spam through the
    relay: the list answers 127.0.0.2 for the reversed address (RFC 5782
    section 2.1) with a TXT reason, receivers that consult the list refuse
    the mail with 550 5.7.1, and the others still accept it. The fault lists
    the address in ``zone``, the scenario's own blocklist of that name if it
    declares one, otherwise a zone it creates.
    """

    type: Literal["relay.listed"] = "relay.listed"
    zone: str = "bl.lab.test"
    answer: str = "127.0.0.2"
    reason: str = "Listed in a lab blocklist: spam sent from this address"
    needs_relay: ClassVar[bool] = True
    findings: ClassVar[tuple[str, ...]] = ("relay.listed",)

    _check_zone = field_validator("zone")(classmethod(lambda cls, v: _labels(v)))

    @field_validator("answer")
    @classmethod
    def _listing(cls, value: str) -> str:
        # RFC 5782 section 2.1: a listing is 127.0.0.2 and up; 127.0.0.1
        # means nothing, and 127.255.255.x are the lists' error answers.
        ip = ipaddress.ip_address(value)
        low, high = (ipaddress.ip_address(a) for a in ("127.0.0.2", "127.0.0.254"))
        if not low <= ip <= high:
            raise ValueError("a listing answers 127.0.0.2 to 127.0.0.254")
        return str(ip)

    @property
    def blocklist_zone(self) -> str:
        """The zone the lab tells the checker about (the state file)."""
        return self.zone

    def check(self, scenario) -> Iterator[tuple[Location, str]]:  # type: ignore
        yield from super().check(scenario)
        if scenario.domain == self.zone or scenario.domain.endswith("." + self.zone):
            yield ("zone",), "the blocklist zone may not hold the domain"

    def apply(self, plan: Plan) -> None:
        if self.zone not in plan.zones:
            plan.zones.append(self.zone)
            plan.add(self.zone, "NS", plan.resolver.fqdn)

        address = ipaddress.ip_address(plan.relay_host.address)
        if address.version == 4:
            reversed_part = ".".join(reversed(str(address).split(".")))
        else:
            reversed_part = ".".join(reversed(address.exploded.replace(":", "")))
        name = f"{reversed_part}.{self.zone}"
        plan.replace(name, "A", self.answer)
        plan.replace(name, "TXT", self.reason)

    def expected(self, plan: Plan) -> list[Expected]:
        return [Expected("relay.listed", plan.relay_host.address, self.type)]
