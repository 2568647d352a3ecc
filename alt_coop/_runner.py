"""Runs one coroutine to completion for pytest's synchronous code.

This is the single place where a fixture phase or a test body meets the
loop. In a lane (pytest driven from a running loop, or a cooperative test),
the coroutine is stepped in place. Otherwise the current loop is stopped, and
it runs until a fresh lane has stepped the coroutine to its end.

Errors are carried back as values and re-raised here, so a traceback shows
the user's frames and none of asyncio's; alt_coop's own frames are hidden.

PYTEST_DONT_REWRITE (see alt_coop/__init__.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import sys
import weakref
from collections.abc import Coroutine, Iterator
from types import TracebackType
from typing import Any, TypeVar, cast

import greenlet
import pytest

from . import _cancels, _delivered, _lane_state, _session_loop, _tracebacks
from ._cancels import uncancel_own
from ._lanes import (
    Abandon,
    Lane,
    drive,
    in_context,
    in_lane,
    in_other_task,
    let_the_loop_turn,
    loop_of_the_lane,
    step,
)
from ._pytest_compat import TEST_OUTCOME, hidden_unless_alone
from ._timeouts import NOT_ENDED, PhaseTimeout, TaskCap, cap_of, capped_tasks
from .errors import AltCoopUsageError

T = TypeVar("T")


def current_context() -> contextvars.Context:
    """The context object itself (not a copy) that the caller runs in."""
    copy = contextvars.copy_context()  # also makes sure this thread has a context
    context = greenlet.getcurrent().gr_context
    return copy if context is None else context


_NOT_FROM_ELSEWHERE = (
    "alt_coop can run a coroutine for pytest (an async fixture asked for with "
    "request.getfixturevalue, say) only from the code of a test or fixture itself, "
    "not from a thread, a loop callback or another task while the loop runs: call it "
    "from the test or fixture, or ask for the fixture as an argument"
)


_WHILE_ANOTHER_LOOP_RUNS = (
    "alt_coop cannot run this coroutine (an async fixture asked for with "
    "request.getfixturevalue, say) while another event loop runs in this thread: "
    "ask for the fixture before starting that loop, or as an argument"
)


def refused_here() -> str | None:
    """Why a coroutine for pytest cannot run from where the caller is, if
    it cannot: the caller's fault, not the coroutine's (an async fixture
    refused here is set up where it is asked for rightly)."""
    if in_lane():
        running = asyncio._get_running_loop()
        if running is not None and running is not loop_of_the_lane():
            # That code's own loop (its asyncio.run()), which it runs meanwhile.
            return _WHILE_ANOTHER_LOOP_RUNS
        if in_other_task():  # a task the code started, stepped eagerly in the lane
            return _NOT_FROM_ELSEWHERE
        return None
    session_loop = _session_loop.current()
    if session_loop is None or session_loop.loop.is_closed():
        return None  # run says so: no place would do
    running = _session_loop.running_loop()
    if running is not None and running is not session_loop.loop:
        return _WHILE_ANOTHER_LOOP_RUNS
    if session_loop.loop.is_running() and not session_loop.nested:
        # pytest.main() from a running loop is refused at configure: this is
        # a session's own code, run from outside its lanes.
        return _NOT_FROM_ELSEWHERE
    return None


def run(
    coro: Coroutine[Any, Any, T],
    timeout: PhaseTimeout | None,
    phase: str = "call",
    *,
    context: contextvars.Context | None = None,
    alone: bool = True,
) -> T:
    """Run ``coro`` within ``timeout`` and return its result.

    It runs in ``context``, by default the caller's own context object, so
    the context variables it sets are seen by the caller afterwards. Not
    ``alone`` (a batch of cooperative tests), a pytest outcome raised inside
    a callback is left to the batch (see :mod:`alt_coop._delivered`);
    ``alone``, it is the phase's (see :meth:`SessionLoop.run`).
    """
    __tracebackhide__ = True
    if in_lane():
        running = asyncio._get_running_loop()
        if running is None and _session_loop.stopped_for_sync_code():
            # From a cooperative test's sync code, which sees the loop
            # stopped (an async finalizer it added, an async fixture it asked
            # for): alt_coop's code and the coroutine see it running.
            with _session_loop.loop_seen(stopped=False):
                return run(coro, timeout, phase, context=context, alone=alone)
        problem = refused_here()
        if problem is not None:
            coro.close()
            raise AltCoopUsageError(problem)
        session_task = _cancels.awaited_session_task() if alone else None
        if session_task is None and context is None:  # a cooperative test's phase: hot
            return _run_phase(coro, timeout, phase, lane_goes_on=True)
        closing = (current := _session_loop.current()) is not None and current.closing
        with (
            _delivered.outcomes_to_the_phase(session_task)
            if session_task is not None and not closing
            else contextlib.nullcontext(),
            _awaited_phase(session_task, timeout)
            if session_task is not None and timeout is not None
            else contextlib.nullcontext(),
            in_context(context) if context is not None else contextlib.nullcontext(),
        ):
            return _run_phase(coro, timeout, phase, lane_goes_on=True)
    session_loop = _session_loop.current()
    if session_loop is None:
        coro.close()
        raise AltCoopUsageError(
            "alt_coop has no loop to run this coroutine on: the alt_coop engine is not "
            "running (enable it with -p alt_coop.enable or alt_coop.Plugin())"
        )
    if session_loop.loop.is_closed():
        coro.close()
        raise AltCoopUsageError(
            f"{session_loop.name} was closed by a fixture or test; it must stay open for "
            "the whole session. Close only loops a test or fixture created (alt_coop.Loop, "
            "asyncio.new_event_loop()); an `event_loop` fixture kept from pytest-asyncio "
            "that closes asyncio.get_event_loop() does this: remove it"
        )
    problem = refused_here()
    if problem is not None:
        coro.close()
        raise AltCoopUsageError(problem)
    cut_short: list[BaseException] = []
    try:
        value, error = session_loop.run(
            drive(
                _run_captured,
                coro,
                timeout,
                phase,
                cut_short,
                context=context or current_context(),
                resumed=session_loop.resumed,
            ),
            # What asyncio's debug mode names when the task holds the loop too long.
            f"alt_coop: {timeout.label} ({phase})" if timeout is not None else "alt_coop",
            alone=alone,
            waiting_at=functools.partial(_waiting_line, coro, timeout),
        )
    except BaseException as raised:
        # Raised into the loop while the code waited (pytest-timeout's failure,
        # from its signal handler, in the loop's select): its traceback is the
        # loop's. The code was cut short where it waited: the report names that
        # line, and what the code raised instead of the cancellation, if it did,
        # as for alt_coop's own timeouts.
        if (
            cut_short
            and _stops_the_run(cut_short[0])
            and not isinstance(raised, KeyboardInterrupt)
        ):
            raise cut_short[0] from None  # the code's stop, as in _run_phase
        if (
            not alone
            or _tracebacks.full_trace
            or (cut_short and raised is cut_short[0])
            or isinstance(raised, KeyboardInterrupt)  # names the user's line already
        ):
            raise
        where, session_loop.raised_while_waiting_at = session_loop.raised_while_waiting_at, None
        if where is None and cut_short:
            where = _tracebacks.last_user_entry(cut_short[0].__traceback__)
        if where is None or _tracebacks.from_suite_code(raised.__traceback__) is not None:
            raise  # raised in the suite's code (a callback of its own): that line says more
        instead = _raised_instead(cut_short[0]) if cut_short else None
        raise raised.with_traceback(where) from instead or raised.__cause__
    if error is not None:
        try:
            raise error
        finally:
            error = None
    return value  # type: ignore[return-value]  # None only when error is set


#: The phase each ``alt_coop.main`` session runs now, by its task.
_awaited_phases: weakref.WeakKeyDictionary[asyncio.Task[Any], PhaseTimeout] = (
    weakref.WeakKeyDictionary()
)


@contextlib.contextmanager
def _awaited_phase(task: asyncio.Task[Any], timeout: PhaseTimeout) -> Iterator[None]:
    outer = _awaited_phases.get(task)
    _awaited_phases[task] = timeout
    try:
        yield
    finally:
        if outer is None:
            _awaited_phases.pop(task, None)
        else:
            _awaited_phases[task] = outer


def clock_cancelled(session_task: asyncio.Task[Any]) -> bool:
    """Whether one of alt_coop's clocks (the running phase's timeout, the
    test's cap) or a kept outcome cancelled the phase ``session_task`` runs."""
    phase = _awaited_phases.get(session_task)
    return (
        (phase is not None and phase.fired)
        or session_task in capped_tasks
        or _delivered.kept(session_task)
    )


