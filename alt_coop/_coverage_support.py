"""Keep coverage.py exact while code runs in greenlets.

coverage.py's trace-based cores keep one stack of "which file am I in" per
thread. Switching greenlets changes the running frames without the call and
return events that stack is built from, so lines would be credited to the
wrong file, or lost. coverage.py solves this itself when configured with
``concurrency = greenlet``: it keeps one stack per greenlet. alt_coop turns
that on for the running tracer, so users need no configuration.

This sets ``concur_id_func`` on the tracer object, the attribute coverage.py
itself sets for ``concurrency = greenlet`` (checked on coverage 7.4 to 7.17,
C and Python tracers). The sys.monitoring core (3.12+) records lines per code
object and needs nothing.

coverage.py's dynamic context (pytest-cov's ``--cov-context=test`` switches
it to the running test's phase) is process-wide too: in a cooperative batch,
each test's is put back at each of its turns on the loop.

PYTEST_DONT_REWRITE (see alt_coop/__init__.py).
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import greenlet


def threads_unmeasured() -> bool:
    """Whether coverage.py measures this thread with a trace function (its
    ``ctrace`` and ``pytrace`` cores, set per thread) but will not measure
    the threads started from now on: its ``concurrency`` setting leaves
    ``thread`` out, so it sets no trace function for new threads. (Its
    ``sysmon`` core measures every thread, with no trace function.)"""
    return _of_coverage(sys.gettrace()) and not _of_coverage(threading.gettrace())


def _of_coverage(tracer: object) -> bool:
    """Whether ``tracer`` (a trace function, or None) is coverage.py's."""
    owner: object = getattr(tracer, "__self__", tracer)
    return owner is not None and type(owner).__module__.split(".")[0] == "coverage"


def follow_greenlets() -> None:
    """Make the coverage tracer of this thread (if any) keep a stack per greenlet."""
    for tracer in (sys.gettrace(), threading.gettrace()):
        if not _of_coverage(tracer):
            continue
        owner: object = getattr(tracer, "__self__", tracer)
        if getattr(owner, "concur_id_func", 0) is None:
            setattr(owner, "concur_id_func", greenlet.getcurrent)  # noqa: B010


class CoverageContexts:
    """The dynamic context each cooperative test switched coverage.py to."""

    def __init__(self, cov: Any, current_test: Callable[[], Any]) -> None:
        self._switch: Callable[[str | None], None] = cov.switch_context
        self._current_test = current_test
        self._shown: str | None = None

    def switch(self, new_context: str | None) -> None:
        """In place of ``Coverage.switch_context``: the context is the calling test's."""
        state = self._current_test()
        if state is not None:
            state.coverage_context = new_context
        self._shown = new_context
        self._switch(new_context)

    def turn_starts(self, state: Any) -> None:
        context = state.coverage_context
        if context is not None and context != self._shown:
            self._shown = context
            self._switch(context)


@contextlib.contextmanager
def contexts_per_test(current_test: Callable[[], Any]) -> Iterator[CoverageContexts | None]:
    """While a batch runs, coverage.py's context follows the test whose turn
    it is, and its tracer keeps a stack per greenlet: the tracer may be a new
    one since the session started (pytest-cov's ``no_cover`` stops and starts
    coverage, and only a ``thread`` concurrency makes new tracers follow)."""
    follow_greenlets()
    coverage = sys.modules.get("coverage")
    cov = coverage.Coverage.current() if coverage is not None else None
    if cov is None:
        yield None
        return
    contexts = CoverageContexts(cov, current_test)
    before = vars(cov).get("switch_context")  # a batch's of a session running this one
    cov.switch_context = contexts.switch
    try:
        yield contexts
    finally:
        if before is None:
            del cov.switch_context  # the method again
        else:
            cov.switch_context = before
