"""SMTP ports: reachable, greeting, EHLO, STARTTLS, AUTH and the envelope.

One connection answers every question of a port, so a filtered port costs
one timeout, not one per question. Port 25 of an MX also gets the envelope
tests of ``relay`` (postmaster, open relay); port 587 the AUTH checks of
``submission``. Neither ever sends DATA.
"""

from __future__ import annotations

import logging
import time

from ..findings import Finding
from ..target import Target
from .relay import test_postmaster, test_relay
from .smtp_client import Reply, SmtpSession, ehlo_keywords, masked_lines
from .starttls import PortResult, reach, secure
from .submission import auth_verdict

log = logging.getLogger(__name__)

#: How long we wait for a greeting at all, and beyond which it is slow.
#: RFC 5321 section 4.5.3.2.1 lets a client wait 5 minutes; real senders
#: and middleboxes give up far sooner, so a few seconds is already a fault.
BANNER_TIMEOUT = 5.0
SLOW_BANNER = 2.0


async def probe_smtp(target: Target, fqdn: str, address: str, standard: int,
                     timeout: float) -> list[Finding]:
    return (await probe_smtp_port(target, fqdn, address, standard, timeout)).findings


async def probe_smtp_port(target: Target, fqdn: str, address: str,
                          standard: int, timeout: float) -> PortResult:
    subject = f"{fqdn}:{standard}"
    conn, found = await reach(target, fqdn, address, standard, timeout)
    if conn is None:
        return PortResult(found)

    session = SmtpSession(conn, timeout)
    probe = _Probe(target, session, fqdn, subject, standard == 587)
    try:
        await probe.run()
    except (TimeoutError, ConnectionError, ValueError, OSError) as exc:
        if not session.transcript:
            probe.found.append(Finding(
                "smtp.banner-bad", subject, f"{subject} sends no greeting",
                (conn.evidence(),
                 (f"no 220 greeting within {BANNER_TIMEOUT:g} s: "
                  f"{type(exc).__name__} {exc}"))))
        else:
            log.debug("smtp %s: session ended early: %s", subject, exc)
    finally:
        log.debug("smtp %s (%s) transcript:\n%s", subject, address,
                  "\n".join(session.transcript))
        await conn.close()
    return PortResult(probe.found, probe.chain)


class _Probe:
    """The steps of one SMTP port probe, sharing one session."""

    def __init__(self, target: Target, session: SmtpSession, fqdn: str,
                 subject: str, submission: bool) -> None:
        self.target, self.session = target, session
        self.fqdn, self.subject, self.submission = fqdn, subject, submission
        self.found: list[Finding] = []
        self.chain: tuple[bytes, ...] = ()

    def evidence(self) -> tuple[str, ...]:
        return (self.session.conn.evidence(), *self.session.transcript)

    async def run(self) -> None:
        banner = await self._greeting()
        if banner is None:
            return

        ehlo = await self.session.command(f"EHLO {self.target.helo}")
        if ehlo.code != 250:
            self.found.append(Finding(
                "smtp.ehlo-refused", self.subject, f"{self.subject} refuses EHLO",
                self.evidence()))
            return

        masked = masked_lines(banner, ehlo)
        if masked:
            # One fault, one finding: the middlebox also hid STARTTLS.
            self.found.append(Finding(
                "smtp.banner-masked", self.subject,
                f"{self.subject} is behind an ESMTP-inspecting middlebox that "
                "masks the greeting and strips STARTTLS",
                (*masked, *self.evidence())))
            await self.session.command("QUIT")
            return

        before = ehlo_keywords(ehlo)
        after = await self._starttls(before)
        if after is False:
            return
        if self.submission:
            self.found += auth_verdict(self.subject, before,
                                       after if isinstance(after, dict) else None,
                                       self.evidence())
        elif self.target.domain:
            self.found += await test_postmaster(self.session, self.target.domain,
                                                self.subject)
            self.found += await test_relay(self.session, self.subject)
        await self.session.command("QUIT")

    async def _greeting(self) -> Reply | None:
        started = time.monotonic()
        banner = await self.session.read_reply(BANNER_TIMEOUT)
        waited = time.monotonic() - started
        if banner.code != 220:
            self.found.append(Finding(
                "smtp.banner-bad", self.subject,
                f"{self.subject} greets with {banner.code}", self.evidence()))
            return None
        if waited > SLOW_BANNER:
            self.found.append(Finding(
                "smtp.slow-banner", self.subject,
                f"{self.subject} greets only after {waited:.1f} s",
                (*self.evidence(), f"greeting after {waited * 1000:.0f} ms")))
        return banner

    async def _starttls(self, before: dict[str, str]) -> dict[str, str] | bool:
        """The EHLO keywords under TLS; True if no TLS, False if it broke."""
        if "STARTTLS" not in before:
            self.found.append(Finding(
                "smtp.starttls-missing", self.subject,
                f"{self.subject} does not offer STARTTLS", self.evidence()))
            return True
        reply = await self.session.command("STARTTLS")
        if reply.code != 220:
            self.found.append(Finding(
                "tls.handshake-failed", self.subject,
                f"{self.subject} offers STARTTLS but answers it {reply.code}",
                self.evidence()))
            return False
        handshake, found = await secure(self.target, self.session.conn, self.fqdn,
                                        self.subject, self.session.transcript)
        self.found += found
        if not handshake.ok:
            return False
        self.chain = handshake.chain
        # RFC 3207 section 4.2: discard what was learnt, and EHLO again.
        ehlo = await self.session.command(f"EHLO {self.target.helo}")
        return ehlo_keywords(ehlo) if ehlo.code == 250 else {}