def awaited_phase_waiting_at(session_task: asyncio.Task[Any]) -> TracebackType | None:
    """The user's line the phase an ``alt_coop.main`` session runs on
    ``session_task`` waits at now, if known (none in its last turn)."""
    phase = _awaited_phases.get(session_task)
    return phase.waiting_at()[1] if phase is not None and not phase.in_last_turn else None


#: Why the run stops when the caller of ``alt_coop.main`` is cancelled.
MAIN_CANCELLED = "alt_coop.main was cancelled"


def stop_if_main_cancelled(session: pytest.Session) -> bool:
    """Whether the caller of ``alt_coop.main`` was cancelled while sync code
    ran (pytest collecting, a sync test) with nothing awaited since to
    deliver it; if so, the run stops before the next test starts, as no test
    starts after Ctrl-C in a plain run's sync code. The loop first runs what
    the sync code held back (see :func:`_cancels.held_back_callbacks_run`)."""
    if not _cancels.in_awaited_session():
        return False
    try:
        held_back = run(_cancels.held_back_callbacks_run(), None)
    except TEST_OUTCOME as error:
        # A callback's (pytest-timeout's, say): not this check's to report.
        # The loop raises it again, into the next phase, as without it.
        held_back = False
        asyncio.get_running_loop().call_soon(_raise, error)
    if not (held_back or _cancels.caller_cancelled_meanwhile()):
        return False
    session.shouldstop = MAIN_CANCELLED
    return True


