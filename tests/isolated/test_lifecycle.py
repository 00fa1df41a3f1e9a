"""Nothing outlives a lab: reaper after SIGKILL, ``down``, stale records."""

from __future__ import annotations

import select
import signal
import subprocess
import sys
import time
from pathlib import Path

from lab.isolated import LabNamespace, control, registry
from lab.isolated.registry import process_start

from .conftest import ADDR4, STEP, unique_name

#: How long cleanup after a dead parent may take (reaper interval 0.5 s).
DEADLINE = 20.0

PARENT = """
import sys, time
from lab.isolated import IsolatedLab, IsolatedSpec

spec = IsolatedSpec(name=sys.argv[1], scenario="healthy", addresses=(sys.argv[2],),
                    nameserver=sys.argv[2], remove_paths=(sys.argv[3],))
with IsolatedLab(spec) as lab:
    tied = lab.start(["sleep", "60"])
    # Not tied to us by PDEATHSIG: only the reaper can stop this one.
    loose = lab.namespace.popen(["setsid", "sleep", "60"])
    print(tied.pid, loose.pid, lab._reaper_process.pid, flush=True)
    time.sleep(60)
"""

SUPERVISED = """
import sys
from lab.isolated import IsolatedSpec, supervise

spec = IsolatedSpec(name=sys.argv[1], scenario="healthy", addresses=(sys.argv[2],),
                    nameserver=sys.argv[2])
print(supervise(spec, ["sleep", "60"]), flush=True)
"""


def read_line(proc: subprocess.Popen, timeout: float = 10.0) -> str:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    assert ready, "the parent printed nothing in time"
    return proc.stdout.readline()


def namespace_listed(name: str) -> bool:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True,
                         timeout=STEP, check=True).stdout
    return any(line.split()[0] == name for line in out.splitlines() if line)


def wait_until(condition, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + DEADLINE
    while not condition():
        assert time.monotonic() < deadline, f"still there after {DEADLINE} s: {what}"
        time.sleep(0.1)


def test_sigkilled_parent_leaves_nothing_behind(support, tmp_path: Path) -> None:
    name = unique_name()
    lab_dir = tmp_path / "lab"
    lab_dir.mkdir()
    parent = subprocess.Popen([sys.executable, "-c", PARENT, name, ADDR4,
                               str(lab_dir)], stdout=subprocess.PIPE, text=True)
    try:
        pids = [int(p) for p in read_line(parent).split()]
        assert namespace_listed(name) and registry.find(name) is not None
    finally:
        parent.kill()
        parent.wait(timeout=STEP)

    for pid in pids:
        wait_until(lambda pid=pid: process_start(pid) is None, f"process {pid}")
    wait_until(lambda: not namespace_listed(name), f"namespace {name}")
    assert registry.find(name) is None
    assert not Path("/etc/netns", name).exists()
    assert not lab_dir.exists()


def test_down_stops_a_supervised_lab(support) -> None:
    name = unique_name()
    parent = subprocess.Popen([sys.executable, "-c", SUPERVISED, name, ADDR4],
                              stdout=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: registry.find(name) is not None, "no record yet")
        listed = {s.record.name: s.alive for s in control.status()}
        assert listed.get(name) is True

        record = control.down(name)
        printed = read_line(parent, timeout=STEP * 3)
        parent.wait(timeout=STEP)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(timeout=STEP)

    assert record.pid == parent.pid
    # The lab (sleep) got the SIGTERM passed on, and its status came back.
    assert printed.strip() == str(-signal.SIGTERM)
    assert parent.returncode == 0
    assert not namespace_listed(name)
    assert registry.find(name) is None


def test_status_cleans_up_after_a_dead_lab(support) -> None:
    gone = subprocess.Popen(["true"])
    gone.wait(timeout=STEP)
    ns = LabNamespace(unique_name(), (ADDR4,))
    ns.create()
    ns.resolv_conf(ADDR4)
    registry.LabRecord(ns.name, gone.pid, 1, "healthy", etc_dir=str(ns.etc_dir),
                       addresses=ns.addresses).write()

    found = control.status()

    assert [s.record.name for s in found] == []
    assert not namespace_listed(ns.name)
    assert not Path("/etc/netns", ns.name).exists()
    assert registry.records() == []
