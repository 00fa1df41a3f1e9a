"""LDAPS on the Edge server (50636): implicit TLS, then one anonymous bind.

Exchange Edge Synchronization speaks LDAP inside TLS from the first byte;
the TLS findings come from ``starttls.secure``. The anonymous simple bind
(RFC 4511 section 4.2) only shows that LDAP answers inside the tunnel;
``bind_result`` reads its BindResponse without I/O.
"""

from __future__ import annotations

import asyncio
import logging

from ..target import Target
from .starttls import PortResult, reach, secure

log = logging.getLogger(__name__)

#: messageID 1, BindRequest version 3, empty name, empty simple password.
ANONYMOUS_BIND = bytes.fromhex("300c020101600702010304008000")
MAX_PDU = 4096


def _header(data: bytes, at: int) -> tuple[int, int, int]:
    """(tag, content length, content offset) of the BER element at ``at``."""
    tag, first = data[at], data[at + 1]
    if first < 0x80:
        return tag, first, at + 2
    count = first & 0x7F
    if count == 0 or count > 4:
        raise ValueError("unsupported BER length")
    length = int.from_bytes(data[at + 2:at + 2 + count], "big")
    return tag, length, at + 2 + count


def bind_result(data: bytes) -> int | None:
    """The resultCode of a BindResponse PDU, or None if it is not one."""
    try:
        tag, _, at = _header(data, 0)
        if tag != 0x30:
            return None
        tag, length, inner = _header(data, at)  # messageID
        tag, _, at = _header(data, inner + length)
        if tag != 0x61:  # [APPLICATION 1] BindResponse
            return None
        tag, length, at = _header(data, at)
        if tag != 0x0A or length != 1:
            return None
        return data[at]
    except IndexError:
        return None


async def probe_ldaps(target: Target, fqdn: str, address: str, standard: int,
                      timeout: float) -> PortResult:
    subject = f"{fqdn}:{standard}"
    conn, found = await reach(target, fqdn, address, standard, timeout)
    if conn is None:
        return PortResult(found)
    try:
        handshake, problems = await secure(target, conn, fqdn, subject, [])
        found += problems
        if not handshake.ok:
            return PortResult(found)
        assert conn.writer is not None and conn.reader is not None
        conn.writer.write(ANONYMOUS_BIND)
        await asyncio.wait_for(conn.writer.drain(), timeout)
        data = await asyncio.wait_for(conn.reader.read(MAX_PDU), timeout)
        # TODO: an LDAP server that stays silent inside TLS has no code yet.
        log.debug("ldaps %s: anonymous bind -> resultCode %s", subject,
                  bind_result(data))
        return PortResult(found, handshake.chain)
    except (TimeoutError, ConnectionError, ValueError, OSError) as exc:
        log.debug("ldaps %s: %s", subject, exc)
        return PortResult(found)
    finally:
        await conn.close()
