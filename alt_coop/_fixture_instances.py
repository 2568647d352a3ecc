"""Fixture instances per cooperative test, and shared ones set up once.

A pytest ``FixtureDef`` caches one value, which tests running at once would
overwrite in each other's hands. Each test's request is given a view of its
fixtures (:class:`FixtureInstances`) that answers with an instance of its
own, or of its class, module or package, set up exactly once however many
tests ask for it at the same moment (:func:`setup_once`).

Private pytest names used here, checked on pytest 8.3.5, 8.4.2, 9.0.3 and
9.2.0: ``FixtureDef.execute``/``finish``/``_scope``/``cached_result``/``_finalizers``,
``CallSpec2._arg2scope``, ``Function._fixtureinfo.name2fixturedefs``,
``Scope`` (ordered), ``SubRequest._scope``,
``request._arg2fixturedefs``/``_fixturemanager``, ``get_scope_node`` and
``get_scope_package``.

PYTEST_DONT_REWRITE (see alt_coop/__init__.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import copy
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from _pytest.fixtures import FixtureDef, get_scope_node, get_scope_package
from _pytest.scope import Scope

from . import _lane_output, _runner, _thread_bodies, locks
from ._lane_state import CURRENT, LaneState
from ._lanes import loop_of_the_lane
from ._shared_context import SharedContext


class FixtureInstances:
    """Which FixtureDef object a test's request uses, so tests do not share slots.

    A FixtureDef caches one value. Function-scoped fixtures get a copy per
    test; class, module and package fixtures a copy per scope node (what a
    sequential run would set up anew for each); session fixtures are shared.
    A non-function fixture that one test is setting up is waited for by any
    other test that asks for it, so it is set up exactly once.
    """

    def __init__(self) -> None:
        self.per_node: dict[tuple[Any, Any], Any] = {}
        #: Fixtures whose tests run sequentially, on pytest's own FixtureDef
        #: (see :func:`params_of_other_scopes`).
        self.pytests_own: set[Any] = set()
        #: The shared fixtures being set up: the test setting each up, and
        #: a future done when that ends.
        self.claims: dict[FixtureDef[Any], tuple[LaneState, asyncio.Future[None]]] = {}
        self.context = SharedContext()

    def instance(self, fixturedef: Any, item: pytest.Item, state: LaneState | None) -> Any:
        if self.pytests_own and fixturedef in self.pytests_own and CURRENT.get() is None:
            return fixturedef  # a sequential test's (one reaching it otherwise: see README)
        scope = fixturedef._scope
        callspec = getattr(item, "callspec", None)
        if callspec is not None:
            # As pytest caches it: a parametrize scope wider than the
            # fixture's shares its instance wider. A narrower one keeps one
            # instance per the fixture's own scope, set up anew when the param
            # changes (the scheduler runs tests with different params of it
            # one after the other): "function" too, whose instance pytest
            # then tears down with the test, after finishing the shared one.
            given = callspec._arg2scope.get(fixturedef.argname)
            if given is not None and scope < given:
                scope = given
        if scope is Scope.Session:
            return fixturedef
        if scope is Scope.Function:
            if state is None:  # asked for after its test (see _InstanceMap.release)
                return fixturedef
            found = state.copies.get(fixturedef)
            if found is None:
                found = state.copies[fixturedef] = _fresh_copy(fixturedef)
            return found
        key = (fixturedef, _scope_node(item, scope, fixturedef))
        found = self.per_node.get(key)
        if found is None:
            found = self.per_node[key] = _fresh_copy(fixturedef)
        return found

    def forget_errors(self, item: pytest.Item, state: LaneState) -> None:
        """Let the instances of ``item``'s fixtures that failed be set up again."""
        info = getattr(item, "_fixtureinfo", None)
        for fixturedefs in info.name2fixturedefs.values() if info is not None else ():
            for fixturedef in fixturedefs:
                instance = self.instance(fixturedef, item, state)
                cached = instance.cached_result
                if cached is not None and cached[2] is not None:
                    instance.cached_result = None
                    instance._finalizers.clear()

    def install(self, item: pytest.Item, state: LaneState) -> None:
        """Give ``item``'s request a view of its fixtures that maps to instances."""
        request = getattr(item, "_request", None)
        if not request or isinstance(request._arg2fixturedefs, _InstanceMap):
            return  # an item without fixtures (a plugin's own item type), or done
        request._arg2fixturedefs = _InstanceMap(
            request._arg2fixturedefs, request._fixturemanager, item, state, self
        )


