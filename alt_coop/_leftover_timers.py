"""Callbacks the session's code scheduled on an application's loop that
have not run when the session ends.

On a loop alt_coop creates, they go with the loop when it closes. On an
application's loop they would run after the session, outside it: their
output and errors nobody's, the tasks they start never cancelled. Each
``loop.call_later`` and ``loop.call_at`` made while the session runs is
watched (asyncio has no public way to list a loop's timers); those the
session's code made, and which are still pending at its end, are cancelled
and named. asyncio's own timers (a sleep's, a timeout's) belong to tasks and
futures, which end with the tasks the session cancels: they are left alone.

PYTEST_DONT_REWRITE (see alt_coop/__init__.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import os
import weakref
from collections.abc import Callable
from typing import Any

#: Modules whose timers are someone else's to end (see the module's docstring).
_NOT_THE_SUITES = ("asyncio.", "alt_coop.")


class TimersFollowed:
    """The timers set on ``loop`` from construction until :meth:`end` by the
    session's code: where ``ours()`` is true, or, for a timer given a context
    to run in, where ``ours_in(context)`` is."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        ours: Callable[[], bool],
        ours_in: Callable[[contextvars.Context], bool],
    ) -> None:
        self._loop = loop
        #: By identity: asyncio's timers are equal when their time, callback
        #: and arguments are, so a weak dictionary would keep one of twins.
        #: Each entry goes when its timer does (it ran, or was cancelled).
        self._callbacks: dict[
            int, tuple[weakref.ref[asyncio.TimerHandle], Callable[..., object]]
        ] = {}
        attributes = getattr(loop, "__dict__", {})
        #: The application's own replacements, if it set any, put back at the end.
        self._apps = {name: attributes.get(name) for name in ("call_later", "call_at")}
        self._ours: dict[str, Callable[..., asyncio.TimerHandle]] = {}
        for name in self._apps:
            # Both: asyncio's call_later calls call_at, uvloop's does not.
            replacement = self._watching(getattr(loop, name), ours, ours_in)
            with contextlib.suppress(AttributeError):  # a loop whose instances take no attributes
                setattr(loop, name, replacement)
                self._ours[name] = replacement

    def _watching(
        self,
        scheduler: Callable[..., asyncio.TimerHandle],
        ours: Callable[[], bool],
        ours_in: Callable[[contextvars.Context], bool],
    ) -> Callable[..., asyncio.TimerHandle]:
        callbacks = self._callbacks

        @functools.wraps(scheduler)
        def schedule(*args: Any, **kwargs: Any) -> asyncio.TimerHandle:
            handle = scheduler(*args, **kwargs)
            context = kwargs.get("context")
            if ours() if context is None else ours_in(context):
                key = id(handle)
                callbacks[key] = (
                    weakref.ref(handle, lambda _: callbacks.pop(key, None)),
                    args[1] if len(args) > 1 else kwargs["callback"],
                )
            return handle

        return schedule

    def end(self) -> list[tuple[str, tuple[str, int] | None]]:
        """Stop watching; cancel the suite's timers still pending, and name
        them, each with where its callback is written.

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
        cancelled = []
        for ref, callback in list(self._callbacks.values()):
            handle = ref()
            if handle is None or handle.cancelled() or handle.when() <= now:
                continue
            described = _described(callback)
            if described is not None:
                handle.cancel()
                cancelled.append(described)
        self._callbacks.clear()
        return sorted(cancelled, key=lambda described: described[0])


def _described(callback: Callable[..., object]) -> tuple[str, tuple[str, int] | None] | None:
    """``name (file:line)`` for a callback of the suite's, and where it is
    written; None for asyncio's or alt_coop's."""
    target: Any = callback
    while isinstance(target, functools.partial):
        target = target.func
    function = getattr(target, "__func__", target)
    module = getattr(function, "__module__", None) or ""
    if module in ("asyncio", "alt_coop") or module.startswith(_NOT_THE_SUITES):
        return None
    name = getattr(function, "__qualname__", None) or repr(target)
    code = getattr(function, "__code__", None)
    if code is None:
        return name, None
    place = (code.co_filename, code.co_firstlineno)
    return f"{name} ({os.path.basename(code.co_filename)}:{code.co_firstlineno})", place
