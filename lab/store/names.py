"""Naming rules for the Maildir store: user names, file names, flag letters.

Kept apart from the disk code so the rules can be tested without touching disk.
"""

from __future__ import annotations

import itertools
import os
import re
import socket
import threading
import time

from lab.errors import LabError

# A user name becomes a directory name under the store root, so it must never
# contain a path separator, start with a dot, or carry a NUL; the pattern is a
# whitelist rather than a blacklist so that new tricks fail closed.
_USER_RE = re.compile(r"[a-z0-9][a-z0-9._+@=-]{0,127}")

# IMAP system flags (RFC 3501 section 2.3.2) to Maildir info letters, as
# described in the Maildir "info" convention (":2," followed by sorted letters).
IMAP_TO_MAILDIR: dict[str, str] = {
    "\\Draft": "D",
    "\\Flagged": "F",
    "\\Answered": "R",
    "\\Seen": "S",
    "\\Deleted": "T",
}
MAILDIR_TO_IMAP: dict[str, str] = {v: k for k, v in IMAP_TO_MAILDIR.items()}
SYSTEM_FLAGS: frozenset[str] = frozenset(IMAP_TO_MAILDIR)

INFO_SEPARATOR = ":"
INFO_PREFIX = ":2,"


class UnsafeUserName(LabError, ValueError):
    """A user name that could escape the store root or is otherwise unusable."""


def normalise_user(user: str) -> str:
    """Return the canonical (lower-case) form of a user name, or raise."""
    if not isinstance(user, str):
        raise UnsafeUserName("user name must be a string")

    canonical = user.strip().lower()
    if not _USER_RE.fullmatch(canonical) or ".." in canonical:
        raise UnsafeUserName(f"refusing unsafe user name {user!r}")

    return canonical


def flags_to_info(flags: frozenset[str]) -> str:
    """Map IMAP flag names (or bare Maildir letters) to a ':2,' info suffix."""
    letters = set()
    for flag in flags:
        if flag in IMAP_TO_MAILDIR:
            letters.add(IMAP_TO_MAILDIR[flag])
        elif len(flag) == 1 and flag in MAILDIR_TO_IMAP:
            letters.add(flag)
        else:
            # TODO: keywords are dropped; Maildir letters a-z need a keyword map
            continue

    return INFO_PREFIX + "".join(sorted(letters))


def info_to_flags(filename: str) -> frozenset[str]:
    """Read the IMAP flags encoded in a Maildir file name."""
    _, sep, info = filename.partition(INFO_SEPARATOR)
    if not sep or not info.startswith("2,"):
        return frozenset()

    return frozenset(MAILDIR_TO_IMAP[c] for c in info[2:] if c in MAILDIR_TO_IMAP)


def key_of(filename: str) -> str:
    """The message key is the unique part of the name, before the info."""
    return filename.partition(INFO_SEPARATOR)[0]


def _safe_hostname() -> str:
    # The Maildir convention escapes '/' and ':' in the host part so that a
    # host name can never look like a path or an info separator.
    host = socket.gethostname() or "localhost"
    return host.replace("/", "\\057").replace(":", "\\072")


class UniqueNames:
    """Makes Maildir unique names: <sec>.M<usec>P<pid>Q<counter>.<host>,S=<size>.

    The counter is per process and guarded by a lock, so two threads in the same
    microsecond still get different names.
    """

    def __init__(self) -> None:
        self._counter = itertools.count(1)
        self._lock = threading.Lock()
        self._host = _safe_hostname()

    def make(self, size: int) -> str:
        now = time.time()
        sec = int(now)
        usec = int((now - sec) * 1_000_000)
        with self._lock:
            n = next(self._counter)

        return f"{sec}.M{usec}P{os.getpid()}Q{n}.{self._host},S={size}"
