"""Message bytes as POP3 sends them: CRLF lines, dot-stuffed, cut for TOP.

RFC 1939 section 3: a multi-line response is CRLF-terminated lines, any line
starting with "." gets one more ".", and a lone "." ends it. Messages in the
store may use bare LF, so they are normalised first; sizes are counted on the
normalised form, which is what the client receives after unstuffing.
"""

from __future__ import annotations

from collections.abc import Iterable

CRLF = b"\r\n"
TERMINATOR = b".\r\n"


def normalise_crlf(message: bytes) -> bytes:
    """Every line ending becomes CRLF; a last unterminated line gets one."""
    if not message:
        return b""

    lines = message.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    return b"".join(line.removesuffix(b"\r") + CRLF for line in lines)


def split_lines(message: bytes) -> list[bytes]:
    """The CRLF-normalised lines of ``message``, without their CRLF."""
    normal = normalise_crlf(message)
    if not normal:
        return []
    return normal[:-2].split(CRLF)


def stuff(lines: Iterable[bytes]) -> bytes:
    """Dot-stuff ``lines`` and add the terminator (RFC 1939 section 3)."""
    out = bytearray()
    for line in lines:
        if line.startswith(b"."):
            out += b"."
        out += line + CRLF
    out += TERMINATOR
    return bytes(out)


def top_lines(message: bytes, body_lines: int) -> list[bytes]:
    """The header, the blank line, and the first ``body_lines`` of the body.

    RFC 1939 section 7 (TOP): a message without a blank line is all header.
    """
    lines = split_lines(message)
    try:
        blank = lines.index(b"")
    except ValueError:
        return lines
    return lines[: blank + 1 + body_lines]


def unstuff(response: bytes) -> bytes:
    """Undo :func:`stuff` on the body of a multi-line response (for tests).

    ``response`` is everything after the status line, terminator included.
    """
    if not response.endswith(TERMINATOR):
        raise ValueError("multi-line response without terminator")

    body = response[: -len(TERMINATOR)]
    lines = body.split(CRLF)[:-1] if body else []
    return b"".join(line[1:] + CRLF if line.startswith(b".") else line + CRLF
                    for line in lines)
