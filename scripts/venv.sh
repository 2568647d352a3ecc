# Sourced by examples.sh and test.sh: make (or reuse) the virtual environment
# "$VENV" with "$PYTHON". An environment made earlier with another Python is
# not silently reused when PYTHON asks for a different one, nor removed
# (it may be yours): the message says what to do.
PYTHON_ASKED=${PYTHON:-}
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}

if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
elif [ -n "$PYTHON_ASKED" ]; then
    version='import sys; print("%d.%d" % sys.version_info[:2])'
    asked=$("$PYTHON" -c "$version")
    have=$("$VENV/bin/python" -c "$version")
    if [ "$asked" != "$have" ]; then
        echo "$VENV has Python $have, but PYTHON=$PYTHON is Python $asked:" \
            "remove $VENV, or give this interpreter an environment of its own" \
            "(VENV=$VENV-$asked)" >&2
        exit 2
    fi
fi
