"""One loop for the session, leftover tasks, ``alt_coop.Loop`` and ``run_coro_as_main``."""

from __future__ import annotations

import sys
import textwrap

import pytest
from conftest import ISOLATE, mode_args

# -- one loop for the whole session ------------------------------------------


def test_fixtures_of_every_scope_and_tests_share_one_running_loop(pytester, run_alt):
    pytester.makeconftest(
        """
        import asyncio
        import pytest

        SEEN = []

        def record(what):
            SEEN.append((what, asyncio.get_running_loop()))

        @pytest.fixture(scope="session")
        async def session_fx():
            record("session setup")
            yield asyncio.get_running_loop()
            record("session teardown")

        @pytest.fixture(scope="package")
        async def package_fx():
            record("package setup")
            yield "package"
            record("package teardown")
        """
    )
    pytester.makepyfile(
        test_a="""
        import asyncio
        import pytest
        from conftest import SEEN, record

        @pytest.fixture(scope="module")
        async def module_fx():
            record("module a setup")
            yield "module"
            await asyncio.sleep(0)
            record("module a teardown")

        @pytest.fixture(scope="class")
        async def class_fx():
            record("class setup")
            return asyncio.get_running_loop()

        @pytest.fixture
        async def function_fx():
            await asyncio.sleep(0.001)
            record("function setup")
            yield asyncio.get_running_loop()
            await asyncio.sleep(0)
            record("function teardown")

        class TestAll:
            async def test_one(self, session_fx, package_fx, module_fx, class_fx, function_fx):
                await asyncio.sleep(0)
                record("test one")
                assert asyncio.get_running_loop() is session_fx
                assert class_fx is session_fx
                assert function_fx is session_fx

            async def test_two(self, session_fx, class_fx, function_fx):
                record("test two")
                assert asyncio.get_running_loop() is session_fx
        """,
        test_b="""
        import asyncio
        from conftest import SEEN, record

        def test_sync_sees_no_running_loop():
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                pass
            else:
                raise AssertionError("a sync test sees a running loop")

        async def test_every_recorded_loop_is_the_same(session_fx, package_fx):
            record("test b")
            whats = [what for what, _ in SEEN]
            for expected in (
                "session setup", "package setup", "module a setup", "class setup",
                "function setup", "function teardown", "module a teardown", "test one",
                "test two",
            ):
                assert expected in whats
            loops = {id(loop) for _, loop in SEEN}
            assert len(loops) == 1, SEEN
            assert asyncio.get_running_loop() is session_fx
            assert not session_fx.is_closed()
        """,
    )
    result = run_alt("-v")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(
        [
            "*test_a.py::TestAll::test_one PASSED*",
            "*test_a.py::TestAll::test_two PASSED*",
            "*test_b.py::test_sync_sees_no_running_loop PASSED*",
            "*test_b.py::test_every_recorded_loop_is_the_same PASSED*",
        ]
    )


def test_async_fixtures_whose_value_is_none_run_once_on_the_session_loop(pytester, run_alt):
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        CALLS = []

        @pytest.fixture(scope="session")
        async def session_loop():
            return asyncio.get_running_loop()

        @pytest.fixture(scope="module")
        async def module_none():
            CALLS.append(("module", asyncio.get_running_loop()))

        @pytest.fixture
        async def function_none():
            await asyncio.sleep(0)
            CALLS.append(("function", asyncio.get_running_loop()))
            yield
            CALLS.append(("function teardown", asyncio.get_running_loop()))

        async def test_uses_them(session_loop, module_none, function_none):
            assert module_none is None
            assert function_none is None
            assert [what for what, _ in CALLS] == ["module", "function"]
            assert all(loop is session_loop for _, loop in CALLS)

        async def test_teardown_ran_on_the_session_loop(session_loop):
            assert [what for what, _ in CALLS] == ["module", "function", "function teardown"]
            assert all(loop is session_loop for _, loop in CALLS)
        """
    )
    result = run_alt("-v")
    result.assert_outcomes(passed=2)


@pytest.mark.parametrize(
    "python_flags", [("-W", "error"), ("-W", "error::DeprecationWarning")], ids=["all", "deprec"]
)
def test_no_deprecation_warning_under_w_error(pytester, python_flags):
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.fixture(scope="session")
        async def session_fx():
            await asyncio.sleep(0)
            yield "s"
            await asyncio.sleep(0)

        @pytest.fixture(scope="module")
        async def module_fx():
            return "m"

        @pytest.fixture
        async def function_fx(session_fx, module_fx):
            await asyncio.sleep(0.001)
            yield session_fx + module_fx

        @pytest.fixture
        def sync_fx():
            return asyncio.run(asyncio.sleep(0, "sync"))

        async def test_one(function_fx):
            await asyncio.sleep(0)
            assert function_fx == "sm"

        async def test_gather(function_fx, sync_fx):
            results = await asyncio.gather(asyncio.sleep(0, 1), asyncio.sleep(0.001, 2))
            assert results == [1, 2]

        class TestClass:
            async def test_method(self, module_fx):
                task = asyncio.create_task(asyncio.sleep(0, "done"))
                assert await task == "done"

        def test_sync():
            assert asyncio.run(asyncio.sleep(0, 3)) == 3
        """
    )
    result = pytester.run(
        sys.executable,
        *python_flags,
        "-m",
        "pytest",
        *ISOLATE,
        "-p",
        "alt_coop.enable",
        "-W",
        "error",
        "-W",
        "error::DeprecationWarning",
        timeout=120,
    )
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    result.assert_outcomes(passed=4)
    stderr = result.stderr.str()
    assert "event loop" not in stderr.lower()
    assert "Warning" not in stderr
    stdout = result.stdout.str()
    assert "warnings summary" not in stdout
    assert "DeprecationWarning" not in stdout


def test_tasks_pending_at_session_end_are_cancelled_and_named(pytester, run_alt):
    marker = pytester.path / "finally-ran.txt"
    pytester.makepyfile(
        f"""
        import asyncio

        KEEP = []

        async def forever():
            try:
                await asyncio.sleep(3600)
            finally:
                print("LEFTOVER FINALLY RAN")
                with open({str(marker)!r}, "w") as f:
                    f.write("cancelled")

        async def test_leaves_a_task_behind():
            KEEP.append(asyncio.create_task(forever(), name="leftover-worker"))
            await asyncio.sleep(0)

        async def test_later():
            await asyncio.sleep(0)
            assert not KEEP[0].done()
        """
    )
    result = run_alt("-s")
    result.assert_outcomes(passed=2, warnings=1)
    assert marker.read_text() == "cancelled"
    result.stdout.fnmatch_lines(
        [
            "*LEFTOVER FINALLY RAN*",
            "*= warnings summary =*",
            # Where the task's code is, not where alt_coop noticed it.
            "*test_tasks_pending_at_session_end_are_cancelled_and_named.py:5: AltCoopWarning:"
            " alt_coop cancelled 1 task(s) still pending at the end of the "
            "session: leftover-worker (forever)*",
            "    async def forever():",
        ]
    )


