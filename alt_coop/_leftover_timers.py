"""Callbacks the session's code scheduled on an application's loop that
have not run when the session ends.

On a loop alt_coop creates, they go with the loop when it closes. On an
application's loop they would run after the session, outside it: their
output and errors nobody's, the tasks they start never cancelled. Each
``loop.call_later`` and ``loop.call_at`` made while the session runs is
watched (asyncio has no public way to list a loop's timers); those that the
suite's own code (tests, conftests, the application's modules) scheduled in
the session, or that were set for a callback of its, and which are still
pending at its end, are cancelled and named. Timers that installed code sets
for its own callbacks are left alone: asyncio's (a sleep's, a timeout's)
belong to tasks and futures, which end with the tasks the session cancels,
and a library's serve its objects (a connection pool's clean-up, say), which
the application may go on using after the session.

PYTEST_DONT_REWRITE (see alt_coop/__init__.py).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import functools
import os
import sys
import weakref
from collections.abc import Callable, Iterable
from types import CodeType
from typing import Any, NamedTuple

from ._tracebacks import callable_name, remoteness


class TimersFollowed:
    """The timers the suite's code sets on ``loop`` from construction until
    :meth:`end`, in the session: where ``ours()`` is true, or, for a timer
    given a context to run in, where ``ours_in(context)`` is."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        ours: Callable[[], bool],
        ours_in: Callable[[contextvars.Context], bool],
    ) -> None:
        self._loop = loop
        #: By identity: asyncio's timers are equal when their time, callback
        #: and arguments are, so a weak dictionary would keep one of twins.
        #: Each entry goes when its timer is freed (the loop lets go of it
        #: once it has run, or been cancelled).
        self._timers: dict[int, _Timer] = {}
        #: The test modules and conftests, wherever they are (an installed
        #: package's tests, say): the suite's code, not a library's.
        self._suite_files: frozenset[str] = frozenset()
        attributes = getattr(loop, "__dict__", {})
        #: The application's own replacements, if it set any, put back at the end.
        self._apps = {name: attributes.get(name) for name in ("call_later", "call_at")}
        self._ours: dict[str, Callable[..., asyncio.TimerHandle]] = {}
        for name in self._apps:
            # Both: asyncio's call_later calls call_at, uvloop's does not.
            replacement = self._watching(name, ours, ours_in)
            with contextlib.suppress(AttributeError):  # a loop whose instances take no attributes
                setattr(loop, name, replacement)
                self._ours[name] = replacement

    def count_as_the_suites(self, filenames: Iterable[str]) -> None:
        """The test modules and conftests of the session, once collected."""
        self._suite_files = frozenset(filenames)

    def _the_suites(self, filename: str) -> bool:
        return filename in self._suite_files or _not_installed(filename)

    def _watching(
        self,
        name: str,
        ours: Callable[[], bool],
        ours_in: Callable[[contextvars.Context], bool],
    ) -> Callable[..., asyncio.TimerHandle]:
        timers, loop, apps = self._timers, self._loop, self._apps[name]

        @functools.wraps(getattr(loop, name))
        def schedule(*args: Any, **kwargs: Any) -> asyncio.TimerHandle:
            # Looked up at each call: code may patch the loop's class meanwhile.
            handle = (apps or _of_the_class(loop, name))(*args, **kwargs)
            context = kwargs.get("context")
            if not (ours() if context is None else ours_in(context)):
                return handle
            callback = args[1] if len(args) > 1 else kwargs["callback"]
            caller = sys._getframe(1)
            # A callback the loop runs outside any task (a test's
            # loop.call_soon(loop.call_later, ...), or its thread's
            # call_soon_threadsafe) has no caller to go by: uvloop's frame
            # below it is the code that runs the loop.
            by_the_loop = loop.is_running() and asyncio.current_task(loop) is None
            if not by_the_loop and self._the_suites(caller.f_code.co_filename):
                how, where = "scheduled at", (caller.f_code.co_filename, caller.f_lineno)
            else:
                # The suite's if its callback is (a library may set a timer
                # for it, too); else a library's, for its own objects.
                code = _code_of(callback)
                if code is None or not self._the_suites(code.co_filename):
                    return handle
                how, where = "written at", (code.co_filename, code.co_firstlineno)
            key = id(handle)
            # A loop whose handles take no weak reference: not followed.
            with contextlib.suppress(TypeError):
                timers[key] = _Timer(
                    weakref.ref(handle, lambda _: timers.pop(key, None)), callback, how, where
                )
            return handle

        return schedule

    def end(self, what: str) -> tuple[str, tuple[str, int] | None]:
        """Stop watching; cancel the suite's timers still pending. Returns
        the warning that names them, each with where it was scheduled (or
        its callback is written), and where to give it ("" and None for none).

        Called just after the loop ran: a timer due by then has run (one that
        ran is still here only if code holds on to it), or falls due in the
        moments since, and still runs.
        """
        attributes = getattr(self._loop, "__dict__", {})
        for name, replacement in self._ours.items():
            if attributes.get(name) is replacement:  # else the code replaced it since
                if self._apps[name] is None:
                    delattr(self._loop, name)
                else:
                    setattr(self._loop, name, self._apps[name])
        now = self._loop.time()
        cancelled: collections.Counter[tuple[str, tuple[str, int]]] = collections.Counter()
        for timer in list(self._timers.values()):
            handle = timer.handle()
            # A loop may give a plain handle for a timer due at once (uvloop
            # does, under half a millisecond): one without a time, due by now.
            when = getattr(handle, "when", None)
            if handle is None or handle.cancelled() or when is None or when() <= now:
                continue
            handle.cancel()
            filename, line = timer.where
            place = f"{timer.how} {os.path.basename(filename)}:{line}"
            cancelled[f"{callable_name(timer.callback)} ({place}", timer.where] += 1
        self._timers.clear()
        if not cancelled:
            return "", None
        # One line setting the same timer for each of a thousand tests is named once.
        names = ", ".join(
            f"{named}{f', {count} times' if count > 1 else ''})"
            for (named, _), count in sorted(cancelled.items())
        )
        message = (
            f"alt_coop cancelled {cancelled.total()} callback(s) the session's code scheduled "
            f"on the application's loop, which had not run at the end of the {what}: {names}"
        )
        return message, min(cancelled)[1]


class _Timer(NamedTuple):
    handle: weakref.ref[asyncio.TimerHandle]
    callback: Callable[..., object]
    how: str  # "scheduled at" or "written at"
    where: tuple[str, int]


def _of_the_class(
    loop: asyncio.AbstractEventLoop, name: str
) -> Callable[..., asyncio.TimerHandle]:
    """``loop``'s method ``name`` as its class has it now, bound as
    attribute access binds it."""
    method = getattr(type(loop), name)
    bind = getattr(type(method), "__get__", None)
    bound: Callable[..., asyncio.TimerHandle] = (
        method if bind is None else bind(method, loop, type(loop))
    )
    return bound


@functools.lru_cache(maxsize=512)
def _not_installed(filename: str) -> bool:
    return remoteness(filename) == 0


def _code_of(callback: Callable[..., object]) -> CodeType | None:
    target: Any = callback
    while isinstance(target, functools.partial):
        target = target.func
    code: CodeType | None = getattr(getattr(target, "__func__", target), "__code__", None)
    return code
