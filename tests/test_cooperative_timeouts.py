"""Cooperative tests: timeouts per phase and per test (--asyncio-task-timeout)."""

from __future__ import annotations

import pytest
from conftest import mode_args
from cooperative_support import (
    events_conftest,
    failure_sections,
    read_events,
    verbose_lines,
)


def test_task_timeout_covers_fixtures_and_test_together(pytester, run_alt):
    events_conftest(pytester)
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        from conftest import log

        pytestmark = pytest.mark.asyncio_cooperative

        @pytest.fixture
        async def slow_fixture():
            await asyncio.sleep(0.15)
            yield
            log("teardown slow_fixture")

        @pytest.fixture
        async def quick_fixture():
            await asyncio.sleep(0.05)

        async def test_too_slow_in_all(slow_fixture):
            await asyncio.sleep(0.15)
            log("body finished")

        async def test_quick_in_all(quick_fixture):
            await asyncio.sleep(0.05)
        """
    )
    result = run_alt("-v", "--asyncio-task-timeout=0.2")
    result.assert_outcomes(passed=1, failed=1)
    assert verbose_lines(result.stdout.str()) == {
        "test_too_slow_in_all": ["FAILED"],
        "test_quick_in_all": ["PASSED"],
    }
    # It names the line the test was waiting at, and nothing else comes with it.
    result.stdout.fnmatch_lines(
        [
            "*_ test_too_slow_in_all _*",
            "the test exceeded asyncio_task_timeout: 0.2s for its whole run, fixtures included"
            "; it was waiting at test_*.py:18 in test_too_slow_in_all",
        ]
    )
    result.stdout.no_fnmatch_line("*During handling*")
    result.stdout.no_fnmatch_line("*All traceback entries are hidden*")
    events = read_events(pytester)
    assert "body finished" not in events
    assert events.count("teardown slow_fixture") == 1


def test_a_sync_test_body_ends_before_its_fixtures_are_torn_down(pytester, run_alt):
    # A thread cannot be stopped: when the cap expires, teardown waits for it.
    events_conftest(pytester)
    pytester.makepyfile(
        """
        import time
        import pytest
        from conftest import log

        @pytest.fixture
        async def resource():
            yield
            log("teardown")

        @pytest.mark.asyncio_cooperative
        def test_sync_body(resource):
            time.sleep(0.6)
            log("body done")
        """
    )
    result = run_alt("--asyncio-task-timeout=0.2")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*the test exceeded asyncio_task_timeout: 0.2s*"])
    assert read_events(pytester) == ["body done", "teardown"]


def test_the_cap_of_a_sync_test_names_the_line_its_thread_was_at(pytester, run_alt):
    # The report said only that every traceback entry was hidden.
    pytester.makepyfile(
        helper="""
        import time

        def wait_in_a_library():
            time.sleep(0.6)
        """
    )
    pytester.makepyfile(
        """
        import time
        import pytest
        from helper import wait_in_a_library

        @pytest.mark.asyncio_cooperative
        def test_sync_body():
            wait_in_a_library()
        """
    )
    result = run_alt("--asyncio-task-timeout=0.2")
    result.assert_outcomes(failed=1)
    section = failure_sections(result.stdout.str())["test_sync_body"]
    assert (
        "the test exceeded asyncio_task_timeout: 0.2s for its whole run, fixtures included; "
        "its body, in a worker thread, was at helper.py:4 in wait_in_a_library "
        "(a thread cannot be stopped: the test ended when it returned)" in section
    ), section
    assert "All traceback entries are hidden" not in section, section


def test_the_error_a_sync_body_raises_after_its_cap_fired_is_shown_with_the_cap(pytester, run_alt):
    # As an async test's error raised while its cancellation ends it: the
    # body's own failure was dropped, only the cap's shown.
    pytester.makepyfile(
        """
        import time
        import pytest

        @pytest.mark.asyncio_cooperative
        def test_sync_body():
            time.sleep(0.6)
            assert [1, 2] == [1, 3], "the body's own failure"

        @pytest.mark.asyncio_cooperative
        def test_sync_body_returns():
            time.sleep(0.6)
        """
    )
    result = run_alt("--asyncio-task-timeout=0.2")
    result.assert_outcomes(failed=2)
    sections = failure_sections(result.stdout.str())
    failed = sections["test_sync_body"]
    assert "the body's own failure" in failed, failed
    assert "At index 1 diff: 2 != 3" in failed, failed
    assert "the test exceeded asyncio_task_timeout: 0.2s" in failed, failed
    returned = sections["test_sync_body_returns"]
    assert "the test exceeded asyncio_task_timeout: 0.2s" in returned, returned


def test_task_timeout_swallowed_by_the_test_or_a_fixture_still_fails(pytester, run_alt):
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        @pytest.fixture
        async def swallowing_fixture():
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                pass
            yield

        async def test_swallows():
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                pass

        async def test_fixture_swallows(swallowing_fixture):
            pass
        """
    )
    result = run_alt("-v", "--asyncio-task-timeout=0.2")
    assert verbose_lines(result.stdout.str()) == {
        "test_swallows": ["FAILED"],
        "test_fixture_swallows": ["ERROR"],
    }, result.stdout.str()
    # One report section per test; the short summary repeats the message, in
    # full or cut to the terminal's width depending on pytest's CI detection.
    message = "the test exceeded asyncio_task_timeout: 0.2s for its whole run, fixtures included"
    sections = sorted(line for line in result.stdout.lines if line.startswith(message))
    assert len(sections) == 2, result.stdout.str()
    assert sections[0].endswith(".py:16 in test_swallows"), sections
    assert sections[1].endswith(".py:9 in swallowing_fixture"), sections


