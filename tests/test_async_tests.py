"""Async test functions, methods and parametrized tests run with no marker."""

from __future__ import annotations

import shutil
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import ISOLATE, WITH_HYPOTHESIS, WRAPPERS, mode_args

import alt_coop


def test_functions_methods_and_params_run(pytester, run_alt):
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        async def test_function():
            await asyncio.sleep(0.01)
            assert asyncio.current_task() is not None

        class TestClass:
            async def test_method(self):
                await asyncio.sleep(0)

        @pytest.mark.parametrize("n", [1, 2, 3])
        async def test_param(n):
            await asyncio.sleep(0)
            assert n in (1, 2, 3)

        def test_sync_still_works():
            assert True
        """
    )
    result = run_alt("-v")
    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines(
        [
            "*::test_function PASSED*",
            "*::TestClass::test_method PASSED*",
            "*::test_param[[]1[]] PASSED*",
        ]
    )


def test_failing_async_test_shows_only_user_frames(pytester, run_alt):
    pytester.makepyfile(
        """
        import asyncio

        async def helper():
            await asyncio.sleep(0)
            raise ValueError("boom from helper")

        async def test_fails():
            await asyncio.sleep(0)
            await helper()
        """
    )
    result = run_alt("--tb=long")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*await helper()*",
            '*raise ValueError("boom from helper")*',
            "E       ValueError: boom from helper",
        ]
    )
    output = result.stdout.str()
    assert "asyncio" + "/" not in output.replace("import asyncio", "")
    assert "alt_coop/" not in output
    assert "greenlet" not in output


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_pytest_fail_as_a_loop_callback_fails_the_test_with_no_alt_coop_frame(
    pytester, run_alt, mode
):
    # No line of the test file is in its traceback, so pytest cuts none of
    # the frames it went through: alt_coop's must hide themselves, and it is
    # shown at the line the test waited at.
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        async def test_fails_in_a_callback():
            asyncio.get_running_loop().call_soon(pytest.fail, "failed in a callback")
            await asyncio.sleep(0.05)
        """
    )
    result = run_alt("--tb=long", *mode_args(mode))
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [">       await asyncio.sleep(0.05)", "E       Failed: failed in a callback"]
    )
    assert "alt_coop/" not in result.stdout.str()
    assert "events.py" not in result.stdout.str()


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_pytest_fail_in_a_callback_of_the_suites_own_names_the_callbacks_line(
    pytester, run_alt, mode
):
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        def check():
            pytest.fail("failed in a callback")

        async def test_fails_in_a_callback():
            asyncio.get_running_loop().call_soon(check)
            await asyncio.sleep(0.05)
        """
    )
    result = run_alt("--tb=short", *mode_args(mode))
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ['    pytest.fail("failed in a callback")', "E   Failed: failed in a callback"]
    )
    assert "alt_coop/" not in result.stdout.str()
    assert "events.py" not in result.stdout.str()


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_pytest_outcomes_raised_in_callbacks_and_tasks_are_the_tests(pytester, run_alt, mode):
    # asyncio logs and goes on from an exception in a callback or in a task
    # nobody awaits; pytest's outcomes there are the test's all the same, in
    # a batch too, and only the test they belong to, while others run beside.
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        def check():
            pytest.fail("failed in a callback")

        @pytest.fixture
        async def checked_at_setup():
            asyncio.get_running_loop().call_soon(check)
            await asyncio.sleep(0.05)
            yield

        async def test_fail_in_callback():
            asyncio.get_running_loop().call_soon(check)
            try:
                await asyncio.sleep(5)
            finally:
                print("CLEANED UP")
            print("NOT REACHED")

        async def test_skip_in_callback():
            asyncio.get_running_loop().call_soon(pytest.skip, "skipped in a callback")
            await asyncio.sleep(5)

        async def test_xfail_in_callback():
            asyncio.get_running_loop().call_later(0.01, pytest.xfail, "xfailed in a callback")
            await asyncio.sleep(5)

        async def test_error_in_fixture_callback(checked_at_setup):
            print("BODY RAN")

        async def test_beside_them():
            await asyncio.sleep(0.2)
        """
    )
    result = run_alt("-rA", "-s", *mode_args(mode))
    result.assert_outcomes(failed=1, skipped=1, xfailed=1, errors=1, passed=1)
    result.stdout.fnmatch_lines_random(
        [
            "FAILED *::test_fail_in_callback*",
            "SKIPPED [[]1] *: skipped in a callback",
            "XFAIL *::test_xfail_in_callback - *xfailed in a callback",  # 8.3: "reason: "
            "ERROR *::test_error_in_fixture_callback*",
            "PASSED *::test_beside_them",
        ]
    )
    errors = [line for line in result.stdout.lines if line.startswith("E  ")]
    assert errors == [
        "E       Failed: failed in a callback",  # the fixture's, in the ERRORS section
        "E       Failed: failed in a callback",
    ]
    output = result.stdout.str()
    assert "CLEANED UP" in output
    assert "NOT REACHED" not in output
    assert "BODY RAN" not in output
    assert "Exception in callback" not in output


def test_an_outcome_raised_where_no_test_is_found_is_named(pytester, run_alt):
    # A callback scheduled in a fresh context (or, on 3.11, a task freed
    # outside its test's code) tells no test: the outcome must not go unseen.
    pytester.makepyfile(
        """
        import asyncio
        import contextvars
        import pytest

        def check():
            pytest.fail("whose?")

        async def test_arms_in_a_fresh_context():
            loop = asyncio.get_running_loop()
            loop.call_soon(check, context=contextvars.Context())
            await asyncio.sleep(0.05)
        """
    )
    result = run_alt("--asyncio-cooperative", "-rA")
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "*test_an_outcome_raised_where_no_test_is_found_is_named.py:6: AltCoopWarning: "
            "alt_coop: Failed: whose? was raised in a callback or task alt_coop could not "
            "tie to a test, so it is no test's outcome: have the test await what it starts",
        ]
    )


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_an_outcome_a_callback_raises_after_the_last_test_is_named(pytester, run_alt, mode):
    # Run as the session's loop closes, with no test left to take it: it
    # stopped the closing and came out of pytest as a raw traceback.
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        def check():
            pytest.fail("too late")

        @pytest.fixture(scope="session")
        async def loop():
            return asyncio.get_running_loop()

        @pytest.fixture
        def arms(loop):
            yield
            loop.call_soon(check)

        async def test_last(arms):
            pass
        """
    )
    result = run_alt(*mode_args(mode), "-rA")
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "*test_an_outcome_a_callback_raises_after_the_last_test_is_named.py:5: "
            "AltCoopWarning: alt_coop: Failed: too late was raised in a callback or task "
            "* so it is no test's outcome: have the test await what it starts*",
        ]
    )
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.OK


@pytest.mark.parametrize("then", ["session end", "sequential test"])
def test_an_outcome_a_task_raises_as_its_batch_ends_is_named(pytester, run_alt, then):
    # Raised in the loop's last turns after the batch's work ended (the task
    # steps three times as the batch's last test ends): asyncio logged it,
    # and nothing else said a word.
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.mark.asyncio_cooperative
        async def test_last():
            async def fails_soon():
                for _ in range(3):
                    await asyncio.sleep(0)
                pytest.fail("after the last")

            asyncio.create_task(fails_soon())
        """
        + (
            """
        async def test_next_sequential():
            await asyncio.sleep(0.05)
        """
            if then == "sequential test"
            else ""
        )
    )
    result = run_alt("-rA", "-p", "no:randomly")
    result.assert_outcomes(passed=2 if then == "sequential test" else 1, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "*AltCoopWarning: alt_coop: Failed: after the last was raised in a callback or task "
            "* so it is no test's outcome*"
        ]
    )


