"""Cooperative tests written as plain ``def``: their bodies run in threads."""

from __future__ import annotations

import re

from conftest import ISOLATE, mode_args
from cooperative_support import (
    SUMMARY,
    events_conftest,
    failure_sections,
    overlap,
    read_events,
    read_spans,
    verbose_lines,
)


def test_a_sync_cooperative_test_cannot_set_up_fixtures_from_its_thread(pytester, run_alt):
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        @pytest.fixture
        async def resource():
            await asyncio.sleep(0)
            return 5

        def test_getfixturevalue(request):
            request.getfixturevalue("resource")

        def test_addfinalizer(request):
            request.addfinalizer(lambda: None)

        def test_as_an_argument(resource, request):
            assert resource == 5
            assert request.node.name == "test_as_an_argument"
        """
    )
    result = run_alt("-v")
    assert verbose_lines(result.stdout.str()) == {
        "test_getfixturevalue": ["FAILED"],
        "test_addfinalizer": ["FAILED"],
        "test_as_an_argument": ["PASSED"],
    }, result.stdout.str()
    for what, instead in (
        ("getfixturevalue", "ask for the fixture as an argument"),
        ("addfinalizer", "add the finalizer in a fixture of your own, which the test asks for"),
    ):
        result.stdout.fnmatch_lines(
            [
                f"E * request.{what} cannot be called from a plain def cooperative test, "
                f"whose body runs in a worker thread: {instead}, or make the test async"
            ]
        )


def test_a_fixtures_request_cannot_set_up_fixtures_from_a_thread_body(pytester, run_alt):
    # Through a fixture's request, kept by the body: "no running event
    # loop" from alt_coop's internals, or a fixture set up in the worker
    # thread. What is set up already is still handed over, a wider fixture
    # that another test set up too.
    pytester.makepyfile(
        """
        import asyncio
        import threading
        import time
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        @pytest.fixture(scope="module")
        def unset():
            return 41

        @pytest.fixture(scope="module")
        def shared():
            return 42

        @pytest.fixture
        def narrow():
            return threading.current_thread().name

        @pytest.fixture
        def lookup(request):
            return request.getfixturevalue

        def test_wider(lookup):
            lookup("unset")

        def test_function_scope(lookup):
            lookup("narrow")

        def test_set_up_already(lookup, narrow):
            assert lookup("narrow") == "MainThread"

        def test_set_up_by_another(lookup):
            time.sleep(0.3)
            assert lookup("shared") == 42

        async def test_sets_it_up(shared):
            await asyncio.sleep(0)
        """
    )
    result = run_alt("-v")
    assert verbose_lines(result.stdout.str()) == {
        "test_wider": ["FAILED"],
        "test_function_scope": ["FAILED"],
        "test_set_up_already": ["PASSED"],
        "test_set_up_by_another": ["PASSED"],
        "test_sets_it_up": ["PASSED"],
    }, result.stdout.str()
    for name in ("unset", "narrow"):
        result.stdout.fnmatch_lines(
            [
                f"E * the fixture {name!r} cannot be set up from a plain def cooperative "
                "test, whose body runs in a worker thread (through request.getfixturevalue): "
                "ask for the fixture as an argument, or make the test async"
            ]
        )
    assert "no running event loop" not in result.stdout.str()


def test_sync_cooperative_test_runs_in_a_worker_thread_without_blocking(pytester, run_alt):
    events_conftest(pytester)
    pytester.makepyfile(
        """
        import asyncio
        import threading
        import pytest
        from conftest import log, span

        pytestmark = pytest.mark.asyncio_cooperative
        RELEASED = threading.Event()

        @pytest.fixture
        async def loop_thread():
            await asyncio.sleep(0)
            log("fixture thread", threading.get_ident())
            return threading.get_ident()

        def test_sync_waits(loop_thread):
            with span("sync"):
                log("test thread", threading.get_ident())
                assert threading.get_ident() != loop_thread
                # Only an async test running on the loop meanwhile can set it.
                assert RELEASED.wait(2), "the loop was blocked while this test ran"

        async def test_async_releases():
            async with span("async"):
                await asyncio.sleep(0.05)
                log("async thread", threading.get_ident())
                RELEASED.set()
        """
    )
    result = run_alt("-v")
    result.assert_outcomes(passed=2)
    threads = dict(line.rsplit(" ", 1) for line in read_events(pytester) if " thread " in line)
    assert threads["fixture thread"] == threads["async thread"]
    assert threads["test thread"] != threads["fixture thread"]
    spans = read_spans(pytester)
    assert overlap(spans["sync"], spans["async"])
    assert SUMMARY.search(result.stdout.str()).group(1, 2) == ("2", "2")


def test_what_a_plain_def_test_returns_is_checked_by_pytest(pytester, run_alt):
    # The body runs in a worker thread in a batch; the checks of the returned
    # value apply as in a sequential run: pytest's warning for a value,
    # alt_coop's failure for an awaitable (pytest 8.3 skipped the test).
    pytester.makeconftest(
        """
        import pytest

        def pytest_collection_modifyitems(items):
            if "--asyncio-cooperative" in items[0].config.invocation_params.args:
                for item in items:
                    item.add_marker(pytest.mark.asyncio_cooperative)
        """
    )
    pytester.makepyfile(
        """
        class Awaitable:  # as a coroutine is, to pytest, without the never-awaited warning
            def __await__(self):
                yield

        def test_returns_a_value():
            return 5

        def test_returns_a_coroutine():
            return Awaitable()

        def test_returns_none():
            return None
        """
    )
    outcomes = {}
    for mode in ("sequential", "cooperative"):
        result = run_alt("-v", "-rs", *mode_args(mode))
        outcomes[mode] = verbose_lines(result.stdout.str())
        result.stdout.fnmatch_lines(["*PytestReturnNotNoneWarning*test_returns_a_value*"])
        result.stdout.fnmatch_lines(
            ["*::test_returns_a_coroutine is a plain function that returned 'Awaitable' object*"]
        )
    assert outcomes["cooperative"] == outcomes["sequential"]
    assert outcomes["sequential"]["test_returns_a_value"] == ["PASSED"]
    assert outcomes["sequential"]["test_returns_a_coroutine"] == ["FAILED"]


def test_other_pyfunc_call_hooks_run_before_a_thread_body_as_before_any_body(pytester, run_alt):
    # A conftest's (non-wrapper) pytest_pyfunc_call comes before pytest's own,
    # which calls the body: what it sets up, the body sees.
    pytester.makeconftest(
        """
        import contextvars

        CALLED = contextvars.ContextVar("CALLED", default=None)

        def pytest_pyfunc_call(pyfuncitem):
            print(f"HOOK {pyfuncitem.name}")
            CALLED.set(pyfuncitem.name)
        """
    )
    pytester.makepyfile(
        """
        import time
        import pytest
        from conftest import CALLED

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("n", range(2))
        def test_plain(n, request):
            print(f"BODY {request.node.name}")
            time.sleep(0.01)
            assert CALLED.get() == request.node.name
        """
    )
    result = run_alt("-s", "-p", "no:randomly")
    result.assert_outcomes(passed=2)
    output = result.stdout.str()
    for name in ("test_plain[0]", "test_plain[1]"):
        assert output.index(f"HOOK {name}") < output.index(f"BODY {name}")


def test_failing_sync_cooperative_test_shows_its_own_line_and_diff(pytester, run_alt):
    """As in a sequential run, the failure of a sync test run in a worker thread
    points at the test's own line, not at a frame of the plugin running it."""
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.asyncio_cooperative
        def test_sync_fails():
            values = [1, 2, 3]
            assert values == [1, 2, 4]
        """
    )
    result = run_alt("-v")
    result.assert_outcomes(failed=1)
    section = failure_sections(result.stdout.str())["test_sync_fails"]
    assert "At index 2 diff: 3 != 4" in section
    assert ">       assert values == [1, 2, 4]" in section, section
    assert re.search(r"^test_\w+\.py:6: AssertionError$", section, re.M), section
    assert "alt_coop" not in section, section


def test_sync_cooperative_tests_each_get_a_thread_of_their_own(pytester, run_alt):
    """More sync bodies than the loop's default executor has workers (32 at
    most) run at once, and the pool work of an async test is not queued
    behind them: all 41 parties meet at the barrier."""
    pytester.makepyfile(
        """
        import asyncio
        import threading
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative
        ALL = threading.Barrier(41, timeout=10)

        @pytest.mark.parametrize("n", range(40))
        def test_sync_body(n, request):
            ALL.wait()
            assert threading.current_thread().name == f"alt_coop: {request.node.nodeid}"

        async def test_pool_work():
            await asyncio.to_thread(ALL.wait)
        """
    )
    result = run_alt()
    result.assert_outcomes(passed=41)
    assert SUMMARY.search(result.stdout.str()).group(1, 2) == ("41", "41")


def test_threads_make_temporary_directories_at_once(pytester, run_alt):
    """pytest's temporary directory factory is the session's, and makes the
    base directory and numbers each directory unlocked: thread bodies, and
    the threads async tests hand work to, calling it at once each get a
    directory of their own, as in turn."""
    pytester.makepyfile(
        """
        import asyncio
        import pathlib
        import threading
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative
        ALL = threading.Barrier(20, timeout=10)

        def make(n, tmp_path_factory, tmpdir_factory):
            ALL.wait()
            made = [tmp_path_factory.mktemp("data") for _ in range(3)]
            made.append(pathlib.Path(tmpdir_factory.mktemp("legacy")))
            for path in made:
                (path / "n.txt").write_text(str(n))
            ALL.wait()
            assert [(path / "n.txt").read_text() for path in made] == [str(n)] * 4

        @pytest.mark.parametrize("n", range(10))
        def test_makes_directories(n, tmp_path_factory, tmpdir_factory):
            make(n, tmp_path_factory, tmpdir_factory)

        @pytest.mark.parametrize("n", range(10, 20))
        async def test_makes_directories_in_a_thread(n, tmp_path_factory, tmpdir_factory):
            await asyncio.to_thread(make, n, tmp_path_factory, tmpdir_factory)
        """
    )
    basetemp = pytester.path / "made"
    result = run_alt("-W", "error::pytest.PytestWarning", f"--basetemp={basetemp}")
    result.assert_outcomes(passed=20)
    made = sorted(path.name for path in basetemp.iterdir() if not path.is_symlink())
    assert made == sorted([*(f"data{n}" for n in range(60)), *(f"legacy{n}" for n in range(20))])


def test_the_pool_work_of_tests_in_flight_is_not_queued(pytester, run_alt):
    """The session loop's default executor has a worker for each test that
    may be in flight, beyond asyncio's 32 at most: all 40 meet."""
    pytester.makepyfile(
        """
        import asyncio
        import threading
        import pytest

        ALL = threading.Barrier(40, timeout=10)

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("n", range(40))
        async def test_pool_work(n):
            await asyncio.to_thread(ALL.wait)
        """
    )
    result = run_alt()
    result.assert_outcomes(passed=40)


