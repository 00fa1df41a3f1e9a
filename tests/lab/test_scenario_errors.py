"""Bad scenario files: one clear message with file, line and field, status 2."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from lab.errors import ScenarioError
from lab.scenario import bundled_names, load
from maillab.cli import main

QUESTION = """\
question:
  stem: s
  choices:
    - {text: a, best: true, why: w}
    - {text: b, why: w}
    - {text: c, why: w}
"""

CASES = {
    "unknown-fault": (
        "version: 1\ntitle: t\nsymptoms: {complaint: c}\nfaults:\n"
        "  - type: ptr.mising\n" + QUESTION,
        5, "faults[0].type", "unknown fault type 'ptr.mising'; did you mean "
        "'ptr.missing'?"),
    "wrong-type": (
        "version: 1\ntitle: t\nsymptoms: {complaint: c}\nfaults:\n"
        "  - type: port.blocked\n    host: mx1\n    port: twenty-five\n" + QUESTION,
        7, "faults[0].port", "integer"),
    "bad-address": (
        "version: 1\ntitle: t\nsymptoms: {complaint: c}\norganisation:\n"
        "  hosts:\n    - {name: ns1, roles: [dns], address: 192.0.2.300}\n"
        + QUESTION,
        6, "organisation.hosts[0].address", "IPv4 or IPv6"),
    "missing-field": (
        "version: 1\ntitle: t\n" + QUESTION, 1, "symptoms", "required field"),
    "yaml-syntax": (
        "version: 1\ntitle: [unclosed\nsymptoms: {complaint: c}\n",
        3, None, "YAML syntax error"),
    "unknown-host": (
        "version: 1\ntitle: t\nsymptoms: {complaint: c}\nfaults:\n"
        "  - type: ptr.missing\n    host: mx9\n" + QUESTION,
        6, "faults[0].host", "names no host"),
    "two-best": (
        "version: 1\ntitle: t\nsymptoms: {complaint: c}\nquestion:\n  stem: s\n"
        "  choices:\n    - {text: a, best: true, why: w}\n"
        "    - {text: b, best: true, why: w}\n    - {text: c, why: w}\n",
        4, "question", "exactly one best choice"),
    "misspelt-field": (
        "version: 1\ntitle: t\nsymptom: {complaint: c}\n" + QUESTION,
        3, "symptom", "unknown field; did you mean 'symptoms'?"),
    "alias": (
        "version: 1\ntitle: &t t\nname: *t\nsymptoms: {complaint: c}\n" + QUESTION,
        3, None, "aliases are not allowed"),
    "duplicate-key": (
        "version: 1\ntitle: t\ntitle: u\nsymptoms: {complaint: c}\n" + QUESTION,
        3, "title", "given twice"),
    "python-tag": (
        "version: 1\ntitle: !!python/object:os.system t\n"
        "symptoms: {complaint: c}\n" + QUESTION,
        2, None, "tag"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_bad_file_gets_one_clear_message(tmp_path, case):
    text, line, field, words = CASES[case]
    path = tmp_path / f"{case}.yaml"
    path.write_text(text)

    with pytest.raises(ScenarioError) as caught:
        load(str(path))
    error = caught.value
    assert error.path == str(path)
    assert error.line == line
    assert error.field == field
    assert words in str(error)

    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 2
    assert f"{path}:{line}" in result.output
    assert "Traceback" not in result.output


def test_the_real_command_exits_2_without_a_traceback(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(CASES["unknown-fault"][0])
    done = subprocess.run([sys.executable, "-m", "maillab", "validate", str(path)],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert f"{path}:5" in done.stderr and "did you mean 'ptr.missing'" in done.stderr
    assert "Traceback" not in done.stderr


def test_unknown_bundled_name_suggests_the_nearest():
    with pytest.raises(ScenarioError, match="did you mean 'ptr-missing'"):
        load("ptr-mising")


def test_every_bundled_scenario_loads():
    names = bundled_names()
    assert "healthy" in names and len(names) >= 10
    for name in names:
        assert load(name).name == name


def test_schema_is_json_schema_naming_every_fault():
    result = CliRunner().invoke(main, ["schema"])
    assert result.exit_code == 0
    schema = json.loads(result.output)
    assert schema["$schema"].endswith("2020-12/schema")
    text = json.dumps(schema)
    for fault in ("port.blocked", "ptr.missing", "spf.too-many-lookups"):
        assert fault in text
