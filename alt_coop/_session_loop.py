"""The loop async fixtures and tests run on, and how it is started and closed.

A plain ``pytest`` run owns one loop for the whole session. pytest's
synchronous code runs with that loop *stopped*; each time a fixture or test
needs to await, the loop runs until that one piece of work is done. Sync
tests and fixtures therefore see no running loop, exactly as without the
plugin (``asyncio.run`` inside a sync test keeps working).

The loops alt_coop runs on form a stack: the session's loop at the bottom,
and on top of it any :class:`alt_coop.Loop` a fixture installed.

PYTEST_DONT_REWRITE (see alt_coop/__init__.py).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import functools
import os
import signal
import sys
import threading
import time
import types
import warnings
import weakref
from collections.abc import Callable, Coroutine, Iterator
from types import FrameType, TracebackType
from typing import Any, NoReturn, TypeVar, cast

import greenlet

from . import _cancels, _lane_state, _leftover_tasks, _tracebacks
from ._lanes import LEAVE, Lane, Leave, in_lane, lane_driver, let_go
from ._leftover_tasks import CANCEL_GRACE_SECONDS
from ._leftover_timers import TimersFollowed
from ._pytest_compat import hidden_unless_alone
from .errors import AltCoopError, AltCoopWarning

#: How many times, at the end, the tasks the session left are cancelled: then
#: those their clean-up started, and so on.
_CLEAN_UP_ROUNDS = 3

#: How long, after Ctrl-C, the work running gets to finish its cancellation.
INTERRUPT_GRACE_SECONDS = 5.0

T = TypeVar("T")

#: Loops a session runs on that it does not own (``alt_coop.main``, ``managed_loop``).
_claimed: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()


def claim(loop: asyncio.AbstractEventLoop) -> bool:
    """Note that a session runs on the application's ``loop``; False if one already does.

    Two sessions at once on one loop would share its task factory, signal
    handler and capture; a session run by a test of another (pytester, say)
    is nested in it instead, and claims nothing.
    """
    if loop in _claimed:
        return False
    _claimed.add(loop)
    return True


def release(loop: asyncio.AbstractEventLoop) -> None:
    _claimed.discard(loop)


def running_loop() -> asyncio.AbstractEventLoop | None:
    """The loop running in this thread, if any."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def in_session() -> bool:
    """Whether the caller is a session's code (a test of it, say): a session
    it starts is nested in that one, not a second one beside it."""
    return in_lane() or _IN_SESSION.get()


def new_event_loop() -> asyncio.AbstractEventLoop:
    """A fresh loop of the platform's default class, without the policy API,
    whose clock is the real monotonic clock (see ``_REAL_CLOCK``)."""
    factory: Callable[[], asyncio.AbstractEventLoop] | None = getattr(asyncio, "EventLoop", None)
    if factory is None:  # before 3.13
        if sys.platform == "win32":
            factory = asyncio.ProactorEventLoop
        else:
            factory = asyncio.SelectorEventLoop
    loop = factory()
    loop.time = _REAL_CLOCK[0]  # type: ignore[method-assign]
    return loop


def default_executor(max_tasks: int) -> concurrent.futures.ThreadPoolExecutor:
    """The default executor of the session loop alt_coop creates.

    Cooperative tests in flight share it (``asyncio.to_thread``,
    ``run_in_executor(None, ...)``): with asyncio's few workers
    (``min(32, CPUs + 4)``), their work would queue, the wait counted against
    their timeouts. A worker starts only when work finds none idle.
    """
    return concurrent.futures.ThreadPoolExecutor(
        max_workers=max(min(32, (os.cpu_count() or 1) + 4), max_tasks),
        thread_name_prefix="asyncio",
    )


#: ``time.monotonic`` as it was at import, which is what asyncio's loops read.
#: A test that freezes time (freezegun replaces ``time.monotonic``, and every
#: module attribute bound to it) would otherwise move the session loop's clock
#: decades on and back: every timeout fires at once, and sleeps scheduled on
#: the frozen clock never end. Held in a tuple, which freezegun leaves alone;
#: the same as ``freeze_time(real_asyncio=True)``, for the loop alt_coop owns.
_REAL_CLOCK = (time.monotonic,)


_STOPPED = (
    "a fixture or test called loop.stop() on alt_coop's session loop; alt_coop "
    "kept the loop running so the tests and fixtures in progress could finish. "
    "Stop only a loop you created (alt_coop.Loop or asyncio.new_event_loop())"
)
_STOPPED_MANAGED = (
    "a fixture or test called loop.stop() on the application's loop (managed_loop) "
    "while the session ran on it; alt_coop kept the loop running so the tests and "
    "fixtures in progress could finish. Stop only a loop the test created (alt_coop.Loop "
    "or asyncio.new_event_loop()); the application stops its own once pytest.main returns"
)
_STOPPED_NESTED = (
    "loop.stop() was called on the application's loop while a pytest session ran "
    "nested on it; alt_coop kept the loop running so the tests and fixtures in "
    "progress could finish, and passes the stop on to the application's run of "
    "the loop when the session ends"
)


#: What ``run_until_complete`` raises when the loop stopped before the
#: future was done (asyncio's words, and uvloop's).
_STOPPED_EARLY = "Event loop stopped before Future completed."

#: What calls ``loop.stop()`` when a ``run_until_complete`` future is done.
_RUN_UNTIL_COMPLETE_CB = getattr(
    getattr(asyncio.base_events, "_run_until_complete_cb", None), "__code__", None
)


