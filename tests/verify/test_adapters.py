"""Checkers nobody on the team wrote, scored by verify through their adapters."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

from ..conftest import need
from .support import ADAPTERS, rows, verify_json


def test_dig_swaks_script_finds_what_it_checks_and_misses_the_rest():
    need("dig")
    command = (f"bash {ADAPTERS / 'dig-swaks.sh'} {{domain}} {{resolver_ip}} "
               "{resolver_port} {outbound}")
    found = ["healthy", "ptr-missing", "ptr-mismatch", "spf-missing",
             "mx-host-unresolvable", "port25-rejected"]
    status, result = verify_json(*found, "spf-syntax", "--checker", command,
                                 "--jobs", "7")
    by = rows(result)
    for name in found:
        assert by[name]["matched"], by[name]
    # It never parses SPF, so a syntax error goes unseen: a miss, not an error.
    assert by["spf-syntax"]["error"] is None
    assert [m["code"] for m in by["spf-syntax"]["missed"]] == ["spf.syntax"]
    assert status == 1


def test_checkdmarc_scored_through_its_mapping():
    if importlib.util.find_spec("checkdmarc") is None:
        pytest.skip("checkdmarc is not installed (pip install checkdmarc)")
    command = (f"{sys.executable} {ADAPTERS / 'checkdmarc-adapter.py'} "
               "{domain} {resolver_ip} {resolver_port}")
    status, result = verify_json(
        "healthy", "spf-syntax", "dmarc-policy-none", "mx-null", "ptr-missing",
        "--checker", command, "--map", str(ADAPTERS / "checkdmarc.map.yaml"),
        "--jobs", "5")
    by = rows(result)
    if by["healthy"]["error"] and "port 53 only" in by["healthy"]["error"]:
        pytest.skip("the lab runs on offset ports; checkdmarc asks port 53 only")
    for name in ("healthy", "spf-syntax", "dmarc-policy-none", "mx-null"):
        assert by[name]["matched"], by[name]
    # checkdmarc does not look at reverse DNS.
    assert [m["code"] for m in by["ptr-missing"]["missed"]] == ["ptr.missing"]
    assert status == 1


def test_sample_plugin_file_passes_outside_the_projects_tests(tmp_path):
    done = subprocess.run(
        # No -p: the plugin must load through its pytest11 entry point.
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
         "-o", "asyncio_mode=auto", "-q",
         "--rootdir", str(tmp_path), "-c", "/dev/null",
         str(ADAPTERS / "test_sample_plugin.py")],
        capture_output=True, text=True, timeout=100, cwd=tmp_path, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "6 passed" in done.stdout
