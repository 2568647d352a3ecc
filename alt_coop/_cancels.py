"""Whose cancellation it is: alt_coop's clocks', an interrupt, or the code's own.

The tasks pytest's code and the tests run on are alt_coop's own: a plain run's
session task, a cooperative test's task, ``alt_coop.main``'s session task. Three
kinds of cancellation reach them. alt_coop's clocks (a phase timeout, a
cooperative test's cap) fail the phase; alt_coop's interrupts (Ctrl-C, the
caller of ``alt_coop.main`` being cancelled, a batch stopping) interrupt the
session; any other (a test cancelling its own task, or another test's) is the
running code's own doing, and fails that code like any error. The first two
are made here, and recorded where they are made (an interrupt by its task,
here; a clock's by the clock, which knows it fired: see
:mod:`alt_coop._timeouts`), not guessed from counts that ``asyncio.timeout``
and ``TaskGroup`` change behind our back. One more is taken as an interrupt:
a runner's shutdown, which cancels every task at once, the caller of
``alt_coop.main`` among them (see :func:`adopt_shutdown`).

PYTEST_DONT_REWRITE (see alt_coop/__init__.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from types import TracebackType
from typing import Any

#: Tasks alt_coop made to run pytest or a cooperative test on.
_made_here: weakref.WeakSet[asyncio.Task[Any]] = weakref.WeakSet()
#: The user's tasks a cancellation of alt_coop's tasks was passed on to.
_passed_on: weakref.WeakSet[asyncio.Task[Any]] = weakref.WeakSet()
#: Interrupts of those tasks not yet taken back (each counts once).
_pending: weakref.WeakKeyDictionary[asyncio.Task[Any], int] = weakref.WeakKeyDictionary()
#: The cancellation each interrupt of those tasks first met their code with.
_thrown: weakref.WeakKeyDictionary[asyncio.Task[Any], BaseException] = weakref.WeakKeyDictionary()
#: Cooperative tests' tasks whose own sync code Ctrl-C came during, and its line.
_came_during: weakref.WeakKeyDictionary[asyncio.Task[Any], TracebackType | None] = (
    weakref.WeakKeyDictionary()
)


def passed_on(awaited: asyncio.Future[Any]) -> None:
    """A cancellation of alt_coop's task running a test was passed on to
    ``awaited``, a task the test awaits or a gather's future (whose tasks
    it cancelled: asyncio's ``_GatheringFuture._children``, on Python 3.11
    to 3.14)."""
    for task in (awaited, *getattr(awaited, "_children", ())):
        if isinstance(task, asyncio.Task):
            _passed_on.add(task)


def was_passed_on(task: asyncio.Task[Any]) -> bool:
    """Whether a cancellation was passed on to ``task`` (see :func:`passed_on`)."""
    return task in _passed_on


def made_here(task: asyncio.Task[Any]) -> None:
    """``task`` runs pytest or a cooperative test for alt_coop."""
    _made_here.add(task)


def is_made_here(task: asyncio.Task[Any]) -> bool:
    """Whether ``task`` runs pytest or a cooperative test for alt_coop."""
    return task in _made_here


def interrupt(task: asyncio.Task[Any], message: str) -> None:
    """Cancel ``task`` to interrupt the session (Ctrl-C, or its batch stopping)."""
    _pending[task] = _pending.get(task, 0) + 1
    if _callers:
        _interrupted_once.add(task)
    cancel(task, message)


def interrupt_in_sync_code(task: asyncio.Task[Any], where: TracebackType | None) -> None:
    """Interrupt ``task``, a cooperative test's, whose sync code held the
    loop at the line ``where`` as Ctrl-C came: its phase ends in the
    interrupt as that code returns or awaits, as a sequential test's does,
    rather than the test's teardown meeting it (see :func:`came_during`)."""
    _came_during[task] = where
    interrupt(task, "interrupted (Ctrl-C)")


def test_over(task: asyncio.Task[Any]) -> None:
    """``task``, a cooperative test's, is done: what was kept of its
    interrupt, whose frames may hold the task itself, is let go, and no
    later fixture setup (in a later session in this process, say) meets it."""
    if _came_during:
        _came_during.pop(task, None)
    if _thrown:
        _thrown.pop(task, None)


def any_came_during() -> bool:
    """Whether Ctrl-C came during any cooperative test's own sync code."""
    return bool(_came_during)


def came_during(task: asyncio.Task[Any]) -> tuple[bool, TracebackType | None]:
    """Whether Ctrl-C came during ``task``'s own sync code (its interrupt
    made then, not to be made again as its batch stops), and that code's line."""
    return (task in _came_during, _came_during.get(task)) if _came_during else (False, None)


