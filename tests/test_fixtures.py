"""Async fixtures: every scope, params, finalizers, overrides and errors.

Fixtures in the sessions under test record what happens as lines in an event
file under ``pytester.path``; the outer test reads the file back once the
whole inner session (its teardown included) is over.
"""

from __future__ import annotations

import sys
import textwrap

import pytest
from conftest import WRAPPERS, line_of, mode_args

LOG_HELPER = """
import asyncio

LOG = {path!r}
LOOPS = []  # keeps every loop seen alive, so two loops cannot share an id


def log(event, *, loop=True):
    if loop:
        running = asyncio.get_running_loop()
        LOOPS.append(running)
        event = f"{{event}} @{{id(running)}}"
    with open(LOG, "a") as f:
        f.write(event + "\\n")
"""


def log_conftest(pytester: pytest.Pytester, body: str = "") -> None:
    """A conftest.py with ``log(event)`` writing to the event file, plus ``body``."""
    path = str(pytester.path / "events.txt")
    pytester.makeconftest(LOG_HELPER.format(path=path) + textwrap.dedent(body))


def read_events(pytester: pytest.Pytester) -> list[str]:
    path = pytester.path / "events.txt"
    if not path.exists():
        return []
    return path.read_text().splitlines()


def split_loops(events: list[str]) -> tuple[list[str], set[str]]:
    """The events without their ``@loop-id`` suffix, and the loop ids seen."""
    names, loops = [], set()
    for event in events:
        name, sep, loop = event.rpartition(" @")
        assert sep, f"event without a loop id: {event!r}"
        names.append(name)
        loops.add(loop)
    return names, loops


# -- scopes -------------------------------------------------------------------

SCOPED_FIXTURES = """
import asyncio

import pytest

{fixtures}
"""

SCOPE_FIXTURE_TEMPLATE = """
@pytest.fixture(scope={scope!r})
async def {prefix}_coro():
    await asyncio.sleep(0)
    log("setup {prefix}_coro")
    return "{prefix}"


@pytest.fixture(scope={scope!r})
async def {prefix}_gen({prefix}_coro):
    await asyncio.sleep(0)
    log("setup {prefix}_gen")
    yield {prefix}_coro + "-gen"
    await asyncio.sleep(0)
    log("teardown {prefix}_gen")
"""


def test_async_fixtures_of_every_scope_share_the_session_loop(pytester, run_alt):
    scopes = [("s", "session"), ("m", "module"), ("c", "class"), ("f", "function")]
    fixtures = "\n".join(
        SCOPE_FIXTURE_TEMPLATE.format(prefix=prefix, scope=scope) for prefix, scope in scopes
    )
    log_conftest(pytester, SCOPED_FIXTURES.format(fixtures=fixtures))
    # A package-scoped fixture lives as long as the package that defines it:
    # each package defines its own, from the same template.
    package_fixtures = SCOPED_FIXTURES.format(
        fixtures=SCOPE_FIXTURE_TEMPLATE.format(prefix="p", scope="package")
    )
    for package in ("pkg_a", "pkg_b"):
        pytester.mkpydir(package)
        pytester.makepyfile(
            **{f"{package}/conftest": "from conftest import log\n" + package_fixtures}
        )

    def in_class(name: str) -> str:
        return f"""
    async def {name}(self, s_gen, p_gen, m_gen, c_gen, f_gen):
        assert (s_gen, p_gen, m_gen, c_gen, f_gen) == ("s-gen", "p-gen", "m-gen", "c-gen", "f-gen")
        log("{name}")
"""

    def module_level(name: str) -> str:
        return f"""
async def {name}(s_gen, p_gen, m_gen, f_gen):
    assert (s_gen, p_gen, m_gen, f_gen) == ("s-gen", "p-gen", "m-gen", "f-gen")
    log("{name}")
"""

    header = "from conftest import log\n"
    pytester.makepyfile(
        **{
            "pkg_a/test_a1": header
            + "\nclass TestOne:"
            + in_class("test_1")
            + in_class("test_2")
            + "\nclass TestTwo:"
            + in_class("test_3")
            + module_level("test_4"),
            "pkg_a/test_a2": header + module_level("test_5"),
            "pkg_b/test_b1": header + module_level("test_6"),
        }
    )
    result = run_alt("-v")
    result.assert_outcomes(passed=6)
    names, loops = split_loops(read_events(pytester))
    up = ["setup s_coro", "setup s_gen"]
    up_p = ["setup p_coro", "setup p_gen"]
    up_m = ["setup m_coro", "setup m_gen"]
    up_c = ["setup c_coro", "setup c_gen"]
    up_f = ["setup f_coro", "setup f_gen"]
    assert names == [
        # pkg_a/test_a1.py, class TestOne
        *up, *up_p, *up_m, *up_c, *up_f, "test_1", "teardown f_gen",
        *up_f, "test_2", "teardown f_gen", "teardown c_gen",
        # class TestTwo: a new class instance of the class-scoped fixtures
        *up_c, *up_f, "test_3", "teardown f_gen", "teardown c_gen",
        # module-level test, last in the module
        *up_f, "test_4", "teardown f_gen", "teardown m_gen",
        # pkg_a/test_a2.py, last module of pkg_a
        *up_m, *up_f, "test_5", "teardown f_gen", "teardown m_gen", "teardown p_gen",
        # pkg_b: a new package instance; then the session ends
        *up_p, *up_m, *up_f, "test_6",
        "teardown f_gen", "teardown m_gen", "teardown p_gen", "teardown s_gen",
    ]  # fmt: skip
    assert len(loops) == 1, f"async fixtures and tests ran on {len(loops)} loops: {loops}"


def test_package_scoped_async_fixture_from_package_conftest(pytester, run_alt):
    log_conftest(pytester)
    pytester.mkpydir("pkg")
    pytester.makepyfile(
        **{
            "pkg/conftest": """
                import asyncio
                import pytest
                from conftest import log

                @pytest.fixture(scope="package")
                async def pkg_resource():
                    await asyncio.sleep(0)
                    log("setup pkg_resource")
                    yield "resource"
                    await asyncio.sleep(0)
                    log("teardown pkg_resource")
                """,
            "pkg/test_one": """
                from conftest import log

                async def test_one(pkg_resource):
                    assert pkg_resource == "resource"
                    log("test_one")

                def test_one_sync(pkg_resource):
                    assert pkg_resource == "resource"
                    log("test_one_sync", loop=False)
                """,
            "pkg/test_two": """
                from conftest import log

                async def test_two(pkg_resource):
                    assert pkg_resource == "resource"
                    log("test_two")
                """,
            "test_outside": """
                from conftest import log

                async def test_outside():
                    log("test_outside")
                """,
        }
    )
    result = run_alt()
    result.assert_outcomes(passed=4)
    names, loops = split_loops([e for e in read_events(pytester) if e != "test_one_sync"])
    assert "test_one_sync" in read_events(pytester)
    assert names == [
        "setup pkg_resource",
        "test_one",
        "test_two",
        "teardown pkg_resource",
        "test_outside",
    ]
    assert len(loops) == 1


