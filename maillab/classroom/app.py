"""The classroom web app: thin handlers over the store, the room and the labs.

Every student URL carries the student's public id, and every handler checks
that the session cookie belongs to that id before reading or changing
anything; another student's URL answers 403 whoever asks. Every POST also
carries a CSRF token that only the owner's pages contain.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from lab.errors import ScenarioError
from maillab.quiz.exercises import (
    Exercise,
    lab_access,
    live_findings,
    load_exercises,
    offline_findings,
)
from maillab.quiz.grading import AnswerError, grade
from maillab.quiz.ordering import new_seed
from maillab.quiz.sets import ExerciseSet, SetError, load_set, set_names

from . import pages, room, tokens
from .labs import LabPool, LabRefused
from .store import Store, Student

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 16 * 1024
MAX_TEACHER_SESSIONS = 20

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; "
                               "form-action 'self'; frame-ancestors 'none'; "
                               "base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # The teacher's sign-in link holds the token; never pass it on.
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


@dataclass(frozen=True)
class Settings:
    data: Path
    set_name: str | None = None
    max_labs: int = 8
    max_students: int = 200


def _html(text: str, status: int = 200) -> web.Response:
    return web.Response(text=text, status=status, content_type="text/html")


def _see(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location})


class Classroom:
    """One room: its sets, its database, its labs and the teacher's token."""

    def __init__(self, settings: Settings, teacher_token: str) -> None:
        self.settings = settings
        self.teacher_token = teacher_token
        self.sets = _usable_sets()
        self.store = Store(settings.data)
        self.labs = LabPool(settings.max_labs)
        self._exercises: dict[str, Exercise] = {}
        # Teacher sessions live in memory: a restart asks for the new token.
        self._teachers: OrderedDict[str, str] = OrderedDict()
        if settings.set_name is not None:
            self.choose_set(settings.set_name)

    # region: the room's set and its exercises

    def choose_set(self, name: str) -> ExerciseSet:
        """Use a bundled set by name, or a set file by path."""
        chosen = self.sets.get(name)
        if chosen is None:
            chosen = load_set(name)  # raises SetError naming the file and line
            # TODO: only the name is stored; a set read from a path outside the
            # bundled sets must be named again with --set after a restart.
            self.sets[chosen.name] = chosen
        self._load(chosen)
        self.store.choose_set(chosen.name)
        return chosen

    def current(self) -> ExerciseSet | None:
        name = self.store.current_set()
        chosen = self.sets.get(name) if name else None
        if chosen is not None:
            self._load(chosen)
        return chosen

    def _load(self, chosen: ExerciseSet) -> None:
        missing = [n for n in chosen.scenarios if n not in self._exercises]
        if missing:
            self._exercises.update(load_exercises(missing))

    # endregion
    # region: the app

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_REQUEST_BYTES,
                              middlewares=[_headers])
        app.add_routes([
            web.get("/", self.index),
            web.post("/join", self.join),
            web.get("/static/style.css", self.style),
            web.get(r"/s/{sid:[0-9a-f]{16}}/", self.overview),
            web.get(r"/s/{sid:[0-9a-f]{16}}/progress.json", self.progress),
            web.get(r"/s/{sid:[0-9a-f]{16}}/q/{n:\d{1,3}}", self.question),
            web.post(r"/s/{sid:[0-9a-f]{16}}/q/{n:\d{1,3}}/answer", self.answer),
            web.post(r"/s/{sid:[0-9a-f]{16}}/q/{n:\d{1,3}}/lab", self.lab),
            web.get("/teacher", self.teacher),
            web.post("/teacher/login", self.teacher_login),
            web.post("/teacher/set", self.teacher_set),
            web.get("/teacher/results.json", self.teacher_results),
        ])
        app.on_cleanup.append(self._cleanup)
        return app

    async def _cleanup(self, app: web.Application) -> None:
        await self.labs.stop_all()
        self.store.close()

    async def style(self, request: web.Request) -> web.Response:
        return web.Response(text=pages.STYLE, content_type="text/css")

    # endregion
    # region: joining

    def _student(self, request: web.Request) -> Student | None:
        session = request.cookies.get(tokens.STUDENT_COOKIE)
        if not session:
            return None
        return self.store.student_by_session(tokens.digest(session))

    def _owner(self, request: web.Request) -> Student:
        """The student whose URL this is, if the cookie is theirs; else 403."""
        student = self._student(request)
        if student is None or not tokens.same(student.id,
                                              request.match_info["sid"]):
            raise web.HTTPForbidden(text="This page belongs to another session.")
        return student

    async def index(self, request: web.Request) -> web.Response:
        student = self._student(request)
        if student is not None:
            return _see(f"/s/{student.id}/")
        return self._join_form(request)

    def _join_form(self, request: web.Request, error: str = "",
                   status: int = 200) -> web.Response:
        # Before a session exists, CSRF is a cookie echoed in the form.
        pre = request.cookies.get(tokens.JOIN_COOKIE) or tokens.new_token()
        full = self.store.count_students() >= self.settings.max_students
        if full and not error:
            error, status = "The room is full.", 503
        response = _html(pages.join_page(pre, error=error, room_full=full), status)
        response.set_cookie(tokens.JOIN_COOKIE, pre, **tokens.cookie_options())
        return response

    async def join(self, request: web.Request) -> web.Response:
        form = await request.post()
        if not tokens.same(_field(form, "csrf"),
                           request.cookies.get(tokens.JOIN_COOKIE)):
            raise web.HTTPForbidden(text="Reload the page and try again.")
        if self.store.count_students() >= self.settings.max_students:
            return self._join_form(request, "The room is full.", 503)
        try:
            name = room.clean_name(_field(form, "name"))
        except room.RoomError as exc:
            return self._join_form(request, str(exc), 400)

        student = Student(id=tokens.new_id(), name=name, csrf=tokens.new_token(),
                          seed=new_seed())
        session = tokens.new_token()
        self.store.add_student(student, tokens.digest(session))
        log.info("student %s joined as %r", student.id, name)
        response = _see(f"/s/{student.id}/")
        response.set_cookie(tokens.STUDENT_COOKIE, session, **tokens.cookie_options())
        response.del_cookie(tokens.JOIN_COOKIE, path="/")
        return response

    # endregion
    # region: a student's pages

    async def overview(self, request: web.Request) -> web.Response:
        student = self._owner(request)
        chosen = self.current()
        if chosen is None:
            return _html(pages.waiting_page(student.name))

        answers = self.store.answers(student.id)
        rows = room.items(chosen.scenarios, self._exercises, answers)
        total = room.student_score(chosen.scenarios, answers)
        return _html(pages.overview_page(student.name, student.id, chosen, rows,
                                         total))

    async def progress(self, request: web.Request) -> web.Response:
        student = self._owner(request)
        chosen = self.current()
        answers = self.store.answers(student.id)
        scenarios = chosen.scenarios if chosen else ()
        total = room.student_score(scenarios, answers)
        return web.json_response({
            "name": student.name, "set": chosen.name if chosen else None,
            "answers": {n: {"choice": a.choice, "correct": a.correct}
                        for n, a in answers.items()},
            "correct": total.correct, "answered": total.answered,
            "total": total.total})

    async def question(self, request: web.Request) -> web.Response:
        student = self._owner(request)
        return self._question_page(request, student)

    def _question_page(self, request: web.Request, student: Student,
                       error: str = "", status: int = 200) -> web.Response:
        chosen = self.current()
        if chosen is None:
            return _html(pages.waiting_page(student.name))
        try:
            name = room.item_at(chosen.scenarios, int(request.match_info["n"]))
        except room.RoomError as exc:
            raise web.HTTPNotFound(text=str(exc)) from None

        exercise = self._exercises[name]
        ordering = room.student_ordering(chosen.scenarios, self._exercises,
                                         student.seed)
        answers = self.store.answers(student.id)
        answer = answers.get(name)
        graded = (grade(name, exercise.question, answer.choice)
                  if answer is not None else None)

        running = self.labs.of(student.id)
        access = (lab_access(running.lab.state(), running.lab.state_file)
                  if running is not None else None)
        lab_here = running is not None and running.scenario == name
        findings: list[str] = []
        if graded is not None:
            findings = (live_findings(running.lab.expected())
                        if lab_here and running is not None
                        else offline_findings(exercise.scenario))
        page = pages.question_page(
            name=student.name, sid=student.id, csrf=student.csrf,
            number=int(request.match_info["n"]), count=len(chosen.scenarios),
            exercise=exercise, ordering=ordering, graded=graded, access=access,
            lab_here=lab_here, findings=findings,
            total=room.student_score(chosen.scenarios, answers), error=error)
        return _html(page, status)

    async def _posted(self, request: web.Request) -> tuple[Student, Any]:
        student = self._owner(request)
        form = await request.post()
        if not tokens.same(_field(form, "csrf"), student.csrf):
            raise web.HTTPForbidden(text="Reload the page and try again.")
        return student, form

    async def answer(self, request: web.Request) -> web.Response:
        student, form = await self._posted(request)
        chosen = self.current()
        if chosen is None:
            return _see(f"/s/{student.id}/")
        try:
            name = room.item_at(chosen.scenarios, int(request.match_info["n"]))
            ordering = room.student_ordering(chosen.scenarios, self._exercises,
                                             student.seed)
            answer, _ = room.check(self._exercises[name], ordering,
                                   _field(form, "choice"),
                                   self.store.answers(student.id))
        except (room.RoomError, AnswerError) as exc:
            return self._question_page(request, student, str(exc), 400)

        if not self.store.record(student.id, answer):
            return self._question_page(request, student,
                                       "You have already answered this question.",
                                       409)
        return _see(request.path.removesuffix("/answer"))

    async def lab(self, request: web.Request) -> web.Response:
        student, form = await self._posted(request)
        chosen = self.current()
        if chosen is None:
            return _see(f"/s/{student.id}/")
        try:
            name = room.item_at(chosen.scenarios, int(request.match_info["n"]))
        except room.RoomError as exc:
            raise web.HTTPNotFound(text=str(exc)) from None

        action = _field(form, "action")
        try:
            if action == "start":
                await self.labs.start(student.id, self._exercises[name].scenario)
            elif action == "stop":
                await self.labs.stop(student.id)
            else:
                raise web.HTTPBadRequest(text="Unknown action.")
        except LabRefused as exc:
            return self._question_page(request, student, str(exc), 503)
        return _see(request.path.removesuffix("/lab"))

    # endregion
    # region: the teacher

    def _teacher_csrf(self, request: web.Request) -> str | None:
        session = request.cookies.get(tokens.TEACHER_COOKIE)
        return self._teachers.get(tokens.digest(session)) if session else None

    def _teacher_session(self, response: web.StreamResponse) -> None:
        session = tokens.new_token()
        self._teachers[tokens.digest(session)] = tokens.new_token()
        while len(self._teachers) > MAX_TEACHER_SESSIONS:
            self._teachers.popitem(last=False)
        response.set_cookie(tokens.TEACHER_COOKIE, session, **tokens.cookie_options())

    async def teacher(self, request: web.Request) -> web.Response:
        csrf = self._teacher_csrf(request)
        if csrf is None and tokens.same(request.query.get("token"),
                                        self.teacher_token):
            response = _see("/teacher")
            self._teacher_session(response)
            return response
        if csrf is None:
            pre = request.cookies.get(tokens.JOIN_COOKIE) or tokens.new_token()
            wrong = "token" in request.query
            response = _html(pages.teacher_login_page(
                pre, error="That is not the teacher token." if wrong else ""),
                403 if wrong else 200)
            response.set_cookie(tokens.JOIN_COOKIE, pre, **tokens.cookie_options())
            return response

        chosen = self.current()
        return _html(pages.teacher_page(
            csrf=csrf, sets=list(self.sets.values()),
            current=chosen.name if chosen else None, chosen=chosen,
            rows=self._results(chosen), labs=len(self.labs),
            lab_limit=self.labs.limit, students=self.store.count_students()))

    async def teacher_login(self, request: web.Request) -> web.Response:
        form = await request.post()
        if not tokens.same(_field(form, "csrf"),
                           request.cookies.get(tokens.JOIN_COOKIE)):
            raise web.HTTPForbidden(text="Reload the page and try again.")
        if not tokens.same(_field(form, "token"), self.teacher_token):
            return _html(pages.teacher_login_page(
                _field(form, "csrf"), error="That is not the teacher token."), 403)
        response = _see("/teacher")
        self._teacher_session(response)
        return response

    def _teacher(self, request: web.Request) -> str:
        csrf = self._teacher_csrf(request)
        if csrf is None:
            raise web.HTTPForbidden(text="Sign in as the teacher first.")
        return csrf

    async def teacher_set(self, request: web.Request) -> web.Response:
        csrf = self._teacher(request)
        form = await request.post()
        if not tokens.same(_field(form, "csrf"), csrf):
            raise web.HTTPForbidden(text="Reload the page and try again.")
        name = _field(form, "set")
        if name not in self.sets:
            raise web.HTTPBadRequest(text="No such exercise set.")
        try:
            self.choose_set(name)
        except ScenarioError as exc:
            raise web.HTTPBadRequest(text=str(exc)) from None
        return _see("/teacher")

    async def teacher_results(self, request: web.Request) -> web.Response:
        self._teacher(request)
        chosen = self.current()
        scenarios = list(chosen.scenarios) if chosen else []
        return web.json_response({
            "set": chosen.name if chosen else None, "scenarios": scenarios,
            "students": [{"name": r.name, "marks": list(r.marks),
                          "correct": r.score.correct, "answered": r.score.answered,
                          "total": r.score.total} for r in self._results(chosen)]})

    def _results(self, chosen: ExerciseSet | None) -> list[room.ResultRow]:
        if chosen is None:
            return []
        students = [(s.id, s.name) for s in self.store.students()]
        return room.results(chosen.scenarios, students, self.store.all_answers())

    # endregion


def _field(form: Any, key: str) -> str:
    value = form.get(key)
    return value if isinstance(value, str) else ""


def _usable_sets() -> dict[str, ExerciseSet]:
    """Every bundled set that validates; a broken one is logged, not fatal."""
    found: dict[str, ExerciseSet] = {}
    for name in set_names():
        try:
            found[name] = load_set(name)
        except SetError as exc:
            log.warning("exercise set left out: %s", exc)
    return found


@web.middleware
async def _headers(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        exc.headers.update(SECURITY_HEADERS)
        raise
    response.headers.update(SECURITY_HEADERS)
    return response
