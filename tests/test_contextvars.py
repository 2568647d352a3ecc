"""Context variables flow from fixtures to what uses them, not between tests."""

from __future__ import annotations

import pytest
from conftest import mode_args

SCOPED_SETTERS = """
import asyncio
import contextvars
import pytest

CORO = contextvars.ContextVar("CORO", default="unset")
AGEN = contextvars.ContextVar("AGEN", default="unset")
SYNC = contextvars.ContextVar("SYNC", default="unset")
EXPECTED = ("coro", "agen", "sync")


def values():
    return (CORO.get(), AGEN.get(), SYNC.get())


@pytest.fixture(scope={scope!r})
async def coro_setter():
    await asyncio.sleep(0)
    CORO.set("coro")
    return "coro set"


@pytest.fixture(scope={scope!r})
async def agen_setter():
    await asyncio.sleep(0)
    AGEN.set("agen")
    yield "agen set"
    assert AGEN.get() == "agen"


@pytest.fixture(scope={scope!r})
def sync_setter():
    SYNC.set("sync")
    return "sync set"


@pytest.fixture(scope={scope!r})
async def async_reader(coro_setter, agen_setter, sync_setter):
    await asyncio.sleep(0)
    return values()


@pytest.fixture(scope={scope!r})
def sync_reader(coro_setter, agen_setter, sync_setter):
    return values()


@pytest.fixture
async def function_reader(async_reader, sync_reader):
    await asyncio.sleep(0)
    return values()


class TestReads:
    async def test_async(self, async_reader, sync_reader, function_reader):
        assert async_reader == EXPECTED
        assert sync_reader == EXPECTED
        assert function_reader == EXPECTED
        await asyncio.sleep(0)
        assert values() == EXPECTED

    def test_sync(self, async_reader, sync_reader, function_reader):
        assert (async_reader, sync_reader, function_reader) == (EXPECTED,) * 3
        assert values() == EXPECTED

    async def test_async_again(self, async_reader, sync_reader, function_reader):
        assert (async_reader, sync_reader, function_reader) == (EXPECTED,) * 3
        assert values() == EXPECTED


async def test_outside_class(async_reader, sync_reader, function_reader):
    assert (async_reader, sync_reader, function_reader) == (EXPECTED,) * 3
    assert values() == EXPECTED
"""


@pytest.mark.parametrize("scope", ["function", "class", "module", "session"])
def test_fixture_context_reaches_dependent_fixtures_and_tests(pytester, run_alt, scope):
    pytester.makepyfile(SCOPED_SETTERS.format(scope=scope))
    result = run_alt("-v")
    result.assert_outcomes(passed=4)


def test_session_fixture_context_reaches_other_modules(pytester, run_alt):
    pytester.makeconftest(
        """
        import asyncio
        import contextvars
        import pytest

        VAR = contextvars.ContextVar("VAR", default="unset")

        @pytest.fixture(scope="session")
        async def session_setter():
            await asyncio.sleep(0)
            VAR.set("from session")
            yield "set"
        """
    )
    pytester.makepyfile(
        test_one="""
        from conftest import VAR

        async def test_one(session_setter):
            assert VAR.get() == "from session"
        """,
        test_two="""
        from conftest import VAR

        def test_two_sync(session_setter):
            assert VAR.get() == "from session"

        async def test_two_async(session_setter):
            assert VAR.get() == "from session"
        """,
    )
    result = run_alt("-v")
    result.assert_outcomes(passed=3)


def test_value_a_test_sets_does_not_leak_into_the_next_test(pytester, run_alt):
    pytester.makepyfile(
        """
        import asyncio
        import contextvars
        import pytest

        VAR = contextvars.ContextVar("VAR", default="unset")

        @pytest.fixture
        async def async_reader():
            await asyncio.sleep(0)
            return VAR.get()

        @pytest.fixture
        def sync_reader():
            return VAR.get()

        def test_1_sync_sets(async_reader, sync_reader):
            assert (async_reader, sync_reader, VAR.get()) == ("unset",) * 3
            VAR.set("from sync test")

        async def test_2_async_sees_default_and_sets(async_reader, sync_reader):
            assert (async_reader, sync_reader, VAR.get()) == ("unset",) * 3
            VAR.set("from async test")
            await asyncio.sleep(0)
            assert VAR.get() == "from async test"

        def test_3_sync_sees_default(async_reader, sync_reader):
            assert (async_reader, sync_reader, VAR.get()) == ("unset",) * 3
            VAR.set("from sync test again")

        async def test_4_async_sees_default(async_reader, sync_reader):
            assert (async_reader, sync_reader, VAR.get()) == ("unset",) * 3
        """
    )
    result = run_alt("-v")
    result.assert_outcomes(passed=4)


