"""Per-test state of a cooperative test, and pytest's globals made per test.

pytest keeps some state per process that a test's phases write to: captured
output, the assertion-comparison hook and ``PYTEST_CURRENT_TEST`` (fixture
instances, logs, warnings and uncaught exceptions have modules of their own:
:mod:`alt_coop._fixture_instances`, :mod:`alt_coop._lane_logging`,
:mod:`alt_coop._lane_warnings`, :mod:`alt_coop._uncaught`). While several
tests run at once, each of these is routed to the test whose code is running,
found through a context variable that its lane sets (and that the threads and
tasks it starts inherit).

Private pytest names used here, checked on pytest 8.3.5, 8.4.2, 9.0.3 and
9.2.0: ``CaptureManager.item_capture``/``suspend``/``resume`` (called by
pytest's debugger only)/``_method``/``_global_capturing`` (with
``MultiCapture.in_``/``_in_suspended``)
(its ``out``/``err`` captures' ``tmpfile``, and a tee's ``_other``),
``setuponly._show_fixture_action``, ``runner.show_test_item``,
``TerminalWriter._file``/``_current_line``, the assertion plugin's
``pytest_runtest_protocol`` and ``util._reprcompare``/``_assertion_pass``/
``_config``, ``runner._update_current_test_var`` and
``runner.runtestprotocol``.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import contextvars
import functools
import io
import logging
import os
import random
import sys
import threading
import warnings
import weakref
from collections.abc import Callable, Generator, Iterator
from typing import Any, Protocol, TextIO

import pytest
from _pytest import runner as _runner_module
from _pytest import setuponly as _setuponly_module
from _pytest.assertion import pytest_runtest_protocol as _assertion_protocol
from _pytest.assertion import util as _assertion_util

from . import _coverage_support


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
        "failures_counted",
        "item",
        "log_handlers",
        "log_when",
        "out",
        "own_globals",
        "own_warnings",
        "random_state",
        "reports",
        "shown_warnings",
        "terminal_lines",
        "uncaught",
        "warnings",
        "warnings_reported",
    )

    def __init__(self, item: pytest.Item) -> None:
        self.item = item
        self.capturing = False
        self.debugged = False  # pytest's debugger was entered during the test
        # Captured output of the running phase, made on its first write
        # (most tests print nothing).
        self.out: io.StringIO | None = None
        self.err: io.StringIO | None = None
        self.log_handlers: tuple[logging.Handler, ...] = ()
        self.log_when: str | None = None  # the phase whose records it is capturing
        self.warnings: list[warnings.WarningMessage] = []  # recorded, not yet reported
        self.warnings_reported = False  # its test is over: later ones are no test's
        # The sys.stdout/sys.stderr and uncaught-exception hooks the test set
        # and has not undone (see TurnGlobals), kept aside between its turns.
        self.own_globals: tuple[Any, Any, Any, Any] | None = None
        self.current_test_var: str | None = None  # its PYTEST_CURRENT_TEST
        self.coverage_context: str | None = None  # the coverage.py context it switched to
        # The warnings state the test set up and has not undone (its
        # pytest.warns, say), kept aside between its turns.
        self.own_warnings: tuple[list[Any], Any, Any] | None = None
        # Its ``random`` module state between its turns, when pytest-randomly
        # seeds it per test (see TurnGlobals).
        self.random_state: object = None
        # Where it was shown warnings Python shows once per place.
        self.shown_warnings: set[tuple[int, tuple[Any, ...]]] | None = None
        self.copies: dict[Any, Any] = {}  # function-scoped FixtureDef -> this test's copy
        self.assertion: tuple[Any, Any] | None = None  # made on first use
        self.reports: list[pytest.TestReport] = []  # as pytest makes them
        #: Its failures counted in ``session.testsfailed`` ahead of their reports.
        self.failures_counted = 0
        # What --setup-show wrote for it, each with the number of its reports
        # made by then: where it goes among them when they are shown.
        self.terminal_lines: list[tuple[int, str]] | None = None
        # pytest's records of its unraisable and thread exceptions, not yet
        # queued for pytest; None once the test is over.
        self.uncaught: list[tuple[Any, Any]] | None = []

    def captured(self, which: str) -> io.StringIO:
        """The running phase's buffer for ``"out"`` or ``"err"``."""
        if which == "out":
            if self.out is None:
                self.out = io.StringIO()
            return self.out
        if self.err is None:
            self.err = io.StringIO()
        return self.err


