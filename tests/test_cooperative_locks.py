"""Cooperative tests: mutual exclusion, by alt_coop.Lock and by marks."""

from __future__ import annotations

import sys
import textwrap
from itertools import combinations

import pytest
from conftest import ISOLATE
from cooperative_support import (
    SUMMARY,
    events_conftest,
    overlap,
    peak,
    read_events,
    read_spans,
    verbose_lines,
)

LOCKED_SUITE = """
import asyncio
import alt_coop
import pytest
from conftest import log, span

pytestmark = pytest.mark.asyncio_cooperative
DB = alt_coop.Lock()


@pytest.fixture
async def locked(request):
    async with DB():
        name = request.node.name
        log("start", f"locked-{{name}}", __import__("time").monotonic())
        await asyncio.sleep(0.01)
        yield
        await asyncio.sleep(0.01)
        log("end", f"locked-{{name}}", __import__("time").monotonic())


@pytest.fixture
async def after_lock(locked, request):
    async with span(f"after-setup-{{request.node.name}}"):
        await asyncio.sleep(0.02)
    yield
    async with span(f"after-teardown-{{request.node.name}}"):
        await asyncio.sleep(0.02)


@pytest.mark.parametrize("n", range({locked}))
async def test_locked(after_lock, n):
    async with span(f"body-test_locked[{{n}}]"):
        await asyncio.sleep(0.03)


@pytest.mark.parametrize("n", range(2))
async def test_free(n):
    async with span(f"free-{{n}}"):
        await asyncio.sleep(0.1)
"""


def test_waiting_for_a_lock_handed_over_to_another_test_pauses_the_clocks(pytester, run_alt):
    # test_a releases the lock to test_b, which has not taken it yet when
    # test_a asks again: test_a waits, out of its timeout, like any wait.
    pytester.makepyfile(
        """
        import asyncio
        import alt_coop
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative
        LOCK = alt_coop.Lock()

        @pytest.fixture
        def default_async_timeout():
            return 1.0

        async def test_a():
            async with LOCK():
                await asyncio.sleep(0.3)
            async with LOCK():
                await asyncio.sleep(0.1)

        async def test_b(async_timeout):
            async_timeout.set_timeout_seconds(10)
            await asyncio.sleep(0.1)
            async with LOCK():
                await asyncio.sleep(1.5)
        """
    )
    run_alt().assert_outcomes(passed=2)


@pytest.mark.parametrize("contended", [True, False], ids=["lock held", "lock free"])
def test_a_phases_clock_goes_on_after_a_lock_wait_where_it_stopped(pytester, run_alt, contended):
    # The time before the wait and the time after it add up, whether or not
    # the test had to wait: 0.4 s + 0.4 s is over a 0.6 s timeout.
    pytester.makepyfile(
        """
        import asyncio
        import alt_coop
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative
        LOCK = alt_coop.Lock()

        async def test_holder():
            async with LOCK():
                await asyncio.sleep(0.6)

        async def test_waiter(async_timeout):
            async_timeout.set_timeout_seconds(0.6)
            await asyncio.sleep(0.4)
            async with LOCK():
                await asyncio.sleep(0.4)
        """
    )
    result = run_alt("-k", "holder or waiter" if contended else "waiter")
    result.assert_outcomes(passed=1 if contended else 0, failed=1)
    result.stdout.fnmatch_lines(["*test_waiter timed out after 0.6s (async timeout)*"])


def test_a_lock_released_by_a_teardown_in_another_context_can_be_taken_again(pytester, run_alt):
    # A sequential test sets the module fixture up with a param, holding the
    # lock; the cooperative test's other param tears it down (where it was
    # set up) and sets it up again, taking the lock again: no false
    # "already held" error.
    pytester.makepyfile(
        """
        import alt_coop
        import pytest

        LOCK = alt_coop.Lock()

        @pytest.fixture(scope="module")
        async def res(request):
            async with LOCK():
                yield getattr(request, "param", None)

        @pytest.mark.parametrize("res", [1], indirect=True)
        def test_sequential(res):
            assert res == 1

        @pytest.mark.asyncio_cooperative
        async def test_cooperative(res):
            assert res is None
        """
    )
    run_alt().assert_outcomes(passed=2)


def test_a_lock_a_sequential_tests_class_fixture_holds_is_waited_for_by_other_tests(
    pytester, run_alt
):
    # The class fixture took the lock in the sequential test's context, which
    # the batch's tests copied: test_other waits for it, it does not hold it.
    pytester.makepyfile(
        """
        import asyncio
        import alt_coop
        import pytest

        LOCK = alt_coop.Lock()

        @pytest.fixture(scope="class")
        async def holds():
            async with LOCK():
                yield

        class TestA:
            def test_sequential(self, holds):
                pass

            @pytest.mark.asyncio_cooperative
            async def test_cooperative(self, holds):
                await asyncio.sleep(0.05)

        @pytest.fixture
        async def takes():
            async with LOCK():
                yield

        @pytest.mark.asyncio_cooperative
        async def test_other(takes):
            pass
        """
    )
    run_alt().assert_outcomes(passed=3)


def test_waiting_for_a_lock_a_sequential_tests_module_fixture_holds_is_an_error(pytester, run_alt):
    # The module fixture releases it after every test of the module, this one
    # included: waiting could never end.
    pytester.makepyfile(
        """
        import alt_coop
        import pytest

        LOCK = alt_coop.Lock()

        @pytest.fixture(scope="module")
        async def holds():
            async with LOCK():
                yield

        def test_sequential(holds):
            pass

        @pytest.mark.asyncio_cooperative
        async def test_takes_it():
            async with LOCK():
                pass
        """
    )
    result = run_alt()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*held by the module fixture 'holds'*"])


@pytest.mark.parametrize(
    "waiter",
    [
        "",
        "@pytest.mark.asyncio_cooperative\n@pytest.mark.asyncio_sequential",
        "@pytest.mark.asyncio_cooperative",  # alone: it asks for monkeypatch
    ],
    ids=["sequential", "marked-sequential", "alone"],
)
def test_waiting_for_a_lock_a_module_fixture_a_cooperative_test_set_up_holds_is_an_error(
    pytester, run_alt_subprocess, waiter
):
    # The waiter runs outside any batch, after the batch that set the module
    # fixture up: its wait could never end either (it hung, no clock running).
    waiter = waiter.replace("\n", "\n        ")  # as indented as the text it goes in
    pytester.makepyfile(
        f"""
        import alt_coop
        import pytest

        LOCK = alt_coop.Lock()

        @pytest.fixture(scope="module")
        async def holds():
            async with LOCK():
                yield

        @pytest.mark.asyncio_cooperative
        async def test_sets_it_up(holds):
            pass

        {waiter}
        async def test_waits(holds, monkeypatch):
            async with LOCK():
                pass
        """
    )
    result = run_alt_subprocess("-v", timeout=60)
    assert verbose_lines(result.stdout.str()) == {
        "test_sets_it_up": ["PASSED"],
        "test_waits": ["FAILED"],
    }, result.stdout.str()
    result.stdout.fnmatch_lines(
        ["*held by the module fixture 'holds'*test_waits included. Take it in one place only*"]
    )


@pytest.mark.parametrize("marked", [False, True])
def test_a_test_finding_the_lock_taken_by_a_wider_fixture_set_up_beside_it_is_told_what_to_do(
    pytester, run_alt_subprocess, marked
):
    # The README's port_8080 pattern, with a test taking the lock itself: a
    # sequential run lets it take the lock first; beside the other tests,
    # the module fixture's setup takes it while the test awaits.
    pytester.makepyfile(
        f"""
        import asyncio
        import alt_coop
        import pytest

        port_8080 = alt_coop.Lock()
        pytestmark = pytest.mark.asyncio_cooperative

        @pytest.fixture(scope="module")
        async def server():
            async with port_8080():
                yield "server"

        @pytest.fixture
        async def config():
            await asyncio.sleep(0.05)

        {"@pytest.mark.asyncio_sequential" if marked else ""}
        async def test_binds_the_port(config):
            async with port_8080():
                pass

        async def test_uses_server(server):
            pass
        """
    )
    result = run_alt_subprocess(timeout=60)
    if marked:
        result.assert_outcomes(passed=2)
    else:
        result.assert_outcomes(passed=1, failed=1)
        result.stdout.fnmatch_lines(
            [
                "*held by the module fixture 'server'*test_binds_the_port included. Take it in "
                "one place only, or mark the test asyncio_sequential: running beside the tests "
                "using 'server', it found the lock taken by its setup"
            ]
        )


@pytest.mark.parametrize("waiters", [1, 2])
def test_a_wait_begun_while_a_wider_fixture_set_up_holding_the_lock_is_an_error(
    pytester, run_alt_subprocess, waiters
):
    # The wait began while the fixture's setup still ran (its hold might have
    # ended with it); nothing looked at it again once the setup returned
    # holding the lock: with a second test waiting for the first one's
    # fixture, no clock ran and the run hung.
    pytester.makepyfile(
        f"""
        import asyncio
        import alt_coop
        import pytest

        LOCK = alt_coop.Lock()

        @pytest.fixture(scope="module")
        async def holds():
            async with LOCK():
                await asyncio.sleep(0.2)
                yield

        @pytest.fixture(scope="module")
        async def waits():
            async with LOCK():
                yield

        pytestmark = pytest.mark.asyncio_cooperative

        async def test_sets_it_up(holds):
            pass

        @pytest.mark.parametrize("n", range({waiters}))
        async def test_waits(waits, n):
            pass
        """
    )
    result = run_alt_subprocess("-v", "--default-async-timeout=30", timeout=60)
    result.assert_outcomes(passed=1, errors=waiters)
    result.stdout.fnmatch_lines(
        [
            "*this alt_coop.Lock is held by the module fixture 'holds', which releases it at "
            "its teardown, after every test of its module, *test_waits[[]0[]] included. "
            "Take it in one place only*"
        ]
    )
    assert "could not be let go of" not in result.stdout.str()


