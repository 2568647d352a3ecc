"""Ctrl-C during an async test: cleanup runs, pytest reports the interruption."""

from __future__ import annotations

import sys
import textwrap

import pytest
from conftest import ISOLATE, TAKE_BACK_OWN_CANCELLATIONS, interrupt_when, mode_args

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGINT is POSIX-only here")


def test_ctrl_c_during_async_test_runs_finally_and_teardown(pytester: pytest.Pytester) -> None:
    marker = pytester.path / "test-started.txt"
    test_file = pytester.makepyfile(
        f"""
        import asyncio
        import pytest

        @pytest.fixture(scope="module")
        async def resource():
            await asyncio.sleep(0)
            yield "resource"
            await asyncio.sleep(0)
            print("FIXTURE TEARDOWN", flush=True)

        async def test_first_fails(resource):
            await asyncio.sleep(0)
            assert resource == "something else"

        async def test_second_sleeps(resource):
            with open({str(marker)!r}, "w") as f:
                f.write("started")
            try:
                await asyncio.sleep(30)
            finally:
                print("TEST FINALLY", flush=True)
        """
    )
    output, returncode, started, interrupted, ended = interrupt_when(
        [sys.executable, "-m", "pytest", *ISOLATE, "-p", "alt_coop.enable", "-s", str(test_file)],
        pytester.path,
        marker.exists,
        "the second test started",
    )

    assert ended - interrupted < 5, output
    assert ended - started < 25, output
    assert "TEST FINALLY" in output
    assert "FIXTURE TEARDOWN" in output
    # pytest's one line names the user's waiting line, as for a sync test.
    sleep_line = test_file.read_text().splitlines().index("        await asyncio.sleep(30)") + 1
    assert f"{test_file.name}:{sleep_line}: KeyboardInterrupt" in output, output
    assert "1 failed" in output
    assert "assert 'resource' == 'something else'" in output
    assert output.index("TEST FINALLY") < output.index("FIXTURE TEARDOWN")
    assert returncode == pytest.ExitCode.INTERRUPTED, output


def test_ctrl_c_during_a_sync_test_names_the_tests_line(pytester: pytest.Pytester) -> None:
    marker = pytester.path / "test-started.txt"
    test_file = pytester.makepyfile(
        f"""
        import time

        def test_sleeps():
            with open({str(marker)!r}, "w") as f:
                f.write("started")
            time.sleep(30)
        """
    )
    output, returncode, _, interrupted, ended = interrupt_when(
        [sys.executable, "-m", "pytest", *ISOLATE, "-p", "alt_coop.enable", str(test_file)],
        pytester.path,
        marker.exists,
        "the test started",
    )
    assert ended - interrupted < 5, output
    assert returncode == pytest.ExitCode.INTERRUPTED, output
    sleep_line = test_file.read_text().splitlines().index("    time.sleep(30)") + 1
    assert f"{test_file.name}:{sleep_line}: KeyboardInterrupt" in output, output
    assert "alt_coop/" not in output, output


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_ctrl_c_after_a_test_took_back_its_own_cancellations(
    pytester: pytest.Pytester, mode: str
) -> None:
    # asyncio.timeout and TaskGroup cancel the test's task and take the
    # cancellation back; Ctrl-C afterwards is still an interrupt.
    marker = pytester.path / "test-started.txt"
    test_file = pytester.makepyfile(
        textwrap.dedent(
            f"""
            import asyncio

            async def test_times_out_then_sleeps():
                await take_back_own_cancellations()
                with open({str(marker)!r}, "w") as f:
                    f.write("started")
                await asyncio.sleep(30)
            """
        )
        + TAKE_BACK_OWN_CANCELLATIONS
    )
    output, returncode, _, interrupted, ended = interrupt_when(
        [
            *(sys.executable, "-m", "pytest", *ISOLATE, "-p", "alt_coop.enable", str(test_file)),
            *mode_args(mode),
        ],
        pytester.path,
        marker.exists,
        "the test reached its long sleep",
    )
    assert ended - interrupted < 5, output
    assert returncode == pytest.ExitCode.INTERRUPTED, output
    assert "CancelledError" not in output and "failed" not in output, output
    sleep_line = test_file.read_text().splitlines().index("    await asyncio.sleep(30)") + 1
    assert f"{test_file.name}:{sleep_line}: KeyboardInterrupt" in output, output


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_ctrl_c_while_an_async_tests_sync_code_holds_the_loop_names_that_line(
    pytester: pytest.Pytester, mode: str
) -> None:
    # The cancellation cannot reach code that never awaits again: the
    # interrupt comes once the test is over, naming the line it came during.
    marker = pytester.path / "test-started.txt"
    test_file = pytester.makepyfile(
        f"""
        import time

        async def test_blocks_the_loop():
            with open({str(marker)!r}, "w") as f:
                f.write("started")
            time.sleep(2)

        async def test_after():
            print("NEXT TEST RAN")
        """
    )
    output, returncode, _, _, _ = interrupt_when(
        [
            *(sys.executable, "-m", "pytest", *ISOLATE, "-p", "alt_coop.enable", "-s"),
            *(str(test_file), *mode_args(mode)),
        ],
        pytester.path,
        marker.exists,
        "the test blocked the loop",
    )
    assert returncode == pytest.ExitCode.INTERRUPTED, output
    assert "NEXT TEST RAN" not in output, output
    sleep_line = test_file.read_text().splitlines().index("    time.sleep(2)") + 1
    assert f"{test_file.name}:{sleep_line}: KeyboardInterrupt" in output, output