CURRENT: contextvars.ContextVar[LaneState | None] = contextvars.ContextVar(
    "alt_coop_lane", default=None
)


# -- output, logs, assertions, warnings, PYTEST_CURRENT_TEST ---------------------


class _Router(io.TextIOBase):
    """``sys.stdout``/``sys.stderr`` while tests run at once: each test's own buffer."""

    def __init__(self, real: TextIO, which: str, *, tee: bool) -> None:
        self._real = real
        self._which = which
        self._tee = tee  # --capture=tee-sys: captured and shown as it is written
        self.buffer = _BytesRouter(self)

    def write(self, text: str) -> int:
        state = CURRENT.get()
        if state is not None and state.capturing:
            if self._tee:
                self._real.write(text)
            return state.captured(self._which).write(text)
        return self._real.write(text)

    def write_bytes(self, data: bytes) -> int:
        state = CURRENT.get()
        if state is not None and state.capturing:
            # Captured only, even under tee-sys, as pytest's own capture does.
            state.captured(self._which).write(data.decode(self.encoding, "replace"))
            return len(data)
        real = getattr(self._real, "buffer", None)
        if real is None:
            self._real.write(data.decode(self.encoding, "replace"))
            return len(data)
        return int(real.write(data))

    def flush(self) -> None:
        self._real.flush()

    def close(self) -> None:
        """The real stream is not this router's to close (nor to flush when collected)."""

    def isatty(self) -> bool:
        return False

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        """The real stream's: what writes to it directly is not captured (see README)."""
        return int(self._real.fileno())

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._real, "encoding", "utf-8")

    @property
    def errors(self) -> str:  # type: ignore[override]
        return getattr(self._real, "errors", "strict")

    def __getattr__(self, name: str) -> Any:
        # The rest of a text stream's face (name, mode, line_buffering, ...).
        return getattr(self._real, name)


class _BytesRouter(io.BufferedIOBase):
    """``sys.stdout.buffer`` of a :class:`_Router`: bytes go where its text goes."""

    def __init__(self, text: _Router) -> None:
        self._text = text

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._text.fileno()

    def write(self, data: Any) -> int:
        return self._text.write_bytes(bytes(data))

    def flush(self) -> None:
        self._text.flush()

    def close(self) -> None:
        """Not this router's to close, as for the text router."""


class _BodiesInThreads:
    """Counts the sync cooperative test bodies running in worker threads.

    While one runs, a change to process-wide state (the warnings state,
    ``sys.stdout``) may be its own, and cannot be told apart from a test's on
    the loop, so such changes stay process-wide meanwhile.
    """

    def __init__(self) -> None:
        self.running = 0

    @contextlib.contextmanager
    def one_running(self) -> Iterator[None]:
        self.running += 1
        try:
            yield
        finally:
            self.running -= 1


bodies_in_threads = _BodiesInThreads()


class _Turns(Protocol):
    def turn_ended(self, state: LaneState) -> None: ...
    def turn_starts(self, state: LaneState) -> None: ...