def test_async_generator_fixture_resets_its_token(pytester, run_alt):
    pytester.makepyfile(
        """
        import asyncio
        import contextvars
        import pytest

        VAR = contextvars.ContextVar("VAR", default="unset")
        RESETS = []

        @pytest.fixture(scope="module")
        async def module_value():
            token = VAR.set("module")
            yield "module"
            await asyncio.sleep(0)
            VAR.reset(token)
            RESETS.append(("module", VAR.get()))

        @pytest.fixture
        async def function_value(module_value):
            await asyncio.sleep(0)
            token = VAR.set("function")
            yield "function"
            await asyncio.sleep(0)
            VAR.reset(token)
            RESETS.append(("function", VAR.get()))

        async def test_async(function_value):
            assert VAR.get() == "function"

        def test_sync(function_value):
            assert VAR.get() == "function"

        async def test_sets_its_own_value(function_value):
            VAR.set("the test's own")

        async def test_requested_from_the_test_body(module_value, request):
            await asyncio.sleep(0)
            assert request.getfixturevalue("function_value") == "function"
            assert VAR.get() == "function"

        async def test_module_value_after_function_resets(module_value):
            assert VAR.get() == "module"
            assert RESETS == [("function", "module")] * 4
        """,
    )
    pytester.makepyfile(
        test_zz_after="""
        import test_async_generator_fixture_resets_its_token as first

        def test_all_reset():
            assert first.RESETS == [("function", "module")] * 4 + [("module", "unset")]
            assert first.VAR.get() == "unset"
        """
    )
    result = run_alt("-v")
    result.assert_outcomes(passed=6)
    assert "ValueError" not in result.stdout.str()


