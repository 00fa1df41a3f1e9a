"""What every port probe shares: reaching the port, and securing the session.

``reach`` turns a TCP connect into the port findings (filtered or closed);
``secure`` runs the TLS handshake, after STARTTLS/STLS or at once for the
implicit-TLS ports (RFC 8314 section 3), and turns the result into TLS
findings. A probe's ``PortResult`` also carries the presented chain, so the
diagnosis can fetch each CRL once for all ports.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from ..findings import Finding
from ..target import Target
from . import tls
from .tcp import Connection, connect

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PortResult:
    """What one probe of one port found, and the certificates it saw."""

    findings: list[Finding] = field(default_factory=list)
    chain: tuple[bytes, ...] = ()


async def reach(target: Target, fqdn: str, address: str, standard: int,
                timeout: float) -> tuple[Connection | None, list[Finding]]:
    """An open connection, or the finding that says why there is none."""
    subject = f"{fqdn}:{standard}"
    conn = await connect(address, target.port(address, standard), timeout)
    if conn.state == "filtered":
        return None, [Finding("port.filtered", subject,
                              f"{subject} ({address}) does not answer",
                              (conn.evidence(),))]
    if conn.state in ("refused", "unreachable"):
        return None, [Finding("port.closed", subject,
                              f"{subject} ({address}) refuses connections",
                              (conn.evidence(),))]
    return conn, []


async def secure(target: Target, conn: Connection, fqdn: str, subject: str,
                 transcript: list[str]) -> tuple[tls.Handshake, list[Finding]]:
    """The handshake on ``conn`` and every TLS finding it proves."""
    handshake = await tls.upgrade(conn, fqdn)
    if not handshake.ok:
        return handshake, [Finding(
            "tls.handshake-failed", subject,
            f"{subject}: the TLS handshake fails",
            (conn.evidence(), *transcript[-4:], handshake.evidence()))]
    now = datetime.datetime.now(datetime.UTC)
    problems = tls.classify(handshake, fqdn, tls.load_trust(target.ca_file), now)
    return handshake, tls.findings(subject, problems)



class _Session(Protocol):
    transcript: list[str]


async def mailbox_session(
        target: Target, fqdn: str, address: str, standard: int, timeout: float,
        protocol: str, client_of: Callable[[Connection], _Session],
        converse: Callable[[_Session, str, list[Finding]],
                           Awaitable[tuple[bytes, ...]]],
) -> PortResult:
    """One IMAP or POP3 probe: reach the port, talk, tell a silent server.

    ``converse`` gets the client, the subject and the list to add findings
    to, and returns the presented certificate chain.
    """
    subject = f"{fqdn}:{standard}"
    conn, found = await reach(target, fqdn, address, standard, timeout)
    if conn is None:
        return PortResult(found)
    client = client_of(conn)
    chain: tuple[bytes, ...] = ()
    try:
        chain = await converse(client, subject, found)
    except (TimeoutError, ConnectionError, ValueError, OSError) as exc:
        log.debug("%s %s: session ended early: %s", protocol, subject, exc)
        if not client.transcript:
            found.append(Finding(f"{protocol}.banner-bad", subject,
                                 f"{subject} sends no {protocol.upper()} greeting",
                                 (conn.evidence(), f"{type(exc).__name__} {exc}")))
    finally:
        log.debug("%s %s (%s) transcript:\n%s", protocol, subject, address,
                  "\n".join(client.transcript))
        await conn.close()
    return PortResult(found, chain)


async def implicit_tls(target: Target, conn: Connection, fqdn: str, subject: str,
                       found: list[Finding]) -> tuple[bytes, ...] | None:
    """TLS from the first byte (993, 995): the chain, or None when it failed."""
    handshake, problems = await secure(target, conn, fqdn, subject, [])
    found += problems
    return handshake.chain if handshake.ok else None
