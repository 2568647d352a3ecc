"""Async tests that other plugins run themselves, beside alt_coop.

Three plugins may stay on beside alt_coop, each running the async tests it is
asked to in its own way; alt_coop leaves those tests, and their async
fixtures, to it:

- pytest-asyncio in strict mode: the tests marked ``asyncio``, on its own
  loop (it makes them, and its own fixtures, plain functions itself);
- anyio's plugin, loaded wherever anyio is installed: the tests that use its
  ``anyio_backend`` fixture, as those marked ``anyio`` do, on the backend that
  fixture names (it wraps their async fixtures in plain functions itself);
- pytest-trio: the tests marked ``trio``, and every async fixture they use,
  with ``trio.run``.

Such a test is not alt_coop's to time or run cooperatively, and a notice says
so at the first of them. In the modes where one of these plugins runs every
async test (pytest-asyncio's and anyio's auto modes, pytest-trio's
``trio_mode``), alt_coop would be left none: a usage error says so (see
:mod:`alt_coop._startup_checks`).

PYTEST_DONT_REWRITE (see alt_coop/__init__.py).
"""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from . import _session_loop
from ._hypothesis import is_async_test
from ._loaded_plugins import name as plugin_name
from ._migration import (
    plain_async,
    plain_async_fixtures,
    pytest_asyncio_fixture_problem,
    run_elsewhere_text,
)

_PYTEST_ASYNCIO = ("asyncio", "pytest_asyncio.plugin")
_ANYIO = ("anyio", "anyio.pytest_plugin")
_TRIO = ("trio", "pytest_trio.plugin")

PYTEST_ASYNCIO, ANYIO, TRIO = "pytest-asyncio", "anyio", "trio"

#: Added to the notices of the first two on an application's running loop.
NO_SECOND_LOOP = (
    "; on an application's running loop (await alt_coop.main, or pytest.main from a "
    "coroutine) a second asyncio loop cannot start, and the tests that need one fail"
)


