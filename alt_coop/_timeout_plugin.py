"""pytest-timeout's signal method in a session on an application's running loop.

pytest-timeout arms ``SIGALRM`` and, when it fires, raises its failure in
whatever Python code runs then. In a session alt_coop drives (its own loop,
or a managed one it runs), that code is the test's, or the loop alt_coop
runs, which hands the failure to the test (see
:meth:`alt_coop._session_loop.SessionLoop.run`). Under ``await
alt_coop.main``, the application runs the loop: while an async test waits,
the signal lands in the application's ``select``, and the failure would
leave the application's ``asyncio.run`` (or, on uvloop, be logged and lost).

So in such a session alt_coop arms the timer itself (pytest-timeout's
``pytest_timeout_set_timer`` hook): when it fires in the test's own code,
pytest-timeout's handler raises there as usual; when it fires elsewhere, the
failure is kept for the session's task, which is cancelled once, and the
phase waiting there fails with it (see :func:`alt_coop._runner.run`).
pytest-timeout's own handler, ``timeout_sigalrm``, makes the failure and
dumps the stacks either way (checked on pytest-timeout 2.4).

PYTEST_DONT_REWRITE (see alt_coop/__init__.py).
"""

from __future__ import annotations

import asyncio
import signal
import threading
import weakref
from types import FrameType
from typing import Any

import pytest

from . import _cancels
from ._lanes import in_lane

#: The failure pytest-timeout raised outside the test's code, by the task it
#: is delivered to.
_failures: weakref.WeakKeyDictionary[asyncio.Task[Any], BaseException] = (
    weakref.WeakKeyDictionary()
)


def set_timer(item: pytest.Item, settings: Any, task: asyncio.Task[Any]) -> bool:
    """Arm pytest-timeout's timer for ``item``, whose phases run on ``task``.
    False where pytest-timeout's own arming serves (its thread method)."""
    if settings.method != "signal" or threading.current_thread() is not threading.main_thread():
        return False
    pytest_timeout = item.config.pluginmanager.get_plugin("timeout")  # its hook calls this
    fire = getattr(pytest_timeout, "timeout_sigalrm", None)
    if fire is None:  # another version: its own arming, as outside such sessions
        return False

    def on_alarm(signum: int, frame: FrameType | None) -> None:
        __tracebackhide__ = True
        if in_lane():  # the test's code (sync, or a step of its coroutine): as pytest-timeout does
            fire(item, settings)
            return
        try:
            fire(item, settings)  # dumps the stacks, then raises
        except BaseException as failure:  # delivered to the test, below
            if not task.done() and task not in _failures:
                _failures[task] = failure
                _cancels.cancel_own(task, "alt_coop: pytest-timeout's timeout")
                # The loop may be in select, which the signal does not end.
                task.get_loop().call_soon_threadsafe(_wake)

    def cancel() -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, signal.SIG_DFL)

    item.cancel_timeout = cancel  # type: ignore[attr-defined]  # pytest-timeout calls it
    signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, settings.timeout)
    return True


def _wake() -> None:
    """Nothing: called to end the loop's wait."""


def take_failure(task: asyncio.Task[Any]) -> BaseException | None:
    """pytest-timeout's failure kept for ``task``, if any (once): its
    cancellation is taken back from the task."""
    if not _failures:  # the usual case: checked at every phase's end
        return None
    failure = _failures.pop(task, None)
    if failure is not None:
        _cancels.uncancel_own(task)
    return failure
