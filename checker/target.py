"""What the checker is pointed at: a domain, a resolver, the outbound relay.

A lab's state file (``--lab``) supplies the resolver, the outbound addresses,
the port map of a lab whose services run on offset ports, the CA its clients
trust, a test account, the roles of its hosts and the DNS blocklists its
receivers consult; against a real organisation the same fields come from the
command line (``from_options`` keywords).
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from .dns import parse_server
from .errors import UsageError


@dataclass(frozen=True)
class Account:
    """A mailbox the checker may log in to and send one message to itself."""

    address: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class Target:
    domain: str
    resolver: tuple[str, int]
    outbound: tuple[str, ...] = ()
    #: address -> {standard port -> actual port}
    ports: dict[str, dict[int, int]] = field(default_factory=dict, hash=False)
    helo: str = "checker.maillab.invalid"
    #: PEM file of the CAs to trust; None means the system store.
    ca_file: str | None = None
    test_account: Account | None = None
    #: address -> roles the organisation gives that host ("mx", "edge", ...)
    roles: dict[str, tuple[str, ...]] = field(default_factory=dict, hash=False)
    #: DNS blocklist zones to look the outbound addresses up in (RFC 5782).
    #: Only these are asked: a checker queries the lists it is told about.
    blocklists: tuple[str, ...] = ()
    #: The organisation's internal resolver, when it has split DNS: the
    #: checker then compares the internal view with the external one.
    internal_resolver: tuple[str, int] | None = None
    #: The external (authoritative) server, when the checker stands inside.
    external_resolver: tuple[str, int] | None = None
    #: Where the checker stands: "external" (the internet) or "internal".
    view: str = "external"
    #: Outside domains the organisation corresponds with: names the internal
    #: resolver must be able to resolve.
    outside: tuple[str, ...] = ()

    def port(self, address: str, standard: int) -> int:
        return self.ports.get(address, {}).get(standard, standard)

    def has_role(self, address: str, role: str) -> bool:
        return role in self.roles.get(address, ())


def from_options(domain: str, resolver: str | None, outbound: tuple[str, ...],
                 lab: Path | None, *, ca_file: str | None = None,
                 account: tuple[str, str] | None = None,
                 blocklists: tuple[str, ...] | None = None,
                 view: str = "external") -> Target:
    """Build a target; explicit options win over the lab's state file.

    ``blocklists`` given (even empty) replaces the state file's zones.
    """
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
    try:
        ports = {
            addr: {int(k): int(v) for k, v in mapping.items()}
            for addr, mapping in (state.get("ports") or {}).items()
        }
    except (AttributeError, TypeError, ValueError):
        raise UsageError(f"{lab}: 'ports' is not a port map") from None
    for address in outbound:
        try:
            ipaddress.ip_address(address)
        except ValueError:
            raise UsageError(f"not an IP address: --outbound-ip {address!r}") \
                from None
    name = domain.rstrip(".").lower()
    if not re.fullmatch(r"(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))+",
                        name):
        raise UsageError(f"not a domain name: {domain!r}")
    internal = state.get("internal_resolver")
    internal_at = parse_server(internal) if isinstance(internal, str) else None
    standing = parse_server(server)
    if view == "internal":
        if internal_at is None:
            raise UsageError("--view internal needs a lab (or organisation) with "
                             "an internal resolver")
        # Standing inside: the internal resolver answers everything, and the
        # external server is the other view to compare with.
        standing = internal_at
    elif view != "external":
        raise UsageError(f"no such view: {view!r} (internal or external)")
    return Target(
        domain=domain.rstrip(".").lower(),
        resolver=standing,
        outbound=tuple(outbound) or tuple(state.get("outbound", ())),
        ports=ports,
        ca_file=ca_file or state.get("ca_file") or None,
        test_account=_account(account, state.get("test_account")),
        roles=_roles(state.get("hosts")),
        blocklists=_zones(blocklists if blocklists is not None
                          else state.get("blocklists")),
        internal_resolver=internal_at,
        external_resolver=parse_server(state["resolver"]) if view == "internal"
        else None,
        view=view,
        outside=tuple(d for d in state.get("outside") or () if isinstance(d, str)),
    )


def _account(given: tuple[str, str] | None, state: object) -> Account | None:
    if given is not None:
        return Account(given[0], given[1])
    if not isinstance(state, dict):
        return None
    address, password = state.get("address"), state.get("password")
    if not isinstance(address, str) or not isinstance(password, str):
        return None
    return Account(address, password)


def _roles(hosts: object) -> dict[str, tuple[str, ...]]:
    if not isinstance(hosts, list):
        return {}
    roles: dict[str, tuple[str, ...]] = {}
    for host in hosts:
        if isinstance(host, dict) and isinstance(host.get("address"), str):
            roles[host["address"]] = tuple(str(r) for r in host.get("roles", ()))
    return roles


def _zones(given: object) -> tuple[str, ...]:
    """Blocklist zones, lower case without the final dot, each once."""
    if not isinstance(given, (list, tuple)):
        return ()
    zones = (str(z).strip().rstrip(".").lower() for z in given)
    return tuple(dict.fromkeys(z for z in zones if z))
