"""The openspf test suite (RFC 7208 release, and RFC 4408 where it agrees).

Each case runs check_host() through ``evaluate`` against a resolver built
from its section's zone data only, and must give one of the expected
results and, where the case names one, the expected explanation. The
suite's drivers set the default explanation to the text "DEFAULT", which
is what its cases expect when no exp= applies.
"""

from __future__ import annotations

import pytest

from checker.spf import evaluate

from .zonedata import SUITE_ENV, Case, ZoneResolver, load_suite, suite_dir

SUITE = suite_dir()
if SUITE is None or not (SUITE / "rfc7208-tests.yml").is_file():
    pytest.skip(
        f"SPF test suite not found: set {SUITE_ENV} to the folder holding "
        "rfc7208-tests.yml (by default ../shared/testsuites/spf beside the "
        "repository)",
        allow_module_level=True,
    )

RFC7208 = load_suite(SUITE / "rfc7208-tests.yml")
_RFC4408_FILE = SUITE / "rfc4408-tests.yml"
RFC4408 = load_suite(_RFC4408_FILE) if _RFC4408_FILE.is_file() else []

#: RFC 7208 cases that cannot pass, by name, with the reason. None today.
KNOWN_FAILURES: dict[str, str] = {}

#: RFC 4408 cases whose expectation RFC 7208 changed (RFC 7208 wins). Today
#: the older file's lists of accepted results all include the newer answer.
SUPERSEDED_BY_RFC7208: dict[str, str] = {}


def _param(case: Case, failures: dict[str, str]) -> object:
    marks = []
    if case.name in failures:
        marks.append(pytest.mark.xfail(reason=failures[case.name], strict=True))
    return pytest.param(case, id=case.name, marks=marks)


async def _run(case: Case) -> None:
    resolver = ZoneResolver(case.zone)
    outcome = await evaluate(resolver, case.host, case.mailfrom, case.helo,
                             default_explanation="DEFAULT", now=0)
    context = f"{case.section} / {case.name} (spec {case.spec})\n{outcome.render()}"
    assert outcome.result in case.results, context
    if case.explanation is not None:
        assert outcome.explanation == case.explanation, context


@pytest.mark.parametrize("case", [_param(c, KNOWN_FAILURES) for c in RFC7208])
async def test_rfc7208_case(case: Case) -> None:
    await _run(case)


@pytest.mark.parametrize("case", [
    _param(c, SUPERSEDED_BY_RFC7208) for c in RFC4408
])
async def test_rfc4408_case(case: Case) -> None:
    await _run(case)


def test_suite_is_complete() -> None:
    """FORMAT.md promises 16 sections and 203 cases; a short file is a bug."""
    assert len({c.section for c in RFC7208}) == 16
    assert len(RFC7208) == 203
    assert not set(KNOWN_FAILURES) - {c.name for c in RFC7208}
