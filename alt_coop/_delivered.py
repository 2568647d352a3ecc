"""Exceptions that belong to a running phase but are raised outside its code.

Two kinds reach a fixture phase or test from outside the code it runs:

- pytest-timeout's failure, raised by its signal handler in whatever the
  loop runs then (see :mod:`alt_coop._timeout_plugin`);
- a pytest outcome (``pytest.fail()``, ``pytest.skip()``, ``pytest.xfail()``)
  raised in a loop callback, or in a task nobody awaits, which asyncio would
  log and go on from (see :func:`outcomes_to_their_test`). A run with one
  test at a time takes those for its phase (see
  :meth:`alt_coop._session_loop.SessionLoop.run`); in a cooperative batch,
  each is the test's whose callback or task it is.

Each is kept here for the task running the phase, which is cancelled once
(its ``finally`` blocks run), and the phase ends with it in place of the
cancellation (see :func:`alt_coop._runner._run_phase`). The first one kept
wins, as the first stops the work in a run of one test at a time.

PYTEST_DONT_REWRITE (see alt_coop/__init__.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import weakref
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any

import pytest

from . import _cancels, _lane_warnings, _leftover_tasks, _tracebacks
from ._lane_state import CURRENT, test_of_loop_error
from ._session_loop import exception_handler_in_front, lost_to_asyncio
from .errors import AltCoopWarning


class _Kept:
    __slots__ = ("cancelled", "error", "waited_at", "where_waiting")

    def __init__(
        self, error: BaseException, where_waiting: bool, waited_at: TracebackType | None
    ) -> None:
        self.error = error
        #: Shown at the user's line the phase waited at (pytest-timeout's:
        #: where the signal struck says nothing), not where it was raised.
        self.where_waiting = where_waiting
        #: That line, as the error came (else the line the phase ended at).
        self.waited_at = waited_at
        self.cancelled = False  # the task was cancelled for it (taken back with it)


_kept: weakref.WeakKeyDictionary[asyncio.Task[Any], _Kept] = weakref.WeakKeyDictionary()


def deliver(
    task: asyncio.Task[Any],
    error: BaseException,
    reason: str,
    *,
    where_waiting: bool = False,
    waited_at: TracebackType | None = None,
) -> bool:
    """Keep ``error`` for the phase running on ``task`` and cancel the task
    once. False if the task is done or has one kept already."""
    if task.done() or task in _kept:
        return False
    _kept[task] = _Kept(error, where_waiting, waited_at)
    loop = task.get_loop()
    if task is asyncio.current_task(loop):
        # Raised by the task's own code (dropping a task it started): a
        # cancellation now would be the code's own, so it comes at the
        # loop's next turn, unless the phase is over by then.
        loop.call_soon(_cancel, task, reason)
    else:
        _cancel(task, reason)
    return True


def _cancel(task: asyncio.Task[Any], reason: str) -> None:
    kept = _kept.get(task)
    if kept is not None and not kept.cancelled and not task.done():
        kept.cancelled = True
        _cancels.cancel_own(task, reason)


def kept(task: asyncio.Task[Any]) -> bool:
    """Whether an exception is kept for the phase running on ``task``."""
    return bool(_kept) and task in _kept


_ECHO = "_alt_coop_echo"


def echo(error: BaseException) -> BaseException:
    """A copy of ``error``, handed to a phase, to raise where code runs that
    keeps it from the phase (see :mod:`alt_coop._timeout_plugin`): without
    its traceback, which the report shows; a pytest outcome the loop's
    exception handler meets is passed over, the phase having the original."""
    copied = copy.copy(error)
    setattr(copied, _ECHO, True)
    return copied


def is_echo(error: BaseException) -> bool:
    """Whether ``error`` is a copy :func:`echo` made."""
    return getattr(error, _ECHO, False) is True


def take(task: asyncio.Task[Any], came_out: BaseException | None = None) -> BaseException | None:
    """The exception kept for ``task``, if any (once), its cancellation taken
    back; ``came_out`` is what came out of the phase instead, if anything."""
    if not _kept:  # the usual case: checked at every phase's end
        return None
    kept = _kept.pop(task, None)
    if kept is None:
        return None
    if kept.cancelled:
        _cancels.uncancel_own(task)
    error = kept.error
    # Shown as a run of one test at a time shows it (see alt_coop._runner.run):
    # from the suite's own code that raised it, without asyncio's frames that
    # ran the callback; else at the user's line the phase waited at (where
    # pytest-timeout's signal struck says nothing).
    raised_at = None if kept.where_waiting else _tracebacks.from_suite_code(error.__traceback__)
    if raised_at is not None:
        return error.with_traceback(raised_at)
    where = kept.waited_at
    if where is None and came_out is not None:
        where = _tracebacks.last_user_entry(came_out.__traceback__)
    return error if where is None and not kept.where_waiting else error.with_traceback(where)


def outcomes_to_their_test(
    loop: asyncio.AbstractEventLoop, config: pytest.Config
) -> contextlib.AbstractContextManager[None]:
    """For a cooperative batch: a pytest outcome raised in a callback or a
    task nobody awaits goes to the test whose callback or task it is, found
    through its context (or, for a task dropped by the test's own code, the
    test running). One whose test is over, or not found, is no test's
    outcome: a warning names it (and its test, if known)."""

    def task_of(context: dict[str, Any]) -> asyncio.Task[Any] | None:
        state = test_of_loop_error(context) or CURRENT.get()
        if state is None or state.task is None:
            _no_tests(config, context["exception"], state.item if state is not None else None)
            return None
        return state.task

    return _outcomes_to(loop, task_of)


def outcomes_after_the_tests(
    loop: asyncio.AbstractEventLoop, config: pytest.Config, *, owned: bool
) -> contextlib.AbstractContextManager[None]:
    """For the session's end, as its loop runs what the tests left behind
    before closing: a pytest outcome raised in a callback or task then has
    no test left to take it (in a run of one test at a time, the next test
    would have); a warning names it, and the closing goes on. On a loop the
    session ``owned``, so does any other error asyncio reports then (a task
    left behind that raises as it is cancelled, an async generator's failing
    cleanup): asyncio logs it, and pytest shows no log of the session's end.
    (An application's loop, and its tasks, have the application's handler.)"""

    def task_of(context: dict[str, Any]) -> None:
        state = test_of_loop_error(context)
        item = state.item if state is not None else None
        _no_tests(config, context["exception"], item, at_the_end=True)

    def reported(context: dict[str, Any]) -> None:
        error = context["exception"]
        generator = context.get("asyncgen")
        if getattr(generator, "ag_running", False):
            # Closed while a task given up on runs it ("aclose(): asynchronous
            # generator is already running"): a warning names that task.
            return
        task = context.get("future")
        what = context.get("message") or "asyncio reported an error"
        if isinstance(task, asyncio.Task):
            what += f" ({_leftover_tasks.describe(task)})"
        warning = AltCoopWarning(
            f"alt_coop: {what}, as the session's loop closed after the last test: "
            f"{type(error).__name__}: {error}"
        )
        state = test_of_loop_error(context)
        item = state.item if state is not None else None
        where = _raised_at(error)
        if where is None:  # raised by no code of the suite's: where the task's code is
            written = _leftover_tasks.code_of(generator if generator is not None else task)
            if written is not None:
                where = written.co_filename, written.co_firstlineno, ""
        _lane_warnings.record_notice(config, warning, item, where)

    return _outcomes_to(loop, task_of, reported if owned else None)


def _no_tests(
    config: pytest.Config,
    error: BaseException,
    item: pytest.Item | None,
    *,
    at_the_end: bool = False,
) -> None:
    """``error`` was raised in a callback or task of ``item`` after it ended,
    or of no test alt_coop can tell (``at_the_end``: after every test)."""
    if item is not None:
        whose = f"of {item.nodeid} after that test had ended"
    elif at_the_end:
        whose = "after the last test had ended"
    else:
        whose = "alt_coop could not tie to a test"
    warning = AltCoopWarning(
        f"alt_coop: {type(error).__name__}: {error} was raised in a callback or task {whose}, "
        "so it is no test's outcome: have the test await what it starts"
        + (", or cancel it before the test ends" if item is not None or at_the_end else "")
    )
    _lane_warnings.record_notice(config, warning, item, _raised_at(error))


def _raised_at(error: BaseException) -> tuple[str, int, str] | None:
    """The line of the suite's code that raised ``error``, for a warning to
    show (file, line and module), if any."""
    raised_at = _tracebacks.from_suite_code(error.__traceback__)
    if raised_at is None:
        return None
    frame = raised_at.tb_frame
    return frame.f_code.co_filename, raised_at.tb_lineno, frame.f_globals.get("__name__", "")


def outcomes_to_the_phase(task: asyncio.Task[Any]) -> contextlib.AbstractContextManager[None]:
    """For a phase of one test at a time run on ``task``, in a lane (under
    ``await alt_coop.main``, where the loop is the application's to run): a
    pytest outcome raised in a callback or a task nobody awaits is the
    phase's, as :meth:`alt_coop._session_loop.SessionLoop.run` makes it
    where alt_coop runs the loop."""
    return _outcomes_to(task.get_loop(), lambda context: task)


@contextlib.contextmanager
def _outcomes_to(
    loop: asyncio.AbstractEventLoop,
    task_of: Callable[[dict[str, Any]], asyncio.Task[Any] | None],
    others: Callable[[dict[str, Any]], None] | None = None,
) -> Iterator[None]:
    """Within the block, a pytest outcome asyncio reports goes to the phase
    running on the task ``task_of`` finds (or is taken care of by it); any
    other error it reports, to ``others`` as well, if given."""

    def handler(context: dict[str, Any], pass_on: Callable[[dict[str, Any]], None]) -> None:
        error = context.get("exception")
        if others is not None and isinstance(error, Exception):
            others(context)  # and passed on, to the log or the application's handler
        elif lost_to_asyncio(error):
            assert isinstance(error, BaseException)
            task = task_of(context)
            if task is not None and (
                deliver(
                    task,
                    error,
                    "alt_coop: a pytest outcome raised in a callback or task of the test",
                )
                or is_echo(error)  # the phase has the original
            ):
                return
        pass_on(context)

    with exception_handler_in_front(loop, handler):
        yield
