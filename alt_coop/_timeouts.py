"""Per-phase timeouts for async fixtures and tests.

Every async fixture setup, async fixture teardown and async test gets one
:class:`PhaseTimeout`. Its clock starts when the phase starts, but the timer
is only armed when the coroutine first waits, so work that never waits costs
nothing. When it fires it asks the debugger policy, records where the
coroutine was waiting (before cancelling, while the frames still say so),
and cancels the driving task exactly once. Whatever the coroutine does with
that cancellation, the phase is reported as timed out; one that ignores it
for :data:`ABANDON_GRACE_SECONDS` is abandoned (one more cancellation, which
the coroutine never sees). :class:`TaskCap` is the clock on a cooperative
test's whole run (``--asyncio-task-timeout``), above its phases' clocks.

PYTEST_DONT_REWRITE (see alt_coop/__init__.py).
"""

from __future__ import annotations

import asyncio
import contextvars
import math
import threading
import weakref
from collections.abc import Coroutine
from types import TracebackType
from typing import Any

import pytest

from . import _deadlines
from ._cancels import cancel_own, interrupt_pending, uncancel_own
from ._debugger import AfterDebugging, DebuggerPolicy, after_debugging
from ._lanes import hold_on, let_go
from ._tracebacks import describe_waiting, waiting_line, where_thread_is

BUILTIN_DEFAULT_SECONDS = 5.0

#: What a timeout report adds when that default fired: the first one a suite
#: moving from another plugin meets, with nothing in it saying where it is set.
BUILTIN_DEFAULT_HINT = (
    f". {BUILTIN_DEFAULT_SECONDS:g}s is alt_coop's default: give one fixture or test more with "
    "async_timeout.set_timeout_seconds(), or change the default (default_async_timeout in "
    "the ini file, --default-async-timeout, or a *_default_async_timeout fixture)"
)

#: Once a timeout has cancelled, how long the coroutine gets to finish
#: before alt_coop stops stepping it and reports it as abandoned.
ABANDON_GRACE_SECONDS = 2.0

#: How a report says that happened.
NOT_ENDED = (
    f"; it did not end within {ABANDON_GRACE_SECONDS:g}s of being cancelled, and was abandoned"
)


def check_seconds(value: object, source: str) -> float:
    """``value`` as seconds, or a ValueError that names where it came from."""
    __tracebackhide__ = True
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{source} must be a positive number of seconds, got {value!r}")
    try:
        seconds = float(value)
    except (ValueError, OverflowError):  # OverflowError: an int too large for a float
        raise ValueError(f"{source} must be a positive number of seconds, got {value!r}") from None
    if not (seconds > 0 and math.isfinite(seconds)):
        raise ValueError(f"{source} must be a positive number of seconds, got {value!r}")
    return seconds


