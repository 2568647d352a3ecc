"""Scoped per-phase timeouts: messages, async_timeout, defaults, options, cancellation."""

from __future__ import annotations

import re
import textwrap
import time
from pathlib import Path

import pytest
from conftest import (
    SUITE_NESTED_TIMEOUT,
    SUITE_SELF_CANCEL_THEN_TIMEOUT,
    WITH_HYPOTHESIS,
    line_of,
    mode_args,
)

# -- what a timeout looks like ------------------------------------------------


def test_timed_out_test_fails_naming_timeout_and_waiting_line(pytester, run_alt):
    path = pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.fixture
        def default_async_timeout():
            return 0.1

        async def test_slow():
            await asyncio.sleep(0)
            await asyncio.sleep(10)  # WAIT

        async def test_after():
            await asyncio.sleep(0.01)
        """
    )
    line = line_of(path, "# WAIT")
    result = run_alt("-rA")
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines(
        [
            f"test_slow timed out after 0.1s (async timeout); "
            f"it was waiting at {path.name}:{line} in test_slow",
            "FAILED *::test_slow*",
        ]
    )
    # The message alone: no note that alt_coop's frames are hidden.
    result.stdout.no_fnmatch_line("*traceback entries are hidden*")
    assert result.duration < 5


def test_location_is_the_innermost_helper_coroutine(pytester, run_alt):
    path = pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.fixture
        def default_async_timeout():
            return 0.1

        async def inner():
            await asyncio.sleep(10)  # INNER

        async def outer():
            await inner()  # OUTER

        async def test_nested():
            await outer()  # TEST
        """
    )
    inner = line_of(path, "# INNER")
    result = run_alt()
    result.assert_outcomes(failed=1)
    expected = f"test_nested timed out after 0.1s (async timeout); it was waiting at {path.name}"
    result.stdout.fnmatch_lines([f"{expected}:{inner} in inner*"])


def test_location_in_decorated_test_is_the_test_body(pytester, run_alt):
    path = pytester.makepyfile(
        """
        import asyncio
        import functools
        import pytest

        def decorate(fn):
            @functools.wraps(fn)
            async def wrapper(*args, **kwargs):
                return await fn(*args, **kwargs)  # WRAPPER
            return wrapper

        @pytest.fixture
        def default_async_timeout():
            return 0.1

        @decorate
        async def test_decorated():
            await asyncio.sleep(10)  # BODY
        """
    )
    body = line_of(path, "# BODY")
    wrapper = line_of(path, "# WRAPPER")
    result = run_alt()
    result.assert_outcomes(failed=1)
    expected = (
        f"test_decorated timed out after 0.1s (async timeout); it was waiting at {path.name}"
    )
    result.stdout.fnmatch_lines([f"{expected}:{body} in test_decorated*"])
    assert f"it was waiting at {path.name}:{wrapper} " not in result.stdout.str()


def test_timed_out_async_fixture_is_a_setup_error_naming_it(pytester, run_alt):
    path = pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.fixture
        def default_async_timeout():
            return 0.1

        RAN = []

        @pytest.fixture
        async def slow_resource():
            await asyncio.sleep(10)  # SETUP

        async def test_uses_it(slow_resource):
            RAN.append(1)

        def test_body_did_not_run():
            assert RAN == []
        """
    )
    line = line_of(path, "# SETUP")
    result = run_alt()
    result.assert_outcomes(errors=1, passed=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_uses_it*",
            f"fixture 'slow_resource' timed out after 0.1s during setup (async timeout); "
            f"it was waiting at {path.name}:{line} in slow_resource",
        ]
    )


def test_timed_out_async_fixture_teardown_is_a_teardown_error_naming_it(pytester, run_alt):
    path = pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.fixture
        def default_async_timeout():
            return 0.1

        @pytest.fixture
        async def slow_to_close():
            yield "resource"
            await asyncio.sleep(10)  # TEARDOWN

        async def test_uses_it(slow_to_close):
            assert slow_to_close == "resource"
        """
    )
    line = line_of(path, "# TEARDOWN")
    result = run_alt("-rA")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_uses_it*",
            "fixture 'slow_to_close' timed out after 0.1s during teardown (async timeout); "
            f"it was waiting at {path.name}:{line} in slow_to_close",
        ]
    )


def test_timed_out_async_generator_fixture_setup_names_the_waiting_line(pytester, run_alt):
    path = pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.fixture
        async def slow_to_open(async_timeout):
            async_timeout.set_timeout_seconds(0.1)
            await asyncio.sleep(10)  # SETUP
            yield

        async def test_uses_it(slow_to_open):
            pass
        """
    )
    line = line_of(path, "# SETUP")
    result = run_alt()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_uses_it*",
            "fixture 'slow_to_open' timed out after 0.1s during setup (async timeout); "
            f"it was waiting at {path.name}:{line} in slow_to_open",
        ]
    )
    assert result.duration < 5


def test_each_phase_has_its_own_clock(pytester, run_alt):
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.fixture
        def default_async_timeout():
            return 0.3

        @pytest.fixture
        async def resource():
            await asyncio.sleep(0.2)
            yield
            await asyncio.sleep(0.2)

        async def test_one(resource):
            await asyncio.sleep(0.2)
        """
    )
    result = run_alt()
    result.assert_outcomes(passed=1)


def test_sync_code_is_never_timed_out(pytester, run_alt):
    pytester.makepyfile(
        """
        import time
        import pytest

        @pytest.fixture
        def default_async_timeout():
            return 0.05

        @pytest.fixture
        def slow_sync_fixture():
            time.sleep(0.2)
            yield
            time.sleep(0.2)

        def test_sync(slow_sync_fixture):
            time.sleep(0.2)
        """
    )
    result = run_alt()
    result.assert_outcomes(passed=1)


# -- a coroutine that resists cancellation ---------------------------------------