def test_context_var_from_async_fixture_reaches_tasks_the_test_creates(pytester, run_alt):
    pytester.makepyfile(
        """
        import asyncio
        import contextvars
        import pytest

        VAR = contextvars.ContextVar("VAR", default="unset")

        @pytest.fixture
        async def setter():
            await asyncio.sleep(0)
            VAR.set("from fixture")
            yield "set"

        @pytest.fixture(scope="module")
        async def module_setter():
            VAR.set("from module fixture")
            return "set"

        async def read_later():
            await asyncio.sleep(0)
            return VAR.get()

        async def test_create_task(setter):
            assert await asyncio.create_task(read_later()) == "from fixture"

        async def test_task_group(setter):
            async with asyncio.TaskGroup() as tg:
                tasks = [tg.create_task(read_later()) for _ in range(3)]
            assert [t.result() for t in tasks] == ["from fixture"] * 3

        async def test_module_fixture(module_setter):
            assert await asyncio.create_task(read_later()) == "from module fixture"
        """
    )
    result = run_alt("-v")
    result.assert_outcomes(passed=3)


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_fixtures_a_test_body_asks_for_tear_down_in_its_context(pytester, run_alt, mode):
    # The body runs in a copy of the context: a fixture it sets up resets its
    # token in that copy.
    pytester.makepyfile(
        """
        import contextvars
        import pytest

        var = contextvars.ContextVar("var", default=None)

        @pytest.fixture
        def sync_sets():
            token = var.set("sync")
            yield
            var.reset(token)

        @pytest.fixture
        async def async_sets():
            token = var.set("async")
            yield
            var.reset(token)

        def test_sync_body(request):
            request.getfixturevalue("sync_sets")
            assert var.get() == "sync"

        async def test_async_body(request):
            request.getfixturevalue("sync_sets")
            request.getfixturevalue("async_sets")
            assert var.get() == "async"

        @pytest.fixture
        async def returns_none():
            return None

        async def test_none(returns_none):
            assert returns_none is None
        """
    )
    result = run_alt(*mode_args(mode))
    result.assert_outcomes(passed=3)


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_a_wider_fixtures_plain_finalizers_run_in_its_setups_context(pytester, run_alt, mode):
    # Torn down by the test that finishes last, not by the one that set it
    # up: its finalizers still reset the tokens its setup made. A test's own
    # run where it added them, as async ones do.
    pytester.makepyfile(
        """
        import asyncio
        import contextvars
        import pytest

        var = contextvars.ContextVar("var", default=None)

        @pytest.fixture(scope="module")
        async def by_request(request):
            token = var.set("request")
            request.addfinalizer(lambda: var.reset(token))
            return "on"

        @pytest.fixture(scope="module")
        async def by_node(request):
            token = var.set("node")
            request.node.addfinalizer(lambda: var.reset(token))
            yield "on"

        @pytest.fixture(scope="module")
        def sync_fixture(request):
            token = var.set("sync")
            request.addfinalizer(lambda: var.reset(token))
            return "on"

        async def test_sets_them_up(by_request, by_node, sync_fixture):
            await asyncio.sleep(0)

        async def test_tears_them_down(by_request, by_node, sync_fixture):
            await asyncio.sleep(0.1)

        async def test_resets_its_own(request):
            token = var.set("body")
            request.addfinalizer(lambda: var.reset(token))

        @pytest.mark.asyncio_cooperative  # its body runs in a worker thread
        def test_plain_resets_its_own(request):
            token = var.set("plain body")
            request.node.addfinalizer(lambda: var.reset(token))
        """
    )
    result = run_alt("-rA", *mode_args(mode))
    result.assert_outcomes(passed=4)


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_a_wider_fixtures_context_reaches_every_test_that_uses_it(pytester, run_alt, mode):
    # Cooperative tests run at once, each in a context of its own: the values
    # a class, module or session fixture (or setup_module, setup_class) set
    # while the first of them set it up are seen by all of them, and by the
    # tests run sequentially after them, as in a sequential run.
    pytester.makeconftest(
        """
        import asyncio
        import contextvars
        import pytest

        SESSION = contextvars.ContextVar("SESSION", default="unset")

        @pytest.fixture(scope="session")
        async def session_setter():
            await asyncio.sleep(0.05)
            SESSION.set("session")
        """
    )
    pytester.makepyfile(
        test_one="""
        import asyncio
        import contextvars
        import pytest
        from conftest import SESSION

        XUNIT = contextvars.ContextVar("XUNIT", default="unset")
        CLASS = contextvars.ContextVar("CLASS", default="unset")
        SYNC = contextvars.ContextVar("SYNC", default="unset")
        AGEN = contextvars.ContextVar("AGEN", default="unset")
        RESET = contextvars.ContextVar("RESET", default="unset")

        def setup_module(module):
            XUNIT.set("setup_module")

        @pytest.fixture(scope="module", autouse=True)
        def sync_setter():
            SYNC.set("sync")

        @pytest.fixture(scope="module", autouse=True)
        async def agen_setter(session_setter):
            await asyncio.sleep(0.05)
            AGEN.set("agen")
            yield
            assert AGEN.get() == "agen"

        @pytest.fixture(scope="module", autouse=True)
        def resetter():
            token = RESET.set("reset")
            yield
            RESET.reset(token)

        @pytest.fixture
        def function_setter():
            token = AGEN.set("function")
            yield
            AGEN.reset(token)  # else it stays for the next tests, in a sequential run

        def values():
            return SESSION.get(), XUNIT.get(), SYNC.get(), AGEN.get(), RESET.get()

        EXPECTED = ("session", "setup_module", "sync", "agen", "reset")

        async def test_a():
            await asyncio.sleep(0.1)
            assert values() == EXPECTED

        async def test_b():
            await asyncio.sleep(0.1)
            assert values() == EXPECTED

        async def test_function_fixture_after(function_setter, request):
            assert AGEN.get() == "function"
            request.getfixturevalue("agen_setter")
            assert AGEN.get() == "function"

        class TestClass:
            @classmethod
            def setup_class(cls):
                CLASS.set("setup_class")

            async def test_c(self):
                await asyncio.sleep(0.1)
                assert (CLASS.get(), *values()) == ("setup_class", *EXPECTED)

            async def test_d(self):
                await asyncio.sleep(0.1)
                assert (CLASS.get(), *values()) == ("setup_class", *EXPECTED)

        def test_sync_after():
            assert values() == EXPECTED
        """,
        test_two="""
        import asyncio
        from conftest import SESSION

        async def test_other_module(session_setter):
            await asyncio.sleep(0.1)
            assert SESSION.get() == "session"

        def test_other_module_sync(session_setter):
            assert SESSION.get() == "session"
        """,
    )
    result = run_alt("-rA", *mode_args(mode))
    result.assert_outcomes(passed=8)


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_a_shared_plain_fixture_resets_its_token_whoever_tears_it_down(pytester, run_alt, mode):
    # Set up by the first cooperative test, torn down after the last (here a
    # sequential one): its code after the yield runs in the context its setup
    # ran in, as an async generator fixture's does.
    pytester.makepyfile(
        """
        import asyncio
        import contextvars
        import pytest

        VAR = contextvars.ContextVar("VAR", default="unset")

        @pytest.fixture(scope="module")
        def resetter():
            token = VAR.set("set")
            yield
            assert VAR.get() == "set"
            VAR.reset(token)

        async def test_a(resetter):
            await asyncio.sleep(0.1)
            assert VAR.get() == "set"

        async def test_b(resetter):
            await asyncio.sleep(0.2)
            assert VAR.get() == "set"

        def test_c(resetter):
            assert VAR.get() == "set"
        """
    )
    result = run_alt("-rA", *mode_args(mode))
    result.assert_outcomes(passed=3)


