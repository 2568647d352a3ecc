"""alt_coop's pytest11 entry point: options, fixtures, and the engine-off check.

Installing alt_coop registers this module in every pytest run, but it runs
nothing by itself: the engine that runs async fixtures and tests is switched
on with ``-p alt_coop.enable``, ``pytest_plugins = ["alt_coop.enable"]`` or
``pytest.main(plugins=[alt_coop.Plugin()])``. So a project that uses another
async plugin is not disturbed by alt_coop being installed.

PYTEST_DONT_REWRITE (see alt_coop/__init__.py).
"""

from __future__ import annotations

import importlib.metadata
import inspect
import os
import sys
from collections.abc import Mapping
from typing import NamedTuple

import pytest

from . import _hypothesis, _loaded_plugins, _options, _pytest_compat
from ._other_runners import OtherRunners
from ._timeout_defaults import SyncTimeoutPlaceholder
from .protocols import AsyncTimeout

_ENGINE_OFF_MESSAGE = (
    "async def {what} {name} was not run: the alt_coop engine is not enabled. "
    "Switch it on with `-p alt_coop.enable` on the command line, "
    '`pytest_plugins = ["alt_coop.enable"]` in your top-level conftest.py, or '
    "`pytest.main(args, plugins=[alt_coop.Plugin()])`."
)

#: Added in pytest-xdist's workers, which never see a plugin object passed to
#: ``pytest.main`` in the controller: that advice alone would be no help.
_IN_XDIST_WORKER = (
    " Under pytest-xdist, a Plugin passed to pytest.main stays in the controller: "
    "switch the engine on for the workers with -p alt_coop.enable or pytest_plugins."
)


def _engine_off(config: pytest.Config, what: str, name: str) -> str:
    extra = _IN_XDIST_WORKER if hasattr(config, "workerinput") else ""
    return _ENGINE_OFF_MESSAGE.format(what=what, name=name) + extra


#: The name pytest registers this module under, from its entry point.
_ENTRY_POINT_NAME = "alt_coop"


def _register_unless_loaded(pluginmanager: pytest.PytestPluginManager, *, early: bool) -> None:
    """Register this module as its entry point does, if pytest does not.

    With plugin autoloading off, or alt_coop importable but not installed,
    pytest loads no entry point, yet the engine needs the options and
    fixtures defined here. Called as the engine is registered (``early``,
    which may be before pytest loads the entry points: then only if it
    will not), and again once they are loaded.
    """
    module = sys.modules[__name__]
    if (
        pluginmanager.is_registered(module)
        or pluginmanager.is_blocked(_ENTRY_POINT_NAME)
        or (early and _entry_point_will_load(pluginmanager))
    ):
        return
    # ``pytest_plugins = ["alt_coop"]`` with autoloading off registers the
    # package itself under the entry point's name (before pytest 9.2).
    taken = pluginmanager.has_plugin(_ENTRY_POINT_NAME)
    pluginmanager.register(module, __name__ if taken else _ENTRY_POINT_NAME)


def _check_not_blocked(config: pytest.Config) -> None:
    """The engine needs this module's options and fixtures: ``-p no:alt_coop``
    beside it is a contradiction, told as a usage error."""
    pluginmanager = config.pluginmanager
    if pluginmanager.is_blocked(_ENTRY_POINT_NAME) and not pluginmanager.is_registered(
        sys.modules[__name__]
    ):
        raise pytest.UsageError(
            "alt_coop's engine is switched on (alt_coop.enable or alt_coop.Plugin), but "
            "-p no:alt_coop blocks the options and fixtures it needs: drop -p no:alt_coop, "
            "or leave alt_coop off: drop alt_coop.enable, or the alt_coop.Plugin passed to "
            "pytest.main"
        )


def _entry_point_will_load(
    pluginmanager: pytest.PytestPluginManager, name: str = _ENTRY_POINT_NAME, value: str = __name__
) -> bool:
    early_options = _early_options(pluginmanager)
    if os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD") or getattr(
        early_options, "disable_plugin_autoload", False
    ):
        return False
    return any(
        not value or entry_point.value == value
        for entry_point in importlib.metadata.entry_points(group="pytest11", name=name)
    )


def _early_options(pluginmanager: pytest.PytestPluginManager) -> object:
    # They exist once pytest reads the command line (-p and conftest.py
    # plugins; not yet for pytest.main's).
    return getattr(pluginmanager.get_plugin("pytestconfig"), "known_args_namespace", None)


class _Peer(NamedTuple):
    """A plugin whose options alt_coop's share names with (so that its users'
    settings carry over), by the name pytest registers it under when it
    autoloads it (its entry point's)."""

    module: str  # what ``-p`` or ``pytest_plugins`` names, registered under then
    options: frozenset[str]


_PEERS = {
    "asyncio-cooperative": _Peer(
        "pytest_asyncio_cooperative.plugin",
        frozenset({"max_asyncio_tasks", "asyncio_task_timeout"}),
    ),
    "alt_pytest_asyncio": _Peer("alt_pytest_asyncio.plugin", frozenset({"default_async_timeout"})),
}