_RAISING_AT_THE_END = {
    # Raised as alt_coop cancels the task at the session's end.
    "task": (
        """
        async def worker():
            try:
                await asyncio.sleep(100)
            except asyncio.CancelledError:
                raise ValueError("cleanup failed")

        async def test_leaves_it():
            asyncio.create_task(worker())
            await asyncio.sleep(0)
        """,
        "*.py:*: AltCoopWarning: alt_coop: Task exception was never retrieved (Task-* "
        "(worker)), as the session's loop closed after the last test: ValueError: cleanup "
        "failed",
    ),
    # Raised as the loop closes the generators left open.
    "generator": (
        """
        KEEP = []

        async def numbers():
            try:
                yield 1
            finally:
                raise RuntimeError("cleanup failed")

        async def test_leaves_it():
            KEEP.append(numbers())
            await KEEP[0].__anext__()
        """,
        "*.py:*: AltCoopWarning: alt_coop: an error occurred during closing of asynchronous "
        "generator <async_generator object numbers at *>, as the session's loop closed after "
        "the last test: RuntimeError: cleanup failed",
    ),
    # Raised by no line of the suite's: shown where the generator is written.
    "generator ignoring GeneratorExit": (
        """
        KEEP = []

        async def stubborn():
            try:
                yield 1
            finally:
                yield 2

        async def test_leaves_it():
            KEEP.append(stubborn())
            await KEEP[0].__anext__()
        """,
        "*.py:6: AltCoopWarning: alt_coop: an error occurred during closing of asynchronous "
        "generator <async_generator object stubborn at *>, as the session's loop closed after "
        "the last test: RuntimeError: async generator ignored GeneratorExit",
    ),
    # Freed only by the garbage collector (switched off here, so never
    # before the end), as a task in a reference cycle is.
    "task in a cycle": (
        """
        import gc
        gc.disable()

        class Holder:
            pass

        async def test_leaves_it():
            async def child():
                pytest.fail("cleanup failed")

            holder = Holder()
            holder.me = holder
            holder.task = asyncio.create_task(child())
            await asyncio.sleep(0.01)
        """,
        # From 3.12, a task tells its test (through its context).
        "*.py:*: AltCoopWarning: alt_coop: Failed: cleanup failed was raised in a callback or "
        "task *after * had ended, so it is no test's outcome*",
    ),
}


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
@pytest.mark.parametrize("case", list(_RAISING_AT_THE_END))
def test_an_error_raised_as_the_session_ends_is_named(pytester, run_alt_subprocess, case, mode):
    # asyncio logs it, and pytest shows no log of the session's end: the
    # run passed without a word of it.
    code, line = _RAISING_AT_THE_END[case]
    pytester.makepyfile("import asyncio\nimport pytest\n" + textwrap.dedent(code))
    result = run_alt_subprocess(*mode_args(mode), "-p", "no:randomly")
    result.assert_outcomes(passed=1, warnings=2 if case == "task" else 1)
    result.stdout.fnmatch_lines([line])
    assert result.ret == pytest.ExitCode.OK


@pytest.mark.parametrize("mark", ["", "@pytest.mark.asyncio_cooperative"])
def test_an_async_generator_dropped_by_the_last_test_closes_before_the_session_ends(
    pytester, run_alt, mark
):
    # asyncio closes a dropped async generator in a task it makes from a
    # callback: made in the last turns, that task was counted as left behind
    # and cancelled before its ``finally`` could finish.
    marker = pytester.path / "closed.txt"
    pytester.makepyfile(
        f"""
        import asyncio
        import pytest

        async def numbers():
            try:
                yield 1
                yield 2
            finally:
                await asyncio.sleep(0.01)
                with open({str(marker)!r}, "w") as f:
                    f.write("closed")

        {mark}
        async def test_breaks_out():
            async for n in numbers():
                break
        """
    )
    result = run_alt("-W", "error::alt_coop.errors.AltCoopWarning")
    result.assert_outcomes(passed=1)
    assert result.ret == 0
    assert "AltCoopWarning" not in result.stdout.str()
    assert marker.read_text() == "closed"


def test_the_leftover_tasks_warning_points_at_the_users_code(pytester, run_alt):
    # Tasks of asyncio's own coroutine (Queue.get) and of an installed
    # library's (anyio's sleep) come first by name, but their code says
    # nothing of where the test left them: the suite's does.
    pytest.importorskip("anyio")
    pytester.makepyfile(
        """
        import asyncio
        import anyio

        KEEP = []  # asyncio holds tasks weakly: a task waiting on a queue no one holds may go

        async def ticker():
            await asyncio.sleep(3600)

        async def test_leaves_tasks_behind():
            KEEP.append(asyncio.create_task(asyncio.Queue().get(), name="a-getter"))
            KEEP.append(asyncio.create_task(anyio.sleep(3600), name="b-library"))
            KEEP.append(asyncio.create_task(ticker(), name="c-ticker"))
            await asyncio.sleep(0)
        """
    )
    result = run_alt()
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "*test_the_leftover_tasks_warning_points_at_the_users_code.py:6: AltCoopWarning:"
            " alt_coop cancelled 3 task(s) still pending at the end of the session:"
            " a-getter (Queue.get), b-library (sleep), c-ticker (ticker)",
            "    async def ticker():",
        ]
    )


def test_tasks_the_clean_up_of_leftover_tasks_starts_are_cancelled_too(
    pytester, run_alt_subprocess
):
    pytester.makepyfile(
        """
        import asyncio

        async def forever():
            try:
                await asyncio.sleep(3600)
            finally:
                print("the clean-up's task cleaned up")

        async def worker():
            try:
                await asyncio.sleep(3600)
            finally:
                asyncio.get_running_loop().create_task(forever(), name="started-by-the-clean-up")

        async def test_starts_a_worker():
            asyncio.create_task(worker(), name="worker")
            await asyncio.sleep(0)
        """
    )
    result = run_alt_subprocess("-s")
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "*AltCoopWarning: alt_coop cancelled 1 task(s) still pending at the end of the"
            " session: worker (worker); alt_coop cancelled 1 task(s) still pending at the end"
            " of the session: started-by-the-clean-up (forever)",
        ]
    )
    assert "the clean-up's task cleaned up" in result.stdout.str()
    assert "Task was destroyed" not in result.stdout.str() + result.stderr.str()


def test_a_leftover_task_ignoring_its_cancellation_is_named_once(pytester, run_alt_subprocess):
    # Named as abandoned by alt_coop's warning, then again by asyncio's
    # "Task was destroyed but it is pending!" as the process exited.
    pytester.makepyfile(
        """
        import asyncio

        async def stubborn():
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                await asyncio.sleep(3600)

        async def test_leaves_a_task():
            asyncio.create_task(stubborn(), name="stubborn-one")
            await asyncio.sleep(0)
        """
    )
    result = run_alt_subprocess()
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "*AltCoopWarning: alt_coop cancelled 1 task(s) still pending at the end of the"
            " session: stubborn-one (stubborn); these did not end within 2s and were"
            " abandoned: stubborn-one (stubborn)",
        ]
    )
    assert "Task was destroyed" not in result.stdout.str() + result.stderr.str()


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_a_leftover_task_the_test_cancelled_itself_is_cancelled_at_the_end(
    pytester, run_alt_subprocess, mode
):
    # A task that went on after the test's own cancellation (a retry loop)
    # was taken for one that had had alt_coop's: left, not cancelled, it
    # was abandoned after the grace and its finally ran as the process ended.
    pytester.makepyfile(
        """
        import asyncio

        async def worker(started):
            try:
                for attempt in range(2):
                    try:
                        started.set()
                        await asyncio.sleep(3600)
                    except asyncio.CancelledError:
                        if attempt:
                            raise
            finally:
                await asyncio.sleep(0)
                print("WORKER CLEANED UP", flush=True)

        async def test_leaves_its_worker():
            started = asyncio.Event()
            worker_task = asyncio.create_task(worker(started), name="the-worker")
            await started.wait()
            worker_task.cancel()  # it retries once
            await asyncio.sleep(0.05)
            assert not worker_task.done()
        """
    )
    result = run_alt_subprocess("-s", *mode_args(mode))
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "*WORKER CLEANED UP",
            "*AltCoopWarning: alt_coop cancelled 1 task(s) still pending at the end of the"
            " session: the-worker (worker)",
        ]
    )
    assert "abandoned" not in result.stdout.str()


def test_an_async_generator_whose_cleanup_never_ends_does_not_hang_the_end(
    pytester, run_alt_subprocess
):
    pytester.makepyfile(
        """
        import asyncio

        KEEP = []

        async def letters():
            yield "a"

        async def numbers():
            try:
                yield 1
                yield 2
            finally:
                await asyncio.Event().wait()  # never set

        async def test_leaves_generators_open():
            KEEP.extend([letters(), numbers(), numbers()])
            for generator in KEEP:
                await generator.__anext__()
        """
    )
    result = run_alt_subprocess(timeout=60)
    result.assert_outcomes(passed=1, warnings=1)
    # Named where its code is written; the one whose cleanup ended, not.
    result.stdout.fnmatch_lines(
        [
            "*.py:8: AltCoopWarning: alt_coop stopped waiting for the cleanup of async "
            "generators left open at the end of the session, after 2s: numbers (2 of them).",
            "    async def numbers():",
        ]
    )


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_a_task_abandoned_inside_an_async_for_is_named_once(pytester, run_alt_subprocess, mode):
    # Its generator, still running in it, cannot close: asyncio's error
    # saying so follows from the abandonment, which the warning names.
    pytester.makepyfile(
        """
        import asyncio

        KEEP = []

        async def ticker():
            while True:
                try:
                    await asyncio.sleep(100)
                except asyncio.CancelledError:
                    pass
                yield 1

        async def consumer():
            async for _ in ticker():
                pass

        async def test_leaves_it():
            KEEP.append(asyncio.create_task(consumer()))
            await asyncio.sleep(0.01)
        """
    )
    result = run_alt_subprocess(*mode_args(mode), timeout=60)
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(["*did not end within 2s and were abandoned: Task-* (consumer)*"])


