"""Mutual exclusion between cooperative tests: :class:`Lock`.

:class:`Lock` is the public name here; the functions below it are the
engine's. What test and fixture run, the locks learn from
:mod:`alt_coop._running_now`.

PYTEST_DONT_REWRITE (see alt_coop/__init__.py).
"""

from __future__ import annotations

import asyncio
import contextvars
import weakref
from collections.abc import Collection
from types import TracebackType
from typing import Any, Literal

import pytest

from . import _cancels, _runner, _session_loop
from ._cancels import is_made_here
from ._lane_state import CURRENT, LaneState
from ._lanes import in_lane
from ._pytest_compat import hidden_unless_alone
from ._running_now import (
    BODY_RUNNING,
    FixtureSetUp,
    lock_wait_started,
    running_batch,
    setting_up,
    test_item,
)
from ._thread_bodies import in_a_body_thread

__all__ = ["Lock"]


class _AsyncWithOnly:
    """A plain ``with`` says what to write instead."""

    def __enter__(self) -> None:
        __tracebackhide__ = True
        raise TypeError(
            "an alt_coop.Lock is taken with `async with lock():`, in an async fixture or test"
        )

    def __exit__(self, *exc_info: object) -> None:  # never entered
        pass


_NOT_THE_SESSIONS_LOOP = (
    "this alt_coop.Lock is taken on a loop of a plain def cooperative test's own thread "
    "(asyncio.run in its body, say), not the session's, where it would keep no other test "
    "out: take it in an async fixture the test asks for (`async with db(): yield`), or "
    "send the code that takes it to the session's loop, the one current in the body "
    "(asyncio.run_coroutine_threadsafe)"
)


_ANOTHER_LOOPS = (
    "this lock is an alt_coop.Lock's for another event loop (got with `db()` where that "
    "loop ran or was the session's): call `db()` where you take it, `async with db():`"
)


class Lock(_AsyncWithOnly):
    """A lock cooperative tests share, made once at module level.

    ::

        db = alt_coop.Lock()

        @pytest.fixture
        async def exclusive_db():
            async with db():
                yield

    Taken in a fixture, it covers the fixtures set up after it and the test,
    until that fixture's teardown. ``async with db:`` works as well. Time spent
    waiting for another test or fixture to release the lock does not count
    against the waiting fixture's or test's timeouts; waiting for a task to
    release it does, as for any asyncio lock.
    """

    def __init__(self) -> None:
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopLock] = (
            weakref.WeakKeyDictionary()
        )

    def __call__(self) -> asyncio.Lock:
        """The lock for the running loop, as ``async with db():`` takes it.

        One per loop, so a lock made at import serves every session that
        imports it (a pytester run inside a test, an application's loop).
        Called while no loop runs (a sync fixture of a sequential test that
        returns it for async tests to take), it is the session loop's.
        """
        __tracebackhide__ = True
        loop = _session_loop.running_loop()
        session_loop = _session_loop.current()
        if loop is None:
            if session_loop is None:
                raise RuntimeError(
                    "alt_coop.Lock() needs alt_coop's session loop or a running event loop: "
                    "call it in a fixture or test of a session alt_coop runs"
                )
            loop = session_loop.loop
        elif in_a_body_thread() and session_loop is not None and loop is not session_loop.loop:
            # A loop of the thread's own (asyncio.run in the body), not a
            # session's it runs: its lock would keep out no test beside it.
            raise RuntimeError(_NOT_THE_SESSIONS_LOOP)
        lock = self._locks.get(loop)
        if lock is None:
            lock = self._locks[loop] = _LoopLock(loop)
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