class PhaseTimeout:
    """The ``async_timeout`` an async fixture phase or test receives.

    Implements :class:`alt_coop.protocols.AsyncTimeout`.
    """

    __slots__ = (
        "_abandon",
        "_cancels",
        "_coro",
        "_deadline",
        "_loop",
        "_outer",
        "_paused",
        "_paused_at",
        "_policy",
        "_started_at",
        "_task",
        "_test",
        "abandoning",
        "fired",
        "hint",
        "in_last_turn",
        "label",
        "phase",
        "stuck_because",
        "subject",
        "timeout_seconds",
        "waited_at",
        "where",
    )

    def __init__(self, seconds: float, label: str, policy: DebuggerPolicy) -> None:
        self.timeout_seconds = seconds
        self._test: object = None  # whose phase it times, for the debugger policy
        self.label = label
        self.hint = ""  # said after the report (see BUILTIN_DEFAULT_HINT)
        #: Why the lock wait it fires in never ended (see WaiterClocks.run_stuck).
        self.stuck_because = ""
        self.phase = "call"
        #: The phase's code has returned; the loop turns once more for what
        #: it queued (see alt_coop._runner._last_turn): it waits nowhere.
        self.in_last_turn = False
        #: What to describe when it fires, if not the coroutine being run
        #: (an async generator fixture, rather than the step awaiting it).
        self.subject: object = None
        self._policy = policy
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[Any] | None = None
        self._coro: Coroutine[Any, Any, Any] | None = None
        #: Its deadline, or, put off while another test's debugger traced, its next look.
        self._deadline: _deadlines.Deadline | AfterDebugging | None = None
        self._abandon: asyncio.TimerHandle | AfterDebugging | None = None
        self._started_at = 0.0
        self._cancels = 0
        self._paused = False
        self._paused_at = 0.0
        self._outer: PhaseTimeout | None = None
        self.fired = False
        self.abandoning = False
        self.where = ""
        self.waited_at: TracebackType | None = None  # the line self.where names

    def set_timeout_seconds(self, seconds: float) -> None:
        seconds = check_seconds(seconds, "set_timeout_seconds()")
        if self.fired:
            return  # too late, and the report says what the phase had when it fired
        self.timeout_seconds = seconds
        self.hint = ""
        if self._loop is not None:
            self._started_at = self._loop.time()
            if self._deadline is not None:
                self._forget()
                self._arm()

    def start(
        self, coro: Coroutine[Any, Any, Any], phase: str, outer: PhaseTimeout | None = None
    ) -> None:
        """Start the clock for ``coro``; call from inside the driving task.

        ``outer`` is the timeout of the phase this one runs within (a test
        calling ``request.getfixturevalue``), whose coroutine waits whenever
        this one does.
        """
        self.phase = phase
        self._outer = outer
        # A fixture's teardown may be another test's doing than its setup.
        self._test = self._policy.current_test()
        self.fired = self.abandoning = False
        self.where = ""
        self.waited_at = None
        self.stuck_because = ""
        self._coro = coro
        self._loop = loop = asyncio.get_running_loop()
        self._task = asyncio.current_task(loop)
        self._started_at = loop.time()

    def on_block(self) -> None:
        """The coroutine waits for the first time: arm the timer now."""
        if self._deadline is None and self._task is not None and not self._paused:
            self._arm()
        if self._outer is not None:
            self._outer.on_block()

    @property
    def outer(self) -> PhaseTimeout | None:
        """The timeout of the phase this one runs inside, if any."""
        return self._outer

    def pause(self) -> None:
        """Stop the clock (while waiting for an alt_coop.Lock)."""
        self._paused = True
        if self._loop is not None:
            self._paused_at = self._loop.time()
        if self._deadline is not None:
            self._forget()

    def resume(self) -> None:
        """Start the clock again where it stopped."""
        self._paused = False
        if self._loop is not None and not self.fired:
            self._started_at += max(self._loop.time() - self._paused_at, 0.0)
            self._arm()

    def _arm(self) -> None:
        assert self._loop is not None
        loop = self._loop
        self._deadline = _deadlines.of_loop(loop).call_at(
            loop, self._started_at + self.timeout_seconds, self._fire
        )

    def _forget(self) -> None:
        assert self._deadline is not None
        self._deadline.cancel()
        self._deadline = None

    def may_cancel(self) -> bool:
        """Whether the debugger policy lets a clock of this phase cancel it now."""
        return self._policy.may_cancel(self._test)

    def _fire(self) -> None:
        self._deadline = None
        task, loop = self._task, self._loop
        if task is None or loop is None or task.done():
            return
        if not self.may_cancel():
            if self._policy.may_cancel_later(self._test):  # another test's debugger traces
                self._deadline = after_debugging(loop, self._fire)
            return
        if interrupt_pending(task):
            # Interrupted (Ctrl-C), and still within the interrupt's grace,
            # which gives up on it if it ignores that cancellation: a second
            # one would cut its clean-up short.
            return
        cap = capped_tasks.get(task) if capped_tasks else None
        if cap is not None and cap.due <= self._started_at + self.timeout_seconds:
            # The test's cap came due first and cancelled it, and gives up on
            # it after the same grace: cancelled again, the report would name
            # this clock. (Both put off by a debugger, the first due says it.)
            return
        self.where, self.waited_at = self.waiting_at()
        self.where += self.stuck_because  # said now: the wait ends as it is cancelled
        self.fired = True
        self._cancels += 1
        cancel_own(task, self.message())
        self._arm_give_up()

    def waiting_at(self) -> tuple[str, TracebackType | None]:
        """Where the phase's coroutine is waiting now, described and as a traceback."""
        coro = self.subject or self._coro
        return describe_waiting(coro), waiting_line(coro)

    def _arm_give_up(self) -> None:
        loop = self._loop
        assert loop is not None
        # A context of its own, as the deadline's (see _deadlines).
        self._abandon = loop.call_later(
            ABANDON_GRACE_SECONDS, self._give_up, context=contextvars.Context()
        )

    def _give_up(self) -> None:
        """The coroutine ignored the cancellation: stop waiting for it.

        The grace is a timeout too: not while its test's debugger stops it
        (its user's time at a breakpoint in the clean-up is no time the
        clean-up took); given afresh once another test's lets go."""
        self._abandon = None
        task, loop = self._task, self._loop
        if task is None or loop is None or task.done():
            return
        if not self.may_cancel():
            if self._policy.may_cancel_later(self._test):  # another test's debugger traces
                self._abandon = after_debugging(loop, self._arm_give_up)
            return
        self.where += NOT_ENDED
        self.abandon()

    def abandon(self) -> None:
        """Stop stepping the coroutine, which ignores cancellation, at once."""
        if self._task is not None and not self._task.done() and not self.abandoning:
            self.abandoning = True
            self._cancels += 1
            let_go(self._task)  # also when it waits for a task that ignores it too
            cancel_own(self._task, "alt_coop: abandon")

    def stop(self) -> None:
        """The phase is over: disarm, and undo the cancellations this timer made."""
        if self._deadline is not None:
            self._forget()
        if self._abandon is not None:
            self._abandon.cancel()
        task = self._task
        if task is not None and self.abandoning:
            hold_on(task)  # its next phases wait for their tasks as asyncio does
        if task is not None and self._cancels:
            uncancel_own(task, self._cancels)
        self._cancels = 0
        self._abandon = None
        self._paused = False  # paused for the phase's last turn (see alt_coop._runner)
        self._task = self._loop = self._coro = self._outer = self._test = None

    def message(self) -> str:
        seconds = f"{self.timeout_seconds:g}"
        if self.phase == "call":
            what = f"{self.label} timed out after {seconds}s (async timeout)"
        else:
            what = f"{self.label} timed out after {seconds}s during {self.phase} (async timeout)"
        return f"{what}; it was waiting at {self.where or 'an unknown place'}{self.hint}"

    def failure(self, cause: BaseException | None = None) -> BaseException:
        """The exception to report for a phase this timer cut short; ``cause``
        is what the code raised instead of its cancellation.

        With a cause, the report shows tracebacks (pytest shows those of a
        chain in the style of its last exception): the cause's, then the line
        the code waited at, where the timeout cut in.
        """
        failure = pytest.fail.Exception(self.message(), pytrace=cause is not None)
        waited_at, self.waited_at = self.waited_at, None
        # The failure has the line now. A cancelled timer of the phase's (an
        # asyncio.wait_for's) keeps the phase's context, and so this timeout,
        # until the timer's own time: not the test's frames too.
        return failure.with_traceback(waited_at)


