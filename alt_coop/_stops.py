"""Which stop ends a cooperative run.

A sequential run ends at its first stop (Ctrl-C, a test's own
``KeyboardInterrupt``, ``pytest.exit()``, an internal error): no test runs
after it to stop the run again. In a cooperative batch, the tests running as
the first stop comes go on until they are done or cut short, and may stop
the run again meanwhile (a teardown's ``pytest.exit()``, a reporting hook's
stop). :class:`Stops` keeps the stop that ends the run, by the order a
sequential run would have met them in, so that no later one replaces it.
The scheduler decides when each is met; this says what it becomes.

PYTEST_DONT_REWRITE (see alt_coop/__init__.py).
"""

from __future__ import annotations

from . import _runner, _tracebacks


class Stops:
    """The stops a cooperative run met, and which of them ends it."""

    __slots__ = (
        "error",
        "error_came_first",
        "exit",
        "interrupted",
        "interruption",
        "teardown_exit",
    )

    def __init__(self) -> None:
        #: The batch was interrupted: its running tests are cancelled.
        self.interrupted = False
        #: The interrupt pytest is told of (see :meth:`note_interruption`).
        self.interruption: KeyboardInterrupt | None = None
        #: A ``pytest.exit()``, raised once the running tests are done.
        self.exit: BaseException | None = None
        #: An error raised outside any test's phases (a plugin's reporting
        #: hook, say): raised once the running tests are done, for pytest to
        #: report as the internal error it is.
        self.error: BaseException | None = None
        #: Whether ``error`` came before the interrupt: a sequential run
        #: would have ended at it, so it stands.
        self.error_came_first = False
        #: A ``pytest.exit()`` from the teardown of a test a stop cut short:
        #: raised at the session's end, where pytest would tear that test
        #: down (see alt_coop._engine's pytest_sessionfinish).
        self.teardown_exit: BaseException | None = None

    def any(self) -> bool:
        """Whether an interrupt, an exit or an internal error stopped the run
        (-x and --maxfail aside: a stop raised at the report of the test that
        reached them still stands, as it came before them)."""
        return self.interrupted or self.exit is not None or self.error is not None

    def interrupt(self) -> bool:
        """The batch stops for an interrupt; False if it had already."""
        if self.interrupted:
            return False
        self.interrupted = True
        self.error_came_first = self.error is not None
        return True

    def note_interruption(self, interruption: KeyboardInterrupt) -> None:
        """pytest is told of the first interrupt a test met, which names the
        line the test was at; or of the first that names a line of the
        suite's, if that one named pytest's (a test that waited for a wider
        fixture another was setting up)."""
        first = self.interruption
        if (
            first is None
            or (
                not _tracebacks.raised_in_the_suite(first)
                and _tracebacks.raised_in_the_suite(interruption)
            )
            # That of the test whose sync code Ctrl-C came during: where the run was.
            or getattr(interruption, _runner.CAME_DURING_SYNC_CODE, False)
        ):
            self.interruption = interruption

    def test_exited(self, stop: BaseException, *, first: bool, wider: bool) -> None:
        """A test's ``pytest.exit()``: ``first`` if the run had not stopped
        before it; ``wider`` if raised tearing down a wider fixture, which
        pytest would have torn down at the end of a run another test stopped."""
        if first or (wider and not self.any()):
            self.exit = stop
        elif wider:
            # After an interrupt's or an internal error's stop, as pytest's
            # teardown at the session's end would.
            self.teardown_exited(stop)

    def teardown_exited(self, stop: BaseException) -> None:
        """A ``pytest.exit()`` from the teardown of a test a stop cut short,
        which pytest would have torn down at the session's end: the first
        is raised there."""
        if self.teardown_exit is None:
            self.teardown_exit = stop

    def after_batch(self) -> BaseException | None:
        """What the batch raises as it ends, if anything."""
        if self.error is not None:
            return self.error
        if self.interrupted:
            return self.exit or self.interruption or KeyboardInterrupt()
        return None
