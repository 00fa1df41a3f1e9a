"""Who may send what to whom: the organisation's recipient and relay policy.

This is the aiosmtpd handler. It holds no socket; the server module wires
it to listeners. Replies follow RFC 5321 section 4.2 with the enhanced
status codes of RFC 3463.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ..relay.errors import MessageTooLarge, QueueFull

log = logging.getLogger(__name__)

R_OK = "250 2.1.5 OK"
R_RELAY_DENIED = "550 5.7.1 Unable to relay: {domain} is not a domain of this server"
R_NO_SUCH_USER = "550 5.1.1 <{address}>: recipient address rejected: user unknown"
R_AUTH_REQUIRED = "530 5.7.0 Authentication required"
R_TOO_MANY_RCPT = "452 4.5.3 Too many recipients"

Deliver = Callable[[str, bytes], Awaitable[str]]
Enqueue = Callable[[str, list[str], bytes], Awaitable[tuple[str, ...]]]


@dataclass
class Accepted:
    """A message this lab answered 250 for, kept for tests and the log."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    content: bytes
    key: str


@dataclass
class MailPolicy:
    """Accept mail for the organisation's users; refuse to relay elsewhere."""

    domain: str
    users: dict[str, str]
    hostname: str
    deliver: Deliver | None = None
    submission: bool = False
    max_recipients: int = 100
    #: The smtp.open-relay fault: accept any domain. Such mail is kept in
    #: memory only; the lab never delivers it anywhere.
    open_relay: bool = False
    #: Hands authenticated submissions for outside domains to the relay.
    enqueue: Enqueue | None = None
    #: How many accepted messages to keep in memory for inspection.
    keep: int = 100
    accepted: list[Accepted] = field(default_factory=list)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any,
                          address: str, rcpt_options: list[str]) -> str:
        if self.submission and not session.authenticated:
            return R_AUTH_REQUIRED
        if len(envelope.rcpt_tos) >= self.max_recipients:
            return R_TOO_MANY_RCPT

        local, _, domain = address.rpartition("@")
        domain = domain.lower().rstrip(".")
        if domain != self.domain:
            if self.open_relay:
                log.warning("%s relays for %s to %s (open relay fault)",
                            self.hostname, session.peer[0], address)
                envelope.rcpt_tos.append(address)
                return R_OK
            if self.submission and session.authenticated:
                if self.enqueue is None:
                    return "451 4.4.0 This lab has no outbound relay"
                envelope.rcpt_tos.append(address)
                return R_OK
            log.info("%s refused relay from %s to %s", self.hostname,
                     session.peer[0], address)
            return R_RELAY_DENIED.format(domain=domain or "(none)")
        if local.lower() not in self.users and local.lower() != "postmaster":
            return R_NO_SUCH_USER.format(address=address)

        envelope.rcpt_tos.append(address)
        return R_OK

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content = envelope.original_content or envelope.content or b""
        if isinstance(content, str):
            content = content.encode("utf-8", "surrogateescape")

        outside = [r for r in envelope.rcpt_tos
                   if r.rpartition("@")[2].lower().rstrip(".") != self.domain]
        keys = []
        if outside and self.submission and self.enqueue is not None:
            try:
                keys.extend(await self.enqueue(envelope.mail_from, outside, content))
            except QueueFull:
                return "452 4.3.1 Insufficient system storage"
            except MessageTooLarge:
                return "552 5.3.4 Message size exceeds fixed limit"
        for rcpt in envelope.rcpt_tos:
            if rcpt in outside:
                continue  # queued above, or open-relay mail that goes nowhere
            user = rcpt.rpartition("@")[0].lower()
            user = "postmaster" if user == "postmaster" else user
            if self.deliver is not None:
                # Durable before the reply: the store returns once on disk.
                keys.append(await self.deliver(user, content))
            else:
                keys.append(f"mem{len(self.accepted) + 1}")
        key = keys[0] if keys else "none"
        self.accepted.append(Accepted(envelope.mail_from, tuple(envelope.rcpt_tos),
                                      content, key))
        del self.accepted[:-self.keep]
        log.info("%s accepted a message from <%s> for %s", self.hostname,
                 envelope.mail_from, ", ".join(envelope.rcpt_tos))
        return f"250 2.0.0 OK: queued as {key}"
