"""A durable Maildir mail store: root/<user>/{tmp,new,cur}.

Delivery follows the Maildir convention: write the whole message into tmp/,
fsync it, rename it into new/ and fsync new/ before reporting success, so a
crash leaves either no message or the whole message. Readers never look in
tmp/. UIDs (RFC 3501 section 2.3.1.1) persist in a small list file per mailbox.

Concurrent deliveries share their directory fsyncs (group commit): each
delivery fsyncs its own file and renames it, then waits until a directory
fsync that began after its rename has finished. One waiter runs that fsync
for everyone who renamed before it began; the others sleep meanwhile. UIDs
are not touched on delivery: a reader's listing gives them to newcomers, in
arrival order, and persists them before anyone sees them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import fcntl
import functools
import logging
import os
import pathlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

from lab.store import uidlist as uidlist_file
from lab.store.names import (
    INFO_PREFIX,
    UniqueNames,
    UnsafeUserName,
    flags_to_info,
    info_to_flags,
    key_of,
    normalise_user,
)
from lab.store.uidlist import fsync_dir

log = logging.getLogger(__name__)

SUBDIRS = ("tmp", "new", "cur")
_LOCK_NAME = ".maillab-lock"

# tmp/ files older than this moment were left by an earlier process that died
# mid-delivery; nothing of ours can be that old.
_PROCESS_START = time.time()

# Worker threads for deliver_async, apart from the loop's default executor so
# that other blocking work (the relay queue) cannot starve deliveries. Each
# thread holds one delivery through its file fsync, so more threads let more
# file fsyncs overlap (the file system commits them together) and let larger
# groups share one directory fsync.
_DELIVERY_THREADS = 16
_executor: concurrent.futures.ThreadPoolExecutor | None = None
_executor_guard = threading.Lock()


def _delivery_executor() -> concurrent.futures.ThreadPoolExecutor:
    global _executor
    with _executor_guard:
        if _executor is None:
            _executor = concurrent.futures.ThreadPoolExecutor(
                _DELIVERY_THREADS, thread_name_prefix="maildir-deliver")
        return _executor


class DirectorySync:
    """Group commit of one directory's fsyncs for renames done by many threads.

    `sync()` returns only after an fsync of the directory that started after
    the call did, so a rename made before the call is durable on return.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._cond = threading.Condition(threading.Lock())
        self._issued = 0  # tickets handed out; a ticket is taken after a rename
        self._durable = 0  # every ticket up to this one is covered by an fsync
        self._running = False
        self._failed: tuple[int, OSError] | None = None

    def sync(self) -> None:
        with self._cond:
            self._issued += 1
            ticket = self._issued
            while self._durable < ticket:
                failed = self._failed
                if failed is not None and failed[0] >= ticket:
                    # The fsync that covered this rename failed: its caller
                    # must not be told that the message is safe.
                    raise failed[1]
                if self._running:
                    self._cond.wait()
                    continue
                self._lead()

    def _lead(self) -> None:
        # Called with the lock held; every ticket issued so far belongs to a
        # rename that is already done, so this one fsync covers them all.
        covered = self._issued
        self._running = True
        self._cond.release()
        error: OSError | None = None
        synced = False
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            synced = True
        except OSError as exc:
            error = exc
        finally:
            # Also on KeyboardInterrupt: a waiter then leads the next fsync.
            self._cond.acquire()
            self._running = False
            if synced:
                self._durable = max(self._durable, covered)
            elif error is not None:
                self._failed = (covered, error)
            self._cond.notify_all()

        if error is not None:
            raise error


@dataclass(frozen=True)
class StoredMessage:
    key: str
    uid: int
    size: int
    flags: frozenset[str]
    internal_date: float
    recent: bool = False  # still in new/: no IMAP session has claimed it yet


class MessageNotFound(KeyError):
    """The key names no message in this mailbox (maybe deleted meanwhile)."""


def _size_from_name(name: str) -> int | None:
    # Maildir ",S=<size>" extension: saves a stat() per message when listing.
    for part in key_of(name).split(",")[1:]:
        if part.startswith("S=") and part[2:].isdigit():
            return int(part[2:])
    return None


