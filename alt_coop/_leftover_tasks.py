"""Tasks still running when a session, or a loop a fixture installed, ends.

Each is cancelled once (if it has not been already) and given a bounded
grace to clean up; one that swallows its cancellation is abandoned, never
awaited without a bound. A warning names them all, and points at the code
that made them: the suite's if any is, rather than alt_coop's or asyncio's.
The same goes for async generators left open whose cleanup does not end.

PYTEST_DONT_REWRITE (see alt_coop/__init__.py).
"""

from __future__ import annotations

import asyncio
import collections
import inspect
from collections.abc import Callable, Coroutine, Iterable
from types import AsyncGeneratorType, CodeType
from typing import Any

from . import _cancels
from ._tracebacks import remoteness

#: How long tasks left behind get, after their one cancellation, to finish.
CANCEL_GRACE_SECONDS = 2.0

#: What a task that raises it as it ends raises out of the loop as well
#: (asyncio's Task re-raises them from its step), cutting the waiting short.
LOOP_ENDING = (SystemExit, KeyboardInterrupt)

Wait = Callable[[Coroutine[Any, Any, Any]], Any]


def waiting_through_exits(
    wait: Wait, is_exit: Callable[[BaseException], bool], raised: list[BaseException]
) -> Callable[[Callable[[], Coroutine[Any, Any, Any]]], Any]:
    """``wait`` for the coroutines a function makes, on through what a task
    left behind raises out of the loop as it ends (``sys.exit()`` in its
    ``finally``), which ``is_exit`` tells from an interrupt: that goes in
    ``raised``, and the waiting goes on with a fresh coroutine, so that the
    other tasks still get their cleanup."""

    def through(make: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
        # Each round ends a task; bounded all the same, for a callback that
        # reschedules itself and raises every time.
        for _ in range(100):
            coro = make()
            try:
                return wait(coro)
            except LOOP_ENDING as exc:
                if not is_exit(exc):
                    raise
                raised.append(exc)
            finally:
                if inspect.getcoroutinestate(coro) == inspect.CORO_CREATED:
                    coro.close()  # cut short before it began: not "never awaited"
        return wait(make())

    return through


def exits_text(raised: list[BaseException], what: str) -> str:
    """What the session reports, after its results, for ``raised``."""
    exits = ", ".join(repr(exc) for exc in raised)
    return (
        f"code left running (a task, or an async generator left open) raised {exits} "
        f"as alt_coop ended it at the end of the {what}; end such tasks and generators "
        "within the test that starts them"
    )


async def generators_closed(
    ours: Callable[[set[asyncio.Task[Any]]], set[asyncio.Task[Any]]],
) -> None:
    """Let the async generators dropped in the last turns close.

    asyncio closes a dropped async generator in a task that a callback makes:
    made in the session's last turns, such a task would be taken for one left
    behind, and cancelled before its ``finally`` could run. One turn lets the
    callbacks make their tasks; they are then given the grace period to end.
    """
    await asyncio.sleep(0)
    closing = [
        task
        for task in ours(asyncio.all_tasks())
        if type(task.get_coro()).__name__ == "async_generator_athrow"
    ]
    if closing:
        await asyncio.wait(closing, timeout=CANCEL_GRACE_SECONDS)


def where_written(tasks: Iterable[asyncio.Task[Any]]) -> tuple[str, int] | None:
    """Where the code of a leftover task is written (file, line): the suite's
    if any is, else a library's, else asyncio's own (``Queue.get`` made a
    task says little). The warning points there, not at alt_coop."""
    return _nearest(
        code_of(task) for task in sorted((task for task in tasks if not task.done()), key=describe)
    )


def _nearest(codes: Iterable[CodeType | None]) -> tuple[str, int] | None:
    places = [(code.co_filename, code.co_firstlineno) for code in codes if code is not None]
    return min(places, key=lambda place: remoteness(place[0]), default=None)


def code_of(task_or_generator: object) -> CodeType | None:
    """The code a task runs (its coroutine's), or an async generator's."""
    if isinstance(task_or_generator, asyncio.Task):
        return getattr(task_or_generator.get_coro(), "cr_code", None)
    return getattr(task_or_generator, "ag_code", None)


def open_generators(loop: asyncio.AbstractEventLoop) -> list[AsyncGeneratorType[Any, Any]]:
    """The async generators left open that ``loop`` is to close as it ends,
    where it keeps them (asyncio's own set, on CPython's loops from 3.11 to
    3.14; a loop that keeps them elsewhere gives none): to name those whose
    cleanup does not end."""
    return list(getattr(loop, "_asyncgens", ()))


def not_closed(
    generators: Iterable[AsyncGeneratorType[Any, Any]],
) -> tuple[str, tuple[str, int] | None]:
    """For a warning: ``": "`` and the names of ``generators`` still not
    closed ("" for none), and where the code of one is written (see
    :func:`where_written`)."""
    left = [generator for generator in generators if generator.ag_frame is not None]
    if not left:
        return "", None
    counts = collections.Counter(generator.__qualname__ for generator in left)
    names = ", ".join(
        name if count == 1 else f"{name} ({count} of them)"
        for name, count in sorted(counts.items())
    )
    return f": {names}", _nearest(generator.ag_code for generator in left)


def describe(task: asyncio.Task[Any]) -> str:
    coro = task.get_coro()
    name = getattr(coro, "__qualname__", None) or repr(coro)
    return f"{task.get_name()} ({name})"


def cancel(
    tasks: Iterable[asyncio.Task[Any]],
    wait: Callable[[Callable[[], Coroutine[Any, Any, Any]]], Any],
    *,
    what: str,
    warn: bool = True,
    interrupts: list[KeyboardInterrupt],
) -> str:
    """Cancel ``tasks`` once, give them a bounded time to clean up.

    ``wait`` runs the coroutines a function makes (see
    :func:`waiting_through_exits`). Returns the warning to give, naming the
    tasks ("" for none). A task that swallows its cancellation is not
    awaited past the grace period: it is named as abandoned, warning or not.
    An interrupt (Ctrl-C) ends the wait at once: it goes in ``interrupts``,
    for the caller to raise once it has given the warning, and the tasks not
    done are named as abandoned.
    """
    pending = [task for task in tasks if not task.done()]
    if not pending:
        return ""
    # Once: one that its test's cancellation (a timeout's, Ctrl-C's) reached,
    # through the test awaiting it, and went on (``uncancel()`` or not), has
    # had it; not one that the code cancelled itself, for which alt_coop's
    # is the first.
    cancelled: list[asyncio.Task[Any]] = []
    cancelled_before: list[asyncio.Task[Any]] = []
    for task in pending:
        (cancelled_before if _cancels.was_passed_on(task) else cancelled).append(task)
    for task in cancelled:
        _cancels.cancel(task, f"alt_coop: still running at the end of the {what}")
    loop = pending[0].get_loop()
    deadline = loop.time() + CANCEL_GRACE_SECONDS
    interrupted = False
    try:
        stubborn = wait(lambda: _still_pending(pending, deadline))
    except KeyboardInterrupt as interrupt:
        interrupts.append(interrupt)
        interrupted = True
        stubborn = {task for task in pending if not task.done()}
    for task in pending:
        # One that ended raising SystemExit or KeyboardInterrupt out of the
        # loop is the session's to report (see waiting_through_exits):
        # retrieved, so that asyncio does not log it again. Any other
        # exception is left to asyncio's log, unretrieved. (asyncio's
        # ``_log_traceback``: set while an exception nobody retrieved is
        # kept, on Python 3.11 to 3.14.)
        if getattr(task, "_log_traceback", False) and isinstance(
            getattr(task, "_exception", None), LOOP_ENDING
        ):
            task.exception()
    for task in stubborn:
        # Kept, as a lane left where it waits is: collected, a pending task
        # closes its coroutine, which runs its code, wherever collection
        # happens. At the process's exit it is collected all the same, and
        # asyncio's "Task was destroyed but it is pending!" would only say
        # again what the warning says (asyncio's own attribute, which it
        # clears for the futures it makes itself, on Python 3.11 to 3.14).
        task._log_destroy_pending = False
        _abandoned.append(task)
    if not (warn or stubborn):
        return ""
    parts = []
    if cancelled:
        parts.append(
            f"alt_coop cancelled {len(cancelled)} task(s) still pending at the end of the "
            f"{what}: {_names(cancelled)}"
        )
    if cancelled_before:
        parts.append(
            f"{'' if parts else 'alt_coop: '}{len(cancelled_before)} task(s) still pending at "
            f"the end of the {what} had been cancelled before, and were not cancelled again: "
            + _names(cancelled_before)
        )
    if stubborn and interrupted:
        parts.append(
            "the wait for these was cut short by an interrupt, and they were left where they "
            f"waited: {_names(stubborn)}"
        )
    elif stubborn:
        parts.append(
            f"these did not end within {CANCEL_GRACE_SECONDS:g}s and were abandoned: "
            + _names(stubborn)
        )
    return "; ".join(parts)


def _names(tasks: Iterable[asyncio.Task[Any]]) -> str:
    return ", ".join(sorted(map(describe, tasks)))


#: The tasks left where they wait (see :func:`cancel`).
_abandoned: list[asyncio.Task[Any]] = []


async def _still_pending(
    tasks: list[asyncio.Task[Any]], deadline: float
) -> set[asyncio.Task[Any]]:
    """The tasks not done by ``deadline`` (on the loop's clock)."""
    left = [task for task in tasks if not task.done()]
    if not left:
        return set()
    timeout = max(0.0, deadline - asyncio.get_running_loop().time())
    _, pending = await asyncio.wait(left, timeout=timeout)
    return pending
