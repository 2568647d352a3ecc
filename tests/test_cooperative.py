"""Cooperative tests: concurrent on the session loop, each through pytest's own protocol.

The sessions under test record what happens as lines in an event file under
``pytester.path``: ``log(...)`` writes one line, ``span(name)`` (a sync or
async context manager) writes ``start name T`` and ``end name T`` with
``time.monotonic()`` readings. The outer tests read the file back once the
inner session is over and check which spans overlapped, which never did, and
how often each fixture was set up and torn down.

Concurrency is shown by overlap (or by barriers that only open when enough
tests are in flight together, with a timeout so a sequential run fails rather
than hangs), never by how fast a run was.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from itertools import combinations

import pytest
from conftest import ISOLATE, interrupt_when, mode_args

PYTEST_VERSION = tuple(int(part) for part in pytest.__version__.split(".")[:2])

CONFTEST = """
import asyncio
import time

EVENTS = {path!r}


def log(*parts):
    with open(EVENTS, "a") as f:
        f.write(" ".join(str(part) for part in parts) + "\\n")


class span:
    \"\"\"Records when a block starts and ends, as a sync or an async context manager.\"\"\"

    def __init__(self, name):
        self.name = name

    def __enter__(self):
        log("start", self.name, time.monotonic())

    def __exit__(self, *exc_info):
        log("end", self.name, time.monotonic())

    async def __aenter__(self):
        self.__enter__()

    async def __aexit__(self, *exc_info):
        self.__exit__()


async def meet(barrier, seconds=2.0):
    \"\"\"Wait until ``barrier.parties`` tests are here together; fail after ``seconds``.\"\"\"
    async with asyncio.timeout(seconds):
        await barrier.wait()
"""


def events_conftest(pytester: pytest.Pytester, extra: str = "") -> None:
    path = str(pytester.path / "events.txt")
    pytester.makeconftest(CONFTEST.format(path=path) + textwrap.dedent(extra))


def read_events(pytester: pytest.Pytester) -> list[str]:
    path = pytester.path / "events.txt"
    return path.read_text().splitlines() if path.exists() else []


def read_spans(pytester: pytest.Pytester) -> dict[str, tuple[float, float]]:
    """``name -> (start, end)`` for every span recorded; each must be closed."""
    starts: dict[str, float] = {}
    ends: dict[str, float] = {}
    for line in read_events(pytester):
        kind, _, rest = line.partition(" ")
        if kind not in ("start", "end"):
            continue
        name, _, when = rest.rpartition(" ")
        target = starts if kind == "start" else ends
        assert name not in target, f"span {name!r} recorded twice: {line!r}"
        target[name] = float(when)
    assert set(starts) == set(ends), f"unclosed spans: {set(starts) ^ set(ends)}"
    return {name: (starts[name], ends[name]) for name in starts}


def overlap(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def peak(spans: dict[str, tuple[float, float]]) -> int:
    """The most spans open at one moment."""
    edges = sorted(
        [(start, 1) for start, _ in spans.values()] + [(end, -1) for _, end in spans.values()],
        key=lambda edge: (edge[0], edge[1]),  # an end before a start at the same instant
    )
    running = most = 0
    for _, change in edges:
        running += change
        most = max(most, running)
    return most


def verbose_lines(output: str) -> dict[str, list[str]]:
    """Test name -> the statuses of its ``-v`` result lines."""
    found: dict[str, list[str]] = {}
    for match in re.finditer(
        r"^\S+::(\S+) (PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS)\b", output, re.M
    ):
        found.setdefault(match.group(1), []).append(match.group(2))
    return found


def failure_sections(output: str) -> dict[str, str]:
    """The text of each entry of the FAILURES/ERRORS sections, by its heading."""
    sections: dict[str, str] = {}
    heading = None
    lines: list[str] = []
    for line in output.splitlines():
        match = re.match(r"^_{3,} (.+?) _{3,}$", line)
        if match or re.match(r"^={3,} .* ={3,}$", line) or line.startswith("alt_coop: "):
            if heading is not None:
                sections[heading] = "\n".join(lines)
            heading, lines = (match.group(1) if match else None), []
            continue
        if heading is not None:
            lines.append(line)
    if heading is not None:
        sections[heading] = "\n".join(lines)
    return sections


def captured(section: str, what: str) -> list[str]:
    """The lines of the ``Captured <what>`` part of one failure section."""
    out: list[str] = []
    inside = False
    for line in section.splitlines():
        if re.match(r"^-{3,} .* -{3,}$", line):
            inside = f"Captured {what} " in line + " "
            continue
        if inside and line:
            out.append(line)
    return out


SUMMARY = re.compile(
    r"^alt_coop: (\d+) cooperative tests?, at most (\d+) at once, "
    r"\d+\.\d\ds of test time in \d+\.\d\ds$",
    re.M,
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
            if i > start and (line.startswith("=") or line.startswith("alt_coop:"))
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
    spans = read_spans(pytester)
    assert not overlap(spans["alone"], spans["a"]) and not overlap(spans["alone"], spans["b"])


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
    spans = read_spans(pytester)
    assert not overlap(spans["alone"], spans["a"]) and not overlap(spans["alone"], spans["b"])


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_a_test_seeded_per_test_draws_its_own_random_numbers(pytester, run_alt, mode):
    # pytest-randomly, in miniature: it seeds the random module with a seed
    # of the test's at each phase, so that the test's draws repeat.
    pytester.makeconftest(
        """
        import random
        import zlib

        class Randomly:
            def pytest_runtest_setup(self, item):
                random.seed(zlib.crc32(item.nodeid.encode()))

        def pytest_addoption(parser):
            parser.addoption("--randomly-dont-reset-seed", action="store_false",
                             dest="randomly_reset_seed", default=True)

        def pytest_configure(config):
            config.pluginmanager.register(Randomly(), "randomly")
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
def test_a_wide_fixture_torn_down_by_another_test_reports_there(pytester, run_alt, mode):
    # The module fixture is set up by test_first and torn down after
    # test_last: its teardown's output, logs and warnings are test_last's.
    pytester.makepyfile(
        """
        import asyncio
        import logging
        import warnings
        import pytest

        @pytest.fixture(scope="module")
        async def resource():
            yield
            await asyncio.sleep(0)
            print("teardown output")
            logging.getLogger("resource").warning("teardown record")
            warnings.warn("teardown warning")

        async def test_first(resource):
            await asyncio.sleep(0.05)

        async def test_last(resource):
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
    # The batch stops, saying why. Without the gather, test_slower fails,
    # cancelled by another test; with it, each test's teardown awaits the
    # others and the batch: they are cut short (not failures) and named.
    assert result.ret != pytest.ExitCode.OK
    result.stdout.fnmatch_lines_random(
        [
            *(["*stopped waiting for 2 cooperative test(s)*"] if gather else []),
            *([] if gather else ["*test_quick PASSED*", "*test_slower FAILED*"]),
            "*Interrupted: a cooperative test cancelled the task alt_coop runs the batch on "
            "(cancelling every task but its own?); the tests it cancelled failed, the others "
            "running were cut short. Cancel only your own tasks, or mark that test "
            "asyncio_sequential*",
        ]
    )
    if gather:
        result.assert_outcomes()
    else:
        result.assert_outcomes(passed=1, failed=1)
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


def test_system_exit_raised_into_the_loop_during_a_batch_interrupts_it(
    pytester, run_alt_subprocess
):
    # Raised out of the loop by a task, it names no test; in a sequential
    # run the test whose phase was running fails with it.
    pytester.makepyfile(
        """
        import asyncio
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

        async def test_other():
            await asyncio.sleep(0.5)
        """
    )
    result = run_alt_subprocess("-v", timeout=60)
    assert result.ret == pytest.ExitCode.INTERRUPTED, result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "*test_passes PASSED*",
            "*Interrupted: SystemExit(5) was raised into the event loop by a task or callback "
            "during a cooperative batch; the tests running were cut short*",
        ]
    )
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()


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


# -- fixtures -------------------------------------------------------------------


def test_function_scoped_async_fixtures_are_per_test(pytester, run_alt):
    events_conftest(pytester)
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        from conftest import log, meet

        pytestmark = pytest.mark.asyncio_cooperative
        ALL = asyncio.Barrier(3)

        @pytest.fixture
        async def token(request):
            value = {"owner": request.node.name}
            log("setup", request.node.name, id(value))
            await asyncio.sleep(0.01)
            yield value
            await asyncio.sleep(0.01)
            assert value == {"owner": request.node.name, "seen": request.node.name}
            log("teardown", request.node.name, id(value))

        @pytest.fixture
        async def plain(token):
            await asyncio.sleep(0)
            return token

        @pytest.mark.parametrize("n", range(3))
        async def test_own(token, plain, request, n):
            assert plain is token
            assert token == {"owner": request.node.name}
            await meet(ALL)
            token["seen"] = request.node.name
            await asyncio.sleep(0.01)
            assert token == {"owner": request.node.name, "seen": request.node.name}
        """
    )
    result = run_alt("-v")
    result.assert_outcomes(passed=3)
    setups = [line.split()[1:] for line in read_events(pytester) if line.startswith("setup ")]
    teardowns = [line.split()[1:] for line in read_events(pytester) if line.startswith("teardown")]
    assert sorted(name for name, _ in setups) == ["test_own[0]", "test_own[1]", "test_own[2]"]
    assert sorted(setups) == sorted(teardowns)
    assert len({value for _, value in setups}) == 3


