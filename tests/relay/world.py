"""A small mail world on loopback for relay and partner tests.

The lab DNS (``lab.dns.DnsServer``) serves contoso.test (the lab, relay
127.77.200.13), fabrikam.test (a partner, MX 127.77.200.40), their reverse
zone and a blocklist zone; a partner MX with a chosen policy; a queue, a
delivery agent and the senders' MailStore. Time is a fake clock.
"""

from __future__ import annotations

import email
import email.message
import errno
import socket
from dataclasses import dataclass, field
from pathlib import Path

from lab.dns import DnsServer, Responder, Zone
from lab.dns.responder import Rule
from lab.partner import PartnerHandler, PartnerPolicy, PartnerServer
from lab.relay import (
    DeliveryAgent,
    LabResolver,
    OutboundQueue,
    RelayConfig,
    RetrySchedule,
    TranscriptLog,
)
from lab.store import MailStore

RELAY_IP = "127.77.200.13"
PARTNER_IP = "127.77.200.40"
RELAY = "relay.contoso.test"
PARTNER_MX = "mx.fabrikam.test"
BLOCKLIST = "bl.lab.test"
REVERSE = "200.77.127.in-addr.arpa"
T0 = 1_700_000_000.0

STEP_TIMEOUT = 2.0
FAST = RetrySchedule.shortened([1, 2, 4], give_up=30, delay_notice=5)


@dataclass
class Clock:
    now: float = T0

    def __call__(self) -> float:
        return self.now


def baseline_records(ptr: bool = True,
                     spf: str = f"v=spf1 ip4:{RELAY_IP} -all") -> list[tuple]:
    records: list[tuple] = [
        ("contoso.test", "TXT", spf, 300),
        (RELAY, "A", RELAY_IP, 300),
        ("fabrikam.test", "MX", (10, PARTNER_MX), 300),
        (PARTNER_MX, "A", PARTNER_IP, 300),
        ("fabrikam.test", "TXT", "v=spf1 -all", 300),
    ]
    if ptr:
        records.append((f"13.{REVERSE}", "PTR", RELAY, 300))
    return records


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on (bound and released at once)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


async def start_dns(responder: Responder) -> DnsServer:
    """The lab DNS on 127.0.0.1, a free port for both UDP and TCP.

    With port 0 the server takes a free UDP port and then binds TCP to the
    same number, which another socket may hold: pick again in that case.
    """
    for _ in range(10):
        server = DnsServer(responder, "127.0.0.1", 0)
        try:
            await server.start()
            return server
        except OSError as exc:
            await server.close()
            if exc.errno != errno.EADDRINUSE:
                raise
    raise RuntimeError("no port free for both UDP and TCP")


@dataclass
class World:
    root: Path
    records: list[tuple]
    policy: PartnerPolicy = field(default_factory=PartnerPolicy)
    schedule: RetrySchedule = FAST
    clock: Clock = field(default_factory=Clock)
    ports: dict[str, int] = field(default_factory=dict)
    closers: list = field(default_factory=list)
    rules: list[Rule] = field(default_factory=list)

    async def start(self, partner: bool = True) -> World:
        zone = Zone.build(["contoso.test", "fabrikam.test", REVERSE, BLOCKLIST,
                           "nullmx.test"], self.records)
        self.dns = await start_dns(Responder(zone, self.rules))
        self.closers.append(self.dns.close)
        self.resolver = LabResolver("127.0.0.1", self.dns.port, timeout=1.0)

        self.transcripts = TranscriptLog(self.root / "transcripts")
        self.partner_store = MailStore(self.root / "partner-mail")
        self.handler = PartnerHandler(
            domain="fabrikam.test", hostname=PARTNER_MX, policy=self.policy,
            resolver=self.resolver, store=self.partner_store, clock=self.clock)
        if partner:
            self.partner = PartnerServer(self.handler, PARTNER_IP, 0,
                                         transcripts=self.transcripts)
            await self.partner.start()
            self.closers.append(self.partner.close)
            self.ports[PARTNER_IP] = self.partner.port
        else:
            self.ports[PARTNER_IP] = free_port(PARTNER_IP)

        self.store = MailStore(self.root / "mail")
        self.queue = OutboundQueue(self.root / "queue")
        self.closers.append(self.queue.close)
        config = RelayConfig(hostname=RELAY, source_address=RELAY_IP,
                             local_domains=("contoso.test",), schedule=self.schedule,
                             connect_timeout=STEP_TIMEOUT,
                             command_timeout=STEP_TIMEOUT * 2)
        self.agent = DeliveryAgent(
            self.queue, self.resolver, config, self.store.deliver_async,
            port_for=lambda address, port: self.ports.get(address, port),
            transcripts=self.transcripts, clock=self.clock)
        return self

    async def close(self) -> None:
        for close in reversed(self.closers):
            result = close()
            if hasattr(result, "__await__"):
                await result

    def send(self, rcpt: str = "bob@fabrikam.test",
             mail_from: str = "alice@contoso.test",
             subject: str = "Quarterly figures") -> str:
        message = (f"From: Alice <{mail_from}>\r\nTo: <{rcpt}>\r\n"
                   f"Subject: {subject}\r\nMessage-ID: <q1@contoso.test>\r\n\r\n"
                   f"Hello Bob,\r\n.a line that starts with a dot\r\n").encode()
        (entry_id,) = self.queue.enqueue(mail_from, [rcpt], message, self.clock.now)
        return entry_id

    async def run(self, at: float) -> list:
        self.clock.now = at
        return await self.agent.run_once(at)

    def inbox(self, user: str, store: MailStore | None = None
              ) -> list[email.message.Message]:
        box = (store or self.store).mailbox(user)
        return [email.message_from_bytes(box.read(m.key)) for m in box.list()]

    def partner_inbox(self, user: str = "bob") -> list[email.message.Message]:
        return self.inbox(user, self.partner_store)


def delivery_status(notice: email.message.Message) -> list[email.message.Message]:
    """The per-message and per-recipient field blocks of a DSN."""
    assert notice.get_content_type() == "multipart/report"
    assert notice.get_param("report-type") == "delivery-status"
    part = next(p for p in notice.walk()
                if p.get_content_type() == "message/delivery-status")
    return list(part.get_payload())
