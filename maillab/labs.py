"""Running labs, whatever their network mode: register, list, find, stop.

Isolated labs are registered by ``lab.isolated`` (their record lists the
namespace to remove). Loopback labs register here with ``netns`` false, so
``maillab status``, ``down``, ``shell`` and ``exec`` treat both alike.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
import uuid
from pathlib import Path

from lab.errors import LabError
from lab.isolated import registry
from lab.isolated.control import down as down_isolated
from lab.isolated.control import status as isolated_status
from lab.isolated.registry import LabRecord, process_start


class NoSuchLab(LabError):
    """No running lab has that name or scenario."""


def register_loopback(scenario: str, state_file: Path,
                      remove: Path | None) -> LabRecord:
    name = f"maillab-{_slug(scenario)}-{uuid.uuid4().hex[:4]}"
    pid = os.getpid()
    record = LabRecord(name=name, pid=pid, pid_start=process_start(pid),
                       scenario=scenario, state_file=str(state_file), netns=False,
                       remove_paths=(str(remove),) if remove else ())
    record.write()
    return record


def _slug(text: str) -> str:
    kept = "".join(c if c.isalnum() else "-" for c in Path(text).stem.lower())
    return kept.strip("-")[:24] or "lab"


def running() -> list[LabRecord]:
    """Every live lab; records of dead ones are cleaned on the way."""
    alive = [s.record for s in isolated_status() if s.record.netns]
    for record in registry.records():
        if record.netns:
            continue
        if record.alive():
            alive.append(record)
        else:
            _forget(record)
    return sorted(alive, key=lambda r: r.name)


def find(name_or_scenario: str) -> LabRecord:
    """A running lab by its name, its scenario, or its state file's path."""
    labs = running()
    exact = [r for r in labs if r.name == name_or_scenario
             or (r.state_file and r.state_file == str(Path(name_or_scenario)))]
    by_scenario = [r for r in labs if r.scenario == name_or_scenario
                   or Path(r.scenario).stem == name_or_scenario]
    found = exact or by_scenario
    if not found:
        raise NoSuchLab(f"no running lab named {name_or_scenario!r} "
                        "(see 'maillab status')")
    if len(found) > 1:
        names = ", ".join(r.name for r in found)
        raise NoSuchLab(f"several labs run {name_or_scenario!r}: {names}; "
                        "name one")
    return found[0]


def stop(record: LabRecord, wait: float = 10.0) -> None:
    if record.netns:
        down_isolated(record.name, wait=wait)
        return
    if record.alive():
        os.kill(record.pid, signal.SIGTERM)
        deadline = time.monotonic() + wait
        while record.alive() and time.monotonic() < deadline:
            time.sleep(0.1)
        if record.alive():
            os.kill(record.pid, signal.SIGKILL)
    _forget(record)


def _forget(record: LabRecord) -> None:
    for path in record.remove_paths:
        shutil.rmtree(path, ignore_errors=True)
    if record.state_file:
        Path(record.state_file).unlink(missing_ok=True)
    registry.forget(record.name)
