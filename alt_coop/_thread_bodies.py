"""Plain ``def`` cooperative tests: their bodies run in worker threads.

A sync body would hold the loop, and with it every other test in flight, for
as long as it runs; in a thread of its own it holds only its lane. Its
fixtures still run on the loop, and pytest's own ``pytest_pyfunc_call`` calls
it through a stand-in (:func:`in_thread`), which waits for the thread.

PYTEST_DONT_REWRITE (see alt_coop/__init__.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import threading
import weakref
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any

import pytest

from . import _cancels, _lane_state, _pytest_compat, _session_loop
from ._runner import new_interrupt, run
from ._timeouts import cap_of, capped_tasks
from ._tracebacks import where_thread_is
from .errors import AltCoopUsageError

#: Set in the context a plain def cooperative test's body runs in, in a worker thread.
IN_WORKER_THREAD: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "alt_coop_in_worker_thread", default=False
)

#: The worker threads running plain def cooperative tests' bodies.
_body_threads: weakref.WeakSet[threading.Thread] = weakref.WeakSet()


def in_a_body_thread() -> bool:
    """Whether the caller runs in a plain def cooperative test's worker
    thread, where the session's loop never runs: a loop running there is the
    thread's own (not code the body sends to the session's loop, which
    copies its context)."""
    return threading.current_thread() in _body_threads


def in_thread(item: pytest.Function) -> Callable[..., object]:
    """A stand-in for ``item``'s body that runs it in a worker thread, from
    its lane, once called (by pytest's own hook, after the other plugins'
    ones, as the body would be): it returns what the body returned or
    raises what it raised (a StopIteration too, which no coroutine or
    generator could pass on)."""
    body = item.obj
    request = _pytest_compat.item_request(item)

    def stand_in(**kwargs: object) -> object:
        __tracebackhide__ = True
        call = functools.partial(body, **kwargs)
        with _refused_in_thread(request):
            ran = _body_in_thread(contextvars.copy_context(), call, item.nodeid)
            result, error = run(ran, None)
        if error is not None:
            raise error
        return result

    return stand_in


async def _body_in_thread(
    context: contextvars.Context, call: Callable[[], object], nodeid: str
) -> tuple[object, BaseException | None]:
    """Run a sync cooperative test's body in a thread of its own; what it
    returned, or what it raised.

    Not in the loop's default executor: its few workers (``min(32, CPUs + 4)``)
    would queue the bodies beyond them, their wait counted as test time and
    against ``--asyncio-task-timeout``, and they would starve the pool work
    of the tests on the loop. The in-flight limit bounds the threads.
    """
    __tracebackhide__ = True
    loop = asyncio.get_running_loop()
    # The outcome is the future's result, never its exception: asyncio
    # refuses a StopIteration as one.
    returned: asyncio.Future[tuple[object, BaseException | None]] = loop.create_future()
    # The body finds the loop current that a sequential run's would.
    loops = _session_loop.current_loops()
    current = None if loops is None else loops._loop

    def in_thread() -> None:
        outcome: tuple[object, BaseException | None]
        if current is not None:
            asyncio.set_event_loop(current)
        try:
            outcome = (context.run(call), None)
        except BaseException as exc:  # the test's outcome, raised where pytest calls it
            outcome = (None, exc)
        # The loop is closed once Ctrl-C's grace ran out: nothing waits then.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(returned.set_result, outcome)

    with _lane_state.bodies_in_threads.one_running(nodeid):
        context.run(IN_WORKER_THREAD.set, True)
        # Not a daemon: the process ends once the body returns, as pytest's would.
        thread = threading.Thread(target=in_thread, name=f"alt_coop: {nodeid}")
        _body_threads.add(thread)
        thread.start()
        cap = cap_of(asyncio.current_task())
        if cap is not None:  # its report names the line the thread is at
            cap.body_thread = thread
        try:
            return await asyncio.shield(returned)
        except asyncio.CancelledError as cancelled:
            task = asyncio.current_task()
            interrupted, where = _interrupt_of(task, thread, cancelled)
            # A thread cannot be stopped: its fixtures are torn down only once
            # its body has returned. Cancelled again meanwhile (not by an
            # interrupt), it stops waiting; interrupted, before or after its
            # cap fired, only the grace's end stops it (its test's cap firing
            # fails the test once the body returns).
            while not returned.done():
                try:
                    await asyncio.wait([returned])
                except KeyboardInterrupt as stopped:  # given up on after the grace
                    if where is None:
                        raise
                    raise stopped.with_traceback(where) from None  # the body's line
                except asyncio.CancelledError as again:
                    if not interrupted:
                        interrupted, where = _interrupt_of(task, thread, again)
                        if not interrupted:
                            raise
            error = returned.result()[1]
            if task is None or not interrupted:
                if error is not None:
                    # Raised as the cancellation ends the test, as an async
                    # body's error would be: shown with the cap's report (its
                    # own cause, if any, kept).
                    raise error  # noqa: B904
                raise
            # Nothing cut the body short: its outcome is the test's, as in a
            # sequential run, where the interrupt comes after the body (or
            # stops it there). Its teardown runs as any test's, and then the
            # run stops, naming the line the body was at when the interrupt came.
            _cancels.take_interrupt(task)
            state = _lane_state.CURRENT.get()
            if state is not None:
                _lane_state.outlived_interrupts[state] = new_interrupt().with_traceback(where)
            if error is not None and task in capped_tasks:
                raise error  # noqa: B904  # as above: the cap's report shows it
            return returned.result()
        finally:
            if cap is not None:
                cap.body_thread = None


def lock_temporary_directories(config: pytest.Config) -> None:
    """Make the session's temporary directory factory one thread at a time,
    for a batch, whose tests' threads (plain ``def`` bodies, the work they
    hand to threads) may call it at once.

    pytest's factory (``config._tmp_path_factory``, what ``tmp_path_factory``
    gives and ``tmpdir_factory`` wraps; checked on pytest 8.3 to 9.2) makes
    the base directory on first use, clearing it, and numbers the directories
    it makes, unlocked: threads calling it at once failed, or removed each
    other's directories. The loop's callers (``tmp_path``) take the lock too,
    but hold it only for a ``mkdir``.
    """
    factory = getattr(config, "_tmp_path_factory", None)  # absent with -p no:tmpdir
    if factory is None or _LOCKED_FACTORY in vars(factory):
        return
    lock = threading.RLock()  # mktemp calls getbasetemp

    def locked(method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def call(*args: Any, **kwargs: Any) -> Any:
            with lock:
                return method(*args, **kwargs)

        return call

    for name in ("mktemp", "getbasetemp"):
        setattr(factory, name, locked(getattr(factory, name)))
    setattr(factory, _LOCKED_FACTORY, True)


_LOCKED_FACTORY = "_alt_coop_locked"


def _interrupt_of(
    task: asyncio.Task[Any] | None, thread: threading.Thread, cancelled: asyncio.CancelledError
) -> tuple[bool, TracebackType | None]:
    """Whether ``cancelled``, met by ``task``, is an interrupt (pending, or a
    runner's shutdown's), and the line its body's thread is at then (for
    pytest's line about the interrupt)."""
    if task is None or not _cancels.met_an_interrupt(task, cancelled):
        return False, None
    return True, where_thread_is(thread.ident)[1] if thread.ident else None


