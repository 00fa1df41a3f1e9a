#!/bin/sh
# Every benchmark in quick mode (about 10 s each), one after the other.
# Full runs: the same scripts without --quick (about a minute each).
set -e
cd "$(dirname "$0")/.."
for script in dns_qps smtp_rate checker_time lab_startup; do
    echo "== bench/$script.py --quick"
    python3 "bench/$script.py" --quick
    echo
done
