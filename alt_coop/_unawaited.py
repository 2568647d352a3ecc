"""Async functions pytest or unittest would call without awaiting them.

pytest calls xunit-style setup and teardown functions (``setup_module``,
``setup_method``...), and unittest calls a ``TestCase``'s ``setUp``, tests
and ``tearDown``, without awaiting what they return: written ``async def``,
they never run, and their tests pass with only a "never awaited" warning
(without even that, written as async generators, with a ``yield``).
Each test such a function applies to fails at its setup instead (once its
skip and xfail marks are evaluated, before pytest calls any of them), with
what to write in its place. A package's ``__init__.py`` is checked at the
package's own setup, where pytest imports it: no test module need import it.

pytest's hooks are the same: a conftest's or plugin's ``async def``
implementation of one is called and its coroutine dropped. That is a usage
error as the plugin registers (see :func:`refuse_async_hooks`).

Which names pytest calls, and in which order it takes the first found,
mirror ``_pytest.python`` (``_get_first_non_fixture_func`` and the xunit
fixtures of Module, Class and Package) and ``_pytest.unittest``, checked on
pytest 8.3.5, 8.4.2, 9.0.3 and 9.2.0.

PYTEST_DONT_REWRITE (see alt_coop/__init__.py).
"""

from __future__ import annotations

import functools
import inspect
import sys
import types
import weakref
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any, NamedTuple

import pytest

from . import _pytest_compat

# The names pytest looks for, the first found of each group taken (as pytest's
# ``_get_first_non_fixture_func`` does), with the scope each works at.
_Groups = tuple[tuple[tuple[str, ...], str], ...]
_MODULE_FUNCTIONS: _Groups = (
    (("setUpModule", "setup_module"), "module"),
    (("tearDownModule", "teardown_module"), "module"),
)
_FUNCTION_FUNCTIONS: _Groups = (
    (("setup_function",), "function"),
    (("teardown_function",), "function"),
)
_CLASS_FUNCTIONS: _Groups = (
    (("setup_class",), "class"),
    (("teardown_class",), "class"),
    (("setup_method",), "function"),
    (("teardown_method",), "function"),
)
_OUTER_CLASS_FUNCTIONS = _CLASS_FUNCTIONS[:2]
_UNITTEST_CLASS_FUNCTIONS: _Groups = (
    (("setUpClass",), "class"),
    (("tearDownClass",), "class"),
    (("setup_method",), "function"),
    (("teardown_method",), "function"),
)
# unittest's own per-test methods, and what IsolatedAsyncioTestCase awaits instead.
_UNITTEST_METHODS = {"setUp": "asyncSetUp", "tearDown": "asyncTearDown"}
# How unittest runs a test: a class overriding none of these runs its tests as
# unittest.TestCase (or IsolatedAsyncioTestCase) does. Other frameworks'
# bases (Django's SimpleTestCase, aiounittest's AsyncTestCase) override one
# to await async tests their own way, and are left to them.
_RUNNERS = (
    "run", "debug", "__call__", "__getattribute__",
    "_callSetUp", "_callTestMethod", "_callTearDown",
)  # fmt: skip

# Found once per module and class: every test of a large module asks. A
# module's: (for its test functions, for all its tests); a class's: see
# _ClassProblems.
_of_modules: weakref.WeakKeyDictionary[Any, tuple[str | None, str | None]] = (
    weakref.WeakKeyDictionary()
)
_of_classes: weakref.WeakKeyDictionary[type, _ClassProblems] = weakref.WeakKeyDictionary()
# The parents of the tests whose packages are guarded (see guard_packages).
_guarded_parents: weakref.WeakSet[Any] = weakref.WeakSet()
# Autouse fixtures in __init__.py are not used (pytest #4085).
_PACKAGE_ADVICE = (
    'use an autouse async fixture instead, as in @pytest.fixture(scope="package", '
    "autouse=True) in the package's conftest.py, with its teardown after a yield"
)


