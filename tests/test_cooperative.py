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
import time
import xml.etree.ElementTree as ET
from itertools import combinations

import pytest

from conftest import ISOLATE

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
    r"^alt_coop: (\d+) cooperative tests, at most (\d+) at once, "
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
        ], section
        assert captured(section, "stderr call") == [f"second line of {name}"], section
        records = captured(section, "log call")
        assert len(records) == 2, section
        assert f"first record of {name}" in records[0]
        assert f"second record of {name}" in records[1]
        assert captured(section, "stdout teardown") == [f"teardown of {name}"], section


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


def test_caplog_set_level_holds_for_the_whole_test(pytester, run_alt):
    """``caplog.set_level`` in concurrent tests: each test's level lasts until its own
    teardown, as in a sequential run (another test's teardown must not undo it)."""
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

        @pytest.mark.parametrize(("name", "delay"), [("p", 0.1), ("q", 0.2), ("r", 0.0)])
        async def test_records(caplog, name, delay):
            caplog.set_level(logging.INFO)
            logger.info(f"{name} before")
            await meet(ALL)
            await asyncio.sleep(delay)
            logger.info(f"{name} after")
            assert caplog.messages == [f"{name} before", f"{name} after"]
        """
    )
    result = run_alt("-v")
    result.assert_outcomes(passed=3)
    assert SUMMARY.search(result.stdout.str()).group(1, 2) == ("3", "3")


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
        for seconds, name in re.findall(r"^(\d+\.\d+)s call\s+\S+::(test_\w+)$", result.stdout.str(), re.M)
    )
    assert set(calls) == {"test_slow", "test_fast"}, result.stdout.str()
    assert calls["test_slow"] >= 0.25
    assert calls["test_fast"] < calls["test_slow"] - 0.1, calls
