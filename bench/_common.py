"""Shared helpers for the benchmarks: percentiles, tables, child processes.

Every benchmark talks to loopback only. Child processes are started here and
stopped by their own PID (``Child.stop``), never by name; use them as context
managers so a failure half way still stops everything.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

LOOPBACK = "127.0.0.1"
REPO = Path(__file__).resolve().parents[1]


# region: numbers and tables

def percentile(values: Sequence[float], p: float) -> float:
    """The ``p``-th percentile (0..100) by linear interpolation; nan if empty."""
    if not values:
        return float("nan")
    data = sorted(values)
    rank = (len(data) - 1) * p / 100.0
    low = int(rank)
    high = min(low + 1, len(data) - 1)
    return data[low] + (data[high] - data[low]) * (rank - low)


def median(values: Sequence[float]) -> float:
    return percentile(values, 50)


def ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def fmt(value: Any, digits: int = 2) -> str:
    if isinstance(value, float):
        if value != value:  # nan
            return "-"
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        return f"{value:.{digits}f}"
    return str(value)


def print_table(headers: Sequence[str], rows: Iterable[Sequence[Any]],
                title: str | None = None) -> None:
    """A plain Markdown-style table (pastes straight into bench/README.md)."""
    cells = [[fmt(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h)
              for i, h in enumerate(headers)]
    if title:
        print(f"\n{title}")
    print("| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in cells:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |")
    sys.stdout.flush()


def target_line(what: str, value: float, goal: float, *, higher: bool = True,
                unit: str = "") -> bool:
    """Print whether ``value`` meets ``goal`` and by how much; return it."""
    met = value >= goal if higher else value < goal
    sign = ">=" if higher else "<"
    word = "MET" if met else "MISSED"
    how = ratio(value, goal)
    print(f"target {what}: {fmt(value)}{unit} (goal {sign} {fmt(goal)}{unit}) "
          f"{word} ({how:.2f}x of the goal)")
    return met


def machine() -> dict[str, str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"nproc": str(os.cpu_count()), "cpu": cpu,
            "python": platform.python_version()}


def print_machine() -> None:
    m = machine()
    print(f"machine: nproc={m['nproc']}, cpu={m['cpu']}, python={m['python']}")


# endregion
# region: ports and tools

def free_port(host: str = LOOPBACK, kind: int = socket.SOCK_DGRAM) -> int:
    """A port free for both UDP and TCP on ``host`` right now."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, kind) as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
        other = socket.SOCK_STREAM if kind == socket.SOCK_DGRAM else socket.SOCK_DGRAM
        try:
            with socket.socket(socket.AF_INET, other) as s:
                s.bind((host, port))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port on loopback")


def tool(name: str, env: str | None = None) -> str | None:
    """A program's path: ``$ENV`` if set, then PATH, then the sbin folders."""
    if env and os.environ.get(env):
        return os.environ[env]
    found = shutil.which(name)
    if found:
        return found
    for folder in ("/usr/sbin", "/sbin", "/usr/local/sbin"):
        path = Path(folder) / name
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
    return None


def maillab_cmd() -> list[str]:
    """How to run the ``maillab`` command with this interpreter."""
    return [sys.executable, "-m", "maillab"]


