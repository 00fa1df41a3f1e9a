"""The checker's SMTP client side: reply parsing without I/O, and a session.

``parse_reply`` reads one RFC 5321 section 4.2 reply (possibly multi-line)
from the lines received so far; ``ehlo_keywords`` and ``masked_lines`` read
an EHLO reply; the session only moves bytes.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field

from .tcp import Connection

MAX_LINE = 2048
#: Lines of one reply; EHLO answers carry a dozen at most.
MAX_REPLY_LINES = 100
_REPLY = re.compile(rb"^(\d{3})([ -])(.*)$")
#: What ESMTP-inspecting firewalls leave where a keyword was: 'XXXXXXXA'
#: for STARTTLS, a run of asterisks for the host name in the greeting.
_MASKED_KEYWORD = re.compile(r"^X{3,}A?$")
_ASTERISKS = re.compile(r"\*{4,}")


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


def ehlo_keywords(reply: Reply) -> dict[str, str]:
    """EHLO keyword -> parameters; the first line is the greeting (4.1.1.1)."""
    keywords: dict[str, str] = {}
    for line in reply.lines[1:]:
        keyword, _, params = line.strip().partition(" ")
        if keyword:
            keywords[keyword.upper()] = params.strip()
    return keywords


def masked_lines(banner: Reply, ehlo: Reply) -> list[str]:
    """The greeting or EHLO lines a middlebox has blanked out, if any."""
    found = [f"greeting: {line}" for line in banner.lines
             if _ASTERISKS.search(line)]
    if ehlo.lines and _ASTERISKS.search(ehlo.lines[0]):
        found.append(f"EHLO greeting: {ehlo.lines[0]}")
    found += [f"EHLO keyword: {line}" for line in ehlo.lines[1:]
              if _MASKED_KEYWORD.match(line.strip().upper())]
    return found


@dataclass
class SmtpSession:
    conn: Connection
    timeout: float
    transcript: list[str] = field(default_factory=list)

    async def read_reply(self, timeout: float | None = None) -> Reply:
        assert self.conn.reader is not None
        lines: list[bytes] = []
        while len(lines) < MAX_REPLY_LINES:
            line = await asyncio.wait_for(self.conn.reader.readline(),
                                          timeout or self.timeout)
            if not line:
                raise ConnectionError("connection closed by the server")
            if len(line) > MAX_LINE:
                raise ValueError("reply line too long")
            self.transcript.append("S: " + line.decode("utf-8", "replace").rstrip())
            lines.append(line)
            reply = parse_reply(lines)
            if reply is not None:
                return reply
        raise ValueError(f"reply longer than {MAX_REPLY_LINES} lines")

    async def command(self, text: str, *, shown: str | None = None) -> Reply:
        """Send one command; ``shown`` replaces it in the transcript (secrets)."""
        assert self.conn.writer is not None
        self.transcript.append("C: " + (shown if shown is not None else text))
        self.conn.writer.write(text.encode("utf-8") + b"\r\n")
        await asyncio.wait_for(self.conn.writer.drain(), self.timeout)
        return await self.read_reply()

    async def send(self, data: bytes, shown: str) -> Reply:
        """Send raw bytes (a message body) and read the reply to them."""
        assert self.conn.writer is not None
        self.transcript.append("C: " + shown)
        self.conn.writer.write(data)
        await asyncio.wait_for(self.conn.writer.drain(), self.timeout)
        return await self.read_reply()
