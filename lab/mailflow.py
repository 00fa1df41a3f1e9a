"""Mail that really flows: the outbound relay, the partners, and the
channel through which ``maillab queue`` and ``maillab send`` reach a
running lab.

The lab process owns its queues (one per sending organisation: ours, and
each partner's, so partners can send to us too). Other processes talk to it
through ``<lab dir>/control``: a command is a JSON file dropped there, the
lab applies it within a fraction of a second and writes the answer next to
it. Files rather than a socket, because the lab directory is already the
one thing every command is given.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
import uuid
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

from .partner import PartnerHandler, PartnerPolicy, PartnerServer
from .plan import Plan, PlannedHost
from .relay import (
    DeliveryAgent,
    LabResolver,
    OutboundQueue,
    RelayConfig,
    RetrySchedule,
    TranscriptLog,
)
from .relay.delivery import LOOPBACK
from .relay.errors import MessageTooLarge, QueueFull
from .store import MailStore

log = logging.getLogger(__name__)

CONTROL_POLL = 0.2
MAX_COMMAND = 64 * 1024


@dataclass
class Sender:
    """One organisation's outbound side: its queue and delivery agent."""

    domain: str
    queue: OutboundQueue
    agent: DeliveryAgent

    async def enqueue(self, mail_from: str, rcpt_to: list[str],
                      content: bytes) -> tuple[str, ...]:
        ids = await self.queue.enqueue_async(mail_from, rcpt_to, content,
                                             time.time())
        self.agent.wake()
        return ids


