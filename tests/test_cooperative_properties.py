"""Property: a suite run cooperatively behaves as the same suite run sequentially.

Hypothesis writes small random suites: fixtures of every scope and kind
(coroutine, async generator, sync generator), depending on one another, that
may fail or time out at setup or at teardown or swallow a cancellation of
their own task, some parametrized, some holding an ``alt_coop.Lock``; tests
in one or two modules, inside classes or not, async or sync, that pass, fail,
skip, time out or swallow a cancellation, some declaring a shared resource or
an exclusive turn, some taking the lock. Each suite runs once sequentially
and once with every test marked ``asyncio_cooperative``. Both runs must give
each test the same setup and call outcomes, report the same fixture teardown
errors, run the same test bodies, and set up and tear down each fixture
instance (a fixture, the node it lives on and its param) the same number of
times.
"""

from __future__ import annotations

import os
import re
import textwrap
from collections import Counter
from dataclasses import dataclass, field
from itertools import count

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, Phase, example, given, note, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

SCOPES = ("function", "class", "module", "session")


@dataclass
class Fixture:
    name: str
    scope: str
    kind: str  # coro, agen, sync
    fail: str | None  # None, "setup", "teardown", "setup-timeout", "teardown-timeout"
    swallow: bool
    sleep: float
    deps: list[str] = field(default_factory=list)
    params: int = 0  # a parametrized fixture: one instance per param, 0 to params - 1
    lock: bool = False  # holds LOCK (an alt_coop.Lock) from its setup to its teardown


@dataclass
class Case:
    name: str
    kind: str  # async, sync
    outcome: str  # pass, fail, skip, swallow, timeout
    sleep: float
    uses: list[str]
    mark: str | None = None  # None, "resource" or "exclusive"
    lock: bool = False  # holds LOCK while it waits


@dataclass
class Suite:
    fixtures: list[Fixture]
    modules: list[list[tuple[str | None, list[Case]]]]  # units: (class name or None, tests)
    max_tasks: int | None = None  # --max-asyncio-tasks for the cooperative run


@st.composite
def suites(draw: st.DrawFn) -> Suite:
    fixtures: list[Fixture] = []
    for index in range(draw(st.integers(1, 4))):
        scope = draw(st.sampled_from(SCOPES))
        kind = draw(st.sampled_from(["coro", "agen", "sync"]))
        wider = [f.name for f in fixtures if SCOPES.index(f.scope) >= SCOPES.index(scope)]
        fixtures.append(
            Fixture(
                name=f"f{index}",
                scope=scope,
                kind=kind,
                fail=draw(
                    st.sampled_from(
                        [None, None, None, "setup", "teardown"]
                        + (["setup-timeout"] if kind != "sync" else [])
                        + (["teardown-timeout"] if kind == "agen" else [])
                    )
                ),
                swallow=draw(st.booleans()),
                sleep=draw(st.sampled_from([0, 0.01])),
                deps=draw(st.lists(st.sampled_from(wider), unique=True)) if wider else [],
                params=draw(st.sampled_from([0, 0, 0, 2])),
                # Only a function fixture's: a wider one would hold it over the
                # tests of its scope, which could never take it (an error).
                lock=scope == "function" and kind == "agen" and draw(st.booleans()),
            )
        )
    names = [f.name for f in fixtures]
    counter = count()

    def test() -> Case:
        kind = draw(st.sampled_from(["async", "async", "sync"]))
        outcomes = ["pass", "pass", "fail", "skip"]
        if kind == "async":
            outcomes += ["swallow", "timeout"]
        return Case(
            name=f"test_t{next(counter)}",
            kind=kind,
            outcome=draw(st.sampled_from(outcomes)),
            sleep=draw(st.sampled_from([0, 0.01, 0.03])),
            uses=draw(st.lists(st.sampled_from(names), unique=True)),
            mark=draw(st.sampled_from([None, None, None, "resource", "exclusive"])),
            lock=kind == "async" and draw(st.booleans()),
        )

    modules = []
    for _ in range(draw(st.integers(1, 2))):
        units: list[tuple[str | None, list[Case]]] = []
        for _ in range(draw(st.integers(1, 3))):
            in_class = draw(st.booleans())
            tests = [test() for _ in range(draw(st.integers(1, 3)))]
            units.append((f"TestC{next(counter)}" if in_class else None, tests))
        modules.append(units)
    return Suite(fixtures, modules, draw(st.sampled_from([None, None, 1, 2])))


HEADER = """
import asyncio
import time

import alt_coop
import pytest

EVENTS = {events!r}
LOCK = alt_coop.Lock()


def log(*parts):
    with open(EVENTS, "a") as f:
        f.write(" ".join(str(part) for part in parts) + "\\n")


def node_of(request):
    return request.node.nodeid.rpartition("/")[2] or "session"


async def swallow_own_cancellation():
    asyncio.current_task().cancel()
    try:
        await asyncio.sleep(0.01)
    except asyncio.CancelledError:
        pass
    await asyncio.sleep(0)
"""


