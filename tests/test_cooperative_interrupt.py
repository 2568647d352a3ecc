"""Cooperative tests: the end-of-run line, and Ctrl-C."""

from __future__ import annotations

import fnmatch
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import ISOLATE, Interrupted, interrupt_when
from cooperative_support import (
    SUMMARY,
    events_conftest,
    overlap,
    read_events,
    read_spans,
    verbose_lines,
)


def _seen_for(path: Path, seconds: float) -> Callable[[], bool]:
    """A readiness check for :func:`interrupt_when`: ``path`` has existed
    for ``seconds`` (counted from when the check first saw it)."""
    first_seen: list[float] = []

    def ready() -> bool:
        if not path.exists():
            return False
        if not first_seen:
            first_seen.append(time.monotonic())
        return time.monotonic() - first_seen[0] > seconds

    return ready


# -- the end-of-run line ---------------------------------------------------------------


def _interrupted_cooperatively(
    pytester: pytest.Pytester, test_file: Path, ready: str, **kwargs: Any
) -> Interrupted:
    """Run ``test_file`` with every async test cooperative, and Ctrl-C it
    once the file ``ready`` exists (see conftest.interrupt_when)."""
    command = [sys.executable, "-m", "pytest", *ISOLATE, "-p", "alt_coop.enable"]
    return interrupt_when(
        [*command, "--asyncio-cooperative", str(test_file)],
        pytester.path,
        lambda: (pytester.path / ready).exists(),
        f"{ready} written",
        **kwargs,
    )


def test_summary_line_counts_cooperative_tests_and_peak(pytester, run_alt):
    events_conftest(pytester)
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        from conftest import meet

        ALL = asyncio.Barrier(3)

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("n", range(3))
        async def test_together(n):
            await meet(ALL)
            await asyncio.sleep(0.05)

        async def test_not_cooperative():
            await asyncio.sleep(0)

        def test_sync():
            pass
        """
    )
    result = run_alt()
    result.assert_outcomes(passed=5)
    output = result.stdout.str()
    assert SUMMARY.search(output).group(1, 2) == ("3", "3")
    assert len(SUMMARY.findall(output)) == 1
    busy, wall = map(
        float, re.search(r"at once, (\d+\.\d\d)s of test time in (\d+\.\d\d)s", output).groups()
    )
    assert busy >= 0.15 and wall >= 0.05


def test_the_summary_line_is_a_section_of_its_own(pytester, run_alt):
    # Written right after the last test's captured output, it read as part of it.
    pytester.makepyfile(
        """
        import asyncio

        async def test_fails():
            print("output of test_fails")
            await asyncio.sleep(0)
            assert False
        """
    )
    result = run_alt("--asyncio-cooperative")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*- Captured stdout call -*",
            "output of test_fails",
            "*- alt_coop -*",
            "alt_coop: 1 cooperative test, at most 1 at once, *",
            "*= short test summary info =*",
        ],
        consecutive=True,
    )


def test_no_summary_line_without_cooperative_tests(pytester, run_alt):
    pytester.makepyfile(
        """
        import asyncio

        async def test_plain():
            await asyncio.sleep(0)
        """
    )
    result = run_alt()
    result.assert_outcomes(passed=1)
    assert "alt_coop: " not in result.stdout.str()


# -- Ctrl-C ---------------------------------------------------------------------------


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT is POSIX-only here")
def test_ctrl_c_during_a_batch_cleans_up_and_reports_no_failures(pytester):
    events_conftest(pytester)
    test_file = pytester.makepyfile(
        """
        import asyncio
        import pytest
        from conftest import log

        @pytest.fixture(scope="module")
        async def resource():
            yield
            await asyncio.sleep(0)
            log("teardown resource")

        @pytest.fixture
        async def per_test(request):
            yield
            await asyncio.sleep(0)
            log("teardown per_test", request.node.name)

        @pytest.mark.asyncio_cooperative
        async def test_quick(resource):
            await asyncio.sleep(0)

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("n", range(3))
        async def test_long(resource, per_test, n):
            log("started", n)
            try:
                await asyncio.sleep(30)
            finally:
                log("finally", n)

        def test_never_reached():
            log("reached")
        """
    )
    output, returncode, _, interrupted, ended = interrupt_when(
        [sys.executable, "-m", "pytest", *ISOLATE, "-p", "alt_coop.enable", "-v", str(test_file)],
        pytester.path,
        lambda: sum(line.startswith("started ") for line in read_events(pytester)) == 3,
        "all three long tests started",
        communicate_timeout=15,
    )

    # Promptly: nowhere near the 30s the tests would have slept.
    assert ended - interrupted < 10, output
    events = read_events(pytester)
    for n in range(3):
        assert events.count(f"finally {n}") == 1, events
        assert events.count(f"teardown per_test test_long[{n}]") == 1, events
    assert events.count("teardown resource") == 1, events
    assert events.index("teardown resource") > max(
        events.index(f"teardown per_test test_long[{n}]") for n in range(3)
    )
    assert "reached" not in events
    # pytest's one line names the user's waiting line, as for a sync test.
    sleep_line = test_file.read_text().splitlines().index("        await asyncio.sleep(30)") + 1
    assert f"{test_file.name}:{sleep_line}: KeyboardInterrupt" in output, output
    assert returncode == pytest.ExitCode.INTERRUPTED, output
    lines = verbose_lines(output)
    assert lines.get("test_quick") == ["PASSED"], output
    assert not any(name.startswith("test_long") for name in lines), output
    assert re.search(r"\b1 passed\b", output), output
    assert not re.search(r"\b\d+ (failed|errors?)\b", output), output


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT is POSIX-only here")
@pytest.mark.parametrize("scope", ["module", "session"])
def test_ctrl_c_names_the_line_of_a_shared_fixture_being_set_up(pytester, scope):
    # The tests waiting for that fixture's setup have no line of their own to
    # name; pytest's one line must not name pytest's code where they waited.
    events_conftest(pytester)
    test_file = pytester.makepyfile(
        f"""
        import asyncio
        import pytest
        from conftest import log

        @pytest.fixture(scope="{scope}")
        async def slow_shared():
            log("setting up")
            await asyncio.sleep(30)
            yield

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("n", range(4))
        async def test_waits(slow_shared, n):
            pass
        """
    )
    for _ in range(3):  # which waiting test meets the interrupt first varies
        output, returncode, *_ = interrupt_when(
            [sys.executable, "-m", "pytest", *ISOLATE, "-p", "alt_coop.enable", str(test_file)],
            pytester.path,
            lambda: "setting up" in read_events(pytester),
            "the shared fixture's setup started",
            communicate_timeout=15,
        )
        assert returncode == pytest.ExitCode.INTERRUPTED, output
        sleep_line = test_file.read_text().splitlines().index("    await asyncio.sleep(30)") + 1
        assert f"{test_file.name}:{sleep_line}: KeyboardInterrupt" in output, output
        (pytester.path / "events.txt").unlink(missing_ok=True)


def test_ctrl_c_keeps_the_results_of_tests_already_in_teardown(pytester):
    events_conftest(pytester)
    test_file = pytester.makepyfile(
        """
        import asyncio
        import pytest
        from conftest import log

        @pytest.fixture
        async def slow_teardown(request):
            yield
            log("teardown begins", request.node.name)
            try:
                await asyncio.sleep(30)
            finally:
                log("teardown cut", request.node.name)

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("n", range(2))
        async def test_passes(slow_teardown, n):
            pass

        @pytest.mark.asyncio_cooperative
        async def test_fails(slow_teardown):
            assert 1 == 2
        """
    )
    output, returncode, _, _, _ = interrupt_when(
        [sys.executable, "-m", "pytest", *ISOLATE, "-p", "alt_coop.enable", "-v", str(test_file)],
        pytester.path,
        lambda: sum(line.startswith("teardown begins") for line in read_events(pytester)) == 3,
        "all three tests in their teardown",
        communicate_timeout=15,
    )

    assert sum(line.startswith("teardown cut") for line in read_events(pytester)) == 3
    assert returncode == pytest.ExitCode.INTERRUPTED, output
    lines = verbose_lines(output)
    assert lines == {
        "test_passes[0]": ["PASSED"],
        "test_passes[1]": ["PASSED"],
        "test_fails": ["FAILED"],
    }, output
    assert "assert 1 == 2" in output
    assert re.search(r"\b1 failed, 2 passed\b", output), output


def test_ctrl_c_tears_interrupted_tests_down_at_once(pytester):
    events_conftest(pytester)
    test_file = pytester.makepyfile(
        """
        import asyncio
        import pytest
        from conftest import log

        @pytest.fixture
        async def resource(request):
            yield
            log("teardown begins", request.node.name)
            await asyncio.sleep(0.2)
            log("teardown ends", request.node.name)

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("n", range(4))
        async def test_long(resource, n):
            log("started", n)
            await asyncio.sleep(30)
        """
    )
    output, returncode, _, _, _ = interrupt_when(
        [sys.executable, "-m", "pytest", *ISOLATE, "-p", "alt_coop.enable", str(test_file)],
        pytester.path,
        lambda: sum(line.startswith("started ") for line in read_events(pytester)) == 4,
        "all four tests started",
        communicate_timeout=15,
    )

    events = read_events(pytester)
    begins = [i for i, line in enumerate(events) if line.startswith("teardown begins")]
    ends = [i for i, line in enumerate(events) if line.startswith("teardown ends")]
    assert len(begins) == len(ends) == 4, events
    # Concurrently, as they ran: every teardown began before the first ended.
    assert max(begins) < min(ends), events
    assert returncode == pytest.ExitCode.INTERRUPTED, output
    assert not re.search(r"\b\d+ (passed|failed|errors?)\b", output), output


# Indented as the module they go in, for pytester's dedent.
KEEPS = """
        @pytest.mark.asyncio_cooperative
        async def test_keeps(shared):
            await L().acquire()
            log("started keeps")
            await asyncio.sleep(30)
            L().release()