def test_an_outcome_a_callback_raises_after_its_test_ended_is_named(pytester, run_alt):
    # In a batch, it is no test's outcome (a sequential run gives it to the
    # test running then); it must not go unseen.
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        def check():
            pytest.fail("too late")

        async def test_arms_and_ends():
            asyncio.get_running_loop().call_later(0.05, check)

        async def test_runs_on():
            await asyncio.sleep(0.2)
        """
    )
    result = run_alt("--asyncio-cooperative", "-rA")
    result.assert_outcomes(passed=2, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "*test_an_outcome_a_callback_raises_after_its_test_ended_is_named.py:5: "
            "AltCoopWarning: alt_coop: Failed: too late was raised in a callback or task "
            "of *::test_arms_and_ends after that test had ended, so it is no test's outcome: "
            "have the test await what it starts, or cancel it before the test ends",
            "PASSED *::test_arms_and_ends",
        ]
    )


@pytest.mark.parametrize(
    "mode",
    [
        "sequential",
        pytest.param(
            "cooperative",
            marks=pytest.mark.skipif(
                sys.version_info < (3, 12),
                reason="3.11's tasks do not tell their context: found only when the test "
                "itself lets go of the task, which its garbage may delay",
            ),
        ),
    ],
)
def test_pytest_outcomes_raised_in_tasks_nobody_awaits_are_the_tests(pytester, run_alt, mode):
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        async def helper():
            await asyncio.sleep(0.01)
            pytest.fail("failed in a task nobody awaited")

        async def test_fail_in_unawaited_task():
            task = asyncio.create_task(helper())
            await asyncio.sleep(0.05)

        async def test_fail_in_task_let_go_of_midway():
            task = asyncio.create_task(helper())
            await asyncio.sleep(0.05)
            del task
            await asyncio.sleep(5)
            print("NOT REACHED")

        async def test_beside_them():
            await asyncio.sleep(0.2)
        """
    )
    result = run_alt("-rA", "-s", *mode_args(mode))
    result.assert_outcomes(failed=2, passed=1)
    errors = [line for line in result.stdout.lines if line.startswith("E  ")]
    assert errors == ["E       Failed: failed in a task nobody awaited"] * 2
    output = result.stdout.str()
    assert "NOT REACHED" not in output
    assert "never retrieved" not in output


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_awaiting_a_failed_task_shows_only_user_frames(pytester, run_alt, mode):
    pytester.makepyfile(
        """
        import asyncio

        async def boom():
            await asyncio.sleep(0.01)
            raise ValueError("boom from a task")

        async def test_awaits_a_task():
            await asyncio.create_task(boom())
        """
    )
    result = run_alt("--tb=long", *mode_args(mode))
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*await asyncio.create_task(boom())*",
            '*raise ValueError("boom from a task")*',
            "E       ValueError: boom from a task",
        ]
    )
    assert "alt_coop/" not in result.stdout.str()


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_an_error_an_awaited_future_raises_carries_no_frame_of_alt_coops(pytester, run_alt, mode):
    # The traceback the code itself sees (traceback.print_exc(), a log
    # record's, --tb=native), not only pytest's report, which hides frames.
    pytester.makepyfile(
        """
        import asyncio
        import traceback

        def blocking():
            raise ValueError("from a thread")

        async def test_caught_and_printed():
            try:
                await asyncio.to_thread(blocking)
            except ValueError:
                traceback.print_exc()
            raise AssertionError("after the print")

        async def test_gathered():
            future = asyncio.get_running_loop().create_future()
            asyncio.get_running_loop().call_soon(future.set_exception, KeyError("set"))
            await asyncio.gather(future)
        """
    )
    result = run_alt("--tb=native", *mode_args(mode))
    result.assert_outcomes(failed=2)
    output = result.stdout.str()
    printed = output[output.index("Captured stderr call") :]
    printed = printed[: printed.index("ValueError: from a thread")]
    assert "in test_caught_and_printed" in printed, output
    assert "await asyncio.to_thread(blocking)" in printed, output
    assert 'raise ValueError("from a thread")' in printed, output
    assert "alt_coop/" not in printed, output
    # The native report lists the callers too (pytest's, pluggy's, the lane
    # stepping the test), but nothing between the test's await and the
    # place the error was raised.
    result.stdout.fnmatch_lines(["*KeyError: 'set'*"])
    assert ", in drive" not in output, output
    assert "_lanes.py" not in output.split("await asyncio.gather(future)")[-1], output


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
@pytest.mark.parametrize("tb", ["long", "auto"])
def test_conftest_fixture_errors_show_only_user_frames(pytester, run_alt, mode, tb):
    # pytest cuts a fixture error's traceback to the test module only when
    # the fixture is defined there; one from a conftest keeps every frame
    # that is not hidden.
    pytester.makeconftest(
        """
        import pytest

        @pytest.fixture
        def sync_setup_fails():
            raise RuntimeError("sync setup failed")

        @pytest.fixture
        def sync_teardown_fails():
            yield
            raise RuntimeError("sync teardown failed")

        @pytest.fixture
        async def async_setup_fails():
            raise RuntimeError("async setup failed")
        """
    )
    pytester.makepyfile(
        """
        async def test_sync_setup(sync_setup_fails):
            pass

        async def test_sync_teardown(sync_teardown_fails):
            pass

        async def test_async_setup(async_setup_fails):
            pass

        def test_plain(sync_setup_fails):
            pass
        """
    )
    result = run_alt(f"--tb={tb}", *mode_args(mode))
    result.assert_outcomes(passed=1, errors=4)
    result.stdout.fnmatch_lines_random(
        [
            '*raise RuntimeError("sync setup failed")*',
            '*raise RuntimeError("sync teardown failed")*',
            '*raise RuntimeError("async setup failed")*',
        ]
    )
    assert "alt_coop/" not in result.stdout.str()


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_pytests_own_fixture_errors_read_as_without_alt_coop(pytester, run_alt, mode):
    pytester.makepyfile(
        """
        import pytest

        @pytest.fixture
        def yields_twice():
            yield
            yield

        @pytest.fixture
        def narrow():
            pass

        @pytest.fixture(scope="module")
        def wide(narrow):
            pass

        async def test_teardown(yields_twice):
            pass

        async def test_scope_mismatch(wide):
            pass
        """
    )
    result = run_alt(*mode_args(mode))
    result.assert_outcomes(passed=1, errors=2)
    result.stdout.fnmatch_lines_random(
        ["fixture function has more than one 'yield':", "ScopeMismatch: You tried to access*"]
    )
    assert "All traceback entries are hidden" not in result.stdout.str(), result.stdout.str()


