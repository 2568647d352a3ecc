"""Teardowns that are coroutines, run on the loop.

pytest calls what ``addfinalizer`` was given and drops what it returns: an
``async`` function's coroutine would never run. A fixture's ``request``
hands such a function over as a teardown of its own, run on the loop in the
context the fixture's setup ran in, within a timeout: whether it was added
during the setup, before the setup failed, or later (by a factory the
fixture returned, or during its teardown). A test item does the same for
the test's own ``request.addfinalizer`` and ``request.node.addfinalizer``.
An async generator fixture's code after its ``yield`` runs the same way.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
from collections.abc import Callable, Coroutine
from typing import Any

import greenlet
import pytest

from . import _lane_state
from ._runner import current_context, run
from ._timeouts import PhaseTimeout


def run_teardown(
    teardown: Callable[[], Coroutine[Any, Any, object]],
    timeout: PhaseTimeout,
    setup_context: contextvars.Context,
) -> None:
    """Run a fixture's async teardown where its setup ran (so the context
    variable tokens it reset are its own). A cooperative test may tear down
    what another set up: its output, logs and warnings are the tearing-down
    test's, as in pytest."""
    __tracebackhide__ = True
    tearing_down = _lane_state.CURRENT.get()
    token = None
    if setup_context.get(_lane_state.CURRENT) is not tearing_down:
        token = in_context(setup_context, _lane_state.CURRENT.set, tearing_down)
    try:
        run(teardown(), timeout, "teardown", context=setup_context)
    finally:
        if token is not None:
            in_context(setup_context, _lane_state.CURRENT.reset, token)


def in_context(context: contextvars.Context, func: Callable[..., Any], *args: Any) -> Any:
    """``func(*args)`` in ``context``, entered elsewhere or not: ``Context.run``
    refuses one entered up the stack (the application's task that runs
    pytest nested), where this only makes it the greenlet's for the call."""
    current = greenlet.getcurrent()
    saved, current.gr_context = current.gr_context, context
    try:
        return func(*args)
    finally:
        current.gr_context = saved


class AsyncFinalizers:
    """Stands in for the ``addfinalizer`` of one fixture's ``request``, or of
    a test item (what the test's own ``request.addfinalizer`` calls), for as
    long as it lives: async functions become teardowns run on the loop."""

    def __init__(
        self,
        add: Callable[[Callable[[], object]], None],
        owner: str,
        setup_context: contextvars.Context | None,
        default_seconds: Callable[[], float],
        policy: Any,
    ) -> None:
        self._add = add  # pytest's own
        self._owner = owner
        self._setup_context = setup_context  # None: the context it is added in
        self._default_seconds = default_seconds
        self._policy = policy
        #: The async fixture's own timeout, once known: what the fixture sets
        #: with ``async_timeout.set_timeout_seconds`` holds for these too.
        self.fixture_timeout: PhaseTimeout | None = None

    @classmethod
    def of_fixture(
        cls,
        request: pytest.FixtureRequest,
        setup_context: contextvars.Context,
        default_seconds: Callable[[], float],
        policy: Any,
    ) -> None:
        """Take over the ``addfinalizer`` of a fixture's ``request``."""
        owner = f"fixture {request.fixturename!r}"
        finalizers = cls(request.addfinalizer, owner, setup_context, default_seconds, policy)
        request.addfinalizer = finalizers.add  # type: ignore[method-assign]

    @classmethod
    def of_test(cls, item: pytest.Item, default_seconds: Callable[[], float], policy: Any) -> None:
        """Take over a test item's ``addfinalizer``."""
        finalizers = cls(item.addfinalizer, item.name, None, default_seconds, policy)
        item.addfinalizer = finalizers.add  # type: ignore[method-assign,assignment]

    @staticmethod
    def timed_by(request: pytest.FixtureRequest, timeout: PhaseTimeout) -> None:
        """Let the async fixture of ``request`` give its finalizers its timeout."""
        finalizers = getattr(request.addfinalizer, "__self__", None)
        if isinstance(finalizers, AsyncFinalizers):
            finalizers.fixture_timeout = timeout

    def add(self, finalizer: Callable[[], object]) -> None:
        """What ``addfinalizer`` does, async functions included."""
        if _is_async(finalizer):
            # The default is looked up now, while its fixture can still be set up.
            seconds = None if self.fixture_timeout is not None else self._default_seconds()
            context = self._setup_context or current_context()
            finalizer = functools.partial(self._run, finalizer, seconds, context)
        self._add(finalizer)

    def _run(
        self, finalizer: Callable[[], Any], seconds: float | None, context: contextvars.Context
    ) -> None:
        __tracebackhide__ = True
        if seconds is None:
            assert self.fixture_timeout is not None
            seconds = self.fixture_timeout.timeout_seconds
        label = f"finalizer {_name_of(finalizer)} of {self._owner}"
        run_teardown(finalizer, PhaseTimeout(seconds, label, self._policy), context)


def _is_async(finalizer: object) -> bool:
    return inspect.iscoroutinefunction(finalizer) or (
        not inspect.isroutine(finalizer)
        and inspect.iscoroutinefunction(getattr(finalizer, "__call__", None))  # noqa: B004
    )


def _name_of(finalizer: object) -> str:
    while isinstance(finalizer, functools.partial):
        finalizer = finalizer.func
    name = getattr(finalizer, "__qualname__", None)
    if isinstance(name, str):
        return name
    return type(finalizer).__qualname__
