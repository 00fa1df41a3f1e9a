"""Message submission (port 587): the AUTH checks, and sending one message.

RFC 4954 section 4 forbids offering AUTH mechanisms that send passwords in
clear before TLS; RFC 8314 section 3.3 and RFC 6409 want submission to take
authenticated mail at all. ``auth_verdict`` is pure; ``submit`` is the one
place the checker sends DATA, and only ever to the test account itself.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass

from ..findings import Finding
from ..target import Account, Target
from .smtp_client import SmtpSession, ehlo_keywords
from .starttls import reach
from .tls import upgrade

log = logging.getLogger(__name__)

BANNER_TIMEOUT = 5.0


def auth_verdict(subject: str, before: dict[str, str], after: dict[str, str] | None,
                 evidence: tuple[str, ...]) -> list[Finding]:
    """AUTH offered in clear next to STARTTLS, or missing once under TLS."""
    found: list[Finding] = []
    if "AUTH" in before and "STARTTLS" in before:
        found.append(Finding(
            "smtp.auth-before-tls", subject,
            f"{subject} offers AUTH {before['AUTH']} before STARTTLS", evidence))
    if after is not None and "AUTH" not in after:
        found.append(Finding(
            "smtp.auth-missing", subject,
            f"{subject} offers no AUTH mechanism after STARTTLS", evidence))
    return found


def auth_plain(account: Account) -> str:
    """The RFC 4616 PLAIN initial response: authzid NUL authcid NUL password."""
    raw = f"\0{account.address}\0{account.password}".encode()
    return base64.b64encode(raw).decode("ascii")


def dot_stuff(message: bytes) -> bytes:
    """RFC 5321 section 4.5.2: a leading '.' doubled, CRLF lines, final '.'."""
    lines = message.replace(b"\r\n", b"\n").split(b"\n")
    stuffed = [b"." + line if line.startswith(b".") else line for line in lines]
    return b"\r\n".join(stuffed).rstrip(b"\r\n") + b"\r\n.\r\n"


@dataclass(frozen=True)
class Submitted:
    ok: bool
    transcript: tuple[str, ...]
    why: str = ""


async def submit(target: Target, fqdn: str, address: str, standard: int,
                 account: Account, message: bytes, timeout: float) -> Submitted:
    """STARTTLS, AUTH PLAIN, one message from the account to itself."""
    conn, found = await reach(target, fqdn, address, standard, timeout)
    if conn is None:
        return Submitted(False, tuple(f.evidence[0] for f in found), "no connection")
    session = SmtpSession(conn, timeout)
    try:
        return await _submit(session, target, fqdn, account, message)
    except (TimeoutError, ConnectionError, ValueError, OSError) as exc:
        return Submitted(False, tuple(session.transcript),
                         f"{type(exc).__name__}: {exc}")
    finally:
        log.debug("submission %s:%d transcript:\n%s", fqdn, standard,
                  "\n".join(session.transcript))
        await conn.close()


async def _submit(session: SmtpSession, target: Target, fqdn: str,
                  account: Account, message: bytes) -> Submitted:
    def failed(why: str) -> Submitted:
        return Submitted(False, tuple(session.transcript), why)

    if (await session.read_reply(BANNER_TIMEOUT)).code != 220:
        return failed("no 220 greeting")
    ehlo = await session.command(f"EHLO {target.helo}")
    if "STARTTLS" in ehlo_keywords(ehlo):
        if (await session.command("STARTTLS")).code != 220:
            return failed("STARTTLS refused")
        handshake = await upgrade(session.conn, fqdn)
        if not handshake.ok:
            return failed(handshake.error)
        # RFC 3207 section 4.2: forget everything learnt before TLS.
        ehlo = await session.command(f"EHLO {target.helo}")

    auth = await session.command(f"AUTH PLAIN {auth_plain(account)}",
                                 shown="AUTH PLAIN ********")
    if auth.code != 235:
        return failed(f"AUTH answered {auth.code}")
    for command in (f"MAIL FROM:<{account.address}>",
                    f"RCPT TO:<{account.address}>", "DATA"):
        reply = await session.command(command)
        if reply.code >= 400:
            return failed(f"{command.split(':')[0]} answered {reply.code}")
    done = await session.send(dot_stuff(message),
                              f"({len(message)} octets of message)")
    if done.code != 250:
        return failed(f"the message was answered {done.code}")
    await session.command("QUIT")
    return Submitted(True, tuple(session.transcript))
