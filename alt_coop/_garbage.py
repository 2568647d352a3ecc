"""The garbage collector while a cooperative batch runs.

A test in flight keeps its objects alive while it waits (its suspended
protocol, fixtures, reports so far), and every pass of the garbage collector
walks all of them, only to find them alive. At the default thresholds the
passes over thousands of waiting tests took a third of a batch's CPU time;
with 20,000 tests in flight, even rare passes took seconds.

So, while a batch runs, the collector runs less often; and when a batch will
have many tests in flight at once, the collector is paused while the batch
starts them, then the objects alive at that point (mostly those tests') are
frozen out of its sight (:func:`gc.freeze`) and it resumes for everything
newer. They are unfrozen when the batch ends. Garbage made while the
collector is paused (by tests: alt_coop's own machinery makes none), and any
the collector had not reached yet when the batch began, waits until then; so
the pause also ends once as many tests have finished in it as may be in
flight at once: what waits is bounded by the garbage of one batch-full of
tests, the same order as the memory those tests hold while in flight.

A full collection asked for by code (a test's ``gc.collect()``, to check
that what it let go of is freed) unfreezes them first, and the batch freezes
nothing again: it must free what it would free in a sequential run, cyclic
garbage the test held when the objects were frozen included.

Objects frozen by someone else (an application before it forks; Python
3.12's runtime, which starts with some frozen) cannot be told from ours when
unfreezing, so then the batch only raises the thresholds.

PYTEST_DONT_REWRITE (see alt_coop/__init__.py).
"""

from __future__ import annotations

import gc
from types import TracebackType
from typing import Any

#: From this many tests in flight at once, pause and freeze while starting them.
FREEZE_FROM = 1000


class BatchCollection:
    """The collector's schedule for one batch; ``ramped_up`` marks the end of its start."""

    def __init__(self, most_in_flight: int) -> None:
        self._saved = gc.get_threshold()
        # Objects someone else froze (an application, before a fork) are not
        # ours to unfreeze at the end.
        self._freeze = (
            most_in_flight >= FREEZE_FROM and gc.isenabled() and gc.get_freeze_count() == 0
        )
        self._frozen = False
        self._most_in_flight = most_in_flight
        self._finished = 0
        self._collect = gc.collect

    def __enter__(self) -> BatchCollection:
        saved = self._saved
        gc.set_threshold(max(saved[0], 50_000), max(saved[1], 20), max(saved[2], 100))
        if self._freeze:
            gc.disable()
            gc.collect = self._full_collection_unfrozen
        return self

    def _full_collection_unfrozen(self, *args: Any, **kwargs: Any) -> int:
        """``gc.collect`` while the batch runs (see the module's docstring)."""
        if self._freeze and args in ((), (2,)) and kwargs in ({}, {"generation": 2}):
            self._freeze = False  # and no freezing after this
            if self._frozen:
                self._frozen = False
                gc.unfreeze()
            gc.enable()
        return self._collect(*args, **kwargs)

    def test_finished(self) -> None:
        self._finished += 1
        if self._finished >= self._most_in_flight:
            self.ramped_up()

    def ramped_up(self) -> None:
        """The batch has started all the tests it can for now."""
        if self._freeze and not self._frozen:
            self._frozen = True
            gc.freeze()
            gc.enable()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if gc.collect == self._full_collection_unfrozen:  # else someone replaced it since
            gc.collect = self._collect
        if self._frozen:
            gc.unfreeze()
        if self._freeze:
            gc.enable()
        gc.set_threshold(*self._saved)