def test_a_wait_for_a_parametrized_wider_fixtures_lock_ends_at_its_param_switch(
    pytester, run_alt_subprocess
):
    # Its instance ends as the next param's is set up, releasing the lock:
    # the wait, begun while the first param's setup held it, was refused.
    pytester.makepyfile(
        """
        import asyncio
        import alt_coop
        import pytest

        LOCK = alt_coop.Lock()
        pytestmark = pytest.mark.asyncio_cooperative

        @pytest.fixture(scope="module", params=[1, 2])
        async def holds(request):
            async with LOCK():
                await asyncio.sleep(0.2)
                yield request.param

        async def test_waits():
            await asyncio.sleep(0.05)
            async with LOCK():
                pass

        async def test_holds(holds):
            await asyncio.sleep(0.1)
        """
    )
    result = run_alt_subprocess("-p", "no:randomly", timeout=60)
    result.assert_outcomes(passed=3)


def test_lock_in_fixture_covers_later_fixtures_and_the_test(pytester, run_alt):
    events_conftest(pytester)
    pytester.makepyfile(LOCKED_SUITE.format(locked=4))
    result = run_alt("-v")
    result.assert_outcomes(passed=6)
    spans = read_spans(pytester)
    names = [f"test_locked[{n}]" for n in range(4)]
    for name in names:
        region = spans[f"locked-{name}"]
        for part in ("after-setup", "body", "after-teardown"):
            inner = spans[f"{part}-{name}"]
            assert region[0] <= inner[0] and inner[1] <= region[1], (name, part, spans)
    for a, b in combinations(names, 2):
        assert not overlap(spans[f"locked-{a}"], spans[f"locked-{b}"]), (a, b, spans)
    # The tests not taking the lock did run alongside the locked ones.
    assert overlap(spans["free-0"], spans["free-1"])
    assert any(overlap(spans["free-0"], spans[f"locked-{name}"]) for name in names)


@pytest.mark.parametrize("cooperative", [True, False], ids=["cooperative", "sequential"])
def test_taking_a_held_lock_again_is_an_error_not_a_hang(pytester, run_alt, cooperative):
    pytester.makepyfile(
        f"""
        import alt_coop
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative if {cooperative} else []
        lock = alt_coop.Lock()

        @pytest.fixture
        async def locked():
            async with lock():
                yield

        async def test_again(locked):
            async with lock():
                pass

        async def test_after_release():
            async with lock():
                async with alt_coop.Lock()():  # another lock is fine
                    pass
        """
    )
    result = run_alt("-v")
    assert verbose_lines(result.stdout.str()) == {
        "test_again": ["FAILED"],
        "test_after_release": ["PASSED"],
    }, result.stdout.str()
    result.stdout.fnmatch_lines(["*already held by this test or one of its fixtures*"])


@pytest.mark.parametrize("cooperative", [True, False], ids=["cooperative", "sequential"])
def test_a_lock_a_test_never_released_is_released_at_its_end_with_an_error(
    pytester, run_alt_subprocess, cooperative
):
    # Waiting pauses the clocks, so no timeout would end a wait for it. In a
    # cooperative run test_waits is already waiting when test_leaks ends.
    pytester.makepyfile(
        f"""
        import asyncio
        import alt_coop
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative if {cooperative} else []
        lock = alt_coop.Lock()

        async def test_leaks():
            await lock().acquire()
            await asyncio.sleep(0.2)

        async def test_waits():
            await asyncio.sleep(0.05)
            async with lock():
                pass

        async def test_comes_later():
            await asyncio.sleep(0.5)
            async with lock():
                pass
        """
    )
    result = run_alt_subprocess("-v", "--asyncio-task-timeout=5", timeout=60)
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_leaks*",
            "*::test_leaks ended still holding 1 alt_coop.Lock(s) it took and never released "
            "(an acquire() without a release()); alt_coop released them for the tests "
            "and teardowns waiting. Take a lock with `async with lock():`",
            "*= short test summary info =*",
        ]
    )
    assert "alt_coop/" not in result.stdout.str()


@pytest.mark.parametrize("cooperative", [True, False], ids=["cooperative", "sequential"])
def test_a_lock_a_tests_body_kept_is_released_for_its_own_teardowns(
    pytester, run_alt_subprocess, cooperative
):
    # Sequentially the fixtures' teardowns waited for ever, their clocks
    # paused; cooperatively they failed, calling the test a circle of one.
    pytester.makepyfile(
        f"""
        import alt_coop
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative if {cooperative} else []
        lock = alt_coop.Lock()

        @pytest.fixture(scope="module")
        async def module_waits():
            yield
            async with lock():
                print("module teardown took it")

        @pytest.fixture
        async def function_waits():
            yield
            async with lock():
                print("function teardown took it")

        async def test_keeps(module_waits, function_waits):
            await lock().acquire()
        """
    )
    result = run_alt_subprocess("-v", "-s", timeout=60)
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*function teardown took it*",
            "*module teardown took it*",
            "*ERROR at teardown of test_keeps*",
            "*::test_keeps ended still holding 1 alt_coop.Lock(s) it took and never released*",
            "*= short test summary info =*",
        ]
    )
    assert "would never end" not in result.stdout.str()


@pytest.mark.parametrize("cooperative", [True, False], ids=["cooperative", "sequential"])
def test_a_lock_a_tests_body_kept_goes_to_a_fixtures_teardown_the_body_set_up(
    pytester, run_alt_subprocess, cooperative
):
    # The fixture's teardown runs in the body's context, which holds the
    # lock: it was refused as re-entrant, or (taken after the lock) hung.
    pytester.makepyfile(
        f"""
        import alt_coop
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative if {cooperative} else []
        lock = alt_coop.Lock()

        @pytest.fixture(scope="module")
        async def takes_it_at_teardown():
            yield
            async with lock():
                print("TEARDOWN TOOK IT")

        async def test_keeps(request):
            request.getfixturevalue("takes_it_at_teardown")
            await lock().acquire()
        """
    )
    result = run_alt_subprocess("-s", timeout=60)
    result.assert_outcomes(passed=1, errors=1)
    assert "TEARDOWN TOOK IT" in result.stdout.str()
    result.stdout.fnmatch_lines(["*::test_keeps ended still holding 1 alt_coop.Lock(s)*"])


def test_a_lock_a_tests_body_kept_goes_to_its_teardown_before_another_test_waiting(
    pytester, run_alt_subprocess
):
    # Released for the teardown, it went to the other test, waiting first,
    # which then waited for a lock the keeping test's fixture still held, and
    # failed, blamed for a circle.
    pytester.makepyfile(
        """
        import asyncio
        import alt_coop
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative
        first = alt_coop.Lock()
        second = alt_coop.Lock()

        @pytest.fixture
        async def holds_second():
            async with second():
                yield

        @pytest.fixture
        async def takes_first_at_teardown():
            yield
            async with first():
                pass

        async def test_keeps(holds_second, takes_first_at_teardown):
            await first().acquire()
            await asyncio.sleep(0.2)

        async def test_waits_first():
            await asyncio.sleep(0.05)
            async with first():
                async with second():
                    pass
        """
    )
    result = run_alt_subprocess("-v", timeout=60)
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*::test_keeps ended still holding 1 alt_coop.Lock(s) it took and never released*",
            "*= short test summary info =*",
        ]
    )
    assert "would never end" not in result.stdout.str()


INNER_KEEPS = """
import alt_coop
import pytest

lock = alt_coop.Lock()

@pytest.fixture
async def takes_it_at_teardown():
    yield
    async with lock():
        print("TEARDOWN TOOK IT")

async def test_keeps(takes_it_at_teardown):
    await lock().acquire()
"""


def test_a_lock_kept_by_a_test_of_a_session_a_test_runs_goes_to_its_own_teardown(
    pytester, run_alt_subprocess
):
    # The inner test's teardown counted as its outer test's body, and waited
    # for ever.
    pytester.makepyfile(
        test_outer=f"""
        INNER = {INNER_KEEPS!r}

        def test_outer(pytester):
            pytester.makepyfile(test_inner=INNER)
            result = pytester.runpytest_inprocess("-p", "alt_coop.enable", "-s")
            result.assert_outcomes(passed=1, errors=1)
            assert "TEARDOWN TOOK IT" in result.stdout.str()
            result.stdout.fnmatch_lines(["*::test_keeps ended still holding 1 alt_coop.Lock(s)*"])
        """
    )
    result = run_alt_subprocess("-p", "pytester", timeout=60)
    result.assert_outcomes(passed=1)


def test_a_lock_kept_by_a_body_after_the_session_it_ran_stopped_goes_to_its_teardown(
    pytester, run_alt_subprocess
):
    # The inner session, stopped by pytest.exit, skipped the teardown hook that
    # gave the outer test's body back its standing: the body's lock was then
    # not taken for its own, and the outer teardown waited for ever.
    pytester.makepyfile(
        test_outer="""
        import alt_coop
        import pytest

        lock = alt_coop.Lock()

        @pytest.fixture
        async def takes_it_at_teardown():
            yield
            async with lock():
                print("TEARDOWN TOOK IT")

        INNER = "import pytest\\n\\ndef test_inner():\\n    pytest.exit('stop')\\n"

        async def test_outer(takes_it_at_teardown, pytester):
            pytester.makepyfile(test_inner=INNER)
            pytester.runpytest_inprocess("-p", "alt_coop.enable")
            await lock().acquire()
        """
    )
    result = run_alt_subprocess("-p", "pytester", "-s", timeout=60)
    result.assert_outcomes(passed=1, errors=1)
    assert "TEARDOWN TOOK IT" in result.stdout.str()
    result.stdout.fnmatch_lines(["*::test_outer ended still holding 1 alt_coop.Lock(s)*"])


