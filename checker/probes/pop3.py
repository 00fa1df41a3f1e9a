"""POP3 (110 with STLS, 995 with implicit TLS): greeting, CAPA, STLS, login.

``status`` and ``capa`` are pure readings of RFC 1939 section 3 and RFC 2449
section 5; ``Pop3Client`` moves bytes with every read bounded. The flow
reuses the client to read its message back (RETR, never DELE: the IMAP side
deletes it).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from ..findings import Finding
from ..target import Account, Target
from .starttls import PortResult, implicit_tls, mailbox_session, secure
from .tcp import Connection

log = logging.getLogger(__name__)

MAX_LINE = 4096
MAX_MULTILINE = 2 * 1024 * 1024


def status(line: bytes) -> bool:
    """Whether a single-line response is positive (+OK)."""
    return line.startswith(b"+OK")


def capa(lines: list[bytes]) -> set[str]:
    """The capability names of a CAPA response (first word of each line)."""
    return {line.split()[0].decode("ascii", "replace").upper()
            for line in lines if line.strip()}


def unstuff(lines: list[bytes]) -> list[bytes]:
    """RFC 1939 section 3: a leading '.' of a multi-line line is doubled."""
    return [line[1:] if line.startswith(b"..") else line for line in lines]


@dataclass
class Pop3Client:
    conn: Connection
    timeout: float
    transcript: list[str] = field(default_factory=list)

    async def _line(self) -> bytes:
        assert self.conn.reader is not None
        line = await asyncio.wait_for(self.conn.reader.readline(), self.timeout)
        if not line:
            raise ConnectionError("connection closed by the server")
        if len(line) > MAX_LINE:
            raise ValueError("POP3 line too long")
        return line.rstrip(b"\r\n")

    async def response(self) -> bytes:
        line = await self._line()
        self.transcript.append("S: " + line.decode("utf-8", "replace"))
        return line

    async def command(self, text: str, *, shown: str | None = None) -> bytes:
        assert self.conn.writer is not None
        self.transcript.append("C: " + (shown if shown is not None else text))
        self.conn.writer.write(text.encode() + b"\r\n")
        await asyncio.wait_for(self.conn.writer.drain(), self.timeout)
        return await self.response()

    async def multiline(self) -> list[bytes]:
        """The body of a multi-line response, up to the lone '.'."""
        lines: list[bytes] = []
        size = 0
        while True:
            line = await self._line()
            if line == b".":
                return unstuff(lines)
            size += len(line) + 2
            if size > MAX_MULTILINE:
                raise ValueError("POP3 multi-line response too large")
            lines.append(line)

    async def capabilities(self) -> set[str]:
        if not status(await self.command("CAPA")):
            return set()
        lines = await self.multiline()
        self.transcript += ["S: " + b.decode("utf-8", "replace") for b in lines[:20]]
        return capa(lines)

    async def login(self, account: Account) -> bool:
        if not status(await self.command(f"USER {account.address}")):
            return False
        return status(await self.command(f"PASS {account.password}",
                                         shown="PASS ********"))


async def probe_pop3(target: Target, fqdn: str, address: str, standard: int,
                     implicit: bool, timeout: float) -> PortResult:
    async def converse(client: Pop3Client, subject: str,
                       found: list[Finding]) -> tuple[bytes, ...]:
        return await _session(target, client, fqdn, subject, implicit, found)

    return await mailbox_session(target, fqdn, address, standard, timeout,
                                 "pop3", lambda c: Pop3Client(c, timeout),
                                 converse)  # type: ignore[arg-type]


async def _session(target: Target, client: Pop3Client, fqdn: str, subject: str,
                   implicit: bool, found: list[Finding]) -> tuple[bytes, ...]:
    chain: tuple[bytes, ...] = ()
    if implicit:
        secured = await implicit_tls(target, client.conn, fqdn, subject, found)
        if secured is None:
            return chain
        chain = secured

    if not status(await client.response()):
        found.append(Finding("pop3.banner-bad", subject,
                             f"{subject} does not greet with +OK",
                             tuple(client.transcript)))
        return chain
    caps = await client.capabilities()

    if not implicit:
        if "STLS" not in caps:
            found.append(Finding("pop3.stls-missing", subject,
                                 f"{subject} does not offer STLS in CAPA",
                                 tuple(client.transcript)))
            await client.command("QUIT")
            return chain
        if not status(await client.command("STLS")):
            found.append(Finding("tls.handshake-failed", subject,
                                 f"{subject} offers STLS but refuses it",
                                 tuple(client.transcript)))
            return chain
        handshake, problems = await secure(target, client.conn, fqdn, subject,
                                           client.transcript)
        found += problems
        if not handshake.ok:
            return chain
        chain = handshake.chain
        # RFC 2595 section 4: capabilities may change once TLS is on.
        await client.capabilities()

    account = target.test_account
    if account is not None and not await client.login(account):
        found.append(Finding("pop3.login-failed", subject,
                             f"{subject} refuses USER/PASS for {account.address}",
                             tuple(client.transcript)))
    await client.command("QUIT")
    return chain
