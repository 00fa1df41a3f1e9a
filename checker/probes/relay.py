"""Envelope tests on an MX's port 25: postmaster, and the open relay.

Both stop at RCPT and end with RSET: the checker never sends DATA here, so
it never relays a message, even through a server that would relay it.
``postmaster_verdict`` and ``relay_verdict`` are pure functions of replies.
"""

from __future__ import annotations

import logging

from ..findings import Finding
from .smtp_client import Reply, SmtpSession

log = logging.getLogger(__name__)

#: A sender in a domain that cannot exist (RFC 2606 section 2, .invalid).
POSTMASTER_SENDER = "postmaster@checker.maillab.invalid"
RELAY_SENDER = "checker@checker.maillab.invalid"
#: An outside recipient no server can deliver to: a 250 proves the policy
#: only, and nothing can leave even if the server tried.
RELAY_RECIPIENT = "relay-test@relay-probe.maillab.invalid"


def postmaster_verdict(replies: list[Reply]) -> str | None:
    """'smtp.tempfail' for a 4xx, 'smtp.refused' for a 5xx, None when fine.

    RFC 5321 section 4.5.1: every domain must accept mail for postmaster, so
    a refusal here refuses everyone.
    """
    for reply in replies:
        if 400 <= reply.code < 500:
            return "smtp.tempfail"
        if reply.code >= 500:
            return "smtp.refused"
    return None


def relay_verdict(mail: Reply, rcpt: Reply | None) -> bool:
    """Whether the server accepted an outside recipient from an outsider."""
    return 200 <= mail.code < 300 and rcpt is not None and 200 <= rcpt.code < 300


async def test_postmaster(session: SmtpSession, domain: str,
                          subject: str) -> list[Finding]:
    start = len(session.transcript)
    replies = [await session.command(f"MAIL FROM:<{POSTMASTER_SENDER}>")]
    if 200 <= replies[0].code < 300:
        replies.append(await session.command(f"RCPT TO:<postmaster@{domain}>"))
    await session.command("RSET")
    code = postmaster_verdict(replies)
    if code is None:
        return []
    how = "temporarily" if code == "smtp.tempfail" else "permanently"
    return [Finding(code, subject,
                    f"{subject} {how} refuses mail to postmaster@{domain} "
                    f"({replies[-1].code})",
                    tuple(session.transcript[start:]))]


async def test_relay(session: SmtpSession, subject: str) -> list[Finding]:
    start = len(session.transcript)
    mail = await session.command(f"MAIL FROM:<{RELAY_SENDER}>")
    rcpt = None
    if 200 <= mail.code < 300:
        rcpt = await session.command(f"RCPT TO:<{RELAY_RECIPIENT}>")
    # RSET drops the envelope; no DATA is ever sent (RFC 5321 4.1.1.5).
    await session.command("RSET")
    if not relay_verdict(mail, rcpt):
        return []
    log.warning("%s accepts relaying to %s", subject, RELAY_RECIPIENT)
    return [Finding("smtp.open-relay", subject,
                    f"{subject} accepts mail for an outside domain from an "
                    "outside sender without authentication",
                    tuple(session.transcript[start:]))]
