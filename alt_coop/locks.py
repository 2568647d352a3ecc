"""Mutual exclusion between cooperative tests: :class:`Lock`."""

from __future__ import annotations

import asyncio
import contextvars
import weakref
from types import TracebackType
from typing import Literal

from . import _runner


class Lock:
    """A lock cooperative tests share, made once at module level.

    ::

        db = alt_coop.Lock()

        @pytest.fixture
        async def exclusive_db():
            async with db():
                yield

    Taken in a fixture, it covers the fixtures set up after it and the test,
    until that fixture's teardown. ``async with db:`` works as well. Time spent
    waiting for the lock does not count against the waiting fixture's or
    test's timeout: its clock starts once the lock is taken.
    """

    def __init__(self) -> None:
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopLock] = (
            weakref.WeakKeyDictionary()
        )

    def __call__(self) -> _LoopLock:
        loop = asyncio.get_running_loop()
        lock = self._locks.get(loop)
        if lock is None:
            lock = self._locks[loop] = _LoopLock()
        return lock

    async def __aenter__(self) -> None:
        await self().__aenter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self().__aexit__(exc_type, exc, tb)

    def locked(self) -> bool:
        """Whether the lock is held on the running loop."""
        return self().locked()


class _LoopLock(asyncio.Lock):
    """An asyncio.Lock whose wait does not eat into the waiter's timeout."""

    async def acquire(self) -> Literal[True]:
        if self in _held.get():
            # Waiting would never end, and with the clocks paused no timeout
            # would end it either.
            raise RuntimeError(
                "this alt_coop.Lock is already held by this test or one of its fixtures, "
                "and it is not re-entrant: take it in one place only"
            )
        if self.locked():
            with _runner.clocks_paused():
                await super().acquire()
        else:
            await super().acquire()
        _held.set(_held.get() | {self})
        return True

    def release(self) -> None:
        super().release()
        held = _held.get()
        if self in held:
            _held.set(held - {self})


#: The locks taken in this context: a fixture's reach the test, as its
#: context variables do.
_held: contextvars.ContextVar[frozenset[_LoopLock]] = contextvars.ContextVar(
    "alt_coop_held_locks", default=frozenset()
)