class _LoopLock(_AsyncWithOnly, asyncio.Lock):
    """An asyncio.Lock whose wait for another test's or fixture's hold does
    not eat into the waiter's timeouts, and that says so when waiting for it
    could never end."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        #: The loop it serves (weakly: the locks are kept by their loops).
        self._made_for = weakref.ref(loop)
        self._holder: _Holder | None = None
        self._waiting_clocks: dict[_runner.WaiterClocks, None] = {}  # of tests' and fixtures' code
        #: Whether every waiter's clocks run (a task holds it) or not (see
        #: _clocks_follow_holder); None: some may differ. Kept so that the
        #: hand-overs of a lock many tests wait for do not each go through them all.
        self._clocks_run: bool | None = False

    async def acquire(self) -> Literal[True]:
        __tracebackhide__ = True
        if asyncio.get_running_loop() is not self._made_for():
            # Taken on another loop, in another thread, asyncio's lock is
            # not thread-safe: its release would never wake a waiter here.
            raise RuntimeError(_ANOTHER_LOOPS)
        # Only a fixture's or test's own code (run in a lane, on the task
        # alt_coop runs it on) pauses clocks and can wait on itself; a task it
        # started is like any other task, even while an eager task factory
        # runs that task's first step inside the lane.
        task = asyncio.current_task()
        own_code = in_lane() and task is not None and is_made_here(task)
        state = CURRENT.get()
        handed_over = own_code and _kept_by_ended_body(self, state)
        if own_code and not handed_over and self in _held.get():
            holder = self._holder
            if self.locked() and holder is not None and holder.state is state:
                fixture = _wider(holder)
                if fixture is not None:
                    where = (
                        f"the {fixture.scope} fixture {fixture.name!r}, set up before this test"
                    )
                else:
                    where = "this test or one of its fixtures"
                raise RuntimeError(
                    f"this alt_coop.Lock is already held by {where}, and it is not "
                    "re-entrant: take it in one place only"
                )
            # This context was copied from one that held it (a lane's, made
            # while a fixture held it): not this test's to hold.
            _held.set(_held.get() - {self})
        if handed_over:
            pass  # as it is, held: no waiter queued before wakes to it
        elif own_code and self._must_wait():
            # Waiting would never end, and with the clocks paused no timeout
            # would end it either.
            _check_wait(self, state)
            clocks = _runner.WaiterClocks()
            self._waiting_clocks[clocks] = None
            if self._clocks_follow_holder(clocks) is not self._clocks_run:
                self._clocks_run = None
            if state is not None:
                _waiting_for[state] = self
                _clocks_of_waiter[state] = clocks
                started = lock_wait_started.get()
                if started is not None:
                    started()  # see _time_stuck_waits
            try:
                await super().acquire()
            except asyncio.CancelledError:
                refusal = _refused.pop(state, None) if state is not None else None
                if refusal is None or state is None or state.task is None:
                    raise
                _cancels.uncancel_own(state.task)
                if state.task.cancelling():  # cancelled meanwhile too: that goes on
                    raise
                raise refusal.with_traceback(None) from None  # from here, as _check_wait's
            finally:
                del self._waiting_clocks[clocks]
                clocks.resume(wait_over=True)
                if state is not None:
                    _waiting_for.pop(state, None)
                    _clocks_of_waiter.pop(state, None)
                    _refused.pop(state, None)
        else:
            await super().acquire()
        # A task the test started holds it for itself, not for the test.
        self._holder = _Holder(state, setting_up.get(), test_item.get()) if own_code else None
        if own_code:
            _held.set(_held.get() | {self})
            _held_by_tests.add(self)
        task_holds = not own_code  # the waiters' clocks run
        if self._clocks_run is not task_holds:
            for clocks in self._waiting_clocks:
                self._clocks_follow_holder(clocks)
            self._clocks_run = task_holds
        return True

    def clocks_ran_apart(self) -> None:
        """Some waiters' clocks run though the holder's kind says not (see
        :func:`_time_stuck_waits`): the next hand-over sets each one again."""
        self._clocks_run = None

    def _clocks_follow_holder(self, clocks: _runner.WaiterClocks) -> bool:
        """Stop a waiter's clocks while a test's or fixture's own code holds
        the lock (or it is being handed to the next waiter), and let them run
        while a task holds it. A test's or function fixture's hold ends with
        its test, at its timeout at the latest, and a wider fixture's at its
        scope's teardown (waits that could never end are refused, see
        :func:`_check_wait`); a task has no clock, and may wait for the
        waiter itself (or for a test that waits for it): as for any asyncio
        lock, the waiter's timeouts then end the wait. Returns whether they run."""
        if self.locked() and self._holder is None:
            clocks.resume()
            return True
        clocks.pause()
        return False

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
        _held_by_tests.discard(self)
        held = _held.get()
        if self in held:
            _held.set(held - {self})