@pytest.mark.parametrize("scope", ["module", "session"])
def test_a_shared_plain_fixture_set_up_sequentially_resets_its_token_in_a_batch(
    pytester, run_alt, scope
):
    # Set up by a sequential test, torn down after the last test of its scope,
    # a cooperative one: its code after the yield still runs in the context
    # its setup ran in, not the cooperative test's (where the token is
    # foreign, and the decimal context it leaves would be the next module's).
    later = """
        from test_one import VAR
        import decimal

        def test_later():
            assert (VAR.get(), decimal.getcontext().prec) == ("unset", 28)
        """
    pytester.makepyfile(
        test_one=f"""
        import contextvars
        import decimal
        import pytest

        VAR = contextvars.ContextVar("VAR", default="unset")

        @pytest.fixture(scope="{scope}")
        def resetter():
            token = VAR.set("set")
            with decimal.localcontext() as context:
                context.prec = 5
                yield
            VAR.reset(token)

        def test_sequential_first(resetter):
            assert VAR.get() == "set"

        @pytest.mark.asyncio_cooperative
        async def test_cooperative_last(resetter):
            assert VAR.get() == "set"
        """,
        # A session fixture is torn down after the last test of the run.
        **({"test_two": later} if scope == "module" else {}),
    )
    result = run_alt("-rA", "-p", "no:randomly")
    result.assert_outcomes(passed=3 if scope == "module" else 2)


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_a_wider_fixture_a_test_body_asks_for_first_sets_its_values_for_later_tests(
    pytester, run_alt, mode
):
    # A test's body runs in a copy of its fixtures' context; a wider fixture
    # it sets up there is set up in that context itself (and the body sees
    # its values too), or the tests after it would never see them.
    pytester.makepyfile(
        """
        import asyncio
        import contextvars
        import pytest

        SYNC = contextvars.ContextVar("SYNC", default="unset")
        ASYNC = contextvars.ContextVar("ASYNC", default="unset")

        @pytest.fixture(scope="module")
        def sync_module():
            token = SYNC.set("sync")
            yield
            SYNC.reset(token)

        @pytest.fixture(scope="module")
        async def async_module():
            await asyncio.sleep(0)
            token = ASYNC.set("async")
            yield
            ASYNC.reset(token)

        def test_sync_body_asks(request):
            request.getfixturevalue("sync_module")
            assert SYNC.get() == "sync"

        async def test_async_body_asks(request):
            request.getfixturevalue("async_module")
            assert ASYNC.get() == "async"

        async def test_async_after(sync_module, async_module):
            await asyncio.sleep(0.05)
            assert (SYNC.get(), ASYNC.get()) == ("sync", "async")

        def test_sync_after(sync_module, async_module):
            assert (SYNC.get(), ASYNC.get()) == ("sync", "async")
        """,
        test_later="""
        from test_a_wider_fixture_a_test_body_asks_for_first_sets_its_values_for_later_tests \\
            import ASYNC, SYNC

        def test_reset_after_the_module():
            assert (SYNC.get(), ASYNC.get()) == ("unset", "unset")
        """,
    )
    result = run_alt("-rA", "-p", "no:randomly", *mode_args(mode))
    result.assert_outcomes(passed=5)


