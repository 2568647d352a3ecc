"""Private pytest names the sequential engine touches, in one place.

Checked against pytest 8.3.0, 8.3.5, 8.4.2, 9.0.3 and 9.2.0, which all
agree on what is used here (8.3.0 with the lowest pluggy and greenlet that
alt_coop allows); CI runs the suite on the newest 8.x and 9.x and on 8.3.
When a new pytest release breaks alt_coop, this is the file to read first.
Running tests cooperatively needs more of pytest's internals, kept per test.
Each module that touches them lists what, and the versions it was checked
on: :mod:`alt_coop._fixture_instances` (fixture instances),
:mod:`alt_coop._lane_output` (capture, ``--setup-show``),
:mod:`alt_coop._lane_globals` (assertion hooks, ``PYTEST_CURRENT_TEST``, the
run protocol), :mod:`alt_coop._lane_logging`,
:mod:`alt_coop._lane_warnings` and :mod:`alt_coop._uncaught` (pytest's
per-item logging, warnings and uncaught-exception catchers), and
:mod:`alt_coop._setupstate`, which stands in for ``session._setupstate``
(and puts itself in its place), and :mod:`alt_coop._thread_bodies` (the
session's temporary directory factory). :mod:`alt_coop._finalizers` and
:mod:`alt_coop._unawaited` rely on how pytest calls finalizers and xunit
functions, as each says.

PYTEST_DONT_REWRITE (see alt_coop/__init__.py).
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import _pytest as _pytest_package
import pluggy
import pytest
from _pytest.fixtures import getfixturemarker as _getfixturemarker
from _pytest.fixtures import resolve_fixture_function as _resolve_fixture_function
from _pytest.outcomes import OutcomeException
from _pytest.python import importtestmodule as _importtestmodule

#: What pytest caches as a fixture's error rather than letting escape.
TEST_OUTCOME = (OutcomeException, Exception)

_OWN_FIXTURE_MODULE = "alt_coop.pytest_plugin"


def is_fixture(obj: object) -> bool:
    """Whether ``obj`` is a fixture definition (what ``@pytest.fixture`` made)."""
    try:
        return _getfixturemarker(obj) is not None
    except Exception:  # an object whose attribute lookup fails is no fixture
        return False


def import_test_module(path: Path, config: pytest.Config) -> ModuleType:
    """Import ``path`` as pytest imports a test module (and a package's
    ``__init__.py`` at its setup): with the run's import mode, an import
    error or module-level skip raised as pytest raises it."""
    __tracebackhide__ = True
    module: ModuleType = _importtestmodule(path, config)
    return module


def fixture_function(fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest) -> Any:
    """The fixture's function, bound to the test's instance when it is a method."""
    return _resolve_fixture_function(fixturedef, request)


def cache_fixture_result(fixturedef: pytest.FixtureDef[Any], request: Any, result: object) -> None:
    """Record a fixture's value as pytest's own ``pytest_fixture_setup`` does."""
    fixturedef.cached_result = (result, fixturedef.cache_key(request), None)


def cache_fixture_error(
    fixturedef: pytest.FixtureDef[Any], request: Any, error: BaseException
) -> None:
    """Record a fixture's error as pytest's own ``pytest_fixture_setup`` does."""
    if isinstance(error, pytest.skip.Exception):
        # Report the skip at the test that requested the fixture, as pytest does.
        error._use_item_location = True
    fixturedef.cached_result = (None, fixturedef.cache_key(request), (error, error.__traceback__))


def forget_setup(fixturedef: pytest.FixtureDef[Any]) -> None:
    """Leave a fixture whose setup was cut short as if it was never set up.

    From pytest 8.4, pytest registers its post-finalizer before the setup
    runs, and clears it only when finishing a fixture that has a cached
    result or error: a setup that ends in neither (cancelled from outside)
    would leave it behind, and the next setup of the fixture fails on
    pytest's assertion that none is left. Its finalizers so far (that one,
    and on 8.3 those a ``request.addfinalizer`` made) are run and dropped.
    """
    finalizers = fixturedef._finalizers
    while finalizers:
        with contextlib.suppress(BaseException):  # the cancellation goes on, not these
            finalizers.pop()()


def keep_for_teardown(
    fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest, interrupt: BaseException
) -> None:
    """Record a fixture whose setup was interrupted (Ctrl-C's
    KeyboardInterrupt, which pytest's setup does not catch) after it
    registered teardowns as failed with that interrupt, as pytest records a
    setup's error: pytest 9 finishes only a fixture with a cached result or
    error, dropping the teardowns of any other (8.x runs them)."""
    if fixturedef.cached_result is None:
        key = fixturedef.cache_key(request)  # type: ignore[arg-type]  # a SubRequest here
        fixturedef.cached_result = (None, key, (interrupt, interrupt.__traceback__))


def fixture_functions(item: pytest.Function) -> dict[str, list[Any]]:
    """The functions of the fixtures ``item`` uses, by name (an overridden
    one's too: ``request.getfixturevalue`` of its name from the override)."""
    return {name: [d.func for d in defs] for name, defs in fixture_definitions(item).items()}


def fixture_definitions(item: pytest.Function) -> dict[str, Sequence[pytest.FixtureDef[Any]]]:
    """The definitions of the fixtures ``item`` uses, by name: the one it
    gets last, after those it overrides."""
    info = getattr(item, "_fixtureinfo", None)
    return {} if info is None else dict(info.name2fixturedefs)


def requested_by_the_test(item: pytest.Function) -> Sequence[str]:
    """The fixtures ``item`` asks for itself: its arguments, its
    ``usefixtures``, and the autouse fixtures it gets."""
    info = getattr(item, "_fixtureinfo", None)
    return () if info is None else info.initialnames


def fixture_closure(
    item: pytest.Function, names: Iterable[str]
) -> dict[str, Sequence[pytest.FixtureDef[Any]]]:
    """``names`` and the fixtures they use, with their definitions, as
    ``item`` would get them: for fixtures asked for by name as the test sets
    up, not in its closure."""
    manager = item.session._fixturemanager
    closure: dict[str, Sequence[pytest.FixtureDef[Any]]] = {}
    todo = list(names)
    while todo:
        name = todo.pop()
        if name not in closure:
            definitions = closure[name] = manager.getfixturedefs(name, item) or ()
            # An override that asks for what it overrides uses that one too.
            for definition in reversed(definitions):
                todo.extend(definition.argnames)
                if name not in definition.argnames:
                    break
    return closure


def test_arguments(item: pytest.Function) -> dict[str, Any]:
    """The keyword arguments pytest would call ``item``'s function with."""
    funcargs = item.funcargs
    return {name: funcargs[name] for name in item._fixtureinfo.argnames}


def item_request(item: pytest.Function) -> pytest.FixtureRequest:
    """The request object of a test item (what its fixtures were looked up with)."""
    return item._request


def user_fixture_visible(request: pytest.FixtureRequest, name: str, node: Any) -> bool:
    """Whether a fixture ``name`` other than alt_coop's own is visible at ``node``."""
    fixturedef = _visible_fixture(request, name, node)
    return fixturedef is not None and (
        getattr(fixturedef.func, "__module__", None) != _OWN_FIXTURE_MODULE
    )


def user_fixture_parametrized(request: pytest.FixtureRequest, name: str, node: Any) -> bool:
    """Whether the fixture ``name`` visible at ``node`` has ``params``."""
    fixturedef = _visible_fixture(request, name, node)
    return fixturedef is not None and fixturedef.params is not None


def _visible_fixture(
    request: pytest.FixtureRequest, name: str, node: Any
) -> pytest.FixtureDef[Any] | None:
    """The definition of the fixture ``name`` that ``node`` would get."""
    fixturedefs = request._fixturemanager.getfixturedefs(name, node)
    return fixturedefs[-1] if fixturedefs else None


def finalizer_count(fixturedef: pytest.FixtureDef[Any]) -> int:
    """How many finalizers ``fixturedef`` has (its teardown among them, once set up)."""
    return len(fixturedef._finalizers)


def run_finalizers_by(
    fixturedef: pytest.FixtureDef[Any],
    since: int,
    runner: Callable[[Callable[[], object]], object],
) -> None:
    """Make the finalizers ``fixturedef`` got after the first ``since`` run
    as ``runner(finalizer)``."""
    finalizers = fixturedef._finalizers
    for index in range(since, len(finalizers)):
        finalizers[index] = functools.partial(runner, finalizers[index])


def hidden_unless_alone(excinfo: pytest.ExceptionInfo[BaseException] | None) -> bool:
    """A ``__tracebackhide__`` for alt_coop's frames that pytest may have to
    show: hidden, as pytest's own frames are, except for what pytest needs
    one frame of. For an exception group with no frame of its own to show
    (pytest 8.4 fails with an internal error on a group whose every frame is
    hidden; from a conftest's fixture, the fixture's frame is shown alone),
    and for a ``pytest.fail(..., pytrace=False)``, shown as its message alone
    but with an "all traceback entries are hidden" line when no frame is left."""
    if excinfo is None:
        return True
    error = excinfo.value
    if isinstance(error, BaseExceptionGroup):
        return _shows_a_frame_of_its_own(excinfo)
    return not (isinstance(error, pytest.fail.Exception) and not error.pytrace)


#: Where the frames pytest leaves out of a test's traceback, and alt_coop's, are.
_NOT_OWN_FRAMES = tuple(
    str(Path(module.__file__).parent) + os.sep
    for module in (_pytest_package, pluggy, sys.modules[__package__])
    if module.__file__ is not None
)


def _shows_a_frame_of_its_own(excinfo: pytest.ExceptionInfo[BaseException]) -> bool:
    """Whether ``excinfo``'s traceback has a frame pytest shows that is
    neither its own, pluggy's nor alt_coop's (none of which is asked, so
    this is never asked again from here)."""
    for entry in excinfo.traceback:
        path = str(entry.path)
        if path.startswith(_NOT_OWN_FRAMES) or path.startswith("<"):
            continue
        if not entry.ishidden(excinfo):
            return True
    return False


def traced_test(func: object) -> tuple[Any, Any] | None:
    """The test function and pytest's debugger, when ``func`` is the wrapper
    ``--trace`` put in its place (``wrapper`` in
    ``_pytest.debugging.wrap_pytest_function_for_tracing``, whose closure holds
    them as ``testfunction`` and ``_pdb``); else None."""
    code = getattr(func, "__code__", None)
    closure = getattr(func, "__closure__", None)
    if (
        code is None
        or not closure
        or code.co_qualname != "wrap_pytest_function_for_tracing.<locals>.wrapper"
    ):
        return None
    cells = dict(zip(code.co_freevars, closure, strict=True))
    try:
        return cells["testfunction"].cell_contents, cells["_pdb"].cell_contents
    except (KeyError, ValueError):  # another shape: left to pytest
        return None
