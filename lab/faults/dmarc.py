"""Faults of the DMARC record (RFC 7489)."""

from __future__ import annotations

from typing import ClassVar, Literal

from ..plan import Expected, Plan
from .base import FaultBase


def _set_dmarc(plan: Plan, text: str | None) -> None:
    name = f"_dmarc.{plan.domain}"
    plan.remove(name, "TXT")
    if text is not None:
        plan.add(name, "TXT", plan.expand(text))


class DmarcMissing(FaultBase):
    """The domain publishes no DMARC record.

    Reproduces a domain that never set one up. Receivers apply no policy
    to forged mail, and large mailbox providers now require one from bulk
    senders.
    """

    type: Literal["dmarc.missing"] = "dmarc.missing"
    findings: ClassVar[tuple[str, ...]] = ("dmarc.missing",)

    def apply(self, plan: Plan) -> None:
        _set_dmarc(plan, None)

    def expected(self, plan: Plan) -> list[Expected]:
        return [Expected("dmarc.missing", plan.domain, self.type)]


class DmarcSyntax(FaultBase):
    """The DMARC record does not parse.

    Reproduces a record with commas for semicolons, or the policy tag left
    out. RFC 7489 section 6.6.3: a record that does not parse is ignored, as
    if there were none.
    """

    type: Literal["dmarc.syntax"] = "dmarc.syntax"
    record: str = "v=DMARC1, p=reject, rua=mailto:dmarc-reports@{domain}"
    findings: ClassVar[tuple[str, ...]] = ("dmarc.syntax",)

    def apply(self, plan: Plan) -> None:
        _set_dmarc(plan, self.record)

    def expected(self, plan: Plan) -> list[Expected]:
        return [Expected("dmarc.syntax", plan.domain, self.type)]


class DmarcPolicyNone(FaultBase):
    """The DMARC policy is p=none: reports only, no protection.

    Reproduces a roll-out that stopped at the monitoring step: forged mail
    is delivered as before (RFC 7489 section 6.3).
    """

    type: Literal["dmarc.policy-none"] = "dmarc.policy-none"
    findings: ClassVar[tuple[str, ...]] = ("dmarc.policy-none",)

    def apply(self, plan: Plan) -> None:
        _set_dmarc(plan, "v=DMARC1; p=none; rua=mailto:dmarc-reports@{domain}")

    def expected(self, plan: Plan) -> list[Expected]:
        return [Expected("dmarc.policy-none", plan.domain, self.type)]
