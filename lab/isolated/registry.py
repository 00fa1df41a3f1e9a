"""The registry of running isolated labs: one JSON file per lab.

A record says who runs the lab (pid, and the pid's start time so a reused
pid is not mistaken for the lab) and everything that must be removed when it
stops: the namespace, its /etc/netns directory, the addresses of an adopted
namespace, a lab directory. ``maillab status`` lists the records; a record
whose process is gone is stale, and whoever finds it cleans up after it.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .errors import IsolationError

log = logging.getLogger(__name__)

RECORD_FORMAT = 1
_NAME = re.compile(r"^maillab-[a-z0-9][a-z0-9-]{0,50}$")


class BadRecord(IsolationError):
    """A registry file that is not a lab record."""


def runtime_dir() -> Path:
    """/run/maillab for root, else $XDG_RUNTIME_DIR/maillab (or /tmp)."""
    override = os.environ.get("MAILLAB_RUNTIME_DIR")
    if override:
        return Path(override)
    if os.geteuid() == 0:
        return Path("/run/maillab")
    base = os.environ.get("XDG_RUNTIME_DIR") or f"/tmp/maillab-{os.getuid()}"
    return Path(base) / "maillab"


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise IsolationError(f"not a lab namespace name: {name!r} "
                             "(maillab-, then lower-case letters, digits, '-')")
    return name


def process_start(pid: int) -> int | None:
    """The start time of ``pid`` in clock ticks, or None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: split after the last ')'.
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] == "Z":
        return None
    return int(fields[19])


@dataclass(frozen=True)
class LabRecord:
    """One running (or stale) isolated lab."""

    name: str
    pid: int
    pid_start: int | None
    scenario: str
    state_file: str | None = None
    netns: bool = True
    etc_dir: str | None = None
    addresses: tuple[str, ...] = ()
    remove_paths: tuple[str, ...] = field(default_factory=tuple)
    format: int = RECORD_FORMAT

    @property
    def path(self) -> Path:
        return runtime_dir() / f"{self.name}.json"

    def alive(self) -> bool:
        """Whether the lab's own process still runs (not a reuse of its pid)."""
        start = process_start(self.pid)
        return start is not None and start == self.pid_start

    def write(self) -> Path:
        path = self.path
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2) + "\n")
        tmp.replace(path)
        log.debug("registered %s in %s", self.name, path)
        return path

    def forget(self) -> None:
        self.path.unlink(missing_ok=True)


def load(path: Path) -> LabRecord:
    try:
        data = json.loads(path.read_text())
        data["addresses"] = tuple(data.get("addresses", ()))
        data["remove_paths"] = tuple(data.get("remove_paths", ()))
        record = LabRecord(**data)
        check_name(record.name)
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise BadRecord(f"{path}: not a lab record ({exc})") from None
    return record


def find(name: str) -> LabRecord | None:
    path = runtime_dir() / f"{check_name(name)}.json"
    return load(path) if path.exists() else None


def forget(name: str) -> None:
    """Remove the record of ``name``, if there is one."""
    (runtime_dir() / f"{check_name(name)}.json").unlink(missing_ok=True)


def records() -> list[LabRecord]:
    """Every readable record, by name; unreadable files are logged and skipped."""
    folder = runtime_dir()
    found = []
    for path in sorted(folder.glob("maillab-*.json")) if folder.is_dir() else []:
        try:
            found.append(load(path))
        except BadRecord as exc:
            log.warning("%s", exc)
    return found
