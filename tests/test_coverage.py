"""Coverage stays exact: the same lines are measured as under pytest-asyncio."""

from __future__ import annotations

import json
import os
import sys

import pytest
from conftest import ISOLATE

pytest.importorskip("pytest_cov")
pytest.importorskip("pytest_asyncio")

LOGIC = """
import asyncio


def classify(n):
    if n < 0:
        return "negative"
    elif n == 0:
        return "zero"
    return "positive"


def never_called():
    return "nobody calls me"


async def fetch(n, delay=0):
    await asyncio.sleep(delay)
    if n % 2:
        result = "odd"
    else:
        result = "even"
    await asyncio.sleep(0)
    return result


async def pipeline(values):
    out = []
    for value in values:
        kind = await fetch(value, 0.001)
        out.append((classify(value), kind))
    if not out:
        raise ValueError("empty")
    return out


async def unused_branch(flag):
    await asyncio.sleep(0)
    if flag:
        return "flag set"
    return "flag clear"


class Counter:
    def __init__(self):
        self.count = 0

    async def bump(self):
        await asyncio.sleep(0)
        self.count += 1
        return self.count

    def reset(self):
        self.count = 0
"""

TESTS = """
import asyncio

import pytest

from mypkg import logic


@pytest.fixture(scope="module")
async def module_counter():
    counter = logic.Counter()
    await asyncio.sleep(0)
    await counter.bump()
    yield counter
    await asyncio.sleep(0.001)
    counter.reset()


@pytest.fixture(scope="module")
async def module_value():
    await asyncio.sleep(0)
    return await logic.fetch(3)


@pytest.fixture
async def prepared():
    await asyncio.sleep(0.001)
    return await logic.pipeline([1, 2])


@pytest.fixture
async def resource(module_counter):
    value = await module_counter.bump()
    await asyncio.sleep(0)
    yield value
    await asyncio.sleep(0)
    if value > 100:
        print("never printed")
    module_counter.count += 10


async def test_fetch():
    assert await logic.fetch(1) == "odd"
    await asyncio.sleep(0.001)
    assert await logic.fetch(2, 0.001) == "even"


async def test_pipeline(prepared, module_value):
    assert prepared == [("positive", "odd"), ("positive", "even")]
    assert module_value == "odd"
    result = await logic.pipeline([-1, 0])
    assert result == [("negative", "odd"), ("zero", "even")]


async def test_pipeline_empty():
    with pytest.raises(ValueError):
        await logic.pipeline([])
    await asyncio.sleep(0)


async def test_counter(resource, module_counter):
    assert resource >= 2
    await asyncio.sleep(0)
    assert await module_counter.bump() == resource + 1


async def test_gathered():
    results = await asyncio.gather(logic.fetch(5, 0.001), logic.fetch(6), logic.fetch(7, 0.002))
    assert results == ["odd", "even", "odd"]


async def test_with_task():
    task = asyncio.create_task(logic.unused_branch(True))
    await asyncio.sleep(0)
    assert await task == "flag set"


def test_sync():
    assert logic.classify(5) == "positive"


async def test_not_entered_branch():
    if logic.classify(1) == "negative":
        raise AssertionError("unreachable")
    await asyncio.sleep(0)
"""

ALT_COOP = ("-p", "no:asyncio", "-p", "no:anyio", "-p", "alt_coop.enable")
PYTEST_ASYNCIO = (
    "-p",
    "no:alt_coop",
    "-p",
    "no:anyio",
    "-o",
    "asyncio_mode=auto",
    "-o",
    "asyncio_default_fixture_loop_scope=session",
    "-o",
    "asyncio_default_test_loop_scope=session",
)

CORES = [
    pytest.param(None, id="default-core"),
    pytest.param("ctrace", id="ctrace"),
    pytest.param("pytrace", id="pytrace"),
    pytest.param(
        "sysmon",
        id="sysmon",
        marks=pytest.mark.skipif(sys.version_info < (3, 12), reason="needs Python 3.12+"),
    ),
]


def measure(pytester: pytest.Pytester, engine: tuple[str, ...], report: str) -> dict:
    result = pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        *engine,
        "--cov=mypkg",
        "--cov=checks",
        "--cov-branch",
        f"--cov-report=json:{report}",
        "checks",
        timeout=120,
    )
    result.assert_outcomes(passed=8)
    with open(pytester.path / report) as f:
        return json.load(f)["files"]


@pytest.mark.parametrize("core", CORES)
def test_executed_lines_match_pytest_asyncio(pytester, monkeypatch, core):
    if core is None:
        monkeypatch.delenv("COVERAGE_CORE", raising=False)
    else:
        monkeypatch.setenv("COVERAGE_CORE", core)
    pkg = pytester.mkpydir("mypkg")
    (pkg / "logic.py").write_text(LOGIC.lstrip())
    checks = pytester.mkdir("checks")
    (checks / "test_logic.py").write_text(TESTS.lstrip())

    alt = measure(pytester, ALT_COOP, "alt.json")
    reference = measure(pytester, PYTEST_ASYNCIO, "reference.json")

    logic_file = os.path.join("mypkg", "logic.py")
    tests_file = os.path.join("checks", "test_logic.py")
    assert set(alt) == set(reference)
    assert {logic_file, tests_file} <= set(alt)
    for name in sorted(reference):
        for key in ("executed_lines", "missing_lines", "executed_branches", "missing_branches"):
            assert sorted(alt[name][key]) == sorted(reference[name][key]), (name, key)

    # The comparison is not vacuous: lines after real suspensions are measured,
    # and the branches nobody takes are reported missing.
    logic_lines = LOGIC.lstrip().splitlines()
    executed = set(alt[logic_file]["executed_lines"])
    missing = set(alt[logic_file]["missing_lines"])
    after_await = logic_lines.index("    await asyncio.sleep(0)") + 2  # `return result`
    assert after_await in executed
    assert logic_lines.index('    return "nobody calls me"') + 1 in missing
    flag_clear = logic_lines.index('    return "flag clear"') + 1
    assert flag_clear in missing
    assert [flag_clear - 2, flag_clear] in alt[logic_file]["missing_branches"]
    test_lines = TESTS.lstrip().splitlines()
    test_missing = set(alt[tests_file]["missing_lines"])
    assert test_lines.index('        print("never printed")') + 1 in test_missing
    assert test_lines.index("    module_counter.count += 10") + 1 in set(
        alt[tests_file]["executed_lines"]
    )


