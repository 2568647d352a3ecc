"""Per-test state that other plugins keep in a context variable, made per lane.

pytest-check 3 keeps a test's soft-check failures in a context variable, but
gives it its value once, in ``pytest_configure``: each lane's copy of the
context would share that one list, and the first test to report would take
every test's failures. Each lane gets a state of its own instead, through
``pytest_check.check_log._state_var`` and ``_CheckState`` (checked on
pytest-check 3.0.3). Before 3.0, pytest-check kept the failures in module
globals, which cannot be made per test: cooperative tests then run
sequentially (see :func:`sequential_reason`).

PYTEST_DONT_REWRITE (see alt_coop/__init__.py).
"""

from __future__ import annotations

import sys

_CHECK_LOG = "pytest_check.check_log"


def fresh_per_test() -> None:
    """Give the calling lane's test a state of its own (in its context)."""
    check_log = sys.modules.get(_CHECK_LOG)
    if check_log is None:  # the usual case: checked first
        return
    state_var = getattr(check_log, "_state_var", None)
    make_state = getattr(check_log, "_CheckState", None)
    if state_var is not None and make_state is not None:
        state_var.set(make_state())


def sequential_reason() -> str | None:
    """Why cooperative tests must run one at a time, if a plugin's state
    cannot be made per test."""
    check_log = sys.modules.get(_CHECK_LOG)
    if check_log is not None and not hasattr(check_log, "_state_var"):
        return "with pytest-check before 3.0 (one list of soft-check failures for all tests)"
    return None
