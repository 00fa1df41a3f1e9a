"""Counts the RFC 7208 suite's cases and prints the tally after the run."""

from __future__ import annotations

import pytest

_CASE_TEST = "test_rfc7208_suite.py::test_rfc7208_case["
_tally = {"collected": 0, "passed": 0, "xfailed": 0}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    _tally["collected"] = sum(_CASE_TEST in item.nodeid for item in items)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if _CASE_TEST not in report.nodeid:
        return
    if report.when == "call" and report.passed and not hasattr(report, "wasxfail"):
        _tally["passed"] += 1
    elif report.skipped and hasattr(report, "wasxfail"):
        _tally["xfailed"] += 1


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _tally["collected"]:
        return
    line = f"RFC 7208 suite: {_tally['passed']}/{_tally['collected']} cases passed"
    if _tally["xfailed"]:
        line += f" ({_tally['xfailed']} known failures)"
    terminalreporter.write_line(line)
