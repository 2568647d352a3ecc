#!/usr/bin/env bash
# Run a benchmark in its own environment with alt_coop and the peer plugins
# it is compared against (they cannot share a test environment with alt_coop:
# alt-pytest-asyncio registers the same option names).
#   bash bench/run.sh bench_trivial.py --n 3000 --repeat 7
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv-bench}
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e . -r bench/requirements.txt
script=$1
shift
exec "$VENV/bin/python" "bench/$script" "$@"
