"""The classroom's HTML, as pure functions of what a page shows.

Pages use plain forms and no script, and the one stylesheet is served by
the app itself, so nothing is fetched from anywhere else. Every value that
came from a file or a person is escaped here.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from html import escape

from maillab.quiz.exercises import Exercise, LabAccess
from maillab.quiz.grading import Graded, Score
from maillab.quiz.ordering import LETTERS, Ordering
from maillab.quiz.sets import ExerciseSet

from .room import Item, ResultRow

log = logging.getLogger(__name__)

STYLE = """
body { font: 16px/1.5 system-ui, sans-serif; margin: 0; background: #f4f5f7;
       color: #1d2330; }
header { background: #1d3557; color: #fff; padding: .6rem 1.2rem; }
header a { color: #fff; }
main { max-width: 52rem; margin: 1rem auto; padding: 0 1rem; }
section { background: #fff; border-radius: 6px; padding: .8rem 1.2rem;
          margin-bottom: 1rem; box-shadow: 0 1px 2px #0002; }
pre, code { background: #eef0f4; border-radius: 4px; }
pre { padding: .6rem; overflow-x: auto; white-space: pre-wrap; }
.ndr { border-left: 4px solid #c1121f; padding-left: .6rem; }
.correct { color: #1b7f3b; font-weight: bold; }
.incorrect { color: #c1121f; font-weight: bold; }
.error { color: #c1121f; }
label.choice { display: block; padding: .3rem 0; }
button { font: inherit; padding: .3rem .9rem; }
table { border-collapse: collapse; }
td, th { border: 1px solid #ccd; padding: .2rem .5rem; text-align: left; }
"""


def e(value: object) -> str:
    return escape(str(value), quote=True)


def layout(title: str, body: str, *, who: str = "") -> str:
    signed = f" &middot; {e(who)}" if who else ""
    return ("<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{e(title)}</title>"
            "<link rel='stylesheet' href='/static/style.css'></head><body>"
            f"<header><strong>Mailflow Lab classroom</strong>{signed}</header>"
            f"<main>{body}</main></body></html>")


def _csrf(token: str) -> str:
    return f"<input type='hidden' name='csrf' value='{e(token)}'>"


def message_page(title: str, text: str, *, back: str = "/") -> str:
    return layout(title, f"<section><h1>{e(title)}</h1><p>{e(text)}</p>"
                         f"<p><a href='{e(back)}'>Back</a></p></section>")


def join_page(csrf: str, *, error: str = "", room_full: bool = False) -> str:
    problem = f"<p class='error' role='alert'>{e(error)}</p>" if error else ""
    form = ("" if room_full else
            "<form method='post' action='/join'>" + _csrf(csrf) +
            "<label>Your name <input name='name' maxlength='40' required "
            "autofocus></label> <button type='submit'>Join</button></form>")
    return layout("Join the room", "<section><h1>Join the room</h1>"
                  f"{problem}{form}</section>")


def waiting_page(name: str) -> str:
    return layout("Waiting", "<section><h1>Welcome</h1><p>The teacher has not "
                  "chosen an exercise set yet. Reload this page in a moment."
                  "</p></section>", who=name)


def overview_page(name: str, sid: str, chosen: ExerciseSet, rows: Sequence[Item],
                  total: Score) -> str:
    lines = []
    for item in rows:
        if item.answer is None:
            mark = "not answered"
        else:
            mark = ("<span class='correct'>correct</span>" if item.answer.correct
                    else "<span class='incorrect'>incorrect</span>")
        lines.append(f"<li><a href='/s/{e(sid)}/q/{item.number}'>{e(item.title)}"
                     f"</a> &mdash; {mark}</li>")
    body = (f"<section><h1>{e(chosen.title)}</h1><p>Level: {e(chosen.level)}</p>"
            f"<p>{e(chosen.description)}</p><ol>{''.join(lines)}</ol>"
            f"<p id='score'>Your score: {e(total)}</p></section>")
    return layout(chosen.title, body, who=name)


def question_page(*, name: str, sid: str, csrf: str, number: int, count: int,
                  exercise: Exercise, ordering: Ordering, graded: Graded | None,
                  access: LabAccess | None, lab_here: bool, findings: list[str],
                  total: Score, error: str = "") -> str:
    base = f"/s/{e(sid)}/q/{number}"
    parts = [(f"<p><a href='/s/{e(sid)}/'>All questions</a> &middot; "
              f"question {number} of {count}</p>")]
    if error:
        parts.append(f"<p class='error' role='alert'>{e(error)}</p>")
    parts.append(_briefing(exercise))
    parts.append(_lab_section(base, csrf, access, lab_here))
    parts.append(_question_form(base, csrf, exercise, ordering, graded))
    if graded is not None:
        parts.append(_verdict(exercise, ordering, graded, findings))
    nav = (f"<a href='/s/{e(sid)}/q/{number + 1}'>Next question</a>"
           if number < count else f"<a href='/s/{e(sid)}/'>See all answers</a>")
    parts.append(f"<section><p id='score'>Your score: {e(total)}</p>"
                 f"<p>{nav}</p></section>")
    return layout(exercise.title, "".join(parts), who=name)


def _briefing(exercise: Exercise) -> str:
    ndr = (f"<h2>The bounce message they received</h2>"
           f"<pre class='ndr'>{e(exercise.ndr)}</pre>" if exercise.ndr else "")
    return (f"<section id='briefing'><h1>{e(exercise.title)}</h1>"
            f"<h2>What the user reports</h2><p>{e(exercise.complaint)}</p>"
            f"{ndr}</section>")


def _lab_section(base: str, csrf: str, access: LabAccess | None,
                 lab_here: bool) -> str:
    if access is None or not lab_here:
        note = ("<p>Your other lab will be stopped.</p>" if access is not None
                else "")
        return (f"<section id='lab'><h2>Your lab</h2>{note}"
                f"<form method='post' action='{base}/lab'>{_csrf(csrf)}"
                "<input type='hidden' name='action' value='start'>"
                "<button type='submit'>Start my lab</button></form></section>")
    commands = "\n".join(access.commands)
    return (f"<section id='lab'><h2>Your lab is running</h2>"
            f"<p>Its DNS resolver is <code>{e(access.resolver_ip)}</code> port "
            f"<code>{access.resolver_port}</code>. Investigate it with:</p>"
            f"<pre>{e(commands)}</pre>"
            f"<form method='post' action='{base}/lab'>{_csrf(csrf)}"
            "<input type='hidden' name='action' value='stop'>"
            "<button type='submit'>Stop my lab</button></form></section>")


def _question_form(base: str, csrf: str, exercise: Exercise, ordering: Ordering,
                   graded: Graded | None) -> str:
    question = exercise.question
    options = []
    for position, index in enumerate(ordering.choices[exercise.name]):
        letter = LETTERS[position]
        picked = " checked" if graded is not None and graded.chosen == index else ""
        locked = " disabled" if graded is not None else ""
        options.append(
            f"<label class='choice'><input type='radio' name='choice' "
            f"value='{letter}'{picked}{locked}> {letter}) "
            f"{e(question.choices[index].text)}</label>")
    button = ("" if graded is not None else
              "<button type='submit'>Check your answer</button>")
    return (f"<section id='question'><h2>{e(question.stem)}</h2>"
            f"<form method='post' action='{base}/answer'>{_csrf(csrf)}"
            f"{''.join(options)}{button}</form></section>")


def _verdict(exercise: Exercise, ordering: Ordering, graded: Graded,
             findings: list[str]) -> str:
    chosen = ordering.letter_of(exercise.name, graded.chosen)
    best = ordering.letter_of(exercise.name, graded.best)
    if graded.correct:
        head = f"<p class='correct'>Correct: {chosen} is the best answer.</p>"
        why = f"<p>Why: {e(graded.chosen_why)}</p>"
    else:
        head = (f"<p class='incorrect'>Incorrect: you chose {chosen}; the best "
                f"answer is {best}.</p>")
        why = (f"<p>Why not {chosen}: {e(graded.chosen_why)}</p>"
               f"<p>Why {best}: {e(graded.best_why)}</p>")
    truth = ", ".join(findings) if findings else "none: the organisation is healthy"
    return (f"<section id='verdict'>{head}{why}<p>Ground truth: a correct "
            f"diagnosis finds <code>{e(truth)}</code></p></section>")


def teacher_login_page(csrf: str, *, error: str = "") -> str:
    problem = f"<p class='error' role='alert'>{e(error)}</p>" if error else ""
    return layout("Teacher", "<section><h1>Teacher</h1>" + problem +
                  "<form method='post' action='/teacher/login'>" + _csrf(csrf) +
                  "<label>Teacher token <input name='token' type='password' "
                  "required></label> <button type='submit'>Sign in</button>"
                  "</form></section>")


def teacher_page(*, csrf: str, sets: Sequence[ExerciseSet], current: str | None,
                 chosen: ExerciseSet | None, rows: Sequence[ResultRow],
                 labs: int, lab_limit: int, students: int) -> str:
    options = "".join(
        f"<option value='{e(s.name)}'{' selected' if s.name == current else ''}>"
        f"{e(s.title)} ({e(s.level)}, {len(s.scenarios)} questions)</option>"
        for s in sets)
    picker = ("<form method='post' action='/teacher/set'>" + _csrf(csrf) +
              f"<label>Exercise set <select name='set'>{options}</select></label> "
              "<button type='submit'>Use this set</button></form>")
    table = "<p>Choose a set to see results.</p>"
    if chosen is not None:
        head = "".join(f"<th>{i}</th>" for i in range(1, len(chosen.scenarios) + 1))
        body = "".join(
            f"<tr><td>{e(r.name)}</td>"
            + "".join(f"<td>{_mark(m)}</td>" for m in r.marks)
            + f"<td>{e(r.score)}</td></tr>" for r in rows)
        legend = "".join(f"<li>{e(n)}</li>" for n in chosen.scenarios)
        table = (f"<table id='results'><tr><th>student</th>{head}<th>score</th>"
                 f"</tr>{body}</table><ol>{legend}</ol>")
    return layout("Teacher", "<section><h1>The room</h1>"
                  f"<p>{students} student(s) joined; {labs} of {lab_limit} labs "
                  f"running.</p>{picker}</section><section><h2>Results</h2>"
                  f"{table}<p><a href='/teacher/results.json'>as JSON</a></p>"
                  "</section>", who="teacher")


def _mark(mark: bool | None) -> str:
    if mark is None:
        return "&ndash;"
    return ("<span class='correct'>right</span>" if mark
            else "<span class='incorrect'>wrong</span>")