CONTEXT_MODULE = """
def used_by_a():
    return "a"


def used_by_b():
    return "b"
"""

CONTEXT_TESTS = """
import asyncio

import contextmod


async def test_a():
    await asyncio.sleep(0.1)
    assert contextmod.used_by_a() == "a"


async def test_b():
    await asyncio.sleep(0.01)
    assert contextmod.used_by_b() == "b"
"""


@pytest.mark.parametrize("core", CORES)
def test_test_contexts_name_the_test_that_ran_each_line(pytester, monkeypatch, core):
    # pytest-cov's --cov-context=test: in a batch, each line is credited to
    # the test whose turn it was, as in a sequential run.
    coverage = pytest.importorskip("coverage")
    if core is None:
        monkeypatch.delenv("COVERAGE_CORE", raising=False)
    else:
        monkeypatch.setenv("COVERAGE_CORE", core)
    pytester.makepyfile(contextmod=CONTEXT_MODULE, test_contexts=CONTEXT_TESTS)
    contexts = {}
    for mode in ("sequential", "cooperative"):
        result = pytester.runpytest_subprocess(
            "-p",
            "no:cacheprovider",
            *ALT_COOP,
            *(["--asyncio-cooperative"] if mode == "cooperative" else []),
            "--cov=contextmod",
            "--cov-context=test",
            "--cov-report=",
            timeout=120,
        )
        result.assert_outcomes(passed=2)
        data = coverage.CoverageData(basename=str(pytester.path / ".coverage"))
        data.read()
        by_line = data.contexts_by_lineno(str(pytester.path / "contextmod.py"))
        contexts[mode] = {line: sorted(names) for line, names in by_line.items()}
    assert contexts["cooperative"] == contexts["sequential"]
    lines = (pytester.path / "contextmod.py").read_text().splitlines()
    a_line, b_line = lines.index('    return "a"') + 1, lines.index('    return "b"') + 1
    assert contexts["sequential"][a_line] == ["test_contexts.py::test_a|run"]
    assert contexts["sequential"][b_line] == ["test_contexts.py::test_b|run"]


THREADS_MODULE = """
import asyncio


def add(a, b):
    result = a + b
    return result


async def interleaved(n):
    await asyncio.sleep(0.01)
    first = n + 1
    await asyncio.sleep(0.01)
    second = first + 1
    return second
"""

THREADS_TESTS = """
import os

import pytest

import threadsmod

pytestmark = [pytest.mark.asyncio_cooperative] if os.environ.get("COOPERATIVE") else []


@pytest.mark.no_cover
def test_0_not_measured():
    pass


def test_plain_def():
    assert threadsmod.add(1, 2) == 3


@pytest.mark.parametrize("n", range(6))
async def test_async(n):
    assert await threadsmod.interleaved(n) == n + 2
"""


@pytest.mark.parametrize("core", [None, "ctrace", "pytrace", "sysmon"])
def test_lines_match_with_a_concurrency_setting_that_leaves_threads_out(
    pytester, monkeypatch, core
):
    # ``concurrency = multiprocessing`` leaves threads unmeasured, where a
    # plain def cooperative test's body would run; and pytest-cov's no_cover
    # restarts coverage with a tracer that no longer follows greenlets.
    # sysmon, asked for, measures every thread where coverage.py can use it
    # (3.12+), and falls back to ctrace with branches before 3.14.
    coverage = pytest.importorskip("coverage")
    if core is None:
        monkeypatch.delenv("COVERAGE_CORE", raising=False)
    else:
        monkeypatch.setenv("COVERAGE_CORE", core)
    pytester.makepyfile(threadsmod=THREADS_MODULE, test_threads=THREADS_TESTS)
    pytester.path.joinpath(".coveragerc").write_text("[run]\nconcurrency = multiprocessing\n")
    lines = {}
    for mode in ("sequential", "cooperative"):
        monkeypatch.setenv("COOPERATIVE", "1" if mode == "cooperative" else "")
        result = pytester.runpytest_subprocess(
            *ISOLATE,
            *("-p", "alt_coop.enable", "-p", "pytest_cov"),
            "--cov=threadsmod",
            "--cov=test_threads",
            "--cov-branch",
            "--cov-report=",
            timeout=120,
        )
        result.assert_outcomes(passed=8)
        data = coverage.CoverageData(basename=str(pytester.path / ".coverage"))
        data.read()
        lines[mode] = {
            name: (
                sorted(data.lines(str(pytester.path / name)) or []),
                sorted(data.arcs(str(pytester.path / name)) or []),
            )
            for name in ("threadsmod.py", "test_threads.py")
        }
    assert lines["cooperative"] == lines["sequential"]
    module_lines = THREADS_MODULE.splitlines()
    assert module_lines.index("    result = a + b") + 1 in lines["sequential"]["threadsmod.py"][0]
    assert (
        module_lines.index("    second = first + 1") + 1 in lines["sequential"]["threadsmod.py"][0]
    )
