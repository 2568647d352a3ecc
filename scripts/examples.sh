#!/usr/bin/env bash
# Install alt_coop into a virtual environment and run the examples' test
# suite through the plugin: the README's first command. The environment is
# the examples' own (.venv-examples), with alt_coop alone, as a project using
# it would have: test.sh's has the test extras, whose plugins would load.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv-examples}
. scripts/venv.sh
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e .
python=$(cd "$VENV" && pwd)/bin/python  # VENV may be relative or absolute
cd examples
exec "$python" -m pytest -p no:cacheprovider "$@"