class SessionLoop:
    """Runs work to completion on a loop that is not running, interruptibly.

    Ctrl-C while the loop runs cancels the work in progress, lets its
    ``finally`` blocks and cleanup run, then raises :class:`KeyboardInterrupt`
    in the synchronous caller. A second Ctrl-C interrupts at once.
    """

    def __init__(
        self, loop: asyncio.AbstractEventLoop, *, owned: bool, nested: bool = False
    ) -> None:
        self.loop = loop
        self.owned = owned
        #: Run by a session that a coroutine on the loop started: alt_coop
        #: runs the loop while it already runs (patched for nesting).
        self.nested = nested
        #: Whether synchronous code sees the loop stopped: alt_coop runs it
        #: for async code only, unless the session started on it running.
        self.stops_for_sync_code = not loop.is_running()
        self._session_tasks: weakref.WeakSet[asyncio.Future[Any]] = weakref.WeakSet()
        self._factory_set: Any = None  # the one the loop's users set last, ours wraps it
        self._installed: Any = None  # what the loop holds since ours was set
        self._loops_factory_methods: dict[str, Any] = {}  # its own, put back at the end
        self._factory_methods_patched = False
        self._timers: TimersFollowed | None = None  # while it follows its timers
        self._before_session: weakref.WeakSet[asyncio.Task[Any]] = weakref.WeakSet()
        self._task: asyncio.Task[Any] | None = None
        self._given_up: weakref.WeakSet[asyncio.Task[Any]] = weakref.WeakSet()
        self._interrupted = False
        self._sigints = 0  # Ctrl-Cs seen, whatever ran then
        self._alone = False  # the run's (see run)
        #: Running what the tests left behind, to close: a pytest outcome a
        #: callback raises then is no phase's, but goes to the exception
        #: handler set before (a session's names it in a warning; see
        #: alt_coop._delivered.outcomes_after_the_tests).
        self.closing = False
        self._waiting_at: Callable[[], TracebackType | None] | None = None
        self._interrupt_grace: asyncio.TimerHandle | None = None
        #: The last exception raised into the loop while the work waited (see _stop_work).
        self.raised_into_loop: BaseException | None = None
        #: The user's line the work waited at as that exception came, if known.
        self.raised_while_waiting_at: TracebackType | None = None
        #: The last interrupt a second Ctrl-C raised where the main thread was.
        self._ctrl_c_again: KeyboardInterrupt | None = None
        #: The suite's line a test's sync code was at when Ctrl-C came.
        self._ctrl_c_in_sync_code: TracebackType | None = None
        #: ``loop.stop()`` was called while the loop was idle (see _stop_unless_working).
        self._stopped_idle = False
        #: What a signal handler raises into the work still, from where (see raise_in_the_work).
        self._owed: tuple[BaseException, TracebackType | None] | None = None
        #: Nested: a ``loop.stop()`` meant for the application's run of the
        #: loop, passed on when the session ends (see close).
        self._stop_held_back = False
        #: The first interrupt raised in user code by this run's cancellation.
        self.interruption: KeyboardInterrupt | None = None
        #: An interrupt the work turned into an error of its own (see
        #: interrupt_after_the_test), raised once the test is over.
        self._after_the_test: KeyboardInterrupt | None = None
        self._handles_sigint = False
        self._previous_sigint: Any = signal.default_int_handler
        self._marked: contextvars.Token[bool] | None = None
        if not owned:
            self._follow_session_tasks()
        #: Nested or managed: the application's own ``loop.stop`` attribute, if it set one.
        self._apps_stop: Callable[[], None] | None = getattr(loop, "__dict__", {}).get("stop")
        #: The loop runs for the session only (alt_coop's, or an application's
        #: idle loop: managed_loop), or nested; not the application's running
        #: loop under alt_coop.main, whose loop.stop() stops the application.
        self._stop_patched = owned or nested or not loop.is_running()
        self._stopped_message = (
            _STOPPED if owned else _STOPPED_NESTED if nested else _STOPPED_MANAGED
        )
        if self._stop_patched:
            # A loop class whose instances take no attributes (one written in C) is
            # still covered, after the fact, by run().
            with contextlib.suppress(AttributeError):
                loop.stop = self._stop_unless_working  # type: ignore[method-assign]

    @property
    def name(self) -> str:
        """What messages call the loop: a test can close only an idle one,
        alt_coop's or an application's given as ``managed_loop``."""
        return "alt_coop's session loop" if self.owned else "the application's loop (managed_loop)"

    def _ours(self, tasks: set[asyncio.Task[Any]]) -> set[asyncio.Task[Any]]:
        """Those of ``tasks`` the session made (on an application's loop, its
        own tasks are left alone). Those a task factory made in place of
        alt_coop's, on a loop whose ``set_task_factory`` could not be
        followed, are known by their context (3.12+)."""
        if self.owned:
            return tasks
        return {
            task
            for task in tasks
            if task in self._session_tasks
            or (
                hasattr(task, "get_context")
                and task.get_context().get(_IN_SESSION, False)
                and task not in self._before_session
            )
        }

    def _give_back_stop(self) -> None:
        """On an application's loop: its ``loop.stop`` as it was, and (nested)
        the stop held back from its run of the loop, passed on."""
        if getattr(self.loop, "__dict__", {}).get("stop") == self._stop_unless_working:
            if self._apps_stop is None:
                del self.loop.stop
            else:
                self.loop.stop = self._apps_stop  # type: ignore[method-assign]
        if self._stop_held_back:
            self._stop_held_back = False
            self.loop.stop()

    def _stop_unless_working(self) -> None:
        """``loop.stop()`` on the loop alt_coop created: refused while work
        runs on it, or a fixture's or test's call would cut the tests in
        progress short. The warning is given at the caller's line, in its
        context: it is that test's, as any warning its code gives.

        Called while the loop is idle (by a sync test), it stops the next
        ``run_forever`` after one turn, as asyncio documents: the caller's
        own ``run_forever`` then, or else alt_coop's next run, which goes on
        with its work as if nothing happened, and blames no test for it.

        On an application's loop that the session runs nested, the loop
        always runs: the application's run of it, which every call may be
        meant for (the application's own, too), gets it when the session
        ends."""
        __tracebackhide__ = True  # under -W error: the caller's line is the error's
        if self.nested:
            # nest-asyncio2's run_until_complete stops no loop: every call is
            # someone's.
            self._stop_held_back = True
            warnings.warn(AltCoopWarning(_STOPPED_NESTED), stacklevel=2)
            return
        task = self._task
        if task is not None and not task.done():
            # Silent for asyncio's own call only: a run_until_complete's callback
            # left over from a run cut short by such a stop.
            if sys._getframe(1).f_code is not _RUN_UNTIL_COMPLETE_CB:
                warnings.warn(AltCoopWarning(self._stopped_message), stacklevel=2)
            return
        if not self.loop.is_running():
            self._stopped_idle = True
        type(self.loop).stop(self.loop)

    def _follow_session_tasks(self) -> None:
        """Tell the tasks the session creates from the application's own.

        A task belongs to the session if a fixture or test created it (that
        code runs in a lane), a task of the session did, or a callback did
        that the session's code scheduled (a server a test started, say: such
        callbacks run in a copy of the context they were scheduled from,
        which the session marks). The application's task factory, if any,
        still makes the task.
        """
        self._marked = _IN_SESSION.set(True)
        loop, tasks = self.loop, self._session_tasks
        # Not the session's, whatever their context says: the one that runs
        # pytest nested shares the context the session marks.
        self._before_session = weakref.WeakSet(asyncio.all_tasks(loop))
        app_factory = loop.get_task_factory()

        def made_by_the_session() -> bool:
            return in_lane() or _IN_SESSION.get() or asyncio.current_task(loop) in tasks

        def following(inner: Any) -> Any:
            def factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> Any:
                if inner is not None:
                    task = inner(loop, coro, **kwargs)
                else:
                    task = asyncio.Task(coro, loop=loop, **kwargs)
                if made_by_the_session():
                    tasks.add(task)
                return task

            return factory

        # A factory set while the session runs (by a fixture, or by the
        # application) is followed the same way: its tasks are known as the
        # session's on Python 3.11 too, whose tasks do not tell their
        # context. Everyone sees the factory they set. The loop's methods
        # patched on are put back as they were (an application's own, or
        # those of an outer session that runs a test that runs this one).
        self._factory_set = app_factory
        set_factory = loop.set_task_factory
        own = getattr(loop, "__dict__", {})
        self._loops_factory_methods = {name: own.get(name) for name in _FACTORY_METHODS}

        def set_task_factory(factory: Any) -> None:
            if factory is not None and not callable(factory):
                raise TypeError("task factory must be a callable or None")
            self._factory_set = factory
            set_factory(following(factory))
            # What the loop holds now (an outer session's factory follows ours).
            self._installed = type(loop).get_task_factory(loop)

        set_task_factory(app_factory)
        with contextlib.suppress(AttributeError):  # a loop whose instances take none
            loop.set_task_factory = set_task_factory  # type: ignore[method-assign]
            loop.get_task_factory = lambda: self._factory_set  # type: ignore[method-assign]
            self._factory_methods_patched = True
        self._timers = TimersFollowed(
            loop, made_by_the_session, lambda context: context.get(_IN_SESSION, False)
        )

    def _stop_following_factories(self) -> None:
        """Leave the application's loop the task factory last set on it (the
        application's, or one set during the session and left), and its own
        methods; one set around them (the class's method) is kept."""
        loop = self.loop
        if self._factory_methods_patched:
            self._factory_methods_patched = False
            for name, method in self._loops_factory_methods.items():
                if method is None:
                    loop.__dict__.pop(name, None)
                else:
                    setattr(loop, name, method)
        if type(loop).get_task_factory(loop) is self._installed:  # else set around ours
            loop.set_task_factory(self._factory_set)

    def count_as_the_suites(self, filenames: set[str]) -> None:
        """The session's test modules and conftests, once collected: the
        timers they set are the session's even where they are installed."""
        if self._timers is not None:
            self._timers.count_as_the_suites(filenames)

    def run(
        self,
        coro: Coroutine[Any, Any, T],
        name: str = "alt_coop",
        *,
        alone: bool = False,
        waiting_at: Callable[[], TracebackType | None] | None = None,
    ) -> T:
        """Run ``coro`` as a task named ``name`` until it is done and return its result.

        With ``alone`` (one test's phase, nothing else running), an exception
        that a signal handler (pytest-timeout's) raises inside one of
        asyncio's own callbacks, which asyncio would log and lose, is raised
        into the loop all the same: landing in the task's own step, it leaves
        the task with nothing to run it, and the run would wait for ever.
        ``waiting_at`` gives the user's line the work waits at, for the
        interrupt of work abandoned after Ctrl-C."""
        # What comes out of the loop (a pytest.fail() in a callback, say) is
        # shown from where it was raised, not from here.
        __tracebackhide__ = hidden_unless_alone
        try:
            task = self.loop.create_task(coro, name=name)
        except BaseException:
            coro.close()  # no "never awaited" warning at exit
            raise
        _cancels.made_here(task)
        self._task, self._interrupted, self.interruption = task, False, None
        self._alone, self._waiting_at = alone, waiting_at
        self.raised_into_loop, self._ctrl_c_in_sync_code = None, None
        self.raised_while_waiting_at = None
        stopped = False
        lost: list[BaseException] = []
        catching: contextlib.AbstractContextManager[None] = (
            _catching_lost_exceptions(self.loop, lost)
            if alone and not self.closing
            else contextlib.nullcontext()
        )
        try:
            with catching:
                while True:
                    try:
                        if stopped:
                            self._forget_stop()
                        self.loop.run_until_complete(task)
                        if self._owed is not None:
                            self._forget_stop()  # one turn: see raise_in_the_work
                        if lost:  # in the turn the work ended
                            if self.nested or not isinstance(self.loop, asyncio.BaseEventLoop):
                                # Its stop is pending still: see _forget_stop;
                                # uvloop's stop() is a callback, maybe not run yet.
                                self._forget_stop()
                            self._stop_work(task, lost[0])
                        break
                    except RuntimeError as error:
                        if lost:
                            if self.nested:  # see _forget_stop: the grace wait needs the loop
                                self._forget_stop()
                            self._stop_work(task, lost[0], while_handling=True)
                        # The work's own error, or a loop already running.
                        if task.done() or (self.loop.is_running() and not self.nested):
                            raise
                        if str(error) != _STOPPED_EARLY:  # raised into the loop (a signal handler)
                            self._stop_work(task, error)
                        # Someone called loop.stop(): the work must still finish,
                        # or its fixtures are never torn down.
                        stopped = True
                    except BaseException as error:
                        if (
                            self._interrupted
                            and isinstance(error, asyncio.CancelledError)
                            and task.cancelled()
                        ):
                            # Ctrl-C's cancellation came out of the work itself (a
                            # main coroutine that let it propagate): an interrupt.
                            raise self.take_interruption() from None
                        self._stop_work(task, error)
        finally:
            # What a signal handler raised for the work, not yet raised, is
            # not the next work's (see raise_in_the_work).
            self._task, self._waiting_at, self._owed = None, None, None
            if self._interrupt_grace is not None:
                self._interrupt_grace.cancel()
                self._interrupt_grace = None
            stopped_idle, self._stopped_idle = self._stopped_idle, False
        if stopped and not stopped_idle:
            self._stop_held_back |= self.nested
            warnings.warn(AltCoopWarning(self._stopped_message), stacklevel=2)
        if self._interrupted:
            raise self.take_interruption()
        return task.result()

    def raise_in_the_work(self, error: BaseException, where: TracebackType | None) -> None:
        """From a signal handler: raise ``error`` in a loop callback, for the
        work running now (see :meth:`run`). If the signal came in the work's
        last turn (in a task its last step started), the loop turns once more
        before the work ends, and ``error`` is raised from ``where``, the
        suite's line the signal came in: the work's still, not the next
        test's. While the work waits, the line it waits at says more."""
        self._owed = (error, where)
        self.loop.call_soon_threadsafe(self._raise_owed)  # also ends the loop's wait

    def _raise_owed(self) -> None:
        __tracebackhide__ = True
        owed, self._owed = self._owed, None
        if owed is None:  # for a run that ended before
            return
        error, where = owed
        if self._task is not None and self._task.done():
            if where is not None:
                error = error.with_traceback(where)
        elif self._waiting_at is not None:
            # Its line now: the work may end in this turn, before the loop
            # stops (on uvloop, whose stop() is a callback), see _stop_work.
            self.raised_while_waiting_at = self._waiting_at()
        raise error

    def in_the_sessions_code(self) -> bool:
        """Whether the code running now is the session's: on a loop alt_coop
        made, all of it; on an application's, code run in a context the
        session marked (see _follow_session_tasks), not the application's."""
        return self.owned or in_session()

    def runs_work(self) -> bool:
        """Whether :meth:`run` is running work now."""
        return self._task is not None

    def runs_work_alone(self) -> bool:
        """Whether :meth:`run` is running one test's phase now (not a batch)."""
        return self._task is not None and self._alone

    def runs_code(self) -> bool:
        """Whether the loop is running code of its own now, rather than
        pytest's sync code: a test's sync code runs while a loop the session
        is nested in counts as running, but ``run`` is not at work."""
        if self.nested:
            return self.runs_work()
        return self.loop.is_running()

    def _stop_work(
        self, task: asyncio.Task[Any], error: BaseException, *, while_handling: bool = False
    ) -> NoReturn:
        """Raised into the loop while the work waited, by a signal handler
        (pytest-timeout's, say): the work is cancelled and its cleanup runs
        before the exception goes on, or it would run on into the tests after
        it. One that ignores the cancellation is given up on."""
        __tracebackhide__ = True
        self.raised_into_loop = error
        if self._waiting_at is not None and not task.done():
            self.raised_while_waiting_at = self._waiting_at()
        if (
            self._alone
            and self._interrupted
            and isinstance(error, KeyboardInterrupt)
            and not task.done()
        ):
            # A second Ctrl-C, or the first one's grace over: one test's phase
            # had its cancellation and goes on. Given up at once, as a batch's
            # tests are (a batch gives them up itself, once cancelled).
            self._given_up.add(task)
            error.add_note(
                "alt_coop: the fixture or test was still running after Ctrl-C cancelled it, "
                "and was abandoned"
            )
            where = self.raised_while_waiting_at
            if where is not None:  # pytest's one line names it, as for an interrupt it let out
                error = error.with_traceback(where)
        elif not task.done():
            # No longer the work: the grace wait's own stop of the loop must
            # not be refused, or a task that swallows its cancellation would
            # hold the run for ever.
            self._task = None
            _cancels.cancel(task, "alt_coop: stopped by an exception raised into the loop")
            self.loop.run_until_complete(asyncio.wait([task], timeout=CANCEL_GRACE_SECONDS))
            if not task.done():
                # Never resumed (see resumed): it would run on into the tests
                # after it, its output, logs and errors theirs.
                self._given_up.add(task)
                error.add_note(
                    f"alt_coop: the fixture or test did not end within {CANCEL_GRACE_SECONDS:g}s "
                    "of being cancelled, and was abandoned"
                )
        if task.done() and not task.cancelled():
            task.exception()  # retrieved: the exception raised into the loop wins
        if while_handling:  # the loop's "stopped before Future completed" says nothing
            raise error from None
        raise error

    def resumed(self) -> Leave | None:
        """For :func:`alt_coop._lanes.drive`, as the work ``run`` was given
        resumes: a task given up on after an exception raised into the loop
        is left where it waits."""
        if self._given_up and asyncio.current_task(self.loop) in self._given_up:
            return LEAVE
        return None

    def _forget_stop(self) -> None:
        """Clear the stop that cut a run short. asyncio's run_until_complete
        does (its run_forever clears it); nest-asyncio2's, which an embedded
        session leaves on the loop's class, does not, and every later run
        would stop after each turn and start again: the loop would spin the
        CPU while the tests wait. uvloop's stop() queues a callback, which
        may be left for the next run. A stop run_forever honours is cleared
        (with uvloop's queued one), after one turn of the loop."""
        type(self.loop).stop(self.loop)
        self.loop.run_forever()

    @property
    def interrupted_by_sigint(self) -> bool:
        return self._interrupted

    def interrupt_in_sync_code(self) -> KeyboardInterrupt | None:
        """Ctrl-C's interrupt, naming the line of a cooperative test's sync
        code it came during (a sync fixture's, which ran on), if it did."""
        where, self._ctrl_c_in_sync_code = self._ctrl_c_in_sync_code, None
        return KeyboardInterrupt().with_traceback(where) if where is not None else None

    def raised_by_ctrl_c(self, error: BaseException) -> bool:
        """Whether Ctrl-C raised ``error`` where the main thread was (in
        asyncio's ``select``, say), rather than a task or callback."""
        return error is self._ctrl_c_again

    def interrupt_after_the_test(self, interrupt: KeyboardInterrupt) -> None:
        """The work (a sequential test's phase) caught the interrupt's
        cancellation and raised an error of its own (a cleanup that failed):
        that error is the phase's outcome, reported as pytest reports it, and
        the session stops with ``interrupt`` once the test is over."""
        # Taken back, as the phase took back its cancellation: the rest of
        # the test's teardown runs as usual, and Ctrl-C again is a first one.
        self._interrupted = False
        self._after_the_test = self._after_the_test or interrupt

    def take_interrupt_after_the_test(self) -> KeyboardInterrupt | None:
        """The interrupt kept by :meth:`interrupt_after_the_test`, if any."""
        interrupt, self._after_the_test = self._after_the_test, None
        return interrupt

    def take_interruption(self) -> KeyboardInterrupt:
        """The interrupt for pytest: the first one raised in user code, if
        any, whose traceback ends at the line the user's code was waiting
        at, so that pytest's one-line report names that line."""
        interruption, self.interruption = self.interruption, None
        return interruption or KeyboardInterrupt()

    def _unmark(self) -> None:
        token, self._marked = self._marked, None
        if token is None:
            return
        try:
            _IN_SESSION.reset(token)
        except ValueError:  # closed from another context than the one it began in
            _IN_SESSION.set(False)

    def install_sigint_handler(self, *, replace: bool = False) -> None:
        """Route Ctrl-C to the running task, where the default handler is in
        place, or whatever handler is, with ``replace`` (until uninstalled)."""
        if threading.current_thread() is not threading.main_thread():
            return
        previous = signal.getsignal(signal.SIGINT)
        if previous is not signal.default_int_handler and not (
            replace and previous not in (signal.SIG_IGN, None)
        ):
            return
        signal.signal(signal.SIGINT, self._on_sigint)
        self._handles_sigint = True
        self._previous_sigint = previous

    def uninstall_sigint_handler(self) -> None:
        if self._handles_sigint and signal.getsignal(signal.SIGINT) == self._on_sigint:
            signal.signal(signal.SIGINT, self._previous_sigint)
        self._handles_sigint = False

    def take_back_sigint(self, seen: object) -> None:
        """Take Ctrl-C back from Python's default handler, left in place of
        this session's by a test (or a batch of them) that found it as
        ``seen``: asyncio's ``remove_signal_handler`` puts the default back,
        not what was there, and the rest of the session would have Ctrl-C
        reported at a line of asyncio's rather than at the user's (a fixture
        resetting its own handler to Python's as it ends does the same).
        Taken back only once that test is over (while it runs, a handler it
        sets on purpose stays), and not if it found Python's default already,
        set on purpose. A test run alone looks before its fixtures are set up
        (and finds Python's if they set it); a batch, as it starts."""
        if (
            self._handles_sigint
            and seen is not signal.default_int_handler
            and signal.getsignal(signal.SIGINT) is signal.default_int_handler
            and threading.current_thread() is threading.main_thread()
        ):
            signal.signal(signal.SIGINT, self._on_sigint)

    def _on_sigint(self, signum: int, frame: FrameType | None) -> None:
        # pytest's one-line report names the line the user's code was at.
        __tracebackhide__ = True
        self._sigints += 1
        task = self._task
        if task is None or task.done() or self._interrupted:
            self._ctrl_c_again = KeyboardInterrupt()
            raise self._ctrl_c_again
        self._interrupted = True
        driver = None
        if in_lane() or (self._alone and asyncio.current_task(self.loop) is task):
            # A test's sync code holds the loop: it runs on, and pytest's
            # line names where it was unless the cancellation meets the code.
            self._ctrl_c_in_sync_code = _tracebacks.where_frame_is(frame)[1]
            driver = lane_driver()
        elif (
            not self._alone
            and (tested := _lane_state.CURRENT.get()) is not None
            and tested.last_turn
        ):
            # A callback or task of a cooperative test's holds the loop in
            # the last turn of one of its phases (what the phase's last step
            # scheduled): as for the test's own sync code, the phase meets
            # the interrupt, as in a sequential run, rather than ending first.
            # (Held while the test waits, the wait meets the interrupt.)
            self._ctrl_c_in_sync_code = _tracebacks.where_frame_is(frame)[1]
            driver = tested.task
        if (
            driver is not None
            and driver is not task
            and _cancels.is_made_here(driver)
            and not _cancels.runs_main(driver)
        ):
            # A cooperative test's: interrupted now, so that it meets the
            # interrupt as the code returns or awaits, before its batch
            # stops (whose cancellation would cut its teardown short).
            # Not alt_coop.main's session, under run_coro_as_main: the main
            # task's cancellation interrupts it, and a second interrupt
            # would give its test up at once.
            _cancels.interrupt_in_sync_code(driver, self._ctrl_c_in_sync_code)
        _cancels.interrupt(task, "interrupted (Ctrl-C)")
        if self._alone:
            # One test's phase: bounded as a batch's tests are. (Scheduled from
            # the loop: this handler may have cut into its own scheduling.)
            self.loop.call_soon_threadsafe(self._start_interrupt_grace, task)
        else:
            self.loop.call_soon_threadsafe(_wake)

    def _start_interrupt_grace(self, task: asyncio.Task[Any]) -> None:
        if self._task is task and not task.done():
            self._interrupt_grace = self.loop.call_later(
                INTERRUPT_GRACE_SECONDS, self._interrupt_grace_over, task
            )

    def _interrupt_grace_over(self, task: asyncio.Task[Any]) -> None:
        """The interrupted work ignores its cancellation: stop waiting for it,
        as a second Ctrl-C would."""
        self._interrupt_grace = None
        if self._task is task and not task.done():
            raise KeyboardInterrupt

    def close(
        self,
        *,
        what: str,
        warn: bool = True,
        wait: Callable[[Coroutine[Any, Any, Any]], Any] | None = None,
        report_exits: bool = False,
    ) -> None:
        """Cancel the tasks left behind (naming them if ``warn``), then close the loop if owned.

        A ``SystemExit`` or ``KeyboardInterrupt`` a leftover raises as it ends
        does not stop the others' cleanup; it is raised at the end, or, with
        ``report_exits`` (a pytest session, which reports it after its
        results), an :class:`AltCoopError` that names it."""
        loop = self.loop
        if loop.is_closed():
            return
        self.closing = True
        raised: list[BaseException] = []
        # A Ctrl-C while the tasks left behind end stops that wait; raised
        # once the loop is put back (and closed, if owned) and they are named.
        interrupts: list[KeyboardInterrupt] = []
        sigints = self._sigints

        def no_ctrl_c(exc: BaseException) -> bool:
            return self._sigints == sigints

        def raised_by_a_task(exc: BaseException) -> bool:
            # Out of the loop while the work waited (see _stop_work), not an
            # interrupt of the work's own; in a lane (alt_coop.main), a
            # task's would have left the application's loop instead.
            return exc is self.raised_into_loop and no_ctrl_c(exc)

        through = _leftover_tasks.waiting_through_exits(wait or self.run, raised_by_a_task, raised)
        # alt_coop's own tasks still running a test (given up on, each said
        # so): woken to be left where they wait, not named here. Not passed on
        # to a task the test awaits, which had its cancellation.
        current = asyncio.current_task(loop)
        given_up = set(self._given_up) | {
            task
            for task in self._ours(asyncio.all_tasks(loop))
            if _cancels.is_made_here(task) and task is not current
        }
        for task in given_up:
            let_go(task)
            _cancels.cancel(task, f"alt_coop: left where it waits at the end of the {what}")
        # What the session changed on an application's loop is put back even
        # when Ctrl-C cuts the cleanup short; not before the tasks left behind
        # are cancelled, though: what their clean-up starts is the session's.
        messages: list[str] = []
        where = None
        try:
            try:
                try:
                    through(lambda: _leftover_tasks.generators_closed(self._ours))
                except KeyboardInterrupt as interrupt:  # as in the wait for tasks, below
                    interrupts.append(interrupt)
                ended = set(given_up)
                for round_ in range(_CLEAN_UP_ROUNDS):
                    tasks = self._ours(asyncio.all_tasks(loop)) - ended
                    # No round after an exit or a Ctrl-C (in a Loop block,
                    # which has no Ctrl-C handler, that is an exit too).
                    if (
                        not tasks
                        or interrupts
                        or (round_ and (raised or self._sigints != sigints))
                    ):
                        break
                    where = where or _leftover_tasks.where_written(tasks)
                    messages.append(
                        _leftover_tasks.cancel(
                            tasks, through, what=what, warn=warn, interrupts=interrupts
                        )
                    )
                    ended |= tasks
            finally:
                if not self.owned:
                    self._stop_following_factories()
                    self._unmark()
                followed, self._timers = self._timers, None
                timers, timers_where = followed.end(what) if followed is not None else ("", None)
            if warn:  # timers: the warning that names them
                messages.append(timers)
                where = where or timers_where
            message = "; ".join(part for part in messages if part)
        finally:
            if self._stop_patched and not self.owned:  # the loop runs no more for the session
                self._give_back_stop()
        if self.owned:
            try:
                if running_loop() is None and not interrupts:  # else as the interrupt asks
                    # Each bounded: an async generator's cleanup, or a thread,
                    # may go on forever; the generators are named.
                    for shutdown, whose, consequence, named in (
                        (
                            loop.shutdown_asyncgens,
                            "async generators left open",
                            "",
                            _leftover_tasks.open_generators(loop),
                        ),
                        (
                            functools.partial(_shutdown_default_executor, loop),
                            "the default executor's threads",
                            " A thread still running a job keeps the process from exiting "
                            "until the job returns: give the blocking calls in jobs a "
                            "timeout, so that they end with the test that waited for them.",
                            [],
                        ),
                    ):
                        # Not wait_for: it waits on for a cancelled cleanup to end.
                        task = loop.create_task(shutdown())
                        _leftover_tasks.waiting_through_exits(
                            loop.run_until_complete, no_ctrl_c, raised
                        )(functools.partial(asyncio.wait, [task], timeout=CANCEL_GRACE_SECONDS))
                        if not task.done():
                            task.cancel()  # once; it is not waited for again
                            names, written = _leftover_tasks.not_closed(named)
                            where = where or written
                            message += (
                                f"{' ' if message else ''}alt_coop stopped waiting for the "
                                f"cleanup of {whose} at the end of the {what}, after "
                                f"{CANCEL_GRACE_SECONDS:g}s{names}.{consequence}"
                            )
                # else a session run by a test of another (pytester, say): its
                # work ran on the outer session's running loop, not on this one.
            except RuntimeError:
                pass
            finally:
                loop.close()
        also = ""
        if message:  # last, so that -W error cannot leave the loop open
            try:
                if where is None:
                    warnings.warn(AltCoopWarning(message), stacklevel=2)
                else:
                    warnings.warn_explicit(AltCoopWarning(message), AltCoopWarning, *where)
            except Warning as error:  # -W error: the exits' report, if any, says both
                if not ((raised and report_exits) or interrupts):
                    raise
                also = f"; and {type(error).__name__}: {error}"
        if interrupts:
            if also:  # the interrupt is the run's outcome; the warning is said with it
                interrupts[0].add_note(also.removeprefix("; and "))
            raise interrupts[0]
        if raised and report_exits:
            raise AltCoopError(_leftover_tasks.exits_text(raised, what) + also) from raised[0]
        if raised:
            raise raised[0]


