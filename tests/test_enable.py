"""Switching the engine on, and what happens when it is off."""

from __future__ import annotations

import sys

import pytest
from conftest import ISOLATE, mode_args

COUNTING_SUITE = """
import asyncio

CALLS = []

async def test_counts():
    CALLS.append(1)
    await asyncio.sleep(0)

def test_ran_once():
    assert CALLS == [1]
"""


def test_async_test_fails_when_engine_is_off(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("async def test_async():\n    pass\n")
    result = pytester.runpytest(*ISOLATE)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*async def test *::test_async was not run: the alt_coop engine is not enabled*"]
    )
    assert "-p alt_coop.enable" in result.stdout.str()


def test_async_fixture_fails_every_test_using_it_when_engine_is_off(
    pytester: pytest.Pytester,
) -> None:
    # From pytest 9.1, a fixture error not cached by the hook that raised it
    # failed the next test asking for the fixture with a bare AssertionError.
    pytester.makepyfile(
        """
        import pytest

        @pytest.fixture
        async def connection():
            yield 1

        async def test_one(connection):
            pass

        async def test_two(connection):
            pass

        def test_sync(connection):
            pass
        """
    )
    result = pytester.runpytest(*ISOLATE)
    result.assert_outcomes(errors=3)
    for name in ("test_one", "test_two", "test_sync"):
        result.stdout.fnmatch_lines(
            [
                f"*ERROR at setup of {name}*",
                "*async def fixture 'connection' was not run: the alt_coop engine is not enabled*",
            ]
        )
    assert "AssertionError" not in result.stdout.str()


def test_enable_with_command_line_flag(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(COUNTING_SUITE)
    pytester.runpytest(*ISOLATE, "-p", "alt_coop.enable").assert_outcomes(passed=2)


def test_enable_with_pytest_plugins_in_conftest(pytester: pytest.Pytester) -> None:
    pytester.makeconftest('pytest_plugins = ["alt_coop.enable"]')
    pytester.makepyfile(COUNTING_SUITE)
    pytester.runpytest(*ISOLATE).assert_outcomes(passed=2)


def test_enable_with_plugin_object(pytester: pytest.Pytester) -> None:
    import alt_coop

    pytester.makepyfile(COUNTING_SUITE)
    result = pytester.inline_run(*ISOLATE, plugins=[alt_coop.Plugin()])
    result.assertoutcome(passed=2)


@pytest.mark.parametrize("how", ["enable", "conftest", "package in conftest", "plugin object"])
def test_enable_with_plugin_autoload_off(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    # pytest then loads no entry point, alt_coop's options and fixtures
    # included (as when alt_coop is importable but not installed): the engine
    # brings them itself. It was an INTERNALERROR: no option named ... (and,
    # before pytest 9.2, still was with the package itself listed as a plugin:
    # pytest registered it under the entry point's name).
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.makepyfile(
        COUNTING_SUITE
        + """
async def test_timeout_fixture(async_timeout):
    assert async_timeout.timeout_seconds == 2.5
"""
    )
    pytester.makeini("[pytest]\ndefault_async_timeout = 2.5\n")
    if how == "enable":
        result = pytester.runpytest_subprocess("-p", "alt_coop.enable")
    elif how == "conftest":
        pytester.makeconftest('pytest_plugins = ["alt_coop.enable"]')
        result = pytester.runpytest_subprocess()
    elif how == "package in conftest":
        pytester.makeconftest('pytest_plugins = ["alt_coop", "alt_coop.enable"]')
        result = pytester.runpytest_subprocess()
    else:
        pytester.makepyfile(
            run="""
            import sys
            import alt_coop
            import pytest

            sys.exit(pytest.main([], plugins=[alt_coop.Plugin()]))
            """
        )
        result = pytester.runpython(pytester.path / "run.py")
    result.assert_outcomes(passed=3)


def test_blocking_alt_coop_beside_its_engine_is_a_usage_error(pytester: pytest.Pytester) -> None:
    # It was an INTERNALERROR: no option named 'default_async_timeout'.
    pytester.makepyfile(COUNTING_SUITE)
    result = pytester.runpytest(*ISOLATE, "-p", "no:alt_coop", "-p", "alt_coop.enable")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "*-p no:alt_coop blocks the options and fixtures it needs: drop -p no:alt_coop, "
            "or leave alt_coop off: drop alt_coop.enable, or the alt_coop.Plugin passed to "
            "pytest.main"
        ]
    )


def test_blocking_alt_coop_beside_a_plugin_object_is_a_usage_error(
    pytester: pytest.Pytester,
) -> None:
    import alt_coop

    pytester.makepyfile(COUNTING_SUITE)
    result = pytester.runpytest(*ISOLATE, "-p", "no:alt_coop", plugins=[alt_coop.Plugin()])
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*leave alt_coop off: drop alt_coop.enable, or the alt_coop.Plugin passed to pytest.main"]
    )


def test_plugin_object_and_enable_module_together_run_once(pytester: pytest.Pytester) -> None:
    import alt_coop

    pytester.makepyfile(COUNTING_SUITE)
    result = pytester.inline_run(*ISOLATE, "-p", "alt_coop.enable", plugins=[alt_coop.Plugin()])
    result.assertoutcome(passed=2)


def test_two_plugin_objects_are_a_usage_error(pytester: pytest.Pytester) -> None:
    import alt_coop

    pytester.makepyfile(COUNTING_SUITE)
    result = pytester.runpytest(*ISOLATE, plugins=[alt_coop.Plugin(), alt_coop.Plugin()])
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*alt_coop.Plugin is registered more than once*"])


def _without(*names: str) -> list[str]:
    """ISOLATE, minus its switching off of the plugins ``names``."""
    args = list(ISOLATE)
    for name in names:
        at = args.index(f"no:{name}")
        del args[at - 1 : at + 1]
    return args