def _raise(error: BaseException) -> None:
    __tracebackhide__ = True
    raise error


def give_up_after_interrupt(session_task: asyncio.Task[Any]) -> None:
    """The caller of ``alt_coop.main`` was cancelled a grace period ago (or
    again), and the phase its session runs goes on, having swallowed the
    interrupt: stop stepping it, as a plain run stops at a second Ctrl-C or
    its first one's grace end. The phase then raises the interrupt."""
    phase = _awaited_phases.get(session_task)
    if phase is not None and _cancels.interrupt_pending(session_task):
        phase.where, phase.waited_at = phase.waiting_at()
        phase.abandon()


def _waiting_line(
    coro: Coroutine[Any, Any, Any], timeout: PhaseTimeout | None
) -> TracebackType | None:
    """The user's line the phase waits at (an async generator fixture's own,
    not that of the step awaiting it)."""
    subject = timeout.subject if timeout is not None else None
    return _tracebacks.waiting_line(subject or coro)


def _run_captured(
    coro: Coroutine[Any, Any, T],
    timeout: PhaseTimeout | None,
    phase: str,
    cut_short: list[BaseException],
) -> tuple[T | None, BaseException | None]:
    __tracebackhide__ = True
    try:
        return _run_phase(coro, timeout, phase), None
    except BaseException as exc:
        cut_short.append(exc)  # for an exception raised into the loop meanwhile, see run()
        return None, exc


#: The timeout of the fixture phase or test running in this context.
_current_timeout: contextvars.ContextVar[PhaseTimeout | None] = contextvars.ContextVar(
    "alt_coop_timeout", default=None
)


class WaiterClocks:
    """The running phase's clock (and those of the phases it runs inside, for
    ``request.getfixturevalue``) and the test's cap, stopped and started
    together, each at most once in a row.

    Waiting for an alt_coop.Lock that another test's or fixture's own code
    holds is not the waiter's own time: each clock goes on where it stopped.
    """

    def __init__(self) -> None:
        clocks: list[PhaseTimeout | TaskCap] = []
        timeout = _current_timeout.get()
        while timeout is not None:  # the phase's, and those of the phases it runs inside
            clocks.append(timeout)
            timeout = timeout.outer
        # By the task, not the context: a wider fixture's teardown runs in
        # the phase (and task) of the test it ends with, but in the context
        # it was set up in, which holds the cap of the test that set it up.
        cap = cap_of(asyncio.current_task())
        if cap is not None:
            clocks.append(cap)
        self._clocks = clocks
        self._paused = False

    def pause(self) -> None:
        if not self._paused:
            self._paused = True
            for clock in self._clocks:
                clock.pause()

    def resume(self, *, wait_over: bool = False) -> None:
        """Run the clocks again; ``wait_over``: the wait is over, and no
        longer what a timeout that fires explains (see :meth:`run_stuck`)."""
        if wait_over:
            for clock in self._clocks:
                clock.stuck_because = ""
        if self._paused:
            self._paused = False
            for clock in self._clocks:
                clock.resume()

    def run_stuck(self, because: str) -> None:
        """The wait could never end by the holder's doing: the clocks run,
        and a timeout that fires meanwhile says ``because``."""
        for clock in self._clocks:
            clock.stuck_because = because
        self.resume()