#: Where sync code holds the loop when Ctrl-C comes (the other places pass).
HOLDING_THE_LOOP = ["async fixture setup", "test body", "sync fixture setup", "sync teardown"]


@pytest.mark.parametrize("where", HOLDING_THE_LOOP)
@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_ctrl_c_while_sync_code_holds_the_loop_tears_every_fixture_down_in_full(
    pytester: pytest.Pytester, mode: str, where: str
) -> None:
    # The code runs on (it cannot be cut short where it is) and returns;
    # what was set up is torn down in full, however the teardowns await, and
    # pytest's line names where the code was when Ctrl-C came.
    marker = pytester.path / "started.txt"
    log = pytester.path / "log.txt"
    hold = f"open({str(marker)!r}, 'w').close(); time.sleep(2)"
    code = {place: hold if place == where else "pass" for place in HOLDING_THE_LOOP}
    test_file = pytester.makepyfile(
        f"""
        import asyncio
        import time
        import pytest

        def note(what):
            with open({str(log)!r}, "a") as f:
                f.write(what + "\\n")

        @pytest.fixture
        async def connection():
            note("connection set up")
            {code["async fixture setup"]}
            yield
            note("connection closing")
            await asyncio.sleep(0.05)
            note("connection closed")

        @pytest.fixture
        def settings(connection):
            {code["sync fixture setup"]}
            yield
            {code["sync teardown"]}

        @pytest.fixture
        def later(settings):
            note("later set up")

        async def test_it(later):
            note("body")
            await asyncio.sleep(0 if {where!r} in ("test body", "sync teardown") else 30)
            {code["test body"]}
        """
    )
    output, returncode, _, _, _ = interrupt_when(
        [
            *(sys.executable, "-m", "pytest", *ISOLATE, "-p", "alt_coop.enable", "-rA"),
            *(str(test_file), *mode_args(mode)),
        ],
        pytester.path,
        marker.exists,
        "the sync code held the loop",
    )
    assert returncode == pytest.ExitCode.INTERRUPTED, output
    notes = log.read_text().splitlines()
    if where == "sync teardown":
        # As documented: a sequential run stops that code at once (and pytest
        # tears down no further fixture of the test); a cooperative one's
        # next await meets the interrupt.
        assert notes[0] == "connection set up", output
    else:
        ran = ["later set up", "body"] if where == "test body" else []  # nothing after the code
        assert notes == ["connection set up", *ran, "connection closing", "connection closed"], (
            output
        )
    line = next(n for n, text in enumerate(test_file.read_text().splitlines(), 1) if hold in text)
    assert f"{test_file.name}:{line}: KeyboardInterrupt" in output, output
    if where != "sync teardown":  # the test had passed then
        assert "PASSED" not in output and "passed" not in output.splitlines()[-1], output


