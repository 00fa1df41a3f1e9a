"""The commands a user types: ``maillab up`` until Ctrl-C, ``maillab run``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dns.message
import dns.query
import dns.rcode


def _maillab(*args: str, **kw) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "maillab", *args],
                          capture_output=True, text=True, timeout=120, **kw)


def test_run_matches_scenarios_and_reports_json():
    done = _maillab("run", "healthy", "ptr-missing", "port25-rejected", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout)
    assert result["matched"] is True
    rows = {r["scenario"]: r for r in result["scenarios"]}
    assert rows["healthy"]["found"] == []
    assert [f["code"] for f in rows["ptr-missing"]["found"]] == ["ptr.missing"]
    assert [f["code"] for f in rows["port25-rejected"]["found"]] == ["port.closed"]


def test_run_exits_nonzero_when_a_scenario_does_not_match(tmp_path):
    # A scenario whose stated ground truth is wrong must fail the run.
    text = (Path(__file__).parents[2] / "scenarios" / "healthy.yaml").read_text()
    text += ("findings:\n  add:\n    - code: ptr.missing\n"
             "      subject: '{addr:relay}'\n      reason: deliberately wrong\n")
    path = tmp_path / "wrong.yaml"
    path.write_text(text)
    done = _maillab("run", str(path), "--json")
    assert done.returncode == 1
    (row,) = json.loads(done.stdout)["scenarios"]
    assert row["matched"] is False
    assert row["missed"][0]["code"] == "ptr.missing"


def test_up_serves_until_sigint_and_leaves_nothing(tmp_path):
    lab_dir = tmp_path / "lab"
    proc = subprocess.Popen(
        [sys.executable, "-m", "maillab", "up", "healthy", "--dir", str(lab_dir)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        state_file = lab_dir / "state.json"
        deadline = time.monotonic() + 20
        while not state_file.exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "lab did not come up"
            time.sleep(0.05)
        state = json.loads(state_file.read_text())
        host, _, port = state["resolver"].rpartition(":")

        reply = dns.query.udp(dns.message.make_query("contoso.test", "MX"), host,
                              port=int(port), timeout=2)
        assert reply.rcode() == dns.rcode.NOERROR and reply.answer

        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()

    assert proc.returncode == 0, err
    assert "mx1.contoso.test" in out and "state file" in out
    assert not state_file.exists()

    # Its addresses are free again: nothing listens on the resolver any more.
    import socket

    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind((host, int(port)))
    probe.close()