@pytest.mark.parametrize(
    ("module", "plugin", "setting", "who"),
    [
        ("pytest_asyncio", "asyncio", "asyncio_mode=auto", "pytest-asyncio in auto mode"),
        ("anyio", "anyio", "anyio_mode=auto", "anyio's plugin in auto mode"),
        ("pytest_trio", "trio", "trio_mode=true", "pytest-trio in trio mode"),
    ],
    ids=["pytest-asyncio", "anyio", "pytest-trio"],
)
def test_another_plugin_taking_every_async_test_is_a_usage_error(
    pytester: pytest.Pytester, module: str, plugin: str, setting: str, who: str
) -> None:
    # It would take every async test, leaving alt_coop none (pytest-asyncio
    # would run them on a loop of its own).
    pytest.importorskip(module)
    pytester.makepyfile(COUNTING_SUITE)
    result = pytester.runpytest(*_without(plugin), "-p", "alt_coop.enable", "-o", setting)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            f"ERROR: alt_coop and {who} both run async tests; switch the "
            f"other off with -p no:{plugin} (on the command line, or in addopts)"
        ]
    )


@pytest.mark.parametrize("how", ["-p", "pytest_plugins"])
@pytest.mark.parametrize(
    ("module", "plugin", "setting", "who"),
    [
        ("pytest_asyncio", "pytest_asyncio.plugin", "asyncio_mode=auto", "pytest-asyncio"),
        ("anyio", "anyio.pytest_plugin", "anyio_mode=auto", "anyio's plugin"),
        ("pytest_trio", "pytest_trio.plugin", "trio_mode=true", "pytest-trio in trio mode"),
    ],
    ids=["pytest-asyncio", "anyio", "pytest-trio"],
)
def test_another_plugin_loaded_by_module_taking_every_async_test_is_a_usage_error(
    pytester: pytest.Pytester, module: str, plugin: str, setting: str, who: str, how: str
) -> None:
    # As when autoloaded: -p no:anyio does not reach a plugin loaded as
    # anyio.pytest_plugin, so the way to switch it off is its module's name.
    pytest.importorskip(module)
    pytester.makepyfile(COUNTING_SUITE)
    if how == "-p":
        load = ["-p", plugin]
    else:
        pytester.makeconftest(f"pytest_plugins = [{plugin!r}]")
        load = []
    result = pytester.runpytest(*ISOLATE, *load, "-p", "alt_coop.enable", "-o", setting)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            f"ERROR: alt_coop and {who}* both run async tests; "
            f"switch the other off with -p no:{plugin} *"
        ]
    )


@pytest.mark.parametrize(
    ("module", "plugin", "suite", "notice"),
    [
        (
            "anyio",
            "anyio.pytest_plugin",
            "ANYIO_SUITE",
            "tests using anyio's anyio_backend*(-p no:anyio.pytest_plugin, in addopts)",
        ),
        ("pytest_trio", "pytest_trio.plugin", "TRIO_SUITE", "tests marked trio are run by*"),
        (
            "pytest_asyncio",
            "pytest_asyncio.plugin",
            "PYTEST_ASYNCIO_SUITE",
            "tests marked asyncio are run by*(-p no:pytest_asyncio.plugin, in addopts)",
        ),
    ],
    ids=["anyio", "pytest-trio", "pytest-asyncio"],
)
def test_tests_of_another_plugin_loaded_by_module_are_left_to_it(
    pytester: pytest.Pytester, module: str, plugin: str, suite: str, notice: str
) -> None:
    # Loaded by module (with autoload off, say), it runs its tests as when
    # autoloaded: set up on alt_coop's loop, their fixtures would fail. The
    # notice names the module, which is what -p no: must be given then.
    pytest.importorskip(module)
    pytester.makepyfile(globals()[suite])
    pytester.makeconftest(f"pytest_plugins = [{plugin!r}]")
    if module == "pytest_asyncio":
        pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    result = pytester.runpytest(*ISOLATE, "-p", "alt_coop.enable")
    result.assert_outcomes(passed=3 if module == "anyio" else 2, warnings=1)
    result.stdout.fnmatch_lines([f"*AltCoopWarning: alt_coop: {notice}"])


PYTEST_ASYNCIO_SUITE = """
import asyncio
import pytest

async def test_alt_coops():
    await asyncio.sleep(0)

@pytest.mark.asyncio
async def test_pytest_asyncios():
    await asyncio.sleep(0)
"""


def test_pytest_asyncio_in_strict_mode_leaves_unmarked_tests_to_alt_coop(
    pytester: pytest.Pytester,
) -> None:
    pytest.importorskip("pytest_asyncio")
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(COUNTING_SUITE)
    result = pytester.runpytest(*_without("asyncio"), "-p", "alt_coop.enable")
    result.assert_outcomes(passed=2)


