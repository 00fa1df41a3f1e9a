"""The scenario format, version 1, as pydantic models.

A scenario says only what differs from the healthy baseline organisation:
every field of ``Organisation`` has the baseline as its default. Models
forbid unknown keys, so a misspelt field is an error, not a silent default.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..faults import Fault

# RFC 1035 section 2.3.1 labels, as host names use them (RFC 1123 section 2.1).
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")

Role = Literal["dns", "mx", "outbound", "mailbox", "autodiscover", "edge"]


def _domain(value: str) -> str:
    name = value.rstrip(".").lower()
    labels = name.split(".")
    if len(name) > 253 or len(labels) < 2 or not all(_LABEL.match(x) for x in labels):
        raise ValueError(f"not a domain name: {value!r}")
    return name


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Host(_Strict):
    """One machine of the organisation, named by its first label."""

    name: str
    roles: list[Role] = Field(min_length=1)
    address: str | None = Field(
        default=None,
        description="The host's address in isolated mode; loopback mode maps "
        "every host onto a 127.x.y.z address of its own.",
    )
    address6: str | None = Field(
        default=None,
        description="The host's IPv6 address in isolated mode (2001:db8::/32); "
        "default 2001:db8::<n> when the organisation has ipv6.",
    )

    @field_validator("name")
    @classmethod
    def _label(cls, value: str) -> str:
        if not _LABEL.match(value.lower()):
            raise ValueError(f"not a host label: {value!r}")
        return value.lower()

    @field_validator("address")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is not None:
            value = str(ipaddress.ip_address(value))
        return value

    @field_validator("address6")
    @classmethod
    def _address6(cls, value: str | None) -> str | None:
        if value is not None:
            ip = ipaddress.ip_address(value)
            if ip.version != 6:
                raise ValueError(f"not an IPv6 address: {value!r}")
            value = ip.compressed
        return value


class User(_Strict):
    name: str = Field(description="Local part of the mailbox address.")
    password: str = Field(default="", description="Empty: '<name>-lab-password'.")

    @field_validator("name")
    @classmethod
    def _local_part(cls, value: str) -> str:
        # The store refuses the same names: a mailbox is a directory.
        if not re.match(r"^[a-z0-9][a-z0-9._-]{0,63}$", value) or ".." in value \
                or value.endswith("."):
            raise ValueError(f"not a simple mailbox name: {value!r}")
        return value

    @property
    def secret(self) -> str:
        return self.password or f"{self.name}-lab-password"


class RecordSpec(_Strict):
    """An extra DNS record; ``{addr:HOST}`` and ``{domain}`` are expanded."""

    name: str
    type: Literal["A", "AAAA", "MX", "TXT", "CNAME", "PTR", "SRV", "NS"]
    value: str


def _default_hosts() -> list[Host]:
    return [
        Host(name="ns1", roles=["dns"]),
        Host(name="mx1", roles=["mx", "edge"]),
        Host(name="mail", roles=["mailbox"]),
        Host(name="relay", roles=["outbound"]),
        Host(name="autodiscover", roles=["autodiscover"]),
    ]


def _default_users() -> list[User]:
    return [User(name="alice"), User(name="bob")]


class Organisation(_Strict):
    """The organisation under test; defaults are the healthy baseline."""

    domain: str = "contoso.test"
    hosts: list[Host] = Field(default_factory=_default_hosts, min_length=1)
    users: list[User] = Field(default_factory=_default_users)
    relay: str | None = Field(default="relay",
                              description="Host that sends outbound mail; null "
                              "for a domain that sends none.")
    spf: str = Field(
        default="v=spf1 mx ip4:{addr:relay} -all",
        description="The SPF record published at the domain.",
    )
    ipv6: bool = Field(default=False, description="Give every host an IPv6 "
                       "address too (isolated mode only: loopback has one, ::1).")
    ehlo: str | None = Field(default=None, description="The relay's EHLO "
                             "name; default its own host name.")
    dmarc: str | None = Field(
        default="v=DMARC1; p=reject; rua=mailto:dmarc-reports@{domain}",
        description="The DMARC record at _dmarc.<domain>; null for none.",
    )
    records: list[RecordSpec] = Field(default_factory=list)

    _check_domain = field_validator("domain")(classmethod(lambda cls, v: _domain(v)))


class PartnerMx(_Strict):
    """A receiving host of a partner organisation."""

    name: str = "mx"
    preference: int = Field(default=10, ge=0, le=65535)

    @field_validator("name")
    @classmethod
    def _label(cls, value: str) -> str:
        if not _LABEL.match(value.lower()):
            raise ValueError(f"not a host label: {value!r}")
        return value.lower()


class PartnerPolicyModel(_Strict):
    """How a partner's MX judges the mail it is sent (see lab.partner)."""

    require_ptr: bool = False
    require_fcrdns: bool = False
    require_helo_match: bool = False
    spf: Literal["reject", "defer-temperror", "ignore"] = "ignore"
    blocklists: list[str] = Field(default_factory=list)
    greylist_seconds: float | None = Field(default=None, ge=0, le=3600)
    rate_limit: int | None = Field(default=None, ge=1)