def _run_phase(
    coro: Coroutine[Any, Any, T],
    timeout: PhaseTimeout | None,
    phase: str,
    *,
    lane_goes_on: bool = False,
) -> T:
    """Step ``coro`` in the calling lane; ``lane_goes_on``: the lane is not
    one made for this phase alone (it runs a cooperative test's protocol,
    or an ``alt_coop.main`` session), and the loop turns once more at the
    phase's end (see :func:`_last_turn`)."""
    __tracebackhide__ = True
    lane = cast(Lane, greenlet.getcurrent())
    outermost, lane.in_phase = not lane.in_phase, True
    if timeout is not None:
        timeout.start(coro, phase, _current_timeout.get())
    token = _current_timeout.set(timeout)
    task = asyncio.current_task()
    # By the task, not the context (see WaiterClocks): a wider fixture's
    # teardown runs in the context of the test that set it up.
    cap = cap_of(task)
    if cap is not None:  # the cap gives up on the innermost phase running
        outer_phase, cap.phase = cap.phase, timeout
    cancels_before = task.cancelling() if task is not None else 0
    last_turn = (
        (task, timeout)
        if lane_goes_on and outermost and task is not None and timeout is not None
        else None
    )
    try:
        try:
            result = step(coro, timeout)
        except TEST_OUTCOME as error:
            # Not after a stop (Ctrl-C's, pytest.exit()): the run ends.
            if last_turn is not None and not isinstance(error, pytest.exit.Exception):
                _last_turn(*last_turn, failing=not isinstance(error, pytest.skip.Exception))
            raise
        if last_turn is not None:
            _last_turn(*last_turn, failing=False)
    except Abandon:
        assert timeout is not None
        if task is not None:
            _delivered.take(task)  # alt_coop's own clock gave up: its failure says it
            if _cancels.interrupt_pending(task):  # see give_up_after_interrupt
                interrupt = _interruption(task, timeout.waited_at)
                by = "alt_coop.main was cancelled" if _cancels.main_running() else "Ctrl-C"
                interrupt.add_note(
                    f"alt_coop: the fixture or test was still running after {by}, and was "
                    "abandoned"
                )
                raise interrupt from None
        capped = _capped(abandoned=not timeout.fired)
        raise (timeout.failure() if timeout.fired else capped or timeout.failure()) from None
    except BaseException as exc:
        # Whose cancellation this is decides the outcome: the caller's or
        # Ctrl-C's interrupts the session, even when a timeout fired too;
        # this phase's timeout fails the phase; the test's cap fails it
        # naming the cap; an enclosing phase's timeout is left to that phase.
        delivered = _delivered.take(task, exc) if task is not None else None
        if isinstance(exc, asyncio.CancelledError):
            _interrupt_if_from_outside(exc)
        elif (
            task is not None
            and _cancels.interrupt_pending(task)
            and isinstance(exc, TEST_OUTCOME)
            and not isinstance(exc, pytest.exit.Exception)  # the first stop wins: Ctrl-C's
        ):
            _interrupt_turned_into(exc, task)
        if _stops_the_run(exc):
            # The code stops the run, even as a clock cut it short: as in a
            # plain run, no clock's failure stands in for that.
            _capped()
        elif delivered is not None:  # pytest-timeout's failure, or an outcome from a callback
            _capped()  # the cap fired too: the first to come says it
            raise delivered from _raised_instead(exc)
        elif timeout is not None and timeout.fired:
            _capped()  # the cap fired too: the timeout's failure says it
            cause = _raised_instead(exc)
            raise timeout.failure(cause) from cause
        elif capped_tasks and task is not None and task in capped_tasks:
            # The cap cancelled it (what it raised instead is the cause).
            cause = _raised_instead(exc)
            capped = _capped(cause)
            assert capped is not None
            raise capped from cause
        if task is not None and _taken_back_but_pending(task, cancels_before):
            _drop_pending_cancellation()
        if _tracebacks.trim_asyncio_frames:
            _tracebacks.drop_asyncio_tails(exc)
        raise
    finally:
        lane.in_phase = not outermost
        _current_timeout.reset(token)
        if cap is not None:
            cap.phase = outer_phase
        if timeout is not None:
            timeout.stop()
    # The coroutine swallowed a cancellation. An interrupt's, a timeout's or
    # the cap's still counts; any other is the coroutine's business (it may
    # have cancelled itself), as asyncio leaves it.
    if task is not None:
        delivered = _delivered.take(task)
        _interrupt_if_swallowed(task)
        if delivered is not None:
            raise delivered
    capped = _capped()
    if timeout is not None and timeout.fired:
        raise timeout.failure()
    if capped is not None:
        raise capped
    if task is not None and task.cancelling() > cancels_before:
        _deliver_own_cancellation(task, timeout.label if timeout is not None else "the test")
    elif task is not None and _taken_back_but_pending(task, cancels_before):
        _drop_pending_cancellation()
    return result


