"""What suites moving from pytest-asyncio keep, and how it is told.

While pytest-asyncio is off, its mark stays in suites for a while:
registered, so ``--strict-markers`` accepts it. Its loop fixtures
(``event_loop``, ``event_loop_policy``) choose a loop that alt_coop never
uses: a suite that defines them is told so once, rather than running
silently on another loop than the one it chose (or, for a test asking for
``event_loop``, holding a loop that is not the running one). While it is on,
in strict mode, the async tests marked for it are its own (see
:mod:`alt_coop._other_runners`), and its own fixtures are set up on its loop:
the async tests alt_coop runs that use them are told so.

PYTEST_DONT_REWRITE (see alt_coop/__init__.py).
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from . import _loaded_plugins, _pytest_compat

MARKER = (
    "asyncio: pytest-asyncio's mark, accepted and ignored: alt_coop runs every async test "
    "on its session loop (alt_coop)"
)

LOOP_FIXTURES = ("event_loop", "event_loop_policy")


def unused_loop_fixtures(
    session: pytest.Session,
) -> Iterator[tuple[str, pytest.Item, tuple[str, int, str] | None]]:
    """Each loop fixture of pytest-asyncio's that the suite defines (in a
    test class, a test module, a conftest or a plugin module it loads), with
    the first test it applies to and where it is written (file, line,
    module), if known."""
    modules = [
        module
        for module in _loaded_plugins.every(session.config.pluginmanager)
        if isinstance(module, ModuleType)
        and module.__file__ is not None
        and module.__name__.partition(".")[0] != "pytest_asyncio"
    ]
    conftests = [
        (Path(module.__file__).parent, module)
        for module in modules
        if module.__file__ is not None and module.__file__.endswith("conftest.py")
    ]
    plugins = [module for module in modules if not any(module is c for _, c in conftests)]
    found: set[str] = set()
    parents: set[object] = set()
    for item in session.items:
        if item.parent in parents:
            continue
        first = not parents
        parents.add(item.parent)
        # The test's classes, innermost first, then its module.
        owners: list[object] = [
            node.obj for node in reversed(item.listchain()) if isinstance(node, pytest.Class)
        ]
        module = getattr(item, "module", None)
        if isinstance(module, ModuleType):
            owners.append(module)
        above = [conftest for root, conftest in conftests if item.path.is_relative_to(root)]
        for name in LOOP_FIXTURES:
            if name in found:
                continue
            # Plugin modules apply to every test alike: looked at for the first.
            for owner in [*owners, *above, *(plugins if first else ())]:
                definition = getattr(owner, name, None)
                if _pytest_compat.is_fixture(definition):
                    found.add(name)
                    yield name, item, _written_at(definition, owner)
                    break


def unused_loop_factories(session: pytest.Session) -> Iterator[tuple[str, int, str] | None]:
    """Where the suite implements pytest-asyncio's ``pytest_asyncio_loop_factories``
    hook (file, line, module, if known), if it does: the loops it names (for
    its mark's ``loop_factories``) are never made."""
    hook = getattr(session.config.hook, "pytest_asyncio_loop_factories", None)
    for impl in hook.get_hookimpls()[:1] if hook is not None else ():
        yield _written_at(impl.function, impl.plugin)


def unused_loop_fixture_text(name: str) -> str:
    return unused_loop_choice_text(f"the {name} fixture (pytest-asyncio's name)")


def unused_loop_choice_text(what: str) -> str:
    return (
        f"{what} chooses no loop: every async test runs on alt_coop's session loop. To choose "
        "the loop class, run the session on a loop of yours: "
        "pytest.main(args, plugins=[alt_coop.Plugin(managed_loop=loop)])"
    )


def pytest_asyncio_name(config: pytest.Config) -> str | None:
    """The name pytest-asyncio is registered under (``-p no:`` takes it), if loaded."""
    return _loaded_plugins.name(config, "asyncio", "pytest_asyncio.plugin")


def pytest_asyncio_fixture(function: object) -> bool:
    """Whether ``function`` is a fixture's made with ``@pytest_asyncio.fixture``,
    which marks it (``_force_asyncio_fixture``, since its 0.17)."""
    return bool(getattr(getattr(function, "__func__", function), "_force_asyncio_fixture", False))


def pytest_asyncio_fixtures(item: pytest.Function) -> list[str]:
    """The fixtures of ``item`` made with ``@pytest_asyncio.fixture``."""
    return sorted(
        name
        for name, functions in _pytest_compat.fixture_functions(item).items()
        if any(pytest_asyncio_fixture(f) for f in functions)
    )


def pytest_asyncio_fixture_problem(name: str) -> str:
    """Why pytest-asyncio's fixture ``name`` cannot be set up now, while
    alt_coop's loop runs."""
    return (
        f"pytest-asyncio's fixture {name!r} was asked for through request.getfixturevalue "
        "while alt_coop's loop runs (in an async test's body, or a cooperative test's "
        "set-up): pytest-asyncio sets its fixtures up on a loop of its own, which cannot "
        "run then. Ask for it as an argument of the test (or of one of its fixtures)"
    )


def plain_async(function: object) -> bool:
    """Whether ``function`` is a fixture's that alt_coop sets up (on its own
    loop): async, and neither pytest-asyncio's nor pytest-trio's."""
    function = getattr(function, "__func__", function)
    return (
        inspect.iscoroutinefunction(function) or inspect.isasyncgenfunction(function)
    ) and not (pytest_asyncio_fixture(function) or getattr(function, "_force_trio_fixture", False))


def plain_async_fixtures(item: pytest.Function) -> list[str]:
    """The async fixtures of ``item`` that alt_coop sets up (see :func:`plain_async`)."""

    def used(definitions: Sequence[pytest.FixtureDef[Any]]) -> Iterator[pytest.FixtureDef[Any]]:
        # The one the test gets, and each it overrides and asks for by name.
        for definition in reversed(definitions):
            yield definition
            if definition.argname not in definition.argnames:
                return

    return sorted(
        name
        for name, definitions in _pytest_compat.fixture_definitions(item).items()
        if any(plain_async(definition.func) for definition in used(definitions))
    )


def run_elsewhere_text(names: list[str], test: str) -> str:
    """Why a test pytest-asyncio runs cannot use the plain async fixtures ``names``."""
    which, it = (
        (f"fixture {names[0]!r} is a plain async fixture", "it a")
        if len(names) == 1
        else (f"fixtures {', '.join(map(repr, names))} are plain async fixtures", "each a")
    )
    return (
        f"{which}, which alt_coop sets up on its own loop, but {test} is run by "
        f"pytest-asyncio on another loop. Make {it} @pytest_asyncio.fixture, or let alt_coop "
        "run the test (drop its asyncio mark)"
    )


def on_another_loop_text(name: str, plugin: str) -> str:
    """Why the async tests alt_coop runs cannot use pytest-asyncio's fixture
    ``name`` (``plugin``: the name pytest-asyncio is registered under)."""
    return (
        f"pytest-asyncio's fixture {name!r} is set up on a loop of pytest-asyncio's, not on "
        "the session loop the async tests using it run on (those not marked asyncio): what "
        "it holds that belongs to its loop (a server, a connection, a task) does not work "
        "in them. Mark those tests asyncio to leave them to pytest-asyncio, or make it a "
        f"plain @pytest.fixture and switch pytest-asyncio off (-p no:{plugin})"
    )


def _written_at(definition: object, found_in: object) -> tuple[str, int, str] | None:
    """File, line and module of the function that defines a fixture (a
    conftest may import it from elsewhere)."""
    function = inspect.unwrap(definition)  # type: ignore[arg-type]
    code = getattr(function, "__code__", None)
    if code is None:
        return None
    # A class's module, or the module itself (which has no __module__).
    module = (
        getattr(function, "__module__", None)
        or getattr(found_in, "__module__", None)
        or getattr(found_in, "__name__", "")
    )
    return code.co_filename, code.co_firstlineno, str(module)