def test_ctrl_c_while_a_nested_sessions_test_holds_the_loop_names_that_line(
    pytester: pytest.Pytester,
) -> None:
    # The outer session's handler saw Ctrl-C: the inner session said the
    # task running pytest was cancelled, naming no line.
    marker = pytester.path / "test-started.txt"
    pytester.makepyfile(
        test_outer=f"""
        import pytest
        import alt_coop

        async def test_outer():
            pytest.main([*{ISOLATE!r}, "-s", "inner"], plugins=[alt_coop.Plugin()])
        """
    )
    inner = pytester.mkdir("inner")
    (inner / "test_inner.py").write_text(
        textwrap.dedent(
            f"""
            import time

            async def test_blocks_the_loop():
                with open({str(marker)!r}, "w") as f:
                    f.write("started")
                time.sleep(2)
            """
        )
    )
    output, returncode, _, _, _ = interrupt_when(
        [sys.executable, "-m", "pytest", *ISOLATE, "-p", "alt_coop.enable", "-s", "test_outer.py"],
        pytester.path,
        marker.exists,
        "the inner test blocked the loop",
    )
    assert returncode == pytest.ExitCode.INTERRUPTED, output
    assert "the task running pytest was cancelled" not in output, output
    lines = (inner / "test_inner.py").read_text().splitlines()
    sleep_line = lines.index("    time.sleep(2)") + 1
    assert f"test_inner.py:{sleep_line}: KeyboardInterrupt" in output, output


TURNS_THE_INTERRUPT_INTO_AN_ERROR = """
import asyncio
import pytest

@pytest.fixture
async def resource():
    yield
    await asyncio.sleep(0.01)
    print("FIXTURE TEARDOWN", flush=True)

async def test_cleanup_fails(resource):
    with open({marker!r}, "w") as f:
        f.write("started")
    try:
        await asyncio.sleep(30)
    except asyncio.CancelledError:
        raise RuntimeError("cleanup failed")

async def test_after():
    print("NEXT TEST RAN", flush=True)
"""


BOUNDED_CLEANUP = """async with asyncio.timeout(0.05):
            await asyncio.sleep(1)"""


@pytest.mark.parametrize("cleanup", ["raises", "times_out"])
@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_a_test_turning_ctrl_c_into_an_error_fails_with_it_and_stops_the_run(
    pytester: pytest.Pytester, mode: str, cleanup: str
) -> None:
    # Sequential: the failure was lost ("no tests ran"), and pytest's line
    # named pluggy's source; cooperative: it named alt_coop's scheduler.
    # A cleanup bounded by asyncio.timeout: the line named its own wait.
    marker = pytester.path / "test-started.txt"
    source = TURNS_THE_INTERRUPT_INTO_AN_ERROR.format(marker=str(marker))
    if cleanup == "times_out":
        source = source.replace('raise RuntimeError("cleanup failed")', BOUNDED_CLEANUP)
    test_file = pytester.makepyfile(source)
    output, returncode, _, _, _ = interrupt_when(
        [
            *(sys.executable, "-m", "pytest", *ISOLATE, "-p", "alt_coop.enable", "-s"),
            *("-rA", str(test_file), *mode_args(mode)),
        ],
        pytester.path,
        marker.exists,
        "the test reached its long sleep",
    )
    assert returncode == pytest.ExitCode.INTERRUPTED, output
    assert "FAILED test_a_test_turning_ctrl_c_into_an_error" in output, output
    error = "RuntimeError: cleanup failed" if cleanup == "raises" else "TimeoutError"
    assert error in output, output
    assert "FIXTURE TEARDOWN" in output and "ERROR" not in output, output
    if mode == "sequential":
        assert "NEXT TEST RAN" not in output and "1 failed in" in output, output
    else:  # the other test ran beside it, and was over
        assert "1 failed, 1 passed in" in output, output
    sleep_line = source.lstrip().splitlines().index("        await asyncio.sleep(30)") + 1
    assert f"{test_file.name}:{sleep_line}: KeyboardInterrupt" in output, output


