"""``await alt_coop.main(...)``: a pytest session on the running loop.

pytest runs in a lane driven by a task of the session's own, which the
caller awaits: whenever a fixture or test awaits, that task awaits, and the
application's other tasks keep running. Nothing in asyncio is patched, so
this works with any loop class, uvloop included. A task of its own, rather
than the caller's, because the tests may cancel the task they run on: that
must fail the test, while cancelling the caller interrupts the session.

PYTEST_DONT_REWRITE (see alt_coop/__init__.py).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence

import pytest

from . import _cancels, _runner, _session_loop
from ._engine import Plugin
from ._lanes import drive, in_lane
from ._session_loop import INTERRUPT_GRACE_SECONDS
from .errors import AltCoopError, AltCoopUsageError, TeardownCancelled


async def main(
    args: Sequence[str] | os.PathLike[str] | None = None, plugins: Sequence[object] | None = None
) -> int | pytest.ExitCode:
    """Run a pytest session on the running loop and return its exit code.

    ``args`` and ``plugins`` are as for :func:`pytest.main`. An
    :class:`alt_coop.Plugin` is added for the running loop unless ``plugins``
    has one already (which must then have no ``managed_loop``, or this loop).
    If the awaiting task is cancelled, the running test is cancelled, the
    fixtures are torn down, the results so far are reported, and the
    cancellation propagates to the caller.
    """
    args = _as_pytest_args(args)
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        raise AltCoopUsageError(
            "alt_coop.main runs pytest on an asyncio event loop, and none is running here "
            "(trio, or anyio's trio backend?): await it from a coroutine asyncio runs "
            "(asyncio.run, anyio.run(..., backend='asyncio')), or run pytest.main with "
            "alt_coop.Plugin() from synchronous code"
        ) from None
    task = asyncio.current_task()
    if in_lane():
        raise AltCoopUsageError(
            "alt_coop.main cannot be awaited from inside a test, whose session runs on this "
            "loop: run a session inside a test with pytester instead"
        )
    if task is None:
        raise AltCoopUsageError("await alt_coop.main(...) from a task")
    plugins = _as_pytest_plugins(plugins)
    engines = [plugin for plugin in plugins if isinstance(plugin, Plugin)]
    if any(engine.managed_loop not in (None, loop) for engine in engines):
        raise AltCoopUsageError(
            "alt_coop.main runs pytest on the running loop, but the Plugin passed to it "
            "manages another loop; pass Plugin() or Plugin(managed_loop=<this loop>)"
        )
    # A cancellation on its way (asyncio.run's Ctrl-C handler cancels the
    # task at once, in the application's sync code) comes out of this first
    # await, as out of any other, before a session starts.
    await asyncio.sleep(0)
    if not _session_loop.claim(loop):
        raise AltCoopUsageError(
            "a pytest session is already running on this loop; "
            "wait for it to finish before starting another"
        )
    if _session_loop.at_work_on(loop):  # a plain run's own loop, which it does not claim
        _session_loop.release(loop)
        raise AltCoopUsageError(
            "alt_coop.main from a task a test started would run a second session beside "
            "the running one, on its loop: run a session inside a test with pytester instead"
        )
    # A Plugin of the caller's manages this loop for this session only.
    lent = [engine for engine in engines if engine.managed_loop is None]
    for engine in lent:
        engine.managed_loop = loop
    if not engines:
        plugins.append(Plugin(managed_loop=loop))
    try:
        return await _awaited_session(loop, task, args, plugins)
    finally:
        for engine in lent:
            engine.managed_loop = None
        _session_loop.release(loop)


def _as_pytest_args(args: Sequence[str] | os.PathLike[str] | None) -> list[str] | None:
    """``args`` as ``pytest.main`` takes them: a list of strings, or a path object."""
    if args is None:
        return None
    if isinstance(args, os.PathLike):
        return [os.fspath(args)]
    if isinstance(args, str | bytes) or not isinstance(args, Sequence):
        hint = f": alt_coop.main([{args!r}])" if isinstance(args, str) else ""
        raise TypeError(
            "alt_coop.main takes its arguments as a list of strings (or a path object), as "
            f"pytest.main does; got {args!r}{hint}"
        )
    return list(args)


def _as_pytest_plugins(plugins: Sequence[object] | None) -> list[object]:
    """``plugins`` as ``pytest.main`` takes them: a list of plugin objects."""
    if plugins is None:
        return []
    if isinstance(plugins, str | bytes) or not isinstance(plugins, Sequence):
        raise TypeError(
            "alt_coop.main takes its plugins as a list, as pytest.main does: "
            "plugins=[alt_coop.Plugin()]"
        )
    for plugin in plugins:
        if isinstance(plugin, type) and issubclass(plugin, Plugin):
            name = "alt_coop.Plugin" if plugin is Plugin else plugin.__qualname__
            raise TypeError(
                f"alt_coop.main was given the class {name} as a plugin: give it an "
                f"instance, {name}()"
            )
    return list(plugins)


async def _awaited_session(
    loop: asyncio.AbstractEventLoop,
    caller: asyncio.Task[object],
    args: list[str] | None,
    plugins: list[object],
) -> int | pytest.ExitCode:
    # A task runs in a copy of the context it was made in: the tests see the
    # caller's context variables, and pytest's own stay out of the caller's.
    coro = _session(args, plugins)
    try:
        session = loop.create_task(coro, name="alt_coop.main")
    except BaseException:
        coro.close()
        raise
    _cancels.made_here(session)
    _cancels.watch_caller(session, caller)
    cancelled: asyncio.CancelledError | None = None
    grace: asyncio.TimerHandle | None = None
    shutdown_taken = False  # see interrupt
    deferred: asyncio.Handle | None = None

    def interrupt() -> None:
        # As a plain run at Ctrl-C, a phase that swallows its interrupt is
        # given up on after a grace, or at once at the next one (a phase
        # that took the first is given the grace).
        nonlocal grace, shutdown_taken
        if session.done():
            return
        if _cancels.shut_down(session) and not shutdown_taken:
            # The session took the runner's shutdown's cancellation as its
            # interrupt (see alt_coop._cancels.adopt_shutdown): no other.
            shutdown_taken = True
        else:
            _cancels.interrupt(session, "alt_coop.main was cancelled")
        if _cancels.interrupts_pending(session) > 1:
            _runner.give_up_after_interrupt(session)
        else:
            if grace is not None:
                grace.cancel()
            grace = loop.call_later(
                INTERRUPT_GRACE_SECONDS, _runner.give_up_after_interrupt, session
            )

    try:
        while not session.done():
            try:
                await asyncio.wait([session])
            except asyncio.CancelledError as delivered:
                # The caller was cancelled: interrupt the session, which tears
                # down and reports; cancelled again meanwhile, interrupt it
                # again. Not if the session took it already, at a teardown's
                # start. The first one's message again is the same one: an
                # anyio cancel scope delivers its cancellation at every await
                # until the task leaves it.
                again = _same_cancellation(cancelled, delivered)
                if cancelled is None:
                    cancelled = delivered
                if not _cancels.caller_cancelled(session) or again:
                    continue
                if session.cancelling() > _cancels.interrupts_pending(session) and (
                    _runner.clock_cancelled(session)
                ):
                    # A timeout's cancellation is the running phase's, which
                    # it fails first: the interrupt comes after it.
                    deferred = loop.call_soon(interrupt)
                else:
                    # The session may have been cancelled with the caller: a
                    # runner's shutdown (asyncio.run's, after a SystemExit or
                    # at Ctrl-C once its main task ended) cancels every task
                    # left, in no set order. That cancellation is the interrupt.
                    _cancels.adopt_pending_shutdown(session)
                    interrupt()
    finally:
        _cancels.unwatch_caller(session)
        if grace is not None:
            grace.cancel()
        if deferred is not None:
            deferred.cancel()
    if cancelled is not None:
        # The caller gets its cancellation, with what went wrong on the way
        # (a teardown that failed after the interrupt, say) as its cause, and
        # its message: anyio knows its scopes' own by theirs.
        error = None if session.cancelled() else session.exception()
        raise asyncio.CancelledError(
            *(cancelled.args or ("alt_coop.main was cancelled",))
        ) from error
    return session.result()


def _same_cancellation(
    first: asyncio.CancelledError | None, error: asyncio.CancelledError
) -> bool:
    """Whether ``error`` delivers ``first`` again: both with one message."""
    return first is not None and bool(first.args) and first.args == error.args


async def _session(args: list[str] | None, plugins: list[object]) -> int | pytest.ExitCode:
    try:
        return await drive(pytest.main, args, plugins)
    except KeyboardInterrupt:
        # Interrupted again while pytest tore down after an interrupt: pytest
        # lets that one out (and a task must not, or it stops the loop).
        return pytest.ExitCode.INTERRUPTED
    except TeardownCancelled as error:
        # Out of the session's end, where pytest reports no teardown: as a
        # CancelledError, it would end this task cancelled, and be lost.
        raise AltCoopError(
            "a fixture's teardown at the end of the session was cancelled by its code's own doing"
        ) from error