def set_up_refused(argname: str) -> AltCoopUsageError:
    """The error for a fixture that a thread body's code asks to set up
    (through a fixture's own ``request.getfixturevalue``, kept by the body):
    pytest's state of the test lives on the loop's thread."""
    return AltCoopUsageError(
        f"the fixture {argname!r} cannot be set up from a plain def cooperative test, "
        "whose body runs in a worker thread (through request.getfixturevalue): "
        "ask for the fixture as an argument, or make the test async"
    )


@contextlib.contextmanager
def _refused_in_thread(request: pytest.FixtureRequest) -> Iterator[None]:
    """What a test's ``request`` cannot do from a worker thread says so.

    Setting a fixture up or registering a finalizer needs pytest's state of
    the test, which lives on the loop's thread. (``request.node.addfinalizer``
    only appends to the test's own list, which nothing else touches while
    its body runs; an async finalizer is refused by :mod:`alt_coop._finalizers`,
    its default timeout being a fixture's value.)
    """

    def refuse(what: str, instead: str) -> Callable[..., Any]:
        def refused(*args: object, **kwargs: object) -> Any:
            __tracebackhide__ = True
            raise AltCoopUsageError(
                f"request.{what} cannot be called from a plain def cooperative test, "
                f"whose body runs in a worker thread: {instead}, or make the test async"
            )

        return refused

    refusals = {
        "getfixturevalue": "ask for the fixture as an argument",
        "addfinalizer": "add the finalizer in a fixture of your own, which the test asks for",
    }
    for name, instead in refusals.items():
        setattr(request, name, refuse(name, instead))
    try:
        yield
    finally:
        for name in refusals:
            delattr(request, name)