def test_swallowing_the_cancellation_still_counts_as_timed_out(pytester, run_alt):
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.fixture
        def default_async_timeout():
            return 0.1

        async def test_swallows():
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                return

        @pytest.fixture
        async def swallowing_fixture():
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                pass
            return 1

        async def test_with_fixture(swallowing_fixture):
            pass
        """
    )
    result = run_alt()
    result.assert_outcomes(failed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*fixture 'swallowing_fixture' timed out after 0.1s during setup (async timeout)*",
            "*test_swallows timed out after 0.1s (async timeout)*",
        ]
    )
    # The report names the line the timeout cut in at, as for any timeout.
    assert "All traceback entries are hidden" not in result.stdout.str()


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_a_timeout_after_a_swallowed_self_cancellation_is_a_timeout(
    pytester, run_alt_subprocess, mode
):
    # Not an interrupt: the cancellation it swallowed was its own.
    pytester.makepyfile(SUITE_SELF_CANCEL_THEN_TIMEOUT)
    result = run_alt_subprocess(*mode_args(mode))
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines(["*then_times_out timed out after 0.2s (async timeout)*"])
    assert "KeyboardInterrupt" not in result.stdout.str()


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
@pytest.mark.parametrize("scope", ["function", "module"])
def test_a_fixture_that_swallows_its_setup_timeout_and_yields_is_torn_down_with_its_scope(
    pytester, run_alt_subprocess, mode, scope
):
    # It yielded, so it holds what it set up: as for a finalizer added before
    # a setup fails, pytest tears it down when its scope ends. Its teardown
    # ran at the session's end instead, when asyncio closed the generator
    # (and was cut after 2 s there, under a warning not naming it).
    path = pytester.makepyfile(
        f"""
        import asyncio
        import pytest

        @pytest.fixture(scope="{scope}")
        async def swallow_then_yield(async_timeout):
            async_timeout.set_timeout_seconds(0.2)
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                pass
            yield
            await asyncio.sleep(10)  # in teardown

        async def test_first(swallow_then_yield):
            pass

        async def test_last():
            await asyncio.sleep(0.3)
        """
    )
    result = run_alt_subprocess(*mode_args(mode))
    result.assert_outcomes(passed=1, errors=2)
    torn_down_by = "test_first" if scope == "function" else "test_last"
    teardown_line = line_of(path, "# in teardown")
    result.stdout.fnmatch_lines(
        [
            "*_ ERROR at setup of test_first _*",
            "*fixture 'swallow_then_yield' timed out after 0.2s during setup (async timeout)*",
            f"*_ ERROR at teardown of {torn_down_by} _*",
            "*fixture 'swallow_then_yield' timed out after 0.2s during teardown (async timeout); "
            f"it was waiting at *.py:{teardown_line} in swallow_then_yield",
        ]
    )
    result.stdout.no_fnmatch_line("*asynchronous generator*")
    result.stdout.no_fnmatch_line("*AltCoopWarning*")


def test_raising_something_else_on_cancellation_is_still_a_timeout(pytester, run_alt):
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.fixture
        def default_async_timeout():
            return 0.1

        async def test_converts():
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                raise RuntimeError("cleanup failed")
        """
    )
    result = run_alt()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*test_converts timed out after 0.1s (async timeout)*"])


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
@pytest.mark.parametrize(
    "stop", ["pytest.exit('giving up', returncode=3)", "raise KeyboardInterrupt"]
)
def test_a_stop_raised_as_a_timeout_cuts_in_stops_the_run(
    pytester, run_alt_subprocess, mode, stop
):
    # Stopping the run is the code's choice, as in a plain run: no clock's
    # failure stands in for it.
    pytester.makepyfile(
        f"""
        import asyncio
        import pytest

        async def test_gives_up(async_timeout):
            async_timeout.set_timeout_seconds(0.1)
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                {stop}

        def test_after():
            pass
        """
    )
    result = run_alt_subprocess(*mode_args(mode))
    expected = 3 if "exit" in stop else pytest.ExitCode.INTERRUPTED
    assert result.ret == expected, result.stdout.str()
    assert "timed out" not in result.stdout.str()
    assert "passed" not in result.stdout.str()
    result.stdout.fnmatch_lines(["*giving up*" if "exit" in stop else "*KeyboardInterrupt*"])


def test_ignoring_cancellation_forever_is_abandoned_not_hung(pytester, run_alt_subprocess):
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.fixture
        def default_async_timeout():
            return 0.1

        async def test_stubborn():
            while True:
                try:
                    await asyncio.sleep(10)
                except asyncio.CancelledError:
                    pass

        async def test_next_one_still_runs():
            await asyncio.sleep(0.01)
        """
    )
    result = run_alt_subprocess("-rA", timeout=30)
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines(
        [
            "*test_stubborn timed out after 0.1s (async timeout)*abandoned*",
            "PASSED *::test_next_one_still_runs",
        ]
    )
    assert result.duration < 30


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_awaiting_a_task_that_ignores_cancellation_is_abandoned_not_hung(
    pytester, run_alt_subprocess, mode
):
    # Cancelling a task that awaits another cancels that other one, and waits
    # for it: a task that swallows its cancellation kept the test, and the
    # run, waiting forever.
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        async def stubborn():
            while True:
                try:
                    await asyncio.sleep(10)
                except asyncio.CancelledError:
                    pass

        @pytest.fixture
        async def fixture_awaits_it():
            await asyncio.create_task(stubborn())
            yield

        async def test_awaits_it(async_timeout):
            async_timeout.set_timeout_seconds(0.1)
            await asyncio.create_task(stubborn())

        async def test_its_fixture_awaits_it(fixture_awaits_it):
            pass

        async def test_next_one_still_runs():
            await asyncio.sleep(0.01)

        async def test_a_task_that_gives_in_is_waited_for(async_timeout):
            async_timeout.set_timeout_seconds(0.1)

            async def cleans_up():
                try:
                    await asyncio.sleep(10)
                finally:
                    await asyncio.sleep(0.3)  # longer than the timeout: still waited for
                    print("CLEANED UP")

            await asyncio.create_task(cleans_up())
        """
    )
    result = run_alt_subprocess(
        "-rA", "-s", "--default-async-timeout=0.1", *mode_args(mode), timeout=60
    )
    result.assert_outcomes(failed=2, passed=1, errors=1)
    result.stdout.fnmatch_lines_random(
        [
            "*test_awaits_it timed out after 0.1s (async timeout)*abandoned*",
            "*fixture 'fixture_awaits_it' timed out after 0.1s during setup*abandoned*",
            "*test_a_task_that_gives_in_is_waited_for timed out after 0.1s (async timeout)*",
            "*CLEANED UP*",
            "PASSED *::test_next_one_still_runs",
        ]
    )


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_a_cancellation_as_a_gather_ends_is_not_lost(pytester, run_alt, mode):
    # Cancelled when its tasks were done but the gather not yet: asyncio
    # holds the cancellation back for the awaiting task, which then raises
    # it; alt_coop's wait gave the gather's result instead.
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        async def test_cancelled_as_the_gather_ends():
            me = asyncio.current_task()
            ready = asyncio.Event()

            async def canceller():
                await ready.wait()
                me.cancel()

            async def child():
                await ready.wait()
                return 1

            asyncio.create_task(canceller())
            gathered = asyncio.ensure_future(child())
            await asyncio.sleep(0)
            both = asyncio.gather(gathered)
            asyncio.get_running_loop().call_soon(ready.set)
            try:
                await both
            except asyncio.CancelledError:
                me.uncancel()
                return
            pytest.fail("the cancellation was lost")
        """
    )
    run_alt(*mode_args(mode)).assert_outcomes(passed=1)


@pytest.mark.parametrize("how", ["gather", "task", "task that uncancels"])
@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_awaiting_a_gather_that_ignores_cancellation_is_abandoned_not_hung(
    pytester, run_alt_subprocess, mode, how
):
    # A gather's future, cancelled, cancels its children and waits for them:
    # giving the test up cancelled them a second time, and the run waited
    # until they chose to end.
    log = pytester.path / "child.log"
    pytester.makepyfile(
        f"""
        import asyncio
        import time

        async def stubborn():
            end = time.monotonic() + 30
            while time.monotonic() < end:
                try:
                    await asyncio.sleep(end - time.monotonic())
                except asyncio.CancelledError as cancelled:
                    with open({str(log)!r}, "a") as f:
                        f.write(f"CANCELLED {{cancelled.args}}\\n")
                    if {how!r} == "task that uncancels":  # taken as handled
                        asyncio.current_task().uncancel()

        async def test_awaits_it():
            if {how!r} == "gather":
                await asyncio.gather(stubborn())
            else:
                await asyncio.create_task(stubborn())

        async def test_next_one_still_runs():
            await asyncio.sleep(0.01)
        """
    )
    started = time.monotonic()
    result = run_alt_subprocess("-rA", "--default-async-timeout=0.5", *mode_args(mode), timeout=60)
    assert time.monotonic() - started < 20, result.stdout.str()
    result.assert_outcomes(failed=1, passed=1, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "*test_awaits_it timed out after 0.5s (async timeout)*",
            # Named as what it is: not cancelled again, and it did not end.
            "*AltCoopWarning: alt_coop: 1 task(s) still pending at the end of the session had "
            "been cancelled before, and were not cancelled again: Task-* (stubborn); these did "
            "not end within 2s and were abandoned: Task-* (stubborn)",
        ]
    )
    assert log.read_text().count("CANCELLED") == 1, log.read_text()


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_a_gather_given_up_on_is_not_logged_as_lost_when_it_ends(
    pytester, run_alt_subprocess, mode, monkeypatch
):
    # Its test given up on, the gather ended (cancelled) with no one to take
    # its outcome: asyncio logged "_GatheringFuture exception was never
    # retrieved" after pytest's report (as the process exits: other plugins
    # loaded may keep the gather until the logging is gone).
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.makepyfile(
        """
        import asyncio
        import time

        async def slow_to_end():  # ends as the session's end waits for it
            end = time.monotonic() + 4
            while time.monotonic() < end:
                try:
                    await asyncio.sleep(end - time.monotonic())
                except asyncio.CancelledError:
                    pass

        async def test_awaits_it():
            await asyncio.gather(slow_to_end())

        async def test_after(async_timeout):
            async_timeout.set_timeout_seconds(10)
            await asyncio.sleep(3)
        """
    )
    result = run_alt_subprocess("--default-async-timeout=1", *mode_args(mode), timeout=60)
    result.assert_outcomes(failed=1, passed=1)
    output = result.stdout.str() + result.stderr.str()
    assert "never retrieved" not in output, output


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_ignoring_generator_exit_too_does_not_hang_the_run(pytester, run_alt_subprocess, mode):
    # A bare except swallows GeneratorExit as well: closed by the garbage
    # collector once no loop runs, such a coroutine would await and fail
    # ("no running event loop"), catch that, and loop forever.
    pytester.makepyfile(
        """
        import asyncio
        import gc

        async def test_retry_loop(async_timeout):
            async_timeout.set_timeout_seconds(0.1)
            while True:
                try:
                    await asyncio.sleep(10)
                except:
                    pass

        async def test_next_one_still_runs():
            await asyncio.sleep(0.01)
            gc.collect()
        """
    )
    result = run_alt_subprocess("-rA", *mode_args(mode), timeout=60)
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines(
        [
            "*test_retry_loop timed out after 0.1s (async timeout)*abandoned*",
            "PASSED *::test_next_one_still_runs",
        ]
    )


# -- async_timeout ----------------------------------------------------------------


def test_set_timeout_seconds_shortens_the_test_timeout(pytester, run_alt):
    pytester.makepyfile(
        """
        import asyncio

        async def test_shortened(async_timeout):
            assert async_timeout.timeout_seconds == 5
            async_timeout.set_timeout_seconds(0.1)
            assert async_timeout.timeout_seconds == 0.1
            await asyncio.sleep(10)
        """
    )
    result = run_alt()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*test_shortened timed out after 0.1s (async timeout)*"])
    assert result.duration < 4


def test_set_timeout_seconds_lengthens_the_test_timeout(pytester, run_alt):
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.fixture
        def default_async_timeout():
            return 0.05

        async def test_lengthened(async_timeout):
            async_timeout.set_timeout_seconds(2)
            await asyncio.sleep(0.2)

        async def test_not_lengthened():
            await asyncio.sleep(0.2)
        """
    )
    result = run_alt()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*test_not_lengthened timed out after 0.05s*"])


