"""The durable outbound queue: one message file and one metadata file per entry.

Layout under the queue directory::

    msg/<id>.eml    the message as received, written once
    meta/<id>.json  the entry (``QueueEntry.to_json``), rewritten on change
    tmp/            files being written; never read
    suspended.json  next hops an operator has suspended

Every file is written in tmp/, fsynced, renamed into place and its directory
fsynced, like the Maildir store: a crash leaves the old file or the new one.
The metadata file is the commit point: ``enqueue`` returns after it is on
disk, and a message file without one is a half-finished enqueue that
reopening removes. Entries left ``active`` by a dead process become
``ready`` again, so nothing waits forever (at-least-once delivery).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import json
import logging
import os
import secrets
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import IO

from .entry import HopSummary, QueueEntry, Recipient, summarise
from .errors import (
    CorruptEntry,
    EntryNotFound,
    MessageTooLarge,
    QueueFull,
    RelayError,
    TooManyRecipients,
)

log = logging.getLogger(__name__)

MAX_ENTRIES = 10_000
MAX_MESSAGE = 10 * 1024 * 1024
MAX_RECIPIENTS = 100


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def next_hop_of(address: str) -> str:
    """The next hop of a recipient: its domain, lower case (RFC 5321 s. 5.1)."""
    return address.rpartition("@")[2].lower().rstrip(".")


class OutboundQueue:
    """Entries on disk plus an in-memory index; one process owns a directory."""

    def __init__(self, directory: Path | str, *, max_entries: int = MAX_ENTRIES,
                 max_message: int = MAX_MESSAGE,
                 max_recipients: int = MAX_RECIPIENTS) -> None:
        self.directory = Path(directory)
        self.max_entries = max_entries
        self.max_message = max_message
        self.max_recipients = max_recipients
        self._guard = threading.Lock()
        self._entries: dict[str, QueueEntry] = {}
        self._suspended: set[str] = set()
        for sub in ("msg", "meta", "tmp"):
            (self.directory / sub).mkdir(parents=True, exist_ok=True)
        self._lock_file = self._take_lock()
        self._recover()

    # -- opening -----------------------------------------------------------

    def _take_lock(self) -> IO[bytes]:
        # Held open for the queue's life: the flock is the ownership.
        handle = open(self.directory / ".lock", "a+b")  # noqa: SIM115
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise RelayError(f"queue {self.directory} is open in another process")
        return handle

    def _recover(self) -> None:
        for stale in (self.directory / "tmp").iterdir():
            stale.unlink(missing_ok=True)

        suspended = self.directory / "suspended.json"
        if suspended.exists():
            self._suspended = set(json.loads(suspended.read_text()))

        for meta in sorted((self.directory / "meta").glob("*.json")):
            try:
                entry = QueueEntry.from_json(json.loads(meta.read_text()))
            except (ValueError, CorruptEntry) as exc:
                log.warning("queue: skipping unreadable %s: %s", meta.name, exc)
                continue
            if not self._message_path(entry.id).exists():
                log.warning("queue: entry %s has lost its message", entry.id)
                continue
            if entry.state == "active":
                # The attempt died with its process; its outcome is unknown.
                entry = entry.with_state("ready")
                self._write_meta(entry)
            self._entries[entry.id] = entry

        for message in (self.directory / "msg").glob("*.eml"):
            if message.stem not in self._entries:
                message.unlink(missing_ok=True)
                log.info("queue: removed half-enqueued message %s", message.stem)
        log.info("queue %s opened with %d entries", self.directory,
                 len(self._entries))

    def close(self) -> None:
        with contextlib.suppress(OSError):
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)
        self._lock_file.close()

    # -- files -------------------------------------------------------------

    def _message_path(self, entry_id: str) -> Path:
        return self.directory / "msg" / f"{entry_id}.eml"

    def _meta_path(self, entry_id: str) -> Path:
        return self.directory / "meta" / f"{entry_id}.json"

    def _write_file(self, target: Path, data: bytes) -> None:
        tmp = self.directory / "tmp" / f"{target.name}.{secrets.token_hex(4)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, target)
        _fsync_dir(target.parent)

    def _write_meta(self, entry: QueueEntry) -> None:
        data = json.dumps(entry.to_json(), sort_keys=True).encode()
        self._write_file(self._meta_path(entry.id), data)

    def _write_suspended(self) -> None:
        data = json.dumps(sorted(self._suspended)).encode()
        self._write_file(self.directory / "suspended.json", data)

    # -- adding and removing -----------------------------------------------

    def enqueue(self, mail_from: str, rcpt_to: Iterable[str], content: bytes,
                now: float) -> tuple[str, ...]:
        """Queue ``content`` durably, one entry per next hop; return the ids.

        Returns only once every entry is on disk, so the caller may answer
        250 (RFC 5321 section 6.1: accepting a message takes responsibility).
        """
        rcpts = list(dict.fromkeys(rcpt_to))
        if not rcpts:
            raise TooManyRecipients("a message needs at least one recipient")
        if len(rcpts) > self.max_recipients:
            raise TooManyRecipients(f"more than {self.max_recipients} recipients")
        if len(content) > self.max_message:
            raise MessageTooLarge(f"message of {len(content)} bytes is above "
                                  f"{self.max_message}")

        hops: dict[str, list[str]] = {}
        for rcpt in rcpts:
            hops.setdefault(next_hop_of(rcpt), []).append(rcpt)
        with self._guard:
            if len(self._entries) + len(hops) > self.max_entries:
                raise QueueFull(f"the queue holds {len(self._entries)} entries")

        ids = []
        for hop, addresses in hops.items():
            entry_id = f"{int(now * 1000):011x}{secrets.token_hex(5)}"
            state = "suspended" if hop in self._suspended else "ready"
            entry = QueueEntry(
                id=entry_id, mail_from=mail_from,
                rcpt_to=tuple(Recipient(a) for a in addresses), next_hop=hop,
                state=state, first_seen=now, next_attempt=now, size=len(content))
            self._write_file(self._message_path(entry_id), content)
            self._write_meta(entry)
            with self._guard:
                self._entries[entry_id] = entry
            ids.append(entry_id)
            log.info("queued %s from <%s> for %s (%d bytes)", entry_id, mail_from,
                     ", ".join(addresses), len(content))
        return tuple(ids)

    async def enqueue_async(self, mail_from: str, rcpt_to: Iterable[str],
                            content: bytes, now: float) -> tuple[str, ...]:
        """``enqueue`` in a worker thread, so the event loop keeps serving."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, functools.partial(
            self.enqueue, mail_from, list(rcpt_to), content, now))

    def save(self, entry: QueueEntry) -> None:
        """Persist a changed entry (the same id)."""
        with self._guard:
            if entry.id not in self._entries:
                raise EntryNotFound(entry.id)
        self._write_meta(entry)
        with self._guard:
            self._entries[entry.id] = entry

    def remove(self, entry_id: str) -> None:
        """Forget a finished entry: metadata first, so no half entry remains."""
        with self._guard:
            if self._entries.pop(entry_id, None) is None:
                raise EntryNotFound(entry_id)
        self._meta_path(entry_id).unlink(missing_ok=True)
        _fsync_dir(self.directory / "meta")
        self._message_path(entry_id).unlink(missing_ok=True)

    # -- reading -----------------------------------------------------------

    def get(self, entry_id: str) -> QueueEntry:
        with self._guard:
            try:
                return self._entries[entry_id]
            except KeyError:
                raise EntryNotFound(entry_id) from None

    def content(self, entry_id: str) -> bytes:
        try:
            return self._message_path(entry_id).read_bytes()
        except FileNotFoundError:
            raise EntryNotFound(entry_id) from None

    def entries(self) -> list[QueueEntry]:
        with self._guard:
            return sorted(self._entries.values(), key=lambda e: e.id)

    def due(self, now: float) -> list[QueueEntry]:
        return [e for e in self.entries() if e.due(now)]

    def summary(self) -> list[HopSummary]:
        return summarise(self.entries())

    def __len__(self) -> int:
        return len(self._entries)

    # -- operator actions per next hop -------------------------------------

    def _change_hop(self, next_hop: str, states: set[str], new_state: str,
                    **changes: object) -> int:
        hop = next_hop.lower().rstrip(".")
        changed = 0
        for entry in self.entries():
            if entry.next_hop == hop and entry.state in states:
                self.save(entry.with_state(new_state, **changes))  # type: ignore
                changed += 1
        return changed

    def retry(self, next_hop: str, now: float) -> int:
        """Try the hop's waiting entries now (Exchange: Retry Queue)."""
        count = self._change_hop(next_hop, {"retry"}, "retry", next_attempt=now)
        log.info("queue: retry %s now (%d entries)", next_hop, count)
        return count

    def suspend(self, next_hop: str) -> int:
        """Hold the hop's entries, and new ones for it, until ``resume``."""
        self._suspended.add(next_hop.lower().rstrip("."))
        self._write_suspended()
        # An active entry finishes its attempt; the agent then suspends it.
        count = self._change_hop(next_hop, {"ready", "retry"}, "suspended")
        log.info("queue: suspended %s (%d entries)", next_hop, count)
        return count

    def resume(self, next_hop: str) -> int:
        hop = next_hop.lower().rstrip(".")
        self._suspended.discard(hop)
        self._write_suspended()
        count = 0
        for entry in self.entries():
            if entry.next_hop == hop and entry.state == "suspended":
                state = "ready" if entry.attempts == 0 else "retry"
                self.save(entry.with_state(state))
                count += 1
        log.info("queue: resumed %s (%d entries)", next_hop, count)
        return count

    def is_suspended(self, next_hop: str) -> bool:
        return next_hop.lower().rstrip(".") in self._suspended


def snapshot(directory: Path | str) -> list[HopSummary]:
    """The queue viewer's lines, read without taking the queue (another
    process, the running lab, owns it); an entry being rewritten is skipped."""
    entries = []
    for meta in sorted(Path(directory, "meta").glob("*.json")):
        try:
            entries.append(QueueEntry.from_json(json.loads(meta.read_text())))
        except (OSError, ValueError, CorruptEntry):
            continue
    return summarise(entries)