def test_tests_left_to_pytest_asyncio_in_strict_mode_are_named(
    pytester: pytest.Pytester,
) -> None:
    # Its marked tests are its own, without alt_coop's timeout: one that
    # waits forever would hang the run with no word about why.
    pytest.importorskip("pytest_asyncio")
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        @pytest.mark.asyncio
        def test_sync_but_marked():  # pytest-asyncio leaves it alone too
            pass

        async def test_alt_coops():
            await asyncio.sleep(0.1)

        async def test_alt_coops_too():
            await asyncio.sleep(0.1)

        @pytest.mark.asyncio
        async def test_pytest_asyncios():
            await asyncio.sleep(0)
        """
    )
    result = pytester.runpytest(*_without("asyncio"), "-p", "alt_coop.enable")
    result.assert_outcomes(passed=4, warnings=2)  # the other is pytest-asyncio's own
    result.stdout.fnmatch_lines(
        [
            "*:16: AltCoopWarning: alt_coop: tests marked asyncio are run by pytest-asyncio (on,"
            " in strict mode), on its own loop, without alt_coop's timeouts or cooperative runs;"
            " to run them with alt_coop, switch pytest-asyncio off (-p no:asyncio, in addopts)",
            # Not among alt_coop's cooperative tests either (the sync one is).
            "alt_coop: 3 cooperative tests, at most 3 at once*",
        ]
    )


def test_a_plain_async_fixture_of_a_test_pytest_asyncio_runs_is_an_error(
    pytester: pytest.Pytester,
) -> None:
    # alt_coop set it up on its loop, and pytest-asyncio ran the test on its
    # own: a server the fixture started never answered, and the test hung.
    pytest.importorskip("pytest_asyncio")
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        import pytest_asyncio

        @pytest.fixture(scope="module")
        async def shared():
            yield asyncio.get_running_loop()

        async def test_alt_coops(shared):
            assert shared is asyncio.get_running_loop()

        @pytest_asyncio.fixture
        async def theirs():
            yield asyncio.get_running_loop()

        @pytest.mark.asyncio
        async def test_pytest_asyncios(shared):
            pass

        @pytest.mark.asyncio
        async def test_pytest_asyncios_with_its_own(theirs):
            assert theirs is asyncio.get_running_loop()

        class TestOverridden:
            @pytest_asyncio.fixture
            async def shared(self, shared):  # it still asks for the plain one
                yield shared

            @pytest.fixture
            async def other(self):
                yield

            @pytest.mark.asyncio
            async def test_pytest_asyncios_overriding_it(self, shared, other):
                pass

        async def test_alt_coops_after(shared):
            assert shared is asyncio.get_running_loop()
        """
    )
    result = pytester.runpytest(*_without("asyncio"), "-p", "alt_coop.enable", "-v")
    result.assert_outcomes(passed=3, errors=2)
    result.stdout.fnmatch_lines(
        [
            "*::test_pytest_asyncios ERROR*",
            "*::TestOverridden::test_pytest_asyncios_overriding_it ERROR*",
            "fixture 'shared' is a plain async fixture, which alt_coop sets up on its"
            " own loop, but test_pytest_asyncios is run by pytest-asyncio on another loop. Make"
            " it a @pytest_asyncio.fixture, or let alt_coop run the test (drop its asyncio mark)",
            "fixtures 'other', 'shared' are plain async fixtures, which alt_coop sets up on its"
            " own loop, but test_pytest_asyncios_overriding_it is run by pytest-asyncio on"
            " another loop. Make each a @pytest_asyncio.fixture, or let alt_coop run the test"
            " (drop its asyncio mark)",
        ]
    )


