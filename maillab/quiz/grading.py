"""Grading a knowledge check: one answer, and a score over a set.

Everything here is a pure function of a scenario's ``Question`` and what the
student chose, so the terminal quiz, bulk grading and the classroom grade
the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from lab.scenario.model import Question

from .ordering import LETTERS, Ordering

log = logging.getLogger(__name__)

MAX_ANSWER_CHARS = 16


class AnswerError(ValueError):
    """An answer that names no choice of the question."""


@dataclass(frozen=True)
class Graded:
    """One graded answer; indices are positions in the scenario file."""

    scenario: str
    chosen: int
    best: int
    correct: bool
    chosen_text: str
    chosen_why: str
    best_text: str
    best_why: str


@dataclass(frozen=True)
class Score:
    correct: int
    answered: int
    total: int

    @property
    def percent(self) -> int:
        return round(100 * self.correct / self.total) if self.total else 0

    def __str__(self) -> str:
        return f"{self.correct}/{self.total} correct ({self.percent}%)"


def best_index(question: Question) -> int:
    return next(i for i, c in enumerate(question.choices) if c.best)


def grade(scenario: str, question: Question, chosen: int) -> Graded:
    """Grade the choice at file index ``chosen``."""
    if not 0 <= chosen < len(question.choices):
        raise AnswerError(f"no choice {chosen} in a question of "
                          f"{len(question.choices)}")

    best = best_index(question)
    picked, right = question.choices[chosen], question.choices[best]
    return Graded(scenario=scenario, chosen=chosen, best=best,
                  correct=chosen == best, chosen_text=picked.text,
                  chosen_why=picked.why, best_text=right.text, best_why=right.why)


def parse_answer(answer: object, scenario: str, n_choices: int,
                 ordering: Ordering) -> int:
    """The file index a written answer means.

    A letter is the position as shown (through ``ordering``); an integer is
    the position in the scenario file, counted from 0.
    """
    if isinstance(answer, bool):
        raise AnswerError(f"not a choice: {answer!r}")
    if isinstance(answer, int):
        if not 0 <= answer < n_choices:
            raise AnswerError(f"no choice {answer}; the file lists 0 to "
                              f"{n_choices - 1}")
        return answer

    text = str(answer).strip()[:MAX_ANSWER_CHARS]
    if text.isdigit():
        return parse_answer(int(text), scenario, n_choices, ordering)
    letters = LETTERS[:n_choices]
    if len(text) != 1 or text.upper() not in letters:
        raise AnswerError(f"not a choice: {text!r}; answer one of "
                          f"{', '.join(letters)}")
    return ordering.index_of(scenario, text)


def score(graded: Iterable[Graded], total: int) -> Score:
    results = list(graded)
    return Score(correct=sum(g.correct for g in results), answered=len(results),
                 total=total)


def report(questions: Mapping[str, Question], answers: Mapping[str, object],
           ordering: Ordering) -> dict[str, object]:
    """Bulk grading: every question of ``ordering``, answered or not, as JSON."""
    rows: list[dict[str, object]] = []
    graded: list[Graded] = []
    for name in ordering.questions:
        question = questions[name]
        best = best_index(question)
        row: dict[str, object] = {
            "scenario": name, "chosen": None, "correct": False,
            "best": ordering.letter_of(name, best),
            "best_text": question.choices[best].text,
            "best_explanation": question.choices[best].why,
            "explanation": None,
        }
        if name in answers:
            try:
                index = parse_answer(answers[name], name, len(question.choices),
                                     ordering)
            except AnswerError as exc:
                row["error"] = str(exc)
            else:
                result = grade(name, question, index)
                graded.append(result)
                row.update(chosen=ordering.letter_of(name, index),
                           chosen_text=result.chosen_text, correct=result.correct,
                           explanation=result.chosen_why)
        else:
            row["error"] = "not answered"
        rows.append(row)

    total = score(graded, len(ordering.questions))
    return {"seed": ordering.seed, "scenarios": rows, "correct": total.correct,
            "answered": total.answered, "total": total.total,
            "percent": total.percent}
