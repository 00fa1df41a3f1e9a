"""What ``maillab status`` and ``maillab down`` do with registered labs."""

from __future__ import annotations

import logging
import os
import signal
import time
from dataclasses import dataclass

from . import registry
from .errors import IsolationError
from .namespace import LabNamespace
from .registry import LabRecord

log = logging.getLogger(__name__)

#: Seconds ``down`` waits for a lab to stop by itself after SIGTERM.
STOP_WAIT = 10.0


class NoSuchLab(IsolationError):
    """``maillab down NAME`` for a name nobody registered."""


@dataclass(frozen=True)
class LabStatus:
    record: LabRecord
    alive: bool


def status(*, clean: bool = True) -> list[LabStatus]:
    """Every registered lab; with ``clean``, stale ones are removed and dropped."""
    found = []
    for record in registry.records():
        alive = record.alive()
        if not alive and clean:
            log.info("lab %s (pid %d) is gone; cleaning up after it",
                     record.name, record.pid)
            teardown(record)
            continue
        found.append(LabStatus(record, alive))
    return found


def down(name: str, *, wait: float = STOP_WAIT) -> LabRecord:
    """Stop lab ``name``: SIGTERM its process, wait, then remove what is left."""
    record = registry.find(name)
    if record is None:
        raise NoSuchLab(f"no running lab named {name!r}")

    if record.alive():
        log.info("stopping lab %s (pid %d)", name, record.pid)
        os.kill(record.pid, signal.SIGTERM)
        deadline = time.monotonic() + wait
        while record.alive() and time.monotonic() < deadline:
            time.sleep(0.1)
        if record.alive():
            log.warning("lab %s did not stop in %g s; killing it", name, wait)
            os.kill(record.pid, signal.SIGKILL)

    teardown(record)
    return record


def teardown(record: LabRecord) -> None:
    """Remove everything ``record`` lists; idempotent."""
    LabNamespace.from_record(record).destroy(remove_paths=record.remove_paths)
