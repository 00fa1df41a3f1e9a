"""Authenticated-state IMAP commands (RFC 3501 section 6.3): only INBOX exists.

A mixin of ImapSession, kept apart so each module stays small.
"""

from __future__ import annotations

import calendar
import re

from lab.imap.events import Event, State
from lab.imap.parser import (
    Atom,
    Command,
    ParenList,
    ParseError,
    String,
    Token,
    astring,
    atom,
    flag_list,
)
from lab.imap.selected import SelectedMailbox
from lab.store import MailStore

_DATE_TIME = re.compile(
    r"([ 0-9][0-9])-([A-Za-z]{3})-([0-9]{4}) ([0-9]{2}):([0-9]{2}):([0-9]{2}) "
    r"([+-])([0-9]{2})([0-9]{2})")
_MONTHS = "jan feb mar apr may jun jul aug sep oct nov dec".split()


class MailboxCommands:
    """SELECT, EXAMINE, LIST, LSUB, STATUS, APPEND and the refused rest."""

    store: MailStore
    user: str | None
    selected: SelectedMailbox | None
    state: State

    @staticmethod
    def _ok(cmd: Command, text: str) -> bytes:
        return f"{cmd.tag} OK {text}\r\n".encode()

    @staticmethod
    def _no(cmd: Command, text: str) -> bytes:
        return f"{cmd.tag} NO {text}\r\n".encode()

    @staticmethod
    def _nargs(cmd: Command, *counts: int) -> None:
        if len(cmd.args) not in counts:
            raise ParseError(f"{cmd.name} takes {counts[0]} argument(s)")

    @staticmethod
    def _is_inbox(tok: Token) -> bool:
        # INBOX is case-insensitive (RFC 3501 section 5.1).
        return isinstance(tok, (Atom, String)) and astring(tok).upper() == b"INBOX"

    def _open(self, cmd: Command, read_only: bool) -> bytes:
        self._nargs(cmd, 1)
        self.selected = None
        self.state = State.AUTHENTICATED
        if not self._is_inbox(cmd.args[0]):
            return self._no(cmd, "[NONEXISTENT] Only INBOX exists here")

        assert self.user is not None
        box = self.store.mailbox(self.maildrop)
        self.selected = SelectedMailbox(box, read_only)
        self.state = State.SELECTED
        code = "READ-ONLY" if read_only else "READ-WRITE"
        return self.selected.select_responses() + self._ok(
            cmd, f"[{code}] {cmd.name} completed")

    def _cmd_select(self, cmd: Command, events: list[Event]) -> bytes:
        return self._open(cmd, read_only=False)

    def _cmd_examine(self, cmd: Command, events: list[Event]) -> bytes:
        return self._open(cmd, read_only=True)

    def _cmd_create(self, cmd: Command, events: list[Event]) -> bytes:
        # TODO: only INBOX exists; folders would need Maildir++ subfolders
        return self._no(cmd, "[CANNOT] Only INBOX exists in this lab")

    _cmd_delete = _cmd_create
    _cmd_rename = _cmd_create

    def _cmd_subscribe(self, cmd: Command, events: list[Event]) -> bytes:
        self._nargs(cmd, 1)
        if not self._is_inbox(cmd.args[0]):
            return self._no(cmd, "[NONEXISTENT] No such mailbox")
        return self._ok(cmd, f"{cmd.name} completed")

    _cmd_unsubscribe = _cmd_subscribe

    def _cmd_list(self, cmd: Command, events: list[Event]) -> bytes:
        self._nargs(cmd, 2)
        pattern = astring(cmd.args[1]).decode("utf-8", "replace")
        if cmd.name == "LIST" and pattern == "":
            # RFC 3501 6.3.8: an empty pattern asks for the hierarchy delimiter.
            return b'* LIST (\\Noselect) "/" ""\r\n' + self._ok(cmd, "LIST completed")

        # '*' and '%' match anything here: INBOX has no children.
        regex = re.escape(pattern).replace(r"\*", ".*").replace("%", ".*")
        lines = b""
        if re.fullmatch(regex, "INBOX", re.IGNORECASE):
            lines = f'* {cmd.name} (\\HasNoChildren) "/" INBOX\r\n'.encode()
        return lines + self._ok(cmd, f"{cmd.name} completed")

    _cmd_lsub = _cmd_list

    def _cmd_status(self, cmd: Command, events: list[Event]) -> bytes:
        self._nargs(cmd, 2)
        if not self._is_inbox(cmd.args[0]):
            return self._no(cmd, "[NONEXISTENT] No such mailbox")
        items = cmd.args[1].items if isinstance(cmd.args[1], ParenList) else ()
        if not items:
            raise ParseError("STATUS needs a list of items")

        assert self.user is not None
        box = self.store.mailbox(self.maildrop)
        messages = box.list()
        values = {
            "MESSAGES": len(messages),
            "RECENT": sum(1 for m in messages if m.recent),
            "UIDNEXT": box.uid_next(),
            "UIDVALIDITY": box.uidvalidity,
            "UNSEEN": sum(1 for m in messages if "\\Seen" not in m.flags),
        }
        parts = []
        for item in items:
            name = atom(item).upper()
            if name not in values:
                raise ParseError(f"unknown status item {name}")
            parts.append(f"{name} {values[name]}")
        return (f"* STATUS INBOX ({' '.join(parts)})\r\n".encode()
                + self._ok(cmd, "STATUS completed"))

    def _cmd_append(self, cmd: Command, events: list[Event]) -> bytes:
        if len(cmd.args) < 2 or not isinstance(cmd.args[-1], String):
            raise ParseError("APPEND needs a mailbox and a literal")
        if not self._is_inbox(cmd.args[0]):
            return self._no(cmd, "[TRYCREATE] Only INBOX exists here")

        flags: frozenset[str] = frozenset()
        when: float | None = None
        for extra in cmd.args[1:-1]:
            if isinstance(extra, ParenList):
                flags = flag_list(extra) - {"\\Recent"}
            else:
                when = _parse_date_time(astring(extra).decode("ascii", "replace"))

        assert self.user is not None
        self.store.deliver(self.maildrop, cmd.args[-1].value, flags=flags,
                           internal_date=when)
        return self._ok(cmd, "APPEND completed")


def _parse_date_time(text: str) -> float:
    """date-time of RFC 3501 section 9 to a POSIX timestamp."""
    m = _DATE_TIME.fullmatch(text)
    if m is None or m.group(2).lower() not in _MONTHS:
        raise ParseError("bad date-time")
    day, _, year, hh, mm, ss, sign, zh, zm = m.groups()
    month = _MONTHS.index(m.group(2).lower()) + 1
    fields = (int(year), month, int(day), int(hh), int(mm), int(ss), 0, 0, 0)
    offset = (int(zh) * 3600 + int(zm) * 60) * (1 if sign == "+" else -1)
    return calendar.timegm(fields) - offset
