"""Shared fixtures: real labs on loopback, each in a slot of its own."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator

import pytest

from lab.runtime import Lab
from lab.scenario import load

#: Every network step of a test has a short, explicit bound.
STEP_TIMEOUT = 2.0


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} is not installed (.ci/run installs it)")
    return path


@pytest.fixture
async def healthy_lab() -> AsyncIterator[Lab]:
    async with Lab(load("healthy")) as lab:
        yield lab


@pytest.fixture
async def start_lab() -> AsyncIterator:
    """Start labs by scenario name or path; every one is stopped afterwards."""
    labs: list[Lab] = []

    async def start(name: str) -> Lab:
        lab = Lab(load(name))
        await lab.start()
        labs.append(lab)
        return lab

    yield start
    for lab in labs:
        await lab.stop()