def test_a_test_turning_ctrl_c_into_an_error_is_not_run_again_by_rerunfailures(
    pytester: pytest.Pytester,
) -> None:
    # pytest-rerunfailures reruns a failed test inside its own protocol
    # hook: the rerun ran in full, as if no Ctrl-C had come.
    marker = pytester.path / "test-started.txt"
    source = TURNS_THE_INTERRUPT_INTO_AN_ERROR.format(marker=str(marker)).replace(
        'f.write("started")', 'f.write("started")\n    print("ATTEMPT", flush=True)'
    )
    test_file = pytester.makepyfile(source)
    output, returncode, _, interrupted, ended = interrupt_when(
        [
            *(sys.executable, "-m", "pytest", *ISOLATE, "-p", "alt_coop.enable", "-s"),
            *("-p", "rerunfailures", "--reruns", "2", str(test_file)),
        ],
        pytester.path,
        marker.exists,
        "the test reached its long sleep",
    )
    assert returncode == pytest.ExitCode.INTERRUPTED, output
    assert output.count("ATTEMPT") == 1, output
    assert "NEXT TEST RAN" not in output, output
    assert ended - interrupted < 5, output


SWALLOWS_FOREVER = """
import asyncio
import pytest

@pytest.fixture
async def resource():
    yield
    print("FIXTURE TEARDOWN", flush=True)

async def test_swallows(resource, async_timeout):
    async_timeout.set_timeout_seconds(60)
    with open({marker!r}, "w") as f:
        f.write("started")
    while True:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            print("SWALLOWED", flush=True)
"""


@pytest.mark.parametrize("second", [None, 1.0], ids=["one Ctrl-C", "two Ctrl-Cs"])
def test_ctrl_c_gives_a_test_that_ignores_it_a_bounded_grace(
    pytester: pytest.Pytester, second: float | None
) -> None:
    # One Ctrl-C waited for the test's own timeout (here a minute); a second
    # one waited 2 s more. Now the first waits 5 s, as for cooperative tests,
    # and the second gives up at once; the fixtures are torn down either way.
    marker = pytester.path / "test-started.txt"
    test_file = pytester.makepyfile(SWALLOWS_FOREVER.format(marker=str(marker)))
    output, returncode, _, interrupted, ended = interrupt_when(
        [sys.executable, "-m", "pytest", *ISOLATE, "-p", "alt_coop.enable", "-s", str(test_file)],
        pytester.path,
        marker.exists,
        "the test started",
        again_after=second,
        communicate_timeout=40,
    )
    assert ended - interrupted < 30, output
    assert returncode == pytest.ExitCode.INTERRUPTED, output
    assert "SWALLOWED" in output and "FIXTURE TEARDOWN" in output, output
    assert (
        "alt_coop: the fixture or test was still running after Ctrl-C cancelled it, and was "
        "abandoned" in output
    ), output
    assert "did not end within" not in output, output
    assert "failed" not in output, output
    # pytest's one line names where the test waited, not alt_coop's line.
    sleep_line = (
        test_file.read_text().splitlines().index("            await asyncio.sleep(10)") + 1
    )
    assert f"{test_file.name}:{sleep_line}: KeyboardInterrupt" in output, output


SWALLOWS_AND_RETURNS = """
import asyncio

async def test_swallows():
    with open({marker!r}, "w") as f:
        f.write("started")
    try:
        await asyncio.sleep(30)
    except asyncio.CancelledError:
        pass
"""

THEN_TIMES_OUT = """
    try:
        async with asyncio.timeout(0.05):
            await asyncio.sleep(1)
    except TimeoutError:
        pass
"""


