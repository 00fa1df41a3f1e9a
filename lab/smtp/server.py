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

from ..relay.transcript import TranscriptLog

from ..plan import SmtpTweaks
from .policy import MailPolicy
from .recording import RecordingSMTP

log = logging.getLogger(__name__)


class _QuietDeprecation(logging.Filter):
    """aiosmtpd 1.4 warns on every AUTH that a field it sets itself is
    deprecated; that is its internal matter, not news for a lab's user."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Session.login_data is deprecated")


logging.getLogger("mail.log").addFilter(_QuietDeprecation())

IDENT = "ESMTP Mailflow Lab"
MAX_MESSAGE = 10 * 1024 * 1024
#: No session lasts longer than this, however busy the client keeps it.
MAX_SESSION = 30 * 60.0


class _Busy(asyncio.Protocol):
    """Stands in for a session when the listener is full."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        busy = b"421 4.3.2 Too many connections, try again later\r\n"
        transport.write(busy)  # type: ignore[attr-defined]
        transport.close()


#: What a TLS server sends when the handshake cannot go on: an alert record,
#: level fatal, handshake_failure (RFC 8446 section 6).
_TLS_ALERT = bytes.fromhex("150303000202" "28")

#: What 'ESMTP inspection' middleboxes put where STARTTLS was.
_MASKED_STARTTLS = "250-XXXXXXXA"


class _LabSMTP(RecordingSMTP):
    """aiosmtpd's session with the lab's injected misbehaviours."""

    def __init__(self, listener: SmtpListener, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, transcripts=listener.transcripts,
                         log_host=listener.policy.hostname, **kwargs)
        self._listener = listener
        self.tweaks = listener.tweaks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._in_data = False
        # A bound on the whole session, whatever the client keeps sending.
        self._session_cap = self.loop.call_later(MAX_SESSION, transport.close)

    def connection_lost(self, exc: Exception | None) -> None:
        self._listener.sessions -= 1
        self._session_cap.cancel()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        # aiosmtpd resets its idle timer per command only; while a message
        # body streams in, arriving data is the activity (RFC 5321 4.5.3.2.6
        # gives DATA blocks a timeout of their own).
        if self._in_data:
            self._reset_timeout()
        super().data_received(data)

    async def smtp_DATA(self, arg: str) -> None:
        self._in_data = True
        try:
            await super().smtp_DATA(arg)
        finally:
            self._in_data = False

    async def _handle_client(self) -> None:
        if self.tweaks.banner_delay:
            await asyncio.sleep(self.tweaks.banner_delay)
        if self._stage("connect"):
            await self.push(self.tweaks.reply[1])  # type: ignore[index]
            self.transport.close()
            return
        await super()._handle_client()

    def _stage(self, stage: str) -> bool:
        return self.tweaks.reply is not None and self.tweaks.reply[0] == stage

    async def push(self, status: Any) -> None:
        if self.tweaks.banner_masked and str(status).startswith("250 HELP"):
            await super().push(_MASKED_STARTTLS)
        await super().push(status)

    async def smtp_EHLO(self, hostname: str) -> None:
        if self._stage("ehlo"):
            await self.push(self.tweaks.reply[1])  # type: ignore[index]
            return
        await super().smtp_EHLO(hostname)

    async def smtp_MAIL(self, arg: Any) -> None:
        if self._stage("mail"):
            await self.push(self.tweaks.reply[1])  # type: ignore[index]
            return
        await super().smtp_MAIL(arg)

    async def smtp_RCPT(self, arg: Any) -> None:
        if self._stage("rcpt") and self.envelope.mail_from is not None:
            await self.push(self.tweaks.reply[1])  # type: ignore[index]
            return
        await super().smtp_RCPT(arg)

    async def smtp_STARTTLS(self, arg: str) -> None:
        if self.tweaks.starttls != "broken":
            await super().smtp_STARTTLS(arg)
            return
        # A middlebox that lets the command through and breaks the handshake.
        await self.push("220 2.0.0 Ready to start TLS")
        self.transport.write(_TLS_ALERT)
        self.transport.close()


class SmtpListener:
    """One SMTP port of one lab host."""

    def __init__(self, policy: MailPolicy, host: str, port: int, *,
                 tls_context: ssl.SSLContext | None = None,
                 auth: bool = False, max_sessions: int = 200,
                 idle_timeout: float = 60.0, tweaks: SmtpTweaks | None = None,
                 transcripts: TranscriptLog | None = None) -> None:
        self.policy = policy
        self.host = host
        self.port = port
        self.tls_context = tls_context
        self.auth = auth
        self.max_sessions = max_sessions
        self.idle_timeout = idle_timeout
        self.sessions = 0
        self.server: asyncio.AbstractServer | None = None
        self.tweaks = tweaks or SmtpTweaks()
        self.transcripts = transcripts

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
        masked = self.tweaks.banner_masked
        return _LabSMTP(
            self, self.policy,
            hostname="*" * 30 if masked else self.policy.hostname,
            ident="*" * 12 if masked else IDENT,
            data_size_limit=MAX_MESSAGE, timeout=self.idle_timeout,
            tls_context=None if masked else self.tls_context,
            authenticator=self._authenticate if self.auth else None,
            # AUTH only after STARTTLS (RFC 4954 section 4), and never on a
            # port without auth: aiosmtpd hides AUTH only behind TLS.
            auth_require_tls=(not self.auth) or (
                self.tls_context is not None and not self.tweaks.auth_before_tls),
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