class _Holder:
    """Which test holds a lock (its lane state, None for the sequential one,
    and its item), and through which wider fixture."""

    __slots__ = ("by_body", "cut_short", "fixture", "item", "past_setup", "state")

    def __init__(
        self, state: LaneState | None, fixture: FixtureSetUp | None, item: object
    ) -> None:
        self.state = state
        self.fixture = fixture  # if a fixture took it
        self.item = item
        #: The test's body took it (see _kept_by_ended_body).
        self.by_body = (
            fixture is None
            and isinstance(item, pytest.Item)
            and item.stash.get(BODY_RUNNING, False)
        )
        #: The fixture's setup is over with it still held: from then on, a
        #: wider fixture holds it until its teardown. Until then, its hold
        #: ends as the setup goes on, as a test's does (see _setup_ended).
        self.past_setup = False
        #: Its code was abandoned (a teardown that ignored its timeout's
        #: cancellation) while holding it.
        self.cut_short = False


def _release_left_held(
    item: pytest.Item, *, cut_short: bool = False, abandoned: bool = False
) -> None:
    """Release the locks that ``item``'s code or function fixtures took and
    still hold now that it is torn down, and raise an error saying so,
    unless an interrupt cut it short (then it had no time to let go).

    Nothing else would release them: those waiting for them would wait
    forever, with their clocks paused. (A wider fixture's lock is its own
    business until that fixture's teardown; a task's, until the task lets
    it go.) Known by the item, not the lane: a session run by a test of
    another (pytester) runs its tests in that test's lane. ``abandoned``:
    ``item`` is left where it waits, never to be resumed.
    """
    __tracebackhide__ = hidden_unless_alone
    if not _held_by_tests and not _let_go:
        return  # the usual case, at every test's teardown
    left = [
        lock
        for lock in list(_held_by_tests)
        if (holder := lock._holder) is not None
        and holder.item is item
        and (
            # Never resumed, an abandoned test's code lets go of nothing: what
            # its body and the setups it was running hold. (A fixture set up
            # is torn down by the session, and lets go of its own.)
            (holder.fixture is None or not holder.past_setup)
            if abandoned
            else _wider(holder) is None
        )
    ]
    for lock in left:
        lock.release()
    count = len(left) + _let_go.pop(item, 0)
    if not count or cut_short:
        return
    pytest.fail(
        f"{item.nodeid} ended still holding {count} alt_coop.Lock(s) it took and never "
        "released (an acquire() without a release()); alt_coop released them for the "
        "tests and teardowns waiting. Take a lock with `async with lock():`",
        pytrace=False,
    )


def _setup_ended(fixture: FixtureSetUp, *, failed: bool) -> None:
    """``fixture``'s setup is over. The locks it still holds, it holds until
    its teardown; if the setup failed, its code has ended, and nothing would
    let them go before its scope's end: they are released now, for those
    waiting (the setup's error says what went wrong)."""
    if not _held_by_tests:
        return  # the usual case, at every async fixture's setup
    for lock in list(_held_by_tests):
        holder = lock._holder
        if holder is not None and holder.fixture is fixture:
            if failed:
                lock.release()
            else:
                holder.past_setup = True
                if not fixture.parametrized:  # its instance may end at a param's switch
                    _refuse_waits_never_ending(lock)


def _refuse_waits_never_ending(lock: _LoopLock) -> None:
    """A wider fixture's setup returned holding ``lock``, until its teardown:
    the waits for it that began while the setup ran (its hold might have
    ended with it) may now never end. Each such waiter is refused as it
    would be had it come now (see :func:`_check_wait`), woken by a
    cancellation that its ``acquire`` takes back."""
    for state, waited in list(_waiting_for.items()):
        if waited is not lock or state.task is None or state in _refused:
            continue
        try:
            _check_wait(lock, state)
        except RuntimeError as refusal:
            _refused[state] = refusal
            _cancels.cancel_own(state.task, "alt_coop: a wait for a lock that would never end")


def _teardown_abandoned(fixture: FixtureSetUp) -> None:
    """``fixture``'s teardown was abandoned: the locks it still holds, its
    code holds where it is suspended (inside ``async with``, say), not for
    want of a release (see _release_left_held_by_fixture)."""
    for lock in list(_held_by_tests):
        holder = lock._holder
        if holder is not None and holder.fixture is fixture:
            holder.cut_short = True


