"""Small clients and helpers shared by the robustness tests.

Every read has an explicit, short bound: a server that hangs makes the
test fail at once instead of waiting for the global pytest timeout.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import struct
import uuid
from dataclasses import dataclass

from dnslib import QTYPE, DNSRecord

#: A bound for one network step (a reply, a connect).
STEP = 3.0
ALICE = "alice@contoso.test"
ALICE_PASSWORD = "alice-lab-password"


def endpoint(lab, host: str, standard: int) -> tuple[str, int]:
    """(address, actual port) of ``standard`` on the lab host ``host``."""
    address = lab.plan.host(host).address
    return address, lab.ports[address][standard]


def token() -> str:
    return uuid.uuid4().hex


def message_for(tok: str, *, size: int = 0) -> bytes:
    """A message that carries ``tok`` in its Message-ID and its end marker."""
    filler = b"".join(b"x" * 70 + b"\r\n" for _ in range(size // 72))
    return (
        f"From: load@fabrikam.test\r\nTo: {ALICE}\r\n"
        f"Subject: robustness {tok}\r\nMessage-ID: <{tok}@fabrikam.test>\r\n"
        f"\r\nbody of {tok}\r\n".encode()
        + filler
        + f"END-OF-MESSAGE {tok}\r\n".encode()
    )


# region: SMTP over asyncio streams


class SmtpError(Exception):
    """The server answered something the client did not expect."""


@dataclass
class Reply:
    code: int
    lines: list[bytes]

    @property
    def text(self) -> bytes:
        return b"\n".join(self.lines)


async def read_reply(reader: asyncio.StreamReader, timeout: float = STEP) -> Reply:
    """One SMTP reply, possibly multi-line (RFC 5321 section 4.2.1)."""
    lines: list[bytes] = []
    while True:
        line = await asyncio.wait_for(reader.readline(), timeout)
        if not line:
            raise ConnectionResetError("connection closed mid-reply")
        if len(line) < 4 or not line[:3].isdigit() or line[3:4] not in b" -\r\n":
            raise SmtpError(f"malformed reply line: {line[:80]!r}")
        lines.append(line.rstrip(b"\r\n"))
        if line[3:4] != b"-":
            return Reply(int(line[:3]), lines)


class SmtpClient:
    """A minimal raw SMTP client: enough to drive a server exactly."""

    def __init__(self, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter, banner: Reply) -> None:
        self.reader = reader
        self.writer = writer
        self.banner = banner

    @classmethod
    async def connect(cls, address: tuple[str, int],
                      timeout: float = STEP) -> SmtpClient:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(*address, limit=2**20), timeout)
        try:
            banner = await read_reply(reader, timeout)
        except BaseException:
            writer.close()
            raise
        return cls(reader, writer, banner)

    async def command(self, line: str | bytes, timeout: float = STEP) -> Reply:
        data = line.encode() if isinstance(line, str) else line
        self.writer.write(data + b"\r\n")
        await self.writer.drain()
        return await read_reply(self.reader, timeout)

    async def send(self, mail_from: str, rcpt: str, body: bytes,
                   timeout: float = STEP) -> Reply:
        """MAIL, RCPT, DATA; the reply to the final dot (or the first refusal)."""
        for line in (f"MAIL FROM:<{mail_from}>", f"RCPT TO:<{rcpt}>", "DATA"):
            reply = await self.command(line, timeout)
            if reply.code >= 400:
                return reply
        stuffed = b"\r\n".join(b"." + x if x.startswith(b".") else x
                               for x in body.split(b"\r\n"))
        if not stuffed.endswith(b"\r\n"):
            stuffed += b"\r\n"
        self.writer.write(stuffed + b".\r\n")
        await self.writer.drain()
        return await read_reply(self.reader, timeout)

    async def quit(self) -> None:
        try:
            await self.command("QUIT")
        except (TimeoutError, OSError, SmtpError):
            pass
        finally:
            await self.close()

    async def close(self) -> None:
        self.writer.close()
        try:
            await asyncio.wait_for(self.writer.wait_closed(), STEP)
        except (TimeoutError, OSError):
            pass


async def deliver_one(address: tuple[str, int], tok: str) -> Reply:
    """A whole well-behaved session: banner, EHLO, one message, QUIT."""
    client = await SmtpClient.connect(address)
    try:
        ehlo = await client.command("EHLO client.fabrikam.test")
        if ehlo.code != 250:
            raise SmtpError(f"EHLO refused: {ehlo.text!r}")
        return await client.send("load@fabrikam.test", ALICE, message_for(tok))
    finally:
        await client.quit()


async def read_until_closed(reader: asyncio.StreamReader,
                            timeout: float = STEP, limit: int = 2**20) -> bytes:
    """Everything the server sends until it closes; raises on a hang."""
    out = bytearray()
    while len(out) < limit:
        chunk = await asyncio.wait_for(reader.read(65536), timeout)
        if not chunk:
            break
        out += chunk
    return bytes(out)


# endregion
# region: line protocols (IMAP, POP3) over asyncio streams


async def open_line(address: tuple[str, int], *, tls: ssl.SSLContext | None = None,
                    server_hostname: str | None = None,
                    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.wait_for(
        asyncio.open_connection(*address, ssl=tls, server_hostname=server_hostname
                                if tls else None, limit=2**20), STEP)


async def read_line(reader: asyncio.StreamReader, timeout: float = STEP) -> bytes:
    line = await asyncio.wait_for(reader.readline(), timeout)
    if not line:
        raise ConnectionResetError("connection closed")
    return line


async def read_until_tagged(reader: asyncio.StreamReader, tag: bytes,
                            timeout: float = STEP) -> list[bytes]:
    """IMAP lines up to and including the one tagged ``tag``."""
    lines = []
    while True:
        line = await read_line(reader, timeout)
        lines.append(line)
        if line.startswith(tag + b" "):
            return lines


# endregion
# region: DNS over blocking sockets (for Hypothesis, which runs in a thread)


def dns_query(name: str, qtype: str = "A", qid: int = 0x4242) -> bytes:
    query = DNSRecord.question(name, qtype)
    query.header.id = qid
    return query.pack()


def udp_exchange(sock: socket.socket, address: tuple[str, int], qid: int,
                 timeout: float = STEP) -> tuple[DNSRecord, list[bytes]]:
    """Send a valid A query; its reply, and every other datagram seen first."""
    sock.sendto(dns_query("mx1.contoso.test", qid=qid), address)
    others: list[bytes] = []
    sock.settimeout(timeout)
    while True:
        data, _ = sock.recvfrom(65535)
        if len(data) >= 2 and struct.unpack("!H", data[:2])[0] == qid:
            return DNSRecord.parse(data), others
        others.append(data)


def tcp_frame(payload: bytes) -> bytes:
    return struct.pack("!H", len(payload)) + payload


def tcp_read_frame(sock: socket.socket, timeout: float = STEP) -> bytes:
    sock.settimeout(timeout)
    head = _read_exactly(sock, 2)
    (size,) = struct.unpack("!H", head)
    return _read_exactly(sock, size)


def _read_exactly(sock: socket.socket, size: int) -> bytes:
    out = bytearray()
    while len(out) < size:
        chunk = sock.recv(size - len(out))
        if not chunk:
            raise ConnectionResetError("connection closed")
        out += chunk
    return bytes(out)


def a_records(reply: DNSRecord) -> list[str]:
    return [str(rr.rdata) for rr in reply.rr if rr.rtype == QTYPE.A]


# endregion
