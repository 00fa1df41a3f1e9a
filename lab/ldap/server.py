"""LDAPS on the Edge host: the asyncio shell around :class:`LdapSession`.

Port 50636 of Exchange Edge Synchronization speaks LDAP inside TLS from the
first byte (implicit TLS, RFC 4513 3.1.3 calls the alternative StartTLS), so
the listener wraps every connection before any LDAP is read. This module
owns sockets and clocks: handshake and idle timeouts, the connection cap.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Mapping
from dataclasses import dataclass

from lab.ldap.ber import MAX_PDU
from lab.ldap.protocol import (
    UNAVAILABLE,
    LabDirectory,
    LdapSession,
    notice_of_disconnection,
)

log = logging.getLogger(__name__)

HANDSHAKE_TIMEOUT = 10.0
WRITE_TIMEOUT = 10.0
READ_SIZE = 16 * 1024


@dataclass
class _Counter:
    active: int = 0


async def _drain_and_close(writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(Exception):
        await asyncio.wait_for(writer.drain(), WRITE_TIMEOUT)
    writer.close()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(writer.wait_closed(), WRITE_TIMEOUT)


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 session: LdapSession, idle_timeout: float) -> None:
    while True:
        try:
            data = await asyncio.wait_for(reader.read(READ_SIZE), idle_timeout)
        except TimeoutError:
            log.info("ldap: %s idle for %.0f s; disconnecting", session.peer,
                     idle_timeout)
            writer.write(notice_of_disconnection(UNAVAILABLE, "idle timeout"))
            return
        if not data:
            log.debug("ldap: %s closed the connection", session.peer)
            return

        output = session.receive(data)
        if output.data:
            writer.write(output.data)
            await asyncio.wait_for(writer.drain(), WRITE_TIMEOUT)
        if output.close:
            return


async def start_ldaps(host: str, port: int, *, users: Mapping[str, str],
                      domain: str, ssl_context: ssl.SSLContext,
                      max_connections: int = 100, idle_timeout: float = 60.0,
                      ) -> asyncio.AbstractServer:
    """Listen for LDAPS on ``host``:``port`` (0 picks a free port).

    ``users`` maps lab addresses to passwords; a user binds as
    ``cn=<local part>,dc=...`` or as the address itself.
    """
    directory = LabDirectory(domain, dict(users))
    counter = _Counter()

    async def handle(reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> None:
        peername = writer.get_extra_info("peername")
        peer = f"{peername[0]}:{peername[1]}" if peername else "?"
        if counter.active >= max_connections:
            log.info("ldap: %s refused, %d connections already", peer,
                     counter.active)
            writer.write(notice_of_disconnection(UNAVAILABLE, "too many connections"))
            await _drain_and_close(writer)
            return

        counter.active += 1
        session = LdapSession(directory, peer=peer)
        log.debug("ldap: %s connected", peer)
        try:
            await _serve(reader, writer, session, idle_timeout)
        except (OSError, ssl.SSLError, TimeoutError) as exc:
            log.debug("ldap: %s connection error: %s", peer, exc)
        except Exception:
            # One client's trouble must never take the listener down.
            log.exception("ldap: %s unexpected error", peer)
        finally:
            counter.active -= 1
            await _drain_and_close(writer)

    server = await asyncio.start_server(
        handle, host, port, ssl=ssl_context,
        ssl_handshake_timeout=HANDSHAKE_TIMEOUT, limit=MAX_PDU, backlog=64)
    bound = server.sockets[0].getsockname()
    log.info("ldap: LDAPS for %s on %s:%d (base %s)", domain, bound[0], bound[1],
             directory.base_dn)
    return server