@dataclass
class MailFlow:
    plan: Plan
    directory: Path
    store: MailStore
    resolver: tuple[str, int]
    port_of: Any
    senders: dict[str, Sender] = field(default_factory=dict)
    partner_stores: dict[str, MailStore] = field(default_factory=dict)
    _closers: list[Any] = field(default_factory=list)
    _control: asyncio.Task[None] | None = None

    @property
    def transcripts_dir(self) -> Path:
        return self.directory / "transcripts"

    async def start(self) -> None:
        self.transcripts = TranscriptLog(self.transcripts_dir)
        resolver = LabResolver(self.resolver[0], self.resolver[1], timeout=2.0)
        retry, give_up, notice = self.plan.schedule
        schedule = RetrySchedule.shortened(list(retry), give_up, notice)

        if self.plan.relay is not None:
            relay = self.plan.relay_host
            self._sender(self.plan.domain, relay.address, self.plan.ehlo,
                         resolver, schedule, self.store)
        for partner in self.plan.partners:
            store = MailStore(self.directory / "partners" / partner.domain)
            self.partner_stores[partner.domain] = store
            await self._partner_mx(partner.domain, partner.hosts, partner.policy,
                                   partner.users, resolver, store)
            first = partner.hosts[0]
            self._sender(partner.domain, first.address, first.fqdn, resolver,
                         schedule, store)

        (self.directory / "control").mkdir(exist_ok=True)
        self._control = asyncio.get_running_loop().create_task(self._serve_control())

    def _sender(self, domain: str, address: str, ehlo: str, resolver: LabResolver,
                schedule: RetrySchedule, store: MailStore) -> None:
        queue = OutboundQueue(self.directory / "queues" / domain)
        config = RelayConfig(hostname=ehlo, source_address=address,
                             local_domains=(domain,), schedule=schedule,
                             allowed_networks=self._allowed(),
                             connect_timeout=5.0, command_timeout=10.0)
        agent = DeliveryAgent(queue, resolver, config, store.deliver_async,
                              port_for=self.port_of, transcripts=self.transcripts)
        agent.start(interval=0.5)
        self._closers += [queue.close, agent.close]
        self.senders[domain] = Sender(domain, queue, agent)
        log.info("%s sends from %s as %s", domain, address, ehlo)

    def _allowed(self) -> tuple[Any, ...]:
        """Where relays may connect: loopback, or the namespace's own ranges."""
        if self.plan.network == "isolated":
            from .isolated.addresses import DOCUMENTATION_NETS

            return DOCUMENTATION_NETS
        return LOOPBACK

    async def _partner_mx(self, domain: str, hosts: list[PlannedHost],
                          policy: dict[str, Any], users: tuple[str, ...] | None,
                          resolver: LabResolver, store: MailStore) -> None:
        rules = PartnerPolicy(**{**policy, "blocklists": tuple(policy["blocklists"])})
        for host in hosts:
            handler = PartnerHandler(
                domain=domain, hostname=host.fqdn, policy=rules, resolver=resolver,
                store=store, users=frozenset(users) if users is not None else None)
            server = PartnerServer(handler, host.address, self.port_of(host.address,
                                                                       25),
                                   transcripts=self.transcripts)
            await server.start()
            self._closers.append(server.close)
            log.info("partner MX %s on %s:%d", host.fqdn, host.address, server.port)

    async def close(self) -> None:
        if self._control is not None:
            self._control.cancel()
            await asyncio.gather(self._control, return_exceptions=True)
        for close in reversed(self._closers):
            result = close()
            if asyncio.iscoroutine(result):
                await result
        self._closers.clear()

    # region: the control channel

    async def _serve_control(self) -> None:
        folder = self.directory / "control"
        while True:
            for path in sorted(folder.glob("*.cmd")):
                await self._answer(path)
            await asyncio.sleep(CONTROL_POLL)

    async def _answer(self, path: Path) -> None:
        try:
            raw = path.read_bytes()[:MAX_COMMAND]
            command = json.loads(raw)
            reply = await self.apply(command)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        out = path.with_suffix(".reply")
        tmp = out.with_suffix(".tmp")
        tmp.write_text(json.dumps(reply))
        os.replace(tmp, out)
        path.unlink(missing_ok=True)

    async def apply(self, command: dict[str, Any]) -> dict[str, Any]:
        action = command["action"]
        if action == "queue":
            return {"ok": True, "queues": self.queue_view()}
        if action in ("retry", "suspend", "resume"):
            return self._queue_action(action, command["next_hop"],
                                      command.get("sender"))
        if action == "send":
            return await self._send(command)
        return {"ok": False, "error": f"unknown action {action!r}"}

    def queue_view(self) -> list[dict[str, Any]]:
        rows = []
        for domain, sender in self.senders.items():
            for hop in sender.queue.summary():
                rows.append({"sender": domain, "next_hop": hop.next_hop,
                             "state": hop.state, "messages": hop.message_count,
                             "last_error": hop.last_error,
                             "next_retry": hop.next_retry})
        return rows

    def _queue_action(self, action: str, next_hop: str,
                      sender: str | None) -> dict[str, Any]:
        count = 0
        for domain, s in self.senders.items():
            if sender is not None and domain != sender:
                continue
            if action == "retry":
                count += s.queue.retry(next_hop, time.time())
            else:
                count += getattr(s.queue, action)(next_hop)
            s.agent.wake()
        return {"ok": True, "entries": count}

    async def _send(self, command: dict[str, Any]) -> dict[str, Any]:
        """A message from a partner's user (or ours) through its own relay."""
        mail_from = str(command["from"])
        rcpt = [str(r) for r in command["to"]][:20]
        domain = mail_from.rpartition("@")[2].lower()
        sender = self.senders.get(domain)
        if sender is None:
            return {"ok": False, "error": f"no sender in the lab for {domain}"}
        message = EmailMessage()
        message["From"] = mail_from
        message["To"] = ", ".join(rcpt)
        message["Subject"] = str(command.get("subject", "Lab message"))[:200]
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = make_msgid(idstring=uuid.uuid4().hex[:8],
                                           domain=domain)
        message.set_content(str(command.get("body", "Sent by maillab send."))[:10000])
        try:
            ids = await sender.enqueue(mail_from, rcpt, bytes(message))
        except (QueueFull, MessageTooLarge) as exc:
            return {"ok": False, "error": str(exc)}
        return {"ok": True, "queued": list(ids), "message_id": message["Message-ID"]}

    # endregion


def send_command(directory: Path, command: dict[str, Any],
                 timeout: float = 5.0) -> dict[str, Any]:
    """Drop ``command`` into a running lab's control folder; wait for its reply."""
    folder = directory / "control"
    if not folder.is_dir():
        raise FileNotFoundError(f"{directory} is not a running lab's directory")
    name = f"{time.time_ns()}-{uuid.uuid4().hex[:6]}"
    tmp = folder / f"{name}.tmp"
    tmp.write_text(json.dumps(command))
    os.replace(tmp, folder / f"{name}.cmd")
    reply = folder / f"{name}.reply"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if reply.exists():
            answer = json.loads(reply.read_text())
            reply.unlink(missing_ok=True)
            return answer
        time.sleep(0.05)
    (folder / f"{name}.cmd").unlink(missing_ok=True)
    raise TimeoutError(f"the lab did not answer within {timeout:g} s")