def refuse_async_hooks(
    plugin: object, manager: pytest.PytestPluginManager, *, collecting: bool
) -> None:
    """Raise if ``plugin`` (a conftest, a plugin module or object) implements
    one of pytest's own hooks with an ``async def``: a usage error, or, for a
    conftest found while ``collecting``, a collection error (which pytest
    shows as its message alone).

    Only pytest's hooks (their specs in ``_pytest.hookspec``, on pytest 8.3.5
    to 9.2.0): another plugin's hook may be awaited by that plugin.
    """
    __tracebackhide__ = True
    for caller in manager.get_hookcallers(plugin) or ():
        spec = caller.spec
        if spec is None or getattr(spec.namespace, "__name__", None) != "_pytest.hookspec":
            continue
        for impl in caller.get_hookimpls():
            if impl.plugin is plugin and (
                inspect.iscoroutinefunction(impl.function)
                or inspect.isasyncgenfunction(impl.function)
            ):
                where = getattr(plugin, "__file__", None) or _plugin_object_name(plugin)
                message = _async_hook_text(caller.name, where)
                if collecting:
                    raise pytest.Collector.CollectError(message)
                raise pytest.UsageError(message)


def fixture_hiding_async(fixturedef: pytest.FixtureDef[Any], value: object) -> str | None:
    """What is wrong with a plain ``def`` fixture that returned ``value``, a
    coroutine or async generator, if that is the one of an async function
    it wraps without ``functools.wraps``, passing its arguments on (as a
    decorator written for plain functions does): nothing awaits it, and the
    tests using it would pass without its setup. (A fixture handing its
    tests another function's coroutine, to await themselves, is left alone,
    one a factory made for the function it was given too.) A coroutine is
    closed: the failure says it, with no "never awaited" warning too."""
    code = getattr(value, "cr_code", None) or getattr(value, "ag_code", None)
    wrapper = getattr(fixturedef.func, "__code__", None)
    if wrapper is None or not wrapper.co_flags & (inspect.CO_VARARGS | inspect.CO_VARKEYWORDS):
        return None  # no decorator's wrapper, which passes its arguments on
    for cell in getattr(fixturedef.func, "__closure__", None) or ():
        try:
            wrapped = cell.cell_contents
        except ValueError:  # a cell not filled yet
            continue
        if code is not None and getattr(wrapped, "__code__", None) is code:
            awaited = inspect.iscoroutine(value)
            if inspect.iscoroutine(value):
                value.close()
            return (
                f"fixture {fixturedef.argname!r} is a plain function that returned the "
                f"{type(value).__name__!r} object of the async function {wrapped.__name__}, "
                f"which nothing {'awaits' if awaited else 'iterates'}; the decorator hides "
                "the async function from pytest and alt_coop: have it use functools.wraps(func)"
            )
    return None


def _async_hook_text(name: str, where: str | None) -> str:
    return (
        f"async def {name} in {where}: pytest calls its hooks without awaiting them, so it "
        "would never run. Make it a plain def; run async code in a fixture (an autouse one, say)"
    )


def refuse_async_generate_tests(collector: pytest.Module | pytest.Class) -> None:
    """A collection error for an ``async def pytest_generate_tests`` in a
    test module or class, which pytest calls too, besides the plugins'
    (refused as they register: :func:`refuse_async_hooks`)."""
    __tracebackhide__ = True
    hook = getattr(collector.obj, "pytest_generate_tests", None)
    if not (inspect.iscoroutinefunction(hook) or inspect.isasyncgenfunction(hook)):
        return
    where = str(collector.path)
    if isinstance(collector, pytest.Class):
        where += f"::{collector.name}"
    raise pytest.Collector.CollectError(_async_hook_text("pytest_generate_tests", where))


def _plugin_object_name(plugin: object) -> str:
    """A plugin registered as an object, by its class (its name in the
    plugin manager is its ``id``)."""
    if isinstance(plugin, types.ModuleType):  # one without a file
        return plugin.__name__
    kind = plugin if isinstance(plugin, type) else type(plugin)
    return f"a {kind.__module__}.{kind.__qualname__} " + (
        "class" if isinstance(plugin, type) else "object"
    )


def unittest_case(item: pytest.Item, base: str = "TestCase") -> bool:
    """Whether ``item`` is a test of a class deriving from ``unittest``'s
    ``base`` (``TestCase``, or ``IsolatedAsyncioTestCase``)."""
    cls = getattr(item, "cls", None)
    return isinstance(cls, type) and _is_unittest_case(cls, base)


