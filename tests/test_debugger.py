"""Debugger-aware timeouts: a timeout does not cancel while someone is debugging."""

from __future__ import annotations

import re
import sys
import textwrap
import time

import pytest
from conftest import ISOLATE, WRAPPERS, mode_args

#: A stand-in for PyCharm's / VS Code's debugger: a trace function from a module
#: named ``pydevd``.
FAKE_PYDEVD = """
def trace(frame, event, arg):
    return trace
"""

#: A test module whose tests await past their 0.1 s timeout with ``tracer``
#: installed (or with none, for ``test_without_tracer``).
TRACED_TESTS = """
import asyncio
import sys
import threading
import pytest

@pytest.fixture
def default_async_timeout():
    return 0.1

async def test_with_tracer():
    {setup}
    old = sys.gettrace()
    sys.settrace(tracer)
    try:
        await asyncio.sleep(0.3)
    finally:
        sys.settrace(old)

async def test_without_tracer():
    await asyncio.sleep(0.3)
"""


def traced_tests(setup: str) -> str:
    return TRACED_TESTS.replace("{setup}", setup)


# -- the override option ------------------------------------------------------


def test_never_mode_does_not_cancel(pytester, run_alt):
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.fixture
        def default_async_timeout():
            return 0.05

        @pytest.fixture
        async def slow_fixture():
            await asyncio.sleep(0.2)
            yield
            await asyncio.sleep(0.2)

        async def test_slow(slow_fixture):
            await asyncio.sleep(0.2)
        """
    )
    result = run_alt("--async-timeouts-under-debugger=never")
    result.assert_outcomes(passed=1)


def test_never_mode_from_ini(pytester, run_alt):
    pytester.makeini("[pytest]\nasync_timeouts_under_debugger = never\n")
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.fixture
        def default_async_timeout():
            return 0.05

        async def test_slow():
            await asyncio.sleep(0.2)
        """
    )
    result = run_alt()
    result.assert_outcomes(passed=1)


def test_cli_mode_beats_ini_mode(pytester, run_alt):
    pytester.makeini("[pytest]\nasync_timeouts_under_debugger = never\n")
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.fixture
        def default_async_timeout():
            return 0.05

        async def test_slow():
            await asyncio.sleep(0.2)
        """
    )
    result = run_alt("--async-timeouts-under-debugger=always")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*test_slow timed out after 0.05s (async timeout)*"])


def test_bad_mode_on_the_command_line_is_a_usage_error(pytester, run_alt):
    pytester.makepyfile("async def test_any():\n    pass\n")
    result = run_alt("--async-timeouts-under-debugger=sometimes")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--async-timeouts-under-debugger*invalid choice*sometimes*"])


def test_bad_mode_in_ini_is_a_usage_error(pytester, run_alt):
    pytester.makeini("[pytest]\nasync_timeouts_under_debugger = sometimes\n")
    pytester.makepyfile("async def test_any():\n    pass\n")
    result = run_alt()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*ini option async_timeouts_under_debugger must be one of auto, always, never*"]
    )


# -- debuggers that trace -------------------------------------------------------


def test_pydevd_tracer_suspends_the_timeout(pytester, run_alt):
    pytester.makepyfile(pydevd=FAKE_PYDEVD)
    pytester.makepyfile(
        test_traced=traced_tests("import pydevd; tracer = pydevd.trace"),
    )
    result = run_alt("-rA")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines_random(
        [
            "PASSED *::test_with_tracer",
            "test_without_tracer timed out after 0.1s (async timeout)*",
        ]
    )


def test_explicit_auto_mode_is_the_default(pytester, run_alt):
    pytester.makepyfile(pydevd=FAKE_PYDEVD)
    pytester.makepyfile(
        test_traced=traced_tests("import pydevd; tracer = pydevd.trace"),
    )
    result = run_alt("-rA", "--async-timeouts-under-debugger=auto")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines_random(
        [
            "PASSED *::test_with_tracer",
            "test_without_tracer timed out after 0.1s (async timeout)*",
        ]
    )


def test_always_mode_cancels_under_a_debugger(pytester, run_alt):
    pytester.makepyfile(pydevd=FAKE_PYDEVD)
    pytester.makepyfile(
        test_traced=traced_tests("import pydevd; tracer = pydevd.trace"),
    )
    result = run_alt("--async-timeouts-under-debugger=always")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines_random(
        [
            "test_with_tracer timed out after 0.1s (async timeout)*",
            "test_without_tracer timed out after 0.1s (async timeout)*",
        ]
    )


def test_bdb_tracer_suspends_the_timeout(pytester, run_alt):
    pytester.makepyfile(
        test_traced=traced_tests(
            "import bdb; debugger = bdb.Bdb(); debugger.reset(); tracer = debugger.trace_dispatch"
        ),
    )
    result = run_alt("-rA")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines_random(
        [
            "PASSED *::test_with_tracer",
            "test_without_tracer timed out after 0.1s (async timeout)*",
        ]
    )


def test_tracer_that_is_no_debugger_does_not_suspend(pytester, run_alt):
    pytester.makepyfile(
        test_traced=traced_tests(
            "def tracer(frame, event, arg):\n        return tracer\n",
        ),
    )
    result = run_alt()
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines_random(
        [
            "test_with_tracer timed out after 0.1s (async timeout)*",
            "test_without_tracer timed out after 0.1s (async timeout)*",
        ]
    )


def test_debugger_tracing_new_threads_suspends_the_timeout(pytester, run_alt):
    pytester.makepyfile(pydevd=FAKE_PYDEVD)
    pytester.makepyfile(
        """
        import asyncio
        import threading
        import pytest
        import pydevd

        @pytest.fixture
        def default_async_timeout():
            return 0.1

        async def test_threading_trace():
            old = threading.gettrace()
            threading.settrace(pydevd.trace)
            try:
                await asyncio.sleep(0.3)
            finally:
                threading.settrace(old)
        """
    )
    result = run_alt()
    result.assert_outcomes(passed=1)


def test_connected_debugpy_client_suspends_the_timeout(pytester, run_alt):
    pytester.makepyfile(
        debugpy="""
        CONNECTED = False

        def is_client_connected():
            return CONNECTED
        """
    )
    pytester.makepyfile(
        test_debugpy="""
        import asyncio
        import pytest
        import debugpy

        @pytest.fixture
        def default_async_timeout():
            return 0.1

        async def test_connected():
            debugpy.CONNECTED = True
            try:
                await asyncio.sleep(0.3)
            finally:
                debugpy.CONNECTED = False

        async def test_not_connected():
            await asyncio.sleep(0.3)
        """
    )
    result = run_alt("-rA")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines_random(
        [
            "PASSED *::test_connected",
            "test_not_connected timed out after 0.1s (async timeout)*",
        ]
    )


# -- debuggers that use sys.monitoring (3.12+) ------------------------------------

MONITORED_TEST = """
import asyncio
import sys
import pytest

