"""When to try a deferred message again, when to warn, and when to give up.

The defaults follow Postfix: the first retry after 5 minutes, each wait
twice the last up to one hour, a delay notice after 4 hours and a bounce
after 5 days in the queue (RFC 5321 section 4.5.4.1 asks for at least
30 minutes between tries and 4-5 days before giving up; a lab may shorten
both, so a scenario can show a whole retry cycle in seconds).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

MINUTE = 60.0
HOUR = 60 * MINUTE
DAY = 24 * HOUR


@dataclass(frozen=True)
class RetrySchedule:
    """Pure timing rules; every method takes the moment it reasons about.

    ``intervals`` lists the waits after the first, second, ... failed
    attempt; the last one repeats. Empty means: start at ``first`` and
    double up to ``maximum``.
    """

    intervals: tuple[float, ...] = ()
    first: float = 5 * MINUTE
    maximum: float = HOUR
    give_up: float = 5 * DAY
    delay_notice: float | None = 4 * HOUR

    @classmethod
    def shortened(cls, intervals: Sequence[float], give_up: float,
                  delay_notice: float | None = None) -> RetrySchedule:
        """A scenario's fast schedule, e.g. ``shortened([1, 2, 4], 30)``."""
        if not intervals or any(i <= 0 for i in intervals):
            raise ValueError("retry intervals must be positive and not empty")
        return cls(intervals=tuple(float(i) for i in intervals),
                   give_up=float(give_up), delay_notice=delay_notice)

    def wait_after(self, attempts: int) -> float:
        """The wait after the ``attempts``-th failed attempt (1 = the first)."""
        n = max(attempts, 1)
        if self.intervals:
            return self.intervals[min(n, len(self.intervals)) - 1]
        return min(self.first * 2 ** (n - 1), self.maximum)

    def expired(self, first_seen: float, now: float) -> bool:
        """Has the message been queued for longer than the give-up time?"""
        return now - first_seen >= self.give_up

    def next_attempt(self, attempts: int, first_seen: float,
                     now: float) -> float | None:
        """When to try again after a failure, or None when it is time to bounce.

        A retry that would fall after the give-up moment is moved to that
        moment, so the final attempt happens at the deadline, not past it.
        """
        if self.expired(first_seen, now):
            return None
        return min(now + self.wait_after(attempts), first_seen + self.give_up)

    def delay_notice_due(self, first_seen: float, now: float,
                         already_sent: bool) -> bool:
        """Should the sender now hear that the message is still waiting?"""
        if already_sent or self.delay_notice is None:
            return False
        return now - first_seen >= self.delay_notice
