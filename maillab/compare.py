"""Scoring a diagnosis against a scenario's ground truth."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Pair = tuple[str, str]


@dataclass(frozen=True)
class Score:
    scenario: str
    expected: tuple[Pair, ...]
    found: tuple[Pair, ...]
    error: str | None = None
    #: Why the scenario was not run in this mode, when it was not.
    skipped: str | None = None

    @property
    def missed(self) -> tuple[Pair, ...]:
        return tuple(p for p in self.expected if p not in self.found)

    @property
    def unexpected(self) -> tuple[Pair, ...]:
        return tuple(p for p in self.found if p not in self.expected)

    @property
    def matched(self) -> bool:
        if self.skipped is not None:
            return True  # nothing was claimed, so nothing failed
        return self.error is None and not self.missed and not self.unexpected

    def to_json(self) -> dict[str, Any]:
        def pairs(ps: tuple[Pair, ...]) -> list[dict[str, str]]:
            return [{"code": c, "subject": s} for c, s in ps]

        return {
            "scenario": self.scenario, "matched": self.matched,
            "expected": pairs(self.expected), "found": pairs(self.found),
            "missed": pairs(self.missed), "unexpected": pairs(self.unexpected),
            "error": self.error, "skipped": self.skipped,
        }


def score(scenario: str, expected: list[Pair], found: list[Pair]) -> Score:
    return Score(scenario, tuple(sorted(set(expected))), tuple(sorted(set(found))))
