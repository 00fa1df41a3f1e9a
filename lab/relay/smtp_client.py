"""A small SMTP client for the relay: one session, every step under a timeout.

It speaks just what delivery needs (RFC 5321 section 3.3 and 4.1): greeting,
EHLO (HELO when EHLO is not understood), MAIL, one RCPT per recipient, DATA
with dot-stuffing (section 4.5.2), QUIT. The socket is bound to the relay's
own address, so receivers see the address whose PTR and SPF the scenario
set up. Both sides of the conversation go into a ``Transcript``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from dataclasses import dataclass, field
from typing import Literal

from .attempt import Reply
from .transcript import Transcript

log = logging.getLogger(__name__)

Stage = Literal["connect", "greeting", "ehlo", "mail", "rcpt", "data", "done"]

MAX_REPLY_LINES = 100
MAX_LINE = 4096


@dataclass(frozen=True)
class ClientConfig:
    ehlo_name: str
    source_address: str
    connect_timeout: float = 10.0
    command_timeout: float = 30.0
    data_timeout: float = 60.0


@dataclass
class SessionResult:
    """What one session achieved; ``stage`` is where it stopped."""

    stage: Stage
    #: The reply that ended the session early (greeting, EHLO, MAIL, DATA).
    reply: Reply | None = None
    #: Why there was no reply at all (connection refused, timeout...).
    error: str = ""
    rcpt: dict[str, Reply] = field(default_factory=dict)
    #: The reply to the end of data, for the recipients RCPT accepted.
    data: Reply | None = None


class _ProtocolError(Exception):
    """The server's bytes are not an SMTP reply."""


def stuff(content: bytes) -> bytes:
    """``content`` with CRLF line ends, dot-stuffed and ready for DATA."""
    lines = content.replace(b"\r\n", b"\n").split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    out = [b"." + line if line.startswith(b".") else line for line in lines]
    return b"\r\n".join(out) + b"\r\n.\r\n"


class _Conversation:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 config: ClientConfig, transcript: Transcript) -> None:
        self.reader = reader
        self.writer = writer
        self.config = config
        self.transcript = transcript

    async def reply(self, timeout: float | None = None) -> Reply:
        wait = timeout or self.config.command_timeout
        code, lines = 0, []
        for _ in range(MAX_REPLY_LINES):
            raw = await asyncio.wait_for(self.reader.readline(), wait)
            if not raw:
                raise ConnectionError("connection closed by the server")
            text = raw[:MAX_LINE].decode("utf-8", "replace").rstrip("\r\n")
            self.transcript.add("S", text)
            if len(text) < 3 or not text[:3].isdigit():
                raise _ProtocolError(f"not an SMTP reply: {text[:60]!r}")
            code = int(text[:3])
            lines.append(text[4:])
            if text[3:4] != "-":
                return Reply(code, tuple(lines))
        raise _ProtocolError("reply with too many lines")

    async def command(self, line: str) -> Reply:
        self.transcript.add("C", line)
        self.writer.write(line.encode("utf-8") + b"\r\n")
        await asyncio.wait_for(self.writer.drain(), self.config.command_timeout)
        return await self.reply()

    async def data(self, content: bytes) -> Reply:
        payload = stuff(content)
        self.transcript.add("C", f"<message, {len(payload)} octets>")
        self.writer.write(payload)
        await asyncio.wait_for(self.writer.drain(), self.config.data_timeout)
        return await self.reply(self.config.data_timeout)


async def _connect(address: str, port: int, config: ClientConfig
                   ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    source = ipaddress.ip_address(config.source_address)
    if source.version != ipaddress.ip_address(address).version:
        raise OSError(f"no source address of IPv{source.version} for {address}")
    return await asyncio.wait_for(
        asyncio.open_connection(address, port,
                                local_addr=(config.source_address, 0)),
        config.connect_timeout)


async def send(host: str, address: str, port: int, mail_from: str,
               rcpt_to: list[str], content: bytes, config: ClientConfig,
               transcript: Transcript) -> SessionResult:
    """Offer one message to ``host`` at ``address:port``; never raises for
    network trouble: the result says what happened."""
    try:
        reader, writer = await _connect(address, port, config)
    except (TimeoutError, OSError) as exc:
        reason = str(exc) or "timed out"
        transcript.add("S", f"(no connection: {reason})")
        return SessionResult("connect", error=f"connect to {host}[{address}]:"
                                              f"{port}: {reason}")
    talk = _Conversation(reader, writer, config, transcript)
    try:
        return await _session(talk, mail_from, rcpt_to, content)
    except (TimeoutError, OSError, EOFError, _ProtocolError) as exc:
        reason = str(exc) or type(exc).__name__
        transcript.add("S", f"(session lost: {reason})")
        return SessionResult("connect", error=f"lost connection with "
                                              f"{host}[{address}]: {reason}")
    finally:
        writer.close()
        try:
            await asyncio.wait_for(writer.wait_closed(), 2.0)
        except (TimeoutError, OSError):
            pass


async def _session(talk: _Conversation, mail_from: str, rcpt_to: list[str],
                   content: bytes) -> SessionResult:
    greeting = await talk.reply()
    if greeting.code != 220:
        await _quit(talk)
        return SessionResult("greeting", greeting)

    hello = await talk.command(f"EHLO {talk.config.ehlo_name}")
    if hello.code in (500, 502):
        # An old server that knows only HELO (RFC 5321 section 3.2).
        hello = await talk.command(f"HELO {talk.config.ehlo_name}")
    if hello.code != 250:
        await _quit(talk)
        return SessionResult("ehlo", hello)

    mail = await talk.command(f"MAIL FROM:<{mail_from}>")
    if mail.code != 250:
        await _quit(talk)
        return SessionResult("mail", mail)

    result = SessionResult("rcpt")
    for rcpt in rcpt_to:
        result.rcpt[rcpt] = await talk.command(f"RCPT TO:<{rcpt}>")
        if result.rcpt[rcpt].code == 421:
            return result  # the server is closing (RFC 5321 section 3.8)
    if not any(r.code in (250, 251) for r in result.rcpt.values()):
        await _quit(talk)
        return result

    start = await talk.command("DATA")
    if start.code != 354:
        await _quit(talk)
        result.stage, result.data = "data", start
        return result
    result.data = await talk.data(content)
    result.stage = "done"
    await _quit(talk)
    return result


async def _quit(talk: _Conversation) -> None:
    try:
        await talk.command("QUIT")
    except (TimeoutError, OSError, EOFError, _ProtocolError):
        pass  # the server may hang up first; the outcome is already known