def test_a_session_run_in_process_by_an_async_test_ends_cleanly(pytester, run_alt_subprocess):
    # The inner session's tests run on the outer session's running loop; the
    # loop the inner session made is closed without being run.
    pytester.makeconftest('pytest_plugins = ["pytester"]')
    pytester.makepyfile(
        f"""
        import asyncio

        import pytest

        @pytest.mark.parametrize("mark", ["plain", "cooperative"])
        async def test_runs_pytest_in_process(pytester, mark):
            if mark == "cooperative":
                pytester.makeconftest(
                    "import pytest\\n"
                    "def pytest_collection_modifyitems(items):\\n"
                    "    for item in items:\\n"
                    "        item.add_marker(pytest.mark.asyncio_cooperative)\\n"
                )
            pytester.makepyfile(
                "import asyncio\\nasync def test_inner():\\n    await asyncio.sleep(0.01)\\n"
            )
            result = pytester.runpytest_inprocess(*{ISOLATE!r}, "-p", "alt_coop.enable")
            result.assert_outcomes(passed=1, warnings=0)
            await asyncio.sleep(0)
        """
    )
    result = run_alt_subprocess()
    result.assert_outcomes(passed=2)


def test_sync_test_may_call_asyncio_run(pytester, run_alt):
    pytester.makepyfile(
        """
        import asyncio

        LOOPS = []

        async def test_before():
            LOOPS.append(asyncio.get_running_loop())

        def test_sync_asyncio_run():
            async def main():
                await asyncio.sleep(0.001)
                return asyncio.get_running_loop()

            used = asyncio.run(main())
            assert used is not LOOPS[0]
            assert used.is_closed()

        def test_sync_asyncio_run_twice():
            assert asyncio.run(asyncio.sleep(0, "a")) == "a"
            assert asyncio.run(asyncio.sleep(0, "b")) == "b"

        async def test_after():
            await asyncio.sleep(0)
            assert asyncio.get_running_loop() is LOOPS[0]
        """
    )
    result = run_alt("-v")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["*::test_sync_asyncio_run PASSED*", "*::test_after PASSED*"])


def test_the_session_loop_is_current_again_after_asyncio_run_in_sync_code(pytester, run_alt):
    # asyncio.run() leaves no loop current when it ends: sync code after it
    # (a later fixture or test) that asks for "the" loop gets the session's.
    pytester.makepyfile(
        """
        import asyncio
        import alt_coop
        import pytest

        LOOPS = []

        async def test_before():
            LOOPS.append(asyncio.get_running_loop())

        def test_sync_asyncio_run():
            assert asyncio.run(asyncio.sleep(0, "a")) == "a"

        def test_sync_after_it():
            assert asyncio.get_event_loop() is LOOPS[0]

        @pytest.fixture
        def ran():
            asyncio.run(asyncio.sleep(0))
            yield
            asyncio.run(asyncio.sleep(0))

        @pytest.fixture
        def loop_then(ran):
            loop = asyncio.get_event_loop()
            yield loop
            assert asyncio.get_event_loop() is loop, "in the teardown"

        def test_sync_fixture_after_one_that_ran(loop_then):
            assert loop_then is LOOPS[0]
            asyncio.run(asyncio.sleep(0))

        def test_and_the_next_test():
            assert asyncio.get_event_loop() is LOOPS[0]

        class TestOnAFreshLoop:
            @pytest.fixture(autouse=True)
            def fresh(self):
                with alt_coop.Loop() as ctl:
                    yield ctl.controlled_loop

            def test_its_loop_is_current_again(self, fresh, loop_then):
                assert loop_then is fresh
                asyncio.run(asyncio.sleep(0))

            def test_and_in_the_next_test(self, fresh):
                assert asyncio.get_event_loop() is fresh

        @pytest.fixture
        def no_loop():
            with alt_coop.Loop(new_loop=False):
                yield

        def test_a_loop_without_a_new_loop_still_leaves_none(no_loop, ran):
            with pytest.raises(RuntimeError, match="no current event loop"):
                asyncio.get_event_loop()

        def test_after_all_that():
            assert asyncio.get_event_loop() is LOOPS[0]
        """
    )
    result = run_alt("-v")
    result.assert_outcomes(passed=9)


@pytest.mark.parametrize("mark", ["", "@pytest.mark.asyncio_cooperative"])
def test_loop_stop_in_a_test_is_a_warning_and_the_session_goes_on(pytester, run_alt, mark):
    events = pytester.path / "events.txt"
    pytester.makepyfile(
        f"""
        import asyncio
        import pytest

        def record(what):
            with open({str(events)!r}, "a") as f:
                f.write(what + "\\n")

        @pytest.fixture
        async def resource():
            yield
            await asyncio.sleep(0.01)
            record("teardown")

        {mark}
        async def test_stops_the_loop(resource):
            await asyncio.sleep(0.01)
            asyncio.get_running_loop().stop()
            await asyncio.sleep(0.01)
            record("after stop")

        {mark}
        async def test_beside(resource):
            await asyncio.sleep(0.05)
            record("beside")
        """
    )
    result = run_alt("-v")
    result.assert_outcomes(passed=2, warnings=1)
    assert "INTERNALERROR" not in result.stdout.str()
    assert sorted(events.read_text().split()) == [
        "after",
        "beside",
        "stop",
        "teardown",
        "teardown",
    ]
    result.stdout.fnmatch_lines(
        [
            "*= warnings summary =*",
            "*::test_stops_the_loop",
            "*.py:17: AltCoopWarning: a fixture or test called loop.stop() on alt_coop's "
            "session loop;*",
            "    asyncio.get_running_loop().stop()",
        ]
    )


@pytest.mark.parametrize("mark", ["", "@pytest.mark.asyncio_cooperative"])
def test_loop_stop_under_warnings_as_errors_fails_the_test_that_called_it(pytester, run_alt, mark):
    # In a batch the warning was raised after the batch, out of pytest's
    # run loop: an INTERNALERROR, and the tests after it never ran.
    test_file = pytester.makepyfile(
        f"""
        import asyncio
        import pytest

        torn_down = []

        @pytest.fixture
        async def resource():
            yield
            await asyncio.sleep(0.01)
            torn_down.append(1)

        {mark}
        async def test_stops_the_loop(resource):
            await asyncio.sleep(0.01)
            asyncio.get_running_loop().stop()

        {mark}
        async def test_beside(resource):
            await asyncio.sleep(0.05)

        async def test_after():
            assert len(torn_down) == 2
        """
    )
    result = run_alt("-W", "error::alt_coop.errors.AltCoopWarning")
    assert "INTERNALERROR" not in result.stdout.str()
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*_ test_stops_the_loop _*",
            "*asyncio.get_running_loop().stop()",
            "E*AltCoopWarning: a fixture or test called loop.stop() on alt_coop's session loop;*",
            f"{test_file.name}:15: AltCoopWarning",
        ]
    )


