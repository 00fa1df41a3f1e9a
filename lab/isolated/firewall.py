"""Port faults as nftables rules inside a lab's namespace.

One table, ``inet maillab``, with one input chain: every blocked
(address, TCP port) gets one rule. Traffic between two addresses of the
namespace's loopback still passes the input hook, so a client inside the lab
meets the rule exactly as it would meet a firewall in front of a real host:

* ``drop``: the SYN is discarded, the client's connect times out;
* ``reject-tcp-reset``: a TCP reset, the connect is refused at once;
* ``reject-icmp``: ICMP port-unreachable, which Linux also reports to the
  client as "connection refused", but a packet capture tells them apart.

Building the script is pure (testable anywhere); only ``apply`` and
``remove`` run ``nft``, and only inside the given namespace.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal, get_args

from .errors import IsolationError
from .tools import tool

log = logging.getLogger(__name__)

Mode = Literal["drop", "reject-tcp-reset", "reject-icmp"]
MODES: tuple[str, ...] = get_args(Mode)

TABLE = "maillab"

#: The plan's fault modes (``port.blocked``) in nftables terms.
PLAN_MODES: dict[str, Mode] = {
    "drop": "drop",
    "reject": "reject-tcp-reset",
    "reject-tcp-reset": "reject-tcp-reset",
    "reject-icmp": "reject-icmp",
}

_VERDICTS: dict[str, str] = {
    "drop": "drop",
    "reject-tcp-reset": "reject with tcp reset",
    "reject-icmp": "reject with icmpx type port-unreachable",
}


class BadRule(IsolationError):
    """A port rule with an address, port or mode nftables cannot take."""


@dataclass(frozen=True, order=True)
class PortRule:
    """Connections to ``address:port`` over TCP meet ``mode``."""

    address: str
    port: int
    mode: Mode = "drop"

    def __post_init__(self) -> None:
        try:
            ipaddress.ip_address(self.address)
        except ValueError:
            raise BadRule(f"not an IP address: {self.address!r}") from None
        if not 0 < self.port < 65536:
            raise BadRule(f"not a TCP port: {self.port}")
        if self.mode not in MODES:
            raise BadRule(f"unknown mode {self.mode!r}; one of {', '.join(MODES)}")

    def render(self) -> str:
        family = "ip6" if ipaddress.ip_address(self.address).version == 6 else "ip"
        address = ipaddress.ip_address(self.address).compressed
        return (f"{family} daddr {address} tcp dport {self.port} "
                f"{_VERDICTS[self.mode]}")


def rules_from_plan(blocked: Mapping[tuple[str, int], str],
                    addresses: Mapping[str, str]) -> list[PortRule]:
    """The rules for a plan's ``blocked`` map, given each host's address."""
    rules = []
    for (host, port), mode in blocked.items():
        if mode not in PLAN_MODES:
            raise BadRule(f"{host}:{port}: unknown block mode {mode!r}")
        rules.append(PortRule(addresses[host], port, PLAN_MODES[mode]))
    return sorted(rules)


def render(rules: Iterable[PortRule]) -> str:
    """The whole ``nft -f`` script: replace the table with these rules.

    Declaring the table before deleting it makes the delete succeed whether
    or not an older table exists, so applying twice leaves one table.
    """
    lines = [
        f"table inet {TABLE} {{}}",
        f"delete table inet {TABLE}",
        f"table inet {TABLE} {{",
        "    chain input {",
        "        type filter hook input priority filter; policy accept;",
    ]
    lines += [f"        {rule.render()}" for rule in sorted(set(rules))]
    lines += ["    }", "}", ""]
    return "\n".join(lines)


def _prefix(netns: str | None) -> list[str]:
    return [] if netns is None else ["ip", "netns", "exec", netns]


def apply(rules: Iterable[PortRule], *, netns: str | None) -> None:
    """Load the table into ``netns`` (``None``: the current namespace)."""
    rules = sorted(set(rules))
    tool(_prefix(netns) + ["nft", "-f", "-"], stdin=render(rules))
    for rule in rules:
        log.info("firewall: %s:%d %s", rule.address, rule.port, rule.mode)


def remove(*, netns: str | None) -> None:
    """Delete the table if it is there; nothing else in the namespace."""
    script = f"table inet {TABLE} {{}}\ndelete table inet {TABLE}\n"
    tool(_prefix(netns) + ["nft", "-f", "-"], stdin=script)


def has_table(*, netns: str | None) -> bool:
    out = tool(_prefix(netns) + ["nft", "list", "tables"])
    return f"table inet {TABLE}" in out.splitlines()
