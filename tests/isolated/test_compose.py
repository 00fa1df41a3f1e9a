"""The compose bundle: its structure, the Compose schema, its entry point.

No container engine runs here, so the bundle is checked without one: the
files' structure, ``compose.yaml`` against the Compose specification's JSON
schema when a copy is at hand, and the image's entry point run on this
machine in both of its roles.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import zipfile
from pathlib import Path

import pytest
import yaml

from ..conftest import need

COMPOSE = Path(__file__).resolve().parents[2] / "compose"
ENTRYPOINT = COMPOSE / "entrypoint.sh"
#: The schema's place inside the docker-compose 1.x wheel (Compose spec, 2021).
SCHEMA_MEMBER = "compose/config/compose_spec.json"


def load_compose() -> dict:
    return yaml.safe_load((COMPOSE / "compose.yaml").read_text())


def test_trainee_shares_the_lab_network_namespace() -> None:
    services = load_compose()["services"]

    lab, trainee = services["lab"], services["trainee"]
    assert lab["network_mode"] == "none"
    assert "NET_ADMIN" in lab["cap_add"]
    assert lab["environment"]["MAILLAB_SCENARIO"].startswith("${MAILLAB_SCENARIO")
    assert lab["build"]["dockerfile"] == "compose/Dockerfile"
    assert trainee["network_mode"] == "service:lab"
    assert trainee["depends_on"]["lab"]["condition"] == "service_healthy"
    assert trainee["image"] == lab["image"]


def test_dockerfile_installs_the_project_and_its_entry_point() -> None:
    text = (COMPOSE / "Dockerfile").read_text()

    assert text.splitlines()[2].startswith("FROM python:3.11-slim-bookworm")
    for package in ("iproute2", "nftables", "dnsutils", "swaks", "curl",
                    "openssl", "telnet", "netcat-openbsd"):
        assert package in text
    assert "RUN pip install --no-cache-dir ." in text
    assert 'ENTRYPOINT ["maillab-entrypoint"]' in text
    assert "COPY compose/entrypoint.sh /usr/local/bin/maillab-entrypoint" in text
    assert os.access(ENTRYPOINT, os.X_OK)


def test_compose_file_matches_the_compose_schema() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    wheel = os.environ.get("MAILLAB_COMPOSE_WHEEL")
    if not wheel:
        pytest.skip("MAILLAB_COMPOSE_WHEEL names no docker-compose wheel with "
                    "the Compose schema (pip download --no-deps docker-compose)")
    schema = json.loads(zipfile.ZipFile(wheel).read(SCHEMA_MEMBER))
    validator = jsonschema.Draft201909Validator(schema)

    errors = [e.message for e in validator.iter_errors(load_compose())]
    broken = load_compose()
    broken["services"]["lab"]["network_mode"] = ["none"]

    assert errors == []
    assert list(validator.iter_errors(broken))


def wait_for(path: Path, proc: subprocess.Popen, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not (path.exists() and path.stat().st_size):
        assert proc.poll() is None, f"the lab exited with {proc.returncode}"
        assert time.monotonic() < deadline, f"no {path} after {timeout} s"
        time.sleep(0.1)


def test_entry_point_runs_a_lab_and_points_a_trainee_at_it(tmp_path: Path) -> None:
    need("maillab")
    env = dict(os.environ, MAILLAB_SHARE=str(tmp_path), MAILLAB_SCENARIO="healthy",
               MAILLAB_ROLE="lab")
    env.pop("MAILLAB_NETWORK", None)
    lab = subprocess.Popen([str(ENTRYPOINT)], env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True)
    try:
        state_file = tmp_path / "lab" / "state.json"
        wait_for(state_file, lab)
        state = json.loads(state_file.read_text())
        resolv = tmp_path / "resolv.conf"
        trainee = subprocess.run(
            [str(ENTRYPOINT), "cat", str(resolv)], capture_output=True, text=True,
            timeout=30, env=dict(env, MAILLAB_ROLE="trainee",
                                 MAILLAB_RESOLV_CONF=str(resolv), MAILLAB_WAIT="5"))
    finally:
        lab.send_signal(signal.SIGTERM)
        _, stderr = lab.communicate(timeout=20)

    ip, _, port = state["resolver"].rpartition(":")
    assert state["scenario"] == "healthy"
    if port == "53":
        assert trainee.returncode == 0, trainee.stderr
        assert f"nameserver {ip}" in trainee.stdout.splitlines()
        assert "search contoso.test" in trainee.stdout
    else:
        # Without root the lab's DNS is on 10053, which resolv.conf cannot name.
        assert trainee.returncode == 1
        assert "cannot name" in trainee.stderr
    assert lab.returncode == 0, stderr
    assert not state_file.exists()


def test_unknown_role_is_refused(tmp_path: Path) -> None:
    done = subprocess.run([str(ENTRYPOINT)], capture_output=True, text=True,
                          timeout=10, env=dict(os.environ, MAILLAB_ROLE="teacher"))

    assert done.returncode == 2
    assert "MAILLAB_ROLE must be lab or trainee" in done.stderr
