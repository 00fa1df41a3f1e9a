"""The pure parts of verify: contract, mapping, scoring, sharding, JUnit."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from lab.scenario import bundled_names
from maillab.compare import score
from maillab.verify.contract import (
    ContractError,
    HostInfo,
    LabInfo,
    ReportedFinding,
    expand,
    parse_report,
    schema,
)
from maillab.verify.junit import render_junit
from maillab.verify.mapping import MappingError, apply_mapping, parse_mapping
from maillab.verify.scoring import summarise
from maillab.verify.sharding import parse_shard, shard

INFO = LabInfo(
    scenario="s", domain="contoso.test", resolver_ip="127.77.3.10",
    resolver_port=53,
    hosts=(HostInfo("mx1", "mx1.contoso.test", "127.77.3.11", ("mx",),
                    ((25, 10025),)),),
    outbound=("127.77.3.13", "127.77.3.14"), state_file=Path("/lab/state.json"),
    expected=(("ptr.missing", "127.77.3.13"),))


def test_placeholders_fill_words_and_never_split_them():
    argv = expand("check.sh {domain} --ns={resolver} {resolver_ip} "
                  "{resolver_port} {outbound} '{state}' {other}", INFO)
    assert argv == ["check.sh", "contoso.test", "--ns=127.77.3.10:53",
                    "127.77.3.10", "53", "127.77.3.13,127.77.3.14",
                    "/lab/state.json", "{other}"]
    assert expand("maillab check {domain}", INFO)[:3] == [sys.executable, "-m",
                                                         "maillab"]
    with pytest.raises(ContractError):
        expand("   ", INFO)


def test_lab_info_hides_the_truth_from_checkers():
    assert INFO.without_truth().expected == ()
    assert INFO.host("mx1.contoso.test").port(25) == 10025
    assert INFO.host("mx1").port(587) == 587


@pytest.mark.parametrize("text, message", [
    ("", "nothing"),
    ("not json", "not JSON"),
    ('{"found": []}', "findings"),
    ('{"findings": [{"code": "x"}]}', "subject"),
    ('{"findings": [{"code": "", "subject": "a"}]}', "code"),
    ('{"findings": [{"code": "x", "subject": "a", "evidence": [1]}]}', "evidence"),
])
def test_reports_breaking_the_contract_are_refused(text, message):
    with pytest.raises(ContractError, match=message):
        parse_report(text)


def test_a_richer_report_is_a_valid_one():
    text = json.dumps({"format": 1, "findings": [
        {"code": "ptr.missing", "subject": "127.0.0.1", "summary": "no PTR",
         "severity": "error", "evidence": ["NXDOMAIN"], "remediation": "..."}]})
    assert parse_report(text) == (
        ReportedFinding("ptr.missing", "127.0.0.1", "error", ("NXDOMAIN",)),)


def test_schema_is_printed_and_requires_code_and_subject():
    doc = schema()
    item = doc["properties"]["findings"]["items"]
    assert doc["required"] == ["findings"] and item["required"] == ["code", "subject"]
    done = subprocess.run([sys.executable, "-m", "maillab.verify", "--print-schema"],
                          capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0 and json.loads(done.stdout) == doc


def test_mapping_renames_ignores_and_relaxes_subjects():
    mapping = parse_mapping({
        "NO_RDNS": "ptr.missing",
        "NOISE": None,
        "SPF_BAD": {"code": "spf.syntax", "subject": "any"},
    })
    found = [ReportedFinding("NO_RDNS", "127.0.0.13"),
             ReportedFinding("NOISE", "x"),
             ReportedFinding("SPF_BAD", "whatever"),
             ReportedFinding("SPF_BAD", "again"),
             ReportedFinding("OWN_CODE", "y")]
    expected = [("ptr.missing", "127.0.0.13"), ("spf.syntax", "contoso.test")]
    pairs = apply_mapping(found, mapping, expected)
    s = score("s", expected, pairs)
    assert s.missed == () and s.unexpected == (("OWN_CODE", "y"),)

    quiet = parse_mapping({"codes": {"NO_RDNS": "ptr.missing"},
                           "unmapped": "ignore"})
    assert apply_mapping(found, quiet, expected) == [("ptr.missing", "127.0.0.13")]


@pytest.mark.parametrize("doc", [
    ["a"], {"A": 3}, {"A": {"code": "x", "subject": "some"}},
    {"codes": {}, "unmapped": "drop"}, {"codes": {}, "extra": 1},
])
def test_bad_mappings_are_refused(doc):
    with pytest.raises(MappingError):
        parse_mapping(doc)


def test_summary_counts_precision_and_recall_per_code():
    scores = [
        score("a", [("ptr.missing", "1")], [("ptr.missing", "1")]),
        score("b", [("ptr.missing", "2"), ("spf.missing", "d")],
              [("spf.missing", "d"), ("mx.missing", "d")]),
    ]
    summary = summarise(scores)
    by = {t.code: t for t in summary.by_code}
    assert (by["ptr.missing"].recall, by["ptr.missing"].precision) == (0.5, 1.0)
    assert by["mx.missing"].precision == 0.0 and by["mx.missing"].recall is None
    assert (summary.overall.found, summary.overall.missed,
            summary.overall.unexpected) == (2, 1, 1)
    assert summary.matched == 1 and not summary.ok


def test_junit_has_one_testcase_per_scenario_with_failure_text():
    scores = [score("good", [], []),
              score("bad", [("ptr.missing", "1")], [("mx.missing", "d")])]
    root = ET.fromstring(render_junit(scores, checker="c"))
    suite = root.find("testsuite")
    assert suite is not None and suite.get("tests") == "2"
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert cases["good"].find("failure") is None
    failure = cases["bad"].find("failure")
    assert failure is not None and failure.text is not None
    assert "missed: ptr.missing 1" in failure.text
    assert "unexpected: mx.missing d" in failure.text


def test_shards_cover_the_corpus_exactly_once():
    names = bundled_names()
    halves = [shard(reversed(names), *parse_shard(s)) for s in ("1/2", "2/2")]
    assert sorted(halves[0] + halves[1]) == sorted(names)
    assert not set(halves[0]) & set(halves[1])
    thirds = [shard(names, i, 3) for i in (1, 2, 3)]
    assert sorted(n for part in thirds for n in part) == sorted(names)
    for bad in ("0/2", "3/2", "1", "a/b"):
        with pytest.raises(ValueError):
            parse_shard(bad)