def test_module_fixture_set_up_once_and_torn_down_after_the_last_test(pytester, run_alt):
    events_conftest(pytester)
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        from conftest import log, span

        pytestmark = pytest.mark.asyncio_cooperative

        @pytest.fixture(scope="module")
        async def shared():
            log("setup shared")
            await asyncio.sleep(0.1)  # the other tests ask for it meanwhile
            value = object()
            yield value
            await asyncio.sleep(0.01)
            log("teardown shared")

        @pytest.mark.parametrize("n", range(5))
        async def test_uses(shared, n):
            async with span(f"test{n}"):
                log("value", id(shared))
                await asyncio.sleep(0.02 * (5 - n))

        def test_after_the_module():
            pass
        """
    )
    result = run_alt("-v")
    result.assert_outcomes(passed=6)
    events = read_events(pytester)
    assert events.count("setup shared") == 1
    assert events.count("teardown shared") == 1
    assert len({line for line in events if line.startswith("value ")}) == 1
    spans = read_spans(pytester)
    assert peak(spans) == 5
    assert events.index("setup shared") < min(
        events.index(f"start test{n} {spans[f'test{n}'][0]}") for n in range(5)
    )
    # Torn down once, after the last of the tests (not after the first to finish).
    last_end = max(events.index(f"end test{n} {spans[f'test{n}'][1]}") for n in range(5))
    assert events.index("teardown shared") > last_end


def test_indirect_params_with_the_same_index_but_other_values_do_not_overlap(pytester, run_alt):
    # Two parametrize calls each put their value at index 0: the values differ,
    # so pytest sets the module fixture up anew for the second, and the first
    # test must not see its instance torn down or replaced under it.
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        @pytest.fixture(scope="module")
        async def res(request):
            state = {"value": request.param, "open": True}
            yield state
            state["open"] = False

        @pytest.mark.parametrize("res", [10], indirect=True)
        async def test_x(res):
            await asyncio.sleep(0.2)
            assert res == {"value": 10, "open": True}

        @pytest.mark.parametrize("res", [30], indirect=True)
        async def test_y(res):
            assert res == {"value": 30, "open": True}

        @pytest.mark.parametrize("direct", [1], scope="module")
        async def test_direct_x(direct):
            await asyncio.sleep(0.2)
            assert direct == 1

        @pytest.mark.parametrize("direct", [2], scope="module")
        async def test_direct_y(direct):
            assert direct == 2
        """
    )
    run_alt().assert_outcomes(passed=4)


@pytest.mark.parametrize("scope", ["session", "module", "class"])
def test_a_test_without_the_param_does_not_overlap_one_with_it(pytester, run_alt, scope):
    # test_b parametrizes the wider fixture, test_a and test_c use it plain:
    # three instances one after the other, as in a sequential run, and none
    # torn down under a test still using it.
    events_conftest(
        pytester,
        f"""
        import pytest

        @pytest.fixture(scope="{scope}")
        def shared(request):
            state = {{"param": getattr(request, "param", "-"), "open": True}}
            log("setup", state["param"])
            yield state
            state["open"] = False
            log("teardown", state["param"])
        """,
    )
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        class TestIt:
            async def test_a(self, shared):
                await asyncio.sleep(0.05)
                assert shared == {"param": "-", "open": True}

            @pytest.mark.parametrize("shared", [10], indirect=True)
            async def test_b(self, shared):
                await asyncio.sleep(0.01)
                assert shared == {"param": 10, "open": True}

            async def test_c(self, shared):
                assert shared == {"param": "-", "open": True}
        """
    )
    run_alt().assert_outcomes(passed=3)
    assert read_events(pytester) == [
        "setup -",
        "teardown -",
        "setup 10",
        "teardown 10",
        "setup -",
        "teardown -",
    ]


def test_a_param_narrower_than_its_fixture_keeps_its_nodes_apart(pytester, run_alt):
    # A class-scoped param of a module fixture: pytest sets the fixture's one
    # instance up anew for each class and finishes it with the class, so the
    # classes run one after the other even with the same param value.
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        @pytest.fixture(scope="module")
        def res(request):
            state = {"param": request.param, "open": True}
            yield state
            state["open"] = False

        @pytest.mark.parametrize("res", ["p"], indirect=True, scope="class")
        class TestA:
            async def test_a(self, res):
                await asyncio.sleep(0.01)
                assert res == {"param": "p", "open": True}

        @pytest.mark.parametrize("res", ["p"], indirect=True, scope="class")
        class TestB:
            async def test_b(self, res):
                await asyncio.sleep(0.2)
                assert res == {"param": "p", "open": True}
        """
    )
    run_alt().assert_outcomes(passed=2)


@pytest.mark.parametrize("scope", ["module", "class"])
def test_a_function_override_of_a_parametrized_wider_fixture_is_shared_as_in_pytest(
    pytester, run_alt, scope
):
    # The param's scope is the parent's, so pytest caches the override for
    # as long as the param stays the same: set up once per param, here too,
    # by one test while the other waits.
    events_conftest(
        pytester,
        f"""
        import pytest

        @pytest.fixture(scope="{scope}", params=["a", "b"])
        def parent(request):
            return request.param
        """,
    )
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        from conftest import log

        pytestmark = pytest.mark.asyncio_cooperative

        @pytest.fixture
        async def parent(parent):
            log("override", parent)
            await asyncio.sleep(0.01)
            return parent

        class TestIt:
            async def test_a(self, parent):
                pass

            async def test_b(self, parent):
                pass
        """
    )
    run_alt().assert_outcomes(passed=4)
    assert read_events(pytester) == ["override a", "override b"]


def test_parametrized_module_fixture_each_param_once_and_never_overlapping(pytester, run_alt):
    events_conftest(pytester)
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        from conftest import log, span

        pytestmark = pytest.mark.asyncio_cooperative

        @pytest.fixture(scope="module", params=[1, 2])
        async def conn(request):
            log("setup", request.param)
            await asyncio.sleep(0.02)
            yield request.param
            await asyncio.sleep(0.02)
            log("teardown", request.param)

        async def test_a(conn):
            async with span(f"a{conn}"):
                log("use", conn)
                await asyncio.sleep(0.05)

        async def test_b(conn):
            async with span(f"b{conn}"):
                log("use", conn)
                await asyncio.sleep(0.05)

        async def test_c(conn):
            async with span(f"c{conn}"):
                log("use", conn)
                await asyncio.sleep(0.05)
        """
    )
    result = run_alt("-v")
    result.assert_outcomes(passed=6)
    # "start a1 <time>" -> "start a1"; "setup 1", "use 1", "teardown 1" as they are.
    tokens = [" ".join(line.split()[:2]) for line in read_events(pytester)]

    def param_run(param: int) -> list[str]:
        tests = [f"{name}{param}" for name in "abc"]
        return sorted(
            [f"setup {param}", f"teardown {param}"]
            + [f"use {param}"] * 3
            + [f"{kind} {test}" for test in tests for kind in ("start", "end")]
        )

    split = tokens.index("teardown 1") + 1
    first, second = tokens[:split], tokens[split:]
    # Param 1: set up once, all its tests inside, torn down once after the last
    # of them; only then anything of param 2, likewise.
    assert first[0] == "setup 1" and first[-1] == "teardown 1", tokens
    assert sorted(first) == param_run(1), tokens
    assert second[0] == "setup 2" and second[-1] == "teardown 2", tokens
    assert sorted(second) == param_run(2), tokens
    spans = read_spans(pytester)
    assert overlap(spans["a1"], spans["b1"]) and overlap(spans["b2"], spans["c2"])


def test_class_scoped_fixture_of_tests_outside_a_class_is_per_test(pytester, run_alt):
    """pytest sets a class-scoped fixture up anew for each test that is not in a
    class (the test itself is its scope): concurrent tests must not share it."""
    events_conftest(pytester)
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        from conftest import log, meet

        pytestmark = pytest.mark.asyncio_cooperative
        ALL = asyncio.Barrier(3)

        @pytest.fixture(scope="class")
        async def per_class(request):
            value = {"owner": request.node.name, "alive": True}
            log("setup", request.node.name)
            yield value
            value["alive"] = False
            log("teardown", request.node.name)

        @pytest.mark.parametrize("n", range(3))
        async def test_outside_a_class(per_class, request, n):
            await meet(ALL)
            await asyncio.sleep(0.02 * n)
            assert per_class == {"owner": request.node.name, "alive": True}
        """
    )
    result = run_alt("-v")
    result.assert_outcomes(passed=3)
    events = read_events(pytester)
    names = [f"test_outside_a_class[{n}]" for n in range(3)]
    assert sorted(line for line in events if line.startswith("setup ")) == [
        f"setup {name}" for name in names
    ]
    assert sorted(line for line in events if line.startswith("teardown ")) == [
        f"teardown {name}" for name in names
    ]


def test_failing_fixture_is_an_error_at_setup_and_earlier_fixtures_are_torn_down(
    pytester, run_alt
):
    events_conftest(pytester)
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        from conftest import log, meet

        pytestmark = pytest.mark.asyncio_cooperative
        ALL = asyncio.Barrier(3)

        @pytest.fixture
        async def first(request):
            log("setup first", request.node.name)
            await asyncio.sleep(0.01)
            yield
            await asyncio.sleep(0.01)
            log("teardown first", request.node.name)

        @pytest.fixture
        async def broken(first):
            await meet(ALL)
            raise RuntimeError("the broken fixture failed")

        async def test_broken(first, broken):
            log("body test_broken")

        async def test_fine_1(first):
            await meet(ALL)
            log("body test_fine_1")

        async def test_fine_2(first):
            await meet(ALL)
            log("body test_fine_2")
        """
    )
    result = run_alt("-v")
    result.assert_outcomes(passed=2, errors=1)
    assert verbose_lines(result.stdout.str()) == {
        "test_broken": ["ERROR"],
        "test_fine_1": ["PASSED"],
        "test_fine_2": ["PASSED"],
    }
    result.stdout.fnmatch_lines(["*ERROR at setup of test_broken*", "E*the broken fixture failed"])
    events = read_events(pytester)
    assert "body test_broken" not in events
    assert {"body test_fine_1", "body test_fine_2"} <= set(events)
    for name in ("test_broken", "test_fine_1", "test_fine_2"):
        assert events.count(f"setup first {name}") == 1
        assert events.count(f"teardown first {name}") == 1


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


# -- mutual exclusion -----------------------------------------------------------------

LOCKED_SUITE = """
import asyncio
import alt_coop
import pytest
from conftest import log, span

pytestmark = pytest.mark.asyncio_cooperative
DB = alt_coop.Lock()


@pytest.fixture
async def locked(request):
    async with DB():
        name = request.node.name
        log("start", f"locked-{{name}}", __import__("time").monotonic())
        await asyncio.sleep(0.01)
        yield
        await asyncio.sleep(0.01)
        log("end", f"locked-{{name}}", __import__("time").monotonic())


@pytest.fixture
async def after_lock(locked, request):
    async with span(f"after-setup-{{request.node.name}}"):
        await asyncio.sleep(0.02)
    yield
    async with span(f"after-teardown-{{request.node.name}}"):
        await asyncio.sleep(0.02)


@pytest.mark.parametrize("n", range({locked}))
async def test_locked(after_lock, n):
    async with span(f"body-test_locked[{{n}}]"):
        await asyncio.sleep(0.03)


@pytest.mark.parametrize("n", range(2))
async def test_free(n):
    async with span(f"free-{{n}}"):
        await asyncio.sleep(0.1)
"""


