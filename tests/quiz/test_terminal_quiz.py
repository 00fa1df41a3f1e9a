"""``maillab quiz`` at a keyboard (a pseudo-terminal), and graded in bulk."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lab.scenario import load
from maillab.quiz.exercises import ticket_title
from maillab.quiz.ordering import order
from maillab.quiz.sets import load_set
from tests.conftest import need

from .terminal_driver import Terminal

QUIZ = [sys.executable, "-m", "maillab.quiz"]


def _env() -> dict[str, str]:
    return {**os.environ, "TERM": "dumb", "PYTHONUNBUFFERED": "1",
            "SHELL": "/bin/sh"}


def _best_and_wrong(name: str, seed: int, names: list[str]) -> tuple[str, str]:
    """The letters that are right and wrong for ``name`` with this seed."""
    scenarios = {n: load(n) for n in names}
    ordering = order({n: len(s.question.choices) for n, s in scenarios.items()},
                     seed=seed)
    best = next(i for i, c in enumerate(scenarios[name].question.choices) if c.best)
    right = ordering.letter_of(name, best)
    wrong = "A" if right != "A" else "B"
    return right, wrong


@pytest.fixture
def terminal():
    opened: list[Terminal] = []

    def spawn(*args: str) -> Terminal:
        term = Terminal([*QUIZ, *args], env=_env())
        opened.append(term)
        return term

    yield spawn
    for term in opened:
        term.close()


def test_a_student_takes_the_ports_set_at_the_keyboard(terminal):
    seed = 7
    members = list(load_set("ports").scenarios)
    expected_order = order({n: len(load(n).question.choices) for n in members},
                           seed=seed).questions
    term = terminal("ports", "--seed", str(seed), "--no-lab")

    term.expect(f"3 question(s), seed {seed}")
    for number, name in enumerate(expected_order, start=1):
        scenario = load(name)
        right, wrong = _best_and_wrong(name, seed, members)

        shown = term.expect("Your answer (")
        # The heading is the user's ticket, never the title that names the fault.
        assert f"Question {number} of 3: {ticket_title(scenario)}" in shown
        assert scenario.title not in shown
        assert "What the user reports:" in shown
        assert scenario.question.stem.split()[0] in shown
        if scenario.symptoms.ndr:
            assert "The bounce message they received:" in shown

        if number == 2:
            term.type("Z")  # not a choice: asked again
            term.expect("Please type one letter")
            term.expect("Your answer (")
        # The first two right, the last one wrong.
        term.type(right if number < 3 else wrong)
        verdict = term.expect("Ground truth (from the scenario's faults):")
        best_why = next(c.why for c in scenario.question.choices if c.best)
        if number < 3:
            assert f"Correct: {right} is the best answer." in verdict
        else:
            assert f"Incorrect: you chose {wrong}; the best answer is {right}." \
                in verdict
            assert "Why not" in verdict
        assert " ".join(best_why.split())[:40] in " ".join(verdict.split())

    term.expect("Score: 2/3 correct (67%)")
    assert term.wait() == 0


def test_the_same_seed_gives_the_same_quiz(terminal):
    screens = []
    for _ in range(2):
        term = terminal("spf", "--seed", "42", "--no-lab")
        screens.append(term.expect("Your answer ("))
    assert screens[0] == screens[1]
    assert "seed 42" in screens[0]


def test_the_quiz_starts_a_lab_and_its_commands_work(terminal):
    dig = need("dig")
    term = terminal("mx-missing", "--seed", "1")

    term.expect("Start this scenario's lab to investigate? [y/N]")
    term.type("y")
    shown = term.expect("Open a shell to investigate")
    commands = [line.strip() for line in shown.splitlines()
                if line.strip().startswith(("dig ", "maillab check"))]
    assert any(c.startswith("maillab check contoso.test --lab ") for c in commands)
    mx_query = next(c for c in commands if c.endswith(" MX"))

    # The printed dig line reaches the lab's own DNS: an answer with no MX.
    args = mx_query.split()[1:] + ["+time=2", "+tries=1", "+norecurse"]
    done = subprocess.run([dig, *args], capture_output=True, text=True,
                          timeout=10, check=False)
    assert "status: NOERROR" in done.stdout
    assert "ANSWER: 0" in done.stdout

    # The shell it offers knows where the lab is.
    term.type("y")
    term.expect("MAILLAB_RESOLVER and MAILLAB_STATE are set in this shell.")
    term.type('echo "R=$MAILLAB_RESOLVER S=$MAILLAB_STATE"; exit')
    resolver = mx_query.split()[1].lstrip("@") + ":" + mx_query.split()[3]
    term.expect(f"R={resolver} S=/")
    term.expect("Your answer (")
    term.type("A")
    verdict = term.expect("(the lab is stopped)")
    assert "Ground truth (in this lab): mx.missing contoso.test" in verdict
    term.expect("Score: ")
    assert term.wait() == 0


def _bulk(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*QUIZ, *args], capture_output=True, text=True,
                          timeout=60, env=_env(), cwd=cwd, check=False)


def test_a_teacher_grades_a_set_of_answers_in_bulk(tmp_path):
    members = list(load_set("dns").scenarios)
    seed = 5
    right, _ = _best_and_wrong(members[0], seed, members)
    _, wrong = _best_and_wrong(members[1], seed, members)
    answers = tmp_path / "ann.json"
    answers.write_text(json.dumps({members[0]: right, members[1]: wrong}))

    done = _bulk("dns", "--seed", str(seed), "--answers", str(answers))

    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert (result["correct"], result["answered"], result["total"]) == (1, 2, 4)
    assert result["seed"] == seed
    rows = {r["scenario"]: r for r in result["scenarios"]}
    assert set(rows) == set(members)
    first, second = rows[members[0]], rows[members[1]]
    assert first == {**first, "chosen": right, "correct": True, "best": right}
    assert second["chosen"] == wrong and second["correct"] is False
    assert second["explanation"] and second["best_explanation"]
    assert rows[members[2]]["error"] == "not answered"


def test_bulk_answers_in_yaml_by_file_position_without_a_seed(tmp_path):
    answers = tmp_path / "bob.yaml"
    best = next(i for i, c in enumerate(load("ptr-missing").question.choices)
                if c.best)
    answers.write_text(f"ptr-missing: {best}\nspf-missing: B\n")

    done = _bulk("--answers", str(answers))

    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["seed"] is None and result["total"] == 2
    assert result["scenarios"][0]["correct"] is True
    assert result["scenarios"][0]["chosen"] == "ABCDE"[best]


def test_bulk_grading_refuses_answers_for_scenarios_outside_the_quiz(tmp_path):
    answers = tmp_path / "x.yaml"
    answers.write_text("healthy: A\n")
    done = _bulk("ports", "--answers", str(answers))
    assert done.returncode == 2
    assert "not in the quiz: healthy" in done.stderr

    answers.write_text("- A\n- B\n")
    assert _bulk("--answers", str(answers)).returncode == 2


def test_an_unknown_set_or_scenario_is_bad_input():
    done = _bulk("no-such-thing", "--no-lab")
    assert done.returncode == 2
    assert "no-such-thing" in done.stderr
