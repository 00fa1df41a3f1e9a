"""The maildrop a POP3 session works on: a numbered snapshot with marks.

RFC 1939 section 4: once authenticated the server locks the maildrop, numbers
its messages from 1, and keeps that numbering for the whole session; DELE
only marks, and the marks become deletions in the UPDATE state (QUIT).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from lab.pop3.messages import normalise_crlf

log = logging.getLogger(__name__)


class StoredMessageLike(Protocol):
    @property
    def key(self) -> str: ...

    @property
    def uid(self) -> int: ...


class MailboxLike(Protocol):
    """What POP3 needs from ``lab.store``'s mailbox."""

    def list(self) -> Sequence[StoredMessageLike]: ...

    def read(self, key: str) -> bytes: ...

    def delete(self, key: str) -> None: ...


class MaildropError(Exception):
    """The store failed under us (a message vanished, a disk error)."""


@dataclass(frozen=True)
class Entry:
    """One message of the snapshot, as POP3 numbers and sizes it."""

    number: int
    key: str
    unique_id: str
    size: int


def unique_id_of(mailbox: MailboxLike, message: StoredMessageLike) -> str:
    """The UIDL of a message (RFC 1939 section 7): stable across sessions.

    ``<uidvalidity>.<uid>`` when the store has a UIDVALIDITY, so that a store
    that renumbers also changes every UIDL; printable and short as required.
    """
    validity = getattr(mailbox, "uidvalidity", None)
    if isinstance(validity, int):
        return f"{validity}.{message.uid}"
    return str(message.uid)


class Maildrop:
    """A session's view of one mailbox, from PASS to QUIT."""

    def __init__(self, mailbox: MailboxLike, *, max_messages: int = 10_000,
                 ) -> None:
        self._mailbox = mailbox
        self._entries: list[Entry] = []
        self._deleted: set[int] = set()

        # RFC 1939 section 5 wants exact octet counts; the stored size may
        # count bare LFs, so measure the CRLF form once, at lock time.
        # TODO: a huge maildrop is read in full at login; fine for a lab.
        try:
            stored = list(mailbox.list())[:max_messages]
            for number, message in enumerate(stored, start=1):
                size = len(normalise_crlf(mailbox.read(message.key)))
                self._entries.append(Entry(
                    number, message.key, unique_id_of(mailbox, message), size))
        except (OSError, KeyError, ValueError) as exc:
            raise MaildropError(str(exc)) from exc

    def live(self) -> list[Entry]:
        """The messages not marked deleted, in number order."""
        return [e for e in self._entries if e.number not in self._deleted]

    def stat(self) -> tuple[int, int]:
        live = self.live()
        return len(live), sum(e.size for e in live)

    def get(self, number: int) -> Entry | None:
        """The entry numbered ``number``, or None if missing or deleted."""
        if not 1 <= number <= len(self._entries) or number in self._deleted:
            return None
        return self._entries[number - 1]

    def exists(self, number: int) -> bool:
        return 1 <= number <= len(self._entries)

    def content(self, number: int) -> bytes:
        entry = self.get(number)
        if entry is None:
            raise MaildropError(f"no message {number}")
        try:
            return self._mailbox.read(entry.key)
        except (OSError, KeyError, ValueError) as exc:
            raise MaildropError(str(exc)) from exc

    def mark_deleted(self, number: int) -> None:
        self._deleted.add(number)

    def is_deleted(self, number: int) -> bool:
        return number in self._deleted

    def reset(self) -> None:
        self._deleted.clear()

    def commit(self) -> list[str]:
        """Apply the marks (UPDATE state); return the keys that failed."""
        failed: list[str] = []
        for number in sorted(self._deleted):
            key = self._entries[number - 1].key
            try:
                self._mailbox.delete(key)
            except (OSError, KeyError, ValueError) as exc:
                log.warning("could not delete %s: %s", key, exc)
                failed.append(key)
        self._deleted.clear()
        return failed


class MaildropLocks:
    """Which maildrops are in use, shared by every session of a server.

    RFC 1939 section 8 (PASS): a second session on a locked maildrop fails,
    here with the RFC 2449 section 8.1.2 ``[IN-USE]`` response code.
    """

    def __init__(self) -> None:
        self._held: set[str] = set()
        self._guard = threading.Lock()

    def acquire(self, name: str) -> bool:
        with self._guard:
            if name in self._held:
                return False
            self._held.add(name)
            return True

    def release(self, name: str) -> None:
        with self._guard:
            self._held.discard(name)

    def held(self) -> frozenset[str]:
        with self._guard:
            return frozenset(self._held)