def _last_turn(task: asyncio.Task[Any], timeout: PhaseTimeout, *, failing: bool) -> None:
    """Let the loop run what the phase's last step queued (a callback, the
    first step of a task it started, a waiter it woke) before the phase
    ends, as ``run_until_complete`` does once the task it waits for is done:
    what that work prints, logs, warns or raises is the phase's, as in a
    sequential run. The phase's clock stands still meanwhile, as it does
    for that turn.

    A cancellation meanwhile that is alt_coop's (an interrupt, the test's
    cap, an outcome a callback raised, the phase's timeout come due before
    the coroutine returned) is the phase's, as at any of its waits. One the
    code made in its last step is left pending, to be judged after the
    phase as without the turn; one that a callback or task makes during
    the turn is taken back, as asyncio would refuse it for a phase's task
    that is done.

    ``failing``: the phase raised, and its report may be a failure that
    stops the run (``-x``): no test starts meanwhile (see the scheduler's
    ``_maxfail_may_be_reached``).
    """
    __tracebackhide__ = True
    timeout.pause()
    timeout.in_last_turn = True
    state = _lane_state.CURRENT.get()  # a sequential test's under alt_coop.main: None
    if state is not None:
        state.last_turn, state.failing_turn = True, failing
    cancels_before = task.cancelling()
    try:
        let_the_loop_turn()
    except asyncio.CancelledError as cancelled:
        if (
            timeout.fired
            or _cancels.is_interrupt(task, cancelled)
            or _delivered.kept(task)
            or (capped_tasks and task in capped_tasks)
        ):
            raise
        if task.cancelling() > cancels_before:
            task.uncancel()
        else:
            task.cancel(cancelled.args[0] if cancelled.args else None)
            task.uncancel()
    finally:
        timeout.in_last_turn = False
        if state is not None:
            state.last_turn = state.failing_turn = False


def _stops_the_run(error: BaseException) -> bool:
    return isinstance(error, (pytest.exit.Exception, KeyboardInterrupt))


def _taken_back_but_pending(task: asyncio.Task[Any], cancels_before: int) -> bool:
    """The code cancelled its task and took it back with ``uncancel()`` (as a
    TaskGroup does), and the cancellation is pending still: Python 3.11 and
    3.12 keep it (``Task._must_cancel``), to be delivered at the next await
    or in place of the result; 3.13 drops it. asyncio would hand it to the
    next fixture or test."""
    return task.cancelling() <= cancels_before and bool(getattr(task, "_must_cancel", False))


def _drop_pending_cancellation() -> None:
    """Let the pending cancellation arrive, and drop it, as 3.13 does."""
    with contextlib.suppress(asyncio.CancelledError):
        step(asyncio.sleep(0))


def sync_cancels_before() -> int | None:
    """How many cancellations the task a phase's sync code runs on has
    before it: a cooperative test's, or ``alt_coop.main``'s session task;
    ``None`` where sync code runs on no task of alt_coop's (see
    :func:`fail_if_sync_code_cancelled`)."""
    task = _own_task()
    return None if task is None else task.cancelling()


