"""What the checker is pointed at: a domain, a resolver, the outbound relay.

A lab's state file (``--lab``) supplies the resolver, the outbound addresses
and the port map of a lab whose services run on offset ports; against a real
organisation the same fields come from the command line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from .dns import parse_server
from .errors import UsageError


@dataclass(frozen=True)
class Target:
    domain: str
    resolver: tuple[str, int]
    outbound: tuple[str, ...] = ()
    #: address -> {standard port -> actual port}
    ports: dict[str, dict[int, int]] = field(default_factory=dict, hash=False)
    helo: str = "checker.maillab.invalid"

    def port(self, address: str, standard: int) -> int:
        return self.ports.get(address, {}).get(standard, standard)


def from_options(domain: str, resolver: str | None, outbound: tuple[str, ...],
                 lab: Path | None) -> Target:
    """Build a target; explicit options win over the lab's state file."""
    state: dict = {}
    if lab is not None:
        try:
            state = json.loads(Path(lab).read_text())
        except (OSError, ValueError) as exc:
            raise UsageError(f"cannot read lab state file {lab}: {exc}") from None
        if not isinstance(state, dict) or state.get("format") != 1:
            raise UsageError(f"{lab} is not a lab state file (format 1)")

    server = resolver or state.get("resolver")
    if not server:
        raise UsageError("no resolver: give --resolver IP[:PORT] or --lab STATEFILE")
    ports = {
        addr: {int(k): int(v) for k, v in mapping.items()}
        for addr, mapping in state.get("ports", {}).items()
    }
    return Target(
        domain=domain.rstrip(".").lower(),
        resolver=parse_server(server),
        outbound=tuple(outbound) or tuple(state.get("outbound", ())),
        ports=ports,
    )