async def _shutdown_default_executor(loop: asyncio.AbstractEventLoop) -> None:
    """``loop.shutdown_default_executor()``, but one that can be given up on.

    asyncio's joins its helper thread when cancelled (``finally:
    thread.join()``, without a timeout before 3.13), so a job that never
    returns would block the end of the session in that join. Here the join
    happens in a daemon thread, and cancelling stops only the waiting.
    """
    # CPython's selector and proactor loops keep it here (3.11 to 3.14); a
    # loop without it uses its own shutdown, as asyncio.run would.
    if not hasattr(loop, "_default_executor"):
        await loop.shutdown_default_executor()
        return
    executor: concurrent.futures.Executor | None = loop._default_executor
    if executor is None:
        return
    joined = loop.create_future()

    def join() -> None:
        executor.shutdown(wait=True)
        with contextlib.suppress(RuntimeError):  # the loop closed first: given up on
            loop.call_soon_threadsafe(resolve, joined)

    threading.Thread(target=join, name="alt_coop executor shutdown", daemon=True).start()
    await joined


def resolve(future: asyncio.Future[None]) -> None:
    """Mark ``future`` done, unless it is already."""
    if not future.done():
        future.set_result(None)


#: Set in the context pytest runs in while a session runs on an application's
#: loop, and so in every context copied from it: the tests', and those of the
#: callbacks they schedule.
_IN_SESSION: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "alt_coop_in_session", default=False
)


