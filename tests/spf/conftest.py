"""Counts the RFC 7208 suite's cases and prints the tallies after the run."""

from __future__ import annotations

import pytest

#: Each run of the suite: the test id prefix, and the line's label.
_RUNS = {
    "test_rfc7208_suite.py::test_rfc7208_case[": "RFC 7208 suite",
    "test_suite_over_lab_dns.py::test_rfc7208_case_over_lab_dns[":
        "RFC 7208 suite over the lab DNS",
}
_tally = {prefix: {"collected": 0, "passed": 0, "xfailed": 0} for prefix in _RUNS}


def _run_of(nodeid: str) -> str | None:
    return next((p for p in _RUNS if p in nodeid), None)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for prefix in _RUNS:
        _tally[prefix]["collected"] = sum(prefix in i.nodeid for i in items)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    prefix = _run_of(report.nodeid)
    if prefix is None:
        return
    if report.when == "call" and report.passed and not hasattr(report, "wasxfail"):
        _tally[prefix]["passed"] += 1
    elif report.skipped and hasattr(report, "wasxfail"):
        _tally[prefix]["xfailed"] += 1


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for prefix, label in _RUNS.items():
        counts = _tally[prefix]
        if not counts["collected"]:
            continue
        line = f"{label}: {counts['passed']}/{counts['collected']} cases passed"
        if counts["xfailed"]:
            line += f" ({counts['xfailed']} known failures, listed in the test)"
        terminalreporter.write_line(line)