def test_waiting_for_a_lock_handed_over_to_another_test_pauses_the_clocks(pytester, run_alt):
    # test_a releases the lock to test_b, which has not taken it yet when
    # test_a asks again: test_a waits, out of its timeout, like any wait.
    pytester.makepyfile(
        """
        import asyncio
        import alt_coop
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative
        LOCK = alt_coop.Lock()

        @pytest.fixture
        def default_async_timeout():
            return 1.0

        async def test_a():
            async with LOCK():
                await asyncio.sleep(0.3)
            async with LOCK():
                await asyncio.sleep(0.1)

        async def test_b(async_timeout):
            async_timeout.set_timeout_seconds(10)
            await asyncio.sleep(0.1)
            async with LOCK():
                await asyncio.sleep(1.5)
        """
    )
    run_alt().assert_outcomes(passed=2)


def test_a_lock_released_by_a_teardown_in_another_context_can_be_taken_again(pytester, run_alt):
    # A sequential test sets the module fixture up with a param, holding the
    # lock; the cooperative test's other param tears it down (where it was
    # set up) and sets it up again, taking the lock again: no false
    # "already held" error.
    pytester.makepyfile(
        """
        import alt_coop
        import pytest

        LOCK = alt_coop.Lock()

        @pytest.fixture(scope="module")
        async def res(request):
            async with LOCK():
                yield getattr(request, "param", None)

        @pytest.mark.parametrize("res", [1], indirect=True)
        def test_sequential(res):
            assert res == 1

        @pytest.mark.asyncio_cooperative
        async def test_cooperative(res):
            assert res is None
        """
    )
    run_alt().assert_outcomes(passed=2)


def test_a_lock_a_sequential_tests_class_fixture_holds_is_waited_for_by_other_tests(
    pytester, run_alt
):
    # The class fixture took the lock in the sequential test's context, which
    # the batch's tests copied: test_other waits for it, it does not hold it.
    pytester.makepyfile(
        """
        import asyncio
        import alt_coop
        import pytest

        LOCK = alt_coop.Lock()

        @pytest.fixture(scope="class")
        async def holds():
            async with LOCK():
                yield

        class TestA:
            def test_sequential(self, holds):
                pass

            @pytest.mark.asyncio_cooperative
            async def test_cooperative(self, holds):
                await asyncio.sleep(0.05)

        @pytest.fixture
        async def takes():
            async with LOCK():
                yield

        @pytest.mark.asyncio_cooperative
        async def test_other(takes):
            pass
        """
    )
    run_alt().assert_outcomes(passed=3)


def test_waiting_for_a_lock_a_sequential_tests_module_fixture_holds_is_an_error(pytester, run_alt):
    # The module fixture releases it after every test of the module, this one
    # included: waiting could never end.
    pytester.makepyfile(
        """
        import alt_coop
        import pytest

        LOCK = alt_coop.Lock()

        @pytest.fixture(scope="module")
        async def holds():
            async with LOCK():
                yield

        def test_sequential(holds):
            pass

        @pytest.mark.asyncio_cooperative
        async def test_takes_it():
            async with LOCK():
                pass
        """
    )
    result = run_alt()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*held by the module fixture 'holds'*"])


def test_lock_in_fixture_covers_later_fixtures_and_the_test(pytester, run_alt):
    events_conftest(pytester)
    pytester.makepyfile(LOCKED_SUITE.format(locked=4))
    result = run_alt("-v")
    result.assert_outcomes(passed=6)
    spans = read_spans(pytester)
    names = [f"test_locked[{n}]" for n in range(4)]
    for name in names:
        region = spans[f"locked-{name}"]
        for part in ("after-setup", "body", "after-teardown"):
            inner = spans[f"{part}-{name}"]
            assert region[0] <= inner[0] and inner[1] <= region[1], (name, part, spans)
    for a, b in combinations(names, 2):
        assert not overlap(spans[f"locked-{a}"], spans[f"locked-{b}"]), (a, b, spans)
    # The tests not taking the lock did run alongside the locked ones.
    assert overlap(spans["free-0"], spans["free-1"])
    assert any(overlap(spans["free-0"], spans[f"locked-{name}"]) for name in names)


@pytest.mark.parametrize("cooperative", [True, False], ids=["cooperative", "sequential"])
def test_taking_a_held_lock_again_is_an_error_not_a_hang(pytester, run_alt, cooperative):
    pytester.makepyfile(
        f"""
        import alt_coop
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative if {cooperative} else []
        lock = alt_coop.Lock()

        @pytest.fixture
        async def locked():
            async with lock():
                yield

        async def test_again(locked):
            async with lock():
                pass

        async def test_after_release():
            async with lock():
                async with alt_coop.Lock()():  # another lock is fine
                    pass
        """
    )
    result = run_alt("-v")
    assert verbose_lines(result.stdout.str()) == {
        "test_again": ["FAILED"],
        "test_after_release": ["PASSED"],
    }, result.stdout.str()
    result.stdout.fnmatch_lines(["*already held by this test or one of its fixtures*"])


@pytest.mark.parametrize("cooperative", [True, False], ids=["cooperative", "sequential"])
def test_a_lock_a_test_never_released_is_released_at_its_end_with_an_error(
    pytester, run_alt_subprocess, cooperative
):
    # Waiting pauses the clocks, so no timeout would end a wait for it. In a
    # cooperative run test_waits is already waiting when test_leaks ends.
    pytester.makepyfile(
        f"""
        import asyncio
        import alt_coop
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative if {cooperative} else []
        lock = alt_coop.Lock()

        async def test_leaks():
            await lock().acquire()
            await asyncio.sleep(0.2)

        async def test_waits():
            await asyncio.sleep(0.05)
            async with lock():
                pass

        async def test_comes_later():
            await asyncio.sleep(0.5)
            async with lock():
                pass
        """
    )
    result = run_alt_subprocess("-v", "--asyncio-task-timeout=5", timeout=60)
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_leaks*",
            "*::test_leaks ended still holding 1 alt_coop.Lock(s) it took and never released "
            "(an acquire() without a release()); alt_coop released them for the tests "
            "waiting. Take a lock with `async with lock():`",
            "*= short test summary info =*",
        ]
    )
    assert "alt_coop/" not in result.stdout.str()


@pytest.mark.parametrize("cooperative", [True, False], ids=["cooperative", "sequential"])
def test_a_session_run_by_a_test_leaves_that_tests_lock_alone(pytester, run_alt, cooperative):
    # The inner session's tests run in the outer test's lane and context.
    pytester.makepyfile(
        f"""
        import alt_coop
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative if {cooperative} else []
        db = alt_coop.Lock()

        @pytest.fixture
        async def exclusive_db():
            async with db():
                yield

        async def test_outer(pytester, exclusive_db):
            pytester.makepyfile("def test_inner():\\n    pass\\n")
            inner = pytester.runpytest_inprocess(
                "-p", "alt_coop.enable", "-p", "no:asyncio", "-p", "no:anyio",
                "-p", "no:cacheprovider",
            )
            inner.assert_outcomes(passed=1)
            assert db().locked()
        """
    )
    run_alt("-p", "pytester").assert_outcomes(passed=1)


def test_a_lock_a_task_holds_past_its_tests_end_is_waited_for(pytester, run_alt):
    pytester.makepyfile(
        """
        import asyncio
        import alt_coop
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative
        lock = alt_coop.Lock()
        background = []

        async def hold_briefly():
            async with lock():
                await asyncio.sleep(0.3)

        async def test_leaves_a_task_holding_it():
            background.append(asyncio.create_task(hold_briefly()))
            await asyncio.sleep(0.01)

        async def test_waits():
            await asyncio.sleep(0.1)
            async with lock():
                pass
        """
    )
    run_alt("--default-async-timeout=2").assert_outcomes(passed=2)


@pytest.mark.skipif(sys.version_info < (3, 12), reason="asyncio.eager_task_factory is 3.12+")
@pytest.mark.parametrize("cooperative", [True, False], ids=["cooperative", "sequential"])
def test_a_task_started_eagerly_holds_a_lock_for_itself(pytester, run_alt, cooperative):
    # Its first step runs inside the test's lane: the lock is still the task's.
    pytester.makepyfile(
        f"""
        import asyncio
        import alt_coop
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative if {cooperative} else []
        lock = alt_coop.Lock()

        @pytest.fixture
        def eager():
            loop = asyncio.get_running_loop() if {cooperative} else asyncio.get_event_loop()
            old = loop.get_task_factory()
            loop.set_task_factory(asyncio.eager_task_factory)
            yield
            loop.set_task_factory(old)

        async def worker():
            async with lock():
                await asyncio.sleep(0.05)

        async def test_waits_for_its_task(eager):
            task = asyncio.create_task(worker())
            async with lock():
                pass
            await task
        """
    )
    run_alt().assert_outcomes(passed=1)


@pytest.mark.parametrize("cooperative", [True, False], ids=["cooperative", "sequential"])
def test_a_task_a_test_started_waits_for_its_lock_like_any_task(pytester, run_alt, cooperative):
    pytester.makepyfile(
        f"""
        import asyncio
        import alt_coop
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative if {cooperative} else []
        lock = alt_coop.Lock()

        async def worker(order):
            async with lock():
                order.append("worker")

        async def test_started_while_held():
            order = []
            async with lock():
                task = asyncio.create_task(worker(order))
                await asyncio.sleep(0.05)
                order.append("test")
            await task
            assert order == ["test", "worker"]
        """
    )
    run_alt().assert_outcomes(passed=1)


def test_tests_waiting_on_each_others_locks_fail_rather_than_hang(pytester, run_alt):
    pytester.makepyfile(
        """
        import asyncio
        import alt_coop
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative
        a, b = alt_coop.Lock(), alt_coop.Lock()

        async def test_ab():
            async with a():
                await asyncio.sleep(0.1)
                async with b():
                    pass

        async def test_ba():
            async with b():
                await asyncio.sleep(0.1)
                async with a():
                    pass
        """
    )
    result = run_alt("-v", "--asyncio-task-timeout=10")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "E * waiting for this alt_coop.Lock would never end: these tests each wait for a "
            "lock the next one holds: *::test_b? -> *::test_a? -> *::test_b?. "
            "Take locks in one order everywhere"
        ]
    )
    assert result.duration < 5


