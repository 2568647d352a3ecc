"""Cooperative tests: skip, xfail, selection (-k, -m, --lf, --ff, --sw), and
stopping early (-x, --maxfail)."""

from __future__ import annotations

import pytest
from conftest import mode_args
from cooperative_support import (
    SUMMARY,
    events_conftest,
    read_events,
    verbose_lines,
)

# -- skip, xfail, selection -------------------------------------------------------


def test_skip_skipif_and_xfail_marks_at_every_level(pytester, run_alt):
    events_conftest(pytester)
    pytester.makepyfile(
        test_function_marks="""
        import asyncio
        import pytest
        from conftest import log

        pytestmark = pytest.mark.asyncio_cooperative

        @pytest.mark.skip(reason="function skip")
        async def test_skipped():
            log("ran test_skipped")

        @pytest.mark.skipif(True, reason="function skipif")
        async def test_skipped_if():
            log("ran test_skipped_if")

        @pytest.mark.skipif(False, reason="not taken")
        async def test_not_skipped():
            await asyncio.sleep(0.01)
            log("ran test_not_skipped")

        @pytest.mark.xfail(reason="function xfail")
        async def test_xfailed():
            await asyncio.sleep(0.01)
            log("ran test_xfailed")
            assert False

        @pytest.mark.xfail(reason="passes anyway")
        async def test_xpassed():
            await asyncio.sleep(0.01)
            log("ran test_xpassed")

        @pytest.mark.xfail(reason="strict", strict=True)
        async def test_xpassed_strict():
            await asyncio.sleep(0.01)
            log("ran test_xpassed_strict")

        @pytest.mark.xfail(run=False, reason="not run")
        async def test_xfail_not_run():
            log("ran test_xfail_not_run")
        """,
        test_class_marks="""
        import asyncio
        import pytest
        from conftest import log

        @pytest.mark.asyncio_cooperative
        @pytest.mark.skip(reason="class skip")
        class TestSkipped:
            async def test_one(self):
                log("ran TestSkipped")

        @pytest.mark.asyncio_cooperative
        @pytest.mark.xfail(reason="class xfail")
        class TestXfailed:
            async def test_one(self):
                await asyncio.sleep(0.01)
                log("ran TestXfailed")
                raise ValueError

        @pytest.mark.asyncio_cooperative
        class TestOpen:
            async def test_one(self):
                await asyncio.sleep(0.01)
                log("ran TestOpen")
        """,
        test_module_skip="""
        import pytest
        from conftest import log

        pytestmark = [pytest.mark.asyncio_cooperative, pytest.mark.skipif(True, reason="module")]

        async def test_one():
            log("ran module skipped")
        """,
        test_module_xfail="""
        import asyncio
        import pytest
        from conftest import log

        pytestmark = [pytest.mark.asyncio_cooperative, pytest.mark.xfail(reason="module")]

        async def test_one():
            await asyncio.sleep(0.01)
            log("ran module xfailed")
            assert 0
        """,
    )
    result = run_alt("-v", "-rsxX")
    result.assert_outcomes(passed=2, skipped=4, xfailed=4, xpassed=1, failed=1)
    lines = verbose_lines(result.stdout.str())
    assert lines["test_xpassed_strict"] == ["FAILED"]
    assert lines["test_xpassed"] == ["XPASS"]
    result.stdout.fnmatch_lines_random(
        [
            "SKIPPED*function skip",
            "SKIPPED*function skipif",
            "SKIPPED*class skip",
            "SKIPPED*module",
            "XFAIL*not run*",
            "*[[]XPASS(strict)[]] strict*",
        ]
    )
    ran = {line.removeprefix("ran ") for line in read_events(pytester)}
    assert ran == {
        "test_not_skipped",
        "test_xfailed",
        "test_xpassed",
        "test_xpassed_strict",
        "TestXfailed",
        "TestOpen",
        "module xfailed",
    }
    assert SUMMARY.search(result.stdout.str()) is not None