@pytest.mark.parametrize("warnings_as_errors", [False, True])
def test_loop_stop_from_a_sync_test_keeps_asyncio_semantics_and_blames_no_one(
    pytester, run_alt, warnings_as_errors
):
    # With the loop idle, stop() makes the next run_forever return after one
    # turn (loop.stop(); loop.run_forever() is asyncio's "run one turn"). Left
    # for alt_coop's next run, it was blamed on the next async test in a
    # warning (failing it under -W error) and could end the session with the
    # loop unclosed.
    pytester.makepyfile(
        """
        import asyncio
        import alt_coop
        import pytest

        async def test_before():
            await asyncio.sleep(0)

        def test_runs_one_turn():
            loop = asyncio.get_event_loop()
            ran = []
            loop.call_soon(ran.append, 1)
            loop.stop()
            loop.run_forever()
            assert ran == [1]

        def test_runs_one_turn_of_its_own_loop():
            with alt_coop.Loop() as fresh:
                ran = []
                fresh.controlled_loop.call_soon(ran.append, 1)
                fresh.controlled_loop.stop()
                fresh.controlled_loop.run_forever()
                assert ran == [1]

        def test_stops_the_idle_loop():
            asyncio.get_event_loop().stop()

        async def test_next():
            await asyncio.sleep(0.01)

        def test_stops_it_again():
            asyncio.get_event_loop().stop()

        async def test_leaves_a_task():
            asyncio.ensure_future(asyncio.sleep(60))
        """
    )
    args = ("-W", "error::alt_coop.errors.AltCoopWarning") if warnings_as_errors else ()
    result = run_alt("-p", "no:randomly", *args)
    output = result.stdout.str()
    assert "INTERNALERROR" not in output and "Traceback" not in output
    assert "loop.stop()" not in output
    result.assert_outcomes(passed=7)
    # The session still closes its loop, naming the task left behind.
    result.stdout.fnmatch_lines(["*cancelled 1 task*"])


def test_loop_stop_from_a_sync_test_on_a_loop_class_patched_by_nest_asyncio2(
    pytester, run_alt_subprocess
):
    # An embedded session nested through nest-asyncio2 leaves its patches on
    # the loop's class, whose run_until_complete never clears a stop: every
    # later run stopped after each turn, blaming (and under -W error,
    # failing) each async test after it, the loop spinning while they waited.
    pytest.importorskip("nest_asyncio2")
    pytester.makeconftest(
        """
        import asyncio
        import nest_asyncio2

        loop = asyncio.new_event_loop()
        nest_asyncio2.apply(loop)  # patches its class
        loop.close()
        """
    )
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.fixture
        async def session_loop():
            return asyncio.get_running_loop()

        def test_stops_the_idle_loop(session_loop):
            session_loop.stop()

        async def test_waits():
            await asyncio.sleep(0.05)

        async def test_waits_again():
            await asyncio.sleep(0.05)
        """
    )
    result = run_alt_subprocess("-p", "no:randomly", "-W", "error::alt_coop.errors.AltCoopWarning")
    assert "loop.stop()" not in result.stdout.str()
    result.assert_outcomes(passed=3)


def test_an_async_fixture_asked_for_while_another_loop_runs_is_refused(pytester, run_alt):
    # Its coroutine cannot run on the session loop from inside another
    # running loop: the run waited for ever.
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.fixture
        async def resource():
            return 1

        def test_inside_another_loop(request):
            async def main():
                return request.getfixturevalue("resource")

            asyncio.run(main())

        async def test_after(resource):
            assert resource == 1
        """
    )
    result = run_alt("-p", "no:randomly")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*AltCoopUsageError: alt_coop cannot run this coroutine (an async fixture asked "
            "for with request.getfixturevalue, say) while another event loop runs in this "
            "thread: ask for the fixture before starting that loop, or as an argument"
        ]
    )


def test_asyncio_debug_mode_names_the_phase_that_held_the_loop(
    pytester, run_alt_subprocess, monkeypatch
):
    monkeypatch.setenv("PYTHONASYNCIODEBUG", "1")
    pytester.makepyfile(
        """
        import asyncio
        import time
        import pytest

        @pytest.fixture
        async def slow_setup():
            time.sleep(0.2)
            yield

        async def test_slow(slow_setup):
            time.sleep(0.2)
            await asyncio.sleep(0)
        """
    )
    result = run_alt_subprocess("-rA")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines_random(
        [
            "*Executing <Task * name=?alt_coop: fixture 'slow_setup' (setup)? * took 0.2* seconds",
            "*Executing <Task * name=?alt_coop: test_slow (call)? * took 0.2* seconds",
        ]
    )


# -- alt_coop.Loop -------------------------------------------------------------


def test_loop_in_sync_code_runs_cleans_up_and_restores(pytester, run_alt):
    pytester.makepyfile(
        """
        import asyncio
        import alt_coop
        import pytest

        BEFORE = []

        def test_loop_block():
            before = asyncio.get_event_loop()
            BEFORE.append(before)
            events = []

            async def lingering():
                try:
                    await asyncio.sleep(3600)
                finally:
                    events.append("task finally")

            async def agen():
                try:
                    yield 1
                    yield 2
                finally:
                    events.append("agen finally")

            async def main():
                await asyncio.sleep(0.001)
                asyncio.create_task(lingering())
                gen = agen()
                assert await gen.__anext__() == 1
                main.gen = gen  # keep it alive, suspended
                await asyncio.sleep(0)
                return asyncio.get_running_loop()

            with alt_coop.Loop(new_loop=True) as ctl:
                loop = ctl.controlled_loop
                assert loop is not None and loop is not before
                assert asyncio.get_event_loop() is loop
                assert ctl.run_until_complete(main()) is loop
                assert ctl.run_until_complete(asyncio.sleep(0, "again")) == "again"
                # Any awaitable, as asyncio's run_until_complete takes futures.
                task = loop.create_task(asyncio.sleep(0, "task"))
                assert ctl.run_until_complete(task) == "task"
                both = asyncio.gather(asyncio.sleep(0, 1), asyncio.sleep(0, 2))
                assert ctl.run_until_complete(both) == [1, 2]
                with pytest.raises(TypeError, match="takes a coroutine or another awaitable"):
                    ctl.run_until_complete(42)
                other = asyncio.new_event_loop()
                try:
                    with pytest.raises(
                        alt_coop.errors.AltCoopUsageError,
                        match="got a future of another loop than the one it runs",
                    ):
                        ctl.run_until_complete(other.create_future())
                finally:
                    other.close()
                assert events == []

            assert loop.is_closed()
            assert events == ["task finally", "agen finally"]
            assert asyncio.get_event_loop() is before
            assert not before.is_closed()

        def test_nested_loops_put_back_the_previous_one():
            session = asyncio.get_event_loop()
            with alt_coop.Loop() as outer:
                with alt_coop.Loop() as inner:
                    assert asyncio.get_event_loop() is inner.controlled_loop
                    assert inner.controlled_loop is not outer.controlled_loop
                assert inner.controlled_loop.is_closed()
                assert asyncio.get_event_loop() is outer.controlled_loop
                assert outer.run_until_complete(asyncio.sleep(0, 5)) == 5
            assert outer.controlled_loop.is_closed()
            assert asyncio.get_event_loop() is session

        async def test_session_loop_still_runs_afterwards():
            await asyncio.sleep(0.001)
            assert asyncio.get_running_loop() is BEFORE[0]
        """
    )
    result = run_alt("-v")
    result.assert_outcomes(passed=3)


def test_loop_without_a_new_loop_leaves_none_current(pytester, run_alt):
    # alt-pytest-asyncio's Loop(new_loop=False), for code that must find no loop.
    pytester.makepyfile(
        """
        import asyncio
        import alt_coop
        import pytest

        def test_no_loop_inside():
            session = asyncio.get_event_loop()
            with alt_coop.Loop(new_loop=False) as ctl:
                assert ctl.controlled_loop is None
                with pytest.raises(RuntimeError, match="no current event loop"):
                    asyncio.get_event_loop()
                coro = asyncio.sleep(0)
                with pytest.raises(alt_coop.errors.AltCoopUsageError, match="new_loop=True"):
                    ctl.run_until_complete(coro)
                assert coro.cr_frame is None  # closed, never "never awaited"
            assert asyncio.get_event_loop() is session

        def test_new_loop_given_positionally():
            # As alt-pytest-asyncio's Loop took it: code moved from it runs unchanged.
            with alt_coop.Loop(False) as ctl:
                assert ctl.controlled_loop is None
            with alt_coop.Loop(True) as ctl:
                assert asyncio.get_event_loop() is ctl.controlled_loop

        async def test_session_loop_runs_afterwards():
            await asyncio.sleep(0.001)
        """
    )
    run_alt("-W", "error").assert_outcomes(passed=3)


