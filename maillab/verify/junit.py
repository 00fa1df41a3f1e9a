"""JUnit XML for CI systems: one testcase per scenario.

A scenario that did not match is a ``failure`` whose text lists what was
missed and what was unexpected; one whose checker or lab broke is an
``error``. Shards write one file each; CI systems merge the testsuites.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence

from ..compare import Score

SUITE = "maillab.verify"


def failure_text(score: Score) -> str:
    lines = [f"missed: {c} {s}" for c, s in score.missed]
    lines += [f"unexpected: {c} {s}" for c, s in score.unexpected]
    return "\n".join(lines)


def render_junit(scores: Sequence[Score], *, checker: str,
                 durations: dict[str, float] | None = None,
                 suite: str = SUITE) -> str:
    """The JUnit XML document for one run (or one shard) of the corpus."""
    durations = durations or {}
    failures = sum(1 for s in scores if s.error is None and not s.matched)
    errors = sum(1 for s in scores if s.error is not None)
    root = ET.Element("testsuites", name=suite, tests=str(len(scores)),
                      failures=str(failures), errors=str(errors))
    ts = ET.SubElement(root, "testsuite", name=suite, tests=str(len(scores)),
                       failures=str(failures), errors=str(errors), skipped="0",
                       time=f"{sum(durations.values()):.3f}")
    props = ET.SubElement(ts, "properties")
    ET.SubElement(props, "property", name="checker", value=checker)

    for s in scores:
        case = ET.SubElement(ts, "testcase", classname=suite, name=s.scenario,
                             time=f"{durations.get(s.scenario, 0.0):.3f}")
        if s.error is not None:
            node = ET.SubElement(case, "error", message=s.error[:500],
                                 type="checker-error")
            node.text = s.error
        elif not s.matched:
            node = ET.SubElement(
                case, "failure", type="mismatch",
                message=f"{len(s.missed)} missed, {len(s.unexpected)} unexpected")
            node.text = failure_text(s)
        found = "\n".join(f"{c} {subj}" for c, subj in s.found)
        ET.SubElement(case, "system-out").text = f"found:\n{found}" if found else (
            "found: (none)")

    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