def test_waiting_for_a_lock_a_task_of_the_test_holds_is_no_deadlock(pytester, run_alt):
    pytester.makepyfile(
        """
        import asyncio
        import alt_coop
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative
        lock = alt_coop.Lock()

        async def hold_a_while():
            async with lock():
                await asyncio.sleep(0.1)

        async def test_waits_for_its_own_task():
            task = asyncio.create_task(hold_a_while())
            await asyncio.sleep(0)
            async with lock():
                pass
            await task
        """
    )
    run_alt().assert_outcomes(passed=1)


def test_after_an_interrupt_a_teardown_timeout_is_a_timeout(pytester, run_alt_subprocess):
    # The interrupt counts once: the timeout of a teardown that follows is
    # that teardown's failure, not a second interrupt.
    test_file = pytester.makepyfile(
        """
        import asyncio
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        @pytest.fixture
        async def slow_teardown():
            yield
            await asyncio.sleep(5)

        async def test_other(slow_teardown):
            await asyncio.sleep(0.1)

        async def test_stop():
            await asyncio.sleep(0.05)
            raise KeyboardInterrupt
        """
    )
    result = run_alt_subprocess("--default-async-timeout=0.5", timeout=30)
    assert result.ret == pytest.ExitCode.INTERRUPTED, result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "*fixture 'slow_teardown' timed out after 0.5s during teardown*",
            f"*{test_file.name}:16: KeyboardInterrupt",
        ]
    )


def test_a_tests_own_interrupt_gives_the_others_a_bounded_grace(pytester, run_alt_subprocess):
    # As after Ctrl-C: a test that swallows the interrupt's cancellation and
    # goes on waiting is given up on, whatever its timeout, not waited for.
    test_file = pytester.makepyfile(
        """
        import asyncio
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        async def test_stubborn():
            for _ in range(30):
                try:
                    await asyncio.sleep(4)
                except asyncio.CancelledError:
                    print("SWALLOWED", flush=True)

        async def test_stop():
            await asyncio.sleep(0.05)
            raise KeyboardInterrupt
        """
    )
    result = run_alt_subprocess("-s", "--default-async-timeout=1000", timeout=60)
    assert result.ret == pytest.ExitCode.INTERRUPTED, result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "SWALLOWED",
            f"{test_file.name}::test_stubborn",  # in the warnings summary, as its warning
            f"  *{test_file.name}:6: AltCoopWarning: alt_coop stopped waiting for 1 cooperative "
            "test(s) after the interrupt, and interrupted them where they waited: *test_stubborn",
            f"*{test_file.name}:15: KeyboardInterrupt",
        ]
    )


@pytest.mark.parametrize("cooperative", [True, False], ids=["cooperative", "sequential"])
def test_a_lock_held_by_a_wider_fixture_the_test_uses_is_an_error(pytester, run_alt, cooperative):
    pytester.makepyfile(
        f"""
        import asyncio
        import alt_coop
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative if {cooperative} else []
        db = alt_coop.Lock()

        @pytest.fixture(scope="module")
        async def holds_db():
            async with db():
                yield

        async def test_one(holds_db):
            await asyncio.sleep(0.1)

        async def test_two(holds_db):
            async with db():
                pass

        async def test_three():  # in its module: torn down after this test too
            await asyncio.sleep(0.05)
            async with db():
                pass
        """
    )
    result = run_alt("-v", "--asyncio-task-timeout=10")
    assert verbose_lines(result.stdout.str()) == {
        "test_one": ["PASSED"],
        "test_two": ["FAILED"],
        "test_three": ["FAILED"],
    }, result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "E * RuntimeError: this alt_coop.Lock is*held by the module fixture 'holds_db'*",
            "test_*.py:17: RuntimeError",
        ]
    )
    assert result.duration < 5


@pytest.mark.parametrize("where", ["fixture", "test", "getfixturevalue"])
def test_waiting_for_the_lock_does_not_count_against_timeouts(pytester, run_alt, where):
    events_conftest(pytester)
    pytester.makepyfile(
        f"""
        import asyncio
        import alt_coop
        import pytest
        from conftest import span

        pytestmark = pytest.mark.asyncio_cooperative
        DB = alt_coop.Lock()
        WHERE = {where!r}

        @pytest.fixture
        async def hold(request):
            if WHERE == "fixture":
                async with DB():
                    async with span(request.node.name):
                        await asyncio.sleep(0.15)
                    yield
            else:
                yield

        @pytest.fixture
        async def held_later(request):
            async with DB():
                async with span(request.node.name):
                    await asyncio.sleep(0.15)
                yield

        @pytest.mark.parametrize("n", range(5))
        async def test_holds(hold, request, n):
            if WHERE == "test":
                async with DB():
                    async with span(request.node.name):
                        await asyncio.sleep(0.15)
            elif WHERE == "getfixturevalue":
                await asyncio.sleep(0)  # the test's own clock is running
                request.getfixturevalue("held_later")  # waits for the lock in there
        """
    )
    result = run_alt("-v", "--default-async-timeout=0.3")
    result.assert_outcomes(passed=5)
    spans = read_spans(pytester)
    assert len(spans) == 5
    assert peak(spans) == 1
    # The last one waited far longer than its timeout before it got the lock.
    assert (
        max(start for start, _ in spans.values()) - min(start for start, _ in spans.values()) > 0.3
    )


@pytest.mark.parametrize("waits_for", ["lock", "resource"])
def test_waiting_for_a_lock_or_resource_does_not_count_against_the_task_timeout(
    pytester, run_alt, waits_for
):
    """README: "Waiting for a lock, a resource or a slot does not count against a
    test's timeouts: its clocks start when it starts." Each test here takes 0.1s
    of its own, well inside --asyncio-task-timeout=0.3, but the last ones wait
    0.3s or more for the others."""
    events_conftest(pytester)
    pytester.makepyfile(
        f"""
        import asyncio
        import alt_coop
        import pytest
        from conftest import span

        WAITS_FOR = {waits_for!r}
        pytestmark = [pytest.mark.asyncio_cooperative]
        if WAITS_FOR == "resource":
            pytestmark.append(pytest.mark.asyncio_resources("db"))
        DB = alt_coop.Lock()

        @pytest.fixture
        async def hold(request):
            if WAITS_FOR == "lock":
                async with DB():
                    async with span(request.node.name):
                        await asyncio.sleep(0.1)
                    yield
            else:
                async with span(request.node.name):
                    await asyncio.sleep(0.1)
                yield

        @pytest.mark.parametrize("n", range(5))
        async def test_holds(hold, n):
            pass
        """
    )
    result = run_alt("-v", "--asyncio-task-timeout=0.3")
    result.assert_outcomes(passed=5)
    spans = read_spans(pytester)
    assert len(spans) == 5 and peak(spans) == 1
    starts = sorted(start for start, _ in spans.values())
    assert starts[-1] - starts[0] >= 0.3  # the last one did wait that long


@pytest.mark.parametrize(
    ("mark", "expected"),
    [
        ('asyncio_resources(["db"])', "asyncio_resources(['db'])"),
        ('asyncio_resources(name="db")', "asyncio_resources(name='db')"),
        ("asyncio_resources()", "asyncio_resources()"),
        ('asyncio_exclusive("db")', "asyncio_exclusive('db')"),
        ("asyncio_cooperative(5)", "asyncio_cooperative(5)"),
        ("asyncio_sequential(reason='x')", "asyncio_sequential(reason='x')"),
    ],
)
@pytest.mark.parametrize("cooperative", [True, False])
def test_a_bad_alt_coop_mark_is_an_error_of_its_test(
    pytester, run_alt, mark, expected, cooperative
):
    # As pytest does with a skipif of a bad condition: that test errors, in
    # every mode, and no other test's result is lost (the one before it is
    # in the same batch).
    events_conftest(pytester)
    pytester.makepyfile(
        f"""
        import asyncio
        import pytest
        from conftest import log

        {"pytestmark = pytest.mark.asyncio_cooperative" if cooperative else ""}

        def test_sequential():
            log("ran test_sequential")

        async def test_fine():
            await asyncio.sleep(0.1)
            log("ran test_fine")

        @pytest.mark.{mark}
        async def test_bad():
            log("ran test_bad")
        """
    )
    result = run_alt()
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*ERROR at setup of test_bad*"])
    assert f"@pytest.mark.{expected}" in result.stdout.str(), result.stdout.str()
    assert sorted(read_events(pytester)) == ["ran test_fine", "ran test_sequential"]


def test_a_bad_alt_coop_mark_is_an_error_of_its_test_under_xdist(pytester):
    pytest.importorskip("xdist")
    pytester.makepyfile(
        """
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        async def test_fine():
            pass

        @pytest.mark.asyncio_resources()
        async def test_bad():
            pass
        """
    )
    result = pytester.runpytest_subprocess(
        *ISOLATE, "-p", "alt_coop.enable", "-p", "xdist", "-n", "2", timeout=120
    )
    result.assert_outcomes(passed=1, errors=1)
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    result.stdout.fnmatch_lines(["*give one or more resource names*"])


