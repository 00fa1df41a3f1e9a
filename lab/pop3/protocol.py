"""POP3 server protocol as a sans-IO state machine (RFC 1939, 2449, 2595).

Feed the bytes a client sent to :meth:`Pop3Session.receive_data`; it returns
an :class:`Output` with the bytes to send back and the events the network
shell must act on (start TLS, close). No sockets, no clock: a session can be
driven by a byte transcript in a test.

Policy when ``require_tls`` is set and TLS is not active yet: CAPA hides
``USER`` and ``SASL`` and shows ``STLS``, and USER, PASS and AUTH are refused
with ``-ERR [AUTH]`` before any password crosses the wire in clear.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Callable

from lab.pop3.events import (
    Authenticated,
    Close,
    Event,
    Output,
    Pop3Settings,
    StartTLS,
    State,
)
from lab.pop3.maildrop import (
    MailboxLike,
    Maildrop,
    MaildropError,
    MaildropLocks,
)
from lab.pop3.messages import split_lines, stuff, top_lines

log = logging.getLogger(__name__)

# login, password -> mailbox name, or None when the credentials are wrong
Authenticator = Callable[[str, str], "str | None"]
# mailbox name -> the store's mailbox
MailboxOpener = Callable[[str], MailboxLike]

__all__ = [
    "Authenticated", "Authenticator", "Close", "Event", "MailboxOpener",
    "Output", "Pop3Session", "Pop3Settings", "StartTLS", "State",
]


def _ok(text: str = "") -> bytes:
    return f"+OK {text}\r\n".encode() if text else b"+OK\r\n"


def _err(text: str) -> bytes:
    return f"-ERR {text}\r\n".encode()


def _number(arg: str) -> int | None:
    # RFC 1939 section 3: message numbers are plain decimal, no sign.
    if not arg.isascii() or not arg.isdigit() or len(arg) > 10:
        return None
    return int(arg)


def _masked(line: str) -> str:
    keyword, _, _ = line.partition(" ")
    if keyword.upper() == "PASS":
        return "PASS ****"
    if keyword.upper() == "AUTH" and line.count(" ") >= 2:
        return " ".join(line.split(" ")[:2] + ["****"])
    return line


class Pop3Session:
    """One POP3 connection, from greeting to QUIT."""

    def __init__(self, settings: Pop3Settings, authenticate: Authenticator,
                 open_mailbox: MailboxOpener, *,
                 locks: MaildropLocks | None = None,
                 tls_active: bool = False, peer: str = "-") -> None:
        self.settings = settings
        self._authenticate = authenticate
        self._open_mailbox = open_mailbox
        self._locks = locks if locks is not None else MaildropLocks()
        self.tls_active = tls_active
        self.peer = peer

        self.state = State.AUTHORIZATION
        self._buffer = bytearray()
        self._discarding = False
        self._awaiting_tls = False
        self._sasl_pending = False
        self._commands = 0
        self._auth_failures = 0
        self._user: str | None = None
        self._mailbox_name: str | None = None
        self._maildrop: Maildrop | None = None

    # -- API for the network shell --------------------------------------

    def greeting(self) -> bytes:
        reply = _ok(f"{self.settings.hostname} POP3 ready")
        self._log_out(reply)
        return reply

    def refuse(self, text: str) -> bytes:
        """The one line for a connection we will not serve (server full)."""
        self.state = State.CLOSED
        return _err(f"[SYS/TEMP] {text}")

    def timeout(self) -> bytes:
        """The line to send when the client went quiet too long."""
        self.connection_lost()
        return _err("idle timeout, closing connection")

    def tls_established(self) -> None:
        """The handshake the last StartTLS asked for has completed."""
        # RFC 2595 section 4: the session stays in AUTHORIZATION and the
        # client must forget what it learnt before; so do we.
        self._awaiting_tls = False
        self.tls_active = True
        self._user = None
        self._buffer.clear()

    def connection_lost(self) -> None:
        """The peer went away: release the lock, delete nothing (RFC 1939 6)."""
        self._release()
        self.state = State.CLOSED

    @property
    def closed(self) -> bool:
        return self.state is State.CLOSED

    def receive_data(self, data: bytes) -> Output:
        if self.closed or self._awaiting_tls:
            # Bytes sent after STLS and before the handshake are plaintext
            # injection (RFC 2595 section 4 wants them ignored).
            return Output()

        self._buffer += data
        out = bytearray()
        events: list[Event] = []
        while not self.closed and not self._awaiting_tls:
            line = self._next_line(out)
            if self._commands > self.settings.max_commands:
                # Overlong lines count too, so endless garbage ends here.
                self.connection_lost()
                out += self._reply(
                    _err("[SYS/PERM] too many commands, closing connection"))
                events.append(Close("too many commands"))
                break
            if line is None:
                break
            reply, new_events = self._handle_line(line)
            out += reply
            events += new_events

        if self.closed or self._awaiting_tls:
            self._buffer.clear()
        return Output(bytes(out), tuple(events))

    # -- framing ---------------------------------------------------------

    def _limit(self) -> int:
        if self._sasl_pending:
            return self.settings.max_sasl_line
        return self.settings.max_line

    def _next_line(self, out: bytearray) -> bytes | None:
        """Cut one line off the buffer, answering overlong ones in ``out``."""
        while True:
            end = self._buffer.find(b"\n")
            if end < 0:
                if len(self._buffer) > self._limit():
                    if not self._discarding:
                        out += self._reply(_err("line too long"))
                    self._commands += 1
                    self._discarding = True
                    self._buffer.clear()
                return None

            raw = bytes(self._buffer[:end])
            del self._buffer[: end + 1]
            if self._discarding:
                # The tail of a line we already refused.
                self._discarding = False
                continue
            line = raw.removesuffix(b"\r")
            self._commands += 1
            if len(line) + 2 > self._limit():
                out += self._reply(_err("line too long"))
                continue
            return line

    # -- dispatch --------------------------------------------------------

    def _handle_line(self, raw: bytes) -> tuple[bytes, list[Event]]:
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            return self._reply(_err("command is not valid UTF-8")), []

        if self._sasl_pending:
            log.debug("%s C: ****", self.peer)
            self._sasl_pending = False
            return self._finish_plain(line)

        log.debug("%s C: %s", self.peer, _masked(line))
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        handler = self._handlers().get(keyword)
        if handler is None:
            return self._reply(_err(f"unknown command {keyword[:8]!r}")), []
        if self.state.value not in self._STATES[keyword]:
            return self._reply(_err(f"{keyword} not valid in this state")), []
        return handler(rest)

    _STATES: dict[str, tuple[str, ...]] = {
        "CAPA": ("AUTHORIZATION", "TRANSACTION"),
        "QUIT": ("AUTHORIZATION", "TRANSACTION"),
        "USER": ("AUTHORIZATION",),
        "PASS": ("AUTHORIZATION",),
        "AUTH": ("AUTHORIZATION",),
        "STLS": ("AUTHORIZATION",),
        "STAT": ("TRANSACTION",),
        "LIST": ("TRANSACTION",),
        "UIDL": ("TRANSACTION",),
        "RETR": ("TRANSACTION",),
        "TOP": ("TRANSACTION",),
        "DELE": ("TRANSACTION",),
        "RSET": ("TRANSACTION",),
        "NOOP": ("TRANSACTION",),
    }

    def _handlers(self) -> dict[str, Callable[[str], tuple[bytes, list[Event]]]]:
        return {
            "CAPA": self._capa, "QUIT": self._quit, "USER": self._user_cmd,
            "PASS": self._pass, "AUTH": self._auth, "STLS": self._stls,
            "STAT": self._stat, "LIST": self._list, "UIDL": self._uidl,
            "RETR": self._retr, "TOP": self._top, "DELE": self._dele,
            "RSET": self._rset, "NOOP": self._noop,
        }

    # -- AUTHORIZATION ---------------------------------------------------

    def _login_allowed(self) -> bool:
        return self.tls_active or not self.settings.require_tls

    def _capa(self, _rest: str) -> tuple[bytes, list[Event]]:
        # RFC 2449 section 6 capabilities; login ones only where they work.
        caps = ["TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING"]
        if self.state is State.AUTHORIZATION:
            if self._login_allowed():
                caps.append("USER")
                if self.settings.allow_sasl_plain:
                    caps.append("SASL PLAIN")
            if self.settings.tls_available and not self.tls_active:
                caps.append("STLS")
        caps.append(f"IMPLEMENTATION {self.settings.implementation}")
        lines = [c.encode() for c in caps]
        return self._multi("Capability list follows", lines), []

    def _stls(self, _rest: str) -> tuple[bytes, list[Event]]:
        if self.tls_active:
            return self._reply(_err("TLS already active")), []
        if not self.settings.tls_available:
            return self._reply(_err("STLS not available")), []

        self._awaiting_tls = True
        return self._reply(_ok("Begin TLS negotiation")), [StartTLS()]

    def _tls_required(self) -> tuple[bytes, list[Event]]:
        return self._reply(_err("[AUTH] TLS required, use STLS first")), []

    def _user_cmd(self, rest: str) -> tuple[bytes, list[Event]]:
        if not self._login_allowed():
            return self._tls_required()
        if not rest:
            return self._reply(_err("USER needs a name")), []

        # Same answer for every name: we do not tell who has a mailbox.
        self._user = rest.strip()
        return self._reply(_ok("send PASS")), []

    def _pass(self, rest: str) -> tuple[bytes, list[Event]]:
        if not self._login_allowed():
            return self._tls_required()
        if self._user is None:
            return self._reply(_err("USER first")), []

        # RFC 1939 section 7: PASS has one argument and may contain spaces.
        user, self._user = self._user, None
        return self._login(user, rest)

    def _auth(self, rest: str) -> tuple[bytes, list[Event]]:
        if not self._login_allowed():
            return self._tls_required()
        mechanism, _, initial = rest.partition(" ")
        if mechanism.upper() != "PLAIN" or not self.settings.allow_sasl_plain:
            return self._reply(_err("unsupported SASL mechanism")), []

        if not initial:
            # RFC 5034 section 4: an empty challenge, "+ " and CRLF.
            self._sasl_pending = True
            return self._reply(b"+ \r\n"), []
        return self._finish_plain(initial)

    def _finish_plain(self, response: str) -> tuple[bytes, list[Event]]:
        if response.strip() == "*":
            return self._reply(_err("authentication cancelled")), []

        # RFC 4616 section 2: [authzid] NUL authcid NUL passwd.
        try:
            decoded = base64.b64decode(response.strip(), validate=True)
            authzid, authcid, password = decoded.decode("utf-8").split("\0")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return self._reply(_err("malformed SASL PLAIN response")), []
        if authzid and authzid != authcid:
            return self._failed_login(authcid)
        return self._login(authcid, password)

    def _login(self, login: str, password: str) -> tuple[bytes, list[Event]]:
        mailbox = self._authenticate(login, password)
        if mailbox is None:
            return self._failed_login(login)

        if not self._locks.acquire(mailbox):
            return self._reply(_err("[IN-USE] maildrop already locked")), []
        try:
            maildrop = Maildrop(self._open_mailbox(mailbox),
                                max_messages=self.settings.max_messages)
        except (MaildropError, OSError, ValueError) as exc:
            self._locks.release(mailbox)
            log.warning("cannot open maildrop %s: %s", mailbox, exc)
            return self._reply(_err("[SYS/TEMP] cannot open maildrop")), []

        self._mailbox_name, self._maildrop = mailbox, maildrop
        self.state = State.TRANSACTION
        count, size = maildrop.stat()
        log.info("%s logged in as %s (%d messages)", self.peer, login, count)
        reply = _ok(f"maildrop has {count} messages ({size} octets)")
        return self._reply(reply), [Authenticated(login, mailbox)]

    def _failed_login(self, login: str) -> tuple[bytes, list[Event]]:
        self._auth_failures += 1
        log.info("%s failed login as %r", self.peer, login[:64])
        reply = self._reply(_err("[AUTH] invalid user name or password"))
        if self._auth_failures >= self.settings.max_auth_failures:
            self.connection_lost()
            return reply, [Close("too many failed logins")]
        return reply, []

    # -- TRANSACTION -----------------------------------------------------

    def _drop(self) -> Maildrop:
        assert self._maildrop is not None, "TRANSACTION without a maildrop"
        return self._maildrop

    def _message_arg(self, arg: str) -> tuple[int | None, bytes]:
        """Parse a message number; on failure the second item is the -ERR."""
        number = _number(arg)
        if number is None:
            return None, self._reply(_err("invalid message number"))
        if self._drop().is_deleted(number):
            return None, self._reply(_err(f"message {number} already deleted"))
        if self._drop().get(number) is None:
            return None, self._reply(_err("no such message"))
        return number, b""

    def _stat(self, _rest: str) -> tuple[bytes, list[Event]]:
        count, size = self._drop().stat()
        return self._reply(_ok(f"{count} {size}")), []

    def _scan(self, rest: str, field: str) -> tuple[bytes, list[Event]]:
        """LIST and UIDL share a shape: one entry, or all of them."""
        def value(number: int) -> str:
            entry = self._drop().get(number)
            assert entry is not None
            return str(entry.size) if field == "size" else entry.unique_id

        arg = rest.strip()
        if arg:
            number, error = self._message_arg(arg)
            if number is None:
                return error, []
            return self._reply(_ok(f"{number} {value(number)}")), []

        live = self._drop().live()
        lines = [f"{e.number} {value(e.number)}".encode() for e in live]
        return self._multi(f"{len(live)} messages", lines), []

    def _list(self, rest: str) -> tuple[bytes, list[Event]]:
        return self._scan(rest, "size")

    def _uidl(self, rest: str) -> tuple[bytes, list[Event]]:
        return self._scan(rest, "uid")

    def _read(self, number: int) -> bytes | None:
        try:
            return self._drop().content(number)
        except MaildropError as exc:
            log.warning("%s cannot read message %d: %s", self.peer, number, exc)
            return None

    def _retr(self, rest: str) -> tuple[bytes, list[Event]]:
        number, error = self._message_arg(rest.strip())
        if number is None:
            return error, []
        content = self._read(number)
        if content is None:
            return self._reply(_err("[SYS/TEMP] message unavailable")), []

        lines = split_lines(content)
        size = sum(len(line) + 2 for line in lines)
        return self._multi(f"{size} octets", lines), []

    def _top(self, rest: str) -> tuple[bytes, list[Event]]:
        args = rest.split()
        if len(args) != 2 or _number(args[1]) is None:
            return self._reply(_err("usage: TOP msg n")), []
        number, error = self._message_arg(args[0])
        if number is None:
            return error, []
        content = self._read(number)
        if content is None:
            return self._reply(_err("[SYS/TEMP] message unavailable")), []

        body_lines = _number(args[1]) or 0
        return self._multi("top of message follows",
                           top_lines(content, body_lines)), []

    def _dele(self, rest: str) -> tuple[bytes, list[Event]]:
        number, error = self._message_arg(rest.strip())
        if number is None:
            return error, []

        # RFC 1939 section 5: only a mark; QUIT does the deleting.
        self._drop().mark_deleted(number)
        return self._reply(_ok(f"message {number} deleted")), []

    def _rset(self, _rest: str) -> tuple[bytes, list[Event]]:
        self._drop().reset()
        count, size = self._drop().stat()
        return self._reply(_ok(f"maildrop has {count} messages ({size} octets)")), []

    def _noop(self, _rest: str) -> tuple[bytes, list[Event]]:
        return self._reply(_ok()), []

    # -- QUIT and UPDATE -------------------------------------------------

    def _quit(self, _rest: str) -> tuple[bytes, list[Event]]:
        bye = f"{self.settings.hostname} POP3 server signing off"
        if self.state is State.AUTHORIZATION:
            self.connection_lost()
            return self._reply(_ok(bye)), [Close("quit")]

        # RFC 1939 section 6: only QUIT from TRANSACTION enters UPDATE.
        self.state = State.UPDATE
        drop = self._drop()
        count, _ = drop.stat()
        failed = drop.commit()
        self.connection_lost()
        if failed:
            reply = _err(f"[SYS/TEMP] {len(failed)} deleted messages not removed")
        else:
            reply = _ok(f"{bye} ({count} messages left)")
        return self._reply(reply), [Close("quit")]

    def _release(self) -> None:
        if self._mailbox_name is not None:
            self._locks.release(self._mailbox_name)
        self._mailbox_name, self._maildrop = None, None

    # -- output ----------------------------------------------------------

    def _reply(self, line: bytes) -> bytes:
        self._log_out(line)
        return line

    def _multi(self, status: str, lines: list[bytes]) -> bytes:
        head = _ok(status)
        log.debug("%s S: %s (+%d lines)", self.peer,
                  head.decode(errors="replace").rstrip(), len(lines))
        return head + stuff(lines)

    def _log_out(self, line: bytes) -> None:
        log.debug("%s S: %s", self.peer, line.decode(errors="replace").rstrip())