@pytest.mark.parametrize(
    ("mode", "mark"),
    [
        ("sequential", ""),
        ("cooperative", ""),
        ("cooperative", "@pytest.mark.asyncio_sequential"),
    ],
    ids=["sequential", "cooperative", "alone-in-a-cooperative-run"],
)
def test_two_teardown_errors_of_one_test_are_reported_as_a_group(pytester, run_alt, mode, mark):
    # Raised by alt_coop's setup state in a cooperative session, also for a
    # test running alone there; pytest 8.4 fails internally on a group whose
    # every traceback frame is hidden.
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.fixture
        def first():
            yield
            raise RuntimeError("first teardown failed")

        @pytest.fixture
        def second():
            yield
            raise ValueError("second teardown failed")

        {mark}
        async def test_two_teardown_errors(first, second):
            pass

        def test_after():
            pass

        async def test_another():
            pass
        """
    )
    result = run_alt(*mode_args(mode))
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines_random(
        ["*RuntimeError: first teardown failed", "*ValueError: second teardown failed"]
    )
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    if pytest.version_tuple >= (9, 2):  # before, pytest shows every frame of a group
        # pytest must show one frame of a group: alt_coop's teardown hook, in
        # both modes; the cooperative setup state's is hidden as pytest's is.
        frames = [line for line in result.outlines if "alt_coop" in line and "File " in line]
        assert len(frames) == 1, frames
        assert frames[0].endswith("in pytest_runtest_teardown"), frames


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_an_exception_group_from_a_conftest_fixture_starts_at_the_fixture(pytester, run_alt, mode):
    # pytest cuts a test's traceback at its module; a conftest fixture's is
    # cut at pytest's frames, and alt_coop's then come first unless hidden.
    pytester.makeconftest(
        """
        import asyncio
        import pytest

        async def backend():
            raise OSError("backend died")

        @pytest.fixture
        async def service():
            async with asyncio.TaskGroup() as group:
                group.create_task(backend())
            yield

        @pytest.fixture
        def sync_group():
            raise ExceptionGroup("sync setup", [ValueError("sync setup failed")])

        @pytest.fixture
        def sync_teardown_group():
            yield
            raise ExceptionGroup("sync teardown", [KeyError("sync teardown failed")])

        @pytest.fixture
        async def async_teardown_group():
            yield
            raise ExceptionGroup("async teardown", [TypeError("async teardown failed")])
        """
    )
    pytester.makepyfile(
        """
        async def test_service(service):
            pass

        def test_sync(sync_group):
            pass

        def test_sync_teardown(sync_teardown_group):
            pass

        async def test_async_teardown(async_teardown_group):
            pass
        """
    )
    result = run_alt(*mode_args(mode))
    result.assert_outcomes(passed=2, errors=4)
    output = result.stdout.str()
    result.stdout.fnmatch_lines_random(
        [
            "*conftest.py*, line 9, in service",
            "*OSError: backend died",
            "*conftest.py*, line 15, in sync_group",
            "*conftest.py*, line 20, in sync_teardown_group",
            "*conftest.py*, line 25, in async_teardown_group",
        ]
    )
    assert "All traceback entries are hidden" not in output, output
    assert "INTERNALERROR" not in output + result.stderr.str()
    if pytest.version_tuple >= (8, 4):  # before, pytest shows every frame of a group
        assert "alt_coop/" not in output, output
        assert "_pytest/" not in output and "pluggy/" not in output, output


@pytest.mark.skipif(
    pytest.version_tuple < (8, 4), reason="before 8.4, pytest shows every frame of a group"
)
@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_the_errors_of_a_group_end_at_the_suites_lines(pytester, run_alt, mode):
    # Each error of a TaskGroup's group (and of a group nested in it, and
    # what each chains) ends at the suite's line, as a lone error does.
    pytester.makepyfile(
        """
        import asyncio

        async def times_out():
            await asyncio.wait_for(asyncio.sleep(1), 0.01)

        async def empty_queue():
            await asyncio.sleep(0)
            asyncio.Queue().get_nowait()

        async def nested():
            async with asyncio.TaskGroup() as group:
                group.create_task(empty_queue())

        async def test_group():
            async with asyncio.TaskGroup() as group:
                group.create_task(times_out())

        async def test_nested_group():
            async with asyncio.TaskGroup() as group:
                group.create_task(nested())
        """
    )
    result = run_alt(*mode_args(mode))
    result.assert_outcomes(failed=2)
    output = result.stdout.str()
    result.stdout.fnmatch_lines_random(
        [
            "*, line 4, in times_out",
            "*, line 8, in empty_queue",
            "*TimeoutError*",
            "*QueueEmpty*",
        ]
    )
    assert "asyncio/" not in output, output


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_native_tracebacks_keep_asyncios_frames_as_a_sync_tests_do(pytester, run_alt, mode):
    pytester.makepyfile(
        """
        import asyncio

        async def test_async_wait_for():
            await asyncio.wait_for(asyncio.sleep(1), 0.01)
        """
    )
    result = run_alt("--tb=native", *mode_args(mode))
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*asyncio*tasks.py*, in wait_for",
            "*CancelledError",
            "*direct cause*",
            "*, line 4, in test_async_wait_for",
            "*asyncio*tasks.py*, in wait_for",
            "*TimeoutError*",
        ]
    )


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_a_failing_assertrepr_compare_hook_shows_no_alt_coop_frame(pytester, run_alt, mode):
    # A cooperative test's comparisons reach the hook through alt_coop.
    pytester.makeconftest(
        """
        def pytest_assertrepr_compare(config, op, left, right):
            raise RuntimeError("hook broke")
        """
    )
    pytester.makepyfile(
        """
        import asyncio

        async def test_compare():
            await asyncio.sleep(0)
            assert 4 == 5
        """
    )
    result = run_alt(*mode_args(mode))
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["conftest.py:2: RuntimeError"])
    assert "alt_coop/" not in result.stdout.str(), result.stdout.str()


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_what_an_async_test_returns_is_checked_as_pytest_checks_a_tests(pytester, run_alt, mode):
    test_file = pytester.makepyfile(
        """
        import asyncio

        async def helper():
            await asyncio.sleep(0)

        async def test_returns_a_value():
            return 5

        async def test_returns_a_coroutine():
            return helper()

        async def test_returns_none():
            return None

        async def numbers():
            yield 1

        async def test_returns_an_async_generator():
            return numbers()
        """
    )
    result = run_alt("-W", "error::RuntimeWarning", *mode_args(mode))
    result.assert_outcomes(passed=2, failed=2, warnings=1)
    result.stdout.fnmatch_lines_random(
        [
            f"{test_file.name}::test_returns_a_coroutine returned 'coroutine' object without "
            "awaiting it; did you mean `return await ...`, or no return at all?",
            f"{test_file.name}::test_returns_an_async_generator returned 'async_generator' "
            "object without iterating it; did you mean to iterate it with `async for`?",
            f"*{test_file.name}:6: PytestReturnNotNoneWarning: *"
            f"{test_file.name}::test_returns_a_value returned *",
        ]
    )
    assert "never awaited" not in result.stdout.str()


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_a_value_an_async_test_returns_is_warned_of_in_pytests_words(pytester, run_alt, mode):
    pytester.makepyfile(
        """
        def test_sync():
            return 5

        async def test_async():
            return 5
        """
    )
    result = run_alt("-p", "no:randomly", *mode_args(mode))
    result.assert_outcomes(passed=2, warnings=2)
    # Each message's lines, indented by two, without the line it names (by four).
    warned = [
        line.split("PytestReturnNotNoneWarning: ")[-1]
        for line in result.stdout.lines
        if line.startswith("  ") and not line.startswith("    ")
    ]
    assert len(warned) in (2, 6), warned  # pytest 8.3's message has one line, later ones 3
    half = len(warned) // 2
    assert warned[half:] == [line.replace("test_sync", "test_async") for line in warned[:half]]


@pytest.mark.parametrize("cooperative", [False, True])
def test_a_plain_test_returning_a_coroutine_says_what_to_make_it(pytester, run_alt, cooperative):
    # pytest would say to install an async plugin (pytest 8: skip the test),
    # and the coroutine's "never awaited" warning would land on any test.
    mark = "@pytest.mark.asyncio_cooperative" if cooperative else ""
    test_file = pytester.makepyfile(
        f"""
        import asyncio
        import pytest

        def retry(func):  # no functools.wraps: the test looks like a plain def
            def wrapper():
                return func()
            return wrapper

        async def fetch():
            await asyncio.sleep(0)

        async def numbers():
            yield 1

        {mark}
        @retry
        async def test_decorated():
            assert False, "the body ran"

        {mark}
        def test_returns_a_coroutine():
            return fetch()

        {mark}
        def test_returns_an_async_generator():
            return numbers()

        {mark}
        def test_returns_a_value():
            return 5
        """
    )
    result = run_alt("-W", "error::RuntimeWarning")
    result.assert_outcomes(passed=1, failed=3, warnings=1)
    advice = (
        "alt_coop awaits only `async def` tests: make the test `async def`, or have "
        "the decorator that wraps it use functools.wraps(func)"
    )
    result.stdout.fnmatch_lines_random(
        [
            f"*{test_file.name}::test_decorated is a plain function that returned 'coroutine' "
            f"object, which nothing awaits; {advice}",
            f"*{test_file.name}::test_returns_a_coroutine is a plain function that returned "
            f"'coroutine' object, which nothing awaits; {advice}",
            f"*{test_file.name}::test_returns_an_async_generator is a plain function that "
            f"returned 'async_generator' object, which nothing iterates; {advice}",
            f"*PytestReturnNotNoneWarning: *{test_file.name}::test_returns_a_value returned*",
        ]
    )
    output = result.stdout.str()
    assert "never awaited" not in output
    assert "install a suitable plugin" not in output


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_an_async_fixture_behind_a_decorator_without_wraps_says_what_to_do(
    pytester, run_alt, mode
):
    # It looks like a plain def returning its coroutine (or async
    # generator), which nothing awaited: the tests using it passed. A plain
    # def fixture that returns another function's coroutine is left alone,
    # one a factory made for the function it is given too (no decorator
    # passing its arguments on).
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        SET_UP = []

        def logged(func):
            def wrapper(*args, **kwargs):
                return func(*args, **kwargs)
            return wrapper

        @pytest.fixture(name="database")
        @logged
        async def database_fixture():
            SET_UP.append("database")

        @pytest.fixture(name="stream")
        @logged
        async def stream_fixture():
            yield "stream"

        async def fetch():
            return "fetched"

        @pytest.fixture
        def pending_fetch():
            return fetch()

        def fixture_awaiting(function):
            @pytest.fixture
            def made():
                return function()  # for the test to await
            return made

        fetched_later = fixture_awaiting(fetch)

        async def test_database(database):
            pass

        async def test_stream(stream):
            pass

        async def test_awaits_what_a_fixture_handed_it(pending_fetch):
            assert await pending_fetch == "fetched"

        async def test_awaits_what_a_made_fixture_handed_it(fetched_later):
            assert await fetched_later == "fetched"
        """
    )
    result = run_alt("-W", "error::RuntimeWarning", *mode_args(mode))
    result.assert_outcomes(passed=2, errors=2)
    advice = (
        "the decorator hides the async function from pytest and alt_coop: have it use "
        "functools.wraps(func)"
    )
    result.stdout.fnmatch_lines_random(
        [
            "*_ ERROR at setup of test_database _*",
            "fixture 'database' is a plain function that returned the 'coroutine' object of "
            f"the async function database_fixture, which nothing awaits; {advice}",
            "*_ ERROR at setup of test_stream _*",
            "fixture 'stream' is a plain function that returned the 'async_generator' object "
            f"of the async function stream_fixture, which nothing iterates; {advice}",
        ]
    )
    assert "never awaited" not in result.stdout.str()


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_an_error_raised_inside_asyncio_ends_at_the_users_line(pytester, run_alt, mode):
    pytester.makepyfile(
        """
        import asyncio

        async def test_wait_for_times_out():
            await asyncio.wait_for(asyncio.sleep(1), 0.01)

        async def test_cancels_itself():
            asyncio.current_task().cancel()
            await asyncio.sleep(0.1)
        """
    )
    result = run_alt("--tb=long", *mode_args(mode))
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines_random(
        [
            ">       await asyncio.wait_for(asyncio.sleep(1), 0.01)",
            "E       TimeoutError",
            ">       await asyncio.sleep(0.1)",
            "E       asyncio.exceptions.CancelledError",
        ]
    )
    assert "asyncio/" not in result.stdout.str(), result.stdout.str()
    # --full-trace shows every frame, asyncio's too.
    full = run_alt("--full-trace", *mode_args(mode)).stdout.str()
    assert "asyncio/tasks.py" in full, full