def test_tests_sharing_a_resource_never_overlap(pytester, run_alt):
    events_conftest(pytester)
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        from conftest import span

        pytestmark = pytest.mark.asyncio_cooperative

        @pytest.mark.asyncio_resources("db")
        async def test_1_db():
            async with span("1_db"):
                await asyncio.sleep(0.1)

        @pytest.mark.asyncio_resources("cache")
        async def test_2_cache():
            async with span("2_cache"):
                await asyncio.sleep(0.1)

        async def test_3_none():
            async with span("3_none"):
                await asyncio.sleep(0.1)

        @pytest.mark.asyncio_resources("db", "cache")
        async def test_4_both():
            async with span("4_both"):
                await asyncio.sleep(0.1)

        @pytest.mark.asyncio_resources("db")
        async def test_5_db():
            async with span("5_db"):
                await asyncio.sleep(0.1)

        @pytest.mark.asyncio_resources("other")
        async def test_6_other():
            async with span("6_other"):
                await asyncio.sleep(0.1)
        """
    )
    result = run_alt("-v")
    result.assert_outcomes(passed=6)
    spans = read_spans(pytester)
    resources = {
        "1_db": {"db"},
        "2_cache": {"cache"},
        "3_none": set(),
        "4_both": {"db", "cache"},
        "5_db": {"db"},
        "6_other": {"other"},
    }
    for a, b in combinations(resources, 2):
        if resources[a] & resources[b]:
            assert not overlap(spans[a], spans[b]), (a, b, spans)
    # Tests with different resources (or none) do run together.
    assert overlap(spans["1_db"], spans["2_cache"])
    assert overlap(spans["1_db"], spans["3_none"])
    assert overlap(spans["5_db"], spans["6_other"])


def test_exclusive_test_overlaps_with_no_other(pytester, run_alt):
    events_conftest(pytester)
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        from conftest import span

        pytestmark = pytest.mark.asyncio_cooperative

        @pytest.mark.parametrize("n", range(3))
        async def test_before(n):
            async with span(f"before{n}"):
                await asyncio.sleep(0.05 * (n + 1))

        @pytest.mark.asyncio_exclusive
        async def test_alone():
            async with span("alone"):
                await asyncio.sleep(0.1)

        @pytest.mark.parametrize("n", range(3))
        async def test_after(n):
            async with span(f"after{n}"):
                await asyncio.sleep(0.05)
        """
    )
    result = run_alt("-v")
    result.assert_outcomes(passed=7)
    spans = read_spans(pytester)
    for other in spans.keys() - {"alone"}:
        assert not overlap(spans["alone"], spans[other]), (other, spans)
    assert peak({k: v for k, v in spans.items() if k.startswith("before")}) == 3
    assert peak({k: v for k, v in spans.items() if k.startswith("after")}) == 3
    assert SUMMARY.search(result.stdout.str()).group(1, 2) == ("7", "3")


@pytest.mark.parametrize("how", ["option", "ini"])
def test_max_asyncio_tasks_caps_tests_in_flight(pytester, run_alt, how):
    events_conftest(pytester)
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        from conftest import span

        IN_FLIGHT = []
        MOST = []

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("n", range(8))
        async def test_counted(n):
            async with span(f"t{n}"):
                IN_FLIGHT.append(n)
                MOST.append(len(IN_FLIGHT))
                await asyncio.sleep(0.02 + 0.01 * (n % 3))
                IN_FLIGHT.remove(n)

        def test_check_after_the_batch():
            assert len(MOST) == 8
            assert max(MOST) == 3, MOST
        """
    )
    if how == "option":
        result = run_alt("-v", "--max-asyncio-tasks=3")
    else:
        pytester.makeini("[pytest]\nmax_asyncio_tasks = 3\n")
        result = run_alt("-v")
    result.assert_outcomes(passed=9)
    assert peak(read_spans(pytester)) == 3
    assert SUMMARY.search(result.stdout.str()).group(1, 2) == ("8", "3")


# -- timeouts ---------------------------------------------------------------------------


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
            "; it ignored the cancellation for 2s and was abandoned*"
        ]
    )


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


# -- sync tests in threads --------------------------------------------------------------


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
    # The body runs in a worker thread in a batch; pytest's own check of the
    # returned value still applies, as in a sequential run (a warning for a
    # value; for a coroutine, a failure from pytest 8.4, a skip before).
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
        assert result.stdout.str().count("async def functions are not natively supported") == 1
    assert outcomes["cooperative"] == outcomes["sequential"]
    assert outcomes["sequential"]["test_returns_a_value"] == ["PASSED"]
    assert outcomes["sequential"]["test_returns_a_coroutine"] in (["FAILED"], ["SKIPPED"])


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


# -- the end-of-run line ---------------------------------------------------------------


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


# -- other plugins ----------------------------------------------------------------------

COVERED_LOGIC = """
import asyncio


async def fetch(n, delay=0.01):
    await asyncio.sleep(delay)
    if n % 2:
        kind = "odd"
    else:
        kind = "even"
    await asyncio.sleep(0)
    return kind


async def gather(values):
    results = await asyncio.gather(*(fetch(v) for v in values))
    if not results:
        return None
    return results


def never_called():
    return "nobody calls me"


class Pool:
    def __init__(self):
        self.opened = 0

    async def open(self):
        await asyncio.sleep(0.01)
        self.opened += 1
        return self.opened

    async def close(self):
        await asyncio.sleep(0)
        if self.opened > 100:
            print("never printed")
        self.opened = 0
"""

COVERED_TESTS = """
import asyncio

import pytest

from covpkg import logic


@pytest.fixture(scope="module")
async def pool():
    pool = logic.Pool()
    await pool.open()
    yield pool
    await pool.close()


@pytest.fixture
async def opened(pool):
    value = await pool.open()
    await asyncio.sleep(0.01)
    yield value
    await asyncio.sleep(0)


async def test_fetch_odd():
    assert await logic.fetch(1, 0.05) == "odd"


async def test_fetch_even():
    assert await logic.fetch(2, 0.05) == "even"


async def test_gather(opened):
    assert await logic.gather([1, 2, 3]) == ["odd", "even", "odd"]
    await asyncio.sleep(0.02)


async def test_pool(pool, opened):
    assert opened >= 2
    await asyncio.sleep(0.02)
    assert pool.opened >= opened


def test_sync():
    assert logic.Pool().opened == 0
"""


@pytest.mark.parametrize("core", ["ctrace", "pytrace"])
def test_coverage_is_the_same_in_cooperative_and_sequential_runs(pytester, monkeypatch, core):
    pytest.importorskip("pytest_cov")
    monkeypatch.setenv("COVERAGE_CORE", core)
    pkg = pytester.mkpydir("covpkg")
    (pkg / "logic.py").write_text(COVERED_LOGIC.lstrip())
    checks = pytester.mkdir("checks")
    (checks / "test_logic.py").write_text(COVERED_TESTS.lstrip())

    def measure(report: str, *extra: str) -> tuple[dict, str]:
        result = pytester.runpytest_subprocess(
            *ISOLATE,
            "-p",
            "alt_coop.enable",
            "--cov=covpkg",
            "--cov=checks",
            "--cov-branch",
            f"--cov-report=json:{report}",
            *extra,
            "checks",
            timeout=120,
        )
        result.assert_outcomes(passed=5)
        with open(pytester.path / report) as f:
            return json.load(f)["files"], result.stdout.str()

    cooperative, output = measure("coop.json", "--asyncio-cooperative")
    sequential, plain_output = measure("seq.json")
    # The cooperative run really was concurrent, the other one was not.
    assert int(SUMMARY.search(output).group(2)) >= 2, output
    assert "alt_coop: " not in plain_output
    assert set(cooperative) == set(sequential)
    logic_file = os.path.join("covpkg", "logic.py")
    assert logic_file in cooperative
    for name in sorted(sequential):
        for key in ("executed_lines", "missing_lines", "executed_branches", "missing_branches"):
            assert sorted(cooperative[name][key]) == sorted(sequential[name][key]), (name, key)
    # Not vacuous: lines after suspensions are measured, unused ones are missing.
    lines = COVERED_LOGIC.lstrip().splitlines()
    executed = set(cooperative[logic_file]["executed_lines"])
    missing = set(cooperative[logic_file]["missing_lines"])
    assert lines.index("    return kind") + 1 in executed
    assert lines.index("        self.opened = 0") + 1 in executed
    assert lines.index('    return "nobody calls me"') + 1 in missing
    assert lines.index('            print("never printed")') + 1 in missing


@pytest.mark.parametrize("how", ["marker", "option"])
def test_xdist_workers_run_cooperative_tests_sequentially_with_a_notice(pytester, how):
    pytest.importorskip("xdist")
    events_conftest(pytester)
    module = """
        import asyncio
        import os
        import pytest
        from conftest import span

        pytestmark = pytest.mark.asyncio_cooperative if {marked} else []

        @pytest.fixture(scope="module")
        async def shared():
            await asyncio.sleep(0.01)
            yield "shared"
            await asyncio.sleep(0)

        @pytest.mark.parametrize("n", range(3))
        async def test_it(shared, request, n):
            async with span(f"{os.getpid()}-{request.node.nodeid}"):
                assert shared == "shared"
                await asyncio.sleep(0.05)
        """
    module = module.replace("{marked}", str(how == "marker"))
    option = ["--asyncio-cooperative"] if how == "option" else []
    pytester.makepyfile(test_one=module, test_two=module)
    result = pytester.runpytest_subprocess(
        *ISOLATE, "-p", "alt_coop.enable", "-p", "xdist", "-n", "2", *option, timeout=120
    )
    # One notice, not one per worker: every worker collects the same tests.
    result.assert_outcomes(passed=6, warnings=1)
    everything = result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in everything
    notice = "AltCoopWarning: alt_coop: cooperative tests run sequentially inside pytest-xdist"
    assert everything.count(notice) == 1, everything
    assert everything.count("test_one.py::test_it[0]\n") == 1, everything
    spans = read_spans(pytester)
    assert len(spans) == 6
    by_worker: dict[str, dict[str, tuple[float, float]]] = {}
    for name, interval in spans.items():
        by_worker.setdefault(name.split("-", 1)[0], {})[name] = interval
    for worker_spans in by_worker.values():
        assert peak(worker_spans) == 1, worker_spans


def test_rerunfailures_reruns_a_flaky_cooperative_test(pytester):
    pytest.importorskip("pytest_rerunfailures")
    events_conftest(pytester)
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        from conftest import log, span

        pytestmark = pytest.mark.asyncio_cooperative
        ATTEMPTS = []

        async def test_flaky():
            async with span(f"flaky-{len(ATTEMPTS)}"):
                ATTEMPTS.append(1)
                log("attempt", len(ATTEMPTS))
                await asyncio.sleep(0.05)
                assert len(ATTEMPTS) > 1, "fails the first time"

        @pytest.mark.parametrize("n", range(2))
        async def test_steady(n):
            async with span(f"steady-{n}"):
                await asyncio.sleep(0.05)
        """
    )
    result = pytester.runpytest_subprocess(
        *ISOLATE, "-p", "alt_coop.enable", "--reruns", "1", "-v", timeout=120
    )
    # The notice that they ran sequentially is the one warning.
    assert result.parseoutcomes() == {"passed": 3, "rerun": 1, "warnings": 1}
    result.stdout.fnmatch_lines(["*AltCoopWarning: alt_coop: pytest-rerunfailures re-runs*"])
    assert [line for line in read_events(pytester) if line.startswith("attempt")] == [
        "attempt 1",
        "attempt 2",
    ]
    result.stdout.fnmatch_lines(["*::test_flaky RERUN*", "*::test_flaky PASSED*"])
    # With re-runs on, these tests run one at a time.
    assert peak(read_spans(pytester)) == 1