def test_set_timeout_seconds_counts_from_the_call(pytester, run_alt):
    # 0.2 s spent before the call, 0.15 s after it: within 0.25 s from the call,
    # beyond 0.25 s from the start of the test.
    pytester.makepyfile(
        """
        import asyncio

        async def test_restarted(async_timeout):
            async_timeout.set_timeout_seconds(1)
            await asyncio.sleep(0.2)
            async_timeout.set_timeout_seconds(0.25)
            await asyncio.sleep(0.15)
        """
    )
    result = run_alt()
    result.assert_outcomes(passed=1)


def test_async_fixture_sets_its_own_timeout_only(pytester, run_alt):
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.fixture
        def default_async_timeout():
            return 0.1

        @pytest.fixture
        async def patient(async_timeout):
            async_timeout.set_timeout_seconds(2)
            await asyncio.sleep(0.2)
            return "ready"

        @pytest.fixture
        async def impatient(async_timeout):
            async_timeout.set_timeout_seconds(0.05)
            await asyncio.sleep(10)

        async def test_patient_fixture(patient, async_timeout):
            assert patient == "ready"
            assert async_timeout.timeout_seconds == 0.1
            await asyncio.sleep(10)

        async def test_impatient_fixture(impatient):
            pass
        """
    )
    result = run_alt()
    result.assert_outcomes(failed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*fixture 'impatient' timed out after 0.05s during setup (async timeout)*",
            "*test_patient_fixture timed out after 0.1s (async timeout)*",
        ]
    )


def test_set_timeout_seconds_in_sync_code_is_a_clear_error(pytester, run_alt):
    pytester.makepyfile(
        """
        import pytest
        from alt_coop.errors import NoAsyncTimeoutInSyncFunctions

        @pytest.fixture
        def sync_fixture(async_timeout):
            async_timeout.set_timeout_seconds(1)

        def test_sync_test(async_timeout):
            async_timeout.set_timeout_seconds(1)

        def test_sync_fixture(sync_fixture):
            pass

        def test_the_error_class(async_timeout):
            with pytest.raises(NoAsyncTimeoutInSyncFunctions):
                async_timeout.set_timeout_seconds(1)
        """
    )
    result = run_alt()
    result.assert_outcomes(failed=1, errors=1, passed=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_sync_fixture*",
            "E   *NoAsyncTimeoutInSyncFunctions: async_timeout.set_timeout_seconds() only "
            "works in async fixtures and tests*",
            "*test_sync_test*",
            "E   *NoAsyncTimeoutInSyncFunctions: async_timeout.set_timeout_seconds() only "
            "works in async fixtures and tests*",
        ]
    )


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_an_error_raised_when_cancelled_by_the_timeout_is_shown_with_its_traceback(
    pytester, run_alt, mode
):
    # It was shown as its bare message, without its type or line, and the
    # timeout's message came twice (once as the cancellation's).
    pytester.makepyfile(
        test_raises_instead="""
        import asyncio

        async def clean_up():
            raise RuntimeError("CLEANUP-FAILED")

        async def test_raises_instead():
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                await clean_up()

        async def test_raises_on_the_way():
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                try:
                    {}["MISSING-KEY"]
                except KeyError:
                    raise RuntimeError("LOOKUP-FAILED")
        """
    )
    result = run_alt(*mode_args(mode), "--default-async-timeout=0.3", "-p", "no:randomly")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            '>       raise RuntimeError("CLEANUP-FAILED")',
            "E       RuntimeError: CLEANUP-FAILED",
            "*test_raises_instead.py:4: RuntimeError",
            "The above exception was the direct cause of the following exception:",
            ">           await asyncio.sleep(10)",
            "E           Failed: test_raises_instead timed out after 0.3s (async timeout); it was"
            " waiting at test_raises_instead.py:8 in test_raises_instead",
        ]
    )
    # The code's own errors on the way are kept; the cancellation is not shown.
    result.stdout.fnmatch_lines(
        [
            "E               KeyError: 'MISSING-KEY'",
            "During handling of the above exception, another exception occurred:",
            "E               RuntimeError: LOOKUP-FAILED",
            "The above exception was the direct cause of the following exception:",
            "E           Failed: test_raises_on_the_way timed out after 0.3s*",
        ]
    )
    failures = result.stdout.str().split("short test summary info")[0]
    assert failures.count("timed out after 0.3s") == 2, failures
    assert failures.count("During handling") == 1, failures
    assert "exceptions.CancelledError" not in failures, failures  # its source line has it
    assert "alt_coop/" not in failures and "asyncio/" not in failures, failures


def test_set_timeout_seconds_after_the_timeout_fired_changes_nothing(pytester, run_alt):
    # The report said the new value ("after 5s"), though the test was cut at 0.3s.
    pytester.makepyfile(
        """
        import asyncio

        async def test_sets_it_too_late(async_timeout):
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                async_timeout.set_timeout_seconds(5)
                await asyncio.sleep(0.1)
        """
    )
    result = run_alt("--default-async-timeout=0.3")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*test_sets_it_too_late timed out after 0.3s (async timeout)*"])


def test_set_timeout_seconds_rejects_non_positive_values(pytester, run_alt):
    pytester.makepyfile(
        """
        import math
        import pytest

        @pytest.mark.parametrize("bad", [0, -1, -0.5, math.nan, math.inf, "soon", None, 10**400])
        async def test_rejected(async_timeout, bad):
            before = async_timeout.timeout_seconds
            with pytest.raises(ValueError, match="positive number of seconds"):
                async_timeout.set_timeout_seconds(bad)
            assert async_timeout.timeout_seconds == before
        """
    )
    result = run_alt()
    result.assert_outcomes(passed=8)


# -- options ----------------------------------------------------------------------

SLOW_TEST = """
import asyncio

