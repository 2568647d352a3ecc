"""Cooperative tests: which tests run concurrently on the session loop, and each
through pytest's own protocol (reports, capture, logs, assertions, warnings).

See cooperative_support.py for how the sessions under test record what happens.
"""

from __future__ import annotations

import fnmatch
import re
import sys
import textwrap
import xml.etree.ElementTree as ET
from itertools import combinations

import pytest
from conftest import ISOLATE, mode_args
from cooperative_support import (
    LAST_STEP_SUITE,
    PYTEST_VERSION,
    SUMMARY,
    assert_last_steps_work_was_its_phases,
    assert_ran_alone,
    captured,
    events_conftest,
    failure_sections,
    is_summary,
    overlap,
    peak,
    read_events,
    read_spans,
    verbose_lines,
)

# -- what runs cooperatively ----------------------------------------------------


def test_marked_tests_run_concurrently_and_report_normally(pytester, run_alt):
    events_conftest(pytester)
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        from conftest import meet, span

        ALL_THREE = asyncio.Barrier(3)

        @pytest.mark.asyncio_cooperative
        async def test_a():
            async with span("test_a"):
                await meet(ALL_THREE)
                await asyncio.sleep(0.05)

        @pytest.mark.asyncio_cooperative
        async def test_b():
            async with span("test_b"):
                await meet(ALL_THREE)
                await asyncio.sleep(0.05)

        @pytest.mark.asyncio_cooperative
        async def test_c():
            async with span("test_c"):
                await meet(ALL_THREE)
                await asyncio.sleep(0.05)
        """
    )
    result = run_alt("-v")
    result.assert_outcomes(passed=3)
    assert verbose_lines(result.stdout.str()) == {
        "test_a": ["PASSED"],
        "test_b": ["PASSED"],
        "test_c": ["PASSED"],
    }
    spans = read_spans(pytester)
    for a, b in combinations(sorted(spans), 2):
        assert overlap(spans[a], spans[b]), (a, b, spans)


@pytest.mark.parametrize("where", ["module", "class"])
def test_pytestmark_on_module_or_class_makes_tests_cooperative(pytester, run_alt, where):
    events_conftest(pytester)
    tests = """
    async def test_one({self}):
        async with span("one"):
            await meet(BOTH)

    async def test_two({self}):
        async with span("two"):
            await meet(BOTH)
    """
    if where == "module":
        body = "pytestmark = pytest.mark.asyncio_cooperative\n" + textwrap.dedent(
            tests.format(self="")
        )
    else:
        body = "class TestGroup:\n    pytestmark = [pytest.mark.asyncio_cooperative]\n" + (
            tests.format(self="self")
        )
    pytester.makepyfile(
        "import asyncio\nimport pytest\nfrom conftest import meet, span\n\n"
        "BOTH = asyncio.Barrier(2)\n\n" + body
    )
    result = run_alt("-v")
    result.assert_outcomes(passed=2)
    spans = read_spans(pytester)
    assert overlap(spans["one"], spans["two"]), spans
    assert SUMMARY.search(result.stdout.str()).group(1, 2) == ("2", "2")


@pytest.mark.parametrize("option", ["--no-summary", "-qq", "-pno:setuponly"])
def test_the_summary_line_follows_how_much_pytest_is_told_to_say(pytester, run_alt, option):
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        async def test_one():
            await asyncio.sleep(0)

        async def test_two():
            await asyncio.sleep(0)
        """
    )
    result = run_alt(option)
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["*..*[[]100%[]]"])  # -qq says no more than that
    assert "INTERNALERROR" not in result.stdout.str()
    shown = SUMMARY.search(result.stdout.str())
    assert (shown is not None) == (option == "-pno:setuponly"), result.stdout.str()


@pytest.mark.parametrize("option", ["--setup-only", "--setup-plan"])
def test_no_summary_line_when_no_test_ran(pytester, run_alt, option):
    # pytest says "no tests ran": the fixtures were set up, or only listed.
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        @pytest.fixture
        async def resource():
            await asyncio.sleep(0)

        async def test_one(resource):
            await asyncio.sleep(0)

        async def test_two(resource):
            await asyncio.sleep(0)
        """
    )
    result = run_alt(option)
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["*SETUP    F resource*", "*no tests ran in *"])
    assert SUMMARY.search(result.stdout.str()) is None, result.stdout.str()


UNMARKED_ASYNC = """
import asyncio
import pytest
from conftest import meet, span

BOTH = asyncio.Barrier(2)

async def test_one():
    async with span("one"):
        await meet(BOTH, 1.0)

async def test_two():
    async with span("two"):
        await meet(BOTH, 1.0)

def test_sync():
    with span("sync"):
        pass
"""


@pytest.mark.parametrize("how", ["option", "ini", "neither"])
def test_global_option_and_ini_make_every_async_test_cooperative(pytester, run_alt, how):
    events_conftest(pytester)
    pytester.makepyfile(UNMARKED_ASYNC)
    args: list[str] = ["-v"]
    if how == "option":
        args.append("--asyncio-cooperative")
    elif how == "ini":
        pytester.makeini("[pytest]\nasyncio_cooperative = true\n")
    result = run_alt(*args)
    spans = read_spans(pytester)
    if how == "neither":
        # The control: unmarked async tests run one at a time, the barrier never opens.
        result.assert_outcomes(passed=1, failed=2)
        assert not overlap(spans["one"], spans["two"])
        assert "alt_coop: " not in result.stdout.str()
        return
    result.assert_outcomes(passed=3)
    assert overlap(spans["one"], spans["two"]), spans
    # The sync test is not made cooperative: it runs after the batch.
    assert spans["sync"][0] >= max(spans["one"][1], spans["two"][1])
    assert SUMMARY.search(result.stdout.str()).group(1, 2) == ("2", "2")


def test_asyncio_sequential_opts_out(pytester, run_alt):
    events_conftest(pytester)
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        from conftest import span

        async def test_a():
            async with span("a"):
                await asyncio.sleep(0.1)

        async def test_b():
            async with span("b"):
                await asyncio.sleep(0.1)

        @pytest.mark.asyncio_sequential
        async def test_alone():
            async with span("alone"):
                await asyncio.sleep(0.1)

        async def test_c():
            async with span("c"):
                await asyncio.sleep(0.1)

        async def test_d():
            async with span("d"):
                await asyncio.sleep(0.1)
        """
    )
    result = run_alt("-v", "--asyncio-cooperative")
    result.assert_outcomes(passed=5)
    spans = read_spans(pytester)
    assert overlap(spans["a"], spans["b"])
    assert overlap(spans["c"], spans["d"])
    for other in ("a", "b", "c", "d"):
        assert not overlap(spans["alone"], spans[other]), (other, spans)
    assert max(spans["a"][1], spans["b"][1]) <= spans["alone"][0]
    assert spans["alone"][1] <= min(spans["c"][0], spans["d"][0])
    assert SUMMARY.search(result.stdout.str()).group(1) == "4"


def test_the_mark_nearest_a_test_decides_how_it_runs(pytester, run_alt):
    # A class marked sequential silently ran its methods marked cooperative
    # sequentially: sequential anywhere won.
    events_conftest(pytester)
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        from conftest import span

        pytestmark = pytest.mark.asyncio_cooperative

        @pytest.mark.asyncio_sequential
        class TestMostlyAlone:
            async def test_alone(self):
                async with span("alone"):
                    await asyncio.sleep(0.1)

            @pytest.mark.asyncio_cooperative
            async def test_one(self):
                async with span("one"):
                    await asyncio.sleep(0.1)

            @pytest.mark.asyncio_cooperative
            async def test_two(self):
                async with span("two"):
                    await asyncio.sleep(0.1)

        @pytest.mark.parametrize(
            "n", [1, 2, pytest.param(3, marks=pytest.mark.asyncio_sequential)]
        )
        async def test_param(n):
            async with span(f"param{n}"):
                await asyncio.sleep(0.1)

        @pytest.mark.asyncio_sequential
        class Base:
            async def test_inherited(self):
                async with span(f"inherited_{type(self).__name__}"):
                    await asyncio.sleep(0.1)

        @pytest.mark.asyncio_cooperative
        class TestSub(Base):
            async def test_sub(self):
                async with span("sub"):
                    await asyncio.sleep(0.1)
        """
    )
    result = run_alt("-v")
    result.assert_outcomes(passed=8)
    spans = read_spans(pytester)
    assert overlap(spans["one"], spans["two"]), spans
    assert overlap(spans["param1"], spans["param2"]), spans
    assert overlap(spans["inherited_TestSub"], spans["sub"]), spans
    for alone in ("alone", "param3"):
        for other in spans.keys() - {alone}:
            assert not overlap(spans[alone], spans[other]), (alone, other, spans)
    assert SUMMARY.search(result.stdout.str()).group(1) == "6"


def test_sequential_tests_run_between_batches_in_collection_order(pytester, run_alt):
    """Observed order: items run in collection order; a stretch of consecutive
    cooperative tests is a batch, and every other test runs alone between
    batches. Within a batch, results are reported in completion order."""
    events_conftest(pytester)
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        from conftest import span

        FAST_DONE = asyncio.Event()

        @pytest.mark.asyncio_cooperative
        async def test_c1_slow():
            async with span("c1"):
                await asyncio.wait_for(FAST_DONE.wait(), 2)
                await asyncio.sleep(0.1)

        @pytest.mark.asyncio_cooperative
        async def test_c2_fast():
            async with span("c2"):
                await asyncio.sleep(0.01)
            FAST_DONE.set()

        def test_s1_sync():
            with span("s1"):
                pass

        async def test_u1_unmarked_async():
            async with span("u1"):
                await asyncio.sleep(0.01)

        @pytest.mark.asyncio_cooperative
        async def test_c3():
            async with span("c3"):
                await asyncio.sleep(0.05)

        @pytest.mark.asyncio_cooperative
        async def test_c4():
            async with span("c4"):
                await asyncio.sleep(0.05)

        def test_s2_sync():
            with span("s2"):
                pass
        """
    )
    result = run_alt("-v")
    result.assert_outcomes(passed=7)
    spans = read_spans(pytester)
    assert overlap(spans["c1"], spans["c2"])
    assert overlap(spans["c3"], spans["c4"])
    batch1_end = max(spans["c1"][1], spans["c2"][1])
    batch2_start = min(spans["c3"][0], spans["c4"][0])
    batch2_end = max(spans["c3"][1], spans["c4"][1])
    assert batch1_end <= spans["s1"][0]
    assert spans["s1"][1] <= spans["u1"][0]
    assert spans["u1"][1] <= batch2_start
    assert batch2_end <= spans["s2"][0]
    reported = list(verbose_lines(result.stdout.str()))
    # The first batch reports its fast test first: results come in completion order.
    assert reported[:3] == ["test_c2_fast", "test_c1_slow", "test_s1_sync"]
    assert reported[3] == "test_u1_unmarked_async"
    assert sorted(reported[4:6]) == ["test_c3", "test_c4"]
    assert reported[6] == "test_s2_sync"


# -- each test through pytest's protocol ---------------------------------------


def test_verbose_shows_one_result_line_per_test(pytester, run_alt):
    events_conftest(pytester)
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        from conftest import meet

        pytestmark = pytest.mark.asyncio_cooperative
        ALL = asyncio.Barrier(4)

        async def test_pass_1():
            await meet(ALL)

        async def test_fail_1():
            await meet(ALL)
            assert 1 == 2

        async def test_pass_2():
            await meet(ALL)
            await asyncio.sleep(0.02)

        async def test_fail_2():
            await meet(ALL)
            await asyncio.sleep(0.01)
            raise RuntimeError("boom 2")
        """
    )
    result = run_alt("-v")
    result.assert_outcomes(passed=2, failed=2)
    assert verbose_lines(result.stdout.str()) == {
        "test_pass_1": ["PASSED"],
        "test_fail_1": ["FAILED"],
        "test_pass_2": ["PASSED"],
        "test_fail_2": ["FAILED"],
    }
    result.stdout.fnmatch_lines(
        [
            "FAILED test_verbose_shows_one_result_line_per_test.py::test_fail_* - *",
            "FAILED test_verbose_shows_one_result_line_per_test.py::test_fail_* - *",
        ]
    )


def test_junitxml_has_one_testcase_per_test_with_its_own_time(pytester, run_alt):
    events_conftest(pytester)
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        from conftest import span

        pytestmark = pytest.mark.asyncio_cooperative
        SHORT_DONE = asyncio.Event()

        async def test_long():
            async with span("long"):
                print("out of test_long")
                await asyncio.wait_for(SHORT_DONE.wait(), 2)
                await asyncio.sleep(0.25)

        async def test_short():
            async with span("short"):
                print("out of test_short")
                await asyncio.sleep(0.01)
            SHORT_DONE.set()

        async def test_failing():
            print("out of test_failing")
            await asyncio.sleep(0.01)
            assert "left" == "right"
        """
    )
    result = run_alt("--junitxml=report.xml", "-o", "junit_logging=system-out")
    result.assert_outcomes(passed=2, failed=1)
    spans = read_spans(pytester)
    assert overlap(spans["long"], spans["short"])
    cases = ET.parse(pytester.path / "report.xml").getroot().iter("testcase")
    by_name = {}
    for case in cases:
        assert case.get("name") not in by_name, "a test has two testcase entries"
        by_name[case.get("name")] = case
    assert set(by_name) == {"test_long", "test_short", "test_failing"}
    times = {name: float(case.get("time")) for name, case in by_name.items()}
    assert times["test_long"] >= 0.25
    # Each its own: the short test finished at least 0.25s before the long one.
    assert times["test_short"] < times["test_long"] - 0.1, times
    assert by_name["test_failing"].find("failure") is not None
    for name in ("test_long", "test_short"):
        assert by_name[name].find("failure") is None
    for name, case in by_name.items():
        out = case.findtext("system-out") or ""
        assert f"out of {name}" in out, (name, out)
        others = {"test_long", "test_short", "test_failing"} - {name}
        assert not any(f"out of {other}\n" in out + "\n" for other in others), (name, out)


def test_captured_output_and_logs_belong_to_their_own_test(pytester, run_alt):
    events_conftest(pytester)
    pytester.makepyfile(
        """
        import asyncio
        import logging
        import sys
        import pytest
        from conftest import meet

        pytestmark = pytest.mark.asyncio_cooperative
        ALL = asyncio.Barrier(3)
        logger = logging.getLogger("suite")

        @pytest.fixture
        async def announced(request):
            print(f"setup of {request.node.name}")
            await asyncio.sleep(0.01)
            yield
            print(f"teardown of {request.node.name}")

        async def body(name):
            print(f"first line of {name}")
            logger.warning(f"first record of {name}")
            await meet(ALL)
            print(f"second line of {name}", file=sys.stderr)
            await asyncio.sleep(0.01)
            logger.warning(f"second record of {name}")
            print(f"third line of {name}")
            sys.stdout.buffer.write(f"bytes line of {name}\\n".encode())
            assert name == "nobody"

        async def test_x(announced):
            await body("test_x")

        async def test_y(announced):
            await body("test_y")

        async def test_z(announced):
            await body("test_z")
        """
    )
    result = run_alt("-v")
    result.assert_outcomes(failed=3)
    sections = failure_sections(result.stdout.str())
    for name in ("test_x", "test_y", "test_z"):
        section = sections[name]
        assert captured(section, "stdout setup") == [f"setup of {name}"], section
        assert captured(section, "stdout call") == [
            f"first line of {name}",
            f"third line of {name}",
            f"bytes line of {name}",
        ], section
        assert captured(section, "stderr call") == [f"second line of {name}"], section
        records = captured(section, "log call")
        assert len(records) == 2, section
        assert f"first record of {name}" in records[0]
        assert f"second record of {name}" in records[1]
        assert captured(section, "stdout teardown") == [f"teardown of {name}"], section


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_what_a_phases_last_step_queues_runs_in_that_phase(pytester, run_alt, mode):
    """Callbacks a phase schedules after its last ``await``, and the first
    step of a task it starts there, run before the phase ends: what they
    print, log, warn or fail is that phase's, as in a sequential run."""
    pytester.makepyfile(LAST_STEP_SUITE)
    result = run_alt("-rA", "-p", "no:randomly", *mode_args(mode))
    assert_last_steps_work_was_its_phases(result)


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_a_cancellation_of_a_test_by_what_its_last_step_queued_is_no_ones(pytester, run_alt, mode):
    """The loop's last turn for a phase runs a callback that cancels the
    test's task: in a sequential run that task is done, and asyncio refuses
    the cancellation. One the code made itself before returning fails the
    test, in either mode."""
    pytester.makepyfile(
        """
        import asyncio

        async def test_cancelled_by_a_callback():
            await asyncio.sleep(0.01)
            asyncio.get_running_loop().call_soon(asyncio.current_task().cancel)

        async def test_cancels_itself():
            await asyncio.sleep(0.01)
            asyncio.current_task().cancel()

        async def test_slow():
            await asyncio.sleep(0.2)
        """
    )
    result = run_alt("-rA", *mode_args(mode))
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "test_cancels_itself cancelled its own task and returned before the "
            "cancellation reached it*",
        ]
    )
    result.stdout.fnmatch_lines(["PASSED *::test_cancelled_by_a_callback"])


@pytest.mark.parametrize("option", ["--setup-show", "--setup-only", "--setup-plan"])
def test_setup_show_lines_come_with_their_tests_results(pytester, run_alt, option):
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.fixture(scope="module")
        async def shared():
            await asyncio.sleep(0.02)
            yield

        @pytest.fixture
        async def resource(shared):
            await asyncio.sleep(0.02)
            yield
            await asyncio.sleep(0.02)

        @pytest.mark.parametrize("n", range(3))
        async def test_prints(resource, n):
            await asyncio.sleep(0.05 * (n + 1))  # they finish in order
            print(f"printed by {n}")
            assert n != 1
        """
    )

    def shown(result: pytest.RunResult) -> list[str]:
        """From "collected" up to the first summary line or section."""
        lines = result.outlines
        start = next(i for i, line in enumerate(lines) if line.startswith("collected"))
        end = next(
            i
            for i, line in enumerate(lines)
            if i > start and (line.startswith("=") or is_summary(line))
        )
        return lines[start:end]

    sequential = run_alt(option)
    cooperative = run_alt(option, "--asyncio-cooperative")
    assert any("SETUP    M shared" in line for line in shown(sequential)), sequential.outlines
    assert shown(cooperative) == shown(sequential), cooperative.stdout.str()
    if option == "--setup-show":
        cooperative.assert_outcomes(passed=2, failed=1)
        cooperative.stdout.fnmatch_lines(
            ["*- Captured stdout call -*", "printed by 1", "*short test summary*"]
        )


@pytest.mark.parametrize("option", ["--setup-show", "--setup-only", "--setup-plan"])
def test_a_wider_fixtures_setup_line_comes_before_every_test_using_it(pytester, run_alt, option):
    # The test that sets the fixture up finishes last, and its results come last.
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.fixture(scope="module")
        async def shared():
            await asyncio.sleep(0.02)
            yield

        @pytest.mark.parametrize("n", range(3))
        async def test_uses(shared, n):
            await asyncio.sleep(0.05 * (3 - n))

        async def test_asks_from_its_body(request):  # and is reported first
            await asyncio.sleep(0.01)
            request.getfixturevalue("shared")
        """
    )
    result = run_alt(option, "--asyncio-cooperative")
    assert result.ret == 0, result.stdout.str()
    lines = result.outlines
    setup = [i for i, line in enumerate(lines) if line.strip() == "SETUP    M shared"]
    teardown = [i for i, line in enumerate(lines) if "TEARDOWN M shared" in line]
    tests = [i for i, line in enumerate(lines) if "::test_uses[" in line]
    assert len(setup) == len(teardown) == 1 and len(tests) == 3, result.stdout.str()
    assert setup[0] < min(tests) and max(tests) < teardown[0], result.stdout.str()