def fail_if_sync_code_cancelled(cancels_before: int | None, label: str, *, failed: bool) -> None:
    """A cooperative test's sync code (a sync fixture), and under
    ``alt_coop.main`` any test's (the test too), runs on a task of
    alt_coop's, which ``asyncio.current_task()`` there returns. If it
    cancelled that task, nothing it awaited delivered the cancellation: it
    is taken back, failing the phase unless it ``failed`` already, as for
    async code returning before its own cancellation reached it; left, it
    would reach alt_coop's next await (the next test's start, or the
    teardown's, cutting it short), or be lost with the test's task."""
    __tracebackhide__ = hidden_unless_alone  # one frame: pytest shows the message alone
    task = _own_task()
    if cancels_before is None or task is None:
        return
    if _taken_back_but_pending(task, cancels_before):
        _drop_pending_cancellation()  # as for async code (see _run_phase)
        return
    if (
        task.cancelling() <= cancels_before
        or _cancels.interrupt_pending(task)
        or task in capped_tasks
        or _cancels.caller_cancelled_since_start(_cancels.awaited_session_task())
    ):
        return
    if failed:
        with contextlib.suppress(pytest.fail.Exception):
            _deliver_own_cancellation(task, label)
    else:
        _deliver_own_cancellation(task, label)


def _own_task() -> asyncio.Task[Any] | None:
    """The task of alt_coop's the calling code runs on, if any."""
    try:
        task = asyncio.current_task()
    except RuntimeError:  # sync code of a plain run: no loop runs
        return None
    return task if task is not None and _cancels.is_made_here(task) else None


def _deliver_own_cancellation(task: asyncio.Task[Any], label: str) -> None:
    """The code cancelled its own task. Swallowed, that is its business; but
    if it returned before asyncio delivered it, asyncio would deliver it at the
    task's next await, in the next fixture or test: it fails this phase."""
    __tracebackhide__ = True
    try:
        step(asyncio.sleep(0))
    except asyncio.CancelledError:
        task.uncancel()
        raise pytest.fail.Exception(
            f"{label} cancelled its own task and returned before the cancellation "
            "reached it; asyncio would deliver it to the next code awaiting on the task",
            pytrace=False,
        ) from None


def _interrupt_if_from_outside(error: asyncio.CancelledError) -> None:
    """Turn an interrupt of the task running pytest into a KeyboardInterrupt.

    alt_coop interrupted the task (Ctrl-C, the caller of ``alt_coop.main``
    being cancelled, the batch stopping). For pytest that is an interrupt: it
    stops, tears the fixtures down and reports what ran. The cancellation is
    taken back from the task so the teardowns can await.
    """
    __tracebackhide__ = True
    task = asyncio.current_task()
    if task is None or not _cancels.is_interrupt(task, error):
        return  # a clock of alt_coop's, or the code's own doing
    raise _interruption(task, _tracebacks.last_user_entry(error.__traceback__))


def _interrupt_turned_into(error: BaseException, task: asyncio.Task[Any]) -> None:
    """The code caught alt_coop's interrupt and raised ``error`` instead (a
    cleanup that failed): that error is the phase's outcome, reported as
    pytest reports any, and the rest of the test's teardown runs. The
    session stops once the test is over (a batch stops all the same), and
    pytest's line names where the interrupt met the code."""
    # The interrupt's cancellation began the chain of errors handled: the
    # last in it (a cleanup bounded by asyncio.timeout adds one of its own).
    met: BaseException = error
    seen: set[int] = set()
    context = error.__context__
    while context is not None and id(context) not in seen:
        seen.add(id(context))
        if isinstance(context, asyncio.CancelledError):
            met = context
        context = context.__context__
    where = _tracebacks.last_user_entry(met.__traceback__)
    interrupt = _interruption(task, where)
    state = _lane_state.CURRENT.get()
    if state is not None:
        _lane_state.outlived_interrupts.setdefault(state, interrupt)
        return
    session_loop = _session_loop.current()
    if session_loop is not None:  # a sequential test's, or alt_coop.main's
        session_loop.interrupt_after_the_test(interrupt)


#: Set on the interrupt of a cooperative test whose own sync code Ctrl-C came during.
CAME_DURING_SYNC_CODE = "alt_coop_came_during_sync_code"