def test_a_test_that_keeps_ignoring_the_task_timeout_is_abandoned(pytester, run_alt_subprocess):
    # Its own timeout (30s) is far away: the cap gives up on it after the
    # grace period a timeout gives (2s), not at that timeout.
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        async def test_stubborn():
            while True:
                try:
                    await asyncio.sleep(10)
                except asyncio.CancelledError:
                    pass

        async def test_other():
            await asyncio.sleep(0.1)
        """
    )
    result = run_alt_subprocess(
        "-v", "--asyncio-task-timeout=0.2", "--default-async-timeout=30", timeout=20
    )
    assert verbose_lines(result.stdout.str()) == {
        "test_stubborn": ["FAILED"],
        "test_other": ["PASSED"],
    }, result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "*the test exceeded asyncio_task_timeout: 0.2s for its whole run, fixtures included"
            "; it was waiting at test_*.py:9 in test_stubborn"
            "; it did not end within 2s of being cancelled, and was abandoned*"
        ]
    )


@pytest.mark.parametrize("ignores", [False, True], ids=["waits", "ignores"])
def test_the_cap_of_a_test_ending_a_fixture_another_set_up_names_that_teardown(
    pytester, run_alt_subprocess, ignores
):
    # The teardown runs in the context of the test that set the fixture up:
    # the cap, found there, was that test's (long over). The report named no
    # line, and a teardown ignoring the cancellation ran to its own timeout.
    body = (
        """
            while True:
                try:
                    await asyncio.sleep(0.1)
                except asyncio.CancelledError:
                    pass
        """
        if ignores
        else "await asyncio.sleep(3)"
    )
    pytester.makepyfile(
        f"""
        import asyncio
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        @pytest.fixture(scope="module")
        async def shared():
            yield
            {body}

        async def test_sets_up(shared):
            pass

        async def test_ends(shared):
            await asyncio.sleep(0.1)
        """
    )
    result = run_alt_subprocess(
        "-p",
        "no:randomly",
        "--asyncio-task-timeout=0.5",
        "--default-async-timeout=30",
        timeout=20,
    )
    waited = 12 if ignores else 9
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_ends*",
            "*the test exceeded asyncio_task_timeout: 0.5s for its whole run, fixtures included"
            f"; it was waiting at test_*.py:{waited} in shared"
            + (
                "; it did not end within 2s of being cancelled, and was abandoned*"
                if ignores
                else "*"
            ),
        ]
    )
    result.assert_outcomes(passed=2, errors=1)


def test_a_cap_that_expired_first_is_what_a_test_ignoring_it_fails_with(
    pytester, run_alt_subprocess
):
    # Its own timeout fired within the cap's grace and cancelled it again:
    # the report named that timeout and the line of the second wait.
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        async def test_stubborn(async_timeout):
            async_timeout.set_timeout_seconds(1.5)
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                while True:
                    try:
                        await asyncio.sleep(0.5)
                    except asyncio.CancelledError:
                        print("CANCELLED AGAIN")
        """
    )
    result = run_alt_subprocess("-s", "--asyncio-task-timeout=0.5", timeout=20)
    result.stdout.fnmatch_lines(
        [
            "*the test exceeded asyncio_task_timeout: 0.5s for its whole run, fixtures included"
            "; it was waiting at test_*.py:9 in test_stubborn"
            "; it did not end within 2s of being cancelled, and was abandoned*"
        ]
    )
    assert "CANCELLED AGAIN" not in result.stdout.str()
    result.assert_outcomes(failed=1)