# -- params -------------------------------------------------------------------


def test_params_on_async_fixtures(pytester, run_alt):
    log_conftest(pytester)
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        from conftest import log

        @pytest.fixture(params=[1, 2, 3], ids=["one", "two", "three"])
        async def number(request):
            await asyncio.sleep(0)
            return request.param * 10

        @pytest.fixture(params=["x", "y"])
        async def letter(request):
            await asyncio.sleep(0)
            log(f"setup letter {request.param}")
            yield request.param.upper()
            log(f"teardown letter {request.param}")

        async def test_number(number):
            log(f"test_number {number}")

        def test_letter(letter):
            log(f"test_letter {letter}", loop=False)
        """
    )
    result = run_alt("-v")
    result.assert_outcomes(passed=5)
    result.stdout.fnmatch_lines(
        [
            "*::test_number[[]one[]] PASSED*",
            "*::test_number[[]two[]] PASSED*",
            "*::test_number[[]three[]] PASSED*",
            "*::test_letter[[]x[]] PASSED*",
            "*::test_letter[[]y[]] PASSED*",
        ]
    )
    events = [e.partition(" @")[0] for e in read_events(pytester)]
    assert events == [
        "test_number 10",
        "test_number 20",
        "test_number 30",
        "setup letter x",
        "test_letter X",
        "teardown letter x",
        "setup letter y",
        "test_letter Y",
        "teardown letter y",
    ]


def test_indirect_parametrization_of_async_fixtures(pytester, run_alt):
    log_conftest(pytester)
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        from conftest import log

        @pytest.fixture
        async def word(request):
            await asyncio.sleep(0)
            return request.param.upper()

        @pytest.fixture
        async def wrapped(request):
            await asyncio.sleep(0)
            log(f"setup wrapped {request.param}")
            yield f"<{request.param}>"
            log(f"teardown wrapped {request.param}")

        @pytest.mark.parametrize("word", ["a", "b"], indirect=True)
        async def test_async(word):
            log(f"test_async {word}")

        @pytest.mark.parametrize("word", ["c"], indirect=True)
        def test_sync(word):
            log(f"test_sync {word}", loop=False)

        @pytest.mark.parametrize(("wrapped", "plain"), [("d", 1), ("e", 2)], indirect=["wrapped"])
        async def test_mixed(wrapped, plain):
            log(f"test_mixed {wrapped} {plain}")
        """
    )
    result = run_alt("-v")
    result.assert_outcomes(passed=5)
    result.stdout.fnmatch_lines(["*::test_async[[]a[]] PASSED*", "*::test_mixed[[]e-2[]] PASSED*"])
    events = [e.partition(" @")[0] for e in read_events(pytester)]
    assert events == [
        "test_async A",
        "test_async B",
        "test_sync C",
        "setup wrapped d",
        "test_mixed <d> 1",
        "teardown wrapped d",
        "setup wrapped e",
        "test_mixed <e> 2",
        "teardown wrapped e",
    ]


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_an_async_fixture_behind_a_plain_wrapper_is_awaited(pytester, run_alt, mode):
    # A decorator written for plain functions returns the fixture's coroutine
    # or async generator: pytest would hand that over as the value, the
    # fixture's code never run, and its tests pass.
    log_conftest(pytester)
    pytester.makepyfile(
        """
        import asyncio
        import functools
        import pytest
        from conftest import log

        def traced(func):
            @functools.wraps(func)
            def wrapper(*args, **kwargs):
                return func(*args, **kwargs)
            return wrapper

        @pytest.fixture(autouse=True)
        @traced
        async def database():
            await asyncio.sleep(0)
            log("setup database")
            yield "db"
            await asyncio.sleep(0)
            log("teardown database")

        @pytest.fixture
        @traced
        async def answer(database):
            await asyncio.sleep(0)
            return 42

        class TestInClass:
            @pytest.fixture
            @traced
            async def own(self, answer):
                return answer + 1

            async def test_method(self, own, database):
                assert (own, database) == (43, "db")

        async def test_values(answer, database):
            assert (answer, database) == (42, "db")

        def test_plain(database):
            assert database == "db"

        def drives_itself(func):
            # A generator wrapping an async generator, which it steps itself
            # on a loop of its own: a generator fixture, for pytest to run.
            @functools.wraps(func)
            def wrapper(*args, **kwargs):
                loop = asyncio.new_event_loop()
                try:
                    yield loop.run_until_complete(func(*args, **kwargs).__anext__())
                finally:
                    loop.close()
            return wrapper

        @pytest.fixture
        @drives_itself
        async def stepped_elsewhere():
            yield "stepped"

        @pytest.mark.asyncio_sequential
        def test_stepped_elsewhere(stepped_elsewhere):
            assert stepped_elsewhere == "stepped"
        """
    )
    result = run_alt("-W", "error::RuntimeWarning", *mode_args(mode))
    result.assert_outcomes(passed=4)
    assert "never awaited" not in result.stdout.str()
    events = [event.partition(" @")[0] for event in read_events(pytester)]
    assert sorted(events) == ["setup database"] * 4 + ["teardown database"] * 4


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_a_plain_wrapper_running_an_async_fixture_itself_is_a_plain_fixture(
    pytester, run_alt, mode
):
    # A decorator that runs the coroutine to completion itself (asyncio.run)
    # makes a plain fixture, for pytest as for its author: its code sees no
    # loop running, as any plain fixture's does.
    pytester.makepyfile(
        wrappers=WRAPPERS,
        test_wrapped="""
        import asyncio
        import pytest
        from wrappers import run_sync

        @pytest.fixture
        @run_sync
        async def value():
            await asyncio.sleep(0)
            return 5

        async def test_async(value):
            assert value == 5

        def test_plain(value):
            assert value == 5
        """,
    )
    result = run_alt("-W", "error::RuntimeWarning", *mode_args(mode))
    result.assert_outcomes(passed=2)


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_a_plain_fixture_behind_an_async_wrapper_is_awaited(pytester, run_alt, mode):
    # An ``async def`` decorator (functools.wraps) around a plain fixture
    # makes an async fixture, as pytest sees it: its coroutine is awaited,
    # not handed to the test (pytest 8.3) nor refused as unhandled (8.4).
    pytester.makepyfile(
        wrappers=WRAPPERS,
        test_wrapped="""
        import pytest
        from wrappers import with_connection

        @pytest.fixture
        @with_connection
        def db():
            return "connected"

        @pytest.fixture
        @with_connection
        def broken():
            raise RuntimeError("the setup ran")

        async def test_value(db):
            assert db == "connected"

        def test_plain(db):
            assert db == "connected"

        async def test_broken(broken):
            pass
        """,
    )
    result = run_alt("-W", "error::RuntimeWarning", *mode_args(mode))
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["E   *RuntimeError: the setup ran"])


