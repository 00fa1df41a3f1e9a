"""What a student is shown for one scenario, apart from the question.

The briefing (title, complaint, bounce), the commands to investigate a
running lab (built from its state, the same addresses and ports the checker
reads), and the ground truth revealed once the answer is checked.
"""

from __future__ import annotations

import logging
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lab.faults import BY_NAME
from lab.scenario import load
from lab.scenario.model import Question, Scenario

log = logging.getLogger(__name__)

#: Where the lab delivers test messages; any outside sender will do.
PROBE_SENDER = "partner@example.test"


@dataclass(frozen=True)
class Exercise:
    """One scenario as a knowledge check."""

    name: str
    title: str
    domain: str
    complaint: str
    ndr: str | None
    question: Question
    scenario: Scenario

    @classmethod
    def of(cls, scenario: Scenario) -> Exercise:  # noqa: D102
        # The scenario's title names its fault; a student sees the ticket.
        return cls(name=scenario.name, title=ticket_title(scenario),
                   domain=scenario.domain, complaint=scenario.symptoms.complaint,
                   ndr=scenario.symptoms.ndr, question=scenario.question,
                   scenario=scenario)


def load_exercises(names: Iterable[str]) -> dict[str, Exercise]:
    """Exercises by name, in the order given (raises ``ScenarioError``)."""
    found: dict[str, Exercise] = {}
    for name in names:
        scenario = load(name)
        found[scenario.name] = Exercise.of(scenario)
    return found


def offline_findings(scenario: Scenario) -> list[str]:
    """The finding codes the faults imply, known without starting a lab.

    Subjects (addresses, host names) depend on the lab's slot, so only codes
    are given; a fault type may list several codes of which any one applies
    (a blocked port is filtered or closed, by its mode).
    """
    codes: list[str] = []
    waived = {w.code for w in scenario.findings.waive if w.subject is None}
    for fault in scenario.faults:
        kind = BY_NAME.get(fault.type)
        listed = kind.findings if kind is not None else ()
        mode = getattr(fault, "mode", None)
        if fault.type == "port.blocked" and mode is not None:
            # The mode says which of the two codes the lab produces.
            listed = tuple(c for c in listed if c == _PORT_CODES.get(mode, c))
        codes.extend(c for c in listed if c not in waived)
    codes.extend(a.code for a in scenario.findings.add)
    return list(dict.fromkeys(codes))


_PORT_CODES = {"drop": "port.filtered", "reject": "port.closed"}


def live_findings(expected: Iterable[Any]) -> list[str]:
    """Findings from ``Lab.expected()``: each as 'code subject'."""
    return [f"{e.code} {e.subject}".strip() for e in expected]


@dataclass(frozen=True)
class LabAccess:
    """How to reach one running lab from a shell."""

    resolver_ip: str
    resolver_port: int
    state_file: str
    commands: tuple[str, ...]

    def environment(self) -> dict[str, str]:
        return {"MAILLAB_RESOLVER": f"{self.resolver_ip}:{self.resolver_port}",
                "MAILLAB_STATE": self.state_file}


def lab_access(state: Mapping[str, Any], state_file: Path | str) -> LabAccess:
    """The commands to investigate a lab, from its state (``Lab.state()``)."""
    ip, _, port = str(state["resolver"]).rpartition(":")
    domain = str(state["domain"])
    ports: Mapping[str, Mapping[str, int]] = state.get("ports", {})
    q = shlex.quote
    lines = [f"dig @{ip} -p {port} {q(domain)} MX",
             f"dig @{ip} -p {port} {q(domain)} TXT"]
    for address in state.get("outbound", []):
        lines.append(f"dig @{ip} -p {port} -x {address}")

    for host in state.get("hosts", []):
        by_port = ports.get(host["address"], {})
        if "mx" in host["roles"] and "25" in by_port:
            lines.append(f"swaks --server {host['address']} --port {by_port['25']}"
                         f" --from {PROBE_SENDER} --to alice@{q(domain)}"
                         " --timeout 5")
        if "587" in by_port:
            lines.append(f"swaks --server {host['address']} --port {by_port['587']}"
                         f" --from alice@{q(domain)} --to bob@{q(domain)}"
                         " --tls --auth-user alice@" + q(domain) +
                         " --auth-password alice-lab-password"
                         " --timeout 5")

    lines.append(f"maillab check {q(domain)} --lab {q(str(state_file))}")
    return LabAccess(resolver_ip=ip, resolver_port=int(port),
                     state_file=str(state_file), commands=tuple(lines))


def ticket_title(scenario: Scenario) -> str:
    """What the user says, in a line: a heading that gives nothing away."""
    first = scenario.symptoms.complaint.strip().split(". ")[0].rstrip(".")
    return first if len(first) <= 80 else first[:77].rstrip() + "..."