@pytest.mark.parametrize("scope", ["module", "session"])
def test_a_rerun_keeps_the_wider_fixtures_of_its_test_up(pytester, scope):
    # The flaky test runs sequentially, re-run by pytest-rerunfailures, which
    # keeps the wider fixtures up across its attempts: set up once, torn down
    # once after the last test that uses them, as in a run without alt_coop's
    # batches.
    pytest.importorskip("pytest_rerunfailures")
    pytester.makeconftest(
        f"""
        import pytest

        EVENTS = []

        @pytest.fixture(scope="{scope}")
        async def resource():
            EVENTS.append("setup")
            yield
            EVENTS.append("teardown")

        def pytest_sessionfinish():
            print("\\nEVENTS AT THE END", EVENTS)
        """
    )
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        from conftest import EVENTS

        ATTEMPTS = []

        async def test_before(resource):
            await asyncio.sleep(0.01)

        @pytest.mark.flaky(reruns=2)
        async def test_flaky(resource):
            ATTEMPTS.append(1)
            assert EVENTS == ["setup"]
            assert len(ATTEMPTS) > 1, "fails the first time"

        async def test_after(resource):
            await asyncio.sleep(0.01)
            assert EVENTS == ["setup"]
        """
    )
    result = pytester.runpytest_subprocess(
        *ISOLATE, "-p", "alt_coop.enable", "--asyncio-cooperative", "-v", "-s", timeout=120
    )
    assert result.parseoutcomes() == {"passed": 3, "rerun": 1, "warnings": 1}
    result.stdout.fnmatch_lines(["EVENTS AT THE END ['setup', 'teardown']"])


def test_a_rerun_retries_a_wider_fixture_that_failed(pytester):
    # pytest-rerunfailures retries the fixtures that failed on a re-run; so
    # it does beside cooperative tests, which use alt_coop's instances.
    pytest.importorskip("pytest_rerunfailures")
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        SETUPS = []

        @pytest.fixture(scope="module")
        async def resource():
            SETUPS.append(1)
            if len(SETUPS) == 1:
                raise RuntimeError("the first setup fails")
            yield

        @pytest.mark.flaky(reruns=1)
        async def test_flaky(resource):
            pass

        @pytest.mark.asyncio_cooperative
        async def test_cooperative():
            await asyncio.sleep(0)
        """
    )
    result = pytester.runpytest_subprocess(*ISOLATE, "-p", "alt_coop.enable", timeout=120)
    assert result.parseoutcomes() == {"passed": 2, "rerun": 1}


def test_a_flaky_mark_without_rerunfailures_names_no_plugin_that_is_off(pytester, run_alt):
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        @pytest.mark.flaky
        async def test_flaky():
            await asyncio.sleep(0)
        """
    )
    result = run_alt("-p", "no:rerunfailures", "-W", "ignore::pytest.PytestUnknownMarkWarning")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "*tests marked flaky run sequentially: a plugin re-running them (flaky, "
            "pytest-retry, pytest-rerunfailures) wraps the whole test*"
        ]
    )
    assert "pytest-rerunfailures re-runs" not in result.stdout.str()


def test_no_sequential_notice_without_a_cooperative_test(pytester, run_alt):
    pytester.makeini("[pytest]\nasyncio_cooperative = true\nfaulthandler_timeout = 30\n")
    pytester.makepyfile("def test_sync():\n    pass\n")
    result = run_alt("-p", "no:randomly")
    result.assert_outcomes(passed=1)
    assert "warnings summary" not in result.stdout.str()


RERUNS_NOTICE = "pytest-rerunfailures re-runs wrap the whole test: those tests run sequentially"
TIMEOUT_NOTICE = "pytest-timeout's timeouts wrap the whole test: those tests run sequentially"
SESSION_TIMEOUT_NOTICE = (
    "pytest-timeout checks its session timeout between tests: cooperative tests run sequentially"
)


@pytest.mark.parametrize(
    ("args", "ini", "fixture", "notice"),
    [
        ((), "", "capsys", "tests using capsys run alone (process-wide state)"),
        (("--reruns", "1"), "", "request", RERUNS_NOTICE),
        ((), "reruns = 1", "request", RERUNS_NOTICE),
        (("--timeout", "30"), "", "request", TIMEOUT_NOTICE),
        ((), "timeout = 30", "request", TIMEOUT_NOTICE),
        ((), "env PYTEST_TIMEOUT=30", "request", TIMEOUT_NOTICE),
        (
            (),
            "faulthandler_timeout = 30",
            "request",
            "cooperative tests run sequentially with faulthandler_timeout set",
        ),
        (("--session-timeout", "60"), "", "request", SESSION_TIMEOUT_NOTICE),
        ((), "session_timeout = 60", "request", SESSION_TIMEOUT_NOTICE),
    ],
    ids=[
        "capsys",
        "reruns",
        "reruns-ini",
        "timeout",
        "timeout-ini",
        "timeout-env",
        "faulthandler-ini",
        "session-timeout",
        "session-timeout-ini",
    ],
)
def test_notice_when_cooperative_tests_run_sequentially(
    pytester, monkeypatch, args, ini, fixture, notice
):
    """The user is told (an AltCoopWarning) why marked tests did not run
    concurrently, however the plugin concerned was configured."""
    if "reruns" in " ".join([*args, ini]):
        pytest.importorskip("pytest_rerunfailures")
    if "-timeout" in " ".join(args) or ini.startswith(("timeout", "env", "session_timeout")):
        pytest.importorskip("pytest_timeout")
    if ini.startswith("env "):
        monkeypatch.setenv(*ini.removeprefix("env ").split("="))
    elif ini:
        pytester.makeini(f"[pytest]\n{ini}\n")
    pytester.makepyfile(
        f"""
        import asyncio
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        async def test_one({fixture}):
            await asyncio.sleep(0.01)

        async def test_two():
            await asyncio.sleep(0.01)
        """
    )
    result = pytester.runpytest_subprocess(*ISOLATE, "-p", "alt_coop.enable", *args, timeout=120)
    result.assert_outcomes(passed=2)
    everything = result.stdout.str() + result.stderr.str()
    assert f"AltCoopWarning: alt_coop: {notice}" in everything, everything
    # Shown at the test it concerns, not at a line of alt_coop's.
    result.stdout.fnmatch_lines(["*::test_one", "*test_*.py:6: AltCoopWarning: alt_coop: *"])


def test_cooperative_tests_in_a_session_started_by_alt_coop_main(pytester):
    """Cooperative batches also run when pytest itself runs on the app's loop."""
    pytester.makepyfile(
        test_suite="""
        import asyncio
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative
        TOGETHER = asyncio.Barrier(5)

        @pytest.fixture(scope="module")
        async def shared():
            print("MODULE SETUP")
            yield
            print("MODULE TEARDOWN")

        @pytest.mark.parametrize("i", range(5))
        async def test_together(shared, i):
            async with asyncio.timeout(5):
                await TOGETHER.wait()  # only passes if all five are in flight at once
        """
    )
    pytester.makepyfile(
        app="""
        import asyncio
        import alt_coop

        async def main():
            code = await alt_coop.main(
                ["-q", "-s", "-p", "no:asyncio", "-p", "no:cacheprovider", "test_suite.py"]
            )
            print("EXIT", int(code))

        asyncio.run(main())
        """
    )
    result = pytester.run(sys.executable, "app.py", timeout=60)
    output = result.stdout.str()
    assert "EXIT 0" in output, output
    assert output.count("MODULE SETUP") == 1
    assert output.count("MODULE TEARDOWN") == 1
    result.stdout.fnmatch_lines(["*5 passed*"])


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_old_style_hookwrappers_around_each_phase_see_their_own_test(pytester, run_alt, mode):
    # pluggy's hookwrapper=True wrappers (as Hypothesis's plugin has) around
    # the call and the report: each pairs with its own test, though the
    # tests' phases interleave.
    pytester.makeconftest(
        """
        import pytest

        SEEN = []

        @pytest.hookimpl(hookwrapper=True)
        def pytest_runtest_call(item):
            SEEN.append(("call starts", item.name))
            outcome = yield
            failed = outcome.excinfo is not None
            SEEN.append(("call ends", item.name, "failed" if failed else "passed"))

        @pytest.hookimpl(hookwrapper=True)
        def pytest_runtest_makereport(item, call):
            outcome = yield
            report = outcome.get_result()
            if report.when == "call":
                report.sections.append(("wrapped", f"{item.name} {report.outcome}"))

        def pytest_sessionfinish(session):
            starts = [entry[1] for entry in SEEN if entry[0] == "call starts"]
            ends = {entry[1]: entry[2] for entry in SEEN if entry[0] == "call ends"}
            print("STARTS", *sorted(starts))
            print("ENDS", *(f"{name}={how}" for name, how in sorted(ends.items())))
        """
    )
    pytester.makepyfile(
        """
        import asyncio

        async def test_a():
            await asyncio.sleep(0.05)

        async def test_b():
            await asyncio.sleep(0.02)
            assert False

        async def test_c():
            await asyncio.sleep(0.01)
        """
    )
    result = run_alt("-rA", "-s", *mode_args(mode))
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*STARTS test_a test_b test_c",
            "ENDS test_a=passed test_b=failed test_c=passed",
        ]
    )
    result.stdout.fnmatch_lines_random(
        [
            "*- wrapped -*",
            "test_a passed",
            "test_b failed",
            "test_c passed",
        ]
    )
    if mode == "cooperative":
        result.stdout.fnmatch_lines(["alt_coop: 3 cooperative tests, at most 3 at once*"])


