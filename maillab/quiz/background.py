"""A lab served from a thread of its own while the terminal quiz waits on input.

The quiz reads the keyboard synchronously; the lab needs an event loop. The
loop runs in a daemon thread, and every call into it is bounded by a timeout.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, Self

from lab.errors import LabStartError
from lab.runtime import Lab
from lab.scenario.model import Scenario

log = logging.getLogger(__name__)

START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0


class BackgroundLab:
    """One scenario's lab, started and stopped from synchronous code."""

    def __init__(self, scenario: Scenario) -> None:
        self.lab = Lab(scenario)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever,
                                        name=f"lab-{scenario.name}", daemon=True)
        self._started = False

    def start(self) -> None:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self.lab.start(), self._loop)
        try:
            future.result(timeout=START_TIMEOUT)
        except FutureTimeout:
            future.cancel()
            self._halt()
            raise LabStartError(f"the lab did not start in {START_TIMEOUT:.0f} s")
        except BaseException:
            self._halt()
            raise
        self._started = True

    def state(self) -> dict[str, Any]:
        return self.lab.state()

    def expected(self) -> list[Any]:
        return self.lab.expected()

    def stop(self) -> None:
        if self._started:
            future = asyncio.run_coroutine_threadsafe(self.lab.stop(), self._loop)
            try:
                future.result(timeout=STOP_TIMEOUT)
            except FutureTimeout:
                log.warning("lab %s did not stop in %.0f s",
                            self.lab.scenario.name, STOP_TIMEOUT)
            self._started = False
        self._halt()

    def _halt(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=STOP_TIMEOUT)
        if not self._thread.is_alive():
            self._loop.close()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