def test_loop_in_autouse_class_fixture_is_seen_by_class_only(pytester, run_alt):
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        import alt_coop

        RECORD = {}
        CANCELLED = []

        @pytest.fixture(scope="session")
        async def session_loop():
            return asyncio.get_running_loop()

        @pytest.fixture
        async def seen_loop():
            await asyncio.sleep(0)
            return asyncio.get_running_loop()

        @pytest.fixture
        async def gen_loop():
            setup_loop = asyncio.get_running_loop()
            yield setup_loop
            await asyncio.sleep(0)
            RECORD.setdefault("teardowns", []).append(
                (setup_loop, asyncio.get_running_loop())
            )

        async def stray():
            try:
                await asyncio.sleep(3600)
            finally:
                CANCELLED.append("stray finally")

        async def test_outside_before(session_loop, seen_loop, gen_loop):
            assert asyncio.get_running_loop() is session_loop
            assert seen_loop is session_loop
            assert gen_loop is session_loop

        class TestOwnLoop:
            @pytest.fixture(autouse=True)
            def own_loop(self):
                with alt_coop.Loop(new_loop=True) as ctl:
                    yield ctl.controlled_loop
                RECORD.setdefault("closed", []).append(ctl.controlled_loop.is_closed())

            @pytest.fixture
            async def method_fixture(self):
                return asyncio.get_running_loop()

            async def test_one(self, own_loop, session_loop, seen_loop, gen_loop, method_fixture):
                running = asyncio.get_running_loop()
                assert running is own_loop
                assert running is not session_loop
                assert seen_loop is own_loop
                assert gen_loop is own_loop
                assert method_fixture is own_loop
                RECORD["first_own"] = own_loop
                asyncio.create_task(stray(), name="stray-in-class")
                await asyncio.sleep(0)

            async def test_two(self, own_loop, seen_loop):
                assert asyncio.get_running_loop() is own_loop
                assert seen_loop is own_loop
                assert own_loop is not RECORD["first_own"]
                assert RECORD["first_own"].is_closed()
                assert CANCELLED == ["stray finally"]

        async def test_outside_after(session_loop, seen_loop):
            assert asyncio.get_running_loop() is session_loop
            assert seen_loop is session_loop
            assert not session_loop.is_closed()
            assert RECORD["closed"] == [True, True]
            for setup_loop, teardown_loop in RECORD["teardowns"]:
                assert setup_loop is teardown_loop
            assert len(RECORD["teardowns"]) == 2
        """
    )
    result = run_alt("-v")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(
        [
            "*::test_outside_before PASSED*",
            "*::TestOwnLoop::test_one PASSED*",
            "*::TestOwnLoop::test_two PASSED*",
            "*::test_outside_after PASSED*",
        ]
    )
    # Tasks cancelled by a Loop block are not warned about.
    assert "AltCoopWarning" not in result.stdout.str()


def test_entering_loop_in_a_cooperative_tests_fixture_says_what_to_do(pytester, run_alt):
    pytester.makepyfile(
        """
        import asyncio
        import alt_coop
        import pytest

        class TestOnAFreshLoop:
            @pytest.fixture(autouse=True)
            def fresh_loop(self):
                with alt_coop.Loop() as loop:
                    yield loop

            async def test_it(self, fresh_loop):
                assert asyncio.get_running_loop() is fresh_loop.controlled_loop

            @pytest.mark.asyncio_sequential
            async def test_marked_sequential(self, fresh_loop):
                assert asyncio.get_running_loop() is fresh_loop.controlled_loop
        """
    )
    result = run_alt("--asyncio-cooperative")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "E   *AltCoopUsageError: alt_coop.Loop cannot be entered in a cooperative test's "
            "fixtures: the test runs beside other tests on alt_coop's loop, not on a loop of "
            "its own. Mark the tests that use it asyncio_sequential"
        ]
    )


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_cooperative_tests_inside_a_wider_loop_block_run_one_by_one_on_its_loop(
    pytester, run_alt, mode
):
    # A module fixture of a sequential test's enters the block: the module's
    # cooperative tests run on its loop, one by one, as its loop must stop to
    # close as the fixture ends; the tests after the block run as usual.
    pytester.makepyfile(
        test_l="""
        import asyncio
        import pytest
        import alt_coop

        LOOPS = []

        @pytest.fixture(scope="module", autouse=True)
        def fresh_loop():
            with alt_coop.Loop() as loop:
                LOOPS.append(loop.controlled_loop)
                yield loop

        @pytest.mark.asyncio_sequential
        async def test_first(fresh_loop):
            assert asyncio.get_running_loop() is fresh_loop.controlled_loop

        async def test_it(fresh_loop):
            assert asyncio.get_running_loop() is fresh_loop.controlled_loop

        async def test_too(fresh_loop):
            assert asyncio.get_running_loop() is fresh_loop.controlled_loop
        """,
        test_z="""
        import asyncio
        import test_l

        async def test_other_module():
            assert asyncio.get_running_loop() is not test_l.LOOPS[0]
            await asyncio.sleep(0.05)

        async def test_beside():
            await asyncio.sleep(0.05)
        """,
    )
    result = run_alt(*mode_args(mode))
    result.assert_outcomes(passed=5)
    if mode == "cooperative":
        result.stdout.fnmatch_lines(
            [
                "*test_l.py:*: AltCoopWarning: alt_coop: cooperative tests run one by one "
                "while an alt_coop.Loop block runs (the tests after its scope must not start "
                "before it ends)",
                "alt_coop: 2 cooperative tests, at most 2 at once*",
            ]
        )


def test_the_loop_block_notice_hidden_by_one_tests_filter_is_told_at_the_next(pytester, run_alt):
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        import alt_coop

        @pytest.fixture(scope="module", autouse=True)
        def fresh():
            with alt_coop.Loop() as loop:
                yield loop

        @pytest.mark.asyncio_sequential
        async def test_first():
            pass

        @pytest.mark.filterwarnings("ignore")
        async def test_quiet():
            await asyncio.sleep(0)

        async def test_loud():
            await asyncio.sleep(0)

        async def test_loud_too():
            await asyncio.sleep(0)
        """
    )
    result = run_alt("--asyncio-cooperative")
    result.assert_outcomes(passed=4, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "*::test_loud",
            "*AltCoopWarning: alt_coop: cooperative tests run one by one while an "
            "alt_coop.Loop block runs*",
        ]
    )


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_in_a_block_with_no_loop_each_test_keeps_the_loop_it_makes_current(
    pytester, run_alt, mode
):
    # Loop(new_loop=False) makes none current: the loop a test's sync fixture
    # makes current is not the one the tests beside it find after an await.
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        import alt_coop

        @pytest.fixture(scope="module", autouse=True)
        def no_loop():
            with alt_coop.Loop(new_loop=False):
                yield

        @pytest.fixture
        async def pause():
            await asyncio.sleep(0.05)

        @pytest.fixture
        def mine(request):
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            request.getfixturevalue("pause")  # the other tests run meanwhile
            yield loop, asyncio.get_event_loop()
            loop.close()

        @pytest.mark.asyncio_sequential
        def test_first():
            pass

        @pytest.mark.parametrize("i", range(2))
        async def test_it(i, mine):
            loop, seen = mine
            assert seen is loop
        """
    )
    result = run_alt(*mode_args(mode))
    result.assert_outcomes(passed=3)


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_tests_after_a_block_with_no_loop_find_the_sessions_loop(pytester, run_alt, mode):
    # The block's cooperative tests run one by one, so that none of the tests
    # after its scope starts before it ends (they would find no loop).
    pytester.makepyfile(
        """
        import asyncio
        import alt_coop
        import pytest

        @pytest.fixture(scope="class")
        def no_loop():
            with alt_coop.Loop(new_loop=False):
                yield

        @pytest.mark.usefixtures("no_loop")
        class TestNoLoop:
            def test_sync(self):
                with pytest.raises(RuntimeError):
                    asyncio.get_event_loop()

            async def test_async(self):
                await asyncio.sleep(0.05)

        @pytest.fixture
        def loop_now():
            return asyncio.get_event_loop()

        async def test_after_the_class(loop_now):
            await asyncio.sleep(0)

        @pytest.mark.asyncio_cooperative
        def test_plain_after_the_class():
            asyncio.get_event_loop()
        """
    )
    result = run_alt(*mode_args(mode))
    result.assert_outcomes(passed=4)


def test_leaving_a_loop_block_inside_one_with_no_loop_leaves_none_current(pytester, run_alt):
    pytester.makepyfile(
        """
        import asyncio
        import alt_coop
        import pytest

        def test_nested():
            with alt_coop.Loop(new_loop=False):
                with alt_coop.Loop():
                    pass
                with pytest.raises(RuntimeError, match="no current event loop"):
                    asyncio.get_event_loop()
            assert asyncio.get_event_loop() is not None
        """
    )
    result = run_alt()
    result.assert_outcomes(passed=1)


def test_entering_loop_from_async_code_is_a_clear_error(pytester, run_alt):
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        import alt_coop

        @pytest.fixture
        async def swaps_loop():
            with alt_coop.Loop():
                yield

        async def test_in_fixture(swaps_loop):
            pass

        async def test_in_test():
            with alt_coop.Loop():
                pass

        async def test_raises_usage_error():
            with pytest.raises(alt_coop.errors.AltCoopUsageError):
                with alt_coop.Loop():
                    pass
            await asyncio.sleep(0)
        """
    )
    result = run_alt()
    result.assert_outcomes(passed=1, failed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "E   *AltCoopUsageError: alt_coop.Loop must be entered from synchronous code "
            "(a sync fixture), not while an event loop is running. Enter it in a sync "
            "fixture, which the async tests that need it ask for",
        ]
    )
    assert result.stdout.str().count("alt_coop.Loop must be entered from synchronous code") >= 2