def _release_left_held_by_fixture(fixture: FixtureSetUp) -> None:
    """Release the locks one set-up of a wider fixture took and still holds
    once its scope is torn down, and raise an error saying so.

    ``fixture`` is what that set-up held its locks through (see
    ``_Holder.fixture``): the same object, since an overriding fixture of
    the same name and scope has an equal one. Nothing else would release
    them, and the tests waiting would wait forever, their clocks paused.
    """
    __tracebackhide__ = True
    if not _held_by_tests:
        return
    left = [
        lock
        for lock in list(_held_by_tests)
        if lock._holder is not None and lock._holder.fixture is fixture
    ]
    if not left:
        return
    forgotten = [lock for lock in left if not lock._holder or not lock._holder.cut_short]
    for lock in left:
        lock.release()
    if not forgotten:
        return
    name, scope = fixture.name, fixture.scope
    pytest.fail(
        f"the {scope} fixture {name!r} ended still holding {len(forgotten)} alt_coop.Lock(s) it "
        "took and never released (an acquire() without a release()); alt_coop released "
        "them for the tests waiting. Take a lock with `async with lock():`",
        pytrace=False,
    )


def _check_wait(lock: _LoopLock, waiter: LaneState | None) -> None:
    """Raise if the running test (``waiter``, its lane's state, None for a
    test run outside a batch) waiting for ``lock`` would never end.

    Either a wider fixture holds it until its teardown, which comes after
    every test in its scope, the waiter among them, or (for a cooperative
    test) the waits of the tests running now, each for a lock the next one
    holds, come back to ``waiter``. A wider fixture's hold ends after every
    test of its scope, so it leads on to each of them that waits.
    """
    __tracebackhide__ = True
    item = test_item.get() if waiter is None else waiter.item
    if item is None:
        return
    holder = lock._holder
    fixture = None if holder is None else _held_till_teardown(holder)
    if fixture is not None and _within(item.nodeid, fixture.scope_id):
        raise RuntimeError(
            f"this alt_coop.Lock is held by the {fixture.scope} fixture {fixture.name!r}, "
            f"which releases it at its teardown, after every test of its {fixture.scope}, "
            f"{item.nodeid} included. Take it in one place only"
            + (
                # A sequential run, one test at a time in order, may have
                # let the test take it before the fixture was set up.
                ", or mark the test asyncio_sequential: running beside the tests using "
                f"{fixture.name!r}, it found the lock taken by its setup"
                if waiter is not None
                else ""
            )
        )
    if waiter is None:
        # A test outside a batch waits for no test of one: none runs.
        return
    chain = _chain_back_to(waiter, lock)
    if chain is not None:
        raise RuntimeError(
            "waiting for this alt_coop.Lock would never end: " + _circle(waiter, chain)
        )


def _time_stuck_waits(tasks: Collection[asyncio.Task[Any]], why: str) -> None:
    """If the batch is stuck, let its tests' waits for locks count against
    their timeouts again, and say why in the timeout's report.

    Stuck: every test running (on ``tasks``) waits, its clocks paused, for
    a lock that a test's or fixture's own code holds, and no further test
    starts, for the reason ``why`` gives. That code would never let go: a
    test's hold ends with that test, which waits too; a wider fixture's at
    its teardown, after tests that do not start. Not failed at once, though:
    something else may still end a wait (an ``asyncio.timeout`` around it,
    a callback that releases the lock), as for a wait for a task's hold.
    """
    if not _waiting_for or len(_waiting_for) < len(tasks):
        return  # the usual case: checked each time a test of a batch ends
    running = [task for task in tasks if not task.done()]
    waiting = {
        state.task: state for state, lock in _waiting_for.items() if lock._holder is not None
    }
    if not running or any(task not in waiting for task in running):
        return
    for task in running:
        state = waiting[task]
        holder = _waiting_for[state]._holder
        fixture = None if holder is None else _held_till_teardown(holder)
        if fixture is None:
            held = "each test running waits for a lock another of them holds"
        else:
            held = (
                f"the {fixture.scope} fixture {fixture.name!r} holds it until the last "
                f"test of its {fixture.scope} ends"
            )
        _waiting_for[state].clocks_ran_apart()
        _clocks_of_waiter[state].run_stuck(
            f"; this alt_coop.Lock could not be let go of while it waited: {held}, and "
            f"{why}. Take it in a function-scoped fixture instead, whose hold ends with its test"
        )


