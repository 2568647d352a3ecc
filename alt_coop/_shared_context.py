"""Context variables a shared fixture sets, seen by every test that uses it.

In a sequential run, every fixture is set up in one context, so what a
class, module or session fixture (``setup_module`` and ``setup_class``
among them) sets is there for every test after it. Cooperative tests run at
once, each in a context of its own, and a shared fixture is set up by the
first of them to ask, in that test's context. So the values it set there
are kept with its instance, and set in each other test's context as the
test asks for the instance, in the place of the fixture's setup among the
test's fixtures: the fixtures after it may change them, as in a sequential
run. The tests run sequentially after the batch, all in one context, get
them there as the batch ends (or, for an instance set up after, as they ask
for it), until the instance is finished. Asked for from a test's body
(which runs in a copy of its fixtures' context), they are set in both.
What a setup removed (a ``reset`` to no value) cannot be removed from
another context: the tests given the instance are told.

A test's own fixtures setting a value first and then asking for the shared
one again (``request.getfixturevalue``) keep theirs: each test is given
the values once, when it first asks.

PYTEST_DONT_REWRITE (see alt_coop/__init__.py).
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import warnings
from typing import Any

from ._lane_state import LaneState
from ._lanes import in_context
from ._runner import current_context
from .errors import AltCoopWarning

#: Set in the copy of the context a test's body runs in: the context its
#: fixtures ran in, which the copy was made from.
FIXTURES_CONTEXT: contextvars.ContextVar[contextvars.Context | None] = contextvars.ContextVar(
    "alt_coop_fixtures_context", default=None
)

#: alt_coop's own context variables (the running test, its locks, its
#: timeout) belong to the test that set the fixture up.
_OWN_PREFIX = "alt_coop_"


class SharedContext:
    """The values each shared fixture instance set up in a cooperative
    test's context, and who has been given them."""

    __slots__ = ("_given_outside", "_removed_by", "_set_by")

    def __init__(self) -> None:
        self._set_by: dict[Any, tuple[tuple[contextvars.ContextVar[Any], Any], ...]] = {}
        #: The variables an instance's setup removed (``reset`` to no value):
        #: Python removes one only with the token of a ``set`` made in the
        #: same context, so the other tests keep theirs; they are told.
        self._removed_by: dict[Any, tuple[contextvars.ContextVar[Any], ...]] = {}
        # The instances whose values code outside the lanes was given (the
        # tests run sequentially, all in one context), with that context and
        # what puts its values back once the instance is finished: in a
        # sequential run they would be its setup's, reset by its teardown.
        self._given_outside: dict[
            Any, tuple[contextvars.Context, list[contextvars.Token[Any]]]
        ] = {}

    def set_up(
        self, fixturedef: Any, before: contextvars.Context, state: LaneState | None
    ) -> None:
        """``fixturedef`` was just set up, in the calling context, which was
        ``before`` until then."""
        if state is None:
            return  # set where every later test runs
        after = contextvars.copy_context()
        changed = changed_values(before, after)
        # What it had before its own code ran: ``before`` and what the
        # fixtures it asks for, set up (or given) after ``before``, set.
        given = _given(state)
        had = dict.fromkeys(before)
        for dependency in given:
            if dependency.argname in fixturedef.argnames:
                had.update((var, None) for var, _ in self._set_by.get(dependency, ()))
        removed = tuple(
            var for var in had if var not in after and not var.name.startswith(_OWN_PREFIX)
        )
        if removed:
            self._removed_by[fixturedef] = removed
        if changed or removed:
            self._set_by[fixturedef] = changed
            fixturedef.addfinalizer(functools.partial(self._finished, fixturedef))
        given.add(fixturedef)

    def reused(self, fixturedef: Any, state: LaneState | None) -> None:
        """A test (or, with no ``state``, code outside the lanes) got
        ``fixturedef``'s instance, set up before: its values are set in the
        calling context, the first time."""
        changed = self._set_by.get(fixturedef)
        if changed is None:
            return
        # Asked for from a test's body: given to its fixtures' context, which
        # its later phases and (outside the lanes) the tests after it run in,
        # and to the body's copy, made before.
        outer = FIXTURES_CONTEXT.get()
        if state is not None:
            given = _given(state)
            if fixturedef in given:
                return
            given.add(fixturedef)
            if _warned_of_kept(fixturedef, self._removed_by.get(fixturedef, ())):
                del self._removed_by[fixturedef]  # once is enough
            if outer is not None:
                set_in(outer, changed)
        elif not self._give_outside(fixturedef, outer):
            return
        if outer is not None or state is not None:
            for var, value in changed:
                var.set(value)

    def give_outside(self) -> None:
        """A batch is over: the tests run sequentially after it see the
        values of the instances it set up that are still up, whether they
        ask for them or not, as in a sequential run."""
        for fixturedef in list(self._set_by):
            self._give_outside(fixturedef, None)

    def _give_outside(self, fixturedef: Any, outer: contextvars.Context | None) -> bool:
        """Set ``fixturedef``'s values where code outside the lanes runs
        (in ``outer``, a test body's fixtures' context, if given), unless
        they were given there before."""
        if fixturedef in self._given_outside:
            return False
        context = outer if outer is not None else current_context()
        self._given_outside[fixturedef] = (context, set_in(context, self._set_by[fixturedef]))
        return True

    def _finished(self, fixturedef: Any) -> None:
        self._set_by.pop(fixturedef, None)
        self._removed_by.pop(fixturedef, None)
        outside = self._given_outside.pop(fixturedef, None)
        if outside is not None:
            reset_in(*outside)