def test_refusals_in_sync_code_are_shown_at_the_callers_line(pytester, run_alt):
    # Raised from sync code, they showed alt_coop's own source (its raise
    # statement, at alt_coop/...py:N) as the place of the error.
    pytester.makepyfile(
        """
        import asyncio
        import alt_coop
        import pytest

        @pytest.fixture
        def fresh_loop():
            with alt_coop.Loop() as loop:
                yield loop

        @pytest.mark.asyncio_cooperative
        async def test_loop_in_a_cooperative_tests_fixture(fresh_loop):
            pass

        def test_timeout_in_sync_code(async_timeout):
            async_timeout.set_timeout_seconds(1)

        def test_loop_not_entered():
            alt_coop.Loop().run_until_complete(asyncio.sleep(0))

        @pytest.mark.asyncio_cooperative
        def test_getfixturevalue_in_a_thread(request):
            request.getfixturevalue("tmp_path")

        async def stop():
            pass

        @pytest.fixture
        def async_cleanup(pytestconfig):
            pytestconfig.add_cleanup(stop)

        def test_async_cleanup(async_cleanup):
            pass
        """
    )
    result = run_alt()
    result.assert_outcomes(failed=3, errors=2)
    result.stdout.fnmatch_lines_random(
        [
            "test_refusals_in_sync_code_are_shown_at_the_callers_line.py:29: UsageError",
            "test_refusals_in_sync_code_are_shown_at_the_callers_line.py:7: AltCoopUsageError",
            "test_refusals_in_sync_code_are_shown_at_the_callers_line.py:15: "
            "NoAsyncTimeoutInSyncFunctions",
            "test_refusals_in_sync_code_are_shown_at_the_callers_line.py:18: AltCoopUsageError",
            "test_refusals_in_sync_code_are_shown_at_the_callers_line.py:22: AltCoopUsageError",
        ]
    )
    result.stdout.no_fnmatch_line("*alt_coop/*.py:*")


def test_a_closed_session_loop_fails_later_async_tests_saying_so(pytester, run_alt_subprocess):
    # The pytest-asyncio < 0.23 pattern closes "the" loop, which is alt_coop's:
    # the tests after it fail saying so, not with a bare "Event loop is
    # closed" blamed on them, and leave no coroutine never awaited.
    pytester.makepyfile(
        """
        import asyncio
        import warnings
        import pytest

        @pytest.fixture
        def event_loop():  # kept from pytest-asyncio < 0.23
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                loop = asyncio.get_event_loop()
            yield loop
            loop.close()

        async def test_one(event_loop):
            await asyncio.sleep(0)

        async def test_two():
            await asyncio.sleep(0)
        """
    )
    result = run_alt_subprocess()
    # The fixture that closed it errs at its teardown.
    result.assert_outcomes(passed=1, failed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_one*",
            "E   *AltCoopUsageError: a fixture's teardown closed alt_coop's session loop, which "
            "must stay open for the whole session: the async fixtures and tests after it fail. "
            "Close only loops a test or fixture created (alt_coop.Loop, asyncio.new_event_loop())",
            "*session loop was closed by a fixture or test*",
        ]
    )
    output = result.stdout.str() + result.stderr.str()
    assert "Event loop is closed" not in output
    assert "never awaited" not in output


@pytest.mark.parametrize("cooperative", [False, True], ids=["sequential", "cooperative"])
def test_a_sync_test_closing_the_session_loop_fails_itself(
    pytester, run_alt_subprocess, cooperative
):
    # The test that closed it passed, and the next async test was blamed; in
    # a cooperative run, the next batch could not start: INTERNALERROR, and
    # its tests were never reported. Closed by the last test, nothing said so.
    pytester.makepyfile(
        """
        import asyncio

        async def test_before():
            await asyncio.sleep(0)

        def test_closes():
            asyncio.get_event_loop().close()

        async def test_after():
            await asyncio.sleep(0)

        async def test_after_too():
            await asyncio.sleep(0)

        def test_after_sync():
            pass
        """
    )
    result = run_alt_subprocess("-rA", *(["--asyncio-cooperative"] if cooperative else []))
    result.assert_outcomes(passed=2, failed=3)
    # On CI pytest adds each failure's message to its summary line.
    result.stdout.re_match_lines_random(
        [
            r"PASSED .*::test_before$",
            r"FAILED .*::test_closes( - .*)?$",
            r"FAILED .*::test_after( - .*)?$",
            r"FAILED .*::test_after_too( - .*)?$",
            r"PASSED .*::test_after_sync$",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*_ test_closes _*",
            "E   *AltCoopUsageError: this test closed alt_coop's session loop*",
            "*_ test_after _*",
            "E   *AltCoopUsageError: alt_coop's session loop was closed by a fixture or test*",
            "*_ test_after_too _*",
            "E   *AltCoopUsageError: alt_coop's session loop was closed by a fixture or test*",
        ]
    )
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    closes_last = run_alt_subprocess("-k", "before or closes")
    closes_last.assert_outcomes(passed=1, failed=1)


# -- run_coro_as_main ------------------------------------------------------------


def run_script(pytester: pytest.Pytester, source: str) -> pytest.RunResult:
    script = pytester.makepyfile(main_script=source)
    return pytester.run(sys.executable, str(script), timeout=60)


def test_run_coro_as_main_returns_the_value(pytester):
    result = run_script(
        pytester,
        """
        import asyncio
        import alt_coop

        loop = asyncio.new_event_loop()

        async def main():
            await asyncio.sleep(0.001)
            return asyncio.get_running_loop(), 42

        running, value = alt_coop.run_coro_as_main(loop, main())
        print("VALUE", value)
        print("SAME LOOP", running is loop)
        print("CLOSED", loop.is_closed())
        """,
    )
    assert result.ret == 0, result.stderr.str()
    result.stdout.fnmatch_lines(["VALUE 42", "SAME LOOP True", "CLOSED True"])
    assert result.stderr.str().strip() == ""


