"""The order questions and their choices are shown in.

A seed fixes both. Each scenario's choices are shuffled from the seed and
the scenario's name alone, so a printed sheet for seed 7 lists a question's
choices in the same order whatever else the quiz holds. Without a seed a
fresh one is drawn, and is reported, so any quiz can be replayed.
"""

from __future__ import annotations

import random
import secrets
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

LETTERS = string.ascii_uppercase[:5]


@dataclass(frozen=True)
class Ordering:
    """Question order, and for each question the file's choice index per letter."""

    seed: int | None
    questions: tuple[str, ...]
    choices: Mapping[str, tuple[int, ...]]

    def letter_of(self, scenario: str, index: int) -> str:
        """The letter shown for the file's choice ``index``."""
        return LETTERS[self.choices[scenario].index(index)]

    def index_of(self, scenario: str, letter: str) -> int:
        """The file's choice index behind a shown letter."""
        position = LETTERS.index(letter.upper())
        return self.choices[scenario][position]


def new_seed() -> int:
    return secrets.randbelow(1_000_000)


def order(counts: Mapping[str, int], *, seed: int | None = None,
          questions: Sequence[str] | None = None,
          shuffle_questions: bool = True,
          shuffle_choices: bool = True) -> Ordering:
    """Order ``questions`` (default: ``counts``' keys) and their choices.

    ``counts`` maps each scenario to its number of choices.
    """
    chosen = seed if seed is not None else new_seed()
    names = list(questions if questions is not None else counts)

    if shuffle_questions:
        random.Random(f"{chosen}:questions").shuffle(names)

    choices: dict[str, tuple[int, ...]] = {}
    for name in names:
        indices = list(range(counts[name]))
        if shuffle_choices:
            random.Random(f"{chosen}:choices:{name}").shuffle(indices)
        choices[name] = tuple(indices)
    return Ordering(seed=chosen, questions=tuple(names), choices=choices)


def file_order(counts: Mapping[str, int],
               questions: Sequence[str] | None = None) -> Ordering:
    """Questions and choices exactly as the files list them (no seed)."""
    names = tuple(questions if questions is not None else counts)
    return Ordering(seed=None, questions=names,
                    choices={n: tuple(range(counts[n])) for n in names})
