"""Per-test state of a cooperative test, and how code finds the running test.

Each cooperative test has a :class:`LaneState`: what pytest keeps per process
(captured output, log handlers, warnings, ``PYTEST_CURRENT_TEST``, ...) is
kept there for it while tests run at once. :data:`CURRENT`, a context
variable its lane sets (and that the threads and tasks it starts inherit),
names the test whose code is running. The modules that route pytest's
per-process state through it: :mod:`alt_coop._lane_globals` (assertions,
``PYTEST_CURRENT_TEST``, threads) with :mod:`alt_coop._lane_output` (output),
:mod:`alt_coop._lane_logging`,
:mod:`alt_coop._lane_warnings`, :mod:`alt_coop._uncaught` and
:mod:`alt_coop._fixture_instances`.

PYTEST_DONT_REWRITE (see alt_coop/__init__.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import io
import logging
import threading
import warnings
import weakref
from collections.abc import Iterator
from typing import Any

import pytest


def encoding_for(errors: str) -> str:
    """A captured stream's encoding, spelt as pytest's capture spells it (code
    may compare it): "utf-8" under fd capture (whose ``errors`` is "replace"),
    "UTF-8" under sys capture."""
    return "utf-8" if errors == "replace" else "UTF-8"


class CapturedOutput(io.TextIOWrapper):
    """A test's captured ``sys.stdout`` or ``sys.stderr``.

    The same kind of stream pytest's capture gives a test in a sequential
    run: UTF-8 text over bytes, so what does not encode fails as it would
    there (under ``--capture=sys``; ``errors="replace"`` mirrors fd capture),
    and it has no file descriptor. It lasts through the test's phases, each
    phase taking its own output (:meth:`take`), so that what a fixture
    ``reconfigure()``-s holds in the body and teardown, and changes no other
    test's stream.
    """

    def __init__(self, errors: str) -> None:
        encoding = encoding_for(errors)
        super().__init__(io.BytesIO(), encoding, errors, newline="", write_through=True)

    @property
    def name(self) -> str:
        return "<captured by alt_coop>"  # as fd capture's, which has one

    @property
    def mode(self) -> str:
        return "w"

    def getvalue(self) -> str:
        self.flush()  # what the test's settings kept back (write_through off)
        data = self.buffer.getvalue()  # type: ignore[attr-defined]
        return str(data.decode(self.encoding, "replace"))

    def take(self) -> str:
        """What was written since the last take, emptying the stream."""
        text = self.getvalue()
        self.seek(0)
        self.truncate()
        return text


#: A test's own warnings state, put aside between its turns: the filters,
#: ``showwarning`` and recorder in force, and its content of the batch's
#: filters list when it changed that list in place before replacing it.
OwnWarnings = tuple[list[Any], Any, Any, list[Any] | None]


class LaneState:
    """What belongs to one cooperative test while it runs."""

    __slots__ = (
        "__weakref__",  # the debugger policy keeps the tests that entered pdb weakly
        "assertion",
        "capturing",
        "copies",
        "coverage_context",
        "current_test_var",
        "debugged",
        "err",
        "failing_turn",
        "failures_counted",
        "item",
        "last_turn",
        "log_handlers",
        "log_phase",
        "log_when",
        "out",
        "own_current_loop",
        "own_globals",
        "own_last_failure",
        "own_warnings",
        "random_state",
        "reporting_seconds",
        "reports",
        "shared_values",
        "shown_warnings",
        "task",
        "terminal_lines",
        "uncaught",
        "warnings",
        "warnings_reported",
    )

    def __init__(self, item: pytest.Item) -> None:
        self.item = item
        self.task: asyncio.Task[Any] | None = None  # the one running its protocol, meanwhile
        self.capturing = False
        self.debugged = False  # pytest's debugger was entered during the test
        # Captured output, made on the test's first write (most tests print
        # nothing), each phase's taken at its end.
        self.out: CapturedOutput | None = None
        self.err: CapturedOutput | None = None
        self.log_handlers: tuple[logging.Handler, ...] = ()
        self.log_when: str | None = None  # the phase whose records it is capturing
        self.log_phase = 0  # when that phase started, in phases of the batch's tests
        self.warnings: list[warnings.WarningMessage] = []  # recorded, not yet reported
        self.warnings_reported = False  # its test is over: later ones are no test's
        # The sys.stdout/sys.stderr and uncaught-exception hooks the test set
        # and has not undone (see TurnGlobals), kept aside between its turns.
        self.own_globals: tuple[Any, Any, Any, Any] | None = None
        self.own_last_failure: tuple[Any, ...] | None = None  # likewise its sys.last_value, ...
        # Likewise the current event loop its sync code left (asyncio.run()
        # leaves none), when not the batch's.
        self.own_current_loop: tuple[asyncio.AbstractEventLoop | None] | None = None
        self.current_test_var: str | None = None  # its PYTEST_CURRENT_TEST
        self.coverage_context: str | None = None  # the coverage.py context it switched to
        # The warnings state the test set up and has not undone (its
        # pytest.warns, say), kept aside between its turns.
        self.own_warnings: OwnWarnings | None = None
        # Its ``random`` module state between its turns, when pytest-randomly
        # seeds it per test (see TurnGlobals).
        self.random_state: object = None
        # Where it was shown warnings Python shows once per place.
        self.shown_warnings: set[tuple[int, tuple[Any, ...]]] | None = None
        self.copies: dict[Any, Any] = {}  # function-scoped FixtureDef -> this test's copy
        # The shared fixture instances whose context variables it was given
        # (see alt_coop._shared_context).
        self.shared_values: set[Any] | None = None
        self.assertion: tuple[Any, Any] | None = None  # made on first use
        self.reports: list[pytest.TestReport] = []  # as pytest makes them
        self.reporting_seconds = 0.0  # the reporting hooks' time, in its last turn
        #: Its failures counted in ``session.testsfailed`` ahead of their reports.
        self.failures_counted = 0
        #: Whether the loop is turning once more at the end of a phase of
        #: its (see alt_coop._runner._last_turn), and whether that phase raised.
        self.last_turn = self.failing_turn = False
        # What --setup-show wrote for it, each with the number of its reports
        # made by then: where it goes among them when they are shown.
        # (A wider fixture's SETUP line is an object: see alt_coop._lane_output.)
        self.terminal_lines: list[tuple[int, Any]] | None = None
        # pytest's records of its unraisable and thread exceptions, not yet
        # queued for pytest; None once the test is over.
        self.uncaught: list[tuple[Any, Any]] | None = []

    def captured(self, which: str, errors: str = "strict") -> CapturedOutput:
        """The test's stream for ``"out"`` or ``"err"``, made with
        ``errors`` (see :class:`CapturedOutput`) on first use."""
        if which == "out":
            if self.out is None:
                self.out = CapturedOutput(errors)
            return self.out
        if self.err is None:
            self.err = CapturedOutput(errors)
        return self.err


CURRENT: contextvars.ContextVar[LaneState | None] = contextvars.ContextVar(
    "alt_coop_lane", default=None
)


def test_of_loop_error(context: dict[str, Any]) -> LaneState | None:
    """The test of the callback or task an asyncio error report is about,
    found through that callback's context (asyncio's ``Handle._context``)
    or, on Python 3.12 and later, that task's (``Task.get_context()``;
    3.11's tasks do not tell theirs)."""
    owner: Any = context.get("handle") or context.get("task") or context.get("future")
    get_context = getattr(owner, "get_context", None)  # a handle's or a task's, on 3.12+
    found = get_context() if get_context is not None else getattr(owner, "_context", None)
    return found.get(CURRENT) if isinstance(found, contextvars.Context) else None


