"""The asyncio shell around :class:`lab.pop3.protocol.Pop3Session`.

It owns the sockets and the clocks: greeting, reading with an idle timeout,
the STLS upgrade, the connection limit. Everything POP3 means is decided by
the session; this module only moves bytes and acts on its events.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from lab.pop3.maildrop import MailboxLike, MaildropLocks
from lab.pop3.protocol import (
    Authenticator,
    Close,
    Pop3Session,
    Pop3Settings,
    StartTLS,
)

log = logging.getLogger(__name__)

HANDSHAKE_TIMEOUT = 10.0
CLOSE_TIMEOUT = 5.0
EARLY_DATA_LIMIT = 64 * 1024


class StoreLike(Protocol):
    def mailbox(self, user: str) -> MailboxLike: ...


def make_authenticator(users: Mapping[str, str]) -> Authenticator:
    """Check a login against ``users`` (address -> password).

    The login is the full address or, when that is unambiguous, its local
    part alone; the mailbox is always the local part.
    """
    by_address = {address.lower(): (address, pw) for address, pw in users.items()}
    by_local: dict[str, list[tuple[str, str]]] = {}
    for address, password in users.items():
        local = address.partition("@")[0].lower()
        by_local.setdefault(local, []).append((address, password))

    def authenticate(login: str, password: str) -> str | None:
        login = login.strip().lower()
        found = by_address.get(login)
        if found is None and "@" not in login:
            candidates = by_local.get(login, [])
            found = candidates[0] if len(candidates) == 1 else None
        if found is None:
            return None

        address, expected = found
        # Constant-time compare: a lab that teaches diagnosis should not
        # teach timing oracles.
        if not hmac.compare_digest(password.encode(), expected.encode()):
            return None
        return address.partition("@")[0].lower()

    return authenticate


@dataclass
class _Listener:
    """Per-server state shared by its connections."""

    store: StoreLike
    authenticate: Authenticator
    settings: Pop3Settings
    ssl_context: ssl.SSLContext | None
    implicit_tls: bool
    max_connections: int
    idle_timeout: float
    locks: MaildropLocks = field(default_factory=MaildropLocks)
    active: int = 0


class _Pop3Connection(asyncio.Protocol):
    """Moves bytes between one transport and its :class:`Pop3Session`.

    A protocol rather than streams: on STLS, reading must stop in the same
    callback that saw the command, so that no TLS byte can land in a
    plaintext buffer (and no plaintext byte can outlive the upgrade).
    """

    def __init__(self, listener: _Listener) -> None:
        self._listener = listener
        self._transport: asyncio.Transport | None = None
        self._session: Pop3Session | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._counted = False
        self._lost = False
        self._tls_task: asyncio.Task[None] | None = None
        self._early = bytearray()

    # -- asyncio callbacks -----------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        peername = transport.get_extra_info("peername")
        peer = f"{peername[0]}:{peername[1]}" if peername else "?"
        listener = self._listener
        self._session = Pop3Session(
            listener.settings, listener.authenticate, listener.store.mailbox,
            locks=listener.locks, tls_active=listener.implicit_tls, peer=peer)

        if listener.active >= listener.max_connections:
            log.info("%s refused: %d connections already", peer,
                     listener.active)
            transport.write(self._session.refuse("too many connections, try later"))
            self._close()
            return

        listener.active += 1
        self._counted = True
        log.info("%s connected", peer)
        transport.write(self._session.greeting())
        self._arm_timer()

    def data_received(self, data: bytes) -> None:
        if self._upgrading():
            # The TLS layer hands over application data that came with the
            # client's Finished before start_tls() has returned to us; it is
            # already decrypted, so keep it for the upgraded session.
            self._early += data
            if len(self._early) > EARLY_DATA_LIMIT:
                self._abort("too much data during the TLS upgrade")
            return
        self._feed(data)

    def _feed(self, data: bytes) -> None:
        session, transport = self._session, self._transport
        if session is None or transport is None or transport.is_closing():
            return

        try:
            output = session.receive_data(data)
        except Exception:
            # One broken session must never take the listener down.
            log.exception("%s: unexpected error in POP3 session", session.peer)
            self._abort("internal error")
            return

        if output.data:
            # Only a complete command counts as activity: a client that
            # dribbles a byte at a time is idle, and is cut off as such.
            self._arm_timer()
            transport.write(output.data)
        for event in output.events:
            if isinstance(event, StartTLS):
                transport.pause_reading()
                self._tls_task = asyncio.ensure_future(self._start_tls())
            elif isinstance(event, Close):
                self._close()

    def eof_received(self) -> bool | None:
        return False  # close our side too

    def pause_writing(self) -> None:
        # The client does not read what we send: stop reading its commands
        # so it cannot make us queue more (the idle timer still runs).
        if self._transport is not None:
            self._transport.pause_reading()

    def resume_writing(self) -> None:
        if self._upgrading() or self._transport is None:
            return
        if not self._transport.is_closing():
            self._transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._lost:
            return
        self._lost = True
        if self._timer is not None:
            self._timer.cancel()
        if self._session is not None:
            self._session.connection_lost()
        if self._counted:
            self._listener.active -= 1
            log.info("%s disconnected", self._session and self._session.peer)

    # -- helpers ---------------------------------------------------------

    async def _start_tls(self) -> None:
        transport, session = self._transport, self._session
        context = self._listener.ssl_context
        assert transport and session and context, "STLS offered without TLS"
        loop = asyncio.get_running_loop()
        try:
            new = await loop.start_tls(
                transport, self, context, server_side=True,
                ssl_handshake_timeout=HANDSHAKE_TIMEOUT)
        except (ssl.SSLError, ConnectionError, OSError, TimeoutError) as exc:
            log.info("%s TLS handshake failed: %s", session.peer, exc)
            transport.abort()
            return
        if new is None or self._lost:
            return

        self._transport = new
        session.tls_established()
        log.info("%s upgraded to TLS", session.peer)
        early, self._early = bytes(self._early), bytearray()
        if early:
            log.debug("%s %d octets arrived with the handshake", session.peer,
                      len(early))
            self._feed(early)
        else:
            self._arm_timer()

    def _upgrading(self) -> bool:
        return self._tls_task is not None and not self._tls_task.done()

    def _abort(self, why: str) -> None:
        peer = self._session.peer if self._session else "?"
        log.info("%s aborted: %s", peer, why)
        if self._transport is not None:
            self._transport.abort()

    def _arm_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self._listener.idle_timeout, self._idle)

    def _idle(self) -> None:
        # RFC 1939 section 3 asks for at least ten minutes; the lab default
        # is shorter so that broken clients do not pile up.
        if self._transport is None or self._session is None:
            return
        log.info("%s idle for %.0fs, closing", self._session.peer,
                 self._listener.idle_timeout)
        if not self._transport.is_closing():
            self._transport.write(self._session.timeout())
        self._close()

    def _close(self) -> None:
        transport = self._transport
        if transport is None or self._lost:
            return
        transport.close()
        # close() waits for the send buffer to drain; a peer that never
        # reads must not keep the connection forever.
        asyncio.get_running_loop().call_later(CLOSE_TIMEOUT, transport.abort)


async def start_pop3_server(
    host: str,
    port: int,
    *,
    store: StoreLike,
    users: Mapping[str, str],
    hostname: str,
    ssl_context: ssl.SSLContext | None = None,
    implicit_tls: bool = False,
    require_tls: bool = False,
    max_connections: int = 200,
    idle_timeout: float = 120.0,
) -> asyncio.AbstractServer:
    """Listen for POP3 on ``host:port``.

    With ``ssl_context`` and ``implicit_tls`` the socket speaks TLS from the
    first byte (POP3S, RFC 8314); with ``ssl_context`` alone it offers STLS
    (RFC 2595); ``require_tls`` refuses logins until TLS is up.
    """
    if implicit_tls and ssl_context is None:
        raise ValueError("implicit TLS needs an ssl_context")

    settings = Pop3Settings(
        hostname=hostname,
        tls_available=ssl_context is not None and not implicit_tls,
        require_tls=require_tls,
    )
    listener = _Listener(store, make_authenticator(users), settings,
                         ssl_context, implicit_tls, max_connections,
                         idle_timeout)
    loop = asyncio.get_running_loop()
    # TODO: store reads and fsyncing deletes block the loop; fine for lab sizes.
    server = await loop.create_server(
        lambda: _Pop3Connection(listener), host, port,
        ssl=ssl_context if implicit_tls else None,
        ssl_handshake_timeout=HANDSHAKE_TIMEOUT if implicit_tls else None,
    )
    where = ", ".join(str(s.getsockname()[:2]) for s in server.sockets)
    mode = "POP3S" if implicit_tls else ("POP3+STLS" if ssl_context else "POP3")
    log.info("%s for %s listening on %s", mode, hostname, where)
    return server