@pytest.fixture
def default_async_timeout():
    return 0.1

async def test_monitored():
    monitoring = sys.monitoring
    monitoring.use_tool_id(monitoring.DEBUGGER_ID, {tool!r})
    try:
        await asyncio.sleep(0.3)
    finally:
        monitoring.free_tool_id(monitoring.DEBUGGER_ID)
"""


@pytest.mark.skipif(sys.version_info < (3, 12), reason="sys.monitoring is new in 3.12")
def test_monitoring_debugger_suspends_the_timeout(pytester, run_alt):
    pytester.makepyfile(MONITORED_TEST.replace("{tool!r}", repr("pydevd")))
    result = run_alt()
    result.assert_outcomes(passed=1)


@pytest.mark.skipif(sys.version_info < (3, 12), reason="sys.monitoring is new in 3.12")
def test_monitoring_tool_that_is_no_debugger_does_not_suspend(pytester, run_alt):
    pytester.makepyfile(MONITORED_TEST.replace("{tool!r}", repr("datadog_handled_exceptions")))
    result = run_alt()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*test_monitored timed out after 0.1s (async timeout)*"])


# -- coverage is not a debugger ----------------------------------------------------


def test_coverage_does_not_count_as_a_debugger(pytester, run_alt_subprocess):
    pytester.makepyfile(
        """
        import asyncio
        import sys
        import pytest

        @pytest.fixture
        def default_async_timeout():
            return 0.1

        def coverage_is_measuring():
            if sys.gettrace() is not None:
                return True
            monitoring = getattr(sys, "monitoring", None)
            return monitoring is not None and monitoring.get_tool(monitoring.COVERAGE_ID)

        async def test_slow():
            assert coverage_is_measuring()
            await asyncio.sleep(0.3)
        """
    )
    result = run_alt_subprocess("-p", "pytest_cov", "--cov", "--cov-report=term", timeout=60)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*test_slow timed out after 0.1s (async timeout)*",
            "*coverage: *",
            "TOTAL*",
        ]
    )


# -- pytest's own debugger ----------------------------------------------------------


def test_pdb_session_suspends_timeouts(pytester, run_alt_subprocess):
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.fixture
        def default_async_timeout():
            return 0.05

        @pytest.fixture
        async def slow_fixture():
            await asyncio.sleep(0.2)
            yield
            await asyncio.sleep(0.2)

        async def test_slow(slow_fixture):
            await asyncio.sleep(0.2)
        """
    )
    result = run_alt_subprocess("--pdb", timeout=60)
    result.assert_outcomes(passed=1)