def test_a_plugin_hooking_the_whole_protocol_keeps_its_effect(pytester):
    """Never a silent loss: such a plugin still wraps each test, which then runs alone."""
    pytester.makeconftest(
        """
        import pytest

        @pytest.hookimpl(wrapper=True)
        def pytest_runtest_protocol(item, nextitem):
            print(f"WRAPPED {item.name}")
            return (yield)
        """
    )
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        async def test_a():
            await asyncio.sleep(0.01)

        async def test_b():
            await asyncio.sleep(0.01)
        """
    )
    result = pytester.runpytest_subprocess(*ISOLATE, "-p", "alt_coop.enable", "-s")
    result.assert_outcomes(passed=2, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "*WRAPPED test_a*",
            "*WRAPPED test_b*",
            "*AltCoopWarning: alt_coop: *conftest.py hooks pytest_runtest_protocol*sequentially",
        ]
    )
    assert not SUMMARY.search(result.stdout.str()), result.stdout.str()


def test_doctests_and_plugin_items_run_beside_cooperative_tests(pytester):
    """Items that are not test functions run sequentially in a cooperative session."""
    pytester.makeconftest(
        """
        import pytest

        class DataItem(pytest.Item):
            def runtest(self):
                print("DATA ITEM RAN")

        class DataFile(pytest.File):
            def collect(self):
                yield DataItem.from_parent(self, name="data")

        def pytest_collect_file(parent, file_path):
            if file_path.suffix == ".data":
                return DataFile.from_parent(parent, path=file_path)
        """
    )
    pytester.makefile(".data", test_items="anything")
    pytester.makepyfile(
        helpers='''
        def double(x):
            """
            >>> double(2)
            4
            """
            return 2 * x
        ''',
        test_coop="""
        import asyncio
        import pytest

        @pytest.mark.asyncio_cooperative
        async def test_cooperative():
            await asyncio.sleep(0.01)
        """,
    )
    result = pytester.runpytest(*ISOLATE, "-p", "alt_coop.enable", "--doctest-modules", "-s")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        ["*DATA ITEM RAN*", "*alt_coop: 1 cooperative test, at most 1 at once*"]
    )


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_a_pytest_timeout_stops_the_async_test_it_fails(pytester, run_alt_subprocess, mode):
    # pytest-timeout raises from a signal handler, wherever Python is: in the
    # loop, while the test waits. The test must stop there and clean up,
    # not run on into the tests after it.
    pytest.importorskip("pytest_timeout")
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

        @pytest.mark.timeout(0.5)
        async def test_times_out(resource):
            try:
                while True:
                    await asyncio.sleep(0.05)
                    log("tick")
            finally:
                log("finally")

        async def test_after():
            log("after starts")
            await asyncio.sleep(0.3)
            log("after ends")
        """
    )
    result = run_alt_subprocess(*mode_args(mode), timeout=60)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*Timeout (>0.5s) from pytest-timeout*"])
    events = read_events(pytester)
    ticks_done = events.index("finally")
    assert events[ticks_done:] == ["finally", "teardown", "after starts", "after ends"], events


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_a_pytest_timeout_on_a_test_that_swallows_cancellation_does_not_hang(
    pytester, run_alt_subprocess, mode
):
    # The test is cancelled once and given the grace period; one that
    # swallows its cancellation must not hold the run for ever, nor run on
    # into the tests after it (its output, logs and errors theirs).
    pytest.importorskip("pytest_timeout")
    events_conftest(pytester)
    pytester.makepyfile(
        """
        import asyncio
        import logging
        import pytest
        from conftest import log

        @pytest.mark.timeout(0.5)
        async def test_stubborn():
            for _ in range(40):  # 4s, past the timeout's 0.5s and the 2s grace
                try:
                    await asyncio.sleep(0.1)
                except asyncio.CancelledError:
                    log("swallowed")
            log("ran on")
            logging.getLogger("stubborn").error("STUBBORN RECORD")
            raise RuntimeError("STUBBORN LATE ERROR")

        async def test_after():  # while the test would run on
            await asyncio.sleep(4)
        """
    )
    result = run_alt_subprocess(*mode_args(mode), "-rA", timeout=60)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*Timeout (>0.5s) from pytest-timeout*",
            "*alt_coop: the fixture or test did not end within 2s of being cancelled, "
            "and was abandoned*",
        ]
    )
    output = result.stdout.str()
    assert "STUBBORN" not in output
    assert "still pending at the end of the session" not in output  # told once, above
    assert read_events(pytester) == ["swallowed"]


def test_an_outcome_raised_inside_an_asyncio_callback_fails_the_test_not_hangs(
    pytester, run_alt_subprocess
):
    # As pytest-timeout's signal does when it lands in the task's own step
    # (in its call_soon of the next step, here made to raise): asyncio logs
    # the exception and the task is left with nothing to run it. The run
    # must not wait for it for ever.
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        async def test_orphaned():
            loop = asyncio.get_running_loop()
            call_soon = loop.call_soon

            def lands_here(*args, **kwargs):
                loop.call_soon = call_soon
                pytest.fail("as from a signal handler")

            loop.call_soon = lands_here
            await asyncio.sleep(0)  # the task's step calls loop.call_soon for its next
            pytest.fail("never resumed")

        async def test_after():
            await asyncio.sleep(0.01)
        """
    )
    result = run_alt_subprocess("-p", "no:randomly", timeout=60)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "E * Failed: as from a signal handler",
            "E * alt_coop: the fixture or test did not end within 2s of being cancelled, "
            "and was abandoned",
        ]
    )
    output = result.stdout.str()
    assert "never resumed" not in output
    assert "Exception in callback" not in output


def test_warnings_plugin_off_means_no_warnings_recorded_or_marks_applied(
    pytester, run_alt_subprocess
):
    pytester.makepyfile(
        """
        import asyncio
        import warnings
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        @pytest.mark.filterwarnings("error")
        async def test_marked():
            await asyncio.sleep(0)
            warnings.warn(UserWarning("no error under -p no:warnings"))

        async def test_warns():
            await asyncio.sleep(0)
            warnings.warn(UserWarning("not recorded"))
        """
    )
    result = run_alt_subprocess("-p", "no:warnings")
    result.assert_outcomes(passed=2)
    assert "warnings summary" not in result.stdout.str()


def test_an_item_listed_twice_runs_twice_one_after_the_other(pytester, run_alt):
    pytester.makeconftest(
        """
        def pytest_collection_modifyitems(items):
            items[:] = items + items
        """
    )
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.mark.asyncio_cooperative
        async def test_twice():
            await asyncio.sleep(0.01)
        """
    )
    result = run_alt("-rA")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*tests listed more than once run sequentially*"])


@pytest.mark.skipif(sys.version_info < (3, 12), reason="asyncio.eager_task_factory is 3.12+")
def test_cooperative_tests_run_under_an_eager_task_factory_a_test_set(
    pytester, run_alt_subprocess
):
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        def test_installs_an_eager_factory():
            asyncio.get_event_loop().set_task_factory(asyncio.eager_task_factory)

        @pytest.fixture
        async def resource():
            await asyncio.sleep(0.01)
            yield
            await asyncio.sleep(0.01)

        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("n", range(3))
        async def test_cooperative(resource, n):
            task = asyncio.create_task(asyncio.sleep(0, n))
            await asyncio.sleep(0.01)
            assert await task == n
        """
    )
    result = run_alt_subprocess(timeout=60)
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["alt_coop: 3 cooperative tests, at most 3 at once, *"])


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_a_teardown_sees_the_failures_so_far_as_in_a_sequential_run(pytester, run_alt, mode):
    # "Keep the database if anything failed": a cooperative test's reports
    # are logged after its teardown, and the failure it had was not counted.
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.fixture(scope="session")
        async def database(request):
            yield
            print("KEEPING" if request.session.testsfailed else "DROPPING")

        @pytest.fixture
        async def own(request):
            yield
            print(f"{request.node.name} sees {request.session.testsfailed} failed")

        async def test_ok(database):
            await asyncio.sleep(0.01)

        async def test_broken_last(database, own):  # the session's last teardown is its own
            await asyncio.sleep(0.2)
            assert False
        """
    )
    result = run_alt("-s", "-p", "no:randomly", *mode_args(mode))
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*test_broken_last sees 1 failed*", "*KEEPING*"])
    assert "DROPPING" not in result.stdout.str()


