"""Builds FETCH response data items (RFC 3501 sections 6.4.5 and 7.4.2)."""

from __future__ import annotations

import time
from email.utils import getaddresses

from lab.imap.mime import (
    Entity,
    find_part,
    header_value,
    parse_entity,
    select_fields,
    split_entity,
)
from lab.imap.parser import FetchAttr, Section

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun",
           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def imap_string(value: bytes | str | None) -> bytes:
    """NIL, a quoted string, or a literal when quoting can't carry the bytes."""
    if value is None:
        return b"NIL"
    data = value.encode("utf-8") if isinstance(value, str) else value
    if len(data) < 256 and not any(c in b"\r\n\x00" or c > 0x7E for c in data):
        return b'"' + data.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'
    return b"{%d}\r\n" % len(data) + data


def internal_date(timestamp: float) -> bytes:
    """date-time of RFC 3501 section 9, always in UTC so replies are stable."""
    t = time.gmtime(timestamp)
    return (f'"{t.tm_mday:2d}-{_MONTHS[t.tm_mon - 1]}-{t.tm_year:04d} '
            f'{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000"').encode()


def flag_list(flags: frozenset[str] | set[str]) -> bytes:
    return b"(" + " ".join(sorted(flags)).encode("ascii") + b")"


def _addresses(header: bytes, name: str) -> bytes:
    value = header_value(header, name)
    if not value:
        return b"NIL"
    items = []
    for display, address in getaddresses([value]):
        if not address:
            continue
        local, _, domain = address.rpartition("@") if "@" in address else (
            address, "", "")
        items.append(b"(" + b" ".join([
            imap_string(display or None), b"NIL",
            imap_string(local), imap_string(domain or None),
        ]) + b")")
    return b"(" + b"".join(items) + b")" if items else b"NIL"


def envelope(raw: bytes) -> bytes:
    """ENVELOPE (RFC 3501 section 7.4.2); group syntax is flattened."""
    # TODO: RFC 2047 encoded words and address groups are passed through as-is
    header, _ = split_entity(raw)
    from_ = _addresses(header, "from")
    sender = _addresses(header, "sender")
    reply_to = _addresses(header, "reply-to")
    fields = [
        imap_string(header_value(header, "date")),
        imap_string(header_value(header, "subject")),
        from_,
        from_ if sender == b"NIL" else sender,  # defaults per section 7.4.2
        from_ if reply_to == b"NIL" else reply_to,
        _addresses(header, "to"),
        _addresses(header, "cc"),
        _addresses(header, "bcc"),
        imap_string(header_value(header, "in-reply-to")),
        imap_string(header_value(header, "message-id")),
    ]
    return b"(" + b" ".join(fields) + b")"


def _count_lines(data: bytes) -> int:
    return data.count(b"\n") + (0 if not data or data.endswith(b"\n") else 1)


def body_structure(entity: Entity) -> bytes:
    """BODY / BODYSTRUCTURE without extension data (RFC 3501 section 7.4.2)."""
    ctype = entity.ctype
    if entity.children:
        inner = b"".join(body_structure(child) for child in entity.children)
        return b"(" + inner + b" " + imap_string(ctype.subtype.upper()) + b")"

    params = b"NIL"
    if ctype.params:
        params = b"(" + b" ".join(
            imap_string(k.upper()) + b" " + imap_string(v) for k, v in ctype.params
        ) + b")"
    encoding = header_value(entity.header, "content-transfer-encoding") or "7BIT"
    fields = [
        imap_string(ctype.maintype.upper()),
        imap_string(ctype.subtype.upper()),
        params,
        imap_string(header_value(entity.header, "content-id")),
        imap_string(header_value(entity.header, "content-description")),
        imap_string(encoding.upper()),
        str(len(entity.body)).encode(),
    ]
    if ctype.maintype == "text":
        fields.append(str(_count_lines(entity.body)).encode())
    # TODO: message/rfc822 parts are described as opaque bodies, not nested
    return b"(" + b" ".join(fields) + b")"


def section_bytes(raw: bytes, section: Section) -> bytes | None:
    """The octets a BODY[section] names, or None if the part doesn't exist."""
    if not section.part:
        header, body = split_entity(raw)
        target_header, target_body = header, body
    else:
        entity = find_part(parse_entity(raw), section.part)
        if entity is None:
            return None
        if section.text == "MIME" or not section.text:
            if section.text == "MIME":
                return entity.header
            return entity.body
        # HEADER/TEXT of a part are only meaningful for message/rfc822 parts.
        target_header, target_body = split_entity(entity.body)

    if section.text == "":
        return raw
    if section.text == "HEADER":
        return target_header
    if section.text == "TEXT":
        return target_body
    if section.text == "HEADER.FIELDS":
        return select_fields(target_header, section.fields, negate=False)
    if section.text == "HEADER.FIELDS.NOT":
        return select_fields(target_header, section.fields, negate=True)
    return None


def body_item(raw: bytes, attr: FetchAttr) -> bytes:
    """BODY[section]<origin> followed by its (possibly partial) contents."""
    assert attr.section is not None
    data = section_bytes(raw, attr.section)
    name = b"BODY[" + attr.section.spec().encode("ascii") + b"]"
    if data is None:
        return name + b" NIL"

    if attr.partial is not None:
        start, count = attr.partial
        data = data[start:start + count]
        name += b"<%d>" % start
    return name + b" " + b"{%d}\r\n" % len(data) + data


def simple_item(raw: bytes, name: str) -> bytes:
    """RFC822, RFC822.HEADER, RFC822.TEXT, ENVELOPE, BODY, BODYSTRUCTURE."""
    if name == "ENVELOPE":
        return b"ENVELOPE " + envelope(raw)
    if name in ("BODY", "BODYSTRUCTURE"):
        return name.encode() + b" " + body_structure(parse_entity(raw))

    header, body = split_entity(raw)
    data = {"RFC822": raw, "RFC822.HEADER": header, "RFC822.TEXT": body}[name]
    return name.encode() + b" {%d}\r\n" % len(data) + data