def test_skip_xfail_and_fail_called_inside_cooperative_tests(pytester, run_alt):
    events_conftest(pytester)
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        from conftest import log, meet

        pytestmark = pytest.mark.asyncio_cooperative
        ALL = asyncio.Barrier(4)

        async def test_skips():
            await meet(ALL)
            pytest.skip("skipped from inside")
            log("after skip")

        async def test_xfails():
            await meet(ALL)
            pytest.xfail("xfailed from inside")
            log("after xfail")

        async def test_fails():
            await meet(ALL)
            pytest.fail("failed from inside")
            log("after fail")

        async def test_passes():
            await meet(ALL)
            log("passes")
        """
    )
    result = run_alt("-v", "-rsx")
    result.assert_outcomes(passed=1, skipped=1, xfailed=1, failed=1)
    assert verbose_lines(result.stdout.str()) == {
        "test_skips": ["SKIPPED"],
        "test_xfails": ["XFAIL"],
        "test_fails": ["FAILED"],
        "test_passes": ["PASSED"],
    }
    result.stdout.fnmatch_lines_random(
        ["SKIPPED*skipped from inside", "XFAIL*xfailed from inside", "*Failed: failed from inside"]
    )
    assert read_events(pytester) == ["passes"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("-k", "alpha"), {"test_alpha_1", "test_alpha_2"}),
        (("-k", "not alpha"), {"test_beta", "test_gamma_slow"}),
        (("-m", "slow"), {"test_gamma_slow", "test_alpha_2"}),
        (("-m", "not slow", "-k", "alpha"), {"test_alpha_1"}),
    ],
)
def test_k_and_m_select_cooperative_tests(pytester, run_alt, args, expected):
    events_conftest(pytester)
    pytester.makeini("[pytest]\nmarkers =\n    slow: a slow test\n")
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        from conftest import log

        pytestmark = pytest.mark.asyncio_cooperative

        async def test_alpha_1():
            await asyncio.sleep(0.01)
            log("test_alpha_1")

        @pytest.mark.slow
        async def test_alpha_2():
            await asyncio.sleep(0.01)
            log("test_alpha_2")

        async def test_beta():
            await asyncio.sleep(0.01)
            log("test_beta")

        @pytest.mark.slow
        async def test_gamma_slow():
            await asyncio.sleep(0.01)
            log("test_gamma_slow")
        """
    )
    result = run_alt("-v", *args)
    result.assert_outcomes(passed=len(expected), deselected=4 - len(expected))
    assert set(read_events(pytester)) == expected
    assert set(verbose_lines(result.stdout.str())) == expected
    assert SUMMARY.search(result.stdout.str()).group(1) == str(len(expected))


# -- stopping early -----------------------------------------------------------------


@pytest.mark.parametrize("failing_is_last", [True, False], ids=["failing-last", "other-last"])
def test_stopping_reports_a_shared_fixture_teardown_error_at_the_last_test(
    pytester, run_alt, failing_is_last
):
    events_conftest(pytester)
    pytester.makepyfile(
        f"""
        import asyncio
        import pytest
        from conftest import log

        @pytest.fixture(scope="module")
        async def mod():
            yield
            log("teardown mod")
            raise RuntimeError("module teardown boom")

        @pytest.mark.asyncio_cooperative
        async def test_slow(mod):
            await asyncio.sleep(0 if {failing_is_last} else 0.3)

        @pytest.mark.asyncio_cooperative
        async def test_fails(mod):
            await asyncio.sleep(0.1)
            assert 0

        def test_later(mod):
            pass
        """
    )
    result = run_alt("-x")
    output = result.stdout.str()
    # As pytest does: the last test to finish tears the module down, and the
    # error is that test's teardown error, in the report and the summary.
    result.assert_outcomes(passed=1, failed=1, errors=1)
    last = "test_fails" if failing_is_last else "test_slow"
    result.stdout.fnmatch_lines(
        [f"*ERROR at teardown of {last}*", "*RuntimeError: module teardown boom"]
    )
    assert "Traceback (most recent call last)" not in output + result.stderr.str(), output
    assert "test_later" not in output
    assert read_events(pytester).count("teardown mod") == 1


