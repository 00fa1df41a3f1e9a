"""The parent side of ``maillab up --network isolated``, in one call.

``IsolatedLab`` builds the namespace for a spec (addresses, resolver,
firewall), registers it and starts its reaper; leaving the ``with`` block
removes it all. ``supervise`` runs the lab's own process inside and waits
for it, passing on SIGINT and SIGTERM, so a Ctrl-C stops the lab in order.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import signal
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from types import FrameType
from typing import Any

from .child import run_inside, start_reaper
from .firewall import PortRule
from .namespace import LabNamespace
from .registry import LabRecord

log = logging.getLogger(__name__)

#: Seconds the lab process gets to stop after we pass it a signal.
STOP_WAIT = 15.0


def new_lab_id(scenario: str) -> str:
    """``maillab-<scenario>-<4 hex>``: readable and unique among running labs."""
    slug = re.sub(r"[^a-z0-9]+", "-", scenario.lower()).strip("-")[:40] or "lab"
    return f"maillab-{slug}-{secrets.token_hex(2)}"


@dataclass(frozen=True)
class IsolatedSpec:
    """Everything the namespace of one lab needs, decided before it starts."""

    name: str
    scenario: str
    addresses: tuple[str, ...]
    nameserver: str
    search: tuple[str, ...] = ()
    hosts: tuple[tuple[str, str], ...] = ()
    rules: tuple[PortRule, ...] = ()
    state_file: str | None = None
    remove_paths: tuple[str, ...] = ()


class IsolatedLab:
    """A context manager: the spec's namespace exists while inside it."""

    def __init__(self, spec: IsolatedSpec, *, reaper: bool = True) -> None:
        self.spec = spec
        self.namespace = LabNamespace(spec.name, spec.addresses)
        self.record: LabRecord | None = None
        self._reaper = reaper
        self._reaper_process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> IsolatedLab:
        spec, ns = self.spec, self.namespace
        ns.create()
        try:
            ns.resolv_conf(spec.nameserver, search=spec.search)
            ns.hosts_file(dict(spec.hosts))
            ns.apply_firewall(spec.rules)
            self.record = ns.record(pid=os.getpid(), scenario=spec.scenario,
                                    state_file=spec.state_file,
                                    remove_paths=spec.remove_paths)
            if self._reaper:
                self._reaper_process = start_reaper(spec.name)
        except BaseException:
            ns.destroy()
            raise
        return self

    def start(self, argv: Sequence[str], **kw: Any) -> subprocess.Popen[Any]:
        return run_inside(self.spec.name, argv, **kw)

    def __exit__(self, *exc: object) -> None:
        self.namespace.destroy(remove_paths=self.spec.remove_paths)

        # The reaper sees the record gone and leaves by itself; collect it.
        if self._reaper_process is not None:
            try:
                self._reaper_process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._reaper_process.kill()
                self._reaper_process.wait(timeout=5)


def supervise(spec: IsolatedSpec, argv: Sequence[str], **kw: Any) -> int:
    """Run ``argv`` as the lab inside a fresh namespace; its return code.

    SIGINT and SIGTERM are passed on to the lab, also one that comes while
    the namespace is still being built: the lab then gets it at once.
    """
    child: subprocess.Popen[Any] | None = None
    pending: list[int] = []

    def forward(signum: int, frame: FrameType | None) -> None:
        if child is None:
            pending.append(signum)
        elif child.poll() is None:
            child.send_signal(signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        with IsolatedLab(spec) as lab:
            child = lab.start(argv, **kw)
            log.info("lab %s runs as pid %d in namespace %s", spec.scenario,
                     child.pid, spec.name)
            for signum in pending:
                child.send_signal(signum)
            try:
                # The lab's lifetime: it runs until a signal tells it to stop.
                return child.wait()
            finally:
                _stop(child)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _stop(child: subprocess.Popen[Any]) -> None:
    if child.poll() is not None:
        return
    child.terminate()
    try:
        child.wait(timeout=STOP_WAIT)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait(timeout=5)
