"""A checker for the tests: the built-in one, weakened or renamed.

    wrapped_checker.py DOMAIN STATE [--drop PREFIX] [--rename OURS=THEIRS]...

It runs ``maillab check --json`` and then drops every finding whose code
starts with PREFIX, or renames codes as a third-party checker would name
them (``--blank-subject`` also empties every subject).
"""

import argparse
import json
import subprocess
import sys

parser = argparse.ArgumentParser()
parser.add_argument("domain")
parser.add_argument("state")
parser.add_argument("--drop", action="append", default=[])
parser.add_argument("--rename", action="append", default=[])
parser.add_argument("--blank-subject", action="store_true")
args = parser.parse_args()

done = subprocess.run(
    [sys.executable, "-m", "maillab", "check", args.domain, "--lab", args.state,
     "--json", "--timeout", "1.5"],
    capture_output=True, text=True, timeout=60, check=False)
report = json.loads(done.stdout)
names = dict(r.split("=", 1) for r in args.rename)
kept = []
for f in report["findings"]:
    if any(f["code"].startswith(p) for p in args.drop):
        continue
    f["code"] = names.get(f["code"], f["code"])
    if args.blank_subject:
        f["subject"] = ""
    kept.append(f)
print(json.dumps({"findings": kept}))