"""

OTHER = """
        @pytest.mark.asyncio_cooperative
        async def test_other(shared):
            log("started other")
            await asyncio.sleep(30)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT is POSIX-only here")
@pytest.mark.parametrize(
    "tests", [KEEPS + OTHER, OTHER + KEEPS], ids=["keeps_first", "keeps_last"]
)
def test_ctrl_c_releases_the_locks_an_interrupted_test_kept(pytester, tests):
    """A test cut short by Ctrl-C between a bare ``acquire()`` and its
    ``release()`` leaves nothing for the teardowns after it to wait for,
    whether the module's teardown comes in its own lane or another's."""
    events_conftest(pytester)
    test_file = pytester.makepyfile(
        """
        import asyncio
        import alt_coop
        import pytest
        from conftest import log

        L = alt_coop.Lock()

        @pytest.fixture(scope="module")
        async def shared():
            yield
            async with L():
                log("teardown took the lock")
        """
        + tests
    )
    output, returncode, _, _, _ = interrupt_when(
        [sys.executable, "-m", "pytest", *ISOLATE, "-p", "alt_coop.enable", str(test_file)],
        pytester.path,
        lambda: sum(line.startswith("started ") for line in read_events(pytester)) == 2,
        "both tests started",
        communicate_timeout=15,
    )

    assert "teardown took the lock" in read_events(pytester), output
    assert "stopped waiting" not in output, output
    assert returncode == pytest.ExitCode.INTERRUPTED, output
    assert not re.search(r"\b\d+ (passed|failed|errors?)\b", output), output


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT is POSIX-only here")
@pytest.mark.parametrize("renamed", [False, True])
def test_a_test_left_where_it_waited_after_ctrl_c_lets_go_of_its_locks(pytester, renamed):
    """A test that swallows every interrupt is left where it waits; the lock
    its body holds is let go of, or the session's teardown would wait for
    it forever. Also when the test renamed its task, by which alt_coop
    found its test (it hung)."""
    test_file = pytester.makepyfile(
        """
        import asyncio
        import pathlib
        import alt_coop
        import pytest

        L = alt_coop.Lock()

        @pytest.fixture(scope="module")
        async def shared():
            yield
            async with L():
                pathlib.Path("teardown-took-the-lock").touch()

        @pytest.mark.asyncio_cooperative
        async def test_stubborn(shared):
            RENAME
            async with L():
                pathlib.Path("started").touch()
                while True:
                    try:
                        await asyncio.sleep(100)
                    except BaseException:  # a retry loop with a bare except
                        pass
        """.replace("RENAME", "asyncio.current_task().set_name('worker')" if renamed else "pass")
    )
    output, returncode, _, _, _ = interrupt_when(
        [sys.executable, "-m", "pytest", *ISOLATE, "-p", "alt_coop.enable", str(test_file)],
        pytester.path,
        lambda: (pytester.path / "started").exists(),
        "the test started",
        communicate_timeout=40,
    )
    assert returncode == pytest.ExitCode.INTERRUPTED, output
    assert (pytester.path / "teardown-took-the-lock").exists(), output
    assert "were left where they waited: " + f"{test_file.name}::test_stubborn" in output
    # Shown as the test's warning, at its line.
    assert f"{test_file.name}:14: AltCoopWarning: alt_coop stopped waiting" in output, output


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT is POSIX-only here")
@pytest.mark.parametrize("limit", [[], ["--max-asyncio-tasks=2"]], ids=["no-limit", "limit-2"])
def test_a_fixture_set_up_left_where_it_waited_after_ctrl_c_lets_go_of_its_locks(pytester, limit):
    """The same, for a wider fixture's setup that swallows every interrupt:
    the session's teardown of the other module does not wait for its lock
    (it hung), and no error blames the fixture for a missing release (the
    session's end crashed on it)."""
    pytester.makepyfile(
        test_a_x="""
        import asyncio
        import pathlib
        import alt_coop
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative
        L = alt_coop.Lock()

        @pytest.fixture(scope="module")
        async def xm():
            async with L():
                pathlib.Path("started").touch()
                while True:
                    try:
                        await asyncio.sleep(100)
                    except BaseException:  # a retry loop with a bare except
                        pass
            yield

        async def test_stubborn(xm):
            pass
        """,
        test_b_y="""
        import asyncio
        import pathlib
        import pytest
        from test_a_x import L

        pytestmark = pytest.mark.asyncio_cooperative

        @pytest.fixture(scope="module")
        async def ym():
            yield
            async with L():
                pathlib.Path("teardown-took-the-lock").touch()

        async def test_y1(ym):
            await asyncio.sleep(100)

        async def test_y2(ym):
            pass
        """,
    )
    output, returncode, _, _, _ = interrupt_when(
        [sys.executable, "-m", "pytest", *ISOLATE, "-p", "alt_coop.enable", *limit],
        pytester.path,
        lambda: (pytester.path / "started").exists(),
        "the fixture's setup started",
        communicate_timeout=40,
    )
    assert returncode == pytest.ExitCode.INTERRUPTED, output
    assert "were left where they waited: test_a_x.py::test_stubborn" in output
    assert "without a release" not in output, output
    assert "pytest_sessionfinish" not in output, output


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT is POSIX-only here")
def test_a_test_left_after_a_second_ctrl_c_keeps_its_fixtures_locks_for_their_teardown(
    pytester,
):
    # Released when the test was left, the lock its fixture holds was
    # released again by the fixture's teardown: "Lock is not acquired".
    test_file = pytester.makepyfile(
        """
        import asyncio
        import pathlib
        import alt_coop
        import pytest

        L = alt_coop.Lock()

        @pytest.fixture(scope="module")
        async def shared():
            yield
            async with L():
                pathlib.Path("shared-took-the-lock").touch()

        @pytest.fixture
        async def held():
            async with L():
                yield

        @pytest.mark.asyncio_cooperative
        async def test_stubborn(shared, held):
            pathlib.Path("started").touch()
            try:
                await asyncio.sleep(30)
            finally:
                try:
                    await asyncio.sleep(30)
                finally:
                    await asyncio.sleep(30)

        @pytest.mark.asyncio_cooperative
        async def test_quick():
            pass
        """
    )
    output, returncode, _, _, _ = interrupt_when(
        [sys.executable, "-m", "pytest", *ISOLATE, "-p", "alt_coop.enable", str(test_file)],
        pytester.path,
        lambda: (pytester.path / "started").exists(),
        "the test started",
        again_after=0.5,
        communicate_timeout=30,
    )
    assert returncode == pytest.ExitCode.INTERRUPTED, output
    assert "Lock is not acquired" not in output, output
    assert "were left where they waited: " + f"{test_file.name}::test_stubborn" in output
    assert (pytester.path / "shared-took-the-lock").exists(), output


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT is POSIX-only here")
def test_a_second_ctrl_c_during_code_holding_the_loop_ends_the_grace_too(pytester):
    # The second Ctrl-C came while a test's sync code held the loop: it ended
    # that code, and the batch then gave a test that ignores its cancellation
    # the first one's whole grace (5 s): a third Ctrl-C was needed.
    test_file = pytester.makepyfile(
        """
        import asyncio
        import pathlib
        import time
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        async def test_holds():
            await asyncio.sleep(0.1)
            pathlib.Path("holding").touch()
            time.sleep(3)
            await asyncio.sleep(30)

        async def test_stubborn():
            while True:
                try:
                    await asyncio.sleep(30)
                except asyncio.CancelledError:
                    pass
        """
    )
    output, returncode, _, interrupted, ended = _interrupted_cooperatively(
        pytester, test_file, "holding", again_after=0.5, communicate_timeout=30
    )
    assert returncode == pytest.ExitCode.INTERRUPTED, output
    assert (
        "alt_coop stopped waiting for 1 cooperative test(s) after the interrupt, and "
        f"interrupted them where they waited: {test_file.name}::test_stubborn"
    ) in output
    # The whole grace would end it 5.5 s after the first Ctrl-C at the
    # soonest; a loaded machine takes over a second to end a process.
    assert ended - interrupted < 4.5, output


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT is POSIX-only here")
def test_a_test_ignoring_ctrl_c_is_given_up_on_by_the_interrupts_grace(pytester, monkeypatch):
    # Its own timeout (5 s) came due within the interrupt's grace: it
    # cancelled the test a second time, and gave it up saying "after
    # alt_coop.main was cancelled", in a plain pytest run. Interrupted, the
    # test is the interrupt's: the grace gives up on it.
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    test_file = pytester.makepyfile(
        """
        import asyncio
        import pathlib
        import pytest

        @pytest.mark.asyncio_cooperative
        async def test_stubborn():
            pathlib.Path("started").touch()
            while True:
                try:
                    await asyncio.sleep(100)
                except BaseException:  # a retry loop with a bare except
                    pass

        @pytest.mark.asyncio_cooperative
        async def test_quick():
            pass

        def teardown_function(function):
            if function.__name__ == "test_quick":
                pathlib.Path("quick-done").touch()
        """
    )
    started = pytester.path / "started"
    output, returncode, _, _, _ = interrupt_when(
        [sys.executable, "-m", "pytest", *ISOLATE, "-p", "alt_coop.enable", str(test_file)],
        pytester.path,
        # 3.5 s into the test: its own timeout (5 s) comes due within the
        # interrupt's grace (5 s).
        lambda: (
            (pytester.path / "quick-done").exists()
            and started.exists()
            and time.time() > started.stat().st_mtime + 3.5
        ),
        "the stubborn test started, the other one is done",
        communicate_timeout=40,
    )
    assert returncode == pytest.ExitCode.INTERRUPTED, output
    assert (
        "alt_coop stopped waiting for 1 cooperative test(s) after the interrupt, and "
        "interrupted them where they waited: test_a_test_ignoring_ctrl_c_is_given_up_on_by_the"
        "_interrupts_grace.py::test_stubborn"
    ) in output, output
    assert "timed out" not in output, output
    assert "alt_coop.main" not in output, output


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT is POSIX-only here")
def test_code_still_running_after_the_grace_is_interrupted_once(pytester):
    # A teardown still waiting when the interrupt's grace ended took the
    # interrupt raised there, and again at each await of its clean-up after.
    log = pytester.path / "events.log"
    test_file = pytester.makepyfile(
        f"""
        import asyncio

        import pytest

        def log(line):
            with open({str(log)!r}, "a") as f:
                f.write(line + "\\n")

        @pytest.fixture
        async def slow_to_tear_down():
            yield
            try:
                await asyncio.sleep(10)
            except BaseException as exc:
                log(f"teardown got {{type(exc).__name__}}")
                await asyncio.sleep(0.3)
                log("clean-up done")
                raise

        @pytest.mark.asyncio_cooperative
        async def test_interrupted(slow_to_tear_down):
            log("test started")
            await asyncio.sleep(30)
        """
    )
    output, returncode, _, interrupted, ended = interrupt_when(
        [sys.executable, "-m", "pytest", *ISOLATE, "-p", "alt_coop.enable", str(test_file)],
        pytester.path,
        lambda: log.exists(),
        "the test started",
        communicate_timeout=30,
    )
    assert returncode == pytest.ExitCode.INTERRUPTED, output
    assert log.read_text().splitlines() == [
        "test started",
        "teardown got KeyboardInterrupt",
        "clean-up done",
    ], log.read_text() + output
    assert ended - interrupted < 10, output


