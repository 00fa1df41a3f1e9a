"""The checker's SMTP client side: reply parsing without I/O, and a session.

``parse_reply`` reads one RFC 5321 section 4.2 reply (possibly multi-line)
from the lines received so far; the session only moves bytes.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field

from .tcp import Connection

MAX_LINE = 2048
_REPLY = re.compile(rb"^(\d{3})([ -])(.*)$")


@dataclass(frozen=True)
class Reply:
    code: int
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def parse_reply(lines: list[bytes]) -> Reply | None:
    """The reply once its last line ('NNN text') has arrived, else None."""
    texts = []
    for raw in lines:
        m = _REPLY.match(raw.rstrip(b"\r\n"))
        if m is None:
            raise ValueError(f"not an SMTP reply line: {raw[:80]!r}")
        texts.append(m.group(3).decode("utf-8", "replace"))
        if m.group(2) == b" ":
            return Reply(int(m.group(1)), tuple(texts))
    return None


@dataclass
class SmtpSession:
    conn: Connection
    timeout: float
    transcript: list[str] = field(default_factory=list)

    async def read_reply(self) -> Reply:
        assert self.conn.reader is not None
        lines: list[bytes] = []
        while True:
            line = await asyncio.wait_for(self.conn.reader.readline(), self.timeout)
            if not line:
                raise ConnectionError("connection closed by the server")
            if len(line) > MAX_LINE:
                raise ValueError("reply line too long")
            self.transcript.append("S: " + line.decode("utf-8", "replace").rstrip())
            lines.append(line)
            reply = parse_reply(lines)
            if reply is not None:
                return reply

    async def command(self, text: str) -> Reply:
        assert self.conn.writer is not None
        self.transcript.append("C: " + text)
        self.conn.writer.write(text.encode("ascii") + b"\r\n")
        await asyncio.wait_for(self.conn.writer.drain(), self.timeout)
        return await self.read_reply()