@pytest.mark.skipif(not hasattr(pytest, "Subtests"), reason="pytest's subtests came in 9.0")
@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_an_error_raised_inside_asyncio_in_a_subtest_ends_at_the_users_line(
    pytester, run_alt, mode
):
    # The subtest catches it, and reports it, inside the test.
    pytester.makepyfile(
        """
        import asyncio

        async def test_subtests(subtests):
            with subtests.test("times out"):
                await asyncio.wait_for(asyncio.sleep(1), 0.01)
            with subtests.test("passes"):
                await asyncio.sleep(0)
        """
    )
    result = run_alt("--tb=long", *mode_args(mode))
    result.stdout.fnmatch_lines(
        [
            "*_ test_subtests [[]times out[]] _*",
            ">           await asyncio.wait_for(asyncio.sleep(1), 0.01)",
            "E           TimeoutError",
        ]
    )
    assert "asyncio/" not in result.stdout.str(), result.stdout.str()


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_a_sync_fixtures_error_keeps_its_frames_in_an_async_test(pytester, run_alt, mode):
    # As in a sync test: only what alt_coop ran on the loop is cut short.
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.fixture
        def queue():
            yield
            asyncio.Queue().get_nowait()

        def test_sync(queue):
            pass

        async def test_async(queue):
            pass
        """
    )
    result = run_alt("--tb=short", "-p", "no:randomly", *mode_args(mode))
    result.assert_outcomes(passed=2, errors=2)
    assert result.stdout.str().count("asyncio/queues.py") == 2, result.stdout.str()


def test_assertion_diff_in_async_test(pytester, run_alt):
    pytester.makepyfile(
        """
        async def test_compare():
            assert [1, 2, 3] == [1, 2, 4]
        """
    )
    result = run_alt()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*At index 2 diff: 3 != 4*"])


def test_async_generator_test_is_a_clear_failure(pytester, run_alt):
    pytester.makepyfile(
        """
        async def test_gen():
            yield 1
        """
    )
    result = run_alt()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*is an async generator; a test must be*"])


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_hypothesis_given_runs_each_example_of_an_async_test(pytester, run_alt, mode):
    pytest.importorskip("hypothesis")
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        from hypothesis import given, settings, strategies as st

        @pytest.fixture(scope="module")
        async def offset():
            await asyncio.sleep(0)
            return 10

        @given(st.integers(min_value=0, max_value=1000))
        @settings(max_examples=20, deadline=None)
        async def test_holds(offset, x):
            await asyncio.sleep(0)
            assert x + offset >= 10

        @given(st.integers(min_value=0, max_value=1000))
        @settings(max_examples=50, deadline=None)
        async def test_fails_from_five(x):
            await asyncio.sleep(0)
            assert x < 5

        """
    )
    result = run_alt(*WITH_HYPOTHESIS, *mode_args(mode))
    result.assert_outcomes(passed=1, failed=1)
    # "Falsifying example:" or "Failing test case:", by Hypothesis's version.
    result.stdout.fnmatch_lines(["*: test_fails_from_five(", "*x=5,"])


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_what_an_async_hypothesis_example_returns_is_checked(pytester, run_alt, mode):
    # As for a plain async test, and as Hypothesis checks a sync one's.
    pytest.importorskip("hypothesis")
    pytester.makepyfile(
        """
        from hypothesis import given, settings, strategies as st

        async def check(x):
            assert x < 0

        @settings(max_examples=5, database=None)
        @given(st.integers())
        async def test_forgot_await(x):
            return check(x)

        @settings(max_examples=5, database=None)
        @given(st.integers())
        async def test_returns_a_value(x):
            return x

        @settings(max_examples=5, database=None)
        @given(st.integers())
        async def test_returns_none(x):
            return None
        """
    )
    result = run_alt("-W", "error::RuntimeWarning", *WITH_HYPOTHESIS, *mode_args(mode))
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines_random(
        [
            "*test_forgot_await returned 'coroutine' object without awaiting it*",
            "*FailedHealthCheck*should return None*",
        ]
    )


