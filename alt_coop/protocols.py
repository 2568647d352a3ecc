"""Public protocols, for annotating what alt_coop's fixtures hand you.

PYTEST_DONT_REWRITE (see alt_coop/__init__.py).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class AsyncTimeout(Protocol):
    """What the ``async_timeout`` fixture gives an async fixture or test.

    Each async fixture phase and each async test gets its own object, so
    setting the timeout affects only the function that asked for it.
    """

    @property
    def timeout_seconds(self) -> float:
        """The timeout currently in force, in seconds."""
        ...

    def set_timeout_seconds(self, seconds: float) -> None:
        """Give this fixture or test ``seconds`` from now to finish.

        Once its timeout has fired (called while it handles the cancellation,
        say), it changes nothing. Raises :class:`ValueError` unless ``seconds``
        is a positive number, and
        :class:`alt_coop.errors.NoAsyncTimeoutInSyncFunctions` when called from
        a synchronous fixture or test, which alt_coop never times out.
        """
        ...
