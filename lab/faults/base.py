"""What every fault type is: parameters, an edit of the plan, a ground truth.

A fault's docstring is its documentation: the first line says what it
injects, the rest what a real network does that it reproduces. ``findings``
on the class names, in one place, the finding codes a correct checker must
report for it; ``expected`` turns them into (code, subject) pairs for one
plan.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, ClassVar

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from ..plan import Expected, Plan
    from ..scenario.model import Scenario

Location = tuple[str | int, ...]


class FaultBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str
    findings: ClassVar[tuple[str, ...]] = ()
    #: Whether the fault acts on the outbound relay (and so needs one).
    needs_relay: ClassVar[bool] = False

    def apply(self, plan: Plan) -> None:
        """Edit the plan so the lab serves the fault."""
        raise NotImplementedError

    def expected(self, plan: Plan) -> list[Expected]:
        """The findings a correct diagnosis of this plan must contain."""
        raise NotImplementedError

    def check(self, scenario: Scenario) -> Iterator[tuple[Location, str]]:
        """Rules that need the whole scenario (a host that exists, ...)."""
        if self.needs_relay and scenario.organisation.relay is None:
            yield ("type",), (f"{self.type} needs an outbound relay; the scenario "
                              "has none")
        host = getattr(self, "host", None)
        if host is not None and host not in {h.name for h in
                                              scenario.organisation.hosts}:
            yield ("host",), f"names no host of the organisation: {host!r}"


def summary(cls: type[FaultBase]) -> str:
    return (cls.__doc__ or "").strip().splitlines()[0]


def details(cls: type[FaultBase]) -> str:
    lines = (cls.__doc__ or "").strip().splitlines()[1:]
    return " ".join(line.strip() for line in lines if line.strip())