def test_a_plain_async_fixture_asked_for_at_run_time_by_a_pytest_asyncio_test_fails_it(
    pytester: pytest.Pytester,
) -> None:
    # Reached through request.getfixturevalue (a parametrized fixture's),
    # the fixture was set up on alt_coop's loop, which does not run while
    # pytest-asyncio runs the test: the server never answered, and the run hung.
    pytest.importorskip("pytest_asyncio")
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        async def echo(reader, writer):
            writer.write(await reader.readline())
            writer.close()

        @pytest.fixture
        async def echo_server():
            server = await asyncio.start_server(echo, "127.0.0.1", 0)
            yield server.sockets[0].getsockname()[:2]
            server.close()

        @pytest.fixture(params=["echo_server"])
        def server(request):
            return request.getfixturevalue(request.param)

        @pytest.mark.asyncio
        async def test_echo(server):
            reader, writer = await asyncio.open_connection(*server)
            writer.write(b"hello\\n")
            assert await reader.readline() == b"hello\\n"

        async def test_echo_on_alt_coops_loop(server):
            reader, writer = await asyncio.open_connection(*server)
            writer.write(b"hello\\n")
            assert await reader.readline() == b"hello\\n"

        # From its body, run by pytest-asyncio: said only that another loop ran.
        @pytest.mark.asyncio
        async def test_asks_in_its_body(request):
            request.getfixturevalue("echo_server")
        """
    )
    result = pytester.runpytest_subprocess(
        *_without("asyncio"), "-p", "alt_coop.enable", "-v", "-p", "no:randomly", timeout=30
    )
    result.assert_outcomes(passed=1, errors=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*::test_echo[[]echo_server[]] ERROR*",
            "*::test_asks_in_its_body FAILED*",
            "fixture 'echo_server' is a plain async fixture, which alt_coop sets up on its"
            " own loop, but test_echo[[]echo_server[]] is run by pytest-asyncio on another loop.*",
            "fixture 'echo_server' is a plain async fixture, which alt_coop sets up on its"
            " own loop, but test_asks_in_its_body is run by pytest-asyncio on another loop.*",
        ]
    )


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_a_pytest_asyncio_fixture_asked_for_while_alt_coops_loop_runs_says_what_to_do(
    pytester: pytest.Pytester, mode: str
) -> None:
    # pytest-asyncio sets its fixtures up by running a loop of its own,
    # which cannot start while alt_coop's runs (a test's body, a cooperative
    # test's fixtures): asyncio's "Runner.run() cannot be called from a
    # running event loop", from pytest-asyncio's code, said nothing of why.
    pytest.importorskip("pytest_asyncio")
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(
        """
        import pytest
        import pytest_asyncio

        @pytest_asyncio.fixture
        async def db_pool():
            yield "pool"

        @pytest.fixture(params=["db_pool"])
        def db(request):
            return request.getfixturevalue(request.param)

        async def test_by_a_fixture(db):
            assert db == "pool"

        async def test_by_its_body(request):
            assert request.getfixturevalue("db_pool") == "pool"

        async def test_by_argument(db_pool):
            assert db_pool == "pool"

        @pytest_asyncio.fixture
        def sync_one():  # it needs no loop of pytest-asyncio's
            return "sync"

        async def test_a_sync_one_by_its_body(request):
            assert request.getfixturevalue("sync_one") == "sync"
        """
    )
    mode_option = ["--asyncio-cooperative"] if mode == "cooperative" else []
    # With pytest-asyncio off, alt_coop sets its fixtures up like any other.
    off = pytester.runpytest(*ISOLATE, "-p", "alt_coop.enable", "-p", "no:warnings", *mode_option)
    off.assert_outcomes(passed=4)
    # In a process of its own: pytest-asyncio warns as its runner for the
    # refused fixture closes while alt_coop's loop runs, a warning that would
    # reach this session's.
    result = pytester.runpytest_subprocess(
        *_without("asyncio"), "-p", "alt_coop.enable", "-p", "no:warnings", *mode_option
    )
    output = result.stdout.str()
    assert "Runner.run() cannot be called" not in output, output
    message = (
        "pytest-asyncio's fixture 'db_pool' was asked for through request.getfixturevalue "
        "while alt_coop's loop runs*. Ask for it as an argument of the test*"
    )
    result.stdout.fnmatch_lines([f"*{message}"])
    # A sequential sync fixture's request runs before the loop does.
    by_a_fixture = 1 if mode == "cooperative" else 0
    result.assert_outcomes(passed=3 - by_a_fixture, failed=1, errors=by_a_fixture)


def _run_with_pytest_asyncio(
    pytester: pytest.Pytester, loaded: str
) -> tuple[pytest.RunResult, str]:
    """The run's result with pytest-asyncio ``loaded`` by its entry point or
    by module, and the name ``-p no:`` switches it off by."""
    if loaded == "by module":
        pytester.makeconftest("pytest_plugins = ['pytest_asyncio.plugin']")
        args, name = [*ISOLATE], "pytest_asyncio.plugin"
    else:
        args, name = _without("asyncio"), "asyncio"
    return pytester.runpytest(*args, "-p", "alt_coop.enable"), name


@pytest.mark.parametrize("loaded", ["autoloaded", "by module"])
def test_cooperative_tests_using_pytest_asyncios_fixtures_run_alone(
    pytester: pytest.Pytester, loaded: str
) -> None:
    # pytest-asyncio sets its fixtures up with a loop of its own, which
    # cannot start while alt_coop's runs a batch: such tests run alone.
    # (Loaded by module, the notice said to switch it off by its entry
    # point's name, which does not.)
    pytest.importorskip("pytest_asyncio")
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        import pytest_asyncio

        pytestmark = pytest.mark.asyncio_cooperative

        @pytest_asyncio.fixture
        async def theirs():
            yield "theirs"

        @pytest.fixture
        def through_theirs(theirs):
            return theirs

        async def test_direct(theirs):
            await asyncio.sleep(0.01)
            assert theirs == "theirs"

        async def test_through_a_fixture(through_theirs):
            assert through_theirs == "theirs"

        def test_plain_def(theirs):
            assert theirs == "theirs"

        async def test_still_cooperative():
            await asyncio.sleep(0.01)
        """
    )
    result, name = _run_with_pytest_asyncio(pytester, loaded)
    # The other warning: the fixture is on pytest-asyncio's loop (the next test).
    result.assert_outcomes(passed=4, warnings=2)
    result.stdout.fnmatch_lines(
        [
            "*AltCoopWarning: alt_coop: tests using pytest-asyncio's fixtures (theirs) run "
            "alone (pytest-asyncio sets them up on a loop of its own, which cannot start while "
            "alt_coop's runs); to run them cooperatively, make them plain @pytest.fixture "
            f"fixtures and switch pytest-asyncio off (-p no:{name})",
            "alt_coop: 1 cooperative test, at most 1 at once*",
        ]
    )


@pytest.mark.parametrize("loaded", ["autoloaded", "by module"])
def test_async_tests_using_pytest_asyncios_fixtures_are_told_it_is_on_its_loop(
    pytester: pytest.Pytester, loaded: str
) -> None:
    # pytest-asyncio on, in strict mode: an async test it is not asked to run
    # is alt_coop's, on the session loop, while pytest-asyncio sets the
    # fixture up on its own. A server made there never answered the test,
    # which timed out with nothing saying why.
    pytest.importorskip("pytest_asyncio")
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        import pytest_asyncio

        @pytest_asyncio.fixture(scope="module", loop_scope="module")
        async def loop_of_fixture():
            yield asyncio.get_running_loop()

        async def test_alt_coops(loop_of_fixture):
            assert loop_of_fixture is not asyncio.get_running_loop()

        async def test_alt_coops_too(loop_of_fixture):
            pass

        @pytest.mark.asyncio(loop_scope="module")
        async def test_pytest_asyncios(loop_of_fixture):
            assert loop_of_fixture is asyncio.get_running_loop()
        """
    )
    result, name = _run_with_pytest_asyncio(pytester, loaded)
    result.assert_outcomes(passed=3, warnings=2)  # and: tests marked asyncio are its own
    result.stdout.fnmatch_lines(
        [
            "*test_alt_coops*",
            "*AltCoopWarning: alt_coop: pytest-asyncio's fixture 'loop_of_fixture' is set up on "
            "a loop of pytest-asyncio's, not on the session loop the async tests using it run "
            "on (those not marked asyncio): what it holds that belongs to its loop (a server, "
            "a connection, a task) does not work in them. Mark those tests asyncio to leave "
            "them to pytest-asyncio, or make it a plain @pytest.fixture and switch "
            f"pytest-asyncio off (-p no:{name})",
        ]
    )
    assert result.stdout.str().count("fixture 'loop_of_fixture' is set up on") == 1


@pytest.mark.parametrize("cooperative", [False, True], ids=["sequential", "cooperative"])
def test_pytest_asyncios_mark_is_accepted_without_it(
    pytester: pytest.Pytester, cooperative: bool
) -> None:
    # A suite moving from pytest-asyncio keeps its marks: under
    # --strict-markers they must not be unknown, and they change nothing.
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.mark.asyncio
        async def test_marked():
            await asyncio.sleep(0)

        @pytest.mark.asyncio(loop_scope="module")
        async def test_marked_with_a_scope():
            await asyncio.sleep(0)
        """
    )
    args = ["--asyncio-cooperative"] if cooperative else []
    result = pytester.runpytest(*ISOLATE, "-p", "alt_coop.enable", "--strict-markers", *args)
    result.assert_outcomes(passed=2)