def test_an_async_wrapper_around_a_generator_fixture_is_left_to_pytest(pytester, run_alt):
    # Awaited, it would hand its tests the generator, its teardown never run:
    # pytest refuses it as an async fixture no plugin handled (pytest 9).
    pytester.makepyfile(
        wrappers=WRAPPERS,
        test_wrapped="""
        import pytest
        from wrappers import with_connection

        @pytest.fixture
        @with_connection
        def gen():
            yield "value"

        async def test_gen(gen):
            print("GOT", type(gen).__name__)
        """,
    )
    result = run_alt("-s", "-W", "ignore::RuntimeWarning")
    assert "GOT generator" not in result.stdout.str()


def test_async_fixtures_whose_value_is_none(pytester, run_alt):
    log_conftest(pytester)
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        from conftest import log

        @pytest.fixture(scope="session")
        async def session_none():
            await asyncio.sleep(0)
            log("setup session_none")

        @pytest.fixture
        async def gen_none():
            log("setup gen_none")
            yield
            log("teardown gen_none")

        async def test_async(session_none, gen_none):
            assert (session_none, gen_none) == (None, None)
            log("test_async")

        def test_sync(session_none, gen_none):
            assert (session_none, gen_none) == (None, None)
            log("test_sync", loop=False)
        """
    )
    result = run_alt()
    result.assert_outcomes(passed=2)
    events = [e.partition(" @")[0] for e in read_events(pytester)]
    assert events == [
        "setup session_none",
        "setup gen_none",
        "test_async",
        "teardown gen_none",
        "setup gen_none",
        "test_sync",
        "teardown gen_none",
    ]


# -- finalizers, autouse, overrides -------------------------------------------


def test_addfinalizer_from_async_fixture_runs_at_teardown(pytester, run_alt):
    log_conftest(pytester)
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        from conftest import log

        @pytest.fixture
        async def coro_fx(request):
            await asyncio.sleep(0)
            request.addfinalizer(lambda: log("finalizer coro_fx", loop=False))
            log("setup coro_fx")
            return 1

        @pytest.fixture
        async def agen_fx(request):
            request.addfinalizer(lambda: log("finalizer agen_fx", loop=False))
            log("setup agen_fx")
            yield 2
            log("teardown agen_fx")

        @pytest.fixture
        def sync_gen_fx(request):
            # The sync reference: pytest's own order for a generator fixture.
            request.addfinalizer(lambda: log("finalizer sync_gen_fx", loop=False))
            log("setup sync_gen_fx", loop=False)
            yield 3
            log("teardown sync_gen_fx", loop=False)

        async def test_coro(coro_fx):
            log("test_coro")

        async def test_agen(agen_fx):
            log("test_agen")

        def test_sync_gen(sync_gen_fx):
            log("test_sync_gen", loop=False)
        """
    )
    result = run_alt()
    result.assert_outcomes(passed=3)
    events = [e.partition(" @")[0] for e in read_events(pytester)]
    assert events == [
        "setup coro_fx",
        "test_coro",
        "finalizer coro_fx",
        "setup agen_fx",
        "test_agen",
        "teardown agen_fx",
        "finalizer agen_fx",
        "setup sync_gen_fx",
        "test_sync_gen",
        "teardown sync_gen_fx",
        "finalizer sync_gen_fx",
    ]


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_async_finalizers_run_on_the_loop_where_the_setup_ran(pytester, run_alt, mode):
    # pytest calls a finalizer and drops what it returns: an async one would
    # never run, and its test pass.
    log_conftest(pytester)
    pytester.makepyfile(
        """
        import asyncio
        import contextvars
        import pytest
        from conftest import log

        VAR = contextvars.ContextVar("var", default="unset")

        class Connection:
            async def aclose(self):
                await asyncio.sleep(0)
                log("aclose")

        @pytest.fixture(scope="module")
        def module_fx(request):
            VAR.set("module_fx")

            async def close():
                await asyncio.sleep(0)
                log(f"finalizer module_fx sees {VAR.get()}")

            request.addfinalizer(close)

        @pytest.fixture
        async def async_fx(request):
            request.addfinalizer(Connection().aclose)
            yield
            log("teardown async_fx")

        async def test_first(module_fx, async_fx):
            log("test_first")

        async def test_second(module_fx):
            log("test_second")
        """
    )
    result = run_alt(*mode_args(mode))
    result.assert_outcomes(passed=2)
    assert "never awaited" not in result.stdout.str()
    events, loops = split_loops(read_events(pytester))
    assert len(loops) == 1
    assert sorted(events) == sorted(
        [
            "test_first",
            "teardown async_fx",
            "aclose",
            "test_second",
            "finalizer module_fx sees module_fx",
        ]
    )
    assert events.index("teardown async_fx") < events.index("aclose")
    assert events[-1] == "finalizer module_fx sees module_fx"


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_async_finalizers_run_whenever_they_were_added(pytester, run_alt, mode):
    log_conftest(pytester)
    pytester.makepyfile(
        """
        import asyncio
        import contextvars
        import functools
        import pytest
        from conftest import log

        async def close(what):
            await asyncio.sleep(0)
            log(f"closed {what}")

        class Closer:
            async def __call__(self):
                await close("by a callable object")

        @pytest.fixture
        def fails_after(request):
            request.addfinalizer(functools.partial(close, "before a failed setup"))
            raise RuntimeError("setup failed")

        @pytest.fixture
        async def skips_after(request):
            request.addfinalizer(Closer())
            pytest.skip("skipped in setup")

        @pytest.fixture
        def make_connection(request):
            async def make(name):
                request.addfinalizer(functools.partial(close, name))
            return make

        @pytest.fixture
        def adds_in_teardown(request):
            yield
            request.addfinalizer(functools.partial(close, "added in teardown"))

        async def test_setup_fails(fails_after):
            pass

        async def test_setup_skips(skips_after):
            pass

        async def test_factory(make_connection, adds_in_teardown):
            await make_connection("made by a factory")

        @pytest.fixture
        def adds_to_the_test(request):
            request.node.addfinalizer(functools.partial(close, "by the test's node"))

        VAR = contextvars.ContextVar("var", default="unset")

        async def test_its_own(request, adds_to_the_test):
            token = VAR.set("the test's value")

            async def reset():
                await close(f"by the test's own request, seeing {VAR.get()}")
                VAR.reset(token)  # a token of the test body's context

            request.addfinalizer(reset)
        """
    )
    result = run_alt(*mode_args(mode))
    result.assert_outcomes(passed=2, skipped=1, errors=1)
    assert "never awaited" not in result.stdout.str()
    events, loops = split_loops(read_events(pytester))
    assert len(loops) == 1
    assert sorted(events) == [
        "closed added in teardown",
        "closed before a failed setup",
        "closed by a callable object",
        "closed by the test's node",
        "closed by the test's own request, seeing the test's value",
        "closed made by a factory",
    ]


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_async_finalizers_of_wider_nodes_run_at_their_teardown(pytester, run_alt, mode):
    # request.node of a module, class or session fixture is that collector:
    # pytest would call an async finalizer given to it without awaiting it,
    # and the cleanup would never run, with only a "never awaited" warning.
    log_conftest(pytester)
    pytester.makepyfile(
        """
        import asyncio
        import functools
        import pytest
        from conftest import log

        async def close(what):
            await asyncio.sleep(0)
            log(f"closed {what}")

        @pytest.fixture(scope="session")
        def session_fx(request):
            request.node.addfinalizer(functools.partial(close, "the session"))

        @pytest.fixture(scope="module")
        def module_fx(request, session_fx):
            request.node.addfinalizer(functools.partial(close, "the module"))

        @pytest.fixture(scope="module")
        def fails_to_close(request):
            async def fail():
                await asyncio.sleep(0)
                raise RuntimeError("module cleanup failed")
            request.node.addfinalizer(fail)

        @pytest.fixture(scope="class")
        def class_fx(request, module_fx):
            request.node.addfinalizer(functools.partial(close, "the class"))

        class TestClass:
            async def test_one(self, class_fx):
                log("test_one")

            async def test_two(self, class_fx):
                log("test_two")

        async def test_last(module_fx, fails_to_close):
            log("test_last")
        """
    )
    result = run_alt("-p", "no:randomly", *mode_args(mode))
    result.assert_outcomes(passed=3, errors=1)
    # The module's last test to finish tears it down (test_last, when sequential).
    last = "test_last" if mode == "sequential" else "*"
    result.stdout.fnmatch_lines(
        [f"*ERROR at teardown of {last} *", "*RuntimeError: module cleanup failed"]
    )
    assert "never awaited" not in result.stdout.str()
    events, _ = split_loops(read_events(pytester))
    tests = ["test_one", "test_two", "test_last"]
    closed = ["closed the class", "closed the module", "closed the session"]
    assert sorted(events) == sorted([*tests, *closed])
    assert events.index("closed the class") > max(map(events.index, tests[:2]))
    assert events[-2:] == ["closed the module", "closed the session"]


