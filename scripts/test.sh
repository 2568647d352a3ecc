#!/usr/bin/env bash
# Install alt_coop with its test dependencies into a virtual environment and
# run the whole test suite. This is the README's test command, and what CI
# runs for every interpreter and pytest major.
#
#   PYTHON      interpreter to use (default: python3)
#   PYTEST_SPEC pip requirement for pytest (default: the newest release)
#   VENV        where the environment goes (default: .venv)
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTEST_SPEC=${PYTEST_SPEC:-pytest}
# The suite starts a few hundred Python processes. Without cached bytecode,
# pytest in each one rewrites and compiles alt_coop's modules again (as it
# does every plugin's): with PYTHONDONTWRITEBYTECODE set, the suite takes 1.4
# times as long.
unset PYTHONDONTWRITEBYTECODE

. scripts/venv.sh
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e ".[test]" "$PYTEST_SPEC"
"$VENV/bin/python" -m pytest --version
exec "$VENV/bin/python" -m pytest -p no:cacheprovider "$@"