@pytest.mark.parametrize("cooperative", [True, False], ids=["cooperative", "sequential"])
@pytest.mark.parametrize("scope", ["class", "module"])
def test_a_lock_a_wider_fixture_never_released_is_released_at_its_teardown_with_an_error(
    pytester, run_alt_subprocess, cooperative, scope
):
    # It hung: the tests after the fixture's scope waited for ever, their
    # clocks paused. (Sequentially, the first one to wait failed, blaming
    # the fixture as if it were still set up.)
    pytester.makeconftest(
        """
        import alt_coop

        lock = alt_coop.Lock()
        """
    )
    holders = {
        "class": """
        @pytest.fixture(scope="class")
        async def grabs():
            await lock().acquire()
            yield

        class TestA:
            async def test_a(self, grabs):
                await asyncio.sleep(0.1)
        """,
        "module": """
        @pytest.fixture(scope="module")
        async def grabs():
            await lock().acquire()
            yield

        async def test_a(grabs):
            await asyncio.sleep(0.1)
        """,
    }
    pytester.makepyfile(
        test_a=f"""
        import asyncio
        import pytest
        from conftest import lock

        pytestmark = pytest.mark.asyncio_cooperative if {cooperative} else []
        """
        + holders[scope]
    )
    pytester.makepyfile(
        test_b=f"""
        import asyncio
        import pytest
        from conftest import lock

        pytestmark = pytest.mark.asyncio_cooperative if {cooperative} else []

        async def test_b():
            await asyncio.sleep(0.3)
            async with lock():
                pass
        """
    )
    result = run_alt_subprocess("-v", "--asyncio-task-timeout=5", timeout=60)
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of *test_a*",
            f"*the {scope} fixture 'grabs' ended still holding 1 alt_coop.Lock(s) it took and "
            "never released (an acquire() without a release()); alt_coop released them for "
            "the tests waiting. Take a lock with `async with lock():`",
            "*= short test summary info =*",
        ]
    )
    assert "alt_coop/" not in result.stdout.str()


def test_a_wider_fixture_that_never_released_its_lock_says_so_even_if_its_teardown_failed(
    pytester, run_alt_subprocess
):
    pytester.makepyfile(
        test_d="""
        import alt_coop
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative
        lock = alt_coop.Lock()

        @pytest.fixture(scope="module")
        async def m():
            await lock().acquire()
            yield
            raise RuntimeError("m teardown failed")

        async def test_a(m):
            pass
        """,
        test_e="""
        import asyncio
        import pytest
        from test_d import lock

        pytestmark = pytest.mark.asyncio_cooperative

        async def test_b():
            await asyncio.sleep(0.1)
            async with lock():
                pass
        """,
    )
    result = run_alt_subprocess("-p", "no:randomly", timeout=60)
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*the module fixture 'm' ended still holding 1 alt_coop.Lock(s) it took and never "
            "released (an acquire() without a release())*",
            "*RuntimeError: m teardown failed*",
        ],
        consecutive=False,
    )


@pytest.mark.parametrize("cooperative", [True, False], ids=["cooperative", "sequential"])
def test_a_wider_fixtures_teardown_abandoned_holding_a_lock_reports_only_that(
    pytester, run_alt_subprocess, cooperative
):
    # Its teardown took the lock with `async with`: it was also blamed for
    # "an acquire() without a release()", as one that forgot to release it.
    mark = "pytestmark = pytest.mark.asyncio_cooperative" if cooperative else ""
    pytester.makepyfile(
        test_a=f"""
        import asyncio
        import alt_coop
        import pytest

        {mark}
        lock = alt_coop.Lock()

        @pytest.fixture(scope="module")
        async def m(async_timeout):
            async_timeout.set_timeout_seconds(0.3)
            async with lock():
                yield
                try:
                    await asyncio.sleep(10)
                except asyncio.CancelledError:
                    await asyncio.sleep(10)

        async def test_a(m):
            pass
        """,
        test_b=f"""
        import pytest
        from test_a import lock

        {mark}

        async def test_b():
            async with lock():
                pass
        """,
    )
    result = run_alt_subprocess("-p", "no:randomly", timeout=60)
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*fixture 'm' timed out after 0.3s during teardown*"
            "did not end within * of being cancelled, and was abandoned*"
        ]
    )
    assert "acquire() without a release()" not in result.stdout.str()


@pytest.mark.parametrize("cooperative", [True, False], ids=["cooperative", "sequential"])
@pytest.mark.parametrize(
    "test_module",
    [
        # An override of the same name and scope, torn down first, is not the
        # fixture that holds the lock.
        """
        @pytest.fixture(scope="module")
        async def res(res):
            return res + "+x"
        """,
        # Released by a finalizer the fixture gave its scope's node, which
        # runs after the fixture's own teardown.
        """
        @pytest.fixture(scope="module")
        async def other(request):
            await lock().acquire()
            request.node.addfinalizer(lock().release)
            yield

        @pytest.fixture
        def res(other):
            return "db+x"
        """,
    ],
    ids=["override", "node-finalizer"],
)
def test_a_lock_a_wider_fixture_releases_in_its_own_way_is_no_error(
    pytester, run_alt, cooperative, test_module
):
    pytester.makeconftest(
        """
        import alt_coop
        import pytest

        lock = alt_coop.Lock()

        @pytest.fixture(scope="module")
        async def res():
            async with lock():
                yield "db"
        """
    )
    pytester.makepyfile(
        f"""
        import pytest
        from conftest import lock

        pytestmark = pytest.mark.asyncio_cooperative if {cooperative} else []
        """
        + test_module
        + """
        async def test_a(res):
            assert res == "db+x"
        """
    )
    result = run_alt()
    result.assert_outcomes(passed=1)


@pytest.mark.parametrize("cooperative", [True, False], ids=["cooperative", "sequential"])
def test_a_session_run_by_a_test_leaves_that_tests_lock_alone(pytester, run_alt, cooperative):
    # The inner session's tests run in the outer test's lane and context.
    pytester.makepyfile(
        f"""
        import alt_coop
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative if {cooperative} else []
        db = alt_coop.Lock()

        @pytest.fixture
        async def exclusive_db():
            async with db():
                yield

        async def test_outer(pytester, exclusive_db):
            pytester.makepyfile("def test_inner():\\n    pass\\n")
            inner = pytester.runpytest_inprocess(
                "-p", "alt_coop.enable", "-p", "no:asyncio", "-p", "no:anyio",
                "-p", "no:cacheprovider",
            )
            inner.assert_outcomes(passed=1)
            assert db().locked()
        """
    )
    run_alt("-p", "pytester").assert_outcomes(passed=1)


def test_a_lock_a_task_holds_past_its_tests_end_is_waited_for(pytester, run_alt):
    pytester.makepyfile(
        """
        import asyncio
        import alt_coop
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative
        lock = alt_coop.Lock()
        background = []

        async def hold_briefly():
            async with lock():
                await asyncio.sleep(0.3)

        async def test_leaves_a_task_holding_it():
            background.append(asyncio.create_task(hold_briefly()))
            await asyncio.sleep(0.01)

        async def test_waits():
            await asyncio.sleep(0.1)
            async with lock():
                pass
        """
    )
    run_alt("--default-async-timeout=2").assert_outcomes(passed=2)


@pytest.mark.skipif(sys.version_info < (3, 12), reason="asyncio.eager_task_factory is 3.12+")
@pytest.mark.parametrize("cooperative", [True, False], ids=["cooperative", "sequential"])
def test_a_task_started_eagerly_holds_a_lock_for_itself(pytester, run_alt, cooperative):
    # Its first step runs inside the test's lane: the lock is still the task's.
    pytester.makepyfile(
        f"""
        import asyncio
        import alt_coop
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative if {cooperative} else []
        lock = alt_coop.Lock()

        @pytest.fixture
        def eager():
            loop = asyncio.get_event_loop()  # sync code sees it stopped, in both modes
            old = loop.get_task_factory()
            loop.set_task_factory(asyncio.eager_task_factory)
            yield
            loop.set_task_factory(old)

        async def worker():
            async with lock():
                await asyncio.sleep(0.05)

        async def test_waits_for_its_task(eager):
            task = asyncio.create_task(worker())
            async with lock():
                pass
            await task
        """
    )
    run_alt().assert_outcomes(passed=1)


@pytest.mark.parametrize("cooperative", [True, False], ids=["cooperative", "sequential"])
def test_a_task_a_test_started_waits_for_its_lock_like_any_task(pytester, run_alt, cooperative):
    pytester.makepyfile(
        f"""
        import asyncio
        import alt_coop
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative if {cooperative} else []
        lock = alt_coop.Lock()

        async def worker(order):
            async with lock():
                order.append("worker")

        async def test_started_while_held():
            order = []
            async with lock():
                task = asyncio.create_task(worker(order))
                await asyncio.sleep(0.05)
                order.append("test")
            await task
            assert order == ["test", "worker"]
        """
    )
    run_alt().assert_outcomes(passed=1)


