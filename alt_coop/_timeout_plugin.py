"""pytest-timeout's signal method, delivered to the phase it times.

pytest-timeout arms ``SIGALRM`` and, when it fires, raises its failure in
whatever Python code runs then: the test's own (what it means to stop), but
also a task the test started, which the failure would end instead of the
test, or, under ``await alt_coop.main``, the application's loop, whose
``asyncio.run`` it would leave (on uvloop: logged and lost).

So alt_coop arms the timer itself (pytest-timeout's ``pytest_timeout_set_timer``
hook) and, when it fires while the loop runs something other than the
test's own code, hands the failure on:

- on a loop alt_coop runs, in the code of a plain callback of the
  session's, it is raised there, as a ``pytest.fail()`` there is its test's
  outcome; elsewhere (the application's callback too) it is
  raised in a loop callback, where alt_coop takes pytest's outcomes for the
  phase running (see :meth:`alt_coop._session_loop.SessionLoop.run`), which
  is cancelled, given the grace period, and fails with it;
- under ``await alt_coop.main``, it is kept for the session's task, which is
  cancelled once, and the phase waiting there fails with it (see
  :mod:`alt_coop._delivered`).

Handed on through the loop, the failure waits for the loop to come back:
until the test is over, the timer looks every grace period, and code that
has held the loop all that time (a task or callback that never gives it
back) has a copy raised where it runs, as pytest-timeout would have.

pytest-timeout's own handler, ``timeout_sigalrm``, makes the failure and
dumps the stacks either way (checked on pytest-timeout 2.4).

PYTEST_DONT_REWRITE (see alt_coop/__init__.py).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
from types import FrameType
from typing import Any

import pytest

from . import _delivered, _runner, _tracebacks
from ._lanes import in_lane, retrieve_exception
from ._leftover_tasks import CANCEL_GRACE_SECONDS
from ._session_loop import SessionLoop


def set_timer(
    item: pytest.Item,
    settings: Any,
    session_loop: SessionLoop,
    awaited: asyncio.Task[Any] | None,
) -> bool:
    """Arm pytest-timeout's timer for ``item``, run on ``session_loop`` (by
    the application, with its phases on the task ``awaited``, under ``await
    alt_coop.main``). False where pytest-timeout's own arming serves (its
    thread method)."""
    loop = session_loop.loop
    if (
        settings.method != "signal"
        or threading.current_thread() is not threading.main_thread()
        or (awaited is not None and awaited.done())
    ):
        return False
    # Its hook calls this, so it is imported; looked up by its module, as it
    # is registered under the name it was loaded by ("timeout" or "pytest_timeout").
    fire = getattr(sys.modules.get("pytest_timeout"), "timeout_sigalrm", None)
    if fire is None:  # another version: its own arming
        return False

    handed: BaseException | None = None  # the failure, handed on through the loop
    loop_away = False  # the loop has not run what the last look queued
    held_looks = 0  # looks in a row that found the loop held

    def loop_back() -> None:
        nonlocal loop_away, held_looks
        loop_away, held_looks = False, 0

    def look_again() -> None:
        nonlocal loop_away
        if loop.is_closed():  # the session is over (the test's end never disarmed it)
            return
        loop_away = True
        loop.call_soon_threadsafe(loop_back)  # also ends the loop's wait in select
        signal.setitimer(signal.ITIMER_REAL, CANCEL_GRACE_SECONDS)

    def on_alarm(signum: int, frame: FrameType | None) -> None:
        nonlocal handed, held_looks
        __tracebackhide__ = True
        if handed is not None:
            # The failure was handed on through the loop: until the test is
            # over (pytest-timeout then disarms the timer), the loop is looked
            # at every grace period. Held all that time by code that never
            # gives it back (a spinning task, a blocking callback), which
            # keeps the failure from the test, or the test from ending, the
            # failure is raised there, as pytest-timeout does (the loop, given
            # back, hands the test its own). In the application's code, which
            # may only be busy, only after a few looks.
            if loop_away and session_loop.runs_code():
                held_looks += 1
                if (
                    session_loop.in_the_sessions_code()
                    or held_looks >= _LOOKS_BEFORE_THE_APPLICATIONS_CODE
                ):
                    task = asyncio.current_task()
                    if task is not None:  # ended by it, the test's report shows it
                        task.add_done_callback(retrieve_exception)
                    look_again()
                    raise _delivered.echo(handed)
            look_again()
            return
        if (
            in_lane()
            or not session_loop.runs_code()
            or (
                awaited is None
                and _in_a_callbacks_own_code(frame)
                and session_loop.in_the_sessions_code()
            )
        ):
            # In the test's own code, or in a callback of the session's (not
            # the application's), where a pytest.fail() is its test's outcome
            # (also in one the test's last step queued, which a failure raised
            # later would miss): as pytest-timeout does.
            fire(item, settings)
            return
        try:
            fire(item, settings)  # dumps the stacks, then raises
        except BaseException as failure:
            if awaited is None:
                # In the loop, or in a task the test started: raised there, it
                # would end that task. Raised in a callback instead, where
                # alt_coop's loop hands pytest's outcomes to the phase running.
                session_loop.raise_in_the_work(failure, _tracebacks.suite_line_running(frame))
            elif not _delivered.deliver(
                awaited,
                failure,
                "alt_coop: pytest-timeout's timeout",
                where_waiting=True,
                # Or, the phase's code done (its last turn), the line struck.
                waited_at=_runner.awaited_phase_waiting_at(awaited)
                or _tracebacks.suite_line_running(frame),
            ):
                return
            handed = failure
            look_again()

    def cancel() -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, signal.SIG_DFL)

    item.cancel_timeout = cancel  # type: ignore[attr-defined]  # pytest-timeout calls it
    signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, settings.timeout)
    return True


#: Grace periods in a row the application's code may hold the loop, a
#: test's timeout handed on through it, before the failure is raised there.
_LOOKS_BEFORE_THE_APPLICATIONS_CODE = 5
_ASYNCIO_DIR = os.path.dirname(asyncio.__file__)
_ALT_COOP_DIR = os.path.dirname(__file__)
#: asyncio's (uvloop's handles are compiled; if asyncio's were one day: None, never met).
_HANDLE_RUN = getattr(getattr(asyncio.Handle, "_run", None), "__code__", None)


def _in_a_callbacks_own_code(frame: FrameType | None) -> bool:
    """Whether ``frame`` is in the code of a plain callback (``call_soon``'s,
    a future's done callback), run by asyncio's ``Handle._run``, outside any
    task: raised there, an exception ends only that callback. Not in
    asyncio's or alt_coop's own callbacks, whose state it would break. On
    uvloop, whose handles have no Python frame, never."""
    callee = None
    while frame is not None:
        if frame.f_code is _HANDLE_RUN:
            return (
                callee is not None
                and asyncio.current_task() is None
                and os.path.dirname(callee.f_code.co_filename) not in (_ASYNCIO_DIR, _ALT_COOP_DIR)
            )
        callee, frame = frame, frame.f_back
    return False