def release(item: pytest.Item) -> None:
    """Let go of ``item``'s own instances once its test is torn down.

    pytest keeps the request of a fixture that used a wider one until that
    one is finished (``tmp_path``'s, until the session's end): the view that
    request shares must not keep the test's state and values as long.
    """
    mapping = getattr(getattr(item, "_request", None), "_arg2fixturedefs", None)
    if isinstance(mapping, _InstanceMap):
        mapping.release()


def params_of(item: pytest.Item) -> tuple[list[tuple[str, Any]], set[str]]:
    """The params ``item`` gives its fixtures, as the scheduler must keep them apart.

    First, ``(name, key)`` for each param whose instance tests may share: keyed
    by the value (pytest keeps an instance while the value stays equal, and
    two parametrize calls can put different values at one index), and by the
    node of the param's scope too when that is narrower than the fixture's:
    the fixture's one instance is then set up anew for each such node, whose
    teardown finishes it. A param of function scope (``scope="function"``, or
    only some argnames indirect, or one of a function fixture overriding a
    wider one it asks for) of a wider fixture is keyed by the test: its
    instance is that test's alone, but still the fixture's one instance.
    Second, the names given a param of function scope (whose tests never wait
    as tests using the fixture without a param do).
    """
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return [], set()
    shared: list[tuple[str, Any]] = []
    own: set[str] = set()
    fixturedefs = item._fixtureinfo.name2fixturedefs  # type: ignore[attr-defined]
    for name, value in callspec.params.items():
        scope = callspec._arg2scope.get(name)
        if scope is None or scope is Scope.Function:
            own.add(name)
            # The param reaches each of the name's overrides the test gets (a
            # function fixture asking for the module one it overrides).
            used = fixturedefs.get(name)
            if used and any(fd._scope is not Scope.Function for fd in _used(used)):
                shared.append((name, object()))  # equal to no other test's
        elif scope < max((fd._scope for fd in fixturedefs.get(name, ())), default=scope):
            shared.append((name, (value, _scope_node(item, scope, fixturedefs[name][-1]))))
        else:
            shared.append((name, value))
    return shared, own


def params_of_other_scopes(items: list[pytest.Item]) -> set[Any]:
    """The fixtures some test gives a param of a scope other than their own
    (other than function scope, whose instance is that test's alone).

    pytest leaves the finish of its one instance on the node of the param's
    scope: that node's end finishes whichever instance the fixture holds
    then, another test's too, and the instances for the param and for none
    are one object. Tests using such a fixture run sequentially, on pytest's
    own FixtureDef (:attr:`FixtureInstances.pytests_own`)."""
    fixturedefs_given: set[Any] = set()
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is None:
            continue
        fixturedefs = item._fixtureinfo.name2fixturedefs  # type: ignore[attr-defined]
        for name in callspec.params:
            scope = callspec._arg2scope.get(name)
            used = fixturedefs.get(name)
            if scope not in (None, Scope.Function) and used and scope is not used[-1]._scope:
                fixturedefs_given.add(used[-1])
    return fixturedefs_given


def uses_any(item: pytest.Item, fixturedefs: set[Any]) -> list[str]:
    """The names of ``fixturedefs`` that ``item`` asks for (through others too)."""
    closure = item._fixtureinfo.name2fixturedefs  # type: ignore[attr-defined]
    return sorted(name for name, used in closure.items() if _used(used) & fixturedefs)


def _used(chain: Sequence[Any]) -> set[Any]:
    """Of a name's overrides, the ones a test gets: the last, and each one
    below that the one above asks for by its own name."""
    index = len(chain) - 1
    used = {chain[index]}
    while index > 0 and chain[index].argname in chain[index].argnames:
        index -= 1
        used.add(chain[index])
    return used


def _scope_node(item: pytest.Item, scope: Scope, fixturedef: Any) -> Any:
    """The node whose teardown finishes ``fixturedef``'s instance at ``scope``
    for ``item``, as pytest's ``SubRequest.node`` finds it: a class scope
    outside any class is the test's own."""
    if scope is Scope.Package:
        return get_scope_package(item, fixturedef)
    return get_scope_node(item, scope) or item


def _fresh_copy(fixturedef: Any) -> Any:
    twin = copy.copy(fixturedef)
    twin.cached_result = None
    twin._finalizers = []
    return twin