def test_pytest_asyncios_loop_fixtures_left_in_a_suite_are_named(
    pytester: pytest.Pytester,
) -> None:
    # They chose the loop under pytest-asyncio; alt_coop never uses them, and
    # says so once each, at the first test they apply to. A module attribute
    # of the same name that is no fixture is not one of them.
    pytester.makeconftest(
        """
        import asyncio
        import pytest

        @pytest.fixture(params=["default", "other"])
        def event_loop_policy(request):
            return asyncio.DefaultEventLoopPolicy()
        """
    )
    pytester.makepyfile(
        test_a="""
        import asyncio
        import pytest

        @pytest.fixture
        def event_loop():
            loop = asyncio.new_event_loop()
            yield loop
            loop.close()

        async def test_one():
            await asyncio.sleep(0)

        async def test_two(event_loop):
            assert event_loop is not asyncio.get_running_loop()
        """,
        test_b="""
        import asyncio

        event_loop = None

        async def test_three():
            await asyncio.sleep(0)
        """,
    )
    # Filtered as warnings of the module that defines it.
    result = pytester.runpytest(
        *ISOLATE, "-p", "alt_coop.enable", "-W", "ignore::alt_coop.errors.AltCoopWarning:conftest"
    )
    result.assert_outcomes(passed=3, warnings=1)
    result = pytester.runpytest(*ISOLATE, "-p", "alt_coop.enable")
    result.assert_outcomes(passed=3, warnings=2)
    # Each at the line that defines it.
    result.stdout.fnmatch_lines_random(
        [
            "*test_a.py:4: AltCoopWarning: alt_coop: the event_loop fixture (pytest-asyncio's"
            " name) chooses no loop: every async test runs on alt_coop's session loop."
            " To choose the loop class,"
            " run the session on a loop of yours:"
            " pytest.main(args, plugins=?alt_coop.Plugin(managed_loop=loop)?)",
            "*conftest.py:4: AltCoopWarning: alt_coop: the event_loop_policy fixture"
            " (pytest-asyncio's name) chooses no loop*",
        ]
    )


def test_a_loop_fixture_imported_into_a_conftest_is_named_where_it_is_written(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        loop_helpers="""
        import asyncio
        import pytest

        @pytest.fixture
        def event_loop_policy():
            return asyncio.DefaultEventLoopPolicy()
        """
    )
    pytester.makeconftest("from loop_helpers import event_loop_policy\n")
    pytester.makepyfile(
        test_one="""
        import asyncio

        async def test_one():
            await asyncio.sleep(0)
        """
    )
    result = pytester.runpytest(*ISOLATE, "-p", "alt_coop.enable", "-p", "no:randomly")
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "*loop_helpers.py:4: AltCoopWarning: alt_coop: the event_loop_policy fixture"
            " (pytest-asyncio's name) chooses no loop*"
        ]
    )
    # Filtered as a warning of that module, as it is shown.
    result = pytester.runpytest(
        *ISOLATE,
        "-p",
        "alt_coop.enable",
        "-W",
        "ignore::alt_coop.errors.AltCoopWarning:loop_helpers",
    )
    result.assert_outcomes(passed=1, warnings=0)


@pytest.mark.parametrize("where", ["class", "plugin module"])
def test_a_loop_fixture_in_a_class_or_a_plugin_module_is_named(
    pytester: pytest.Pytester, where: str
) -> None:
    # Only test modules and conftests were looked at: the test failed on
    # the loop it had not chosen, and nothing said why.
    if where == "class":
        pytester.makepyfile(
            test_one="""
            import asyncio
            import pytest

            class TestOne:
                @pytest.fixture(scope="class")
                def event_loop_policy(self):
                    return asyncio.DefaultEventLoopPolicy()

                async def test_one(self):
                    await asyncio.sleep(0)
            """
        )
        written = "test_one.py:5"
    else:
        pytester.makepyfile(
            loop_fixtures="""
            import asyncio
            import pytest

            @pytest.fixture(scope="session")
            def event_loop_policy():
                return asyncio.DefaultEventLoopPolicy()
            """,
            test_one="""
            import asyncio

            async def test_one():
                await asyncio.sleep(0)
            """,
        )
        pytester.makeconftest("pytest_plugins = ['loop_fixtures']\n")
        pytester.syspathinsert()
        written = "loop_fixtures.py:4"
    result = pytester.runpytest(*ISOLATE, "-p", "alt_coop.enable")
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(
        [
            f"*{written}: AltCoopWarning: alt_coop: the event_loop_policy fixture"
            " (pytest-asyncio's name) chooses no loop*"
        ]
    )