#: Cooperative tests' tasks cut short by ``asyncio_task_timeout``, with the cap.
capped_tasks: weakref.WeakKeyDictionary[asyncio.Task[Any], TaskCap] = weakref.WeakKeyDictionary()


class TaskCap:
    """``asyncio_task_timeout``: the cap on one cooperative test's whole run.

    Started when the test starts; paused while it waits for an alt_coop.Lock
    that another test's or fixture's own code holds.
    When it expires (and the debugger policy lets a clock of that test
    cancel) it cancels the test's task once, and the phase running
    then fails with a message naming the cap. If that phase goes on as if
    nothing happened, it is abandoned after the grace period a timeout gives.
    """

    def __init__(self, task: asyncio.Task[Any], seconds: float, policy: DebuggerPolicy) -> None:
        """Call from inside the test's lane, which keys it for ``policy``."""
        self.task, self.seconds, self._left = task, seconds, seconds
        self._policy = policy
        self._test = policy.current_test()
        self._loop = task.get_loop()
        self._since = 0.0
        self._deadline: _deadlines.Deadline | AfterDebugging | None = None  # as a phase's
        self._abandon: _deadlines.Deadline | AfterDebugging | None = None
        self._cancelled = False  # it expired and cancelled the test: never again
        self.due = math.inf  # when it came due, once it cancelled the test (loop time)
        self.phase: PhaseTimeout | None = None  # the clock of the phase running now
        self.where = ""  # where that phase waited when the cap expired
        self.waited_at: TracebackType | None = None  # that line, as a traceback
        self.stuck_because = ""  # as a phase's (see PhaseTimeout.stuck_because)
        #: The worker thread running the test's body (a plain def test's), if any.
        self.body_thread: threading.Thread | None = None
        self._body_was_at = ""  # where that thread was when the cap expired
        self.resume()
        _caps[task] = self

    def pause(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
            self._left -= self._loop.time() - self._since

    def resume(self) -> None:
        if self._deadline is None and not self._cancelled and not self.task.done():
            loop = self._loop
            self._since = loop.time()
            self._deadline = _deadlines.of_loop(loop).call_at(
                loop, self._since + max(self._left, 0.0), self._expire
            )

    def stop(self) -> None:
        self.pause()
        if self._abandon is not None:
            self._abandon.cancel()
        _caps.pop(self.task, None)
        self.waited_at = None  # as a phase's (see PhaseTimeout.stop)

    def _expire(self) -> None:
        self._deadline = None
        # Asked of the test, not of the phase running: a plain def test's
        # body, in a worker thread, runs outside any phase.
        if not self._policy.may_cancel(self._test):
            # Under a debugger, as the phase's own timeout would be; put off
            # if it is another test's.
            if self._policy.may_cancel_later(self._test):
                self._deadline = after_debugging(self._loop, self._expire)
            return
        if not self.task.done():
            thread = self.body_thread
            body_runs = thread is not None and thread.is_alive() and thread.ident is not None
            if interrupt_pending(self.task) and not body_runs:
                # Ctrl-C (or main's caller) cancelled it already, and its
                # cleanup has the interrupt's grace: cancelled again, that
                # cleanup would be cut short where it waits.
                self._cancelled = True
                return
            if body_runs:
                assert thread is not None and thread.ident is not None
                self._body_was_at, self.waited_at = where_thread_is(thread.ident)
            elif self.phase is not None:
                self.where, self.waited_at = self.phase.waiting_at()
                self.where += self.stuck_because  # as a phase's (see PhaseTimeout._fire)
            capped_tasks[self.task] = self
            self.due = self._since + self._left
            self._cancelled = True
            cancel_own(self.task, f"alt_coop: asyncio_task_timeout of {self.seconds:g}s")
            self._arm_give_up()

    def situation(self) -> str:
        """Where the test was when the cap expired, as a clause of its report."""
        if self._body_was_at:
            return (
                f"; its body, in a worker thread, was at {self._body_was_at} "
                "(a thread cannot be stopped: the test ended when it returned)"
            )
        return f"; it was waiting at {self.where}" if self.where else ""

    def _arm_give_up(self) -> None:
        loop = self._loop
        self._abandon = _deadlines.of_loop(loop).call_at(
            loop, loop.time() + ABANDON_GRACE_SECONDS, self._give_up
        )

    def _give_up(self) -> None:
        self._abandon = None
        if not self._policy.may_cancel(self._test):  # as a phase's (see PhaseTimeout._give_up)
            if self._policy.may_cancel_later(self._test):
                self._abandon = after_debugging(self._loop, self._arm_give_up)
            return
        if self.phase is not None and self.task in capped_tasks:
            self.phase.abandon()


#: Each capped test's cap, by its task.
_caps: weakref.WeakKeyDictionary[asyncio.Task[Any], TaskCap] = weakref.WeakKeyDictionary()


def cap_of(task: asyncio.Task[Any] | None) -> TaskCap | None:
    """The cap of the cooperative test whose task ``task`` is, if it has one."""
    return None if task is None or not _caps else _caps.get(task)