@pytest.mark.parametrize("cooperative", [False, True])
def test_trace_stops_at_the_first_line_of_an_async_test(pytester, cooperative):
    # --trace wraps the test function in a synchronous one that steps into
    # it: for an async test that only made the coroutine, which never ran.
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.fixture
        async def base():
            await asyncio.sleep(0)
            return 40

        async def test_steps(base):
            total = base + 1
            await asyncio.sleep(0.01)
            total += 1
            assert total == 43, "stopped short"
        """
    )
    option = ["--asyncio-cooperative"] if cooperative else []
    result = pytester.run(
        sys.executable,
        "-m",
        "pytest",
        *ISOLATE,
        "-p",
        "alt_coop.enable",
        "--trace",
        *option,
        stdin=b"p base * 10\nn\nn\nn\np total\nc\n",
        timeout=60,
    )
    result.stdout.fnmatch_lines(
        [
            "*>*test_trace_stops_at_the_first_line_of_an_async_test.py(10)test_steps()",
            "-> total = base + 1",
            "(Pdb) 400",
            "*-> await asyncio.sleep(0.01)",
            "*-> total += 1",
            "*-> assert total == 43*",
            "(Pdb) 42",
        ]
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*AssertionError: stopped short*"])
    assert "never awaited" not in result.stdout.str() + result.stderr.str()


def test_trace_steps_into_an_async_test_behind_a_plain_wrapper(pytester):
    # --trace's stand-in called the wrapper, whose coroutine it dropped: the
    # test passed, its body never run.
    pytester.makepyfile(
        wrappers=WRAPPERS,
        test_wrapped="""
        import asyncio
        from wrappers import logged

        @logged
        async def test_steps():
            total = 41
            await asyncio.sleep(0.01)
            assert total == 42, "the body ran"
        """,
    )
    result = pytester.run(
        sys.executable,
        *("-m", "pytest", *ISOLATE, "-p", "alt_coop.enable", "--trace"),
        stdin=b"n\np total\nc\n",
        timeout=60,
    )
    result.stdout.fnmatch_lines(["*-> total = 41", "*(Pdb) 41"])
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*AssertionError: the body ran*"])
    assert "never awaited" not in result.stdout.str() + result.stderr.str()


@pytest.mark.parametrize("body", ["async", "thread"])
def test_breakpoint_in_a_cooperative_test_talks_to_the_terminal(pytester, body):
    # The debugger's output went into the test's captured output: at a
    # terminal, a bare prompt answered nothing.
    test = (
        """
        @pytest.mark.asyncio_cooperative
        async def test_debugged():
            await asyncio.sleep(0.05)
            x = 41
            print("before")
            breakpoint()
            print("after")
            assert x == 40
        """
        if body == "async"
        else """
        @pytest.mark.asyncio_cooperative
        def test_debugged():
            x = 41
            print("before")
            breakpoint()
            print("after")
            assert x == 40
        """
    )
    pytester.makepyfile(
        "import asyncio\nimport pytest\n"
        + textwrap.dedent(test)
        + textwrap.dedent(
            """
            @pytest.mark.asyncio_cooperative
            async def test_beside():
                print("beside")
                await asyncio.sleep(0.2)
                print("beside again")
                assert False
            """
        )
    )
    result = pytester.run(
        sys.executable,
        "-m",
        "pytest",
        *ISOLATE,
        "-p",
        "alt_coop.enable",
        "--asyncio-block-threshold=1000",
        stdin=b"p x + 1\nc\n",
        timeout=60,
    )
    result.assert_outcomes(failed=2)
    output = result.stdout.str()
    before_failures = output.split("= FAILURES =")[0]
    assert "(Pdb) 42" in before_failures, output
    # pdb stops after breakpoint() up to 3.12, at it from 3.13.
    assert re.search(r'^-> (breakpoint\(\)|print\("after"\))$', before_failures, re.M), output
    for test, printed in (
        ("test_debugged", "before\nafter\n"),
        ("test_beside", "beside\nbeside again\n"),
    ):
        section = output.split(f"_ {test} _", 1)[1]
        assert re.search(rf" Captured stdout call -+\n{re.escape(printed)}", section), output
    assert output.count("(Pdb)") == 2, output  # the prompt, and its answer's line


def test_time_at_a_breakpoint_is_not_a_hold_of_the_loop(pytester, run_alt_subprocess):
    # The person at the prompt held the loop, not the test: no warning says so.
    pytester.makepyfile(
        slow_pdb="""
        import time

        class SlowPdb:
            def __init__(self, *args, **kwargs):
                pass

            def set_trace(self, frame=None):
                time.sleep(0.4)  # someone reading the prompt
        """
    )
    pytester.makepyfile(
        test_holds="""
        import asyncio
        import time
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        async def test_debugged():
            await asyncio.sleep(0)
            breakpoint()

        async def test_blocks():
            await asyncio.sleep(0)
            time.sleep(0.4)

        async def test_beside():
            await asyncio.sleep(0.1)
        """
    )
    result = run_alt_subprocess(
        "--pdbcls=slow_pdb:SlowPdb", "--asyncio-block-threshold=0.2", timeout=60
    )
    result.assert_outcomes(passed=3, warnings=1)
    result.stdout.fnmatch_lines(["*test_holds.py::test_blocks held the loop for 0.4*"])
    assert "test_debugged held the loop" not in result.stdout.str()


#: A pdb class for ``--pdbcls`` that continues at once, so ``breakpoint()`` goes
#: through pytest's debugger hooks without anyone at the keyboard.
CONTINUING_PDB = """
class ContinuingPdb:
    def __init__(self, *args, **kwargs):
        pass

    def do_continue(self, arg):
        return 1

    def set_trace(self, frame=None):
        self.do_continue("")