async def test_slow(async_timeout, session_default_async_timeout):
    print("timeout_seconds =", async_timeout.timeout_seconds)
    assert session_default_async_timeout == async_timeout.timeout_seconds
    await asyncio.sleep(0.3)
"""


def test_builtin_default_is_five_seconds(pytester, run_alt):
    pytester.makepyfile(
        """
        async def test_default(async_timeout, session_default_async_timeout):
            assert async_timeout.timeout_seconds == 5
            assert session_default_async_timeout == 5
        """
    )
    result = run_alt()
    result.assert_outcomes(passed=1)


def test_cli_default_async_timeout(pytester, run_alt):
    pytester.makepyfile(SLOW_TEST)
    result = run_alt("--default-async-timeout=0.1")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*test_slow timed out after 0.1s (async timeout)*"])


def test_ini_default_async_timeout(pytester, run_alt):
    pytester.makeini("[pytest]\ndefault_async_timeout = 0.1\n")
    pytester.makepyfile(SLOW_TEST)
    result = run_alt()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*test_slow timed out after 0.1s (async timeout)*"])


native_toml = pytest.mark.skipif(
    pytest.version_tuple < (9, 2), reason="numbers in [tool.pytest] need pytest 9.2"
)


@native_toml
@pytest.mark.parametrize("value", ["0.1", '"0.1"'])
def test_native_toml_config_takes_a_number_or_a_string(pytester, run_alt, value):
    pytester.makepyprojecttoml(
        f"[tool.pytest]\ndefault_async_timeout = {value}\nasyncio_block_threshold = 2\n"
        "max_asyncio_tasks = 3\nasyncio_task_timeout = 5\n"
    )
    pytester.makepyfile(SLOW_TEST)
    result = run_alt()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*test_slow timed out after 0.1s (async timeout)*"])


@native_toml
@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("default_async_timeout = -2", "default_async_timeout must be a positive number*got -2"),
        ("max_asyncio_tasks = 0", "max_asyncio_tasks must be a positive whole number, got 0"),
        ("max_asyncio_tasks = 2.5", "*max_asyncio_tasks*got float: 2.5"),
    ],
)
def test_native_toml_bad_number_is_a_usage_error(pytester, run_alt, setting, message):
    pytester.makepyprojecttoml(f"[tool.pytest]\n{setting}\n")
    pytester.makepyfile(SLOW_TEST)
    result = run_alt()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{message}*"])


@pytest.mark.skipif(
    not (9, 0) <= pytest.version_tuple < (9, 2), reason="pytest 9.0 and 9.1 read them as strings"
)
def test_native_toml_number_before_pytest_9_2_says_to_quote_it(pytester, run_alt):
    # pytest itself refused it with an INTERNALERROR (a TypeError).
    pytester.makepyprojecttoml("[tool.pytest]\nmax_asyncio_tasks = 500\n")
    pytester.makepyfile(SLOW_TEST)
    result = run_alt()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*ini option max_asyncio_tasks: *500*(pytest before 9.2 reads it as a string: quote*"]
    )
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()


@pytest.mark.skipif(
    not (9, 0) <= pytest.version_tuple < (9, 2), reason="pytest 9.0 and 9.1 read them as strings"
)
@pytest.mark.parametrize(
    "setting",
    ["async_timeouts_under_debugger = true", "default_async_timeout = [5]"],
)
def test_native_toml_value_no_quoting_would_mend_is_not_told_to_be_quoted(
    pytester, run_alt, setting
):
    # Quoted, a bool or a list is refused all the same: the hint is for numbers.
    pytester.makepyprojecttoml(f"[tool.pytest]\n{setting}\n")
    pytester.makepyfile(SLOW_TEST)
    result = run_alt()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*ini option {setting.split()[0]}: *expects a string*"])
    assert "quote the value" not in result.stderr.str(), result.stderr.str()


@pytest.mark.skipif(
    not (9, 0) <= pytest.version_tuple < (9, 2), reason="pytest 9.0 and 9.1 want a TOML bool"
)
@pytest.mark.parametrize("value", ['"true"', "1"])
def test_native_toml_bool_before_pytest_9_2_says_to_write_it_unquoted(pytester, run_alt, value):
    # The hint said to quote it, as for a number.
    pytester.makepyprojecttoml(f"[tool.pytest]\nasyncio_cooperative = {value}\n")
    pytester.makepyfile(SLOW_TEST)
    result = run_alt()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*ini option asyncio_cooperative: *(write true or false, unquoted)"]
    )


@pytest.mark.parametrize("value", ["maybe", "2"])
def test_bad_boolean_ini_value_is_a_usage_error(pytester, run_alt, value):
    # pytest 8 raised an INTERNALERROR (ValueError: invalid truth value); 9.2 named no option.
    pytester.makeini(f"[pytest]\nasyncio_cooperative = {value}\n")
    pytester.makepyfile(SLOW_TEST)
    result = run_alt()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*ini option asyncio_cooperative: *{value}*"])
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()


def test_help_is_shown_despite_a_bad_ini_value(pytester, run_alt):
    pytester.makeini("[pytest]\nmax_asyncio_tasks = 0\n")
    result = run_alt("--help")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*--max-asyncio-tasks=N*"])


def test_help_gives_each_ini_options_default(pytester, run_alt):
    # Their command-line options said; the ini lines gave none but the timeout's.
    result = run_alt("--help")
    assert result.ret == pytest.ExitCode.OK
    text = " ".join(result.stdout.str().split())  # however the terminal wraps it
    for name, default in [
        ("default_async_timeout", "(default 5)."),
        ("async_timeouts_under_debugger", "(default auto)."),
        ("asyncio_cooperative", "(default false)."),
        ("max_asyncio_tasks", "(default 250)."),
        ("asyncio_task_timeout", "(default: no cap)."),
        ("asyncio_block_threshold", "(default 0.5)."),
    ]:
        # The ini line: its name, its type, what it is.
        assert re.search(rf" {name} \([a-z |]+\): [^()]*{re.escape(default)}", text), name


def test_the_builtin_default_says_where_to_change_it(pytester, run_alt):
    # A suite moving from another plugin meets it first; the report said
    # nothing of where the 5 s came from.
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.fixture(scope="session")
        async def slow_db():
            await asyncio.sleep(30)
            yield

        async def test_uses_db(slow_db):
            pass

        async def test_sets_its_own(async_timeout):
            async_timeout.set_timeout_seconds(0.1)
            await asyncio.sleep(30)
        """
    )
    result = run_alt()
    result.assert_outcomes(failed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "fixture 'slow_db' timed out after 5s during setup (async timeout); it was "
            "waiting at *.py:6 in slow_db. 5s is alt_coop's default: give one fixture or test "
            "more with async_timeout.set_timeout_seconds(), or change the default "
            "(default_async_timeout in the ini file, --default-async-timeout, or a "
            "*_default_async_timeout fixture)",
        ]
    )
    # Set by the test, or by the option: nothing to add.
    result.stdout.fnmatch_lines(["test_sets_its_own timed out after 0.1s *in test_sets_its_own"])
    # Once, in the fixture's error; on CI the short summary repeats it.
    failures = result.stdout.str().split("short test summary info")[0]
    assert failures.count("is alt_coop's default") == 1
    result = run_alt("--default-async-timeout=0.2", "-k", "uses_db")
    result.assert_outcomes(errors=1)
    assert "alt_coop's default" not in result.stdout.str()


