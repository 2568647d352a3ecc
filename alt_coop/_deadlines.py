"""Deadlines: many timers that almost never fire, behind one loop timer.

Every async fixture phase and test has a timeout, and almost every phase
ends long before it. An asyncio timer per phase costs more than that is
worth: the loop's heap compares its handles in Python, and a cancelled handle
stays in the heap until the loop gets round to it. Here a deadline is an
entry in a heap of tuples (compared in C); cancelling one only forgets it;
and the loop is woken only when the earliest deadline still wanted is due.

PYTEST_DONT_REWRITE (see alt_coop/__init__.py).
"""

from __future__ import annotations

import asyncio
import contextvars
import heapq
import itertools
import math
import weakref
from collections.abc import Callable


class Deadline:
    """One deadline, until it is due or cancelled."""

    __slots__ = ("_owner", "callback", "wanted")

    def __init__(self, owner: Deadlines, callback: Callable[[], None]) -> None:
        self._owner = owner
        self.callback = callback
        self.wanted = True

    def cancel(self) -> None:
        if self.wanted:
            self.wanted = False
            # Its entry may stay in the heap a while: it must not keep the
            # phase (and the test) its callback belongs to alive.
            self.callback = _nothing
            self._owner.forgot_one()


class Deadlines:
    """The deadlines of one loop."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Deadline]] = []
        self._order = itertools.count()  # ties never compare the Deadline objects
        self._wanted = 0
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = math.inf

    def call_at(
        self, loop: asyncio.AbstractEventLoop, when: float, callback: Callable[[], None]
    ) -> Deadline:
        """Call ``callback`` at loop time ``when``, unless cancelled first."""
        deadline = Deadline(self, callback)
        heapq.heappush(self._heap, (when, next(self._order), deadline))
        self._wanted += 1
        if when < self._timer_at:
            self._set_timer(loop, when)
        return deadline

    def forgot_one(self) -> None:
        self._wanted -= 1
        if not self._wanted:
            # Nothing is timed: no timer of alt_coop's is left on the loop
            # (suites check between tests that none of theirs is).
            self._heap.clear()
            if self._timer is not None:
                self._timer.cancel()
                self._timer, self._timer_at = None, math.inf
            return
        # Forgotten entries leave the heap as its top passes them; should they
        # pile up (long timeouts, short phases), sweep them out at once.
        if len(self._heap) > 2 * self._wanted + 64:
            self._heap = [entry for entry in self._heap if entry[2].wanted]
            heapq.heapify(self._heap)

    def _set_timer(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = when
        # In a context of its own: it would keep the context of the code that
        # armed it (a test's, with what its fixtures set) alive, re-arming.
        self._timer = loop.call_at(when, self._expire, loop, context=contextvars.Context())

    def _expire(self, loop: asyncio.AbstractEventLoop) -> None:
        # The loop runs a timer up to its clock resolution early.
        now = max(self._timer_at, loop.time())
        self._timer, self._timer_at = None, math.inf
        heap, due = self._heap, []
        while heap and (heap[0][0] <= now or not heap[0][2].wanted):
            deadline = heapq.heappop(heap)[2]
            if deadline.wanted:
                deadline.wanted = False
                self._wanted -= 1
                due.append(deadline)
        if heap:
            self._set_timer(loop, heap[0][0])
        for deadline in due:
            try:
                deadline.callback()
            except Exception as exc:  # as the loop would for a callback of its own
                loop.call_exception_handler(
                    {"message": "alt_coop deadline callback failed", "exception": exc}
                )


def _nothing() -> None:
    pass


_of_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Deadlines] = (
    weakref.WeakKeyDictionary()
)


def of_loop(loop: asyncio.AbstractEventLoop) -> Deadlines:
    """The deadlines of ``loop``; they live as long as the loop does."""
    found = _of_loop.get(loop)
    if found is None:
        found = _of_loop[loop] = Deadlines()
    return found
