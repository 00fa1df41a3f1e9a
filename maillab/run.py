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
    if scenario.network == "isolated":
        return Score(scenario.name, (), (),
                     skipped="needs isolated mode (--network isolated)")
    try:
        async with Lab(scenario) as lab:
            target = from_options(scenario.domain, None, (), lab.state_file)
            report = await diagnose(target, timeout=timeout, dns_timeout=timeout)
            expected = [(e.code, e.subject) for e in lab.expected()]
    except LabError as exc:
        return Score(scenario.name, (), (), error=str(exc))
    found = [(f.code, f.subject) for f in report.findings]
    return score(scenario.name, expected, found)


async def run_one_isolated(name: str, *, timeout: float = 2.0) -> Score:
    """The same, with the lab in a namespace of its own and the checker run
    inside it with no flag but the domain, as a trainee would run it."""
    import json
    import signal
    import sys
    import tempfile
    from pathlib import Path

    from lab.plan import build_plan
    from lab.runtime import expected_findings

    scenario = load(name)
    plan = build_plan(scenario, network="isolated")
    expected = [(e.code, e.subject) for e in expected_findings(scenario, plan)]
    with tempfile.TemporaryDirectory(prefix="maillab-run-") as tmp:
        lab_dir = Path(tmp) / "lab"
        from lab.isolated.child import die_with_parent

        # The lab must not outlive this run, even if the run is killed.
        up = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "maillab", "up", name, "--network", "isolated",
            "--dir", str(lab_dir), stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            preexec_fn=die_with_parent(signal.SIGTERM))
        try:
            state = lab_dir / "state.json"
            for _ in range(300):
                if state.exists() or up.returncode is not None:
                    break
                await asyncio.sleep(0.05)
            if not state.exists():
                err = (await up.stderr.read()).decode() if up.stderr else ""
                return Score(scenario.name, tuple(expected), (),
                             error=f"isolated lab did not start: {err[-300:]}")
            check = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "maillab", "exec", str(lab_dir / "state.json"),
                "--", sys.executable, "-m", "maillab", "check", scenario.domain,
                "--json", "--timeout", str(timeout),
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            out, _ = await asyncio.wait_for(check.communicate(), 120)
            report = json.loads(out or b"{}")
        except (ValueError, asyncio.TimeoutError) as exc:
            return Score(scenario.name, tuple(expected), (), error=str(exc))
        finally:
            if up.returncode is None:
                up.send_signal(signal.SIGINT)
            await asyncio.wait_for(up.wait(), 30)
    found = [(f["code"], f["subject"]) for f in report.get("findings", [])]
    return score(scenario.name, expected, found)


async def run_many(names: list[str], *, jobs: int = 4, timeout: float = 2.0,
                   on_done=None, network: str = "loopback") -> list[Score]:
    gate = asyncio.Semaphore(max(1, jobs))
    runner = run_one_isolated if network == "isolated" else run_one

    async def one(name: str) -> Score:
        async with gate:
            result = await runner(name, timeout=timeout)
        if on_done is not None:
            on_done(result)
        return result

    return list(await asyncio.gather(*(one(n) for n in names)))