#: Lines that time out: the phase's timeout is made short, and the wait long.
TIME_OUT = ("async_timeout.set_timeout_seconds(0.05)", "await asyncio.sleep(3)")


def fixture_source(fixture: Fixture) -> str:
    timed_out = fixture.fail in ("setup-timeout", "teardown-timeout")
    args = ", ".join(["request", *(["async_timeout"] if timed_out else []), *fixture.deps])
    asynchronous = fixture.kind != "sync"
    wait = f"await asyncio.sleep({fixture.sleep})" if asynchronous else "time.sleep(0)"
    params = f", params={list(range(fixture.params))}" if fixture.params else ""
    lines = [f"@pytest.fixture(scope={fixture.scope!r}{params})"]
    lines.append(f"{'async ' if asynchronous else ''}def {fixture.name}({args}):")
    lines.append(f"    {wait}")
    if fixture.swallow and asynchronous:
        lines.append("    await swallow_own_cancellation()")
    lines.append(
        "    node = node_of(request)" + (" + f'[{request.param}]'" if fixture.params else "")
    )
    if fixture.fail == "setup":
        lines.append(f"    log('setup-failed {fixture.name}', node)")
        lines.append(f"    raise RuntimeError('{fixture.name} setup')")
    elif fixture.fail == "setup-timeout":
        lines.append(f"    log('setup-timeout {fixture.name}', node)")
        lines.extend(f"    {line}" for line in TIME_OUT)
    setup_done = f"log('setup {fixture.name}', node)"
    if not fixture.lock:
        lines.append(f"    {setup_done}")
    teardown = [f"log('teardown {fixture.name}', node)"]
    if fixture.fail == "teardown":
        teardown.append(f"raise RuntimeError('{fixture.name} teardown')")
    elif fixture.fail == "teardown-timeout":
        teardown.extend(TIME_OUT)
    if fixture.kind == "coro":
        lines.append("    def finish():")
        lines.extend(f"        {line}" for line in teardown)
        lines.append("    request.addfinalizer(finish)")
        lines.append(f"    return {fixture.name!r}")
    else:
        if fixture.lock:
            # Set up once it holds the lock: taking it again under a fixture
            # that holds it (one it depends on) fails its setup, in both runs.
            lines.append("    async with LOCK():")
            lines.append(f"        {setup_done}")
            lines.append(f"        yield {fixture.name!r}")
        else:
            lines.append(f"    yield {fixture.name!r}")
        lines.append(f"    {wait}")
        lines.extend(f"    {line}" for line in teardown)
    return "\n".join(lines) + "\n"


def case_source(test: Case, method: bool) -> str:
    timed_out = ["async_timeout"] if test.outcome == "timeout" else []
    args = ", ".join((["self"] if method else []) + timed_out + test.uses)
    asynchronous = test.kind == "async"
    lines = {
        None: [],
        "resource": ["@pytest.mark.asyncio_resources('r')"],
        "exclusive": ["@pytest.mark.asyncio_exclusive"],
    }[test.mark]
    lines.append(f"{'async ' if asynchronous else ''}def {test.name}({args}):")
    lines.append(f"    log('body {test.name}')")
    for name in test.uses:
        lines.append(f"    assert {name} == {name!r}")
    if test.lock:
        lines.append("    async with LOCK():")
        lines.append(f"        await asyncio.sleep({test.sleep})")
    elif asynchronous:
        lines.append(f"    await asyncio.sleep({test.sleep})")
    else:
        lines.append(f"    time.sleep({test.sleep})")
    if test.outcome == "fail":
        lines.append(f"    assert False, '{test.name} fails'")
    elif test.outcome == "skip":
        lines.append(f"    pytest.skip('{test.name} skips')")
    elif test.outcome == "swallow":
        lines.append("    await swallow_own_cancellation()")
    elif test.outcome == "timeout":
        lines.extend(f"    {line}" for line in TIME_OUT)
        lines.append(f"    log('not timed out {test.name}')")
    source = "\n".join(lines) + "\n"
    return textwrap.indent(source, "    ") if method else source


MODULE_HEADER = """import asyncio
import time

import pytest

from conftest import LOCK, log, swallow_own_cancellation

pytestmark = {mark}
"""


