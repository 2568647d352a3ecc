"""Lanes: synchronous code that awaits through a task driving it from above.

pytest's machinery is synchronous, but the fixtures and tests it calls need to
await on an event loop. alt_coop never re-enters a running loop to bridge the
two. Instead, synchronous code runs in a *lane*, a greenlet whose parent is
the greenlet that runs the loop. A task, the lane's *driver*, switches into
the lane; when a coroutine stepped inside the lane blocks on a future, the
lane switches back to the driver with that future, the driver yields it to
asyncio as if it had awaited it itself, and switches back into the lane with
the outcome once the future is done.

Because coroutines are stepped *inside* the lane, synchronous code called from
a coroutine (``request.getfixturevalue`` from an async test, say) can itself
step another coroutine: the nesting lives on the lane's stack, and the driver
only ever sees futures. ``asyncio.current_task()`` inside the lane is the
driver task, so ``asyncio.timeout``, TaskGroup and cancellation behave as they
do in a plain task.

PYTEST_DONT_REWRITE (see alt_coop/__init__.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import sys
import time
import weakref
from collections.abc import Callable, Coroutine, Generator
from typing import Any, Protocol, TypeVar, cast

import greenlet

from . import _cancels

T = TypeVar("T")


class Lane(greenlet.greenlet):
    """A greenlet that runs synchronous code on behalf of a driver task."""

    #: The task driving it (see :func:`drive`).
    driver: asyncio.Task[Any] | None = None
    #: Whether a fixture phase or test runs in it now (see alt_coop._runner).
    in_phase = False
    #: How many coroutines it steps now, one inside another (see :func:`step`).
    stepping = 0
    #: Whether its synchronous code sees no loop running
    #: (see :class:`alt_coop._session_loop.loop_seen`).
    stops_the_loop = False


class Abandon(BaseException):
    """Raised by :func:`step` when it stops stepping a coroutine that ignores
    cancellation; the coroutine never sees it."""


class _Reyield:
    """Hands an object yielded by a coroutine in a lane to the driving task."""

    __slots__ = ("obj",)

    def __init__(self, obj: object) -> None:
        self.obj = obj

    def __await__(self) -> Generator[Any, Any, Any]:
        __tracebackhide__ = True  # what is thrown in here is the lane's
        return (yield self.obj)


class in_context:
    """Within the block, ``context`` is the calling greenlet's context.

    ``Context.run`` refuses a context entered anywhere up the stack (a
    fixture's setup context, entered again for its teardown; the
    application's task that runs pytest nested); this only makes it the
    greenlet's for the block, and puts the one before back.
    """

    __slots__ = ("_context", "_greenlet", "_saved")

    def __init__(self, context: contextvars.Context) -> None:
        self._context = context

    def __enter__(self) -> None:
        self._greenlet = current = greenlet.getcurrent()
        self._saved, current.gr_context = current.gr_context, self._context

    def __exit__(self, *exc_info: object) -> None:
        self._greenlet.gr_context = self._saved


def in_lane() -> bool:
    """Whether the calling code runs in a lane, so it may step coroutines in place."""
    return isinstance(greenlet.getcurrent(), Lane)


def lane_driver() -> asyncio.Task[Any] | None:
    """The task driving the lane the calling code runs in, if any."""
    lane = greenlet.getcurrent()
    return lane.driver if isinstance(lane, Lane) else None


def loop_of_the_lane() -> asyncio.AbstractEventLoop:
    """The loop the calling code's lane runs on; from outside a lane, the
    running loop. (A cooperative test's sync code sees no loop running: see
    :class:`alt_coop._session_loop.loop_seen`.)"""
    driver = lane_driver()
    return driver.get_loop() if driver is not None else asyncio.get_running_loop()


def in_other_task() -> bool:
    """Whether the calling code runs in a lane, but as the step of a task
    other than the lane's driver: the first step of a task that the lane's
    code started, which an eager task factory runs in place. Stepping a
    coroutine from there would switch to the driver with that task still
    asyncio's current one."""
    lane = greenlet.getcurrent()
    if not isinstance(lane, Lane) or lane.driver is None:
        return False
    return asyncio.current_task(lane.driver.get_loop()) is not lane.driver


async def drive(
    run: Callable[..., T],
    *args: object,
    context: contextvars.Context | None = None,
    held: Callable[[float], None] | None = None,
    resumed: Callable[[], BaseException | Leave | None] | None = None,
    stops_the_loop: bool = False,
) -> T:
    """Run ``run(*args)`` in a new lane, awaiting whatever it blocks on.

    ``context`` is the :class:`contextvars.Context` the lane runs in; ``None``
    means a copy of the caller's (a new greenlet would otherwise start in an
    empty context). ``held``, if given, is told how long each stretch of the
    lane held the loop, as the stretch ends; ``resumed``, if given, is called
    before each stretch but the first, and may return an exception to raise
    in the lane instead of what it waited for, or :data:`LEAVE`: the lane is
    then never resumed, and ``drive`` returns None. ``stops_the_loop``: the
    lane's synchronous code sees no loop running (see
    :class:`alt_coop._session_loop.loop_seen`).
    """
    __tracebackhide__ = True  # what is thrown in here is the lane's
    if in_lane():
        # Started eagerly (an eager task factory) by a lane's code: the new
        # lane's parent must be the greenlet running the loop, which steps
        # this task from its next turn on.
        await _Reyield(None)
    lane = Lane(run, parent=greenlet.getcurrent())
    lane.driver = asyncio.current_task()
    lane.stops_the_loop = stops_the_loop
    lane.gr_context = context if context is not None else contextvars.copy_context()
    clock: Callable[[], float] = time.perf_counter if held is not None else float  # float() is 0.0
    started = clock()
    yielded = lane.switch(*args)
    while True:
        if held is not None:
            held(clock() - started)
        if lane.dead:
            return yielded  # type: ignore[no-any-return]
        thrown: BaseException | None = None
        try:
            # A task, or a future of a kind of its own (a gather's, which
            # cancels its children and waits for them), is waited for so
            # that letting the lane go stops the wait without cancelling it
            # again (see let_go); a plain future is the driver's to wait on.
            if isinstance(yielded, asyncio.Future) and type(yielded) is not asyncio.Future:
                await _awaiting(yielded)
            else:
                await _Reyield(yielded)
        except BaseException as exc:  # cancellation, or Abandon: the lane decides
            thrown = exc
        started = clock()
        instead = resumed() if resumed is not None else None
        if isinstance(instead, Leave):
            _left_suspended.append(lane)
            return None  # type: ignore[return-value]
        thrown = instead or thrown
        if thrown is None:
            yielded = lane.switch(None)
        else:
            _cancels.thrown_in(lane.driver, thrown)
            yielded = lane.throw(type(thrown), thrown, thrown.__traceback__)


async def _awaiting(awaited: asyncio.Future[Any]) -> None:
    """Wait for ``awaited`` (a task, or a gather's future) as a task awaiting
    it would: a cancellation is passed on to it, and the wait goes on until
    it is done. Unless the lane is let go of (see :func:`let_go`): a task
    that swallows its cancellation would keep the driver, and the run,
    waiting forever, as asyncio's own waiting would (it hands the
    cancellation on, and waits)."""
    driver = asyncio.current_task()
    # As a task taking the future its coroutine yields does: it may be
    # awaited again (by another task, or later).
    awaited._asyncio_future_blocking = False
    if awaited is driver:
        raise RuntimeError(f"Task cannot await on itself: {driver!r}")
    held_back: asyncio.CancelledError | None = None
    while not awaited.done():
        waiter = awaited.get_loop().create_future()
        wake = functools.partial(_wake, waiter)
        awaited.add_done_callback(wake)
        try:
            await waiter
        except asyncio.CancelledError as cancelled:
            if awaited.done() or (driver is not None and driver in _let_go):
                # Done already: asyncio cancels the awaiting task itself then.
                if driver is not None:
                    _let_go.discard(driver)
                if not awaited.done() and not isinstance(awaited, asyncio.Task):
                    # Let go of: a gather's outcome, its tasks' (each retrieved
                    # by it), is no one's, and not to be logged as lost.
                    awaited.add_done_callback(retrieve_exception)
                raise
            if awaited.cancel(cancelled.args[0] if cancelled.args else None):
                _cancels.passed_on(awaited)
            else:
                # A gather whose tasks are all done, its own end still to
                # come: the cancellation is the awaiting code's once the wait
                # ends, as a task holds it back (asyncio's ``_must_cancel``).
                held_back = cancelled
        finally:
            awaited.remove_done_callback(wake)
    if held_back is not None:
        raise held_back


def retrieve_exception(future: asyncio.Future[Any]) -> None:
    """A done callback: ``future``'s exception is retrieved (asyncio logs
    none as never retrieved), for one reported otherwise."""
    if not future.cancelled():
        future.exception()


def _wake(waiter: asyncio.Future[None], awaited: object) -> None:
    if not waiter.done():
        waiter.set_result(None)


def let_go(driver: asyncio.Task[Any]) -> None:
    """``driver``'s next cancellation stops its wait for a task its lane
    awaits, if it waits for one, even though that task is not done."""
    _let_go.add(driver)


def hold_on(driver: asyncio.Task[Any]) -> None:
    """Undo :func:`let_go`, if ``driver`` has not been let go of yet."""
    _let_go.discard(driver)


#: Drivers to stop waiting for a task at their next cancellation (see let_go).
_let_go: weakref.WeakSet[asyncio.Task[Any]] = weakref.WeakSet()


class Leave:
    """What ``resumed`` returns for a lane to be left where it waits."""


#: Leave the lane suspended where it waits (see :func:`drive`).
LEAVE = Leave()

#: Lanes left suspended: never resumed, and kept, since collecting a
#: suspended greenlet unwinds its code (it is killed) at whatever moment.
_left_suspended: list[Lane] = []


class Watch(Protocol):
    """What :func:`step` reports to while it runs a coroutine (a timeout)."""

    abandoning: bool

    def on_block(self) -> None:
        """The coroutine waits for the first time."""


def step(coro: Coroutine[Any, Any, T], watch: Watch | None = None) -> T:
    """Run ``coro`` to completion from inside a lane.

    ``watch.on_block`` is called the first time the coroutine waits, so a
    timer is only armed for coroutines that wait. Once ``watch.abandoning``
    is set, an exception thrown in by the driver is not forwarded into the
    coroutine: :class:`Abandon` is raised instead.
    """
    __tracebackhide__ = True
    lane = cast(Lane, greenlet.getcurrent())
    driver = lane.parent
    assert driver is not None, "step() runs in a lane, which always has a driver"
    blocked = watch is None
    value: object = None
    error: BaseException | None = None
    # From synchronous code that sees the loop stopped: the coroutine, and
    # the driver the lane switches to, see it running.
    stopped = _running_for(lane)
    lane.stepping += 1
    try:
        while True:
            try:
                yielded = coro.send(value) if error is None else coro.throw(error)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]
            finally:
                error = None
            if not blocked:
                blocked = True
                watch.on_block()  # type: ignore[union-attr]
            try:
                value = driver.switch(yielded)
            except greenlet.GreenletExit:
                _close_quietly(coro)
                raise
            except BaseException as exc:
                if watch is not None and watch.abandoning:
                    _close_quietly(coro)
                    raise Abandon from None
                value, error = None, _without_lane_frames(exc)
    finally:
        lane.stepping -= 1
        if stopped:
            asyncio._set_running_loop(None)


