"""Running a checker against scenario labs: the I/O half of ``maillab verify``.

Each scenario gets a lab of its own (labs pick a free slot), the checker runs
against it as a subprocess (or a callable in a thread), and its answer is
mapped and scored. The checker sees only what the contract gives it; the
ground truth is read from the lab after the checker has answered.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from lab.errors import LabError
from lab.runtime import Lab
from lab.scenario import load

from ..compare import Score, score
from .contract import (
    MAX_REPORT_BYTES,
    ContractError,
    LabInfo,
    ReportedFinding,
    expand,
    findings_of,
    lab_info,
    parse_report,
)
from .mapping import CodeMap, apply_mapping

log = logging.getLogger(__name__)

Checker = str | Callable[[LabInfo], dict[str, Any]]

DEFAULT_TIMEOUT = 60.0
MAX_STDERR = 64 * 1024
STDERR_SHOWN = 600


@dataclass(frozen=True)
class Outcome:
    score: Score
    elapsed_s: float


def checker_label(checker: Checker) -> str:
    if isinstance(checker, str):
        return checker
    return getattr(checker, "__qualname__", repr(checker))


async def run_command(argv: list[str], *, timeout: float,
                      env: dict[str, str] | None = None) -> tuple[int, bytes, str]:
    """Run one checker process: (exit status, stdout, the tail of stderr)."""
    proc = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env=env)
    try:
        out, err = await asyncio.wait_for(asyncio.gather(
            _read_bounded(proc.stdout, MAX_REPORT_BYTES + 1),
            _read_bounded(proc.stderr, MAX_STDERR)), timeout)
        status = await asyncio.wait_for(proc.wait(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise ContractError(f"the checker did not finish within {timeout:g} s")
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    text = err.decode("utf-8", errors="replace").strip()
    return status, out, text[-STDERR_SHOWN:]


async def _read_bounded(stream: asyncio.StreamReader | None, cap: int) -> bytes:
    """Everything up to ``cap`` bytes; the rest is drained so the child never
    blocks on a full pipe."""
    if stream is None:
        return b""
    kept = bytearray()
    while chunk := await stream.read(65536):
        if len(kept) < cap:
            kept += chunk[:cap - len(kept)]
    return bytes(kept)


async def ask_checker(checker: Checker, info: LabInfo, *,
                      timeout: float) -> tuple[ReportedFinding, ...]:
    """The checker's findings for one lab, or ContractError."""
    public = info.without_truth()
    if not isinstance(checker, str):
        # TODO: a callable that hangs keeps its thread; threads cannot be killed.
        try:
            doc = await asyncio.wait_for(asyncio.to_thread(checker, public),
                                         timeout)
        except TimeoutError:
            raise ContractError(f"the checker did not finish within {timeout:g} s")
        return findings_of(doc)

    argv = expand(checker, public)
    env = dict(os.environ)
    env.update({f"MAILLAB_{k.upper()}": v for k, v in
                public.placeholders().items()})
    try:
        status, out, err = await run_command(argv, timeout=timeout, env=env)
    except OSError as exc:
        raise ContractError(f"cannot start {argv[0]}: {exc.strerror}") from None
    try:
        return parse_report(out)
    except ContractError as exc:
        detail = f"; stderr: {err}" if err else ""
        raise ContractError(f"{exc} (exit status {status}){detail}") from None


async def verify_one(name: str, checker: Checker, *,
                     mapping: CodeMap | None = None,
                     timeout: float = DEFAULT_TIMEOUT) -> Outcome:
    started = time.monotonic()
    scenario = load(name)
    expected: list[tuple[str, str]] = []
    try:
        async with Lab(scenario) as lab:
            info = lab_info(lab)
            expected = list(info.expected)
            found = await ask_checker(checker, info, timeout=timeout)
    except (LabError, ContractError) as exc:
        log.warning("%s: %s", scenario.name, exc)
        errored = Score(scenario.name, tuple(sorted(set(expected))), (),
                        error=str(exc))
        return Outcome(errored, time.monotonic() - started)

    pairs = apply_mapping(found, mapping, expected)
    return Outcome(score(scenario.name, expected, pairs),
                   time.monotonic() - started)


async def verify_many(names: Sequence[str], checker: Checker, *, jobs: int = 4,
                      mapping: CodeMap | None = None,
                      timeout: float = DEFAULT_TIMEOUT,
                      on_done: Callable[[Outcome], None] | None = None,
                      ) -> list[Outcome]:
    """Every scenario, ``jobs`` labs at a time, in the order given."""
    gate = asyncio.Semaphore(max(1, jobs))

    async def one(name: str) -> Outcome:
        async with gate:
            outcome = await verify_one(name, checker, mapping=mapping,
                                       timeout=timeout)
        if on_done is not None:
            on_done(outcome)
        return outcome

    return list(await asyncio.gather(*(one(n) for n in names)))


def verify(names: Sequence[str], checker: Checker, **kw: Any) -> list[Outcome]:
    """Blocking form of ``verify_many``, for scripts and sync tests."""
    return asyncio.run(verify_many(names, checker, **kw))