@pytest.mark.parametrize("then", ["returns", "times out by itself"])
@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_ctrl_c_swallowed_by_a_test_that_returns_names_where_it_met_the_test(
    pytester: pytest.Pytester, mode: str, then: str
) -> None:
    # pytest's one line named pluggy's source: the interrupt raised after
    # the test returned had no line of the test's. Nor does the line of a
    # cancellation of the test's own, later, stand in for it.
    marker = pytester.path / "test-started.txt"
    source = SWALLOWS_AND_RETURNS.format(marker=str(marker))
    test_file = pytester.makepyfile(source + (THEN_TIMES_OUT if then != "returns" else ""))
    output, returncode, _, _, _ = interrupt_when(
        [
            *(sys.executable, "-m", "pytest", *ISOLATE, "-p", "alt_coop.enable"),
            *(str(test_file), *mode_args(mode)),
        ],
        pytester.path,
        marker.exists,
        "the test started",
    )
    assert returncode == pytest.ExitCode.INTERRUPTED, output
    assert "no tests ran" in output, output
    sleep_line = test_file.read_text().splitlines().index("        await asyncio.sleep(30)") + 1
    assert f"{test_file.name}:{sleep_line}: KeyboardInterrupt" in output, output


def test_ctrl_c_while_a_loop_blocks_leftovers_clean_up_starts_no_further_round(
    pytester: pytest.Pytester,
) -> None:
    """The tasks a leftover's clean-up starts are cancelled in a further
    round; after a Ctrl-C, none starts (each round waits its grace)."""
    marker = pytester.path / "clean-up-started.txt"
    test_file = pytester.makepyfile(
        f"""
        import asyncio

        import pytest

        import alt_coop


        async def stubborn(name, then=None):
            while True:
                try:
                    await asyncio.sleep(100)
                except asyncio.CancelledError:
                    print(name, "ignores its cancellation", flush=True)
                    if then is not None:
                        asyncio.ensure_future(then())
                        then = None


        async def third():
            await stubborn("THIRD")


        async def second():
            await stubborn("SECOND", then=third)


        async def leftover():
            try:
                await asyncio.sleep(100)
            finally:
                asyncio.ensure_future(second())
                with open({str(marker)!r}, "w") as f:
                    f.write("started")


        @pytest.fixture
        def fresh_loop():
            with alt_coop.Loop() as loop:
                yield loop


        async def test_leaves_a_task(fresh_loop):
            asyncio.ensure_future(leftover())
            await asyncio.sleep(0)
        """
    )
    output, *_ = interrupt_when(
        [sys.executable, "-m", "pytest", *ISOLATE, "-p", "alt_coop.enable", "-s", str(test_file)],
        pytester.path,
        marker.exists,
        "the leftover's clean-up started a task",
    )
    assert "SECOND ignores its cancellation" in output, output
    assert "THIRD ignores its cancellation" not in output, output


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_a_task_ignoring_ctrl_cs_cancellation_is_cancelled_once(
    pytester: pytest.Pytester, mode: str
) -> None:
    # A test awaiting a task that ignores its cancellation: in a batch, the
    # task was cancelled again when the batch gave the test up, and again at
    # the session's end (a second cancellation cuts a clean-up short), and
    # the warning at the end named alt_coop's own task running the test.
    marker = pytester.path / "test-started.txt"
    log = pytester.path / "child.log"
    test_file = pytester.makepyfile(
        f"""
        import asyncio

        async def child():
            for _ in range(5):
                try:
                    await asyncio.sleep(100)
                except asyncio.CancelledError as cancelled:
                    with open({str(log)!r}, "a") as f:
                        f.write(f"CANCELLED {{cancelled.args}}\\n")

        async def test_waits_for_its_child():
            with open({str(marker)!r}, "w") as f:
                f.write("started")
            await asyncio.create_task(child(), name="the-child")
        """
    )
    output, returncode, _, interrupted, ended = interrupt_when(
        [
            *(sys.executable, "-m", "pytest", *ISOLATE, "-p", "alt_coop.enable"),
            *(str(test_file), *mode_args(mode)),
        ],
        pytester.path,
        marker.exists,
        "the test started",
        communicate_timeout=30,
    )
    assert returncode == pytest.ExitCode.INTERRUPTED, output
    assert log.read_text().count("CANCELLED") == 1, log.read_text() + output
    assert ended - interrupted < 15, output  # the grace, then the child's at the end
    assert "(drive)" not in output, output
    assert "the-child (child)" in output, output


