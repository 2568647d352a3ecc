#!/usr/bin/env bash
# Install alt_coop into a virtual environment and run the examples' test
# suite through the plugin: the README's first command.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/venv.sh
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e .
python=$(cd "$VENV" && pwd)/bin/python  # VENV may be relative or absolute
cd examples
exec "$python" -m pytest -p no:cacheprovider "$@"