def write_suite(directory, suite: Suite, cooperative: bool) -> None:
    directory.mkdir()
    events = str(directory / "events.txt")
    conftest = HEADER.format(events=events) + "\n\n".join(
        fixture_source(f) for f in suite.fixtures
    )
    (directory / "conftest.py").write_text(conftest)
    mark = "pytest.mark.asyncio_cooperative" if cooperative else "[]"
    for index, units in enumerate(suite.modules):
        parts = [MODULE_HEADER.format(mark=mark)]
        for class_name, tests in units:
            if class_name is None:
                parts.extend(case_source(test, method=False) for test in tests)
            else:
                methods = "\n".join(case_source(test, method=True) for test in tests)
                parts.append(f"class {class_name}:\n{methods}")
        (directory / f"test_m{index}.py").write_text("\n\n".join(parts))


@dataclass
class Observed:
    phases: dict[str, dict[str, str]]
    teardown_errors: Counter[str]
    events: Counter[str]
    cooperative_line: str | None


def observe(directory, result: pytest.RunResult) -> Observed:
    phases: dict[str, dict[str, str]] = {}
    teardown_errors: Counter[str] = Counter()
    for report in result.reprec.getreports("pytest_runtest_logreport"):
        name = report.nodeid.rpartition("/")[2]
        if report.when in ("setup", "call"):
            phases.setdefault(name, {})[report.when] = report.outcome
        elif report.outcome != "passed":
            text = str(report.longrepr)
            teardown_errors.update(set(re.findall(r"RuntimeError: (f\d+ teardown)", text)))
            timeouts = re.findall(
                r"fixture '(f\d+)' timed out after [\d.]+s during teardown", text
            )
            teardown_errors.update({f"{name} teardown timeout" for name in timeouts})
    path = directory / "events.txt"
    events = Counter(path.read_text().splitlines() if path.exists() else [])
    line = re.search(r"^alt_coop: .*$", result.stdout.str(), re.M)
    return Observed(phases, teardown_errors, events, line.group(0) if line else None)


RUNS = count()

#: A class-scoped fixture asked for by tests outside any class: pytest sets it
#: up for each test (the test is its scope), so concurrent tests must not share it.
CLASS_SCOPE_OUTSIDE_A_CLASS = Suite(
    fixtures=[Fixture("f0", "class", "agen", None, swallow=False, sleep=0.01)],
    modules=[
        [
            (None, [Case("test_t0", "async", "pass", 0.03, ["f0"])]),
            (None, [Case("test_t1", "async", "pass", 0.0, ["f0"])]),
        ]
    ],
)


@pytest.mark.filterwarnings("ignore::alt_coop.errors.AltCoopWarning")
@settings(
    max_examples=int(os.environ.get("ALT_COOP_PROPERTY_EXAMPLES", "10")),
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # shrinking would take minutes
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(suite=suites())
@example(suite=CLASS_SCOPE_OUTSIDE_A_CLASS)
def test_cooperative_run_matches_sequential_run(pytester, run_alt, suite):
    run = next(RUNS)
    observed = {}
    for mode in ("sequential", "cooperative"):
        directory = pytester.path / f"run{run}-{mode}"
        write_suite(directory, suite, cooperative=mode == "cooperative")
        args = ["--default-async-timeout=5", str(directory)]
        if mode == "cooperative" and suite.max_tasks is not None:
            args.append(f"--max-asyncio-tasks={suite.max_tasks}")
        result = run_alt(*args)
        assert "INTERNALERROR" not in result.stdout.str(), result.stdout.str()
        observed[mode] = observe(directory, result)
    sequential, cooperative = observed["sequential"], observed["cooperative"]
    note("conftest.py:\n" + (pytester.path / f"run{run}-sequential" / "conftest.py").read_text())
    for path in sorted((pytester.path / f"run{run}-sequential").glob("test_m*.py")):
        note(f"{path.name}:\n{path.read_text()}")
    expected = {
        f"test_m{index}.py::{f'{cls}::' if cls else ''}{case.name}"
        for index, units in enumerate(suite.modules)
        for cls, cases in units
        for case in cases
    }
    # Every test ran (each of its params, if a fixture it asks for has them): the suite is valid.
    assert {re.sub(r"\[.*\]$", "", test) for test in sequential.phases} == expected
    assert sequential.cooperative_line is None
    assert cooperative.cooperative_line is not None
    assert cooperative.phases == sequential.phases
    assert cooperative.teardown_errors == sequential.teardown_errors
    bodies = {event: n for event, n in sequential.events.items() if event.startswith("body ")}
    assert {e: n for e, n in cooperative.events.items() if e.startswith("body ")} == bodies
    assert cooperative.events == sequential.events
    # Within each run, every instance that was set up was torn down once.
    for run_events in (sequential.events, cooperative.events):
        setups = Counter(
            {e[len("setup ") :]: n for e, n in run_events.items() if e.startswith("setup ")}
        )
        teardowns = Counter(
            {e[len("teardown ") :]: n for e, n in run_events.items() if e.startswith("teardown ")}
        )
        assert setups == teardowns