#: Async finalizers of each kind that outlast a 5 s timeout, a module's
#: apart so that its teardown is a test's only error.
SLOW_FINALIZERS = """
import asyncio
import pytest

async def own_cleanup():
    await asyncio.sleep(30)  # own

async def sync_fixture_cleanup():
    await asyncio.sleep(30)  # sync fixture's

async def async_fixture_cleanup():
    await asyncio.sleep(30)  # async fixture's

async def test_own(request):
    request.addfinalizer(own_cleanup)

@pytest.fixture
def sync_fixture(request):
    request.addfinalizer(sync_fixture_cleanup)

async def test_sync_fixture(sync_fixture):
    pass

@pytest.fixture
async def async_fixture(request):
    request.addfinalizer(async_fixture_cleanup)

async def test_async_fixture(async_fixture):
    pass
"""
SLOW_MODULE_FINALIZER = """
import asyncio
import pytest

async def module_cleanup():
    await asyncio.sleep(30)  # module's

@pytest.fixture(scope="module")
def module_fixture(request):
    request.node.addfinalizer(module_cleanup)

async def test_module_fixture(module_fixture):
    pass
"""
#: What SLOW_FINALIZERS and SLOW_MODULE_FINALIZER add to give themselves 5 s.
FIVE_SECONDS_BY_FIXTURES = """
@pytest.fixture
def default_async_timeout():
    return 5

@pytest.fixture(scope="module")
def module_default_async_timeout():
    return 5
"""


def slow_finalizer_reports(functions: Path, module: Path) -> list[str]:
    """The report of each finalizer of SLOW_FINALIZERS in ``functions``
    and of SLOW_MODULE_FINALIZER in ``module``, up to the line it waited at."""

    def at(path: Path, marker: str) -> str:
        return f"{path.name}:{line_of(path, marker)}"

    return [
        "finalizer own_cleanup of test_own timed out after 5s during teardown "
        f"(async timeout); it was waiting at {at(functions, '# own')} in own_cleanup",
        "finalizer sync_fixture_cleanup of fixture 'sync_fixture' timed out after 5s during "
        "teardown (async timeout); it was waiting at "
        f"{at(functions, '# sync')} in sync_fixture_cleanup",
        "finalizer async_fixture_cleanup of fixture 'async_fixture' timed out after 5s during "
        "teardown (async timeout); it was waiting at "
        f"{at(functions, '# async')} in async_fixture_cleanup",
        f"finalizer module_cleanup of module {module.name} timed out after 5s during teardown "
        f"(async timeout); it was waiting at {at(module, '# module')} in module_cleanup",
    ]


def test_the_builtin_default_of_an_async_finalizer_says_where_to_change_it(pytester, run_alt):
    # Its report lacked the hint that fixtures' and tests' had. It says so only
    # when alt_coop's default applied, not when a fixture or the option gave 5 s.
    pytester.makepyfile(
        test_builtin=SLOW_FINALIZERS,
        test_builtin_module=SLOW_MODULE_FINALIZER,
        test_set_by_fixtures=SLOW_FINALIZERS + FIVE_SECONDS_BY_FIXTURES,
        test_set_by_fixtures_module=SLOW_MODULE_FINALIZER + FIVE_SECONDS_BY_FIXTURES,
    )
    hint = (
        ". 5s is alt_coop's default: give one fixture or test more with "
        "async_timeout.set_timeout_seconds(), or change the default (default_async_timeout "
        "in the ini file, --default-async-timeout, or a *_default_async_timeout fixture)"
    )
    path = pytester.path
    builtin = slow_finalizer_reports(path / "test_builtin.py", path / "test_builtin_module.py")
    set_by_fixtures = slow_finalizer_reports(
        path / "test_set_by_fixtures.py", path / "test_set_by_fixtures_module.py"
    )
    # Cooperative: the finalizers wait their 5 s together.
    result = run_alt("--asyncio-cooperative")
    result.assert_outcomes(passed=8, errors=8)
    result.stdout.fnmatch_lines_random([report + hint for report in builtin] + set_by_fixtures)
    result = run_alt(
        "--asyncio-cooperative",
        "--default-async-timeout=5",
        "test_builtin.py",
        "test_builtin_module.py",
    )
    result.assert_outcomes(passed=4, errors=4)
    result.stdout.fnmatch_lines_random(builtin)
    assert "alt_coop's default" not in result.stdout.str()


def test_cli_beats_ini_when_longer(pytester, run_alt):
    pytester.makeini("[pytest]\ndefault_async_timeout = 0.1\n")
    pytester.makepyfile(SLOW_TEST)
    result = run_alt("--default-async-timeout=2", "-s")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*timeout_seconds = 2.0*"])


def test_cli_beats_ini_when_shorter(pytester, run_alt):
    pytester.makeini("[pytest]\ndefault_async_timeout = 4\n")
    pytester.makepyfile(SLOW_TEST)
    result = run_alt("--default-async-timeout=0.1")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*test_slow timed out after 0.1s (async timeout)*"])


@pytest.mark.parametrize("bad", ["0", "-1", "abc", "nan", "inf", ""])
def test_bad_cli_value_is_a_usage_error(pytester, run_alt, bad):
    pytester.makepyfile(SLOW_TEST)
    result = run_alt(f"--default-async-timeout={bad}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [f"*--default-async-timeout*must be a positive number of seconds, got {bad!r}*"]
    )