def test_task_timeout_from_ini(pytester, run_alt):
    events_conftest(pytester)
    pytester.makeini("[pytest]\nasyncio_task_timeout = 0.2\n")
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        @pytest.fixture
        async def slow_fixture():
            await asyncio.sleep(0.15)

        async def test_too_slow_in_all(slow_fixture):
            await asyncio.sleep(0.15)
        """
    )
    result = run_alt("-v")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*the test exceeded asyncio_task_timeout: 0.2s*"])


def test_per_phase_timeouts_apply_in_cooperative_runs(pytester, run_alt):
    events_conftest(pytester)
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        @pytest.fixture
        async def slow_setup():
            await asyncio.sleep(0.5)

        @pytest.fixture
        async def slow_teardown():
            yield
            await asyncio.sleep(0.5)

        async def test_slow_body():
            await asyncio.sleep(0.5)

        async def test_slow_setup(slow_setup):
            pass

        async def test_slow_teardown(slow_teardown):
            pass

        async def test_in_time():
            await asyncio.sleep(0.05)
        """
    )
    result = run_alt("-v", "--default-async-timeout=0.2")
    result.assert_outcomes(passed=2, failed=1, errors=2)
    assert verbose_lines(result.stdout.str()) == {
        "test_slow_body": ["FAILED"],
        "test_slow_setup": ["ERROR"],
        "test_slow_teardown": ["PASSED", "ERROR"],
        "test_in_time": ["PASSED"],
    }
    result.stdout.fnmatch_lines_random(
        [
            "*test_slow_body timed out after 0.2s (async timeout)*",
            "*fixture 'slow_setup' timed out after 0.2s during setup (async timeout)*",
            "*fixture 'slow_teardown' timed out after 0.2s during teardown (async timeout)*",
        ]
    )


