"""The room's rules, apart from the web: who may join, what each one sees.

A student sees the chosen set's questions in the lesson's order, with the
choices shuffled by a seed of their own (neighbours' letters differ), and
answers each question once.
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from maillab.quiz.exercises import Exercise
from maillab.quiz.grading import Graded, Score, grade, parse_answer
from maillab.quiz.ordering import Ordering, order

log = logging.getLogger(__name__)

MAX_NAME_CHARS = 40


class RoomError(ValueError):
    """A request the room's rules refuse; ``str()`` is shown to the user."""


@dataclass(frozen=True)
class Answer:
    """A stored answer; ``choice`` is the position in the scenario file."""

    scenario: str
    choice: int
    correct: bool


@dataclass(frozen=True)
class Item:
    number: int
    name: str
    title: str
    answer: Answer | None


def clean_name(raw: str) -> str:
    """A student's display name: printable, trimmed, 1 to 40 characters."""
    name = " ".join(raw.split())
    if not name:
        raise RoomError("Please type your name.")
    if len(name) > MAX_NAME_CHARS:
        raise RoomError(f"A name has at most {MAX_NAME_CHARS} characters.")
    if any(unicodedata.category(c).startswith("C") for c in name):
        raise RoomError("A name cannot hold control characters.")
    return name


def student_ordering(scenarios: Sequence[str], exercises: Mapping[str, Exercise],
                     seed: int) -> Ordering:
    counts = {n: len(exercises[n].question.choices) for n in scenarios}
    return order(counts, seed=seed, questions=scenarios, shuffle_questions=False)


def items(scenarios: Sequence[str], exercises: Mapping[str, Exercise],
          answers: Mapping[str, Answer]) -> list[Item]:
    return [Item(number=i, name=n, title=exercises[n].title, answer=answers.get(n))
            for i, n in enumerate(scenarios, start=1)]


def item_at(scenarios: Sequence[str], number: int) -> str:
    """The scenario at a 1-based position, or ``RoomError``."""
    if not 1 <= number <= len(scenarios):
        raise RoomError(f"There is no question {number}.")
    return scenarios[number - 1]


def check(exercise: Exercise, ordering: Ordering, letter: str,
          answers: Mapping[str, Answer]) -> tuple[Answer, Graded]:
    """Grade a first answer given as a shown letter."""
    if exercise.name in answers:
        raise RoomError("You have already answered this question.")
    if not letter:
        raise RoomError("Choose one of the answers first.")

    index = parse_answer(letter[:1], exercise.name, len(exercise.question.choices),
                         ordering)
    graded = grade(exercise.name, exercise.question, index)
    return Answer(exercise.name, index, graded.correct), graded


def student_score(scenarios: Sequence[str], answers: Mapping[str, Answer]) -> Score:
    mine = [answers[n] for n in scenarios if n in answers]
    return Score(correct=sum(a.correct for a in mine), answered=len(mine),
                 total=len(scenarios))


@dataclass(frozen=True)
class ResultRow:
    """One student's line on the teacher's page."""

    name: str
    marks: tuple[bool | None, ...]
    score: Score


def results(scenarios: Sequence[str], students: Sequence[tuple[str, str]],
            answers: Mapping[str, Mapping[str, Answer]]) -> list[ResultRow]:
    """Rows for ``students`` as (id, name) pairs, over the set's scenarios."""
    rows = []
    for sid, name in students:
        mine = answers.get(sid, {})
        marks = tuple(mine[n].correct if n in mine else None for n in scenarios)
        rows.append(ResultRow(name, marks, student_score(scenarios, mine)))
    return rows