@pytest.mark.parametrize("maxfail", [1, 2])
def test_maxfail_counts_each_failure_once(pytester, run_alt, maxfail):
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        @pytest.mark.parametrize("n", range(4))
        async def test_fails(n):
            await asyncio.sleep(0.05 * n)
            assert False
        """
    )
    result = run_alt(f"--maxfail={maxfail}", "-p", "no:randomly")
    # The tests already running finish: pytest's message counts them all, once.
    failed = result.parseoutcomes()["failed"]
    assert failed >= maxfail
    result.stdout.fnmatch_lines([f"*stopping after {failed} failures*"])
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_what_pytest_refuses_during_teardown_is_refused_in_a_cooperative_run(pytester, run_alt):
    # pytest takes a node off its stack before running its finalizers: a
    # fixture asked for anew, or a finalizer added to it, then is an error.
    pytester.makepyfile(
        """
        import pytest

        @pytest.fixture
        async def late():
            yield

        @pytest.fixture
        async def asks_late(request):
            yield
            request.getfixturevalue("late")  # not asked for before

        async def test_asks_late_in_teardown(asks_late):
            pass

        async def test_adds_a_finalizer_in_a_finalizer(request):
            async def inner():
                pass

            async def outer():
                request.addfinalizer(inner)

            request.addfinalizer(outer)
        """
    )
    sequential = run_alt()
    cooperative = run_alt("--asyncio-cooperative")
    sequential.assert_outcomes(passed=2, errors=2)
    cooperative.assert_outcomes(passed=2, errors=2)
    cooperative.stdout.fnmatch_lines_random(
        [
            "*_ ERROR at teardown of test_asks_late_in_teardown _*",
            "*_ ERROR at teardown of test_adds_a_finalizer_in_a_finalizer _*",
            "E * AssertionError: (<Function test_adds_a_finalizer_in_a_finalizer>, *",
        ]
    )


def test_a_modules_next_run_waits_for_the_async_teardown_of_its_last(pytester, run_alt):
    # A session param splits test_a's module into three runs. test_y, of the
    # last, must not start while the second run's teardown awaits: it would
    # find the module set up, and use the fixture being torn down.
    events_conftest(
        pytester,
        """
        import pytest

        @pytest.fixture(scope="session", params=[1, 2])
        def sp(request):
            return request.param
        """,
    )
    pytester.makepyfile(
        test_a="""
        import asyncio
        import pytest
        from conftest import log

        @pytest.fixture(scope="module")
        async def res():
            log("res setup")
            state = {"open": True}
            yield state
            await asyncio.sleep(0.3)
            state["open"] = False
            log("res teardown")

        async def test_x(sp, res):
            assert res["open"]

        async def test_y(res):
            log("test_y body")
            await asyncio.sleep(0.5)
            assert res["open"], "the module fixture was torn down under this test"
        """,
        test_b="""
        import asyncio

        async def test_z(sp):
            await asyncio.sleep(0.1)
        """,
    )
    result = run_alt("--asyncio-cooperative")
    result.assert_outcomes(passed=5)
    events = read_events(pytester)
    assert events.count("res setup") == events.count("res teardown") == 3, events
    assert events.index("test_y body") > events.index("res teardown"), events


def test_an_item_listed_again_later_keeps_its_module_runs_apart(pytester, run_alt_subprocess):
    # a::test_1 is listed again after test_b: test_a's module fixture has two
    # runs, each set up and torn down once, and no test waits forever for one.
    pytester.makeconftest(
        """
        def pytest_collection_modifyitems(items):
            a1, a2, a3, b1 = items
            items[:] = [a1, a2, b1, a3, a1]
        """
    )
    pytester.makepyfile(
        test_a="""
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative
        EVENTS = []

        @pytest.fixture(scope="module")
        def seen():
            EVENTS.append("setup")
            yield []
            EVENTS.append("teardown")

        async def test_1(seen):
            seen.append(1)
            assert seen == [1]

        async def test_2(seen):
            seen.append(2)
            assert seen == [1, 2]

        async def test_3(seen):
            assert seen == []
            print("EVENTS BEFORE test_3", EVENTS)
        """,
        test_b="""
        import pytest

        @pytest.mark.asyncio_cooperative
        async def test_1():
            pass
        """,
    )
    result = run_alt_subprocess("-s", timeout=60)
    result.assert_outcomes(passed=5)  # the last a::test_1 shares test_3's instance
    assert "EVENTS BEFORE test_3 ['setup', 'teardown', 'setup']" in result.stdout.str()


def test_a_test_holding_the_loop_past_the_threshold_is_named(pytester, run_alt):
    pytester.makepyfile(
        """
        import asyncio
        import time
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        async def test_blocks():
            await asyncio.sleep(0)
            time.sleep(0.1)
            await asyncio.sleep(0)
            time.sleep(0.3)  # the longest stretch is the one named

        async def test_awaits():
            await asyncio.sleep(0.5)
        """
    )
    result = run_alt("--asyncio-block-threshold=0.2")
    result.assert_outcomes(passed=2, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "*= warnings summary =*",
            "*::test_blocks held the loop for *s at a stretch, delaying every other "
            "cooperative test; await, or run blocking work in a thread",
        ]
    )
    held = re.search(r"test_blocks held the loop for ([0-9.]+)s", result.stdout.str())
    assert held is not None and float(held.group(1)) >= 0.3, result.stdout.str()
    assert "test_awaits held the loop" not in result.stdout.str()


def test_a_test_under_the_threshold_is_not_named(pytester, run_alt):
    pytester.makepyfile(
        """
        import asyncio
        import time
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        async def test_blocks_briefly():
            await asyncio.sleep(0)
            time.sleep(0.1)
        """
    )
    result = run_alt("--asyncio-block-threshold=2")
    result.assert_outcomes(passed=1)
    assert "held the loop" not in result.stdout.str()


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_a_lock_a_function_fixture_never_released_is_released_with_an_error(
    pytester, run_alt, mode
):
    pytester.makepyfile(
        """
        import asyncio
        import alt_coop
        import pytest

        LOCK = alt_coop.Lock()

        @pytest.fixture
        async def takes_and_keeps():
            await LOCK().acquire()  # never released
            yield

        async def test_holder(takes_and_keeps):
            await asyncio.sleep(0)

        async def test_next():
            async with asyncio.timeout(10):  # not a hang, if it is never released
                async with LOCK():
                    pass
        """
    )
    result = run_alt(*mode_args(mode))
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_holder*",
            "*test_holder ended still holding 1 alt_coop.Lock(s) it took and never released*",
        ]
    )


@pytest.mark.parametrize(
    ("mark", "advice"),
    [
        (
            'asyncio_exclusive("db")',
            "takes no arguments; to share a named resource, "
            'use @pytest.mark.asyncio_resources("name")',
        ),
        (
            "asyncio_resources()",
            "give one or more resource names as strings, "
            'as in @pytest.mark.asyncio_resources("db", "cache")',
        ),
        ("asyncio_cooperative(5)", "@pytest.mark.asyncio_cooperative(5) takes no arguments"),
    ],
)
@pytest.mark.parametrize("cooperative", [True, False])
def test_a_bad_mark_says_what_to_write(pytester, run_alt, mark, advice, cooperative):
    pytester.makepyfile(
        f"""
        import pytest

        {"pytestmark = pytest.mark.asyncio_cooperative" if cooperative else ""}

        @pytest.mark.{mark}
        async def test_bad():
            pass

        @pytest.mark.skip(reason="not now")  # skipped whatever else is wrong with it
        @pytest.mark.{mark}
        async def test_skipped():
            pass

        @pytest.mark.xfail(reason="broken")  # not an expected failure: an error
        @pytest.mark.{mark}
        async def test_xfail():
            pass
        """
    )
    result = run_alt()
    result.assert_outcomes(errors=2, skipped=1)
    assert advice in result.stdout.str(), result.stdout.str()


# Stand-ins for pytest-mock's and pytest-benchmark's fixtures (alt_coop knows
# them by name); capsysbinary and capfdbinary are pytest's own.
RUN_ALONE_STAND_INS = {
    "mocker": "function",
    "class_mocker": "class",
    "module_mocker": "module",
    "package_mocker": "package",
    "session_mocker": "session",
    "benchmark_weave": "function",
}


@pytest.mark.parametrize("fixture", ["capsysbinary", "capfdbinary", *RUN_ALONE_STAND_INS], ids=str)
def test_every_process_wide_fixture_makes_its_test_run_alone(pytester, run_alt, fixture):
    stand_in = RUN_ALONE_STAND_INS.get(fixture)
    pytester.makeconftest(
        f"""
        import pytest

        @pytest.fixture(scope={stand_in!r})
        def {fixture}():
            return None
        """
        if stand_in
        else ""
    )
    pytester.makepyfile(
        f"""
        import asyncio
        import time
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative
        SPANS = {{}}

        async def test_a():
            SPANS["a"] = [time.monotonic()]
            await asyncio.sleep(0.2)
            SPANS["a"].append(time.monotonic())

        async def test_alone({fixture}):
            SPANS["alone"] = [time.monotonic()]
            await asyncio.sleep(0.2)
            SPANS["alone"].append(time.monotonic())

        async def test_b():
            SPANS["b"] = [time.monotonic()]
            await asyncio.sleep(0.2)
            SPANS["b"].append(time.monotonic())

        @pytest.mark.asyncio_sequential
        def test_check():
            alone = SPANS["alone"]
            for other in ("a", "b"):
                start, end = SPANS[other]
                assert not (alone[0] < end and start < alone[1]), (other, SPANS)
        """
    )
    result = run_alt()
    result.assert_outcomes(passed=4, warnings=1)
    assert f"tests using {fixture} run alone (process-wide state)" in result.stdout.str(), (
        result.stdout.str()
    )


@pytest.mark.skipif(
    PYTEST_VERSION < (8, 4),
    reason="pytest 8.3 drives its logging per phase with `yield from`, through alt_coop's "
    "per-test logging, whose frame then stands in the traceback (a known limit)",
)
def test_an_error_raised_by_pytests_own_phase_hooks_reads_as_in_a_sequential_run(
    pytester, run_alt
):
    # xfail(run=False) raises from pytest's setup hook: alt_coop's hooks of
    # the phase must not leave frames pytest then finds all hidden.
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.mark.xfail(run=False, reason="not run")
        async def test_not_run():
            raise AssertionError("never")

        async def test_other():
            await asyncio.sleep(0.01)
        """
    )

    def xfailures(*args: str) -> list[str]:
        lines = run_alt("--xfail-tb", "-rx", *args).outlines
        start = next(i for i, line in enumerate(lines) if "XFAILURES" in line)
        end = next(i for i, line in enumerate(lines) if "short test summary" in line)
        return [
            re.sub(r" at 0x[0-9a-f]+", "", line)  # pytest 8 shows its own frames' locals
            for line in lines[start:end]
            if not line.startswith("alt_coop:")
        ]

    sequential = xfailures()
    assert "[NOTRUN] not run" in "\n".join(sequential)
    assert xfailures("--asyncio-cooperative") == sequential


@pytest.mark.parametrize(
    "args",
    [
        ["-W", "ignore::alt_coop.errors.AltCoopWarning"],
        ["-o", "filterwarnings=ignore:alt_coop"],
        ["-p", "no:warnings"],
        ["-W", "ignore::alt_coop.errors.AltCoopWarning:test_notices_follow_the_warning_filters"],
    ],
    ids=["-W", "ini", "no-warnings-plugin", "by-module"],
)
def test_notices_follow_the_warning_filters(pytester, run_alt, args):
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        async def test_alone(capsys):
            print("hi")
            assert capsys.readouterr().out == "hi\\n"

        async def test_blocks():
            await asyncio.sleep(0)
            __import__("time").sleep(0.3)
        """
    )
    result = run_alt("--asyncio-block-threshold=0.1", *args)
    result.assert_outcomes(passed=2)
    assert "AltCoopWarning" not in result.stdout.str(), result.stdout.str()


def test_an_error_filter_shows_notices_without_stopping_the_run(pytester, run_alt):
    # A blanket `filterwarnings = error` is common; a notice says how the run
    # was arranged, which is no reason to stop it midway.
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.asyncio_cooperative
        async def test_alone(capsys):
            pass
        """
    )
    result = run_alt("-W", "error")
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(["*AltCoopWarning: alt_coop: tests using capsys run alone*"])


@pytest.mark.skipif(PYTEST_VERSION < (8, 4), reason="pytest 8.3 catches them per phase itself")
def test_an_uncaught_exception_made_an_error_shows_no_alt_coop_frames(pytester, run_alt):
    pytester.makepyfile(
        """
        import asyncio
        import gc
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        class Bad:
            def __del__(self):
                raise ValueError("in del")

        async def test_unraisable():
            Bad()
            gc.collect()
            await asyncio.sleep(0.05)

        async def test_other():
            await asyncio.sleep(0.1)
        """
    )
    result = run_alt("-W", "error::pytest.PytestUnraisableExceptionWarning")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*ValueError: in del*"])
    output = result.stdout.str()
    assert "_uncaught.py" not in output and "self._report" not in output, output
