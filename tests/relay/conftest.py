from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from .world import World


@pytest.fixture
async def make_world(tmp_path: Path) -> AsyncIterator:
    worlds: list[World] = []

    async def make(records: list[tuple], **kwargs: object) -> World:
        partner = bool(kwargs.pop("partner", True))
        world = World(tmp_path / f"w{len(worlds)}", records, **kwargs)  # type: ignore
        worlds.append(world)
        return await world.start(partner=partner)

    yield make
    for world in worlds:
        await world.close()