def test_a_wider_fixtures_teardown_for_its_next_param_comes_before_that_params_setup(
    pytester, run_alt
):
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.fixture(scope="module", params=[1, 2])
        async def m(request):
            await asyncio.sleep(0.1)
            return request.param

        async def test_a(m):
            await asyncio.sleep(0.2)  # it sets each param up, and is reported last

        async def test_b(m):
            pass
        """
    )
    result = run_alt("--setup-show", "--asyncio-cooperative", "-p", "no:randomly")
    assert result.ret == 0, result.stdout.str()
    shown = [line.strip() for line in result.outlines if line.strip().startswith(("SETUP", "TE"))]
    assert shown == [
        "SETUP    M m[1]",
        "TEARDOWN M m[1]",
        "SETUP    M m[2]",
        "TEARDOWN M m[2]",
    ], result.stdout.str()
    lines = result.outlines
    for param in (1, 2):
        setup = lines.index(f"    SETUP    M m[{param}]")
        users = [i for i, line in enumerate(lines) if "::test_" in line and f"[{param}]" in line]
        assert users and setup < min(users), result.stdout.str()


def test_setup_show_keeps_the_output_of_threads_running_meanwhile_captured(pytester, run_alt):
    # pytest's line about a fixture suspends and resumes its global capture:
    # meanwhile a thread's print went to the terminal, or was lost.
    pytester.makepyfile(
        """
        import asyncio
        import time
        import pytest

        @pytest.fixture
        def shown():
            yield

        @pytest.mark.asyncio_cooperative
        def test_thread():
            for n in range(1000):
                print(f"thread out {n}")
                time.sleep(0.0002)
            assert 0, "failed, to show its output"

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("i", range(300))
        async def test_async(i, shown):
            await asyncio.sleep(0.001 * (i % 100))
        """
    )
    result = run_alt("--setup-show", "-p", "no:randomly")
    result.assert_outcomes(passed=300, failed=1)
    before, _, failures = result.stdout.str().partition("= FAILURES =")
    assert "thread out" not in before
    captured = failures.partition("Captured stdout call")[2]
    printed = re.findall(r"^thread out (\d+)$", captured, re.MULTILINE)
    assert printed == [str(n) for n in range(1000)]


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_tee_sys_shows_output_live_and_captures_it(pytester, run_alt_subprocess, mode):
    pytester.makepyfile(
        """
        import asyncio
        import sys
        import pytest

        @pytest.mark.parametrize("n", range(2))
        async def test_prints(n):
            print(f"live out {n}")
            sys.stdout.buffer.write(f"live bytes {n}\\n".encode())
            print(f"live err {n}", file=sys.stderr)
            await asyncio.sleep(0.05)
            assert n == 0
        """
    )
    flags = mode_args(mode)
    result = run_alt_subprocess("--capture=tee-sys", *flags)
    result.assert_outcomes(passed=1, failed=1)
    output = result.stdout.str() + result.stderr.str()
    # As pytest shows it: text as it is written, by both tests, and again in
    # the failure's captured sections; bytes only in those sections.
    for text, seen in (("live out", (1, 2)), ("live err", (1, 2)), ("live bytes", (0, 1))):
        assert (output.count(f"{text} 0"), output.count(f"{text} 1")) == seen, output


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_asyncios_own_error_logs_belong_to_the_test_of_the_callback_or_task(
    pytester, run_alt, mode
):
    # asyncio logs them from the loop, outside any test's context.
    pytester.makepyfile(
        """
        import asyncio
        import gc

        async def test_callback_fails(caplog):
            asyncio.get_running_loop().call_soon(lambda: 1 / 0)
            await asyncio.sleep(0.05)
            assert "Exception in callback" in caplog.text
            assert False, "to show the captured log"

        async def test_task_error_never_retrieved(caplog):
            async def fails():
                raise ValueError("nobody looked")

            task = asyncio.create_task(fails())
            await asyncio.sleep(0.01)
            del task
            gc.collect()
            await asyncio.sleep(0.01)
            assert "Task exception was never retrieved" in caplog.text

        async def test_quiet(caplog):
            await asyncio.sleep(0.1)
            assert caplog.text == ""
        """
    )
    result = run_alt(*mode_args(mode))
    result.assert_outcomes(passed=2, failed=1)
    failure = result.stdout.str().split("_ test_callback_fails _")[1]
    assert "Captured log call" in failure and "Exception in callback" in failure, failure


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_debug_mode_slow_callback_logs_belong_to_the_test_that_held_the_loop(
    pytester, run_alt, monkeypatch, mode
):
    # In debug mode asyncio logs a slow step of a task from the loop, after
    # the step: a cooperative run dropped it, as no test's context was current.
    monkeypatch.setenv("PYTHONASYNCIODEBUG", "1")
    pytester.makepyfile(
        """
        import asyncio
        import time

        async def test_blocks(caplog):
            await asyncio.sleep(0.01)
            time.sleep(0.3)
            await asyncio.sleep(0.01)
            assert "took" in caplog.text

        async def test_quiet(caplog):
            await asyncio.sleep(0.5)
            assert "test_blocks" not in caplog.text  # its task is named by its test
        """
    )
    result = run_alt("-rA", "--log-cli-level=WARNING", *mode_args(mode))
    result.assert_outcomes(passed=2)
    if mode == "cooperative":  # live records of tests running at once name their test
        result.stdout.fnmatch_lines(
            ["*- live log call (test_debug_mode_*.py::test_blocks) -*", "WARNING  asyncio:*took*"]
        )


def test_live_log_heads_each_record_with_its_test_and_phase(pytester, run_alt):
    events_conftest(pytester)
    pytester.makepyfile(
        """
        import asyncio
        import logging
        import pytest
        from conftest import meet

        log = logging.getLogger("suite")
        ALL = asyncio.Barrier(3)

        @pytest.fixture
        async def resource(request):
            log.info(f"record setup {request.node.name}")
            yield
            await asyncio.sleep(0.01)
            log.info(f"record teardown {request.node.name}")

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("n", range(3))
        async def test_logs(resource, request, n):
            log.info(f"record call {request.node.name}")
            await meet(ALL)  # so the three tests' records interleave
            await asyncio.sleep(0.01 * n)
        """
    )
    result = run_alt("--log-cli-level=INFO")
    result.assert_outcomes(passed=3)
    header = re.compile(r"^-+ live log (\w+) \(test_\w+\.py::(test_logs\[\d\])\) -+$")
    heading = None
    seen = 0
    for line in result.outlines:
        if match := header.match(line):
            heading = match.groups()
        elif match := re.search(r"record (\w+) (test_logs\[\d\])$", line):
            assert heading == match.groups(), (line, result.stdout.str())
            seen += 1
    assert seen == 9, result.stdout.str()


def test_live_log_headers_start_a_line_of_their_own(pytester, run_alt):
    pytester.makepyfile(
        """
        import logging

        def test_sync():
            logging.getLogger("t").warning("from sync")

        async def test_async():
            logging.getLogger("t").warning("from async")
        """
    )
    result = run_alt("--asyncio-cooperative", "--log-cli-level=WARNING")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["-* live log call (*::test_async) -*"])
    assert not [line for line in result.outlines if "PASSED" in line and "live log" in line]


@pytest.mark.parametrize("how", ["plain def test", "asyncio.to_thread"])
def test_live_records_from_threads_go_under_their_tests_header_between_results(
    pytester, run_alt_subprocess, how
):
    # A thread's record was written from that thread, between the checks and
    # writes of pytest's live handler and terminal on the loop's thread: under
    # another test's header or none, and into the middle of a result's line.
    thread_test = (
        """
        @pytest.mark.parametrize("i", range(3))
        def test_thread_logs(i):
            work(i)
        """
        if how == "plain def test"
        else """
        @pytest.mark.parametrize("i", range(3))
        async def test_thread_logs(i):
            await asyncio.to_thread(work, i)
        """
    )
    pytester.makepyfile(
        """
        import asyncio
        import logging
        import time
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative
        log = logging.getLogger("suite")

        def work(i):
            for k in range(200):
                log.warning(f"record of test_thread_logs[{i}] {k}")
                time.sleep(0.001)

        @pytest.mark.parametrize("i", range(60))
        async def test_quick(i):
            await asyncio.sleep(0.005 * i)
        """
        + thread_test
    )
    result = run_alt_subprocess("-v", "--log-cli-level=WARNING")
    result.assert_outcomes(passed=63)
    header = re.compile(r"^-+ live log (\w+)(?: \(test_\w+\.py::(test_\w+\[\d+\])\))? -+$")
    heading = None
    seen = 0
    for line in result.outlines:
        assert not ("PASSED" in line and ("live log" in line or "record of" in line)), line
        if match := header.match(line):
            heading = match.groups()
        elif match := re.search(r"record of (test_thread_logs\[\d\]) \d+$", line):
            assert heading == ("call", match.group(1)), (line, result.stdout.str())
            seen += 1
    assert seen == 600, result.stdout.str()


def test_live_records_of_a_thread_a_test_joins_come_in_order_before_its_result(pytester, run_alt):
    # Queued for the loop's thread, a thread's records were written when
    # the loop next woke: after the test's own later records, and after its
    # PASSED line.
    pytester.makepyfile(
        """
        import asyncio
        import logging
        import threading
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative
        log = logging.getLogger("suite")

        def in_a_thread(text):
            thread = threading.Thread(target=log.warning, args=(text,))
            thread.start()
            thread.join()

        @pytest.fixture
        def joins_at_teardown():
            yield
            in_a_thread("record 4, teardown, in a thread")

        async def test_joins(joins_at_teardown):
            log.warning("record 1")
            in_a_thread("record 2, in a thread")
            log.warning("record 3")

        async def test_other():
            await asyncio.sleep(0.05)
        """
    )
    result = run_alt("-v", "--log-cli-level=WARNING", "-p", "no:randomly")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "*live log call (*::test_joins)*",
            "*record 1",
            "*record 2, in a thread",
            "*record 3",
            "*live log teardown (*::test_joins)*",
            "*record 4, teardown, in a thread",
            "*::test_joins PASSED*",
        ]
    )


def test_a_batchs_first_live_record_follows_a_blank_line_after_earlier_records(pytester, run_alt):
    pytester.makeconftest(
        """
        import logging

        def pytest_sessionstart(session):
            logging.getLogger("hook").warning("at session start")
        """
    )
    pytester.makepyfile(
        """
        import logging

        async def test_async():
            logging.getLogger("t").warning("from async")
        """
    )
    result = run_alt("-v", "--asyncio-cooperative", "--log-cli-level=WARNING")
    result.assert_outcomes(passed=1)
    at = next(i for i, line in enumerate(result.outlines) if "collected 1 item" in line)
    assert result.outlines[at + 1] == "", result.stdout.str()
    assert fnmatch.fnmatch(result.outlines[at + 2], "-* live log call (*::test_async) -*")


@pytest.mark.parametrize("option", ["--setup-show", "--setup-plan", "--setup-only"])
def test_setup_show_leaves_the_terminal_to_the_tests_after_a_batch(
    pytester, run_alt_subprocess, option
):
    # Shown from a batch, a fixture line must not leave pytest's fd-level
    # capture on: the batch's results and the next tests' would vanish.
    pytester.makepyfile(
        test_a="""
        import pytest

        @pytest.fixture
        async def afix():
            yield

        async def test_async(afix):
            pass
        """,
        test_b="""
        import pytest

        @pytest.fixture
        def sfix():
            yield

        def test_sync(sfix):
            pass
        """,
    )
    result = run_alt_subprocess(option, "--asyncio-cooperative")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "test_a.py *",
            "*SETUP    F afix",
            "*test_a.py::test_async (fixtures used: afix)*",
            "*TEARDOWN F afix",
            "test_b.py *",
            "*SETUP    F sfix",
            "*test_b.py::test_sync (fixtures used: sfix)*",
            "*TEARDOWN F sfix",
        ]
    )


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_a_warnings_state_a_test_undid_is_out_of_force_for_the_rest_of_its_turn(
    pytester, run_alt, mode
):
    pytester.makepyfile(
        """
        import asyncio
        import warnings

        import pytest

        async def test_error_filter_undone():
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                await asyncio.sleep(0)
            warnings.warn("after the error filter", UserWarning)

        async def test_recorder_undone():
            with pytest.warns(UserWarning):
                await asyncio.sleep(0)
                warnings.warn("inside", UserWarning)
            warnings.warn("after pytest.warns", UserWarning)

        async def test_a_task_outliving_the_test_warns():
            async def late():
                await asyncio.sleep(0.05)
                warnings.warn("from a task that outlived its test", UserWarning)

            asyncio.get_running_loop().create_task(late())

        async def test_still_running_meanwhile():
            await asyncio.sleep(0.2)
        """
    )
    result = run_alt(*mode_args(mode))
    result.assert_outcomes(passed=4, warnings=3)
    result.stdout.fnmatch_lines_random(
        [
            "*UserWarning: after the error filter",
            "*UserWarning: after pytest.warns",
            "*UserWarning: from a task that outlived its test",
        ]
    )


@pytest.mark.parametrize("capture", ["fd", "sys", "tee-sys"])
def test_output_to_a_capture_stream_kept_from_import_is_the_tests_own(pytester, run_alt, capture):
    # A StreamHandler made at import holds pytest's capture stream of that
    # moment: what it writes is the writing test's output, in both modes.
    pytester.makepyfile(
        """
        import asyncio
        import logging
        import sys

        KEPT = sys.stdout
        log = logging.getLogger("app")
        log.addHandler(logging.StreamHandler())

        async def test_a():
            await asyncio.sleep(0)
            log.warning("warning from a")
            print("printed by a", file=KEPT)
            assert 0

        async def test_b():
            await asyncio.sleep(0.05)
            assert 0
        """
    )
    for mode in ("sequential", "cooperative"):
        result = run_alt(f"--capture={capture}", *mode_args(mode))
        result.assert_outcomes(failed=2)
        section = failure_sections(result.stdout.str())["test_a"]
        assert "Captured stderr call" in section and "warning from a" in section, section
        assert "Captured stdout call" in section and "printed by a" in section, section
        assert "printed by a" not in failure_sections(result.stdout.str())["test_b"]
        if capture == "tee-sys":  # shown as it is written too, before the results
            assert result.stdout.str().index("printed by a") < result.stdout.str().index(
                "= FAILURES ="
            )


@pytest.mark.parametrize("capture", ["fd", "sys", "tee-sys"])
def test_sys_stdout_is_the_same_kind_of_stream_as_in_a_sequential_run(
    pytester, run_alt_subprocess, capture
):
    # Under pytest's sys capture a test's sys.stdout has no file descriptor,
    # takes only what encodes, and its reconfigure() is the test's business:
    # none of that may reach the terminal in a cooperative run either.
    pytester.makepyfile(
        """
        import asyncio
        import io
        import sys

        async def test_encoding():  # first: pytest's sys capture keeps a reconfigure()
            await asyncio.sleep(0.001)
            print("ENCODINGS", sys.stdout.encoding, sys.stderr.encoding)

        async def test_fileno():
            await asyncio.sleep(0.001)
            try:
                sys.stdout.fileno()
            except io.UnsupportedOperation:
                print("NO FILENO")
            else:
                print("HAS FILENO")

        async def test_surrogate():
            await asyncio.sleep(0.001)
            print("bad \\udcff byte")

        async def test_reconfigure():
            await asyncio.sleep(0.001)
            sys.stdout.reconfigure(encoding="ascii", errors="strict")
            print("RECONFIGURED", sys.stdout.encoding)

        async def test_unicode_fail():
            await asyncio.sleep(0.01)
            assert "caf\u00e9" == "cafe"
        """
    )
    phrases = [
        "NO FILENO",
        "HAS FILENO",
        "UnicodeEncodeError",
        "RECONFIGURED ascii",
        "assert 'caf\u00e9' == 'cafe'",
        "ENCODINGS utf-8 utf-8",
        "ENCODINGS UTF-8 UTF-8",
    ]
    seen = seen_in_each_mode(run_alt_subprocess, ["-rA", f"--capture={capture}"], phrases)
    assert seen["cooperative"] == seen["sequential"], seen


def seen_in_each_mode(run, args, phrases):
    """For a sequential and a cooperative run: the outcomes, and which of
    ``phrases`` the output has."""
    seen = {}
    for mode in ("sequential", "cooperative"):
        result = run(*args, *mode_args(mode))
        out = result.stdout.str()
        seen[mode] = (result.parseoutcomes(), *(phrase in out for phrase in phrases))
    return seen


@pytest.mark.parametrize("capture", ["fd", "sys"])
def test_a_tests_stream_keeps_its_settings_and_output_through_its_phases(
    pytester, run_alt_subprocess, capture
):
    # In a sequential run a test's sys.stdout is one stream through its
    # phases: what a fixture reconfigures holds in the body and teardown, and
    # what sits in the stream's own buffer (write_through off) is captured.
    # (What is checked is written so as not to appear in the tests' source,
    # which failure reports show.)
    pytester.makepyfile(
        """
        import asyncio
        import sys

        import pytest

        @pytest.fixture
        def lenient_stdout():
            sys.stdout.reconfigure(errors="backslashreplace")
            yield
            print("TEARDOWN", "\\udce9")

        async def test_lenient(lenient_stdout):
            await asyncio.sleep(0.01)
            print("BODY", "\\udce9")
            assert 0

        async def test_buffered():
            sys.stdout.reconfigure(write_through=False, line_buffering=False)
            sys.stdout.write("ONE;")
            await asyncio.sleep(0.01)
            print("TWO", flush=True)
            assert 0

        async def test_bytes_in_chunks():
            # Bytes written in pieces that split a character, as a copy does.
            data = "CHUNKS caf\\u00e9 \\U0001f389\\n".encode()
            for start in range(0, len(data), 4):
                sys.stdout.buffer.write(data[start : start + 4])
                await asyncio.sleep(0)
            assert 0

        async def test_not_bytes():
            await asyncio.sleep(0.001)
            sys.stdout.buffer.write(3)  # a TypeError, not three NUL bytes
        """
    )
    phrases = [
        "UnicodeEncodeError",
        "BODY \\udce9",
        "TEARDOWN \\udce9",
        "ONE;TWO",
        "CHUNKS caf\u00e9 \U0001f389",
    ]
    seen = seen_in_each_mode(run_alt_subprocess, ["-rA", f"--capture={capture}"], phrases)
    assert seen["sequential"][4:] == (True, True), seen  # what the test checks is there
    assert seen["cooperative"] == seen["sequential"], seen


def test_records_of_non_propagating_loggers_are_captured_as_pytest_does(pytester, run_alt):
    # pytest 9 captures them too; pytest 8 does not: the same in both modes.
    pytester.makepyfile(
        """
        import asyncio
        import logging

        log = logging.getLogger("apart")
        log.propagate = False

        async def test_logs_apart(caplog):
            await asyncio.sleep(0)
            log.warning("from a non-propagating logger")
            print("CAPLOG SAW", [record.getMessage() for record in caplog.records])
        """
    )
    seen = {}
    for mode in ("sequential", "cooperative"):
        result = run_alt("-rA", *mode_args(mode))
        result.assert_outcomes(passed=1)
        seen[mode] = [line for line in result.stdout.lines if "non-propagating" in line]
    assert seen["cooperative"] == seen["sequential"]


def test_a_logger_made_non_propagating_mid_phase_is_captured_from_the_next_phase_on(
    pytester, run_alt
):
    # pytest 9 attaches its handler to the loggers that do not propagate as
    # each phase starts: not in the phase that made one so, though other
    # tests' phases start meanwhile (pytest 8 captures neither).
    pytester.makepyfile(
        """
        import asyncio
        import logging
        import pytest

        @pytest.fixture
        def audit():
            yield logging.getLogger("audit")
            logging.getLogger("audit").warning("audit teardown")
            logging.getLogger("audit").propagate = True  # in-process: for the next run

        async def test_request(audit, caplog):
            audit.propagate = False
            await asyncio.sleep(0.1)  # the other test's phases start meanwhile
            audit.warning("user 42 read /secret")
            print("CAPLOG SAW", [record.getMessage() for record in caplog.records])

        async def test_other():
            await asyncio.sleep(0.01)
        """
    )
    seen = {}
    for mode in ("sequential", "cooperative"):
        result = run_alt("-rA", "-p", "no:randomly", *mode_args(mode))
        result.assert_outcomes(passed=2)
        seen[mode] = [line for line in result.stdout.lines if "CAPLOG" in line or "audit" in line]
    assert seen["cooperative"] == seen["sequential"]
    assert "CAPLOG SAW []" in seen["sequential"], seen


def test_loggers_made_non_propagating_or_propagating_mid_run_are_captured_as_pytest_does(
    pytester, run_alt_subprocess
):
    # A session fixture configures logging (dictConfig: the root's handlers
    # replaced, a logger apart from the root), a function fixture lets a
    # non-propagating logger propagate (the usual recipe for caplog and a
    # library's logger), another makes one propagate again as it ends: each
    # record is captured once for its test, as pytest 9 does at each phase's
    # start (and pytest 8 not from non-propagating loggers: the same in both
    # modes). In a subprocess: it configures logging for the whole process.
    pytester.makepyfile(
        """
        import asyncio
        import logging
        import logging.config
        import pytest

        library = logging.getLogger("library")
        library.propagate = False

        @pytest.fixture(scope="session", autouse=True)
        def configure_logging():
            logging.config.dictConfig({
                "version": 1,
                "disable_existing_loggers": False,
                "handlers": {"null": {"class": "logging.NullHandler"}},
                "loggers": {"svc": {"handlers": ["null"], "propagate": False, "level": "INFO"}},
                "root": {"handlers": ["null"], "level": "INFO"},
            })

        @pytest.fixture
        def propagating():
            library.propagate = True
            yield
            library.propagate = False

        @pytest.mark.parametrize("n", range(2))
        async def test_svc(caplog, n):
            await asyncio.sleep(0.01)
            logging.getLogger("svc").warning("svc record %s", n)
            print("CAPLOG SAW", n, [record.getMessage() for record in caplog.records])

        async def test_library(propagating, caplog):
            await asyncio.sleep(0.01)
            library.warning("library record")
            print("CAPLOG SAW", [record.getMessage() for record in caplog.records])

        async def test_app(caplog):
            await asyncio.sleep(0.01)
            logging.getLogger("app").warning("app record")
            print("CAPLOG SAW", [record.getMessage() for record in caplog.records])

        @pytest.fixture
        def quiet_worker():
            logging.getLogger("worker").propagate = False
            yield
            logging.getLogger("worker").propagate = True

        async def test_quiet(quiet_worker):
            await asyncio.sleep(0.01)

        async def test_worker_after(caplog):
            await asyncio.sleep(0.1)  # test_quiet is over: "worker" propagates
            logging.getLogger("worker").warning("worker record")
            print("CAPLOG SAW", [record.getMessage() for record in caplog.records])

        logging.getLogger("pkg.sub")  # "pkg" is a name only, until asked for

        @pytest.fixture
        def quiet_pkg():
            logging.getLogger("pkg").propagate = False
            yield
            logging.getLogger("pkg").propagate = True

        async def test_pkg(quiet_pkg, caplog):
            await asyncio.sleep(0.01)
            logging.getLogger("pkg").warning("pkg record")
            print("CAPLOG SAW", [record.getMessage() for record in caplog.records])

        async def test_library_meanwhile(caplog):
            await asyncio.sleep(0.1)  # test_library made it propagate, and back since
            library.warning("library again record")
            print("CAPLOG SAW", [record.getMessage() for record in caplog.records])

        @pytest.fixture
        def child_apart():
            logging.getLogger("swap.child").propagate = False
            yield
            logging.getLogger("swap.child").propagate = True

        async def test_child_and_parent_swap(child_apart, caplog):
            await asyncio.sleep(0.01)
            child, parent = logging.getLogger("swap.child"), logging.getLogger("swap")
            child.propagate, parent.propagate = True, False  # a library's setup, say
            try:
                child.warning("swapped record")
            finally:
                child.propagate, parent.propagate = False, True
            print("CAPLOG SAW", [record.getMessage() for record in caplog.records])

        async def test_handled_twice(caplog):
            await asyncio.sleep(0.01)
            record = logging.makeLogRecord(
                {"name": "x", "levelno": logging.WARNING, "levelname": "WARNING", "msg": "twice"}
            )
            logging.getLogger().handle(record)
            logging.getLogger().handle(record)
            print("CAPLOG SAW", [record.getMessage() for record in caplog.records], "record")
        """
    )
    seen = {}
    for mode in ("sequential", "cooperative"):
        result = run_alt_subprocess("-rA", *mode_args(mode))
        result.assert_outcomes(passed=10)
        seen[mode] = sorted(line for line in result.stdout.lines if " record" in line)
    assert seen["cooperative"] == seen["sequential"]
    assert "CAPLOG SAW ['app record']" in seen["sequential"]
    assert "CAPLOG SAW ['worker record']" in seen["sequential"]
    assert "CAPLOG SAW ['twice', 'twice'] record" in seen["sequential"]
    assert "CAPLOG SAW ['library record']" in seen["sequential"]


def test_a_root_level_raised_mid_batch_is_lowered_to_log_level_at_each_phase(
    pytester, run_alt_subprocess
):
    # With --log-level, pytest lowers the root's level to it as each phase
    # starts (and puts the level it found back as the phase ends): a fixture's
    # dictConfig that raises the root's level mid-run hides nothing from the
    # phases after. In a subprocess: it configures logging for the process.
    pytester.makepyfile(
        """
        import asyncio
        import logging
        import logging.config
        import pytest

        @pytest.fixture
        def configured():
            logging.config.dictConfig(
                {"version": 1, "disable_existing_loggers": False, "root": {"level": "ERROR"}}
            )

        async def test_configures(configured):
            await asyncio.sleep(0.01)

        async def test_logs_after(caplog):
            await asyncio.sleep(0.2)  # test_configures is set up by now
            logging.getLogger("app").info("info record")
            print("CAPLOG SAW", caplog.messages, "after")
            print("ROOT LEVEL", logging.getLogger().level, "after")
        """
    )
    seen = {}
    for mode in ("sequential", "cooperative"):
        result = run_alt_subprocess("-rA", "--log-level=DEBUG", *mode_args(mode))
        result.assert_outcomes(passed=2)
        seen[mode] = sorted(line for line in result.stdout.lines if line.endswith(" after"))
    assert "CAPLOG SAW ['info record'] after" in seen["sequential"]
    assert seen["cooperative"] == seen["sequential"]


def test_handlers_a_fixture_put_back_after_a_batch_capture_nothing_twice(
    pytester, run_alt_subprocess
):
    # A fixture that puts back the handlers it found, set up in a batch and
    # torn down after it, puts back that batch's router: it must be inert.
    pytester.makepyfile(
        test_m1="""
        import logging
        import pytest

        @pytest.fixture(scope="module")
        def logging_restored():
            saved = logging.getLogger().handlers[:]
            yield
            logging.getLogger().handlers[:] = saved

        @pytest.mark.asyncio_cooperative
        async def test_in_a_batch(logging_restored):
            pass

        def test_after_the_batch(logging_restored):
            pass
        """,
        test_m2="""
        import logging
        import pytest

        @pytest.mark.asyncio_cooperative
        async def test_in_the_next_batch(caplog):
            logging.getLogger("app").warning("once")
            assert caplog.messages == ["once"]
        """,
    )
    run_alt_subprocess().assert_outcomes(passed=3)


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_caplog_levels_set_in_a_phase_end_with_it_under_log_level(pytester, run_alt, mode):
    pytester.makeini("[pytest]\nlog_level = WARNING\n")
    pytester.makepyfile(
        """
        import logging

        import pytest

        log = logging.getLogger("app")

        @pytest.fixture
        async def verbose_setup(caplog):
            caplog.set_level(logging.INFO)
            yield

        @pytest.mark.parametrize("n", range(3))
        async def test_call_captures_at_log_level(verbose_setup, caplog, n):
            log.info("an info record")
            assert caplog.records == []
        """
    )
    run_alt(*mode_args(mode)).assert_outcomes(passed=3)


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_caplog_set_level_in_a_fixture_holds_through_the_tests_phases(pytester, run_alt, mode):
    # pytest keeps one caplog handler for a test's phases: the level a
    # fixture sets holds for the call and the teardown, until caplog ends.
    pytester.makepyfile(
        """
        import logging

        import pytest

        @pytest.fixture(scope="module", autouse=True)
        def app_logs_info():  # the application's own configuration
            logging.getLogger("app").setLevel(logging.INFO)
            yield
            logging.getLogger("app").setLevel(logging.NOTSET)

        @pytest.fixture
        def quiet(caplog):
            caplog.set_level(logging.WARNING, logger="db")
            yield
            logging.getLogger("app").info("teardown info")
            assert caplog.handler.level == logging.WARNING
            assert caplog.get_records("teardown") == []

        @pytest.mark.parametrize("n", range(2))
        async def test_app(quiet, caplog, n):
            logging.getLogger("app").info("call info")
            assert caplog.handler.level == logging.WARNING
            assert caplog.messages == []
        """
    )
    run_alt(*mode_args(mode)).assert_outcomes(passed=2)


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_a_root_level_set_by_a_wider_fixture_outlives_the_batch(
    pytester, run_alt_subprocess, mode
):
    # Without --log-level, pytest leaves the root logger's level alone: an
    # application's logging set-up in a session fixture holds for the run.
    pytester.makepyfile(
        """
        import logging
        import logging.config

        import pytest

        @pytest.fixture(scope="session")
        def configure_logging():
            logging.config.dictConfig(
                {"version": 1, "disable_existing_loggers": False, "root": {"level": "INFO"}}
            )

        @pytest.mark.parametrize("n", range(2))
        async def test_first(configure_logging, caplog, n):
            logging.getLogger("app").info("first")
            assert caplog.messages == ["first"]

        @pytest.mark.asyncio_sequential
        async def test_after_the_batch(configure_logging, caplog):
            logging.getLogger("app").info("after")
            assert caplog.messages == ["after"]
        """
    )
    # In a process of its own: the outer run's logging set-up is not the suite's.
    run_alt_subprocess(*mode_args(mode)).assert_outcomes(passed=3)


#: A library's logger that does not propagate, captured the usual way: each
#: test attaches its caplog.handler to it.
LIBRARY_CAPTURED_BY_HAND = """
import asyncio
import logging