@dataclasses.dataclass(frozen=True)
class OtherRunners:
    """Which of those plugins are on in a session (none, by default), each
    by the name it is registered under: its entry point's when autoloaded,
    its module's when loaded by module, the one ``-p no:`` must be given."""

    pytest_asyncio: str | None = None
    anyio: str | None = None
    trio: str | None = None

    @classmethod
    def of(cls, config: pytest.Config) -> OtherRunners:
        return cls(
            plugin_name(config, *_PYTEST_ASYNCIO),
            plugin_name(config, *_ANYIO),
            plugin_name(config, *_TRIO),
        )

    def runner_of(self, item: pytest.Item) -> str | None:
        """Which other plugin (:data:`PYTEST_ASYNCIO`, :data:`ANYIO` or
        :data:`TRIO`) runs ``item``, if one does."""
        if not (self.pytest_asyncio or self.anyio or self.trio):
            return None  # the usual case: checked first
        if not is_async_test(getattr(item, "obj", None)):
            return None
        if self.pytest_asyncio and item.get_closest_marker("asyncio") is not None:
            return PYTEST_ASYNCIO
        if self.anyio and "anyio_backend" in getattr(item, "fixturenames", ()):
            return ANYIO
        if self.trio and item.get_closest_marker("trio") is not None:
            return TRIO
        return None

    def left_to_text(self, runner: str, on_a_running_loop: bool) -> str:
        """The notice that the tests ``runner`` runs are left to it."""
        if runner == TRIO:
            return (
                "tests marked trio are run by pytest-trio, with their async fixtures, on "
                "trio, without alt_coop's timeouts or cooperative runs"
            )
        if runner == PYTEST_ASYNCIO:
            text = (
                "tests marked asyncio are run by pytest-asyncio (on, in strict mode), on its "
                "own loop, without alt_coop's timeouts or cooperative runs; to run them with "
                f"alt_coop, switch pytest-asyncio off (-p no:{self.pytest_asyncio}, in addopts)"
            )
        else:
            text = (
                "tests using anyio's anyio_backend fixture (those marked anyio) are run by "
                "anyio's plugin, on the backend it names (asyncio on a loop of its own, or "
                "trio), without alt_coop's timeouts or cooperative runs; to run them with "
                "alt_coop, drop the anyio mark and switch anyio's plugin off "
                f"(-p no:{self.anyio}, in addopts)"
            )
        return text + NO_SECOND_LOOP if on_a_running_loop else text

    def fixture_problem(self, item: pytest.Item) -> str | None:
        """What is wrong with a test pytest-asyncio runs that uses async
        fixtures alt_coop sets up: on alt_coop's loop, what they hold (a
        server, a connection) does not work on pytest-asyncio's."""
        if (
            not self.pytest_asyncio
            or not isinstance(item, pytest.Function)  # no fixtures of its own to check
            or self.runner_of(item) != PYTEST_ASYNCIO
        ):
            return None
        names = plain_async_fixtures(item)
        return run_elsewhere_text(names, item.name) if names else None

    def switched_off_problem(self, item: pytest.Item) -> str | None:
        """What is wrong with an async test that asks for trio while the
        plugin that would run it there is off: on asyncio, trio's code fails
        in asyncio ("Task got bad yield") or in trio, and a test anyio would run
        on each of its backends passes on asyncio as each."""
        if not isinstance(item, pytest.Function):
            return None
        callspec = getattr(item, "callspec", None)
        backend = None if self.anyio or callspec is None else callspec.params.get("anyio_backend")
        if isinstance(backend, tuple) and backend:
            backend = backend[0]  # (name, options)
        if backend is not None and backend != "asyncio" and is_async_test(item.obj):
            return (
                f"{item.nodeid} asks anyio for its {backend!r} backend (anyio_backend), but "
                "anyio's pytest plugin is off: alt_coop runs async tests on asyncio. Switch "
                "anyio's plugin on (drop -p no:anyio) to run it on "
                f"{backend}, or take {backend!r} out of anyio_backend's values"
            )
        if (
            not self.trio
            and item.get_closest_marker("trio") is not None
            and is_async_test(item.obj)
        ):
            return (
                f"{item.nodeid} is marked trio, but pytest-trio is off: alt_coop runs async "
                "tests on asyncio, where trio's code fails. Switch pytest-trio on (install "
                "it; drop -p no:trio) to run it on trio, or drop the mark to run it on asyncio"
            )
        return None

    def pytest_asyncio_fixture_problem(self, fixturedef: pytest.FixtureDef[object]) -> str | None:
        """What is wrong with setting up pytest-asyncio's async fixture
        ``fixturedef`` now: asked for at run time while alt_coop's loop runs
        (a test's body, a cooperative test's set-up), pytest-asyncio could not
        run its loop, and would fail in asyncio's code, saying nothing of why."""
        session_loop = _session_loop.current()
        function = inspect.unwrap(fixturedef.func)  # pytest-asyncio's wrapper, while it sets up
        if (
            session_loop is None
            or _session_loop.running_loop() is not session_loop.loop
            or not (inspect.iscoroutinefunction(function) or inspect.isasyncgenfunction(function))
        ):
            return None
        return pytest_asyncio_fixture_problem(fixturedef.argname)

    def runtime_fixture_problem(
        self, fixturedef: pytest.FixtureDef[object], item: pytest.Item | None
    ) -> str | None:
        """What is wrong with setting up the async fixture ``fixturedef`` for
        ``item`` at run time (``request.getfixturevalue``), where
        :meth:`fixture_problem`, at its setup, saw only its arguments."""
        if (
            not self.pytest_asyncio
            or not isinstance(item, pytest.Function)
            or not plain_async(fixturedef.func)
        ):
            return None
        # Asked for from the test's body: pytest-asyncio runs the test
        # through a sync stand-in for its function, which wraps it.
        if self.runner_of(item) != PYTEST_ASYNCIO and not (
            item.get_closest_marker("asyncio") is not None
            and is_async_test(getattr(item.obj, "__wrapped__", None))
        ):
            return None
        return run_elsewhere_text([fixturedef.argname], item.name)

    def runs_test(self, item: pytest.Function) -> bool:
        """Whether another plugin's ``pytest_pyfunc_call`` runs ``item``'s
        body (pytest-asyncio and pytest-trio make it a plain function first)."""
        return bool(self.anyio) and "anyio_backend" in item.fixturenames

    def runs_fixture(
        self, fixturedef: pytest.FixtureDef[object], request: pytest.FixtureRequest
    ) -> bool:
        """Whether another plugin sets up this async fixture for ``request``:
        pytest-trio, for a trio test or a fixture it made (``trio_fixture``),
        which it refuses for other tests."""
        return bool(self.trio) and (
            request.node.get_closest_marker("trio") is not None
            or getattr(fixturedef.func, "_force_trio_fixture", False)
        )


def runs_every_async_test(config: pytest.Config) -> tuple[str, str] | None:
    """The other plugin, and its ``-p no:`` name, that is set to run every
    async test, if one is."""
    name = plugin_name(config, *_PYTEST_ASYNCIO)
    if name is not None:
        mode = config.getoption("asyncio_mode", None) or config.getini("asyncio_mode")
        if mode == "auto":
            return "pytest-asyncio in auto mode", name
    name = plugin_name(config, *_ANYIO)
    if name is not None and _ini_or_option(config, "anyio_mode") == "auto":
        return "anyio's plugin in auto mode", name
    name = plugin_name(config, *_TRIO)
    if name is not None and _ini_or_option(config, "trio_mode") is True:
        return "pytest-trio in trio mode", name
    return None


def _ini_or_option(config: pytest.Config, name: str) -> object:
    value = config.getoption(name, None)
    if value is not None:
        return value
    try:
        return config.getini(name)
    except ValueError:  # a version of the plugin without that key
        return None