def test_run_coro_as_main_reports_an_error_and_exits_non_zero(pytester):
    result = run_script(
        pytester,
        """
        import asyncio
        import atexit
        import alt_coop

        loop = asyncio.new_event_loop()
        atexit.register(lambda: print("CLOSED AT EXIT", loop.is_closed()))

        async def helper():
            await asyncio.sleep(0)
            raise ValueError("main went wrong")

        async def main():
            await helper()

        alt_coop.run_coro_as_main(loop, main())
        print("NOT REACHED")
        """,
    )
    assert result.ret not in (0, None)
    result.stderr.fnmatch_lines(
        [
            "*Error in the main coroutine*",
            '*raise ValueError("main went wrong")*',
            "ValueError: main went wrong",
        ]
    )
    stderr = result.stderr.str()
    assert "Traceback (most recent call last)" not in stderr
    assert len(stderr.strip().splitlines()) <= 12, stderr
    result.stdout.fnmatch_lines(["CLOSED AT EXIT True"])
    assert "NOT REACHED" not in result.stdout.str()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            'alt_coop.run_coro_as_main("not a loop", work())',
            "TypeError: run_coro_as_main takes the event loop to run first, not 'str': "
            "run_coro_as_main(asyncio.new_event_loop(), main())",
        ),
        (
            "asyncio.run(alt_coop.run_coro_as_main(None, work()) if False else outer())",
            "*AltCoopUsageError: run_coro_as_main runs the loop itself, and this one is "
            "already running: from a coroutine on it, await work() instead",
        ),
        (
            "alt_coop.run_coro_as_main(work(), asyncio.new_event_loop())",
            "TypeError: run_coro_as_main takes the event loop first, then the coroutine: "
            "run_coro_as_main(loop, work())",
        ),
        (  # it said to call the async function
            "alt_coop.run_coro_as_main(work(), None)",
            "TypeError: run_coro_as_main takes the event loop first, then the coroutine: "
            "run_coro_as_main(loop, work())",
        ),
    ],
    ids=["not-a-loop", "running-loop", "swapped", "swapped-without-a-loop"],
)
def test_run_coro_as_main_refuses_what_it_cannot_run(pytester, call, message):
    result = run_script(
        pytester,
        f"""
        import asyncio
        import alt_coop

        async def work():
            print("WORK RAN")

        async def outer():
            alt_coop.run_coro_as_main(asyncio.get_running_loop(), work())

        {call}
        """,
    )
    assert result.ret not in (0, None)
    result.stderr.fnmatch_lines([message])
    output = result.stdout.str() + result.stderr.str()
    assert "WORK RAN" not in output
    assert "never awaited" not in output
    assert "During handling" not in output
    assert "never retrieved" not in output


def test_run_coro_as_main_stopped_by_system_exit_leaves_no_unretrieved_error(pytester):
    # The main coroutine fails while it is stopped for a SystemExit a
    # callback raised: the SystemExit wins, and asyncio logs nothing.
    result = run_script(
        pytester,
        """
        import asyncio
        import sys
        import alt_coop

        def stop():
            sys.exit(3)

        async def main():
            asyncio.get_running_loop().call_later(0.05, stop)
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                raise ValueError("cleanup failed") from None

        alt_coop.run_coro_as_main(asyncio.new_event_loop(), main())
        """,
    )
    assert result.ret == 3, result.stderr.str()
    assert "never retrieved" not in result.stderr.str(), result.stderr.str()


def test_tasks_pending_at_session_end_under_w_error_fail_the_run_after_the_results(
    pytester, run_alt_subprocess
):
    pytester.makepyfile(
        """
        import asyncio

        async def test_leaves_a_task_behind():
            asyncio.create_task(asyncio.sleep(3600), name="leftover")
            await asyncio.sleep(0)

        def test_fails():
            assert 1 == 2
        """
    )
    result = run_alt_subprocess("-W", "error")
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "*= FAILURES =*",
            "E       assert 1 == 2",
            "*= error at the end of the session =*",
            "AltCoopWarning: alt_coop cancelled 1 task(s) still pending at the end of the "
            "session: leftover (sleep)",
            "*1 failed, 1 passed*",
        ]
    )


@pytest.mark.parametrize("cooperative", [False, True], ids=["sequential", "cooperative"])
@pytest.mark.parametrize("ending", ["sys.exit(0)", "raise KeyboardInterrupt"])
def test_a_leftover_that_exits_as_it_is_ended_fails_the_run_after_the_results(
    pytester, run_alt_subprocess, ending, cooperative
):
    # SystemExit or KeyboardInterrupt raised by a task's or an async
    # generator's cleanup at the session's end came out of pytest's
    # sessionfinish: no failure report, no summary line, and exit code 0.
    pytester.makepyfile(
        f"""
        import asyncio
        import sys

        CLEANED = []
        kept = []

        async def leftover(name):
            try:
                await asyncio.sleep(3600)
            finally:
                print(f"{{name}} cleaned up")

        async def exits():
            try:
                await asyncio.sleep(3600)
            finally:
                {ending}

        async def generator():
            try:
                yield
                await asyncio.sleep(3600)
            finally:
                {ending}

        async def test_leaves_tasks_and_a_generator():
            asyncio.create_task(leftover("before"), name="before")
            asyncio.create_task(exits(), name="exits")
            asyncio.create_task(leftover("after"), name="after")
            kept.append(generator())
            await kept[-1].__anext__()

        def test_fails():
            assert 1 == 2
        """
    )
    result = run_alt_subprocess("-s", *(["--asyncio-cooperative"] if cooperative else []))
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()
    exit_repr = "SystemExit(0)" if "sys.exit" in ending else "KeyboardInterrupt()"
    result.stdout.fnmatch_lines(
        [
            "*= FAILURES =*",
            "E       assert 1 == 2",
            "*= error at the end of the session =*",
            "AltCoopError: code left running (a task, or an async generator left open) raised "
            f"{exit_repr}, {exit_repr} as alt_coop ended it at the end of the session; end such "
            "tasks and generators within the test that starts them",
            "*1 failed, 1 passed, 1 warning*",
        ]
    )
    # The other tasks got their cleanup all the same.
    result.stdout.fnmatch_lines_random(["*before cleaned up*", "*after cleaned up*"])
    assert "never retrieved" not in result.stdout.str() + result.stderr.str()


LEAVES_A_TASK_THAT_EXITS = """
import asyncio

async def exits():
    try:
        await asyncio.sleep(3600)
    finally:
        raise SystemExit(3)

async def test_leaves_a_task():
    asyncio.create_task(exits(), name="exits")
    await asyncio.sleep(0)
"""


def test_a_leftover_that_exits_is_reported_under_w_error_too(pytester, run_alt_subprocess):
    # The warning, an error under -W error, took the report's place.
    pytester.makepyfile(LEAVES_A_TASK_THAT_EXITS)
    result = run_alt_subprocess("-W", "error::alt_coop.errors.AltCoopWarning")
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "*= error at the end of the session =*",
            "AltCoopError: code left running (a task, or an async generator left open) raised "
            "SystemExit(3) as alt_coop ended it at the end of the session; end such tasks and "
            "generators within the test that starts them; and AltCoopWarning: alt_coop "
            "cancelled 1 task(s) still pending at the end of the session: exits (exits)",
            "*1 passed*",
        ]
    )


@pytest.mark.parametrize("ending", ["warning", "exit", "interrupt"])
def test_an_error_at_a_workers_session_end_fails_the_run_under_xdist(
    pytester, run_alt_subprocess, ending
):
    # A worker's session end is not shown, and xdist's controller takes its
    # outcome from the reports: the run passed, with no word of the error.
    pytester.makepyfile(
        f"""
        import asyncio

        async def leftover():
            try:
                await asyncio.sleep(3600)
            finally:
                if {ending == "exit"}:
                    raise SystemExit(5)
                if {ending == "interrupt"}:
                    raise KeyboardInterrupt

        async def test_leaves_a_task():
            asyncio.create_task(leftover(), name="leftover")
            await asyncio.sleep(0)

        async def test_other():
            await asyncio.sleep(0)
        """
    )
    args = ["-W", "error::alt_coop.errors.AltCoopWarning"] if ending == "warning" else []
    result = run_alt_subprocess("-p", "xdist", "-n", "2", *args)
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()
    raised = {"exit": "SystemExit(5)", "interrupt": "KeyboardInterrupt()"}.get(ending)
    result.stdout.fnmatch_lines(
        [
            "*= error at the end of the session =*",
            f"[[]gw?[]] AltCoopError: code left running * raised {raised} as alt_coop ended it *"
            if raised
            else "[[]gw?[]] AltCoopWarning: alt_coop cancelled 1 task(s) still pending at the "
            "end of the session: leftover (leftover)",
            "*2 passed*",
        ]
    )