def test_second_ctrl_c_ends_at_once_and_names_the_tests_left_running(pytester):
    test_file = pytester.makepyfile(
        """
        import asyncio
        import pathlib
        import pytest

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("n", range(3))
        async def test_stubborn(n):
            pathlib.Path(f"started-{n}").touch()
            try:
                await asyncio.sleep(30)
            finally:
                try:
                    await asyncio.sleep(30)  # a slow cleanup, cut short by the second Ctrl-C
                finally:
                    if n:
                        await asyncio.sleep(30)  # and one that goes on even so
        """
    )
    output, returncode, _, interrupted, ended = interrupt_when(
        [sys.executable, "-m", "pytest", *ISOLATE, "-p", "alt_coop.enable", str(test_file)],
        pytester.path,
        lambda: len(list(pytester.path.glob("started-*"))) == 3,
        "all three tests started",
        again_after=0.5,
        communicate_timeout=20,
    )
    assert returncode == pytest.ExitCode.INTERRUPTED, output
    assert ended - interrupted < 15, output
    assert "KeyboardInterrupt" in output
    assert "Traceback" not in output
    # The tests left running are named; the session's teardown did not wait
    # for them, nor did they touch it, or report anything.
    names = ", ".join(f"{test_file.name}::test_stubborn[{n}]" for n in range(3))
    assert "after the interrupt, and interrupted them where they waited: " + names in output
    left = ", ".join(f"{test_file.name}::test_stubborn[{n}]" for n in (1, 2))
    assert "these went on waiting, and were left where they waited: " + left in output
    assert not re.search(r"^(ERROR|FAILED) ", output, re.M), output


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_ctrl_c_names_the_line_of_a_test_given_up_on_after_its_timeout(pytester, mode):
    # The test's own timeout fired within Ctrl-C's grace (5 s; its
    # cancellation swallowed too), and alt_coop gave up on it before the
    # timeout abandoned it (2 s after firing): the interrupt raised where it
    # waited ended as its timeout's failure, and pytest's one line named
    # alt_coop's scheduler instead of the test's line.
    test_file = pytester.makepyfile(
        f"""
        import asyncio
        import pathlib
        import pytest

        @pytest.mark.asyncio_{mode}
        async def test_stubborn():
            pathlib.Path("started").touch()
            for _ in range(10):
                try:
                    await asyncio.sleep(3)
                except asyncio.CancelledError:
                    pass
        """
    )
    output, returncode, _, _, _ = interrupt_when(
        [
            sys.executable,
            "-m",
            "pytest",
            *ISOLATE,
            "-p",
            "alt_coop.enable",
            "--default-async-timeout=4",
            str(test_file),
        ],
        pytester.path,
        lambda: (pytester.path / "started").exists(),
        "the test started",
        communicate_timeout=30,
    )
    assert returncode == pytest.ExitCode.INTERRUPTED, output
    sleep_line = test_file.read_text().splitlines().index("            await asyncio.sleep(3)") + 1
    assert f"{test_file.name}:{sleep_line}: KeyboardInterrupt" in output, output
    assert "_scheduler.py" not in output, output
    assert not re.search(r"\b\d+ (passed|failed|errors?)\b", output), output