import pytest

library = logging.getLogger("library")

@pytest.fixture(scope="module", autouse=True)
def library_does_not_propagate():
    library.propagate = False
    yield
    library.propagate = True

@pytest.fixture(autouse=True)
def capture_library(caplog):
    library.addHandler(caplog.handler)
    yield
    library.removeHandler(caplog.handler)
"""


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_caplog_handler_added_to_a_non_propagating_logger_gets_its_tests_records_once(
    pytester, run_alt, mode
):
    # The usual way to capture a logger that keeps its records to itself.
    # Cooperatively, each test's handler got every running test's records,
    # and (pytest 9) its own twice: through alt_coop's relay too.
    pytester.makepyfile(
        LIBRARY_CAPTURED_BY_HAND
        + textwrap.dedent(
            """
        @pytest.mark.parametrize("n", range(3))
        async def test_logs(caplog, n):
            await asyncio.sleep(0.01 * n)
            library.warning("from test %d", n)
            await asyncio.sleep(0.05)
            assert caplog.messages == [f"from test {n}"]
        """
        )
    )
    run_alt(*mode_args(mode)).assert_outcomes(passed=3)


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_logging_configured_by_a_test_mid_batch_leaves_the_others_capturing(
    pytester, run_alt_subprocess, mode
):
    # dictConfig takes every handler off the root logger, alt_coop's router
    # among them: the other tests' records went uncaptured until their next
    # phase.
    pytester.makepyfile(
        """
        import asyncio
        import logging
        import logging.config

        import pytest

        def create_app():  # an application factory that configures logging
            logging.config.dictConfig(
                {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}
            )

        async def test_uses_the_app():
            await asyncio.sleep(0.01)
            create_app()
            await asyncio.sleep(0.1)

        async def test_other(caplog):
            await asyncio.sleep(0.05)
            logging.getLogger("service").warning("other work")
            assert caplog.messages == ["other work"]
        """
    )
    run_alt_subprocess(*mode_args(mode)).assert_outcomes(passed=2)


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_a_caplog_handler_attached_by_hand_captures_what_its_tests_levels_let_through(
    pytester, run_alt, mode
):
    pytester.makepyfile(
        LIBRARY_CAPTURED_BY_HAND
        + textwrap.dedent(
            """
        async def test_quiet_library(caplog):
            caplog.set_level(logging.WARNING, logger="library")  # its handler's level too,
            caplog.set_level(logging.INFO, logger="app")  # until this one
            await asyncio.sleep(0.05)
            library.info("library chatter")
            logging.getLogger("app").info("app info")
            assert caplog.messages == ["app info"]

        async def test_verbose_library(caplog):
            caplog.set_level(logging.DEBUG, logger="library")
            await asyncio.sleep(0.1)
            library.debug("library debug")
            assert caplog.messages == ["library debug"]
        """
        )
    )
    run_alt(*mode_args(mode)).assert_outcomes(passed=2)


def test_a_caplog_handler_attached_by_hand_gets_no_record_of_no_test(pytester, run_alt):
    # As records of no test reaching the root logger are no test's.
    pytester.makepyfile(
        """
        import asyncio
        import contextvars
        import logging

        import pytest

        library = logging.getLogger("library")

        @pytest.fixture(autouse=True)
        def capture_library(caplog):
            library.propagate = False
            library.addHandler(caplog.handler)
            yield
            library.removeHandler(caplog.handler)
            library.propagate = True

        @pytest.mark.parametrize("n", range(2))
        async def test_it(caplog, n):
            await asyncio.sleep(0.01 * n)
            if n == 0:
                asyncio.get_running_loop().call_soon(
                    library.warning, "of no test", context=contextvars.Context()
                )
            await asyncio.sleep(0.05)
            assert caplog.messages == []
        """
    )
    run_alt("--asyncio-cooperative").assert_outcomes(passed=2)


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
@pytest.mark.parametrize("where", ["a task", "a thread", "a plain def test"])
def test_logging_configured_mid_batch_off_a_tests_turn_leaves_the_others_capturing(
    pytester, run_alt_subprocess, mode, where
):
    # From a task or thread of the test, or the worker thread of a plain
    # def test, as from its own turn (dictConfig takes every handler off the
    # loggers it configures: the root's, and a library logger's).
    bodies = {
        "a task": """
        async def test_configures():
            await asyncio.sleep(0.01)
            task = asyncio.create_task(configure_later())
            await asyncio.sleep(0.2)
            await task

        async def configure_later():
            await asyncio.sleep(0.01)
            configure()
        """,
        "a thread": """
        async def test_configures():
            await asyncio.to_thread(configure)
            await asyncio.sleep(0.2)
        """,
        "a plain def test": """
        def test_configures():
            configure()
            time.sleep(0.2)
        """,
    }
    pytester.makepyfile(
        f"""
        import asyncio
        import logging
        import logging.config
        import threading
        import time

        import pytest
        from _pytest.logging import catching_logs

        pytestmark = [{"pytest.mark.asyncio_cooperative" if mode == "cooperative" else ""}]
        library = logging.getLogger("library")
        library.propagate = False
        configured = threading.Event()

        def configure():
            time.sleep(0.02)
            logging.config.dictConfig(
                {{
                    "version": 1,
                    "disable_existing_loggers": False,
                    "root": {{"level": "WARNING"}},
                    "loggers": {{"library": {{"level": "INFO", "propagate": False}}}},
                }}
            )
            configured.set()
        {textwrap.indent(textwrap.dedent(bodies[where]), " " * 8)}
        async def test_logs(caplog):
            while not configured.is_set():
                await asyncio.sleep(0.005)
            logging.getLogger("service").warning("service work")
            library.warning("library work")
            # Captured where pytest's handler goes on such loggers too (9.2;
            # 9.0 and 8 capture from the root only).
            apart = "attached_loggers" in getattr(catching_logs, "__slots__", ())
            assert caplog.messages == ["service work", "library work"][: 2 if apart else 1]
        """
    )
    run_alt_subprocess().assert_outcomes(passed=2)


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_logging_a_test_configures_is_as_it_asked(pytester, run_alt_subprocess, mode):
    # basicConfig(force=True) adds its handler only to a root logger left
    # with none, and a test's own dictConfig takes pytest's capture off too.
    pytester.makepyfile(
        """
        import asyncio
        import logging
        import logging.config

        import pytest

        @pytest.fixture
        def root_as_it_was():
            root = logging.getLogger()
            handlers, level = root.handlers[:], root.level
            yield
            root.handlers[:] = handlers
            root.setLevel(level)

        async def test_basic_config(root_as_it_was, tmp_path):
            await asyncio.sleep(0.01)
            logging.basicConfig(force=True, filename=tmp_path / "app.log", level=logging.DEBUG)
            logging.getLogger("app").debug("to the file")
            assert logging.getLogger().level == logging.DEBUG
            assert "to the file" in (tmp_path / "app.log").read_text()
            for handler in logging.getLogger().handlers:
                handler.close()

        async def test_dict_config(root_as_it_was, caplog):
            await asyncio.sleep(0.01)
            logging.config.dictConfig(
                {"version": 1, "disable_existing_loggers": False, "root": {"handlers": []}}
            )
            logging.getLogger("app").warning("after configuring")
            assert caplog.messages == []

        async def test_beside():
            await asyncio.sleep(0.05)
        """
    )
    run_alt_subprocess(*mode_args(mode)).assert_outcomes(passed=3)


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_a_warning_shown_by_one_test_is_recorded_for_every_test(pytester, run_alt, mode):
    pytester.makepyfile(
        """
        import asyncio
        import warnings
        import pytest

        def helper():
            warnings.warn("shared warning", UserWarning)

        @pytest.mark.parametrize("n", range(3))
        async def test_warns(n):
            await asyncio.sleep(0.05 * n)  # run at once, they warn one after another
            helper()
            await asyncio.sleep(0.01)
        """
    )
    result = run_alt(*mode_args(mode))
    result.assert_outcomes(passed=3, warnings=3)
    for n in range(3):
        result.stdout.fnmatch_lines([f"*::test_warns[[]{n}[]]"])


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_a_tests_warnings_reach_plugins_after_its_logfinish(pytester, run_alt, mode):
    # pytest's warnings plugin hands a test's warnings over once its whole
    # protocol, logfinish included, is done.
    pytester.makeconftest(
        """
        EVENTS = []

        def pytest_runtest_logstart(nodeid):
            EVENTS.append(f"logstart {nodeid.rpartition(':')[2]}")

        def pytest_runtest_logfinish(nodeid):
            EVENTS.append(f"logfinish {nodeid.rpartition(':')[2]}")

        def pytest_warning_recorded(warning_message, nodeid):
            EVENTS.append(f"warning {nodeid.rpartition(':')[2]}: {warning_message.message}")

        def pytest_terminal_summary(terminalreporter):
            for event in EVENTS:
                terminalreporter.write_line(f"EVENT {event}")
        """
    )
    pytester.makepyfile(
        """
        import warnings

        async def test_warns():
            warnings.warn("from the test", UserWarning)
        """
    )
    result = run_alt(*mode_args(mode))
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "EVENT logstart test_warns",
            "EVENT logfinish test_warns",
            "EVENT warning test_warns: from the test",
        ],
        consecutive=True,
    )


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_a_warnings_allocation_traceback_is_shown(pytester, run_alt_subprocess, mode):
    # A warning given the object it is about (``source=``, as an unclosed
    # resource's ResourceWarning is) shows where that object was allocated
    # when tracemalloc runs; so also a warning a task of the test gives, and
    # one recorded by the test's own pytest.warns.
    # Started by the conftest rather than PYTHONTRACEMALLOC, which traces
    # pytest's start-up too and makes the run ten times slower.
    pytester.makeconftest(
        """
        import tracemalloc

        def pytest_configure():
            tracemalloc.start(5)
        """
    )
    pytester.makepyfile(
        """
        import asyncio
        import warnings
        import pytest

        class Handle:
            __slots__ = ("name",)  # on 3.11 tracemalloc finds no other object

        def allocate_in_the_test():
            return Handle()

        def allocate_in_a_task():
            return Handle()

        def leak(handle, text):
            warnings.warn(text, ResourceWarning, source=handle)

        async def test_leaks():
            handle = allocate_in_the_test()
            await asyncio.sleep(0.1)
            leak(handle, "leaked by the test")

        async def test_leaks_in_a_task():
            await asyncio.sleep(0.05)
            handle = allocate_in_a_task()
            with pytest.warns(ResourceWarning) as caught:
                await asyncio.create_task(asyncio.to_thread(leak, handle, "leaked in a task"))
            assert caught[0].source is handle
        """
    )
    result = run_alt_subprocess("-W", "always::ResourceWarning", *mode_args(mode))
    result.assert_outcomes(passed=2, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "*::test_leaks",
            "*ResourceWarning: leaked by the test",
            "*",
            "*Object allocated at:",
            "*",
            "*handle = allocate_in_the_test()",
            "*",
            "*return Handle()",
        ]
    )


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_warning_recorders_and_filters_set_by_a_test_stay_its_own(pytester, run_alt, mode):
    # pytest.warns, warnings.catch_warnings and warnings.simplefilter change
    # process-wide state; a test that awaits while they are in effect must not
    # catch the warnings of the tests that run meanwhile, nor change theirs.
    pytester.makepyfile(
        """
        import asyncio
        import warnings
        import pytest

        async def test_expects_a_warning_it_never_gets():
            with pytest.warns(DeprecationWarning):
                await asyncio.sleep(0.3)

        async def test_records_its_own():
            with warnings.catch_warnings(record=True) as log:
                warnings.simplefilter("always")
                await asyncio.sleep(0.3)
                warnings.warn("own", UserWarning)
            assert [str(w.message) for w in log] == ["own"]

        async def test_turns_warnings_into_errors():
            warnings.simplefilter("error")
            await asyncio.sleep(0.3)
            with pytest.raises(UserWarning):
                warnings.warn("an error here", UserWarning)

        async def test_noisy():
            await asyncio.sleep(0.1)
            warnings.warn("noise", DeprecationWarning)
            warnings.warn("more noise", UserWarning)
            await asyncio.sleep(0.1)
        """
    )
    result = run_alt(*mode_args(mode))
    result.assert_outcomes(passed=3, failed=1, warnings=2)
    result.stdout.fnmatch_lines(
        ["*_ test_expects_a_warning_it_never_gets _*", "E * DID NOT WARN.*"]
    )
    summary = result.stdout.str().split("warnings summary")[1].split("short test summary")[0]
    assert summary.count("::test_noisy") == 2, result.stdout.str()
    assert "::test_expects" not in summary and "::test_records" not in summary, summary


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_the_last_failure_pytest_keeps_for_post_mortems_is_each_tests_own(pytester, mode):
    # pytest keeps a test's failure in sys.last_value (and last_type,
    # last_traceback, on 3.12 last_exc) for post-mortem debugging, and clears
    # it as the next test's call starts; a teardown may read it to tell
    # whether its test failed. Tests failing meanwhile must not change it.
    pytester.makeconftest(
        """
        import asyncio
        import sys
        import pytest

        @pytest.fixture
        async def report_last(request):
            yield
            await asyncio.sleep(0.05)
            names = ["last_type", "last_value", "last_traceback"]
            if sys.version_info >= (3, 12):
                names.append("last_exc")
            seen = [getattr(sys, name, None) for name in names]
            print(f"TEARDOWN {request.node.name} sees {seen[1]!r}")
            if seen[1] is not None:
                assert seen[0] is type(seen[1])
                tb, names = seen[2], []
                while tb is not None:
                    names.append(tb.tb_frame.f_code.co_name)
                    tb = tb.tb_next
                assert request.node.name in names
                assert seen[3:] in ([], [seen[1]])
            else:
                assert seen == [None] * len(names)
        """
    )
    pytester.makepyfile(
        """
        import asyncio
        import time
        import pytest

        async def test_a(report_last):
            await asyncio.sleep(0.02)
            raise ValueError("A failed")

        async def test_b(report_last):
            await asyncio.sleep(0.03)

        async def test_c(report_last):
            await asyncio.sleep(0.04)
            raise KeyError("C failed")

        @pytest.mark.asyncio_cooperative
        def test_d_in_a_thread(report_last):  # while its body runs, A and C fail
            time.sleep(0.1)
        """
    )
    result = pytester.runpytest(*ISOLATE, "-p", "alt_coop.enable", "-s", *mode_args(mode))
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines_random(
        [
            "*TEARDOWN test_a sees ValueError('A failed')",
            "*TEARDOWN test_b sees None",
            "*TEARDOWN test_d_in_a_thread sees None",
            "*TEARDOWN test_c sees KeyError('C failed')",
        ]
    )


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_streams_and_current_test_var_set_by_a_test_stay_its_own(pytester, run_alt, mode):
    # sys.stdout, sys.stderr and PYTEST_CURRENT_TEST are process-wide; a test
    # that awaits while it has them changed must not change them for the
    # tests that run meanwhile, even when the changes are undone out of order.
    pytester.makepyfile(
        """
        import asyncio
        import contextlib
        import io
        import os
        import sys
        import pytest

        async def test_redirects_stdout_across_awaits():
            buf = io.StringIO()
            with contextlib.redirect_stdout(buf):
                print("mine")
                await asyncio.sleep(0.3)
            assert buf.getvalue() == "mine\\n"

        async def test_redirects_stderr_for_less_time():
            buf = io.StringIO()
            with contextlib.redirect_stderr(buf):
                await asyncio.sleep(0.15)
            assert buf.getvalue() == ""

        async def test_prints_meanwhile():
            await asyncio.sleep(0.05)
            print("printed meanwhile")
            await asyncio.sleep(0.3)
            print("printed after")
            sys.stderr.write("written after\\n")
            assert 0, "show my output"

        @pytest.mark.parametrize("n", range(2))
        async def test_current_test_var(request, n):
            await asyncio.sleep(0.1 * n)  # the other test changes phase in between
            assert os.environ["PYTEST_CURRENT_TEST"] == f"{request.node.nodeid} (call)"
            await asyncio.sleep(0.15)
            assert os.environ["PYTEST_CURRENT_TEST"] == f"{request.node.nodeid} (call)"
        """
    )
    result = run_alt(*mode_args(mode))
    result.assert_outcomes(passed=4, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*_ test_prints_meanwhile _*",
            "*- Captured stdout call -*",
            "printed meanwhile",
            "printed after",
            "*- Captured stderr call -*",
            "written after",
        ]
    )


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_stdout_is_a_writable_stream_with_a_file_descriptor(pytester, run_alt_subprocess, mode):
    pytester.makepyfile(
        """
        import subprocess
        import sys

        async def test_stream():
            assert sys.stdout.writable() and sys.stderr.writable()
            assert sys.stdout.buffer.writable()
            assert isinstance(sys.stdout.fileno(), int)
            assert sys.stdout.errors and sys.stdout.encoding
            subprocess.run([sys.executable, "-c", "pass"], stdout=sys.stdout, check=True)
        """
    )
    result = run_alt_subprocess(*mode_args(mode))
    result.assert_outcomes(passed=1)


def test_pytest_warns_in_a_sync_cooperative_test_sees_its_own_warning(pytester, run_alt):
    # Its body runs in a worker thread while the async tests take turns.
    pytester.makepyfile(
        """
        import asyncio
        import time
        import warnings
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        def test_sync_expects_its_warning():
            with pytest.warns(UserWarning, match="mine"):
                time.sleep(0.3)
                warnings.warn("mine", UserWarning)

        @pytest.mark.parametrize("n", range(3))
        async def test_takes_turns(n):
            for _ in range(5):
                await asyncio.sleep(0.1)
        """
    )
    result = run_alt()
    result.assert_outcomes(passed=4)


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_warning_recorders_catch_the_warnings_of_tasks_their_test_started(pytester, run_alt, mode):
    pytester.makepyfile(
        """
        import asyncio
        import warnings
        import pytest

        async def deprecated():
            await asyncio.sleep(0.05)
            warnings.warn("deprecated", DeprecationWarning)

        async def test_gathers():
            with pytest.warns(DeprecationWarning, match="deprecated"):
                await asyncio.gather(deprecated(), deprecated())

        async def test_records_its_task():
            with warnings.catch_warnings(record=True) as log:
                warnings.simplefilter("always")
                await asyncio.create_task(deprecated())
            assert [str(w.message) for w in log] == ["deprecated"]

        async def test_other():
            await asyncio.sleep(0.1)
        """
    )
    result = run_alt(*mode_args(mode))
    result.assert_outcomes(passed=3)


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_a_tests_own_filters_decide_whether_its_tasks_repeats_are_recorded(
    pytester, run_alt, mode
):
    # Outside the test's turns, the batch's filters (shown once per place)
    # marked the first task's warning as shown: the second one, at the same
    # place, was dropped, though the test's own filter shows every one.
    pytester.makepyfile(
        """
        import asyncio
        import warnings
        import pytest

        async def later(delay):
            await asyncio.sleep(delay)
            warnings.warn("from a task", UserWarning)

        async def test_expects_both():
            with pytest.warns(UserWarning) as recorded:
                await asyncio.gather(later(0), later(0.005))
            assert len(recorded) == 2

        async def test_shows_both():
            with warnings.catch_warnings():
                warnings.simplefilter("always", UserWarning)
                await asyncio.gather(later(0), later(0.005))

        async def test_shows_one():
            with warnings.catch_warnings():
                warnings.simplefilter("default", UserWarning)
                await asyncio.gather(later(0), later(0.005))
        """
    )
    result = run_alt(*mode_args(mode), "-p", "no:randomly")
    result.assert_outcomes(passed=3, warnings=3)


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_a_filter_set_in_place_then_a_copy_taken_across_an_await_stays_its_tests(
    pytester, run_alt, mode
):
    # simplefilter changes the filters list in place; catch_warnings (or
    # pytest.warns) then puts a copy in force and that list back as it ends.
    # Put aside at the await, the copy was the test's own, but the list kept
    # the change: the other tests ran under it, and the test lost it.
    pytester.makepyfile(
        """
        import asyncio
        import warnings
        import pytest

        async def test_ignores_then_copies():
            warnings.simplefilter("ignore", UserWarning)
            with warnings.catch_warnings():
                await asyncio.sleep(0.02)

        async def test_ignores_then_expects():
            warnings.simplefilter("ignore", DeprecationWarning)
            with pytest.warns(RuntimeWarning):
                await asyncio.sleep(0.02)
                warnings.warn("expected", RuntimeWarning)
            warnings.warn("ignored", DeprecationWarning)

        async def test_always_then_copies():
            warnings.simplefilter("always", SyntaxWarning)
            with warnings.catch_warnings():
                await asyncio.sleep(0.02)
            for _ in range(3):
                warnings.warn("each time", SyntaxWarning)

        async def test_meanwhile():
            await asyncio.sleep(0.01)
            warnings.warn("not ignored", UserWarning)
            warnings.warn("not ignored either", DeprecationWarning)
        """
    )
    result = run_alt(*mode_args(mode), "-p", "no:randomly")
    result.assert_outcomes(passed=4, warnings=5)


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_repeats_of_warnings_python_marks_elsewhere_are_recorded_once(pytester, run_alt, mode):
    # A registry of warn_explicit's own, or a stacklevel past the stack: no
    # module's registry holds the mark, so only Python's marks tell repeats.
    pytester.makepyfile(
        """
        import asyncio
        import warnings

        registry = {}

        def explicit():
            warnings.warn_explicit("explicit", UserWarning, "elsewhere.py", 7, registry=registry)

        def too_deep():
            warnings.warn("too deep", UserWarning, stacklevel=500)

        async def test_repeats():
            for _ in range(5):
                explicit()
                too_deep()

        async def test_other():
            await asyncio.sleep(0)
        """
    )
    result = run_alt(*mode_args(mode), "-p", "no:randomly")
    result.assert_outcomes(passed=2, warnings=2)


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_a_tasks_warning_one_test_makes_an_error_is_still_recorded_by_another(
    pytester, run_alt, mode
):
    # The error skipped taking back the mark Python put at the warning's
    # place: the run's "default" filter then hid it from the other test.
    pytester.makepyfile(
        """
        import asyncio
        import warnings
        import pytest

        def warn_now():
            warnings.warn("from a task", UserWarning)

        async def in_task():
            await asyncio.sleep(0)
            warn_now()

        @pytest.mark.filterwarnings("error")
        async def test_makes_it_an_error():
            with pytest.raises(UserWarning):
                await asyncio.create_task(in_task())

        async def test_records_it():
            with warnings.catch_warnings(record=True) as log:
                warnings.simplefilter("always")
                await asyncio.create_task(in_task())
            assert len(log) == 1
        """
    )
    run_alt(*mode_args(mode)).assert_outcomes(passed=2)


@pytest.mark.parametrize(
    "warn",
    [
        'warnings.warn("from my task", UserWarning)',
        'warnings.warn_explicit("from my task", UserWarning, __file__, 1, registry={})',
    ],
    ids=["warn", "warn_explicit"],
)
@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_a_tasks_warning_made_an_error_by_its_tests_filter_is_raised_at_its_line(
    pytester, run_alt, mode, warn
):
    # Redelivered with the test's filters in force: it ended in Python's
    # warnings module, past alt_coop's frames (where --tb=line placed it).
    test_file = pytester.makepyfile(
        """
        import asyncio
        import warnings
        import pytest

        @pytest.mark.filterwarnings("error::UserWarning")
        async def test_task_warns():
            async def task():
                WARN
            await asyncio.create_task(task())
        """.replace("WARN", warn)
    )
    result = run_alt("--tb=line", *mode_args(mode))
    result.assert_outcomes(failed=1)
    warned = test_file.read_text().splitlines().index(f"        {warn}")
    result.stdout.fnmatch_lines([f"*{test_file.name}:{warned + 1}: UserWarning: from my task"])
    assert "warnings.py" not in result.stdout.str(), result.stdout.str()
    assert "alt_coop/" not in run_alt(*mode_args(mode)).stdout.str()


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_a_warning_from_a_test_then_from_its_task_at_one_place_is_recorded_once(
    pytester, run_alt, mode
):
    pytester.makepyfile(
        """
        import asyncio
        import warnings

        def helper():
            warnings.warn("same place", UserWarning)

        async def later():
            await asyncio.sleep(0.01)
            helper()

        async def test_turn_then_task():
            with warnings.catch_warnings(record=True) as w:
                warnings.simplefilter("default")
                helper()
                await asyncio.create_task(later())
            assert len(w) == 1, [str(m.message) for m in w]

        async def test_other():
            await asyncio.sleep(0.02)
        """
    )
    result = run_alt(*mode_args(mode), "-p", "no:randomly")
    result.assert_outcomes(passed=2)


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_a_warning_repeated_across_awaits_is_recorded_once_per_test(pytester, run_alt, mode):
    pytester.makepyfile(
        """
        import asyncio
        import warnings
        import pytest

        @pytest.mark.parametrize("n", range(2))
        async def test_repeats(n):
            for _ in range(3):
                warnings.warn("said again", UserWarning)
                await asyncio.sleep(0.02)

        async def test_repeats_a_deprecation(n=0):
            for _ in range(2):  # pytest shows DeprecationWarning always
                warnings.warn("deprecated", DeprecationWarning)
                await asyncio.sleep(0.02)
        """
    )
    result = run_alt(*mode_args(mode))
    result.assert_outcomes(passed=3, warnings=4)


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_a_tests_repeat_of_a_warning_hides_it_from_no_other_test(pytester, run_alt, mode):
    # Its repeat, not recorded again, still marked the place in the module's
    # registry: left marked, Python no longer showed the others that warning.
    thread_mark = "@pytest.mark.asyncio_cooperative" if mode == "cooperative" else ""
    pytester.makepyfile(
        f"""
        import asyncio
        import time
        import warnings
        import pytest

        def helper():
            warnings.warn("said again", UserWarning)

        async def test_repeats():
            helper()
            await asyncio.sleep(0.02)
            helper()
            await asyncio.sleep(0.1)

        async def test_says_it_after_the_repeat():
            await asyncio.sleep(0.05)
            helper()

        {thread_mark}
        def test_in_a_thread_after_the_repeat():
            time.sleep(0.06)
            helper()
        """
    )
    result = run_alt(*mode_args(mode), "-p", "no:randomly")
    result.assert_outcomes(passed=3, warnings=3)
    if mode == "cooperative":
        result.stdout.fnmatch_lines(["alt_coop: 3 cooperative tests, at most 3 at once*"])


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_once_and_module_actions_hide_a_message_from_another_line_across_awaits(
    pytester, run_alt, mode
):
    # "once" and "module" show a message once, whatever line it comes from
    # again: a test's repeat from another line, after an await, stays hidden.
    pytester.makepyfile(
        """
        import asyncio
        import warnings
        import pytest

        @pytest.mark.parametrize("action", ["once", "module"])
        async def test_shown(action):
            with warnings.catch_warnings():
                warnings.simplefilter(action, UserWarning)
                warnings.warn(f"said by {action}", UserWarning)
                await asyncio.sleep(0.02)
                warnings.warn(f"said by {action}", UserWarning)

        @pytest.mark.parametrize("action", ["once", "module"])
        async def test_recorded(action):
            with warnings.catch_warnings(record=True) as log:
                warnings.simplefilter(action)
                warnings.warn("recorded", UserWarning)
                await asyncio.sleep(0.02)
                warnings.warn("recorded", UserWarning)
            assert [str(w.message) for w in log] == ["recorded"]

        async def test_beside():
            await asyncio.sleep(0.01)
        """
    )
    result = run_alt("-W", "once::UserWarning", *mode_args(mode))
    result.assert_outcomes(passed=5, warnings=2)
    result.stdout.fnmatch_lines(["*UserWarning: said by once", "*UserWarning: said by module"])


def test_an_unraisable_exception_is_reported_for_the_test_that_raised_it(pytester, run_alt):
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        class Broken:
            def __del__(self):
                raise ValueError("broken in __del__")

        async def test_drops_a_broken_object():
            Broken()  # its __del__ raises at once, while the others wait
            await asyncio.sleep(0.1)

        async def test_other_a():
            await asyncio.sleep(0.05)

        async def test_other_b():
            await asyncio.sleep(0.05)
        """
    )
    result = run_alt("-W", "default::pytest.PytestUnraisableExceptionWarning")
    result.assert_outcomes(passed=3, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "*= warnings summary =*",
            "*::test_drops_a_broken_object",
            "*PytestUnraisableExceptionWarning*Broken.__del__*",
        ]
    )
    summary = result.stdout.str().split("warnings summary")[1]
    assert "test_other" not in summary, result.stdout.str()


