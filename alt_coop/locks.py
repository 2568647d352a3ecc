"""Mutual exclusion between cooperative tests: :class:`Lock`."""

from __future__ import annotations

import asyncio
import contextvars
import weakref
from types import TracebackType
from typing import Any, Literal

from . import _runner
from ._lane_state import CURRENT, LaneState
from ._lanes import in_lane


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
    """An asyncio.Lock whose wait does not eat into the waiter's timeout, and
    that says so when waiting for it could never end."""

    def __init__(self) -> None:
        super().__init__()
        self._holder: _Holder | None = None

    async def acquire(self) -> Literal[True]:
        __tracebackhide__ = True
        # Only a fixture's or test's own code (run in a lane) pauses clocks
        # and can wait on itself; a task it started is like any other task.
        own_code = in_lane()
        state = CURRENT.get()
        if own_code and self in _held.get():
            holder = self._holder
            if self.locked() and holder is not None and holder.own and holder.state is state:
                raise RuntimeError(
                    "this alt_coop.Lock is already held by this test or one of its fixtures, "
                    "and it is not re-entrant: take it in one place only"
                )
            # This context was copied from one that held it (a lane's, made
            # while a fixture held it): not this test's to hold.
            _held.set(_held.get() - {self})
        holder = self._holder
        if holder is not None and holder.outlived is not None and self.locked():
            raise RuntimeError(holder.outlived)
        if own_code and self._must_wait():
            # Waiting would never end, and with the clocks paused no timeout
            # would end it either.
            if state is not None:
                _check_wait(self, state)
                _waiting_for[state] = self
            try:
                with _runner.clocks_paused():
                    await self._wait()
            finally:
                if state is not None:
                    _waiting_for.pop(state, None)
        else:
            await self._wait()
        # A task the test started holds it for itself, not for the test.
        self._holder = _Holder(state, setting_up.get(), own_code)
        _locked.add(self)
        if own_code:
            _held.set(_held.get() | {self})
        return True

    async def _wait(self) -> None:
        __tracebackhide__ = True
        try:
            await super().acquire()
        except _Outlived as outlived:
            # Raised here, not in asyncio's frame that was waiting.
            raise RuntimeError(*outlived.args) from None

    def _must_wait(self) -> bool:
        """Whether ``acquire`` waits: the lock is held, or it was just
        released to a waiter that has not taken it yet (asyncio's
        ``Lock._waiters``, checked on Python 3.11 to 3.14)."""
        waiters: Any = self._waiters
        return self.locked() or (
            waiters is not None and any(not waiter.cancelled() for waiter in waiters)
        )

    async def __aenter__(self) -> None:
        __tracebackhide__ = True  # a failure names the user's `async with` line
        await self.acquire()

    def release(self) -> None:
        super().release()
        self._holder = None
        _locked.discard(self)
        held = _held.get()
        if self in held:
            _held.set(held - {self})


class _Holder:
    """Which test holds a lock (None: the sequential one), through which wider
    fixture, whether its own code or a task it started does, and, once that
    test is over with the lock still held, why no wait for it would end."""

    __slots__ = ("fixture", "outlived", "own", "state")

    def __init__(
        self, state: LaneState | None, fixture: tuple[str, str, str] | None, own: bool
    ) -> None:
        self.state = state
        self.fixture = fixture  # (name, scope, node id of its scope) if a fixture took it
        self.own = own
        self.outlived: str | None = None


def after_test(state: LaneState | None, nodeid: str) -> None:
    """The test ``nodeid`` (``state``'s, or the sequential one) is torn down:
    a lock it or a task it started still holds, other than through a wider
    fixture, would never be released. Whoever waits for it fails, now or
    when they come to wait, rather than wait forever with the clocks paused."""
    for lock in list(_locked):
        holder = lock._holder
        if (
            holder is None
            or holder.state is not state
            or holder.outlived is not None
            or (holder.fixture is not None and holder.fixture[1] != "function")
            # A task outside any cooperative test may be the application's,
            # or a session fixture's: not known to be this test's.
            or (not holder.own and state is None)
        ):
            continue
        if holder.own:
            taker, remedy = nodeid, "release it within the test (async with lock(): ...)"
        else:
            taker = f"a task that {nodeid} started"
            remedy = "await or cancel that task in the test"
        holder.outlived = (
            f"this alt_coop.Lock was taken by {taker} and is still held after that test "
            f"ended: waiting for it would never end; {remedy}"
        )
        for waiter in list(lock._waiters or ()):
            if not waiter.done():
                waiter.set_exception(_Outlived(holder.outlived))


class _Outlived(RuntimeError):
    """Thrown into those waiting for a lock whose holder's test is over."""


def _check_wait(lock: _LoopLock, waiter: LaneState) -> None:
    """Raise if ``waiter`` (a cooperative test) waiting for ``lock`` would never end.

    Either a chain of tests each waiting for a lock the next holds comes back
    to ``waiter``, or a wider fixture holds it until its teardown, which
    comes after every test in its scope, ``waiter`` among them.
    """
    __tracebackhide__ = True
    seen: list[LaneState] = []
    holder = lock._holder
    nodeid = waiter.item.nodeid
    # A task's hold (``own`` false) ends when the task lets go, whatever the tests do.
    while holder is not None and holder.own and holder.state not in seen:
        fixture = holder.fixture
        if fixture is not None and fixture[1] != "function" and _within(nodeid, fixture[2]):
            raise RuntimeError(
                f"this alt_coop.Lock is held by the {fixture[1]} fixture {fixture[0]!r}, "
                f"which releases it at its teardown, after every test of its {fixture[1]}, "
                f"{nodeid} included. Take it in one place only"
            )
        if holder.state is waiter:
            chain = " -> ".join(state.item.nodeid for state in [waiter, *seen, waiter])
            raise RuntimeError(
                f"waiting for this alt_coop.Lock would never end: these tests each wait "
                f"for a lock the next one holds: {chain}. Take locks in one order everywhere"
            )
        if holder.state is None:
            return  # the sequential test's: it waits for nothing of a batch's
        seen.append(holder.state)
        next_lock = _waiting_for.get(holder.state)
        holder = None if next_lock is None else next_lock._holder


def _within(nodeid: str, scope_id: str) -> bool:
    """Whether the test ``nodeid`` is under the node ``scope_id`` (a module, a
    class, a package directory, or the session's empty id)."""
    return not scope_id or nodeid.startswith((f"{scope_id}::", f"{scope_id}/"))


#: The locks held now, each with its holder.
_locked: weakref.WeakSet[_LoopLock] = weakref.WeakSet()

#: The lock each cooperative test is waiting for, if any.
_waiting_for: dict[LaneState, _LoopLock] = {}

#: The fixture whose setup is running in this context: (name, scope, node id
#: of its scope), set by the engine around an async fixture's setup.
setting_up: contextvars.ContextVar[tuple[str, str, str] | None] = contextvars.ContextVar(
    "alt_coop_fixture_setting_up", default=None
)

#: The locks taken in this context: a fixture's reach the test, as its
#: context variables do.
_held: contextvars.ContextVar[frozenset[_LoopLock]] = contextvars.ContextVar(
    "alt_coop_held_locks", default=frozenset()
)
