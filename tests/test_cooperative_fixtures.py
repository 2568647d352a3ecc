"""Cooperative tests and fixtures: instances per test and per scope, set up
once and torn down once, errors at setup."""

from __future__ import annotations

import textwrap

import pytest
from conftest import mode_args
from cooperative_support import (
    events_conftest,
    overlap,
    peak,
    read_events,
    read_spans,
    verbose_lines,
)


def test_function_scoped_async_fixtures_are_per_test(pytester, run_alt):
    events_conftest(pytester)
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        from conftest import log, meet

        pytestmark = pytest.mark.asyncio_cooperative
        ALL = asyncio.Barrier(3)

        @pytest.fixture
        async def token(request):
            value = {"owner": request.node.name}
            log("setup", request.node.name, id(value))
            await asyncio.sleep(0.01)
            yield value
            await asyncio.sleep(0.01)
            assert value == {"owner": request.node.name, "seen": request.node.name}
            log("teardown", request.node.name, id(value))

        @pytest.fixture
        async def plain(token):
            await asyncio.sleep(0)
            return token

        @pytest.mark.parametrize("n", range(3))
        async def test_own(token, plain, request, n):
            assert plain is token
            assert token == {"owner": request.node.name}
            await meet(ALL)
            token["seen"] = request.node.name
            await asyncio.sleep(0.01)
            assert token == {"owner": request.node.name, "seen": request.node.name}
        """
    )
    result = run_alt("-v")
    result.assert_outcomes(passed=3)
    setups = [line.split()[1:] for line in read_events(pytester) if line.startswith("setup ")]
    teardowns = [line.split()[1:] for line in read_events(pytester) if line.startswith("teardown")]
    assert sorted(name for name, _ in setups) == ["test_own[0]", "test_own[1]", "test_own[2]"]
    assert sorted(setups) == sorted(teardowns)
    assert len({value for _, value in setups}) == 3


def test_module_fixture_set_up_once_and_torn_down_after_the_last_test(pytester, run_alt):
    events_conftest(pytester)
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        from conftest import log, span

        pytestmark = pytest.mark.asyncio_cooperative

        @pytest.fixture(scope="module")
        async def shared():
            log("setup shared")
            await asyncio.sleep(0.1)  # the other tests ask for it meanwhile
            value = object()
            yield value
            await asyncio.sleep(0.01)
            log("teardown shared")

        @pytest.mark.parametrize("n", range(5))
        async def test_uses(shared, n):
            async with span(f"test{n}"):
                log("value", id(shared))
                await asyncio.sleep(0.02 * (5 - n))

        def test_after_the_module():
            pass
        """
    )
    result = run_alt("-v")
    result.assert_outcomes(passed=6)
    events = read_events(pytester)
    assert events.count("setup shared") == 1
    assert events.count("teardown shared") == 1
    assert len({line for line in events if line.startswith("value ")}) == 1
    spans = read_spans(pytester)
    assert peak(spans) == 5
    assert events.index("setup shared") < min(
        events.index(f"start test{n} {spans[f'test{n}'][0]}") for n in range(5)
    )
    # Torn down once, after the last of the tests (not after the first to finish).
    last_end = max(events.index(f"end test{n} {spans[f'test{n}'][1]}") for n in range(5))
    assert events.index("teardown shared") > last_end


def test_package_fixture_set_up_once_per_package_and_torn_down_after_its_last_test(
    pytester, run_alt
):
    events_conftest(pytester, "ALL = asyncio.Barrier(8)\n")
    for package in ("pkg_a", "pkg_b"):
        pytester.mkpydir(package)
        pytester.makepyfile(
            **{
                f"{package}/conftest": f"""
                import asyncio
                import pytest
                from conftest import log

                @pytest.fixture(scope="package")
                async def shared():
                    log("setup {package}")
                    await asyncio.sleep(0.1)  # the package's other tests ask for it meanwhile
                    yield "{package}"
                    await asyncio.sleep(0.01)
                    log("teardown {package}")
                """,
                **{
                    f"{package}/test_{module}": f"""
                    import asyncio
                    import pytest
                    from conftest import ALL, meet, span

                    pytestmark = pytest.mark.asyncio_cooperative

                    @pytest.mark.parametrize("n", range(2))
                    async def test_uses(shared, n):
                        assert shared == "{package}"
                        async with span("{package}.{module}[" + str(n) + "]"):
                            await meet(ALL)  # both packages' tests in flight together
                            await asyncio.sleep(0.02 * (n + 1))
                    """
                    for module in ("one", "two")
                },
            }
        )
    result = run_alt("-v")
    result.assert_outcomes(passed=8)
    events = read_events(pytester)
    spans = read_spans(pytester)
    assert peak(spans) == 8
    for package in ("pkg_a", "pkg_b"):
        assert events.count(f"setup {package}") == 1
        assert events.count(f"teardown {package}") == 1
        ends = [
            events.index(f"end {name} {when}")
            for name, (_, when) in spans.items()
            if name.startswith(package)
        ]
        assert len(ends) == 4
        # Torn down once, after the last of its package's tests.
        assert events.index(f"teardown {package}") > max(ends)