@pytest.mark.parametrize(
    ("cooperative", "clock"),
    [(False, "timeout"), (True, "timeout"), (True, "task cap")],
    ids=["sequential", "cooperative", "cooperative-cap"],
)
def test_waiting_for_a_lock_a_task_holds_counts_against_the_timeouts(
    pytester, run_alt_subprocess, cooperative, clock
):
    # Only a wait for a test or fixture holding the lock is not the waiter's
    # time (their holds end, or the wait is refused). A task's may never end:
    # here it waits for the test that waits for it. The wait counts, as for
    # any asyncio lock: the test's timeout, or its cap, fails it; no hang.
    pytester.makepyfile(
        f"""
        import asyncio
        import alt_coop
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative if {cooperative} else []
        db = alt_coop.Lock()

        async def test_waits_for_its_own_task():
            ready = asyncio.Event()

            async def worker():
                async with db():
                    await ready.wait()

            task = asyncio.create_task(worker())
            await asyncio.sleep(0)
            try:
                async with db():
                    ready.set()
            finally:
                task.cancel()
        """
    )
    args, says = ["--default-async-timeout=0.5"], "timed out after 0.5s"
    if clock == "task cap":
        args = ["--default-async-timeout=30", "--asyncio-task-timeout=0.5"]
        says = "exceeded asyncio_task_timeout: 0.5s"
    result = run_alt_subprocess(*args, timeout=20)  # a hang, before
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([f"*{says}*waiting at *.py:18 in test_waits_for_its_own_task"])


TASK_HOLDS = {
    # Two tests each wait for the lock a task of the other holds.
    "each other's tasks": (
        """
        first, second = alt_coop.Lock(), alt_coop.Lock()
        holding = []

        @pytest.fixture(scope="module", autouse=True)
        async def let_go_after_both():
            # Not as each test ends: the other's wait would then end in a
            # race with its own timeout.
            yield
            for task in holding:
                task.cancel()

        async def hold(lock):
            async with lock():
                await asyncio.sleep(3600)

        async def test_a():
            holding.append(asyncio.create_task(hold(first)))
            await asyncio.sleep(0.1)
            async with second():
                pass

        async def test_b():
            holding.append(asyncio.create_task(hold(second)))
            await asyncio.sleep(0.1)
            async with first():
                pass
        """,
        {"failed": 2},
    ),
    # A task takes the lock once its test is over, and keeps it.
    "taken after its test": (
        """
        db = alt_coop.Lock()
        background = []

        async def late_holder():
            await asyncio.sleep(0.2)
            async with db():
                await asyncio.Event().wait()

        async def test_leaves_a_task():
            background.append(asyncio.create_task(late_holder()))

        async def test_waits():
            await asyncio.sleep(0.4)
            async with db():
                pass
        """,
        {"passed": 1, "failed": 1, "warnings": 1},
    ),
    # A module fixture's teardown waits for a task of the test it ends with.
    "a teardown": (
        """
        db = alt_coop.Lock()
        background = []

        @pytest.fixture(scope="module")
        async def modfix():
            yield
            async with db():
                pass

        async def hold_forever():
            async with db():
                await asyncio.Event().wait()

        async def test_one(modfix):
            pass

        async def test_two(modfix):
            await asyncio.sleep(0.1)
            background.append(asyncio.create_task(hold_forever()))
            await asyncio.sleep(0.1)
        """,
        {"passed": 2, "errors": 1, "warnings": 1},
    ),
}


@pytest.mark.parametrize("case", TASK_HOLDS)
def test_no_wait_for_a_tasks_hold_outlasts_the_waiters_timeout(pytester, run_alt_subprocess, case):
    # A task has no clock of its own to end its hold: a wait for one counts
    # against the waiter's timeouts, whichever test started it, or none. Each
    # of these hung before.
    source, outcomes = TASK_HOLDS[case]
    pytester.makepyfile(
        "import asyncio\nimport alt_coop\nimport pytest\n\n"
        "pytestmark = pytest.mark.asyncio_cooperative\n" + textwrap.dedent(source)
    )
    result = run_alt_subprocess("--default-async-timeout=0.5", timeout=30)
    result.assert_outcomes(**outcomes)
    result.stdout.fnmatch_lines(["*timed out after 0.5s*"])


def test_a_task_cap_that_expired_cancels_once_across_a_lock_wait(pytester, run_alt):
    # The cap expired, and the test swallowed its cancellation; then it
    # waited for a lock another test's task held, its clocks paused and
    # resumed. The cap must not start again and cancel it a second time.
    pytester.makepyfile(
        """
        import asyncio
        import alt_coop
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative
        db = alt_coop.Lock()
        background = []

        async def hold():
            async with db():
                await asyncio.sleep(0.8)

        async def test_holder():
            background.append(asyncio.create_task(hold()))
            await asyncio.sleep(0.01)

        async def test_swallower():
            await asyncio.sleep(0.05)
            try:
                await asyncio.sleep(5)
            except asyncio.CancelledError:
                print("CANCELLED ONCE")
            async with db():
                await asyncio.sleep(0.5)
            print("REACHED THE END")
        """
    )
    result = run_alt("-s", "--asyncio-task-timeout=0.3", "--default-async-timeout=30")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*CANCELLED ONCE",
            "REACHED THE END",
            "*exceeded asyncio_task_timeout: 0.3s*waiting at *.py:20 in test_swallower",
        ]
    )


@pytest.mark.parametrize("cooperative", [True, False], ids=["cooperative", "sequential"])
@pytest.mark.parametrize("waiter", ["its teardown", "the tests"])
def test_waiting_for_a_lock_a_wider_fixtures_task_holds_counts(
    pytester, run_alt_subprocess, cooperative, waiter
):
    # A task a module fixture started belongs to no test (whichever test set
    # the fixture up): a wait for it counts for everyone, as for any asyncio
    # lock, and a timeout ends a wait that could never end. A hang, before.
    pytester.makepyfile(
        f"""
        import asyncio
        import alt_coop
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative if {cooperative} else []
        db = alt_coop.Lock()
        TEARDOWN_WAITS = {waiter == "its teardown"}

        @pytest.fixture(scope="module")
        async def service():
            stop = asyncio.Event()

            async def worker():
                async with db():
                    await stop.wait()

            task = asyncio.create_task(worker())
            await asyncio.sleep(0)
            yield
            if TEARDOWN_WAITS:
                async with db():
                    pass
            stop.set()
            await task

        async def test_one(service):
            await asyncio.sleep(0.01)
            if not TEARDOWN_WAITS:
                async with db():
                    pass

        async def test_two(service):
            await asyncio.sleep(0.01)
            if not TEARDOWN_WAITS:
                async with db():
                    pass
        """
    )
    result = run_alt_subprocess("--default-async-timeout=0.5", timeout=30)
    if waiter == "its teardown":
        result.assert_outcomes(passed=2, errors=1)
        result.stdout.fnmatch_lines(["*fixture 'service' timed out after 0.5s*"])
    else:
        result.assert_outcomes(failed=2)


def test_a_lock_a_task_keeps_past_its_tests_end_counts_for_its_waiters(
    pytester, run_alt_subprocess
):
    # While its test runs, a task's hold is that test's, not the waiter's
    # time; once the test is over, it is no test's: the wait counts, and the
    # waiter's timeout ends a wait that would never end. A hang, before.
    pytester.makepyfile(
        """
        import asyncio
        import alt_coop
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative
        db = alt_coop.Lock()
        background = []

        async def hold_forever():
            async with db():
                await asyncio.Event().wait()

        async def test_leaves_a_task_holding_it():
            background.append(asyncio.create_task(hold_forever()))
            await asyncio.sleep(0.3)  # longer than the waiter's timeout

        async def test_waits():
            await asyncio.sleep(0.05)
            async with db():
                pass
        """
    )
    result = run_alt_subprocess("--default-async-timeout=0.5", timeout=30)
    result.assert_outcomes(passed=1, failed=1, warnings=1)
    result.stdout.fnmatch_lines(["*test_waits*timed out after 0.5s*"])


@pytest.mark.parametrize("asked", ["as an argument", "through getfixturevalue"])
def test_a_wider_fixtures_teardown_waiting_for_another_tests_lock_is_not_charged_to_a_cap(
    pytester, run_alt, asked
):
    # A module fixture's teardown runs in the phase of the last test of its
    # module, in the context of the one that set it up (whose cap it holds,
    # when asked for through getfixturevalue): waiting for another test's
    # hold, the cap of the test it runs in stops too.
    by_argument = asked == "as an argument"
    pytester.makepyfile(
        test_a=f"""
        import asyncio
        import pytest
        from test_b import db

        pytestmark = pytest.mark.asyncio_cooperative

        @pytest.fixture(scope="module")
        async def modfix():
            yield
            async with db():
                pass

        async def test_a1(request{", modfix" if by_argument else ""}):
            request.getfixturevalue("modfix")
            await asyncio.sleep(0.1)

        async def test_a2(request{", modfix" if by_argument else ""}):
            await asyncio.sleep(0.05)
            request.getfixturevalue("modfix")
            await asyncio.sleep(0.3)
        """,
        test_b="""
        import asyncio
        import alt_coop
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative
        db = alt_coop.Lock()

        async def test_b1():
            await asyncio.sleep(0.05)
            async with db():
                await asyncio.sleep(0.9)

        async def test_b2():
            await asyncio.sleep(0.06)
            async with db():
                await asyncio.sleep(0.9)
        """,
    )
    result = run_alt(
        "--default-async-timeout=30", "--asyncio-task-timeout=1", "test_a.py", "test_b.py"
    )
    result.assert_outcomes(passed=4)


#: Two tests, each taking one lock and then waiting for the other's.
CROSSED_LOCKS = """
import asyncio
import alt_coop
import pytest

pytestmark = pytest.mark.asyncio_cooperative
a, b = alt_coop.Lock(), alt_coop.Lock()

async def test_ab():
    async with a():
        await asyncio.sleep(0.1)
        async with b():
            pass

async def test_ba():
    async with b():
        await asyncio.sleep(0.1)
        async with a():
            pass
"""