class TurnGlobals:
    """Process-wide state a test may change across its awaits, kept per test.

    ``sys.stdout``/``sys.stderr`` (``contextlib.redirect_stdout`` around an
    await, say), the hooks for uncaught exceptions (pytest 8.3 swaps them
    around each phase) and ``PYTEST_CURRENT_TEST``: what a test set is put
    aside when its turn on the loop ends and put back when its next turn
    starts, so the tests running meanwhile keep the batch's and their own.
    It is the batch's one per-turn hook: the warnings state's swap (see
    :mod:`alt_coop._lane_warnings`) rides on it.
    """

    def __init__(self) -> None:
        self.record(None)
        self._test_var: str | None = None  # what this batch last wrote
        self.coverage: _coverage_support.CoverageContexts | None = None
        # pytest-randomly seeds the ``random`` module for each test, so that a
        # test's draws repeat: the state is then each test's, turn by turn.
        self.random_per_test = False

    def record(self, warnings_state: _Turns | None) -> None:
        """Take the current values as the batch's (once it is set up), and
        hand each turn on to ``warnings_state`` (the warnings' own swap)."""
        self._warnings = warnings_state
        self._out, self._err = sys.stdout, sys.stderr
        self._unraisable, self._thread_hook = sys.unraisablehook, threading.excepthook

    def turn_ended(self, state: LaneState) -> None:
        if self._warnings is not None:
            self._warnings.turn_ended(state)
        if self.random_per_test:
            state.random_state = random.getstate()
        if (
            sys.stdout is self._out
            and sys.stderr is self._err
            and sys.unraisablehook is self._unraisable
            and threading.excepthook is self._thread_hook
        ):
            state.own_globals = None  # the usual case: nothing changed, or undone
        elif bodies_in_threads.running:
            state.own_globals = None  # left in force, process-wide (see README)
        else:
            state.own_globals = (
                sys.stdout,
                sys.stderr,
                sys.unraisablehook,
                threading.excepthook,
            )
            sys.stdout, sys.stderr = self._out, self._err
            sys.unraisablehook, threading.excepthook = self._unraisable, self._thread_hook

    def turn_starts(self, state: LaneState) -> None:
        if self._warnings is not None:
            self._warnings.turn_starts(state)
        own = state.own_globals
        if own is not None:
            sys.stdout, sys.stderr, sys.unraisablehook, threading.excepthook = own
        if state.current_test_var != self._test_var:
            self.show_test_var(state.current_test_var)
        if self.coverage is not None:
            self.coverage.turn_starts(state)
        if state.random_state is not None:
            random.setstate(state.random_state)  # type: ignore[arg-type]

    def show_test_var(self, value: str | None) -> None:
        self._test_var = value
        if value is None:
            os.environ.pop("PYTEST_CURRENT_TEST", None)
        else:
            os.environ["PYTEST_CURRENT_TEST"] = value


@contextlib.contextmanager
def per_test_globals(config: pytest.Config) -> Iterator[TurnGlobals]:
    """Route pytest's per-process state to the running test, for a cooperative batch."""
    with contextlib.ExitStack() as stack:
        capman = config.pluginmanager.getplugin("capturemanager")
        if capman is not None and capman._method != "no":
            stack.enter_context(_captured_per_test(capman))
        if getattr(config.option, "setupshow", False):  # -p no:setuponly: no option
            stack.enter_context(_setup_show_per_test(config))
        stack.enter_context(_assertions_per_test(config))
        stack.enter_context(_threads_follow_their_test())
        turns = TurnGlobals()
        turns.random_per_test = config.pluginmanager.has_plugin("randomly") and bool(
            config.getoption("randomly_reset_seed", False)
        )
        stack.enter_context(_current_test_var_per_test(turns))
        turns.coverage = stack.enter_context(_coverage_support.contexts_per_test(CURRENT.get))
        yield turns


@contextlib.contextmanager
def _threads_follow_their_test() -> Iterator[None]:
    """Threads a test starts, and work it hands to a thread pool
    (``loop.run_in_executor``), run as that test's: their output, log records
    and uncaught exceptions are its own, as in a sequential run.

    A thread starts with a context of its own, so the test is carried over
    by hand; a pool's worker gets it per piece of work, as one worker serves
    many tests. Through ``Context.run``, which adds no frame to tracebacks.
    """
    start, submit = threading.Thread.start, concurrent.futures.ThreadPoolExecutor.submit

    def start_as_test(thread: threading.Thread) -> None:
        state = CURRENT.get()
        if state is not None:
            started_by[thread] = state
            thread.run = functools.partial(context_of(state).run, thread.run)  # type: ignore[method-assign]
        start(thread)

    def submit_as_test(
        executor: concurrent.futures.ThreadPoolExecutor, fn: Any, /, *args: Any, **kwargs: Any
    ) -> Any:
        state = CURRENT.get()
        if state is None:
            return submit(executor, fn, *args, **kwargs)
        fn = functools.partial(context_of(state).run, fn)
        # Outside the test: a worker this starts serves every test after it.
        return contextvars.Context().run(submit, executor, fn, *args, **kwargs)

    threading.Thread.start = start_as_test  # type: ignore[method-assign, assignment]
    concurrent.futures.ThreadPoolExecutor.submit = submit_as_test  # type: ignore[method-assign, assignment]
    try:
        yield
    finally:
        threading.Thread.start = start  # type: ignore[method-assign]
        concurrent.futures.ThreadPoolExecutor.submit = submit  # type: ignore[method-assign]