def test_an_async_config_cleanup_is_refused_with_what_to_do_instead(pytester, run_alt):
    # pytest runs config.add_cleanup's functions after the session (and its
    # loop) ended: an async one would be dropped with a "never awaited" warning.
    log_conftest(pytester)
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        from conftest import log

        async def stop():
            await asyncio.sleep(0)
            log("stopped")

        @pytest.fixture(scope="session")
        async def server(pytestconfig):
            pytestconfig.add_cleanup(stop)

        @pytest.fixture(scope="session")
        async def server_done_right(request, pytestconfig):
            pytestconfig.add_cleanup(lambda: print("a plain cleanup still runs"))
            request.session.addfinalizer(stop)

        async def test_refused(server):
            pass

        async def test_advice_works(server_done_right):
            pass
        """
    )
    result = run_alt("-p", "no:randomly", "-s")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*UsageError: config.add_cleanup() runs its functions once alt_coop's loop "
            "is closed, so the async stop would never run: use a session-scoped fixture with "
            "its cleanup after a yield, or request.session.addfinalizer(stop)"
        ]
    )
    assert "never awaited" not in result.stdout.str()
    assert split_loops(read_events(pytester))[0] == ["stopped"]
    result.stdout.fnmatch_lines(["*a plain cleanup still runs*"])


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_an_async_fixture_asked_for_outside_the_tests_own_code_says_where_to_ask(
    pytester, run_alt_subprocess, mode
):
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.fixture
        async def value():
            await asyncio.sleep(0)
            return 1

        async def test_from_a_thread(request):
            await asyncio.to_thread(request.getfixturevalue, "value")

        async def test_from_a_task(request):
            async def ask():
                return request.getfixturevalue("value")
            await asyncio.create_task(ask())

        async def test_from_a_callback(request):
            done = asyncio.get_running_loop().create_future()

            def ask():
                try:
                    done.set_result(request.getfixturevalue("value"))
                except Exception as error:
                    done.set_exception(error)

            asyncio.get_running_loop().call_soon(ask)
            await done

        async def test_from_its_own_code(request):
            assert request.getfixturevalue("value") == 1

        # Its first step runs inside the test's own step: the loop was wedged
        # for good, timeouts and Ctrl-C included.
        @pytest.mark.skipif(not hasattr(asyncio, "eager_task_factory"), reason="Python 3.12+")
        async def test_from_an_eager_task(request):
            loop = asyncio.get_running_loop()
            loop.set_task_factory(asyncio.eager_task_factory)
            try:
                async def ask():
                    return request.getfixturevalue("value")
                await asyncio.create_task(ask())
            finally:
                loop.set_task_factory(None)
        """
    )
    result = run_alt_subprocess(*mode_args(mode), timeout=60)
    eager = sys.version_info >= (3, 12)
    result.assert_outcomes(passed=1, failed=3 + eager, skipped=1 - eager)
    message = (
        "*AltCoopUsageError: alt_coop can run a coroutine for pytest (an async fixture asked "
        "for with request.getfixturevalue, say) only from the code of a test or fixture "
        "itself, not from a thread, a loop callback or another task while the loop runs: "
        "call it from the test or fixture, or ask for the fixture as an argument"
    )
    result.stdout.fnmatch_lines([message] * (3 + eager))
    assert "alt_coop.main" not in result.stdout.str()


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
@pytest.mark.parametrize("scope", ["function", "session"])
def test_an_async_fixture_refused_where_it_was_asked_for_is_set_up_where_it_may_be(
    pytester, run_alt_subprocess, mode, scope
):
    # The refusal was cached as the fixture's error, as a failed setup is:
    # the tests asking for it rightly, after, failed with advice to do so.
    pytester.makepyfile(
        f"""
        import asyncio
        import pytest
        from alt_coop.errors import AltCoopUsageError

        @pytest.fixture(scope={scope!r})
        async def value():
            print("SETTING UP")
            yield 1

        def test_from_another_loop(request):
            async def ask():
                return request.getfixturevalue("value")
            with pytest.raises(AltCoopUsageError, match="while another event loop runs"):
                asyncio.run(ask())

        async def test_from_a_task(request):
            async def ask():
                return request.getfixturevalue("value")
            with pytest.raises(AltCoopUsageError, match="only from the code of a test"):
                await asyncio.create_task(ask())
            assert request.getfixturevalue("value") == 1

        async def test_as_an_argument(value):
            assert value == 1
        """
    )
    result = run_alt_subprocess("-s", "-p", "no:randomly", *mode_args(mode), timeout=60)
    result.assert_outcomes(passed=3)
    assert result.stdout.str().count("SETTING UP") == (2 if scope == "function" else 1)