@pytest.mark.parametrize("warnings", ["default", "error"])
@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_ctrl_c_while_the_session_waits_for_left_tasks_keeps_the_report(
    pytester: pytest.Pytester, mode: str, warnings: str
) -> None:
    # The interrupt stopped the wait, but came out of pytest's sessionfinish
    # as a raw traceback, with no summary and no exit status of pytest's.
    marker = pytester.path / "left-task-cancelled.txt"
    test_file = pytester.makepyfile(
        f"""
        import asyncio


        async def stubborn():
            try:
                await asyncio.sleep(100)
            except asyncio.CancelledError:
                with open({str(marker)!r}, "w") as f:
                    f.write("cancelled")
                await asyncio.sleep(100)


        async def test_fail():
            assert 0, "QUICK FAIL"


        async def test_leaves_a_task():
            asyncio.create_task(stubborn())
            await asyncio.sleep(0)
        """
    )
    output, returncode, _, interrupted, ended = interrupt_when(
        [
            *(sys.executable, "-m", "pytest", *ISOLATE, "-p", "alt_coop.enable"),
            *(str(test_file), "-W", warnings, *mode_args(mode)),
        ],
        pytester.path,
        marker.exists,
        "the session's end cancelled the task left running",
    )
    assert returncode == pytest.ExitCode.INTERRUPTED, output
    assert "Traceback" not in output, output
    assert "QUICK FAIL" in output, output
    assert "1 failed, 1 passed" in output, output
    assert (
        "KeyboardInterrupt: interrupted at the end of the session, while the tasks the tests "
        "left running were ending"
        # -W error: the warning naming the task is said there too.
        + ("; and AltCoopWarning: alt_coop cancelled 1 task(s)" if warnings == "error" else "")
    ) in output, output
    assert (
        "the wait for these was cut short by an interrupt, and they were left where they "
        "waited: Task-"
    ) in output, output
    assert ended - interrupted < 1.5, output  # not the rest of the 2 s grace


