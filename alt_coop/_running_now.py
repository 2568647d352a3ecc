"""What runs in this context: the test whose protocol, the fixture whose
set-up, the batch of cooperative tests; and whether a test's body runs.

The engine sets the first two as a test's set-up and an async fixture's
set-up start, the scheduler the batch; the locks read them, to tell whose
code takes a lock and which waits could never end, and the finalizers'
timeouts, to look up the test's defaults. Context variables, so each
cooperative test's lane sees its own.

PYTEST_DONT_REWRITE (see alt_coop/__init__.py).
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator, Sequence
from typing import NamedTuple

import pytest

#: The test whose protocol runs in this context (set as its setup starts).
test_item: contextvars.ContextVar[pytest.Item | None] = contextvars.ContextVar(
    "alt_coop_test_item", default=None
)


#: On a test item while its body runs (set by the engine). On the item, not
#: in a context: a session the body runs inherits the body's context, and a
#: fixture the body sets up keeps a copy of it after the body has ended.
BODY_RUNNING = pytest.StashKey[bool]()


class FixtureSetUp(NamedTuple):
    """One set-up of a fixture, through which the locks it takes are held."""

    name: str
    scope: str
    scope_id: str  # the node id of its scope
    parametrized: bool = False  # one of its params' instances


#: The fixture whose setup is running in this context, set by the engine
#: around an async fixture's setup.
setting_up: contextvars.ContextVar[FixtureSetUp | None] = contextvars.ContextVar(
    "alt_coop_fixture_setting_up", default=None
)


class Batch(NamedTuple):
    """The cooperative tests that run at once now, and the test after them,
    which starts only once every one of them is done."""

    items: Sequence[pytest.Item]
    after: pytest.Item | None


#: The batch whose tests run in this context (see :func:`batch_running`).
running_batch: contextvars.ContextVar[Batch | None] = contextvars.ContextVar(
    "alt_coop_running_batch", default=None
)

#: Called as a test of the batch running in this context starts to wait for
#: an alt_coop.Lock: the scheduler then looks for waits that could never end.
lock_wait_started: contextvars.ContextVar[Callable[[], object] | None] = contextvars.ContextVar(
    "alt_coop_lock_wait_started", default=None
)


@contextlib.contextmanager
def batch_running(batch: Batch, on_lock_wait: Callable[[], object]) -> Iterator[None]:
    """Within the block, ``batch`` runs in the calling context (the
    scheduler's, which may be the session's own: it is put back after, so
    that nothing of a finished session stays reachable from it), and
    ``on_lock_wait`` is what :data:`lock_wait_started` calls."""
    token = running_batch.set(batch)
    wait_token = lock_wait_started.set(on_lock_wait)
    try:
        yield
    finally:
        lock_wait_started.reset(wait_token)
        running_batch.reset(token)
