"""Checker: wall time of ``maillab check`` against checkdmarc, on running labs.

Measured: wall time (process start to exit, as a user waits for it) of

* ``maillab check contoso.test --lab STATE`` on the healthy lab, and on a lab
  whose MX port 25 and submission port 587 both drop connections (a
  temporary scenario with two ``port.blocked`` faults, mode ``drop``);
* ``checkdmarc contoso.test -n RESOLVER`` on the same labs, pointed only at
  the lab's resolver on loopback (it cannot take a port, so it runs only
  when the lab serves DNS on port 53, i.e. as root).

Before its timed runs, checkdmarc is run once under ``strace`` (when
installed) and every address it sends to must be in 127.0.0.0/8; otherwise
it is skipped. checkdmarc is found as ``$CHECKDMARC``, ``--checkdmarc`` or on
PATH. Target: ``maillab check`` on healthy < 1/3 of checkdmarc's time.

    python3 bench/checker_time.py [--quick] [--runs N]
"""

from __future__ import annotations

import argparse
import ipaddress
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    RunningLab, fmt, maillab_cmd, median, percentile, print_machine,
    print_table, ratio, target_line, tool,
)

DOMAIN = "contoso.test"
TARGET = 1 / 3

DROPPED = """\
version: 1
title: Every mail port drops connections
faults:
  - type: port.blocked
    host: mx1
    port: 25
    mode: drop
  - type: port.blocked
    host: mail
    port: 587
    mode: drop
symptoms:
  complaint: Nobody can send us mail, and our users cannot send either.
question:
  stem: Connections to ports 25 and 587 time out. What is the likely cause?
  choices:
    - text: A firewall silently drops both ports.
      best: true
      why: A dropped SYN gets no answer, so clients wait for their timeout.
    - text: The MX record is missing.
      why: Without an MX nobody would know which host to connect to.
    - text: The SPF record is too strict.
      why: SPF is checked by receivers; it does not stop connections.
"""


def timed(argv: list[str], ok: tuple[int, ...], timeout: float = 60) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    elapsed = time.perf_counter() - started
    if done.returncode not in ok:
        raise SystemExit(f"{argv[:3]} exited {done.returncode}: "
                         f"{(done.stderr or done.stdout).strip()[-800:]}")
    return elapsed


def loopback_only(argv: list[str]) -> str | None:
    """Run ``argv`` under strace; None when it sent only to loopback."""
    strace = tool("strace")
    if not strace:
        return None
    with tempfile.NamedTemporaryFile("r", suffix=".strace") as log:
        subprocess.run([strace, "-f", "-qq", "-e",
                        "trace=connect,sendto,sendmsg,sendmmsg", "-o", log.name,
                        *argv], capture_output=True, timeout=60)
        text = Path(log.name).read_text()
    for addr in re.findall(r'inet_addr\("([0-9.]+)"\)', text):
        if not ipaddress.ip_address(addr).is_loopback:
            return addr
    for addr in re.findall(r'inet_pton\(AF_INET6, "([0-9a-f:.]+)"', text):
        if not ipaddress.ip_address(addr).is_loopback:
            return addr
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="about 10 s in all")
    parser.add_argument("--runs", type=int, help="timed runs on the healthy lab")
    parser.add_argument("--checkdmarc", help="path of the checkdmarc program")
    args = parser.parse_args()
    runs = args.runs or (3 if args.quick else 7)
    dropped_runs = 1 if args.quick else 3

    checkdmarc = args.checkdmarc or tool("checkdmarc", env="CHECKDMARC")
    print_machine()
    if not checkdmarc:
        print("checkdmarc not found (pip install checkdmarc, then put it on PATH "
              "or set CHECKDMARC): skipped")

    results: dict[tuple[str, str], list[float]] = {}
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-check-") as tmp:
        dropped_file = Path(tmp) / "all-ports-dropped.yaml"
        dropped_file.write_text(DROPPED)
        for lab_name, scenario, n, codes in (
                ("healthy", "healthy", runs, (0,)),
                ("ports dropped", str(dropped_file), dropped_runs, (1,))):
            with RunningLab(scenario) as lab:
                check = [*maillab_cmd(), "check", DOMAIN, "--lab",
                         str(lab.state_file)]
                if lab_name == "healthy":
                    timed(check, codes)  # warm the page cache
                results[("maillab check", lab_name)] = [
                    timed(check, codes) for _ in range(n)]

                if not checkdmarc:
                    continue
                host, port = lab.resolver()
                if port != 53:
                    notes.append(f"checkdmarc skipped on {lab_name}: the lab's "
                                 f"DNS is on port {port} and checkdmarc cannot "
                                 "take a port (run as root)")
                    continue
                cdm = [checkdmarc, DOMAIN, "-n", host]
                outside = loopback_only(cdm)
                if outside:
                    notes.append(f"checkdmarc skipped: it sent to {outside}")
                    checkdmarc = None
                    continue
                results[("checkdmarc", lab_name)] = [
                    timed(cdm, (0, 1)) for _ in range(n)]

    rows = [[tool_name, lab_name, len(times), median(times), min(times),
             percentile(times, 90)]
            for (tool_name, lab_name), times in results.items()]
    print_table(["tool", "lab", "runs", "median s", "min s", "p90 s"], rows,
                title=f"Diagnosing {DOMAIN} (wall time, process start to exit)")
    for note in notes:
        print(note)

    mine = median(results[("maillab check", "healthy")])
    theirs = results.get(("checkdmarc", "healthy"))
    if theirs:
        share = ratio(mine, median(theirs))
        print(f"\nratio maillab check / checkdmarc (healthy): {fmt(share)}")
        target_line("maillab check on healthy, share of checkdmarc's time",
                    share, TARGET, higher=False)
        dropped = results.get(("checkdmarc", "ports dropped"))
        if dropped:
            slow = median(results[("maillab check", "ports dropped")])
            print("ratio maillab check / checkdmarc (ports dropped): "
                  f"{fmt(ratio(slow, median(dropped)))} (checkdmarc probes no "
                  "SMTP port by default, so it does not wait for dropped ones)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
