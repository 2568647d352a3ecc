"""Loops you control: :class:`Loop` for a fresh loop, :func:`run_coro_as_main`.

PYTEST_DONT_REWRITE (see alt_coop/__init__.py).
"""

from __future__ import annotations

import asyncio
import inspect
import sys
import traceback
from collections.abc import Awaitable, Coroutine
from types import TracebackType
from typing import Any, TypeVar

from . import _lane_state, _session_loop, _tracebacks
from ._lanes import in_lane
from .errors import AltCoopUsageError

T = TypeVar("T")


class Loop:
    """Install a fresh event loop for the code inside the ``with`` block.

    While it is entered, alt_coop runs async fixtures and tests on
    ``controlled_loop`` instead of the session's loop, so an autouse fixture
    gives a whole class or module its own loop::

        @pytest.fixture(autouse=True)
        def own_loop():
            with alt_coop.Loop() as loop:
                yield loop

    On exit it cancels the tasks still running on the loop (their ``finally``
    blocks run), shuts down its async generators, closes it, and makes
    alt_coop's loop current again: the session's or an enclosing ``Loop``'s,
    none outside a session. (Another loop current before is not put back.)
    Enter it from synchronous
    code only: a loop cannot be swapped under a coroutine that is running on
    another.

    ``Loop(new_loop=False)`` makes no loop: inside it no loop is current, for
    code that must find none (``run_until_complete`` is then an error).
    """

    def __init__(self, new_loop: bool = True) -> None:
        self.new_loop = new_loop
        self.controlled_loop: asyncio.AbstractEventLoop | None = None
        self._session_loop: _session_loop.SessionLoop | None = None
        self._entered = False

    def __enter__(self) -> Loop:
        __tracebackhide__ = True  # a refusal is shown at the caller's line
        if self._entered:
            raise AltCoopUsageError("this alt_coop.Loop is already entered; make a new one")
        if _session_loop.running_loop() is not None:
            session = _session_loop.current()
            if session is not None and not session.owned:
                where = (
                    "In a session on an application's loop (alt_coop.main, managed_loop), "
                    "that loop runs throughout, so alt_coop.Loop cannot be used there: run "
                    "the tests that need it in a plain pytest run"
                )
            else:
                where = "Enter it in a sync fixture, which the async tests that need it ask for"
            raise AltCoopUsageError(
                "alt_coop.Loop must be entered from synchronous code (a sync fixture), "
                f"not while an event loop is running. {where}"
            )
        if _lane_state.CURRENT.get() is not None and in_lane():
            # Its sync fixtures see no loop running, as in a sequential run,
            # but the test runs beside others on alt_coop's loop.
            raise AltCoopUsageError(
                "alt_coop.Loop cannot be entered in a cooperative test's fixtures: the test "
                "runs beside other tests on alt_coop's loop, not on a loop of its own. Mark "
                "the tests that use it asyncio_sequential"
            )
        self._entered = True
        if self.new_loop:
            self.controlled_loop = _session_loop.new_event_loop()
            self._session_loop = _session_loop.SessionLoop(self.controlled_loop, owned=True)
            _session_loop.push(self._session_loop)
        _session_loop.make_current(self.controlled_loop)
        return self

    def run_until_complete(self, coro: Awaitable[T]) -> T:
        """Run ``coro`` (a coroutine, or a task or future of the controlled
        loop) on the controlled loop until it is done, and return its result."""
        __tracebackhide__ = True
        if inspect.iscoroutine(coro):
            main: Coroutine[Any, Any, T] = coro
        elif inspect.isawaitable(coro):
            main = _awaiting(coro)
        else:
            raise TypeError(
                "Loop.run_until_complete takes a coroutine or another awaitable (a task, a "
                f"future), not {type(coro).__name__}"
            )
        if self._session_loop is None:
            main.close()
            raise AltCoopUsageError("Loop.run_until_complete needs an entered Loop(new_loop=True)")
        if asyncio.isfuture(coro) and coro.get_loop() is not self.controlled_loop:
            main.close()
            raise AltCoopUsageError(
                "Loop.run_until_complete got a future of another loop than the one it runs: "
                "give it a coroutine, or a task or future of Loop.controlled_loop"
            )
        return self._session_loop.run(main)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        session_loop, self._session_loop = self._session_loop, None
        self._entered = False
        _session_loop.unmake_current(self.controlled_loop)
        try:
            if session_loop is not None:
                session_loop.close(what="alt_coop.Loop block", warn=False)
        finally:
            if session_loop is not None:
                _session_loop.pop(session_loop)
            if _session_loop.makes_current():  # an enclosing block's (none), or the session's
                asyncio.set_event_loop(_session_loop.made_current())
            else:
                previous = _session_loop.current()
                asyncio.set_event_loop(previous.loop if previous is not None else None)


async def _awaiting(awaitable: Awaitable[T]) -> T:
    return await awaitable


def run_coro_as_main(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on ``loop`` as the program's main, and return its result.

    If it raises, a short report of the error goes to stderr and the program
    exits with status 1 (``SystemExit`` raised inside keeps its own status;
    Ctrl-C exits with 130). Whatever happens, the tasks still running are
    cancelled (their ``finally`` blocks run), and the loop is closed.
    """
    __tracebackhide__ = True
    if asyncio.iscoroutine(loop):  # a loop, or something else, second
        loop.close()  # the error says it: no "never awaited" warning too
        name = getattr(loop, "__name__", "main")
        raise TypeError(
            "run_coro_as_main takes the event loop first, then the coroutine: "
            f"run_coro_as_main(loop, {name}())"
        )
    if not asyncio.iscoroutine(coro):
        raise TypeError(
            f"run_coro_as_main needs a coroutine, got {coro!r}: call the async function "
            "(run_coro_as_main(loop, main()), not main)"
        )
    if not isinstance(loop, asyncio.AbstractEventLoop):
        coro.close()
        raise TypeError(
            "run_coro_as_main takes the event loop to run first, not "
            f"{type(loop).__name__!r}: run_coro_as_main(asyncio.new_event_loop(), main())"
        )
    if loop.is_closed():
        coro.close()
        raise AltCoopUsageError("run_coro_as_main needs an open loop; this one is closed")
    if loop.is_running():
        name = getattr(coro, "__qualname__", "the coroutine")
        coro.close()
        raise AltCoopUsageError(
            "run_coro_as_main runs the loop itself, and this one is already running: "
            f"from a coroutine on it, await {name}() instead"
        )
    session_loop = _session_loop.SessionLoop(loop, owned=True)
    session_loop.install_sigint_handler()
    try:
        return session_loop.run(coro)
    except SystemExit:
        raise
    except KeyboardInterrupt:
        print("Interrupted (Ctrl-C)", file=sys.stderr)
        raise SystemExit(130) from None
    except BaseException as error:
        _report(error)
        raise SystemExit(1) from None
    finally:
        session_loop.uninstall_sigint_handler()
        session_loop.close(what="main coroutine", warn=False)


def _report(error: BaseException) -> None:
    """A few lines on stderr: where the error came from, and what it says."""
    frames = [
        frame
        for frame in traceback.extract_tb(error.__traceback__)
        if _tracebacks.is_user_file(frame.filename)
    ]
    print("Error in the main coroutine:", file=sys.stderr)
    for frame in frames[-3:]:
        print(f'  File "{frame.filename}", line {frame.lineno}, in {frame.name}', file=sys.stderr)
        if frame.line:
            print(f"    {frame.line}", file=sys.stderr)
    print("".join(traceback.format_exception_only(error)).rstrip(), file=sys.stderr)