def test_hypothesis_explains_a_failing_async_example_by_the_tests_lines_only(
    pytester, run_alt_subprocess
):
    # Hypothesis's explain phase names the lines only failing examples ran,
    # leaving pytest's own out: alt_coop's, which raise the example's error,
    # are as little use to the user.
    pytest.importorskip("hypothesis")
    pytester.makepyfile(
        """
        from hypothesis import given, strategies as st

        @given(st.integers())
        async def test_branch(x):
            y = 0
            if x > 10:
                y = 1
            assert y == 0

        @given(st.integers())
        async def test_no_branch(x):
            assert x < 10
        """
    )
    result = run_alt_subprocess(*WITH_HYPOTHESIS, "--hypothesis-seed=1")
    result.assert_outcomes(failed=2)
    explained = [line for line in result.stdout.lines if ".py:" in line]
    assert not [line for line in explained if "/alt_coop/" in line], explained
    result.stdout.fnmatch_lines(["*Explanation:*", "*/test_hypothesis_explains_*.py:7"])


def test_hypothesis_tests_do_not_interleave(pytester, run_alt_subprocess):
    # Hypothesis keeps the running test's state per thread: two of them
    # drawing across awaits at once would corrupt each other's.
    pytest.importorskip("hypothesis")
    pytester.makepyfile(
        """
        import asyncio
        from hypothesis import given, strategies as st

        @given(st.data())
        async def test_a(data):
            for _ in range(3):
                await asyncio.sleep(0)
                data.draw(st.integers())

        @given(st.data())
        async def test_b(data):
            for _ in range(3):
                await asyncio.sleep(0)
                data.draw(st.integers())
        """
    )
    result = run_alt_subprocess(*WITH_HYPOTHESIS, "--asyncio-cooperative")
    result.assert_outcomes(passed=2, warnings=1)
    result.stdout.fnmatch_lines(["*AltCoopWarning: alt_coop: Hypothesis tests run alone*"])


def test_a_plain_def_hypothesis_test_marked_cooperative_keeps_hypothesis_output(
    pytester, run_alt_subprocess
):
    # A cooperative plain def test's body runs in a thread, where Hypothesis's
    # per-thread state (its reporter, statistics, the pytest item) is unset:
    # such a test runs alone, on the main thread, as sequentially.
    pytest.importorskip("hypothesis")
    pytester.makepyfile(
        """
        import pytest
        from hypothesis import event, given, settings, strategies as st

        pytestmark = pytest.mark.asyncio_cooperative

        @settings(max_examples=3, derandomize=True, database=None)
        @given(st.integers(0, 5))
        def test_sync(x):
            event("seen")
            assert x < 1
        """
    )
    result = run_alt_subprocess(
        *WITH_HYPOTHESIS, "--hypothesis-show-statistics", "--hypothesis-verbosity=verbose"
    )
    result.assert_outcomes(failed=1, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "*- Hypothesis -*",
            "*AltCoopWarning: alt_coop: Hypothesis tests run alone*",
            "*Hypothesis Statistics*",
            "*test_sync:*",
            "*seen*",
        ]
    )


@pytest.mark.parametrize("mark", ["", "@pytest.mark.asyncio_cooperative"])
def test_an_async_test_behind_a_plain_wrapper_runs(pytester, run_alt, mark):
    # A decorator written for plain functions returns the test's coroutine:
    # pytest 8 skipped such a test ("no async plugin"), pytest 9 failed it.
    pytester.makepyfile(
        wrappers=WRAPPERS,
        test_wrapped=f"""
        import asyncio
        import pytest
        from wrappers import logged

        @pytest.fixture
        async def base():
            return 40

        {mark}
        @logged
        async def test_fails(base):
            await asyncio.sleep(0.01)
            assert base == 41, "the body ran"

        {mark}
        @logged
        async def test_passes(base):
            await asyncio.sleep(0.01)
            assert base == 40
        """,
    )
    result = run_alt("-rA")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines_random(["PASSED *::test_passes", "FAILED *::test_fails*"])
    result.stdout.fnmatch_lines(["E * the body ran*"])
    assert "never awaited" not in result.stdout.str()


@pytest.mark.parametrize("how", ["--asyncio-cooperative", "mark"])
def test_async_tests_behind_a_plain_wrapper_are_cooperative_as_async_tests(pytester, run_alt, how):
    # Awaited as async tests, they were counted as plain ones: left out of
    # --asyncio-cooperative, and run alone by a plain test's rules (recwarn).
    pytester.makepyfile(
        wrappers=WRAPPERS,
        test_wrapped=f"""
        import asyncio
        import pytest
        from wrappers import logged

        {"pytestmark = pytest.mark.asyncio_cooperative" if how == "mark" else ""}

        @logged
        async def test_one(recwarn):
            await asyncio.sleep(0.2)

        @logged
        async def test_two():
            await asyncio.sleep(0.2)

        class TestInClass:
            @logged
            async def test_method(self):
                await asyncio.sleep(0.2)
        """,
    )
    result = run_alt(*([how] if how != "mark" else []))
    result.assert_outcomes(passed=3)
    assert "run alone" not in result.stdout.str()
    result.stdout.fnmatch_lines(["alt_coop: 3 cooperative tests, at most 3 at once*"])