#: Two locks the test modules of a suite share.
TWO_LOCKS_CONFTEST = """
import alt_coop

L, L2 = alt_coop.Lock(), alt_coop.Lock()
"""


def test_tests_waiting_on_each_others_locks_fail_rather_than_hang(pytester, run_alt):
    pytester.makepyfile(CROSSED_LOCKS)
    result = run_alt("-v", "--asyncio-task-timeout=10")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "E * waiting for this alt_coop.Lock would never end: these tests each wait for a "
            "lock the next one holds: *::test_b? -> *::test_a? -> *::test_b?. "
            "Take locks in one order everywhere"
        ]
    )
    assert result.duration < 5


@pytest.mark.parametrize("first", ["the test in its scope", "the waiter"])
@pytest.mark.parametrize("set_up_by", ["cooperative", "sequential"])
def test_waiting_for_a_wider_fixtures_hold_while_a_test_in_its_scope_waits_for_the_waiter(
    pytester, run_alt_subprocess, first, set_up_by
):
    # test_w waits for the module fixture's lock, released after test_t2;
    # test_t2 waits for test_w's lock. Whichever waits second closes the
    # circle (the fixture was set up by test_t1, long done, in the batch or
    # before it): it hung, with every clock in it stopped, when test_t2
    # waited first.
    t2_waits, w_waits = (0.05, 0.2) if first == "the test in its scope" else (0.2, 0.05)
    pytester.makeconftest(TWO_LOCKS_CONFTEST)
    pytester.makepyfile(
        test_a=f"""
        import asyncio
        import pytest
        from conftest import L, L2

        @pytest.fixture(scope="module")
        async def holds_l():
            async with L():
                yield

        {"@pytest.mark.asyncio_cooperative" if set_up_by == "cooperative" else ""}
        async def test_t1(holds_l):
            pass

        @pytest.mark.asyncio_cooperative
        async def test_t2(holds_l):
            await asyncio.sleep({t2_waits})
            async with L2():
                pass
        """,
        test_b=f"""
        import asyncio
        import pytest
        from conftest import L, L2

        @pytest.mark.asyncio_cooperative
        async def test_w():
            async with L2():
                await asyncio.sleep({w_waits})
                async with L():
                    pass
        """,
    )
    result = run_alt_subprocess(
        "-v", "--asyncio-task-timeout=30", "test_a.py", "test_b.py", timeout=20
    )
    second = "test_w" if first == "the test in its scope" else "test_t2"
    assert verbose_lines(result.stdout.str()) == {
        "test_t1": ["PASSED"],
        "test_t2": ["FAILED" if second == "test_t2" else "PASSED"],
        "test_w": ["FAILED" if second == "test_w" else "PASSED"],
    }, result.stdout.str()
    chain = (
        "test_b.py::test_w -> the module fixture 'holds_l', held until test_a.py::test_t2 "
        "ends -> test_b.py::test_w"
        if second == "test_w"
        else "test_a.py::test_t2 -> test_b.py::test_w -> the module fixture 'holds_l', "
        "held until test_a.py::test_t2 ends"
    )
    result.stdout.fnmatch_lines(
        [
            "E * waiting for this alt_coop.Lock would never end: these tests each wait for a "
            f"lock the next one holds (or a fixture holds until it ends): {chain}. "
            "Take locks in one order everywhere"
        ]
    )


def test_a_parametrized_class_fixtures_hold_is_followed_through_the_test_using_it(
    pytester, run_alt_subprocess
):
    # f[1] is torn down as test_u[2] needs f[2], not after every test of the
    # class: test_w's wait for it ends, though test_t (of TestC, not using f)
    # waits for test_w. It was refused.
    pytester.makeconftest(TWO_LOCKS_CONFTEST)
    pytester.makepyfile(
        test_a="""
        import asyncio
        import pytest
        from conftest import L, L2

        pytestmark = pytest.mark.asyncio_cooperative

        async def test_w():
            async with L2():
                await asyncio.sleep(0.2)
                async with L():
                    pass

        class TestC:
            @pytest.fixture(scope="class", params=[1, 2])
            async def f(self, request):
                async with L():
                    yield request.param

            async def test_t(self):
                await asyncio.sleep(0.1)
                async with L2():
                    pass

            async def test_u(self, f):
                await asyncio.sleep(0.4)
        """
    )
    result = run_alt_subprocess("-v", "--asyncio-task-timeout=30", timeout=60)
    result.assert_outcomes(passed=4)


@pytest.mark.parametrize("after", ["a test waiting", "a sequential test"])
def test_a_wider_fixture_holding_a_lock_only_during_its_setup_holds_nothing_up(
    pytester, run_alt_subprocess, after
):
    # init_db lets the lock go before its yield: waiting for it ends, though
    # a test of its module waits for the waiter, or runs after the batch.
    sequential = after == "a sequential test"
    pytester.makeconftest(TWO_LOCKS_CONFTEST)
    pytester.makepyfile(
        test_a=f"""
        import asyncio
        import pytest
        from conftest import L, L2

        @pytest.fixture(scope="module")
        async def init_db():
            async with L():
                await asyncio.sleep(0.3)
            yield

        @pytest.mark.asyncio_cooperative
        async def test_t1(init_db):
            pass

        {"" if sequential else "@pytest.mark.asyncio_cooperative"}
        async def test_t2():
            await asyncio.sleep({0 if sequential else 0.1})
            async with L2():
                pass
        """,
        test_b="""
        import asyncio
        import pytest
        from conftest import L, L2

        @pytest.mark.asyncio_cooperative
        async def test_w():
            async with L2():
                await asyncio.sleep(0.2)
                async with L():
                    pass
        """,
    )
    result = run_alt_subprocess(
        "-v", "--asyncio-task-timeout=30", "test_b.py", "test_a.py", timeout=60
    )
    result.assert_outcomes(passed=3)


@pytest.mark.parametrize("waits", ["before", "after"])
def test_a_lock_a_wider_fixtures_failed_setup_kept_is_released_for_those_waiting(
    pytester, run_alt_subprocess, waits
):
    # The setup's code has ended: nothing else would let the lock go before
    # the module's end, after test_b. It hung when test_b waited first.
    fixture_sleeps, test_sleeps = (0.3, 0.05) if waits == "before" else (0.05, 0.2)
    pytester.makepyfile(
        test_a=f"""
        import asyncio
        import alt_coop
        import pytest

        L = alt_coop.Lock()
        pytestmark = pytest.mark.asyncio_cooperative

        @pytest.fixture(scope="module")
        async def f():
            await L().acquire()
            await asyncio.sleep({fixture_sleeps})
            raise ValueError("setup broke")
            yield

        async def test_a(f):
            pass

        async def test_b():
            await asyncio.sleep({test_sleeps})
            async with L():
                pass
        """
    )
    result = run_alt_subprocess("-v", "--asyncio-task-timeout=30", timeout=20)
    assert verbose_lines(result.stdout.str()) == {
        "test_a": ["ERROR"],
        "test_b": ["PASSED"],
    }, result.stdout.str()
    result.stdout.fnmatch_lines(["E * ValueError: setup broke"])


CIRCLES_THROUGH_A_SET_UP_TEST = {
    # A class fixture of a test outside any class lives on the test itself.
    "class fixture outside a class": (
        """
        @pytest.fixture(scope="class")
        async def f():
            async with L1():
                yield

        async def test_x(f):
            await asyncio.sleep(0.2)
            async with L2():
                pass

        async def test_y():
            async with L2():
                await asyncio.sleep(0.5)
                async with L1():
                    pass
        """,
        "test_y",
        "these tests each wait for a lock the next one holds: "
        "test_circle.py::test_y -> test_circle.py::test_x -> test_circle.py::test_y.",
    ),
    # Its one param's instance is held until the module's end.
    "parametrized module fixture": (
        """
        @pytest.fixture(scope="module", params=[1])
        async def f(request):
            async with L1():
                yield request.param

        async def test_a(f):
            await asyncio.sleep(0.1)

        async def test_b():
            await asyncio.sleep(0.05)
            async with L1():
                pass
        """,
        "test_b",
        "this alt_coop.Lock is held by the module fixture 'f', which releases it at "
        "its teardown, after every test of its module, test_circle.py::test_b included.",
    ),
}


@pytest.mark.parametrize("case", list(CIRCLES_THROUGH_A_SET_UP_TEST))
def test_a_wait_for_a_fixture_held_past_its_setup_that_could_never_end_is_an_error(
    pytester, run_alt_subprocess, case
):
    source, failing, message = CIRCLES_THROUGH_A_SET_UP_TEST[case]
    pytester.makepyfile(
        test_circle="""
        import asyncio
        import alt_coop
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative
        L1, L2 = alt_coop.Lock(), alt_coop.Lock()
        """
        + source
    )
    result = run_alt_subprocess("-v", "--asyncio-task-timeout=30", timeout=20)
    result.assert_outcomes(passed=1, failed=1)
    assert f"test_circle.py::{failing} FAILED" in result.stdout.str(), result.stdout.str()
    result.stdout.fnmatch_lines([f"E * {message}*"])


#: test_a sets the module fixture up, which needs the lock test_b's fixture
#: holds; test_b asks for the module fixture from its body. Whichever waits
#: second closes the circle, and fails.
CIRCLE_THROUGH_A_FIXTURE_SET_UP = """
import asyncio
import alt_coop
import pytest

pytestmark = pytest.mark.asyncio_cooperative
db = alt_coop.Lock()

@pytest.fixture
async def exclusive_db():
    async with db():
        yield

@pytest.fixture(scope="module")
async def schema():
    await asyncio.sleep(SCHEMA_WAITS)
    async with db():
        pass
    return "ready"

async def test_a(schema):
    assert schema == "ready"

async def test_b(exclusive_db, request):
    await asyncio.sleep(BODY_WAITS)
    assert request.getfixturevalue("schema") == "ready"
"""