@pytest.mark.parametrize("where", ["test", "module fixture"])
def test_ctrl_c_names_the_line_of_a_test_left_where_it_waited(pytester, where):
    # It caught every interrupt, the one alt_coop raised where it waited
    # after the grace included, and was left there: pytest's one line named
    # alt_coop's scheduler.
    test_file = pytester.makepyfile(
        f"""
        import asyncio
        import pathlib
        import pytest

        async def stubborn():
            pathlib.Path("started").touch()
            while True:
                try:
                    await asyncio.sleep(30)
                except BaseException:
                    pass

        @pytest.fixture(scope="module")
        async def wider():
            if {where == "module fixture"}:
                await stubborn()
            yield

        @pytest.mark.asyncio_cooperative
        async def test_it(wider):
            await stubborn()
        """
    )
    output, returncode, _, _, _ = interrupt_when(
        [sys.executable, "-m", "pytest", *ISOLATE, "-p", "alt_coop.enable", str(test_file)],
        pytester.path,
        lambda: (pytester.path / "started").exists(),
        "the stubborn code started",
        communicate_timeout=30,
    )
    assert returncode == pytest.ExitCode.INTERRUPTED, output
    assert "were left where they waited: " in output, output
    waited = test_file.read_text().splitlines().index("            await asyncio.sleep(30)") + 1
    assert f"{test_file.name}:{waited}: KeyboardInterrupt" in output, output