class Mailbox:
    """One user's Maildir. Safe to use from several threads of one process."""

    def __init__(self, path: pathlib.Path, lock: threading.RLock) -> None:
        self.path = path
        self._lock = lock
        self._uids = uidlist_file.load(path)
        self.uidvalidity: int = self._uids.uidvalidity
        self._where: dict[str, tuple[str, str]] = {}

    # -- locking -----------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        # The thread lock orders threads of this process; flock orders other
        # processes that open the same Maildir (e.g. a second lab tool).
        with self._lock:
            with open(self.path / _LOCK_NAME, "a+b") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(handle, fcntl.LOCK_UN)

    # -- scanning ----------------------------------------------------------

    def _scan(self) -> dict[str, tuple[str, str]]:
        """key -> (subdir, file name) for every visible message."""
        found: dict[str, tuple[str, str]] = {}
        self._where = found
        for sub in ("new", "cur"):
            with os.scandir(self.path / sub) as entries:
                for entry in entries:
                    if entry.name.startswith(".") or not entry.is_file():
                        continue
                    found[key_of(entry.name)] = (sub, entry.name)
        return found

    def _sync(self) -> dict[str, tuple[str, str]]:
        """Scan, give UIDs to newcomers, forget vanished keys. Caller locks."""
        found = self._scan()

        self._uids = uidlist_file.load(self.path)
        self.uidvalidity = self._uids.uidvalidity
        changed = False
        for key in [k for k in self._uids.uids if k not in found]:
            del self._uids.uids[key]
            changed = True

        newcomers = [k for k in found if k not in self._uids.uids]
        if newcomers:
            newcomers.sort(key=lambda k: (self._mtime(found[k]), k))
            for key in newcomers:
                self._uids.assign(key)
            changed = True

        if changed:
            uidlist_file.save(self.path, self._uids)
        return found

    def _mtime(self, where: tuple[str, str]) -> float:
        try:
            return (self.path / where[0] / where[1]).stat().st_mtime
        except FileNotFoundError:
            return time.time()

    def _message(self, key: str, where: tuple[str, str]) -> StoredMessage | None:
        sub, name = where
        try:
            st = (self.path / sub / name).stat()
        except FileNotFoundError:
            return None
        size = _size_from_name(name)
        return StoredMessage(
            key=key,
            uid=self._uids.uids[key],
            size=st.st_size if size is None else size,
            flags=info_to_flags(name),
            internal_date=st.st_mtime,
            recent=sub == "new",
        )

    def _locate(self, key: str) -> tuple[str, str]:
        # The last scan usually still holds the file: reading a whole maildrop
        # then costs one directory scan, not one per message.
        cached = self._where.get(key)
        if cached is not None and (self.path / cached[0] / cached[1]).exists():
            return cached
        self._where = self._scan()
        where = self._where.get(key)
        if where is None:
            raise MessageNotFound(key)
        return where

    # -- public API --------------------------------------------------------

    def list(self) -> list[StoredMessage]:
        """Every visible message, in ascending UID order."""
        with self._locked():
            found = self._sync()
            out = [self._message(k, w) for k, w in found.items()]
        messages = [m for m in out if m is not None]
        messages.sort(key=lambda m: m.uid)
        return messages

    def get(self, key: str) -> StoredMessage:
        with self._locked():
            found = self._sync()
            where = found.get(key)
            message = None if where is None else self._message(key, where)
        if message is None:
            raise MessageNotFound(key)
        return message

    def uid_next(self) -> int:
        with self._locked():
            self._sync()
            return self._uids.uidnext

    def read(self, key: str) -> bytes:
        # Another thread may rename the file (flags) between locate and open.
        for _ in range(3):
            sub, name = self._locate(key)
            try:
                return (self.path / sub / name).read_bytes()
            except FileNotFoundError:
                continue
        raise MessageNotFound(key)

    def set_flags(self, key: str, flags: frozenset[str]) -> None:
        """Replace the flags: IMAP names (\\Seen ...) or Maildir letters (S ...)."""
        with self._locked():
            sub, name = self._locate(key)
            target = key + flags_to_info(flags)
            if sub == "cur" and name == target:
                return

            os.rename(self.path / sub / name, self.path / "cur" / target)
            fsync_dir(self.path / "cur")
            if sub != "cur":
                fsync_dir(self.path / sub)

    def claim_recent(self) -> list[str]:
        """Move new/ messages to cur/ (an IMAP SELECT has seen them as \\Recent)."""
        moved: list[str] = []
        with self._locked():
            for key, (sub, name) in self._scan().items():
                if sub != "new":
                    continue
                target = self.path / "cur" / (key + INFO_PREFIX)
                os.rename(self.path / "new" / name, target)
                moved.append(key)
            if moved:
                fsync_dir(self.path / "cur")
                fsync_dir(self.path / "new")
        return moved

    def delete(self, key: str) -> None:
        with self._locked():
            sub, name = self._locate(key)
            os.unlink(self.path / sub / name)
            fsync_dir(self.path / sub)
            self._sync()
        log.info("deleted message %s from %s", key, self.path.name)