def is_interrupt(task: asyncio.Task[Any], error: BaseException | None = None) -> bool:
    """Whether a cancellation coming out of the code running on ``task``
    (``error``, if known) interrupts the session rather than failing that code."""
    # A task of someone else's running a phase is beyond what alt_coop
    # supports; an interrupt is the outcome that loses least.
    return (
        task in _pending
        or task not in _made_here
        or (error is not None and adopt_shutdown(task, error))
    )


def interrupt_pending(task: asyncio.Task[Any]) -> bool:
    """Whether ``task`` has an interrupt the code running on it swallowed."""
    return bool(_pending) and task in _pending


def met_an_interrupt(task: asyncio.Task[Any], error: BaseException) -> bool:
    """Whether ``error``, a cancellation that alt_coop's code waiting on
    ``task`` met, is an interrupt: one pending, or a runner's shutdown's."""
    return interrupt_pending(task) or adopt_shutdown(task, error)


#: alt_coop's tasks interrupted once already under ``alt_coop.main``: a
#: cancellation they meet later is no shutdown's (see adopt_shutdown).
_interrupted_once: weakref.WeakSet[asyncio.Task[Any]] = weakref.WeakSet()
#: Those whose interrupt was a runner's shutdown's (see shut_down).
_shut_down: weakref.WeakSet[asyncio.Task[Any]] = weakref.WeakSet()


def _may_adopt(task: asyncio.Task[Any]) -> bool:
    """Whether a cancellation of ``task`` may be a runner's shutdown's: it is
    one of alt_coop's, never interrupted yet, and a caller of
    ``alt_coop.main`` on its loop was cancelled since it awaited it."""
    if not _callers or task not in _made_here or task in _interrupted_once:
        return False
    loop = task.get_loop()
    return any(
        watch.caller.get_loop() is loop and watch.caller.cancelling() > watch.at_start
        for watch in _callers.values()
    )


def _adopt(task: asyncio.Task[Any], cancels: int) -> None:
    _pending[task] = _pending.get(task, 0) + cancels
    _interrupted_once.add(task)
    _shut_down.add(task)


def adopt_shutdown(task: asyncio.Task[Any], error: BaseException) -> bool:
    """Whether ``error``, a cancellation coming out of the code running on
    ``task`` (one of alt_coop's, not interrupted yet), came with one of the
    caller of ``alt_coop.main``: a runner's shutdown (``asyncio.run``'s,
    after a ``SystemExit`` or once its main task ended at Ctrl-C) cancels
    every task left at once, in no set order, with no message (alt_coop's
    clocks give theirs one). None of it is the tests' doing: it is taken as
    alt_coop's interrupt, recorded here."""
    if not isinstance(error, asyncio.CancelledError) or error.args or not _may_adopt(task):
        return False
    _adopt(task, 1)
    return True


def adopt_pending_shutdown(task: asyncio.Task[Any]) -> bool:
    """Like :func:`adopt_shutdown`, before the cancellation comes out of the
    code: ``task`` has cancellations beyond alt_coop's interrupts, pending
    or being delivered, which the caller's shutdown made (the caller knows
    none of them is a clock's). Recorded as its interrupt, so that none is
    sent on top of it, cutting short the clean-up it began."""
    extra = task.cancelling() - _pending.get(task, 0)
    if extra <= 0 or not _may_adopt(task):
        return False
    _adopt(task, extra)
    return True


def shut_down(task: asyncio.Task[Any]) -> bool:
    """Whether ``task``'s interrupt was a runner's shutdown's, which
    cancelled every task: none needs another."""
    return bool(_shut_down) and task in _shut_down


def thrown_in(task: asyncio.Task[Any] | None, error: BaseException) -> None:
    """``error`` is thrown into the code ``task`` runs, where it waits: if
    it is the first cancellation since an interrupt, its traceback will name
    where the interrupt met that code, though the code swallow it and meet
    cancellations of its own later (see :func:`take_interrupt`)."""
    if (
        _pending
        and task is not None
        and task in _pending
        and isinstance(error, asyncio.CancelledError)
    ):
        _thrown.setdefault(task, error)


def interrupts_pending(task: asyncio.Task[Any]) -> int:
    """How many interrupts of ``task`` the code running on it has not taken."""
    return _pending.get(task, 0)


def cancel_own(task: asyncio.Task[Any], message: str) -> None:
    """Cancel ``task`` on behalf of one of alt_coop's clocks (which records
    that it fired; unlike :func:`interrupt`, nothing is recorded here)."""
    cancel(task, message)


def cancel(task: asyncio.Task[Any], message: str) -> None:
    """``task.cancel(message)``, once. Tasks that gather each other (each
    test's clean-up fixture gathering every other task, say) make asyncio's
    cancel recurse through them without end: such a task is left to the
    bounded waits that follow, which give up on it."""
    with contextlib.suppress(RecursionError):
        task.cancel(message)


