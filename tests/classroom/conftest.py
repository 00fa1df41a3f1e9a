"""A classroom served on 127.0.0.1, port 0, in the test's own event loop."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from maillab.classroom import Classroom, Settings

TIMEOUT = aiohttp.ClientTimeout(total=30, sock_connect=2)
CSRF = re.compile(r"name='csrf' value='([^']+)'")


@dataclass
class Served:
    """A running room that a test can restart on the same data directory."""

    settings: Settings
    token: str = "teacher-token-for-tests"
    room: Classroom | None = None
    runner: web.AppRunner | None = None
    base: str = ""
    sessions: list[aiohttp.ClientSession] = field(default_factory=list)

    async def start(self) -> None:
        self.room = Classroom(self.settings, self.token)
        self.runner = web.AppRunner(self.room.app(), handle_signals=False)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        host, port = self.runner.addresses[0][:2]
        self.base = f"http://{host}:{port}"

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    def client(self) -> aiohttp.ClientSession:
        # Cookies for an IP address need the 'unsafe' jar.
        session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True),
                                        timeout=TIMEOUT)
        self.sessions.append(session)
        return session

    def url(self, path: str) -> str:
        return self.base + path


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    room = Served(Settings(data=tmp_path / "room", set_name="ports", max_labs=2))
    await room.start()
    yield room
    for session in room.sessions:
        await session.close()
    await room.stop()


@dataclass(frozen=True)
class Joined:
    session: aiohttp.ClientSession
    sid: str
    csrf: str


async def join(served: Served, name: str) -> Joined:
    """Join as a student the way the form does; return the session and its ids."""
    session = served.client()
    async with session.get(served.url("/")) as page:
        pre = CSRF.search(await page.text()).group(1)
    async with session.post(served.url("/join"), data={"csrf": pre, "name": name},
                            allow_redirects=False) as done:
        assert done.status == 303, await done.text()
        sid = done.headers["Location"].split("/")[2]
    async with session.get(served.url(f"/s/{sid}/q/1")) as page:
        assert page.status == 200
        csrf = CSRF.search(await page.text()).group(1)
    return Joined(session, sid, csrf)
