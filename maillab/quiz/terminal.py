"""``maillab quiz``: the knowledge check in a terminal, or graded in bulk.

This layer only reads the keyboard and prints; what an answer means, the
order of things and the score come from ``grading`` and ``ordering``.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import click
import yaml

from lab.errors import LabError, ScenarioError
from lab.scenario import bundled_names

from . import grading
from .background import BackgroundLab
from .exercises import (
    Exercise,
    lab_access,
    live_findings,
    load_exercises,
    offline_findings,
)
from .ordering import LETTERS, Ordering, file_order, order
from .sets import is_set, load_set

log = logging.getLogger(__name__)

MAX_ANSWERS_BYTES = 1024 * 1024
MAX_ANSWERS = 1000
MAX_LINE = 200


class QuizInputError(click.ClickException):
    """Bad input to the quiz: exit status 2, like every other bad input."""

    exit_code = 2


def resolve_names(args: tuple[str, ...]) -> list[str]:
    """Scenario names from sets and scenarios, in order, each once."""
    names: list[str] = []
    for arg in args:
        members = load_set(arg).scenarios if is_set(arg) else (arg,)
        names.extend(m for m in members if m not in names)
    return names


@click.command("quiz")
@click.argument("items", nargs=-1, metavar="[SET|SCENARIO]...")
@click.option("--seed", type=click.IntRange(0, 2**31),
              help="Fix the order of questions and choices.")
@click.option("--answers", "answers_file", type=click.Path(path_type=Path,
              dir_okay=False), help="Grade a YAML/JSON file of answers; print JSON.")
@click.option("--no-lab", is_flag=True, help="Do not offer to start labs.")
@click.option("--keep-order", is_flag=True,
              help="Ask the questions in the set's order (choices still shuffle).")
def quiz_command(items: tuple[str, ...], seed: int | None,
                 answers_file: Path | None, no_lab: bool, keep_order: bool) -> None:
    """Knowledge checks: read the briefing, investigate, choose the best answer.

    SET is an exercise set (see docs/teaching.md) and SCENARIO a scenario's
    name; with neither, every bundled scenario. In --answers mode a letter is
    the choice as shown with the same --seed (the file's order without one),
    and a number is the choice's position in the scenario file, from 0.
    """
    # The lab's own warnings (a fault it injects) would give the answer away.
    import logging

    for name in ("lab", "mail.log"):
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        if answers_file is not None:
            _bulk(items, seed, answers_file, keep_order)
            return
        exercises = load_exercises(resolve_names(items) or bundled_names())
    except ScenarioError as exc:
        raise QuizInputError(str(exc)) from None

    counts = {n: len(e.question.choices) for n, e in exercises.items()}
    ordering = order(counts, seed=seed, shuffle_questions=not keep_order)
    _interactive(exercises, ordering, offer_lab=not no_lab)


# region: bulk grading

def _bulk(items: tuple[str, ...], seed: int | None, path: Path,
          keep_order: bool) -> None:
    answers = _read_answers(path)
    names = resolve_names(items) or list(answers)
    stray = [k for k in answers if k not in names]
    if stray:
        raise QuizInputError(f"{path}: answers for scenarios not in the quiz: "
                             f"{', '.join(stray[:5])}")

    exercises = load_exercises(names)
    counts = {n: len(e.question.choices) for n, e in exercises.items()}
    ordering = (file_order(counts) if seed is None
                else order(counts, seed=seed, shuffle_questions=not keep_order))
    questions = {n: e.question for n, e in exercises.items()}
    click.echo(json.dumps(grading.report(questions, answers, ordering), indent=2))


def _read_answers(path: Path) -> dict[str, Any]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise QuizInputError(f"{path}: cannot read: {exc.strerror}") from None
    if len(data) > MAX_ANSWERS_BYTES:
        raise QuizInputError(f"{path}: larger than {MAX_ANSWERS_BYTES} bytes")
    try:
        # JSON is YAML, so one safe parser reads both.
        parsed = yaml.safe_load(data.decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise QuizInputError(f"{path}: not YAML or JSON: {exc}") from None
    if not isinstance(parsed, dict) or not parsed:
        raise QuizInputError(f"{path}: expected a mapping of scenario: answer")
    if len(parsed) > MAX_ANSWERS:
        raise QuizInputError(f"{path}: more than {MAX_ANSWERS} answers")
    bad = [k for k, v in parsed.items()
           if not isinstance(k, str) or not isinstance(v, (str, int))]
    if bad:
        raise QuizInputError(f"{path}: each answer is a letter or a number; "
                             f"see {bad[0]!r}")
    return parsed


# endregion
# region: the interactive quiz

def _ask(prompt: str) -> str:
    # input() rather than click.prompt: an empty line is an answer here.
    return input(prompt)[:MAX_LINE].strip()


def _interactive(exercises: Mapping[str, Exercise], ordering: Ordering, *,
                 offer_lab: bool, ask: Callable[[str], str] = _ask) -> None:
    total = len(ordering.questions)
    click.echo(f"Mailflow Lab knowledge check: {total} question(s), "
               f"seed {ordering.seed} (replay with --seed {ordering.seed})")
    graded: list[grading.Graded] = []
    try:
        for number, name in enumerate(ordering.questions, start=1):
            graded.append(_one(exercises[name], ordering, number, total,
                               offer_lab=offer_lab, ask=ask))
    except (EOFError, KeyboardInterrupt):
        click.echo("\nStopped.")

    final = grading.score(graded, total)
    click.echo("")
    click.secho(f"Score: {final}", bold=True)


def _one(exercise: Exercise, ordering: Ordering, number: int, total: int, *,
         offer_lab: bool, ask: Callable[[str], str]) -> grading.Graded:
    _briefing(exercise, number, total)

    lab: BackgroundLab | None = None
    if offer_lab and ask("Start this scenario's lab to investigate? [y/N] ") \
            .lower().startswith("y"):
        lab = _start_lab(exercise, ask)
    try:
        chosen = _question(exercise, ordering, ask)
        result = grading.grade(exercise.name, exercise.question, chosen)
        _verdict(exercise, ordering, result, lab)
    finally:
        if lab is not None:
            lab.stop()
            click.echo("(the lab is stopped)")
    return result


def _briefing(exercise: Exercise, number: int, total: int) -> None:
    click.echo("")
    click.secho(f"== Question {number} of {total}: {exercise.title} ==", bold=True)
    click.echo("What the user reports:")
    click.echo(f"  {exercise.complaint}")
    if exercise.ndr:
        click.echo("The bounce message they received:")
        click.echo(f"  {exercise.ndr}")


def _start_lab(exercise: Exercise, ask: Callable[[str], str]) -> BackgroundLab | None:
    click.echo("Starting the lab...")
    lab = BackgroundLab(exercise.scenario)
    try:
        lab.start()
    except (LabError, OSError) as exc:
        click.secho(f"The lab could not start: {exc}", fg="red")
        return None

    access = lab_access(lab.state(), lab.lab.state_file)
    click.echo(f"The lab is up. Its DNS resolver is {access.resolver_ip} port "
               f"{access.resolver_port}. Investigate with, for example:")
    for line in access.commands:
        click.echo(f"  {line}")
    if ask("Open a shell to investigate (exit it to come back)? [y/N] ") \
            .lower().startswith("y"):
        shell = os.environ.get("SHELL") or "/bin/sh"
        env = {**os.environ, **access.environment()}
        click.echo("MAILLAB_RESOLVER and MAILLAB_STATE are set in this shell.")
        # TODO: a shell inside the lab's own network view is built separately;
        # until then this is an ordinary shell with the lab's addresses set.
        subprocess.run([shell], env=env, check=False)
    return lab


def _question(exercise: Exercise, ordering: Ordering,
              ask: Callable[[str], str]) -> int:
    question = exercise.question
    n = len(question.choices)
    click.echo("")
    click.secho(question.stem, bold=True)
    for position, index in enumerate(ordering.choices[exercise.name]):
        click.echo(f"  {LETTERS[position]}) {question.choices[index].text}")

    letters = LETTERS[:n]
    while True:
        line = ask(f"Your answer ({letters[0]}-{letters[-1]}): ")
        # At the keyboard only letters count: numbers mean file positions.
        if line and not line.isdigit():
            try:
                return grading.parse_answer(line, exercise.name, n, ordering)
            except grading.AnswerError:
                pass
        click.echo(f"Please type one letter, {', '.join(letters)}.")


def _verdict(exercise: Exercise, ordering: Ordering, result: grading.Graded,
             lab: BackgroundLab | None) -> None:
    chosen = ordering.letter_of(exercise.name, result.chosen)
    best = ordering.letter_of(exercise.name, result.best)
    click.echo("Checking your answer...")
    if result.correct:
        click.secho(f"Correct: {chosen} is the best answer.", fg="green", bold=True)
        click.echo(f"  Why: {result.chosen_why}")
    else:
        click.secho(f"Incorrect: you chose {chosen}; the best answer is {best}.",
                    fg="red", bold=True)
        click.echo(f"  Why not {chosen}: {result.chosen_why}")
        click.echo(f"  Why {best}: {result.best_why}")

    if lab is not None:
        found = live_findings(lab.expected())
        source = "in this lab"
    else:
        found = offline_findings(exercise.scenario)
        source = "from the scenario's faults"
    shown = ", ".join(found) if found else "none: the organisation is healthy"
    click.echo(f"  Ground truth ({source}): {shown}")


# endregion


def main() -> None:
    """Run the quiz on its own (``python -m maillab.quiz``)."""
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    quiz_command.main(prog_name="maillab quiz")
