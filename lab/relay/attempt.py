"""The delivery attempt state machine, without I/O.

The delivery agent reports one ``RecipientResult`` per pending recipient;
``conclude`` turns an entry and those results into the entry's next state
and the notices owed to the sender. Rules (RFC 5321 section 4.2.1 and
4.5.4.1): a 2yz reply delivers, a 5yz reply fails the recipient at once,
a 4yz reply or no reply at all keeps it for the next try until the
schedule gives up, which then fails it with its last temporary reply.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Literal

from .entry import QueueEntry, Recipient
from .schedule import RetrySchedule

Kind = Literal["delivered", "temporary", "permanent"]

_ENHANCED = re.compile(r"^([245])\.(\d{1,3})\.(\d{1,3})\b")


@dataclass(frozen=True)
class Reply:
    """An SMTP reply: its code and its lines without the code prefix."""

    code: int
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        """The reply as one line, each line with its code, as MTAs quote it."""
        last = len(self.lines) - 1
        return " ".join(f"{self.code}{' ' if i == last else '-'}{line}"
                        for i, line in enumerate(self.lines)) or str(self.code)

    @property
    def status(self) -> str:
        """The RFC 3463 enhanced status, or the class default X.0.0."""
        match = _ENHANCED.match(self.lines[0] if self.lines else "")
        if match and match.group(1) == str(self.code)[0]:
            return ".".join(match.groups())
        return f"{str(self.code)[0]}.0.0"

    @property
    def kind(self) -> Kind:
        if 200 <= self.code < 300:
            return "delivered"
        return "permanent" if self.code >= 500 else "temporary"


@dataclass(frozen=True)
class RecipientResult:
    """What happened to one recipient in one attempt."""

    address: str
    kind: Kind
    #: The remote reply as one line, or our own words when nothing answered.
    reply: str
    status: str
    remote_mta: str = ""

    @classmethod
    def from_reply(cls, address: str, reply: Reply,
                   remote_mta: str) -> RecipientResult:
        return cls(address, reply.kind, reply.text, reply.status, remote_mta)


@dataclass(frozen=True)
class Conclusion:
    entry: QueueEntry
    #: Recipients that failed in this step: the sender gets a failure DSN.
    failed: tuple[Recipient, ...] = ()
    #: Recipients still waiting past the delay time: a delay DSN is owed.
    delayed: tuple[Recipient, ...] = ()
    delivered: tuple[Recipient, ...] = ()

    @property
    def done(self) -> bool:
        return self.entry.finished


def conclude(entry: QueueEntry, results: list[RecipientResult], now: float,
             schedule: RetrySchedule, suspended: bool = False) -> Conclusion:
    """The entry after an attempt whose per-recipient ``results`` are given."""
    by_address = {r.address: r for r in results}
    rcpts: list[Recipient] = []
    for rcpt in entry.rcpt_to:
        result = by_address.get(rcpt.address)
        if rcpt.state != "pending" or result is None:
            rcpts.append(rcpt)
            continue
        state = {"delivered": "delivered", "permanent": "failed",
                 "temporary": "pending"}[result.kind]
        rcpts.append(Recipient(rcpt.address, state, result.reply,  # type: ignore
                               result.status, result.remote_mta))

    temporary = [r for r in rcpts if r.state == "pending"]
    last_error = temporary[0].reply if temporary else entry.last_error
    attempts = entry.attempts + 1
    next_attempt = schedule.next_attempt(attempts, entry.first_seen, now)

    # Past the give-up time the last temporary reply becomes the reason
    # for failing (RFC 5321 section 4.5.4.1: give up after 4-5 days).
    if temporary and next_attempt is None:
        rcpts = [replace(r, state="failed") if r.state == "pending" else r
                 for r in rcpts]
        temporary = []

    before = {r.address: r.state for r in entry.rcpt_to}
    failed = tuple(r for r in rcpts
                   if r.state == "failed" and before[r.address] != "failed")
    delivered = tuple(r for r in rcpts
                      if r.state == "delivered" and before[r.address] != "delivered")

    delay_due = bool(temporary) and schedule.delay_notice_due(
        entry.first_seen, now, entry.delay_notified)
    state = "suspended" if suspended else "retry"
    updated = replace(
        entry, rcpt_to=tuple(rcpts), state=state, attempts=attempts,
        last_error=last_error,
        next_attempt=next_attempt if next_attempt is not None else now,
        delay_notified=entry.delay_notified or delay_due)
    return Conclusion(updated, failed=failed,
                      delayed=tuple(temporary) if delay_due else (),
                      delivered=delivered)


def all_recipients(entry: QueueEntry, kind: Kind, reply: str, status: str,
                   remote_mta: str = "") -> list[RecipientResult]:
    """The same result for every pending recipient (a hop-wide outcome)."""
    return [RecipientResult(r.address, kind, reply, status, remote_mta)
            for r in entry.pending]
