"""A lab served from a background thread, for code that has no event loop.

The pytest plugin starts labs here so sync tests and asyncio tests alike can
use them: the lab's sockets live on the thread's own loop, and a test talks
to them over loopback like any client would.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
from collections.abc import Mapping
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import yaml

from lab.runtime import Lab
from lab.scenario import load

from .contract import LabInfo, lab_info

log = logging.getLogger(__name__)

#: A bundled scenario's name, a path to a scenario file, or a scenario inline.
ScenarioSpec = str | Path | Mapping[str, Any]

START_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0
MAX_INLINE_BYTES = 256 * 1024

#: What an inline scenario may leave out: it is a test fixture, not a lesson.
_INLINE_DEFAULTS: dict[str, Any] = {
    "version": 1,
    "title": "An inline scenario",
    "symptoms": {"complaint": "Written inline by a test."},
    "question": {
        "stem": "Inline scenarios carry no question.",
        "choices": [{"text": "yes", "best": True, "why": "placeholder"},
                    {"text": "no", "why": "placeholder"},
                    {"text": "maybe", "why": "placeholder"}],
    },
}

_counter = itertools.count(1)


def inline_document(doc: Mapping[str, Any]) -> dict[str, Any]:
    """An inline scenario completed with the fields a test need not write."""
    return {**_INLINE_DEFAULTS, **dict(doc)}


def write_inline(doc: Mapping[str, Any], directory: Path) -> Path:
    """Write an inline scenario as a YAML file the loader can read."""
    full = inline_document(doc)
    name = str(full.get("name") or f"inline-{next(_counter)}")
    text = yaml.safe_dump(full, sort_keys=False)
    if len(text.encode()) > MAX_INLINE_BYTES:
        raise ValueError(f"inline scenario larger than {MAX_INLINE_BYTES} bytes")
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.yaml"
    path.write_text(text)
    return path


def scenario_path(spec: ScenarioSpec, directory: Path) -> str:
    """What ``lab.scenario.load`` takes, for any kind of spec."""
    if isinstance(spec, Mapping):
        return str(write_inline(spec, directory))
    return str(spec)


class LabThread:
    """Labs running on one background event loop, stopped all together."""

    def __init__(self, workdir: Path) -> None:
        self._workdir = workdir
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever,
                                        name="maillab-labs", daemon=True)
        self._labs: list[Lab] = []
        self._thread.start()

    def _submit(self, coro: Any) -> Future[Any]:
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def start(self, spec: ScenarioSpec) -> LabInfo:
        """Start a lab and wait for it (blocks the caller up to START_TIMEOUT)."""
        return self._submit(self._start(spec)).result(START_TIMEOUT)

    async def astart(self, spec: ScenarioSpec) -> LabInfo:
        """Start a lab without blocking the caller's own event loop."""
        future = self._submit(self._start(spec))
        return await asyncio.wait_for(asyncio.wrap_future(future), START_TIMEOUT)

    async def _start(self, spec: ScenarioSpec) -> LabInfo:
        scenario = load(scenario_path(spec, self._workdir))
        lab = Lab(scenario)
        await lab.start()
        self._labs.append(lab)
        return lab_info(lab)

    def close(self) -> None:
        """Stop every lab, then the loop and its thread."""
        try:
            self._submit(self._stop_all()).result(STOP_TIMEOUT)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(STOP_TIMEOUT)
            if not self._thread.is_alive():
                self._loop.close()

    async def _stop_all(self) -> None:
        while self._labs:
            await self._labs.pop().stop()
