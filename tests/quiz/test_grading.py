"""Grading and ordering: pure functions, checked without any terminal."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lab.scenario import load
from maillab.quiz.grading import AnswerError, grade, parse_answer, report, score
from maillab.quiz.ordering import LETTERS, file_order, order


def test_grading_gives_both_explanations():
    question = load("port25-dropped").question
    best = next(i for i, c in enumerate(question.choices) if c.best)
    wrong = (best + 1) % len(question.choices)

    right = grade("port25-dropped", question, best)
    miss = grade("port25-dropped", question, wrong)

    assert right.correct and right.chosen_why == right.best_why
    assert not miss.correct
    assert miss.chosen_why == question.choices[wrong].why
    assert miss.best_why == question.choices[best].why
    assert str(score([right, miss], 3)) == "1/3 correct (33%)"
    with pytest.raises(AnswerError):
        grade("port25-dropped", question, 9)


@given(seed=st.integers(0, 2**31), n=st.integers(3, 5))
def test_a_seed_fixes_the_order_and_letters_round_trip(seed: int, n: int):
    counts = {"a": n, "b": 3, "c": 4}
    first, again = order(counts, seed=seed), order(counts, seed=seed)

    assert first == again
    assert sorted(first.questions) == ["a", "b", "c"]
    assert sorted(first.choices["a"]) == list(range(n))
    for index in range(n):
        assert first.index_of("a", first.letter_of("a", index)) == index


def test_a_scenarios_choices_do_not_depend_on_the_rest_of_the_quiz():
    alone = order({"a": 5}, seed=11)
    mixed = order({"x": 3, "a": 5, "y": 4}, seed=11)
    assert alone.choices["a"] == mixed.choices["a"]


def test_without_a_seed_one_is_drawn_and_reported():
    drawn = order({"a": 4})
    assert drawn.seed is not None
    assert order({"a": 4}, seed=drawn.seed) == drawn


def test_answers_are_letters_as_shown_or_file_positions():
    ordering = order({"q": 4}, seed=3)
    shown_a = ordering.choices["q"][0]

    assert parse_answer("a", "q", 4, ordering) == shown_a
    assert parse_answer(" A ", "q", 4, ordering) == shown_a
    assert parse_answer(2, "q", 4, ordering) == 2
    assert parse_answer("2", "q", 4, ordering) == 2
    for bad in ("E", "", "AB", 4, -1, True, "Z" * 1000):
        with pytest.raises(AnswerError):
            parse_answer(bad, "q", 4, ordering)


def test_the_bulk_report_counts_unanswered_and_invalid_answers_as_wrong():
    names = ["port25-dropped", "port25-rejected", "ptr-missing"]
    questions = {n: load(n).question for n in names}
    ordering = file_order({n: len(q.choices) for n, q in questions.items()})
    best = {n: LETTERS[next(i for i, c in enumerate(q.choices) if c.best)]
            for n, q in questions.items()}

    result = report(questions, {"port25-dropped": best["port25-dropped"],
                                "port25-rejected": "Q"}, ordering)

    assert (result["correct"], result["answered"], result["total"]) == (1, 1, 3)
    rows = {r["scenario"]: r for r in result["scenarios"]}
    assert rows["port25-dropped"]["correct"] is True
    assert rows["port25-rejected"]["error"].startswith("not a choice")
    assert rows["ptr-missing"]["error"] == "not answered"
    assert all(r["best_explanation"] for r in rows.values())
