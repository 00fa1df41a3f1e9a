"""Faults of the SPF record (RFC 7208)."""

from __future__ import annotations

from typing import ClassVar, Literal

from ..plan import Expected, Plan
from .base import FaultBase


def _set_spf(plan: Plan, text: str | None) -> None:
    kept = [r for r in plan.find(plan.domain, "TXT")
            if not str(r.value).lower().startswith("v=spf1")]
    plan.remove(plan.domain, "TXT")
    plan.records.extend(kept)
    if text is not None:
        plan.add(plan.domain, "TXT", plan.expand(text))


class SpfMissing(FaultBase):
    """The domain publishes no SPF record.

    Reproduces a domain that never published one, or lost it in a DNS move.
    Receivers get the SPF result 'none' (RFC 7208 section 2.6.1) and many
    then treat the mail as suspect.
    """

    type: Literal["spf.missing"] = "spf.missing"
    findings: ClassVar[tuple[str, ...]] = ("spf.missing",)

    def apply(self, plan: Plan) -> None:
        _set_spf(plan, None)

    def expected(self, plan: Plan) -> list[Expected]:
        return [Expected("spf.missing", plan.domain, self.type)]


class SpfSyntax(FaultBase):
    """The SPF record does not parse.

    Reproduces a hand-edited record with a typo; the default writes ``ipv4:``
    for ``ip4:``. Every evaluation ends in permerror (RFC 7208 section 4.6),
    which many receivers treat like a fail.
    """

    type: Literal["spf.syntax"] = "spf.syntax"
    record: str = "v=spf1 mx ipv4:{addr:relay} -all"
    findings: ClassVar[tuple[str, ...]] = ("spf.syntax",)

    def apply(self, plan: Plan) -> None:
        _set_spf(plan, self.record)

    def expected(self, plan: Plan) -> list[Expected]:
        return [Expected("spf.syntax", plan.domain, self.type)]


class SpfTooManyLookups(FaultBase):
    """The SPF record needs more than 10 DNS lookups.

    Reproduces a record that grew one ``include:`` per cloud service. Past
    the tenth DNS-querying term, RFC 7208 section 4.6.4 makes the result
    permerror, so the relay's address, listed last, is never reached.
    """

    type: Literal["spf.too-many-lookups"] = "spf.too-many-lookups"
    includes: int = 11
    findings: ClassVar[tuple[str, ...]] = ("spf.too-many-lookups",)

    def apply(self, plan: Plan) -> None:
        names = [f"_spf{i}.{plan.domain}" for i in range(1, self.includes + 1)]
        for i, name in enumerate(names, start=1):
            plan.add(name, "TXT", f"v=spf1 ip4:192.0.2.{i} -all")
        terms = " ".join(f"include:{n}" for n in names)
        _set_spf(plan, f"v=spf1 {terms} ip4:{plan.relay_host.address} -all")

    def expected(self, plan: Plan) -> list[Expected]:
        return [Expected("spf.too-many-lookups", plan.domain, self.type)]


class SpfIpNotAuthorized(FaultBase):
    """The SPF record does not cover the outbound relay's address.

    Reproduces a record that still lists the old relay after a move: it
    parses, but evaluating it for the relay's address gives 'fail', so
    receivers that enforce SPF reject the mail (550 5.7.23).
    """

    type: Literal["spf.ip-not-authorized"] = "spf.ip-not-authorized"
    findings: ClassVar[tuple[str, ...]] = ("spf.ip-not-authorized",)

    def apply(self, plan: Plan) -> None:
        _set_spf(plan, f"v=spf1 mx ip4:{plan.spare_address()} -all")

    def expected(self, plan: Plan) -> list[Expected]:
        return [Expected("spf.ip-not-authorized", plan.domain, self.type)]