def test_an_applications_loop_keeps_its_own_default_executor(pytester):
    pytester.makepyfile(
        test_pool="""
        import asyncio
        import threading

        async def test_pool_work_runs_in_the_apps_pool():
            name = await asyncio.to_thread(lambda: threading.current_thread().name)
            assert name.startswith("app-pool"), name
        """
    )
    script = pytester.makepyfile(
        app=f"""
        import asyncio
        import concurrent.futures
        import sys
        import pytest
        import alt_coop

        loop = asyncio.new_event_loop()
        loop.set_default_executor(
            concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="app-pool")
        )
        args = {[*ISOLATE, "test_pool.py"]!r}
        code = pytest.main(args, plugins=[alt_coop.Plugin(managed_loop=loop)])
        loop.close()
        sys.exit(code)
        """
    )
    result = pytester.runpython(script)
    result.assert_outcomes(passed=1)


def test_a_sync_cooperative_test_raising_stopiteration_fails_as_it_would_alone(pytester, run_alt):
    # asyncio refuses a StopIteration as a future's exception, and a coroutine
    # or generator passing one on turns it into a RuntimeError.
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.asyncio_cooperative
        def test_cooperative_stops():
            raise StopIteration("stopped early")

        def test_sequential_stops():
            raise StopIteration("stopped early")

        @pytest.mark.asyncio_cooperative
        def test_returns():
            pass
        """
    )
    result = run_alt()
    result.assert_outcomes(failed=2, passed=1)
    sections = failure_sections(result.stdout.str())
    for name in ("test_cooperative_stops", "test_sequential_stops"):
        section = sections[name]
        assert '>       raise StopIteration("stopped early")' in section, section
        assert "E       StopIteration: stopped early" in section, section
        assert "alt_coop" not in section, section


def test_main_thread_only_code_needs_a_sync_test_to_opt_out(pytester, run_alt):
    # The README's advice for a plain def test that sets a signal handler.
    pytester.makepyfile(
        """
        import signal
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        def set_and_restore_a_handler():
            previous = signal.signal(signal.SIGUSR1, signal.SIG_IGN)
            signal.signal(signal.SIGUSR1, previous)

        def test_in_its_thread():
            set_and_restore_a_handler()

        @pytest.mark.asyncio_sequential
        def test_opted_out():
            set_and_restore_a_handler()
        """
    )
    result = run_alt("-rA")
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines(
        [
            "E       ValueError: signal only works in main thread*",
            "PASSED *::test_opted_out",
            "FAILED *::test_in_its_thread*",
        ]
    )


def test_a_warnings_state_changed_beside_a_thread_body_is_named_in_a_notice(pytester, run_alt):
    # Python's warnings state is process-wide across threads: while a plain
    # def test's body runs in its thread, what another test sets holds for
    # every test (README). Its outcome may then be wrong: the run says so.
    pytester.makepyfile(
        """
        import asyncio
        import time
        import warnings
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        async def test_warns():
            with pytest.warns(UserWarning, match="mine"):
                await asyncio.sleep(0.01)
                warnings.warn("mine", UserWarning)
                await asyncio.sleep(0.05)

        async def test_plain():
            await asyncio.sleep(0.02)

        def test_in_thread():
            time.sleep(0.1)
        """
    )
    result = run_alt("-W", "always::UserWarning")
    result.assert_outcomes(passed=3)
    result.stdout.re_match_lines(
        [
            r"test_a_warnings_state_changed_beside_a_thread_body_is_named_in_a_notice.py::"
            r"test_warns$",
            r".*AltCoopWarning: alt_coop: the warnings state changed \(pytest.warns, .*\) "
            r"while \S+::test_in_thread ran in a worker thread, beside \S+::test_warns: "
            r"Python's warnings state is process-wide across threads, .* Mark one of them "
            r"asyncio_sequential",
        ]
    )
    assert result.stdout.str().count("the warnings state changed") == 1


def test_a_warnings_state_set_beside_a_thread_body_stays_its_tests_after_the_body_ends(
    pytester, run_alt
):
    # Left in force while the body ran, it was put aside as the state of the
    # next test whose turn ended (here the thread test's own), and its own
    # test's pytest.warns missed the warning it then raised.
    pytester.makepyfile(
        """
        import asyncio
        import time
        import warnings
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        def test_in_thread():
            time.sleep(0.05)

        async def test_warns():
            with pytest.warns(RuntimeWarning, match="mine"):
                await asyncio.sleep(0.2)
                warnings.warn("mine", RuntimeWarning)
        """
    )
    result = run_alt()
    result.assert_outcomes(passed=2, warnings=1)
    result.stdout.fnmatch_lines(["*AltCoopWarning: alt_coop: the warnings state changed*"])


def test_the_notice_of_a_warnings_state_changed_beside_a_thread_body_is_not_hidden_by_one_mark(
    pytester, run_alt
):
    # One test's filterwarnings marks cover that test alone: the notice is
    # told at the thread test's instead.
    pytester.makepyfile(
        """
        import asyncio
        import time
        import warnings
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        def test_in_thread():
            time.sleep(0.1)

        @pytest.mark.filterwarnings("ignore::UserWarning")
        async def test_warns():
            with pytest.warns(RuntimeWarning):
                await asyncio.sleep(0.01)
                warnings.warn("mine", RuntimeWarning)
                await asyncio.sleep(0.05)
        """
    )
    result = run_alt()
    result.assert_outcomes(passed=2, warnings=1)
    result.stdout.fnmatch_lines(
        ["*::test_in_thread", "*AltCoopWarning: alt_coop: the warnings state changed*"]
    )


def test_a_warnings_state_undone_beside_a_thread_body_leaves_the_next_one_its_tests(
    pytester, run_alt
):
    # test_a set a state and undid it while the body ran; test_c's state,
    # left in force after, was put aside as test_a's once the body ended.
    pytester.makepyfile(
        """
        import asyncio
        import time
        import warnings
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        def test_in_thread():
            time.sleep(0.3)

        async def test_a():
            with pytest.warns(RuntimeWarning, match="a"):
                await asyncio.sleep(0.05)
                warnings.warn("a", RuntimeWarning)
            await asyncio.sleep(0.01)

        async def test_c():
            await asyncio.sleep(0.1)
            with pytest.warns(UserWarning, match="c"):
                await asyncio.sleep(0.4)
                warnings.warn("c", UserWarning)
        """
    )
    result = run_alt("-p", "no:randomly")
    result.assert_outcomes(passed=3, warnings=1)


def test_warnings_beside_a_thread_body_give_no_notice_when_no_test_changes_the_state(
    pytester, run_alt
):
    pytester.makepyfile(
        """
        import asyncio
        import time
        import warnings
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        async def test_warns_plainly():
            await asyncio.sleep(0.01)
            warnings.warn("plain", UserWarning)
            await asyncio.sleep(0.05)

        def test_in_thread():
            time.sleep(0.1)
            warnings.warn("from the thread", UserWarning)

        @pytest.mark.asyncio_exclusive
        def test_alone_in_its_thread():
            with pytest.warns(UserWarning, match="its own"):
                time.sleep(0.05)
                warnings.warn("its own", UserWarning)
        """
    )
    result = run_alt()
    result.assert_outcomes(passed=3, warnings=2)
    assert "the warnings state changed" not in result.stdout.str()


def test_a_wider_fixtures_awaiting_teardown_beside_a_thread_body_leaves_its_warnings_its_own(
    pytester, run_alt
):
    # The teardown records warnings for the last test of its module, as
    # pytest does; awaiting, it left that recording in force beside the
    # thread body, whose warning went to that test, with a notice blaming it.
    pytester.makepyfile(
        shared="""
        import threading

        TEARING_DOWN = threading.Event()
        WARNED = threading.Event()
        """,
        test_a="""
        import asyncio
        import pytest
        from shared import TEARING_DOWN, WARNED

        pytestmark = pytest.mark.asyncio_cooperative

        @pytest.fixture(scope="module")
        async def resource():
            yield
            # Once this turn is over: the body warns while the teardown waits.
            asyncio.get_running_loop().call_soon(TEARING_DOWN.set)
            await asyncio.to_thread(WARNED.wait, 10)

        async def test_slow(resource):
            await asyncio.sleep(0.1)

        @pytest.mark.filterwarnings("error::UserWarning")
        async def test_fast(resource):
            pass
        """,
        test_b="""
        import warnings
        import pytest
        from shared import TEARING_DOWN, WARNED

        pytestmark = pytest.mark.asyncio_cooperative

        def test_plain():
            assert TEARING_DOWN.wait(10)
            warnings.warn(UserWarning("from test_plain"))
            WARNED.set()
        """,
    )
    result = run_alt("-p", "no:randomly", "-rA")
    result.assert_outcomes(passed=3, warnings=1)
    result.stdout.fnmatch_lines(["test_b.py::test_plain", "*UserWarning: from test_plain"])
    assert "the warnings state changed" not in result.stdout.str()


def test_a_thread_bodys_exit_after_its_cap_fired_stops_the_run(pytester, run_alt):
    # The body runs on past its cap; what it raises then is its own, and a
    # stop of the run stops it, as it would have without the cap.
    pytester.makepyfile(
        """
        import asyncio
        import time
        import pytest

        @pytest.mark.asyncio_cooperative
        def test_gives_up():
            time.sleep(0.6)
            pytest.exit("giving up", returncode=3)

        @pytest.mark.asyncio_cooperative
        async def test_beside():
            await asyncio.sleep(0.1)

        async def test_after():
            pass
        """
    )
    result = run_alt("--asyncio-task-timeout=0.2")
    assert result.ret == 3, result.stdout.str()
    assert "asyncio_task_timeout" not in result.stdout.str()
    result.stdout.fnmatch_lines(["*giving up*"])
    result.assert_outcomes(passed=1)
