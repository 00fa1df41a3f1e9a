"""A lab's own network namespace: its addresses on lo, its resolver, teardown.

We use ``ip netns add`` rather than a bare ``unshare``: a named namespace
outlives the process that made it (so a reaper or ``maillab down`` can find
and delete it after a crash), and ``ip netns exec`` gives every command it
runs a private mount namespace in which /etc/netns/<name>/resolv.conf and
hosts are bind-mounted over /etc, so tools inside ask the lab's DNS with no
change to the machine's own /etc.

The namespace has no interface but ``lo``: nothing inside can reach the
machine's networks and nothing outside sees the lab's addresses.

``adopt=True`` is for a namespace someone else made for us (a container run
with ``network_mode: none``): nothing is created or deleted but the lab's
addresses and firewall table, and ``etc_dir`` is where resolv.conf is left
for the trainee container to pick up.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import firewall, registry
from .errors import IsolationError, ToolFailed
from .registry import LabRecord, check_name, process_start
from .tools import tool

log = logging.getLogger(__name__)

#: Seconds processes left in a namespace get between SIGTERM and SIGKILL.
KILL_GRACE = 3.0
#: Default bound on ``LabNamespace.run``.
RUN_TIMEOUT = 30.0


@dataclass
class LabNamespace:
    """The network namespace ``name`` (``maillab-<id>``) and what it holds."""

    name: str
    addresses: tuple[str, ...] = ()
    adopt: bool = False
    etc_dir: Path | None = None
    _created: bool = field(default=False, repr=False)

    def __post_init__(self) -> None:
        check_name(self.name)
        self.addresses = tuple(_address(a) for a in self.addresses)
        if self.etc_dir is None and not self.adopt:
            self.etc_dir = Path("/etc/netns") / self.name

    @property
    def prefix(self) -> list[str]:
        """What runs a command inside: nothing when we are already there."""
        return [] if self.adopt else ["ip", "netns", "exec", self.name]

    @property
    def netns(self) -> str | None:
        return None if self.adopt else self.name

    # region: building it

    def create(self) -> None:
        """Make the namespace, bring up lo, add the addresses; undone on failure."""
        try:
            if not self.adopt:
                tool(["ip", "netns", "add", self.name])
                self._created = True
            self._inside(["ip", "link", "set", "lo", "up"])
            if any(":" in a for a in self.addresses):
                self._enable_ipv6()
            for address in self.addresses:
                self.add_address(address)
        except BaseException:
            self.destroy()
            raise
        log.info("namespace %s is up with %s", self.name,
                 ", ".join(self.addresses) or "no addresses")

    def add_address(self, address: str) -> None:
        """Put ``address`` on lo (/32 or /128) and check the kernel treats it local.

        Adding an address makes the kernel add its ``local`` route (table
        local) itself, which is what makes binds and connects to it work.
        """
        address = _address(address)
        bits = 128 if ":" in address else 32
        # nodad: an IPv6 address is usable at once, not "tentative" for a while.
        extra = ["nodad"] if bits == 128 else []
        self._inside(["ip", "addr", "replace", f"{address}/{bits}", "dev", "lo",
                      *extra])
        route = self._inside(["ip", "route", "get", address])
        if not route.startswith("local"):
            raise IsolationError(f"{self.name}: {address} is not local: {route!r}")
        if address not in self.addresses:
            self.addresses += (address,)
        log.debug("%s: %s on lo", self.name, address)

    def _enable_ipv6(self) -> None:
        # A new namespace usually has IPv6 on lo already; a host booted with
        # disable_ipv6 set by default passes that on, so turn it on here only.
        key = "net.ipv6.conf.lo.disable_ipv6"
        try:
            if self._inside(["sysctl", "-n", key]).strip() != "0":
                self._inside(["sysctl", "-q", "-w", f"{key}=0"])
        except ToolFailed as exc:
            raise IsolationError(f"{self.name}: no IPv6 in this kernel "
                                 f"({exc.detail})") from None

    def resolv_conf(self, nameserver: str, *, search: Sequence[str] = ()) -> Path:
        """Make ``nameserver`` the resolver of everything run by ``run``/``popen``."""
        lines = [f"nameserver {_address(nameserver)}"]
        if search:
            lines.append("search " + " ".join(search))
        # One attempt, short: a lab's DNS answers at once or the fault is the point.
        lines.append("options timeout:2 attempts:1")
        return self._write_etc("resolv.conf", "\n".join(lines) + "\n")

    def hosts_file(self, names: Mapping[str, str]) -> Path:
        """An /etc/hosts for inside: localhost and, if given, the lab's hosts."""
        lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost"]
        lines += [f"{_address(a)}\t{n}" for n, a in names.items()]
        return self._write_etc("hosts", "\n".join(lines) + "\n")

    def _write_etc(self, filename: str, text: str) -> Path:
        if self.etc_dir is None:
            raise IsolationError(f"{self.name}: no directory for {filename}")
        self.etc_dir.mkdir(parents=True, exist_ok=True, mode=0o755)
        path = self.etc_dir / filename
        path.write_text(text)
        log.debug("%s: wrote %s", self.name, path)
        return path

    def apply_firewall(self, rules: Iterable[firewall.PortRule]) -> None:
        firewall.apply(rules, netns=self.netns)

    # endregion
    # region: using it

    def run(self, argv: Sequence[str], *, timeout: float = RUN_TIMEOUT,
            **kw: Any) -> subprocess.CompletedProcess[Any]:
        """``subprocess.run`` inside the namespace, always with a timeout."""
        return subprocess.run([*self.prefix, *argv], timeout=timeout, **kw)

    def popen(self, argv: Sequence[str], **kw: Any) -> subprocess.Popen[Any]:
        """``subprocess.Popen`` inside the namespace; the caller waits on it."""
        return subprocess.Popen([*self.prefix, *argv], **kw)

    def pids(self) -> list[int]:
        """Processes whose network namespace is this one (never our own)."""
        if self.adopt or not self.exists():
            return []
        out = tool(["ip", "netns", "pids", self.name], check=False)
        return [int(p) for p in out.split() if p.isdigit() and int(p) != os.getpid()]

    def exists(self) -> bool:
        if self.adopt:
            return True
        out = tool(["ip", "netns", "list"], check=False)
        return self.name in (line.split()[0] for line in out.splitlines() if line)

    def _inside(self, argv: list[str]) -> str:
        return tool([*self.prefix, *argv])

    # endregion
    # region: taking it down

    def record(self, *, pid: int, scenario: str, state_file: str | None = None,
               remove_paths: Sequence[str] = ()) -> LabRecord:
        """Register the lab run by ``pid`` so that status, down and reapers see it."""
        record = LabRecord(
            name=self.name, pid=pid, pid_start=process_start(pid),
            scenario=scenario, state_file=state_file, netns=not self.adopt,
            etc_dir=str(self.etc_dir) if self.etc_dir else None,
            addresses=self.addresses, remove_paths=tuple(remove_paths))
        record.write()
        return record

    @classmethod
    def from_record(cls, record: LabRecord) -> LabNamespace:
        return cls(record.name, record.addresses, adopt=not record.netns,
                   etc_dir=Path(record.etc_dir) if record.etc_dir else None)

    def destroy(self, *, remove_paths: Sequence[str] = ()) -> None:
        """Remove all of it; safe to call twice, and after a half-done create."""
        self._remove_firewall()
        for pid in self._stop_processes():
            log.warning("%s: process %d would not stop", self.name, pid)

        if self.adopt:
            for address in self.addresses:
                bits = 128 if ":" in address else 32
                tool(["ip", "addr", "del", f"{address}/{bits}", "dev", "lo"],
                     check=False)
        elif self.exists():
            tool(["ip", "netns", "delete", self.name])

        # Only the directory we made: /etc/netns/<name> or the adopted one's files.
        if self.etc_dir is not None and not self.adopt:
            shutil.rmtree(self.etc_dir, ignore_errors=True)
        elif self.etc_dir is not None:
            for filename in ("resolv.conf", "hosts"):
                (self.etc_dir / filename).unlink(missing_ok=True)
        for path in remove_paths:
            shutil.rmtree(path, ignore_errors=True)
        registry.forget(self.name)
        log.info("namespace %s removed", self.name)

    def _remove_firewall(self) -> None:
        if not self.exists():
            return
        try:
            firewall.remove(netns=self.netns)
        except ToolFailed as exc:
            log.debug("%s: no firewall table to remove (%s)", self.name, exc)

    def _stop_processes(self) -> list[int]:
        """SIGTERM what runs inside, then SIGKILL; return what survived both."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            pids = self.pids()
            for pid in pids:
                _signal(pid, sig)
            deadline = time.monotonic() + KILL_GRACE
            while pids and time.monotonic() < deadline:
                time.sleep(0.05)
                pids = [p for p in pids if process_start(p) is not None]
            if not pids:
                return []
        return pids

    # endregion


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _address(text: str) -> str:
    try:
        return ipaddress.ip_address(text).compressed
    except ValueError:
        raise IsolationError(f"not an IP address: {text!r}") from None
