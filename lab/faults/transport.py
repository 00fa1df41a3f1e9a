"""Faults of the transport: certificates, STARTTLS, SMTP behaviour, IMAP,
POP3 and the HTTP side (Autodiscover, CRL)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import ClassVar, Literal

from pydantic import Field, field_validator

from ..plan import Expected, Plan
from .base import FaultBase, Location


def _ports_of(scenario, host: str) -> set[int]:  # type: ignore[no-untyped-def]
    from ..plan import ROLE_SERVICES

    spec = next(h for h in scenario.organisation.hosts if h.name == host)
    return {p for role in spec.roles for p in ROLE_SERVICES[role].values()}


class _HostPortFault(FaultBase):
    """A fault of one port of one host that must serve that port."""

    host: str
    port: int

    def check(self, scenario) -> Iterator[tuple[Location, str]]:  # type: ignore
        problems = list(super().check(scenario))
        yield from problems
        if not problems and self.port not in _ports_of(scenario, self.host):
            yield ("port",), f"host {self.host} serves no port {self.port}"

    def subject(self, plan: Plan) -> str:
        return f"{plan.host(self.host).fqdn}:{self.port}"


class _Certificate(FaultBase):
    """A bad certificate on every TLS port of a host, or on one."""

    host: str = "mail"
    port: int | None = None
    variant: ClassVar[str] = ""

    def apply(self, plan: Plan) -> None:
        plan.certificates[(self.host, self.port)] = self.variant

    def expected(self, plan: Plan) -> list[Expected]:
        ports = [self.port] if self.port else plan.tls_ports(self.host)
        fqdn = plan.host(self.host).fqdn
        return [Expected(f"tls.{self.variant}", f"{fqdn}:{p}", self.type)
                for p in ports if (self.host, p) not in plan.blocked]


class TlsExpired(_Certificate):
    """A host's certificate has expired.

    Reproduces the renewal nobody did: clients that verify refuse the
    handshake ('certificate has expired'), and SMTP senders that require TLS
    defer.
    """

    type: Literal["tls.expired"] = "tls.expired"
    variant: ClassVar[str] = "expired"
    findings: ClassVar[tuple[str, ...]] = ("tls.expired",)


class TlsNotYetValid(_Certificate):
    """A host's certificate is not valid yet.

    Reproduces a certificate installed ahead of its start date, or a server
    clock that runs behind.
    """

    type: Literal["tls.not-yet-valid"] = "tls.not-yet-valid"
    variant: ClassVar[str] = "not-yet-valid"
    findings: ClassVar[tuple[str, ...]] = ("tls.not-yet-valid",)


class TlsNameMismatch(_Certificate):
    """A host's certificate is issued for another name.

    Reproduces a certificate copied from another server: the chain is fine,
    the name (RFC 9525 service identity) is not.
    """

    type: Literal["tls.name-mismatch"] = "tls.name-mismatch"
    variant: ClassVar[str] = "name-mismatch"
    findings: ClassVar[tuple[str, ...]] = ("tls.name-mismatch",)


class TlsSelfSigned(_Certificate):
    """A host presents a self-signed certificate.

    Reproduces the installer's default certificate left in place: no client
    can chain it to a CA it trusts.
    """

    type: Literal["tls.self-signed"] = "tls.self-signed"
    variant: ClassVar[str] = "self-signed"
    findings: ClassVar[tuple[str, ...]] = ("tls.self-signed",)


class TlsUnknownCa(_Certificate):
    """A host's certificate is signed by a CA the clients do not trust.

    Reproduces an internal CA's certificate on an internet-facing port, or
    a missing intermediate.
    """

    type: Literal["tls.unknown-ca"] = "tls.unknown-ca"
    variant: ClassVar[str] = "unknown-ca"
    findings: ClassVar[tuple[str, ...]] = ("tls.unknown-ca",)


class SmtpStarttlsMissing(_HostPortFault):
    """An SMTP port does not offer STARTTLS.

    Reproduces a server whose certificate was removed, or TLS switched off:
    mail crosses the network in clear (RFC 3207), and senders that require
    TLS (MTA-STS, DANE) will not deliver.
    """

    type: Literal["smtp.starttls-missing"] = "smtp.starttls-missing"
    host: str = "mx1"
    port: int = 25
    findings: ClassVar[tuple[str, ...]] = ("smtp.starttls-missing",)

    def apply(self, plan: Plan) -> None:
        plan.smtp_tweaks(self.host, self.port).starttls = "missing"

    def expected(self, plan: Plan) -> list[Expected]:
        return [Expected("smtp.starttls-missing", self.subject(plan), self.type)]


class SmtpStarttlsBroken(_HostPortFault):
    """STARTTLS is offered, but the TLS handshake fails.

    Reproduces a middlebox or a broken TLS library: the server answers 220
    to STARTTLS and then sends a fatal alert, so the session dies.
    """

    type: Literal["smtp.starttls-broken"] = "smtp.starttls-broken"
    host: str = "mx1"
    port: int = 25
    findings: ClassVar[tuple[str, ...]] = ("tls.handshake-failed",)

    def apply(self, plan: Plan) -> None:
        plan.smtp_tweaks(self.host, self.port).starttls = "broken"

    def expected(self, plan: Plan) -> list[Expected]:
        return [Expected("tls.handshake-failed", self.subject(plan), self.type)]


class SmtpBannerMasked(_HostPortFault):
    """A firewall doing ESMTP inspection masks the banner and strips STARTTLS.

    Reproduces the 'SMTP fixup' features of some firewalls: the greeting
    becomes asterisks and STARTTLS becomes 'XXXXXXXA', so no session is
    ever encrypted and clients see a server they cannot identify.
    """

    type: Literal["smtp.banner-masked"] = "smtp.banner-masked"
    host: str = "mx1"
    port: int = 25
    findings: ClassVar[tuple[str, ...]] = ("smtp.banner-masked",)

    def apply(self, plan: Plan) -> None:
        plan.smtp_tweaks(self.host, self.port).banner_masked = True

    def expected(self, plan: Plan) -> list[Expected]:
        return [Expected("smtp.banner-masked", self.subject(plan), self.type)]


class SmtpAuthBeforeTls(_HostPortFault):
    """The submission port offers AUTH before STARTTLS.

    Reproduces a server configured to allow plain-text authentication:
    passwords can cross the network in clear (RFC 4954 section 4 and RFC
    8314 say to require TLS first).
    """

    type: Literal["smtp.auth-before-tls"] = "smtp.auth-before-tls"
    host: str = "mail"
    port: int = 587
    findings: ClassVar[tuple[str, ...]] = ("smtp.auth-before-tls",)

    def apply(self, plan: Plan) -> None:
        plan.smtp_tweaks(self.host, self.port).auth_before_tls = True

    def expected(self, plan: Plan) -> list[Expected]:
        return [Expected("smtp.auth-before-tls", self.subject(plan), self.type)]


class SmtpOpenRelay(_HostPortFault):
    """The MX relays mail for any domain, from anyone.

    Reproduces a receive connector opened to 'anonymous relay'. Spammers
    find it within hours and the address lands on blocklists. The lab never
    delivers such mail anywhere: it is accepted and kept in memory.
    """

    type: Literal["smtp.open-relay"] = "smtp.open-relay"
    host: str = "mx1"
    port: int = 25
    findings: ClassVar[tuple[str, ...]] = ("smtp.open-relay",)

    def apply(self, plan: Plan) -> None:
        plan.smtp_tweaks(self.host, self.port).open_relay = True

    def expected(self, plan: Plan) -> list[Expected]:
        return [Expected("smtp.open-relay", self.subject(plan), self.type)]


class SmtpReply(_HostPortFault):
    """An SMTP port answers a chosen reply at a chosen stage.

    Reproduces the server-side refusals admins meet: 421 at connect (an
    overloaded or blocking server), 451 at RCPT (greylisting), 452 (back
    pressure, out of disk), 550 5.7.1 (a policy refusal).
    """

    type: Literal["smtp.reply"] = "smtp.reply"
    host: str = "mx1"
    port: int = 25
    stage: Literal["connect", "ehlo", "mail", "rcpt"] = "rcpt"
    reply: str = "451 4.7.1 Greylisted, please try again later"
    findings: ClassVar[tuple[str, ...]] = ("smtp.banner-bad", "smtp.ehlo-refused",
                                          "smtp.tempfail", "smtp.refused")

    @field_validator("reply")
    @classmethod
    def _reply(cls, value: str) -> str:
        if not re.match(r"^[45]\d\d[ -]", value + " "):
            raise ValueError("a reply is 'NNN text' with a 4xx or 5xx code")
        return value

    def apply(self, plan: Plan) -> None:
        plan.smtp_tweaks(self.host, self.port).reply = (self.stage, self.reply)

    def expected(self, plan: Plan) -> list[Expected]:
        if self.stage == "connect":
            code = "smtp.banner-bad"
        elif self.stage == "ehlo":
            code = "smtp.ehlo-refused"
        else:
            code = "smtp.tempfail" if self.reply[0] == "4" else "smtp.refused"
        return [Expected(code, self.subject(plan), self.type)]


class SmtpSlowBanner(_HostPortFault):
    """An SMTP port greets only after a delay.

    Reproduces a server that does reverse DNS or blocklist lookups before
    greeting, behind a slow resolver: senders with short timeouts give up.
    """

    type: Literal["smtp.slow-banner"] = "smtp.slow-banner"
    host: str = "mx1"
    port: int = 25
    delay: float = Field(default=2.5, gt=2.0, le=4.5)
    findings: ClassVar[tuple[str, ...]] = ("smtp.slow-banner",)

    def apply(self, plan: Plan) -> None:
        plan.smtp_tweaks(self.host, self.port).banner_delay = self.delay

    def expected(self, plan: Plan) -> list[Expected]:
        return [Expected("smtp.slow-banner", self.subject(plan), self.type)]


class ImapLoginDisabled(FaultBase):
    """IMAP refuses every login, even under TLS.

    Reproduces a server whose authentication back end is off: it keeps
    advertising LOGINDISABLED after STARTTLS and on 993, so no client can
    sign in (RFC 3501 section 6.2.3).
    """

    type: Literal["imap.login-disabled"] = "imap.login-disabled"
    host: str = "mail"
    findings: ClassVar[tuple[str, ...]] = ("imap.login-disabled",)

    def apply(self, plan: Plan) -> None:
        plan.imap_login_disabled.add(self.host)

    def expected(self, plan: Plan) -> list[Expected]:
        h = plan.host(self.host)
        return [Expected("imap.login-disabled", f"{h.fqdn}:{p}", self.type)
                for s, p in sorted(h.services.items(), key=lambda i: i[1])
                if s in ("imap", "imaps") and (self.host, p) not in plan.blocked]


class Pop3Down(FaultBase):
    """The POP3 service is stopped on both of its ports.

    Reproduces a service that failed to start after an update: 110 and 995
    refuse connections at once, while IMAP still works.
    """

    type: Literal["pop3.down"] = "pop3.down"
    host: str = "mail"
    findings: ClassVar[tuple[str, ...]] = ("port.closed",)

    def apply(self, plan: Plan) -> None:
        for port in (110, 995):
            plan.blocked[(self.host, port)] = "reject"

    def expected(self, plan: Plan) -> list[Expected]:
        fqdn = plan.host(self.host).fqdn
        return [Expected("port.closed", f"{fqdn}:{p}", self.type) for p in (110, 995)]


class AutodiscoverMissing(FaultBase):
    """The Autodiscover endpoint answers 404.

    Reproduces a virtual directory removed from the web server: Outlook and
    phones cannot find their settings and fall back to asking the user.
    """

    type: Literal["autodiscover.missing"] = "autodiscover.missing"
    host: str = "autodiscover"
    findings: ClassVar[tuple[str, ...]] = ("autodiscover.missing",)

    def apply(self, plan: Plan) -> None:
        plan.http_tweaks(self.host).autodiscover = False

    def expected(self, plan: Plan) -> list[Expected]:
        return [Expected("autodiscover.missing", plan.host(self.host).fqdn,
                         self.type)]


class AutodiscoverRedirectBroken(FaultBase):
    """Port 80's Autodiscover redirect leads nowhere (a loop).

    Reproduces a web server's HTTP-to-HTTPS redirect rule that points back
    at itself: clients using the HTTP redirect method never reach HTTPS.
    """

    type: Literal["autodiscover.http-redirect-broken"] = (
        "autodiscover.http-redirect-broken")
    host: str = "autodiscover"
    findings: ClassVar[tuple[str, ...]] = ("autodiscover.redirect-broken",)

    def apply(self, plan: Plan) -> None:
        plan.http_tweaks(self.host).redirect_broken = True

    def expected(self, plan: Plan) -> list[Expected]:
        return [Expected("autodiscover.redirect-broken",
                         f"{plan.host(self.host).fqdn}:80", self.type)]


class CrlUnreachable(FaultBase):
    """The CRL the certificates name cannot be downloaded.

    Reproduces a CRL distribution point on a web server that was retired:
    clients that check revocation (Exchange, Windows) stall or fail.
    """

    type: Literal["crl.unreachable"] = "crl.unreachable"
    host: str = "autodiscover"
    findings: ClassVar[tuple[str, ...]] = ("crl.unreachable",)

    def apply(self, plan: Plan) -> None:
        plan.http_tweaks(self.host).crl = False

    def expected(self, plan: Plan) -> list[Expected]:
        url = plan.crl_url
        return [Expected("crl.unreachable", url, self.type)] if url else []