def test_indirect_params_with_the_same_index_but_other_values_do_not_overlap(pytester, run_alt):
    # Two parametrize calls each put their value at index 0: the values differ,
    # so pytest sets the module fixture up anew for the second, and the first
    # test must not see its instance torn down or replaced under it.
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        @pytest.fixture(scope="module")
        async def res(request):
            state = {"value": request.param, "open": True}
            yield state
            state["open"] = False

        @pytest.mark.parametrize("res", [10], indirect=True)
        async def test_x(res):
            await asyncio.sleep(0.2)
            assert res == {"value": 10, "open": True}

        @pytest.mark.parametrize("res", [30], indirect=True)
        async def test_y(res):
            assert res == {"value": 30, "open": True}

        @pytest.mark.parametrize("direct", [1], scope="module")
        async def test_direct_x(direct):
            await asyncio.sleep(0.2)
            assert direct == 1

        @pytest.mark.parametrize("direct", [2], scope="module")
        async def test_direct_y(direct):
            assert direct == 2
        """
    )
    run_alt().assert_outcomes(passed=4)


@pytest.mark.parametrize("scope", ["session", "module", "class"])
def test_a_test_without_the_param_does_not_overlap_one_with_it(pytester, run_alt, scope):
    # test_b parametrizes the wider fixture, test_a and test_c use it plain:
    # three instances one after the other, as in a sequential run, and none
    # torn down under a test still using it.
    events_conftest(
        pytester,
        f"""
        import pytest

        @pytest.fixture(scope="{scope}")
        def shared(request):
            state = {{"param": getattr(request, "param", "-"), "open": True}}
            log("setup", state["param"])
            yield state
            state["open"] = False
            log("teardown", state["param"])
        """,
    )
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        class TestIt:
            async def test_a(self, shared):
                await asyncio.sleep(0.05)
                assert shared == {"param": "-", "open": True}

            @pytest.mark.parametrize("shared", [10], indirect=True)
            async def test_b(self, shared):
                await asyncio.sleep(0.01)
                assert shared == {"param": 10, "open": True}

            async def test_c(self, shared):
                assert shared == {"param": "-", "open": True}
        """
    )
    run_alt().assert_outcomes(passed=3)
    assert read_events(pytester) == [
        "setup -",
        "teardown -",
        "setup 10",
        "teardown 10",
        "setup -",
        "teardown -",
    ]


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
@pytest.mark.parametrize(
    ("parametrize", "arguments"),
    [
        ('"shared,expected", [(10, 1), (20, 2)], indirect=["shared"]', "shared, expected"),
        ('"shared", [10, 20], indirect=True, scope="function"', "shared, expected=None"),
    ],
    ids=["some-indirect", "scope-function"],
)
def test_a_wider_fixture_with_a_param_per_test_has_one_instance_at_a_time(
    pytester, run_alt, parametrize, arguments, mode
):
    # A param of function scope (what pytest gives when only some argnames are
    # indirect): pytest sets the module fixture up for that test alone and
    # tears it down after, the shared instance first. Instances that take a
    # fixed port or file must never be alive at once.
    events_conftest(
        pytester,
        """
        import pytest

        LIVE = set()

        @pytest.fixture(scope="module")
        def shared(request):
            param = getattr(request, "param", "-")
            assert not LIVE, f"setting up {param} with {LIVE} still alive"
            LIVE.add(param)
            log("setup", param)
            yield param
            LIVE.discard(param)
            log("teardown", param)
        """,
    )
    pytester.makepyfile(
        f"""
        import asyncio
        import pytest
        from conftest import LIVE

        async def test_a(shared):
            await asyncio.sleep(0.05)
            assert LIVE == {{"-"}}

        @pytest.mark.parametrize({parametrize})
        async def test_b({arguments}):
            await asyncio.sleep(0.05)
            assert LIVE == {{shared}} and expected in (None, shared // 10)

        async def test_c(shared):
            assert LIVE == {{"-"}}
        """
    )
    run_alt(*mode_args(mode)).assert_outcomes(passed=4)
    assert read_events(pytester) == [
        "setup -",
        "teardown -",
        "setup 10",
        "teardown 10",
        "setup 20",
        "teardown 20",
        "setup -",
        "teardown -",
    ]


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
@pytest.mark.parametrize("given", ["params", "indirect"])
def test_a_param_per_test_reaching_a_wider_fixture_through_its_override_has_one_instance_at_a_time(
    pytester, run_alt, given, mode
):
    # A function fixture overriding a module one of its name and asking for
    # it: a param it has, or an indirect one given it, reaches the module
    # fixture too, which pytest then sets up for that test alone. The tests
    # ran at once, each finishing the instance the other was using.
    events_conftest(
        pytester,
        """
        import pytest

        LIVE = set()

        @pytest.fixture(scope="module")
        async def base(request):
            param = getattr(request, "param", "-")
            assert not LIVE, f"setting up {param} with {LIVE} still alive"
            LIVE.add(param)
            log("setup", param)
            yield param
            LIVE.discard(param)
            log("teardown", param)
        """,
    )
    params, mark = (
        ("params=[1, 2]", "")
        if given == "params"
        else ("", '@pytest.mark.parametrize("base", [1, 2], indirect=True)')
    )
    pytester.makepyfile(
        f"""
        import asyncio
        import pytest
        from conftest import LIVE

        @pytest.fixture({params})
        async def base(base):
            yield base

        @pytest.fixture
        async def user(base):
            await asyncio.sleep(0.01)
            return base

        {mark}
        async def test_b(user):
            await asyncio.sleep(0.05)
            assert LIVE == {{user}}
        """
    )
    run_alt(*mode_args(mode)).assert_outcomes(passed=2)
    assert read_events(pytester) == ["setup 1", "teardown 1", "setup 2", "teardown 2"]


def test_a_param_narrower_than_its_fixture_keeps_its_nodes_apart(pytester, run_alt):
    # A class-scoped param of a module fixture: pytest sets the fixture's one
    # instance up anew for each class and finishes it with the class, so the
    # classes run one after the other even with the same param value.
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        @pytest.fixture(scope="module")
        def res(request):
            state = {"param": request.param, "open": True}
            yield state
            state["open"] = False

        @pytest.mark.parametrize("res", ["p"], indirect=True, scope="class")
        class TestA:
            async def test_a(self, res):
                await asyncio.sleep(0.01)
                assert res == {"param": "p", "open": True}

        @pytest.mark.parametrize("res", ["p"], indirect=True, scope="class")
        class TestB:
            async def test_b(self, res):
                await asyncio.sleep(0.2)
                assert res == {"param": "p", "open": True}
        """
    )
    run_alt().assert_outcomes(passed=2)


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
@pytest.mark.parametrize("how", ["marker", "pytest_generate_tests"])
@pytest.mark.parametrize("scope", ["session", "module"])
def test_a_class_param_of_a_wider_fixture_outside_a_class_is_per_test(
    pytester, run_alt, scope, how, mode
):
    # Outside a class, pytest finishes a class-scoped param's instance with
    # the test itself: each test has its own, and none may be torn down
    # under another still using it.
    generate = (
        """
        def pytest_generate_tests(metafunc):
            if "res" in metafunc.fixturenames:
                metafunc.parametrize("res", ["p"], indirect=True, scope="class")
        """
        if how == "pytest_generate_tests"
        else ""
    )
    events_conftest(
        pytester,
        generate
        + f"""
        import asyncio
        import pytest

        @pytest.fixture(scope="{scope}")
        async def res(request):
            state = {{"param": request.param, "open": True}}
            log("setup", request.param)
            await asyncio.sleep(0.01)
            yield state
            state["open"] = False
            log("teardown", request.param)
        """,
    )
    mark = (
        '@pytest.mark.parametrize("res", ["p"], indirect=True, scope="class")'
        if how == "marker"
        else ""
    )
    pytester.makepyfile(
        f"""
        import asyncio
        import pytest

        {mark}
        async def test_fast(res):
            await asyncio.sleep(0.02)
            assert res == {{"param": "p", "open": True}}

        {mark}
        async def test_slow(res):
            await asyncio.sleep(0.1)
            assert res == {{"param": "p", "open": True}}
        """
    )
    run_alt(*mode_args(mode)).assert_outcomes(passed=2)
    assert read_events(pytester) == ["setup p", "teardown p"] * 2


@pytest.mark.parametrize("scope", ["module", "class"])
def test_a_function_override_of_a_parametrized_wider_fixture_is_shared_as_in_pytest(
    pytester, run_alt, scope
):
    # The param's scope is the parent's, so pytest caches the override for
    # as long as the param stays the same: set up once per param, here too,
    # by one test while the other waits.
    events_conftest(
        pytester,
        f"""
        import pytest

        @pytest.fixture(scope="{scope}", params=["a", "b"])
        def parent(request):
            return request.param
        """,
    )
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        from conftest import log

        pytestmark = pytest.mark.asyncio_cooperative

        @pytest.fixture
        async def parent(parent):
            log("override", parent)
            await asyncio.sleep(0.01)
            return parent

        class TestIt:
            async def test_a(self, parent):
                pass

            async def test_b(self, parent):
                pass
        """
    )
    run_alt().assert_outcomes(passed=4)
    assert read_events(pytester) == ["override a", "override b"]


