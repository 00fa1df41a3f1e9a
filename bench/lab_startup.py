"""Lab start-up: time to ready, memory of one lab, and ``maillab run`` time.

Measured:

* wall time from spawning ``maillab up healthy --dir DIR`` to its state file
  (what a user or a script waits for, Python start-up included);
* the in-process ``await Lab(load("healthy")).start()`` alone, in a fresh
  interpreter with the imports already done (first start, then later ones),
  plus the import time of ``lab.runtime`` and the scenario load;
* VmRSS (/proc/PID/status) of one running ``maillab up healthy``;
* wall time of ``maillab run`` over the whole bundled corpus with
  ``--jobs 1`` and ``--jobs 4`` (quick mode: ``--jobs 4`` only).

There is no outside reference here: the figures are held against the
issue's targets, ready < 0.3 s and RSS < 60 MB.

    python3 bench/lab_startup.py [--quick] [--runs N]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    RunningLab, maillab_cmd, median, print_machine, print_table, rss_kb,
    target_line,
)

TARGET_READY_S = 0.3
TARGET_RSS_MB = 60.0


def in_process(starts: int) -> None:
    """Child mode: time imports, then ``Lab.start`` ``starts`` times."""
    t0 = time.perf_counter()
    import asyncio

    from lab.runtime import Lab
    from lab.scenario import load
    t1 = time.perf_counter()
    scenario = load("healthy")
    t2 = time.perf_counter()

    async def cycle() -> tuple[float, float]:
        lab = Lab(scenario)
        a = time.perf_counter()
        await lab.start()
        b = time.perf_counter()
        await lab.stop()
        return b - a, time.perf_counter() - b

    async def main() -> list[tuple[float, float]]:
        return [await cycle() for _ in range(starts)]

    cycles = asyncio.run(main())
    print(json.dumps({"import_s": t1 - t0, "load_s": t2 - t1,
                      "start_s": [c[0] for c in cycles],
                      "stop_s": [c[1] for c in cycles]}))


def corpus_run(jobs: int) -> tuple[float, list[str], int]:
    argv = [*maillab_cmd(), "run", "--jobs", str(jobs), "--json"]
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    elapsed = time.perf_counter() - started
    if done.returncode not in (0, 1):
        raise SystemExit(f"maillab run exited {done.returncode}: "
                         f"{done.stderr.strip()[-800:]}")
    report = json.loads(done.stdout)
    scenarios = report["scenarios"]
    missed = [s.get("scenario", "?") for s in scenarios if not s.get("matched")]
    return elapsed, missed, len(scenarios)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="about 10 s in all")
    parser.add_argument("--runs", type=int, help="maillab up runs (default 10)")
    parser.add_argument("--in-process", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.in_process:
        in_process(args.in_process)
        return 0
    runs = args.runs or (3 if args.quick else 10)
    print_machine()

    ready, rss = [], []
    for _ in range(runs):
        with RunningLab("healthy") as lab:
            ready.append(lab.ready_s)
            time.sleep(0.2)  # let it settle before reading its memory
            kb = rss_kb(lab.pid)
            if kb:
                rss.append(kb / 1024)

    child = subprocess.run([sys.executable, __file__, "--in-process",
                            str(3 if args.quick else 10)],
                           capture_output=True, text=True, timeout=120)
    if child.returncode:
        raise SystemExit(f"in-process run failed: {child.stderr[-800:]}")
    inproc = json.loads(child.stdout)
    starts = inproc["start_s"]
    later = starts[1:] or starts

    ms = 1000.0
    stops = [v * ms for v in inproc["stop_s"]]
    rows = [
        ["maillab up healthy -> state file (ms)", runs, median(ready) * ms,
         min(ready) * ms, max(ready) * ms],
        ["  import lab.runtime + lab.scenario (ms)", 1, inproc["import_s"] * ms,
         inproc["import_s"] * ms, inproc["import_s"] * ms],
        ["  load('healthy') (ms)", 1, inproc["load_s"] * ms,
         inproc["load_s"] * ms, inproc["load_s"] * ms],
        ["  Lab.start(), first in the process (ms)", 1, starts[0] * ms,
         starts[0] * ms, starts[0] * ms],
        ["  Lab.start(), later ones (ms)", len(later), median(later) * ms,
         min(later) * ms, max(later) * ms],
        ["  Lab.stop() (ms)", len(stops), median(stops), min(stops), max(stops)],
        ["VmRSS of a running lab (MB)", len(rss), median(rss), min(rss), max(rss)],
    ]
    notes: list[str] = []
    for jobs in ((4,) if args.quick else (1, 4)):
        elapsed, missed, total = corpus_run(jobs)
        rows.append([f"maillab run --jobs {jobs}: {total} scenarios, "
                     f"{total - len(missed)} matched (ms)", 1, elapsed * ms,
                     elapsed * ms, elapsed * ms])
        if missed:
            notes.append(f"maillab run --jobs {jobs} did not match: "
                         + ", ".join(missed))
    print_table(["what", "n", "median", "min", "max"], rows,
                title="Lab start-up and the corpus run")
    for note in notes:
        print(note)

    print()
    target_line("maillab up ready", median(ready), TARGET_READY_S,
                higher=False, unit=" s")
    target_line("Lab.start() in process (first)", starts[0], TARGET_READY_S,
                higher=False, unit=" s")
    target_line("RSS of one lab (MB)", median(rss), TARGET_RSS_MB, higher=False,
                unit=" MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
