"""Threads a cooperative test starts, and what it hands to thread pools, run as its own.

In a sequential run whatever a thread prints, logs or raises meanwhile is
the running test's; in a batch, :data:`alt_coop._lane_state.CURRENT` says
whose it is, and :func:`threads_follow_their_test` sets it where the code
runs: in a thread the test starts, in the work it hands to a pool, in the
pool's ``initializer`` as a worker it started starts, and in the done
callbacks it adds to a ``concurrent.futures`` future.

Private names of ``concurrent.futures`` used here, checked on Python 3.11,
3.12 and 3.13: a ``ThreadPoolExecutor``'s ``_initializer`` and
``_initargs``, which the worker a ``submit`` starts takes as it is made.

PYTEST_DONT_REWRITE (see alt_coop/__init__.py).
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import contextvars
import functools
import itertools
import logging
import operator
import sys
import threading
import types
import weakref
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from ._lane_state import CURRENT, LaneState, started_by

T = TypeVar("T")


@contextlib.contextmanager
def threads_follow_their_test() -> Iterator[None]:
    """Threads a test starts, and work it hands to a thread pool
    (``loop.run_in_executor``), run as that test's: their output, log records
    and uncaught exceptions are its own, as in a sequential run.

    A thread is marked in the context it runs in, not moved to one of
    alt_coop's: another wrapper of ``Thread.start`` (pytest-check 3's) may
    have put the test's state of its own there. A pool's worker serves many
    tests, so each piece of work runs marked as its submitter's in a copy
    of the worker's context (see :func:`_as_test_in_the_workers_context`; in
    a copy of the test's if such a wrapper is on).
    """
    start, submit = threading.Thread.start, concurrent.futures.ThreadPoolExecutor.submit
    add_done_callback = concurrent.futures.Future.add_done_callback
    # A plugin that starts threads in their starter's context (pytest-check
    # 3, which keeps its per-test state there) has pool work see its test's.
    in_a_copy = getattr(start, "__module__", "threading") != "threading"

    def start_as_test(thread: threading.Thread) -> None:
        __tracebackhide__ = True  # what they raise is raised at the caller's line
        state = CURRENT.get()
        if state is not None:
            started_by[thread] = state
            thread.run = _after(functools.partial(CURRENT.set, state), thread.run)  # type: ignore[method-assign, assignment]
        start(thread)

    def submit_as_test(
        executor: concurrent.futures.ThreadPoolExecutor, fn: Any, /, *args: Any, **kwargs: Any
    ) -> Any:
        __tracebackhide__ = True  # what they raise is raised at the caller's line
        state = CURRENT.get()
        if state is None:
            return _submit_starting_workers_as(None, submit, executor, fn, *args, **kwargs)
        work: Callable[[], Any]
        if _in_copy_of(fn, state):
            work = functools.partial(fn, *args, **kwargs)
        elif in_a_copy:
            # In the test's context, as a plugin's threads start in their
            # starter's (its state is there, see above), CURRENT in it.
            work = functools.partial(contextvars.copy_context().run, fn, *args, **kwargs)
        else:
            work = _as_test_in_the_workers_context(state, functools.partial(fn, *args, **kwargs))
        # Outside the test: a worker this starts serves every test after it.
        return contextvars.Context().run(
            _submit_starting_workers_as, state, submit, executor, work
        )

    def add_done_callback_as_test(future: concurrent.futures.Future[Any], fn: Any) -> None:
        __tracebackhide__ = True  # what they raise is raised at the caller's line
        state = CURRENT.get()
        # Not asyncio's own (``wrap_future``'s, on every ``run_in_executor``),
        # which only hands the outcome to the loop; nor one a done future
        # calls at once, here, as the test.
        if (
            state is not None
            and getattr(fn, "__module__", None) != "asyncio.futures"
            and not future.done()
        ):
            fn = _callback_as_test(state, fn)
        add_done_callback(future, fn)

    threading.Thread.start = start_as_test  # type: ignore[method-assign, assignment]
    concurrent.futures.ThreadPoolExecutor.submit = submit_as_test  # type: ignore[method-assign, assignment]
    concurrent.futures.Future.add_done_callback = add_done_callback_as_test  # type: ignore[method-assign, assignment]
    try:
        yield
    finally:
        threading.Thread.start = start  # type: ignore[method-assign]
        concurrent.futures.ThreadPoolExecutor.submit = submit  # type: ignore[method-assign]
        concurrent.futures.Future.add_done_callback = add_done_callback  # type: ignore[method-assign]


#: Each pool's, held while a submit to it runs if it has an ``initializer``,
#: which is swapped meanwhile (see :func:`_submit_starting_workers_as`).
_initializer_swaps: weakref.WeakKeyDictionary[Any, threading.Lock] = weakref.WeakKeyDictionary()
_new_swap_lock = threading.Lock()


def _submit_starting_workers_as(
    state: LaneState | None, submit: Callable[..., T], executor: Any, *args: Any, **kwargs: Any
) -> T:
    """``submit(executor, ...)``, a worker it starts running the pool's
    ``initializer`` as ``state``'s test, as in a sequential run, where it is
    the running test's: in the worker's own context (what it sets there is
    the pool work's to see), ``CURRENT`` set for the initializer alone, but
    left set if it fails, for ``concurrent.futures``' record of it (the
    worker ends then). Composed of C functions: its traceback shows no frame
    of alt_coop's.
    """
    __tracebackhide__ = True
    if getattr(executor, "_initializer", None) is None:
        return submit(executor, *args, **kwargs)
    with _new_swap_lock:
        swap = _initializer_swaps.setdefault(executor, threading.Lock())
    with swap:  # read inside: another thread's submit swaps them meanwhile
        initializer, initargs = executor._initializer, executor._initargs
        steps = (
            functools.partial(CURRENT.set, state),
            functools.partial(initializer, *initargs),
            functools.partial(CURRENT.set, None),
        )
        executor._initializer = functools.partial(collections.deque, map(operator.call, steps), 0)
        executor._initargs = ()
        try:
            return submit(executor, *args, **kwargs)
        finally:
            executor._initializer, executor._initargs = initializer, initargs


def _callback_as_test(
    state: LaneState, fn: Callable[[concurrent.futures.Future[Any]], object]
) -> Callable[[concurrent.futures.Future[Any]], None]:
    """A future's done callback ``fn`` run as ``state``'s test, whichever
    thread completes the future (a pool's worker, mostly), in a copy of that
    thread's context.

    ``concurrent.futures`` logs the error a callback raises, outside the
    callback: it is logged here, in the copy, as it would be (its record
    naming the line that called the callback, its traceback starting there).
    """

    def as_test(future: concurrent.futures.Future[Any]) -> None:
        if CURRENT.get() is state:  # its test's own thread: the future was done
            fn(future)
            return
        context = contextvars.copy_context()
        context.run(CURRENT.set, state)
        try:
            context.run(fn, future)
        except BaseException as error:
            if not isinstance(error, Exception):
                # Not caught by concurrent.futures: it ends the pool's worker
                # (the thread completing the future), which logs it, as the
                # test's in a sequential run.
                CURRENT.set(state)
                raise
            caller = sys._getframe(1)
            traceback = error.__traceback__
            if traceback is not None:  # this frame's entry made the caller's
                traceback = types.TracebackType(
                    traceback.tb_next, caller, caller.f_lasti, caller.f_lineno
                )
            context.run(
                _FUTURES_LOGGER.exception,
                "exception calling callback for %r",
                future,
                exc_info=error.with_traceback(traceback),
                stacklevel=2,
            )

    return as_test


_FUTURES_LOGGER = logging.getLogger("concurrent.futures")


def _in_copy_of(fn: object, state: LaneState) -> bool:
    """Whether ``fn`` runs in a copy of ``state``'s test's context already,
    as ``asyncio.to_thread`` hands work over: it is that test's, and no frame
    of alt_coop's shows in the traceback of an error it raises."""
    run = getattr(fn, "func", None)
    context = getattr(run, "__self__", None)
    return isinstance(context, contextvars.Context) and context.get(CURRENT) is state


def _as_test_in_the_workers_context(state: LaneState, work: Callable[[], T]) -> Callable[[], T]:
    """``work``, handed to a pool, run as ``state``'s test: in a copy of the
    worker thread's context, made as it starts, with ``CURRENT`` set there.

    Not in the test's context (a sqlite connection or a decimal context the
    test keeps there is not the worker's), nor in the worker's own, which
    would keep the test's mark for the next work: a copy of it has what the
    pool's ``initializer`` set, as asyncio's pool work finds. Composed of C
    functions alone (each ``next`` pulls one value through a ``map``; the
    first of ``as_test``'s two, the token, is skipped): work that names its
    caller's line (``stacklevel=2`` of a warning or log record) names the
    pool's, no frame of alt_coop's between, and an error it raises shows
    none either.
    """
    steps: tuple[Callable[[], object], ...] = (functools.partial(CURRENT.set, state), work)
    call: Callable[[Callable[[], object]], object] = operator.call
    as_test = functools.partial(next, itertools.islice(map(call, steps), 1, None))
    copies = iter(contextvars.copy_context, None)  # a copy each time it is asked, never None
    return functools.partial(next, map(operator.methodcaller("run", as_test), copies))


def _after(first: Callable[[], object], then: Callable[[], object]) -> Callable[[], object]:
    """``then`` called after ``first``, in the same context, dropping what
    ``then`` returns.

    Through C functions alone: a thread's uncaught exception is printed with
    its traceback, which then shows no frame of alt_coop's. (``all`` goes on
    past ``first``, whose result is a token, always true.)
    """
    return functools.partial(all, map(operator.call, (first, then)))
