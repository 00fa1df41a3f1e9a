"""Just enough RFC 5322 / MIME (RFC 2045, 2046) on raw bytes for IMAP FETCH.

FETCH sections must return the exact stored octets (RFC 3501 section 6.4.5),
so this works on byte offsets instead of re-serialising a parsed message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_PARTS = 200
MAX_NESTING = 8


def split_entity(raw: bytes) -> tuple[bytes, bytes]:
    """Header (with its terminating blank line) and body of one entity."""
    for sep in (b"\r\n\r\n", b"\n\n"):
        idx = raw.find(sep)
        if idx >= 0:
            if raw.startswith(sep[: len(sep) // 2]):
                return raw[: len(sep) // 2], raw[len(sep) // 2:]
            return raw[: idx + len(sep)], raw[idx + len(sep):]
    if raw.startswith((b"\r\n", b"\n")):
        cut = 2 if raw.startswith(b"\r\n") else 1
        return raw[:cut], raw[cut:]
    return raw, b""


def header_lines(header: bytes) -> list[tuple[str, bytes]]:
    """(lower-case field name, raw field bytes incl. folded lines and CRLF)."""
    fields: list[tuple[str, bytes]] = []
    for line in header.splitlines(keepends=True):
        if line in (b"\r\n", b"\n"):
            break
        if line[:1] in (b" ", b"\t") and fields:
            name, value = fields[-1]
            fields[-1] = (name, value + line)
            continue
        name, colon, _ = line.partition(b":")
        if not colon:
            continue
        fields.append((name.strip().decode("ascii", "replace").lower(), line))
    return fields


def header_value(header: bytes, name: str) -> str | None:
    """The first field called `name`, unfolded, as text (RFC 5322 2.2.3)."""
    for field, raw in header_lines(header):
        if field == name:
            value = raw.split(b":", 1)[1]
            text = value.decode("utf-8", "replace")
            return re.sub(r"\r?\n[ \t]", " ", text).strip()
    return None


def select_fields(header: bytes, names: tuple[str, ...], negate: bool) -> bytes:
    """HEADER.FIELDS / HEADER.FIELDS.NOT: the chosen lines plus a blank line."""
    wanted = {n.lower() for n in names}
    chosen = [raw for field, raw in header_lines(header)
              if (field in wanted) != negate]
    return b"".join(chosen) + b"\r\n"


@dataclass(frozen=True)
class ContentType:
    maintype: str
    subtype: str
    params: tuple[tuple[str, str], ...]

    def param(self, name: str) -> str | None:
        for key, value in self.params:
            if key == name:
                return value
        return None


_PARAM_RE = re.compile(r';\s*([^\s=;]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s;]*)')


def content_type(header: bytes, default: str = "text/plain") -> ContentType:
    value = header_value(header, "content-type") or default
    kind = value.split(";", 1)[0].strip().lower()
    maintype, slash, subtype = kind.partition("/")
    if not slash or not maintype or not subtype:
        maintype, _, subtype = default.partition("/")
    params = []
    for m in _PARAM_RE.finditer(value):
        raw = m.group(2)
        if raw.startswith('"'):
            raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
        params.append((m.group(1).lower(), raw))
    if maintype == "text" and not any(k == "charset" for k, _ in params):
        params.append(("charset", "us-ascii"))
    return ContentType(maintype, subtype, tuple(params))


def subparts(body: bytes, boundary: str) -> list[bytes]:
    """The body parts of a multipart body (RFC 2046 section 5.1.1)."""
    delim = b"--" + boundary.encode("ascii", "replace")
    parts: list[bytes] = []
    pos = 0
    start: int | None = None
    while len(parts) < MAX_PARTS:
        idx = body.find(delim, pos)
        if idx < 0:
            break
        at_line_start = idx == 0 or body[idx - 1:idx] == b"\n"
        if not at_line_start:
            pos = idx + len(delim)
            continue
        if start is not None:
            # The CRLF before a delimiter belongs to the delimiter.
            end = idx - 2 if body[idx - 2:idx] == b"\r\n" else idx - 1
            parts.append(body[start:max(start, end)])
        closing = body[idx + len(delim): idx + len(delim) + 2] == b"--"
        eol = body.find(b"\n", idx)
        if closing or eol < 0:
            break
        start = eol + 1
        pos = start
    return parts


@dataclass(frozen=True)
class Entity:
    header: bytes
    body: bytes
    ctype: ContentType
    children: tuple[Entity, ...] = ()


def parse_entity(raw: bytes, depth: int = 0,
                 default: str = "text/plain") -> Entity:
    header, body = split_entity(raw)
    ctype = content_type(header, default)
    children: tuple[Entity, ...] = ()
    boundary = ctype.param("boundary")
    if ctype.maintype == "multipart" and boundary and depth < MAX_NESTING:
        # RFC 2046 section 5.1.5: parts of multipart/digest default to
        # message/rfc822.
        child_default = ("message/rfc822" if ctype.subtype == "digest"
                         else "text/plain")
        children = tuple(parse_entity(p, depth + 1, child_default)
                         for p in subparts(body, boundary))
    return Entity(header, body, ctype, children)


def find_part(entity: Entity, part: tuple[int, ...]) -> Entity | None:
    """Walk a part number like 1.2 (RFC 3501 section 6.4.5)."""
    current = entity
    for number in part:
        if current.children:
            if number > len(current.children):
                return None
            current = current.children[number - 1]
        elif number == 1:
            # A non-multipart entity has exactly one part: itself.
            continue
        else:
            return None
    return current
