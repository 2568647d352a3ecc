"""Teardowns that are coroutines, run on the loop.

pytest calls what ``addfinalizer`` was given and drops what it returns: an
``async`` function's coroutine would never run. A fixture's ``request``
hands such a function over as a teardown of its own, run on the loop in the
context the fixture's setup ran in, within a timeout: whether it was added
during the setup, before the setup failed, or later (by a factory the
fixture returned, or during its teardown). A test item does the same for
the test's own ``request.addfinalizer`` and ``request.node.addfinalizer``,
and so does each collector above it, for a wider fixture's
``request.node.addfinalizer`` (run at the collector's teardown).
An async generator fixture's code after its ``yield`` runs the same way.
A plain function that returns a coroutine fails its teardown, saying so.

It relies on how pytest wires these, checked on pytest 8.3.5, 8.4.2, 9.0.3
and 9.2.0: the ``request`` a fixture function gets is the ``SubRequest``
that ``pytest_fixture_setup`` gets, and a test's own request's
``addfinalizer`` calls its item's ``addfinalizer`` when called (so an
instance attribute stands in for either).

PYTEST_DONT_REWRITE (see alt_coop/__init__.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import inspect
import reprlib
import weakref
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest

from . import _lane_state
from ._debugger import DebuggerPolicy
from ._lanes import in_context
from ._runner import current_context, run
from ._thread_bodies import IN_WORKER_THREAD
from ._timeout_defaults import DefaultUnavailable
from ._timeouts import PhaseTimeout
from ._tracebacks import callable_name
from .errors import AltCoopUsageError, TeardownCancelled


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
    cancelled = None
    with _as_tearing_down(setup_context):
        try:
            run(teardown(), timeout, "teardown", context=setup_context)
        except asyncio.CancelledError as error:
            # Its code's own: alt_coop's interrupts and clocks come out of a
            # phase as KeyboardInterrupt or as its failure.
            cancelled = error
    if cancelled is not None:  # raised outside the handler: it is no context of its own
        raise _as_teardown_error(cancelled)


def _as_teardown_error(cancelled: asyncio.CancelledError) -> TeardownCancelled:
    error = TeardownCancelled(*cancelled.args).with_traceback(cancelled.__traceback__)
    error.__cause__, error.__context__ = cancelled.__cause__, cancelled.__context__
    error.__suppress_context__ = cancelled.__suppress_context__
    error.add_note(
        "alt_coop: the fixture's teardown was cancelled by its code's own doing (a task "
        "group or timeout held across a fixture's yield, or a cancel() of its task); the "
        "other teardowns went on"
    )
    return error


class _TearingDownIn:
    """The tests tearing down, at once, instances set up in one context
    (those a sequential test set up, switched by two cooperative tests to
    other params), and what that context saw as running before the first."""

    __slots__ = ("before", "context", "tests")

    def __init__(self, context: contextvars.Context) -> None:
        self.context = context
        self.before = context.get(_lane_state.CURRENT)
        self.tests: list[_lane_state.LaneState | None] = []

    def show(self, test: _lane_state.LaneState | None) -> None:
        with in_context(self.context):
            _lane_state.CURRENT.set(test)


#: By ``id`` of the context (contexts are not hashable), while any is tearing down.
_tearing_down_in: dict[int, _TearingDownIn] = {}


@contextlib.contextmanager
def _as_tearing_down(setup_context: contextvars.Context) -> Iterator[None]:
    """Within the block, the test that ``setup_context`` sees as running is
    the one tearing down (see :func:`run_teardown`). Two tests may tear down
    there at once, and end in any order: the context sees the latest still
    tearing down, then what it saw before them (resetting a token instead
    would put back whichever test was there when the ending one began)."""
    tearing_down = _lane_state.CURRENT.get()
    entry = _tearing_down_in.get(id(setup_context))
    if entry is None:
        if setup_context.get(_lane_state.CURRENT) is tearing_down:
            yield
            return
        entry = _tearing_down_in[id(setup_context)] = _TearingDownIn(setup_context)
    entry.tests.append(tearing_down)
    entry.show(tearing_down)
    try:
        yield
    finally:
        entry.tests.remove(tearing_down)
        if entry.tests:
            entry.show(entry.tests[-1])
        else:
            del _tearing_down_in[id(setup_context)]
            entry.show(entry.before)


def in_setup_context(
    setup_context: contextvars.Context, finalizer: Callable[[], object]
) -> object:
    """Run the teardown of a fixture set up in a context of its own (from a
    test's body, with ``request.getfixturevalue``, or a shared fixture set
    up in a cooperative test's context) in that context, so the context
    variable tokens it resets are its own; its output, logs and warnings
    are those of the test tearing it down, as for :func:`run_teardown`."""
    __tracebackhide__ = True
    with _as_tearing_down(setup_context), in_context(setup_context):
        return finalizer()


_Owner = pytest.FixtureRequest | pytest.Item | pytest.Collector


class AsyncFinalizers:
    """Stands in for the ``addfinalizer`` of one fixture's ``request``, of
    a test item (what the test's own ``request.addfinalizer`` calls) or of a
    collector: async functions become teardowns run on the loop. It holds
    its owner weakly, so that the owner (which holds it) is freed as soon as
    it is unused."""

    def __init__(
        self,
        owner: _Owner,
        name: str,
        setup_context: contextvars.Context | None,
        default_timeout: Callable[[Any], tuple[float, str]],
        policy: DebuggerPolicy,
    ) -> None:
        """``default_timeout`` gives, for the owner, the default's seconds
        and what a report of it adds (see BUILTIN_DEFAULT_HINT)."""
        self._owner: weakref.ref[_Owner] = weakref.ref(owner)
        self._add: Callable[[Any, Callable[[], object]], None] = type(owner).addfinalizer
        self._name = name
        self._setup_context = setup_context  # None: the context it is added in
        self._default_timeout = default_timeout
        self._policy = policy
        #: The async fixture's own timeout, once known: what the fixture sets
        #: with ``async_timeout.set_timeout_seconds`` holds for these too.
        self.fixture_timeout: PhaseTimeout | None = None
        owner.addfinalizer = self.add  # type: ignore[method-assign]

    @staticmethod
    def timed_by(request: pytest.FixtureRequest, timeout: PhaseTimeout) -> None:
        """Let the async fixture of ``request`` give its finalizers its timeout."""
        finalizers = getattr(request.addfinalizer, "__self__", None)
        if isinstance(finalizers, AsyncFinalizers):
            finalizers.fixture_timeout = timeout

    @staticmethod
    def give_back(owner: _Owner) -> None:
        """Give ``owner`` its own ``addfinalizer`` back, once its test is over
        (an item) or its fixture finished (a request, which pytest may keep
        until the session's end: this one holds the context it was set up in)."""
        vars(owner).pop("addfinalizer", None)

    def add(self, finalizer: Callable[[], object]) -> None:
        """What ``addfinalizer`` does, async functions included."""
        __tracebackhide__ = True  # a refusal is shown at the caller's line
        owner = self._owner()
        assert owner is not None  # its caller holds it
        if not callable(finalizer):
            # pytest would fail the teardown, naming no line.
            raise AltCoopUsageError(_not_a_function(finalizer, self._name))
        if _is_async(finalizer):
            if IN_WORKER_THREAD.get():
                # The default timeout is a fixture's value: set up on the loop's thread only.
                name = callable_name(finalizer)
                raise AltCoopUsageError(
                    f"an async finalizer ({name}) cannot be added from a plain def "
                    "cooperative test, whose body runs in a worker thread: add it in a "
                    "fixture's setup, or make the test async"
                )
            # The default is looked up now, while its fixture can still be set up.
            try:
                default = (
                    None if self.fixture_timeout is not None else self._default_timeout(owner)
                )
            except DefaultUnavailable as error:
                raise AltCoopUsageError(
                    f"async finalizer {callable_name(finalizer)} added during the teardown "
                    f"of {self._name} needs the default timeout, fixture {error.fixture!r}, "
                    f"which cannot be set up during teardown: ask for {error.fixture} in the "
                    "arguments of the fixture that adds the finalizer, or add the finalizer "
                    "before that fixture's yield"
                ) from None
            context = self._setup_context or current_context()
            finalizer = functools.partial(self._run, finalizer, default, context)
        else:
            context = self._setup_context or current_context()
            finalizer = functools.partial(self._run_sync, finalizer, context)
        self._add(owner, finalizer)

    def _run(
        self,
        finalizer: Callable[[], Any],
        default: tuple[float, str] | None,
        context: contextvars.Context,
    ) -> None:
        __tracebackhide__ = True
        if default is None:
            # The fixture's, as it stands now: a set_timeout_seconds() dropped its hint.
            assert self.fixture_timeout is not None
            default = self.fixture_timeout.timeout_seconds, self.fixture_timeout.hint
        seconds, hint = default
        label = f"finalizer {callable_name(finalizer)} of {self._name}"
        timeout = PhaseTimeout(seconds, label, self._policy)
        timeout.hint = hint
        run_teardown(finalizer, timeout, context)

    def _run_sync(self, finalizer: Callable[[], object], context: contextvars.Context) -> None:
        # pytest would drop the coroutine a plain function returns (a lambda
        # calling an async close): its teardown would silently never run.
        # Not run here either: its timeout, a fixture's value, can no longer
        # be looked up safely at teardown.
        __tracebackhide__ = True
        # As an async one: where the fixture's setup ran, or where it was
        # added (the tokens it resets are that context's), whichever test
        # tears it down.
        with _as_tearing_down(context), in_context(context):
            result = finalizer()
        if inspect.iscoroutine(result):
            result.close()
            what = "a coroutine, which pytest never awaits"
        elif inspect.isawaitable(result) and not asyncio.isfuture(result):
            # (A future's work is scheduled already: a task, run_in_executor's.)
            what = "an awaitable, which pytest never awaits"
        elif inspect.isasyncgen(result):
            what = "an async generator, which pytest never runs"
        else:
            return
        name = callable_name(finalizer)
        code = getattr(finalizer, "__code__", None)
        if code is not None:
            name += f" ({code.co_filename}:{code.co_firstlineno})"
        raise AltCoopUsageError(
            f"finalizer {name} of {self._name} returned {what}: give addfinalizer the "
            "async function itself (request.addfinalizer(conn.aclose), or a "
            "functools.partial of it), not a function that calls it"
        )


def _not_a_function(given: object, name: str) -> str:
    start = f"addfinalizer() takes a function to call at teardown, and {name} gave it"
    if inspect.iscoroutine(given):
        given.close()  # the error says it: no "never awaited" warning too
        return (
            f"{start} a coroutine ({given.__qualname__}), which would never run: give it "
            "the async function itself (request.addfinalizer(conn.aclose), or a "
            "functools.partial of it)"
        )
    return f"{start} {reprlib.repr(given)}, which is not callable"


def refuse_async_cleanups(config: pytest.Config) -> None:
    """Make ``config.add_cleanup`` refuse an async function: pytest calls its
    cleanups after the session loop is closed, and would drop the coroutine.
    (A usage error: from a ``pytest_configure`` hook, pytest reports it as one.)"""
    if "add_cleanup" in vars(config):
        return  # done already, as early as the engine could
    add_cleanup = config.add_cleanup

    def add(func: Callable[[], None]) -> None:
        __tracebackhide__ = True
        if _is_async(func):
            name = callable_name(func)
            raise pytest.UsageError(
                f"config.add_cleanup() runs its functions once alt_coop's loop is closed, "
                f"so the async {name} would never run: use a session-scoped fixture with "
                f"its cleanup after a yield, or request.session.addfinalizer({name})"
            )
        add_cleanup(func)

    config.add_cleanup = add  # type: ignore[method-assign]


def _is_async(finalizer: object) -> bool:
    return inspect.iscoroutinefunction(finalizer) or (
        not inspect.isroutine(finalizer)
        and inspect.iscoroutinefunction(getattr(finalizer, "__call__", None))  # noqa: B004
    )
