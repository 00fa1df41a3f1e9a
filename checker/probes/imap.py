"""IMAP (143 with STARTTLS, 993 with implicit TLS): greeting, capabilities,
LOGINDISABLED, and a login with the test account.

``capabilities``, ``tagged`` and ``quote`` are pure (RFC 3501 sections 7.2.1,
7.1 and 4.3); ``ImapClient`` moves bytes, with every read bounded in length
and time. The end-to-end flow reuses the client to find and delete its
message.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass, field

from ..findings import Finding
from ..target import Account, Target
from .starttls import PortResult, implicit_tls, mailbox_session, secure
from .tcp import Connection

log = logging.getLogger(__name__)

MAX_LINE = 8192
MAX_LITERAL = 1024 * 1024
MAX_RESPONSES = 1000
_LITERAL = re.compile(rb"\{(\d+)\+?\}\r?\n$")
_CAPS = re.compile(r"(?:^\* CAPABILITY|\[CAPABILITY) ([^\]]*)", re.IGNORECASE)


def capabilities(lines: list[str]) -> set[str]:
    """Every capability named in untagged CAPABILITY data or response codes."""
    found: set[str] = set()
    for line in lines:
        m = _CAPS.search(line)
        if m:
            found.update(word.upper() for word in m.group(1).split())
    return found


def tagged(line: str, tag: str) -> str | None:
    """'OK', 'NO' or 'BAD' when ``line`` completes command ``tag``."""
    word, _, rest = line.partition(" ")
    if word != tag:
        return None
    status = rest.split(" ", 1)[0].upper()
    return status if status in ("OK", "NO", "BAD") else None


def quote(text: str) -> str:
    """An RFC 3501 quoted string (section 4.3): backslash and quote escaped."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def search_numbers(lines: list[str]) -> list[int]:
    numbers: list[int] = []
    for line in lines:
        if line.upper().startswith("* SEARCH"):
            numbers += [int(w) for w in line.split()[2:] if w.isdigit()]
    return numbers


@dataclass
class ImapClient:
    conn: Connection
    timeout: float
    transcript: list[str] = field(default_factory=list)
    _next: int = 0

    async def line(self) -> bytes:
        """One response line with any literals it announces (bounded)."""
        assert self.conn.reader is not None
        data = b""
        while True:
            chunk = await asyncio.wait_for(self.conn.reader.readline(), self.timeout)
            if not chunk:
                raise ConnectionError("connection closed by the server")
            if len(chunk) > MAX_LINE:
                raise ValueError("IMAP line too long")
            data += chunk
            m = _LITERAL.search(chunk)
            if m is None:
                break
            size = int(m.group(1))
            if size > MAX_LITERAL:
                raise ValueError(f"IMAP literal of {size} octets is too large")
            data += await asyncio.wait_for(
                self.conn.reader.readexactly(size), self.timeout)
        self.transcript.append(
            "S: " + data[:200].decode("utf-8", "replace").rstrip())
        return data

    async def greeting(self) -> str:
        return (await self.line()).decode("utf-8", "replace").rstrip()

    async def command(self, text: str, *, shown: str | None = None,
                      ) -> tuple[str, list[str]]:
        """The tagged status and every response line (literals included)."""
        assert self.conn.writer is not None
        self._next += 1
        tag = f"c{self._next}"
        self.transcript.append(f"C: {tag} {shown if shown is not None else text}")
        self.conn.writer.write(f"{tag} {text}\r\n".encode())
        await asyncio.wait_for(self.conn.writer.drain(), self.timeout)
        lines: list[str] = []
        for _ in range(MAX_RESPONSES):
            line = (await self.line()).decode("utf-8", "replace")
            lines.append(line)
            status = tagged(line.split("\r\n", 1)[0], tag)
            if status is not None:
                return status, lines
        raise ValueError(f"more than {MAX_RESPONSES} responses to {tag}")

    async def login(self, account: Account) -> tuple[str, list[str]]:
        return await self.command(
            f"LOGIN {quote(account.address)} {quote(account.password)}",
            shown=f"LOGIN {quote(account.address)} ********")


async def probe_imap(target: Target, fqdn: str, address: str, standard: int,
                     implicit: bool, timeout: float) -> PortResult:
    async def converse(client: ImapClient, subject: str,
                       found: list[Finding]) -> tuple[bytes, ...]:
        return await _session(target, client, fqdn, subject, implicit, found)

    return await mailbox_session(target, fqdn, address, standard, timeout,
                                 "imap", lambda c: ImapClient(c, timeout),
                                 converse)  # type: ignore[arg-type]


async def _session(target: Target, client: ImapClient, fqdn: str, subject: str,
                   implicit: bool, found: list[Finding]) -> tuple[bytes, ...]:
    chain: tuple[bytes, ...] = ()
    if implicit:
        secured = await implicit_tls(target, client.conn, fqdn, subject, found)
        if secured is None:
            return chain
        chain = secured

    greeting = await client.greeting()
    if not greeting.upper().startswith("* OK"):
        found.append(Finding("imap.banner-bad", subject,
                             f"{subject} does not greet with * OK",
                             tuple(client.transcript)))
        return chain
    status, lines = await client.command("CAPABILITY")
    caps = capabilities(lines)

    if not implicit:
        if "STARTTLS" not in caps:
            found.append(Finding("imap.starttls-missing", subject,
                                 f"{subject} does not offer STARTTLS",
                                 tuple(client.transcript)))
            await client.command("LOGOUT")
            return chain
        status, _ = await client.command("STARTTLS")
        if status != "OK":
            found.append(Finding("tls.handshake-failed", subject,
                                 f"{subject} offers STARTTLS but refuses it",
                                 tuple(client.transcript)))
            return chain
        handshake, problems = await secure(target, client.conn, fqdn, subject,
                                           client.transcript)
        found += problems
        if not handshake.ok:
            return chain
        chain = handshake.chain
        # RFC 3501 section 6.2.1: capabilities must be asked for again.
        status, lines = await client.command("CAPABILITY")
        caps = capabilities(lines)

    if "LOGINDISABLED" in caps:
        found.append(Finding("imap.login-disabled", subject,
                             f"{subject} advertises LOGINDISABLED under TLS",
                             tuple(client.transcript)))
    elif target.test_account is not None:
        status, _ = await client.login(target.test_account)
        if status != "OK":
            found.append(Finding(
                "imap.login-failed", subject,
                f"{subject} refuses LOGIN for {target.test_account.address}",
                tuple(client.transcript)))
    await client.command("LOGOUT")
    return chain
