"""Port faults as nftables rules, met by a client inside the namespace."""

from __future__ import annotations

import pytest

from lab.isolated import LabNamespace, firewall
from lab.isolated.firewall import PortRule

from .conftest import ADDR4, ADDR6, connect_result, listener

PORTS = (2501, 2502, 2503)


@pytest.fixture
def listening(namespace: LabNamespace, inside) -> LabNamespace:
    inside(listener(ADDR4, *PORTS))
    inside(listener(ADDR6, *PORTS))
    # Before any rule every port answers, so a refusal below is the firewall's.
    for port in PORTS:
        assert connect_result(namespace, ADDR4, port) == "ok"
    return namespace


@pytest.mark.parametrize("address", [ADDR4, ADDR6])
def test_each_mode_ends_the_connect_its_own_way(listening: LabNamespace,
                                                address: str) -> None:
    listening.apply_firewall([PortRule(address, 2501, "drop"),
                              PortRule(address, 2502, "reject-tcp-reset"),
                              PortRule(address, 2503, "reject-icmp")])

    assert connect_result(listening, address, 2501, timeout=1.0) == "timeout"
    assert connect_result(listening, address, 2502, timeout=5.0) == "refused"
    assert connect_result(listening, address, 2503, timeout=5.0) == "refused"


def test_rules_are_replaced_and_removed(listening: LabNamespace) -> None:
    listening.apply_firewall([PortRule(ADDR4, 2501, "reject-tcp-reset")])
    listening.apply_firewall([PortRule(ADDR4, 2502, "reject-tcp-reset")])

    assert connect_result(listening, ADDR4, 2501) == "ok"
    assert connect_result(listening, ADDR4, 2502) == "refused"

    firewall.remove(netns=listening.name)

    assert not firewall.has_table(netns=listening.name)
    assert connect_result(listening, ADDR4, 2502) == "ok"