#: The test that started each thread started during a batch.
started_by: weakref.WeakKeyDictionary[threading.Thread, LaneState] = weakref.WeakKeyDictionary()


def context_of(state: LaneState) -> contextvars.Context:
    """A fresh context, as a thread starts with, in which ``state``'s test runs."""
    context = contextvars.Context()
    context.run(CURRENT.set, state)
    return context


@contextlib.contextmanager
def _captured_per_test(capman: Any) -> Iterator[None]:
    original = capman.item_capture

    @contextlib.contextmanager
    def item_capture(when: str, item: pytest.Item) -> Generator[None]:
        state = CURRENT.get()
        if state is None:
            with original(when, item):
                yield
            return
        state.out = state.err = None
        state.capturing = True
        try:
            yield
        finally:
            state.capturing = False
            for key, stream in (("stdout", state.out), ("stderr", state.err)):
                if stream is not None:
                    item.add_report_section(when, key, stream.getvalue())
            state.out = state.err = None

    # pytest's debugger (breakpoint(), pytest.set_trace()) suspends capture to
    # talk to the terminal, and resumes it on continue. The debugged test's
    # own capture pauses meanwhile. pytest's global capture of output stays
    # suspended, as through the whole batch: resumed, even for a moment, it
    # would swallow the terminal's output and put pytest's streams in place of
    # the routers, under the other tests (still running when the debugger is
    # in a worker thread). Only stdin, which the debugger reads, is resumed.
    paused: dict[LaneState | None, bool] = {}

    def suspend(in_: bool = False) -> None:
        state = CURRENT.get()
        if state not in paused:
            paused[state] = state is not None and state.capturing
        if state is not None:
            state.capturing = False
        routers = sys.stdout, sys.stderr
        capman_suspend(in_)
        sys.stdout, sys.stderr = routers  # --capture=sys put pytest's streams back

    def resume() -> None:
        capturing = capman._global_capturing
        if capturing is not None and capturing._in_suspended and capturing.in_ is not None:
            capturing.in_.resume()
            capturing._in_suspended = False
        capman.resume_fixture()
        state = CURRENT.get()
        if state in paused:
            capturing_before = paused.pop(state)
            if state is not None:
                state.capturing = capturing_before

    capman_suspend = capman.suspend
    saved = sys.stdout, sys.stderr
    tee = capman._method == "tee-sys"
    sys.stdout, sys.stderr = _Router(saved[0], "out", tee=tee), _Router(saved[1], "err", tee=tee)
    # Code that kept pytest's own capture streams from before the batch (a
    # logging.StreamHandler made at import, say) writes to them: routed too.
    capturing = capman._global_capturing
    kept = [
        (stream, which)
        for which in ("out", "err")
        if (stream := getattr(getattr(capturing, which, None), "tmpfile", None)) is not None
    ]
    capman.item_capture, capman.suspend, capman.resume = item_capture, suspend, resume
    try:
        for stream, which in kept:
            _route(stream, which, tee=tee)
        yield
    finally:
        del capman.item_capture, capman.suspend, capman.resume
        sys.stdout, sys.stderr = saved
        for stream, _ in kept:
            vars(stream).pop("write", None)


def _route(stream: Any, which: str, *, tee: bool) -> None:
    """Send what is written to pytest's capture ``stream`` to the running
    test's ``which`` output while it captures (under tee-sys, shown as well,
    on the terminal stream pytest's tee writes to)."""
    original = stream.write
    echo = getattr(stream, "_other", None) if tee else None

    def write(text: str) -> int:
        state = CURRENT.get()
        if state is None or not state.capturing:
            return int(original(text))
        if echo is not None:
            echo.write(text)
        return state.captured(which).write(text)

    stream.write = write


