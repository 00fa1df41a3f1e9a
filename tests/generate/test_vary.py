"""``vary``: seeded, valid variations that keep a scenario's meaning."""

from __future__ import annotations

import copy

import pytest
import yaml

from checker.diagnose import diagnose
from checker.target import from_options
from lab.scenario import bundled_names, load
from lab.scenario.loader import load_text, resolve
from maillab.generate import to_yaml, vary


def _raw(name: str) -> dict:
    return yaml.safe_load(resolve(name).read_text(encoding="utf-8"))


def test_the_same_seed_gives_the_same_variation():
    raw = _raw("ptr-missing")
    assert vary(raw, 7) == vary(raw, 7)
    assert to_yaml(vary(raw, 7)) == to_yaml(vary(raw, 7))


def test_different_seeds_give_different_variations():
    raw = _raw("ptr-missing")
    variations = [to_yaml(vary(raw, seed)) for seed in range(1, 6)]
    assert len(set(variations)) == len(variations)


def test_the_input_is_left_unchanged():
    raw = _raw("lookalike-spf-near-limit")
    before = copy.deepcopy(raw)
    vary(raw, 3)
    assert raw == before


@pytest.mark.parametrize("name", bundled_names())
def test_every_bundled_scenario_varies_into_a_valid_one(name):
    original = load(name)
    for seed in (1, 2):
        varied = load_text(to_yaml(vary(_raw(name), seed)), default_name=name)

        assert len(varied.faults) == len(original.faults)
        assert [f.type for f in varied.faults] == [f.type for f in original.faults]
        assert varied.domain != original.domain
        assert varied.organisation.users, "a variation keeps at least one user"
        # Roles survive renaming, host for host.
        assert sorted(sorted(h.roles) for h in varied.organisation.hosts) == (
            sorted(sorted(h.roles) for h in original.organisation.hosts))
        assert "contoso.test" not in to_yaml(varied.model_dump(mode="json"))


def test_hosts_users_and_placeholders_are_renamed_together():
    raw = _raw("lookalike-spf-near-limit")
    varied = load_text(to_yaml(vary(raw, 4)))
    org = varied.organisation
    names = [h.name for h in org.hosts]

    assert org.relay in names and org.relay != "relay"
    assert f"{{addr:{org.relay}}}" in org.spf
    assert "{addr:relay}" not in org.spf
    apex_a = [r for r in org.records if r.name == "@"]
    assert apex_a[0].value == f"{{addr:{org.relay}}}"
    assert not {u.name for u in org.users} & {"alice", "bob"}


def test_default_fault_hosts_follow_the_renamed_host():
    # smtp.starttls-missing names no host: its default, mx1, must be renamed.
    varied = load_text(to_yaml(vary(_raw("smtp-starttls-missing"), 1)))
    (fault,) = varied.faults
    mx = [h.name for h in varied.organisation.hosts if "mx" in h.roles]
    assert fault.host in mx and fault.host != "mx1"


def test_host_order_changes_so_addresses_change():
    raw = _raw("healthy")
    orders = {tuple(h.name for h in load_text(to_yaml(vary(raw, s)))
                    .organisation.hosts) for s in range(1, 6)}
    roles = [tuple(h.roles) for h in load_text(to_yaml(vary(raw, 1)))
             .organisation.hosts]
    assert roles != [tuple(h.roles) for h in load("healthy").organisation.hosts]
    assert len(orders) > 1


def test_mx_hosts_keep_their_preference_order():
    # Preferences follow the order of the MX hosts; a fault on the backup MX
    # must stay on the backup MX (preference 20) after the shuffle.
    raw = _raw("lookalike-mx-priorities")
    raw["faults"] = [{"type": "port.blocked", "host": "mx2", "port": 25}]
    for seed in (1, 2, 3):
        varied = vary(raw, seed)
        mx = [h["name"] for h in varied["organisation"]["hosts"]
              if "mx" in h["roles"]]
        assert len(mx) == 2 and varied["faults"][0]["host"] == mx[1]


@pytest.mark.parametrize("name", ["ptr-missing", "port25-dropped",
                                  "spf-ip-not-authorized", "lookalike-mx-priorities",
                                  "pair-mx-servfail-hides-port25"])
@pytest.mark.parametrize("seed", [1, 2])
async def test_a_varied_lab_is_diagnosed_as_its_ground_truth(
        start_lab, tmp_path, name, seed):
    path = tmp_path / f"{name}-v{seed}.yaml"
    path.write_text(to_yaml(vary(_raw(name), seed)), encoding="utf-8")
    lab = await start_lab(str(path))
    assert lab.plan.domain != "contoso.test"

    target = from_options(lab.plan.domain, None, (), lab.state_file)
    report = await diagnose(target, timeout=1.0, dns_timeout=1.0)

    found = {(f.code, f.subject) for f in report.findings}
    expected = {(e.code, e.subject) for e in lab.expected()}
    assert found == expected, [f.summary for f in report.findings]
    # Faults still act: only the look-alike has nothing to find.
    assert bool(expected) == (name != "lookalike-mx-priorities")
