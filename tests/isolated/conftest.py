"""Fixtures for isolated mode: real namespaces, skipped where there are none."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab.isolated import LabNamespace, isolation_support

#: Bound on every helper process a test runs inside a namespace.
STEP = 5.0
ADDR4 = "192.0.2.10"
ADDR6 = "2001:db8::10"

_counter = itertools.count()


@pytest.fixture(scope="session")
def support() -> None:
    found = isolation_support()
    if not found:
        pytest.skip(found.why)


@pytest.fixture(autouse=True)
def runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A registry of our own, so tests never see or touch real labs' records."""
    folder = tmp_path / "run"
    monkeypatch.setenv("MAILLAB_RUNTIME_DIR", str(folder))
    return folder


def unique_name() -> str:
    return f"maillab-test-{os.getpid()}-{next(_counter)}"


@pytest.fixture
def namespace(support: None) -> Iterator[LabNamespace]:
    ns = LabNamespace(unique_name(), (ADDR4, ADDR6))
    ns.create()
    try:
        yield ns
    finally:
        ns.destroy()


@pytest.fixture
def inside(namespace: LabNamespace) -> Iterator:
    """Start background processes inside the namespace; all stopped after."""
    started: list[subprocess.Popen] = []

    def start(argv: list[str]) -> subprocess.Popen:
        proc = namespace.popen(argv, stdout=subprocess.PIPE, text=True)
        started.append(proc)
        # Each helper prints one line once it listens.
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.strip() == "ready", line
        return proc

    yield start
    for proc in started:
        proc.kill()
        proc.wait(timeout=STEP)


LISTENER = """
import socket, sys
family = socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET
socks = []
for port in sys.argv[2:]:
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((sys.argv[1], int(port)))
    s.listen(16)
    socks.append(s)
print('ready', flush=True)
import select
while True:
    for s in select.select(socks, [], [])[0]:
        conn, _ = s.accept()
        # Read the request (if any) first: closing unread data sends a reset.
        conn.settimeout(0.5)
        try:
            conn.recv(4096)
        except OSError:
            pass
        conn.sendall(b'HTTP/1.0 200 OK\\r\\nContent-Length: 6\\r\\n\\r\\nhello\\n')
        conn.close()
"""

# Prints how a connect ended: ok, refused, timeout or unreachable.
CONNECT = """
import errno, socket, sys
family = socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET
s = socket.socket(family, socket.SOCK_STREAM)
s.settimeout(float(sys.argv[3]))
try:
    s.connect((sys.argv[1], int(sys.argv[2])))
    print('ok')
except socket.timeout:
    print('timeout')
except ConnectionRefusedError:
    print('refused')
except OSError as exc:
    print('unreachable' if exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH)
          else f'error {exc.errno}')
"""


def listener(address: str, *ports: int) -> list[str]:
    return [sys.executable, "-c", LISTENER, address, *map(str, ports)]


def connect_result(ns: LabNamespace | None, address: str, port: int,
                   timeout: float = 1.0) -> str:
    argv = [sys.executable, "-c", CONNECT, address, str(port), str(timeout)]
    if ns is None:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=STEP)
    else:
        done = ns.run(argv, capture_output=True, text=True, timeout=STEP)
    return done.stdout.strip()