@pytest.mark.skipif(PYTEST_VERSION < (8, 4), reason="pytest 8.3 catches them per phase itself")
@pytest.mark.parametrize("off", ["unraisableexception", "threadexception"])
def test_uncaught_exceptions_stay_per_test_with_the_other_kind_switched_off(
    pytester, run_alt_subprocess, off
):
    # Switching off pytest's catcher of one kind sent the other kind to
    # whichever test's phase ended next. (In a subprocess: in-process, the
    # outer session's hooks would be Python's.)
    pytester.makepyfile(
        """
        import asyncio
        import threading
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        class Broken:
            def __del__(self):
                raise RuntimeError("broken in __del__")

        async def test_unraisable():
            await asyncio.sleep(0.01)
            Broken()
            await asyncio.sleep(0.1)

        async def test_thread():
            def fail():
                raise KeyError("failed in a thread")
            thread = threading.Thread(target=fail)
            thread.start()
            thread.join()
            await asyncio.sleep(0.1)

        async def test_bystander():
            await asyncio.sleep(0.05)
        """
    )
    result = run_alt_subprocess(
        "-p",
        f"no:{off}",
        "-rA",
        "-W",
        "error::pytest.PytestUnraisableExceptionWarning",
        "-W",
        "error::pytest.PytestUnhandledThreadExceptionWarning",
    )
    failing = "test_thread" if off == "unraisableexception" else "test_unraisable"
    passing = {"test_thread", "test_unraisable"} - {failing}
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines_random(
        [f"FAILED *::{failing}*", f"PASSED *::{passing.pop()}", "PASSED *::test_bystander"]
    )
    if off == "threadexception":
        # Python's own hook prints it: into the test's captured output.
        result.stdout.fnmatch_lines(
            ["*- Captured stderr call -*", "Exception in thread*", "*KeyError*failed in a thread*"]
        )
        before_progress = result.stdout.str().split("test_uncaught_exceptions")[0]
        assert "Exception in thread" not in before_progress


def test_an_unraisable_hook_a_test_sets_across_an_await_stays_its_own(pytester, run_alt):
    # As pytest 8.3 does around each phase, or a test catching them itself.
    pytester.makepyfile(
        """
        import asyncio
        import sys
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        class Broken:
            def __del__(self):
                raise ValueError("broken in __del__")

        async def test_catches_its_own():
            caught = []
            saved, sys.unraisablehook = sys.unraisablehook, caught.append
            try:
                await asyncio.sleep(0.2)
                Broken()
            finally:
                sys.unraisablehook = saved
            assert len(caught) == 1

        async def test_drops_a_broken_object():
            await asyncio.sleep(0.05)
            Broken()
        """
    )
    result = run_alt("-W", "default::pytest.PytestUnraisableExceptionWarning")
    result.assert_outcomes(passed=2, warnings=1)
    summary = result.stdout.str().split("warnings summary")[1]
    assert "::test_drops_a_broken_object" in summary, result.stdout.str()


@pytest.mark.skipif(PYTEST_VERSION < (8, 4), reason="pytest 8.3 catches them per phase itself")
def test_a_thread_exception_is_reported_for_the_test_that_started_the_thread(pytester, run_alt):
    # The thread left behind fails once every other test has been reported,
    # whatever the machine's load: then only test_last is still running.
    pytester.makeconftest(
        """
        import threading

        OTHERS_REPORTED = threading.Event()
        OTHERS = {
            "test_starts_a_failing_thread", "test_other_a", "test_other_b",
            "test_leaves_a_thread_behind",
        }

        def pytest_runtest_logreport(report):
            if report.when == "teardown":
                OTHERS.discard(report.nodeid.rpartition("::")[2])
                if not OTHERS:
                    OTHERS_REPORTED.set()
        """
    )
    pytester.makepyfile(
        """
        import asyncio
        import threading
        import pytest
        from conftest import OTHERS_REPORTED

        pytestmark = pytest.mark.asyncio_cooperative

        def fail():
            raise ValueError("failed in a thread")

        def fail_once_the_others_are_reported():
            OTHERS_REPORTED.wait(10)
            fail()

        async def test_starts_a_failing_thread():
            thread = threading.Thread(target=fail, name="failing")
            thread.start()
            thread.join()  # the others are waiting meanwhile
            await asyncio.sleep(0.1)

        async def test_other_a():
            await asyncio.sleep(0.05)

        async def test_other_b():
            await asyncio.sleep(0.05)

        LEFT_BEHIND = []
        STARTED = asyncio.Event()

        async def test_leaves_a_thread_behind():
            LEFT_BEHIND.append(threading.Thread(target=fail_once_the_others_are_reported))
            LEFT_BEHIND[0].start()
            STARTED.set()

        async def test_last():
            await STARTED.wait()
            # Until the thread is over, its exception reported to Python's hook.
            await asyncio.to_thread(LEFT_BEHIND[0].join)
        """
    )
    result = run_alt("-W", "default::pytest.PytestUnhandledThreadExceptionWarning")
    result.assert_outcomes(passed=5, warnings=2)
    result.stdout.fnmatch_lines(
        [
            "*= warnings summary =*",
            "*::test_starts_a_failing_thread",
            "*PytestUnhandledThreadExceptionWarning*Exception in thread failing*",
        ]
    )
    summary = result.stdout.str().split("warnings summary")[1]
    assert "test_other" not in summary, result.stdout.str()
    # A thread that outlives its test is reported where pytest would: by a
    # later test's phase.
    assert "::test_last" in summary, result.stdout.str()


# The notice that these tests run alone is a warning raised outside any test,
# which in-process reaches this session (see
# test_notice_when_cooperative_tests_run_sequentially for the notice itself).
@pytest.mark.filterwarnings("ignore::alt_coop.errors.AltCoopWarning")
def test_capsys_tests_still_work_and_run_alone(pytester, run_alt):
    events_conftest(pytester)
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        from conftest import span

        pytestmark = pytest.mark.asyncio_cooperative

        async def test_a():
            async with span("a"):
                print("noise from a")
                await asyncio.sleep(0.1)

        async def test_capsys_1(capsys):
            async with span("capsys_1"):
                print("mine 1")
                await asyncio.sleep(0.05)
                print("mine 1 again")
                assert capsys.readouterr().out == "mine 1\\nmine 1 again\\n"

        async def test_b():
            async with span("b"):
                print("noise from b")
                await asyncio.sleep(0.1)

        async def test_capsys_2(capsys):
            async with span("capsys_2"):
                await asyncio.sleep(0.05)
                print("mine 2")
                assert capsys.readouterr().out == "mine 2\\n"

        async def test_c():
            async with span("c"):
                await asyncio.sleep(0.1)

        async def test_d():
            async with span("d"):
                await asyncio.sleep(0.1)
        """
    )
    result = run_alt("-v")
    result.assert_outcomes(passed=6)
    spans = read_spans(pytester)
    for alone in ("capsys_1", "capsys_2"):
        for other in spans.keys() - {alone}:
            assert not overlap(spans[alone], spans[other]), (alone, other, spans)
    assert overlap(spans["c"], spans["d"])


RUN_ALONE_BODIES = {
    "capfd": (
        "capfd",
        """
        print("mine")
        await asyncio.sleep(0.05)
        assert capfd.readouterr().out == "mine\\n"
        """,
    ),
    "monkeypatch": (
        "monkeypatch",
        """
        monkeypatch.setenv("ALT_COOP_PROBE", "set")
        await asyncio.sleep(0.05)
        assert os.environ["ALT_COOP_PROBE"] == "set"
        """,
    ),
    # A plain def test's body runs in a thread while the loop runs other
    # tests; these two set warnings state it needs for itself.
    "recwarn in a def test": (
        "recwarn",
        """
        warnings.warn("mine", UserWarning)
        time.sleep(0.05)
        assert [str(w.message) for w in recwarn] == ["mine"]
        """,
    ),
    "filterwarnings on a def test": (
        "",
        """
        time.sleep(0.05)
        with pytest.raises(UserWarning):
            warnings.warn("an error here", UserWarning)
        """,
    ),
}


if PYTEST_VERSION >= (8, 4):
    RUN_ALONE_BODIES["capteesys"] = (
        "capteesys",
        """
        print("mine")
        await asyncio.sleep(0.05)
        assert capteesys.readouterr().out == "mine\\n"
        """,
    )
if PYTEST_VERSION >= (9, 0):
    RUN_ALONE_BODIES["subtests"] = (
        "subtests",
        """
        with subtests.test("one"):
            await asyncio.sleep(0.05)
        """,
    )


@pytest.mark.parametrize(
    ("fixture", "mark", "notice"),
    [
        ("benchmark", "", "tests using benchmark run alone (process-wide state)"),
        ("no_cover", "", "tests using no_cover run alone (process-wide state)"),
        ("", "no_cover", "tests marked no_cover run alone (pytest-cov pauses coverage"),
        ("", "order(after='test_a')", "tests ordered by pytest-order or pytest-dependency"),
        ("", "dependency(depends=['test_a'])", "tests ordered by pytest-order or pytest-"),
        ("httpx_mock", "", "tests using httpx_mock run alone (process-wide state)"),
        ("requests_mock", "", "tests using requests_mock run alone (process-wide state)"),
        ("aioresponses", "", "tests using aioresponses run alone (process-wide state)"),
        ("", "vcr", "tests marked vcr run alone (pytest-recording patches process-wide"),
    ],
    ids=[
        "benchmark",
        "no_cover-fixture",
        "no_cover-mark",
        "order",
        "dependency",
        "httpx_mock",
        "requests_mock",
        "aioresponses",
        "vcr",
    ],
)
def test_plugins_whose_state_is_process_wide_run_alone(pytester, run_alt, fixture, mark, notice):
    # Stand-ins for the fixtures of pytest-benchmark, pytest-cov and the HTTP
    # mocking plugins, and the marks of pytest-cov, pytest-order,
    # pytest-dependency and pytest-recording: alt_coop knows them by name.
    events_conftest(
        pytester,
        f"""
        import pytest

        @pytest.fixture
        def {fixture or "unused"}():
            return None

        def pytest_configure(config):
            for name in ("no_cover", "order", "dependency", "vcr"):
                config.addinivalue_line("markers", name)
        """,
    )
    pytester.makepyfile(
        f"""
        import asyncio
        import pytest
        from conftest import span

        pytestmark = pytest.mark.asyncio_cooperative

        async def test_a():
            async with span("a"):
                await asyncio.sleep(0.1)

        {f"@pytest.mark.{mark}" if mark else ""}
        async def test_alone({fixture}):
            async with span("alone"):
                await asyncio.sleep(0.1)

        async def test_b():
            async with span("b"):
                await asyncio.sleep(0.1)
        """
    )
    result = run_alt()
    result.assert_outcomes(passed=3, warnings=1)
    assert notice in result.stdout.str(), result.stdout.str()
    assert_ran_alone(pytester)


@pytest.mark.parametrize("package", ["aioresponses", "responses"])
def test_a_test_decorated_by_a_patching_library_runs_alone(pytester, run_alt, package):
    # A stand-in for the library, by its package name: alt_coop knows a
    # decorator by the module that defines its wrapper, however deep under
    # other decorators it sits.
    pytester.makepyfile(
        **{
            package: """
            import functools

            def activate(test):
                @functools.wraps(test)
                async def wrapper(*args, **kwargs):
                    return await test(*args, **kwargs)
                return wrapper
            """
        }
    )
    events_conftest(pytester)
    pytester.makepyfile(
        test_decorated=f"""
        import asyncio
        import functools
        import pytest
        from conftest import span
        from {package} import activate

        pytestmark = pytest.mark.asyncio_cooperative

        def outer(test):
            @functools.wraps(test)
            async def wrapper(*args, **kwargs):
                return await test(*args, **kwargs)
            return wrapper

        async def test_a():
            async with span("a"):
                await asyncio.sleep(0.1)

        @outer
        @activate
        async def test_alone():
            async with span("alone"):
                await asyncio.sleep(0.1)

        async def test_b():
            async with span("b"):
                await asyncio.sleep(0.1)
        """
    )
    result = run_alt()
    result.assert_outcomes(passed=3, warnings=1)
    result.stdout.fnmatch_lines(
        [f"*AltCoopWarning: alt_coop: tests decorated by {package} run alone (process-wide state)"]
    )
    assert_ran_alone(pytester)


def test_a_test_ordered_by_pytest_orders_marker_prefix_runs_sequentially(pytester, run_alt):
    # pytest-order's --order-marker-prefix=m makes m1, m2, ... order marks.
    # A stand-in for its option; the order of the marks is not at issue here.
    events_conftest(
        pytester,
        """
        def pytest_addoption(parser):
            parser.addoption("--order-marker-prefix", dest="order_marker_prefix")

        def pytest_configure(config):
            config.addinivalue_line("markers", "m1")
            config.addinivalue_line("markers", "mark_me")
        """,
    )
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        from conftest import span

        pytestmark = pytest.mark.asyncio_cooperative

        async def test_a():
            async with span("a"):
                await asyncio.sleep(0.1)

        @pytest.mark.mark_me  # the prefix and no digit: no order mark
        async def test_b():
            async with span("b"):
                await asyncio.sleep(0.1)

        @pytest.mark.m1
        async def test_alone():
            async with span("alone"):
                await asyncio.sleep(0.1)
        """
    )
    result = run_alt("--order-marker-prefix=m")
    result.assert_outcomes(passed=3, warnings=1)
    result.stdout.fnmatch_lines(
        ["*AltCoopWarning: alt_coop: tests ordered by pytest-order or pytest-dependency run*"]
    )
    assert_ran_alone(pytester)
    spans = read_spans(pytester)
    assert overlap(spans["a"], spans["b"])


