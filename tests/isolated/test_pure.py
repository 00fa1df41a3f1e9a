"""What needs no privileges: nft scripts, addresses, records, the probe's answer."""

from __future__ import annotations

import os

import pytest

from lab.errors import LabError
from lab.isolated import capability, registry
from lab.isolated.addresses import (NotDocumentation, check_documentation,
                                    default_address, reverse_zones)
from lab.isolated.firewall import BadRule, PortRule, render, rules_from_plan


def test_each_mode_renders_its_verdict() -> None:
    script = render([PortRule("192.0.2.10", 25, "drop"),
                     PortRule("192.0.2.11", 587, "reject-tcp-reset"),
                     PortRule("2001:db8:0::10", 25, "reject-icmp")])

    assert "ip daddr 192.0.2.10 tcp dport 25 drop" in script
    assert "ip daddr 192.0.2.11 tcp dport 587 reject with tcp reset" in script
    assert ("ip6 daddr 2001:db8::10 tcp dport 25 "
            "reject with icmpx type port-unreachable") in script
    assert "type filter hook input priority filter; policy accept;" in script


def test_script_replaces_the_table_whether_or_not_it_exists() -> None:
    lines = render([]).splitlines()

    assert lines[:3] == ["table inet maillab {}", "delete table inet maillab",
                         "table inet maillab {"]


def test_duplicate_rules_render_once() -> None:
    rule = PortRule("192.0.2.10", 25)

    assert render([rule, rule]).count("tcp dport 25") == 1


@pytest.mark.parametrize("address, port, mode", [
    ("mx1.contoso.test", 25, "drop"), ("192.0.2.10", 0, "drop"),
    ("192.0.2.10", 70000, "drop"), ("192.0.2.10", 25, "reject-later"),
])
def test_bad_rules_are_lab_errors(address: str, port: int, mode: str) -> None:
    with pytest.raises(BadRule) as caught:
        PortRule(address, port, mode)  # type: ignore[arg-type]

    assert isinstance(caught.value, LabError)


def test_plan_modes_map_to_nftables_modes() -> None:
    blocked = {("mx1", 25): "reject", ("mail", 587): "drop",
               ("relay", 25): "reject-icmp"}
    addresses = {"mx1": "192.0.2.11", "mail": "192.0.2.12", "relay": "192.0.2.13"}

    rules = rules_from_plan(blocked, addresses)

    assert rules == [PortRule("192.0.2.11", 25, "reject-tcp-reset"),
                     PortRule("192.0.2.12", 587, "drop"),
                     PortRule("192.0.2.13", 25, "reject-icmp")]


def test_only_documentation_addresses_are_accepted() -> None:
    assert check_documentation("2001:DB8::10") == "2001:db8::10"
    assert check_documentation("203.0.113.7") == "203.0.113.7"
    with pytest.raises(NotDocumentation, match="documentation range"):
        check_documentation("8.8.8.8")


def test_default_addresses_and_reverse_zones() -> None:
    assert default_address(0) == "192.0.2.10"
    assert reverse_zones(["192.0.2.10", "192.0.2.11", "2001:db8::10"]) == [
        "2.0.192.in-addr.arpa", "0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa"]


def test_record_round_trip_and_liveness(runtime) -> None:
    record = registry.LabRecord(
        name="maillab-healthy-0a1b", pid=os.getpid(),
        pid_start=registry.process_start(os.getpid()), scenario="healthy",
        addresses=("192.0.2.10",), remove_paths=("/nonexistent",))

    path = record.write()

    assert path.parent == runtime
    assert registry.find(record.name) == record
    assert record.alive()
    assert not registry.LabRecord(record.name, os.getpid(), 1, "x").alive()
    registry.forget(record.name)
    assert registry.records() == []


def test_names_outside_the_pattern_are_refused() -> None:
    with pytest.raises(LabError):
        registry.check_name("../../etc")


def test_missing_nft_gives_one_line_reason(monkeypatch) -> None:
    monkeypatch.setattr(capability, "_has_capabilities", lambda *bits: True)
    real_which = capability.shutil.which
    monkeypatch.setattr(capability.shutil, "which",
                        lambda name: None if name == "nft" else real_which(name))

    found = capability.isolation_support()

    assert not found
    assert "'nft' is not installed (package nftables)" in found.why
    assert "loopback mode runs instead" in found.why
    assert "\n" not in found.why


def test_unprivileged_gives_reason(monkeypatch) -> None:
    monkeypatch.setattr(capability, "_has_capabilities", lambda *bits: False)

    found = capability.isolation_support()

    assert not found
    assert found.why.startswith("isolated mode unavailable: not root")