@pytest.mark.parametrize("where", ["test", "module fixture"])
@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_ctrl_c_after_a_test_removed_its_own_sigint_handler(
    pytester: pytest.Pytester, mode: str, where: str
) -> None:
    # asyncio's remove_signal_handler puts Python's default handler back, not
    # the one that was there: Ctrl-C in a later test (of a later batch) is
    # still handled as usual, its finally blocks run and pytest names its line.
    marker = pytester.path / "test-started.txt"
    pytester.makepyfile(
        test_a_handler=f"""
        import asyncio
        import signal

        import pytest

        @pytest.fixture(scope="module")
        async def handles_ctrl_c():
            loop = asyncio.get_running_loop()
            if {where!r} == "module fixture":
                loop.add_signal_handler(signal.SIGINT, print, "own handler")
            yield
            if {where!r} == "module fixture":
                loop.remove_signal_handler(signal.SIGINT)

        async def test_handles_ctrl_c_itself(handles_ctrl_c):
            loop = asyncio.get_running_loop()
            if {where!r} == "test":
                loop.add_signal_handler(signal.SIGINT, print, "own handler")
                loop.remove_signal_handler(signal.SIGINT)

        async def test_last_of_the_module(handles_ctrl_c):
            pass

        def test_between_batches():
            pass
        """
    )
    test_file = pytester.makepyfile(
        test_b_sleeps=f"""
        import asyncio

        async def test_sleeps():
            await asyncio.sleep(0.1)
            with open({str(marker)!r}, "w") as f:
                f.write("started")
            try:
                await asyncio.sleep(30)
            finally:
                print("TEST FINALLY", flush=True)
        """
    )
    output, returncode, _, interrupted, ended = interrupt_when(
        [
            *(sys.executable, "-m", "pytest", *ISOLATE, "-p", "alt_coop.enable", "-s"),
            *mode_args(mode),
        ],
        pytester.path,
        marker.exists,
        "the sleeping test started",
    )
    assert ended - interrupted < 5, output
    assert returncode == pytest.ExitCode.INTERRUPTED, output
    assert "TEST FINALLY" in output, output
    sleep_line = test_file.read_text().splitlines().index("        await asyncio.sleep(30)") + 1
    assert f"{test_file.name}:{sleep_line}: KeyboardInterrupt" in output, output


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_a_sigint_handler_a_test_sets_on_purpose_stays_while_it_runs(
    pytester: pytest.Pytester, mode: str
) -> None:
    # Code that handles KeyboardInterrupt itself, tested with Python's own
    # handler in place (set by a fixture, or by the test, with other tests
    # starting meanwhile): its signal is its own, not the session's Ctrl-C.
    # The two that set it take turns (a resource of their own): each puts
    # back the handler it found, which the other may have set.
    test_file = pytester.makepyfile(
        """
        import asyncio
        import os
        import signal
        import time
        import pytest

        sets_the_handler = pytest.mark.asyncio_resources("sigint")

        def cli_main():
            try:
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(1)
            except KeyboardInterrupt:
                return "stopped"

        @pytest.fixture
        def python_handler():
            old = signal.signal(signal.SIGINT, signal.default_int_handler)
            yield
            signal.signal(signal.SIGINT, old)

        @sets_the_handler
        async def test_fixture_sets_it(python_handler):
            await asyncio.sleep(0)
            assert cli_main() == "stopped"

        @sets_the_handler
        async def test_sets_it_itself():
            old = signal.signal(signal.SIGINT, signal.default_int_handler)
            try:
                await asyncio.sleep(0.2)
                assert cli_main() == "stopped"
            finally:
                signal.signal(signal.SIGINT, old)

        @pytest.mark.parametrize("i", range(2))
        async def test_starts_meanwhile(i):
            await asyncio.sleep(0.05 * (i + 1))
        """
    )
    result = pytester.runpytest_subprocess(
        *ISOLATE,
        "-p",
        "alt_coop.enable",
        str(test_file),
        *mode_args(mode),
        "--max-asyncio-tasks=2",
        timeout=60,
    )
    result.assert_outcomes(passed=4)


def test_a_session_fixtures_own_sigint_handler_stays_for_the_tests_after(
    pytester: pytest.Pytester,
) -> None:
    # A session-wide fixture that gives Ctrl-C back to Python on purpose: the
    # tests after the first (run one at a time) still find Python's handler.
    pytester.makepyfile(
        """
        import signal
        import pytest

        @pytest.fixture(scope="session")
        def python_handler():
            signal.signal(signal.SIGINT, signal.default_int_handler)
            yield

        @pytest.mark.parametrize("i", range(3))
        async def test_finds_pythons_handler(python_handler, i):
            assert signal.getsignal(signal.SIGINT) is signal.default_int_handler

        def test_sync_too(python_handler):
            assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        """
    )
    result = pytester.runpytest_subprocess(*ISOLATE, "-p", "alt_coop.enable", timeout=60)
    result.assert_outcomes(passed=4)


@pytest.mark.parametrize("scope", ["function", "module"])
def test_a_fixtures_own_sigint_handler_reset_to_pythons_as_it_ends_is_taken_back(
    pytester: pytest.Pytester, scope: str
) -> None:
    # A fixture with a handler of its own, which it resets to Python's
    # default as it ends: the tests after it have alt_coop's again.
    pytester.makepyfile(
        test_a=f"""
        import signal
        import pytest

        @pytest.fixture(scope="{scope}")
        def own_handler():
            signal.signal(signal.SIGINT, lambda *args: None)
            yield
            signal.signal(signal.SIGINT, signal.default_int_handler)

        @pytest.mark.parametrize("i", range(2))
        async def test_a(own_handler, i):
            pass
        """,
        test_b="""
        import signal

        async def test_b():
            assert signal.getsignal(signal.SIGINT) is not signal.default_int_handler
        """,
    )
    result = pytester.runpytest_subprocess(*ISOLATE, "-p", "alt_coop.enable", timeout=60)
    result.assert_outcomes(passed=3)