class _BodiesInThreads:
    """The sync cooperative test bodies running in worker threads.

    While one runs, a change to process-wide state (the warnings state,
    ``sys.stdout``) may be its own, and cannot be told apart from a test's on
    the loop, so such changes stay process-wide meanwhile.
    """

    def __init__(self) -> None:
        #: The tests whose bodies run in threads now.
        self.nodeids: list[str] = []

    @contextlib.contextmanager
    def one_running(self, nodeid: str) -> Iterator[None]:
        self.nodeids.append(nodeid)
        try:
            yield
        finally:
            self.nodeids.remove(nodeid)


bodies_in_threads = _BodiesInThreads()


#: The interrupts a cooperative test's code outlived, each naming the line
#: it met the code at: its body ran on in its thread to its end, or its code
#: caught the interrupt's cancellation and raised an error of its own, which
#: is its outcome. The scheduler stops the run with it once the test is over.
outlived_interrupts: weakref.WeakKeyDictionary[LaneState, KeyboardInterrupt] = (
    weakref.WeakKeyDictionary()
)


#: The test that started each thread started during a batch.
started_by: weakref.WeakKeyDictionary[threading.Thread, LaneState] = weakref.WeakKeyDictionary()


def context_of(state: LaneState) -> contextvars.Context:
    """A fresh context, as a thread starts with, in which ``state``'s test runs."""
    context = contextvars.Context()
    context.run(CURRENT.set, state)
    return context