def _warned_of_kept(fixturedef: Any, removed: tuple[contextvars.ContextVar[Any], ...]) -> bool:
    """Whether a test given ``fixturedef``'s instance was told it keeps a
    variable the instance's setup removed in the test that set it up."""
    kept = [var.name for var in removed if var.get(_UNSET) is not _UNSET]
    if kept:
        names = ", ".join(repr(name) for name in kept)
        code = getattr(inspect.unwrap(fixturedef.func), "__code__", None)
        warnings.warn_explicit(
            AltCoopWarning(
                f"alt_coop: the {fixturedef.scope} fixture {fixturedef.argname!r} removed the "
                f"context variable{'s' if len(kept) > 1 else ''} {names} as it was set up, in "
                "the test that set it up: the other tests that use it keep their value (Python "
                "cannot remove a variable from another context). Set it to a value (None, say) "
                "instead, or mark the tests that use the fixture asyncio_sequential"
            ),
            AltCoopWarning,
            # At the fixture: its code is what to change.
            code.co_filename if code is not None else "<unknown>",
            code.co_firstlineno if code is not None else 0,
        )
    return bool(kept)


def changed_values(
    before: contextvars.Context, after: contextvars.Context, *, theirs_only: bool = True
) -> tuple[tuple[contextvars.ContextVar[Any], Any], ...]:
    """The context variables set in ``after`` to other values than in
    ``before`` (a copy of it, earlier), with their values; not alt_coop's
    if ``theirs_only``."""
    return tuple(
        (var, value)
        for var, value in after.items()
        if before.get(var, _UNSET) is not value
        and not (theirs_only and var.name.startswith(_OWN_PREFIX))
    )


def set_in(
    context: contextvars.Context,
    values: tuple[tuple[contextvars.ContextVar[Any], Any], ...],
) -> list[contextvars.Token[Any]]:
    """Set ``values`` in ``context``; the tokens put them back (:func:`reset_in`)."""
    with in_context(context):
        return [var.set(value) for var, value in values]


def reset_in(context: contextvars.Context, tokens: list[contextvars.Token[Any]]) -> None:
    """Put back, in ``context``, what setting the ``tokens`` there changed."""
    with in_context(context):
        for token in reversed(tokens):
            token.var.reset(token)


_UNSET = object()


def _given(state: LaneState) -> set[Any]:
    if state.shared_values is None:
        state.shared_values = set()
    return state.shared_values
