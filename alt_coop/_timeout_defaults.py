"""Which timeout applies where: the scoped default fixtures, and the
``async_timeout`` of synchronous code.

The clocks themselves (:mod:`alt_coop._timeouts`) know nothing of pytest's
fixtures: the engine's hooks look the default up here and hand a clock its
seconds.

PYTEST_DONT_REWRITE (see alt_coop/__init__.py).
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from . import _pytest_compat
from ._timeouts import check_seconds
from .errors import NoAsyncTimeoutInSyncFunctions

SCOPES = ("function", "class", "module", "package", "session")
DEFAULT_FIXTURES = {
    "function": "default_async_timeout",
    "class": "class_default_async_timeout",
    "module": "module_default_async_timeout",
    "package": "package_default_async_timeout",
    "session": "session_default_async_timeout",
}


class SyncTimeoutPlaceholder:
    """What ``async_timeout`` gives synchronous fixtures and tests.

    alt_coop does not time out synchronous code; asking to is a mistake worth
    an error rather than a silent no-op.
    """

    timeout_seconds = math.inf

    def set_timeout_seconds(self, seconds: float) -> None:
        __tracebackhide__ = True
        raise NoAsyncTimeoutInSyncFunctions(
            "async_timeout.set_timeout_seconds() only works in async fixtures and tests; "
            "alt_coop does not time out synchronous code"
        )


#: The default timeouts a node's requesters were given, by scope: what a
#: lookup during teardown falls back on (see DefaultTimeouts.seconds).
_GIVEN = pytest.StashKey[dict[str, float]]()


class DefaultUnavailable(Exception):
    """The default timeout is a fixture's value not to be had: looked up
    during teardown, for a node whose requesters never asked for it."""

    def __init__(self, fixture: str) -> None:
        super().__init__(fixture)
        self.fixture = fixture


class DefaultTimeouts:
    """Finds the default timeout for a requester, from its scope upward.

    Which default fixture is visible depends only on where the requester is
    defined, so the lookup is cached per node; the value is read from the
    fixture only when a user defined one, otherwise straight from the option.
    """

    def __init__(self, session_default: float, *, builtin: bool = False) -> None:
        self.session_default = session_default
        self.builtin = builtin  # alt_coop's own, no option or ini key given
        self._visible: dict[tuple[str, str], str | None] = {}

    def seconds(
        self, request: pytest.FixtureRequest, node: Any, scope: str, *, tearing_down: bool = False
    ) -> float:
        """The default for a requester of ``scope`` on ``node``. During a
        test's teardown (an async finalizer added then), the default fixture
        may be torn down already, and pytest deprecates setting one up: the
        value it gave this node's requesters earlier is used, or else
        :class:`DefaultUnavailable` raised."""
        # No fixture is defined on a test item itself, so items share their parent's answer.
        where = node.parent if isinstance(node, pytest.Item) and node.parent else node
        key = (where.nodeid, scope)
        try:
            name = self._visible[key]
        except KeyError:
            name = self._visible[key] = self._find(request, where, scope)
        if name is None:
            return self.session_default
        given: dict[str, float] = node.stash.setdefault(_GIVEN, {})
        if tearing_down:
            # Not asked of pytest: it may set the fixture up anew (8.x), or
            # refuse with a deprecation warning (9.1+).
            if scope in given:
                return given[scope]
            raise DefaultUnavailable(name)
        try:
            value = request.getfixturevalue(name)
        except pytest.fail.Exception:
            # pytest's "has no parameter defined", pointing into alt_coop: the
            # requester's test does not ask for the fixture, so has no param.
            if name in request.fixturenames or not _pytest_compat.user_fixture_parametrized(
                request, name, where
            ):
                raise
            raise pytest.fail.Exception(
                f"fixture {name!r} gives the default timeout of async fixtures and tests, so "
                "it cannot be parametrized: only the tests that ask for it would have a "
                "value. Give it one value (override it in a module or class for another), "
                "or set a test's own with async_timeout.set_timeout_seconds()",
                pytrace=False,
            ) from None
        try:
            seconds = given[scope] = check_seconds(value, f"fixture {name!r}")
        except ValueError as error:  # the user's mistake: none of alt_coop's frames
            raise pytest.fail.Exception(str(error), pytrace=False) from None
        return seconds

    def builtin_for(self, node: Any, scope: str) -> bool:
        """Whether :meth:`seconds`, asked for the same requester, gave alt_coop's
        own default: no option, ini key or default fixture says otherwise."""
        if not self.builtin:
            return False
        where = node.parent if isinstance(node, pytest.Item) and node.parent else node
        return self._visible.get((where.nodeid, scope), "") is None

    @staticmethod
    def _find(request: pytest.FixtureRequest, node: Any, scope: str) -> str | None:
        for candidate in SCOPES[SCOPES.index(scope) :]:
            name = DEFAULT_FIXTURES[candidate]
            if _pytest_compat.user_fixture_visible(request, name, node):
                return name
        return None
