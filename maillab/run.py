"""``maillab run``: each scenario's lab up, the checker against it, a verdict.

The checker is given exactly what the state file holds (resolver, outbound
relay, port map) and nothing of the ground truth; the comparison happens
here, after the checker has answered.
"""

from __future__ import annotations

import asyncio
import logging

from checker.diagnose import diagnose
from checker.target import from_options
from lab.errors import LabError
from lab.runtime import Lab
from lab.scenario import load

from .compare import Score, score

log = logging.getLogger(__name__)


async def run_one(name: str, *, timeout: float = 2.0) -> Score:
    scenario = load(name)
    try:
        async with Lab(scenario) as lab:
            target = from_options(scenario.domain, None, (), lab.state_file)
            report = await diagnose(target, timeout=timeout, dns_timeout=timeout)
            expected = [(e.code, e.subject) for e in lab.expected()]
    except LabError as exc:
        return Score(scenario.name, (), (), error=str(exc))
    found = [(f.code, f.subject) for f in report.findings]
    return score(scenario.name, expected, found)


async def run_many(names: list[str], *, jobs: int = 4, timeout: float = 2.0,
                   on_done=None) -> list[Score]:
    gate = asyncio.Semaphore(max(1, jobs))

    async def one(name: str) -> Score:
        async with gate:
            result = await run_one(name, timeout=timeout)
        if on_done is not None:
            on_done(result)
        return result

    return list(await asyncio.gather(*(one(n) for n in names)))
