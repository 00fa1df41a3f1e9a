"""Whole labs in isolated mode, driven as a trainee would: the usual tools,
their default settings, standard ports, the lab's DNS as the resolver."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab.scenario import bundled_names
from tests.conftest import need

STEP = 20


class RunningLab:
    def __init__(self, proc: subprocess.Popen[str], directory: Path) -> None:
        self.proc = proc
        self.directory = directory
        self.state = json.loads((directory / "state.json").read_text())

    def exec(self, *argv: str, timeout: float = STEP) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "maillab", "exec",
             str(self.directory / "state.json"), "--", *argv],
            capture_output=True, text=True, timeout=timeout)


def _up(scenario: str, directory: Path) -> RunningLab:
    proc = subprocess.Popen(
        [sys.executable, "-m", "maillab", "up", scenario, "--network", "isolated",
         "--dir", str(directory)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + STEP
    while not (directory / "state.json").exists():
        if proc.poll() is not None:
            pytest.fail(f"lab did not start: {proc.stderr.read()}")  # type: ignore
        assert time.monotonic() < deadline, "lab did not come up"
        time.sleep(0.05)
    return RunningLab(proc, directory)


def _down(lab: RunningLab) -> None:
    if lab.proc.poll() is None:
        lab.proc.send_signal(signal.SIGINT)
    lab.proc.wait(timeout=STEP)


@pytest.fixture
def isolated(support, tmp_path) -> Iterator:
    labs: list[RunningLab] = []

    def start(scenario: str) -> RunningLab:
        lab = _up(scenario, tmp_path / f"lab-{len(labs)}")
        labs.append(lab)
        return lab

    yield start
    for lab in labs:
        _down(lab)


def test_the_healthy_lab_works_with_default_tools(isolated):
    lab = isolated("healthy")
    ca = lab.state["ca_file"]

    # dig with no server: the namespace's resolv.conf names the lab's DNS.
    dig = lab.exec(need("dig"), "+short", "contoso.test", "MX")
    assert dig.stdout.strip() == "10 mx1.contoso.test."

    swaks = lab.exec(need("swaks"), "--server", "mx1.contoso.test", "--to",
                     "alice@contoso.test", "--from", "carol@fabrikam.test",
                     "--timeout", "10", "--hide-informational")
    assert swaks.returncode == 0, swaks.stdout + swaks.stderr
    assert "250 2.0.0 OK" in swaks.stdout

    curl = lab.exec(need("curl"), "-s", "--max-time", "10", "--cacert", ca, "-u",
                    "alice@contoso.test:alice-lab-password", "-d",
                    "<Autodiscover/>", "https://autodiscover.contoso.test"
                    "/autodiscover/autodiscover.xml")
    assert curl.returncode == 0 and "Autodiscover" in curl.stdout

    s_client = subprocess.run(
        [sys.executable, "-m", "maillab", "exec", str(lab.directory / "state.json"),
         "--", need("openssl"), "s_client", "-connect", "mail.contoso.test:993",
         "-CAfile", ca, "-verify_return_error", "-verify_hostname",
         "mail.contoso.test"],
        input="", capture_output=True, text=True, timeout=STEP)
    assert "Verify return code: 0 (ok)" in s_client.stdout

    # The checker inside needs nothing but the domain.
    check = lab.exec(sys.executable, "-m", "maillab", "check", "contoso.test",
                     "--json")
    assert check.returncode == 0, check.stdout + check.stderr
    assert json.loads(check.stdout)["findings"] == []


@pytest.mark.parametrize("scenario,outcome", [
    ("port25-dropped", "timeout"), ("port25-rejected", "refused")])
def test_port_faults_are_firewall_rules(isolated, scenario, outcome):
    lab = isolated(scenario)
    probe = ("import socket,sys\ns=socket.socket();s.settimeout(2)\n"
             "try:\n s.connect(('mx1.contoso.test',25));print('ok')\n"
             "except socket.timeout: print('timeout')\n"
             "except ConnectionRefusedError: print('refused')\n")
    done = lab.exec(sys.executable, "-c", probe)
    assert done.stdout.strip() == outcome


def test_missing_ptr_is_nxdomain_for_dig_x(isolated):
    lab = isolated("ptr-missing")
    relay = next(h for h in lab.state["hosts"] if h["name"] == "relay")["address"]
    done = lab.exec(need("dig"), "-x", relay)
    assert "status: NXDOMAIN" in done.stdout


def test_nothing_outside_sees_the_lab(isolated):
    lab = isolated("healthy")
    mx = next(h for h in lab.state["hosts"] if h["name"] == "mx1")["address"]
    probe = ("import socket\ns=socket.socket();s.settimeout(1)\n"
             f"try:\n s.connect(('{mx}',25));print('ok')\n"
             "except OSError as e: print('no', e)\n")
    outside = subprocess.run([sys.executable, "-c", probe], capture_output=True,
                             text=True, timeout=STEP)
    assert outside.stdout.startswith("no")


def test_a_killed_parent_leaves_nothing_behind(support, tmp_path):
    lab = _up("healthy", tmp_path / "lab")
    names = subprocess.run(["ip", "netns", "list"], capture_output=True,
                           text=True, timeout=STEP).stdout
    assert "maillab-healthy-" in names

    os.kill(lab.proc.pid, signal.SIGKILL)
    lab.proc.wait(timeout=STEP)

    deadline = time.monotonic() + STEP
    while "maillab-healthy-" in subprocess.run(
            ["ip", "netns", "list"], capture_output=True, text=True,
            timeout=STEP).stdout:
        assert time.monotonic() < deadline, "the namespace outlived its lab"
        time.sleep(0.2)
    status = subprocess.run([sys.executable, "-m", "maillab", "status"],
                            capture_output=True, text=True, timeout=STEP)
    assert "no lab is running" in status.stdout


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_every_scenario_gives_the_same_findings_in_both_modes(support):
    """Isolated mode against the codes loopback mode is held to (by
    tests/checker/test_diagnosis.py and by 'maillab run' in CI), every
    scenario: the same codes, and each matches its own ground truth."""
    from tests.checker.test_diagnosis import EXPECTED_CODES

    done = subprocess.run(
        [sys.executable, "-m", "maillab", "run", "--json", "--jobs", "4",
         "--network", "isolated"], capture_output=True, text=True, timeout=800)
    isolated = {r["scenario"]: r for r in json.loads(done.stdout)["scenarios"]}

    assert set(isolated) == set(bundled_names())
    for name, row in isolated.items():
        assert row["matched"], row
        assert {f["code"] for f in row["found"]} == EXPECTED_CODES[name], name
