"""The classroom over HTTP with a real client: joining, answering, isolation."""

from __future__ import annotations

import re

from lab.scenario import load
from maillab.classroom.room import student_ordering
from maillab.quiz.exercises import load_exercises
from maillab.quiz.ordering import LETTERS

from .conftest import CSRF, Joined, Served, join


def _letters(served: Served, sid: str, name: str) -> tuple[str, str]:
    """The right and a wrong letter for ``name`` as this student sees it."""
    assert served.room is not None
    student = next(s for s in served.room.store.students() if s.id == sid)
    chosen = served.room.current()
    assert chosen is not None
    exercises = load_exercises(chosen.scenarios)
    ordering = student_ordering(chosen.scenarios, exercises, student.seed)
    best = next(i for i, c in enumerate(load(name).question.choices) if c.best)
    right = ordering.letter_of(name, best)
    return right, next(x for x in LETTERS if x != right)


async def _answer(served: Served, who: Joined, number: int, letter: str,
                  csrf: str | None = None) -> tuple[int, str]:
    async with who.session.post(
            served.url(f"/s/{who.sid}/q/{number}/answer"),
            data={"csrf": csrf or who.csrf, "choice": letter}) as reply:
        return reply.status, await reply.text()


async def test_a_student_answers_and_sees_the_verdict_and_score(served: Served):
    ann = await join(served, "Ann")
    first = served.room.current().scenarios[0]
    right, _ = _letters(served, ann.sid, first)

    status, page = await _answer(served, ann, 1, right)

    assert status == 200
    assert f"Correct: {right} is the best answer." in page
    assert "Your score: 1/3 correct (33%)" in page
    assert "Ground truth" in page and "port." in page
    # Answered once: a second try is refused and the first answer stands.
    status, page = await _answer(served, ann, 1, "A")
    assert status in (400, 409) and "already answered" in page
    async with ann.session.get(served.url(f"/s/{ann.sid}/progress.json")) as r:
        progress = await r.json()
    assert progress["correct"] == 1 and progress["answers"][first]["correct"]


async def test_a_wrong_answer_shows_both_explanations(served: Served):
    bob = await join(served, "Bob")
    second = served.room.current().scenarios[1]
    right, wrong = _letters(served, bob.sid, second)

    status, page = await _answer(served, bob, 2, wrong)

    assert status == 200
    assert f"Incorrect: you chose {wrong}; the best answer is {right}." in page
    assert "Why not" in page and "Your score: 0/3 correct (0%)" in page


async def test_one_student_cannot_read_or_change_anothers_answers(served: Served):
    ann = await join(served, "Ann")
    eve = await join(served, "Eve")
    await _answer(served, ann, 1, "A")

    for path in (f"/s/{ann.sid}/", f"/s/{ann.sid}/q/1",
                 f"/s/{ann.sid}/progress.json"):
        async with eve.session.get(served.url(path)) as reply:
            assert reply.status == 403, path
            assert "Ann" not in await reply.text()
    # Eve's own CSRF token with Ann's URL: refused before anything is read.
    for path, data in ((f"/s/{ann.sid}/q/2/answer", {"choice": "A"}),
                       (f"/s/{ann.sid}/q/2/lab", {"action": "start"})):
        async with eve.session.post(served.url(path),
                                    data={"csrf": eve.csrf, **data}) as reply:
            assert reply.status == 403, path
    assert served.room.labs.of(ann.sid) is None
    assert list(served.room.store.answers(ann.sid)) == [
        served.room.current().scenarios[0]]


async def test_posts_without_the_owners_csrf_token_are_refused(served: Served):
    ann = await join(served, "Ann")
    status, _ = await _answer(served, ann, 1, "A", csrf="forged")
    assert status == 403
    async with ann.session.post(served.url(f"/s/{ann.sid}/q/1/answer"),
                                data={"choice": "A"}) as reply:
        assert reply.status == 403
    assert served.room.store.answers(ann.sid) == {}


async def test_cookies_are_httponly_and_samesite_strict(served: Served):
    session = served.client()
    async with session.get(served.url("/")) as page:
        cookie = page.headers["Set-Cookie"]
        pre = CSRF.search(await page.text()).group(1)
        assert page.headers["Content-Security-Policy"].startswith("default-src")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    async with session.post(served.url("/join"), data={"csrf": pre, "name": "Al"},
                            allow_redirects=False) as done:
        cookie = done.headers["Set-Cookie"]
    assert cookie.startswith("maillab_session=")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie


