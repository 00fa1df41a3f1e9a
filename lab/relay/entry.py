"""Queue entries as values: one message for one next hop, and its recipients.

An entry moves ``ready`` -> ``active`` (an attempt runs) -> ``retry`` (a
temporary failure, RFC 5321 section 4.5.4.1) or away (every recipient
delivered or bounced). ``suspended`` holds it until an operator resumes the
next hop. The names follow Exchange's queue viewer. Everything here is pure;
``queue`` keeps these values on disk.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

from .errors import CorruptEntry

State = Literal["active", "ready", "retry", "suspended"]
STATES: tuple[State, ...] = ("active", "ready", "retry", "suspended")

#: ``pending`` still to deliver; ``delivered`` and ``failed`` are final.
RecipientState = Literal["pending", "delivered", "failed"]


@dataclass(frozen=True)
class Recipient:
    address: str
    state: RecipientState = "pending"
    #: The last reply about this recipient: remote text or our own reason.
    reply: str = ""
    #: RFC 3463 enhanced status of ``reply`` (e.g. "5.7.25"), when known.
    status: str = ""
    #: The host that gave ``reply`` (for Remote-MTA), empty when none did.
    remote_mta: str = ""


@dataclass(frozen=True)
class QueueEntry:
    id: str
    mail_from: str
    rcpt_to: tuple[Recipient, ...]
    next_hop: str
    state: State
    first_seen: float
    next_attempt: float
    attempts: int = 0
    last_error: str = ""
    size: int = 0
    delay_notified: bool = False

    @property
    def pending(self) -> tuple[Recipient, ...]:
        return tuple(r for r in self.rcpt_to if r.state == "pending")

    @property
    def finished(self) -> bool:
        return not self.pending

    def due(self, now: float) -> bool:
        """May a delivery attempt start now?"""
        if self.state == "ready":
            return True
        return self.state == "retry" and self.next_attempt <= now

    def with_state(self, state: State, **changes: Any) -> QueueEntry:
        return replace(self, state=state, **changes)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["rcpt_to"] = [asdict(r) for r in self.rcpt_to]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> QueueEntry:
        try:
            rcpts = tuple(Recipient(**r) for r in data["rcpt_to"])
            fields = {k: v for k, v in data.items() if k != "rcpt_to"}
            entry = cls(rcpt_to=rcpts, **fields)
        except (KeyError, TypeError) as exc:
            raise CorruptEntry(f"queue entry metadata unreadable: {exc}") from None
        if entry.state not in STATES:
            raise CorruptEntry(f"queue entry {entry.id}: unknown state {entry.state}")
        return entry


@dataclass(frozen=True)
class HopSummary:
    """One line of the queue viewer: everything waiting for one next hop."""

    next_hop: str
    state: State
    message_count: int
    last_error: str
    next_retry: float | None


def summarise(entries: list[QueueEntry]) -> list[HopSummary]:
    """Group entries by next hop, Exchange queue-viewer style.

    A hop's state is the most telling of its entries' states: suspended,
    then active, then retry, then ready.
    """
    rank = {"suspended": 0, "active": 1, "retry": 2, "ready": 3}
    hops: dict[str, list[QueueEntry]] = {}
    for entry in entries:
        hops.setdefault(entry.next_hop, []).append(entry)

    out = []
    for hop in sorted(hops):
        group = hops[hop]
        state = min((e.state for e in group), key=rank.__getitem__)
        failed = [e for e in group if e.last_error]
        last = max(failed, key=lambda e: e.next_attempt).last_error if failed else ""
        retries = [e.next_attempt for e in group if e.state == "retry"]
        out.append(HopSummary(hop, state, len(group), last,
                              min(retries) if retries else None))
    return out
