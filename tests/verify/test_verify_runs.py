"""``maillab verify`` end to end: real labs, real checker processes."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from click.testing import CliRunner

from lab.scenario import bundled_names
from maillab.verify import verify_many
from maillab.verify.command import verify_command

from .support import WRAPPED, codes, rows, verify, verify_json

HANDFUL = ("healthy", "ptr-missing", "spf-syntax", "port25-rejected", "mx-missing")


def test_builtin_checker_scores_perfectly_and_writes_junit(tmp_path):
    junit = tmp_path / "out" / "verify.xml"
    status, result = verify_json(*HANDFUL, "--jobs", "5", "--junit", str(junit))
    assert status == 0, result
    summary = result["summary"]
    assert summary["matched"] == len(HANDFUL) and summary["errors"] == 0
    assert summary["overall"]["recall"] == 1.0
    assert summary["overall"]["precision"] == 1.0
    assert {t["code"] for t in summary["by_code"]} == {
        "ptr.missing", "spf.syntax", "port.closed", "mx.missing"}

    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None
    cases = [c.get("name") for c in suite.iter("testcase")]
    assert sorted(cases) == sorted(HANDFUL)
    assert suite.get("failures") == "0" and suite.get("errors") == "0"


def test_a_checker_blind_to_ptr_misses_the_ptr_scenarios(tmp_path):
    junit = tmp_path / "weak.xml"
    done = verify("ptr-missing", "ptr-mismatch", "healthy", "--checker",
                  f"{WRAPPED} --drop ptr.", "--junit", str(junit))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1/3 scenarios matched" in done.stdout

    cases = {c.get("name"): c for c in ET.parse(junit).getroot().iter("testcase")}
    for name, code in (("ptr-missing", "ptr.missing"),
                       ("ptr-mismatch", "ptr.mismatch")):
        failure = cases[name].find("failure")
        assert failure is not None and failure.text is not None
        assert f"missed: {code} " in failure.text
    assert cases["healthy"].find("failure") is None


def test_shards_run_the_corpus_exactly_once_between_them():
    names = ["healthy", "ptr-missing", "spf-missing", "mx-missing", "spf-syntax"]
    seen = []
    for part in ("1/2", "2/2"):
        status, result = verify_json(*names, "--shard", part, "--jobs", "3")
        assert status == 0, result
        seen.append([r["scenario"] for r in result["scenarios"]])
    assert seen[0] and seen[1]
    assert sorted(seen[0] + seen[1]) == sorted(names)


def test_a_checker_with_its_own_codes_is_scored_through_a_mapping(tmp_path):
    mapping = tmp_path / "map.yaml"
    mapping.write_text(
        "RDNS_ABSENT: ptr.missing\n"
        "SPF_NONE: {code: spf.missing, subject: any}\n"
        "PORT_SHUT: null\n")
    renamed = (f"{WRAPPED} --rename ptr.missing=RDNS_ABSENT "
               "--rename spf.missing=SPF_NONE --rename port.closed=PORT_SHUT")
    status, result = verify_json("ptr-missing", "spf-missing", "port25-rejected",
                                 "--checker", renamed, "--map", str(mapping))
    by = rows(result)
    assert by["ptr-missing"]["matched"] and by["spf-missing"]["matched"]
    # Mapped to null: ignored, so the port fault counts as missed.
    assert codes(by["port25-rejected"]["missed"]) == ["port.closed"]
    assert by["port25-rejected"]["unexpected"] == []
    assert status == 1

    # Without the mapping the same answers are all wrong.
    status, result = verify_json("ptr-missing", "--checker", renamed)
    row = rows(result)["ptr-missing"]
    assert status == 1 and codes(row["unexpected"]) == ["RDNS_ABSENT"]


def test_a_checker_that_prints_no_json_errors_its_scenario(tmp_path):
    status, result = verify_json("healthy", "--checker", "echo {domain}")
    (row,) = result["scenarios"]
    assert status == 1 and "not JSON" in row["error"]
    assert result["summary"]["errors"] == 1


def test_bad_options_exit_2():
    runner = CliRunner()
    for args in (["--shard", "3/2", "healthy"], ["no-such-scenario"],
                 ["--map", "/nonexistent/map.yaml", "healthy"],
                 ["--jobs", "0", "healthy"]):
        assert runner.invoke(verify_command, args).exit_code == 2, args


async def test_a_python_callable_is_a_checker_too():
    seen = []

    def checker(info):
        seen.append(info)
        return {"findings": [{"code": "ptr.missing", "subject": info.outbound[0]}]}

    (outcome,) = await verify_many(["ptr-missing"], checker, timeout=10)
    assert outcome.score.matched, outcome.score
    # The checker is given the lab, never its ground truth.
    assert seen[0].expected == () and seen[0].domain == "contoso.test"
    assert json.dumps(outcome.score.to_json())
    assert "ptr-missing" in bundled_names()