@pytest.mark.parametrize("bad", ["0", "-2", "abc", "nan", "inf"])
def test_bad_ini_value_is_a_usage_error(pytester, run_alt, bad):
    pytester.makeini(f"[pytest]\ndefault_async_timeout = {bad}\n")
    pytester.makepyfile(SLOW_TEST)
    result = run_alt()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [f"*ini option default_async_timeout must be a positive number of seconds, got {bad!r}*"]
    )


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_bad_value_from_a_default_fixture_names_the_fixture(pytester, run_alt, mode):
    pytester.makepyfile(
        """
        import pytest

        @pytest.fixture
        def default_async_timeout():
            return 0

        @pytest.fixture
        async def conn():
            return 1

        async def test_any():
            pass

        async def test_one(conn):
            pass

        async def test_two(conn):  # the fixture's error again, not pytest's AssertionError
            pass
        """
    )
    result = run_alt(*mode_args(mode), "-p", "no:randomly")
    result.assert_outcomes(failed=1, errors=2)
    message = "fixture 'default_async_timeout' must be a positive number of seconds, got 0"
    for header in ("ERROR at setup of test_one", "ERROR at setup of test_two", "test_any"):
        result.stdout.fnmatch_lines([f"*_ {header} _*", message])
    assert "_timeout_defaults.py" not in result.stdout.str()


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_a_parametrized_default_fixture_says_it_cannot_be(pytester, run_alt, mode):
    # pytest's own failure said "no parameter defined", requested at alt_coop's line.
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.fixture(params=[1, 2])
        def default_async_timeout(request):
            return request.param

        async def test_unaware():
            await asyncio.sleep(0)

        async def test_asks(default_async_timeout, async_timeout):
            assert async_timeout.timeout_seconds == default_async_timeout
        """
    )
    result = run_alt(*mode_args(mode), "-p", "no:randomly")
    result.assert_outcomes(failed=1, passed=2)
    result.stdout.fnmatch_lines(
        [
            "*_ test_unaware _*",
            "fixture 'default_async_timeout' gives the default timeout of async fixtures and "
            "tests, so it cannot be parametrized: only the tests that ask for it would have a "
            "value. Give it one value (override it in a module or class for another), or set "
            "a test's own with async_timeout.set_timeout_seconds()",
        ]
    )
    assert "_timeout_defaults.py" not in result.stdout.str()


def test_a_parametrized_default_fixtures_own_failure_is_its_own(pytester, run_alt):
    # Its test asks for it, so has its param: the fixture's failure is not
    # about parametrizing it.
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.fixture(params=[1.0, 2.0])
        def default_async_timeout(request):
            if request.param > 1.5:
                pytest.fail("NOT-CONFIGURED: 2s timeouts need the slow service")
            return request.param

        @pytest.fixture
        async def af():
            return 1

        async def test_asks(af, default_async_timeout):
            await asyncio.sleep(0)
        """
    )
    result = run_alt("-p", "no:randomly")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*NOT-CONFIGURED: 2s timeouts need the slow service*"])
    assert "cannot be parametrized" not in result.stdout.str()


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_an_async_default_fixture_says_it_must_be_plain(pytester, run_alt, mode):
    pytester.makepyfile(
        """
        import pytest

        @pytest.fixture(scope="module")
        async def module_default_async_timeout():
            return 2

        @pytest.fixture
        async def value():
            return 1

        async def test_with_an_async_fixture(value):
            pass

        async def test_alone():
            pass

        def test_sync():
            pass
        """
    )
    result = run_alt(*mode_args(mode))
    # The test's own timeout is looked up as its body starts, as with a bad
    # value from a plain default fixture.
    result.assert_outcomes(passed=1, failed=1, errors=1)
    message = (
        "fixture 'module_default_async_timeout' gives the timeout of async fixtures and "
        "tests, so it cannot be async itself: make it a plain def fixture"
    )
    result.stdout.fnmatch_lines(
        ["*ERROR at setup of test_with_an_async_fixture*", message, "*test_alone*", message]
    )
    assert "recursive" not in result.stdout.str()


# -- scoped defaults ----------------------------------------------------------------


def test_module_default_applies_to_its_own_module_only(pytester, run_alt):
    pytester.makepyfile(
        test_short="""
            import asyncio
            import pytest

            @pytest.fixture(scope="module")
            def module_default_async_timeout():
                return 0.1

            @pytest.fixture
            async def slow_fixture():
                await asyncio.sleep(0.3)

            async def test_short_test():
                await asyncio.sleep(0.3)

            async def test_short_fixture(slow_fixture):
                pass
        """,
        test_other="""
            import asyncio

            async def test_other_module(async_timeout):
                assert async_timeout.timeout_seconds == 5
                await asyncio.sleep(0.3)
        """,
    )
    result = run_alt("-rA")
    result.assert_outcomes(failed=1, errors=1, passed=1)
    result.stdout.fnmatch_lines_random(
        [
            "test_short_test timed out after 0.1s (async timeout)*",
            "fixture 'slow_fixture' timed out after 0.1s during setup (async timeout)*",
            "FAILED test_short.py::test_short_test*",
            "ERROR test_short.py::test_short_fixture*",
            "PASSED test_other.py::test_other_module",
        ]
    )


