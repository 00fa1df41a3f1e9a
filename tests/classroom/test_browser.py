"""Students in headless Chromium: answer, check, see the score; stay apart."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from lab.scenario import load
from maillab.quiz.exercises import ticket_title
from maillab.classroom.room import student_ordering
from maillab.quiz.exercises import load_exercises

from .conftest import Served

playwright_api = pytest.importorskip(
    "playwright.async_api", reason="playwright is not installed (pip install "
    "playwright; the browser is the system's chromium)")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"

#: Flags that keep the browser from contacting anything but the test server.
QUIET = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


@pytest.fixture
async def browser(tmp_path: Path) -> AsyncIterator:
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed (apt-get install chromium)")
    async with playwright_api.async_playwright() as p:
        profile = tmp_path / "profile"
        context = await p.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, headless=True, args=QUIET)
        yield p, context
        await context.close()


def _right_letter(served: Served, sid: str, number: int) -> str:
    chosen = served.room.current()
    name = chosen.scenarios[number - 1]
    student = next(s for s in served.room.store.students() if s.id == sid)
    ordering = student_ordering(chosen.scenarios, load_exercises(chosen.scenarios),
                                student.seed)
    best = next(i for i, c in enumerate(load(name).question.choices) if c.best)
    return ordering.letter_of(name, best)


async def _join(page, served: Served, name: str) -> str:
    await page.goto(served.url("/"))
    await page.get_by_label("Your name").fill(name)
    await page.get_by_role("button", name="Join").click()
    await page.wait_for_url("**/s/*/")
    return page.url.split("/")[4]


async def test_a_student_answers_in_the_browser_and_stays_private(
        served: Served, browser, tmp_path: Path):
    p, context = browser
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page = await context.new_page()

    sid = await _join(page, served, "Ann")
    first = load(served.room.current().scenarios[0])
    await page.get_by_role("link", name=ticket_title(first)).click()
    assert await page.locator("#briefing").is_visible()
    shot = SCREENSHOTS / "classroom-question.png"
    await page.screenshot(path=str(shot), full_page=True)

    letter = _right_letter(served, sid, 1)
    await page.locator(f"input[name=choice][value={letter}]").check()
    await page.get_by_role("button", name="Check your answer").click()
    verdict = page.locator("#verdict")
    await verdict.wait_for(timeout=10_000)
    assert f"Correct: {letter} is the best answer." in await verdict.inner_text()
    assert "Why:" in await verdict.inner_text()
    assert "1/3 correct" in await page.locator("#score").inner_text()
    checked = SCREENSHOTS / "classroom-checked.png"
    await page.screenshot(path=str(checked), full_page=True)
    first_url = page.url

    # A second student, in a browser profile of their own.
    other = await p.chromium.launch_persistent_context(
        str(tmp_path / "profile-2"), executable_path=CHROMIUM, headless=True,
        args=QUIET)
    try:
        spy = await other.new_page()
        spy_sid = await _join(spy, served, "Eve")
        assert spy_sid != sid
        shown = await spy.goto(first_url)
        assert shown.status == 403
        assert "Ann" not in await spy.content()
        await spy.screenshot(path=str(SCREENSHOTS / "classroom-forbidden.png"))
        for path in (f"/s/{sid}/progress.json", f"/s/{sid}/"):
            reply = await other.request.get(served.url(path))
            assert reply.status == 403
        reply = await other.request.post(served.url(f"/s/{sid}/q/2/answer"),
                                         form={"choice": "A", "csrf": "x"})
        assert reply.status == 403
    finally:
        await other.close()
    assert set(served.room.store.answers(sid)) == {served.room.current().scenarios[0]}

    # The app restarts on the same data: the page still shows the answer.
    await served.restart()
    # The new port is another origin for the browser, but cookies ignore ports.
    await page.goto(served.url(f"/s/{sid}/q/1"))
    assert f"Correct: {letter}" in await page.locator("#verdict").inner_text()
    assert "1/3 correct" in await page.locator("#score").inner_text()

    for path in (shot, checked, SCREENSHOTS / "classroom-forbidden.png"):
        assert path.is_file() and path.stat().st_size > 1000