@pytest.mark.parametrize("mark", ["run(order=1)", "first"])
def test_a_test_ordered_by_pytest_ordering_runs_sequentially(pytester, run_alt, mark):
    # pytest-ordering (the older plugin) orders by run(order=...) marks, and
    # turns its first, last, ... marks into those. A stand-in for it, by the
    # name it registers under; the order itself is not at issue here.
    events_conftest(
        pytester,
        """
        import pytest

        class Ordering:
            @staticmethod
            def pytest_collection_modifyitems(items):
                for item in items:
                    if item.get_closest_marker("first"):
                        item.add_marker(pytest.mark.run(order=0))

        def pytest_configure(config):
            config.addinivalue_line("markers", "run")
            config.addinivalue_line("markers", "first")
            config.pluginmanager.register(Ordering(), "pytest_ordering")
        """,
    )
    pytester.makepyfile(
        f"""
        import asyncio
        import pytest
        from conftest import span

        pytestmark = pytest.mark.asyncio_cooperative

        async def test_a():
            async with span("a"):
                await asyncio.sleep(0.1)

        async def test_b():
            async with span("b"):
                await asyncio.sleep(0.1)

        @pytest.mark.{mark}
        async def test_alone():
            async with span("alone"):
                await asyncio.sleep(0.1)
        """
    )
    result = run_alt()
    result.assert_outcomes(passed=3, warnings=1)
    result.stdout.fnmatch_lines(
        ["*AltCoopWarning: alt_coop: tests ordered by pytest-ordering run sequentially*"]
    )
    assert_ran_alone(pytester)
    spans = read_spans(pytester)
    assert overlap(spans["a"], spans["b"])


AUTOMARK_PLUGIN = """
def pytest_addoption(parser):
    parser.addini("automark_dependency", "", {kind}default=False)

def pytest_configure(config):
    config.pluginmanager.register(object(), "{registered_as}")
"""


@pytest.mark.parametrize(
    ("kind", "value", "on"),
    [
        ("bool", "true", True),
        ("str", "Yes", True),
        ("bool", "false", False),
        ("str", "false", False),
    ],
)
@pytest.mark.parametrize("registered_as", ["dependency", "pytest_dependency"])
def test_pytest_dependencys_automark_makes_cooperative_tests_run_sequentially(
    pytester, run_alt, kind, value, on, registered_as
):
    # With it, any test may call depends(request, [...]) at run time on a test
    # before it, which has to have finished: a stand-in for the plugin (a
    # string before its 0.6, which it reads itself).
    events_conftest(
        pytester,
        AUTOMARK_PLUGIN.format(
            kind='type="bool", ' if kind == "bool" else "", registered_as=registered_as
        ),
    )
    pytester.makeini(f"[pytest]\nautomark_dependency = {value}\n")
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        from conftest import span

        pytestmark = pytest.mark.asyncio_cooperative

        async def test_a():
            async with span("a"):
                await asyncio.sleep(0.1)

        async def test_b():
            async with span("b"):
                await asyncio.sleep(0.1)
        """
    )
    result = run_alt()
    result.assert_outcomes(passed=2, warnings=1 if on else 0)
    spans = read_spans(pytester)
    if on:
        result.stdout.fnmatch_lines(
            [
                "*AltCoopWarning: alt_coop: cooperative tests run sequentially with "
                "pytest-dependency's automark_dependency set (any test may call depends() on "
                "the tests before it)"
            ]
        )
        assert not overlap(spans["a"], spans["b"])
    else:
        assert overlap(spans["a"], spans["b"])


@pytest.mark.parametrize(
    ("decorator", "on", "notice"),
    [
        ("mock.patch.dict(os.environ, X='1')", "test", "tests decorated by unittest.mock"),
        (
            "mock.patch.dict(os.environ, X='1')",
            "fixture",
            "tests using the fixture 'patched', decorated by unittest.mock,",
        ),
        (
            "mock.patch.object(os, 'sep', '!')",
            "fixture",
            "tests using the fixture 'patched', decorated by unittest.mock.patch,",
        ),
        ("activate", "fixture", "tests using the fixture 'patched', decorated by responses,"),
    ],
    ids=["patch.dict-test", "patch.dict-fixture", "patch-fixture", "library-fixture"],
)
def test_a_patching_decorator_on_a_test_or_its_fixture_makes_the_test_run_alone(
    pytester, run_alt, decorator, on, notice
):
    # Each patches while the test or fixture it decorates runs, with the
    # tests beside it running: only the test itself was looked at, and
    # patch.dict (which marks nothing) not even there.
    pytester.makepyfile(
        responses="""
        import functools

        def activate(function):
            @functools.wraps(function)
            async def wrapper(*args, **kwargs):
                return await function(*args, **kwargs)
            return wrapper
        """
    )
    events_conftest(pytester)
    test_decorator = f"@{decorator}" if on == "test" else ""
    fixture_decorator = f"@{decorator}" if on == "fixture" else ""
    pytester.makepyfile(
        test_decorated=f"""
        import asyncio
        import os
        from unittest import mock
        import pytest
        from conftest import span
        from responses import activate

        pytestmark = pytest.mark.asyncio_cooperative

        @pytest.fixture
        {fixture_decorator}
        async def patched():
            await asyncio.sleep(0.05)

        async def test_a():
            async with span("a"):
                await asyncio.sleep(0.1)

        {test_decorator}
        async def test_alone(patched):
            async with span("alone"):
                await asyncio.sleep(0.1)

        async def test_b():
            async with span("b"):
                await asyncio.sleep(0.1)
        """
    )
    result = run_alt()
    result.assert_outcomes(passed=3, warnings=1)
    result.stdout.fnmatch_lines(
        [f"*AltCoopWarning: alt_coop: {notice} run alone (process-wide state)"]
    )
    assert_ran_alone(pytester)


@pytest.mark.parametrize("registered_as", ["randomly", "pytest_randomly"])
@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_a_test_seeded_per_test_draws_its_own_random_numbers(
    pytester, run_alt, mode, registered_as
):
    # pytest-randomly, in miniature: it seeds the random module with a seed
    # of the test's at each phase, so that the test's draws repeat.
    pytester.makeconftest(
        f"""
        import random
        import zlib

        class Randomly:
            def pytest_runtest_setup(self, item):
                random.seed(zlib.crc32(item.nodeid.encode()))

        def pytest_addoption(parser):
            parser.addoption("--randomly-dont-reset-seed", action="store_false",
                             dest="randomly_reset_seed", default=True)

        def pytest_configure(config):
            config.pluginmanager.register(Randomly(), {registered_as!r})
        """
    )
    pytester.makepyfile(
        """
        import asyncio
        import random
        import zlib
        import pytest

        @pytest.mark.parametrize("n", range(3))
        async def test_draws(request, n):
            expected = random.Random(zlib.crc32(request.node.nodeid.encode()))
            assert random.random() == expected.random()
            await asyncio.sleep(0.01 * (3 - n))
            assert random.random() == expected.random()
            await asyncio.sleep(0.01 * n)
            assert random.random() == expected.random()
        """
    )
    run_alt(*mode_args(mode)).assert_outcomes(passed=3)


@pytest.mark.parametrize("how", ["mock.patch", "mocker"])
def test_patching_module_attributes_runs_alone(pytester, run_alt, how):
    # A patch is seen by every test: the tests beside it would see the mock.
    events_conftest(pytester)
    pytester.makepyfile(
        """
        import asyncio
        import os
        from unittest import mock
        import pytest
        from conftest import span

        pytestmark = pytest.mark.asyncio_cooperative

        @pytest.fixture
        def mocker():  # pytest-mock's, in miniature
            patchers = []

            class Mocker:
                def patch(self, target, **kwargs):
                    patcher = mock.patch(target, **kwargs)
                    patchers.append(patcher)
                    return patcher.start()

            yield Mocker()
            for patcher in patchers:
                patcher.stop()

        async def test_a():
            async with span("a"):
                await asyncio.sleep(0.1)
                assert os.getcwd() != "/patched"

        async def test_b():
            async with span("b"):
                await asyncio.sleep(0.1)
                assert os.getcwd() != "/patched"

        if "HOW" == "mocker":
            async def test_alone(mocker):
                mocker.patch("os.getcwd", return_value="/patched")
                async with span("alone"):
                    await asyncio.sleep(0.1)
                    assert os.getcwd() == "/patched"
        else:
            @mock.patch("os.getcwd", return_value="/patched")
            async def test_alone(getcwd):
                async with span("alone"):
                    await asyncio.sleep(0.1)
                    assert os.getcwd() == "/patched"

        async def test_c():
            async with span("c"):
                await asyncio.sleep(0.1)
                assert os.getcwd() != "/patched"
        """.replace("HOW", how)
    )
    result = run_alt("-v")
    result.assert_outcomes(passed=4, warnings=1)
    result.stdout.fnmatch_lines(["*run alone (process-wide state)*"])
    spans = read_spans(pytester)
    for other in ("a", "b", "c"):
        assert not overlap(spans["alone"], spans[other]), (other, spans)
    assert overlap(spans["a"], spans["b"])


@pytest.mark.filterwarnings("ignore::alt_coop.errors.AltCoopWarning")
@pytest.mark.parametrize("trigger", sorted(RUN_ALONE_BODIES))
def test_other_process_wide_fixtures_and_marks_run_alone(pytester, run_alt, trigger):
    events_conftest(pytester)
    fixture, body = RUN_ALONE_BODIES[trigger]
    mark = (
        '@pytest.mark.filterwarnings("error::UserWarning")' if "filterwarnings" in trigger else ""
    )
    asynchronous = "" if "def test" in trigger else "async "
    pytester.makepyfile(
        textwrap.dedent(
            """
            import asyncio
            import os
            import time
            import warnings
            import pytest
            from conftest import span

            pytestmark = pytest.mark.asyncio_cooperative

            async def test_a():
                async with span("a"):
                    warnings.warn("from a", UserWarning)
                    await asyncio.sleep(0.1)

            async def test_b():
                async with span("b"):
                    await asyncio.sleep(0.1)

            {mark}
            {asynchronous}def test_alone({fixture}):
                {asynchronous}with span("alone"):
            {body}

            async def test_c():
                async with span("c"):
                    warnings.warn("from c", UserWarning)
                    await asyncio.sleep(0.1)

            async def test_d():
                async with span("d"):
                    await asyncio.sleep(0.1)
            """
        ).format(
            mark=mark,
            asynchronous=asynchronous,
            fixture=fixture,
            body=textwrap.indent(textwrap.dedent(body), " " * 8),
        )
    )
    result = run_alt("-v")
    assert result.ret == 0, result.stdout.str()
    assert len(verbose_lines(result.stdout.str())) == 5, result.stdout.str()
    spans = read_spans(pytester)
    for other in ("a", "b", "c", "d"):
        assert not overlap(spans["alone"], spans[other]), (other, spans)
    assert overlap(spans["a"], spans["b"]) and overlap(spans["c"], spans["d"])
    assert SUMMARY.search(result.stdout.str()).group(1, 2) == ("4", "2")


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_recwarn_and_filterwarnings_marks_hold_for_their_own_test(pytester, run_alt, mode):
    events_conftest(pytester)
    pytester.makepyfile(
        """
        import asyncio
        import warnings
        import pytest
        from conftest import span

        async def test_noisy():
            async with span("noisy"):
                await asyncio.sleep(0.05)
                warnings.warn("from the noisy test", UserWarning)
                await asyncio.sleep(0.2)

        async def test_recwarn(recwarn):
            async with span("recwarn"):
                warnings.warn("mine", UserWarning)
                await asyncio.sleep(0.15)
                warnings.warn("mine again", UserWarning)
                assert [str(w.message) for w in recwarn] == ["mine", "mine again"]

        @pytest.mark.filterwarnings("error::UserWarning")
        async def test_errors():
            async with span("errors"):
                await asyncio.sleep(0.15)
                with pytest.raises(UserWarning):
                    warnings.warn("an error here", UserWarning)

        @pytest.mark.filterwarnings("ignore:ignored")
        async def test_ignores_some():
            async with span("ignores"):
                for _ in range(2):
                    warnings.warn("ignored", UserWarning)
                    await asyncio.sleep(0.1)
                    warnings.warn("shown once", UserWarning)
        """
    )
    result = run_alt("-v", *mode_args(mode))
    result.assert_outcomes(passed=4, warnings=2)
    summary = result.stdout.str().split("warnings summary")[1]
    assert "::test_noisy" in summary and "::test_ignores_some" in summary, summary
    if mode == "cooperative":
        spans = read_spans(pytester)
        assert peak(spans) == 4, spans


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_a_warning_shown_once_per_place_is_shown_once_across_a_tests_awaits(
    pytester, run_alt, mode
):
    # Python shows most warnings once per place; pytest resets the places
    # when a test (or its code) changes the filters, and alt_coop between the
    # turns of the tests that run at once: a test's own repeats stay hidden.
    pytester.makepyfile(
        """
        import asyncio
        import warnings
        import pytest

        def warn_thrice(text):
            for _ in range(3):
                warnings.warn(text, UserWarning)
                yield asyncio.sleep(0.01)

        async def test_recwarn(recwarn):
            for pause in warn_thrice("recorded"):
                await pause
            assert [str(w.message) for w in recwarn] == ["recorded"]

        async def test_catch_warnings():
            for action in ("default", "once", "module"):
                with warnings.catch_warnings(record=True) as log:
                    warnings.simplefilter(action)
                    for pause in warn_thrice(action):
                        await pause
                assert [str(w.message) for w in log] == [action]

        def warn_here():
            warnings.warn("first turn", UserWarning)

        async def test_catch_warnings_in_its_first_turn():
            warn_here()
            with warnings.catch_warnings(record=True) as log:
                warn_here()  # the filters changed: shown again
            assert [str(w.message) for w in log] == ["first turn"]

        async def test_catch_warnings_again():
            # Entering catch_warnings resets the places: shown once in each.
            for _ in range(2):
                with warnings.catch_warnings(record=True) as log:
                    warnings.simplefilter("default")
                    for pause in warn_thrice("again"):
                        await pause
                assert [str(w.message) for w in log] == ["again"]

        async def test_pytests_record():
            for pause in warn_thrice("to pytest"):
                await pause

        async def test_catches_what_its_task_warns():
            async def warn_later():
                await asyncio.sleep(0.01)
                warnings.warn("from its task", UserWarning)

            with pytest.warns(UserWarning, match="from its task"):
                await asyncio.create_task(warn_later())

        async def test_beside():
            await asyncio.sleep(0.03)
        """
    )
    result = run_alt("-rA", *mode_args(mode))
    result.assert_outcomes(passed=7, warnings=2)
    result.stdout.fnmatch_lines(["*::test_pytests_record", "*UserWarning: to pytest"])


def test_a_run_alone_notice_hidden_by_one_tests_filterwarnings_mark_is_told_at_the_next(
    pytester, run_alt
):
    # The notice is one per case: the first test's blanket "ignore" mark
    # covers that test only, not the others that run alone for the same reason.
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        @pytest.mark.filterwarnings("ignore")
        async def test_first(monkeypatch):
            await asyncio.sleep(0)

        async def test_second(monkeypatch):
            await asyncio.sleep(0)

        @pytest.mark.filterwarnings("ignore")
        async def test_only_one_hiding_it(capsys):
            await asyncio.sleep(0)

        async def test_other():
            await asyncio.sleep(0)
        """
    )
    result = run_alt("-v")
    result.assert_outcomes(passed=4, warnings=1)
    summary = result.stdout.str().split("warnings summary")[1]
    assert "::test_second" in summary, summary
    assert "tests using monkeypatch run alone" in summary, summary
    assert "capsys" not in summary, summary


def test_unittest_async_test_cases_run_sequentially_even_when_all_async_is_on(pytester, run_alt):
    pytester.makepyfile(
        """
        import asyncio
        import unittest

        class TestIt(unittest.IsolatedAsyncioTestCase):
            async def test_one(self):
                await asyncio.sleep(0)

            async def test_two(self):
                await asyncio.sleep(0)
        """
    )
    result = run_alt("-v", "--asyncio-cooperative")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*alt_coop: unittest.TestCase tests run sequentially*"])


def test_sync_unittest_test_cases_get_no_notice_when_all_async_is_on(pytester, run_alt):
    # Only async tests are made cooperative by --asyncio-cooperative: a sync
    # TestCase was never going to be, so there is nothing to tell.
    pytester.makepyfile(
        """
        import unittest

        class TestIt(unittest.TestCase):
            def test_one(self):
                pass
        """
    )
    result = run_alt("-v", "--asyncio-cooperative")
    result.assert_outcomes(passed=1, warnings=0)


def test_stepwise_runs_cooperative_tests_sequentially_and_keeps_the_first_failure(
    pytester,
):
    test_file = pytester.makepyfile(
        """
        import asyncio
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        async def test_a():
            await asyncio.sleep(0.05)
            assert False

        async def test_b():
            await asyncio.sleep(0)
            assert False
        """
    )
    # ISOLATE without "-p no:cacheprovider": step-wise keeps its state in the cache.
    isolate = [
        arg
        for pair in zip(ISOLATE[::2], ISOLATE[1::2], strict=True)
        if pair[1] != "no:cacheprovider"
        for arg in pair
    ]
    args = [*isolate, "-p", "alt_coop.enable", "--sw", "-v"]
    first = pytester.runpytest(*args, str(test_file))
    assert verbose_lines(first.stdout.str()) == {"test_a": ["FAILED"]}, first.stdout.str()
    first.stdout.fnmatch_lines(["*cooperative tests run sequentially under --sw*"])
    second = pytester.runpytest(*args, str(test_file))
    # Step-wise goes on from the first failure in collection order, test_a.
    assert verbose_lines(second.stdout.str()) == {"test_a": ["FAILED"]}, second.stdout.str()


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
@pytest.mark.parametrize("kind", ["async", "sync"])
@pytest.mark.parametrize("asked", ["as an argument", "by getfixturevalue in a test"])
def test_a_wide_fixture_torn_down_by_another_test_reports_there(
    pytester, run_alt, mode, kind, asked
):
    # The module fixture is set up by test_first and torn down after
    # test_last: its teardown's output, logs and warnings are test_last's.
    # Set up from test_first's body, its teardown runs in the context that
    # body ran in, and is still test_last's.
    by_argument = asked == "as an argument"
    pytester.makepyfile(
        f"""
        import asyncio
        import logging
        import warnings
        import pytest

        @pytest.fixture(scope="module")
        {"async def" if kind == "async" else "def"} resource():
            yield
            {"await asyncio.sleep(0)" if kind == "async" else ""}
            print("teardown output")
            logging.getLogger("resource").warning("teardown record")
            warnings.warn("teardown warning")

        async def test_first({"resource" if by_argument else "request"}):
            {"" if by_argument else 'request.getfixturevalue("resource")'}
            await asyncio.sleep(0.05)

        async def test_last({"resource" if by_argument else ""}):
            await asyncio.sleep(0.3)
        """
    )
    sections = pytester.path / "sections.txt"
    pytester.makeconftest(
        f"""
        def pytest_runtest_logreport(report):
            with open({str(sections)!r}, "a") as f:
                for title, content in report.sections:
                    test = report.nodeid.split("::")[-1]
                    f.write(f"{{test}} {{report.when}} {{title}}: {{content.strip()}}\\n")
        """
    )
    result = run_alt(*mode_args(mode))
    result.assert_outcomes(passed=2, warnings=1)
    lines = sections.read_text().splitlines()
    assert "test_last teardown Captured stdout teardown: teardown output" in lines, lines
    assert any(
        line.startswith("test_last teardown Captured log teardown: WARNING") and "record" in line
        for line in lines
    ), lines
    assert not any(line.startswith("test_first") for line in lines), lines
    summary = result.stdout.str().split("warnings summary")[1]
    assert "::test_last" in summary.split("teardown warning")[0], summary
    assert "teardown output" not in result.stdout.str(), result.stdout.str()


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_an_error_in_a_reporting_hook_is_an_internal_error(pytester, run_alt_subprocess, mode):
    pytester.makeconftest(
        """
        def pytest_runtest_logreport(report):
            if report.when == "call" and "boom" in report.nodeid:
                raise RuntimeError("logreport boom")
        """
    )
    pytester.makepyfile(
        """
        import asyncio

        async def test_boom():
            await asyncio.sleep(0.01)
        """
    )
    result = run_alt_subprocess(*mode_args(mode))
    assert result.ret == pytest.ExitCode.INTERNAL_ERROR, result.stdout.str()
    result.stdout.fnmatch_lines(["INTERNALERROR>*RuntimeError: logreport boom"])
    result.stdout.no_fnmatch_line("*Interrupted*")


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_a_report_hook_raising_at_teardown_loses_no_earlier_report(
    pytester, run_alt_subprocess, mode
):
    # Cooperatively, the test's setup and call reports were never logged: its
    # result was missing from the output (pytest logs each as it is made).
    pytester.makeconftest(
        """
        def pytest_runtest_makereport(item, call):
            if call.when == "teardown" and item.name == "test_boom":
                raise RuntimeError("makereport boom")
        """
    )
    pytester.makepyfile(
        """
        import asyncio

        async def test_boom():
            await asyncio.sleep(0.01)
            assert 1 == 2
        """
    )
    result = run_alt_subprocess("-v", *mode_args(mode))
    assert result.ret == pytest.ExitCode.INTERNAL_ERROR, result.stdout.str()
    result.stdout.fnmatch_lines(
        ["*::test_boom FAILED*", "INTERNALERROR>*RuntimeError: makereport boom"]
    )


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_a_keyboard_interrupt_raised_by_a_test_stops_the_run(pytester, run_alt_subprocess, mode):
    test_file = pytester.makepyfile(
        """
        import asyncio

        async def test_interrupts():
            await asyncio.sleep(0.05)
            raise KeyboardInterrupt

        async def test_long():
            await asyncio.sleep(30)
        """
    )
    result = run_alt_subprocess("-v", *mode_args(mode), timeout=20)
    assert result.ret == pytest.ExitCode.INTERRUPTED, result.stdout.str()
    result.stdout.fnmatch_lines([f"*{test_file.name}:5: KeyboardInterrupt"])
    result.stdout.no_fnmatch_line("*test_long PASSED*")
    assert result.duration < 15, result.stdout.str()


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_setup_plan_runs_no_async_fixture(pytester, run_alt, mode):
    ran = pytester.path / "ran.txt"
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.fixture
        async def resource():
            open({str(ran)!r}, "a").write("ran")
            yield

        async def test_uses(resource):
            pass
        """
    )
    result = run_alt("--setup-plan", *mode_args(mode))
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["*SETUP    F resource*", "*TEARDOWN F resource*"])
    assert not ran.exists()


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_errors_in_hooks_show_no_alt_coop_frames(pytester, run_alt, mode):
    pytester.makeconftest(
        """
        import pytest

        def pytest_runtest_setup(item):
            if "bad_setup" in item.name:
                raise RuntimeError("setup hook boom")

        def pytest_runtest_teardown(item, nextitem):
            if "bad_teardown" in item.name:
                pytest.fail("teardown hook fail")
        """
    )
    pytester.makepyfile(
        """
        async def test_bad_setup():
            pass

        async def test_bad_teardown():
            pass
        """
    )
    result = run_alt(*mode_args(mode))
    result.assert_outcomes(passed=1, errors=2)
    result.stdout.fnmatch_lines(["*RuntimeError: setup hook boom", "*Failed: teardown hook fail"])
    errors = result.stdout.str().split("= ERRORS =")[1]
    assert "alt_coop/" not in errors and "alt_coop." not in errors, errors


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_a_test_cancelling_a_task_of_a_test_fails_that_test(pytester, run_alt, mode):
    # Cancelling its own task, or (cooperative) another test's, is that
    # code's own doing: the cancelled test fails, and the run goes on.
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        async def test_cancels_itself():
            asyncio.current_task().cancel()
            await asyncio.sleep(0.1)

        async def test_victim():
            await asyncio.sleep(0.5)

        async def test_cancels_the_victim():
            await asyncio.sleep(0.05)
            for task in asyncio.all_tasks():
                if task.get_name().endswith("::test_victim"):
                    task.cancel()

        async def test_after():
            await asyncio.sleep(0)
        """
    )
    result = run_alt("-v", *mode_args(mode))
    outcomes = {"passed": 3, "failed": 1} if mode == "sequential" else {"passed": 2, "failed": 2}
    result.assert_outcomes(**outcomes)
    result.stdout.fnmatch_lines(["*test_cancels_itself FAILED*"])
    result.stdout.fnmatch_lines(["*test_after PASSED*"])
    if mode == "cooperative":
        result.stdout.fnmatch_lines(["*test_victim FAILED*"])
    result.stdout.no_fnmatch_line("*KeyboardInterrupt*")
    assert result.ret == pytest.ExitCode.TESTS_FAILED


