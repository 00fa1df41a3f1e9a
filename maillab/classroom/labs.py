"""Students' labs: at most one each, a cap for the room, all stopped at the end.

Labs are kept by student id only, so a request can reach a lab solely
through the session that owns it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from lab.errors import LabError
from lab.runtime import Lab
from lab.scenario.model import Scenario

log = logging.getLogger(__name__)

START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0


class LabRefused(Exception):
    """A lab that cannot be started now; ``str()`` is shown to the student."""


@dataclass(frozen=True)
class RunningLab:
    scenario: str
    lab: Lab


class LabPool:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._labs: dict[str, RunningLab] = {}
        self._lock = asyncio.Lock()

    def __len__(self) -> int:
        return len(self._labs)

    def of(self, student_id: str) -> RunningLab | None:
        return self._labs.get(student_id)

    async def start(self, student_id: str, scenario: Scenario) -> RunningLab:
        """Start a student's lab for ``scenario``, replacing any lab they had."""
        async with self._lock:
            await self._stop(student_id)
            if len(self._labs) >= self.limit:
                raise LabRefused(f"All {self.limit} labs of the room are in use; "
                                 "try again when someone has finished.")
            lab = Lab(scenario)
            try:
                await asyncio.wait_for(lab.start(), START_TIMEOUT)
            except (TimeoutError, LabError, OSError) as exc:
                await lab.stop()
                log.warning("lab %s for %s failed: %s", scenario.name, student_id,
                            exc)
                raise LabRefused(f"The lab could not start: {exc}") from None
            running = RunningLab(scenario.name, lab)
            self._labs[student_id] = running
            return running

    async def stop(self, student_id: str) -> None:
        async with self._lock:
            await self._stop(student_id)

    async def stop_all(self) -> None:
        async with self._lock:
            for sid in list(self._labs):
                await self._stop(sid)

    async def _stop(self, student_id: str) -> None:
        running = self._labs.pop(student_id, None)
        if running is None:
            return
        try:
            await asyncio.wait_for(running.lab.stop(), STOP_TIMEOUT)
        except TimeoutError:
            log.warning("lab of %s did not stop in %.0f s", student_id,
                        STOP_TIMEOUT)
