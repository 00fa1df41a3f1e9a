"""A running lab: the plan's services on real sockets, and their teardown.

``Lab.start`` brings up, in order, the DNS server on the resolver host (its
UDP bind also claims the lab's slot: a slot whose resolver address is taken
belongs to another lab), then every host's listeners, then writes the state
file. ``Lab.stop`` undoes all of it, whatever failed half way.
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import os
import shutil
import socket
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .dns import DnsServer, Responder, Zone
from .mailflow import MailFlow
from .errors import LabStartError
from .net.blocker import DroppingPort
from .net.ports import actual_port, may_bind_privileged
from .plan import LOOPBACK_NET, Expected, Plan, PlannedHost, build_plan
from .scenario.model import Scenario
from .relay.transcript import TranscriptLog
from .services import Services
from .smtp.server import SmtpListener
from .store import MailStore
from .tls.ca import LabCA

log = logging.getLogger(__name__)

MAX_SLOTS = 200
#: The port of the socket on 127.77.<slot>.1 that marks a slot as taken.
SLOT_PORT = 10777
STATE_FORMAT = 1


@dataclass
class Lab:
    """One scenario's organisation, served on this machine's loopback."""

    scenario: Scenario
    slot: int | None = None
    directory: Path | None = None
    offset_ports: bool | None = None
    #: "loopback", or "isolated" when running inside the lab's namespace.
    network: str = "loopback"
    plan: Plan | None = None
    ports: dict[str, dict[int, int]] = field(default_factory=dict)
    _closers: list[Any] = field(default_factory=list)
    _own_directory: bool = False
    store: MailStore | None = None
    services: Services | None = None
    flow: MailFlow | None = None

    @property
    def smtp(self) -> dict[str, list[SmtpListener]]:
        return self.services.smtp if self.services else {}

    @property
    def ca_file(self) -> Path | None:
        return self.services.ca.ca_path if self.services else None

    @property
    def state_file(self) -> Path:
        assert self.directory is not None
        return self.directory / "state.json"

    async def start(self) -> None:
        if self.network == "isolated":
            self.slot, self.offset_ports = 0, False  # the namespace is ours
        if self.offset_ports is None:
            self.offset_ports = not may_bind_privileged()
        if self.directory is None:
            self.directory = Path(tempfile.mkdtemp(prefix="maillab-"))
            self._own_directory = True
        self.directory.mkdir(parents=True, exist_ok=True)
        # Mailboxes outlive the lab when it has a directory of its own choosing.
        self.store = MailStore(self.directory / "mail")
        try:
            await self._claim_slot()
            await self._start_hosts()
            self._write_state()
        except BaseException:
            await self.stop()
            raise
        log.info("lab %s is up in slot %d (%s)", self.scenario.name, self.slot,
                 self.directory)

    def _hold_slot(self, slot: int) -> bool:
        """Claim a loopback slot by holding a socket on its .1 address.

        Whatever order a scenario gives its hosts, .1 belongs to no host, so
        two labs can never both believe a slot is theirs.
        """
        if self.network != "loopback":
            return True
        marker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            marker.bind((f"127.{LOOPBACK_NET}.{slot}.1", SLOT_PORT))
        except OSError:
            marker.close()
            return False
        self._slot_marker = marker
        return True

    def _release_slot(self) -> None:
        marker = getattr(self, "_slot_marker", None)
        if marker is not None:
            marker.close()
            self._slot_marker = None

    def _previous_slot(self) -> int | None:
        """The slot this directory's lab had before a crash, if it says so.

        Restarting on the same addresses matters: clients and queued mail
        still point at them, and another lab may otherwise take them over.
        """
        try:
            return int(json.loads(self.state_file.read_text())["slot"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    async def _claim_slot(self) -> None:
        if self.slot is not None:
            slots: list[int] = [self.slot]
        else:
            previous = self._previous_slot()
            slots = ([previous] if previous is not None else []) + [
                s for s in range(MAX_SLOTS) if s != previous]
        for slot in slots:
            if not self._hold_slot(slot):
                continue
            plan = build_plan(self.scenario, slot, self.network)
            resolver = plan.resolver
            zone = Zone.build(plan.zones, ((r.name, r.rtype, r.value, r.ttl)
                                           for r in plan.records))
            port = self._port(53)
            tcp_mode = plan.blocked.get((resolver.name, 53))
            server = DnsServer(Responder(zone, plan.dns_rules), resolver.address,
                               port, tcp=tcp_mode is None)
            try:
                await server.start()
            except OSError as exc:
                await server.close()
                if exc.errno == errno.EADDRINUSE and self.slot is None:
                    self._release_slot()
                    continue
                raise LabStartError(
                    f"cannot serve DNS on {resolver.address}:{port}: {exc.strerror}"
                ) from None
            self.slot, self.plan = slot, plan
            self._closers.append(server.close)
            self._record(resolver.address, 53, server.port)
            if tcp_mode == "drop":
                dropper = DroppingPort(resolver.address, server.port)
                self._bind(dropper.start, resolver.address, server.port)
                self._closers.append(dropper.close)
            if tcp_mode is not None:
                log.warning("fault: DNS over TCP on %s:%d is blocked (%s)",
                            resolver.address, server.port, tcp_mode)
            return
        raise LabStartError(f"all {MAX_SLOTS} lab slots are in use")

    async def _start_hosts(self) -> None:
        plan = self.plan
        assert plan is not None and self.store is not None
        assert self.directory is not None
        ca = LabCA.create(self.directory / "tls", org=plan.domain)
        self.services = Services(plan, self.store, ca, self._port)
        # Every session the lab receives is logged, like those it makes.
        self.services.transcripts = TranscriptLog(self.directory / "transcripts")
        # The organisation's own servers ask its internal resolver, if any.
        if plan.internal is not None:
            asked = (plan.internal.host.address, self._port(53))
        else:
            asked = (plan.resolver.address, self.ports[plan.resolver.address][53])
        self.flow = MailFlow(plan, self.directory, self.store, asked,
                             self._port_for)
        if plan.relay is not None:
            self.services.enqueue = self._enqueue

        for host in plan.hosts.values():
            web: dict[int, int | None] = {}
            for service, standard in host.services.items():
                if service == "dns":
                    if "dns-internal" in host.roles:
                        await self._start_internal_dns(host)
                    elif host is not plan.resolver:
                        await self._start_lame_dns(host.fqdn, host.address)
                    continue
                port: int | None = self._port(standard)
                mode = plan.blocked.get((host.name, standard))
                if mode is not None:
                    self._block(host, standard, self._port(standard), mode)
                    port = None
                if service in ("http", "https"):
                    web[standard] = port
                    continue
                if port is None:
                    continue
                for address in host.addresses:
                    got, close = await self._guarded(
                        self.services.start(host, service, standard, port,
                                            address), address, port)
                    self._closers.append(close)
                    self._record(address, standard, got)
                    log.info("%s %s on %s:%d", host.fqdn, service, address, got)
            if web:
                await self._start_web(host, web)

        await self.flow.start()
        self._closers.append(self.flow.close)
        for partner in plan.partners:
            for h in partner.hosts:
                self._record(h.address, 25, self._port(25))

    def _port_for(self, address: str, standard: int) -> int:
        return self.ports.get(address, {}).get(standard, self._port(standard))

    async def _enqueue(self, mail_from: str, rcpt_to: list[str],
                       content: bytes) -> tuple[str, ...]:
        assert self.flow is not None and self.plan is not None
        return await self.flow.senders[self.plan.domain].enqueue(
            mail_from, rcpt_to, content)

    async def _start_web(self, host: PlannedHost,
                         web: dict[int, int | None]) -> None:
        assert self.services is not None
        for address in host.addresses:
            http, https, close = await self._guarded(
                self.services.start_web(host, web.get(80), web.get(443), address),
                address, web.get(80) or 0)
            self._closers.append(close)
            if web.get(80) is not None:
                self._record(address, 80, http)
            if web.get(443) is not None:
                self._record(address, 443, https)
            log.info("%s http/https on %s:%d/%d", host.fqdn, address, http, https)

    def _block(self, host: PlannedHost, standard: int, port: int,
               mode: str) -> None:
        log.warning("fault: %s:%d %s connections", host.fqdn, standard,
                    "drops" if mode == "drop" else "rejects")
        self._record(host.address, standard, port)
        if mode == "drop":
            dropper = DroppingPort(host.address, port)
            self._bind(dropper.start, host.address, port)
            self._closers.append(dropper.close)

    async def _guarded(self, starting: Any, address: str, port: int) -> Any:
        try:
            return await starting
        except OSError as exc:
            raise LabStartError(
                f"cannot listen on {address}:{port}: {exc.strerror}") from None

    async def _start_internal_dns(self, host: PlannedHost) -> None:
        """The internal view: our zones as the inside sees them, the rest
        forwarded to the external server (or failing, by fault)."""
        plan = self.plan
        assert plan is not None and plan.internal is not None
        view = plan.internal
        records = [r for r in plan.records if r not in view.only_outside]
        records += view.only_inside
        # Only our own zones are answered inside; partners and the rest of
        # the world come through the forwarder, as in a real split set-up.
        own = [z for z in plan.zones if z == plan.domain or z.endswith(".arpa")]
        zone = Zone.build(own, ((r.name, r.rtype, r.value, r.ttl)
                                for r in records))
        external = plan.resolver.address
        server = DnsServer(Responder(zone), host.address, self._port(53),
                           outside=view.outside_names,
                           upstream=(external, self.ports[external][53]))
        try:
            await server.start()
        except OSError as exc:
            raise LabStartError(f"cannot serve DNS on {host.address}: "
                                f"{exc.strerror}") from None
        self._closers.append(server.close)
        self._record(host.address, 53, server.port)
        log.info("internal view on %s:%d (outside names: %s)", host.address,
                 server.port, view.outside_names)

    async def _start_lame_dns(self, fqdn: str, address: str) -> None:
        """A name server that holds no zone: REFUSED for every question."""
        server = DnsServer(Responder(Zone.build([], [])), address, self._port(53))
        try:
            await server.start()
        except OSError as exc:
            raise LabStartError(f"cannot serve DNS on {address}: {exc.strerror}")
        self._closers.append(server.close)
        self._record(address, 53, server.port)
        log.warning("fault: %s is a lame name server (%s)", fqdn, address)

    def _bind(self, start: Any, address: str, port: int) -> None:
        try:
            start()
        except OSError as exc:
            raise LabStartError(
                f"cannot hold {address}:{port}: {exc.strerror}") from None

    def _port(self, standard: int) -> int:
        return actual_port(standard, offset=bool(self.offset_ports))

    def _record(self, address: str, standard: int, actual: int) -> None:
        self.ports.setdefault(address, {})[standard] = actual

    def state(self) -> dict[str, Any]:
        """What the checker may know of a running lab: addresses and ports only."""
        plan = self.plan
        assert plan is not None
        resolver = plan.resolver

        # The lists the lab's receivers consult, so a checker can be told of
        # them as a real one is configured with the lists it queries.
        zones = [b.zone for b in self.scenario.blocklists]
        zones += [z for f in self.scenario.faults
                  if (z := getattr(f, "blocklist_zone", None))]
        return {
            "format": STATE_FORMAT,
            "scenario": plan.name,
            "domain": plan.domain,
            "resolver": f"{resolver.address}:{self.ports[resolver.address][53]}",
            "outbound": list(plan.relay_host.addresses) if plan.relay else [],
            "ca_file": str(self.ca_file) if self.ca_file else None,
            "test_account": self._test_account(),
            "directory": str(self.directory),
            "hosts": [
                {"name": h.name, "fqdn": h.fqdn, "address": h.address,
                 "address6": h.address6, "roles": list(h.roles)}
                for h in plan.hosts.values()
            ],
            "internal_resolver": (
                f"{plan.internal.host.address}:"
                f"{self.ports[plan.internal.host.address][53]}"
                if plan.internal is not None else None),
            "outside": list(plan.outside),
            "ports": {addr: {str(k): v for k, v in m.items()}
                      for addr, m in self.ports.items()},
            "pid": os.getpid(),
            "network": plan.network,
            "slot": self.slot,
            "blocklists": list(dict.fromkeys(zones)),
        }

    def _test_account(self) -> dict[str, str] | None:
        """The first user, for the checker's end-to-end mail-flow probe."""
        plan = self.plan
        assert plan is not None
        if not plan.users:
            return None
        user, password = next(iter(plan.users.items()))
        return {"address": f"{user}@{plan.domain}", "password": password}

    def _write_state(self) -> None:
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.state(), indent=2) + "\n")
        tmp.replace(self.state_file)

    def expected(self) -> list[Expected]:
        """The ground truth: what a correct diagnosis of this lab contains."""
        assert self.plan is not None
        return expected_findings(self.scenario, self.plan)

    async def stop(self) -> None:
        for close in reversed(self._closers):
            try:
                result = close()
                if asyncio.iscoroutine(result):
                    await result
            except Exception:  # noqa: BLE001 - keep tearing down the rest
                log.exception("lab: error while stopping a service")
        self._closers.clear()
        self._release_slot()
        if self.directory is not None:
            self.state_file.unlink(missing_ok=True)
            if self._own_directory:
                shutil.rmtree(self.directory, ignore_errors=True)
        log.info("lab %s stopped", self.scenario.name)

    async def __aenter__(self) -> Lab:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


def expected_findings(scenario: Scenario, plan: Plan) -> list[Expected]:
    """What the faults imply for this plan, with the scenario's additions and
    waivers (each carries its stated reason)."""
    found: list[Expected] = []
    for fault in scenario.faults:
        found.extend(fault.expected(plan))
    waived = {(w.code, w.subject) for w in scenario.findings.waive}
    found = [e for e in found if (e.code, e.subject) not in waived
             and (e.code, None) not in waived]
    for add in scenario.findings.add:
        found.append(Expected(add.code, plan.expand(add.subject or ""), add.reason))
    return list(dict.fromkeys(found))