def let_the_loop_turn() -> None:
    """From inside a lane: let the loop run what is ready now (the callbacks
    the lane's code scheduled among them) before the lane goes on, as
    ``await asyncio.sleep(0)`` does for a task's code. What the driver is
    cancelled with meanwhile is raised here."""
    lane = greenlet.getcurrent()
    assert lane.parent is not None, "a lane always has a driver"
    stopped = _running_for(lane)
    try:
        lane.parent.switch(None)
    finally:
        if stopped:
            asyncio._set_running_loop(None)


def _running_for(lane: greenlet.greenlet) -> bool:
    """Make the loop of ``lane``'s driver the running one again if the
    lane's code sees it stopped (see :class:`alt_coop._session_loop.loop_seen`),
    as code is about to run on it; whether it did (the caller stops it again
    after)."""
    if asyncio._get_running_loop() is not None:
        return False
    assert isinstance(lane, Lane) and lane.driver is not None, "stopped only in a lane"
    asyncio._set_running_loop(lane.driver.get_loop())
    return True


def _without_lane_frames(error: BaseException) -> BaseException:
    """``error`` without the frames of this module it passed through on its
    way from the driver's task into the lane (the driver, this module's
    await, :func:`step`): the code it is thrown into sees the traceback it
    would see from asyncio (``traceback.print_exc()``, a log record's)."""
    tb = error.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == _THIS_FILE:
        tb = tb.tb_next
    return error.with_traceback(tb)


_THIS_FILE = __file__


def _close_quietly(coro: Coroutine[Any, Any, Any]) -> None:
    """Close an abandoned coroutine; one that refuses to close is kept forever."""
    # Its cleanup may fail or try to await: nothing is left to report that to.
    with contextlib.suppress(Exception):
        coro.close()
    if getattr(coro, "cr_frame", None) is not None:
        # Still suspended: it caught GeneratorExit and awaited again, as a
        # retry loop with a bare ``except`` does. Closed again by the garbage
        # collector once no loop runs (between batches, at exit), its await
        # would fail at once with "no running event loop", which it would
        # catch too, forever: the run would never end.
        keep_forever(coro)


def keep_forever(obj: object) -> None:
    """Make sure ``obj`` is never finalized, not even at interpreter exit
    (which empties module globals, so a list there would not do)."""
    if sys.implementation.name == "cpython":
        import ctypes  # rarely needed: not imported with every run

        ctypes.pythonapi.Py_IncRef(ctypes.py_object(obj))
    else:
        _kept_forever.append(obj)


_kept_forever: list[object] = []
