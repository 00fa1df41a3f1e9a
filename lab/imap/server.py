"""The asyncio shell around ImapSession: sockets, TLS, timeouts, limits."""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Mapping

from lab.imap.framing import Limits
from lab.imap.protocol import Close, ImapSession, Result, SessionConfig, StartTLS
from lab.store import MailStore

log = logging.getLogger(__name__)

TLS_HANDSHAKE_TIMEOUT = 15.0
#: Bytes kept from a client while its STARTTLS upgrade completes.
MAX_HELD = 64 * 1024


class _Gate:
    """Counts live connections so a full server can say BYE (RFC 3501 7.1.5)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.active = 0


class ImapConnection(asyncio.Protocol):
    def __init__(self, *, store: MailStore, users: Mapping[str, str],
                 config: SessionConfig, ssl_context: ssl.SSLContext | None,
                 implicit_tls: bool, gate: _Gate, idle_timeout: float) -> None:
        self._store = store
        self._users = users
        self._config = config
        self._ssl_context = ssl_context
        self._implicit_tls = implicit_tls
        self._gate = gate
        self._idle_timeout = idle_timeout
        self._transport: asyncio.Transport | None = None
        self._session: ImapSession | None = None
        self._idle: asyncio.TimerHandle | None = None
        self._counted = False
        self._closing = False
        self._paused = False
        self._peer = "-"
        #: Set from STARTTLS until the session knows TLS is up: bytes that
        #: arrive then (a client's first command right after its last
        #: handshake message) wait here rather than reach a session that
        #: still believes it speaks plain text.
        self._upgrading = False
        self._held: list[bytes] = []

    # -- asyncio.Protocol ----------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        if self._transport is not None:
            # start_tls() hands the protocol the new TLS transport again.
            self._transport = transport
            return

        self._transport = transport
        peer = transport.get_extra_info("peername")
        self._peer = f"{peer[0]}:{peer[1]}" if peer else "-"
        if self._gate.active >= self._gate.limit:
            log.info("refusing %s: %d connections open", self._peer,
                     self._gate.active)
            transport.write(b"* BYE Too many connections, try later\r\n")
            transport.close()
            return

        self._gate.active += 1
        self._counted = True
        self._session = ImapSession(self._store, self._users, self._config,
                                    tls_active=self._implicit_tls, peer=self._peer)
        log.info("IMAP connection from %s%s", self._peer,
                 " (TLS)" if self._implicit_tls else "")
        self._apply(self._session.greeting())
        self._arm_idle()

    def data_received(self, data: bytes) -> None:
        if self._session is None or self._closing:
            return
        if self._upgrading:
            if sum(map(len, self._held)) + len(data) <= MAX_HELD:
                self._held.append(data)
            return
        try:
            # TODO: store reads run on the event loop; fine for lab-sized boxes
            result = self._session.receive_data(data)
        except Exception:
            # The session catches per-command errors; this is the last guard so
            # that one client's bytes can never take the listener down.
            log.exception("IMAP session for %s failed", self._peer)
            result = Result(b"* BYE Internal server error\r\n",
                            (Close("internal error"),))
        if result.data:
            # Only progress counts as activity (a reply, or a literal's "+"):
            # a client that dribbles a byte at a time is idle, and is cut off.
            self._arm_idle()
        self._apply(result)

    def eof_received(self) -> bool | None:
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        if self._idle is not None:
            self._idle.cancel()
        if self._counted:
            self._gate.active -= 1
            self._counted = False
        self._closing = True
        log.info("IMAP connection from %s closed", self._peer)

    def pause_writing(self) -> None:
        # Stop reading commands while the client isn't reading our replies,
        # so a slow reader cannot make us buffer without bound.
        if self._transport is not None and not self._paused:
            self._paused = True
            self._transport.pause_reading()

    def resume_writing(self) -> None:
        if self._transport is not None and self._paused:
            self._paused = False
            self._transport.resume_reading()

    # -- helpers -------------------------------------------------------------

    def _apply(self, result: Result) -> None:
        assert self._transport is not None
        if result.data:
            self._transport.write(result.data)
        for event in result.events:
            if isinstance(event, Close):
                self._closing = True
                self._transport.close()
            elif isinstance(event, StartTLS):
                # Stop reading in this very callback: the client's TLS hello
                # may already be on its way and must reach start_tls, not the
                # plain-text session (RFC 3501 section 6.2.1).
                self._upgrading = True
                self._transport.pause_reading()
                asyncio.get_running_loop().create_task(self._start_tls())

    async def _start_tls(self) -> None:
        transport = self._transport
        assert transport is not None and self._ssl_context is not None
        loop = asyncio.get_running_loop()
        try:
            new = await loop.start_tls(
                transport, self, self._ssl_context, server_side=True,
                ssl_handshake_timeout=TLS_HANDSHAKE_TIMEOUT)
        except (OSError, ssl.SSLError, asyncio.TimeoutError,
                ConnectionError) as exc:
            log.info("TLS handshake with %s failed: %s", self._peer, exc)
            transport.abort()
            return
        if new is None:
            transport.abort()
            return

        self._transport = new
        assert self._session is not None
        self._session.tls_started()
        self._upgrading = False
        self._arm_idle()
        held, self._held = self._held, []
        for data in held:
            self.data_received(data)

    def _arm_idle(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
        loop = asyncio.get_running_loop()
        self._idle = loop.call_later(self._idle_timeout, self._on_idle)

    def _on_idle(self) -> None:
        if self._session is None or self._closing:
            return
        log.info("IMAP client %s idle for %.0fs, closing", self._peer,
                 self._idle_timeout)
        self._apply(self._session.timeout())


async def start_imap_server(
    host: str,
    port: int,
    *,
    store: MailStore,
    users: Mapping[str, str],
    hostname: str,
    ssl_context: ssl.SSLContext | None = None,
    implicit_tls: bool = False,
    login_disabled_before_tls: bool = True,
    login_disabled_always: bool = False,
    max_connections: int = 200,
    idle_timeout: float = 300.0,
    limits: Limits | None = None,
) -> asyncio.AbstractServer:
    """Listen for IMAP on host:port (143 style, or 993 with implicit_tls)."""
    if implicit_tls and ssl_context is None:
        raise ValueError("implicit TLS needs an ssl_context")

    config = SessionConfig(
        hostname=hostname,
        tls_available=ssl_context is not None and not implicit_tls,
        login_disabled_before_tls=login_disabled_before_tls,
        login_disabled_always=login_disabled_always,
        limits=limits or Limits(),
    )
    gate = _Gate(max_connections)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: ImapConnection(
            store=store, users=users, config=config, ssl_context=ssl_context,
            implicit_tls=implicit_tls, gate=gate, idle_timeout=idle_timeout),
        host, port,
        ssl=ssl_context if implicit_tls else None,
        ssl_handshake_timeout=TLS_HANDSHAKE_TIMEOUT if implicit_tls else None,
    )
    bound = ", ".join(str(s.getsockname()) for s in server.sockets)
    log.info("IMAP%s listening on %s", "S" if implicit_tls else "", bound)
    return server