def test_a_second_ctrl_c_keeps_the_results_of_tests_already_in_teardown(pytester):
    # Both tests' calls were over; their teardowns' clean-up was slow, and a
    # second Ctrl-C cut it short: both results were dropped ("2 cut short"),
    # and pytest's one line named asyncio's selectors.py.
    events_conftest(pytester)
    test_file = pytester.makepyfile(
        """
        import asyncio
        import pytest
        from conftest import log

        @pytest.fixture
        async def slow_cleanup(request):
            yield
            log("teardown begins", request.node.name)
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                await asyncio.sleep(30)

        @pytest.mark.asyncio_cooperative
        async def test_passes(slow_cleanup):
            pass

        @pytest.mark.asyncio_cooperative
        async def test_fails(slow_cleanup):
            assert 1 == 2
        """
    )
    output, returncode, _, _, _ = interrupt_when(
        [sys.executable, "-m", "pytest", *ISOLATE, "-p", "alt_coop.enable", "-v", str(test_file)],
        pytester.path,
        lambda: sum(line.startswith("teardown begins") for line in read_events(pytester)) == 2,
        "both tests in their teardown",
        again_after=0.5,
        communicate_timeout=20,
    )
    assert returncode == pytest.ExitCode.INTERRUPTED, output
    assert verbose_lines(output) == {"test_passes": ["PASSED"], "test_fails": ["FAILED"]}, output
    assert "assert 1 == 2" in output
    assert re.search(r"\b1 failed, 1 passed\b", output), output
    # pytest's one line names where the clean-up waited when it was cut short.
    waited = test_file.read_text().splitlines().index("        await asyncio.sleep(30)") + 1
    assert f"{test_file.name}:{waited + 2}: KeyboardInterrupt" in output, output