@pytest.mark.parametrize("mark", ["", "@pytest.mark.asyncio_cooperative"])
def test_a_plain_wrapper_running_an_async_test_itself_is_a_plain_test(pytester, run_alt, mark):
    # A decorator that runs the test's coroutine itself (asyncio.run) makes a
    # plain test, for pytest as for its author: it sees no loop running.
    pytester.makepyfile(
        wrappers=WRAPPERS,
        test_wrapped=f"""
        import asyncio
        import pytest
        from wrappers import run_sync

        {mark}
        @run_sync
        async def test_fails():
            await asyncio.sleep(0.01)
            assert False, "the body ran"

        {mark}
        @run_sync
        async def test_passes():
            await asyncio.sleep(0.01)
        """,
    )
    result = run_alt("-rA", "-W", "error::RuntimeWarning")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["E * the body ran*"])
    assert "running event loop" not in result.stdout.str()


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_async_functions_pytest_or_unittest_would_not_await_fail_their_tests(
    pytester, run_alt, mode
):
    # Without alt_coop's check, each of these tests passes, its async setup
    # or body never run, with only a "never awaited" warning.
    pytester.makepyfile(
        test_module="""
        async def setup_module():
            raise RuntimeError("never runs")

        async def test_in_module():
            pass
        """,
        test_functions="""
        def setup_module():
            pass

        async def teardown_function():
            pass

        async def test_function():
            pass

        class TestNotAFunction:
            async def test_method(self):
                pass
        """,
        test_classes="""
        class TestSetupClass:
            @classmethod
            async def setup_class(cls):
                pass

            async def test_method(self):
                pass

        class TestSetupMethod:
            async def setup_method(self, method):
                pass

            async def test_method(self):
                pass
        """,
        test_unittest="""
        import asyncio
        import unittest

        class Plain(unittest.TestCase):
            async def test_async(self):
                raise RuntimeError("never runs")

            def test_sync(self):
                pass

        class PlainAsyncSetUp(unittest.TestCase):
            async def setUp(self):
                pass

            def test_sync(self):
                pass

        class AwaitingItsTests(unittest.TestCase):
            # As Django's SimpleTestCase or aiounittest's AsyncTestCase do.
            def _callTestMethod(self, method):
                result = method()
                if asyncio.iscoroutine(result):
                    asyncio.run(result)

        class Framework(AwaitingItsTests):
            async def test_async(self):
                await asyncio.sleep(0)
                raise RuntimeError("ran the framework's way")

        class Isolated(unittest.IsolatedAsyncioTestCase):
            async def asyncSetUp(self):
                self.value = 1

            async def test_async(self):
                assert self.value == 1

        class IsolatedAsyncSetUp(unittest.IsolatedAsyncioTestCase):
            async def setUp(self):
                pass

            async def test_async(self):
                pass
        """,
    )
    result = run_alt(*mode_args(mode), "-rA", "-p", "no:warnings")
    result.assert_outcomes(passed=3, errors=7, failed=1)
    result.stdout.fnmatch_lines(
        ["FAILED test_unittest.py::Framework::test_async - RuntimeError: ran the framew*"]
    )
    errors = [
        "test_classes.py::TestSetupClass::test_method",
        "test_classes.py::TestSetupMethod::test_method",
        "test_functions.py::test_function",
        "test_module.py::test_in_module",
        "test_unittest.py::Plain::test_async",
        "test_unittest.py::PlainAsyncSetUp::test_sync",
        "test_unittest.py::IsolatedAsyncSetUp::test_async",
    ]
    result.stdout.fnmatch_lines_random([f"ERROR {test} - Failed: *" for test in errors])
    xunit = (
        "{} is async def, but pytest calls xunit-style {} without awaiting it, so it would "
        'never run: use an autouse async fixture instead, as in @pytest.fixture(scope="{}", '
        "autouse=True) with its teardown after a yield"
    )
    unittest_setup = (
        "{}.setUp is async def, but unittest calls it without awaiting it, so it would never "
        "run: {}name it asyncSetUp"
    )
    result.stdout.fnmatch_lines_random(
        [
            xunit.format("TestSetupClass.setup_class", "setup_class", "class"),
            xunit.format("TestSetupMethod.setup_method", "setup_method", "function"),
            xunit.format("test_functions.teardown_function", "teardown_function", "function"),
            xunit.format("test_module.setup_module", "setup_module", "module"),
            "Plain.test_async is async def, but a unittest.TestCase calls its tests without "
            "awaiting them, so it would never run: derive Plain from "
            "unittest.IsolatedAsyncioTestCase, or make it a plain test class (no TestCase "
            "base) to run it on alt_coop's loop",
            unittest_setup.format(
                "PlainAsyncSetUp",
                "derive PlainAsyncSetUp from unittest.IsolatedAsyncioTestCase and ",
            ),
            unittest_setup.format("IsolatedAsyncSetUp", ""),
        ]
    )
    output = result.stdout.str()
    assert "never runs" not in output  # failed before any of them was called
    result.stdout.fnmatch_lines_random(
        [
            "PASSED test_functions.py::TestNotAFunction::test_method",
            "PASSED test_unittest.py::Plain::test_sync",
            "PASSED test_unittest.py::Isolated::test_async",
        ]
    )


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_async_generator_functions_pytest_or_unittest_would_not_run_fail_their_tests(
    pytester, run_alt, mode
):
    # An async generator function returns an object nobody iterates: without
    # alt_coop's check these tests pass, the functions never run, not even a
    # "never awaited" warning said so.
    pytester.makepyfile(
        test_module="""
        async def setup_module():
            raise RuntimeError("never runs")
            yield

        async def test_in_module():
            pass
        """,
        test_classes="""
        class TestSetupClass:
            @classmethod
            async def setup_class(cls):
                raise RuntimeError("never runs")
                yield

            async def test_method(self):
                pass

        class TestSetupMethod:
            async def setup_method(self, method):
                raise RuntimeError("never runs")
                yield

            async def test_method(self):
                pass
        """,
        test_unittest="""
        import unittest

        class Plain(unittest.TestCase):
            async def test_yields(self):
                raise RuntimeError("never runs")
                yield

        class Isolated(unittest.IsolatedAsyncioTestCase):
            async def test_yields(self):
                raise RuntimeError("never runs")
                yield

        class PlainSetUp(unittest.TestCase):
            async def setUp(self):
                raise RuntimeError("never runs")
                yield

            def test_sync(self):
                pass
        """,
    )
    result = run_alt(*mode_args(mode), "-rA", "-p", "no:warnings")
    result.assert_outcomes(errors=6)
    kind = "an async generator (async def with a yield)"
    xunit = (
        "{} is {}, but pytest calls xunit-style {} without awaiting it, so it would never "
        'run: use an autouse async fixture instead, as in @pytest.fixture(scope="{}", '
        "autouse=True) with its teardown after a yield"
    )
    result.stdout.fnmatch_lines_random(
        [
            xunit.format("test_module.setup_module", kind, "setup_module", "module"),
            xunit.format("TestSetupClass.setup_class", kind, "setup_class", "class"),
            xunit.format("TestSetupMethod.setup_method", kind, "setup_method", "function"),
            f"Plain.test_yields is {kind}, which unittest never iterates, so its body would "
            "never run: remove the yield",
            f"Isolated.test_yields is {kind}, which unittest never iterates, so its body "
            "would never run: remove the yield",
            f"PlainSetUp.setUp is {kind}, but unittest calls it without awaiting it, so it "
            "would never run: derive PlainSetUp from unittest.IsolatedAsyncioTestCase and "
            "name it asyncSetUp, without the yield",
        ]
    )
    assert "never runs" not in result.stdout.str()


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_a_unittest_case_or_test_skipped_is_skipped_whatever_async_it_holds(
    pytester, run_alt, mode
):
    # unittest calls none of a skipped case's or test's functions (nor does a
    # case's setUpClass skipping it call its tests): nothing is left unawaited.
    pytester.makepyfile(
        """
        import unittest

        @unittest.skip("class skipped")
        class SkippedAsyncTest(unittest.TestCase):
            async def test_async(self):
                pass

        @unittest.skip("class skipped")
        class SkippedAsyncSetUp(unittest.TestCase):
            async def setUp(self):
                pass

            def test_sync(self):
                pass

        @unittest.skip("class skipped")
        class SkippedAsyncSetUpClass(unittest.TestCase):
            @classmethod
            async def setUpClass(cls):
                pass

            def test_sync(self):
                pass

        class AsyncSetUpTestSkipped(unittest.TestCase):
            async def setUp(self):
                pass

            @unittest.skip("test skipped")
            def test_sync(self):
                pass

        class SkippedBySetUpClass(unittest.TestCase):
            @classmethod
            def setUpClass(cls):
                raise unittest.SkipTest("setUpClass skipped")

            async def test_async(self):
                pass

        class AsyncSetUpSkippedBySetUpClass(unittest.TestCase):
            @classmethod
            def setUpClass(cls):
                raise unittest.SkipTest("setUpClass skipped")

            async def setUp(self):
                pass

            def test_sync(self):
                pass

        @unittest.skipIf(False, "not taken")
        class NotSkipped(unittest.TestCase):
            async def test_async(self):
                pass

        class AsyncSetUpClassTestSkipped(unittest.TestCase):
            # unittest calls setUpClass all the same, a test skipped or not.
            @classmethod
            async def setUpClass(cls):
                pass

            @unittest.skip("test skipped")
            def test_sync(self):
                pass
        """
    )
    result = run_alt(*mode_args(mode), "-rsE", "-p", "no:warnings")
    result.assert_outcomes(skipped=6, errors=2)
    result.stdout.fnmatch_lines_random(
        [
            "*ERROR at setup of NotSkipped.test_async*",
            "NotSkipped.test_async is async def, *",
            "*ERROR at setup of AsyncSetUpClassTestSkipped.test_sync*",
            "*AsyncSetUpClassTestSkipped.setUpClass is async def, *",
        ]
    )
    result.stdout.fnmatch_lines_random(
        [*["SKIPPED * class skipped"] * 3, "SKIPPED * test skipped"]
        + ["SKIPPED * setUpClass skipped"] * 2
    )