def test_class_default_applies_to_its_class_only(pytester, run_alt):
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        class TestShort:
            @pytest.fixture(scope="class")
            def class_default_async_timeout(self):
                return 0.1

            @pytest.fixture
            async def slow_fixture(self):
                await asyncio.sleep(0.3)

            async def test_in_class(self):
                await asyncio.sleep(0.3)

            async def test_fixture_in_class(self, slow_fixture):
                pass

        class TestOther:
            async def test_other_class(self, async_timeout):
                assert async_timeout.timeout_seconds == 5
                await asyncio.sleep(0.3)

        async def test_outside(async_timeout):
            assert async_timeout.timeout_seconds == 5
            await asyncio.sleep(0.3)
        """
    )
    result = run_alt("-rA")
    result.assert_outcomes(failed=1, errors=1, passed=2)
    result.stdout.fnmatch_lines_random(
        [
            "test_in_class timed out after 0.1s (async timeout)*",
            "fixture 'slow_fixture' timed out after 0.1s during setup (async timeout)*",
            "FAILED *::TestShort::test_in_class*",
            "ERROR *::TestShort::test_fixture_in_class*",
            "PASSED *::TestOther::test_other_class",
            "PASSED *::test_outside",
        ]
    )


def test_narrowest_visible_default_wins_for_function_scope(pytester, run_alt):
    pytester.makeconftest(
        """
        import pytest

        @pytest.fixture(scope="session")
        def session_default_async_timeout():
            return 0.5
        """
    )
    pytester.makepyfile(
        test_module_level="""
            import pytest

            @pytest.fixture(scope="module")
            def module_default_async_timeout():
                return 0.4

            async def test_module_default(async_timeout):
                assert async_timeout.timeout_seconds == 0.4

            class TestClassLevel:
                @pytest.fixture(scope="class")
                def class_default_async_timeout(self):
                    return 0.3

                async def test_class_default(self, async_timeout):
                    assert async_timeout.timeout_seconds == 0.3

                class TestFunctionLevel:
                    @pytest.fixture
                    def default_async_timeout(self):
                        return 0.2

                    async def test_function_default(self, async_timeout):
                        assert async_timeout.timeout_seconds == 0.2
        """,
        test_session_level="""
            async def test_session_default(async_timeout):
                assert async_timeout.timeout_seconds == 0.5
        """,
    )
    result = run_alt("--default-async-timeout=3")
    result.assert_outcomes(passed=4)


def test_session_default_fixture_overrides_the_option(pytester, run_alt):
    pytester.makeconftest(
        """
        import pytest

        @pytest.fixture(scope="session")
        def session_default_async_timeout():
            return 0.1
        """
    )
    pytester.makepyfile(
        """
        import asyncio

        async def test_slow():
            await asyncio.sleep(0.3)
        """
    )
    result = run_alt("--default-async-timeout=3")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*test_slow timed out after 0.1s (async timeout)*"])


@pytest.mark.parametrize("where", ["module", "package conftest"])
@pytest.mark.parametrize("scope", ["session", "package"])
def test_a_wider_fixture_takes_the_default_defined_beside_it(pytester, run_alt, where, scope):
    # Defined in a test module or a package's conftest, a session or package
    # fixture sees the default fixtures defined there, as a test there does
    # (they were looked up at its scope's node, the session, and missed). A
    # wider root conftest's default, shorter, does not win over them.
    pytester.makeconftest(
        f"""
        import pytest

        @pytest.fixture(scope="{scope}")
        def {scope}_default_async_timeout():
            return 0.01
        """
    )
    definitions = textwrap.dedent(
        f"""
        import asyncio

        import pytest

        @pytest.fixture(scope="{scope}")
        def {scope}_default_async_timeout():
            return 0.1

        @pytest.fixture(scope="{scope}")
        async def slow():
            await asyncio.sleep(0.5)
        """
    )
    test = "async def test_uses_it(slow):\n    pass\n"
    pkg = pytester.mkpydir("pkg")
    if where == "module":
        (pkg / "test_it.py").write_text(definitions + "\n\n" + test)
    else:
        (pkg / "conftest.py").write_text(definitions)
        (pkg / "test_it.py").write_text(test)
    result = run_alt()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'slow' timed out after 0.1s*"])


def test_a_module_fixture_of_a_conftest_takes_the_default_of_the_module_using_it(
    pytester, run_alt
):
    pytester.makeconftest(
        """
        import asyncio

        import pytest

        @pytest.fixture(scope="module")
        async def slow():
            await asyncio.sleep(0.5)
        """
    )
    pytester.makepyfile(
        """
        import pytest

        @pytest.fixture(scope="module")
        def module_default_async_timeout():
            return 0.1

        async def test_uses_it(slow):
            pass
        """
    )
    result = run_alt()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'slow' timed out after 0.1s*"])


def test_package_default_applies_inside_the_package(pytester, run_alt):
    pkg = pytester.mkpydir("pkg")
    (pkg / "conftest.py").write_text(
        "import pytest\n\n"
        '@pytest.fixture(scope="package")\n'
        "def package_default_async_timeout():\n"
        "    return 0.1\n"
    )
    (pkg / "test_inside.py").write_text(
        "import asyncio\n\nasync def test_inside():\n    await asyncio.sleep(0.3)\n"
    )
    pytester.makepyfile(
        test_outside="""
            import asyncio

            async def test_outside(async_timeout):
                assert async_timeout.timeout_seconds == 5
                await asyncio.sleep(0.3)
        """
    )
    result = run_alt("-rA")
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines_random(
        [
            "test_inside timed out after 0.1s (async timeout)*",
            "FAILED pkg/test_inside.py::test_inside*",
            "PASSED test_outside.py::test_outside",
        ]
    )


def test_module_scoped_fixture_takes_module_default_not_function_default(pytester, run_alt):
    pytester.makepyfile(
        test_patient="""
            import asyncio
            import pytest

            @pytest.fixture
            def default_async_timeout():
                return 0.05

            @pytest.fixture(scope="module")
            def module_default_async_timeout():
                return 2

            @pytest.fixture(scope="module")
            async def module_resource(async_timeout):
                assert async_timeout.timeout_seconds == 2
                await asyncio.sleep(0.2)
                return "ready"

            async def test_patient(module_resource):
                assert module_resource == "ready"
        """,
        test_impatient="""
            import asyncio
            import pytest

            @pytest.fixture
            def default_async_timeout():
                return 2

            @pytest.fixture(scope="module")
            def module_default_async_timeout():
                return 0.1

            @pytest.fixture(scope="module")
            async def module_resource():
                await asyncio.sleep(0.3)

            async def test_impatient(module_resource):
                pass
        """,
    )
    result = run_alt("-rA")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines_random(
        [
            "PASSED test_patient.py::test_patient",
            "fixture 'module_resource' timed out after 0.1s during setup (async timeout)*",
            "ERROR test_impatient.py::test_impatient*",
        ]
    )


def test_wider_scoped_fixtures_skip_narrower_defaults(pytester, run_alt):
    pytester.makeconftest(
        """
        import asyncio
        import pytest

        @pytest.fixture(scope="session")
        async def session_resource(async_timeout):
            return async_timeout.timeout_seconds
        """
    )
    pytester.makepyfile(
        """
        import pytest

        @pytest.fixture
        def default_async_timeout():
            return 0.1

        @pytest.fixture(scope="module")
        def module_default_async_timeout():
            return 0.2

        class TestClass:
            @pytest.fixture(scope="class")
            def class_default_async_timeout(self):
                return 0.3

            @pytest.fixture(scope="class")
            async def class_resource(self, async_timeout):
                return async_timeout.timeout_seconds

            async def test_scopes(self, class_resource, session_resource, async_timeout):
                assert async_timeout.timeout_seconds == 0.1
                assert class_resource == 0.3
                assert session_resource == 4
        """
    )
    result = run_alt("--default-async-timeout=4")
    result.assert_outcomes(passed=1)


def test_a_test_timing_out_inside_getfixturevalue_fails_with_its_own_timeout(pytester, run_alt):
    pytester.makepyfile(SUITE_NESTED_TIMEOUT)
    result = run_alt()
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines(["*test_outer timed out after 0.3s (async timeout)*"])
    assert "the task running pytest was cancelled" not in result.stdout.str()
    assert "During handling" not in result.stdout.str()


def test_a_shorter_timeout_fires_on_time_beside_longer_ones(pytester, run_alt):
    """Deadlines share one loop timer: one set after longer ones, and after
    many that were armed and forgotten, still fires when it is due."""
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        @pytest.mark.parametrize("n", range(200))
        async def test_many_short_phases(n):
            await asyncio.sleep(0)

        async def test_long_timeout(async_timeout):
            async_timeout.set_timeout_seconds(30)
            await asyncio.sleep(1.5)

        async def test_short_timeout(async_timeout):
            await asyncio.sleep(0.05)  # after the long one is armed
            async_timeout.set_timeout_seconds(0.2)
            await asyncio.sleep(1.0)
        """
    )
    result = run_alt("--default-async-timeout=20")
    result.assert_outcomes(passed=201, failed=1)
    result.stdout.fnmatch_lines(["*test_short_timeout timed out after 0.2s (async timeout)*"])


def test_a_tests_timeout_runs_while_it_waits_in_getfixturevalue(pytester, run_alt):
    """The test's own clock runs from its start, even when its first wait is
    inside a fixture it asks for, which has a longer timeout of its own."""
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.fixture
        async def slow():
            await asyncio.sleep(10)

        async def test_outer(request, async_timeout):
            async_timeout.set_timeout_seconds(0.3)
            request.getfixturevalue("slow")

        async def test_next():
            await asyncio.sleep(0)
        """
    )
    result = run_alt("--default-async-timeout=5")
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines(["*test_outer timed out after 0.3s (async timeout)*"])
    assert "fixture 'slow' timed out" not in result.stdout.str()


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
@pytest.mark.parametrize("asked", ["slow_module_fixture", "sync_module_fixture"])
def test_a_wider_fixture_cut_short_by_its_requesters_timeout_is_set_up_afresh(
    pytester, run_alt, mode, asked
):
    """The test that asked for it (directly, or through a sync fixture that
    asks for it) timed out; the fixture itself did not fail: the next test
    that needs it sets it up anew."""
    pytester.makepyfile(
        f"""
        import asyncio
        import pytest

        SETUPS = []

        @pytest.fixture(scope="module")
        def module_default_async_timeout():
            return 5.0

        @pytest.fixture(scope="module")
        async def slow_module_fixture():
            SETUPS.append(1)
            await asyncio.sleep(0.6)
            return "ready"

        @pytest.fixture(scope="module")
        def sync_module_fixture(request):
            return request.getfixturevalue("slow_module_fixture")

        @pytest.mark.asyncio_sequential
        async def test_asks_and_times_out(request, async_timeout):
            async_timeout.set_timeout_seconds(0.2)
            request.getfixturevalue("{asked}")

        async def test_needs_it({asked}):
            assert {asked} == "ready"
            assert len(SETUPS) == 2
        """
    )
    result = run_alt(*mode_args(mode))
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines(["*test_asks_and_times_out timed out after 0.2s (async timeout)*"])


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_a_timeout_fires_after_an_earlier_one_was_disarmed(pytester, run_alt, mode):
    # The fixture's short timeout is armed, then disarmed as its setup ends;
    # the test's longer one, armed after it, must still fire on time.
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.fixture
        async def quick(async_timeout):
            async_timeout.set_timeout_seconds(0.2)
            await asyncio.sleep(0.01)

        async def test_slow(quick, async_timeout):
            async_timeout.set_timeout_seconds(0.5)
            await asyncio.sleep(3)
        """
    )
    result = run_alt(*mode_args(mode))
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*test_slow timed out after 0.5s (async timeout)*"])


