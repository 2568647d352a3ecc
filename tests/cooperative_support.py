"""What the tests of cooperative runs share: the inner sessions' event file,
and readers of what those sessions printed.

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

import re
import textwrap

import pytest

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
        if match or re.match(r"^={3,} .* ={3,}$", line) or is_summary(line):
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


def is_summary(line: str) -> bool:
    """Whether ``line`` is alt_coop's end-of-run line, or its section's header."""
    return line.startswith("alt_coop: ") or re.fullmatch(r"-+ alt_coop -+", line) is not None


SUMMARY = re.compile(
    r"^alt_coop: (\d+) cooperative tests?, at most (\d+) at once, "
    r"\d+\.\d\ds of test time in \d+\.\d\ds$",
    re.M,
)


def assert_ran_alone(pytester: pytest.Pytester) -> None:
    """The spans of the "a / alone / b" suites: ``alone`` overlapped neither."""
    spans = read_spans(pytester)
    assert not overlap(spans["alone"], spans["a"]) and not overlap(spans["alone"], spans["b"])


#: A suite whose phases schedule work in their last step (after their last
#: ``await``): a sequential run's ``run_until_complete`` runs it before the
#: phase ends. ``test_slow`` keeps a cooperative batch going meanwhile.
LAST_STEP_SUITE = """
import asyncio
import logging
import warnings

import pytest

log = logging.getLogger("suite")
STARTED = []


def later(*args):
    asyncio.get_running_loop().call_soon(*args)


async def printed(what):
    print(what)


def fail(where):
    pytest.fail(f"failed by a callback of the {where}")


@pytest.fixture
async def announced():
    later(print, "queued by the setup")
    yield
    await asyncio.sleep(0.01)
    later(print, "queued by the teardown")


@pytest.fixture
async def failing_setup():
    await asyncio.sleep(0.01)
    later(fail, "setup")
    yield


async def test_queues(announced):
    await asyncio.sleep(0.01)
    later(print, "queued by the call")
    later(log.warning, "logged by a callback of the call")
    STARTED.append(asyncio.get_running_loop().create_task(printed("a task the call started")))
    assert 0


async def test_setup_fails(failing_setup):
    pass


async def test_call_fails():
    await asyncio.sleep(0.01)
    later(fail, "call")


async def test_warns():
    later(warnings.warn, "warned by a callback of the call")


async def test_slow():
    await asyncio.sleep(0.3)
"""


def assert_last_steps_work_was_its_phases(result: pytest.RunResult) -> None:
    """What each phase of LAST_STEP_SUITE queued came with that phase."""
    output = result.stdout.str()
    result.assert_outcomes(passed=2, failed=2, errors=1, warnings=1)
    sections = failure_sections(output)
    queues = sections["test_queues"]
    assert captured(queues, "stdout setup") == ["queued by the setup"], queues
    assert captured(queues, "stdout call") == [
        "queued by the call",
        "a task the call started",
    ], queues
    assert "logged by a callback of the call" in "\n".join(captured(queues, "log call")), queues
    assert captured(queues, "stdout teardown") == ["queued by the teardown"], queues
    assert (
        "E       Failed: failed by a callback of the setup"
        in sections["ERROR at setup of test_setup_fails"]
    )
    assert "E       Failed: failed by a callback of the call" in sections["test_call_fails"]
    result.stdout.fnmatch_lines(
        ["*::test_warns", "*UserWarning: warned by a callback of the call"]
    )