class _InstanceMap(dict):  # type: ignore[type-arg]
    """``request._arg2fixturedefs``, answering with per-test or per-node instances."""

    __slots__ = ("_instances", "_item", "_manager", "_mapped", "_state")

    def __init__(
        self,
        original: dict[str, Any],
        manager: Any,
        item: pytest.Item,
        state: LaneState,
        instances: FixtureInstances,
    ) -> None:
        super().__init__(original)
        self._state: LaneState | None
        self._manager, self._item, self._state, self._instances = (
            manager,
            item,
            state,
            instances,
        )
        self._mapped: dict[str, Any] = {}

    def get(self, name: str, default: Any = None) -> Any:
        mapped = self._mapped.get(name)
        if mapped is not None:
            return mapped
        fixturedefs = super().get(name)
        if fixturedefs is None:  # a dynamic request: look it up as pytest would
            fixturedefs = self._manager.getfixturedefs(name, self._item)
            if fixturedefs is None:
                return default
        mapped = self._mapped[name] = tuple(
            self._instances.instance(fd, self._item, self._state) for fd in fixturedefs
        )
        return mapped

    def release(self) -> None:
        """Forget the test's own copies: a name asked for later (a module
        fixture may ask its request for another) maps again, to the same
        instances of wider fixtures, and to pytest's own for the rest."""
        self._mapped = {}
        self._state = None

    def __getitem__(self, name: str) -> Any:
        found = self.get(name)
        if found is None:
            raise KeyError(name)
        return found


def _cached_for(fixturedef: Any, request: Any) -> bool:
    """Whether ``fixturedef.execute(request)`` would hand over what it has,
    as pytest decides (by ``==``, or ``is`` where that fails: 8.3 to 9.2)."""
    if fixturedef.cached_result is None:
        return False
    wanted, cached = fixturedef.cache_key(request), fixturedef.cached_result[1]
    try:
        return bool(wanted == cached)
    except (ValueError, RuntimeError):
        return wanted is cached


@contextlib.contextmanager
def setup_once(instances: FixtureInstances) -> Iterator[None]:
    """While it is active, a shared fixture is set up by one test at a time,
    and finished by one at a time: a test whose finish reaches an instance
    another test is finishing (the finish of a dependency it switches to
    another param, while a module's end tears down a dependent) waits for
    it, so instances still end in reverse order of set-up."""
    original, original_finish = FixtureDef.execute, FixtureDef.finish
    #: The shared instances being finished: the test finishing each, and a
    #: future done when that ends.
    finishing: dict[Any, tuple[LaneState, asyncio.Future[None]]] = {}

    def execute(self: Any, request: Any) -> Any:
        __tracebackhide__ = True
        if _thread_bodies.IN_WORKER_THREAD.get():
            # Only what is set up already, handed over as pytest does: the
            # claims below wait on the loop, which is another thread's.
            if not _cached_for(self, request):
                raise _thread_bodies.set_up_refused(self.argname)
            return original(self, request)
        # The request's scope, not the fixture's: a parametrize scope wider
        # than the fixture's makes its instance shared, as in pytest.
        if request._scope is Scope.Function:
            return original(self, request)
        state = CURRENT.get()
        if state is None:
            return shared(self, request, state)
        claims = instances.claims
        while (owner := claims.get(self)) is not None and owner[0] is not state:
            fixture = f"the {self.scope} fixture {self.argname!r}"
            with locks._SetUpWait(state, owner[0], fixture, owner[1]):
                _runner.run(_wait(owner[1]), None)
        if owner is not None:  # this test is already setting it up (a nested request)
            return shared(self, request, state)
        done = loop_of_the_lane().create_future()
        claims[self] = (state, done)
        try:
            return shared(self, request, state)
        finally:
            del claims[self]
            done.set_result(None)

    def shared(self: Any, request: Any, state: LaneState | None) -> Any:
        """``original``, and the context variables of the instance it sets up
        or reuses passed on (see :mod:`alt_coop._shared_context`)."""
        __tracebackhide__ = True
        before, cached = contextvars.copy_context(), self.cached_result
        value = original(self, request)
        if self.cached_result is cached:
            instances.context.reused(self, state)
            _lane_output.reused(self, state)
        else:
            instances.context.set_up(self, before, state)
        return value

    def finish(self: Any, request: Any) -> None:
        __tracebackhide__ = True
        state = CURRENT.get()
        if self.cached_result is None or state is None or self._scope is Scope.Function:
            return original_finish(self, request)
        running = finishing.get(self)
        if running is not None:
            if running[0] is not state:
                _runner.run(_wait(running[1]), None)
            return original_finish(self, request)
        done = loop_of_the_lane().create_future()
        finishing[self] = (state, done)
        try:
            return original_finish(self, request)
        finally:
            del finishing[self]
            done.set_result(None)

    FixtureDef.execute = execute  # type: ignore[method-assign]
    FixtureDef.finish = finish  # type: ignore[method-assign]
    try:
        yield
    finally:
        FixtureDef.execute = original  # type: ignore[method-assign]
        FixtureDef.finish = original_finish  # type: ignore[method-assign]


async def _wait(future: asyncio.Future[None]) -> None:
    await asyncio.shield(future)