@pytest.mark.parametrize("import_mode", ["prepend", "importlib"])
def test_an_async_setup_module_in_a_packages_init_fails_its_tests(pytester, run_alt, import_mode):
    # pytest calls it at the package's setup without awaiting it.
    pytester.makepyfile(
        **{
            "pkg/__init__.py": """
            async def setup_module():
                raise RuntimeError("never runs")
            """,
            "pkg/sub/__init__.py": "",
            "pkg/sub/test_deep.py": "async def test_deep():\n    pass\n",
            "pkg/test_a.py": "async def test_a():\n    pass\n",
            "other/__init__.py": "def setup_module():\n    pass\n",
            "other/test_b.py": "async def test_b():\n    pass\n",
        }
    )
    result = run_alt(f"--import-mode={import_mode}", "-rA", "-p", "no:warnings")
    result.assert_outcomes(passed=1, errors=2)
    result.stdout.fnmatch_lines_random(
        [
            "ERROR pkg/test_a.py::test_a - Failed: *",
            "ERROR pkg/sub/test_deep.py::test_deep - Failed: *",
            "PASSED other/test_b.py::test_b",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*pkg.setup_module is async def, but pytest calls xunit-style setup_module "
            "without awaiting it, so it would never run: use an autouse async fixture "
            'instead, as in @pytest.fixture(scope="package", autouse=True) in the '
            "package's conftest.py, with its teardown after a yield"
        ]
    )
    assert "never runs" not in result.stdout.str()


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_an_async_setup_module_is_found_at_its_packages_setup(pytester, run_alt, mode):
    # The tests sit in a directory without __init__.py: no test module
    # imports the package. Its __init__.py is imported once, at its setup,
    # after the outer package's setup_module, as pytest does.
    pytester.makepyfile(
        **{
            "outer/__init__.py": """
            def setup_module():
                print("OUTER SETUP")
            """,
            "outer/inner/__init__.py": """
            print("INNER IMPORTED")

            async def teardown_module():
                raise RuntimeError("never runs")
            """,
            "outer/inner/tests/test_deep.py": """
            import pytest

            @pytest.mark.asyncio_cooperative
            async def test_one():
                pass

            @pytest.mark.asyncio_cooperative
            async def test_two():
                pass
            """,
            "skipped/__init__.py": """
            import pytest
            print("SKIPPED IMPORTED")
            pytest.skip("not here", allow_module_level=True)
            """,
            "skipped/tests/test_skipped.py": "def test_one():\n    pass\n"
            "\n\ndef test_two():\n    pass\n",
        }
    )
    result = run_alt("-s", "-rA", "-p", "no:warnings", *mode_args(mode))
    result.assert_outcomes(errors=2, skipped=2)
    output = result.stdout.str()
    assert output.count("INNER IMPORTED") == 1, output
    assert output.count("SKIPPED IMPORTED") == 1, output
    assert output.index("OUTER SETUP") < output.index("INNER IMPORTED"), output
    result.stdout.fnmatch_lines(
        [
            "*outer.inner.teardown_module is async def, but pytest calls xunit-style "
            "teardown_module without awaiting it, so it would never run*"
        ]
    )
    assert "never runs" not in output


def test_an_async_hook_in_a_conftest_is_a_usage_error(pytester, run_alt):
    # pytest called it and dropped its coroutine: the tests passed.
    pytester.makeconftest(
        """
        async def pytest_runtest_setup(item):
            raise RuntimeError("never runs")
        """
    )
    pytester.makepyfile("async def test_one():\n    pass\n")
    result = run_alt()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: async def pytest_runtest_setup in *conftest.py: pytest calls its hooks "
            "without awaiting them, so it would never run. Make it a plain def; run async "
            "code in a fixture (an autouse one, say)"
        ]
    )


def test_an_async_hook_in_a_conftest_found_while_collecting_is_a_collection_error(
    pytester, run_alt
):
    pytester.makepyfile(
        **{
            "sub/conftest.py": """
            async def pytest_collection_modifyitems(items):
                items.clear()
            """,
            "sub/test_sub.py": "async def test_one():\n    pass\n",
            "test_top.py": "async def test_top():\n    pass\n",
        }
    )
    result = run_alt()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR collecting sub*",
            "async def pytest_collection_modifyitems in *conftest.py: pytest calls its hooks "
            "without awaiting them, so it would never run.*",
        ]
    )
    assert "alt_coop/" not in result.stdout.str()


@pytest.mark.parametrize("where", ["module", "class"])
def test_an_async_generate_tests_hook_in_a_test_module_is_a_collection_error(
    pytester, run_alt, where
):
    # pytest calls it from the module (or class) too, and dropped its
    # coroutine: the test ran once, unparametrized, and passed.
    hook = """
    async def pytest_generate_tests(metafunc):
        metafunc.parametrize("db", ["postgres", "mysql"], indirect=True)
    """
    test = "async def test_query(db):\n    pass\n"
    if where == "class":
        source = "class TestDB:\n" + textwrap.indent(textwrap.dedent(hook) + test, "    ")
    else:
        source = textwrap.dedent(hook) + test
    pytester.makepyfile(
        "import pytest\n\n@pytest.fixture\ndef db(request):\n"
        "    return getattr(request, 'param', 'sqlite')\n\n" + source
    )
    result = run_alt()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR collecting test_an_async_generate_tests_hook*",
            "async def pytest_generate_tests in *test_an_async_generate_tests_hook*.py"
            + ("::TestDB" if where == "class" else "")
            + ": pytest calls its hooks without awaiting them, so it would never run.*",
        ]
    )
    assert "alt_coop/" not in result.stdout.str()


def test_a_plugins_own_async_hook_is_left_to_that_plugin(pytester, run_alt):
    # A hook of another plugin's own spec may be awaited by that plugin.
    pytester.makeconftest(
        """
        import asyncio
        import pytest

        class Specs:
            @pytest.hookspec
            def pytest_my_async_hook(self):
                pass

        def pytest_addhooks(pluginmanager):
            pluginmanager.add_hookspecs(Specs)

        async def pytest_my_async_hook():
            return "awaited"

        @pytest.fixture
        async def answers(request):
            return [await c for c in request.config.hook.pytest_my_async_hook()]
        """
    )
    pytester.makepyfile("async def test_one(answers):\n    assert answers == ['awaited']\n")
    result = run_alt()
    result.assert_outcomes(passed=1)


