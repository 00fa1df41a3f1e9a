"""SMTP ports: reachable, greeting, EHLO. One connection answers all three,
so a filtered port costs one timeout, not one per question."""

from __future__ import annotations

import asyncio
import logging

from ..findings import Finding
from ..target import Target
from .smtp_client import SmtpSession
from .tcp import connect

log = logging.getLogger(__name__)


async def probe_smtp(target: Target, fqdn: str, address: str, standard: int,
                     timeout: float) -> list[Finding]:
    port = target.port(address, standard)
    subject = f"{fqdn}:{standard}"
    conn = await connect(address, port, timeout)
    if conn.state == "filtered":
        return [Finding("port.filtered", subject,
                        f"{subject} ({address}) does not answer", (conn.evidence(),))]
    if conn.state in ("refused", "unreachable"):
        return [Finding("port.closed", subject,
                        f"{subject} ({address}) refuses connections",
                        (conn.evidence(),))]

    session = SmtpSession(conn, timeout)
    findings: list[Finding] = []
    try:
        banner = await session.read_reply()
        if banner.code != 220:
            findings.append(Finding(
                "smtp.banner-bad", subject, f"{subject} greets with {banner.code}",
                (conn.evidence(), *session.transcript)))
            return findings
        ehlo = await session.command(f"EHLO {target.helo}")
        if ehlo.code != 250:
            findings.append(Finding(
                "smtp.ehlo-refused", subject, f"{subject} refuses EHLO",
                (conn.evidence(), *session.transcript)))
        await session.command("QUIT")
    except (asyncio.TimeoutError, ConnectionError, ValueError, OSError) as exc:
        if not session.transcript:
            findings.append(Finding(
                "smtp.banner-bad", subject, f"{subject} sends no greeting",
                (conn.evidence(), f"no 220 greeting: {type(exc).__name__} {exc}")))
        else:
            log.debug("smtp %s: session ended early: %s", subject, exc)
    finally:
        log.debug("smtp %s transcript:\n%s", subject, "\n".join(session.transcript))
        await conn.close()
    return findings
