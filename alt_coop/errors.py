"""Exceptions and warnings that alt_coop raises.

PYTEST_DONT_REWRITE (see alt_coop/__init__.py).
"""

from __future__ import annotations


class AltCoopError(Exception):
    """Base class of alt_coop's errors."""


class AltCoopUsageError(AltCoopError):
    """alt_coop was used in a way it cannot serve; the message says what to do."""


class NoAsyncTimeoutInSyncFunctions(AltCoopUsageError):
    """``async_timeout.set_timeout_seconds`` was called from a sync fixture or test."""


class AltCoopWarning(UserWarning):
    """Something alt_coop cleaned up for you (tasks left running, for example)."""