@pytest.mark.parametrize("tryfirst", [False, True])
def test_an_async_config_cleanup_from_a_configure_hook_is_a_usage_error(
    pytester, run_alt, tryfirst
):
    pytester.makeconftest(
        f"""
        import pytest

        async def stop():
            pass

        @pytest.hookimpl(tryfirst={tryfirst})
        def pytest_configure(config):
            config.add_cleanup(stop)
        """
    )
    pytester.makepyfile("def test_it():\n    pass\n")
    result = run_alt()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: config.add_cleanup() runs its functions once alt_coop's loop is closed*"]
    )
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()


def test_an_async_finalizer_of_a_module_has_the_modules_default_timeout(pytester, run_alt):
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.fixture(scope="module")
        def module_default_async_timeout():
            return 0.2

        @pytest.fixture(scope="module")
        def slow_to_close(request):
            async def close():
                await asyncio.sleep(5)
            request.node.addfinalizer(close)

        async def test_it(slow_to_close):
            pass
        """
    )
    result = run_alt()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        ["*ERROR at teardown of test_it*", "*finalizer *close of module *timed out after 0.2*"]
    )


def test_a_finalizer_returning_another_awaitable_or_an_async_generator_fails(pytester, run_alt):
    # Dropped by pytest as a coroutine is: the cleanup never ran, and the
    # test passed.
    pytester.makepyfile(
        """
        class Closing:
            def __await__(self):
                print("closed")
                yield

        async def closes():
            print("closed")
            yield

        async def test_awaitable(request):
            request.addfinalizer(lambda: Closing())

        async def test_async_generator(request):
            request.addfinalizer(closes)
        """
    )
    result = run_alt("-s")
    result.assert_outcomes(passed=2, errors=2)
    result.stdout.fnmatch_lines_random(
        [
            "*AltCoopUsageError: finalizer test_awaitable.<locals>.<lambda> (*.py:11) of "
            "test_awaitable returned an awaitable, which pytest never awaits: give "
            "addfinalizer the async function itself*",
            "*AltCoopUsageError: finalizer closes (*.py:6) of test_async_generator returned an "
            "async generator, which pytest never runs*",
        ]
    )
    assert "closed" not in result.stdout.str()


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_a_finalizer_returning_a_coroutine_fails_its_teardown(pytester, run_alt, mode):
    # pytest drops what a finalizer returns: a lambda calling an async close
    # would leave it never run, and the test passing.
    pytester.makepyfile(
        """
        import pytest

        class Connection:
            async def aclose(self):
                print("closed")

        @pytest.fixture
        def conn(request):
            conn = Connection()
            request.addfinalizer(lambda: conn.aclose())
            return conn

        async def test_fixture(conn):
            pass

        async def test_its_own(request):
            request.addfinalizer(lambda: Connection().aclose())

        def test_plain_finalizers_still_run(request):
            request.addfinalizer(lambda: print("plain finalizer ran"))
        """
    )
    result = run_alt("-s", *mode_args(mode))
    result.assert_outcomes(passed=3, errors=2)
    result.stdout.fnmatch_lines_random(
        [
            "*ERROR at teardown of test_fixture *",
            "*ERROR at teardown of test_its_own *",
            "*AltCoopUsageError: finalizer conn.<locals>.<lambda> (*test_a_finalizer_*.py:10) "
            "of fixture 'conn' returned a coroutine, "
            "which pytest never awaits: give addfinalizer the async function itself "
            "(request.addfinalizer(conn.aclose), or a functools.partial of it), not a "
            "function that calls it",
            "*AltCoopUsageError: finalizer test_its_own.<locals>.<lambda> (*.py:17) of "
            "test_its_own returned a coroutine*",
            "*plain finalizer ran*",
        ]
    )
    assert "closed" not in result.stdout.str()
    assert "never awaited" not in result.stdout.str()


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_addfinalizer_given_a_coroutine_or_no_function_fails_where_it_was_called(
    pytester, run_alt, mode
):
    # pytest would fail the teardown, "'coroutine' object is not callable",
    # naming no line, and leave the coroutine never awaited.
    test_file = pytester.makepyfile(
        """
        import pytest

        class Connection:
            async def aclose(self):
                print("closed")

        @pytest.fixture
        async def conn(request):
            conn = Connection()
            request.addfinalizer(conn.aclose())
            return conn

        async def test_fixture(conn):
            pass

        async def test_its_own(request):
            request.node.addfinalizer(5)
        """
    )
    result = run_alt("-s", "-W", "error::RuntimeWarning", *mode_args(mode))
    result.assert_outcomes(failed=1, errors=1)
    result.stdout.fnmatch_lines_random(
        [
            "*ERROR at setup of test_fixture *",
            "E *AltCoopUsageError: addfinalizer() takes a function to call at teardown, and "
            "fixture 'conn' gave it a coroutine (Connection.aclose), which would never run: "
            "give it the async function itself (request.addfinalizer(conn.aclose), or a "
            "functools.partial of it)",
            f"{test_file.name}:10: AltCoopUsageError",
            "E *AltCoopUsageError: addfinalizer() takes a function to call at teardown, and "
            "test_its_own gave it 5, which is not callable",
            f"{test_file.name}:17: AltCoopUsageError",
        ]
    )
    assert "closed" not in result.stdout.str()
    assert "never awaited" not in result.stdout.str()


@pytest.mark.parametrize("user_default", [False, True])
def test_an_async_finalizer_from_a_worker_thread_is_refused(pytester, run_alt, user_default):
    # A plain def cooperative test's body runs in a worker thread, where the
    # finalizer's default timeout (a fixture's value) cannot be looked up.
    pytester.makepyfile(
        """
        import pytest

        if USER_DEFAULT:
            @pytest.fixture
            def default_async_timeout():
                return 2

        async def close():
            pass

        @pytest.fixture
        def factory(request):
            return lambda: request.addfinalizer(close)

        @pytest.mark.asyncio_cooperative
        def test_by_its_node(request):
            request.node.addfinalizer(close)

        @pytest.mark.asyncio_cooperative
        def test_by_a_factory(factory):
            factory()
        """.replace("USER_DEFAULT", str(user_default))
    )
    result = run_alt()
    result.assert_outcomes(failed=2)
    message = (
        "*AltCoopUsageError: an async finalizer (close) cannot be added from a plain def "
        "cooperative test, whose body runs in a worker thread: add it in a fixture's setup, "
        "or make the test async"
    )
    result.stdout.fnmatch_lines([message, message])
    assert "never awaited" not in result.stdout.str()


def test_a_fixtures_request_is_freed_without_the_cycle_collector(pytester, run_alt_subprocess):
    # In a subprocess: in-process, pytester's own session holds objects too.
    pytester.makepyfile(
        """
        import gc
        import weakref
        import pytest

        REQUESTS = []

        @pytest.fixture
        def keeps(request):
            REQUESTS.append(weakref.ref(request))

        def test_sets_up(keeps):
            gc.disable()

        def test_freed():  # as without alt_coop: freed once its fixture is torn down
            try:
                assert [ref() for ref in REQUESTS] == [None]
            finally:
                gc.enable()
        """
    )
    result = run_alt_subprocess("-p", "no:randomly")
    result.assert_outcomes(passed=2)


def test_an_async_finalizer_has_its_fixtures_timeout(pytester, run_alt):
    log_conftest(pytester)
    pytester.makepyfile(
        """
        import asyncio
        import functools
        import pytest
        from conftest import log

        @pytest.fixture
        def default_async_timeout():
            return 0.1

        async def wait(name):
            await asyncio.sleep(0.3)
            log(f"{name} waited")

        @pytest.fixture
        async def given_more_time(request, async_timeout):
            request.addfinalizer(functools.partial(wait, "given_more_time"))
            async_timeout.set_timeout_seconds(5)  # holds for its finalizers too

        @pytest.fixture
        async def given_the_default(request):
            request.addfinalizer(functools.partial(wait, "given_the_default"))

        async def test_given_more_time(given_more_time):
            pass

        async def test_given_the_default(given_the_default):
            pass
        """
    )
    result = run_alt()
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_given_the_default*",
            "finalizer wait of fixture 'given_the_default' timed out after 0.1s during "
            "teardown (async timeout)*",
        ]
    )
    events, _ = split_loops(read_events(pytester))
    assert events == ["given_more_time waited"]


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_an_async_finalizer_added_during_teardown_has_the_users_default_timeout(
    pytester, run_alt, mode
):
    # The default was looked up during the test, and is torn down by the
    # time the finalizer is added: the value it gave is used. A test that
    # never looked it up is told what to do (it cannot be set up then).
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.fixture
        def default_async_timeout():
            return 0.2

        @pytest.fixture
        def late(request):
            yield
            async def slow_cleanup():
                await asyncio.sleep(3)
            request.addfinalizer(slow_cleanup)

        @pytest.mark.asyncio_cooperative
        async def test_async(late):
            pass

        @pytest.mark.asyncio_cooperative
        def test_sync(late):
            pass
        """
    )
    # pytest 9.1+ deprecates asking for a fixture during teardown: not done.
    result = run_alt("-p", "no:randomly", "-W", "error::DeprecationWarning", *mode_args(mode))
    result.assert_outcomes(passed=2, errors=2)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_async*",
            "finalizer *slow_cleanup of fixture 'late' timed out after 0.2s during teardown*",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_sync*",
            ">       request.addfinalizer(slow_cleanup)",
            "*async finalizer *slow_cleanup added during the teardown of fixture 'late' "
            "needs the default timeout, fixture 'default_async_timeout', which cannot be set "
            "up during teardown: ask for default_async_timeout in the arguments of the "
            "fixture that adds the finalizer, or add the finalizer before that fixture's "
            "yield*",
        ]
    )
    assert "is not available" not in result.stdout.str()
    assert "AssertionError" not in result.stdout.str()