@pytest.mark.parametrize("xdist", [False, True], ids=["alone", "xdist"])
def test_an_error_at_a_sessions_end_unreported_is_not_the_next_sessions(
    pytester, monkeypatch, xdist
):
    # Reported by the terminal summary (none with -p no:terminal), it was
    # kept for the next session run with the same Plugin: shown there, and
    # under pytest-xdist failing it.
    pytester.makepyfile(
        test_leaves=LEAVES_A_TASK_THAT_EXITS,
        test_passes="""
        async def test_passes():
            pass
        """,
    )
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")  # only the plugins named
    # Its workers load alt_coop by name: they get none of the plugin objects.
    workers = ["-p", "alt_coop.enable", "-p", "xdist", "-n", "1"] if xdist else []
    script = pytester.makepyfile(
        main_script=f"""
        import pytest
        import alt_coop

        plugin = alt_coop.Plugin()
        common = ["-p", "no:cacheprovider"]
        first = pytest.main([*common, *{workers!r}, "-p", "no:terminal", "test_leaves.py"],
                            plugins=[plugin])
        print("FIRST", int(first), flush=True)
        second = pytest.main([*common, "test_passes.py"], plugins=[plugin])
        print("SECOND", int(second), flush=True)
        """
    )
    result = pytester.run(sys.executable, str(script), timeout=60)
    output = result.stdout.str()
    assert "FIRST 1" in output and "SECOND 0" in output, output
    assert "error at the end of the session" not in output, output


def test_run_coro_as_main_given_no_coroutine_says_to_call_the_function(pytester):
    # It reported "Error in the main coroutine: AttributeError: 'function'
    # object has no attribute 'close'", as if the coroutine had raised it.
    result = run_script(
        pytester,
        """
        import asyncio
        import alt_coop

        async def main():
            return 5

        alt_coop.run_coro_as_main(asyncio.new_event_loop(), main)
        """,
    )
    assert result.ret == 1
    result.stderr.fnmatch_lines(
        [
            "TypeError: run_coro_as_main needs a coroutine, got <function main at *>: call the "
            "async function (run_coro_as_main(loop, main()), not main)"
        ]
    )
    assert "Error in the main coroutine" not in result.stderr.str()


@pytest.mark.parametrize("fails", [False, True], ids=["returns", "raises"])
def test_run_coro_as_main_cancels_leftover_tasks_and_closes(pytester, fails):
    result = run_script(
        pytester,
        f"""
        import asyncio
        import alt_coop

        loop = asyncio.new_event_loop()

        async def leftover():
            try:
                await asyncio.sleep(3600)
            finally:
                print("LEFTOVER FINALLY")

        async def agen():
            try:
                yield 1
                yield 2
            finally:
                print("AGEN FINALLY")

        async def main():
            asyncio.create_task(leftover(), name="leftover")
            gen = agen()
            await gen.__anext__()
            main.gen = gen
            await asyncio.sleep(0.001)
            if {fails!r}:
                raise RuntimeError("failing main")
            return "ok"

        try:
            print("RESULT", alt_coop.run_coro_as_main(loop, main()))
        except SystemExit as exit:
            print("EXIT CODE", exit.code)
        print("CLOSED", loop.is_closed())
        """,
    )
    assert result.ret == 0, result.stderr.str()
    expected = "EXIT CODE 1" if fails else "RESULT ok"
    result.stdout.fnmatch_lines(["LEFTOVER FINALLY", "AGEN FINALLY", expected, "CLOSED True"])
    if fails:
        result.stderr.fnmatch_lines(["RuntimeError: failing main"])
    else:
        assert result.stderr.str().strip() == ""


def test_an_executor_job_that_outlives_the_session_does_not_hold_back_the_report(
    pytester, run_alt_subprocess
):
    # asyncio's shutdown_default_executor joins its thread even when given
    # up on: the end of the session waited for the job, the report with it.
    done = pytester.path / "job-done"
    pytester.makeconftest(
        f"""
        import os

        def pytest_terminal_summary(terminalreporter):
            ended = os.path.exists({str(done)!r})
            terminalreporter.write_line(f"JOB ENDED BEFORE THE REPORT: {{ended}}")
        """
    )
    pytester.makepyfile(
        f"""
        import asyncio
        import time

        def job():
            time.sleep(8)
            open({str(done)!r}, "w").close()

        async def test_waits_for_a_slow_job(async_timeout):
            async_timeout.set_timeout_seconds(0.5)
            await asyncio.get_running_loop().run_in_executor(None, job)
        """
    )
    result = run_alt_subprocess(timeout=60)
    result.assert_outcomes(failed=1, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "*test_waits_for_a_slow_job timed out after 0.5s*",
            "*alt_coop stopped waiting for the cleanup of the default executor's threads at "
            "the end of the session, after 2s. A thread still running a job keeps the process "
            "from exiting until the job returns: give the blocking calls in jobs a timeout, so "
            "that they end with the test that waited for them.*",
            "JOB ENDED BEFORE THE REPORT: False",
        ]
    )


@pytest.mark.parametrize("swallowed", [False, True], ids=["propagated", "swallowed"])
def test_run_coro_as_main_exits_130_on_ctrl_c(pytester, swallowed):
    # Whether the main coroutine lets Ctrl-C's cancellation out or swallows
    # it, the program was interrupted: 130, and no error of the coroutine.
    result = run_script(
        pytester,
        f"""
        import asyncio
        import os
        import signal
        import alt_coop

        # A shell starts background jobs with SIGINT ignored: see it anyway.
        signal.signal(signal.SIGINT, signal.default_int_handler)

        async def main():
            loop = asyncio.get_running_loop()
            loop.call_later(0.1, os.kill, os.getpid(), signal.SIGINT)  # Ctrl-C
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                if {swallowed}:
                    return "swallowed"
                raise
            finally:
                print("FINALLY RAN")

        alt_coop.run_coro_as_main(asyncio.new_event_loop(), main())
        print("NOT REACHED")
        """,
    )
    assert result.ret == 130, (result.stdout.str(), result.stderr.str())
    result.stdout.fnmatch_lines(["FINALLY RAN"])
    assert "NOT REACHED" not in result.stdout.str()
    stderr = result.stderr.str()
    assert "Interrupted (Ctrl-C)" in stderr
    assert "Error in the main coroutine" not in stderr
    assert "CancelledError" not in stderr


def test_a_session_run_by_a_test_leaves_the_outer_sessions_loop_current(
    pytester, run_alt_subprocess
):
    # As an alt_coop.Loop block does: the inner session's loop is no longer
    # current as it ends, and the outer one's is again, not none.
    pytester.makepyfile(
        test_outer="""
        import asyncio
        import alt_coop
        import pytest

        def test_inner_session(tmp_path):
            before = asyncio.get_event_loop()
            (tmp_path / "test_inner.py").write_text("def test_inner():\\n    pass\\n")
            args = [str(tmp_path), "-q", "-p", "no:cacheprovider"]
            assert pytest.main(args, plugins=[alt_coop.Plugin()]) == 0
            assert asyncio.get_event_loop() is before
        """
    )
    result = run_alt_subprocess("test_outer.py")
    result.assert_outcomes(passed=1)


def test_a_session_run_by_a_test_whose_end_hooks_raise_leaves_no_trace(
    pytester, run_alt_subprocess
):
    # The inner session's conftest stops pluggy before alt_coop's session
    # end, at pytest_sessionfinish and again at pytest_unconfigure: its loop
    # stayed current and the outer batch ran one by one, as in a Loop block.
    pytester.makepyfile(
        test_outer="""
        import asyncio
        import signal
        import alt_coop
        import pytest

        CONFTEST = (
            "def pytest_sessionfinish():\\n    raise RuntimeError('sessionfinish broke')\\n"
            "def pytest_unconfigure():\\n    raise RuntimeError('unconfigure broke')\\n"
        )

        def test_inner_session(tmp_path):
            before = asyncio.get_event_loop(), signal.getsignal(signal.SIGINT)
            (tmp_path / "conftest.py").write_text(CONFTEST)
            (tmp_path / "test_inner.py").write_text("async def test_inner():\\n    pass\\n")
            args = [str(tmp_path), "-q", "-p", "no:cacheprovider"]
            with pytest.raises(RuntimeError, match="unconfigure broke"):
                pytest.main(args, plugins=[alt_coop.Plugin()])
            assert (asyncio.get_event_loop(), signal.getsignal(signal.SIGINT)) == before

        async def test_one():
            await asyncio.sleep(0.1)

        async def test_two():
            await asyncio.sleep(0.1)
        """
    )
    result = run_alt_subprocess("test_outer.py", "--asyncio-cooperative")
    result.assert_outcomes(passed=3)
    assert "one by one" not in result.stdout.str()
    result.stdout.fnmatch_lines(["alt_coop: 2 cooperative tests, at most 2 at once, *"])
