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
    needs_relay: ClassVar[bool] = True
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
    needs_relay: ClassVar[bool] = True
    findings: ClassVar[tuple[str, ...]] = ("spf.ip-not-authorized",)

    def apply(self, plan: Plan) -> None:
        _set_spf(plan, f"v=spf1 mx ip4:{plan.spare_address()} -all")

    def expected(self, plan: Plan) -> list[Expected]:
        return [Expected("spf.ip-not-authorized", plan.domain, self.type)]


class SpfVoidLookups(FaultBase):
    """The SPF record names hosts that no longer exist.

    Reproduces ``a:`` terms left over from decommissioned servers. Each
    answers NXDOMAIN; past two such 'void lookups' RFC 7208 section 4.6.4
    makes the result permerror.
    """

    type: Literal["spf.void-lookups"] = "spf.void-lookups"
    needs_relay: ClassVar[bool] = True
    findings: ClassVar[tuple[str, ...]] = ("spf.void-lookups",)

    def apply(self, plan: Plan) -> None:
        gone = " ".join(f"a:old{i}.{plan.domain}" for i in range(1, 4))
        _set_spf(plan, f"v=spf1 {gone} ip4:{plan.relay_host.address} -all")

    def expected(self, plan: Plan) -> list[Expected]:
        return [Expected("spf.void-lookups", plan.domain, self.type)]


class SpfMultipleRecords(FaultBase):
    """The domain publishes two SPF records.

    Reproduces a second record added by a new mail service's set-up wizard
    instead of merging it into the first. RFC 7208 section 4.5: two records
    are a permerror, whatever each says.
    """

    type: Literal["spf.multiple-records"] = "spf.multiple-records"
    findings: ClassVar[tuple[str, ...]] = ("spf.multiple-records",)

    def apply(self, plan: Plan) -> None:
        plan.add(plan.domain, "TXT", "v=spf1 include:spf.mailvendor.test ~all")

    def expected(self, plan: Plan) -> list[Expected]:
        return [Expected("spf.multiple-records", plan.domain, self.type)]


class SpfIncludeMissing(FaultBase):
    """The SPF record includes a domain that publishes no SPF record.

    Reproduces an include of a vendor's old SPF name after the vendor moved
    it. RFC 7208 section 5.2: an include whose target has no record is a
    permerror, which fails the whole check.
    """

    type: Literal["spf.include-missing"] = "spf.include-missing"
    needs_relay: ClassVar[bool] = True
    target: str = "spf.mailvendor.test"
    findings: ClassVar[tuple[str, ...]] = ("spf.include-missing",)

    def apply(self, plan: Plan) -> None:
        zone = self.target.split(".", 1)[1] if self.target.count(".") > 1 else (
            self.target)
        if zone not in plan.zones:
            plan.zones.append(zone)
            plan.add(zone, "NS", plan.resolver.fqdn)
        _set_spf(plan, f"v=spf1 include:{self.target} "
                       f"ip4:{plan.relay_host.address} -all")

    def expected(self, plan: Plan) -> list[Expected]:
        return [Expected("spf.include-missing", self.target, self.type)]


class SpfPlusAll(FaultBase):
    """The SPF record ends in +all, authorising every host on the internet.

    Reproduces a 'make the bounces stop' edit. The relay passes, but so does
    anyone forging the domain (RFC 7208 section 5.1 advises against it).
    """

    type: Literal["spf.plus-all"] = "spf.plus-all"
    needs_relay: ClassVar[bool] = True
    findings: ClassVar[tuple[str, ...]] = ("spf.plus-all",)

    def apply(self, plan: Plan) -> None:
        _set_spf(plan, f"v=spf1 mx ip4:{plan.relay_host.address} +all")

    def expected(self, plan: Plan) -> list[Expected]:
        return [Expected("spf.plus-all", plan.domain, self.type)]


class SpfPtrMechanism(FaultBase):
    """The SPF record uses the ptr mechanism.

    Reproduces an old record from the early SPF days. RFC 7208 section 5.5:
    ptr is slow, unreliable and SHOULD NOT be used; some receivers treat it
    as an error.
    """

    type: Literal["spf.ptr-mechanism"] = "spf.ptr-mechanism"
    needs_relay: ClassVar[bool] = True
    findings: ClassVar[tuple[str, ...]] = ("spf.ptr-mechanism",)

    def apply(self, plan: Plan) -> None:
        _set_spf(plan, f"v=spf1 ptr ip4:{plan.relay_host.address} -all")

    def expected(self, plan: Plan) -> list[Expected]:
        return [Expected("spf.ptr-mechanism", plan.domain, self.type)]


class SpfUnsplitLongString(FaultBase):
    """A long SPF record was entered as one string, and cut at 255 octets.

    Reproduces a DNS control panel that stores a TXT value as a single
    character-string (at most 255 octets, RFC 1035 section 3.3) and silently
    drops the rest: here the relay's address and '-all' are lost, so the
    relay gets 'neutral'. RFC 7208 section 3.3 wants long records split
    into several strings.
    """

    type: Literal["spf.unsplit-long-string"] = "spf.unsplit-long-string"
    needs_relay: ClassVar[bool] = True
    findings: ClassVar[tuple[str, ...]] = ("spf.unsplit-long-string",
                                          "spf.ip-not-authorized")

    def apply(self, plan: Plan) -> None:
        head = "v=spf1 " + " ".join(f"ip4:198.51.100.{i}" for i in range(1, 12))
        pad = 255 - len(head) - len(" x-note=")
        kept = f"{head} x-note={'o' * pad}"
        assert len(kept) == 255
        _set_spf(plan, None)
        plan.add(plan.domain, "TXT", (kept.encode("ascii"),))  # type: ignore

    def expected(self, plan: Plan) -> list[Expected]:
        return [Expected("spf.unsplit-long-string", plan.domain, self.type),
                Expected("spf.ip-not-authorized", plan.domain, self.type)]