def test_pytest_asyncios_loop_factories_hook_left_in_a_suite_is_named(
    pytester: pytest.Pytester,
) -> None:
    # Its loops, which pytest-asyncio's mark chose by name, are never made:
    # the tests failed on the loop they had not chosen, with nothing said.
    pytester.makeconftest(
        """
        import asyncio
        import pytest

        class MyLoop(asyncio.SelectorEventLoop):
            pass

        @pytest.hookimpl(optionalhook=True)
        def pytest_asyncio_loop_factories(config, item):
            return {"mine": MyLoop}
        """
    )
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.asyncio(loop_factories=["mine"])
        async def test_marked():
            pass
        """
    )
    result = pytester.runpytest(*ISOLATE, "-p", "alt_coop.enable")
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "*conftest.py:7: AltCoopWarning: alt_coop: the pytest_asyncio_loop_factories hook "
            "(pytest-asyncio's) chooses no loop: every async test runs on alt_coop's session "
            "loop. To choose the loop class, run the session on a loop of yours*"
        ]
    )


def test_a_hypothesis_test_marked_for_pytest_asyncio_is_its_own(
    pytester: pytest.Pytester,
) -> None:
    pytest.importorskip("pytest_asyncio")
    pytest.importorskip("hypothesis")
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        from hypothesis import given, settings, strategies as st

        pytestmark = pytest.mark.asyncio_cooperative

        @pytest.mark.asyncio
        @settings(max_examples=3)
        @given(st.integers())
        async def test_property(n):
            await asyncio.sleep(0)

        async def test_alt_coops():
            await asyncio.sleep(0)
        """
    )
    result = pytester.runpytest(*_without("asyncio", "hypothesispytest"), "-p", "alt_coop.enable")
    result.assert_outcomes(passed=2, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "*AltCoopWarning: alt_coop: tests marked asyncio are run by pytest-asyncio*",
            "alt_coop: 1 cooperative test, at most 1 at once*",
        ]
    )


ANYIO_SUITE = """
import asyncio
import pytest

LOOPS = {}

@pytest.fixture
def anyio_backend():
    return "asyncio"

@pytest.fixture
async def fixture_loop():
    return asyncio.get_running_loop()

@pytest.mark.anyio
async def test_anyios(fixture_loop):
    LOOPS["anyio"] = asyncio.get_running_loop()
    assert fixture_loop is LOOPS["anyio"]

async def test_alt_coops():
    LOOPS["alt_coop"] = asyncio.get_running_loop()

def test_each_ran_on_its_own_loop():
    assert LOOPS["anyio"] is not LOOPS["alt_coop"]
"""


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_tests_using_anyio_backend_are_anyios(pytester: pytest.Pytester, mode: str) -> None:
    # anyio's plugin, on wherever anyio is installed, runs them on the
    # backend anyio_backend names: taken onto alt_coop's loop, a trio test
    # would pass without ever running on trio.
    pytest.importorskip("anyio")
    pytester.makepyfile(ANYIO_SUITE)
    result = pytester.runpytest(*_without("anyio"), "-p", "alt_coop.enable", *mode_args(mode))
    result.assert_outcomes(passed=3, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "*:14: AltCoopWarning: alt_coop: tests using anyio's anyio_backend fixture (those "
            "marked anyio) are run by anyio's plugin, on the backend it names (asyncio on a loop "
            "of its own, or trio), without alt_coop's timeouts or cooperative runs; to run them "
            "with alt_coop, drop the anyio mark and switch anyio's plugin off (-p no:anyio, in "
            "addopts)",
        ]
    )
    if mode == "cooperative":  # the anyio test is not among them
        result.stdout.fnmatch_lines(["alt_coop: 1 cooperative test, at most 1 at once*"])


def test_a_hand_off_notice_hidden_by_one_tests_filterwarnings_mark_is_told_at_the_next(
    pytester: pytest.Pytester,
) -> None:
    pytest.importorskip("anyio")
    pytester.makepyfile(
        """
        import pytest

        @pytest.fixture
        def anyio_backend():
            return "asyncio"

        @pytest.mark.filterwarnings("ignore")
        @pytest.mark.anyio
        async def test_hiding_it():
            pass

        @pytest.mark.anyio
        async def test_next():
            pass
        """
    )
    result = pytester.runpytest(*_without("anyio"), "-p", "alt_coop.enable")
    result.assert_outcomes(passed=2, warnings=1)
    result.stdout.fnmatch_lines(
        ["*::test_next", "*:12: AltCoopWarning: alt_coop: tests using anyio's anyio_backend*"]
    )


TRIO_SUITE = """
import asyncio
import pytest
import trio

@pytest.fixture
async def trio_fixture():
    await trio.sleep(0)
    yield "set up on trio"
    await trio.sleep(0)

@pytest.fixture
async def asyncio_fixture():
    await asyncio.sleep(0)
    return "set up on asyncio"

@pytest.mark.trio
async def test_trios(trio_fixture):
    await trio.sleep(0.01)
    assert trio_fixture == "set up on trio"

async def test_alt_coops(asyncio_fixture):
    await asyncio.sleep(0.01)
    assert asyncio_fixture == "set up on asyncio"
"""


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_tests_marked_trio_are_pytest_trios(pytester: pytest.Pytester, mode: str) -> None:
    # pytest-trio runs them, and their async fixtures, with trio.run: set up
    # on alt_coop's loop, a fixture awaiting trio fails.
    pytest.importorskip("pytest_trio")
    pytester.makepyfile(TRIO_SUITE)
    result = pytester.runpytest(*_without("trio"), "-p", "alt_coop.enable", *mode_args(mode))
    result.assert_outcomes(passed=2, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "*:16: AltCoopWarning: alt_coop: tests marked trio are run by pytest-trio, with their "
            "async fixtures, on trio, without alt_coop's timeouts or cooperative runs",
        ]
    )
    if mode == "cooperative":  # the trio test is not among them
        result.stdout.fnmatch_lines(["alt_coop: 1 cooperative test, at most 1 at once*"])


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_tests_for_trio_fail_saying_their_plugin_is_off(
    pytester: pytest.Pytester, mode: str
) -> None:
    # Run on asyncio, a trio test failed deep in asyncio ("Task got bad
    # yield"), and an anyio test asking for trio passed without it.
    pytester.makepyfile(
        """
        import pytest

        TRIO = ("trio", {"restrict_keyboard_interrupt_to_checkpoints": True})

        @pytest.fixture(params=["asyncio", TRIO])
        def anyio_backend(request):
            return request.param

        @pytest.mark.anyio
        async def test_on_either(anyio_backend):
            pass

        @pytest.mark.trio
        async def test_trios():
            pass

        @pytest.mark.trio
        def test_plain():
            pass
        """
    )
    result = pytester.runpytest(*ISOLATE, "-p", "alt_coop.enable", "-rA", *mode_args(mode))
    result.assert_outcomes(passed=2, errors=2)
    result.stdout.fnmatch_lines_random(
        [
            "PASSED *::test_on_either[[]asyncio[]]",
            "PASSED *::test_plain",
            "ERROR *::test_on_either[[]anyio_backend1[]]*",
            "ERROR *::test_trios*",
            "*::test_on_either[[]anyio_backend1[]] asks anyio for its 'trio' backend "
            "(anyio_backend), but anyio's pytest plugin is off: alt_coop runs async tests on "
            "asyncio. Switch anyio's plugin on (drop -p no:anyio) to run it on trio, or take "
            "'trio' out of anyio_backend's values",
            "*::test_trios is marked trio, but pytest-trio is off: "
            "alt_coop runs async tests on asyncio, where trio's code fails. Switch pytest-trio "
            "on (install it; drop -p no:trio) to run it on trio, or drop the mark to run it "
            "on asyncio",
        ]
    )
    assert "bad yield" not in result.stdout.str()