def test_a_test_raising_when_the_cap_cancels_it_fails_naming_the_cap(pytester, run_alt):
    # The cap's cancellation was left on the task: the test's own error was
    # its failure, and the fixture's teardown after it failed naming the cap.
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        @pytest.fixture
        async def resource():
            yield
            await asyncio.sleep(0.01)
            print("TEARDOWN-DONE")

        async def test_raises_instead(resource):
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                raise RuntimeError("RAISED-ON-CAP")
        """
    )
    result = run_alt("--asyncio-task-timeout=0.3", "-s")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "E           RuntimeError: RAISED-ON-CAP",
            "The above exception was the direct cause of the following exception:",
            "E           Failed: the test exceeded asyncio_task_timeout: 0.3s for its whole run*",
        ]
    )
    assert "TEARDOWN-DONE" in result.stdout.str()
    assert "exceptions.CancelledError" not in result.stdout.str()  # its source line has it


def test_an_outcome_from_a_callback_then_the_cap_is_one_failure(pytester, run_alt):
    # The outcome came first; the cap, fired while the test cleaned up after
    # it, says nothing more, and is not left to fail the teardown after it.
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.fixture
        async def resource():
            yield
            await asyncio.sleep(0.01)
            print("TEARDOWN RAN")

        def fail():
            pytest.fail("delivered first")

        async def test_delivered_then_capped(resource):
            asyncio.get_running_loop().call_later(0.1, fail)
            try:
                await asyncio.sleep(5)
            except asyncio.CancelledError:
                await asyncio.sleep(1)  # a clean-up outlasting the cap
                raise
        """
    )
    result = run_alt("-s", "--asyncio-cooperative", "--asyncio-task-timeout=0.5")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["E   *Failed: delivered first"])
    assert "asyncio_task_timeout" not in result.stdout.str()
    assert "TEARDOWN RAN" in result.stdout.str()


def test_a_wider_fixture_one_tests_cap_cut_short_is_set_up_again_by_the_next(pytester, run_alt):
    # test_a's cap expires while it sets the module fixture up: that is
    # test_a's failure, not the fixture's, which test_b then sets up under
    # its own cap.
    events_conftest(pytester)
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        from conftest import log

        pytestmark = pytest.mark.asyncio_cooperative

        @pytest.fixture(scope="module")
        async def server():
            log("server setup starts")
            await asyncio.sleep(0.5)
            log("server set up")
            yield "up"
            log("server torn down")

        async def test_a(request):
            await asyncio.sleep(0.7)
            request.getfixturevalue("server")

        async def test_b(server):
            assert server == "up"
        """
    )
    result = run_alt("-v", "--asyncio-task-timeout=1", "--max-asyncio-tasks=1")
    assert verbose_lines(result.stdout.str()) == {
        "test_a": ["FAILED"],
        "test_b": ["PASSED"],
    }, result.stdout.str()
    result.stdout.fnmatch_lines(
        ["*the test exceeded asyncio_task_timeout: 1s for its whole run, fixtures included*"]
    )
    assert read_events(pytester) == [
        "server setup starts",
        "server setup starts",
        "server set up",
        "server torn down",
    ]


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_an_abandoned_fixture_teardown_leaves_no_error_for_another_test(
    pytester, run_alt_subprocess, monkeypatch, mode
):
    # The async generator, left suspended where it ignored its timeout, was
    # closed by asyncio once collected: "aclose(): asynchronous generator is
    # already running", logged as a task exception never retrieved, in the
    # captured log of whichever test ran then.
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.fixture(scope="module")
        async def server():
            yield

        @pytest.fixture
        async def db():
            yield

        @pytest.fixture
        async def stubborn(async_timeout):
            yield
            async_timeout.set_timeout_seconds(0.1)
            for _ in range(3):
                try:
                    await asyncio.sleep(1)
                except asyncio.CancelledError:
                    pass

        @pytest.mark.parametrize("i", range(2))
        async def test_it(server, db, stubborn, i):
            pass

        def test_after():
            pass
        """
    )
    # When the generator is collected depends on what else the run
    # allocates: with no other plugin loaded, it is during test_after.
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    result = run_alt_subprocess("-rA", *mode_args(mode))
    result.assert_outcomes(passed=3, errors=2)
    result.stdout.fnmatch_lines(["*fixture 'stubborn' timed out after 0.1s during teardown*"])
    output = result.stdout.str() + result.stderr.str()
    assert "already running" not in output, output
    assert "never retrieved" not in output, output
