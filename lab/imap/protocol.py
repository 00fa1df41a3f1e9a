"""Sans-IO IMAP4rev1 server session (RFC 3501).

Feed client bytes to `receive_data`; it returns the bytes to send and the
events the I/O shell must act on (upgrade to TLS, close). The session never
touches a socket, so it can be driven by byte transcripts in tests.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from lab.imap.auth import Credentials, SaslError, decode_plain
from lab.imap.events import Close, Event, Result, StartTLS, State
from lab.imap.framing import (
    CommandFrame,
    ContinueFrame,
    ErrorFrame,
    Framer,
    Limits,
)
from lab.imap.mailboxes import MailboxCommands
from lab.imap.parser import (
    Command,
    ParseError,
    astring,
    atom,
    fetch_attrs,
    flag_list,
    parse_command,
    sequence_set,
    tag_of,
)
from lab.imap.search import UnsupportedCharset, parse_search
from lab.imap.selected import ReadOnly, SelectedMailbox
from lab.store import MailStore

log = logging.getLogger(__name__)

MAX_AUTH_FAILURES = 3
MAX_BAD_COMMANDS = 50


@dataclass(frozen=True)
class SessionConfig:
    hostname: str
    tls_available: bool = False
    login_disabled_before_tls: bool = True
    #: The imap.login-disabled fault: LOGINDISABLED even under TLS, as a
    #: server whose authentication back end is switched off.
    login_disabled_always: bool = False
    limits: Limits = field(default_factory=Limits)


class _Fatal(Exception):
    """Raised inside a handler: send `* BYE text` and close."""


_NOT_AUTH = {"STARTTLS", "LOGIN", "AUTHENTICATE"}
_AUTH = {"SELECT", "EXAMINE", "CREATE", "DELETE", "RENAME", "SUBSCRIBE",
         "UNSUBSCRIBE", "LIST", "LSUB", "STATUS", "APPEND"}
_SELECTED = {"CHECK", "CLOSE", "UNSELECT", "EXPUNGE", "SEARCH", "FETCH", "STORE",
             "COPY", "UID FETCH", "UID SEARCH", "UID STORE", "UID COPY"}
_ANY = {"CAPABILITY", "NOOP", "LOGOUT"}
# Commands during which an EXPUNGE response must not be sent (RFC 3501 7.4.1).
_NO_EXPUNGE_DURING = {"FETCH", "STORE", "SEARCH", "COPY"}
_MASK = re.compile(rb"^(\S+ (?:LOGIN \S+|AUTHENTICATE PLAIN)) .*", re.I | re.S)


def _masked(raw: bytes) -> bytes:
    return _MASK.sub(rb"\1 ****", raw[:300]).rstrip(b"\r\n")


class ImapSession(MailboxCommands):
    """One client connection's IMAP state machine."""

    def __init__(self, store: MailStore, users: Mapping[str, str],
                 config: SessionConfig, *, tls_active: bool = False,
                 peer: str = "-") -> None:
        self.store = store
        self.credentials = Credentials(users)
        self.config = config
        self.tls_active = tls_active
        self.peer = peer
        self.state = State.NOT_AUTHENTICATED
        self.user: str | None = None
        self.selected: SelectedMailbox | None = None
        self._framer = Framer(config.limits)
        self._pending_auth: str | None = None  # tag of AUTHENTICATE awaiting "+"
        self._upgrading = False
        self._auth_failures = 0
        self._bad_commands = 0

    @property
    def maildrop(self) -> str:
        """The store's mailbox for the logged-in user: the address's local
        part, as SMTP delivery and POP3 name it."""
        assert self.user is not None
        return self.user.split("@", 1)[0]

    # -- public API ------------------------------------------------------------

    def capabilities(self) -> str:
        # TODO: IDLE (RFC 2177) is not offered; clients notice new mail by NOOP
        caps = ["IMAP4rev1", "LITERAL+", "SASL-IR", "UNSELECT"]
        if self.state is State.NOT_AUTHENTICATED:
            if self.config.tls_available and not self.tls_active:
                caps.append("STARTTLS")
            if self._login_disabled():
                caps.append("LOGINDISABLED")
            else:
                caps.append("AUTH=PLAIN")
        return " ".join(caps)

    def greeting(self) -> Result:
        return self._send(
            f"* OK [CAPABILITY {self.capabilities()}] "
            f"{self.config.hostname} IMAP4rev1 ready\r\n".encode())

    def tls_started(self) -> None:
        """The shell finished the TLS handshake that StartTLS asked for."""
        self.tls_active = True
        self._upgrading = False
        log.info("TLS active for %s", self.peer)

    def timeout(self) -> Result:
        """The client was idle too long (autologout, RFC 3501 section 5.4)."""
        self.state = State.LOGOUT
        return Result(self._log_out(b"* BYE Autologout; idle for too long\r\n"),
                      (Close("idle timeout"),))

    def receive_data(self, data: bytes) -> Result:
        if self.state is State.LOGOUT or self._upgrading:
            # After STARTTLS, plaintext that arrived with the command must be
            # dropped, never read as if it came over TLS (RFC 3501 6.2.1).
            return Result()

        self._framer.feed(data)
        out = bytearray()
        events: list[Event] = []
        while not events:
            try:
                if not self._step(out, events):
                    break
            except _Fatal as exc:
                out += b"* BYE %s\r\n" % str(exc).encode()
                self.state = State.LOGOUT
                events.append(Close(str(exc)))
        return Result(self._log_out(bytes(out)), tuple(events))

    # -- framing -----------------------------------------------------------

    def _step(self, out: bytearray, events: list[Event]) -> bool:
        """Handle one frame; False when more input is needed."""
        if self._pending_auth is not None:
            line = self._framer.pull_line()
            if line is None:
                return False
            if isinstance(line, ErrorFrame):
                raise _Fatal(line.text)
            log.debug("C %s: <sasl response ****>", self.peer)
            out += self._finish_plain(self._pending_auth, line)
            self._pending_auth = None
            return True

        frame = self._framer.pull()
        if frame is None:
            return False
        if isinstance(frame, ContinueFrame):
            out += b"+ Ready for literal data\r\n"
            return True
        if isinstance(frame, ErrorFrame):
            if frame.fatal:
                raise _Fatal(frame.text)
            out += self._bad(frame.tag, frame.text)
            return True

        assert isinstance(frame, CommandFrame)
        if self._framer.commands > self.config.limits.max_commands:
            raise _Fatal("Too many commands in one session")
        log.debug("C %s: %r", self.peer, _masked(frame.raw))
        out += self._dispatch(frame.raw, events)
        return True

    def _bad(self, tag: str, text: str) -> bytes:
        self._bad_commands += 1
        if self._bad_commands > MAX_BAD_COMMANDS:
            raise _Fatal("Too many bad commands")
        return f"{tag} BAD {text}\r\n".encode()

    def _send(self, data: bytes) -> Result:
        return Result(self._log_out(data))

    def _log_out(self, data: bytes) -> bytes:
        if data and log.isEnabledFor(logging.DEBUG):
            for line in data.split(b"\r\n")[:20]:
                if line:
                    log.debug("S %s: %r", self.peer, line[:200])
        return data

    # -- dispatch ------------------------------------------------------------

    def _dispatch(self, raw: bytes, events: list[Event]) -> bytes:
        try:
            cmd = parse_command(raw)
        except ParseError as exc:
            return self._bad(tag_of(raw), f"Syntax error: {exc}")

        if not self._allowed(cmd.name):
            known = cmd.name in _ANY | _NOT_AUTH | _AUTH | _SELECTED
            text = "Command not valid in this state" if known else "Unknown command"
            return self._bad(cmd.tag, text)

        handler = getattr(self, "_cmd_" + cmd.name.replace(" ", "_").lower())
        try:
            reply: bytes = handler(cmd, events)
        except UnsupportedCharset:
            return b"%s NO [BADCHARSET (US-ASCII UTF-8)] Unsupported charset\r\n" % (
                cmd.tag.encode())
        except ParseError as exc:
            return self._bad(cmd.tag, f"Invalid arguments: {exc}")
        except ReadOnly:
            return b"%s NO [READ-ONLY] Mailbox is read-only\r\n" % cmd.tag.encode()
        except (IndexError, ValueError) as exc:
            return self._bad(cmd.tag, f"Invalid arguments: {exc}")
        except _Fatal:
            raise
        except Exception:
            # One broken message or disk hiccup must not kill the session.
            log.exception("%s: %s failed", self.peer, cmd.name)
            return self._no(cmd, "[SERVERBUG] Internal error")

        if self.selected is not None and self.state is State.SELECTED:
            base = cmd.name.removeprefix("UID ")
            updates = self.selected.refresh(
                allow_expunge=base not in _NO_EXPUNGE_DURING)
            if updates:
                # Untagged updates go just before the tagged completion line,
                # which is always the last line of the reply.
                last = reply[:-2].rfind(b"\r\n")
                cut = last + 2 if last >= 0 else 0
                reply = reply[:cut] + updates + reply[cut:]
        return reply

    def _allowed(self, name: str) -> bool:
        if name in _ANY:
            return True
        if name in _NOT_AUTH:
            return self.state is State.NOT_AUTHENTICATED
        if name in _AUTH:
            return self.state in (State.AUTHENTICATED, State.SELECTED)
        if name in _SELECTED:
            return self.state is State.SELECTED
        return False

    # -- any state -------------------------------------------------------------

    def _cmd_capability(self, cmd: Command, events: list[Event]) -> bytes:
        self._nargs(cmd, 0)
        return (f"* CAPABILITY {self.capabilities()}\r\n".encode()
                + self._ok(cmd, "CAPABILITY completed"))

    def _cmd_noop(self, cmd: Command, events: list[Event]) -> bytes:
        return self._ok(cmd, "NOOP completed")

    def _cmd_logout(self, cmd: Command, events: list[Event]) -> bytes:
        self.state = State.LOGOUT
        self.selected = None
        events.append(Close("logout"))
        return (f"* BYE {self.config.hostname} logging out\r\n".encode()
                + self._ok(cmd, "LOGOUT completed"))

    # -- not authenticated -------------------------------------------------------

    def _login_disabled(self) -> bool:
        if self.config.login_disabled_always:
            return True
        return self.config.login_disabled_before_tls and not self.tls_active

    def _cmd_starttls(self, cmd: Command, events: list[Event]) -> bytes:
        self._nargs(cmd, 0)
        if self.tls_active or not self.config.tls_available:
            return f"{cmd.tag} BAD STARTTLS not available\r\n".encode()

        self._framer.discard()
        self._upgrading = True
        events.append(StartTLS())
        return self._ok(cmd, "Begin TLS negotiation now")

    def _logged_in(self, cmd: Command, user: str, how: str) -> bytes:
        self.state = State.AUTHENTICATED
        self.user = user
        log.info("%s logged in as %s via %s", self.peer, user, how)
        return self._ok(cmd, f"[CAPABILITY {self.capabilities()}] Logged in")

    def _auth_failed(self, cmd: Command, login: str) -> bytes:
        self._auth_failures += 1
        log.info("%s failed to log in as %r", self.peer, login[:64])
        if self._auth_failures >= MAX_AUTH_FAILURES:
            raise _Fatal("Too many authentication failures")
        return self._no(cmd, "[AUTHENTICATIONFAILED] Authentication failed")

    def _cmd_login(self, cmd: Command, events: list[Event]) -> bytes:
        self._nargs(cmd, 2)
        if self._login_disabled():
            # RFC 3501 6.2.3 and the PRIVACYREQUIRED code of RFC 5530.
            return self._no(cmd, "[PRIVACYREQUIRED] LOGIN is disabled before "
                                 "STARTTLS")
        login = astring(cmd.args[0]).decode("utf-8", "replace")
        password = astring(cmd.args[1]).decode("utf-8", "replace")
        user = self.credentials.check(login, password)
        if user is None:
            return self._auth_failed(cmd, login)
        return self._logged_in(cmd, user, "LOGIN")

    def _cmd_authenticate(self, cmd: Command, events: list[Event]) -> bytes:
        self._nargs(cmd, 1, 2)
        if atom(cmd.args[0]).upper() != "PLAIN":
            return self._no(cmd, "Unsupported authentication mechanism")
        if self._login_disabled():
            return self._no(cmd, "[PRIVACYREQUIRED] Use STARTTLS first")
        if len(cmd.args) == 2:
            # SASL-IR (RFC 4959): "=" stands for an empty initial response.
            initial = astring(cmd.args[1])
            return self._finish_plain(cmd.tag, b"" if initial == b"=" else initial)

        self._pending_auth = cmd.tag
        return b"+ \r\n"

    def _finish_plain(self, tag: str, response: bytes) -> bytes:
        cmd = Command(tag, "AUTHENTICATE", ())
        if response.strip() == b"*":
            return f"{tag} BAD Authentication cancelled\r\n".encode()
        try:
            authzid, authcid, password = decode_plain(response.strip())
        except SaslError as exc:
            return f"{tag} BAD {exc}\r\n".encode()
        user = self.credentials.check(authcid, password)
        if user is None or (authzid and self.credentials.resolve(authzid) != user):
            return self._auth_failed(cmd, authcid)
        return self._logged_in(cmd, user, "AUTHENTICATE PLAIN")

    # -- selected ------------------------------------------------------------------

    def _cmd_check(self, cmd: Command, events: list[Event]) -> bytes:
        return self._ok(cmd, "CHECK completed")

    def _close_selected(self, expunge: bool) -> None:
        if expunge and self.selected is not None and not self.selected.read_only:
            self.selected.expunge(silent=True)  # CLOSE is silent (RFC 3501 6.4.2)
        self.selected = None
        self.state = State.AUTHENTICATED

    def _cmd_close(self, cmd: Command, events: list[Event]) -> bytes:
        self._close_selected(expunge=True)
        return self._ok(cmd, "CLOSE completed")

    def _cmd_unselect(self, cmd: Command, events: list[Event]) -> bytes:
        self._close_selected(expunge=False)
        return self._ok(cmd, "UNSELECT completed")

    def _cmd_expunge(self, cmd: Command, events: list[Event]) -> bytes:
        assert self.selected is not None
        return self.selected.expunge() + self._ok(cmd, "EXPUNGE completed")

    def _search(self, cmd: Command, by_uid: bool) -> bytes:
        assert self.selected is not None
        predicate = parse_search(cmd.args)
        return self.selected.search(predicate, by_uid) + self._ok(
            cmd, f"{cmd.name} completed")

    def _fetch(self, cmd: Command, by_uid: bool) -> bytes:
        self._nargs(cmd, 2)
        assert self.selected is not None
        seqs, attrs = sequence_set(cmd.args[0]), fetch_attrs(cmd.args[1])
        return self.selected.fetch(seqs, attrs, by_uid) + self._ok(
            cmd, f"{cmd.name} completed")

    def _store(self, cmd: Command, by_uid: bool) -> bytes:
        self._nargs(cmd, 3)
        assert self.selected is not None
        action = atom(cmd.args[1]).upper()
        if action.removesuffix(".SILENT") not in ("FLAGS", "+FLAGS", "-FLAGS"):
            raise ParseError(f"bad STORE action {action}")
        seqs, flags = sequence_set(cmd.args[0]), flag_list(cmd.args[2])
        return self.selected.store(seqs, action, flags, by_uid) + self._ok(
            cmd, f"{cmd.name} completed")

    def _copy(self, cmd: Command, by_uid: bool) -> bytes:
        self._nargs(cmd, 2)
        assert self.selected is not None and self.user is not None
        if not self._is_inbox(cmd.args[1]):
            return self._no(cmd, "[TRYCREATE] Only INBOX exists here")
        for data, when, flags in self.selected.copy(sequence_set(cmd.args[0]),
                                                    by_uid):
            self.store.deliver(self.maildrop, data, flags=flags, internal_date=when)
        return self._ok(cmd, f"{cmd.name} completed")

    def _cmd_search(self, cmd: Command, events: list[Event]) -> bytes:
        return self._search(cmd, by_uid=False)

    def _cmd_uid_search(self, cmd: Command, events: list[Event]) -> bytes:
        return self._search(cmd, by_uid=True)

    def _cmd_fetch(self, cmd: Command, events: list[Event]) -> bytes:
        return self._fetch(cmd, by_uid=False)

    def _cmd_uid_fetch(self, cmd: Command, events: list[Event]) -> bytes:
        return self._fetch(cmd, by_uid=True)

    def _cmd_store(self, cmd: Command, events: list[Event]) -> bytes:
        return self._store(cmd, by_uid=False)

    def _cmd_uid_store(self, cmd: Command, events: list[Event]) -> bytes:
        return self._store(cmd, by_uid=True)

    def _cmd_copy(self, cmd: Command, events: list[Event]) -> bytes:
        return self._copy(cmd, by_uid=False)

    def _cmd_uid_copy(self, cmd: Command, events: list[Event]) -> bytes:
        return self._copy(cmd, by_uid=True)

