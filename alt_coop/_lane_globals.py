"""pytest's process-wide state, made per test while cooperative tests run at once.

:func:`per_test_globals` sets up, for a batch, every router that makes one
of pytest's per-process states the running test's: output
(:mod:`alt_coop._lane_output`), the assertion-comparison hooks,
``PYTEST_CURRENT_TEST``, the test that threads and pool work belong to, and
coverage.py's context; :class:`TurnGlobals` swaps what a test changed of the
rest as its turns on the loop start and end. (Fixture instances, logs,
warnings and uncaught exceptions have modules of their own:
:mod:`alt_coop._fixture_instances`, :mod:`alt_coop._lane_logging`,
:mod:`alt_coop._lane_warnings`, :mod:`alt_coop._uncaught`.)

Private pytest names used here, checked on pytest 8.3.5, 8.4.2, 9.0.3 and
9.2.0: the assertion plugin's ``pytest_runtest_protocol`` and
``util._reprcompare``/``_assertion_pass``/``_config``,
``runner._update_current_test_var`` and ``runner.runtestprotocol``. And
one of asyncio's, read only: where its default policy keeps each thread's
current loop (see :func:`alt_coop._session_loop.current_loops`).

PYTEST_DONT_REWRITE (see alt_coop/__init__.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any, Protocol, TypeVar

import pytest
from _pytest import runner as _runner_module
from _pytest.assertion import pytest_runtest_protocol as _assertion_protocol
from _pytest.assertion import util as _assertion_util

from . import _coverage_support, _loaded_plugins, _session_loop
from ._lane_output import captured_per_test, setup_show_per_test
from ._lane_state import CURRENT, LaneState, bodies_in_threads
from ._lane_threads import threads_follow_their_test

T = TypeVar("T")


class _Turns(Protocol):
    def turn_ended(self, state: LaneState) -> None: ...
    def turn_starts(self, state: LaneState) -> None: ...


class TurnGlobals:
    """Process-wide state a test may change across its awaits, kept per test.

    ``sys.stdout``/``sys.stderr`` (``contextlib.redirect_stdout`` around an
    await, say), the current event loop where alt_coop made its own current
    (``asyncio.run()`` in a sync fixture leaves none as it ends: not for the
    sync code of the tests beside it, after their awaits), the hooks for
    uncaught exceptions (pytest 8.3 swaps them around each phase),
    ``PYTEST_CURRENT_TEST``, and the failure pytest keeps
    in ``sys.last_value`` and its kin for post-mortem debugging (which a
    teardown may read to tell whether its test failed): what a test set is put
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
        self._last = _last_failure()
        # The loop alt_coop made current, which it makes so again at each of
        # a test's hooks and fixtures; an application's is the application's
        # to make current.
        self._made = _session_loop.made_current()
        self._loops = _session_loop.current_loops() if _session_loop.makes_current() else None

    def turn_ended(self, state: LaneState) -> None:
        if self._warnings is not None:
            self._warnings.turn_ended(state)
        if self.random_per_test:
            state.random_state = random.getstate()
        # pytest sets these in the lane's turn (a plain def test's included: only
        # its body runs in a thread), so unlike the rest they are swapped always.
        # sys.__dict__ rather than getattr: no AttributeError made when unset.
        if sys.__dict__.get("last_value") is self._last[1]:
            state.own_last_failure = None  # the usual case
        else:
            state.own_last_failure = _last_failure()
            _set_last_failure(self._last)
        loops = self._loops
        if loops is not None:
            now = loops._loop
            state.own_current_loop = None if now is self._made else (now,)
        if (
            sys.stdout is self._out
            and sys.stderr is self._err
            and sys.unraisablehook is self._unraisable
            and threading.excepthook is self._thread_hook
        ):
            state.own_globals = None  # the usual case: nothing changed, or undone
        elif bodies_in_threads.nodeids:
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
        if state.own_last_failure is not None:
            _set_last_failure(state.own_last_failure)
        loops = self._loops
        if loops is not None:
            own_loop = state.own_current_loop
            wanted = self._made if own_loop is None else own_loop[0]
            if loops._loop is not wanted:
                asyncio.set_event_loop(wanted)
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


#: Where pytest keeps a test's failure for post-mortem debugging (as Python
#: does for an uncaught exception), cleared as a test's call starts.
_LAST_FAILURE = ("last_type", "last_value", "last_traceback", "last_exc")


def _last_failure() -> tuple[Any, ...]:
    return tuple(getattr(sys, name, None) for name in _LAST_FAILURE)


def _set_last_failure(values: tuple[Any, ...]) -> None:
    for name, value in zip(_LAST_FAILURE, values, strict=True):
        if value is not None:
            setattr(sys, name, value)
        elif hasattr(sys, name):
            delattr(sys, name)


@contextlib.contextmanager
def per_test_globals(config: pytest.Config) -> Iterator[TurnGlobals]:
    """Route pytest's per-process state to the running test, for a cooperative batch."""
    with contextlib.ExitStack() as stack:
        capman = config.pluginmanager.getplugin("capturemanager")
        if capman is not None and capman._method != "no":
            stack.enter_context(captured_per_test(capman))
        if getattr(config.option, "setupshow", False):  # -p no:setuponly: no option
            stack.enter_context(setup_show_per_test(config))
        stack.enter_context(_assertions_per_test(config))
        stack.enter_context(threads_follow_their_test())
        stack.enter_context(_forked_children_are_no_tests())
        turns = TurnGlobals()
        randomly = _loaded_plugins.get(config, "randomly", "pytest_randomly")
        turns.random_per_test = randomly is not None and bool(
            config.getoption("randomly_reset_seed", False)
        )
        stack.enter_context(_current_test_var_per_test(turns))
        turns.coverage = stack.enter_context(_coverage_support.contexts_per_test(CURRENT.get))
        yield turns


@contextlib.contextmanager
def _forked_children_are_no_tests() -> Iterator[None]:
    """A child a test forks (``os.fork``, multiprocessing's fork start
    method) copies the batch's routers, whose buffers die with it: what it
    printed or logged was lost. In the child nothing is a test's: its output
    goes where output written to the file descriptors goes (the terminal),
    as pytest's capture cannot be the test's across processes."""
    global _fork_hook_registered, _in_a_batch
    if not _fork_hook_registered:  # it cannot be taken back: once per process
        os.register_at_fork(after_in_child=_no_test_in_the_child)
        _fork_hook_registered = True
    _in_a_batch = True
    try:
        yield
    finally:
        _in_a_batch = False


_fork_hook_registered = False
_in_a_batch = False


def _no_test_in_the_child() -> None:
    if _in_a_batch:
        CURRENT.set(None)


@contextlib.contextmanager
def _assertions_per_test(config: pytest.Config) -> Iterator[None]:
    saved = _assertion_util._reprcompare, _assertion_util._assertion_pass, _assertion_util._config

    def reprcompare(op: str, left: object, right: object) -> str | None:
        __tracebackhide__ = True  # a conftest's pytest_assertrepr_compare may fail
        state = CURRENT.get()
        compare = _assertion_hooks(state)[0] if state is not None else None
        return compare(op, left, right) if compare is not None else None

    def assertion_pass(lineno: int, orig: str, expl: str) -> None:
        __tracebackhide__ = True
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
