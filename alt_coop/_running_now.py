"""What runs in this context: the test whose protocol, the fixture whose set-up.

The engine sets them as a test's set-up and an async fixture's set-up start;
the locks read them, to tell whose code takes a lock, and the finalizers'
timeouts, to look up the test's defaults. Context variables, so each
cooperative test's lane sees its own.

PYTEST_DONT_REWRITE (see alt_coop/__init__.py).
"""

from __future__ import annotations

import contextvars

import pytest

#: The test whose protocol runs in this context (set as its setup starts).
test_item: contextvars.ContextVar[pytest.Item | None] = contextvars.ContextVar(
    "alt_coop_test_item", default=None
)

#: The fixture whose setup is running in this context: (name, scope, node id
#: of its scope), set by the engine around an async fixture's setup.
setting_up: contextvars.ContextVar[tuple[str, str, str] | None] = contextvars.ContextVar(
    "alt_coop_fixture_setting_up", default=None
)