@pytest.mark.parametrize(
    ("schema_waits", "body_waits", "outcomes", "message"),
    [
        pytest.param(
            0.2,
            0,
            {"errors": 1, "failed": 1},
            "waiting for this alt_coop.Lock would never end: these tests each wait for a lock "
            "the next one holds, or for a wider fixture it sets up: test_circle.py::test_a -> "
            "test_circle.py::test_b -> test_circle.py::test_a (setting up the module fixture "
            "'schema'). Take locks in one order everywhere",
            id="the-set-up-waits-second",
        ),
        pytest.param(
            0.05,
            0.2,
            {"passed": 1, "failed": 1},
            "waiting for the module fixture 'schema', which test_circle.py::test_a sets up, "
            "would never end: these tests each wait for a lock the next one holds, or for a "
            "wider fixture it sets up: test_circle.py::test_b -> test_circle.py::test_a "
            "(setting up the module fixture 'schema') -> test_circle.py::test_b. Take locks in "
            "one order everywhere",
            id="the-body-waits-second",
        ),
    ],
)
def test_a_circle_through_a_wider_fixtures_set_up_is_an_error(
    pytester, run_alt_subprocess, schema_waits, body_waits, outcomes, message
):
    # A hang, before: a wait for a fixture another test sets up was no step
    # of a circle.
    pytester.makepyfile(
        test_circle=CIRCLE_THROUGH_A_FIXTURE_SET_UP.replace(
            "SCHEMA_WAITS", str(schema_waits)
        ).replace("BODY_WAITS", str(body_waits))
    )
    result = run_alt_subprocess("-v", "--asyncio-task-timeout=30", timeout=20)
    result.assert_outcomes(**outcomes)
    result.stdout.fnmatch_lines([f"E * {message}"])


def test_a_circle_through_a_set_up_and_a_fixtures_hold_is_an_error(pytester, run_alt_subprocess):
    # test_a sets up the session fixture, which needs the lock the module
    # fixture of test_y holds until test_c ends; test_c waits for the
    # session fixture. (test_d set the module fixture up, and is done.)
    pytester.makeconftest(
        """
        import asyncio
        import alt_coop
        import pytest

        L = alt_coop.Lock()

        @pytest.fixture(scope="session")
        async def f():
            await asyncio.sleep(0.2)
            async with L():
                pass
        """
    )
    pytester.makepyfile(
        test_x="""
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        async def test_a(f):
            pass
        """,
        test_y="""
        import pytest
        from conftest import L

        pytestmark = pytest.mark.asyncio_cooperative

        @pytest.fixture(scope="module")
        async def m():
            async with L():
                yield

        async def test_d(m):
            pass

        async def test_c(m, f):
            pass
        """,
    )
    result = run_alt_subprocess(
        "-v",
        "-p",
        "no:randomly",
        "--asyncio-task-timeout=30",
        "test_x.py",
        "test_y.py",
        timeout=20,
    )
    result.assert_outcomes(passed=1, errors=2)
    result.stdout.fnmatch_lines(
        [
            "E * waiting for this alt_coop.Lock would never end: *: test_x.py::test_a -> the "
            "module fixture 'm', held until test_y.py::test_c ends -> test_x.py::test_a "
            "(setting up the session fixture 'f'). Take locks in one order everywhere"
        ]
    )


def test_wider_fixtures_asking_for_each_other_as_they_set_up_are_named_a_recursion(
    pytester, run_alt
):
    # No lock in the circle: each fixture's setup asks for the other, which
    # another test sets up (one test setting both up meets pytest's own
    # "recursive dependency" error).
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.fixture(scope="session")
        async def s1(request):
            await asyncio.sleep(0.05)
            return request.getfixturevalue("s2")

        @pytest.fixture(scope="session")
        async def s2(request):
            await asyncio.sleep(0.05)
            return request.getfixturevalue("s1")

        async def test_a(s1):
            pass

        async def test_b(s2):
            pass
        """
    )
    result = run_alt("--asyncio-cooperative", "-p", "no:randomly")
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(
        [
            "E * RuntimeError: waiting for the session fixture 's1', which * sets up, would never "
            "end: these fixtures ask for each other as they are set up, a recursive dependency: "
            "*test_b -> *test_a (setting up the session fixture 's1') -> *test_b (setting up "
            "the session fixture 's2')"
        ]
    )
    assert "lock" not in result.stdout.str().lower()


def test_a_wait_for_a_set_up_that_just_ended_is_no_circle(pytester, run_alt):
    # test_b waits for f0, which test_a sets up, after claiming f1; test_a
    # then asks for f1. It used to be told of a circle: test_b's wait for f0
    # still counted, though f0 was set up and test_b was only waiting for
    # its turn to run on.
    pytester.makeconftest(
        """
        import asyncio
        import pytest

        @pytest.fixture(scope="session")
        async def f0():
            await asyncio.sleep(0.01)
            yield "f0"

        @pytest.fixture(scope="session")
        async def f1(f0):
            yield "f1"
        """
    )
    pytester.makepyfile(
        """
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        async def test_a(f0, f1):
            assert (f0, f1) == ("f0", "f1")

        async def test_b(f1):
            assert f1 == "f1"
        """
    )
    result = run_alt("-p", "no:randomly")
    result.assert_outcomes(passed=2)


#: A module fixture holds the lock until its module's last test, which
#: cannot start while the test waiting for the lock runs: the waiter and it
#: share a resource, it is exclusive, or the run stops (-x) before it.
NEVER_STARTS = {
    "resource": ('@pytest.mark.asyncio_resources("r")', '@pytest.mark.asyncio_resources("r")', ()),
    "exclusive": ("", "@pytest.mark.asyncio_exclusive", ()),
    "stopping": ("", "", ("-x", "--max-asyncio-tasks=2")),
}

STUCK_WAITER = """
import asyncio
import pytest
from locks import L1

@pytest.mark.asyncio_cooperative
WAITER_MARK
async def test_waiter():
    await asyncio.sleep(0.1)
    WAITS
"""

STUCK_HOLDER = """
import asyncio
import pytest
from locks import L1

@pytest.fixture(scope="module")
async def held():
    HOLDS

@pytest.mark.asyncio_cooperative
async def test_first(held):
    await asyncio.sleep(0.2)
    assert FIRST_PASSES

@pytest.mark.asyncio_cooperative
LAST_MARK
async def test_last(held):
    pass
