"""The reaper: removes a lab's namespace once the lab's process is gone.

Run as ``python -m lab.isolated.reaper NAME``; ``child.start_reaper`` starts
it. It waits on a pidfd of the lab's process (pidfd_open, Linux 5.3), or
polls when there is none, and checks every ``--interval`` seconds whether
the record is still there: a lab that shut down cleanly removed it, and then
there is nothing left to do.
"""

from __future__ import annotations

import argparse
import logging
import os
import select

from . import registry
from .control import teardown
from .registry import LabRecord

log = logging.getLogger(__name__)


def watch(name: str, interval: float) -> bool:
    """Block until lab ``name`` ends; True if we had to clean up after it."""
    record = registry.find(name)
    if record is None:
        return False
    pidfd = _pidfd(record.pid)

    try:
        while record.alive():
            if pidfd is not None:
                select.select([pidfd], [], [], interval)
            else:
                select.select([], [], [], interval)
            if not _still_registered(record):
                return False
    finally:
        if pidfd is not None:
            os.close(pidfd)

    if not _still_registered(record):
        return False
    log.warning("lab %s: process %d is gone; removing its namespace", name,
                record.pid)
    teardown(record)
    return True


def _pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def _still_registered(record: LabRecord) -> bool:
    try:
        current = registry.find(record.name)
    except registry.BadRecord:
        return False
    return current is not None and current.pid == record.pid


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m lab.isolated.reaper")
    parser.add_argument("name")
    parser.add_argument("--interval", type=float, default=0.5)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="maillab reaper: %(message)s")
    watch(args.name, max(0.05, min(args.interval, 5.0)))


if __name__ == "__main__":
    main()