def test_parametrized_module_fixture_each_param_once_and_never_overlapping(pytester, run_alt):
    events_conftest(pytester)
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        from conftest import log, span

        pytestmark = pytest.mark.asyncio_cooperative

        @pytest.fixture(scope="module", params=[1, 2])
        async def conn(request):
            log("setup", request.param)
            await asyncio.sleep(0.02)
            yield request.param
            await asyncio.sleep(0.02)
            log("teardown", request.param)

        async def test_a(conn):
            async with span(f"a{conn}"):
                log("use", conn)
                await asyncio.sleep(0.05)

        async def test_b(conn):
            async with span(f"b{conn}"):
                log("use", conn)
                await asyncio.sleep(0.05)

        async def test_c(conn):
            async with span(f"c{conn}"):
                log("use", conn)
                await asyncio.sleep(0.05)
        """
    )
    result = run_alt("-v")
    result.assert_outcomes(passed=6)
    # "start a1 <time>" -> "start a1"; "setup 1", "use 1", "teardown 1" as they are.
    tokens = [" ".join(line.split()[:2]) for line in read_events(pytester)]

    def param_run(param: int) -> list[str]:
        tests = [f"{name}{param}" for name in "abc"]
        return sorted(
            [f"setup {param}", f"teardown {param}"]
            + [f"use {param}"] * 3
            + [f"{kind} {test}" for test in tests for kind in ("start", "end")]
        )

    split = tokens.index("teardown 1") + 1
    first, second = tokens[:split], tokens[split:]
    # Param 1: set up once, all its tests inside, torn down once after the last
    # of them; only then anything of param 2, likewise.
    assert first[0] == "setup 1" and first[-1] == "teardown 1", tokens
    assert sorted(first) == param_run(1), tokens
    assert second[0] == "setup 2" and second[-1] == "teardown 2", tokens
    assert sorted(second) == param_run(2), tokens
    spans = read_spans(pytester)
    assert overlap(spans["a1"], spans["b1"]) and overlap(spans["b2"], spans["c2"])


@pytest.mark.parametrize("locked", [False, True], ids=["alone", "with_a_lock"])
def test_each_modules_instance_of_a_conftest_fixture_and_a_lock_keeping_them_apart(
    pytester, run_alt, locked
):
    """As the README says: a batch running two modules' tests has both
    modules' instances of a module fixture alive at once (a sequential run
    tears the first down before setting up the second); taking an
    alt_coop.Lock around its yield makes each wait for the one before."""
    body = """
        log("setup", request.module.__name__)
        yield
        await asyncio.sleep(0.05)
        log("teardown", request.module.__name__)
    """
    if locked:
        body = "async with one_at_a_time():\n" + textwrap.indent(textwrap.dedent(body), "    ")
    events_conftest(
        pytester,
        "import alt_coop\n"
        "import pytest\n\n"
        "one_at_a_time = alt_coop.Lock()\n\n"
        '@pytest.fixture(scope="module")\n'
        "async def server(request):\n"
        + textwrap.indent(textwrap.dedent(body).strip(), "    ")
        + "\n",
    )
    test_module = """
        import asyncio
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        async def test_one(server):
            await asyncio.sleep(0.05)

        async def test_two(server):
            await asyncio.sleep(0.05)
    """
    pytester.makepyfile(test_a=test_module, test_b=test_module)
    result = run_alt("-v")
    result.assert_outcomes(passed=4)
    events = read_events(pytester)
    assert sorted(events) == [
        "setup test_a",
        "setup test_b",
        "teardown test_a",
        "teardown test_b",
    ], events
    if locked:  # as in a sequential run
        assert events == ["setup test_a", "teardown test_a", "setup test_b", "teardown test_b"]
    else:  # both started at once
        assert events[:2] == ["setup test_a", "setup test_b"], events


def test_class_scoped_fixture_of_tests_outside_a_class_is_per_test(pytester, run_alt):
    """pytest sets a class-scoped fixture up anew for each test that is not in a
    class (the test itself is its scope): concurrent tests must not share it."""
    events_conftest(pytester)
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        from conftest import log, meet

        pytestmark = pytest.mark.asyncio_cooperative
        ALL = asyncio.Barrier(3)

        @pytest.fixture(scope="class")
        async def per_class(request):
            value = {"owner": request.node.name, "alive": True}
            log("setup", request.node.name)
            yield value
            value["alive"] = False
            log("teardown", request.node.name)

        @pytest.mark.parametrize("n", range(3))
        async def test_outside_a_class(per_class, request, n):
            await meet(ALL)
            await asyncio.sleep(0.02 * n)
            assert per_class == {"owner": request.node.name, "alive": True}
        """
    )
    result = run_alt("-v")
    result.assert_outcomes(passed=3)
    events = read_events(pytester)
    names = [f"test_outside_a_class[{n}]" for n in range(3)]
    assert sorted(line for line in events if line.startswith("setup ")) == [
        f"setup {name}" for name in names
    ]
    assert sorted(line for line in events if line.startswith("teardown ")) == [
        f"teardown {name}" for name in names
    ]