def _interruption(task: asyncio.Task[Any], where: TracebackType | None) -> KeyboardInterrupt:
    """Take ``task``'s interrupt back, and make it the KeyboardInterrupt
    pytest stops at, naming the line ``where`` the code was cut short."""
    thrown = _cancels.take_interrupt(task)
    came_during, sync_line = _cancels.came_during(task)
    if came_during and (
        where is None or where.tb_frame is not getattr(sync_line, "tb_frame", None)
    ):
        # Ctrl-C came during a cooperative test's sync code (a sync fixture's,
        # say), which met it later in other code: the line it came during, as
        # in a sequential run. Met in the same code, as it awaited: that line.
        where = sync_line
    if where is None:
        # Ctrl-C came during sync code that never awaited again (a batch's
        # scheduler sees to its tests' own); or the code swallowed the
        # interrupt: where it met the code.
        where = _session_loop.line_of_sync_code_interrupted() or (
            _tracebacks.last_user_entry(thrown.__traceback__) if thrown is not None else None
        )
    interrupt = new_interrupt().with_traceback(where)
    if came_during:  # where the run was as Ctrl-C came: the line pytest names
        setattr(interrupt, CAME_DURING_SYNC_CODE, True)
    session_loop = _session_loop.current()
    if session_loop is not None and session_loop.interruption is None:
        session_loop.interruption = interrupt
    return interrupt


def new_interrupt() -> KeyboardInterrupt:
    """The KeyboardInterrupt that stops pytest, saying what stopped it."""
    if _session_loop.interrupted_by_sigint():
        return KeyboardInterrupt()
    message = "the task running pytest was cancelled"
    ending = _loop_ending_exception()
    if ending is not None:
        message += f" during the handling of {ending!r}"
    return KeyboardInterrupt(message)


def _loop_ending_exception() -> BaseException | None:
    """The ``SystemExit`` or ``KeyboardInterrupt`` being handled down the
    stack, if any: one out of the loop, after which its runner
    (``asyncio.run``) cancelled every task, the one running pytest among
    them. Named, as the user's own code may have raised it (``sys.exit()``
    in a callback, say)."""
    error, seen = sys.exception(), set()
    while error is not None and id(error) not in seen:  # a chain set by hand may loop
        if isinstance(error, SystemExit | KeyboardInterrupt):
            return error
        seen.add(id(error))
        error = error.__context__
    return None


def meet_interrupt_of_sync_code() -> None:
    """Raise the interrupt of the running cooperative test if Ctrl-C came
    during its sync code (a sync fixture's setup, just returned): it stops
    there, as a sequential run stops that code, rather than going on to set
    up the next fixtures and run the test until something awaits."""
    __tracebackhide__ = True
    if not _cancels.any_came_during():  # the usual case: checked at every fixture's setup
        return
    try:
        task = asyncio.current_task()
    except RuntimeError:  # a sequential sync fixture's, outside the loop
        return
    if task is not None and _cancels.interrupt_pending(task) and _cancels.came_during(task)[0]:
        raise _interruption(task, None)


def _interrupt_if_swallowed(task: asyncio.Task[Any]) -> None:
    """The phase ended normally though alt_coop interrupted its task: the
    session stops all the same."""
    __tracebackhide__ = True
    if _cancels.interrupt_pending(task):
        raise _interruption(task, None)


def _raised_instead(error: BaseException) -> BaseException | None:
    """What the code raised instead of the cancellation alt_coop's clock
    made, readied to be shown as the cause of the clock's failure (not the
    failure's own copy, raised where code held the loop)."""
    if isinstance(error, asyncio.CancelledError) or _delivered.is_echo(error):
        return None
    if _tracebacks.trim_asyncio_frames:
        _tracebacks.raised_instead_of_cancellation(error)
    return error


def _capped(
    cause: BaseException | None = None, *, abandoned: bool = False
) -> BaseException | None:
    """The failure of the running phase, if the test's cap cancelled it (once);
    ``cause`` is what the code raised instead (see PhaseTimeout.failure)."""
    if not capped_tasks:  # the usual case, and a phase end is hot
        return None
    task = asyncio.current_task()
    if task is None or task not in capped_tasks:
        return None
    uncancel_own(task)
    cap = capped_tasks.pop(task)
    failure = pytest.fail.Exception(
        f"the test exceeded asyncio_task_timeout: {cap.seconds:g}s for its whole run, "
        f"fixtures included{cap.situation()}" + (NOT_ENDED if abandoned else ""),
        pytrace=cause is not None,
    )
    # The test's failure: a wider fixture it was setting up is not failed.
    failure.alt_coop_capped = True  # type: ignore[attr-defined]
    return failure.with_traceback(cap.waited_at)