def test_a_failing_or_hanging_async_finalizer_is_an_error_at_teardown(pytester, run_alt):
    path = pytester.makepyfile(
        """
        import asyncio
        import functools
        import pytest

        @pytest.fixture
        def failing(request):
            async def boom():
                raise ValueError("boom in a finalizer")
            request.addfinalizer(boom)

        @pytest.fixture
        def default_async_timeout():
            return 0.1

        class Unprintable:
            def __repr__(self):
                raise RuntimeError("no repr")

        @pytest.fixture
        def hanging(request):
            async def hang(resource):
                await asyncio.sleep(10)  # HANG
            request.addfinalizer(functools.partial(hang, Unprintable()))

        async def test_failing(failing):
            pass

        async def test_hanging(hanging):
            pass
        """
    )
    result = run_alt()
    result.assert_outcomes(passed=2, errors=2)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_failing*",
            '>       raise ValueError("boom in a finalizer")',
            "E       ValueError: boom in a finalizer",
            "*ERROR at teardown of test_hanging*",
            "finalizer hanging.<locals>.hang of fixture 'hanging' timed out after 0.1s during "
            f"teardown (async timeout); it was waiting at {path.name}:{line_of(path, '# HANG')} "
            "in hang",
        ]
    )


def test_autouse_async_fixtures(pytester, run_alt):
    log_conftest(
        pytester,
        """
        import pytest

        @pytest.fixture(autouse=True)
        async def auto_everywhere():
            log("setup auto_everywhere")
            yield
            log("teardown auto_everywhere")
        """,
    )
    pytester.makepyfile(
        test_auto="""
        import asyncio
        import pytest
        from conftest import log

        @pytest.fixture(scope="module", autouse=True)
        async def auto_module():
            await asyncio.sleep(0)
            log("setup auto_module")

        async def test_async():
            log("test_async")

        def test_sync():
            log("test_sync", loop=False)
        """,
        test_other="""
        from conftest import log

        async def test_other():
            log("test_other")
        """,
    )
    result = run_alt()
    result.assert_outcomes(passed=3)
    events = [e.partition(" @")[0] for e in read_events(pytester)]
    assert events == [
        "setup auto_module",
        "setup auto_everywhere",
        "test_async",
        "teardown auto_everywhere",
        "setup auto_everywhere",
        "test_sync",
        "teardown auto_everywhere",
        "setup auto_everywhere",
        "test_other",
        "teardown auto_everywhere",
    ]