@pytest.mark.parametrize("name", ["asyncio-cooperative", "pytest_asyncio_cooperative.plugin"])
def test_pytest_asyncio_cooperative_is_a_usage_error(pytester: pytest.Pytester, name: str) -> None:
    # Its mark is alt_coop's. A stand-in registered under its entry point's
    # name, or its module's (loaded by -p or pytest_plugins).
    pytester.makeconftest(
        f"""
        def pytest_addoption(parser, pluginmanager):
            pluginmanager.register(object(), {name!r})
        """
    )
    pytester.makepyfile(COUNTING_SUITE)
    result = pytester.runpytest(*_without("asyncio-cooperative"), "-p", "alt_coop.enable")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "*alt_coop and pytest-asyncio-cooperative both run async tests; "
            f"switch the other off with -p no:{name} *"
        ]
    )


def install_peers(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """Stand-ins for pytest-asyncio-cooperative and alt-pytest-asyncio, installed
    (found by their entry points) with the options alt_coop shares names with."""
    pytester.makepyfile(
        fake_cooperative="""
        def pytest_addoption(parser):
            parser.addoption("--max-asyncio-tasks", action="store", default=None)
            parser.addini("max_asyncio_tasks", "its own", default=100)
            parser.addoption("--asyncio-task-timeout", action="store", default=None)
            parser.addini("asyncio_task_timeout", "its own", default=600)

        def pytest_report_header(config):
            return f"peer max tasks {config.getoption('max_asyncio_tasks')}"
        """,
        fake_alt_pytest_asyncio="""
        def pytest_addoption(parser):
            group = parser.getgroup("alt-pytest-asyncio")
            group.addoption("--default-async-timeout", type=float, dest="default_async_timeout")
            parser.addini("default_async_timeout", "its own")
        """,
    )
    dist_info = pytester.mkdir("fake_peers-1.0.dist-info")
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-peers\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text(
        "[pytest11]\nasyncio-cooperative = fake_cooperative\n"
        "alt_pytest_asyncio = fake_alt_pytest_asyncio\n"
    )
    monkeypatch.setenv("PYTHONPATH", str(pytester.path))


def test_installed_beside_peers_sharing_its_option_names(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every pytest run failed at startup (argparse: conflicting option
    # string), with alt_coop switched off too.
    install_peers(pytester, monkeypatch)
    pytester.makepyfile("def test_sync():\n    pass\n")
    args = _without("asyncio-cooperative", "alt_pytest_asyncio")

    off = pytester.runpytest_subprocess(
        *args, "--max-asyncio-tasks=7", "--default-async-timeout=3"
    )
    off.assert_outcomes(passed=1)
    off.stdout.fnmatch_lines(["peer max tasks 7"])

    on = pytester.runpytest_subprocess(*args, "-p", "alt_coop.enable")
    assert on.ret == pytest.ExitCode.USAGE_ERROR
    on.stderr.fnmatch_lines(
        [
            "*alt_coop and pytest-asyncio-cooperative both run async tests; switch the other "
            "off with -p no:asyncio-cooperative*"
        ]
    )

    alone = pytester.runpytest_subprocess(
        *args,
        *("-p", "no:asyncio-cooperative", "-p", "no:alt_pytest_asyncio", "-p", "alt_coop.enable"),
        "--max-asyncio-tasks=0",
    )
    assert alone.ret == pytest.ExitCode.USAGE_ERROR
    alone.stderr.fnmatch_lines(["*--max-asyncio-tasks*must be a positive whole number*"])


@pytest.mark.parametrize("alt_coop_first", [True, False])
def test_peers_loaded_by_their_modules_keep_their_options(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, alt_coop_first: bool
) -> None:
    # ``-p pytest_asyncio_cooperative.plugin``, autoload off: pytest stopped
    # at startup on the clashing option names, alt_coop on or off.
    install_peers(pytester, monkeypatch)
    for package, plugin in {
        "pytest_asyncio_cooperative": "fake_cooperative",
        "alt_pytest_asyncio": "fake_alt_pytest_asyncio",
    }.items():
        pytester.mkpydir(package)
        (pytester.path / package / "plugin.py").write_text(
            (pytester.path / f"{plugin}.py").read_text()
        )
    pytester.makepyfile("def test_sync():\n    pass\n")
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    peers = ("-p", "pytest_asyncio_cooperative.plugin", "-p", "alt_pytest_asyncio.plugin")

    def run(alt_coop: str, *args: str) -> pytest.RunResult:
        plugins = ("-p", alt_coop, *peers) if alt_coop_first else (*peers, "-p", alt_coop)
        return pytester.runpytest_subprocess("-p", "no:cacheprovider", *plugins, *args)

    off = run("alt_coop.pytest_plugin", "--max-asyncio-tasks=7", "--default-async-timeout=3")
    off.assert_outcomes(passed=1)
    off.stdout.fnmatch_lines(["peer max tasks 7"])

    on = run("alt_coop.enable")
    assert on.ret == pytest.ExitCode.USAGE_ERROR
    on.stderr.fnmatch_lines(
        [
            "*alt_coop and pytest-asyncio-cooperative both run async tests; switch the other "
            "off with -p no:pytest_asyncio_cooperative.plugin*"
        ]
    )


@pytest.mark.parametrize("listed_in", ["-p", "pytest_plugins"])
def test_alt_pytest_asyncios_engine_from_its_enable_module_is_refused(
    pytester: pytest.Pytester, listed_in: str
) -> None:
    # alt-pytest-asyncio's README has suites list alt_pytest_asyncio.enable,
    # which registers its engine in its own pytest_configure: -p
    # no:alt_pytest_asyncio (what the error said) did not stop it, and every
    # async test failed inside alt-pytest-asyncio.
    pytester.syspathinsert()
    package = pytester.mkpydir("alt_pytest_asyncio")
    (package / "enable.py").write_text(
        "class AltPytestAsyncioPlugin:\n"
        "    def pytest_pyfunc_call(self, pyfuncitem):\n"
        "        raise AssertionError('alt-pytest-asyncio ran the test')\n"
        "\n"
        "def pytest_configure(config):\n"
        "    config.pluginmanager.register(AltPytestAsyncioPlugin())\n"
    )
    pytester.makepyfile("async def test_async():\n    pass\n")
    args = [*ISOLATE, "-p", "alt_coop.enable"]
    if listed_in == "-p":
        args += ["-p", "alt_pytest_asyncio.enable"]
    else:
        pytester.makeconftest("pytest_plugins = ['alt_pytest_asyncio.enable']")
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: alt_coop and alt-pytest-asyncio both run async tests; remove "
            "alt_pytest_asyncio.enable (from -p options, addopts and pytest_plugins) and "
            "switch its plugin off with -p no:alt_pytest_asyncio"
        ]
    )
    result.stdout.no_fnmatch_line("*alt-pytest-asyncio ran the test*")


@pytest.mark.parametrize("loaded_by", ["entry point", "module"])
def test_engine_off_leaves_pytest_asyncios_projects_to_pytest(
    pytester: pytest.Pytester, loaded_by: str
) -> None:
    # An async test pytest-asyncio (strict mode) was not asked to run: what
    # pytest says about it stands, not advice to switch alt_coop on.
    pytest.importorskip("pytest_asyncio")
    pytester.makepyfile(
        """
        import pytest

        async def test_unmarked():
            pass

        @pytest.mark.asyncio
        async def test_marked():
            pass
        """
    )
    pytester.makeini(
        "[pytest]\nasyncio_mode = strict\nasyncio_default_fixture_loop_scope = function\n"
    )
    if loaded_by == "module":
        result = pytester.runpytest(*ISOLATE, "-p", "pytest_asyncio.plugin", "-rA")
    else:
        result = pytester.runpytest(*_without("asyncio"), "-rA")
    assert "alt_coop engine" not in result.stdout.str()
    result.stdout.fnmatch_lines(["*async def functions are not natively supported*"])
    result.stdout.fnmatch_lines(["PASSED *::test_marked"])


def test_installed_but_not_enabled_leaves_sync_suites_alone(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_sync():\n    pass\n")
    pytester.runpytest(*ISOLATE).assert_outcomes(passed=1)


def test_async_fixture_is_not_run_silently_when_engine_is_off(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.fixture
        async def thing():
            return 1

        async def test_uses(thing):
            pass
        """
    )
    result = pytester.runpytest(*ISOLATE)
    assert result.ret != 0
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*the alt_coop engine is not enabled*"])


def test_asyncio_imported_afresh_is_a_usage_error(pytester: pytest.Pytester) -> None:
    # As pytester's in-process runs may leave it, dropping what each
    # imported: asyncio's C tasks (kept) raise the first import's
    # CancelledError, which the fresh asyncio does not catch (a cap's
    # cancellation went unseen, and the test's thread was left running).
    pytester.makepyfile(
        test_capped="""
        import time
        import pytest

        @pytest.mark.asyncio_cooperative
        def test_gives_up():
            time.sleep(0.6)
            pytest.exit("giving up", returncode=3)
        """
    )
    script = pytester.makepyfile(
        drive=f"""
        import sys

        import asyncio

        for name in [name for name in sys.modules if name.partition(".")[0] == "asyncio"]:
            del sys.modules[name]

        import pytest

        args = [*{ISOLATE!r}, "-p", "alt_coop.enable", "--asyncio-task-timeout=0.2"]
        print("EXIT CODE", int(pytest.main([*args, "test_capped.py"])))
        """
    )
    result = pytester.run(sys.executable, str(script), timeout=60)
    result.stdout.fnmatch_lines(["EXIT CODE 4"])
    result.stderr.fnmatch_lines(
        [
            "ERROR: alt_coop: asyncio was imported afresh in this process after its modules "
            "were dropped from sys.modules (*), and its tasks raise the first import's "
            "CancelledError, which the fresh asyncio does not catch. Import asyncio in the "
            "outer process (`import asyncio` in its conftest.py), or run pytest in a "
            "subprocess (runpytest_subprocess())"
        ]
    )
    assert "giving up" not in result.stdout.str()
