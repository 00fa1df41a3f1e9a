"""``maillab classroom`` as a process: what it prints, and a clean Ctrl-C."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys

import aiohttp

from maillab.classroom.command import is_loopback

from .conftest import TIMEOUT


def test_loopback_addresses_are_recognised():
    assert is_loopback("127.0.0.1") and is_loopback("::1")
    assert is_loopback("127.77.3.4") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.0.2.1")


async def _line(stream: asyncio.StreamReader) -> str:
    return (await asyncio.wait_for(stream.readline(), 20)).decode()


async def test_the_room_prints_its_addresses_and_token_and_stops_on_sigint(
        tmp_path):
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "maillab.classroom", "--port", "0", "--set", "spf",
        "--data", str(tmp_path / "room"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        joined, teacher = await _line(proc.stdout), await _line(proc.stdout)
        base = re.search(r"(http://127\.0\.0\.1:\d+)/", joined)
        link = re.search(r"(http://\S+/teacher\?token=\S+)", teacher)
        assert base and link, joined + teacher

        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(cookie_jar=jar, timeout=TIMEOUT) as http:
            async with http.get(base[1] + "/") as page:
                assert "Join the room" in await page.text()
            async with http.get(link[1]) as page:
                text = await page.text()
                assert page.status == 200 and "value='spf' selected" in text

        proc.send_signal(signal.SIGINT)
        _, err = await asyncio.wait_for(proc.communicate(), 20)
        assert proc.returncode == 0
        assert b"every lab stopped" in err
        assert (tmp_path / "room" / "classroom.sqlite3").is_file()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_a_set_naming_a_missing_scenario_is_bad_input(tmp_path):
    lesson = tmp_path / "lesson.yaml"
    lesson.write_text("title: L\nlevel: beginner\nscenarios: [nope]\n")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "maillab.classroom", "--port", "0", "--set",
        str(lesson), "--data", str(tmp_path / "room"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 2
    assert f"{lesson}:3: no bundled scenario 'nope'" in err.decode()
