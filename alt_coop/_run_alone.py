"""Which cooperative tests must run alone, and the one-line reason why.

A test runs concurrently with others only if nothing it uses is state of the
whole process that it would change for the tests running beside it: fixtures
that patch modules or capture file descriptors, decorators that patch for the
whole test, plugins that wrap the whole per-test protocol or switch something
process-wide at each test's setup and teardown. Such a test runs alone,
between batches, exactly as in a sequential run; the reason becomes a notice.
What cannot be seen before the test starts (a fixture asked for through
``request.getfixturevalue``) is refused when asked for: see
:func:`dynamic_request_problem`. Some set-ups of the whole session (xdist
workers, a debugger, ``--sw``) make every cooperative test run sequentially:
see :func:`session_reason`.

PYTEST_DONT_REWRITE (see alt_coop/__init__.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import ModuleType
from typing import Any

import pytest

from . import (
    _coverage_support,
    _hypothesis,
    _lane_state,
    _loaded_plugins,
    _plugin_state,
    _pytest_compat,
)
from ._marks import EXCLUSIVE_MARK
from ._migration import pytest_asyncio_fixtures, pytest_asyncio_name

#: Fixtures that change process-wide state, so their tests run alone.
RUN_ALONE_FIXTURES = frozenset(
    {
        "capsys",
        "capsysbinary",
        "capfd",
        "capfdbinary",
        "capteesys",
        "monkeypatch",
        "subtests",  # pytest 9's: it starts and stops capturing per subtest
        # pytest-mock's: they patch module attributes, seen by every test.
        "mocker",
        "class_mocker",
        "module_mocker",
        "package_mocker",
        "session_mocker",
        # pytest-benchmark's: timed against the whole process.
        "benchmark",
        "benchmark_weave",
        # pytest-cov's: it pauses coverage for the whole process.
        "no_cover",
        # time-machine's, pytest-freezer's: the clock and date of the process.
        "time_machine",
        "freezer",
        # respx's: the one global router; pytest-httpserver's: one shared
        # server whose handlers each test's setup clears.
        "respx_mock",
        "httpserver",
        "httpserver_ipv4",
        "httpserver_ipv6",
        # pytest-socket's: they switch socket.socket for the process.
        "socket_enabled",
        "socket_disabled",
        # pytest-httpx's, requests-mock's and pytest-aioresponses': they
        # patch an HTTP client for the process. (pytest-recording's ``vcr``
        # and ``block_network`` are autouse, in every test: their marks tell.)
        "httpx_mock",
        "requests_mock",
        "aioresponses",
        # pytest-html's: one list of extras for the session, swapped per test.
        "extras",
        "extra",
    }
)

#: pytest-mock's class and module mockers, by the node of their scope: their
#: patches hold after the test using them until that scope ends, for the
#: scope's later tests. (A function outside a class has its class-scoped
#: fixtures to itself; pytest-mock's package mocker, a plugin's, belongs to
#: no package: it lives for the session, as the session mocker does.)
_WIDER_MOCKERS: dict[str, type[pytest.Collector]] = {
    "class_mocker": pytest.Class,
    "module_mocker": pytest.Module,
}


def after_wider_patches(items: Sequence[pytest.Item]) -> dict[pytest.Item, str]:
    """The tests that come after one using a wider mocker of pytest-mock's
    (``module_mocker``, say) in its scope, with why they run alone. That one
    runs alone, but its patches hold until its scope ends: the scope's later
    tests, run beside tests of other scopes, would have those see them. (A
    session mocker's are seen by every later test, in a sequential run too.)"""
    patched: dict[pytest.Collector, str] = {}
    alone: dict[pytest.Item, str] = {}
    for item in items:
        if patched:
            for node in item.listchain()[:-1]:
                name = patched.get(node)  # type: ignore[call-overload]  # a collector here
                if name is not None:
                    alone[item] = (
                        f"tests after one using {name} in its scope run alone (its patches "
                        "hold until that scope ends)"
                    )
                    break
        names = getattr(item, "fixturenames", ())
        for name, kind in _WIDER_MOCKERS.items():
            if name in names:
                scope = item.getparent(kind)
                if scope is not None:
                    patched.setdefault(scope, name)
    return alone


_EMPTIES_REDIS = "pytest-redis empties the shared server at each test's teardown"

#: Plugins' fixtures that change state shared by every running test, known by
#: the module that defines them (their names are common words, or the
#: plugin's factories choose them): which of them (None: all), and what they do.
_PLUGIN_FIXTURES: dict[str, tuple[frozenset[str] | None, str]] = {
    "faker.contrib.pytest.plugin": (
        frozenset({"faker"}),
        "Faker re-seeds one generator of the session at each test's setup",
    ),
    "pytest_subprocess.fixtures": (
        None,
        "pytest-subprocess fakes subprocess and asyncio's subprocesses for the process",
    ),
    "pytest_mockito.plugin": (None, "pytest-mockito removes every stub at each test's end"),
    "pytest_redis.factories.client": (None, _EMPTIES_REDIS),
    "pytest_redis.factories.client_async": (None, _EMPTIES_REDIS),
    "pytest_postgresql.factories.client": (
        None,
        "pytest-postgresql creates and drops one database of that name per test",
    ),
}

#: pytest-memray's marks: it tracks the test's allocations, the process's.
_MEMRAY_MARKS = frozenset({"limit_memory", "limit_leaks", "limit_leaked_objects"})

#: Plugins that change something for every test, from each test's setup to its
#: teardown or call, so that no two tests can run at once: by module.
_SEQUENTIAL_PLUGINS = {
    "pytest_responses": (
        "with pytest-responses (it mocks requests for the whole process from each "
        "test's setup to its teardown)"
    ),
    "pytest_assume.plugin": (
        "with pytest-assume (one list of failed assumptions for all tests, checked after "
        "each test's call; -p no:assume switches it off where the suite does not use it)"
    ),
}

#: Marks of plugins that patch the process for the test they mark.
_RUN_ALONE_MARKS = {
    "freeze_time": "pytest-freezer",
    "enable_socket": "pytest-socket",
    "disable_socket": "pytest-socket",
    "allow_hosts": "pytest-socket",
    "vcr": "pytest-recording",
    "block_network": "pytest-recording",
}

#: Packages whose test decorators patch the process for the whole test (the
#: clock, the date, an HTTP client's transport), as unittest.mock.patch does.
_PATCHING_DECORATORS = (
    "freezegun",
    "time_machine",
    "respx",
    "aioresponses",
    "responses",
    "requests_mock",
    "vcr",
    "unittest.mock",  # patch.dict's wrapper (patch's own are marked: ``patchings``)
)

#: Plugins whose pytest_runtest_protocol hook is taken care of: pytest's own
#: (re-created per test, or only wrapping unittest items), and the two whose
#: options or marks send the tests they affect to run sequentially.
_HANDLED_PROTOCOL_PLUGINS = ("_pytest.", "alt_coop", "pytest_rerunfailures", "pytest_timeout")


class RunAlone:
    """Decides, per cooperative test, whether it must run alone and why."""

    def __init__(self, config: pytest.Config) -> None:
        # Without pytest-timeout, its mark times nothing.
        self._timed_by_mark = _pytest_timeout(config) is not None
        self._timeout_for_all = bool(_pytest_timeout_default(config))
        self._session_timeout = _pytest_timeout_session(config)
        self._network_blocker = _blocks_network_for_all(config)
        self._threads_unmeasured = _coverage_support.threads_unmeasured()
        self._wrappers: tuple[str, ...] | None = None  # known once the conftests are
        self._pytest_asyncio = pytest_asyncio_name(config)
        self._patchers: dict[object, str | None] = {}
        # pytest-order's: marks named by it and a digit order tests as ``order`` does.
        self._order_prefix = config.getoption("order_marker_prefix", None) or None
        # pytest-ordering's (the older plugin): ``run(order=...)``, which its
        # ``first``, ``last``, ... marks become at collection.
        self._ordered_by_run = config.pluginmanager.has_plugin("pytest_ordering")
        # By its module: loaded by ``-p`` or ``pytest_plugins``, it has that name.
        self._lazy_fixtures = any(
            str(getattr(plugin, "__name__", "")).startswith("pytest_lazy_fixtures.")
            for plugin in _loaded_plugins.every(config.pluginmanager)
        )

    def reason(self, item: pytest.Function, marks: set[str], is_async: bool) -> str | None:
        """Why ``item`` (marked ``marks``) must run alone, or None if it may not."""
        alone = RUN_ALONE_FIXTURES.intersection(item.fixturenames)
        if alone:
            names = ", ".join(_through(item, name) for name in sorted(alone))
            return f"tests using {names} run alone (process-wide state)"
        definitions = _pytest_compat.fixture_definitions(item)
        if self._lazy_fixtures:
            lazy = _pytest_compat.fixture_closure(item, _lazy_fixture_names(item))
            lazy_alone = RUN_ALONE_FIXTURES.intersection(lazy)
            if lazy_alone:
                return (
                    f"tests using {', '.join(sorted(lazy_alone))} (through "
                    "pytest-lazy-fixtures' lf or lfc) run alone (process-wide state)"
                )
            definitions = {**lazy, **definitions}
        plugin_fixture = _plugin_fixture(item, definitions)
        if plugin_fixture is not None:
            return plugin_fixture
        if getattr(item.obj, "patchings", None):
            # unittest.mock.patch decorators patch for the whole test, for every test.
            return "tests decorated with unittest.mock.patch run alone (process-wide state)"
        patcher = _patching_decorator(item.obj)
        if patcher is not None:
            return f"tests decorated by {patcher} run alone (process-wide state)"
        patching_fixture = self._patching_fixture(item)
        if patching_fixture is not None:
            name, patcher = patching_fixture
            return (
                f"tests using the fixture {name!r}, decorated by {patcher}, run alone "
                "(process-wide state)"
            )
        memray_marks = sorted(_MEMRAY_MARKS & marks)
        if memray_marks:
            return (
                f"tests marked {', '.join(memray_marks)} run alone (pytest-memray tracks "
                "the allocations of the whole process)"
            )
        plugin_marks = sorted(_RUN_ALONE_MARKS.keys() & marks)
        if plugin_marks:
            plugins = sorted({_RUN_ALONE_MARKS[mark] for mark in plugin_marks})
            return (
                f"tests marked {', '.join(plugin_marks)} run alone "
                f"({' and '.join(plugins)} patch{'es' if len(plugins) == 1 else ''} "
                "process-wide state)"
            )
        if self._pytest_asyncio:
            theirs = pytest_asyncio_fixtures(item)
            if theirs:
                return (
                    f"tests using pytest-asyncio's fixtures ({', '.join(theirs)}) run alone "
                    "(pytest-asyncio sets them up on a loop of its own, which cannot start "
                    "while alt_coop's runs); to run them cooperatively, make them plain "
                    "@pytest.fixture fixtures and switch pytest-asyncio off "
                    f"(-p no:{self._pytest_asyncio})"
                )
        if _hypothesis.is_hypothesis_test(item.obj):
            # A plain def one too: its body would run in a worker thread,
            # where Hypothesis's state for it (reporter, statistics) is unset.
            return (
                "Hypothesis tests run alone (Hypothesis keeps the running test's state "
                "per thread, and times each example)"
            )
        if not is_async:
            if self._threads_unmeasured:
                return (
                    "plain def tests run alone: coverage.py measures no thread of theirs "
                    "(its concurrency setting leaves thread out)"
                )
            # The body runs in a thread, while the loop runs other tests: the
            # warnings state it needs would be in force for theirs too.
            if "recwarn" in item.fixturenames:
                return "plain def tests using recwarn run alone (warning state is process-wide)"
            if "filterwarnings" in marks:
                return (
                    "plain def tests marked filterwarnings run alone "
                    "(warning filters are process-wide)"
                )
        if ("timeout" in marks and self._timed_by_mark) or self._timeout_for_all:
            return (
                "pytest-timeout's timer (a signal or a thread) times one test at a time: "
                "those tests run sequentially"
            )
        if self._session_timeout:
            return (
                "pytest-timeout checks its session timeout between tests: "
                "cooperative tests run sequentially"
            )
        if self._network_blocker is not None:
            return (
                f"{self._network_blocker} blocks and unblocks the network for the whole "
                "process at each test's setup and teardown: cooperative tests run sequentially"
            )
        if "no_cover" in marks:
            return "tests marked no_cover run alone (pytest-cov pauses coverage process-wide)"
        if "order" in marks or "dependency" in marks or self._ordered_by_prefix(marks):
            return (
                "tests ordered by pytest-order or pytest-dependency run sequentially "
                "(their order may be a dependency on the tests before them)"
            )
        if self._ordered_by_run and "run" in marks:
            return (
                "tests ordered by pytest-ordering run sequentially (their order may be a "
                "dependency on the tests before them)"
            )
        if _reruns(item):
            return "pytest-rerunfailures re-runs wrap the whole test: those tests run sequentially"
        if "flaky" in marks:
            return (
                "tests marked flaky run sequentially: a plugin re-running them (flaky, "
                "pytest-retry, pytest-rerunfailures) wraps the whole test"
            )
        wrappers = self._protocol_wrappers(item)
        if wrappers:
            return (
                f"{', '.join(wrappers)} hooks pytest_runtest_protocol, which cooperative tests "
                "cannot go through: those tests run sequentially"
            )
        if getattr(item.runtest, "__func__", None) is not pytest.Function.runtest:
            # It may run the test itself (asyncio.run, a loop of its own),
            # which cannot start while the session loop runs, or block it.
            kind = type(item)
            whose = (
                f"tests of {kind.__module__}.{kind.__qualname__}, a pytest.Function with a "
                "runtest of its own,"
                if kind.runtest is not pytest.Function.runtest
                else "tests whose runtest a plugin or conftest replaced"
            )
            return f"{whose} run alone (what it runs cannot run beside other tests on the loop)"
        return None

    def _ordered_by_prefix(self, marks: set[str]) -> bool:
        prefix = self._order_prefix
        return prefix is not None and any(
            mark.startswith(prefix) and mark[len(prefix) : len(prefix) + 1].isdigit()
            for mark in marks
        )

    def _patching_fixture(self, item: pytest.Function) -> tuple[str, str] | None:
        """A fixture of ``item``'s whose function a patching decorator wraps
        (it patches while the fixture sets up or tears down, with the tests
        beside it running), and that decorator's package."""
        for name, functions in _pytest_compat.fixture_functions(item).items():
            for function in functions:
                function = getattr(function, "__func__", function)  # a class's fixture
                try:
                    patcher = self._patchers[function]
                except KeyError:
                    patcher = self._patchers[function] = (
                        "unittest.mock.patch"
                        if getattr(function, "patchings", None)
                        else _patching_decorator(function)
                    )
                if patcher is not None:
                    return name, patcher
        return None

    def _protocol_wrappers(self, item: pytest.Function) -> tuple[str, ...]:
        """Plugins that hook the whole per-test protocol, other than those handled here."""
        found = self._wrappers
        if found is None:
            # pytest calls this hook through the session's hook, not the item's:
            # every conftest's implementation applies to every test, wherever
            # the conftest is. (Asked once the tests are collected, and so
            # every conftest loaded.)
            hook = item.config.hook.pytest_runtest_protocol
            found = self._wrappers = tuple(
                sorted(
                    _name_of(impl.plugin, impl.plugin_name)
                    for impl in hook.get_hookimpls()
                    if not _module_of(impl.plugin).startswith(_HANDLED_PROTOCOL_PLUGINS)
                )
            )
        return found


def session_reason(config: pytest.Config) -> str | None:
    """Why every cooperative test of the session runs sequentially, if a
    set-up of the whole session means they cannot run at once: every such
    reason, so that one notice says all a user must change."""
    reasons = []
    if hasattr(config, "workerinput"):
        reasons.append("inside pytest-xdist workers (each worker still runs its share)")
    if config.getoption("usepdb", False) or config.getoption("trace", False):
        reasons.append("under --pdb/--trace (one debugger prompt at a time)")
    if config.getoption("stepwise", False) or config.getoption("stepwise_skip", False):
        reasons.append("under --sw (it stops at the first failure in collection order)")
    if _faulthandler_timeout(config) > 0:
        reasons.append("with faulthandler_timeout set (its timer wraps the whole test)")
    if _automarks_dependencies(config):
        reasons.append(
            "with pytest-dependency's automark_dependency set (any test may call depends() "
            "on the tests before it)"
        )
    if _memray_for_all(config):
        reasons.append("under pytest-memray's --memray (one allocation tracker for the process)")
    for plugin in _loaded_plugins.every(config.pluginmanager):
        reason = _SEQUENTIAL_PLUGINS.get(str(getattr(plugin, "__name__", "")))
        if reason is not None:
            reasons.append(reason)
    reason = _plugin_state.sequential_reason()
    if reason is not None:
        reasons.append(reason)
    return "; and ".join(reasons) or None


def _memray_for_all(config: pytest.Config) -> bool:
    """Whether pytest-memray tracks every test (``--memray``, or its ini key),
    as it decides itself."""
    if config.getoption("memray", False):
        return True
    try:
        return bool(config.getini("memray"))
    except ValueError:  # an ini key of its own, unknown while it is not loaded
        return False


def _through(item: pytest.Function, name: str) -> str:
    """``name``, with the fixture ``item`` uses it through if the test itself
    does not ask for it (an autouse fixture of a plugin, say)."""
    if name in _pytest_compat.requested_by_the_test(item):
        return name
    for other, defs in _pytest_compat.fixture_definitions(item).items():
        if other != name and defs and name in defs[-1].argnames:
            return f"{name} (through {other})"
    return name


def _plugin_fixture(item: pytest.Function, definitions: Mapping[str, Sequence[Any]]) -> str | None:
    """Why ``item`` runs alone, if among the fixtures it uses (``definitions``,
    by name) is one of :data:`_PLUGIN_FIXTURES`, or a ``caplog`` that is not
    pytest's own. An override that asks for the plugin's fixture it
    overrides counts as the plugin's."""
    for name, defs in definitions.items():
        modules = [str(getattr(definition.func, "__module__", "")) for definition in defs]
        if name == "caplog" and modules and modules[-1] != "_pytest.logging":
            return (
                f"tests using caplog as {modules[-1]} overrides it run alone (an override "
                "may send a log sink of the whole process, loguru's say, to each test's caplog)"
            )
        for definition, module in zip(reversed(defs), reversed(modules), strict=True):
            known = _PLUGIN_FIXTURES.get(module)
            if known is not None and (known[0] is None or name in known[0]):
                return f"tests using {_through(item, name)} run alone ({known[1]})"
            if name not in definition.argnames:
                break  # an override of its own, which never uses what it overrides
    return None


def _lazy_fixture_names(item: pytest.Function) -> set[str]:
    """The fixtures pytest-lazy-fixtures' ``lf`` and ``lfc`` name in
    ``item``'s params (also inside the lists, tuples, sets and dicts it looks
    in): it asks for them through ``request.getfixturevalue`` as the test sets
    up, too late to send the test to run alone."""
    found: set[str] = set()
    callspec = getattr(item, "callspec", None)
    todo = [] if callspec is None else list(callspec.params.values())
    while todo:
        value = todo.pop()
        if type(value).__module__.startswith("pytest_lazy_fixtures."):
            if getattr(value, "_func", None) is None:  # lfc of a callable names no fixture
                name = getattr(value, "fixture_name", None)
                if isinstance(name, str):
                    found.add(name)
            todo.extend(getattr(value, "args", ()))
            todo.append(getattr(value, "kwargs", None))
        elif type(value) is dict:
            todo.extend(value)
            todo.extend(value.values())
        elif type(value) in (list, tuple, set):
            todo.extend(value)
    return found


def _faulthandler_timeout(config: pytest.Config) -> float:
    try:
        return float(config.getini("faulthandler_timeout") or 0)
    except ValueError:  # an ini key only, unknown when pytest's faulthandler plugin is off
        return 0.0


def _automarks_dependencies(config: pytest.Config) -> bool:
    if _loaded_plugins.get(config, "dependency", "pytest_dependency") is None:
        return False
    try:
        value = config.getini("automark_dependency")
    except ValueError:  # an ini key of its own, unknown to an older or other "dependency"
        return False
    if isinstance(value, str):  # before its 0.6, a string it reads itself, as here
        return value.strip().lower() in {"1", "yes", "y", "true", "t", "on"}
    return bool(value)


def dynamic_request_problem(name: str, request: pytest.FixtureRequest) -> str | None:
    """The failure for a test running beside others that asks for a run-alone
    fixture (through ``request.getfixturevalue``: too late to run it alone,
    and its patches would reach the other tests), or None."""
    lane = _lane_state.CURRENT.get()
    if (
        lane is None
        or request.session is not lane.item.session  # a session the test runs
        or lane.item.get_closest_marker(EXCLUSIVE_MARK) is not None  # no test beside it
    ):
        return None
    return (
        f"alt_coop: {lane.item.nodeid} asked for the fixture {name!r} through "
        f"request.getfixturevalue while running cooperatively; {name} changes "
        "process-wide state, so the tests using it run alone. Ask for it as an "
        "argument of the test (or of one of its fixtures), or mark the test "
        "asyncio_sequential"
    )


def _patching_decorator(function: object) -> str | None:
    """The package of a decorator on ``function`` that patches the process,
    if any. A wrapper's globals are those of the module that defines it (the
    test's own are not looked at: its package may have any name)."""
    for _ in range(100):  # a __wrapped__ loop ends too
        wrapped = getattr(function, "__wrapped__", None)
        if wrapped is None:
            return None
        # A wrapt-made wrapper (vcrpy's) has the globals of what it wraps;
        # its decorator, kept beside it, has the module that made it.
        decorator = getattr(function, "_self_wrapper", None)
        if decorator is not None:
            module = str(getattr(decorator, "__module__", "") or "")
        else:
            module = str(getattr(function, "__globals__", {}).get("__name__", ""))
        for package in _PATCHING_DECORATORS:
            if module == package or module.startswith(f"{package}."):
                return package
        function = wrapped
    return None


def _pytest_timeout(config: pytest.Config) -> object | None:
    """pytest-timeout's plugin, if it is loaded (by its entry point or module)."""
    return _loaded_plugins.get(config, "timeout", "pytest_timeout")


def _pytest_timeout_default(config: pytest.Config) -> float | None:
    """pytest-timeout's timeout for tests without a mark, from its option, ini
    key or environment variable, as it reads them itself."""
    plugin = _pytest_timeout(config)
    settings = getattr(plugin, "get_env_settings", None)
    if settings is None:
        return config.getoption("timeout", None)  # type: ignore[no-any-return]
    return settings(config).timeout  # type: ignore[no-any-return]


def _pytest_timeout_session(config: pytest.Config) -> bool:
    """Whether pytest-timeout has a session timeout to check between tests."""
    plugin = _pytest_timeout(config)
    key = getattr(plugin, "SESSION_TIMEOUT_KEY", None)
    if key is None:
        return bool(config.getoption("session_timeout", None))
    return bool(config.stash.get(key, 0))


def _blocks_network_for_all(config: pytest.Config) -> str | None:
    """The plugin that blocks or restricts the network in every test, if any:
    pytest-socket's ``--disable-socket`` or ``--allow-hosts`` (unless
    ``--force-enable-socket``), pytest-recording's ``--block-network``. Their
    options exist only while they are loaded."""
    if (
        config.getoption("disable_socket", False) or config.getoption("allow_hosts", None)
    ) and not config.getoption("force_enable_socket", False):
        return "pytest-socket"
    if config.getoption("block_network", False):
        return "pytest-recording"
    return None


def _reruns(item: pytest.Item) -> bool:
    """Whether pytest-rerunfailures may re-run ``item``: as it decides itself
    (a ``--reruns`` option, ``reruns`` ini key, ``--force-reruns``)."""
    plugin = _loaded_plugins.get(item.config, "rerunfailures", "pytest_rerunfailures")
    count = getattr(plugin, "get_reruns_count", None)
    if count is None:
        return bool(item.config.getoption("reruns", 0))
    return bool(count(item))


def _module_of(plugin: object) -> str:
    name = getattr(plugin, "__name__", None)
    if isinstance(name, str) and not isinstance(plugin, type):
        return name  # a module
    return type(plugin).__module__


def _name_of(plugin: object, registered: str) -> str:
    """A plugin's name for a notice: the name it was registered under, or,
    registered without one (pluggy then uses its id), where it comes from."""
    if not registered.isdigit():
        return registered
    if isinstance(plugin, ModuleType):
        return plugin.__name__
    return f"{type(plugin).__module__}.{type(plugin).__qualname__}"
