"""Whose cancellation it is: alt_coop's own clocks', or someone else's.

A task that runs tests can be cancelled by alt_coop's clocks (a phase
timeout, a cooperative test's cap), which fail the phase, or from outside:
Ctrl-C, or the application cancelling the task that awaits ``alt_coop.main``,
which interrupt the session. asyncio counts every request on the task
(``Task.cancelling()``), and keeps counting one that the code it reached
swallowed (caught, and went on). So a request from outside counts here from
when it is *delivered* (thrown into the running code) until it comes back out
(an interrupt) or the code goes on without it (swallowed: settled, as a test
cancelling itself and catching it leaves it).

The count per task of each kind lives in weak dictionaries, so a finished
task takes its counts with it.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

_Counts = weakref.WeakKeyDictionary[asyncio.Task[Any], int]

#: Cancellations that alt_coop's clocks made and have not taken back.
_own: _Counts = weakref.WeakKeyDictionary()
#: Cancellations from outside, thrown into the running code, not yet resolved.
_delivered: _Counts = weakref.WeakKeyDictionary()
#: Cancellations from outside that the code swallowed.
_settled: _Counts = weakref.WeakKeyDictionary()

#: Set on a CancelledError thrown while requests from outside were pending.
_FROM_OUTSIDE = "_alt_coop_from_outside"

#: Tasks alt_coop made to run pytest or a cooperative test on. Only alt_coop
#: interrupts them (on Ctrl-C, or when their batch stops), so any other
#: cancellation of theirs is the running code's own doing (a test cancelling
#: its own task, or another test's), which fails that code like any error.
_made_here: weakref.WeakSet[asyncio.Task[Any]] = weakref.WeakSet()
#: Those of them alt_coop interrupted.
_interrupted: weakref.WeakSet[asyncio.Task[Any]] = weakref.WeakSet()


def made_here(task: asyncio.Task[Any]) -> None:
    """``task`` runs pytest or a cooperative test for alt_coop (see ``_made_here``)."""
    _made_here.add(task)


def interrupt(task: asyncio.Task[Any], message: str) -> None:
    """Cancel ``task`` to interrupt the session (Ctrl-C, or its batch stopping)."""
    _interrupted.add(task)
    task.cancel(message)


def is_interrupt(task: asyncio.Task[Any], error: BaseException) -> bool:
    """Whether ``error``, a CancelledError coming out of the code running on
    ``task``, interrupts the session rather than failing that code."""
    if task in _made_here:
        return task in _interrupted
    return came_from_outside(error)


def cancel_own(task: asyncio.Task[Any], message: str) -> None:
    """Cancel ``task`` on behalf of one of alt_coop's clocks."""
    _own[task] = _own.get(task, 0) + 1
    task.cancel(message)


def uncancel_own(task: asyncio.Task[Any], times: int = 1) -> None:
    """Take back ``times`` cancellations made by :func:`cancel_own`."""
    for _ in range(times):
        task.uncancel()
    _take(_own, task, times)


def delivering(error: BaseException) -> None:
    """``error`` is about to be thrown into the code running on the current task."""
    task = asyncio.current_task()
    if task is None or not isinstance(error, asyncio.CancelledError):
        return
    fresh = task.cancelling() - _own.get(task, 0) - _delivered.get(task, 0) - _settled.get(task, 0)
    if fresh > 0:
        _delivered[task] = _delivered.get(task, 0) + fresh
        setattr(error, _FROM_OUTSIDE, True)


def came_from_outside(error: BaseException) -> bool:
    """Whether ``error`` (a CancelledError coming out of the running code), or
    one it was raised while handling, was a cancellation from outside."""
    seen: BaseException | None = error
    while seen is not None:
        if getattr(seen, _FROM_OUTSIDE, False):
            return True
        seen = seen.__context__
    return False


def take_interrupt(task: asyncio.Task[Any]) -> None:
    """A cancellation from outside came back out: take it back from the task,
    so that the teardowns that follow can await."""
    task.uncancel()
    _take(_delivered, task, 1)


def settle() -> None:
    """The code running on the current task finished without letting the
    cancellations from outside delivered to it back out: it swallowed them."""
    if not _delivered:  # the usual case, and the end of every phase is hot
        return
    task = asyncio.current_task()
    if task is None:
        return
    delivered = _delivered.pop(task, 0)
    # What the code took back itself (asyncio.timeout and TaskGroup uncancel
    # the cancellations they make) was not swallowed: it no longer counts.
    settled = _settled.get(task, 0)
    swallowed = min(delivered, task.cancelling() - _own.get(task, 0) - settled)
    if swallowed > 0:
        _settled[task] = settled + swallowed


def take_back_settled(task: asyncio.Task[Any]) -> None:
    """Take back the cancellations tests swallowed on ``task``, a task of the
    application's that a session ran on."""
    for _ in range(_settled.pop(task, 0)):
        task.uncancel()


def _take(counts: _Counts, task: asyncio.Task[Any], times: int) -> None:
    left = counts.get(task, 0) - times
    if left > 0:
        counts[task] = left
    else:
        counts.pop(task, None)