def test_failing_fixture_is_an_error_at_setup_and_earlier_fixtures_are_torn_down(
    pytester, run_alt
):
    events_conftest(pytester)
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        from conftest import log, meet

        pytestmark = pytest.mark.asyncio_cooperative
        ALL = asyncio.Barrier(3)

        @pytest.fixture
        async def first(request):
            log("setup first", request.node.name)
            await asyncio.sleep(0.01)
            yield
            await asyncio.sleep(0.01)
            log("teardown first", request.node.name)

        @pytest.fixture
        async def broken(first):
            await meet(ALL)
            raise RuntimeError("the broken fixture failed")

        async def test_broken(first, broken):
            log("body test_broken")

        async def test_fine_1(first):
            await meet(ALL)
            log("body test_fine_1")

        async def test_fine_2(first):
            await meet(ALL)
            log("body test_fine_2")
        """
    )
    result = run_alt("-v")
    result.assert_outcomes(passed=2, errors=1)
    assert verbose_lines(result.stdout.str()) == {
        "test_broken": ["ERROR"],
        "test_fine_1": ["PASSED"],
        "test_fine_2": ["PASSED"],
    }
    result.stdout.fnmatch_lines(["*ERROR at setup of test_broken*", "E*the broken fixture failed"])
    events = read_events(pytester)
    assert "body test_broken" not in events
    assert {"body test_fine_1", "body test_fine_2"} <= set(events)
    for name in ("test_broken", "test_fine_1", "test_fine_2"):
        assert events.count(f"setup first {name}") == 1
        assert events.count(f"teardown first {name}") == 1


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
@pytest.mark.parametrize("canceller", ["task group", "own task"])
def test_a_teardown_cancelled_by_its_code_leaves_no_fixture_up(pytester, run_alt, mode, canceller):
    # A cancellation of the code's own (a task group a fixture holds across
    # its yield, whose helper fails while another fixture tears down; or a
    # teardown cancelling its own task) out of one teardown stopped the
    # test's other teardowns: the fixtures were left up, torn down with
    # another test (blamed for their errors), or at the session's end, where
    # an error crashed pytest; a module fixture holding a lock hung the run.
    events_conftest(
        pytester,
        """
        import alt_coop
        import pytest

        PORT = alt_coop.Lock()

        @pytest.fixture(scope="module")
        async def server():
            async with PORT():
                yield
            log("teardown server")
        """,
    )
    pytester.makepyfile(
        test_cancelled=f"""
        import asyncio
        import pytest
        from conftest import log

        @pytest.fixture
        async def worker():
            async def helper():
                await asyncio.sleep(0.15 if {canceller == "task group"} else 30)
                raise ConnectionError("the helper lost its connection")

            try:
                async with asyncio.TaskGroup() as tg:
                    helper_task = tg.create_task(helper())
                    yield
                    if {canceller == "own task"}:
                        helper_task.cancel()
            finally:
                log("teardown worker")

        @pytest.fixture
        async def client():
            yield
            if {canceller == "own task"}:
                asyncio.get_running_loop().call_later(0.05, asyncio.current_task().cancel)
            await asyncio.sleep(1)

        @pytest.mark.parametrize("i", range(2))
        async def test_it(server, worker, client, i):
            await asyncio.sleep(0.1)

        def test_after():
            log("test_after")
        """,
        test_other="""
        async def test_other_module(server):
            pass
        """,
    )
    result = run_alt("-v", "-p", "no:randomly", *mode_args(mode))
    output = result.stdout.str()
    assert "Exception Group Traceback" not in output.split("short test summary info")[-1]
    result.assert_outcomes(passed=4, errors=2)
    lines = verbose_lines(output)
    assert lines["test_it[0]"] == lines["test_it[1]"] == ["PASSED", "ERROR"], output
    assert lines["test_after"] == lines["test_other_module"] == ["PASSED"], output
    if canceller == "task group":
        assert output.count("ConnectionError: the helper lost its connection") >= 2, output
    else:
        result.stdout.fnmatch_lines(["E * alt_coop.errors.TeardownCancelled"] * 2)
    events = read_events(pytester)
    assert events.count("teardown worker") == 2, events
    assert events.count("teardown server") == 2, events
    assert events.index("teardown worker") < events.index("test_after"), events


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_a_finished_tests_state_is_not_kept_for_the_session(pytester, run_alt, mode):
    # pytest keeps the request of a fixture that uses a wider one (tmp_path's
    # of tmp_path_factory) until that one is finished, at the session's end:
    # what a test set in its context, and the warnings it recorded, must not
    # be kept with it for every test (memory growing with the suite).
    pytester.makepyfile(
        """
        import asyncio
        import contextvars
        import gc
        import time
        import warnings
        import weakref
        import pytest

        ALIVE = weakref.WeakSet()
        VAR = contextvars.ContextVar("VAR")

        class Payload:
            def __init__(self):
                ALIVE.add(self)

        class PayloadWarning(UserWarning):
            def __init__(self):
                super().__init__("payload")
                self.payload = Payload()

        @pytest.fixture(scope="session")
        def engine():
            return object()

        @pytest.fixture
        def per_test(request, engine):
            VAR.set(Payload())  # not reset: a sequential run keeps the last one

        @pytest.mark.parametrize("i", range(30))
        async def test_context(i, per_test, tmp_path):
            await asyncio.sleep(0.01)

        @pytest.mark.parametrize("i", range(30))
        async def test_recorded(i, recwarn, tmp_path):
            warnings.warn(PayloadWarning())
            await asyncio.sleep(0.05)

        @pytest.mark.asyncio_cooperative
        def test_in_a_thread():
            time.sleep(0.1)

        @pytest.mark.asyncio_sequential
        def test_zz_after_the_others():
            gc.collect()
            assert len(ALIVE) <= 1, f"{len(ALIVE)} payloads of finished tests kept"
        """
    )
    run_alt(*mode_args(mode), "--max-asyncio-tasks=8").assert_outcomes(passed=62)


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_a_wider_fixture_asking_its_request_later_gets_the_shared_instance(
    pytester, run_alt, mode
):
    # A module fixture handing out a getter: its request asks for another
    # module fixture once the test that set it up is over.
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        SETUPS = []

        @pytest.fixture(scope="module")
        def thing():
            SETUPS.append(1)
            yield object()

        @pytest.fixture(scope="module")
        def getter(request):
            return lambda: request.getfixturevalue("thing")

        async def test_a(getter):
            pass

        async def test_b(getter, thing):
            await asyncio.sleep(0.1)
            assert getter() is thing
            assert len(SETUPS) == 1
        """
    )
    run_alt(*mode_args(mode)).assert_outcomes(passed=2)


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_a_wider_fixtures_teardown_error_is_not_hidden_by_an_xfail_finishing_last(
    pytester, run_alt, mode
):
    # The last test to finish tears the module fixture down, and gets its
    # error: an xfail mark of its own would report it as expected, where a
    # sequential run gives it to the last test in collection order.
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.fixture(scope="module")
        async def resource():
            yield
            raise RuntimeError("module teardown failed")

        @pytest.mark.xfail(reason="known bug")
        async def test_slow_known_bug(resource):
            await asyncio.sleep(0.2)
            assert 0

        async def test_fast(resource):
            await asyncio.sleep(0.01)
        """
    )
    result = run_alt("-rA", *mode_args(mode))
    result.assert_outcomes(passed=1, xfailed=1, errors=1)
    result.stdout.fnmatch_lines(["E * RuntimeError: module teardown failed", "ERROR *::test_*"])
    assert result.ret == pytest.ExitCode.TESTS_FAILED


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
@pytest.mark.parametrize("where", ["teardown_class", "module fixture"])
def test_pytest_xfail_in_a_wider_teardown_is_an_xfail_whichever_test_finishes_last(
    pytester, run_alt, mode, where
):
    # pytest.xfail() there is an outcome, not an error: XFAIL at the
    # teardown of the test that tears the scope down, the last to finish.
    in_class, in_module = (
        """
            @classmethod
            def teardown_class(cls):
                pytest.xfail("known leak at teardown")
        """,
        """
        @pytest.fixture(scope="module", autouse=True)
        async def resource():
            yield
            pytest.xfail("known leak at teardown")
        """,
    )
    pytester.makepyfile(
        f"""
        import asyncio
        import pytest

        {in_module if where == "module fixture" else ""}

        class TestTornDown:
            {in_class if where == "teardown_class" else ""}

            async def test_slow(self):
                await asyncio.sleep(0.2)

            async def test_fast(self):
                await asyncio.sleep(0.01)
        """
    )
    result = run_alt("-rA", *mode_args(mode))
    result.assert_outcomes(passed=2, xfailed=1)
    # pytest 8.3: "XFAIL <test> - reason: ..."; from 8.4: "XFAIL at teardown of <test> - ...".
    result.stdout.fnmatch_lines(["XFAIL *::TestTornDown::test_* - *known leak at teardown"])
    assert result.ret == pytest.ExitCode.OK


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
@pytest.mark.parametrize("marked", ["first", "last"])
def test_a_wider_fixtures_teardown_warnings_meet_the_marks_of_the_last_test(
    pytester, run_alt, mode, marked
):
    # A sequential run tears the module fixture down with the last test in
    # collection order, under its filterwarnings marks: they decide whether
    # the teardown's warning is an error, whichever test finishes last.
    first, last = ("error", "ignore") if marked == "first" else ("ignore", "error")
    pytester.makepyfile(
        f"""
        import asyncio
        import warnings
        import pytest

        @pytest.fixture(scope="module")
        async def client():
            yield
            await asyncio.sleep(0)
            warnings.warn("closed with requests pending", UserWarning)

        @pytest.mark.filterwarnings("{first}:closed with requests")
        async def test_slow(client):
            await asyncio.sleep(0.2)

        @pytest.mark.filterwarnings("{last}:closed with requests")
        async def test_fast(client):
            await asyncio.sleep(0.01)
        """
    )
    result = run_alt("-W", "error::UserWarning", *mode_args(mode))
    result.assert_outcomes(passed=2, errors=1 if marked == "last" else 0)
    if marked == "last":
        result.stdout.fnmatch_lines(["E * UserWarning: closed with requests pending"])


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_a_param_switch_waits_for_a_dependents_teardown_in_progress(pytester, run_alt, mode):
    # A test switching a session fixture to its next param finishes the old
    # instance, and with it the instances that depend on it: one of them
    # (top) was already being torn down by its module's end. Its dependency
    # (m), the old param and the new one's set-up came while it still ran.
    events_conftest(
        pytester,
        """
        import pytest

        @pytest.fixture(scope="session")
        async def s(request):
            param = getattr(request, "param", None)
            log("setup", f"s[{param}]")
            yield
            log("teardown", f"s[{param}]")

        @pytest.fixture(scope="module")
        async def m(request, s):
            log("setup", "m", request.node.name)
            yield
            log("teardown", "m", request.node.name)

        @pytest.fixture(scope="module")
        async def top(request, m):
            log("setup", "top", request.node.name)
            yield
            log("teardown-starts", "top", request.node.name)
            await asyncio.sleep(0.05)
            log("teardown", "top", request.node.name)
        """,
    )
    pytester.makepyfile(
        test_a="""
        import asyncio
        import pytest

        @pytest.fixture
        async def lingering():
            yield
            await asyncio.sleep(0.03)

        async def test_0(top):
            pass

        async def test_1(s):
            pass

        async def test_2(lingering):  # the last to end: its lane ends the module
            pass
        """,
        test_b="""
        import asyncio
        import pytest

        @pytest.fixture
        async def slow():
            await asyncio.sleep(0.06)

        @pytest.mark.parametrize("s", ["x"], indirect=True)
        async def test_b(slow, top, s):
            pass
        """,
    )
    result = run_alt(*mode_args(mode))
    result.assert_outcomes(passed=4)
    assert read_events(pytester) == [
        "setup s[None]",
        "setup m test_a.py",
        "setup top test_a.py",
        "teardown-starts top test_a.py",
        "teardown top test_a.py",
        "teardown m test_a.py",
        "teardown s[None]",
        "setup s[x]",
        "setup m test_b.py",
        "setup top test_b.py",
        "teardown-starts top test_b.py",
        "teardown top test_b.py",
        "teardown m test_b.py",
        "teardown s[x]",
    ]


@pytest.mark.parametrize("scope", ["package", "session"])
@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_a_param_of_a_wider_scope_and_none_are_one_instance_at_a_time(
    pytester, run_alt, mode, scope
):
    # A parametrize scope wider than the fixture's: pytest's one instance
    # serves the param, then none again, set up anew each time. The param's
    # instance was another than the module's, so both lived at once, and the
    # test after it reused the module's first one.
    events_conftest(pytester)
    pytester.makepyfile(
        f"""
        import asyncio
        import pytest
        from conftest import log

        @pytest.fixture(scope="module")
        async def res(request):
            param = getattr(request, "param", None)
            log("setup", param)
            yield param
            await asyncio.sleep(0.01)
            log("teardown", param)

        async def test_0(res):
            await asyncio.sleep(0.05)
            assert res is None

        @pytest.mark.parametrize("res", ["a"], indirect=True, scope="{scope}")
        async def test_1(res):
            assert res == "a"

        async def test_2(res):
            assert res is None
        """
    )
    result = run_alt(*mode_args(mode))
    result.assert_outcomes(passed=3)
    assert read_events(pytester) == [
        "setup None",
        "teardown None",
        "setup a",
        "teardown a",
        "setup None",
        "teardown None",
    ]


#: Suites whose tests give a fixture a param of another scope than its own.
#: pytest leaves the finish of its one instance on the node of the param's
#: scope, which finishes whatever instance the fixture holds as it ends:
#: another test's (a session fixture torn down under a test using it, then
#: a batch that never ended), or the instance for no param.
SUITES_PARAM_OF_ANOTHER_SCOPE = {
    "narrower, then none beside a dependent": {
        "conftest": """
            import asyncio
            import pytest
            from events import log

            @pytest.fixture(scope="session")
            async def sess(request):
                log("setup sess", getattr(request, "param", None))
                yield
                log("teardown sess", getattr(request, "param", None))

            @pytest.fixture(scope="session", params=["a", "b"])
            async def two(request):
                log("setup two", request.param)
                await asyncio.sleep(0.02)
                yield request.param
                log("teardown two", request.param)
            """,
        "test_a": """
            import pytest

            class TestA:
                @pytest.mark.parametrize("sess", ["x"], indirect=True, scope="class")
                async def test_0(self, sess):
                    pass

                async def test_1(self, sess, two):
                    pass
            """,
        "test_b": """
            import asyncio
            import pytest
            from events import log

            @pytest.fixture(scope="session")
            async def dep(sess):
                log("setup dep")
                yield
                await asyncio.sleep(0.05)
                log("teardown dep")

            async def test_1(dep, two):
                log("test_b", two)
            """,
    },
    "wider, of a function fixture": {
        "conftest": """
            import pytest
            from events import log

            @pytest.fixture
            def fn(request):
                log("setup fn", getattr(request, "param", None))
                yield
                log("teardown fn", getattr(request, "param", None))
            """,
        "test_a": """
            import asyncio
            import pytest

            @pytest.mark.parametrize("fn", ["x"], indirect=True, scope="module")
            async def test_0(fn):
                await asyncio.sleep(0.01)

            async def test_1(fn):
                await asyncio.sleep(0.01)

            async def test_2(fn):
                await asyncio.sleep(0.01)
            """,
    },
    "wider and the fixture's own, one value": {
        "conftest": """
            import asyncio
            import pytest
            from events import log

            @pytest.fixture(scope="module", autouse=True)
            async def mod(request):
                param = getattr(request, "param", None)
                log("setup mod", param)
                await asyncio.sleep(0.01)
                yield param
                log("teardown mod", param)
            """,
        "test_a": """
            import asyncio
            import pytest

            @pytest.fixture(scope="session", params=["s0", "s1"])
            async def sp(request):
                return request.param

            async def test_0(sp):
                await asyncio.sleep(0.02)

            class TestC:
                @pytest.mark.parametrize("mod", ["a", "b"], indirect=True)
                async def test_2(self, sp, mod):
                    pass

                @pytest.mark.parametrize("mod", ["a", "b"], indirect=True, scope="session")
                async def test_3(self, mod, sp):
                    await asyncio.sleep(0.03)
            """,
    },
}


@pytest.mark.parametrize("suite", sorted(SUITES_PARAM_OF_ANOTHER_SCOPE))
def test_fixtures_given_a_param_of_another_scope_run_as_in_a_sequential_run(
    pytester, run_alt_subprocess, suite
):
    files = SUITES_PARAM_OF_ANOTHER_SCOPE[suite]
    events = pytester.path / "events.txt"
    pytester.makepyfile(
        events=f"""
        def log(*parts):
            with open({str(events)!r}, "a") as f:
                f.write(" ".join(map(str, parts)) + "\\n")
        """
    )
    pytester.makeconftest(files["conftest"])
    pytester.makepyfile(**{name: files[name] for name in files if name != "conftest"})
    seen = {}
    for mode in ("sequential", "cooperative"):
        events.unlink(missing_ok=True)
        result = run_alt_subprocess("-p", "no:randomly", *mode_args(mode), timeout=60)
        seen[mode] = (result.ret, result.parseoutcomes(), events.read_text().splitlines())
    assert seen["cooperative"][0] == seen["sequential"][0], seen
    assert seen["cooperative"][2] == seen["sequential"][2], seen
    outcomes = {key: value for key, value in seen["cooperative"][1].items() if key != "warnings"}
    assert outcomes == seen["sequential"][1], seen
    result.stdout.fnmatch_lines(
        [
            "*AltCoopWarning: alt_coop: tests using * run sequentially: a test gives it a "
            "param of another scope than its own*"
        ]
    )


def test_a_fixture_of_the_same_name_given_no_param_of_another_scope_stays_cooperative(
    pytester, run_alt
):
    # The fixture given a param of another scope is test_one.py's conftest
    # one; another module's fixture of that name is another fixture: its
    # tests run at once, each with its own instance, even one it asks for
    # through request.getfixturevalue.
    pytester.makeconftest(
        """
        import pytest

        @pytest.fixture(scope="session")
        def a(request):
            return getattr(request, "param", None)
        """
    )
    pytester.makepyfile(
        test_one="""
        import pytest

        @pytest.mark.parametrize("a", [1], indirect=True, scope="module")
        async def test_param(a):
            assert a == 1
        """,
        test_two="""
        import asyncio
        import itertools
        import pytest

        counter = itertools.count()

        @pytest.fixture
        async def a():
            yield next(counter)

        async def test_named(a):
            await asyncio.sleep(0.05)

        async def test_dynamic(request):
            await asyncio.sleep(0.01)
            value = request.getfixturevalue("a")
            await asyncio.sleep(0.05)
            assert request.getfixturevalue("a") == value
        """,
    )
    result = run_alt("--asyncio-cooperative", "-p", "no:randomly")
    result.assert_outcomes(passed=3, warnings=1)
    result.stdout.fnmatch_lines(["alt_coop: 2 cooperative tests, at most 2 at once*"])


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_two_tests_tearing_down_at_once_what_one_context_set_up_leave_it_as_it_was(
    pytester, run_alt, mode
):
    # Instances a sequential test set up share its context; two cooperative
    # tests switching them to other params tear them down at once there,
    # each marking it as its own while it does. The one that began first
    # ended first: putting back what it found there left the other test
    # marked as running in the sequential tests' context, and a later one
    # setting up a wider async fixture failed ("no running event loop").
    pytester.makepyfile(
        test_switch="""
        import asyncio
        import pytest

        @pytest.fixture(scope="session")
        async def first(request):
            yield request.param
            await asyncio.sleep(0.2)

        @pytest.fixture(scope="session")
        async def second(request):
            yield request.param
            await asyncio.sleep(0.3)

        @pytest.mark.asyncio_sequential
        @pytest.mark.parametrize("first", ["a"], indirect=True)
        @pytest.mark.parametrize("second", ["a"], indirect=True)
        async def test_sets_both_up(first, second):
            pass

        @pytest.mark.parametrize("first", ["b"], indirect=True)
        async def test_switches_first(first):
            assert first == "b"

        @pytest.mark.parametrize("second", ["b"], indirect=True)
        async def test_switches_second(second):
            assert second == "b"
        """,
        test_then="""
        import pytest

        @pytest.fixture(scope="module")
        async def later():
            yield "later"

        @pytest.mark.asyncio_sequential
        async def test_after(later):
            assert later == "later"
        """,
    )
    result = run_alt(*mode_args(mode), "-p", "no:randomly")
    result.assert_outcomes(passed=4)
    if mode == "cooperative":
        result.stdout.fnmatch_lines(["alt_coop: 2 cooperative tests, at most 2 at once*"])


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_sync_fixtures_see_no_running_loop_as_in_a_sequential_run(pytester, run_alt, mode):
    # A cooperative test's sync fixtures run while the loop runs, beside
    # other tests; they see it stopped, as sync code does in a sequential
    # run: asyncio.run() and a loop of their own work there (Django's
    # async_to_sync, say), and code asking whether it runs in async code
    # (sniffio, get_running_loop) is told it does not.
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        async def value(x):
            await asyncio.sleep(0.01)
            return x

        @pytest.fixture
        async def async_fixture():
            await asyncio.sleep(0)
            return asyncio.get_running_loop()

        @pytest.fixture
        def runs_its_own(request):
            got = asyncio.run(value("setup"))
            with pytest.raises(RuntimeError, match="no running event loop"):
                asyncio.get_running_loop()
            session_loop = request.getfixturevalue("async_fixture")
            assert asyncio.get_event_loop() is session_loop  # current again after asyncio.run
            yield got
            loop = asyncio.new_event_loop()
            try:
                assert loop.run_until_complete(value("teardown")) == "teardown"
            finally:
                loop.close()
            print("TORN DOWN")

        class TestIt:
            def setup_method(self):
                self.seen = asyncio.run(value("xunit"))

            async def test_uses_it(self, runs_its_own, async_fixture):
                assert runs_its_own == "setup"
                assert self.seen == "xunit"
                assert asyncio.get_running_loop() is async_fixture
                await asyncio.sleep(0.2)

        async def test_beside():
            await asyncio.sleep(0.2)
        """
    )
    result = run_alt("-s", *mode_args(mode))
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*TORN DOWN*"])
    if mode == "cooperative":
        result.stdout.fnmatch_lines(["alt_coop: 2 cooperative tests, at most 2 at once*"])


