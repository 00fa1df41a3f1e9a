"""Split DNS seen from either side: the checker says where it stands."""

from __future__ import annotations

import pytest

from checker.diagnose import diagnose
from checker.errors import UsageError
from checker.target import from_options


@pytest.mark.parametrize("view", ["external", "internal"])
async def test_internal_only_mx_is_found_from_both_sides(start_lab, view):
    lab = await start_lab("dns-internal-only")
    target = from_options("contoso.test", None, (), lab.state_file, view=view)
    report = await diagnose(target, timeout=2.0, dns_timeout=2.0)

    assert [(f.code, f.subject) for f in report.findings] == [
        ("dns.internal-only", "contoso.test/MX")]
    evidence = report.findings[0].evidence
    assert any(e.startswith("[external view]") and "NODATA" in e for e in evidence)
    assert any(e.startswith("[internal view]") and "mx1" in e for e in evidence)
    # Standing inside, the checker reaches the MX the inside knows.
    assert bool(report.exchanges) is (view == "internal")


def test_the_internal_view_needs_an_internal_resolver(healthy_lab):
    with pytest.raises(UsageError, match="internal resolver"):
        from_options("contoso.test", None, (), healthy_lab.state_file,
                     view="internal")