"""

#: A debugger pytest does not know of (``pdb.Pdb().set_trace()``, as ipdb's and
#: pudb's): someone at its prompt for ``AtThePrompt.seconds``, who then continues.
AT_THE_PROMPT = """
import pdb
import time

class AtThePrompt(pdb.Pdb):
    seconds = 0.5

    def interaction(self, frame, traceback):
        time.sleep(self.seconds)
        self.set_continue()
"""


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_a_debugger_pytest_does_not_know_suspends_timeouts_for_that_test(
    pytester, run_alt_subprocess, mode
):
    # pdb.Pdb().set_trace() (ipdb's and pudb's alike) goes around pytest's
    # debugger hooks. While its user sits at the prompt the loop is blocked;
    # by the time the overdue timeout fires, the user has typed "c" and the
    # debugger has stopped tracing. The test is not cancelled all the same.
    pytester.makepyfile(at_the_prompt=AT_THE_PROMPT)
    pytester.makepyfile(
        test_breaks="""
        import asyncio
        import time
        import pytest
        from at_the_prompt import AtThePrompt

        @pytest.fixture
        def default_async_timeout():
            return 0.2

        async def test_breaks():
            await asyncio.sleep(0)
            AtThePrompt().set_trace()
            await asyncio.sleep(0.05)

        async def test_blocks_without_a_debugger():
            await asyncio.sleep(0)
            time.sleep(0.5)
            await asyncio.sleep(0.05)
        """
    )
    result = run_alt_subprocess(
        "-rA", "--asyncio-block-threshold=0.3", *mode_args(mode), timeout=60
    )
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines_random(
        [
            "PASSED *::test_breaks",
            "*test_blocks_without_a_debugger timed out after 0.2s (async timeout)*",
        ]
    )
    # The time at the prompt is not the test's code holding the loop.
    assert "test_breaks held the loop" not in result.stdout.str()


@pytest.mark.parametrize("limit", ["timeout", "cap"])
def test_time_at_a_breakpoint_in_the_cleanup_after_a_timeout_does_not_abandon_it(
    pytester, run_alt_subprocess, limit
):
    # The test is cancelled by its timeout (or cooperative cap), then stops at
    # a breakpoint in its clean-up: the time its user sits at the prompt is
    # no part of the grace a cancelled test has to end, and its clean-up runs.
    pytester.makepyfile(at_the_prompt=AT_THE_PROMPT)
    pytester.makepyfile(
        test_breaks="""
        import asyncio
        import pytest
        from at_the_prompt import AtThePrompt

        AtThePrompt.seconds = 2.5  # longer than the grace

        @pytest.fixture
        def default_async_timeout():
            return 0.2 if LIMIT == "timeout" else 30

        @pytest.mark.asyncio_cooperative
        async def test_breaks():
            try:
                await asyncio.sleep(5)
            except asyncio.CancelledError:
                AtThePrompt().set_trace()
                await asyncio.sleep(0.1)
                print("cleanup finished")
                raise
        """.replace("LIMIT", repr(limit))
    )
    cap = ("--asyncio-task-timeout=0.2",) if limit == "cap" else ()
    result = run_alt_subprocess("-rA", *cap, timeout=60)
    result.assert_outcomes(failed=1)
    expected = (
        "*test_breaks timed out after 0.2s (async timeout)*"
        if limit == "timeout"
        else "*the test exceeded asyncio_task_timeout: 0.2s*"
    )
    result.stdout.fnmatch_lines([expected, "cleanup finished"])
    assert "abandoned" not in result.stdout.str()


def test_another_tests_timeouts_due_while_one_steps_in_the_debugger_fire_after(
    pytester, run_alt_subprocess
):
    # Stepping over an await ("n") keeps pdb tracing while the loop runs the
    # other tests: a timeout or cap of theirs that came due then was dropped
    # for good, and a test that never ended hung the run.
    pytester.makepyfile(
        step_then_continue="""
        import pdb
        import time

        class StepThenContinue(pdb.Pdb):
            stops = 0

            def interaction(self, frame, traceback):
                StepThenContinue.stops += 1
                if StepThenContinue.stops == 1:
                    time.sleep(0.3)  # reading, then "n" over the await
                    self.set_next(frame)
                else:
                    self.set_continue()
        """
    )
    pytester.makepyfile(
        test_steps="""
        import asyncio
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        async def test_debugged():
            await asyncio.sleep(0.05)
            breakpoint()
            await asyncio.sleep(0.3)
            x = 1

        async def test_timed(async_timeout):
            async_timeout.set_timeout_seconds(0.2)
            await asyncio.sleep(3)

        async def test_capped():
            await asyncio.sleep(3)
        """
    )
    result = run_alt_subprocess(
        "-rA",
        "--asyncio-task-timeout=0.25",
        "--pdbcls=step_then_continue:StepThenContinue",
        timeout=60,
    )
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines_random(
        [
            "PASSED *::test_debugged",
            "FAILED *::test_timed - *test_timed timed out after 0.2s*",
            "FAILED *::test_capped - *",
        ]
    )
    result.stdout.fnmatch_lines(["*the test exceeded asyncio_task_timeout: 0.25s*"])


def test_sys_settrace_called_from_no_python_code_is_no_debugger(pytester, run_alt_subprocess):
    # A thread started on sys.settrace itself has no Python caller to look at.
    pytester.makepyfile(
        """
        import _thread
        import asyncio
        import sys
        import time

        async def test_traces_in_a_thread(async_timeout):
            async_timeout.set_timeout_seconds(0.3)
            _thread.start_new_thread(sys.settrace, (None,))
            time.sleep(0.1)
            await asyncio.sleep(1)
        """
    )
    result = run_alt_subprocess("-W", "error::pytest.PytestUnraisableExceptionWarning")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*test_traces_in_a_thread timed out after 0.3s*"])
    assert "ValueError" not in result.stdout.str()


def test_breakpoint_suspends_timeouts_for_that_test(pytester, run_alt_subprocess):
    pytester.makepyfile(continuing_pdb=CONTINUING_PDB)
    pytester.makepyfile(
        test_breaks="""
        import asyncio
        import pytest

        @pytest.fixture
        def default_async_timeout():
            return 0.1

        async def test_breaks():
            await asyncio.sleep(0)
            breakpoint()
            await asyncio.sleep(0.3)

        async def test_next_test_times_out_again():
            await asyncio.sleep(0.3)
        """
    )
    result = run_alt_subprocess("-rA", "--pdbcls=continuing_pdb:ContinuingPdb", timeout=60)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines_random(
        [
            "PASSED *::test_breaks",
            "test_next_test_times_out_again timed out after 0.1s (async timeout)*",
        ]
    )


def test_breakpoint_in_a_cooperative_test_suspends_only_that_tests_timeouts(
    pytester, run_alt_subprocess
):
    # Tests run at once: the one that entered the debugger is not cancelled,
    # even after another finishes; the others' timeouts still fire.
    pytester.makepyfile(continuing_pdb=CONTINUING_PDB)
    pytester.makepyfile(
        test_breaks="""
        import asyncio
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        @pytest.fixture
        def default_async_timeout():
            return 0.3

        async def test_breaks():
            await asyncio.sleep(0.05)
            breakpoint()
            await asyncio.sleep(0.6)

        async def test_finishes_meanwhile():
            await asyncio.sleep(0.1)

        async def test_times_out_meanwhile():
            await asyncio.sleep(2)
        """
    )
    result = run_alt_subprocess("-rA", "--pdbcls=continuing_pdb:ContinuingPdb", timeout=60)
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines_random(
        [
            "PASSED *::test_breaks",
            "PASSED *::test_finishes_meanwhile",
            "*test_times_out_meanwhile timed out after 0.3s (async timeout)*",
        ]
    )


def test_breakpoint_in_a_cooperative_test_suspends_its_task_cap(pytester, run_alt_subprocess):
    pytester.makepyfile(continuing_pdb=CONTINUING_PDB)
    pytester.makepyfile(
        test_breaks="""
        import asyncio
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        async def test_breaks():
            await asyncio.sleep(0.05)
            breakpoint()
            await asyncio.sleep(0.6)

        async def test_capped():
            await asyncio.sleep(2)
        """
    )
    result = run_alt_subprocess(
        "-rA", "--asyncio-task-timeout=0.3", "--pdbcls=continuing_pdb:ContinuingPdb", timeout=60
    )
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines_random(["PASSED *::test_breaks", "FAILED *::test_capped*"])
    result.stdout.fnmatch_lines(["*exceeded asyncio_task_timeout: 0.3s*test_capped"])


def test_breakpoint_in_a_cooperative_thread_body_suspends_its_task_cap(
    pytester, run_alt_subprocess
):
    # A plain def test's body runs in a worker thread, outside any phase of
    # its own: the cap fired under the person at the prompt all the same.
    pytester.makepyfile(continuing_pdb=CONTINUING_PDB)
    pytester.makepyfile(
        test_breaks="""
        import time
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        def test_breaks():
            time.sleep(0.05)
            breakpoint()
            time.sleep(0.6)

        def test_capped():
            time.sleep(0.6)
        """
    )
    result = run_alt_subprocess(
        "-rA", "--asyncio-task-timeout=0.3", "--pdbcls=continuing_pdb:ContinuingPdb", timeout=60
    )
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines_random(["PASSED *::test_breaks", "FAILED *::test_capped*"])
    result.stdout.fnmatch_lines(
        [
            "*_ test_capped _*",
            "the test exceeded asyncio_task_timeout: 0.3s for its whole run, fixtures "
            "included; its body, in a worker thread, was at test_breaks.py:12 in test_capped *",
        ]
    )


def test_breakpoint_in_a_teardown_another_test_runs_suspends_its_timeout(
    pytester, run_alt_subprocess
):
    # The sequential test set the module fixture up; the cooperative test's
    # other param tears it down, and that teardown enters the debugger.
    pytester.makepyfile(continuing_pdb=CONTINUING_PDB)
    pytester.makepyfile(
        test_breaks="""
        import asyncio
        import pytest

        @pytest.fixture(scope="module")
        def module_default_async_timeout():
            return 0.3

        @pytest.fixture(scope="module")
        async def res(request):
            yield getattr(request, "param", None)
            breakpoint()
            await asyncio.sleep(0.6)

        @pytest.mark.parametrize("res", [1], indirect=True)
        def test_sequential(res):
            assert res == 1

        @pytest.mark.asyncio_cooperative
        async def test_cooperative(res):
            assert res is None
        """
    )
    result = run_alt_subprocess("--pdbcls=continuing_pdb:ContinuingPdb", timeout=60)
    result.assert_outcomes(passed=2)


# pytester's pty session forks from an xdist worker, which has threads of its own.
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_interactive_breakpoint_suspends_timeouts(pytester):
    pytest.importorskip("pexpect")
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.fixture
        def default_async_timeout():
            return 0.3

        async def test_breaks():
            await asyncio.sleep(0)
            breakpoint()
            await asyncio.sleep(0.1)
        """
    )
    child = pytester.spawn_pytest(" ".join((*ISOLATE, "-p", "alt_coop.enable")), expect_timeout=30)
    child.expect(r"\(Pdb\)")
    time.sleep(0.6)
    child.sendline("c")
    child.expect(r"(\d+ \w+,? )+in ")
    output = child.before.decode() + child.after.decode()
    child.wait()
    assert "1 passed in " in output, output
    assert "timed out" not in output, output