def _wake() -> None:
    """Scheduled from a signal handler so a loop blocked in select() wakes up."""


def _catching_lost_exceptions(
    loop: asyncio.AbstractEventLoop, lost: list[BaseException]
) -> contextlib.AbstractContextManager[None]:
    """Put in ``lost``, and stop the loop for, an exception that is no
    error of the code (pytest's outcomes, raised by a signal handler) raised
    inside a callback, which asyncio would log and go on. Others go on."""

    def handler(context: dict[str, Any], pass_on: Callable[[dict[str, Any]], None]) -> None:
        error = context.get("exception")
        if lost_to_asyncio(error):
            assert isinstance(error, BaseException)
            if not lost:
                lost.append(error)
                type(loop).stop(loop)
            return
        pass_on(context)

    return exception_handler_in_front(loop, handler)


def lost_to_asyncio(error: object) -> bool:
    """Whether ``error``, in an asyncio error report, is no error of the code
    but would be lost all the same: pytest's outcomes (``pytest.fail()`` in
    a callback, say) and what a signal handler raises there."""
    return isinstance(error, BaseException) and not isinstance(
        error, (Exception, asyncio.CancelledError)
    )


@contextlib.contextmanager
def exception_handler_in_front(
    loop: asyncio.AbstractEventLoop,
    handler: Callable[[dict[str, Any], Callable[[dict[str, Any]], None]], None],
) -> Iterator[None]:
    """Within the block, asyncio's error reports (an exception in a
    callback, a task's never retrieved) go to ``handler`` first, with a
    function that passes one on to the handler set before (or asyncio's
    default): ``loop.get_exception_handler()`` returns alt_coop's meanwhile.
    The one before is put back at the end, unless the code set its own."""
    previous = _live_handler(loop.get_exception_handler())

    def pass_on(context: dict[str, Any]) -> None:
        if previous is None:
            loop.default_exception_handler(context)
        else:
            previous(loop, context)

    def in_front(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if in_front in _ended_in_front:  # put back after its block, see below
            pass_on(context)
        else:
            handler(context, pass_on)

    loop.set_exception_handler(in_front)
    try:
        yield
    finally:
        # Code may have saved it, to put it back later (a fixture restoring
        # what it found as its setup's phase ran): once its block is over,
        # it stands for the one it passes reports on to.
        _ended_in_front[in_front] = previous
        now = loop.get_exception_handler()
        live = _live_handler(now)
        if live is not now:  # this block's own, or an earlier one's put back
            loop.set_exception_handler(live)


#: alt_coop's handlers (see exception_handler_in_front) whose blocks ended,
#: each with the one it passes reports on to.
_ended_in_front: weakref.WeakKeyDictionary[Callable[..., Any], Any] = weakref.WeakKeyDictionary()


def _live_handler(handler: Any) -> Any:
    """``handler``, or, if it is alt_coop's of a block that ended, the one
    it passes reports on to. (Only functions are looked up: an application's
    handler may be an object that cannot be hashed.)"""
    while isinstance(handler, types.FunctionType) and handler in _ended_in_front:
        handler = _ended_in_front[handler]
    return handler


_stack: list[SessionLoop] = []


class _MadeCurrent(threading.local):
    """Who decides which loop is this thread's current one, innermost last:
    alt_coop, for a session's own loop or an :class:`alt_coop.Loop`'s (None
    for ``Loop(new_loop=False)``, whose code must find none), or the
    application, for a session on its loop (which hides the loop an outer
    session made current: a test of that session runs this one)."""

    def __init__(self) -> None:
        #: (the loop, whether alt_coop made it current)
        self.loops: list[tuple[asyncio.AbstractEventLoop | None, bool]] = []


_made_current = _MadeCurrent()


def make_current(loop: asyncio.AbstractEventLoop | None) -> None:
    """Make ``loop`` the thread's current one until :func:`unmake_current`."""
    _made_current.loops.append((loop, True))
    asyncio.set_event_loop(loop)


def leave_current_to_the_application(loop: asyncio.AbstractEventLoop) -> None:
    """A session on the application's ``loop`` leaves it to the application
    which loop is current, until :func:`unmake_current`."""
    _made_current.loops.append((loop, False))


def unmake_current(loop: asyncio.AbstractEventLoop | None) -> None:
    """``loop``'s time as the current one is over; its caller says which
    loop is current now."""
    loops = _made_current.loops
    for index in range(len(loops) - 1, -1, -1):
        if loops[index][0] is loop:
            del loops[index]
            return


def made_current() -> asyncio.AbstractEventLoop | None:
    """The loop alt_coop made this thread's current one last, if it decides."""
    loops = _made_current.loops
    return loops[-1][0] if loops and loops[-1][1] else None


def makes_current() -> bool:
    """Whether alt_coop decides which loop is this thread's current one (its
    session's, an ``alt_coop.Loop``'s, or none in a ``Loop(new_loop=False)``):
    not in a session on an application's loop, nor outside any session."""
    loops = _made_current.loops
    return bool(loops) and loops[-1][1]


def loops_made_current() -> int:
    """How many sessions and :class:`alt_coop.Loop` blocks this thread is in."""
    return len(_made_current.loops)


#: The loop methods the session patches on an application's loop while it
#: follows the task factories set.
_FACTORY_METHODS = ("set_task_factory", "get_task_factory")


def stopped_for_sync_code() -> bool:
    """Whether the calling code is a lane's synchronous code, outside the
    coroutines it steps, that sees the loop stopped (see :class:`loop_seen`)."""
    lane = greenlet.getcurrent()
    return isinstance(lane, Lane) and lane.stops_the_loop and not lane.stepping


class loop_seen:
    """Within the block, code in a lane that stops the loop for its
    synchronous code (a cooperative test's) sees the loop stopped
    (``stopped=True``: a sync fixture's code), or running (alt_coop's own,
    setting up an async fixture such code asks for); the coroutines it steps
    always see it running (see :func:`alt_coop._lanes.step`). As synchronous
    code sees the loop in a sequential run, which drives the loop from above
    and stops it between phases: ``asyncio.run()`` and a loop of its own
    (Django's ``async_to_sync``) then work there, holding the loop meanwhile,
    as they do sequentially; and code asking whether it runs in async code
    (``asyncio.get_running_loop()``, sniffio) gets a sequential run's answer.
    Entered outside such a lane, it changes nothing.
    """

    __slots__ = ("_before", "_changed", "_stopped")

    def __init__(self, *, stopped: bool) -> None:
        self._stopped = stopped

    def __enter__(self) -> None:
        self._before = before = asyncio._get_running_loop()
        self._changed = False
        if not stopped_for_sync_code():
            return
        driver = cast(Lane, greenlet.getcurrent()).driver
        assert driver is not None, "a lane that stops the loop has a driver"
        loop = driver.get_loop()
        if self._stopped:
            # Not a loop of the code's own, which it runs meanwhile (its
            # asyncio.run(), whose code asks for a sync fixture).
            self._changed = before is loop
            if self._changed:
                asyncio._set_running_loop(None)
        elif before is None:
            self._changed = True
            asyncio._set_running_loop(loop)

    def __exit__(self, *exc_info: object) -> None:
        if self._changed:
            asyncio._set_running_loop(self._before)


@contextlib.contextmanager
def tasks_made_seeing_it_run(loop: asyncio.AbstractEventLoop) -> Iterator[None]:
    """Within the block, a task made on ``loop`` by code that sees it stopped
    (see :class:`loop_seen`) is made seeing it running: under an eager task
    factory, its coroutine's first step runs there and then, as the loop
    runs. ``loop.create_task`` is one of alt_coop's meanwhile, unless one was
    set on the loop itself (a spy a test checks, say) or the loop takes no
    attributes."""
    own = getattr(loop, "__dict__", None)
    if own is None or "create_task" in own:
        yield
        return

    def create_task_seeing_it_run(coro: Any, **kwargs: Any) -> Any:
        # The class's, looked up at each call: one patched meanwhile is called.
        if asyncio._get_running_loop() is not None:  # the usual case
            return type(loop).create_task(loop, coro, **kwargs)
        with loop_seen(stopped=False):
            return type(loop).create_task(loop, coro, **kwargs)

    own["create_task"] = create_task_seeing_it_run
    try:
        yield
    finally:
        if own.get("create_task") is create_task_seeing_it_run:
            del own["create_task"]


def current_loops() -> Any:
    """Where asyncio keeps each thread's current event loop (the default
    policy's thread-local, whose ``_loop`` is the calling thread's), or None
    under a policy of another kind. Read there, since asyncio's one reader,
    ``get_event_loop()``, answers the running loop first, and may warn or
    make a loop where none is set. Checked on Python 3.11, 3.12 and 3.13."""
    policy = getattr(asyncio.events, "_event_loop_policy", None)
    loops = getattr(policy, "_local", None)
    return loops if hasattr(loops, "_loop") else None


def current_again() -> None:
    """Make the loop alt_coop made current the current one again, while it
    is stopped: ``asyncio.run()`` in sync code leaves no loop current when it
    ends, and sync code after it that asks for "the" loop
    (``asyncio.get_event_loop()``) would fail. An application's loop is the
    application's to make current."""
    loop = made_current()
    if loop is not None and not loop.is_closed() and _sees_it_stopped(loop):
        asyncio.set_event_loop(loop)


def _sees_it_stopped(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether the calling code sees ``loop`` stopped: it is, or the code is a
    cooperative test's synchronous code (see :class:`loop_seen`)."""
    return not loop.is_running() or stopped_for_sync_code()


def push(session_loop: SessionLoop) -> None:
    _stack.append(session_loop)


def pop(session_loop: SessionLoop) -> None:
    if session_loop in _stack:
        _stack.remove(session_loop)


def at_work_on(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether a session runs its work on ``loop`` now (a phase of a test, a
    batch): a session started there then, by a task a test started, would
    run beside it. (One started from a sync test, which runs while the
    session's work does not, is nested in it.)"""
    return any(session_loop.loop is loop and session_loop.runs_work() for session_loop in _stack)


def current() -> SessionLoop | None:
    """The loop that async fixtures and tests run on right now, if any."""
    return _stack[-1] if _stack else None


def interrupted_by_sigint() -> bool:
    """Whether Ctrl-C interrupted a session running now: the one whose
    handler saw it may be one a session runs nested in."""
    return any(session_loop.interrupted_by_sigint for session_loop in _stack)


def line_of_sync_code_interrupted() -> TracebackType | None:
    """The line a test's sync code was at when Ctrl-C came, holding the
    loop while a session (or one it runs nested in) ran that test's phase
    alone; taken once."""
    for session_loop in reversed(_stack):
        if session_loop.runs_work_alone():
            interrupt = session_loop.interrupt_in_sync_code()
            if interrupt is not None:
                return interrupt.__traceback__
    return None