"""


def write_stuck_wait(pytester, case, *, waits, holds, first_passes=True):
    waiter_mark, last_mark, args = NEVER_STARTS[case]
    pytester.makepyfile(
        locks="import alt_coop\n\nL1 = alt_coop.Lock()\n",
        test_m0=STUCK_WAITER.replace("WAITER_MARK", waiter_mark).replace("WAITS", waits),
        test_m1=STUCK_HOLDER.replace("LAST_MARK", last_mark)
        .replace("HOLDS", holds)
        .replace("FIRST_PASSES", str(first_passes)),
    )
    return args


@pytest.mark.parametrize("case", NEVER_STARTS)
def test_a_wait_for_a_fixture_held_for_a_test_that_cannot_start_times_out(
    pytester, run_alt_subprocess, case
):
    # Each hung forever, though timeouts were set: a wait for a lock a test's
    # or fixture's own code holds pauses the waiter's clocks. Once no
    # further test can start, they run again, and the report says why.
    args = write_stuck_wait(
        pytester,
        case,
        waits="async with L1():\n        pass",
        holds="async with L1():\n        yield",
        first_passes=case != "stopping",
    )
    result = run_alt_subprocess(
        "-v", "--default-async-timeout=0.5", "--asyncio-task-timeout=30", *args, timeout=20
    )
    output = result.stdout.str()
    assert "test_m0.py::test_waiter FAILED" in output, output
    if case == "stopping":
        result.assert_outcomes(failed=2)
        stop = "the run is stopping (-x, --maxfail or pytest.exit()): no further test starts"
    else:
        result.assert_outcomes(passed=2, failed=1)
        stop = (
            "that test cannot start while the tests running wait (for a resource, an "
            "exclusive turn or a free slot)"
        )
    result.stdout.fnmatch_lines(
        [
            "*test_waiter timed out after 0.5s (async timeout); it was waiting at "
            "test_m0.py:9 in test_waiter; this alt_coop.Lock could not be let go of while it "
            "waited: the module fixture 'held' holds it until the last test of its module "
            f"ends, and {stop}. Take it in a function-scoped fixture instead*"
        ]
    )


@pytest.mark.parametrize(
    "ended_by",
    ["the waiter's own asyncio.timeout", "a callback that releases the lock"],
)
def test_a_stuck_wait_that_something_else_ends_is_no_failure(
    pytester, run_alt_subprocess, ended_by
):
    # Failing such a wait at once, as a first fix for the hang did, failed
    # these too.
    if ended_by == "a callback that releases the lock":
        waits = "async with L1():\n        pass"
        holds = (
            "lock = L1()\n    await lock.acquire()\n"
            "    asyncio.get_running_loop().call_later(0.5, lock.release)\n    yield"
        )
    else:
        waits = (
            "with pytest.raises(TimeoutError):\n"
            "        async with asyncio.timeout(0.3):\n"
            "            async with L1():\n"
            "                pass"
        )
        holds = "async with L1():\n        yield"
    write_stuck_wait(pytester, "resource", waits=waits, holds=holds)
    result = run_alt_subprocess("-v", "--asyncio-task-timeout=30", timeout=20)
    result.assert_outcomes(passed=3)


def test_a_wait_for_a_fixture_held_past_the_batch_names_no_unrelated_test(
    pytester, run_alt_subprocess
):
    # The error said the fixture was held until test_seq ended: the first
    # test after the batch, which does not use it.
    pytester.makepyfile(
        locks="""
        import alt_coop

        L1 = alt_coop.Lock()
        """,
        test_m0="""
        import asyncio
        import pytest
        from locks import L1

        @pytest.mark.asyncio_cooperative
        async def test_waiter():
            await asyncio.sleep(0.1)
            async with L1():
                pass
        """,
        test_m1="""
        import asyncio
        import pytest
        from locks import L1

        @pytest.fixture(scope="module")
        async def held():
            async with L1():
                yield

        @pytest.mark.asyncio_cooperative
        async def test_first(held):
            await asyncio.sleep(0.2)

        def test_seq():
            pass

        @pytest.mark.asyncio_cooperative
        async def test_last(held):
            pass
        """,
    )
    result = run_alt_subprocess("-v", "--asyncio-task-timeout=30", timeout=20)
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(
        [
            "E * waiting for this alt_coop.Lock would never end: these tests each wait for a "
            "lock the next one holds (or a fixture holds until it ends): test_m0.py::test_waiter "
            "-> the module fixture 'held', held until its module's tests after the cooperative "
            "tests running now end. *"
        ]
    )
    assert "test_seq ends" not in result.stdout.str()


def test_a_circle_of_tests_alone_is_named_as_tests_whatever_their_files_name(pytester, run_alt):
    pytester.makepyfile(test_fixture_locks=CROSSED_LOCKS)
    result = run_alt("-v", "--asyncio-task-timeout=10")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "E * waiting for this alt_coop.Lock would never end: these tests each wait for a "
            "lock the next one holds: *"
        ]
    )


def test_waiting_for_a_lock_a_task_of_the_test_holds_is_no_deadlock(pytester, run_alt):
    pytester.makepyfile(
        """
        import asyncio
        import alt_coop
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative
        lock = alt_coop.Lock()

        async def hold_a_while():
            async with lock():
                await asyncio.sleep(0.1)

        async def test_waits_for_its_own_task():
            task = asyncio.create_task(hold_a_while())
            await asyncio.sleep(0)
            async with lock():
                pass
            await task
        """
    )
    run_alt().assert_outcomes(passed=1)


def test_after_an_interrupt_a_teardown_timeout_is_a_timeout(pytester, run_alt_subprocess):
    # The interrupt counts once: the timeout of a teardown that follows is
    # that teardown's failure, not a second interrupt.
    test_file = pytester.makepyfile(
        """
        import asyncio
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        @pytest.fixture
        async def slow_teardown():
            yield
            await asyncio.sleep(5)

        async def test_other(slow_teardown):
            await asyncio.sleep(0.1)

        async def test_stop():
            await asyncio.sleep(0.05)
            raise KeyboardInterrupt
        """
    )
    result = run_alt_subprocess("--default-async-timeout=0.5", timeout=30)
    assert result.ret == pytest.ExitCode.INTERRUPTED, result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "*fixture 'slow_teardown' timed out after 0.5s during teardown*",
            f"*{test_file.name}:16: KeyboardInterrupt",
        ]
    )


def test_a_tests_own_interrupt_gives_the_others_a_bounded_grace(pytester, run_alt_subprocess):
    # As after Ctrl-C: a test that swallows the interrupt's cancellation and
    # goes on waiting is given up on, whatever its timeout, not waited for.
    test_file = pytester.makepyfile(
        """
        import asyncio
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        async def test_stubborn():
            for _ in range(30):
                try:
                    await asyncio.sleep(4)
                except asyncio.CancelledError:
                    print("SWALLOWED", flush=True)

        async def test_stop():
            await asyncio.sleep(0.05)
            raise KeyboardInterrupt
        """
    )
    result = run_alt_subprocess("-s", "--default-async-timeout=1000", timeout=60)
    assert result.ret == pytest.ExitCode.INTERRUPTED, result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "SWALLOWED",
            f"{test_file.name}::test_stubborn",  # in the warnings summary, as its warning
            f"  *{test_file.name}:6: AltCoopWarning: alt_coop stopped waiting for 1 cooperative "
            "test(s) after the interrupt, and interrupted them where they waited: *test_stubborn",
            f"*{test_file.name}:15: KeyboardInterrupt",
        ]
    )


@pytest.mark.parametrize("cooperative", [True, False], ids=["cooperative", "sequential"])
def test_a_lock_held_by_a_wider_fixture_the_test_uses_is_an_error(pytester, run_alt, cooperative):
    pytester.makepyfile(
        f"""
        import asyncio
        import alt_coop
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative if {cooperative} else []
        db = alt_coop.Lock()

        @pytest.fixture(scope="module")
        async def holds_db():
            async with db():
                yield

        async def test_one(holds_db):
            await asyncio.sleep(0.1)

        async def test_two(holds_db):
            async with db():
                pass

        async def test_three():  # in its module: torn down after this test too
            await asyncio.sleep(0.05)
            async with db():
                pass
        """
    )
    result = run_alt("-v", "--asyncio-task-timeout=10")
    assert verbose_lines(result.stdout.str()) == {
        "test_one": ["PASSED"],
        "test_two": ["FAILED"],
        "test_three": ["FAILED"],
    }, result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "E * RuntimeError: this alt_coop.Lock is*held by the module fixture 'holds_db'*",
            "test_*.py:17: RuntimeError",
        ]
    )
    assert result.duration < 5


@pytest.mark.parametrize("where", ["fixture", "test", "getfixturevalue"])
def test_waiting_for_the_lock_does_not_count_against_timeouts(pytester, run_alt, where):
    events_conftest(pytester)
    pytester.makepyfile(
        f"""
        import asyncio
        import alt_coop
        import pytest
        from conftest import span

        pytestmark = pytest.mark.asyncio_cooperative
        DB = alt_coop.Lock()
        WHERE = {where!r}

        @pytest.fixture
        async def hold(request):
            if WHERE == "fixture":
                async with DB():
                    async with span(request.node.name):
                        await asyncio.sleep(0.15)
                    yield
            else:
                yield

        @pytest.fixture
        async def held_later(request):
            async with DB():
                async with span(request.node.name):
                    await asyncio.sleep(0.15)
                yield

        @pytest.mark.parametrize("n", range(5))
        async def test_holds(hold, request, n):
            if WHERE == "test":
                async with DB():
                    async with span(request.node.name):
                        await asyncio.sleep(0.15)
            elif WHERE == "getfixturevalue":
                await asyncio.sleep(0)  # the test's own clock is running
                request.getfixturevalue("held_later")  # waits for the lock in there
        """
    )
    result = run_alt("-v", "--default-async-timeout=0.3")
    result.assert_outcomes(passed=5)
    spans = read_spans(pytester)
    assert len(spans) == 5
    assert peak(spans) == 1
    # The last one waited far longer than its timeout before it got the lock.
    assert (
        max(start for start, _ in spans.values()) - min(start for start, _ in spans.values()) > 0.3
    )


@pytest.mark.parametrize("waits_for", ["lock", "resource"])
def test_waiting_for_a_lock_or_resource_does_not_count_against_the_task_timeout(
    pytester, run_alt, waits_for
):
    """README: "Waiting for a lock, a resource or a slot does not count against a
    test's timeouts: its clocks start when it starts." Each test here takes 0.1s
    of its own, well inside --asyncio-task-timeout=0.3, but the last ones wait
    0.3s or more for the others."""
    events_conftest(pytester)
    pytester.makepyfile(
        f"""
        import asyncio
        import alt_coop
        import pytest
        from conftest import span

        WAITS_FOR = {waits_for!r}
        pytestmark = [pytest.mark.asyncio_cooperative]
        if WAITS_FOR == "resource":
            pytestmark.append(pytest.mark.asyncio_resources("db"))
        DB = alt_coop.Lock()

        @pytest.fixture
        async def hold(request):
            if WAITS_FOR == "lock":
                async with DB():
                    async with span(request.node.name):
                        await asyncio.sleep(0.1)
                    yield
            else:
                async with span(request.node.name):
                    await asyncio.sleep(0.1)
                yield

        @pytest.mark.parametrize("n", range(5))
        async def test_holds(hold, n):
            pass
        """
    )
    result = run_alt("-v", "--asyncio-task-timeout=0.3")
    result.assert_outcomes(passed=5)
    spans = read_spans(pytester)
    assert len(spans) == 5 and peak(spans) == 1
    starts = sorted(start for start, _ in spans.values())
    assert starts[-1] - starts[0] >= 0.3  # the last one did wait that long


@pytest.mark.parametrize(
    ("mark", "expected"),
    [
        ('asyncio_resources(["db"])', "asyncio_resources(['db'])"),
        ('asyncio_resources(name="db")', "asyncio_resources(name='db')"),
        ("asyncio_resources()", "asyncio_resources()"),
        ('asyncio_exclusive("db")', "asyncio_exclusive('db')"),
        ("asyncio_cooperative(5)", "asyncio_cooperative(5)"),
        ("asyncio_sequential(reason='x')", "asyncio_sequential(reason='x')"),
    ],
)
@pytest.mark.parametrize("cooperative", [True, False])
def test_a_bad_alt_coop_mark_is_an_error_of_its_test(
    pytester, run_alt, mark, expected, cooperative
):
    # As pytest does with a skipif of a bad condition: that test errors, in
    # every mode, and no other test's result is lost (the one before it is
    # in the same batch).
    events_conftest(pytester)
    pytester.makepyfile(
        f"""
        import asyncio
        import pytest
        from conftest import log

        {"pytestmark = pytest.mark.asyncio_cooperative" if cooperative else ""}

        def test_sequential():
            log("ran test_sequential")

        async def test_fine():
            await asyncio.sleep(0.1)
            log("ran test_fine")

        @pytest.mark.{mark}
        async def test_bad():
            log("ran test_bad")
        """
    )
    result = run_alt()
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*ERROR at setup of test_bad*"])
    assert f"@pytest.mark.{expected}" in result.stdout.str(), result.stdout.str()
    assert sorted(read_events(pytester)) == ["ran test_fine", "ran test_sequential"]


def test_a_bad_alt_coop_mark_is_an_error_of_its_test_under_xdist(pytester):
    pytest.importorskip("xdist")
    pytester.makepyfile(
        """
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        async def test_fine():
            pass

        @pytest.mark.asyncio_resources()
        async def test_bad():
            pass
        """
    )
    result = pytester.runpytest_subprocess(
        *ISOLATE, "-p", "alt_coop.enable", "-p", "xdist", "-n", "2", timeout=120
    )
    result.assert_outcomes(passed=1, errors=1)
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    result.stdout.fnmatch_lines(["*give one or more resource names*"])


def test_tests_sharing_a_resource_never_overlap(pytester, run_alt):
    events_conftest(pytester)
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        from conftest import span

        pytestmark = pytest.mark.asyncio_cooperative

        @pytest.mark.asyncio_resources("db")
        async def test_1_db():
            async with span("1_db"):
                await asyncio.sleep(0.1)

        @pytest.mark.asyncio_resources("cache")
        async def test_2_cache():
            async with span("2_cache"):
                await asyncio.sleep(0.1)

        async def test_3_none():
            async with span("3_none"):
                await asyncio.sleep(0.1)

        @pytest.mark.asyncio_resources("db", "cache")
        async def test_4_both():
            async with span("4_both"):
                await asyncio.sleep(0.1)

        @pytest.mark.asyncio_resources("db")
        async def test_5_db():
            async with span("5_db"):
                await asyncio.sleep(0.1)

        @pytest.mark.asyncio_resources("other")
        async def test_6_other():
            async with span("6_other"):
                await asyncio.sleep(0.1)
        """
    )
    result = run_alt("-v")
    result.assert_outcomes(passed=6)
    spans = read_spans(pytester)
    resources = {
        "1_db": {"db"},
        "2_cache": {"cache"},
        "3_none": set(),
        "4_both": {"db", "cache"},
        "5_db": {"db"},
        "6_other": {"other"},
    }
    for a, b in combinations(resources, 2):
        if resources[a] & resources[b]:
            assert not overlap(spans[a], spans[b]), (a, b, spans)
    # Tests with different resources (or none) do run together.
    assert overlap(spans["1_db"], spans["2_cache"])
    assert overlap(spans["1_db"], spans["3_none"])
    assert overlap(spans["5_db"], spans["6_other"])