def _kept_by_ended_body(lock: _LoopLock, taker: LaneState | None) -> bool:
    """Whether ``lock`` is to be handed over as it is, held, to its taker
    (``taker``'s own code): a teardown of the test whose body holds it, and
    so has ended.

    The body kept it by mistake (an ``acquire()`` without a ``release()``),
    or Ctrl-C cut it short; nothing of the test's would let go of it before
    the test's end, after its teardowns, and the test's code runs one step
    after another (a sequential test's, or a cooperative one's in its lane):
    the teardown would wait forever. Not released: another test waiting
    would take it first, in the middle of this one's teardown. The test's
    end still reports it (see :func:`_release_left_held`). Also when the
    teardown runs in the body's context, which holds the lock: a fixture's
    the body set up (``request.getfixturevalue``).
    """
    holder = lock._holder
    if holder is None or not holder.by_body or holder.state is not taker:
        return False
    item: Any = holder.item
    if item.stash.get(BODY_RUNNING, False):
        return False  # a session it runs, say: its tests' code is not its own
    _let_go[item] = _let_go.get(item, 0) + 1
    return True


#: A step of a circle of waits: what it says, and its kind (_TEST, _HELD or _SET_UP).
_Step = tuple[str, str]
_TEST, _HELD, _SET_UP = "test", "held by a wider fixture", "a wider fixture's set-up"


def _circle(waiter: LaneState, chain: list[_Step]) -> str:
    """What the error says of a circle of waits (see :func:`_chain_back_to`)."""
    steps = " -> ".join([waiter.item.nodeid, *(step for step, _ in chain)])
    kinds = {kind for _, kind in chain}
    if kinds == {_SET_UP}:  # no lock: each fixture's setup asks for the next
        what = "these fixtures ask for each other as they are set up, a recursive dependency"
        return f"{what}: {steps}"
    through = " (or a fixture holds until it ends)" if _HELD in kinds else ""
    set_up = ", or for a wider fixture it sets up" if _SET_UP in kinds else ""
    return (
        f"these tests each wait for a lock the next one holds{through}{set_up}: {steps}. "
        "Take locks in one order everywhere"
    )


class _SetUpWait:
    """While in it, ``waiter``'s test waits for ``fixture`` (which fixture,
    in words), which ``setting_up``'s test is setting up until ``until`` is
    done: a step of the circles :func:`_chain_back_to` finds. Entering it
    raises if the wait would close one."""

    __slots__ = ("fixture", "setting_up", "until", "waiter")

    def __init__(
        self, waiter: LaneState, setting_up: LaneState, fixture: str, until: asyncio.Future[None]
    ) -> None:
        self.waiter, self.setting_up, self.fixture = waiter, setting_up, fixture
        self.until = until

    def __enter__(self) -> None:
        __tracebackhide__ = True
        waiter, setting_up, fixture = self.waiter, self.setting_up, self.fixture
        step = (f"{setting_up.item.nodeid} (setting up {fixture})", _SET_UP)
        state, chain = _through_set_ups(waiter, setting_up, [step], set())
        lock = _waiting_for.get(state) if state is not waiter else None
        rest = _chain_back_to(waiter, lock) if lock is not None else None
        if state is waiter or rest is not None:
            raise RuntimeError(
                f"waiting for {fixture}, which {setting_up.item.nodeid} sets up, would never "
                "end: " + _circle(waiter, [*chain, *(rest or ())])
            )
        _waiting_for_set_up[waiter] = self

    def __exit__(self, *exc_info: object) -> None:
        del _waiting_for_set_up[self.waiter]


def _through_set_ups(
    waiter: LaneState, state: LaneState, steps: list[_Step], seen: set[LaneState]
) -> tuple[LaneState, list[_Step]]:
    """The test that ``state``'s waits for wider fixtures other tests set
    up lead to (``state`` itself if it waits for none), with the steps."""
    while state is not waiter and state not in seen:
        wait = _waiting_for_set_up.get(state)
        # A set-up that has ended holds its waiter up no longer, though the
        # waiter, not yet resumed, is still in its _SetUpWait.
        if wait is None or wait.until.done():
            break
        seen.add(state)
        state = wait.setting_up
        steps = [*steps, (f"{state.item.nodeid} (setting up {wait.fixture})", _SET_UP)]
    return state, steps