def test_a_plugins_report_hook_failing_on_a_test_cut_short_is_an_internal_error(
    pytester, run_alt_subprocess
):
    # The hook's error was swallowed, the teardown reported as if nothing
    # happened: only a hook failing for a test whose setup has no report
    # (pytest-rerunfailures') gets pytest's own report instead.
    pytester.makeconftest(
        """
        import pytest

        @pytest.hookimpl(hookwrapper=True)
        def pytest_runtest_makereport(item, call):
            outcome = yield
            report = outcome.get_result()
            if report.when == "teardown":
                item.call_report.outcome  # the call, cut short, has none
            setattr(item, report.when + "_report", report)
        """
    )
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.fixture
        async def broken_teardown():
            yield
            raise ValueError("teardown error")

        @pytest.mark.asyncio_cooperative
        async def test_a(broken_teardown):
            await asyncio.sleep(0.05)
            raise KeyboardInterrupt

        @pytest.mark.asyncio_cooperative
        async def test_b(broken_teardown):
            await asyncio.sleep(1)
        """
    )
    result = run_alt_subprocess(timeout=60)
    result.stdout.fnmatch_lines(
        ["INTERNALERROR> AttributeError: 'Function' object has no attribute 'call_report'"]
    )


def test_tests_left_running_after_a_second_ctrl_c_report_nothing_and_touch_nothing(pytester):
    # They went on stepping their protocol during the session's teardown: they
    # were reported as errors (KeyError from the shared set-up state).
    test_file = pytester.makepyfile(
        """
        import asyncio
        import pathlib
        import pytest

        def log(what):
            with open("events.txt", "a") as f:
                f.write(what + "\\n")

        @pytest.fixture(scope="module")
        async def shared():
            yield
            await asyncio.sleep(1)
            log("teardown shared")

        class TestK:
            @pytest.fixture(scope="class")
            async def per_class(self, shared):
                yield
                await asyncio.sleep(1)
                log("teardown per_class")

            @pytest.fixture
            async def slow(self, per_class):
                yield
                await asyncio.sleep(0.5)

            @pytest.mark.asyncio_cooperative
            @pytest.mark.parametrize("i", range(3))
            async def test_a(self, slow, i):
                pathlib.Path(f"started-{i}").touch()
                await asyncio.sleep(3)
        """
    )
    output, returncode, _, _, _ = interrupt_when(
        [sys.executable, "-m", "pytest", *ISOLATE, "-p", "alt_coop.enable", str(test_file)],
        pytester.path,
        lambda: len(list(pytester.path.glob("started-*"))) == 3,
        "all three tests started",
        again_after=0.2,
        communicate_timeout=30,
    )
    assert returncode == pytest.ExitCode.INTERRUPTED, output
    assert "KeyError" not in output
    assert not re.search(r"\b\d+ (passed|failed|errors?)\b", output), output
    assert not re.search(r"^(ERROR|FAILED) ", output, re.M), output
    events = (pytester.path / "events.txt").read_text().split("\n")
    assert events.count("teardown per_class") <= 1 and events.count("teardown shared") <= 1


def test_a_thread_test_outliving_the_grace_after_ctrl_c_is_left_alone(pytester):
    # Its lane went on with pytest's protocol once the thread returned, after
    # the session had torn everything down: a KeyError from pytest's own
    # session teardown, or, with -s, an AssertionError from its capture.
    test_file = pytester.makepyfile(
        """
        import asyncio
        import pathlib
        import time
        import pytest

        @pytest.fixture(scope="session")
        def session_wide():
            yield
            print("teardown session_wide")

        @pytest.fixture(scope="module")
        async def shared(session_wide):
            yield
            await asyncio.sleep(0.1)

        @pytest.mark.asyncio_cooperative
        def test_thread(shared):
            pathlib.Path("started").touch()
            time.sleep(7)
        """
    )
    output, returncode, _, _, _ = interrupt_when(
        [sys.executable, "-m", "pytest", *ISOLATE, "-p", "alt_coop.enable", "-s", str(test_file)],
        pytester.path,
        lambda: (pytester.path / "started").exists(),
        "the thread test started",
        communicate_timeout=30,
    )
    assert returncode == pytest.ExitCode.INTERRUPTED, output
    assert "KeyError" not in output
    assert "AssertionError" not in output
    assert not re.search(r"^(ERROR|FAILED) ", output, re.M), output
    assert output.count("teardown session_wide") == 1, output
    # pytest's one line about the interrupt names where the body was (it
    # named asyncio's tasks.py).
    slept = test_file.read_text().splitlines().index("    time.sleep(7)") + 1
    assert f"{test_file.name}:{slept}: KeyboardInterrupt" in output, output


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT is POSIX-only here")
def test_a_thread_test_ending_within_the_grace_after_ctrl_c_keeps_its_outcome(pytester):
    # Ctrl-C cannot stop a thread: the body ran to its end, and its outcome
    # is the test's (it was reported as cut short); the async test beside it
    # was cut short, and is not reported.
    test_file = pytester.makepyfile(
        """
        import asyncio
        import pathlib
        import time
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        @pytest.fixture
        async def resource():
            yield
            print("FIXTURE TEARDOWN")

        async def test_async():
            await asyncio.sleep(30)

        def test_thread(resource):
            pathlib.Path("started").touch()
            time.sleep(1)
            assert 1 == 2, "the body's own failure"
        """
    )
    output, returncode, _, _, _ = interrupt_when(
        [sys.executable, "-m", "pytest", *ISOLATE, "-p", "alt_coop.enable", "-s", str(test_file)],
        pytester.path,
        lambda: (pytester.path / "started").exists(),
        "the thread test started",
        communicate_timeout=30,
    )
    assert returncode == pytest.ExitCode.INTERRUPTED, output
    assert "the body's own failure" in output
    assert re.search(r"\b1 failed\b", output), output
    assert not re.search(r"\b\d+ passed\b", output), output
    assert output.count("FIXTURE TEARDOWN") == 1, output
    # pytest's one line about the interrupt names where the test cut short was.
    waited = test_file.read_text().splitlines().index("    await asyncio.sleep(30)") + 1
    assert f"{test_file.name}:{waited}: KeyboardInterrupt" in output, output


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT is POSIX-only here")
def test_a_thread_test_whose_cap_fires_within_the_grace_keeps_its_fixtures_to_its_end(pytester):
    # The cap's cancellation, after Ctrl-C's, stopped the wait for the body:
    # its fixture was torn down while it still ran, and its result was lost.
    test_file = pytester.makepyfile(
        """
        import pathlib
        import time
        import pytest

        @pytest.fixture
        def resource():
            yield
            print("FIXTURE TEARDOWN", flush=True)

        @pytest.mark.asyncio_cooperative
        def test_thread(resource):
            pathlib.Path("started").touch()
            time.sleep(2)
            print("BODY ENDS", flush=True)
        """
    )
    output, returncode, _, _, _ = interrupt_when(
        [
            sys.executable,
            "-m",
            "pytest",
            *ISOLATE,
            "-p",
            "alt_coop.enable",
            "-s",
            "--asyncio-task-timeout=1",
            str(test_file),
        ],
        pytester.path,
        lambda: (pytester.path / "started").exists(),
        "the thread test started",
        communicate_timeout=30,
    )
    assert returncode == pytest.ExitCode.INTERRUPTED, output
    assert output.index("BODY ENDS") < output.index("FIXTURE TEARDOWN"), output
    assert "the test exceeded asyncio_task_timeout: 1s" in output, output
    assert re.search(r"\b1 failed\b", output), output


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT is POSIX-only here")
def test_a_thread_test_interrupted_after_its_cap_fired_keeps_its_fixtures_to_its_end(pytester):
    # Ctrl-C's cancellation, after the cap's, stopped the wait for the body:
    # its fixture was torn down while it still ran, and its call was lost.
    test_file = pytester.makepyfile(
        """
        import pathlib
        import time
        import pytest

        @pytest.fixture
        async def resource():
            yield
            print("FIXTURE TEARDOWN", flush=True)

        @pytest.mark.asyncio_cooperative
        def test_thread(resource):
            pathlib.Path("started").touch()
            time.sleep(2.5)
            print("BODY ENDS", flush=True)
            raise ValueError("the body's own late error")
        """
    )
    capped = _seen_for(pytester.path / "started", 1.0)  # the cap (0.3 s) fired a while ago
    output, returncode, _, _, _ = interrupt_when(
        [
            *(sys.executable, "-m", "pytest", *ISOLATE, "-p", "alt_coop.enable", "-s"),
            *("--asyncio-task-timeout=0.3", str(test_file)),
        ],
        pytester.path,
        capped,
        "the thread test started, and its cap fired",
        communicate_timeout=30,
    )
    assert returncode == pytest.ExitCode.INTERRUPTED, output
    assert output.index("BODY ENDS") < output.index("FIXTURE TEARDOWN"), output
    assert "the test exceeded asyncio_task_timeout: 0.3s" in output, output
    assert "ValueError: the body's own late error" in output, output
    assert re.search(r"\b1 failed\b", output), output
    assert not re.search(r"\b\d+ errors?\b", output), output
    slept = test_file.read_text().splitlines().index("    time.sleep(2.5)") + 1
    assert f"{test_file.name}:{slept}: KeyboardInterrupt" in output, output


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT is POSIX-only here")
def test_ctrl_c_during_a_sync_fixtures_teardown_in_a_batch_names_its_line(pytester):
    # The sync code runs on (it holds the loop), and the test ends as it
    # would have: pytest's one line named alt_coop's scheduler.
    test_file = pytester.makepyfile(
        """
        import asyncio
        import pathlib
        import time
        import pytest

        @pytest.fixture
        def sync_teardown():
            yield
            pathlib.Path("tearing-down").touch()
            time.sleep(1.5)

        @pytest.mark.asyncio_cooperative
        async def test_it(sync_teardown):
            await asyncio.sleep(0)
        """
    )
    output, returncode, _, _, _ = interrupt_when(
        [sys.executable, "-m", "pytest", *ISOLATE, "-p", "alt_coop.enable", str(test_file)],
        pytester.path,
        lambda: (pytester.path / "tearing-down").exists(),
        "the sync teardown started",
        communicate_timeout=30,
    )
    assert returncode == pytest.ExitCode.INTERRUPTED, output
    slept = test_file.read_text().splitlines().index("    time.sleep(1.5)") + 1
    assert f"{test_file.name}:{slept}: KeyboardInterrupt" in output, output


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT is POSIX-only here")
def test_ctrl_c_during_a_sync_fixture_beside_a_finished_thread_body_names_its_line(pytester):
    # The thread body beside it had returned (its outcome not yet taken, the
    # loop being held): the interrupt it met named no line, and pytest's one
    # line named alt_coop's scheduler.
    test_file = pytester.makepyfile(
        """
        import pathlib
        import time
        import pytest

        @pytest.fixture
        def slow_sync():
            pathlib.Path("setting-up").touch()
            # Runs on after Ctrl-C: long enough for a loaded machine's driver.
            time.sleep(3.5)
            yield

        @pytest.mark.asyncio_cooperative
        def test_slow(slow_sync):
            pass

        @pytest.mark.asyncio_cooperative
        def test_quick():
            time.sleep(0.05)
        """
    )
    setting_up = _seen_for(pytester.path / "setting-up", 0.5)  # the quick body returned
    output, returncode, _, _, _ = interrupt_when(
        [sys.executable, "-m", "pytest", *ISOLATE, "-p", "alt_coop.enable", str(test_file)],
        pytester.path,
        setting_up,
        "the sync fixture started",
        communicate_timeout=30,
    )
    assert returncode == pytest.ExitCode.INTERRUPTED, output
    slept = test_file.read_text().splitlines().index("    time.sleep(3.5)") + 1
    assert f"{test_file.name}:{slept}: KeyboardInterrupt" in output, output


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT is POSIX-only here")
def test_a_cap_expiring_during_the_cleanup_after_ctrl_c_does_not_cancel_again(pytester):
    # The cap cancelled the test a second time: its cleanup, well within the
    # grace, was cut short where it waited, and the test dropped at the cap.
    test_file = pytester.makepyfile(
        """
        import asyncio
        import pathlib
        import pytest

        @pytest.fixture
        async def resource():
            yield
            print("FIXTURE TEARDOWN", flush=True)

        @pytest.mark.asyncio_cooperative
        async def test_cleans_up(resource):
            pathlib.Path("started").touch()
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                await asyncio.sleep(2)
                print("CLEANUP DONE", flush=True)
                raise
        """
    )
    waited = 14  # the line of ``await asyncio.sleep(30)``
    output, returncode, _, _, _ = interrupt_when(
        [
            sys.executable,
            "-m",
            "pytest",
            *ISOLATE,
            "-p",
            "alt_coop.enable",
            "-s",
            "--asyncio-task-timeout=1",
            str(test_file),
        ],
        pytester.path,
        lambda: (pytester.path / "started").exists(),
        "the test started",
        communicate_timeout=30,
    )
    assert returncode == pytest.ExitCode.INTERRUPTED, output
    assert output.index("CLEANUP DONE") < output.index("FIXTURE TEARDOWN"), output
    assert "asyncio_task_timeout" not in output, output
    assert "stopped waiting" not in output, output
    assert f"{test_file.name}:{waited}: KeyboardInterrupt" in output, output


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signal dispositions")
def test_cooperative_run_with_sigint_ignored_ends_cleanly(pytester):
    """Started with SIGINT ignored (``nohup``, a background job of a script, some CI
    runners), pytest cannot be interrupted, but the run itself must still end normally."""
    events_conftest(pytester)
    test_file = pytester.makepyfile(
        """
        import asyncio
        import pytest
        from conftest import span

        pytestmark = pytest.mark.asyncio_cooperative

        @pytest.mark.parametrize("n", range(2))
        async def test_it(n):
            async with span(f"t{n}"):
                await asyncio.sleep(0.05)
        """
    )
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", *ISOLATE, "-p", "alt_coop.enable", str(test_file)],
        cwd=pytester.path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=60,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    assert "Traceback" not in proc.stdout, proc.stdout
    assert re.search(r"\b2 passed\b", proc.stdout), proc.stdout
    assert proc.returncode == pytest.ExitCode.OK, proc.stdout
    spans = read_spans(pytester)
    assert overlap(spans["t0"], spans["t1"])


def _interrupted_while_held(pytester: pytest.Pytester, suite: str) -> tuple[Path, str, list[str]]:
    """Run ``suite`` (its tests cooperative, ``note(what)`` and ``hold()`` at
    hand) and send Ctrl-C once ``hold()``, which holds the loop, has begun:
    the suite's file, pytest's output and what the tests noted."""
    marker = pytester.path / "started.txt"
    log = pytester.path / "log.txt"
    header = f"""
        import asyncio
        import time
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        def note(what):
            with open({str(log)!r}, "a") as f:
                f.write(what + "\\n")

        def hold():
            open({str(marker)!r}, "w").close(); time.sleep(1.5)  # held here
        """
    test_file = pytester.makepyfile(textwrap.dedent(header) + textwrap.dedent(suite))
    output, returncode, _, _, _ = interrupt_when(
        [
            *(sys.executable, "-m", "pytest", *ISOLATE, "-p", "alt_coop.enable", "-rA"),
            str(test_file),
        ],
        pytester.path,
        marker.exists,
        "the code held the loop",
    )
    assert returncode == pytest.ExitCode.INTERRUPTED, output
    return test_file, output, log.read_text().splitlines() if log.exists() else []


@pytest.mark.parametrize("holder", ["sync fixture of a thread test", "test catching it"])
def test_ctrl_c_during_a_tests_sync_code_beside_others_names_that_line(
    pytester: pytest.Pytester, holder: str
) -> None:
    # The test whose code held the loop meets the interrupt where that code
    # returns (a sync fixture: its thread body never starts) or awaits, and
    # pytest's line names where the code was, not where another test waited.
    in_fixture = holder.startswith("sync")
    test_file, output, notes = _interrupted_while_held(
        pytester,
        f"""
        @pytest.fixture
        def settings():
            {"hold()" if in_fixture else "pass"}
            yield
            note("settings torn down")

        def test_thread(settings):
            note("thread body")

        async def test_catching():
            await asyncio.sleep(0.05)
            {"pass" if in_fixture else "hold()"}
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                pass
            await asyncio.sleep(0.1)  # the other test meets the interrupt meanwhile

        async def test_waiting():
            await asyncio.sleep(30)
        """,
    )
    line = next(
        n for n, text in enumerate(test_file.read_text().splitlines(), 1) if "held here" in text
    )
    assert f"{test_file.name}:{line}: KeyboardInterrupt" in output, output
    if in_fixture:
        assert notes == ["settings torn down"], output
        assert "PASSED" not in output, output


@pytest.mark.parametrize("when", ["in the last turn", "as the test waits"])
def test_ctrl_c_during_a_callback_of_a_test_interrupts_that_test_as_in_a_sequential_run(
    pytester: pytest.Pytester, when: str
) -> None:
    # A callback the call's last step queued runs in the call's last turn of
    # the loop, so the call is interrupted where it holds the loop, as in a
    # sequential run: not PASSED, with the interrupt going to a test that
    # only waited. One holding the loop as the test waits: the test meets the
    # interrupt where it waits, and pytest's line names that line (alone in
    # its batch: of two tests waiting, pytest's line may name either).
    last_turn = when == "in the last turn"
    test_file, output, notes = _interrupted_while_held(
        pytester,
        f"""
        @pytest.fixture
        async def resource():
            yield
            note("torn down")

        async def test_queues_a_hold(resource):
            await asyncio.sleep(0.05)
            asyncio.get_running_loop().call_soon(hold)
            if {not last_turn}:
                await asyncio.sleep(5)  # waits here

        @pytest.mark.skipif({not last_turn}, reason="alone in its batch")
        async def test_waiting():
            await asyncio.sleep(30)
        """,
    )
    marker = "held here" if last_turn else "waits here"
    line = next(
        n for n, text in enumerate(test_file.read_text().splitlines(), 1) if marker in text
    )
    assert f"{test_file.name}:{line}: KeyboardInterrupt" in output, output
    assert "PASSED" not in output, output
    assert notes == ["torn down"], output


def test_tests_whose_turn_had_not_come_when_ctrl_c_came_never_start(
    pytester: pytest.Pytester,
) -> None:
    # Their tasks were started with the batch, their first turn queued behind
    # the test whose sync code held the loop as Ctrl-C came.
    _, output, notes = _interrupted_while_held(
        pytester,
        """
        @pytest.fixture
        def holder():
            hold()

        async def test_zero():
            await asyncio.sleep(0.5)

        async def test_first(holder):
            note("first")

        async def test_second():
            note("second")

        def test_third():
            note("third")
        """,
    )
    assert notes == [], output
    assert "PASSED" not in output, output


def test_a_second_session_in_the_process_after_ctrl_c_came_during_held_code_runs_clean(
    pytester: pytest.Pytester,
) -> None:
    # An application (or a notebook) running pytest again in the same
    # process: nothing of the first session's interrupt is left to meet the
    # second's fixtures.
    marker = pytester.path / "holding.txt"
    pytester.makepyfile(
        test_suite=f"""
        import asyncio, os, time
        import pytest

        @pytest.fixture
        def settings():
            return 1

        @pytest.mark.asyncio_cooperative
        async def test_holds_the_loop():
            if not os.path.exists("second.txt"):
                open({str(marker)!r}, "w").close()
                time.sleep(1.5)
            await asyncio.sleep(0.05)

        def test_sync(settings):
            pass
        """,
        app=f"""
        import pytest

        args = [*{ISOLATE!r}, "-p", "alt_coop.enable", "-q", "test_suite.py"]
        print("first:", int(pytest.main(args)), flush=True)
        open("second.txt", "w").close()
        print("second:", int(pytest.main(args)), flush=True)
        """,
    )
    output, _, _, _, _ = interrupt_when(
        [sys.executable, "app.py"], pytester.path, marker.exists, "the code held the loop"
    )
    assert "first: 2" in output, output
    assert "second: 0" in output, output
    assert "2 passed" in output, output


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_a_test_cut_short_before_its_first_result_keeps_its_warnings(pytester, mode):
    test_file = pytester.makepyfile(
        """
        import asyncio
        import pathlib
        import warnings

        async def test_warns_then_waits():
            warnings.warn(UserWarning("warned before the interrupt"))
            pathlib.Path("waiting").write_text("")
            await asyncio.sleep(30)

        async def test_beside():
            await asyncio.sleep(30)
        """
    )
    mode_option = ["--asyncio-cooperative"] if mode == "cooperative" else []
    output, returncode, *_ = interrupt_when(
        [sys.executable, "-m", "pytest", *ISOLATE, "-p", "alt_coop.enable", *mode_option],
        pytester.path,
        lambda: (pytester.path / "waiting").exists(),
        "the test waiting",
        communicate_timeout=15,
    )
    assert returncode == pytest.ExitCode.INTERRUPTED, output
    assert f"{test_file.name}:6: UserWarning: warned before the interrupt" in output, output


@pytest.mark.parametrize(
    ("stop", "code", "line"),
    [
        # As after a test's own pytest.exit(): the tests still running are
        # interrupted, and the run ends with the exit's code.
        (
            'pytest.exit("the hook\'s exit", returncode=7)',
            7,
            "! _pytest.outcomes.Exit: the hook's exit !",
        ),
        # A sequential run ends at the hook's error, an internal error;
        # Ctrl-C, cutting short the tests still running, made it an
        # interrupt (exit 2).
        ("raise SystemExit(4)", pytest.ExitCode.INTERNAL_ERROR, "INTERNALERROR> SystemExit: 4"),
        (
            "raise RuntimeError('the hook failed')",
            pytest.ExitCode.INTERNAL_ERROR,
            "INTERNALERROR> RuntimeError: the hook failed",
        ),
    ],
)
def test_ctrl_c_after_a_reporting_hooks_stop_does_not_replace_it(pytester, stop, code, line):
    pytester.makeconftest(
        f"""
        import pathlib
        import pytest

        def pytest_runtest_logreport(report):
            if report.when == "call" and report.nodeid.endswith("test_a"):
                pathlib.Path("raised").write_text("")
                {stop}
        """
    )
    test_file = pytester.makepyfile(
        """
        import asyncio

        async def test_a():
            await asyncio.sleep(0.1)

        async def test_b():
            await asyncio.sleep(30)
        """
    )
    output, returncode, *_ = _interrupted_cooperatively(
        pytester, test_file, "raised", communicate_timeout=15
    )
    assert returncode == code, output
    assert fnmatch.filter(output.splitlines(), f"*{line}*"), output
    assert "KeyboardInterrupt" not in output, output


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT is POSIX-only here")
def test_ctrl_c_after_an_exit_and_a_hooks_error_leaves_the_internal_error(pytester):
    # Without Ctrl-C the hook's error, pytest's internal error, ends the run
    # as it comes after the exit ("whenever they come"); Ctrl-C made the
    # exit the run's end instead.
    pytester.makeconftest(
        """
        import pathlib

        def pytest_runtest_logreport(report):
            if report.when == "call" and report.nodeid.endswith("test_b"):
                pathlib.Path("raised").write_text("")
                raise RuntimeError("the hook failed")
        """
    )
    test_file = pytester.makepyfile(
        """
        import asyncio
        import pytest

        async def test_a():
            await asyncio.sleep(0.05)
            pytest.exit("the test's exit", returncode=5)

        async def test_b():
            await asyncio.sleep(0.2)

        async def test_c():
            await asyncio.sleep(4)
        """
    )
    output, returncode, *_ = _interrupted_cooperatively(
        pytester, test_file, "raised", communicate_timeout=15
    )
    assert returncode == pytest.ExitCode.INTERNAL_ERROR, output
    assert "INTERNALERROR> RuntimeError: the hook failed" in output, output


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT is POSIX-only here")
def test_ctrl_c_again_during_a_slow_reporting_hook_is_no_stop_of_the_hooks(pytester):
    # The second Ctrl-C, raised in the hook as it held the loop, was taken for
    # the hook's own stop, ignored as the run had stopped: the reports of the
    # test it came during went on, through the slow hook again. It stops the
    # batch, as where the loop waits (the tests whose turn had come already
    # still report).
    pytester.makeconftest(
        """
        import time

        def pytest_runtest_logreport(report):
            if report.when != "setup":
                with open("entered", "a") as entered:
                    entered.write(f"{report.nodeid} {report.when}\\n")
                time.sleep(4)
        """
    )
    test_file = pytester.makepyfile(
        """
        import asyncio
        import pathlib

        async def test_a():
            pathlib.Path("started").touch()
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                raise ValueError("cleanup failed")

        async def test_b():
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                raise ValueError("cleanup failed")
        """
    )
    output, returncode, *_ = _interrupted_cooperatively(
        pytester, test_file, "started", again_after=1, communicate_timeout=40
    )
    assert returncode == pytest.ExitCode.INTERRUPTED, output
    entered = (pytester.path / "entered").read_text().splitlines()
    assert f"{test_file.name}::test_a call" in entered, (entered, output)
    assert f"{test_file.name}::test_a teardown" not in entered, (entered, output)