def test_each_cooperative_tests_timeout_fires_after_anothers_fired(pytester, run_alt):
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        async def test_first(async_timeout):
            async_timeout.set_timeout_seconds(0.2)
            await asyncio.sleep(3)

        async def test_second(async_timeout):
            async_timeout.set_timeout_seconds(0.5)
            await asyncio.sleep(3)
        """
    )
    result = run_alt()
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines_random(
        [
            "*test_first timed out after 0.2s (async timeout)*",
            "*test_second timed out after 0.5s (async timeout)*",
        ]
    )


def test_a_timeout_names_the_await_chain_it_was_waiting_in(pytester, run_alt):
    pytester.makepyfile(
        """
        import asyncio

        async def inner():
            await asyncio.sleep(5)

        async def outer():
            await inner()

        async def test_nested(async_timeout):
            async_timeout.set_timeout_seconds(0.2)
            await outer()
        """
    )
    result = run_alt()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*test_nested timed out after 0.2s (async timeout); it was waiting at "
            "test_a_timeout_names_the_await_chain_it_was_waiting_in.py:4 in inner "
            "(await chain: *:11 in test_nested -> *:7 in outer -> *:4 in inner)*"
        ]
    )


def test_a_timeout_names_the_suites_line_not_the_installed_code_it_awaits(pytester, run_alt):
    # A library's sleep (anyio's, say) is where the wait is, but the line a
    # user looks for is the suite's own that awaits it; the chain shows both.
    library = pytester.mkdir("site-packages").joinpath("slowlib.py")
    library.write_text("import asyncio\n\nasync def nap():\n    await asyncio.sleep(5)\n")
    pytester.makeini("[pytest]\npythonpath = site-packages\n")
    pytester.makepyfile(
        """
        import slowlib

        async def test_naps(async_timeout):
            async_timeout.set_timeout_seconds(0.2)
            await slowlib.nap()
        """
    )
    result = run_alt()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*test_naps timed out after 0.2s (async timeout); it was waiting at "
            "test_a_timeout_names_the_suites_line_not_the_installed_code_it_awaits.py:5 "
            "in test_naps (await chain: *:5 in test_naps -> *slowlib.py:4 in nap)*"
        ]
    )


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_a_timeout_names_the_line_inside_an_async_generator_it_waits_in(pytester, run_alt, mode):
    # `async with connect():` and `async for` wait inside an async generator:
    # the line named is the generator's, not contextlib's or the caller's.
    test_file = pytester.makepyfile(
        """
        import asyncio
        import contextlib
        import pytest

        @contextlib.asynccontextmanager
        async def connect():
            await asyncio.sleep(5)
            yield "conn"

        @pytest.fixture
        async def conn():
            async with connect() as conn:
                yield conn

        async def test_uses_conn(conn):
            pass

        async def numbers():
            await asyncio.sleep(5)
            yield 1

        async def test_async_for():
            async for _ in numbers():
                pass
        """
    )
    result = run_alt("--default-async-timeout=0.2", *mode_args(mode))
    result.assert_outcomes(failed=1, errors=1)
    name = test_file.name
    result.stdout.fnmatch_lines_random(
        [
            f"*fixture 'conn' timed out after 0.2s during setup (async timeout); it was waiting "
            f"at {name}:7 in connect (await chain: *:12 in conn -> *contextlib.py:* in "
            f"__aenter__ -> *:7 in connect)*",
            f"*test_async_for timed out after 0.2s (async timeout); it was waiting at "
            f"{name}:19 in numbers (await chain: *:23 in test_async_for -> *:19 in numbers)*",
        ]
    )


def test_no_timer_of_alt_coops_is_left_on_the_loop_between_tests(pytester, run_alt):
    # A common conftest check (aiohttp's, Home Assistant's): no timer left
    # scheduled after a test. alt_coop's timeouts must not trip it.
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.fixture(autouse=True)
        async def no_lingering_timers():
            loop = asyncio.get_running_loop()
            yield
            lingering = [h for h in loop._scheduled if not h.cancelled()]
            assert not lingering, f"lingering timers: {lingering!r}"

        @pytest.fixture
        async def waits_in_teardown():
            await asyncio.sleep(0.01)
            yield
            await asyncio.sleep(0.01)

        async def test_sleeps(waits_in_teardown):
            await asyncio.sleep(0.01)

        async def test_sleeps_again():
            await asyncio.sleep(0.01)
        """
    )
    run_alt().assert_outcomes(passed=2)


def test_the_fixtures_listing_says_async_timeout_is_each_tests_own(pytester, run_alt):
    # Session-scoped, so that session-scoped sync fixtures may ask for it,
    # it is listed as such: its line said only "this fixture's or test's
    # own", read as the session's.
    pytester.makepyfile("def test_nothing():\n    pass\n")
    result = run_alt("--fixtures")
    result.stdout.fnmatch_lines(
        [
            "async_timeout [[]session scope[]] -- *pytest_plugin.py:*",
            "    Each async fixture's and test's own timeout: call ``set_timeout_seconds(n)``.",
        ]
    )


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_a_fixture_of_your_own_named_async_timeout_is_an_error_not_ignored(
    pytester, run_alt, mode
):
    # alt-pytest-asyncio let an override stand; alt_coop would hand async code
    # its own timeout in its place, silently.
    pytester.makepyfile(
        """
        import pytest

        SENTINEL = object()

        @pytest.fixture(scope="session")
        def async_timeout():
            return SENTINEL

        @pytest.fixture
        async def resource(async_timeout):
            return async_timeout

        async def test_async(async_timeout):
            assert async_timeout is SENTINEL

        async def test_through_a_fixture(resource):
            assert resource is SENTINEL

        def test_sync(async_timeout):  # the user's own fixture, for sync code
            assert async_timeout is SENTINEL
        """
    )
    result = run_alt(*mode_args(mode))
    result.assert_outcomes(passed=1, failed=1, errors=1)
    message = (
        "fixture 'async_timeout' is alt_coop's: each async fixture and test gets its own "
        "timeout through it, so a fixture of your own by that name would be ignored. Rename "
        "yours; to change timeouts, override default_async_timeout (or a scoped "
        "*_default_async_timeout fixture)"
    )
    result.stdout.fnmatch_lines(["*_ test_async _*", message])
    result.stdout.fnmatch_lines(["*_ ERROR at setup of test_through_a_fixture _*", message])


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_a_timed_out_hypothesis_test_shows_its_failing_example(pytester, run_alt, mode):
    # A timeout fails with its message alone (pytrace=False), which dropped
    # the notes Hypothesis adds to the error: its falsifying example.
    pytester.makepyfile(
        """
        import asyncio
        from hypothesis import given, settings, strategies as st

        @given(x=st.integers(min_value=0, max_value=10))
        @settings(max_examples=30, deadline=None, database=None)
        async def test_slow_for_big(async_timeout, x):
            async_timeout.set_timeout_seconds(0.1)
            if x > 5:
                await asyncio.sleep(1)
        """
    )
    result = run_alt(*WITH_HYPOTHESIS, *mode_args(mode))
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*test_slow_for_big timed out after 0.1s*", "*- Notes -*", "*x=6,*"]
    )
