"""Exceptions nobody could catch, reported for the test that caused them.

Python hands an exception raised in ``__del__`` (say) to
``sys.unraisablehook``, and one that ends a thread to ``threading.excepthook``.
From pytest 8.4, its hooks for both queue them, and the end of every phase
reports what is queued, as warnings of that phase: with tests running at once,
that would be whichever test's phase ended next. During a cooperative batch,
each is kept with its test instead (an unraisable exception's is the test
running when it was raised; a thread's, the test that started the thread)
and queued for pytest at the end of that test's phase. A thread that outlives
its test goes to pytest's queue, as in a sequential run. With one of pytest's
two catchers switched off (``-p no:threadexception``), the other kind is still
kept per test, and Python's own hook prints a thread's into its test's
output. pytest 8.3 catches them per phase with hooks of its own, left alone.

Checked on pytest 8.4.2, 9.0.3 and 9.2.0: ``unraisableexception.``
``unraisable_exceptions``/``unraisable_hook``/``collect_unraisable`` and
``threadexception.thread_exceptions``/``thread_exception_hook``/
``collect_thread_exception``.

PYTEST_DONT_REWRITE (see alt_coop/__init__.py).
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest
from _pytest import threadexception as _thread_module
from _pytest import unraisableexception as _unraisable_module

from ._lane_state import CURRENT, LaneState, context_of, started_by


class _Queue:
    """One of pytest's queues of exceptions nobody could catch."""

    def __init__(
        self, records: Any, record: Any, collect: Callable[[pytest.Config], None]
    ) -> None:
        self.records = records  # a deque
        self.record = record  # (raw, *, append): what pytest's hook does with one
        self.collect = collect  # reports the queued ones as warnings of the running phase

    @classmethod
    def of(cls, config: pytest.Config, module: ModuleType, names: tuple[str, str, str]) -> Any:
        """The queue named ``names`` (stash key, hook, collector) in ``module``, if any."""
        key, record, collect = (getattr(module, name, None) for name in names)
        records = None if key is None else config.stash.get(key, None)
        if records is None or record is None or collect is None:
            return None
        return cls(records, record, collect)

    def keep(self, state: LaneState, raw: Any) -> None:
        """Keep ``raw`` for ``state``'s test, or queue it if that test is over."""
        uncaught = state.uncaught
        if uncaught is None:
            self.record(raw, append=self.records.append)
        else:
            self.record(raw, append=lambda kept: uncaught.append((self, kept)))


@contextlib.contextmanager
def uncaught_per_test(config: pytest.Config) -> Iterator[None]:
    """Keep each test's uncaught exceptions until the end of its own phase."""
    unraisables = _Queue.of(
        config,
        _unraisable_module,
        ("unraisable_exceptions", "unraisable_hook", "collect_unraisable"),
    )
    threads = _Queue.of(
        config,
        _thread_module,
        ("thread_exceptions", "thread_exception_hook", "collect_thread_exception"),
    )
    if not hasattr(_thread_module, "thread_exceptions"):  # pytest 8.3: left alone
        yield
        return
    # Each independently: ``-p no:unraisableexception`` leaves the other one.
    previous_unraisable_hook = sys.unraisablehook
    previous_thread_hook = threading.excepthook

    def unraisable_hook(unraisable: Any) -> None:
        state = CURRENT.get()
        if state is None or unraisables is None:
            previous_unraisable_hook(unraisable)
        else:
            unraisables.keep(state, unraisable)

    def thread_hook(args: Any) -> None:
        state = None if args.thread is None else started_by.get(args.thread)
        if state is None:
            previous_thread_hook(args)
        elif threads is None:
            # Python's own hook prints the traceback, after the thread's run
            # (and so out of its test's context): into its test's output.
            context_of(state).run(previous_thread_hook, args)
        else:
            threads.keep(state, args)

    if unraisables is not None:
        sys.unraisablehook = unraisable_hook
    threading.excepthook = thread_hook
    # Registered once, for the session's batches: registering costs more
    # than a batch of one test (pytest looks each new plugin over for
    # fixtures), and outside a batch its hooks find no test's state.
    if not config.pluginmanager.has_plugin(_REPORTER):
        config.pluginmanager.register(_AtPhaseEnd(), _REPORTER)
    try:
        yield
    finally:
        threading.excepthook = previous_thread_hook
        sys.unraisablehook = previous_unraisable_hook


def hand_over(state: LaneState, *, test_over: bool = False) -> set[_Queue]:
    """Queue ``state``'s uncaught exceptions for pytest; returns the queues used."""
    kept = state.uncaught
    if test_over:
        state.uncaught = None  # from now on, they go to pytest's queues at once
    if not kept:
        return set()
    taken = kept[:]
    del kept[: len(taken)]  # not the list itself: a thread may be appending to it
    for queue, record in taken:
        queue.records.append(record)
    return {queue for queue, _ in taken}


_REPORTER = "alt_coop-uncaught"


class _AtPhaseEnd:
    """At the end of each phase of a test, report the uncaught exceptions that
    test had, as pytest does at the end of every phase: in a last hook of the
    phase, which a phase that fails never reaches, leaving them to the next.
    Not a wrapper: its frame would then be in the traceback of every error of
    the phase, where pytest does not expect it."""

    @staticmethod
    def _report(item: pytest.Item) -> None:
        __tracebackhide__ = True  # what pytest reports raises the error (-W error)
        state = CURRENT.get()
        if state is not None and state.uncaught and state.item is item:
            for queue in hand_over(state):
                queue.collect(item.config)

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        __tracebackhide__ = True
        self._report(item)

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_call(self, item: pytest.Item) -> None:
        __tracebackhide__ = True
        self._report(item)

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_teardown(self, item: pytest.Item) -> None:
        __tracebackhide__ = True
        self._report(item)