def test_async_fixture_overrides_conftest_fixture(pytester, run_alt):
    pytester.makeconftest(
        """
        import asyncio
        import pytest

        @pytest.fixture
        async def value():
            await asyncio.sleep(0)
            return "from conftest"

        @pytest.fixture
        def sync_value():
            return "sync from conftest"
        """
    )
    pytester.makepyfile(
        test_overrides="""
        import asyncio
        import pytest

        @pytest.fixture
        async def value():
            await asyncio.sleep(0)
            return "from module"

        @pytest.fixture
        async def sync_value():
            await asyncio.sleep(0)
            yield "async from module"

        async def test_async(value, sync_value):
            assert value == "from module"
            assert sync_value == "async from module"

        def test_sync(value, sync_value):
            assert value == "from module"
            assert sync_value == "async from module"
        """,
        test_plain="""
        async def test_untouched(value, sync_value):
            assert value == "from conftest"
            assert sync_value == "sync from conftest"
        """,
    )
    result = run_alt("-v")
    result.assert_outcomes(passed=3)


def test_async_override_requests_parent_of_same_name(pytester, run_alt):
    pytester.makeconftest(
        """
        import asyncio
        import pytest

        @pytest.fixture
        async def value():
            await asyncio.sleep(0)
            yield ["conftest"]

        @pytest.fixture
        def sync_value():
            return ["sync conftest"]
        """
    )
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.fixture
        async def value(value):
            await asyncio.sleep(0)
            return [*value, "module"]

        @pytest.fixture
        async def sync_value(sync_value):
            await asyncio.sleep(0)
            yield [*sync_value, "async module"]

        async def test_async(value, sync_value):
            assert value == ["conftest", "module"]
            assert sync_value == ["sync conftest", "async module"]

        class TestNested:
            @pytest.fixture
            async def value(self, value):
                await asyncio.sleep(0)
                return [*value, "class"]

            async def test_in_class(self, value):
                assert value == ["conftest", "module", "class"]

            def test_sync_in_class(self, value):
                assert value == ["conftest", "module", "class"]
        """
    )
    result = run_alt("-v")
    result.assert_outcomes(passed=3)


# -- sync and async fixtures together -----------------------------------------


def test_sync_and_async_fixtures_depend_on_each_other(pytester, run_alt):
    log_conftest(pytester)
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        from conftest import log

        @pytest.fixture
        def sync_plain():
            log("setup sync_plain", loop=False)
            return ["sync_plain"]

        @pytest.fixture
        async def async_gen(sync_plain):
            await asyncio.sleep(0)
            log("setup async_gen")
            yield [*sync_plain, "async_gen"]
            await asyncio.sleep(0)
            log("teardown async_gen")

        @pytest.fixture
        def sync_gen(async_gen):
            log("setup sync_gen", loop=False)
            yield [*async_gen, "sync_gen"]
            log("teardown sync_gen", loop=False)

        @pytest.fixture
        async def async_coro(sync_gen):
            await asyncio.sleep(0)
            log("setup async_coro")
            return [*sync_gen, "async_coro"]

        @pytest.fixture
        def sync_top(async_coro):
            log("setup sync_top", loop=False)
            return [*async_coro, "sync_top"]

        EXPECTED = ["sync_plain", "async_gen", "sync_gen", "async_coro", "sync_top"]

        async def test_async(sync_top):
            assert sync_top == EXPECTED
            log("test_async")

        def test_sync(sync_top):
            assert sync_top == EXPECTED
            log("test_sync", loop=False)
        """
    )
    result = run_alt()
    result.assert_outcomes(passed=2)
    events = [e.partition(" @")[0] for e in read_events(pytester)]
    chain = [
        "setup sync_plain",
        "setup async_gen",
        "setup sync_gen",
        "setup async_coro",
        "setup sync_top",
    ]
    assert events == [
        *chain,
        "test_async",
        "teardown sync_gen",
        "teardown async_gen",
        *chain,
        "test_sync",
        "teardown sync_gen",
        "teardown async_gen",
    ]


def test_async_fixtures_as_methods_of_a_test_class(pytester, run_alt):
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        SEEN = []

        class TestMethods:
            @pytest.fixture
            async def coro_fx(self):
                await asyncio.sleep(0)
                self.from_coro = "coro"
                return self

            @pytest.fixture
            async def gen_fx(self, coro_fx):
                await asyncio.sleep(0)
                self.from_gen = "gen"
                yield self
                SEEN.append(("teardown", id(self)))

            async def test_async(self, coro_fx, gen_fx):
                assert coro_fx is self
                assert gen_fx is self
                assert (self.from_coro, self.from_gen) == ("coro", "gen")
                SEEN.append(("test", id(self)))

            def test_sync(self, coro_fx, gen_fx):
                assert coro_fx is self
                assert gen_fx is self
                assert (self.from_coro, self.from_gen) == ("coro", "gen")
                SEEN.append(("test", id(self)))

        def test_teardowns_saw_the_test_instance():
            assert [kind for kind, _ in SEEN] == ["test", "teardown", "test", "teardown"]
            assert SEEN[0][1] == SEEN[1][1]
            assert SEEN[2][1] == SEEN[3][1]
        """
    )
    result = run_alt("-v")
    result.assert_outcomes(passed=3)


# -- broken generators --------------------------------------------------------


def test_async_generator_fixture_yielding_twice_errors_at_teardown(pytester, run_alt):
    pytester.makepyfile(
        """
        import pytest

        @pytest.fixture
        async def twice():
            yield 1
            yield 2

        async def test_uses_twice(twice):
            assert twice == 1
        """
    )
    result = run_alt()
    result.assert_outcomes(passed=1, errors=1)
    # Where, as pytest says for a plain fixture; not "all traceback entries are hidden".
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_uses_twice*",
            "*async generator fixture 'twice' yielded more than once*",
            "*test_async_generator_fixture_yielding_twice*.py:6: its second yield",
        ]
    )
    assert "hidden" not in result.stdout.str()


def test_async_generator_fixture_never_yielding_errors_at_setup(pytester, run_alt):
    pytester.makepyfile(
        """
        import pytest

        RAN = []

        @pytest.fixture
        async def never():
            if False:
                yield

        async def test_uses_never(never):
            RAN.append("body")

        def test_body_did_not_run():
            assert RAN == []
        """
    )
    result = run_alt()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_uses_never*",
            "*async generator fixture 'never' did not yield a value; a generator fixture must "
            "yield once (yield None if it has no value)",
            "*test_async_generator_fixture_never_yielding_errors_at_setup.py:5",
        ]
    )
    assert "hidden" not in result.stdout.str()
    assert "StopAsyncIteration" not in result.stdout.str()


# -- failures -----------------------------------------------------------------


def test_failing_async_fixture_errors_at_setup_with_user_frames(pytester, run_alt):
    log_conftest(
        pytester,
        """
        import pytest

        @pytest.fixture(scope="session")
        async def session_first():
            log("setup session_first")
            yield
            log("teardown session_first")
        """,
    )
    pytester.makepyfile(
        test_broken="""
        import asyncio
        import pytest
        from conftest import log

        @pytest.fixture
        async def function_first():
            log("setup function_first")
            yield
            log("teardown function_first")

        async def explode():
            await asyncio.sleep(0)
            raise RuntimeError("fixture exploded")

        @pytest.fixture
        async def broken(session_first, function_first):
            await asyncio.sleep(0)
            await explode()

        @pytest.fixture
        async def after_broken(broken):
            log("setup after_broken")

        async def test_uses_broken(after_broken):
            log("test body")
        """
    )
    result = run_alt("--tb=long")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_uses_broken*",
            "*await explode()*",
            '*raise RuntimeError("fixture exploded")*',
            "E       RuntimeError: fixture exploded",
        ]
    )
    output = result.stdout.str()
    assert "alt_coop/" not in output
    assert "asyncio/" not in output
    assert "greenlet" not in output
    events = [e.partition(" @")[0] for e in read_events(pytester)]
    assert events == [
        "setup session_first",
        "setup function_first",
        "teardown function_first",
        "teardown session_first",
    ]


def test_failing_async_generator_teardown_errors_at_teardown(pytester, run_alt):
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.fixture
        async def fragile():
            yield "ok"
            await asyncio.sleep(0)
            raise RuntimeError("teardown exploded")

        async def test_uses_fragile(fragile):
            assert fragile == "ok"

        def test_next_runs():
            pass
        """
    )
    result = run_alt()
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_uses_fragile*",
            '*raise RuntimeError("teardown exploded")*',
            "E       RuntimeError: teardown exploded",
        ]
    )