def wait_port(host: str, port: int, timeout: float = 10.0,
              proc: subprocess.Popen[Any] | None = None) -> None:
    """Wait until a TCP connect to ``host:port`` succeeds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process {proc.pid} exited with {proc.returncode}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout} s")


# endregion
# region: child processes

def descendants(pid: int) -> list[int]:
    """The PIDs of every process below ``pid`` (from /proc)."""
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            tree.setdefault(int(fields[1]), []).append(int(entry.name))
    found: list[int] = []
    todo = [pid]
    while todo:
        kids = tree.get(todo.pop(), [])
        found.extend(kids)
        todo.extend(kids)
    return found


def tree_cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of ``pid`` and every process below it."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in [pid, *descendants(pid)]:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / ticks


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


class Child:
    """A child process stopped by its PID: SIGTERM (or ``sig``), then SIGKILL.

    With ``tree``, the processes it forked (as seen just before stopping) are
    stopped the same way, by their PIDs, if they outlive it.
    """

    def __init__(self, argv: Sequence[str], *, sig: int = signal.SIGTERM,
                 tree: bool = False,
                 stdout: Any = subprocess.DEVNULL, stderr: Any = subprocess.PIPE,
                 cwd: str | Path | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.argv = list(argv)
        self.sig = sig
        self.tree = tree
        self.proc = subprocess.Popen(self.argv, stdout=stdout, stderr=stderr,
                                     stdin=subprocess.DEVNULL, cwd=cwd, env=env)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 5.0) -> int | None:
        forked = descendants(self.proc.pid) if self.tree else []
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(self.sig)
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout)
        for pid in forked:
            deadline = time.monotonic() + timeout
            for sig in (signal.SIGTERM, signal.SIGKILL):
                if not _alive(pid):
                    break
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    break
                while _alive(pid) and time.monotonic() < deadline:
                    time.sleep(0.02)
                deadline = time.monotonic() + timeout
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()
        return self.proc.returncode

    def errors(self) -> str:
        """What the child wrote on stderr (only once it has stopped)."""
        if self.proc.stderr is None or self.proc.poll() is None:
            return ""
        try:
            return self.proc.stderr.read().decode("utf-8", "replace")
        except (OSError, ValueError):
            return ""

    def __enter__(self) -> Child:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def read_ready(child: Child, timeout: float = 15.0) -> str:
    """The first stdout line of ``child`` (a child says READY ... when it is)."""
    assert child.proc.stdout is not None
    import selectors

    sel = selectors.DefaultSelector()
    sel.register(child.proc.stdout, selectors.EVENT_READ)
    try:
        if not sel.select(timeout):
            raise TimeoutError(f"{child.argv[:3]} not ready after {timeout} s")
    finally:
        sel.close()
    line = child.proc.stdout.readline().decode().strip()
    if not line:
        child.stop()
        raise RuntimeError(f"{child.argv[:3]} exited: {child.errors()[-2000:]}")
    return line


class RunningLab:
    """``maillab up SCENARIO --dir DIR`` in a child process, until stopped.

    ``ready_s`` is the time from spawning the command to its state file.
    """

    def __init__(self, scenario: str = "healthy", *, timeout: float = 20.0) -> None:
        self.tmp = tempfile.TemporaryDirectory(prefix="maillab-bench-")
        self.dir = Path(self.tmp.name) / "lab"
        self.state_file = self.dir / "state.json"
        started = time.perf_counter()
        self.child = Child([*maillab_cmd(), "up", scenario, "--dir", str(self.dir)],
                           sig=signal.SIGINT)
        try:
            deadline = started + timeout
            while not self.state_file.exists():
                if not self.child.alive():
                    raise RuntimeError("maillab up exited: "
                                       + self.child.errors()[-2000:])
                if time.perf_counter() > deadline:
                    raise TimeoutError(f"lab not ready after {timeout} s")
                time.sleep(0.002)
            self.ready_s = time.perf_counter() - started
            self.state: dict[str, Any] = json.loads(self.state_file.read_text())
        except BaseException:
            self.stop()
            raise

    @property
    def pid(self) -> int:
        return self.child.pid

    def address_of(self, name: str) -> str:
        return next(h["address"] for h in self.state["hosts"] if h["name"] == name)

    def port(self, address: str, standard: int) -> int:
        return int(self.state["ports"][address][str(standard)])

    def resolver(self) -> tuple[str, int]:
        host, _, port = self.state["resolver"].rpartition(":")
        return host, int(port)

    def stop(self) -> None:
        try:
            self.child.stop(timeout=10)
        finally:
            self.tmp.cleanup()

    def __enter__(self) -> RunningLab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def rss_kb(pid: int) -> int | None:
    """VmRSS of ``pid`` in kB, from /proc/PID/status."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


# endregion
