"""docs/findings.md is generated from the code and must not drift from it."""

from checker.findings import CATALOGUE
from lab.faults import CATALOGUE as FAULTS
from maillab.verify.catalogue import DOC, current, declared_by, main


def test_committed_findings_doc_is_up_to_date():
    assert DOC.read_text() == current(), (
        "docs/findings.md is stale: run python -m maillab.verify.catalogue")
    assert main(["--check"]) == 0


def test_every_code_and_its_fault_types_are_listed():
    text = current()
    for code, meta in CATALOGUE.items():
        assert f"## {code}\n" in text
        assert meta.remediation in text
    for code, faults in declared_by(FAULTS).items():
        for fault in faults:
            assert f"`{fault}`" in text


def test_check_reports_a_stale_file(tmp_path):
    stale = tmp_path / "findings.md"
    stale.write_text("# old\n")
    assert main(["--check", "--output", str(stale)]) == 1
    assert main(["--output", str(stale)]) == 0
    assert main(["--check", "--output", str(stale)]) == 0