def test_a_teardown_error_that_stops_the_run_starts_no_test_while_it_tears_down(pytester, run_alt):
    # test_a's teardown error stops the run: no test starts while the module
    # fixture's teardown, which it then does too, awaits; test_b, given the
    # slot test_holder frees meanwhile, among them.
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.fixture(scope="module")
        async def mm():
            yield
            await asyncio.sleep(0.2)

        @pytest.fixture
        async def f():
            yield
            raise RuntimeError("f teardown failed")

        @pytest.mark.asyncio_cooperative
        async def test_a(mm, f):
            pass

        @pytest.mark.asyncio_cooperative
        async def test_holder():
            await asyncio.sleep(0.1)

        @pytest.mark.asyncio_cooperative
        async def test_b(mm):
            print("test_b ran")
        """
    )
    result = run_alt("-x", "-s", "-p", "no:randomly", "--max-asyncio-tasks=2")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*RuntimeError: f teardown failed*"])
    assert "test_b ran" not in result.stdout.str()
    assert "KeyError" not in result.stdout.str()


@pytest.mark.parametrize("stop", ["-x", "--maxfail=1"])
def test_stop_after_first_failure_starts_no_new_test(pytester, run_alt, stop):
    events_conftest(pytester)
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        from conftest import log

        pytestmark = pytest.mark.asyncio_cooperative

        async def test_00_fails():
            log("started test_00_fails")
            await asyncio.sleep(0.01)
            assert False, "the first failure"

        @pytest.mark.parametrize("n", range(1, 10))
        async def test_slow(n):
            log(f"started test_slow[{n}]")
            await asyncio.sleep(0.3)
        """
    )
    result = run_alt("-v", "--max-asyncio-tasks=2", stop)
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed") == 1, outcomes
    assert outcomes.get("passed", 0) <= 1, outcomes
    result.stdout.fnmatch_lines(["*AssertionError: the first failure*", "*stopping after 1 fail*"])
    started = [line.removeprefix("started ") for line in read_events(pytester)]
    # The two admitted at once; nothing after the failure.
    assert started == ["test_00_fails", "test_slow[1]"], started
    assert result.ret == pytest.ExitCode.TESTS_FAILED


