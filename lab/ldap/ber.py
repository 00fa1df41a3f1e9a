"""The subset of BER that LDAPv3 uses (RFC 4511 5.1), both ways.

RFC 4511 5.1 restricts LDAP to definite lengths and to the low tag numbers
its ASN.1 module needs, so this codec refuses the rest outright: an
indefinite length, a high tag number, a length over :data:`MAX_PDU`, or
nesting deeper than :data:`MAX_DEPTH`. Every refusal is a :class:`BerError`,
which the session turns into a Notice of Disconnection.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

MAX_PDU: Final = 64 * 1024
MAX_DEPTH: Final = 32
MAX_INTEGER_OCTETS: Final = 4  # LDAP integers are 0..maxInt (2**31 - 1)

# Universal tags (X.690 8.x), as identifier octets.
BOOLEAN: Final = 0x01
INTEGER: Final = 0x02
OCTET_STRING: Final = 0x04
NULL: Final = 0x05
ENUMERATED: Final = 0x0A
SEQUENCE: Final = 0x30
SET: Final = 0x31

CONSTRUCTED: Final = 0x20
CLASS_MASK: Final = 0xC0
APPLICATION: Final = 0x40
CONTEXT: Final = 0x80


class BerError(ValueError):
    """Bytes that are not acceptable BER for LDAP."""


@dataclass(frozen=True)
class Tlv:
    """One decoded element: identifier octet and content octets."""

    tag: int
    content: bytes

    @property
    def constructed(self) -> bool:
        return bool(self.tag & CONSTRUCTED)

    def children(self) -> list[Tlv]:
        """The elements inside a constructed element."""
        if not self.constructed:
            raise BerError(f"tag {self.tag:#04x} is primitive, not constructed")
        return decode_all(self.content)

    def as_int(self) -> int:
        return decode_integer(self.content)

    def as_bool(self) -> bool:
        if len(self.content) != 1:
            raise BerError("BOOLEAN must be one octet")
        return self.content != b"\x00"

    def as_text(self) -> str:
        """An LDAPString or LDAPDN: UTF-8 (RFC 4511 4.1.2)."""
        try:
            return self.content.decode("utf-8")
        except UnicodeDecodeError:
            raise BerError("string is not UTF-8") from None


def header_length(data: bytes | bytearray, offset: int = 0) -> tuple[int, int] | None:
    """``(header size, content length)`` of the element at ``offset``.

    ``None`` when the header is not complete yet; a :class:`BerError` when it
    can never be acceptable. Framing uses this to know how much to wait for.
    """
    if len(data) - offset < 2:
        return None
    tag = data[offset]
    if tag & 0x1F == 0x1F:
        raise BerError("high tag numbers are not used by LDAP")

    first = data[offset + 1]
    if first < 0x80:
        return 2, first
    if first == 0x80:
        # X.690 8.1.3.6; RFC 4511 5.1 allows only the definite form.
        raise BerError("indefinite length is not allowed")
    count = first & 0x7F
    if count > 4:
        raise BerError("length of length too large")
    if len(data) - offset < 2 + count:
        return None

    length = int.from_bytes(data[offset + 2:offset + 2 + count], "big")
    if length > MAX_PDU:
        raise BerError(f"element of {length} octets exceeds {MAX_PDU}")
    return 2 + count, length


def decode_one(data: bytes, offset: int = 0) -> tuple[Tlv, int]:
    """The element at ``offset`` and the offset after it."""
    header = header_length(data, offset)
    if header is None:
        raise BerError("truncated element header")
    size, length = header
    end = offset + size + length
    if end > len(data):
        raise BerError("element runs past its container")
    return Tlv(data[offset], bytes(data[offset + size:end])), end


def decode_all(data: bytes) -> list[Tlv]:
    """Every element of a content octet string, in order."""
    elements: list[Tlv] = []
    offset = 0
    while offset < len(data):
        element, offset = decode_one(data, offset)
        elements.append(element)
    return elements


def check_depth(element: Tlv, limit: int = MAX_DEPTH) -> None:
    """Walk a constructed element fully; refuse nesting beyond ``limit``.

    Used for parts the server skips (a search filter): they must still be
    well-formed BER, and walking them must not recurse without bound.
    """
    stack: list[tuple[Tlv, int]] = [(element, 1)]
    while stack:
        current, depth = stack.pop()
        if depth > limit:
            raise BerError(f"nesting deeper than {limit}")
        if current.constructed:
            stack.extend((child, depth + 1) for child in current.children())


def decode_integer(content: bytes) -> int:
    if not content:
        raise BerError("INTEGER with no content")
    if len(content) > MAX_INTEGER_OCTETS + 1:
        raise BerError("INTEGER too large")
    return int.from_bytes(content, "big", signed=True)


# -- encoding -----------------------------------------------------------


def encode_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    octets = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(octets)]) + octets


def tlv(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + encode_length(len(content)) + content


def integer(value: int, tag: int = INTEGER) -> bytes:
    size = max(1, (value.bit_length() + 8) // 8)  # room for the sign bit
    return tlv(tag, value.to_bytes(size, "big", signed=True))


def enumerated(value: int) -> bytes:
    return integer(value, ENUMERATED)


def boolean(value: bool) -> bytes:
    # X.690 11.1 (DER, which RFC 4511 5.1 recommends): TRUE is 0xFF.
    return tlv(BOOLEAN, b"\xff" if value else b"\x00")


def octet_string(value: bytes | str, tag: int = OCTET_STRING) -> bytes:
    data = value.encode("utf-8") if isinstance(value, str) else value
    return tlv(tag, data)


def sequence(*parts: bytes, tag: int = SEQUENCE) -> bytes:
    return tlv(tag, b"".join(parts))


def set_of(*parts: bytes) -> bytes:
    return tlv(SET, b"".join(parts))


def application(number: int, *, constructed: bool = True) -> int:
    return APPLICATION | (CONSTRUCTED if constructed else 0) | number


def context(number: int, *, constructed: bool = False) -> int:
    return CONTEXT | (CONSTRUCTED if constructed else 0) | number