@pytest.mark.skipif(
    not hasattr(__import__("asyncio"), "eager_task_factory"), reason="Python 3.12+"
)
@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_a_task_a_sync_fixture_starts_under_an_eager_task_factory(pytester, run_alt, mode):
    # An eager factory steps the task's coroutine where it is made: while
    # the sync fixture sees the loop stopped, that code sees it running.
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.fixture(autouse=True, scope="module")
        async def eager():
            loop = asyncio.get_running_loop()
            loop.set_task_factory(asyncio.eager_task_factory)
            yield
            loop.set_task_factory(None)

        async def worker(seen):
            seen.append(asyncio.get_running_loop())
            await asyncio.sleep(0.01)
            return "done"

        @pytest.fixture
        async def short_wait():
            await asyncio.sleep(0.05)

        @pytest.fixture
        async def long_wait():
            await asyncio.sleep(0.1)

        def start(request, wait):
            seen = []
            request.getfixturevalue(wait)  # another test's fixture runs meanwhile
            task = asyncio.get_event_loop().create_task(worker(seen))
            return task, seen

        @pytest.fixture
        def started(request, eager):
            yield start(request, "short_wait")
            assert asyncio.get_event_loop().get_task_factory() is asyncio.eager_task_factory

        @pytest.fixture
        def started_later(request, eager):
            return start(request, "long_wait")

        async def test_it(started):
            task, seen = started
            assert await task == "done"
            assert seen == [asyncio.get_running_loop()]

        async def test_too(started_later):
            task, seen = started_later
            assert await task == "done"

        @pytest.fixture
        def sets_it_itself():
            loop = asyncio.get_event_loop()
            factory = loop.get_task_factory()
            loop.set_task_factory(asyncio.eager_task_factory)
            seen = []
            yield loop.create_task(worker(seen)), seen
            loop.set_task_factory(factory)

        async def test_set_in_the_fixture(sets_it_itself):
            task, seen = sets_it_itself
            assert await task == "done"

        async def test_beside():
            await asyncio.sleep(0.05)
        """
    )
    result = run_alt(*mode_args(mode))
    result.assert_outcomes(passed=4)


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_teardowns_see_the_loop_stopped_as_their_setups_do(pytester, run_alt, mode):
    # Finalizers added to a test's node, from its body, or by a teardown
    # ran in a cooperative run with the loop running: asyncio.run() failed.
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        def finalizer(tag):
            def run_it():
                asyncio.run(asyncio.sleep(0))
                with pytest.raises(RuntimeError, match="no running event loop"):
                    asyncio.get_running_loop()
                print("FINALIZED", tag)
            return run_it

        @pytest.fixture
        def on_the_node(request):
            request.node.addfinalizer(finalizer("node"))

        @pytest.fixture(scope="module")
        def on_the_module(request):
            request.node.addfinalizer(finalizer("module"))

        @pytest.fixture
        def added_late(request):
            yield
            request.addfinalizer(finalizer("late"))

        async def test_it(on_the_node, on_the_module, added_late, request):
            request.addfinalizer(finalizer("from the body"))
            await asyncio.sleep(0.1)

        async def test_beside():
            await asyncio.sleep(0.1)
        """
    )
    result = run_alt("-s", "-p", "no:randomly", *mode_args(mode))
    result.assert_outcomes(passed=2)
    output = result.stdout.str()
    for tag in ("node", "module", "late", "from the body"):
        assert f"FINALIZED {tag}" in output, output


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_fixtures_asked_for_inside_a_sync_fixtures_own_loop(pytester, run_alt, mode):
    # Asked for by code on that loop (its asyncio.run()): a sync fixture sees
    # that loop running; an async one is refused, saying why. In a
    # cooperative run, the sync one saw no loop, and the async one ended the
    # session in an INTERNALERROR.
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.fixture
        def sync_leaf():
            return asyncio.get_running_loop()

        @pytest.fixture
        async def async_leaf():
            return "async"

        def on_its_own_loop(request, name):
            async def inner():
                return asyncio.get_running_loop(), request.getfixturevalue(name)
            return asyncio.run(inner())

        @pytest.fixture
        def gets_sync(request):
            return on_its_own_loop(request, "sync_leaf")

        @pytest.fixture
        def gets_async(request):
            return on_its_own_loop(request, "async_leaf")

        async def test_sync(gets_sync):
            its_loop, seen = gets_sync
            assert seen is its_loop

        async def test_async(gets_async):
            pass

        async def test_beside():
            await asyncio.sleep(0.05)
        """
    )
    result = run_alt(*mode_args(mode))
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        [
            "E   *AltCoopUsageError: alt_coop cannot run this coroutine (an async fixture asked "
            "for with request.getfixturevalue, say) while another event loop runs in this "
            "thread*",
        ]
    )
    assert "INTERNALERROR" not in result.stdout.str()


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_the_current_loop_between_teardowns_is_as_in_a_sequential_run(pytester, run_alt, mode):
    # An asyncio.run() in one teardown leaves no loop current for the next,
    # as in a sequential run; and a patch of the loop class's create_task
    # made during the run is called for alt_coop's loop too.
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        MADE = []

        @pytest.fixture(scope="session", autouse=True)
        def instrumented():
            original = asyncio.BaseEventLoop.create_task

            def create_task(self, coro, **kwargs):
                MADE.append(coro.__name__)
                return original(self, coro, **kwargs)

            asyncio.BaseEventLoop.create_task = create_task
            yield
            asyncio.BaseEventLoop.create_task = original

        @pytest.fixture
        def first():
            yield
            asyncio.get_event_loop()  # torn down after second's asyncio.run()

        @pytest.fixture
        def second(first):
            yield
            asyncio.run(asyncio.sleep(0))

        async def work():
            return 1

        async def test_it(second):
            assert await asyncio.ensure_future(work()) == 1
            assert "work" in MADE

        async def test_beside():
            await asyncio.sleep(0.05)
        """
    )
    result = run_alt(*mode_args(mode))
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["E * RuntimeError: There is no current event loop*"])


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_another_tests_asyncio_run_leaves_the_loop_current_for_this_ones_sync_code(
    pytester, run_alt, mode
):
    # asyncio.run() in one test's sync teardown leaves no loop current as it
    # ends; the tests beside it, whose sync code goes on after an await, still
    # find the session's loop current, as in a sequential run.
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.fixture
        async def slow():
            await asyncio.sleep(0.2)

        @pytest.fixture
        def after_getfixturevalue(request):
            request.getfixturevalue("slow")
            return asyncio.get_event_loop()

        @pytest.fixture
        def sync_outer():
            yield
            asyncio.get_event_loop()

        @pytest.fixture
        async def async_inner(sync_outer):
            yield
            await asyncio.sleep(0.2)

        @pytest.fixture
        def runs_a_loop_in_teardown():
            yield
            asyncio.run(asyncio.sleep(0))

        async def test_getfixturevalue(after_getfixturevalue):
            assert after_getfixturevalue is asyncio.get_running_loop()

        async def test_teardown_after_an_await(async_inner):
            pass

        class TestMethod:
            def teardown_method(self, method):
                asyncio.get_event_loop()

            async def test_it(self, request, async_inner):
                request.addfinalizer(lambda: asyncio.get_event_loop())

        async def test_runs_a_loop(runs_a_loop_in_teardown):
            await asyncio.sleep(0.05)
        """
    )
    result = run_alt(*mode_args(mode))
    result.assert_outcomes(passed=4)


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_after_a_batch_the_sessions_loop_is_current_as_in_a_sequential_run(
    pytester, run_alt_subprocess, mode
):
    # A sequential test's fixture left no loop current (the legacy
    # event_loop pattern); the batch after it, as the tests of a sequential
    # run, made the session's loop current again, for the session's end too.
    pytester.makeconftest(
        """
        import asyncio
        import pytest

        def pytest_sessionfinish(session):
            try:
                asyncio.get_event_loop()
                print("\\nsessionfinish: a loop is current")
            except RuntimeError as error:
                print("\\nsessionfinish:", error)

        @pytest.fixture
        def event_loop():
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            yield loop
            loop.close()
            asyncio.set_event_loop(None)
        """
    )
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.mark.asyncio_sequential
        def test_legacy(event_loop):
            pass

        @pytest.mark.parametrize("i", range(2))
        async def test_batch(i):
            await asyncio.sleep(0.01)
        """
    )
    result = run_alt_subprocess("-s", *mode_args(mode))
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["sessionfinish: a loop is current"])


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_a_spy_on_the_loops_create_task_is_left_in_place_during_a_batch(pytester, run_alt, mode):
    pytester.makepyfile(
        """
        import asyncio
        from unittest import mock
        import pytest

        @pytest.fixture(scope="session")
        def spied_loop():
            loop = asyncio.get_event_loop()
            loop.create_task = mock.Mock(wraps=loop.create_task)
            yield loop
            del loop.create_task

        @pytest.mark.asyncio_sequential
        async def test_first(spied_loop):
            pass

        @pytest.mark.parametrize("i", range(2))
        async def test_it(i, spied_loop):
            await asyncio.sleep(0.01)
            assert isinstance(spied_loop.create_task, mock.Mock)
        """
    )
    result = run_alt(*mode_args(mode))
    result.assert_outcomes(passed=3)


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_a_plain_def_tests_body_finds_the_loop_current(pytester, run_alt, mode):
    # Run in a worker thread in a cooperative run, the body finds the loop
    # that is current where the test runs, as a sequential run's does.
    mark = "asyncio_cooperative" if mode == "cooperative" else "asyncio_sequential"
    pytester.makepyfile(
        f"""
        import asyncio
        import pytest

        @pytest.fixture
        async def running_loop():
            return asyncio.get_running_loop()

        @pytest.mark.{mark}
        @pytest.mark.parametrize("i", range(2))
        def test_body(i, running_loop):
            assert asyncio.get_event_loop() is running_loop
        """
    )
    result = run_alt()
    result.assert_outcomes(passed=2)