def test_unawaited_async_setup_is_checked_after_skip_marks_and_in_nested_classes(
    pytester, run_alt
):
    pytester.makeconftest(
        """
        import pytest

        def check():
            pass

        class ChecksFile(pytest.File):
            def collect(self):  # a test function outside any module
                yield pytest.Function.from_parent(self, name="check", callobj=check)

        def pytest_collect_file(parent, file_path):
            if file_path.suffix == ".checks":
                return ChecksFile.from_parent(parent, path=file_path)
        """
    )
    pytester.makefile(".checks", anything="")
    pytester.makepyfile(
        test_marks="""
        import pytest

        class TestSkipped:
            async def setup_method(self, method):
                pass

            @pytest.mark.skip(reason="not now")
            def test_skipped(self):
                pass

            @pytest.mark.xfail(run=False, reason="broken")
            def test_not_run(self):
                pass

            @pytest.mark.xfail(reason="broken")
            def test_xfail(self):
                pass

        class TestOuter:
            @classmethod
            async def setup_class(cls):
                pass

            class TestInner:
                def test_inner(self):
                    pass

        class TestOuterMethod:
            async def setup_method(self, method):  # pytest calls it for its own tests only
                pass

            class TestInner:
                def setup_method(self, method):
                    pass

                def test_inner(self):
                    pass
        """,
        test_isolated="""
        import unittest

        class Isolated(unittest.IsolatedAsyncioTestCase):
            @classmethod
            async def setUpClass(cls):
                pass

            async def test_async(self):
                pass
        """,
    )
    result = run_alt("-rA", "-p", "no:warnings")
    # test_xfail is an error: its xfail mark does not hide the mistake.
    result.assert_outcomes(passed=2, skipped=1, xfailed=1, errors=3)
    result.stdout.fnmatch_lines_random(
        [
            "PASSED anything.checks::check",
            "PASSED test_marks.py::TestOuterMethod::TestInner::test_inner",
            "SKIPPED * not now",
            "ERROR test_marks.py::TestOuter::TestInner::test_inner - Failed: *",
            "TestOuter.setup_class is async def, but pytest calls xunit-style setup_class "
            "without awaiting it, *",
            "Isolated.setUpClass is async def, but pytest calls xunit-style setUpClass without "
            "awaiting it, so it would never run: make it a plain def, and do the async part in "
            "asyncSetUp or asyncTearDown (an IsolatedAsyncioTestCase runs its tests on a loop "
            "of its own)",
        ]
    )


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_the_assertion_pass_hook_sees_only_the_tests_own_asserts(pytester, monkeypatch, mode):
    # pytest rewrote alt_coop's modules (a plugin loaded by entry point):
    # its internal asserts reached the hook as the test's, more of them in a
    # cooperative run.
    pytester.makeini("[pytest]\nenable_assertion_pass_hook = true\n")
    pytester.makeconftest(
        """
        def pytest_assertion_pass(item, lineno, orig, expl):
            print(f"\\nPASSED ASSERT {item.name}:{lineno}: {orig}")
        """
    )
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.fixture
        async def resource():
            await asyncio.sleep(0.01)
            yield 2
            await asyncio.sleep(0.01)

        async def test_one(resource):
            await asyncio.sleep(0.01)
            assert 1 + 1 == resource
        """
    )
    # What pytest does for a plugin installed from a wheel (an editable
    # install lists no modules for it to mark), with no rewritten module
    # cached from a run without the hook: a copy of alt_coop, first on the path.
    shutil.copytree(
        Path(alt_coop.__file__).parent,
        pytester.path / "alt_coop",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    pytester.makepyfile(
        rewrite_alt_coop="import pytest\npytest.register_assert_rewrite('alt_coop')\n"
    )
    result = pytester.runpytest_subprocess(
        *ISOLATE, "-p", "rewrite_alt_coop", "-p", "alt_coop.enable", "-s", *mode_args(mode)
    )
    result.assert_outcomes(passed=1)
    lines = [line for line in result.outlines if "PASSED ASSERT" in line]
    assert lines == ["PASSED ASSERT test_one:12: 1 + 1 == resource"], lines


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_awaiting_a_task_behaves_as_in_asyncio(pytester, run_alt, mode):
    # alt_coop waits for a task a test awaits in a way of its own (so that it
    # can stop waiting for one that ignores its cancellation): as asyncio does.
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        SHARED = []

        async def test_a_task_awaited_by_two_awaiters():
            task = asyncio.create_task(asyncio.sleep(0.05, result=5))

            async def helper():
                await asyncio.sleep(0)  # the test awaits the task by now
                return await task

            other = asyncio.create_task(helper())
            assert await task == 5
            assert await other == 5

        async def test_a_cancel_as_the_awaited_task_ends_is_not_lost():
            me = asyncio.current_task()

            async def child():
                await asyncio.sleep(0)
                return 1

            async def canceller():
                await asyncio.sleep(0)
                me.cancel()  # the child is done, its callbacks not yet run

            task = asyncio.create_task(child())
            asyncio.create_task(canceller())
            with pytest.raises(asyncio.CancelledError):
                await task
            me.uncancel()

        async def test_a_task_cannot_await_itself():
            with pytest.raises(RuntimeError, match="cannot await on itself"):
                await asyncio.current_task()

        async def test_a_cancelled_awaited_task_cancels_the_awaiter():
            task = asyncio.create_task(asyncio.sleep(10))
            asyncio.get_running_loop().call_later(0.01, task.cancel)
            with pytest.raises(asyncio.CancelledError):
                await task

        async def test_cancelling_the_awaiter_cancels_the_awaited_task_and_waits():
            finished = []

            async def cleans_up():
                try:
                    await asyncio.sleep(10)
                finally:
                    await asyncio.sleep(0.02)
                    finished.append(True)

            task = asyncio.create_task(cleans_up())
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.01):
                    await task
            assert finished == [True] and task.cancelled()
            assert asyncio.current_task().cancelling() == 0
        """
    )
    run_alt("-W", "error::RuntimeWarning", *mode_args(mode)).assert_outcomes(passed=5)


@pytest.mark.parametrize("cooperative", [False, True])
def test_a_plain_test_sees_its_own_function_and_arguments(pytester, run_alt, cooperative):
    # alt_coop checks what a plain def test returns (and runs a cooperative
    # one's body in a thread) through a stand-in for its function: the test,
    # its arguments and the other plugins' hooks see the function itself.
    mark = "@pytest.mark.asyncio_cooperative" if cooperative else ""
    pytester.makeconftest(
        """
        import pytest

        def pytest_pyfunc_call(pyfuncitem):
            if getattr(pyfuncitem.obj, "custom", False):
                print(f"CUSTOM {pyfuncitem.name}")
        """
    )
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.fixture
        def body():
            return b"payload"

        @pytest.fixture
        def item():
            return "an item"

        {mark}
        def test_named_like_the_stand_ins_arguments(body, item):
            assert (body, item) == (b"payload", "an item")

        {mark}
        @pytest.mark.parametrize("body", [1])
        def test_parametrized(body):
            assert body == 1

        {mark}
        def test_request_function(request):
            assert request.function.__name__ == "test_request_function"

        def custom(func):
            func.custom = True
            return func

        {mark}
        @custom
        def test_custom(request):
            pass
        """
    )
    result = run_alt("-s", "-p", "no:randomly")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["*CUSTOM test_custom*"])