def written_wrong(problem: str) -> BaseException:
    """The error failing a test that cannot run as written. It is marked so
    that an ``xfail`` mark does not take it for the expected failure."""
    error = pytest.fail.Exception(problem, pytrace=False)
    error.alt_coop_written_wrong = True  # type: ignore[attr-defined]
    return error


def guard_packages(item: pytest.Item) -> None:
    """Check the ``__init__.py`` of each package above ``item`` at the
    package's setup, before pytest calls its xunit functions."""
    parent = item.parent
    if parent is None or parent in _guarded_parents:
        return
    _guarded_parents.add(parent)
    for node in parent.listchain():
        if isinstance(node, pytest.Package) and "setup" not in vars(node):
            node.setup = functools.partial(_set_up_package, node, node.setup)  # type: ignore[method-assign]


def _set_up_package(package: pytest.Package, setup: Callable[[], None]) -> None:
    __tracebackhide__ = True  # an import error is shown from the user's code
    # The import pytest's own setup does next, done first: it finds the module
    # imported, and an import error or skip is raised once, from here, as it
    # would have been from there.
    init = _pytest_compat.import_test_module(package.path / "__init__.py", package.config)
    found = _xunit_problem(init, _MODULE_FUNCTIONS, _PACKAGE_ADVICE)
    if found is not None:
        raise written_wrong(found)
    setup()


def problem(item: pytest.Item) -> str | None:
    """Why ``item`` cannot run as written, if an async function it needs
    would be called without being awaited; else None."""
    if not isinstance(item, pytest.Function):
        return None
    module = item.module
    for_functions, for_all = (None, None) if module is None else _module_problems(module)
    cls = item.cls
    if cls is None:
        return for_functions or for_all
    if getattr(cls, "__unittest_skip__", False) and _is_unittest_case(cls):
        return for_all  # unittest calls none of its functions, nor pytest its setUpClass
    found = _class_problems(cls).at_setup
    if found is None:  # an outer class's setup_class applies here too (its setup_method not)
        outer = (_xunit_problem(node.obj, _OUTER_CLASS_FUNCTIONS) for node in _outer_classes(item))
        found = next(filter(None, outer), None)
    return found or for_all


def unawaited_test(item: pytest.Item) -> str | None:
    """Why ``item``, a test of a ``unittest.TestCase``, would never run as
    unittest runs it (its ``setUp``, or the test itself, is ``async def``);
    else None. Asked once its fixtures are set up: its case's ``setUpClass``
    may skip it first; and unittest calls none of a test a decorator skips."""
    cls = getattr(item, "cls", None)
    if cls is None or not isinstance(item, pytest.Function) or not _is_unittest_case(cls):
        return None
    test = getattr(cls, item.originalname, None)
    if getattr(cls, "__unittest_skip__", False) or getattr(test, "__unittest_skip__", False):
        return None
    problems = _class_problems(cls)
    if problems.per_test is not None or not problems.unittest_runs:
        return problems.per_test
    if inspect.isasyncgenfunction(test):
        # Neither TestCase nor IsolatedAsyncioTestCase iterates it.
        return (
            f"{cls.__qualname__}.{item.originalname} is {_ASYNC_GENERATOR}, which unittest "
            "never iterates, so its body would never run: remove the yield"
        )
    if not (problems.tests_unawaited and inspect.iscoroutinefunction(test)):
        return None
    return (
        f"{cls.__qualname__}.{item.originalname} is async def, but a "
        "unittest.TestCase calls its tests without awaiting them, so it would "
        f"never run: derive {cls.__qualname__} from "
        "unittest.IsolatedAsyncioTestCase, or make it a plain test class "
        "(no TestCase base) to run it on alt_coop's loop"
    )


def _is_unittest_case(cls: type, base: str = "TestCase") -> bool:
    unittest = sys.modules.get("unittest")  # no TestCase without it (pytest does the same)
    return unittest is not None and issubclass(cls, getattr(unittest, base))


def _module_problems(module: ModuleType) -> tuple[str | None, str | None]:
    try:
        return _of_modules[module]
    except KeyError:
        found = _of_modules[module] = (
            _xunit_problem(module, _FUNCTION_FUNCTIONS),
            _xunit_problem(module, _MODULE_FUNCTIONS),
        )
        return found


