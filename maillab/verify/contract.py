"""The checker contract: what a checker is given, and what it must answer.

A checker is a command line whose words may hold placeholders (``{domain}``,
``{resolver}``, ``{resolver_ip}``, ``{resolver_port}``, ``{outbound}``,
``{state}``), or a Python callable taking a ``LabInfo``. Either way it
answers with a JSON document ``{"findings": [{"code", "subject", ...}]}``
(see ``report.schema.json``). Everything here is pure: no sockets, no
processes.
"""

from __future__ import annotations

import json
import shlex
import sys
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from lab.runtime import Lab

#: The built-in checker, driven through the same contract as any other.
DEFAULT_COMMAND = "maillab check {domain} --lab {state} --json"

PLACEHOLDERS = ("domain", "resolver", "resolver_ip", "resolver_port", "outbound",
                "state")

#: Bounds on what a checker may print; a runaway checker is an error, not a hang.
MAX_REPORT_BYTES = 4 * 1024 * 1024
MAX_FINDINGS = 10_000
MAX_CODE = 200
MAX_SUBJECT = 1000
MAX_COMMAND = 8192

Pair = tuple[str, str]


class ContractError(ValueError):
    """A checker's answer (or a checker command) that breaks the contract."""


@dataclass(frozen=True)
class HostInfo:
    name: str
    fqdn: str
    address: str
    roles: tuple[str, ...]
    #: (standard port, actual port) for each service the host runs
    ports: tuple[tuple[int, int], ...] = ()

    def port(self, standard: int) -> int:
        """The port a service listens on, given its standard port."""
        return dict(self.ports).get(standard, standard)


@dataclass(frozen=True)
class LabInfo:
    """What a running lab offers a checker, and (for tests) its ground truth."""

    scenario: str
    domain: str
    resolver_ip: str
    resolver_port: int
    hosts: tuple[HostInfo, ...]
    outbound: tuple[str, ...]
    state_file: Path
    ca_file: Path | None = None
    #: The (code, subject) pairs a correct diagnosis contains.
    expected: tuple[Pair, ...] = field(default=())

    @property
    def resolver(self) -> str:
        ip = self.resolver_ip
        host = f"[{ip}]" if ":" in ip else ip
        return f"{host}:{self.resolver_port}"

    def host(self, name: str) -> HostInfo:
        for h in self.hosts:
            if name in (h.name, h.fqdn):
                return h
        raise KeyError(name)

    def without_truth(self) -> LabInfo:
        """The same lab with the ground truth removed: what a checker may see."""
        return replace(self, expected=())

    def placeholders(self) -> dict[str, str]:
        return {
            "domain": self.domain,
            "resolver": self.resolver,
            "resolver_ip": self.resolver_ip,
            "resolver_port": str(self.resolver_port),
            "outbound": ",".join(self.outbound),
            "state": str(self.state_file),
        }


@dataclass(frozen=True)
class ReportedFinding:
    code: str
    subject: str
    severity: str | None = None
    evidence: tuple[str, ...] = ()


def lab_info(lab: Lab) -> LabInfo:
    """Describe a started lab from its state (what a checker may know)."""
    state = lab.state()
    ip, _, port = state["resolver"].rpartition(":")
    ports = state["ports"]
    hosts = tuple(
        HostInfo(h["name"], h["fqdn"], h["address"], tuple(h["roles"]),
                 tuple(sorted((int(k), int(v))
                              for k, v in ports.get(h["address"], {}).items())))
        for h in state["hosts"]
    )
    ca = state.get("ca_file")
    ca_file = Path(ca) if ca else None
    if ca_file is None and lab.directory is not None:
        # The lab's TLS layer keeps its CA next to the state file.
        candidate = lab.directory / "ca.pem"
        ca_file = candidate if candidate.is_file() else None
    return LabInfo(
        scenario=state["scenario"], domain=state["domain"],
        resolver_ip=ip.strip("[]"), resolver_port=int(port), hosts=hosts,
        outbound=tuple(state["outbound"]), state_file=lab.state_file,
        ca_file=ca_file,
        expected=tuple(sorted({(e.code, e.subject) for e in lab.expected()})),
    )


def expand(command: str, info: LabInfo) -> list[str]:
    """Split a command line into words and fill in the placeholders.

    Splitting comes first, so a value never becomes two words and never
    reaches a shell. Unknown ``{names}`` are left alone: they may belong to
    the checker (a JSON argument, a shell snippet it runs itself).
    """
    if len(command) > MAX_COMMAND:
        raise ContractError(f"checker command longer than {MAX_COMMAND} characters")
    try:
        words = shlex.split(command)
    except ValueError as exc:
        raise ContractError(f"cannot split checker command: {exc}") from None
    if not words:
        raise ContractError("empty checker command")

    values = info.placeholders()
    out = []
    for word in words:
        for name, value in values.items():
            word = word.replace(f"{{{name}}}", value)
        out.append(word)

    # Run the built-in checker from this very installation, whatever PATH says.
    if out[0] == "maillab":
        out[:1] = [sys.executable, "-m", "maillab"]
    return out


def parse_report(text: str | bytes) -> tuple[ReportedFinding, ...]:
    """The findings of a checker's stdout, or ContractError saying what is wrong."""
    if len(text) > MAX_REPORT_BYTES:
        raise ContractError(f"report larger than {MAX_REPORT_BYTES} bytes")
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    if not text.strip():
        raise ContractError("the checker printed nothing on stdout")
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise ContractError(f"stdout is not JSON: {exc}") from None
    return findings_of(doc)


def findings_of(doc: Any) -> tuple[ReportedFinding, ...]:
    """Validate a decoded report against the schema's rules and read it."""
    if not isinstance(doc, dict) or not isinstance(doc.get("findings"), list):
        raise ContractError('the report is not an object with a "findings" list')
    items = doc["findings"]
    if len(items) > MAX_FINDINGS:
        raise ContractError(f"more than {MAX_FINDINGS} findings")

    found = []
    for i, item in enumerate(items):
        where = f"findings[{i}]"
        if not isinstance(item, dict):
            raise ContractError(f"{where} is not an object")
        code, subject = item.get("code"), item.get("subject")
        if not isinstance(code, str) or not 0 < len(code) <= MAX_CODE:
            raise ContractError(f"{where}.code must be a string of 1-{MAX_CODE}")
        if not isinstance(subject, str) or len(subject) > MAX_SUBJECT:
            raise ContractError(f"{where}.subject must be a string of 0-{MAX_SUBJECT}")
        severity = item.get("severity")
        if severity is not None and not isinstance(severity, str):
            raise ContractError(f"{where}.severity must be a string")
        evidence = item.get("evidence", [])
        if not isinstance(evidence, list) or not all(
                isinstance(e, str) for e in evidence):
            raise ContractError(f"{where}.evidence must be a list of strings")
        found.append(ReportedFinding(code, subject, severity, tuple(evidence)))
    return tuple(found)


def schema() -> dict[str, Any]:
    """The JSON Schema of a checker's report."""
    return json.loads(schema_text())


def schema_text() -> str:
    return resources.files(__package__).joinpath("report.schema.json").read_text()
