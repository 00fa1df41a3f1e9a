"""The selected state: one session's view of INBOX (RFC 3501 section 6.4).

The view keeps message sequence numbers stable between the moments where the
server may report changes: EXPUNGE responses are only sent when no FETCH,
STORE or SEARCH is being answered (RFC 3501 section 7.4.1).
"""

from __future__ import annotations

import dataclasses
import logging

from lab.imap import fetch as render
from lab.imap.parser import FetchAttr, ParseError, SequenceSet
from lab.imap.search import Candidate, Predicate
from lab.store import Mailbox, MessageNotFound, StoredMessage

log = logging.getLogger(__name__)

SYSTEM_FLAGS = ("\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft")
_FLAGS = b"(" + " ".join(SYSTEM_FLAGS).encode() + b")"

# Items whose non-PEEK fetch marks the message \Seen (RFC 3501 section 6.4.5).
_SETS_SEEN = frozenset({"RFC822", "RFC822.TEXT"})


class ReadOnly(Exception):
    """STORE / EXPUNGE on a mailbox opened with EXAMINE."""


class SelectedMailbox:
    def __init__(self, mailbox: Mailbox, read_only: bool) -> None:
        self.mailbox = mailbox
        self.read_only = read_only

        # \Recent belongs to the one session that first sees a message
        # (RFC 3501 section 2.3.2): SELECT claims new/ messages, EXAMINE doesn't.
        if read_only:
            self.messages = mailbox.list()
            self.recent = {m.key for m in self.messages if m.recent}
        else:
            self.recent = set(mailbox.claim_recent())
            self.messages = mailbox.list()

    # -- helpers -----------------------------------------------------------

    def flags(self, message: StoredMessage) -> frozenset[str]:
        if message.key in self.recent:
            return message.flags | {"\\Recent"}
        return message.flags

    def _largest_uid(self) -> int:
        return self.messages[-1].uid if self.messages else 0

    def _matching(self, seqs: SequenceSet, by_uid: bool) -> list[int]:
        """0-based indexes of the messages a sequence set names."""
        if by_uid:
            largest = self._largest_uid()
            return [i for i, m in enumerate(self.messages)
                    if seqs.contains(m.uid, largest)]
        count = len(self.messages)
        picked = [i for i in range(count) if seqs.contains(i + 1, count)]
        # A message sequence number beyond EXISTS is an error (section 9,
        # seq-number); a UID set may name UIDs that don't exist.
        for lo, hi in seqs.ranges:
            for n in (lo, hi):
                if n is not None and n > count:
                    raise ParseError("no such message")
        return picked

    # -- SELECT / EXAMINE --------------------------------------------------

    def select_responses(self) -> bytes:
        out = [b"* FLAGS " + _FLAGS,
               b"* %d EXISTS" % len(self.messages),
               b"* %d RECENT" % len(self.recent)]
        unseen = next((i + 1 for i, m in enumerate(self.messages)
                       if "\\Seen" not in m.flags), None)
        if unseen is not None:
            out.append(b"* OK [UNSEEN %d] First unseen message" % unseen)
        out.append(b"* OK [UIDVALIDITY %d] UIDs valid" % self.mailbox.uidvalidity)
        out.append(b"* OK [UIDNEXT %d] Predicted next UID"
                   % self.mailbox.uid_next())
        permanent = b"()" if self.read_only else _FLAGS
        out.append(b"* OK [PERMANENTFLAGS " + permanent + b"] Permanent flags")
        return b"\r\n".join(out) + b"\r\n"

    # -- updates from other sessions and deliveries ------------------------

    def refresh(self, allow_expunge: bool) -> bytes:
        current = {m.key: m for m in self.mailbox.list()}
        out = bytearray()

        if allow_expunge:
            for i in range(len(self.messages) - 1, -1, -1):
                if self.messages[i].key not in current:
                    out += b"* %d EXPUNGE\r\n" % (i + 1)
                    self.recent.discard(self.messages[i].key)
                    del self.messages[i]

        for i, old in enumerate(self.messages):
            new = current.get(old.key)
            if new is not None and new.flags != old.flags:
                self.messages[i] = new
                out += b"* %d FETCH (FLAGS %s)\r\n" % (
                    i + 1, render.flag_list(self.flags(new)))

        known = {m.key for m in self.messages}
        largest = self._largest_uid()
        arrived = [m for m in current.values()
                   if m.key not in known and m.uid > largest]
        if arrived:
            if not self.read_only:
                self.recent |= set(self.mailbox.claim_recent())
            else:
                self.recent |= {m.key for m in arrived if m.recent}
            self.messages.extend(sorted(arrived, key=lambda m: m.uid))
            out += b"* %d EXISTS\r\n* %d RECENT\r\n" % (
                len(self.messages), len(self.recent))
        return bytes(out)

    # -- FETCH ---------------------------------------------------------------

    def fetch(self, seqs: SequenceSet, attrs: tuple[FetchAttr, ...],
              by_uid: bool) -> bytes:
        if by_uid and not any(a.name == "UID" for a in attrs):
            attrs = (FetchAttr("UID"),) + attrs
        out = bytearray()
        for i in self._matching(seqs, by_uid):
            try:
                out += self._fetch_one(i, attrs)
            except MessageNotFound:
                # Deleted by another session; its EXPUNGE comes later.
                log.debug("message %s vanished during FETCH", self.messages[i].key)
        return bytes(out)

    def _fetch_one(self, index: int, attrs: tuple[FetchAttr, ...]) -> bytes:
        message = self.messages[index]
        raw: bytes | None = None
        items: list[bytes] = []
        marks_seen = False
        for attr in attrs:
            if attr.name == "FLAGS":
                continue  # rendered last, after \Seen may have been set
            if attr.name == "UID":
                items.append(b"UID %d" % message.uid)
            elif attr.name == "RFC822.SIZE":
                items.append(b"RFC822.SIZE %d" % message.size)
            elif attr.name == "INTERNALDATE":
                items.append(b"INTERNALDATE " + render.internal_date(
                    message.internal_date))
            else:
                raw = raw if raw is not None else self.mailbox.read(message.key)
                if attr.name == "BODY" and attr.section is not None:
                    items.append(render.body_item(raw, attr))
                    marks_seen |= not attr.peek
                else:
                    items.append(render.simple_item(raw, attr.name))
                    marks_seen |= attr.name in _SETS_SEEN

        want_flags = any(a.name == "FLAGS" for a in attrs)
        if marks_seen and not self.read_only and "\\Seen" not in message.flags:
            message = self._set_flags(index, message.flags | {"\\Seen"})
            want_flags = True  # the change must be reported (section 6.4.5)
        if want_flags:
            items.append(b"FLAGS " + render.flag_list(self.flags(message)))
        return b"* %d FETCH (" % (index + 1) + b" ".join(items) + b")\r\n"

    def _set_flags(self, index: int, flags: frozenset[str]) -> StoredMessage:
        message = self.messages[index]
        flags = frozenset(f for f in flags if f in SYSTEM_FLAGS)
        if flags != message.flags:
            self.mailbox.set_flags(message.key, flags)
            message = dataclasses.replace(message, flags=flags, recent=False)
            self.messages[index] = message
        return message

    # -- STORE ---------------------------------------------------------------

    def store(self, seqs: SequenceSet, action: str, flags: frozenset[str],
              by_uid: bool) -> bytes:
        if self.read_only:
            raise ReadOnly()
        silent = action.endswith(".SILENT")
        mode = action.removesuffix(".SILENT")
        if "\\Recent" in flags:
            raise ParseError("\\Recent can't be stored")
        # TODO: keywords are accepted but not kept; PERMANENTFLAGS has no \*
        flags = frozenset(f for f in flags if f in SYSTEM_FLAGS)

        out = bytearray()
        for i in self._matching(seqs, by_uid):
            old = self.messages[i].flags
            new = {"FLAGS": flags, "+FLAGS": old | flags,
                   "-FLAGS": old - flags}[mode]
            try:
                message = self._set_flags(i, frozenset(new))
            except MessageNotFound:
                continue
            if not silent:
                uid = b"UID %d " % message.uid if by_uid else b""
                out += b"* %d FETCH (%sFLAGS %s)\r\n" % (
                    i + 1, uid, render.flag_list(self.flags(message)))
        return bytes(out)

    # -- SEARCH --------------------------------------------------------------

    def search(self, predicate: Predicate, by_uid: bool) -> bytes:
        count, largest = len(self.messages), self._largest_uid()
        hits = []
        for i, m in enumerate(self.messages):
            candidate = Candidate(
                seq=i + 1, uid=m.uid, flags=self.flags(m), size=m.size,
                internal_date=m.internal_date,
                load=lambda key=m.key: self._read_or_empty(key),
                largest_seq=count, largest_uid=largest,
            )
            if predicate(candidate):
                hits.append(m.uid if by_uid else i + 1)
        return b"* SEARCH" + b"".join(b" %d" % n for n in hits) + b"\r\n"

    def _read_or_empty(self, key: str) -> bytes:
        try:
            return self.mailbox.read(key)
        except MessageNotFound:
            return b""

    # -- EXPUNGE / CLOSE -----------------------------------------------------

    def expunge(self, silent: bool = False) -> bytes:
        if self.read_only:
            raise ReadOnly()
        out = bytearray()
        # Descending order keeps the numbers in each response valid.
        for i in range(len(self.messages) - 1, -1, -1):
            message = self.messages[i]
            if "\\Deleted" not in message.flags:
                continue
            try:
                self.mailbox.delete(message.key)
            except MessageNotFound:
                pass
            del self.messages[i]
            self.recent.discard(message.key)
            if not silent:
                out += b"* %d EXPUNGE\r\n" % (i + 1)
        return bytes(out)

    def copy(self, seqs: SequenceSet, by_uid: bool) -> list[tuple[bytes, float,
                                                                   frozenset[str]]]:
        """The messages COPY names: (bytes, internal date, flags)."""
        picked = []
        for i in self._matching(seqs, by_uid):
            m = self.messages[i]
            try:
                picked.append((self.mailbox.read(m.key), m.internal_date, m.flags))
            except MessageNotFound:
                continue
        return picked