def _chain_back_to(waiter: LaneState, lock: _LoopLock) -> list[_Step] | None:
    """The steps by which ``lock``'s hold waits, through the waits of the
    tests running now, for ``waiter`` to end, if it does.

    Only a test's or fixture's own hold leads on (a task's runs down the
    waiter's clocks): to its test (the one a fixture was set up for), and,
    for a wider fixture whose setup returned holding it, to each test
    waiting that its teardown comes after, ``waiter`` included. A test
    waiting for a wider fixture that another sets up leads on to that one.
    """
    paths: list[tuple[_LoopLock, list[_Step]]] = [(lock, [])]
    seen: set[LaneState] = set()
    while paths:
        lock, steps = paths.pop()
        holder = lock._holder
        if holder is None:
            continue  # a task's
        fixture = _held_till_teardown(holder)
        leads_to = []
        if holder.state is not None:  # the test it is held through, or that set it up
            leads_to.append((holder.state, (holder.state.item.nodeid, _TEST)))
        if fixture is not None and not fixture.parametrized:
            # Also after every test of its scope. (Of a parametrized one,
            # only the instance of the last param is: not known here.)
            held_until = f"the {fixture.scope} fixture {fixture.name!r}, held until"
            if _held_past_batch(fixture, holder):  # which waits for the batch, the waiter in it
                later = f"its {fixture.scope}'s tests after the cooperative tests running now end"
                return [*steps, (f"{held_until} {later}", _HELD)]
            leads_to += [
                (state, (f"{held_until} {state.item.nodeid} ends", _HELD))
                for state in [waiter, *_waiting_for, *_waiting_for_set_up]
                if _within(state.item.nodeid, fixture.scope_id)
            ]
        for state, step in leads_to:
            state, chain = _through_set_ups(waiter, state, [*steps, step], seen)
            if state is waiter:
                return chain
            next_lock = _waiting_for.get(state)
            if next_lock is not None and state not in seen:
                seen.add(state)
                paths.append((next_lock, chain))
    return None


def _wider(holder: _Holder) -> FixtureSetUp | None:
    """The wider fixture through which ``holder`` holds its lock, if any."""
    fixture = holder.fixture
    return fixture if fixture is not None and fixture.scope != "function" else None


def _held_till_teardown(holder: _Holder) -> FixtureSetUp | None:
    """The wider fixture that holds the lock until its teardown, if any."""
    return _wider(holder) if holder.past_setup else None


def _held_past_batch(fixture: FixtureSetUp, holder: _Holder) -> bool:
    """Whether ``fixture``'s hold waits for tests after the running batch:
    its scope's run (the consecutive tests of its scope it was set up for)
    goes on past the batch."""
    batch = running_batch.get()
    if batch is None or batch.after is None:
        return False
    if not _within(batch.after.nodeid, fixture.scope_id):
        return False
    for item in reversed(batch.items):
        if item is holder.item:
            break
        if not _within(item.nodeid, fixture.scope_id):
            return False  # the run it was set up for ended before the batch's end
    return True


def _within(nodeid: str, scope_id: str) -> bool:
    """Whether the test ``nodeid`` is under the node ``scope_id`` (a module, a
    class, a package directory, or the session's empty id)."""
    return not scope_id or nodeid.startswith((f"{scope_id}::", f"{scope_id}/"))


#: The locks a test's or fixture's own code holds now.
_held_by_tests: weakref.WeakSet[_LoopLock] = weakref.WeakSet()

#: How many locks each test's body kept after it ended, handed over to its
#: own teardowns (see _kept_by_ended_body), to report at the test's end.
_let_go: weakref.WeakKeyDictionary[pytest.Item, int] = weakref.WeakKeyDictionary()

#: The lock each cooperative test is waiting for, if any, and its clocks.
_waiting_for: dict[LaneState, _LoopLock] = {}
_clocks_of_waiter: dict[LaneState, _runner.WaiterClocks] = {}
#: The waiters whose wait was found never to end after it began, and why.
_refused: dict[LaneState, RuntimeError] = {}
#: The wait of each cooperative test for a wider fixture another sets up,
#: if any (see _SetUpWait).
_waiting_for_set_up: dict[LaneState, _SetUpWait] = {}

#: The locks taken in this context: a fixture's reach the test, as its
#: context variables do.
_held: contextvars.ContextVar[frozenset[_LoopLock]] = contextvars.ContextVar(
    "alt_coop_held_locks", default=frozenset()
)
