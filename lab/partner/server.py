"""A partner organisation's MX: aiosmtpd with a large receiver's policy.

The handler asks DNS about the client once per transaction (``facts``),
lets ``policy.judge`` decide, and stores accepted mail in the partner's
own ``MailStore`` with Received and Received-SPF headers. A subclass of
aiosmtpd's SMTP records both sides of each session in a transcript.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any


from lab.relay.resolver import LabResolver
from lab.relay.transcript import TranscriptLog
from lab.smtp.recording import RecordingSMTP
from lab.store import MailStore, UnsafeUserName

from .facts import gather_facts
from .policy import (
    ClientFacts,
    Greylist,
    PartnerPolicy,
    RateLimiter,
    greylist_reply,
    judge,
    rate_reply,
    spf_header,
)

log = logging.getLogger(__name__)

IDENT = "ESMTP Mailflow Lab partner"
MAX_SESSIONS = 100
_TRANSCRIPT = "lab_transcript"
_FACTS = "lab_partner_facts"


@dataclass
class PartnerHandler:
    """The aiosmtpd handler: the policy's hooks at MAIL, RCPT and DATA."""

    domain: str
    hostname: str
    policy: PartnerPolicy
    resolver: LabResolver
    store: MailStore
    users: frozenset[str] | None = None
    clock: Callable[[], float] = time.time
    greylist: Greylist | None = None
    rates: RateLimiter | None = None
    accepted: int = 0
    refusals: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.policy.greylist_seconds is not None and self.greylist is None:
            self.greylist = Greylist(self.policy.greylist_seconds)
        if self.policy.rate_limit is not None and self.rates is None:
            self.rates = RateLimiter(self.policy.rate_limit, self.policy.rate_window)

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any,
                          address: str, mail_options: list[str]) -> str:
        peer = session.peer[0]
        if self.rates is not None and not self.rates.allow(peer, self.clock()):
            reply = rate_reply(peer)
            self._refused(peer, reply)
            # 421 closes the session (RFC 5321 section 3.8).
            asyncio.get_running_loop().call_soon(server.transport.close)
            return reply
        setattr(session, _FACTS, None)
        # aiosmtpd keeps the null reverse path as "<>"; it must stay truthy
        # there (its RCPT asks whether MAIL was given), so ``_sender`` maps it.
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 OK"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any,
                          address: str, rcpt_options: list[str]) -> str:
        peer = session.peer[0]
        if len(envelope.rcpt_tos) >= self.policy.max_recipients:
            return "452 4.5.3 Too many recipients"
        local, _, domain = address.rpartition("@")
        if domain.lower().rstrip(".") != self.domain:
            return f"550 5.7.1 <{address}>: Relay access denied"
        if self.users is not None and local.lower() not in self.users:
            return (f"550 5.1.1 <{address}>: Recipient address rejected: "
                    f"User unknown in virtual mailbox table")

        facts = await self._facts(session, envelope)
        refusal = judge(self.policy, facts)
        if refusal is None and self.greylist is not None:
            wait = self.greylist.check((peer, _sender(envelope), address),
                                       self.clock())
            if wait > 0:
                refusal = greylist_reply(address, wait)
        if refusal is not None:
            self._refused(peer, refusal)
            return refusal

        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content = envelope.original_content or envelope.content or b""
        if isinstance(content, str):
            content = content.encode("utf-8", "surrogateescape")
        facts: ClientFacts = getattr(session, _FACTS) or await self._facts(
            session, envelope)
        head = self._trace(session, facts, envelope.rcpt_tos)

        keys = []
        for rcpt in envelope.rcpt_tos:
            try:
                keys.append(await self.store.deliver_async(
                    rcpt.rpartition("@")[0].lower(), head + content))
            except UnsafeUserName:
                return f"550 5.1.3 <{rcpt}>: bad recipient address syntax"
        self.accepted += 1
        log.info("%s accepted mail from <%s> via [%s] for %s", self.hostname,
                 envelope.mail_from, session.peer[0], ", ".join(envelope.rcpt_tos))
        return f"250 2.0.0 OK: queued as {keys[0] if keys else 'none'}"

    async def _facts(self, session: Any, envelope: Any) -> ClientFacts:
        facts = getattr(session, _FACTS, None)
        if facts is None:
            facts = await gather_facts(
                self.policy, self.resolver, session.peer[0],
                session.host_name or "", _sender(envelope), self.hostname)
            setattr(session, _FACTS, facts)
        return facts

    def _trace(self, session: Any, facts: ClientFacts, rcpts: list[str]) -> bytes:
        # RFC 5321 section 4.4: a Received line at each hop; RFC 7208 9.1.
        ptr = facts.ptr_names[0] if facts.ptr_names else "unknown"
        received = (f"Received: from {session.host_name} ({ptr} "
                    f"[{session.peer[0]}])\r\n\tby {self.hostname} (Mailflow Lab "
                    f"partner) with ESMTP\r\n\tfor <{rcpts[0]}>; "
                    f"{formatdate(self.clock(), usegmt=True)}\r\n")
        return (spf_header(facts, self.hostname) + "\r\n" + received).encode(
            "utf-8", "replace")

    def _refused(self, peer: str, reply: str) -> None:
        self.refusals.append(reply)
        del self.refusals[:-100]
        log.info("%s refused [%s]: %s", self.hostname, peer,
                 reply.replace("\r\n", " "))


def _sender(envelope: Any) -> str:
    """The reverse path, "" for the null one (RFC 5321 section 4.5.5)."""
    address = envelope.mail_from or ""
    return "" if address == "<>" else address


class _Busy(asyncio.Protocol):
    """Stands in for a session when the partner is full (RFC 5321 s. 3.8)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        reply = b"421 4.3.2 Too many connections, try again later\r\n"
        transport.write(reply)  # type: ignore[attr-defined]
        transport.close()


class _Recorded(RecordingSMTP):
    """aiosmtpd's session for the partner, recorded, counted."""

    def __init__(self, server: PartnerServer, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, transcripts=server.transcripts,
                         log_host=server.handler.hostname, **kwargs)
        self._partner = server

    async def _handle_client(self) -> None:
        try:
            await super()._handle_client()
        finally:
            self._partner.sessions -= 1


class PartnerServer:
    """The partner's MX on one address and port."""

    def __init__(self, handler: PartnerHandler, host: str, port: int = 25, *,
                 transcripts: TranscriptLog | None = None,
                 idle_timeout: float = 30.0) -> None:
        self.handler = handler
        self.host = host
        self.port = port
        self.transcripts = transcripts
        self.idle_timeout = idle_timeout
        self.sessions = 0
        self.server: asyncio.AbstractServer | None = None

    def _protocol(self) -> asyncio.Protocol:
        if self.sessions >= MAX_SESSIONS:
            return _Busy()
        self.sessions += 1
        return _Recorded(
            self, self.handler, hostname=self.handler.hostname, ident=IDENT,
            data_size_limit=self.handler.policy.max_message,
            timeout=self.idle_timeout, command_call_limit=200)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(self._protocol, self.host, self.port,
                                               backlog=128)
        if self.port == 0:
            self.port = self.server.sockets[0].getsockname()[1]
        log.info("partner %s MX %s on %s:%d", self.handler.domain,
                 self.handler.hostname, self.host, self.port)

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
