"""Cuts the client byte stream into whole IMAP commands (RFC 3501 section 2.2).

A command is one line, unless a line ends in a literal marker "{n}" (or the
non-synchronising "{n+}" of RFC 7888): then n raw bytes follow and the command
continues on the next line. Synchronising literals need a "+" continuation
from the server first (RFC 3501 section 7.5). Every size here is bounded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_LITERAL_AT_END = re.compile(rb"\{([0-9]{1,10})(\+?)\}\r?$")


@dataclass(frozen=True)
class Limits:
    max_line: int = 8 * 1024
    max_literal: int = 4 * 1024  # LOGIN, SEARCH strings, ...
    max_append_literal: int = 1024 * 1024
    max_literals_per_command: int = 16
    max_commands: int = 10_000


@dataclass(frozen=True)
class CommandFrame:
    raw: bytes  # the whole command, literals inline, last CRLF included


@dataclass(frozen=True)
class ContinueFrame:
    """The client waits for '+' before sending a synchronising literal."""


@dataclass(frozen=True)
class ErrorFrame:
    tag: str  # '*' when no usable tag was seen
    text: str
    fatal: bool  # the stream can no longer be trusted: BYE and close


Frame = CommandFrame | ContinueFrame | ErrorFrame


def _tag_and_name(head: bytes) -> tuple[str, str]:
    words = head.split(b" ", 2)
    tag = words[0].decode("ascii", "replace") if words and words[0] else "*"
    name = words[1].decode("ascii", "replace").upper() if len(words) > 1 else ""
    if not tag.isprintable() or len(tag) > 64:
        tag = "*"
    return tag, name


class Framer:
    """Buffers bytes and hands out frames; pull() until it returns None."""

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self._buffer = bytearray()
        self._parts = bytearray()
        self._literal_left = 0
        self._literals = 0
        self.commands = 0

    def feed(self, data: bytes) -> None:
        self._buffer += data

    def discard(self) -> None:
        """Forget everything buffered (bytes sent before a TLS upgrade)."""
        self._buffer.clear()
        self._reset()

    def _reset(self) -> None:
        self._parts.clear()
        self._literal_left = 0
        self._literals = 0

    def pull_line(self) -> bytes | None | ErrorFrame:
        """One bare line (a SASL response, RFC 3501 section 6.2.2)."""
        idx = self._buffer.find(b"\n")
        if idx < 0:
            if len(self._buffer) > self.limits.max_line:
                return ErrorFrame("*", "Line too long", fatal=True)
            return None

        line = bytes(self._buffer[:idx]).rstrip(b"\r")
        del self._buffer[: idx + 1]
        if len(line) > self.limits.max_line:
            return ErrorFrame("*", "Line too long", fatal=False)
        return line

    def pull(self) -> Frame | None:
        while True:
            if self._literal_left:
                take = min(self._literal_left, len(self._buffer))
                if take == 0:
                    return None
                self._parts += self._buffer[:take]
                del self._buffer[:take]
                self._literal_left -= take
                continue

            idx = self._buffer.find(b"\n")
            if idx < 0:
                if len(self._buffer) > self.limits.max_line:
                    tag, _ = _tag_and_name(bytes(self._parts or self._buffer[:80]))
                    self.discard()
                    return ErrorFrame(tag, "Line too long", fatal=True)
                return None

            line = bytes(self._buffer[:idx])
            del self._buffer[: idx + 1]
            if len(line) > self.limits.max_line:
                tag, _ = _tag_and_name(bytes(self._parts) or line[:80])
                self._reset()
                return ErrorFrame(tag, "Line too long", fatal=False)

            self._parts += line.rstrip(b"\r") + b"\r\n"
            marker = _LITERAL_AT_END.search(line)
            if marker is None:
                raw = bytes(self._parts)
                self._reset()
                self.commands += 1
                return CommandFrame(raw)

            frame = self._start_literal(int(marker.group(1)), bool(marker.group(2)))
            if frame is not None:
                return frame

    def _start_literal(self, size: int, non_sync: bool) -> Frame | None:
        tag, name = _tag_and_name(bytes(self._parts[:200]))
        limit = self.limits.max_literal
        if name == "APPEND":
            limit = self.limits.max_append_literal

        self._literals += 1
        if size > limit or self._literals > self.limits.max_literals_per_command:
            self._reset()
            # A non-synchronising literal is already on its way: the stream is
            # lost, so RFC 7888 section 4 says reject and close.
            return ErrorFrame(tag, "Literal too large", fatal=non_sync)

        self._literal_left = size
        if non_sync:
            return None
        return ContinueFrame()