@pytest.mark.parametrize("phase", ["setup", "teardown"])
def test_a_sync_fixture_cancelling_its_cooperative_tests_task_fails_it(pytester, run_alt, phase):
    # The test's task, which its sync fixtures run on. With nothing awaited
    # after it, the cancellation would be lost with the task: a silent pass.
    # Taken back (uncancel), it is dropped, as Python 3.13 drops it (3.11
    # and 3.12 keep it pending, for the test's next await).
    pytester.makepyfile(
        f"""
        import asyncio
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        @pytest.fixture
        async def own_task():
            return asyncio.current_task()

        # Sync fixtures see no loop running, as in a sequential run: they
        # get the test's task from an async fixture.
        @pytest.fixture
        def cancels(own_task):
            if {phase!r} == "setup":
                own_task.cancel()
            yield
            if {phase!r} == "teardown":
                own_task.cancel()

        @pytest.fixture
        def takes_back(own_task):
            own_task.cancel()
            own_task.uncancel()

        async def test_cancelled(cancels):
            pass

        async def test_taken_back(takes_back):
            await asyncio.sleep(0)

        async def test_other():
            await asyncio.sleep(0.01)
        """
    )
    result = run_alt("-p", "no:randomly")
    result.assert_outcomes(passed=2 if phase == "setup" else 3, errors=1)
    result.stdout.fnmatch_lines(
        [
            f"*ERROR at {phase} of test_cancelled*",
            "a sync fixture cancelled its own task and returned before the cancellation "
            "reached it*",
        ]
    )


@pytest.mark.parametrize("gather", [False, True], ids=["cancel", "cancel-and-gather"])
@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_a_fixture_cancelling_every_other_task_is_no_internal_error_nor_hang(
    pytester, run_alt_subprocess, mode, gather
):
    # A common clean-up fixture. In a batch, "every other task" includes the
    # one alt_coop runs the batch on (awaited, it would never end before the
    # test awaiting it), and the other tests'.
    pytester.makepyfile(
        f"""
        import asyncio
        import pytest

        @pytest.fixture(autouse=True)
        async def cancel_leftover_tasks():
            yield
            me = asyncio.current_task()
            others = [task for task in asyncio.all_tasks() if task is not me]
            for task in others:
                task.cancel()
            if {gather}:
                await asyncio.gather(*others, return_exceptions=True)

        async def test_quick():
            await asyncio.sleep(0.01)

        async def test_slower():
            await asyncio.sleep(0.2)

        def test_sync_after():
            pass
        """
    )
    result = run_alt_subprocess("-v", *mode_args(mode), timeout=60)
    output = result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in output and "Traceback" not in output, output
    if mode == "sequential":
        result.assert_outcomes(passed=3)
        return
    # The batch stops, saying why. test_slower fails, cancelled by another
    # test. With the gather, each test's teardown awaits the others and the
    # batch: the batch gives them up after its grace, and their results are
    # reported all the same (they were lost while giving up cancelled the
    # gathered tasks again).
    assert result.ret != pytest.ExitCode.OK
    result.stdout.fnmatch_lines_random(
        [
            *(["*stopped waiting for 2 cooperative test(s)*"] if gather else []),
            "*test_quick PASSED*",
            "*test_slower FAILED*",
            "*Interrupted: a cooperative test cancelled the task alt_coop runs the batch on "
            "(cancelling every task but its own?); the tests it cancelled failed, the others "
            "running were cut short. Cancel only your own tasks, or mark that test "
            "asyncio_sequential*",
        ]
    )
    result.assert_outcomes(passed=1, failed=1, warnings=1 if gather else 0)
    assert "test_sync_after" not in result.stdout.str()


def test_tests_cancelled_by_every_teardown_in_turn_are_all_reported(pytester, run_alt):
    # Each test's teardown cancels every other task, the batch's among them:
    # the batch's grace must outlast the cancellations that come with it, or
    # the tests still ending are cut short and reported nowhere.
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        @pytest.fixture(autouse=True)
        async def cancel_leftover_tasks():
            yield
            await asyncio.sleep(0.05)  # some async clean-up first
            me = asyncio.current_task()
            for task in asyncio.all_tasks():
                if task is not me:
                    task.cancel()

        async def test_quick():
            await asyncio.sleep(0.01)

        @pytest.mark.parametrize("n", range(3))
        async def test_slow(n):
            await asyncio.sleep(2)
        """
    )
    result = run_alt("-p", "no:randomly")
    outcomes = result.parseoutcomes()
    assert outcomes["passed"] == 1 and outcomes["failed"] == 3, result.stdout.str()
    assert "stopped waiting" not in result.stdout.str()
    result.stdout.fnmatch_lines(["*Interrupted: a cooperative test cancelled the task*"])


@pytest.mark.parametrize("raised_by", ["task", "signal handler"])
def test_system_exit_raised_into_the_loop_during_a_batch_interrupts_it(
    pytester, run_alt_subprocess, raised_by
):
    # Raised out of the loop by a task, it names no test; in a sequential
    # run the test whose phase was running fails with it. (A SIGTERM
    # handler's was said to be a task's or callback's.)
    pytester.makepyfile(
        """
        import asyncio
        import signal
        import sys
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        async def test_passes():
            pass

        async def test_exits_in_a_task():
            async def worker():
                sys.exit(5)

            asyncio.create_task(worker())
            await asyncio.sleep(0.5)

        async def test_exits_in_a_signal_handler():
            signal.signal(signal.SIGALRM, lambda *args: sys.exit(5))
            signal.setitimer(signal.ITIMER_REAL, 0.1)
            try:
                await asyncio.sleep(0.5)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, signal.SIG_DFL)

        async def test_other():
            await asyncio.sleep(0.5)
        """
    )
    result = run_alt_subprocess("-v", "-k", f"passes or {raised_by[:6]} or other", timeout=60)
    assert result.ret == pytest.ExitCode.INTERRUPTED, result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "*test_passes PASSED*",
            "*Interrupted: SystemExit(5) was raised into the event loop by a task, a "
            "callback or a signal handler during a cooperative batch; the tests running were "
            "cut short. Mark the test that raises it asyncio_sequential*",
        ]
    )
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
@pytest.mark.parametrize(
    ("raises", "shown"),
    [
        ('raise TimeoutError("alarm fired")', "TimeoutError('alarm fired')"),
        # Taken for the error of a loop stopped early: the test passed.
        ('raise RuntimeError("alarm fired")', "RuntimeError('alarm fired')"),
        ('pytest.fail("alarm fired")', "Failed('alarm fired')"),
        ('pytest.exit("alarm fired", returncode=5)', None),
    ],
    ids=["error", "RuntimeError", "pytest.fail", "pytest.exit"],
)
def test_what_a_signal_handler_raises_while_the_loop_waits_is_no_internal_error(
    pytester, run_alt_subprocess, mode, raises, shown
):
    # A home-made alarm timeout: in a batch, what it raised came out of the
    # loop's wait, an INTERNALERROR, and every result was lost.
    pytester.makepyfile(
        f"""
        import asyncio
        import signal
        import pytest

        @pytest.fixture
        async def resource():
            yield

        def on_alarm(signum, frame):
            {raises}

        async def test_quick():
            pass

        async def test_alarm(resource):
            signal.signal(signal.SIGALRM, on_alarm)
            signal.setitimer(signal.ITIMER_REAL, 0.1)
            try:
                await asyncio.sleep(1)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, signal.SIG_DFL)

        async def test_other(resource):
            await asyncio.sleep(0.3)
        """
    )
    result = run_alt_subprocess("-v", "-p", "no:randomly", *mode_args(mode), timeout=60)
    output = result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in output, output
    if shown is None:  # it stops the run, as pytest.exit() says
        assert result.ret == 5, output
        result.stdout.fnmatch_lines(["*Exit: alarm fired*"])
    elif mode == "sequential":  # the test running fails, and the run goes on
        result.assert_outcomes(passed=2, failed=1)
        result.stdout.fnmatch_lines(["E * alarm fired"])
    else:
        assert result.ret == pytest.ExitCode.INTERRUPTED, output
        result.stdout.fnmatch_lines(
            [
                "*test_quick PASSED*",
                f"*Interrupted: {shown} was raised into the event loop by a signal handler "
                "during a cooperative batch; the tests running were cut short. Mark the test "
                "that installs it asyncio_sequential*",
            ]
        )


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_keyboard_interrupt_raised_into_the_loop_by_a_task_names_its_line(
    pytester, run_alt_subprocess, mode
):
    # In a batch it was reported as "KeyboardInterrupt: the task running
    # pytest was cancelled", at a test's line: nothing was cancelled.
    pytester.makepyfile(
        """
        import asyncio

        async def test_interrupts_in_a_task():
            async def worker():
                raise KeyboardInterrupt
            asyncio.create_task(worker())
            await asyncio.sleep(0.5)

        async def test_other():
            await asyncio.sleep(0.5)
        """
    )
    result = run_alt_subprocess(*(["--asyncio-cooperative"] if mode == "cooperative" else []))
    assert result.ret == pytest.ExitCode.INTERRUPTED, result.stdout.str()
    result.stdout.fnmatch_lines(
        ["*!!! KeyboardInterrupt !!!*", "*test_keyboard_interrupt_raised*.py:5: KeyboardInterrupt"]
    )
    assert "was cancelled" not in result.stdout.str()


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_code_returning_before_its_own_cancellation_arrives_fails(pytester, run_alt, mode):
    # asyncio would deliver it at the task's next await: in another fixture.
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.fixture
        async def cancels_and_returns():
            asyncio.current_task().cancel()

        @pytest.fixture
        async def innocent():
            await asyncio.sleep(0)
            yield
            await asyncio.sleep(0)

        async def test_cancels_and_returns(innocent):
            asyncio.current_task().cancel()

        async def test_uses_the_fixture(cancels_and_returns, innocent):
            await asyncio.sleep(0)

        async def test_innocent(innocent):
            await asyncio.sleep(0.01)
        """
    )
    result = run_alt("-v", *mode_args(mode))
    assert verbose_lines(result.stdout.str()) == {
        "test_cancels_and_returns": ["FAILED"],
        "test_uses_the_fixture": ["ERROR"],
        "test_innocent": ["PASSED"],
    }, result.stdout.str()
    # Each report says so (pytest 8 shows errors before failures, 9 after).
    result.stdout.fnmatch_lines(
        [
            "*test_cancels_and_returns cancelled its own task and returned before the "
            "cancellation reached it*"
        ]
    )
    result.stdout.fnmatch_lines(["*fixture 'cancels_and_returns' cancelled its own task*"])


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_a_cancellation_taken_back_with_uncancel_is_not_delivered_later(pytester, run_alt, mode):
    # Python 3.11 and 3.12 keep it pending after uncancel(): it replaced the
    # test's own error (sequential) or failed the next teardown (cooperative).
    # A TaskGroup whose child fails before the group awaits does the same.
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.fixture
        async def resource():
            yield
            await asyncio.sleep(0)

        def cancel_and_take_back():
            task = asyncio.current_task()
            task.cancel()
            task.uncancel()

        async def test_fails(resource):
            cancel_and_take_back()
            raise ValueError("the real failure")

        async def test_passes(resource):
            cancel_and_take_back()

        async def test_after(resource):
            await asyncio.sleep(0.01)
        """
    )
    result = run_alt("-v", *mode_args(mode))
    assert verbose_lines(result.stdout.str()) == {
        "test_fails": ["FAILED"],
        "test_passes": ["PASSED"],
        "test_after": ["PASSED"],
    }, result.stdout.str()
    result.stdout.fnmatch_lines(["E       ValueError: the real failure"])
    assert "CancelledError" not in result.stdout.str()


def test_getfixturevalue_in_a_sequential_tests_async_fixture_beside_a_batch(pytester, run_alt):
    pytester.makepyfile(
        """
        import pytest

        @pytest.fixture
        def base():
            return "b"

        @pytest.fixture(scope="module")
        def wide():
            return "w"

        @pytest.fixture
        async def inner(request):
            return request.getfixturevalue("base") + request.getfixturevalue("wide")

        @pytest.mark.asyncio_sequential
        async def test_sequential(inner):
            assert inner == "bw"

        def test_sync(inner):
            assert inner == "bw"

        @pytest.mark.asyncio_cooperative
        async def test_cooperative(inner):
            assert inner == "bw"
        """
    )
    result = run_alt("-W", "error::DeprecationWarning")
    result.assert_outcomes(passed=3)


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_tests_skipped_before_setup_let_their_collectors_go(pytester, run_alt, mode):
    # A skip mark (or a hook that skips) stops a test before its setup: its
    # module and class still count it as done, or the run waits for it.
    events_conftest(pytester)
    pytester.makepyfile(
        test_m1="""
        import pytest
        from conftest import log

        @pytest.fixture(scope="module", params=[1, 2])
        async def resource(request):
            log("setup", request.param)
            yield
            log("teardown", request.param)

        class TestA:
            @pytest.mark.skip(reason="not today")
            async def test_skipped(self, resource):
                pass

        class TestB:
            async def test_b(self, resource):
                pass
        """,
        test_m2="""
        from conftest import log

        def test_sync():
            log("m2 sync")
        """,
    )
    result = run_alt(*mode_args(mode))
    result.assert_outcomes(passed=3, skipped=2)
    assert read_events(pytester) == [
        "setup 1",
        "teardown 1",
        "setup 2",
        "teardown 2",
        "m2 sync",
    ]


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_a_param_not_equal_to_itself_runs_its_tests(pytester, run_alt, mode):
    pytester.makepyfile(
        """
        import math
        import pytest

        @pytest.fixture(scope="module", params=[1.0, math.nan])
        def value(request):
            return request.param

        async def test_one(value):
            pass

        async def test_two(value):
            pass
        """
    )
    result = run_alt(*mode_args(mode))
    result.assert_outcomes(passed=4)


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_parametrize_scope_narrows_a_wider_fixture(pytester, run_alt, mode):
    # indirect=True with scope="function": each test has its own instance.
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.fixture(scope="module")
        async def conn(request):
            state = {"param": request.param, "open": True}
            yield state
            state["open"] = False

        @pytest.mark.parametrize("conn", ["db1", "db2"], indirect=True, scope="function")
        async def test_query(conn):
            await asyncio.sleep(0.05)
            assert conn["open"], f"{conn['param']} was closed under the running test"
        """
    )
    result = run_alt(*mode_args(mode))
    result.assert_outcomes(passed=2)


def test_pytest_exit_in_a_cooperative_test_ends_the_run_with_its_code(pytester, run_alt):
    events_conftest(pytester)
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        from conftest import log

        @pytest.fixture
        async def resource():
            yield
            log("teardown")

        @pytest.mark.asyncio_cooperative
        async def test_exits(resource):
            await asyncio.sleep(0.05)
            pytest.exit("bye", returncode=3)

        @pytest.mark.asyncio_cooperative
        async def test_other(resource):
            await asyncio.sleep(0)

        def test_never_reached():
            pass
        """
    )
    result = run_alt("-v")
    assert result.ret == 3, result.stdout.str()
    result.stdout.fnmatch_lines(["*Exit: bye*"])
    assert "internal error" not in result.stdout.str()
    assert "test_never_reached" not in result.stdout.str()
    assert read_events(pytester).count("teardown") == 2


@pytest.mark.parametrize(
    "second", ["pytest.exit('second exit', returncode=6)", "raise KeyboardInterrupt"]
)
def test_the_first_pytest_exit_ends_the_run_though_a_running_test_stops_it_again(
    pytester, run_alt, second
):
    # Sequentially no test runs after pytest.exit(); cooperatively, the tests
    # already running finish, and what one of them stops the run with later
    # must not replace the exit that came first.
    pytester.makepyfile(
        f"""
        import asyncio
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        async def test_first():
            await asyncio.sleep(0.01)
            pytest.exit("first exit", returncode=4)

        async def test_second():
            await asyncio.sleep(0.3)
            {second}

        async def test_third():
            await asyncio.sleep(0.1)
        """
    )
    result = run_alt("-v")
    output = result.stdout.str()
    assert result.ret == 4, output
    result.stdout.fnmatch_lines(["*Exit: first exit*"])
    assert "second exit" not in output
    assert "KeyboardInterrupt" not in output
    # test_third passed; test_first and test_second were cut short, and the
    # end-of-run line counts them with the tests that ran at once.
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        ["alt_coop: 3 cooperative tests (2 cut short), at most 3 at once, *"]
    )


@pytest.mark.parametrize("fixture", ["async def", "def"])
def test_a_pytest_exit_in_the_teardown_of_a_test_cut_short_ends_the_run_with_its_code(
    pytester, run_alt_subprocess, fixture
):
    # Torn down at once after another test's KeyboardInterrupt stopped the
    # batch, where pytest tears a test it interrupted down at the session's
    # end, which ends with that exit's code and message. It was an error of
    # the test's teardown; pytest never reports an Exit as a test's outcome.
    pytester.makepyfile(
        f"""
        import asyncio
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        @pytest.fixture
        {fixture} exits_at_teardown():
            yield
            print("TEARDOWN RAN", flush=True)
            pytest.exit("teardown exit", returncode=7)

        async def test_interrupts():
            await asyncio.sleep(0.01)
            raise KeyboardInterrupt

        async def test_cut_short(exits_at_teardown):
            await asyncio.sleep(0.5)
        """
    )
    result = run_alt_subprocess("-s", "-p", "no:warnings")
    output = result.stdout.str()
    assert result.ret == 7, output
    assert "TEARDOWN RAN" in output
    assert "ERROR at teardown" not in output, output
    result.stdout.fnmatch_lines(["*.py:14: KeyboardInterrupt"])
    result.stderr.fnmatch_lines(["Exit: teardown exit"])


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
@pytest.mark.parametrize("stop", ["raise KeyboardInterrupt", "pytest.exit('first', returncode=3)"])
def test_a_pytest_exit_in_the_teardown_of_a_stopped_test_ends_the_run_as_pytest_does(
    pytester, run_alt_subprocess, mode, stop
):
    pytester.makepyfile(
        f"""
        import asyncio
        import pytest

        @pytest.fixture
        async def exits_at_teardown():
            yield
            pytest.exit("teardown exit", returncode=7)

        async def test_stops(exits_at_teardown):
            await asyncio.sleep(0.01)
            {stop}

        async def test_other():
            await asyncio.sleep(0.1)
        """
    )
    result = run_alt_subprocess("-p", "no:warnings", *mode_args(mode))
    assert result.ret == 7, result.stdout.str()
    assert "ERROR at teardown" not in result.stdout.str()
    result.stderr.fnmatch_lines(["Exit: teardown exit"])


@pytest.mark.parametrize(
    "second", ['pytest.exit("second exit", returncode=0)', "raise KeyboardInterrupt"]
)
def test_a_stop_after_x_stopped_the_run_does_not_replace_it(pytester, second):
    # -x stopped the run first: a running test's later pytest.exit() made
    # it exit 0 (or 2 for its own KeyboardInterrupt), hiding the failure.
    pytester.makepyfile(
        f"""
        import asyncio
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        async def test_fails():
            await asyncio.sleep(0.01)
            assert False

        async def test_stops_later():
            await asyncio.sleep(0.3)
            {second}
        """
    )
    # (Before the fix, a KeyboardInterrupt would have stopped this session too.)
    result = pytester.runpytest(
        *ISOLATE, "-p", "alt_coop.enable", "-x", "-p", "no:randomly", no_reraise_ctrlc=True
    )
    output = result.stdout.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED, output
    result.stdout.fnmatch_lines(["*stopping after 1 failures*"])
    assert "second exit" not in output and "KeyboardInterrupt" not in output, output
    result.assert_outcomes(failed=1)


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_a_stop_a_report_hook_makes_leaves_no_fixture_to_the_session_end(pytester, run_alt, mode):
    # The stop came as the last test's reports were logged, after its
    # teardown: the module fixture was left to pytest's session teardown,
    # where its error crashed pytest with a raw traceback and no summary.
    pytester.makeconftest(
        """
        import asyncio
        import pytest

        def pytest_runtest_logreport(report):
            if report.when == "call" and report.skipped:
                pytest.the_session.shouldstop = "a skip was seen"

        def pytest_sessionstart(session):
            pytest.the_session = session

        @pytest.fixture(scope="module")
        async def server():
            yield
            await asyncio.sleep(0)
            raise RuntimeError("server did not shut down cleanly")
        """
    )
    mark = "@pytest.mark.asyncio_cooperative" if mode == "cooperative" else ""
    pytester.makepyfile(
        f"""
        import asyncio
        import pytest

        {mark}
        async def test_skips(server):
            await asyncio.sleep(0.01)
            pytest.skip("backend not configured")

        def test_sync(server):
            pass
        """
    )
    result = run_alt("-p", "no:randomly")
    output = result.stdout.str()
    assert result.ret == pytest.ExitCode.INTERRUPTED, output
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_skips*",
            "*RuntimeError: server did not shut down cleanly",
            "*Interrupted: a skip was seen*",
        ]
    )
    result.assert_outcomes(skipped=1, errors=1)


def test_a_pytest_exit_in_the_teardown_of_a_test_reaching_maxfail_ends_the_run(pytester):
    # Another test's reports, logged first, reached --maxfail with this
    # test's failure (counted as it happened): its later pytest.exit() was
    # taken for a second stop, and lost. In a sequential run it ends the run.
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        @pytest.fixture
        async def exits_at_teardown():
            yield
            await asyncio.sleep(0.5)
            pytest.exit("teardown exit", returncode=7)

        async def test_a(exits_at_teardown):
            await asyncio.sleep(0.05)
            assert False, "A fails"

        async def test_b():
            await asyncio.sleep(0.1)
            assert False, "B fails"
        """
    )
    result = pytester.runpytest(*ISOLATE, "-p", "alt_coop.enable", "--maxfail=2")
    assert result.ret == 7, result.stdout.str()
    result.stdout.fnmatch_lines(["*Exit: teardown exit*"])


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
@pytest.mark.parametrize(
    "stop, ret, shown",
    [
        ('pytest.exit("module teardown exit", returncode=9)', 9, "*Exit: module teardown exit*"),
        ("raise KeyboardInterrupt", 2, "*test_*.py:7: KeyboardInterrupt"),
    ],
    ids=["exit", "keyboard interrupt"],
)
def test_a_stop_tearing_down_a_module_fixture_after_x_stopped_the_run_ends_it(
    pytester, run_alt_subprocess, mode, stop, ret, shown
):
    # -x stops the run at test_a: pytest tears the module down then, where
    # the fixture's stop ends the run. test_b, already running beside it in
    # a cooperative run, tore the module down instead: its stop was taken
    # for a second one, and lost (exit code 1).
    pytester.makepyfile(
        f"""
        import asyncio
        import pytest

        @pytest.fixture(scope="module")
        async def server():
            yield
            {stop}

        async def test_a(server):
            await asyncio.sleep(0.01)
            assert False

        async def test_b(server):
            await asyncio.sleep(0.1)
        """
    )
    result = run_alt_subprocess("-x", "-p", "no:randomly", *mode_args(mode))
    assert result.ret == ret, result.stdout.str()
    result.stdout.fnmatch_lines(["*stopping after 1 failures*", shown], consecutive=False)


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_an_exit_tearing_down_a_module_fixture_after_a_tests_exit_ends_the_run(
    pytester, run_alt_subprocess, mode
):
    # pytest tears the module down at the session's end, after test_a's
    # exit: the fixture's exit ends the run with its code and message.
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.fixture(scope="module")
        async def server():
            yield
            pytest.exit("module teardown exit", returncode=9)

        async def test_a(server):
            await asyncio.sleep(0.01)
            pytest.exit("test exit", returncode=11)

        async def test_b(server):
            await asyncio.sleep(0.1)
        """
    )
    result = run_alt_subprocess("-p", "no:randomly", *mode_args(mode))
    assert result.ret == 9, result.stdout.str()
    result.stdout.fnmatch_lines(["*Exit: test exit*"])
    result.stderr.fnmatch_lines(["Exit: module teardown exit"])


def test_a_stop_after_a_sequential_tests_teardown_reports_the_fixture_error_there(
    pytester, run_alt
):
    # The fixtures left up were torn down as the run stopped, and their
    # error was reported at the last cooperative test, of another module.
    pytester.makeconftest(
        """
        import pytest

        def pytest_runtest_logreport(report):
            if report.when == "teardown" and report.nodeid.endswith("test_seq_stops"):
                pytest.the_session.shouldstop = "stopped by a logreport hook"

        def pytest_sessionstart(session):
            pytest.the_session = session
        """
    )
    pytester.makepyfile(
        test_a="""
        import pytest

        @pytest.mark.asyncio_cooperative
        async def test_coop_passes():
            pass
        """,
        test_b="""
        import pytest

        @pytest.fixture(scope="module")
        def mod():
            yield
            raise RuntimeError("module teardown failed")

        def test_seq_stops(mod):
            pass

        def test_seq_next(mod):
            pass
        """,
    )
    result = run_alt("-p", "no:randomly", "-rA", "test_a.py", "test_b.py")
    result.stdout.fnmatch_lines(["ERROR test_b.py::test_seq_stops - RuntimeError: module*"])
    assert "ERROR test_a.py" not in result.stdout.str()
    result.assert_outcomes(passed=2, errors=1)


def test_a_test_whose_report_a_hook_stops_the_run_at_is_no_test_cut_short(pytester, run_alt):
    pytester.makeconftest(
        """
        import pytest

        def pytest_runtest_logreport(report):
            if report.when == "call" and report.failed:
                pytest.exit(f"stop after {report.nodeid}")
        """
    )
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        async def test_fails():
            await asyncio.sleep(0.05)
            assert 0

        async def test_other():
            await asyncio.sleep(0.1)
        """
    )
    result = run_alt("-v")
    result.stdout.fnmatch_lines(["*Exit: stop after *::test_fails*"])
    result.assert_outcomes(passed=1, failed=1)
    # Both reported: the summary line counts none cut short, and both times.
    line = SUMMARY.search(result.stdout.str())
    assert line is not None and line.group(0).startswith(
        "alt_coop: 2 cooperative tests, at most 2 at once"
    ), result.stdout.str()
    seconds = re.search(r"([\d.]+)s of test time", line.group(0))
    assert seconds is not None and float(seconds.group(1)) >= 0.14