class OutsideDomain(_Strict):
    """A domain outside the organisation that the lab DNS also serves.

    With ``mx`` hosts it is a partner organisation: each runs an SMTP
    server that judges incoming mail by ``policy``.
    """

    domain: str
    spf: str | None = "v=spf1 -all"
    records: list[RecordSpec] = Field(default_factory=list)
    mx: list[PartnerMx] = Field(default_factory=list, max_length=4)
    users: list[str] | None = Field(default=None, description="Mailboxes; "
                                    "null accepts any local part.")
    policy: PartnerPolicyModel = Field(default_factory=PartnerPolicyModel)

    _check_domain = field_validator("domain")(classmethod(lambda cls, v: _domain(v)))


class Delivery(_Strict):
    """The outbound relay's retry schedule, shortened for a lab."""

    retry: list[float] = Field(default_factory=lambda: [5.0, 10.0, 20.0],
                               min_length=1, max_length=20)
    give_up: float = Field(default=300.0, gt=0, le=5 * 86400)
    delay_notice: float | None = Field(default=60.0, gt=0)

    @field_validator("retry")
    @classmethod
    def _positive(cls, value: list[float]) -> list[float]:
        if any(v <= 0 for v in value):
            raise ValueError("retry intervals must be positive")
        return value


class Blocklist(_Strict):
    """A DNS blocklist zone in the lab, listing some addresses."""

    zone: str
    listed: list[str] = Field(default_factory=list,
                              description="Addresses, or {addr:HOST}.")
    answer: str = "127.0.0.2"
    reason: str = "Listed in a lab blocklist"

    _check_zone = field_validator("zone")(classmethod(lambda cls, v: _domain(v)))


class Symptoms(_Strict):
    complaint: str = Field(min_length=1, description="What a user reports.")
    ndr: str | None = Field(default=None, description="The bounce text they got.")


class Choice(_Strict):
    text: str = Field(min_length=1)
    best: bool = False
    why: str = Field(min_length=1, description="Why this choice is right or wrong.")


class Question(_Strict):
    """A knowledge check: one best response among three to five choices."""

    stem: str = Field(min_length=1)
    choices: list[Choice] = Field(min_length=3, max_length=5)

    @model_validator(mode="after")
    def _one_best(self) -> Question:
        best = sum(1 for c in self.choices if c.best)
        if best != 1:
            raise ValueError(f"a question needs exactly one best choice, found {best}")
        return self


class FindingChange(_Strict):
    code: str
    subject: str | None = None
    reason: str = Field(min_length=1)


class FindingOverrides(_Strict):
    """Findings a scenario adds to or waives from those its faults imply."""

    add: list[FindingChange] = Field(default_factory=list)
    waive: list[FindingChange] = Field(default_factory=list)


class Scenario(_Strict):
    """A healthy baseline organisation plus the faults injected into it."""

    version: Literal[1] = 1
    name: str = Field(default="", description="Defaults to the file's stem.")
    network: Literal["any", "isolated"] = Field(
        default="any", description="'isolated' for a scenario loopback mode "
        "cannot reproduce (IPv6 paths, for one).")
    title: str = Field(min_length=1)
    organisation: Organisation = Field(default_factory=Organisation)
    outside: list[OutsideDomain] = Field(default_factory=list)
    faults: list[Fault] = Field(default_factory=list)
    delivery: Delivery = Field(default_factory=Delivery)
    blocklists: list[Blocklist] = Field(default_factory=list)
    symptoms: Symptoms
    question: Question
    findings: FindingOverrides = Field(default_factory=FindingOverrides)

    @property
    def domain(self) -> str:
        return self.organisation.domain


Location = tuple[str | int, ...]

_PLACEHOLDER = re.compile(r"\{(addr|addr6|rev):([^}]*)\}")


def cross_check(scenario: Scenario) -> Iterator[tuple[Location, str]]:
    """Rules that span fields, each with the location it should be reported at."""
    org = scenario.organisation
    names = [h.name for h in org.hosts]
    for i, name in enumerate(names):
        if name in names[:i]:
            yield ("organisation", "hosts", i, "name"), f"host name used twice: {name}"
    if org.relay is not None and org.relay not in names:
        yield ("organisation", "relay"), f"names no host: {org.relay!r}"
    if not any("dns" in h.roles for h in org.hosts):
        yield ("organisation", "hosts"), "no host has the 'dns' role"

    # Placeholders must name hosts that exist, or the lab would publish the
    # braces themselves.
    def placeholders(text: str | None, loc: Location) -> Iterator[tuple[Location, str]]:
        for kind, host in _PLACEHOLDER.findall(text or ""):
            if host not in names:
                yield loc, f"{{{kind}:{host}}} names no host of the organisation"

    yield from placeholders(org.spf, ("organisation", "spf"))
    yield from placeholders(org.dmarc, ("organisation", "dmarc"))
    for i, rec in enumerate(org.records):
        yield from placeholders(rec.name, ("organisation", "records", i, "name"))
        yield from placeholders(rec.value, ("organisation", "records", i, "value"))
    for i, bl in enumerate(scenario.blocklists):
        for j, listed in enumerate(bl.listed):
            yield from placeholders(listed, ("blocklists", i, "listed", j))

    for i, fault in enumerate(scenario.faults):
        for loc, message in fault.check(scenario):
            yield ("faults", i, *loc), message