def test_a_sequential_test_asking_from_its_body_for_a_shared_fixture_passes_its_values_on(
    pytester, run_alt
):
    # Set up by cooperative tests; the first sequential test after them asks
    # for it from its body's copy of the context: the tests after it still
    # get its values.
    pytester.makepyfile(
        """
        import asyncio
        import contextvars
        import pytest

        var = contextvars.ContextVar("var", default="unset")

        @pytest.fixture(scope="module")
        async def modfix():
            token = var.set("mod")
            yield
            var.reset(token)

        @pytest.mark.asyncio_cooperative
        async def test_coop(modfix):
            await asyncio.sleep(0.01)
            assert var.get() == "mod"

        @pytest.mark.asyncio_cooperative
        async def test_coop2(modfix):
            await asyncio.sleep(0.01)
            assert var.get() == "mod"

        async def test_seq_body_asks(request):
            request.getfixturevalue("modfix")
            assert var.get() == "mod"

        async def test_seq_after(modfix):
            assert var.get() == "mod"

        def test_seq_sync_after(modfix):
            assert var.get() == "mod"
        """
    )
    result = run_alt("-rA", "-p", "no:randomly")
    result.assert_outcomes(passed=5)


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
@pytest.mark.parametrize("kind", ["sync", "async"])
def test_what_a_body_sets_after_asking_for_a_wider_fixture_does_not_reach_its_teardown(
    pytester, run_alt, mode, kind
):
    pytester.makepyfile(
        f"""
        import asyncio
        import contextvars
        import pytest

        v = contextvars.ContextVar("v", default="unset")

        @pytest.fixture(scope="module")
        {"async " if kind == "async" else ""}def m():
            token = v.set("m")
            yield
            assert v.get() == "m", f"teardown of m sees {{v.get()!r}}"
            v.reset(token)

        async def test_a(request):
            request.getfixturevalue("m")
            assert v.get() == "m"
            v.set("the body's")

        async def test_b(m):
            await asyncio.sleep(0.01)
            assert v.get() == "m"
        """
    )
    result = run_alt("-rA", "-p", "no:randomly", *mode_args(mode))
    result.assert_outcomes(passed=2)


def test_the_tests_run_sequentially_after_a_batch_see_its_shared_fixtures_values(
    pytester, run_alt
):
    # As in a sequential run, where every test runs in the one context the
    # shared fixtures were set up in: a test after the batch sees what a
    # fixture still up set, whether it asks for the fixture or not, until
    # the fixture is torn down.
    pytester.makeconftest(
        """
        import asyncio
        import contextvars
        import pytest

        SESSION = contextvars.ContextVar("SESSION", default="unset")
        MODULE = contextvars.ContextVar("MODULE", default="unset")

        @pytest.fixture(scope="session")
        async def session_setter():
            await asyncio.sleep(0.01)
            SESSION.set("session")

        @pytest.fixture(scope="module")
        async def module_setter():
            token = MODULE.set("module")
            yield
            MODULE.reset(token)
        """
    )
    pytester.makepyfile(
        test_one="""
        import asyncio
        import pytest
        from conftest import MODULE, SESSION

        @pytest.mark.asyncio_cooperative
        async def test_cooperative(session_setter, module_setter):
            await asyncio.sleep(0.01)
            assert (SESSION.get(), MODULE.get()) == ("session", "module")

        def test_sequential_after():
            assert (SESSION.get(), MODULE.get()) == ("session", "module")

        async def test_sequential_async_after():
            assert (SESSION.get(), MODULE.get()) == ("session", "module")
        """,
        test_two="""
        from conftest import MODULE, SESSION

        def test_next_module():
            assert (SESSION.get(), MODULE.get()) == ("session", "unset")
        """,
    )
    result = run_alt("-rA", "-p", "no:randomly")
    result.assert_outcomes(passed=4)


@pytest.mark.parametrize("asked_by", ["test", "fixture"])
@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_a_shared_fixture_removing_a_variable_says_the_other_tests_keep_it(
    pytester, run_alt, mode, asked_by
):
    # Python removes a context variable only through the token of a set()
    # made where it had no value: another test's context keeps it. Said,
    # rather than left to fail (or pass) on a stale value.
    pytester.makepyfile(
        """
        import asyncio
        import contextvars
        import pytest

        REQUEST_ID = contextvars.ContextVar("REQUEST_ID")

        @pytest.fixture(scope="module")
        def request_id():
            token = REQUEST_ID.set("module-wide")
            yield token

        @pytest.fixture(scope="module")
        def no_request_id(request_id):
            REQUEST_ID.reset(request_id)

        @pytest.mark.parametrize("n", range(3))
        async def test_has_no_request_id(n, %sno_request_id):
            await asyncio.sleep(0.01)
            assert REQUEST_ID.get("<unset>") in ("<unset>", "module-wide")
        """
        # Asked for by the test first, or only by the fixture that removes it.
        % ("request_id, " if asked_by == "test" else "")
    )
    result = run_alt("-p", "no:randomly", *mode_args(mode))
    result.assert_outcomes(passed=3, warnings=1 if mode == "cooperative" else 0)
    if mode == "cooperative":
        result.stdout.fnmatch_lines(
            [
                "*AltCoopWarning: alt_coop: the module fixture 'no_request_id' removed the "
                "context variable 'REQUEST_ID' as it was set up, in the test that set it up: "
                "the other tests that use it keep their value (Python cannot remove a "
                "variable from another context). Set it to a value (None, say) instead, or "
                "mark the tests that use the fixture asyncio_sequential"
            ]
        )