@pytest.mark.parametrize("stop", ["-x", "--maxfail=1"])
def test_a_test_admitted_but_not_yet_started_when_the_run_stops_does_not_start(
    pytester, run_alt, stop
):
    # All three are admitted at once; the first fails at its first turn after
    # starting, before the others have had a turn: they never start.
    pytester.makeconftest(
        """
        STARTED = []

        def pytest_runtest_setup(item):
            STARTED.append(item.name)

        def pytest_terminal_summary(terminalreporter):
            terminalreporter.write_line(f"STARTED {STARTED}")
        """
    )
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        @pytest.fixture(scope="module")
        def shared():
            yield
            raise RuntimeError("module teardown boom")

        async def test_a(shared):
            await asyncio.sleep(0)
            assert False

        async def test_b(shared):
            pass

        async def test_c(shared):
            pass
        """
    )
    result = run_alt(stop)
    # test_a is the last test to run: the module is torn down at its
    # teardown, whose error is reported there, as pytest does.
    result.assert_outcomes(failed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_a*",
            "*RuntimeError: module teardown boom",
            "STARTED ['test_a']",
        ],
        consecutive=False,
    )
    # The tests that never started did not run at once with it.
    result.stdout.fnmatch_lines(["alt_coop: 1 cooperative test, at most 1 at once, *"])


@pytest.mark.parametrize("stop", ["-x", "--maxfail=1"])
@pytest.mark.parametrize("freed", ["slot", "resource"])
@pytest.mark.parametrize("fails_in", ["call", "teardown"])
def test_no_test_starts_after_the_limit_while_the_failed_test_tears_down(
    pytester, run_alt, stop, freed, fails_in
):
    # test_a has failed (in its call, or in a fixture's teardown, whose
    # report pytest makes only once every finalizer has run), but a fixture
    # is still tearing down when test_b finishes and frees the slot (or the
    # resource) the others wait for: pytest stops the run at test_a's
    # failure, so they never start.
    events_conftest(pytester)
    pytester.makepyfile(
        f"""
        import asyncio
        import pytest
        from conftest import log

        pytestmark = pytest.mark.asyncio_cooperative
        if {freed == "resource"}:
            waits = pytest.mark.asyncio_resources("db")
        else:
            waits = lambda test: test

        @pytest.fixture
        async def slow_teardown():
            yield
            await asyncio.sleep(0.3)

        @pytest.fixture
        async def failing_teardown(slow_teardown):
            yield
            if {fails_in == "teardown"}:
                raise AssertionError("the first failure")

        async def test_a(failing_teardown):
            log("started test_a")
            await asyncio.sleep(0.01)  # test_b starts
            assert {fails_in != "call"}, "the first failure"

        @waits
        async def test_b():
            log("started test_b")
            await asyncio.sleep(0.05)

        @waits
        async def test_c():
            log("started test_c")

        @waits
        async def test_d():
            log("started test_d")
        """
    )
    result = run_alt("-p", "no:randomly", "--max-asyncio-tasks=2", stop)
    # In either order: each of test_a's fixture setups ends with a turn of
    # the loop, where test_b may start.
    started = sorted(line.removeprefix("started ") for line in read_events(pytester))
    assert started == ["test_a", "test_b"], started
    if fails_in == "call":
        result.assert_outcomes(failed=1, passed=1)
    else:
        result.assert_outcomes(errors=1, passed=2)
    result.stdout.fnmatch_lines(["*AssertionError: the first failure*", "*stopping after 1 fail*"])
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_a_test_held_for_an_excused_teardown_error_waits_for_one_failing_meanwhile(
    pytester, run_alt
):
    # test_b, admitted as test_a's teardown failed, waited for test_a's
    # report only: excused by its xfail mark, test_b started, while test_c's
    # teardown, failed meanwhile, had its report (which stops the run) to come.
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative
        A_MAY_END = asyncio.Event()

        @pytest.fixture
        async def slow():
            yield
            await asyncio.sleep(0.2)

        @pytest.fixture
        def failing(slow):
            yield
            raise AssertionError("test_a's teardown failure, excused")

        @pytest.fixture
        async def slower():
            yield
            await asyncio.sleep(0.5)

        @pytest.fixture
        def failing_c(slower):
            yield
            raise AssertionError("test_c's teardown failure")

        @pytest.mark.xfail
        async def test_a(failing):
            await A_MAY_END.wait()

        async def test_c(failing_c):
            await asyncio.sleep(0.1)

        async def test_x():  # its end frees the slot test_b takes, as test_a ends
            loop = asyncio.get_running_loop()
            loop.call_soon(loop.call_soon, A_MAY_END.set)

        async def test_b():
            print("TEST_B RAN")
        """
    )
    result = run_alt("-x", "-s", "-p", "no:randomly", "--max-asyncio-tasks=3")
    result.stdout.fnmatch_lines(
        ["*AssertionError: test_c's teardown failure", "*stopping after 1*"]
    )
    assert "TEST_B RAN" not in result.stdout.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_a_teardown_error_that_xfail_excuses_stops_nothing(pytester, run_alt, mode):
    # test_a's failed teardown holds the other tests back until its report,
    # made once its slower fixture is torn down, says whether -x stops the
    # run: an xfail mark makes it no failure, so they all start then.
    events_conftest(pytester)
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        from conftest import log

        @pytest.fixture
        async def slow_teardown():
            yield
            await asyncio.sleep(0.2)
            log("torn down test_a")

        @pytest.fixture
        async def failing_teardown(slow_teardown):
            yield
            raise RuntimeError("excused by the mark")

        @pytest.mark.xfail
        async def test_a(failing_teardown):
            log("started test_a")
            await asyncio.sleep(0.05)  # test_more[0] starts

        @pytest.mark.parametrize("n", range(4))
        async def test_more(n):
            log(f"started test_more[{n}]")
            await asyncio.sleep(0.1)  # ends after test_a's teardown failed
        """
    )
    result = run_alt("-x", "-p", "no:randomly", "--max-asyncio-tasks=2", *mode_args(mode))
    result.assert_outcomes(passed=4, xfailed=1, xpassed=1)
    # Two start at once in a cooperative run (in either order: test_a's
    # fixture setups end with a turn of the loop); the others wait for the report.
    first = ["started test_a", "started test_more[0]"][: 1 + (mode == "cooperative")]
    rest = [f"started test_more[{n}]" for n in range(len(first) - 1, 4)]
    events = read_events(pytester)
    assert sorted(events[: len(first)]) == first, events
    assert events[len(first) :] == ["torn down test_a", *rest], events
    assert result.ret == pytest.ExitCode.OK