async def test_names_and_requests_are_bounded(served: Served):
    session = served.client()
    async with session.get(served.url("/")) as page:
        pre = CSRF.search(await page.text()).group(1)
    async with session.post(served.url("/join"),
                            data={"csrf": pre, "name": "x" * 41}) as reply:
        assert reply.status == 400 and "at most 40" in await reply.text()
    async with session.post(served.url("/join"),
                            data={"csrf": pre, "name": "y" * 40_000}) as reply:
        assert reply.status == 413


async def test_the_teacher_page_needs_the_token_and_shows_results(served: Served):
    ann = await join(served, "Ann")
    right, _ = _letters(served, ann.sid, served.room.current().scenarios[0])
    await _answer(served, ann, 1, right)

    async with ann.session.get(served.url("/teacher/results.json")) as reply:
        assert reply.status == 403
    teacher = served.client()
    async with teacher.get(served.url("/teacher?token=wrong")) as reply:
        assert reply.status == 403 and "Teacher token" in await reply.text()
    async with teacher.get(served.url("/teacher/results.json")) as reply:
        assert reply.status == 403
    async with teacher.get(served.url(f"/teacher?token={served.token}")) as reply:
        page = await reply.text()
        assert reply.status == 200 and "Results" in page and "Ann" in page
    async with teacher.get(served.url("/teacher/results.json")) as reply:
        results = await reply.json()
    assert results["set"] == "ports"
    (row,) = results["students"]
    assert row["name"] == "Ann" and row["marks"][0] is True and row["correct"] == 1

    csrf = CSRF.search(page).group(1)
    async with teacher.post(served.url("/teacher/set"),
                            data={"csrf": csrf, "set": "dns"}) as reply:
        assert reply.status == 200
    async with ann.session.get(served.url(f"/s/{ann.sid}/")) as reply:
        assert "MX and reverse DNS" in await reply.text()
    async with ann.session.post(served.url("/teacher/set"),
                                data={"csrf": csrf, "set": "spf"}) as reply:
        assert reply.status == 403


async def test_a_restart_on_the_same_data_loses_no_answer(served: Served):
    ann = await join(served, "Ann")
    right, _ = _letters(served, ann.sid, served.room.current().scenarios[0])
    await _answer(served, ann, 1, right)

    await served.restart()

    # The same cookie still opens the same student's page, with the answer.
    async with ann.session.get(served.url(f"/s/{ann.sid}/q/1")) as reply:
        page = await reply.text()
    assert reply.status == 200
    assert f"Correct: {right} is the best answer." in page
    assert "Your score: 1/3 correct (33%)" in page


async def test_a_students_lab_starts_stops_and_is_capped(served: Served):
    ann = await join(served, "Ann")
    bob = await join(served, "Bob")
    eve = await join(served, "Eve")

    async def lab(who: Joined, action: str) -> tuple[int, str]:
        async with who.session.post(served.url(f"/s/{who.sid}/q/1/lab"),
                                    data={"csrf": who.csrf,
                                          "action": action}) as reply:
            return reply.status, await reply.text()

    status, page = await lab(ann, "start")
    assert status == 200 and "Your lab is running" in page
    resolver = re.search(r"dig @([0-9.]+) -p (\d+)", page)
    state = served.room.labs.of(ann.sid).lab.state()
    assert resolver and state["resolver"] == f"{resolver[1]}:{resolver[2]}"
    assert "maillab check contoso.test --lab " in page

    await lab(bob, "start")
    assert served.room.labs.of(bob.sid).lab.state()["resolver"] != \
        state["resolver"]
    status, page = await lab(eve, "start")  # the room allows two labs
    assert status == 503 and "labs of the room are in use" in page

    status, page = await lab(ann, "stop")
    assert status == 200 and "Start my lab" in page
    assert served.room.labs.of(ann.sid) is None
    assert (await lab(eve, "start"))[0] == 200


async def test_a_lab_gives_the_live_ground_truth_and_stops_with_the_room(
        served: Served):
    ann = await join(served, "Ann")
    async with ann.session.post(served.url(f"/s/{ann.sid}/q/1/lab"),
                                data={"csrf": ann.csrf, "action": "start"}):
        pass
    running = served.room.labs.of(ann.sid)
    expected = [f"{e.code} {e.subject}" for e in running.lab.expected()]

    status, page = await _answer(served, ann, 1, "A")

    assert status == 200
    assert all(line in page for line in expected)  # codes with live subjects
    state_file = running.lab.state_file
    assert state_file.exists()
    await served.stop()
    assert not state_file.exists()