class _Target:
    """Where deliveries for one user go: the paths as text, the fsync groups."""

    def __init__(self, name: str, path: str) -> None:
        self.name = name
        self.tmp = os.path.join(path, "tmp", "")
        self.new = os.path.join(path, "new", "")
        self.cur = os.path.join(path, "cur", "")
        self.new_sync = DirectorySync(self.new)
        self.cur_sync = DirectorySync(self.cur)


class MailStore:
    """All mailboxes under one root directory."""

    def __init__(self, root: pathlib.Path) -> None:
        self.root = pathlib.Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._names = UniqueNames()
        self._locks: dict[str, threading.RLock] = {}
        self._guard = threading.Lock()
        self._cleaned: set[str] = set()
        self._targets: dict[str, _Target] = {}
        # Start-up: partial deliveries of a crashed process are removed now.
        for user in self.users():
            self._ensure(user)

    def _user_dir(self, user: str) -> tuple[str, pathlib.Path]:
        name = normalise_user(user)
        path = self.root / name
        # Belt and braces: the name rules already forbid escapes.
        if path.resolve().parent != self.root.resolve():
            raise ValueError(f"user directory escapes the store root: {user!r}")
        return name, path

    def _ensure(self, user: str) -> tuple[str, pathlib.Path]:
        name, path = self._user_dir(user)
        created = False
        for sub in SUBDIRS:
            if not (path / sub).is_dir():
                (path / sub).mkdir(parents=True, exist_ok=True)
                created = True
        if created:
            fsync_dir(path)
            fsync_dir(self.root)
            log.info("created maildir for %s", name)

        with self._guard:
            first = name not in self._cleaned
            self._cleaned.add(name)
        if first:
            self._clean_tmp(path / "tmp")
        return name, path

    def _target(self, user: str) -> _Target:
        # Deliveries come often for few users: once a Maildir is known to be
        # complete it is not checked again, and its paths are kept as text.
        target = self._targets.get(user)
        if target is not None:
            return target

        name, path = self._ensure(user)
        with self._guard:
            target = self._targets.get(user)
            if target is None:
                target = self._targets[user] = _Target(name, str(path))
            return target

    def _clean_tmp(self, tmp: pathlib.Path) -> None:
        with os.scandir(tmp) as entries:
            for entry in entries:
                try:
                    if entry.stat().st_mtime < _PROCESS_START:
                        os.unlink(entry.path)
                        log.info("removed stale partial delivery %s", entry.name)
                except FileNotFoundError:
                    continue

    def _lock_for(self, name: str) -> threading.RLock:
        with self._guard:
            return self._locks.setdefault(name, threading.RLock())

    def users(self) -> list[str]:
        """Users that have a Maildir under the root."""
        names = []
        for path in self.root.iterdir():
            try:
                valid = normalise_user(path.name) == path.name
            except UnsafeUserName:
                valid = False
            if valid and (path / "new").is_dir():
                names.append(path.name)
        return sorted(names)

    def mailbox(self, user: str) -> Mailbox:
        name, path = self._ensure(user)
        return Mailbox(path, self._lock_for(name))

    def deliver(
        self,
        user: str,
        message: bytes,
        *,
        flags: frozenset[str] = frozenset(),
        internal_date: float | None = None,
    ) -> str:
        """Store `message` durably and return its key.

        With `flags` the message goes straight to cur/ (IMAP APPEND); an
        `internal_date` sets the file time that IMAP reports as INTERNALDATE.
        """
        target = self._target(user)
        unique = self._names.make(len(message))
        tmp_path = target.tmp + unique

        fd = os.open(tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            view = memoryview(message)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(tmp_path)
            raise
        os.close(fd)
        if internal_date is not None:
            os.utime(tmp_path, (internal_date, internal_date))

        if flags:
            os.rename(tmp_path, target.cur + unique + flags_to_info(flags))
            target.cur_sync.sync()
        else:
            os.rename(tmp_path, target.new + unique)
            # Shared with the deliveries that renamed meanwhile.
            target.new_sync.sync()

        log.info("delivered %d bytes to %s as %s", len(message), target.name,
                 unique)
        return unique

    async def deliver_async(self, user: str, message: bytes) -> str:
        """`deliver` in a worker thread, so the event loop keeps serving."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            _delivery_executor(), functools.partial(self.deliver, user, message)
        )