def test_caplog_records_are_per_test(pytester, run_alt):
    events_conftest(pytester)
    pytester.makepyfile(
        """
        import asyncio
        import logging
        import pytest
        from conftest import meet

        pytestmark = pytest.mark.asyncio_cooperative
        ALL = asyncio.Barrier(3)
        logger = logging.getLogger("suite")

        @pytest.mark.parametrize("name", ["p", "q", "r"])
        async def test_records(caplog, name):
            logger.warning(f"{name} before")
            await meet(ALL)
            await asyncio.sleep(0.01)
            logger.warning(f"{name} after")
            assert [r.getMessage() for r in caplog.records] == [f"{name} before", f"{name} after"]
            assert caplog.messages == [f"{name} before", f"{name} after"]
            assert [r.getMessage() for r in caplog.get_records("call")] == caplog.messages
        """
    )
    result = run_alt("-v")
    result.assert_outcomes(passed=3)
    assert SUMMARY.search(result.stdout.str()).group(1, 2) == ("3", "3")


def test_log_capture_lists_no_handler_per_test(pytester, run_alt):
    """logging remembers every handler for shutdown in one list, which it
    searches linearly whenever a handler is collected; the handlers that
    capture cooperative tests' logs stay off it, or dropping thousands of them
    would take quadratic time."""
    pytester.makepyfile(
        """
        import asyncio
        import logging
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative
        ALL = asyncio.Barrier(200)
        # Earlier sessions in the same process may have left handlers there too.
        LISTED_BEFORE = len(logging._handlerList)

        @pytest.mark.parametrize("n", range(200))
        async def test_logs(caplog, n):
            logging.getLogger("suite").warning("test %d", n)
            await ALL.wait()  # every test is in flight, with its log capture
            assert len(logging._handlerList) - LISTED_BEFORE < 50
            assert caplog.messages == [f"test {n}"]
        """
    )
    run_alt().assert_outcomes(passed=200)


def test_caplog_set_level_in_a_test_marked_sequential(pytester, run_alt):
    """A test calling ``caplog.set_level`` and marked ``asyncio_sequential``
    works as usual between batches, and its level does not reach the tests
    after it."""
    events_conftest(pytester)
    pytester.makepyfile(
        """
        import asyncio
        import logging
        import pytest
        from conftest import meet, span

        pytestmark = pytest.mark.asyncio_cooperative
        BOTH = asyncio.Barrier(2)
        logger = logging.getLogger("suite")

        async def concurrent(caplog, name):
            async with span(name):
                logger.info(f"{name} info")
                logger.warning(f"{name} before")
                await meet(BOTH)
                logger.warning(f"{name} after")
                assert caplog.messages == [f"{name} before", f"{name} after"]

        async def test_p(caplog):
            await concurrent(caplog, "p")

        async def test_q(caplog):
            await concurrent(caplog, "q")

        @pytest.mark.asyncio_sequential
        async def test_set_level(caplog):
            async with span("set_level"):
                caplog.set_level(logging.INFO)
                logger.info("s before")
                await asyncio.sleep(0.05)
                logger.info("s after")
                assert caplog.messages == ["s before", "s after"]

        async def test_r(caplog):
            await concurrent(caplog, "r")

        async def test_t(caplog):
            await concurrent(caplog, "t")
        """
    )
    result = run_alt("-v")
    result.assert_outcomes(passed=5)
    spans = read_spans(pytester)
    assert overlap(spans["p"], spans["q"]) and overlap(spans["r"], spans["t"])
    for other in ("p", "q", "r", "t"):
        assert not overlap(spans["set_level"], spans[other])
    assert SUMMARY.search(result.stdout.str()).group(1, 2) == ("4", "2")


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_caplog_levels_are_each_tests_own(pytester, run_alt, mode):
    # Logger levels are process-wide; those a test sets through caplog must
    # not decide what the tests running meanwhile capture.
    pytester.makepyfile(
        """
        import asyncio
        import logging
        import pytest

        log = logging.getLogger("app")
        verbose = logging.getLogger("verbose")

        @pytest.fixture(scope="session", autouse=True)
        def info_disabled():
            logging.disable(logging.INFO)
            verbose.setLevel(logging.DEBUG)
            yield
            verbose.setLevel(logging.NOTSET)
            logging.disable(logging.NOTSET)

        async def test_sets_info(caplog):
            caplog.set_level(logging.INFO, logger="app")  # enables INFO too
            await asyncio.sleep(0.3)
            log.info("info from a")
            assert caplog.messages == ["info from a"]

        async def test_keeps_the_default(caplog):
            await asyncio.sleep(0.1)
            log.info("info from b")
            verbose.info("disabled info from b")
            await asyncio.sleep(0.3)
            log.info("more info from b")
            assert caplog.messages == []

        async def test_errors_only_for_a_while(caplog):
            with caplog.at_level(logging.ERROR, logger="app"):
                await asyncio.sleep(0.2)
                log.warning("warning from c")
            assert caplog.messages == []

        async def test_warns(caplog):
            await asyncio.sleep(0.05)
            log.warning("warning from d")
            await asyncio.sleep(0.3)
            log.warning("again from d")
            assert caplog.messages == ["warning from d", "again from d"]
        """
    )
    result = run_alt(*mode_args(mode))
    result.assert_outcomes(passed=4)


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_caplog_levels_end_at_caplogs_own_teardown(pytester, run_alt, mode):
    """pytest puts back the levels caplog set when caplog is torn down: the
    fixtures torn down after it log at the levels they had before (here:
    requested before caplog, a function one, a module one and a sync one)."""
    pytester.makepyfile(
        """
        import asyncio
        import logging
        import pytest

        log = logging.getLogger("app")

        @pytest.fixture(scope="module")
        async def server():
            yield
            log.debug("debug from the module fixture's teardown")

        @pytest.fixture
        async def client():
            yield
            log.debug("debug from the function fixture's teardown")

        @pytest.fixture
        def observer():
            yield
            print("app level at teardown:", logging.getLogger("app").level)

        async def test_sets_debug(server, client, observer, caplog):
            caplog.set_level(logging.DEBUG, logger="app")
            await asyncio.sleep(0.01)
            log.debug("debug from the test")
        """
    )
    result = run_alt("-rA", *mode_args(mode))
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*debug from the test*", "*app level at teardown: 0*"])
    result.stdout.no_fnmatch_line("*debug from the * fixture's teardown*")
    result.stdout.no_fnmatch_line("*Captured log teardown*")


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_threads_and_pool_work_a_test_starts_are_captured_as_its_own(pytester, run_alt, mode):
    pytester.makepyfile(
        """
        import asyncio
        import logging
        import threading

        def work(n):
            print(f"printed in thread {n}")
            logging.getLogger("app").warning(f"logged in thread {n}")

        async def test_starts_threads(caplog):
            await asyncio.sleep(0.05)
            thread = threading.Thread(target=work, args=(1,))
            thread.start()
            thread.join()
            await asyncio.get_running_loop().run_in_executor(None, work, 2)
            assert caplog.messages == ["logged in thread 1", "logged in thread 2"]
            assert 0, "show my output"

        async def test_meanwhile(caplog):
            await asyncio.get_running_loop().run_in_executor(None, print, "pool work of mine")
            await asyncio.sleep(0.2)
            assert caplog.messages == []
        """
    )
    result = run_alt(*mode_args(mode))
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "E * show my output",
            "*- Captured stdout call -*",
            "printed in thread 1",
            "printed in thread 2",
            "*- Captured log call -*",
            "WARNING *logged in thread 1",
            "WARNING *logged in thread 2",
        ]
    )
    assert "pool work of mine" not in result.stdout.str()


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_a_pools_initializer_and_done_callbacks_are_captured_as_their_tests(
    pytester, run_alt_subprocess, mode
):
    # They run in the pool's worker, outside the work handed to it: a
    # worker's initializer as the test whose work started the worker, a
    # future's done callbacks as the test that added them, as in a
    # sequential run, where they are the running test's.
    pytester.makepyfile(
        """
        import asyncio
        import concurrent.futures
        import logging
        import threading

        def set_up_worker():
            print("initializer's output")
            logging.getLogger("app").warning("initializer's record")

        def done(future):
            print(f"done callback's output: {future.result()}")
            logging.getLogger("app").warning("done callback's record")

        def failing_done(future):
            raise RuntimeError("the callback failed")

        async def test_pool_with_callbacks(caplog):
            await asyncio.sleep(0.05)
            release = threading.Event()
            with concurrent.futures.ThreadPoolExecutor(1, initializer=set_up_worker) as pool:
                future = pool.submit(release.wait)
                future.add_done_callback(done)
                future.add_done_callback(failing_done)
                release.set()
                await asyncio.wrap_future(future)
                future.add_done_callback(failing_done)  # done: called here, at once
            assert [message.split(" for ")[0] for message in caplog.messages] == [
                "initializer's record",
                "done callback's record",
                "exception calling callback",
                "exception calling callback",
            ]
            assert 0, "show my output"

        async def test_meanwhile(caplog):
            await asyncio.sleep(0.3)
            assert caplog.messages == []
        """
    )
    result = run_alt_subprocess("-rA", *mode_args(mode))
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "E * show my output",
            "*- Captured stdout call -*",
            "initializer's output",
            "done callback's output: True",
            "*- Captured log call -*",
            "WARNING  app:*initializer's record",
            "WARNING  app:*done callback's record",
            "ERROR    concurrent.futures:_base.py:* exception calling callback for <Future *",
            "Traceback (most recent call last):",
            '  File "*concurrent*futures*_base.py", line *, in _invoke_callbacks',
            "    callback(self)",
            '  File "*test_a_pools_initializer*.py", line 15, in failing_done',
            "    raise RuntimeError(*the callback failed*)",
            "RuntimeError: the callback failed",
            "*= short test summary info =*",
            "PASSED *::test_meanwhile",
        ]
    )
    output = result.stdout.str()
    assert output.count("initializer's output") == 1 and output.count("callback's output") == 1
    assert "alt_coop/" not in output


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_a_pools_initializer_runs_for_each_worker_when_threads_submit_at_once(
    pytester, run_alt, mode
):
    # Each submit swaps it for one run as its test: swaps that met left
    # workers without it, and the pool with a swapped one for good.
    pytester.makepyfile(
        """
        import asyncio
        import concurrent.futures
        import threading
        import time

        LOCAL = threading.local()

        def connect(name):
            LOCAL.connection = name

        POOL = concurrent.futures.ThreadPoolExecutor(32, initializer=connect, initargs=("db",))

        def query():
            time.sleep(0.002)
            return LOCAL.connection

        def client(found):
            found.extend(future.result() for future in [POOL.submit(query) for _ in range(100)])

        async def test_threads_share_a_pool():
            found = []
            threads = [threading.Thread(target=client, args=(found,)) for _ in range(8)]
            for thread in threads:
                thread.start()
            for thread in threads:
                await asyncio.to_thread(thread.join)
            assert found == ["db"] * 800

        def test_after():
            assert (POOL._initializer, POOL._initargs) == (connect, ("db",))
        """
    )
    result = run_alt("-p", "no:randomly", *mode_args(mode))
    result.assert_outcomes(passed=2)


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_a_done_callback_raising_a_base_exception_is_logged_in_its_test(
    pytester, run_alt_subprocess, mode
):
    # concurrent.futures does not catch it: it ends the pool's worker, which
    # logs it. In a batch that record was no test's, and lost.
    pytester.makepyfile(
        """
        import asyncio
        import concurrent.futures
        import threading

        def stops(future):
            raise KeyboardInterrupt("from the callback")

        async def test_callback_stops_the_worker(caplog):
            await asyncio.sleep(0.05)
            release = threading.Event()
            pool = concurrent.futures.ThreadPoolExecutor(1)
            future = pool.submit(release.wait)
            future.add_done_callback(stops)
            release.set()
            await asyncio.to_thread(pool.shutdown)  # its worker has logged and ended
            assert caplog.messages == ["Exception in worker"]

        async def test_meanwhile(caplog):
            await asyncio.sleep(0.3)
            assert caplog.messages == []
        """
    )
    result = run_alt_subprocess(*mode_args(mode))
    result.assert_outcomes(passed=2)


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_errors_of_thread_and_pool_calls_show_no_frame_of_alt_coops(pytester, run_alt, mode):
    # In a batch, alt_coop's stand-ins for Thread.start, submit and
    # add_done_callback showed among the frames of what those raise.
    pytester.makepyfile(
        """
        import concurrent.futures as cf
        import threading

        async def test_submit_after_shutdown():
            pool = cf.ThreadPoolExecutor(1, initializer=print)
            pool.shutdown()
            pool.submit(print, "x")

        async def test_start_twice():
            thread = threading.Thread(target=print)
            thread.start()
            thread.start()

        async def test_callback_of_a_bad_future():
            cf.Future.add_done_callback(None, print)
        """
    )
    result = run_alt(*mode_args(mode))
    result.assert_outcomes(failed=3)
    result.stdout.fnmatch_lines(
        [
            "E * cannot schedule new futures after shutdown",
            "E * threads can only be started once",
            "E * AttributeError: *",
        ]
    )
    assert "_lane_threads" not in result.stdout.str()


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_what_a_forked_child_prints_is_not_lost(pytester, run_alt_subprocess, mode):
    # The child copied the tests' routers, whose buffers died with it. In a
    # sequential run it is captured with the test (pytest's file is shared);
    # in a cooperative one it goes where output at the descriptors goes.
    pytester.makepyfile(
        """
        import asyncio
        import os

        async def test_forks():
            await asyncio.sleep(0.01)
            pid = os.fork()
            if pid == 0:
                print("printed in the", "forked child", flush=True)
                os._exit(0)
            os.waitpid(pid, 0)
            assert 0, "show my output"

        async def test_meanwhile():
            await asyncio.sleep(0.1)
        """
    )
    result = run_alt_subprocess(*mode_args(mode))
    result.assert_outcomes(passed=1, failed=1)
    assert result.stdout.str().count("printed in the forked child") == 1, result.stdout.str()


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_pool_work_runs_in_its_worker_threads_own_context(pytester, run_alt_subprocess, mode):
    # As asyncio runs it (loop.run_in_executor does not copy the context): a
    # batch ran it in a copy of the test's, so a sqlite connection a fixture
    # kept in a context variable reached another thread, and a worker
    # setting the precision of the decimal context it found changed the
    # test's own.
    pytester.makepyfile(
        """
        import asyncio
        import concurrent.futures
        import contextvars
        import decimal

        import pytest

        CONNECTION = contextvars.ContextVar("CONNECTION", default="the worker's own")

        @pytest.fixture
        async def connection():
            CONNECTION.set("the test's")
            yield

        def in_the_pool():
            decimal.getcontext().prec = 3
            print("pool work's output")
            return CONNECTION.get()

        @pytest.mark.parametrize("n", range(3))
        async def test_pool_work(connection, n):
            await asyncio.sleep(0.05)
            found = await asyncio.get_running_loop().run_in_executor(None, in_the_pool)
            assert found == "the worker's own"
            assert decimal.getcontext().prec == 28
            assert 0, "show my output"

        def set_up_worker():
            decimal.getcontext().prec = 6
            CONNECTION.set("set up for the worker")

        POOL = concurrent.futures.ThreadPoolExecutor(1, initializer=set_up_worker)

        def as_set_up():
            return decimal.getcontext().prec, CONNECTION.get()

        @pytest.mark.parametrize("n", range(2))
        async def test_what_the_pools_initializer_set(n):
            await asyncio.sleep(0.05)
            found = await asyncio.get_running_loop().run_in_executor(POOL, as_set_up)
            assert found == (6, "set up for the worker")

        def test_after():
            assert decimal.getcontext().prec == 28
        """
    )
    # In a process of its own: pytest-check, loaded in this one, makes
    # threads start in their starter's context.
    result = run_alt_subprocess(*mode_args(mode))
    result.assert_outcomes(passed=3, failed=3)
    assert result.stdout.str().count("E       AssertionError: show my output") == 3
    assert result.stdout.str().count("pool work's output") == 3  # each in its test's section


def test_pool_work_names_the_pools_frame_as_its_caller(pytester, run_alt_subprocess):
    # A warning or record of work handed to the pool, naming its caller's
    # line (stacklevel=2), names the pool's, as in a sequential run: no frame
    # of alt_coop's comes between.
    pytester.makepyfile(
        """
        import asyncio
        import logging
        import warnings

        def legacy_fetch(key):
            warnings.warn("legacy_fetch is deprecated", DeprecationWarning, stacklevel=2)
            logging.getLogger("lib").warning("fetching %s", key, stacklevel=2)
            return key

        async def test_pool():
            loop = asyncio.get_running_loop()
            assert await loop.run_in_executor(None, legacy_fetch, "k") == "k"
            assert 0
        """
    )
    seen = []
    for mode, check in (
        ("sequential", ()),
        ("cooperative", ()),
        ("cooperative", ("-p", "pytest_check")),
    ):
        # In a process of its own, and with pytest-check there too, which
        # makes threads start in their starter's context.
        result = run_alt_subprocess(
            "--log-format=%(filename)s:%(funcName)s %(message)s", *mode_args(mode), *check
        )
        result.assert_outcomes(failed=1)
        seen.append([line for line in result.stdout.lines if "fetch" in line])
    assert seen[1] == seen[0] and seen[2] == seen[0], seen
    assert any("thread.py:run fetching k" in line for line in seen[0]), seen


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_what_a_tests_log_records_hold_is_freed_once_it_is_over(
    pytester, run_alt_subprocess, mode
):
    # A record holds its arguments and, logged with exc_info, its
    # traceback's frames: a connection a teardown logged was kept alive,
    # in a cooperative run, until a later test's phase took its handlers.
    pytester.makepyfile(
        """
        import asyncio
        import gc
        import logging
        import weakref

        import pytest

        CONNECTIONS = []

        class Connection:
            pass

        @pytest.fixture
        async def connection():
            made = Connection()
            CONNECTIONS.append(weakref.ref(made))
            yield made
            logging.getLogger("app").warning("closed %r", made)
            try:
                raise OSError("reset by peer")
            except OSError:
                logging.getLogger("app").exception("while closing")

        @pytest.mark.parametrize("n", range(5))
        async def test_uses_a_connection(n, connection):
            await asyncio.sleep(0.01)

        async def test_zz_after():
            await asyncio.sleep(0.3)
            gc.collect()
            assert [ref() for ref in CONNECTIONS] == [None] * 5
        """
    )
    result = run_alt_subprocess("-p", "no:randomly", *mode_args(mode))
    result.assert_outcomes(passed=6)


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_caplog_level_on_a_parent_holds_below_another_tests_child_level(pytester, run_alt, mode):
    pytester.makepyfile(
        """
        import asyncio
        import logging

        async def test_child_info(caplog):
            caplog.set_level(logging.INFO, logger="app.sub")
            await asyncio.sleep(0.2)
            logging.getLogger("app.sub").debug("not for the child test")
            assert caplog.messages == []

        async def test_parent_debug(caplog):
            await asyncio.sleep(0.05)
            caplog.set_level(logging.DEBUG, logger="app")
            logging.getLogger("app.sub").debug("hello")
            assert caplog.messages == ["hello"]

        async def test_root_info(caplog):
            await asyncio.sleep(0.05)
            caplog.set_level(logging.INFO)
            logging.getLogger("app.sub").info("from below")
            assert caplog.messages == ["from below"]

        async def test_noisy_warning_only(caplog):
            caplog.set_level(logging.WARNING, logger="app.sub")
            await asyncio.sleep(0.2)
            logging.getLogger("app.sub").info("not for the noisy test")
            assert caplog.messages == []
        """
    )
    result = run_alt(*mode_args(mode))
    result.assert_outcomes(passed=4)


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_caplog_levels_hold_for_tasks_their_test_started(pytester, run_alt, mode):
    pytester.makepyfile(
        """
        import asyncio
        import logging

        log = logging.getLogger("app")

        async def work(n):
            await asyncio.sleep(0.05)
            log.debug("debug from task %d", n)

        async def test_gathers(caplog):
            caplog.set_level(logging.DEBUG, logger="app")
            await asyncio.gather(work(1), work(2))
            assert caplog.messages == ["debug from task 1", "debug from task 2"]

        async def test_at_level(caplog):
            with caplog.at_level(logging.DEBUG, logger="app"):
                await asyncio.create_task(work(3))
            assert caplog.messages == ["debug from task 3"]

        async def test_keeps_the_default(caplog):
            await asyncio.gather(work(4), asyncio.sleep(0.1))
            assert caplog.messages == []
        """
    )
    result = run_alt(*mode_args(mode))
    result.assert_outcomes(passed=3)