def test_exclusive_test_overlaps_with_no_other(pytester, run_alt):
    events_conftest(pytester)
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        from conftest import span

        pytestmark = pytest.mark.asyncio_cooperative

        @pytest.mark.parametrize("n", range(3))
        async def test_before(n):
            async with span(f"before{n}"):
                await asyncio.sleep(0.05 * (n + 1))

        @pytest.mark.asyncio_exclusive
        async def test_alone():
            async with span("alone"):
                await asyncio.sleep(0.1)

        @pytest.mark.parametrize("n", range(3))
        async def test_after(n):
            async with span(f"after{n}"):
                await asyncio.sleep(0.05)
        """
    )
    result = run_alt("-v")
    result.assert_outcomes(passed=7)
    spans = read_spans(pytester)
    for other in spans.keys() - {"alone"}:
        assert not overlap(spans["alone"], spans[other]), (other, spans)
    assert peak({k: v for k, v in spans.items() if k.startswith("before")}) == 3
    assert peak({k: v for k, v in spans.items() if k.startswith("after")}) == 3
    assert SUMMARY.search(result.stdout.str()).group(1, 2) == ("7", "3")


@pytest.mark.parametrize("how", ["option", "ini"])
def test_max_asyncio_tasks_caps_tests_in_flight(pytester, run_alt, how):
    events_conftest(pytester)
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        from conftest import span

        IN_FLIGHT = []
        MOST = []

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("n", range(8))
        async def test_counted(n):
            async with span(f"t{n}"):
                IN_FLIGHT.append(n)
                MOST.append(len(IN_FLIGHT))
                await asyncio.sleep(0.02 + 0.01 * (n % 3))
                IN_FLIGHT.remove(n)

        def test_check_after_the_batch():
            assert len(MOST) == 8
            assert max(MOST) == 3, MOST
        """
    )
    if how == "option":
        result = run_alt("-v", "--max-asyncio-tasks=3")
    else:
        pytester.makeini("[pytest]\nmax_asyncio_tasks = 3\n")
        result = run_alt("-v")
    result.assert_outcomes(passed=9)
    assert peak(read_spans(pytester)) == 3
    assert SUMMARY.search(result.stdout.str()).group(1, 2) == ("8", "3")


def test_a_lock_called_in_a_sync_fixture_serves_sequential_and_cooperative_tests(
    pytester, run_alt
):
    # pytest-asyncio-cooperative's Lock can be called anywhere; alt_coop's
    # raised "no running event loop" in a sequential test's sync fixture.
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        from alt_coop import Lock

        lock = Lock()
        inside = []

        @pytest.fixture
        def db_lock():
            return lock()

        async def exclusive(db_lock):
            async with db_lock:
                inside.append(1)
                assert len(inside) == 1
                await asyncio.sleep(0.05)
                inside.pop()

        async def test_sequential(db_lock):
            await exclusive(db_lock)

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("n", range(3))
        async def test_cooperative(db_lock, n):
            await exclusive(db_lock)
        """
    )
    result = run_alt()
    result.assert_outcomes(passed=4)


def test_a_lock_taken_with_a_plain_with_says_to_use_async_with(pytester, run_alt):
    pytester.makepyfile(
        """
        import alt_coop

        lock = alt_coop.Lock()

        def test_called():
            with lock():
                pass

        def test_itself():
            with lock:
                pass
        """
    )
    result = run_alt()
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "E   *TypeError: an alt_coop.Lock is taken with `async with lock():`, in an async "
            "fixture or test",
        ]
        * 2
    )
    result.stdout.no_fnmatch_line("*alt_coop/*.py:*")


def test_a_lock_taken_on_a_loop_of_a_plain_def_tests_thread_is_an_error(pytester, run_alt):
    # asyncio.run in a plain def cooperative test's thread runs a loop of its
    # own: a lock there would keep no other test out, silently; the session
    # loop's lock taken there would hang the run (asyncio's lock is not
    # thread-safe). Sent to the session's loop it is the session's lock; a
    # sync fixture's asyncio.run is on the loop's thread, which it holds.
    pytester.makepyfile(
        """
        import asyncio
        import alt_coop
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative
        db = alt_coop.Lock()

        async def use(lock=None):
            async with lock or db():
                await asyncio.sleep(0.01)

        @pytest.fixture
        def set_up_with_the_lock():
            asyncio.run(use())

        async def test_on_the_session_loop(set_up_with_the_lock):
            async with db():
                await asyncio.sleep(0.2)

        def test_asyncio_run_in_the_body():
            asyncio.run(use())

        def test_the_session_loops_lock_on_the_bodys_loop():
            lock = db()  # no loop runs here: the session loop's
            asyncio.run(use(lock))

        def test_sent_to_the_session_loop():
            loop = asyncio.get_event_loop()
            asyncio.run_coroutine_threadsafe(use(), loop).result(timeout=10)

        @pytest.mark.asyncio_sequential
        def test_sequential():
            asyncio.run(use())
        """
    )
    result = run_alt("-rA")
    result.assert_outcomes(passed=3, failed=2)
    result.stdout.fnmatch_lines_random(
        [
            "PASSED *::test_on_the_session_loop",
            "PASSED *::test_sent_to_the_session_loop",
            "PASSED *::test_sequential",
            "FAILED *::test_asyncio_run_in_the_body*",
            "FAILED *::test_the_session_loops_lock_on_the_bodys_loop*",
        ]
    )
    result.stdout.fnmatch_lines_random(
        [
            "E *RuntimeError: this alt_coop.Lock is taken on a loop of a plain def cooperative*",
            "E *RuntimeError: this lock is an alt_coop.Lock's for another event loop*",
        ]
    )


def test_a_session_a_plain_def_test_runs_is_a_session_of_its_own(pytester, run_alt):
    # It runs its tests on its own loop, in the body's thread: their locks are
    # its loop's, and their fixtures are set up as any session's (a param
    # too: it was refused as if the body asked for it).
    pytester.makepyfile(
        test_outer=f"""
        import pytest

        @pytest.mark.asyncio_cooperative
        def test_runs_a_session():
            args = [*{ISOLATE!r}, "-p", "alt_coop.enable", "-q", "inner/test_inner.py"]
            assert pytest.main(args) == 0
        """
    )
    pytester.mkdir("inner")
    pytester.path.joinpath("inner", "test_inner.py").write_text(
        textwrap.dedent(
            """
            import asyncio
            import alt_coop
            import pytest

            pytestmark = pytest.mark.asyncio_cooperative
            db = alt_coop.Lock()

            @pytest.mark.parametrize("n", range(2))
            async def test_takes_it(n):
                async with db():
                    await asyncio.sleep(0.01)
            """
        )
    )
    result = run_alt("-rA", "test_outer.py")
    result.assert_outcomes(passed=1)
