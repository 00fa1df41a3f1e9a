"""Faults of the transport: ports a firewall drops or rejects."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar, Literal

from ..plan import Expected, Plan
from .base import FaultBase, Location


class PortBlocked(FaultBase):
    """A port of one host is blocked.

    ``mode: drop`` reproduces a firewall that silently discards the SYN: the
    client's connect times out. ``mode: reject`` reproduces one that answers
    with a TCP reset: the connection is refused at once. In loopback mode a
    drop is a listener whose accept queue is kept full, so Linux discards new
    SYNs without any privilege.
    """

    type: Literal["port.blocked"] = "port.blocked"
    host: str
    port: int
    mode: Literal["drop", "reject"] = "drop"
    findings: ClassVar[tuple[str, ...]] = ("port.filtered", "port.closed")

    def check(self, scenario) -> Iterator[tuple[Location, str]]:  # type: ignore
        problems = list(super().check(scenario))
        yield from problems
        if not 0 < self.port < 65536:
            yield ("port",), f"not a TCP port: {self.port}"
        elif not problems:
            from ..plan import ROLE_SERVICES

            spec = next(h for h in scenario.organisation.hosts if h.name == self.host)
            served = {p for r in spec.roles for p in ROLE_SERVICES[r].values()}
            if self.port not in served:
                yield ("port",), (f"host {self.host} serves no port {self.port} "
                                  f"(it serves {', '.join(map(str, sorted(served)))})")

    def apply(self, plan: Plan) -> None:
        plan.blocked[(self.host, self.port)] = self.mode

    def expected(self, plan: Plan) -> list[Expected]:
        host = plan.host(self.host)
        if self.port not in host.services.values():
            return []
        code = "port.filtered" if self.mode == "drop" else "port.closed"
        return [Expected(code, f"{host.fqdn}:{self.port}", self.type)]
