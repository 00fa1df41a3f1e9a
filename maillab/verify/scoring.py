"""Scoring the whole corpus: precision and recall per finding code, and overall.

A scenario's own verdict is ``maillab.compare.Score``; here those are summed.
A scenario whose checker crashed counts every expected finding as missed: a
crash must never look better than a wrong answer.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..compare import Score


@dataclass(frozen=True)
class Tally:
    code: str
    found: int = 0
    missed: int = 0
    unexpected: int = 0

    @property
    def precision(self) -> float | None:
        claimed = self.found + self.unexpected
        return self.found / claimed if claimed else None

    @property
    def recall(self) -> float | None:
        wanted = self.found + self.missed
        return self.found / wanted if wanted else None

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "found": self.found, "missed": self.missed,
                "unexpected": self.unexpected, "precision": _round(self.precision),
                "recall": _round(self.recall)}


@dataclass(frozen=True)
class Summary:
    scenarios: int
    matched: int
    errors: int
    overall: Tally
    by_code: tuple[Tally, ...]

    @property
    def ok(self) -> bool:
        return self.scenarios == self.matched

    def to_json(self) -> dict[str, Any]:
        return {"scenarios": self.scenarios, "matched": self.matched,
                "errors": self.errors, "ok": self.ok,
                "overall": self.overall.to_json(),
                "by_code": [t.to_json() for t in self.by_code]}


def summarise(scores: Iterable[Score]) -> Summary:
    counts: dict[str, list[int]] = {}
    total = [0, 0, 0]
    n = matched = errors = 0
    for s in scores:
        n += 1
        matched += s.matched
        errors += s.error is not None
        hits = [p for p in s.expected if p in s.found]
        for kind, pairs in enumerate((hits, s.missed, s.unexpected)):
            for code, _ in pairs:
                counts.setdefault(code, [0, 0, 0])[kind] += 1
                total[kind] += 1
    by_code = tuple(Tally(code, *c) for code, c in sorted(counts.items()))
    return Summary(n, matched, errors, Tally("(all)", *total), by_code)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