class _ClassProblems(NamedTuple):
    #: A function pytest calls as it sets the class's tests up (xunit-style,
    #: or a unittest case's setUpClass).
    at_setup: str | None
    #: A function unittest calls as it runs each test (setUp, tearDown).
    per_test: str | None
    #: Whether unittest calls the tests themselves without awaiting them.
    tests_unawaited: bool
    #: Whether unittest runs the tests as it does by default (see _runs_as).
    unittest_runs: bool


def _class_problems(cls: type) -> _ClassProblems:
    try:
        return _of_classes[cls]
    except KeyError:
        found = _of_classes[cls] = _class_problem(cls)
        return found


def _outer_classes(item: pytest.Item) -> Iterator[pytest.Class]:
    node = item.parent.parent if item.parent is not None else None
    while node is not None and not isinstance(node, pytest.Module):
        if isinstance(node, pytest.Class):
            yield node
        node = node.parent


def _class_problem(cls: type) -> _ClassProblems:
    unittest = sys.modules.get("unittest")
    if unittest is None or not _is_unittest_case(cls):
        return _ClassProblems(_xunit_problem(cls, _CLASS_FUNCTIONS), None, False, False)
    runner = _runs_as(cls, unittest)
    per_test = None
    for name, async_name in _UNITTEST_METHODS.items() if runner is not None else ():
        kind = _async_kind(getattr(cls, name, None))
        if kind is not None:
            where = (
                f"name it {async_name}"
                if runner is unittest.IsolatedAsyncioTestCase
                else f"derive {cls.__qualname__} from unittest.IsolatedAsyncioTestCase "
                f"and name it {async_name}"
            ) + (", without the yield" if kind == _ASYNC_GENERATOR else "")
            per_test = (
                f"{cls.__qualname__}.{name} is {kind}, but unittest calls it without "
                f"awaiting it, so it would never run: {where}"
            )
            break
    advice = None
    if issubclass(cls, unittest.IsolatedAsyncioTestCase):
        # A fixture would run on alt_coop's loop, the tests on the case's own.
        advice = (
            "make it a plain def, and do the async part in asyncSetUp or asyncTearDown "
            "(an IsolatedAsyncioTestCase runs its tests on a loop of its own)"
        )
    return _ClassProblems(
        _xunit_problem(cls, _UNITTEST_CLASS_FUNCTIONS, advice),
        per_test,
        runner is unittest.TestCase,
        runner is not None,
    )


def _runs_as(cls: type, unittest: ModuleType) -> type | None:
    """The one of unittest's bases that runs ``cls``'s tests unchanged, if any."""
    bases: tuple[type, ...] = (unittest.IsolatedAsyncioTestCase, unittest.TestCase)
    for base in bases:
        if issubclass(cls, base):
            if all(getattr(cls, name, None) is getattr(base, name, None) for name in _RUNNERS):
                return base
            return None
    return None


def _xunit_problem(owner: Any, groups: _Groups, advice: str | None = None) -> str | None:
    for name, function, scope in _first_found(owner, groups):
        kind = _async_kind(function)
        if kind is not None:
            if advice is None:
                advice = (
                    "use an autouse async fixture instead, as in "
                    f'@pytest.fixture(scope="{scope}", autouse=True) with its teardown after '
                    "a yield"
                )
            return (
                f"{_owner_name(owner)}.{name} is {kind}, but pytest calls xunit-style "
                f"{name} without awaiting it, so it would never run: {advice}"
            )
    return None


_ASYNC_GENERATOR = "an async generator (async def with a yield)"


def _async_kind(function: object) -> str | None:
    """What kind of async function ``function`` is, for a message, if calling
    it runs none of its code (a coroutine or an async generator is made)."""
    if inspect.iscoroutinefunction(function):
        return "async def"
    if inspect.isasyncgenfunction(function):
        return _ASYNC_GENERATOR
    return None


def _first_found(owner: Any, groups: _Groups) -> Iterator[tuple[str, Any, str]]:
    for names, scope in groups:
        for name in names:
            function = getattr(owner, name, None)
            if function is not None and not _pytest_compat.is_fixture(function):
                yield name, function, scope
                break


def _owner_name(owner: Any) -> str:
    if isinstance(owner, type):
        return owner.__qualname__
    return str(getattr(owner, "__name__", owner))