def uncancel_own(task: asyncio.Task[Any], times: int = 1) -> None:
    """Take back ``times`` cancellations made by :func:`cancel_own`."""
    for _ in range(times):
        task.uncancel()


def take_interrupt(task: asyncio.Task[Any]) -> BaseException | None:
    """An interrupt came back out (or was swallowed): take it back from the
    task, so that the teardowns that follow can await, and later
    cancellations of the task are judged afresh. Every interrupt sent so
    far with it: a second one (Ctrl-C again, ``alt_coop.main`` cancelled
    again) only cut the first one's grace short, and one stop is enough;
    left pending, it would stop the teardown after it, and pytest's report
    with it. Returns the cancellation the interrupt first met the code
    with, if it did (see :func:`thrown_in`)."""
    for _ in range(max(_pending.pop(task, 0), 1)):
        task.uncancel()
    return _thrown.pop(task, None) if _thrown else None


class _CallerWatch:
    """The cancellations of ``alt_coop.main``'s caller that its session task
    has been told of, or has taken at a teardown's start."""

    def __init__(self, caller: asyncio.Task[Any]) -> None:
        self.caller = caller
        self.told = self.at_start = caller.cancelling()

    def news(self) -> int:
        """How many cancellations of the caller came since last asked."""
        new = self.caller.cancelling() - self.told
        self.told += max(new, 0)
        return new


#: ``alt_coop.main``'s session tasks, and their callers.
_callers: weakref.WeakKeyDictionary[asyncio.Task[Any], _CallerWatch] = weakref.WeakKeyDictionary()


def watch_caller(session: asyncio.Task[Any], caller: asyncio.Task[Any]) -> None:
    """``session`` runs ``alt_coop.main`` for ``caller``."""
    _callers[session] = _CallerWatch(caller)


def unwatch_caller(session: asyncio.Task[Any]) -> None:
    """``session`` is over (its task may live on, in a traceback, say)."""
    _callers.pop(session, None)


def caller_cancelled(session: asyncio.Task[Any]) -> bool:
    """Whether ``session``'s caller was cancelled since last asked: each
    cancellation counts once, here or at :func:`caller_cancelled_meanwhile`."""
    watch = _callers.get(session)
    return watch is not None and watch.news() > 0


def awaited_session_task() -> asyncio.Task[Any] | None:
    """``alt_coop.main``'s session task, if this code runs on one."""
    if not _callers:
        return None
    try:
        task = asyncio.current_task()
    except RuntimeError:  # no loop running in this thread: no alt_coop.main either
        return None
    return task if task is not None and task in _callers else None


def runs_main(task: asyncio.Task[Any]) -> bool:
    """Whether ``task`` is an ``alt_coop.main`` session's task."""
    return task in _callers


def main_running() -> bool:
    """Whether an ``alt_coop.main`` session runs."""
    return bool(_callers)


def caller_cancelled_since_start(session: asyncio.Task[Any] | None) -> bool:
    """Whether the caller of ``alt_coop.main`` whose session task is
    ``session`` was cancelled since it awaited it: the session stops,
    whether or not the cancellation reached its task yet (some turns of the
    loop, as many as the tasks in between take). Nothing is taken here."""
    watch = _callers.get(session) if session is not None and _callers else None
    return watch is not None and watch.caller.cancelling() > watch.at_start


def in_awaited_session() -> bool:
    """Whether this code runs on ``alt_coop.main``'s session task."""
    return awaited_session_task() is not None


#: The loop's turns a held-back cancellation takes to reach the code: see
#: held_back_callbacks_run.
HELD_BACK_TURNS = 3


async def held_back_callbacks_run() -> bool:
    """Let the loop run what sync code held back (a signal handler the
    application added, an ``asyncio.timeout`` whose deadline passed), which
    may cancel the caller of ``alt_coop.main``. Three turns, each running
    what the one before queued behind this task: the signal's wake-up is
    read in the first, its handler (or a due timer's callback) runs in the
    second, and the session's task sees what it did in the third (a
    cooperative test's task, further from the caller, may not yet: see
    :func:`caller_cancelled_since_start`). True if the caller's cancellation
    reached this task meanwhile (taken back here)."""
    task = asyncio.current_task()
    try:
        for _ in range(HELD_BACK_TURNS):
            await asyncio.sleep(0)
    except asyncio.CancelledError as error:
        if task is None or not met_an_interrupt(task, error):
            raise
        take_interrupt(task)
        return True
    return False


def caller_cancelled_meanwhile() -> bool:
    """Whether the caller of ``alt_coop.main`` running this code was
    cancelled while sync code ran (a sync test, or asyncio.run's Ctrl-C
    handler meanwhile), with nothing awaited since to deliver it."""
    task = awaited_session_task()
    return task is not None and caller_cancelled(task)
