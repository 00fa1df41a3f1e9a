"""The delivery agent: takes due entries from the queue and delivers them.

For each entry: find the route (``route.find_route``), offer the message to
each target in MX order until one gives a final answer, conclude the
attempt (``attempt.conclude``), tell the sender about failures and long
delays (``dsn``), and keep or drop the entry. Which target to try next is
decided by ``try_next`` and the per-recipient results by ``results_of``,
both pure; the rest is the thin asyncio layer.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from .attempt import Conclusion, RecipientResult, all_recipients, conclude
from .dsn import Notice, render_dsn
from .entry import QueueEntry, Recipient
from .queue import OutboundQueue
from .resolver import LabResolver
from .route import LOOPBACK, Network, Target, find_route
from .schedule import RetrySchedule
from .smtp_client import ClientConfig, SessionResult, send
from .transcript import Transcript, TranscriptLog

log = logging.getLogger(__name__)

#: ``deliver_local(user, message)``: put a notice into a lab mailbox.
LocalDeliver = Callable[[str, bytes], Awaitable[str] | str]
#: ``port_for(address, standard_port)``: the port a lab host really uses.
PortFor = Callable[[str, int], int]

SMTP_PORT = 25


@dataclass(frozen=True)
class RelayConfig:
    """Who the relay is and how it behaves."""

    #: The relay's name: its EHLO name, Reporting-MTA and postmaster domain.
    hostname: str
    #: The lab address the relay sends from (its PTR and SPF matter).
    source_address: str
    #: Domains whose senders get their notices in a lab mailbox.
    local_domains: tuple[str, ...] = ()
    schedule: RetrySchedule = field(default_factory=RetrySchedule)
    allowed_networks: tuple[Network, ...] = LOOPBACK
    connect_timeout: float = 10.0
    command_timeout: float = 30.0
    max_parallel: int = 10


def try_next(session: SessionResult) -> bool:
    """Should the next MX host be tried after this session? (RFC 5321 5.1)

    Yes when the host could not be reached or would not talk at all (a
    greeting other than 220, a 4yz to EHLO or MAIL, a 421 closing); a
    reply about a recipient or the message is that domain's final word.
    """
    if session.stage in ("connect", "greeting"):
        return True
    if session.stage in ("ehlo", "mail") and session.reply is not None:
        return session.reply.code < 500
    return any(r.code == 421 for r in session.rcpt.values())


def results_of(session: SessionResult, pending: Sequence[Recipient],
               host: str) -> list[RecipientResult]:
    """One result per pending recipient from what the session achieved."""
    if session.stage == "connect":
        return [RecipientResult(r.address, "temporary", session.error, "4.4.1")
                for r in pending]
    if session.reply is not None and session.stage in ("greeting", "ehlo", "mail"):
        return [RecipientResult.from_reply(r.address, session.reply, host)
                for r in pending]

    out = []
    closing = next((r for r in session.rcpt.values() if r.code == 421), None)
    for rcpt in pending:
        reply = session.rcpt.get(rcpt.address)
        if reply is None or (reply.code in (250, 251) and session.data is None):
            # Never asked, or accepted but no DATA followed (the server left).
            reply = closing or session.data
        if reply is None:
            out.append(RecipientResult(rcpt.address, "temporary",
                                       f"{host} ended the session early", "4.4.2"))
            continue
        if reply.code in (250, 251) and session.data is not None:
            reply = session.data
        out.append(RecipientResult.from_reply(rcpt.address, reply, host))
    return out


class DeliveryAgent:
    """Delivers the queue's due entries; ``run_once`` is one pass."""

    def __init__(self, queue: OutboundQueue, resolver: LabResolver,
                 config: RelayConfig, deliver_local: LocalDeliver | None = None, *,
                 port_for: PortFor | None = None,
                 transcripts: TranscriptLog | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.queue = queue
        self.resolver = resolver
        self.config = config
        self.deliver_local = deliver_local
        self.port_for = port_for or (lambda address, port: port)
        self.transcripts = transcripts
        self.clock = clock
        self._client = ClientConfig(config.hostname, config.source_address,
                                    connect_timeout=config.connect_timeout,
                                    command_timeout=config.command_timeout)
        self._busy: set[str] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # -- the background loop -------------------------------------------------

    def start(self, interval: float = 1.0) -> None:
        """Run passes in the background: every ``interval`` s or on ``wake``."""
        self._task = asyncio.get_running_loop().create_task(self._loop(interval))

    def wake(self) -> None:
        """Something was queued: start a pass now rather than at the next tick."""
        self._wake.set()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _loop(self, interval: float) -> None:
        while True:
            try:
                await self.run_once(self.clock())
            except Exception:
                log.exception("relay: delivery pass failed")
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), interval)
            except TimeoutError:
                pass

    # -- one pass --------------------------------------------------------------

    async def run_once(self, now: float | None = None) -> list[Conclusion]:
        """Attempt every entry due at ``now``; return what became of each."""
        moment = self.clock() if now is None else now
        due = [e for e in self.queue.due(moment) if e.id not in self._busy]
        gate = asyncio.Semaphore(self.config.max_parallel)

        async def one(entry: QueueEntry) -> Conclusion:
            async with gate:
                return await self.attempt(entry, moment)

        return list(await asyncio.gather(*(one(e) for e in due)))

    async def attempt(self, entry: QueueEntry, now: float) -> Conclusion:
        """One delivery attempt of ``entry``, concluded at ``now``."""
        self._busy.add(entry.id)
        try:
            self.queue.save(entry.with_state("active"))
            results = await self._results(entry)

            conclusion = conclude(entry, results, now, self.config.schedule,
                                  suspended=self.queue.is_suspended(entry.next_hop))
            await self._notify(conclusion, now)

            if conclusion.done:
                self.queue.remove(entry.id)
            else:
                self.queue.save(conclusion.entry)
            self._log(conclusion, now)
            return conclusion
        finally:
            self._busy.discard(entry.id)

    async def _results(self, entry: QueueEntry) -> list[RecipientResult]:
        route = await find_route(self.resolver, entry.next_hop,
                                 self.config.allowed_networks)
        if route.failure is not None:
            return all_recipients(entry, route.failure.kind, route.failure.reason,
                                  route.failure.status)

        content = self.queue.content(entry.id)
        results: list[RecipientResult] = []
        for target in route.targets:
            session = await self._session(entry, target, content)
            results = results_of(session, entry.pending, target.host)
            if not try_next(session):
                break
        return results

    async def _session(self, entry: QueueEntry, target: Target,
                       content: bytes) -> SessionResult:
        port = self.port_for(target.address, SMTP_PORT)
        transcript = Transcript(self.config.hostname, f"{target.address}:{port}",
                                "outbound", self.clock())
        try:
            return await send(target.host, target.address, port, entry.mail_from,
                              [r.address for r in entry.pending], content,
                              self._client, transcript)
        finally:
            if self.transcripts is not None:
                self.transcripts.write(transcript)

    # -- telling the sender ----------------------------------------------------

    async def _notify(self, conclusion: Conclusion, now: float) -> None:
        entry = conclusion.entry
        schedule = self.config.schedule
        if conclusion.failed:
            await self._send_notice(entry, "failed", conclusion.failed, now, None)
        if conclusion.delayed:
            until = entry.first_seen + schedule.give_up
            await self._send_notice(entry, "delayed", conclusion.delayed, now, until)

    async def _send_notice(self, entry: QueueEntry, kind: str,
                           recipients: tuple[Recipient, ...], now: float,
                           until: float | None) -> None:
        if not entry.mail_from:
            # Never a notice about a notice (RFC 5321 section 6.1, RFC 3464 s. 2).
            log.info("relay: no %s notice for %s: null reverse path", kind, entry.id)
            return
        user, _, domain = entry.mail_from.rpartition("@")
        if domain.lower() not in self.config.local_domains or \
                self.deliver_local is None:
            # TODO: queue notices for senders outside the lab's own domains.
            log.warning("relay: cannot return a %s notice to <%s>", kind,
                        entry.mail_from)
            return

        notice = Notice(kind, self.config.hostname, entry.mail_from,  # type: ignore
                        recipients, entry.first_seen, now,
                        self.queue.content(entry.id), entry.id, until)
        result = self.deliver_local(user.lower(), render_dsn(notice))
        if inspect.isawaitable(result):
            await result
        log.info("relay: %s notice for %s sent to <%s>", kind, entry.id,
                 entry.mail_from)

    def _log(self, conclusion: Conclusion, now: float) -> None:
        entry = conclusion.entry
        for rcpt in conclusion.delivered:
            log.info("relay: %s delivered to <%s>: %s", entry.id, rcpt.address,
                     rcpt.reply)
        for rcpt in conclusion.failed:
            log.info("relay: %s bounced for <%s>: %s", entry.id, rcpt.address,
                     rcpt.reply)
        if not conclusion.done:
            log.info("relay: %s deferred (attempt %d, next in %.0f s): %s",
                     entry.id, entry.attempts,
                     entry.next_attempt - now, entry.last_error)