def test_tmp_path_is_distinct_per_test(pytester, run_alt):
    events_conftest(pytester)
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        from conftest import log, meet

        pytestmark = pytest.mark.asyncio_cooperative
        ALL = asyncio.Barrier(4)

        @pytest.mark.parametrize("n", range(4))
        async def test_own_dir(tmp_path, n):
            (tmp_path / "owner.txt").write_text(str(n))
            log("tmp", n, tmp_path)
            await meet(ALL)
            assert sorted(p.name for p in tmp_path.iterdir()) == ["owner.txt"]
            assert (tmp_path / "owner.txt").read_text() == str(n)
        """
    )
    result = run_alt("-v")
    result.assert_outcomes(passed=4)
    dirs = [line.split(" ", 2)[2] for line in read_events(pytester) if line.startswith("tmp ")]
    assert len(dirs) == 4
    assert len(set(dirs)) == 4, dirs


def test_assertion_diffs_are_shown_for_each_test(pytester, run_alt):
    events_conftest(pytester)
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        from conftest import meet

        pytestmark = pytest.mark.asyncio_cooperative
        ALL = asyncio.Barrier(3)

        async def test_lists():
            await meet(ALL)
            assert [1, 2, 3] == [1, 2, 4]

        async def test_dicts():
            await meet(ALL)
            assert {"a": 1, "b": 2} == {"a": 1, "b": 3}

        async def test_strings():
            await meet(ALL)
            assert "hello world" == "hello there"
        """
    )
    result = run_alt("-v")
    result.assert_outcomes(failed=3)
    sections = failure_sections(result.stdout.str())
    assert "At index 2 diff: 3 != 4" in sections["test_lists"]
    assert "Differing items:" in sections["test_dicts"]
    assert "{'b': 2} != {'b': 3}" in sections["test_dicts"]
    assert "- hello there" in sections["test_strings"]
    assert "+ hello world" in sections["test_strings"]
    assert "At index" not in sections["test_dicts"] + sections["test_strings"]
    assert "Differing items" not in sections["test_lists"] + sections["test_strings"]


@pytest.mark.parametrize("pass_hook", [True, False])
def test_assertion_hooks_of_conftests_see_each_test(pytester, run_alt, pass_hook):
    """pytest_assertrepr_compare and pytest_assertion_pass are called for the
    test that compares, each in its own directory's conftest; with the pass
    hook enabled but implemented nowhere, asserts simply pass."""
    pytester.makeini("[pytest]\nenable_assertion_pass_hook = true\n")
    pytester.makeconftest(
        """
        import pytest
        PASSED = []
        """
        + (
            """
        def pytest_assertion_pass(item, lineno, orig, expl):
            PASSED.append((item.name, orig))
        """
            if pass_hook
            else ""
        )
    )
    for where in ("alpha", "beta"):
        package = pytester.mkpydir(where)
        package.joinpath("conftest.py").write_text(
            textwrap.dedent(
                f"""
                def pytest_assertrepr_compare(config, op, left, right):
                    if op == "==" and isinstance(left, int):
                        return ["custom explanation from {where}"]
                """
            )
        )
        package.joinpath(f"test_{where}.py").write_text(
            textwrap.dedent(
                f"""
                import asyncio
                import pytest

                pytestmark = pytest.mark.asyncio_cooperative

                @pytest.mark.parametrize("n", range(3))
                async def test_{where}(n):
                    await asyncio.sleep(0.01 * (3 - n))
                    assert n + 1 > n
                    assert n == 1
                """
            )
        )
    pytester.makepyfile(
        test_zz_check=f"""
        from conftest import PASSED

        def test_passes_were_seen():
            names = [f"test_{{where}}[{{n}}]" for where in ("alpha", "beta") for n in range(3)]
            expected = [(name, "n + 1 > n") for name in names]
            expected += [("test_alpha[1]", "n == 1"), ("test_beta[1]", "n == 1")]
            assert sorted(PASSED) == (sorted(expected) if {pass_hook} else [])
        """
    )
    result = run_alt("-p", "no:randomly")
    result.assert_outcomes(failed=4, passed=3)
    sections = failure_sections(result.stdout.str())
    for where in ("alpha", "beta"):
        for n in (0, 2):
            assert f"custom explanation from {where}" in sections[f"test_{where}[{n}]"]


def test_durations_lists_each_tests_own_time(pytester, run_alt):
    events_conftest(pytester)
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        from conftest import span

        pytestmark = pytest.mark.asyncio_cooperative
        FAST_DONE = asyncio.Event()

        async def test_slow():
            async with span("slow"):
                await asyncio.wait_for(FAST_DONE.wait(), 2)
                await asyncio.sleep(0.25)

        async def test_fast():
            async with span("fast"):
                await asyncio.sleep(0.01)
            FAST_DONE.set()
        """
    )
    result = run_alt("--durations=0", "-vv")
    result.assert_outcomes(passed=2)
    spans = read_spans(pytester)
    assert overlap(spans["slow"], spans["fast"])
    calls = dict(
        (name, float(seconds))
        for seconds, name in re.findall(
            r"^(\d+\.\d+)s call\s+\S+::(test_\w+)$", result.stdout.str(), re.M
        )
    )
    assert set(calls) == {"test_slow", "test_fast"}, result.stdout.str()
    assert calls["test_slow"] >= 0.25
    assert calls["test_fast"] < calls["test_slow"] - 0.1, calls


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_a_log_path_set_while_cooperative_tests_run_is_told(pytester, run_alt, mode):
    # The logging plugin's set_log_path (a log file per test, from a hook)
    # sent every running test's records to the file set last, silently.
    pytester.makeconftest(
        """
        import pytest

        @pytest.hookimpl(tryfirst=True)
        def pytest_runtest_setup(item):
            plugin = item.config.pluginmanager.get_plugin("logging-plugin")
            plugin.set_log_path(f"logs/{item.name}.log")
        """
    )
    pytester.makepyfile(
        """
        import asyncio
        import logging
        import pytest

        @pytest.mark.parametrize("n", [1, 2, 3])
        async def test_logs(n):
            for _ in range(3):
                logging.getLogger("app").warning("record of %s", n)
                await asyncio.sleep(0.01)
        """
    )
    result = run_alt("--log-file=logs/main.log", "--log-file-level=WARNING", *mode_args(mode))
    if mode == "sequential":
        result.assert_outcomes(passed=3)
        for n in (1, 2, 3):
            text = (pytester.path / "logs" / f"test_logs[{n}].log").read_text()
            assert text.count(f"record of {n}") == 3, text
        return
    result.assert_outcomes(passed=3, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "*AltCoopWarning: alt_coop: the logging plugin's set_log_path was called while "
            "cooperative tests ran: the log file is one for the process, so the records of "
            "every test running then go to the file set last. Run the tests that need a log "
            "file of their own sequentially (asyncio_sequential)",
        ]
    )


@pytest.mark.skipif(sys.version_info < (3, 12), reason="a filter returns a record from 3.12")
@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_a_filter_on_caplogs_handler_may_replace_the_record(pytester, run_alt, mode):
    pytester.makepyfile(
        """
        import asyncio
        import copy
        import logging

        def replace(record):
            record = copy.copy(record)
            record.msg = "replaced"
            return record

        async def test_filtered(caplog):
            caplog.handler.addFilter(replace)
            await asyncio.sleep(0.01)
            logging.getLogger("app").warning("original")
            assert caplog.messages == ["replaced"]

        async def test_beside():
            await asyncio.sleep(0.02)
        """
    )
    run_alt(*mode_args(mode)).assert_outcomes(passed=2)


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_a_logging_error_shows_no_alt_coop_frames(pytester, run_alt_subprocess, mode):
    # pytest's log handler raises a record's formatting error in the test:
    # alt_coop's router, which hands the record to it in a batch, is hidden.
    pytester.makepyfile(
        """
        import asyncio
        import logging

        async def test_bad_format(caplog):
            await asyncio.sleep(0.01)
            logging.getLogger("app").warning("value %d", "not-a-number")

        async def test_bad_format_apart(caplog):
            logger = logging.getLogger("apart")
            logger.propagate = False
            logger.addHandler(caplog.handler)
            try:
                await asyncio.sleep(0.01)
                logger.warning("value %d", "not-a-number")
            finally:
                logger.removeHandler(caplog.handler)
                logger.propagate = True

        async def test_beside():
            await asyncio.sleep(0.05)
        """
    )
    result = run_alt_subprocess(*mode_args(mode))
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(["E * TypeError: %d format: a real number is required*"])
    failures = result.stdout.str().split("= FAILURES =")[1]
    assert "alt_coop/" not in failures and "alt_coop." not in failures, failures
    # Nor a second logging.Handler.handle frame: the router's and the test's.
    for failure in failures.split(" test_bad_format")[1:]:
        frames = re.findall(r"^\S*logging/__init__.py:\d+: in \w+$", failure, re.MULTILINE)
        assert len(frames) == len(set(frames)), failure


@pytest.mark.parametrize("second", ["exit", "SystemExit", "KeyboardInterrupt"])
@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_a_reporting_hooks_stop_after_the_first_does_not_replace_it(
    pytester, run_alt_subprocess, mode, second
):
    # test_b's reports come after test_a's hook stopped the run: in a
    # sequential run test_b never runs, so its hook's stop is never met.
    # (A hook's error, a plugin's bug, is the run's internal error all the
    # same: see test_a_plugins_report_hook_failing_on_a_test_cut_short_...)
    pytester.makeconftest(
        f"""
        import pytest

        def pytest_runtest_logreport(report):
            if report.when != "call":
                return
            if report.nodeid.endswith("test_a"):
                raise KeyboardInterrupt("first, from test_a")
            if "{second}" == "exit":
                pytest.exit("second, from test_b", returncode=7)
            raise {second if second != "exit" else "SystemExit"}("second, from test_b")
        """
    )
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.fixture
        async def slow_teardown():
            yield
            await asyncio.sleep(0.3)

        async def test_a():
            await asyncio.sleep(0.1)

        async def test_b(slow_teardown):
            await asyncio.sleep(0.01)
        """
    )
    result = run_alt_subprocess(*mode_args(mode))
    assert result.ret == pytest.ExitCode.INTERRUPTED, result.stdout.str()
    result.stdout.fnmatch_lines(["*! KeyboardInterrupt: first, from test_a !*"])
    assert "second, from test_b" not in result.stdout.str() + result.stderr.str()


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_a_wider_fixtures_exit_after_a_hooks_internal_error_still_ends_the_run(
    pytester, run_alt_subprocess, mode
):
    # pytest tears the module down at the session's end, after the internal
    # error, and ends with the exit's code; a cooperative run lost the exit.
    pytester.makeconftest(
        """
        def pytest_runtest_logreport(report):
            if report.when == "call" and report.nodeid.endswith("test_a"):
                raise RuntimeError("the hook failed")
        """
    )
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.fixture(scope="module")
        async def module_wide():
            yield
            pytest.exit("the module's exit", returncode=9)

        async def test_a(module_wide):
            await asyncio.sleep(0.05)

        async def test_b(module_wide):
            await asyncio.sleep(0.2)
        """
    )
    result = run_alt_subprocess(*mode_args(mode))
    assert result.ret == 9, result.stdout.str()
    result.stdout.fnmatch_lines(["INTERNALERROR> RuntimeError: the hook failed"])
    result.stderr.fnmatch_lines(["Exit: the module's exit"])


#: Where a hook that stops the run on a failure is, for the test below:
#: the conftests (or modules) to write, and the calls it is to record.
STOPPERS = {
    # A subdirectory's conftest, registered after the terminal reporter and
    # junitxml, is called before them.
    "function": (
        {
            "sub/conftest.py": """
                import pytest

                def pytest_runtest_logreport(report):
                    if report.failed:
                        with open("calls", "a") as calls:
                            calls.write(f"stopper {report.nodeid}\\n")
                        pytest.exit("a test failed", returncode=7)
                """
        },
        ["stopper sub/test_it.py::test_a", "stopper sub/test_it.py::test_b"],
    ),
    # One function, two plugins: the instances of a class.
    "instances": (
        {
            "conftest.py": """
                import pytest

                class Stopper:
                    def __init__(self, name):
                        self.name = name

                    def pytest_runtest_logreport(self, report):
                        if report.failed:
                            with open("calls", "a") as calls:
                                calls.write(f"{self.name} {report.nodeid}\\n")
                            pytest.exit("a test failed", returncode=7)

                @pytest.hookimpl(trylast=True)  # after the terminal reporter's
                def pytest_configure(config):
                    config.pluginmanager.register(Stopper("one"), "stopper-one")
                    config.pluginmanager.register(Stopper("two"), "stopper-two")
                """
        },
        [
            "one sub/test_it.py::test_b",
            "two sub/test_it.py::test_a",  # called first: the run stops at it
            "two sub/test_it.py::test_b",
        ],
    ),
    # One function, two plugins, and no ``self`` to tell which one ran: the
    # plugins called after both still get the report.
    "classmethods": (
        {
            "conftest.py": """
                import pytest

                class Stopper:
                    @classmethod
                    def pytest_runtest_logreport(cls, report):
                        if report.failed:
                            with open("calls", "a") as calls:
                                calls.write(f"stopper {report.nodeid}\\n")
                            pytest.exit("a test failed", returncode=7)

                @pytest.hookimpl(trylast=True)  # after the terminal reporter's
                def pytest_configure(config):
                    config.pluginmanager.register(Stopper(), "stopper-one")
                    config.pluginmanager.register(Stopper(), "stopper-two")
                """
        },
        # The one registered first is not known not to have raised.
        ["stopper sub/test_it.py::test_a", "stopper sub/test_it.py::test_b"],
    ),
    # Two functions, one decorator: the decorator's function is both.
    "decorated": (
        {
            "recorded.py": """
                import functools

                def recorded(name):
                    def decorate(hook):
                        @functools.wraps(hook)
                        def recording(report):
                            if report.failed:
                                with open("calls", "a") as calls:
                                    calls.write(f"{name} {report.nodeid}\\n")
                            return hook(report)
                        return recording
                    return decorate
                """,
            "conftest.py": """
                from recorded import recorded

                @recorded("root")
                def pytest_runtest_logreport(report):
                    pass
                """,
            "sub/conftest.py": """
                import pytest
                from recorded import recorded

                @recorded("stopper")
                def pytest_runtest_logreport(report):
                    if report.failed:
                        pytest.exit("a test failed", returncode=7)
                """,
        },
        [
            "root sub/test_it.py::test_b",
            "stopper sub/test_it.py::test_a",
            "stopper sub/test_it.py::test_b",
        ],
    ),
}


@pytest.mark.parametrize("stopper", sorted(STOPPERS))
def test_a_reporting_hooks_ignored_stop_leaves_the_report_to_the_other_plugins(
    pytester, run_alt_subprocess, stopper
):
    # The hook's pytest.exit() on a failure cut the calls of the other
    # plugins after it off: test_b's failure, after test_a's stopped the
    # run, was neither counted nor shown, and junitxml wrote an empty
    # testcase. Each plugin gets each report once.
    files, calls = STOPPERS[stopper]
    pytester.mkpydir("sub")
    for name, text in files.items():
        (pytester.path / name).write_text(textwrap.dedent(text))
    (pytester.path / "sub" / "test_it.py").write_text(
        textwrap.dedent(
            """
            import asyncio

            async def test_a():
                await asyncio.sleep(0.05)
                assert False, "test_a's failure"

            async def test_b():
                await asyncio.sleep(0.1)
                assert False, "test_b's failure"
            """
        )
    )
    result = run_alt_subprocess("--asyncio-cooperative", "--junitxml=junit.xml")
    assert result.ret == 7, result.stdout.str()
    result.stdout.fnmatch_lines(["*! _pytest.outcomes.Exit: a test failed !*"])
    result.stdout.fnmatch_lines(
        ["*= 1 failed in *"]
    )  # test_b's; test_a's is cut off, as in pytest
    junit = (pytester.path / "junit.xml").read_text()
    assert "test_b&apos;s failure" in junit or "test_b's failure" in junit, junit
    assert 'failures="1"' in junit, junit
    assert sorted((pytester.path / "calls").read_text().splitlines()) == calls


@pytest.mark.parametrize("hook", ["pytest_runtest_logfinish", "pytest_runtest_logreport"])
@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_a_tests_warnings_are_reported_when_its_reporting_hook_raises(
    pytester, run_alt_subprocess, mode, hook
):
    if hook == "pytest_runtest_logfinish":
        argument, condition = "nodeid", "True"
    else:
        argument, condition = "report", "report.when == 'teardown'"
    pytester.makeconftest(
        f"""
        def {hook}({argument}):
            if {condition}:
                raise KeyboardInterrupt("stop")
        """
    )
    pytester.makepyfile(
        """
        import asyncio
        import warnings

        async def test_warns():
            await asyncio.sleep(0.01)
            warnings.warn(UserWarning("a warning of the test's"))

        async def test_beside():
            await asyncio.sleep(0.01)
        """
    )
    result = run_alt_subprocess(*mode_args(mode), "-p", "no:randomly")
    assert result.ret == pytest.ExitCode.INTERRUPTED, result.stdout.str()
    result.stdout.fnmatch_lines(["*UserWarning: a warning of the test's*"])


@pytest.mark.parametrize("raised", ["KeyboardInterrupt", "SystemExit", "exit"])
def test_a_test_whose_hook_stops_after_the_first_stop_is_still_reported(
    pytester, run_alt_subprocess, raised
):
    # test_b ran on as test_a's pytest.exit() let it finish: its hook's stop
    # is not the run's first, and the rest of its reports are logged still.
    stop = f'raise {raised}("second")'
    if raised == "exit":
        stop = 'pytest.exit("second", returncode=7)'
    pytester.makeconftest(
        f"""
        import pytest

        def pytest_runtest_logstart(nodeid):
            if nodeid.endswith("test_b"):
                {stop}
        """
    )
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        async def test_a():
            await asyncio.sleep(0.1)
            pytest.exit("first", returncode=5)

        async def test_b():
            await asyncio.sleep(0.3)
        """
    )
    result = run_alt_subprocess("--asyncio-cooperative")
    assert result.ret == 5, result.stdout.str()
    result.stdout.fnmatch_lines(["*1 passed in *"])
    result.stdout.fnmatch_lines(["*! _pytest.outcomes.Exit: first !*"])
    assert "second" not in result.stdout.str() + result.stderr.str()


@pytest.mark.parametrize("raised", ["KeyboardInterrupt", "exit"])
def test_a_warning_hooks_stop_after_the_first_stop_is_ignored_too(
    pytester, run_alt_subprocess, raised
):
    # As a reporting hook's: it cancelled test_c, whose failure was lost, or
    # its pytest.exit() replaced test_a's. And test_b's other warning was lost.
    stop = 'pytest.exit("second", returncode=7)' if raised == "exit" else "raise KeyboardInterrupt"
    pytester.makeconftest(
        f"""
        import pytest

        def pytest_warning_recorded(nodeid):
            if nodeid.endswith("test_b"):
                {stop}
        """
    )
    pytester.makepyfile(
        """
        import asyncio
        import warnings
        import pytest

        async def test_a():
            await asyncio.sleep(0.1)
            pytest.exit("first", returncode=5)

        async def test_b():
            await asyncio.sleep(0.2)
            warnings.warn(UserWarning("b warns"))
            warnings.warn(UserWarning("b warns again"))

        async def test_c():
            await asyncio.sleep(0.3)
            assert 0, "c fails"
        """
    )
    result = run_alt_subprocess("--asyncio-cooperative", "-p", "no:randomly")
    assert result.ret == 5, result.stdout.str()
    result.stdout.fnmatch_lines(["*1 failed, 1 passed*"])
    result.stdout.fnmatch_lines(["*! _pytest.outcomes.Exit: first !*"])
    result.stdout.fnmatch_lines(["*UserWarning: b warns", "*UserWarning: b warns again"])


@pytest.mark.parametrize("raised", ["exit", "KeyboardInterrupt"])
def test_a_warning_hooks_stop_on_alt_coops_notice_after_the_first_stop_is_ignored(
    pytester, run_alt_subprocess, raised
):
    # alt_coop's notices (a test that held the loop) reached the hook
    # directly, at the batch's end: its stop replaced test_a's exit.
    stop = 'pytest.exit("second", returncode=7)' if raised == "exit" else "raise KeyboardInterrupt"
    pytester.makeconftest(
        f"""
        import pytest

        def pytest_warning_recorded(warning_message):
            if "held the loop" in str(warning_message.message):
                {stop}
        """
    )
    pytester.makepyfile(
        """
        import asyncio
        import time
        import pytest

        async def test_a():
            await asyncio.sleep(0.05)
            time.sleep(0.3)
            pytest.exit("first", returncode=5)

        async def test_b():
            await asyncio.sleep(0.1)
        """
    )
    result = run_alt_subprocess("--asyncio-cooperative", "--asyncio-block-threshold=0.2")
    assert result.ret == 5, result.stdout.str()
    result.stdout.fnmatch_lines(["*! _pytest.outcomes.Exit: first !*"])


def test_a_hooks_exit_stands_against_a_stop_in_the_same_turn(pytester, run_alt_subprocess):
    # test_a's hook's pytest.exit() reached the run only in a later turn,
    # by its task's done callback: test_b's, in the same turn, replaced it.
    pytester.makeconftest(
        """
        import pytest

        def pytest_runtest_logreport(report):
            if report.when == "call" and report.nodeid.endswith("test_a"):
                pytest.exit("first", returncode=7)
            if report.when == "call" and report.nodeid.endswith("test_b"):
                raise SystemExit("second")
        """
    )
    pytester.makepyfile(
        """
        import asyncio

        async def test_a():
            await asyncio.sleep(0.1)

        async def test_b():
            await asyncio.sleep(0.1)
        """
    )
    result = run_alt_subprocess("--asyncio-cooperative", "-p", "no:randomly")
    assert result.ret == 7, result.stdout.str()
    result.stdout.fnmatch_lines(["*! _pytest.outcomes.Exit: first !*"])
    assert "second" not in result.stdout.str() + result.stderr.str()