# -- getfixturevalue, skip ----------------------------------------------------


def test_getfixturevalue_of_async_fixture_from_async_and_sync_tests(pytester, run_alt):
    log_conftest(pytester)
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        from conftest import log

        @pytest.fixture
        async def lazy_coro():
            await asyncio.sleep(0)
            log("setup lazy_coro")
            return "coro-value"

        @pytest.fixture
        async def lazy_gen(lazy_coro):
            await asyncio.sleep(0)
            log("setup lazy_gen")
            yield lazy_coro + "+gen"
            await asyncio.sleep(0)
            log("teardown lazy_gen")

        async def test_async_body(request):
            await asyncio.sleep(0)
            log("test_async_body start")
            assert request.getfixturevalue("lazy_gen") == "coro-value+gen"
            assert request.getfixturevalue("lazy_coro") == "coro-value"
            await asyncio.sleep(0)
            log("test_async_body end")

        def test_sync_body(request):
            log("test_sync_body start", loop=False)
            assert request.getfixturevalue("lazy_gen") == "coro-value+gen"
            log("test_sync_body end", loop=False)
        """
    )
    result = run_alt()
    result.assert_outcomes(passed=2)
    events = read_events(pytester)
    async_part, loops = split_loops(events[:5])
    assert async_part == [
        "test_async_body start",
        "setup lazy_coro",
        "setup lazy_gen",
        "test_async_body end",
        "teardown lazy_gen",
    ]
    _, sync_loops = split_loops([e for e in events[5:] if " @" in e])
    assert [e.partition(" @")[0] for e in events[5:]] == [
        "test_sync_body start",
        "setup lazy_coro",
        "setup lazy_gen",
        "test_sync_body end",
        "teardown lazy_gen",
    ]
    assert len(loops | sync_loops) == 1


def test_skip_inside_async_fixture_skips_the_test(pytester, run_alt):
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        RAN = []

        @pytest.fixture
        async def needs_widget():
            await asyncio.sleep(0)
            pytest.skip("no widget here")

        @pytest.fixture
        async def needs_gadget():
            await asyncio.sleep(0)
            pytest.skip("no gadget here")
            yield

        async def test_widget(needs_widget):
            RAN.append("widget")

        def test_gadget(needs_gadget):
            RAN.append("gadget")

        def test_bodies_did_not_run():
            assert RAN == []
        """
    )
    result = run_alt("-rs")
    result.assert_outcomes(passed=1, skipped=2)
    result.stdout.fnmatch_lines_random(
        [
            "SKIPPED [[]1[]] test_skip_inside_async_fixture_skips_the_test.py:*: no widget here",
            "SKIPPED [[]1[]] test_skip_inside_async_fixture_skips_the_test.py:*: no gadget here",
        ]
    )


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_a_fixture_yielding_twice_is_closed_at_its_teardown(pytester, run_alt, mode):
    pytester.makepyfile(
        """
        import pytest

        EVENTS = []

        @pytest.fixture
        async def twice():
            try:
                yield 1
                yield 2
            finally:
                EVENTS.append("closed")

        async def test_uses_it(twice):
            pass

        @pytest.mark.asyncio_sequential
        def test_after():
            assert EVENTS == ["closed"]
        """
    )
    result = run_alt(*mode_args(mode))
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*async generator fixture 'twice' yielded more than once*"])


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_a_hook_wrapping_fixture_setup_sees_an_async_fixtures_value(pytester, run_alt, mode):
    # None included: alt_coop's own stand-in for it is never what another
    # plugin's pytest_fixture_setup wrapper gets.
    pytester.makeconftest(
        """
        import pytest

        @pytest.hookimpl(hookwrapper=True)
        def pytest_fixture_setup(fixturedef, request):
            outcome = yield
            if fixturedef.argname in ("none", "gen_none", "value"):
                print(f"\\nOLD-STYLE {fixturedef.argname}={outcome.get_result()!r}")

        pytest_plugins = ["new_style"]
        """
    )
    pytester.makepyfile(
        new_style="""
        import pytest

        @pytest.hookimpl(wrapper=True)
        def pytest_fixture_setup(fixturedef, request):
            result = yield
            if fixturedef.argname in ("none", "gen_none", "value"):
                print(f"\\nNEW-STYLE {fixturedef.argname}={result!r}")
            return result
        """
    )
    pytester.makepyfile(
        test_values="""
        import asyncio
        import pytest

        @pytest.fixture
        async def none():
            await asyncio.sleep(0)

        @pytest.fixture
        async def gen_none():
            yield None

        @pytest.fixture
        async def value():
            return 42

        async def test_values(none, gen_none, value):
            assert (none, gen_none, value) == (None, None, 42)
        """
    )
    result = run_alt("-s", *mode_args(mode))
    result.assert_outcomes(passed=1)
    for style in ("OLD-STYLE", "NEW-STYLE"):
        result.stdout.fnmatch_lines(
            [f"{style} none=None", f"{style} gen_none=None", f"{style} value=42"],
            consecutive=False,
        )
