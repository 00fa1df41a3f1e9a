"""Running ``maillab verify`` as a user would, in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
ADAPTERS = ROOT / "docs" / "adapters"
WRAPPED = f"{sys.executable} {HERE / 'wrapped_checker.py'} {{domain}} {{state}}"


def verify(*args: str, timeout: float = 100) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "maillab.verify", *args],
                          capture_output=True, text=True, timeout=timeout, check=False,
                          cwd=ROOT)


def verify_json(*args: str) -> tuple[int, dict[str, Any]]:
    done = verify(*args, "--json")
    assert done.stdout.strip(), done.stderr
    return done.returncode, json.loads(done.stdout)


def rows(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["scenario"]: r for r in result["scenarios"]}


def codes(pairs: list[dict[str, str]]) -> list[str]:
    return sorted(p["code"] for p in pairs)