#: The peers' modules, by entry point name.
_PEER_MODULES = {entry_point: peer.module for entry_point, peer in _PEERS.items()}

#: Plugins that run async tests: entry point name, module (as for _PEERS).
_OTHER_ASYNC_PLUGINS = {"asyncio": "pytest_asyncio.plugin", **_PEER_MODULES}


def _peer_loads(pluginmanager: pytest.PytestPluginManager, entry_point: str) -> bool:
    module = _PEERS[entry_point].module
    if _loaded_plugins.registered_name(pluginmanager, entry_point, module) is not None:
        return True
    early_plugins = getattr(_early_options(pluginmanager), "plugins", None) or ()
    if module in early_plugins:  # -p with the module, a -p after alt_coop's
        return True
    if pluginmanager.is_blocked(entry_point):
        return False
    return entry_point in early_plugins or _entry_point_will_load(pluginmanager, entry_point, "")


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    # Installed beside a peer, whose options would clash with these, alt_coop
    # leaves it its own: every run would fail otherwise, alt_coop on or off.
    # (Switched on beside it, alt_coop stops the run with a usage error.)
    taken = frozenset().union(
        *(peer.options for name, peer in _PEERS.items() if _peer_loads(pluginmanager, name))
    )
    _options.add_options(parser, taken)


def pytest_configure(config: pytest.Config) -> None:
    if not _other_async_plugin(config, _PEER_MODULES):  # whose option values these may be
        _options.settings(config)  # a bad value is a usage error before anything runs
    for marker in _MARKERS:
        config.addinivalue_line("markers", marker)


_MARKERS = (
    "asyncio_cooperative: run this test concurrently with the other cooperative tests "
    "on the session loop (alt_coop)",
    "asyncio_sequential: run this test on its own even under --asyncio-cooperative (alt_coop)",
    "asyncio_resources(*names): cooperative tests that name the same resource never "
    "overlap (alt_coop)",
    "asyncio_exclusive: this cooperative test overlaps with no other test (alt_coop)",
)


# The two hooks below act only when no plugin runs the async function (the
# engine is off, and other async plugins either run first or hand pytest a
# synchronous wrapper), so an async function seen there would otherwise be
# skipped or failed by pytest with no word about alt_coop.


def _other_async_plugin(config: pytest.Config, plugins: Mapping[str, str]) -> bool:
    """Whether one of ``plugins`` (see _OTHER_ASYNC_PLUGINS) is loaded: the
    async tests it leaves alone are its to tell about."""
    return any(
        _loaded_plugins.name(config, entry_point, module) is not None
        for entry_point, module in plugins.items()
    )


def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> object:
    if (
        _is_async(pyfuncitem.obj) or _hypothesis.async_inner_test(pyfuncitem.obj)
    ) and not _other_async_plugin(pyfuncitem.config, _OTHER_ASYNC_PLUGINS):
        pytest.fail(_engine_off(pyfuncitem.config, "test", pyfuncitem.nodeid), pytrace=False)
    return None


#: Set by the engine as it is configured. Its pytest_fixture_setup stands in
#: for pytest's own, and so may come after the one below (see Plugin's).
ENGINE_ON = pytest.StashKey[bool]()


def pytest_fixture_setup(
    fixturedef: pytest.FixtureDef[object], request: pytest.FixtureRequest
) -> object:
    if (
        _is_async(fixturedef.func)
        and not request.config.stash.get(ENGINE_ON, False)
        and not _other_async_plugin(request.config, _OTHER_ASYNC_PLUGINS)
        # pytest-trio's, for its tests (anyio's plugin hands over plain functions).
        and not OtherRunners.of(request.config).runs_fixture(fixturedef, request)
    ):
        error = pytest.fail.Exception(
            _engine_off(request.config, "fixture", repr(fixturedef.argname)),
            pytrace=False,
        )
        # Cached as pytest caches a fixture's error, for the next test to get
        # it too (pytest 9.1 and later assert on a fixture left uncached).
        _pytest_compat.cache_fixture_error(fixturedef, request, error)
        raise error
    return None


def _is_async(func: object) -> bool:
    return inspect.iscoroutinefunction(func) or inspect.isasyncgenfunction(func)


@pytest.fixture(scope="session")
def session_default_async_timeout(pytestconfig: pytest.Config) -> float:
    """Seconds an async fixture or test may take, when no narrower default says otherwise.

    From ``--default-async-timeout``, else ini ``default_async_timeout``, else 5.
    Override ``default_async_timeout`` (function scope),
    ``class_default_async_timeout``, ``module_default_async_timeout`` or
    ``package_default_async_timeout`` to set narrower defaults.
    """
    return _options.settings(pytestconfig).default_timeout


@pytest.fixture(scope="session")
def async_timeout() -> AsyncTimeout:
    """Each async fixture's and test's own timeout: call ``set_timeout_seconds(n)``.

    Its own whatever the scope listed (session, so that session-scoped sync
    fixtures may ask for it too). Synchronous fixtures and tests get an
    object whose ``set_timeout_seconds`` raises, since alt_coop does not time
    them out.
    """
    return SyncTimeoutPlaceholder()