@contextlib.contextmanager
def _setup_show_per_test(config: pytest.Config) -> Iterator[None]:
    """``--setup-show``: the lines it shows for a test go with its results.

    pytest writes them to the terminal as each fixture is set up or torn
    down, between the test's results; with tests running at once, they would
    interleave. Each test's are kept, and written among its results.
    """
    terminal = config.get_terminal_writer()
    capman = config.pluginmanager.getplugin("capturemanager")
    originals = _setuponly_module._show_fixture_action, _runner_module.show_test_item

    def kept(original: Callable[..., None]) -> Callable[..., None]:
        def show(*args: Any, **kwargs: Any) -> None:
            state = CURRENT.get()
            if state is None:
                original(*args, **kwargs)
                return
            saved = terminal._file, terminal._current_line, sys.stdout, sys.stderr
            terminal._file = buffer = io.StringIO()
            try:
                original(*args, **kwargs)
            finally:
                # It also suspends and resumes pytest's global capture, which
                # stays suspended during a batch (or fd-level capture would
                # swallow the terminal's output), and puts pytest's streams
                # back in place of the tests' routers.
                if capman is not None and original is originals[0]:
                    capman.suspend_global_capture()
                terminal._file, terminal._current_line, sys.stdout, sys.stderr = saved
            if state.terminal_lines is None:
                state.terminal_lines = []
            state.terminal_lines.append((len(state.reports), buffer.getvalue()))

        return show

    _setuponly_module._show_fixture_action = kept(originals[0])
    _runner_module.show_test_item = kept(originals[1])
    try:
        yield
    finally:
        _setuponly_module._show_fixture_action, _runner_module.show_test_item = originals


def show_terminal_lines(state: LaneState, reports_shown: int) -> None:
    """Write the ``--setup-show`` lines of ``state``'s test that come before
    its report number ``reports_shown``."""
    lines = state.terminal_lines
    if not lines:
        return
    terminal = state.item.config.get_terminal_writer()
    while lines and lines[0][0] <= reports_shown:
        terminal.write(lines.pop(0)[1])
    terminal.flush()


@contextlib.contextmanager
def _assertions_per_test(config: pytest.Config) -> Iterator[None]:
    saved = _assertion_util._reprcompare, _assertion_util._assertion_pass, _assertion_util._config

    def reprcompare(op: str, left: object, right: object) -> str | None:
        state = CURRENT.get()
        compare = _assertion_hooks(state)[0] if state is not None else None
        return compare(op, left, right) if compare is not None else None

    def assertion_pass(lineno: int, orig: str, expl: str) -> None:
        state = CURRENT.get()
        passed = _assertion_hooks(state)[1] if state is not None else None
        if passed is not None:
            passed(lineno, orig, expl)

    routed = reprcompare, assertion_pass

    def _assertion_hooks(state: LaneState) -> tuple[Any, Any]:
        """The hooks pytest's assertion plugin makes for the test, made on first use.

        The plugin makes them as the test's protocol starts and keeps its
        frame suspended until it ends; made only when a comparison asks,
        thousands of tests in flight keep none.
        """
        if state.assertion is None:
            hooks = _assertion_protocol(state.item)
            next(hooks)
            made = _assertion_util._reprcompare, _assertion_util._assertion_pass
            hooks.close()  # puts the routers back and clears _config
            _assertion_util._reprcompare, _assertion_util._assertion_pass = routed
            _assertion_util._config = config
            # A hook the plugin did not replace is the router itself: none.
            state.assertion = (
                None if made[0] is reprcompare else made[0],
                None if made[1] is assertion_pass else made[1],
            )
        return state.assertion

    _assertion_util._reprcompare, _assertion_util._assertion_pass = routed
    _assertion_util._config = config
    try:
        yield
    finally:
        _assertion_util._reprcompare, _assertion_util._assertion_pass, _assertion_util._config = (
            saved
        )


@contextlib.contextmanager
def _current_test_var_per_test(turns: TurnGlobals) -> Iterator[None]:
    original: Callable[..., None] = _runner_module._update_current_test_var

    def update(item: pytest.Item, when: str | None) -> None:
        value = f"{item.nodeid} ({when})".replace("\x00", "(null)") if when else None
        state = CURRENT.get()
        if state is not None:
            state.current_test_var = value  # put back at each of its turns
        turns.show_test_var(value)

    _runner_module._update_current_test_var = update
    try:
        yield
    finally:
        _runner_module._update_current_test_var = original


runtestprotocol = _runner_module.runtestprotocol
