"""The per-mailbox UID list: UIDVALIDITY, UIDNEXT and the key -> UID map.

RFC 3501 section 2.3.1.1 requires UIDs to be strictly ascending and never
reused within one UIDVALIDITY, so the list lives on disk and is replaced
atomically (write a temporary file, fsync, rename, fsync the directory).
"""

from __future__ import annotations

import logging
import os
import pathlib
import time
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

UIDLIST_NAME = ".maillab-uidlist"
_MAGIC = "maillab-uidlist 1"


@dataclass
class UidList:
    uidvalidity: int
    uidnext: int = 1
    uids: dict[str, int] = field(default_factory=dict)

    def assign(self, key: str) -> int:
        uid = self.uidnext
        self.uids[key] = uid
        self.uidnext += 1
        return uid

    def dump(self) -> bytes:
        lines = [_MAGIC, f"uidvalidity {self.uidvalidity}", f"uidnext {self.uidnext}"]
        for key, uid in sorted(self.uids.items(), key=lambda kv: kv[1]):
            lines.append(f"{uid} {key}")
        return ("\n".join(lines) + "\n").encode("ascii")

    @classmethod
    def parse(cls, data: bytes) -> UidList:
        lines = data.decode("ascii").splitlines()
        if len(lines) < 3 or lines[0] != _MAGIC:
            raise ValueError("not a uid list")

        uidvalidity = int(lines[1].removeprefix("uidvalidity "))
        uidnext = int(lines[2].removeprefix("uidnext "))
        uids: dict[str, int] = {}
        for line in lines[3:]:
            uid_text, _, key = line.partition(" ")
            uid = int(uid_text)
            if not key or uid <= 0 or uid >= uidnext:
                raise ValueError(f"bad uid line {line!r}")
            uids[key] = uid

        if uidvalidity <= 0:
            raise ValueError("bad uidvalidity")
        return cls(uidvalidity=uidvalidity, uidnext=uidnext, uids=uids)


def fsync_dir(path: pathlib.Path) -> None:
    """Make a rename or unlink in `path` durable."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def load(directory: pathlib.Path) -> UidList:
    """Read the uid list, creating a fresh one (new UIDVALIDITY) if absent."""
    path = directory / UIDLIST_NAME
    try:
        return UidList.parse(path.read_bytes())
    except FileNotFoundError:
        pass
    except (ValueError, UnicodeDecodeError) as exc:
        # A damaged list means old UIDs can't be trusted: a new UIDVALIDITY
        # tells clients to drop their caches (RFC 3501 section 2.3.1.1).
        log.warning("uid list %s is damaged (%s); starting a new one", path, exc)

    fresh = UidList(uidvalidity=max(1, int(time.time())))
    save(directory, fresh)
    return fresh


def save(directory: pathlib.Path, uidlist: UidList) -> None:
    path = directory / UIDLIST_NAME
    tmp = directory / f"{UIDLIST_NAME}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, uidlist.dump())
        os.fsync(fd)
    finally:
        os.close(fd)

    os.replace(tmp, path)
    fsync_dir(directory)
