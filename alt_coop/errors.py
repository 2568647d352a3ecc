"""Exceptions and warnings that alt_coop raises.

PYTEST_DONT_REWRITE (see alt_coop/__init__.py).
"""

from __future__ import annotations

import asyncio


class AltCoopError(Exception):
    """Base class of alt_coop's errors."""


class AltCoopUsageError(AltCoopError):
    """alt_coop was used in a way it cannot serve; the message says what to do."""


class NoAsyncTimeoutInSyncFunctions(AltCoopUsageError):
    """``async_timeout.set_timeout_seconds`` was called from a sync fixture or test."""


class TeardownCancelled(asyncio.CancelledError, AltCoopError):
    """A fixture's async teardown ended with a cancellation of its code's own
    doing (a task group or ``asyncio.timeout`` another fixture holds across
    its ``yield``, a ``cancel()`` of its own task): the teardown's error.

    A ``CancelledError`` that is also an ``Exception`` (an :class:`AltCoopError`),
    so that pytest goes on with the other teardowns, as after any teardown
    error; a plain ``CancelledError`` stopped them, leaving those fixtures up.
    """


class AltCoopWarning(UserWarning):
    """Something alt_coop cleaned up for you (tasks left running, for example)."""
