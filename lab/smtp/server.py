"""SMTP listeners: aiosmtpd's protocol on a socket, with a connection cap.

aiosmtpd already bounds line length (RFC 5321 section 4.5.3.1.4) and the
message size; this module adds the cap on concurrent sessions (a 421 reply
when full, RFC 5321 section 3.8) and the lab's identity in banner and EHLO.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

from .policy import MailPolicy

log = logging.getLogger(__name__)

IDENT = "ESMTP Mailflow Lab"
MAX_MESSAGE = 10 * 1024 * 1024


class _Busy(asyncio.Protocol):
    """Stands in for a session when the listener is full."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.write(b"421 4.3.2 Too many connections, try again later\r\n")  # type: ignore
        transport.close()


class _Counted(SMTP):
    def __init__(self, listener: SmtpListener, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._listener = listener

    def connection_lost(self, exc: Exception | None) -> None:
        self._listener.sessions -= 1
        super().connection_lost(exc)


class SmtpListener:
    """One SMTP port of one lab host."""

    def __init__(self, policy: MailPolicy, host: str, port: int, *,
                 tls_context: ssl.SSLContext | None = None,
                 auth: bool = False, max_sessions: int = 200,
                 idle_timeout: float = 60.0) -> None:
        self.policy = policy
        self.host = host
        self.port = port
        self.tls_context = tls_context
        self.auth = auth
        self.max_sessions = max_sessions
        self.idle_timeout = idle_timeout
        self.sessions = 0
        self.server: asyncio.AbstractServer | None = None

    def _authenticate(self, server: SMTP, session: Any, envelope: Any,
                      mechanism: str, data: Any) -> AuthResult:
        if not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login = data.login.decode("utf-8", "replace").lower()
        user = login.split("@")[0] if login.endswith("@" + self.policy.domain) \
            else login
        ok = self.policy.users.get(user) == data.password.decode("utf-8", "replace")
        log.info("%s AUTH %s for %s: %s", self.policy.hostname, mechanism, login,
                 "accepted" if ok else "refused")
        return AuthResult(success=ok)

    def _protocol(self) -> asyncio.Protocol:
        if self.sessions >= self.max_sessions:
            return _Busy()
        self.sessions += 1
        return _Counted(
            self, self.policy, hostname=self.policy.hostname, ident=IDENT,
            data_size_limit=MAX_MESSAGE, timeout=self.idle_timeout,
            tls_context=self.tls_context,
            authenticator=self._authenticate if self.auth else None,
            # Port 25 never offers AUTH: aiosmtpd hides it only behind TLS.
            auth_require_tls=self.tls_context is not None or not self.auth,
            command_call_limit=200,
        )

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(self._protocol, self.host, self.port,
                                               backlog=256)
        if self.port == 0:
            self.port = self.server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
