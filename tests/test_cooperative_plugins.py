"""Cooperative tests beside other plugins and process-wide state (coverage,
reruns, pytest-timeout, xdist, tests that must run alone)."""

from __future__ import annotations

import json
import os
import re
import sys
import textwrap

import pytest
from conftest import ISOLATE, mode_args
from cooperative_support import (
    PYTEST_VERSION,
    SUMMARY,
    events_conftest,
    is_summary,
    overlap,
    peak,
    read_events,
    read_spans,
)

import alt_coop

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
            *("-p", "pytest_cov"),
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


def test_xdist_workers_with_ids_of_the_users_own_still_give_the_notice(pytester):
    # No worker was "gw0", and none gave it.
    pytest.importorskip("xdist")
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        @pytest.mark.parametrize("n", range(4))
        async def test_it(n):
            await asyncio.sleep(0.01)
        """
    )
    workers = ("--tx", "popen//id=w1", "--tx", "popen//id=w2", "--dist", "load")
    result = pytester.runpytest_subprocess(
        *ISOLATE, "-p", "alt_coop.enable", "-p", "xdist", *workers, timeout=120
    )
    result.assert_outcomes(passed=4, warnings=2)
    notice = "AltCoopWarning: alt_coop: cooperative tests run sequentially inside pytest-xdist"
    assert result.stdout.str().count(notice) == 1, result.stdout.str()


def test_xdist_workers_give_the_notice_beside_a_collection_error(pytester):
    # pytest's own loop runs nothing after a collection error; xdist's
    # workers run the tests all the same, sequentially: the notice says so.
    pytest.importorskip("xdist")
    pytester.makepyfile(
        test_ok="""
        import asyncio
        import pytest

        @pytest.mark.asyncio_cooperative
        async def test_ok():
            await asyncio.sleep(0.01)
        """,
        test_broken="import a_module_that_is_not_there\n",
    )
    result = pytester.runpytest_subprocess(
        *ISOLATE, "-p", "alt_coop.enable", "-p", "xdist", "-n", "2", timeout=120
    )
    result.assert_outcomes(passed=1, errors=1, warnings=1)
    result.stdout.fnmatch_lines(
        ["*AltCoopWarning: alt_coop: cooperative tests run sequentially inside pytest-xdist*"]
    )


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
        *ISOLATE,
        "-p",
        "alt_coop.enable",
        "-p",
        "rerunfailures",
        "--reruns",
        "1",
        "-v",
        timeout=120,
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


def test_plugins_loaded_but_not_asked_for_anything_leave_the_tests_concurrent(pytester, run_alt):
    # The rest of the suite keeps these plugins out (ISOLATE); loaded (as they
    # are wherever they are installed) with no option of theirs given, they
    # change nothing: no notice, the tests overlap.
    for module in ("xdist", "pytest_timeout", "pytest_rerunfailures", "pytest_cov"):
        pytest.importorskip(module)
    events_conftest(pytester)
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        from conftest import span

        pytestmark = pytest.mark.asyncio_cooperative

        @pytest.mark.parametrize("n", range(3))
        async def test_waits(n):
            async with span(f"waits-{n}"):
                await asyncio.sleep(0.2)
        """
    )
    plugins = ("xdist", "xdist.looponfail", "timeout", "rerunfailures", "pytest_cov")
    result = run_alt(*(arg for plugin in plugins for arg in ("-p", plugin)))
    assert result.parseoutcomes() == {"passed": 3}, result.stdout.str()
    result.stdout.fnmatch_lines(
        ["plugins: xdist-*, timeout-*, rerunfailures-*, cov-*, alt_coop-*"]
    )
    assert peak(read_spans(pytester)) == 3


@pytest.mark.parametrize("plugin", ["pytest_timeout", "pytest_rerunfailures"])
def test_a_plugin_loaded_by_its_module_keeps_its_effect_on_cooperative_tests(
    pytester, monkeypatch, plugin
):
    # Loaded by -p or pytest_plugins, a plugin is registered under its
    # module's name, not its entry point's; its ini settings count as well.
    # (ISOLATE's -p no:timeout would block pytest_timeout too: no plugin
    # loads by itself here.)
    pytest.importorskip(plugin)
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.makeconftest(f"pytest_plugins = [{plugin!r}]")
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative
        ATTEMPTS = []

        async def test_slow_or_flaky():
            ATTEMPTS.append(1)
            await asyncio.sleep(1.5 if len(ATTEMPTS) == 1 else 0.01)
            assert len(ATTEMPTS) > 1, "fails the first time"

        async def test_fast():
            await asyncio.sleep(0.01)
        """
    )
    if plugin == "pytest_timeout":
        setting, outcomes = "timeout=0.5", {"failed": 1, "passed": 1}
    else:
        setting, outcomes = "reruns=1", {"passed": 2, "rerun": 1}
    result = pytester.runpytest_subprocess(
        *("-p", "no:cacheprovider", "-p", "alt_coop.enable", "-o", setting), timeout=120
    )
    assert result.parseoutcomes() == {**outcomes, "warnings": 1}, result.stdout.str()
    result.stdout.fnmatch_lines(["*AltCoopWarning: alt_coop: pytest-*"])
    if plugin == "pytest_timeout":
        result.stdout.fnmatch_lines(["*Timeout (>0.5s) from pytest-timeout*"])


def test_a_timeout_mark_without_pytest_timeout_leaves_its_test_cooperative(pytester, run_alt):
    # The mark times nothing then: no reason to run the test alone, nor a
    # notice naming a plugin that is off.
    events_conftest(pytester)
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        from conftest import span

        pytestmark = pytest.mark.asyncio_cooperative

        @pytest.mark.timeout(5)
        async def test_marked():
            async with span("marked"):
                await asyncio.sleep(0.1)

        async def test_other():
            async with span("other"):
                await asyncio.sleep(0.1)
        """
    )
    result = run_alt("-p", "no:timeout")
    result.assert_outcomes(passed=2)
    assert "AltCoopWarning" not in result.stdout.str()
    spans = read_spans(pytester)
    assert overlap(spans["marked"], spans["other"])


@pytest.mark.parametrize("fails_in", ["call", "teardown"])
@pytest.mark.parametrize("scope", ["module", "session"])
def test_a_rerun_keeps_the_wider_fixtures_of_its_test_up(pytester, scope, fails_in):
    # The flaky test runs sequentially, re-run by pytest-rerunfailures, which
    # keeps the wider fixtures up across its attempts: set up once, torn down
    # once after the last test that uses them, as in a run without alt_coop's
    # batches. A teardown's failure is known only once the attempt's
    # teardown is over: the wider fixtures stay up all the same.
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
        f"""
        import asyncio
        import pytest
        from conftest import EVENTS

        ATTEMPTS = []
        FAILS_IN = {fails_in!r}

        @pytest.fixture
        def breaks_once():
            yield
            if FAILS_IN == "teardown" and len(ATTEMPTS) == 1:
                raise RuntimeError("the first teardown fails")

        async def test_before(resource):
            await asyncio.sleep(0.01)

        @pytest.mark.flaky(reruns=2)
        async def test_flaky(resource, breaks_once):
            ATTEMPTS.append(1)
            assert EVENTS == ["setup"]
            if FAILS_IN == "call":
                assert len(ATTEMPTS) > 1, "fails the first time"

        async def test_after(resource):
            await asyncio.sleep(0.01)
            assert EVENTS == ["setup"]
        """
    )
    result = pytester.runpytest_subprocess(
        *ISOLATE,
        *("-p", "alt_coop.enable", "-p", "rerunfailures", "--asyncio-cooperative", "-v", "-s"),
        timeout=120,
    )
    # The first attempt's passed call counts too when its teardown fails.
    passed = 3 if fails_in == "call" else 4
    assert result.parseoutcomes() == {"passed": passed, "rerun": 1, "warnings": 1}
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
    result = pytester.runpytest_subprocess(
        *ISOLATE, "-p", "alt_coop.enable", "-p", "rerunfailures", timeout=120
    )
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


def test_a_session_notice_hidden_by_the_first_tests_filterwarnings_mark_is_told_at_the_next(
    pytester, run_alt
):
    pytester.makeini("[pytest]\nasyncio_cooperative = true\nfaulthandler_timeout = 30\n")
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.mark.filterwarnings("ignore")
        async def test_hiding_it():
            await asyncio.sleep(0)

        async def test_next():
            await asyncio.sleep(0)
        """
    )
    result = run_alt("-p", "no:randomly")
    result.assert_outcomes(passed=2, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "*::test_next",
            "*cooperative tests run sequentially with faulthandler_timeout set*",
        ]
    )


RERUNS_NOTICE = "pytest-rerunfailures re-runs wrap the whole test: those tests run sequentially"
TIMEOUT_NOTICE = (
    "pytest-timeout's timer (a signal or a thread) times one test at a time: "
    "those tests run sequentially"
)
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
    plugins = []
    if "reruns" in " ".join([*args, ini]):
        pytest.importorskip("pytest_rerunfailures")
        plugins += ["-p", "rerunfailures"]
    if "-timeout" in " ".join(args) or ini.startswith(("timeout", "env", "session_timeout")):
        pytest.importorskip("pytest_timeout")
        plugins += ["-p", "timeout"]
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
    result = pytester.runpytest_subprocess(
        *ISOLATE, "-p", "alt_coop.enable", *plugins, *args, timeout=120
    )
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
        app=f"""
        import asyncio
        import alt_coop

        ISOLATE = {ISOLATE!r}

        async def main():
            code = await alt_coop.main(["-q", "-s", *ISOLATE, "test_suite.py"])
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


@pytest.mark.parametrize("conftest_dir", ["", "sub/"], ids=["root", "subdirectory"])
def test_a_plugin_hooking_the_whole_protocol_keeps_its_effect(pytester, conftest_dir):
    """Never a silent loss: such a plugin still wraps each test, which then
    runs alone. pytest calls the hook through the session's hook, which every
    conftest's implementation answers, not only those above the test."""
    pytester.mkpydir("sub")
    pytester.makepyfile(
        **{
            f"{conftest_dir}conftest": """
                import pytest

                @pytest.hookimpl(wrapper=True)
                def pytest_runtest_protocol(item, nextitem):
                    print(f"WRAPPED {item.name}")
                    return (yield)
                """,
            "sub/test_sub": """
                import asyncio
                import pytest

                @pytest.mark.asyncio_cooperative
                async def test_sub():
                    await asyncio.sleep(0.01)
                """,
            "test_top": """
                import asyncio
                import pytest

                pytestmark = pytest.mark.asyncio_cooperative

                async def test_a():
                    await asyncio.sleep(0.01)

                async def test_b():
                    await asyncio.sleep(0.01)
                """,
        }
    )
    result = pytester.runpytest_subprocess(*ISOLATE, "-p", "alt_coop.enable", "-s")
    result.assert_outcomes(passed=3, warnings=1)
    result.stdout.fnmatch_lines_random(
        [
            "*WRAPPED test_a*",
            "*WRAPPED test_b*",
            "*WRAPPED test_sub*",
            "*AltCoopWarning: alt_coop: *conftest.py hooks pytest_runtest_protocol*sequentially",
        ]
    )
    assert not SUMMARY.search(result.stdout.str()), result.stdout.str()


@pytest.mark.parametrize("where", ["first", "last"])
def test_a_protocol_hook_running_a_test_twice_keeps_its_wider_fixtures_up(
    pytester, run_alt, where
):
    # As a home-made re-run does: pytest's runtestprotocol twice, each with
    # the next item, which keeps the module's fixtures up in pytest's setup
    # state while the next item needs them; the last test of the module
    # tears them down each time, and the second run sets them up again.
    pytester.makeconftest(
        """
        import pytest
        from _pytest.runner import runtestprotocol

        EVENTS = []

        @pytest.hookimpl(tryfirst=True)
        def pytest_runtest_protocol(item, nextitem):
            if item.name != "test_twice":
                return None
            item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
            for _ in range(2):
                reports = runtestprotocol(item, nextitem=nextitem, log=False)
            for report in reports:
                item.ihook.pytest_runtest_logreport(report=report)
            item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
            return True

        @pytest.fixture(scope="module")
        def resource(request):
            EVENTS.append(f"setup {request.module.__name__}")
            yield
            EVENTS.append(f"teardown {request.module.__name__}")
        """
    )
    twice = """
        def test_twice(resource):
            pass
        """
    other = """
        async def test_other(resource):
            await asyncio.sleep(0)
        """
    pytester.makepyfile(
        test_one="""
        import asyncio
        """
        + (twice + other if where == "first" else other + twice),
        test_two="""
        from conftest import EVENTS

        def test_next_module():
            print("EVENTS", EVENTS)
        """,
    )
    result = run_alt("--asyncio-cooperative", "-p", "no:randomly", "-s")
    result.assert_outcomes(passed=3, warnings=1)
    run = ["setup test_one", "teardown test_one"]
    assert f"EVENTS {run * (1 if where == 'first' else 2)}" in result.stdout.str()


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


@pytest.mark.parametrize("flag", [[], ["--asyncio-cooperative"]], ids=["marked", "option"])
@pytest.mark.parametrize("how", ["subclass", "replaced"])
def test_a_test_item_with_a_runtest_of_its_own_runs_alone(pytester, run_alt, flag, how):
    """A plugin's pytest.Function whose runtest runs the test itself (here on
    a loop of its own, as in a sequential run) runs alone: alt_coop cannot
    tell what that runtest does while the session loop runs."""
    pytester.makeconftest(
        """
        import asyncio
        import functools
        import inspect
        import pytest

        def run_itself(item):
            kwargs = {name: item.funcargs[name] for name in item._fixtureinfo.argnames}
            asyncio.run(item.obj(**kwargs))

        class RunsItself(pytest.Function):
            def runtest(self):
                run_itself(self)
        """
        + (
            """
        @pytest.hookimpl(tryfirst=True)
        def pytest_pycollect_makeitem(collector, name, obj):
            if name.startswith("check_") and inspect.iscoroutinefunction(obj):
                return [RunsItself.from_parent(collector, name=name)]
        """
            if how == "subclass"
            else """
        def pytest_collection_modifyitems(items):
            for item in items:
                if item.name.startswith("check_"):
                    item.runtest = functools.partial(run_itself, item)
        """
        )
    )
    if how == "replaced":
        pytester.makeini("[pytest]\npython_functions = test_* check_*")
    pytester.makepyfile(
        test_items=f"""
        import asyncio
        import pytest

        {"" if flag else "pytestmark = pytest.mark.asyncio_cooperative"}

        async def check_itself():
            await asyncio.sleep(0.01)
            print("CHECKED ITSELF")

        async def test_a():
            await asyncio.sleep(0.01)

        async def test_b():
            await asyncio.sleep(0.01)
        """
    )
    result = run_alt(*flag, "-s", "-W", "error::RuntimeWarning")
    result.assert_outcomes(passed=3, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "*CHECKED ITSELF*",
            "*AltCoopWarning: alt_coop: tests of conftest.RunsItself, a pytest.Function "
            "with a runtest of its own, run alone *"
            if how == "subclass"
            else "*AltCoopWarning: alt_coop: tests whose runtest a plugin or conftest replaced "
            "run alone *",
            "*alt_coop: 2 cooperative tests, at most 2 at once*",
        ]
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
    result = run_alt_subprocess("-p", "timeout", *mode_args(mode), timeout=60)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*Timeout (>0.5s) from pytest-timeout*"])
    events = read_events(pytester)
    ticks_done = events.index("finally")
    assert events[ticks_done:] == ["finally", "teardown", "after starts", "after ends"], events


@pytest.mark.parametrize(
    "stop", ["pytest.exit('giving up', returncode=3)", "raise KeyboardInterrupt"]
)
def test_a_stop_raised_as_pytest_timeout_cuts_in_stops_the_run(pytester, run_alt_subprocess, stop):
    # Its failure, raised into the loop while the test waited, stood in for
    # the stop the test raised as it was cancelled.
    pytest.importorskip("pytest_timeout")
    pytester.makepyfile(
        f"""
        import asyncio
        import pytest

        @pytest.mark.timeout(0.5)
        async def test_gives_up(async_timeout):
            async_timeout.set_timeout_seconds(30)  # pytest-timeout's cuts in first
            try:
                await asyncio.sleep(10)
            except BaseException:
                {stop}

        def test_after():
            pass
        """
    )
    result = run_alt_subprocess("-p", "timeout", timeout=60)
    expected = 3 if "exit" in stop else pytest.ExitCode.INTERRUPTED
    assert result.ret == expected, result.stdout.str()
    assert "Timeout" not in result.stdout.str()
    assert "passed" not in result.stdout.str()


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_a_pytest_timeout_failure_names_the_line_the_test_waited_at(
    pytester, run_alt_subprocess, mode
):
    # pytest-timeout raises in the loop's select, while the test waits: the
    # report ends at the test's line, not in asyncio's or selectors' code.
    pytest.importorskip("pytest_timeout")
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.mark.timeout(0.5)
        async def test_waits():
            await asyncio.sleep(30)
        """
    )
    result = run_alt_subprocess("-p", "timeout", *mode_args(mode), timeout=60)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            ">       await asyncio.sleep(30)",
            "E       Failed: Timeout (>0.5s) from pytest-timeout.",
            "test_a_pytest_timeout_failure_names_the_line_the_test_waited_at.py:6: Failed",
        ]
    )
    output = result.stdout.str()
    assert "selectors.py" not in output and "base_events.py" not in output, output
    assert "alt_coop/" not in output, output


def test_a_pytest_timeout_failure_in_a_native_traceback_names_the_line_the_test_waited_at(
    pytester, run_alt_subprocess
):
    # --tb=native keeps asyncio's frames, but the failure's own traceback
    # is still the test's line, not the loop's, which says nothing of it.
    pytest.importorskip("pytest_timeout")
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.mark.timeout(0.5)
        async def test_waits():
            await asyncio.sleep(30)
        """
    )
    result = run_alt_subprocess("-p", "timeout", "--tb=native", timeout=60)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            '*File "*", line 6, in test_waits',
            "*await asyncio.sleep(30)",
            "*Failed: Timeout (>0.5s) from pytest-timeout.",
        ]
    )
    assert "selectors.py" not in result.stdout.str(), result.stdout.str()


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
@pytest.mark.parametrize("ending", ["raises instead", "swallows", "swallows and waits on"])
def test_a_pytest_timeout_the_test_does_not_end_with_names_where_it_waited(
    pytester, run_alt_subprocess, mode, ending
):
    # A test raising another error as it was cut short was reported with
    # pytest-timeout's failure at that error's line, the error itself lost;
    # one that swallowed the cancellation, at a line of asyncio's events.py.
    # As for alt_coop's own timeouts: the error (if any), then the timeout
    # at the line the test waited at.
    pytest.importorskip("pytest_timeout")
    pytester.makepyfile(
        f"""
        import asyncio
        import pytest

        async def close():
            raise ConnectionError("close failed: server gone")

        @pytest.mark.timeout(0.5)
        async def test_waits():
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                if {ending == "raises instead"}:
                    await close()
                if {ending == "swallows and waits on"}:
                    await asyncio.sleep(3)
        """
    )
    result = run_alt_subprocess("-p", "timeout", *mode_args(mode), timeout=60)
    result.assert_outcomes(failed=1)
    file = "test_a_pytest_timeout_the_test_does_not_end_with_names_where_it_waited.py"
    cause = [
        "E       ConnectionError: close failed: server gone",
        f"{file}:5: ConnectionError",
        "*direct cause of the following exception*",
    ]
    result.stdout.fnmatch_lines(
        [
            *(cause if ending == "raises instead" else []),
            ">           await asyncio.sleep(30)",
            "E           Failed: Timeout (>0.5s) from pytest-timeout.",
            *(
                ["E           alt_coop: * was abandoned"]
                if ending == "swallows and waits on"
                else []
            ),
            f"{file}:10: Failed",
        ]
    )
    output = result.stdout.str()
    assert "events.py" not in output and "alt_coop/" not in output, output


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_a_pytest_timeout_landing_in_a_task_the_test_started_fails_the_test(
    pytester, run_alt_subprocess, mode
):
    # Raised in whatever code ran when the signal came, pytest-timeout's
    # failure ended a busy task of the test's, and the test waited on until
    # alt_coop's own timeout.
    pytest.importorskip("pytest_timeout")
    pytester.makepyfile(
        """
        import asyncio
        import time
        import pytest

        async def spinner():
            while True:
                busy_until = time.monotonic() + 0.05
                while time.monotonic() < busy_until:
                    pass
                await asyncio.sleep(0)

        @pytest.mark.timeout(0.5)
        async def test_waits(async_timeout):
            async_timeout.set_timeout_seconds(20)
            task = asyncio.create_task(spinner())
            try:
                await asyncio.sleep(30)
            finally:
                task.cancel()
                await asyncio.wait([task])
                print("SPINNER", "cancelled" if task.cancelled() else repr(task.exception()))
        """
    )
    result = run_alt_subprocess("-p", "timeout", "-s", *mode_args(mode), timeout=60)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*SPINNER cancelled*", "E  *Failed: Timeout (>0.5s) from pytest-timeout."]
    )
    assert "async timeout" not in result.stdout.str()


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
@pytest.mark.parametrize("phase", ["call", "teardown"])
@pytest.mark.parametrize("queued", ["callback", "task"])
def test_a_pytest_timeout_in_what_a_phases_last_step_queued_fails_that_phase(
    pytester, run_alt_subprocess, mode, phase, queued
):
    # The loop runs what a phase's last step queued before the phase ends,
    # as run_until_complete does. pytest-timeout's failure, raised there by
    # a callback of alt_coop's, ran once the phase had ended: it failed the
    # next test (a callback; a task, in a cooperative run: the phase passed).
    pytest.importorskip("pytest_timeout")
    queue = (
        "asyncio.get_running_loop().call_soon(blocks)"
        if queued == "callback"
        else "asyncio.get_running_loop().create_task(blocking())"
    )
    pytester.makepyfile(
        f"""
        import asyncio
        import time
        import pytest

        def blocks():
            print("BLOCKS")
            time.sleep(1.5)
            print("UNBLOCKED")

        async def blocking():
            blocks()

        @pytest.fixture
        async def queues():
            yield
            await asyncio.sleep(0)
            if {phase == "teardown"}:
                {queue}

        @pytest.mark.timeout(0.5)
        async def test_queues(queues):
            await asyncio.sleep(0)
            if {phase == "call"}:
                {queue}

        async def test_after():
            await asyncio.sleep(0.01)
        """
    )
    result = run_alt_subprocess("-p", "timeout", "-p", "no:randomly", *mode_args(mode), timeout=60)
    if phase == "call":
        result.assert_outcomes(passed=1, failed=1)
        result.stdout.fnmatch_lines(["*_ test_queues _*"])
    else:
        result.assert_outcomes(passed=2, errors=1)
        result.stdout.fnmatch_lines(["*_ ERROR at teardown of test_queues _*"])
    result.stdout.fnmatch_lines(
        [
            ">       time.sleep(1.5)",
            "E       Failed: Timeout (>0.5s) from pytest-timeout.",
            "*.py:7: Failed",
            "*- Captured stdout *",
            "BLOCKS",
        ]
    )
    # Raised in the callback, as in a test's code, it stops it (a task's
    # step runs on: raised there, it would end the task, not the test).
    assert ("UNBLOCKED" in result.stdout.str()) == (queued == "task")


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
@pytest.mark.parametrize("runaway", ["awaited task", "task", "callback", "task after a turn"])
def test_a_pytest_timeout_stops_code_that_never_gives_the_loop_back(
    pytester, run_alt_subprocess, mode, runaway
):
    # Landing in a task's step, pytest-timeout's failure is handed to the
    # test through the loop, which a task or callback that never returns
    # holds for ever: the run hung, silently. A grace period later, the
    # failure is raised where the code runs, as pytest-timeout does; also
    # when the loop took the failure but is held before the test can end.
    pytest.importorskip("pytest_timeout")
    pytester.makepyfile(
        f"""
        import asyncio
        import time
        import pytest

        def spin():  # holds the loop for ever (sleeping: a busy loop only burns CPU)
            while True:
                time.sleep(0.01)

        async def spinning():
            spin()

        async def spinning_after_a_turn():
            time.sleep(1)  # the signal comes here
            await asyncio.sleep(0)  # the loop takes the failure
            spin()  # and is held for ever before the test can end

        @pytest.mark.timeout(0.5)
        async def test_runaway(async_timeout):
            async_timeout.set_timeout_seconds(30)
            loop = asyncio.get_running_loop()
            if {runaway == "awaited task"}:
                await loop.create_task(spinning())
            elif {runaway == "task"}:
                task = loop.create_task(spinning())
                await asyncio.sleep(30)
            elif {runaway == "task after a turn"}:
                task = loop.create_task(spinning_after_a_turn())
                await asyncio.sleep(30)
            else:
                loop.call_soon(spin)
                await asyncio.sleep(30)

        async def test_next():
            await asyncio.sleep(0.01)
        """
    )
    result = run_alt_subprocess("-p", "timeout", "-p", "no:randomly", *mode_args(mode), timeout=60)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*_ test_runaway _*",
            "E *Failed: Timeout (>0.5s) from pytest-timeout.",
            "*1 failed, 1 passed*",
        ]
    )
    assert "async timeout" not in result.stdout.str()


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
    result = run_alt_subprocess("-p", "timeout", *mode_args(mode), "-rA", timeout=60)
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


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_warnings_plugin_off_a_tests_recorder_still_catches_its_tasks_warnings(
    pytester, run_alt_subprocess, mode
):
    # Without pytest's warnings plugin, a test's own pytest.warns still
    # catches what a task it started warns, as in a sequential run.
    pytester.makepyfile(
        """
        import asyncio
        import warnings
        import pytest

        async def warn_later():
            await asyncio.sleep(0.05)
            warnings.warn("from a task", UserWarning)

        async def test_task_in_warns():
            with pytest.warns(UserWarning, match="from a task"):
                await asyncio.create_task(warn_later())

        async def test_beside():
            await asyncio.sleep(0.1)
        """
    )
    result = run_alt_subprocess("-p", "no:warnings", *mode_args(mode))
    result.assert_outcomes(passed=2)
    assert "from a task" not in result.stdout.str() + result.stderr.str()


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


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
@pytest.mark.parametrize("replaces", [False, True], ids=["in_place", "new_report"])
def test_a_report_a_later_plugin_changes_counts_as_that_plugin_leaves_it(
    pytester, run_alt, mode, replaces
):
    # A conftest found while collecting wraps makereport outside alt_coop's
    # wrapper and reports a known failure as a skip: -x stopped the
    # cooperative run at the failure it no longer was, and tests were lost.
    pytester.makepyfile(
        conftest=f"""
        import copy
        import pytest

        @pytest.hookimpl(wrapper=True, tryfirst=True)
        def pytest_runtest_makereport(item, call):
            report = yield
            if report.failed and item.get_closest_marker("known_failure"):
                if {replaces}:
                    report = copy.copy(report)
                report.outcome = "skipped"
                report.longrepr = (str(item.path), 0, "known failure")
            return report
        """
    )
    sub = pytester.mkpydir("sub")
    sub.joinpath("conftest.py").write_text(
        (pytester.path / "conftest.py").read_text(), encoding="utf-8"
    )
    (pytester.path / "conftest.py").unlink()  # found while collecting: registered late
    sub.joinpath("test_known.py").write_text(
        """
import asyncio
import pytest

@pytest.mark.known_failure
async def test_known():
    await asyncio.sleep(0.05)
    assert False

async def test_quick():
    await asyncio.sleep(0.01)

def test_sync():
    pass

async def test_later():
    await asyncio.sleep(0.01)
""",
        encoding="utf-8",
    )
    result = run_alt(
        "-x", "-p", "no:randomly", "-m", "known_failure or not known_failure", *mode_args(mode)
    )
    result.assert_outcomes(passed=3, skipped=1)
    assert result.ret == pytest.ExitCode.OK


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


def test_a_slow_reporting_hook_is_not_blamed_on_the_test(pytester, run_alt):
    # Its time was counted in the test's last stretch: the warning told the
    # test's author to await, for a plugin's hook they cannot change there.
    pytester.makeconftest(
        """
        import time

        def pytest_runtest_logreport(report):
            if report.when == "call":
                time.sleep(0.3)
        """
    )
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        async def test_awaits():
            await asyncio.sleep(0)

        async def test_awaits_longer():
            await asyncio.sleep(0.5)
        """
    )
    result = run_alt("--asyncio-block-threshold=0.2")
    result.assert_outcomes(passed=2)
    assert "held the loop" not in result.stdout.str()


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
        (
            "asyncio_cooperative(5)",
            "@pytest.mark.asyncio_cooperative(5) takes no arguments: write "
            "@pytest.mark.asyncio_cooperative (a time limit is --asyncio-task-timeout's "
            "or async_timeout's)",
        ),
        (
            "asyncio_sequential(True)",
            "@pytest.mark.asyncio_sequential(True) takes no arguments: write "
            "@pytest.mark.asyncio_sequential",
        ),
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
    # After a module mocker's test, the others of its module run alone too.
    wider = stand_in == "module"
    result.assert_outcomes(passed=4, warnings=2 if wider else 1)
    assert f"tests using {fixture} run alone (process-wide state)" in result.stdout.str(), (
        result.stdout.str()
    )


@pytest.mark.parametrize("fixture", ["class_mocker", "module_mocker"])
def test_a_wider_mockers_patch_is_seen_by_no_test_outside_its_scope(pytester, run_alt, fixture):
    # Its test runs alone, but the patch holds until its scope ends: the
    # scope's later tests, which do not use it, ran beside other modules'
    # tests, which then saw it.
    scope = RUN_ALONE_STAND_INS[fixture]
    pytester.makeconftest(
        f"""
        import pytest
        import shared_state

        @pytest.fixture(scope={scope!r})
        def {fixture}():  # pytest-mock's, in miniature
            yield shared_state
            shared_state.MODE = "real"
        """
    )
    pytester.makepyfile(shared_state='MODE = "real"')
    pkg = pytester.mkpydir("pkg")
    (pkg / "test_a.py").write_text(
        textwrap.dedent(
            f"""
            import asyncio
            import pytest

            @pytest.fixture(scope={scope!r})
            def patched({fixture}):
                {fixture}.MODE = "patched"

            class TestA:
                async def test_patched(self, patched):
                    import shared_state
                    assert shared_state.MODE == "patched"

                async def test_later(self):
                    await asyncio.sleep(0.3)
            """
        )
    )
    pytester.makepyfile(
        test_b="""
        import asyncio
        import shared_state

        async def test_outside():
            await asyncio.sleep(0.1)
            assert shared_state.MODE == "real"
        """
    )
    result = run_alt("--asyncio-cooperative", "-p", "no:randomly", "pkg", "test_b.py")
    result.assert_outcomes(passed=3, warnings=2)
    assert f"tests after one using {fixture} in its scope run alone" in result.stdout.str()


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
            if not is_summary(line)
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


@pytest.mark.parametrize("engine", ["alt_coop.enable", "Plugin()"])
@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_lazy_fixtures_lf_in_an_async_fixtures_params_gives_the_fixtures_value(
    pytester, run_alt, mode, engine
):
    # pytest-lazy-fixtures puts the value in request.param in a tryfirst
    # pytest_fixture_setup, which alt_coop's, answering first, cut off: the
    # async fixture got the lf object itself.
    pytest.importorskip("pytest_lazy_fixtures")
    pytester.makepyfile(
        """
        import pytest
        from pytest_lazy_fixtures import lf

        @pytest.fixture
        def one():
            return 1

        @pytest.fixture(params=[lf("one")])
        async def through_params(request):
            return request.param

        @pytest.fixture
        async def through_indirect(request):
            yield request.param

        async def test_params(through_params):
            assert through_params == 1

        @pytest.mark.parametrize("through_indirect", [lf("one")], indirect=True)
        async def test_indirect(through_indirect):
            assert through_indirect == 1
        """
    )
    args = ("-p", "pytest_lazyfixture", *mode_args(mode))
    if engine == "Plugin()":  # registered before the plugins pytest loads
        result = pytester.runpytest(*ISOLATE, *args, plugins=[alt_coop.Plugin()])
    else:
        result = run_alt(*args)
    result.assert_outcomes(passed=2)


def test_a_fixture_named_by_lazy_fixtures_lf_makes_its_test_run_alone(pytester, run_alt):
    # pytest-lazy-fixtures asks for lf's fixtures through getfixturevalue as
    # the test sets up: known from the test's params before it starts, they
    # send it to run alone as if it asked for them itself (it had failed
    # with advice to do just that, which an lf parameter cannot).
    pytest.importorskip("pytest_lazy_fixtures")
    pytester.makepyfile(
        """
        import asyncio
        import time
        import pytest
        from pytest_lazy_fixtures import lf

        pytestmark = pytest.mark.asyncio_cooperative
        SPANS = {}

        @pytest.fixture
        def patched(monkeypatch):
            monkeypatch.setenv("WHERE", "patched")
            return "patched"

        @pytest.fixture
        def plain():
            return "plain"

        async def span(name):
            SPANS[name] = [time.monotonic()]
            await asyncio.sleep(0.2)
            SPANS[name].append(time.monotonic())

        @pytest.mark.parametrize("value", [lf("monkeypatch"), {"in": [lf("patched")]}])
        async def test_alone(value, request):
            await span(request.node.callspec.id)

        @pytest.mark.parametrize("value", [lf("plain")])
        async def test_beside(value):
            assert value == "plain"
            await span("beside")

        async def test_other():
            await span("other")

        @pytest.mark.asyncio_sequential
        def test_check():
            for alone in ("monkeypatch", "value1"):
                for other in ("beside", "other"):
                    (a0, a1), (b0, b1) = SPANS[alone], SPANS[other]
                    assert not (a0 < b1 and b0 < a1), (alone, other, SPANS)
            (a0, a1), (b0, b1) = SPANS["beside"], SPANS["other"]
            assert a0 < b1 and b0 < a1, SPANS  # these two ran at once
        """
    )
    result = run_alt("-p", "pytest_lazyfixture")
    result.assert_outcomes(passed=5, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "*AltCoopWarning: alt_coop: tests using monkeypatch (through pytest-lazy-fixtures' "
            "lf or lfc) run alone (process-wide state)"
        ]
    )


@pytest.mark.parametrize("loaded_as", ["entry point", "module"])
def test_lf_of_an_override_is_followed_to_what_it_overrides(pytester, run_alt, loaded_as):
    # The fixture an lf names may override one that uses monkeypatch; and
    # the plugin may be loaded by its module's name rather than its entry point.
    pytest.importorskip("pytest_lazy_fixtures")
    pytester.makeconftest(
        """
        import pytest

        @pytest.fixture
        def patched(monkeypatch):
            monkeypatch.setenv("WHERE", "patched")
            return "patched"
        """
    )
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        from pytest_lazy_fixtures import lf

        pytestmark = pytest.mark.asyncio_cooperative

        @pytest.fixture
        def patched(patched):
            return patched + "!"

        @pytest.mark.parametrize("value", [lf("patched")])
        async def test_lazy(value):
            assert value == "patched!"
            await asyncio.sleep(0.01)

        async def test_other():
            await asyncio.sleep(0.01)
        """
    )
    plugin = "pytest_lazyfixture" if loaded_as == "entry point" else "pytest_lazy_fixtures.plugin"
    result = run_alt("-p", plugin)
    result.assert_outcomes(passed=2, warnings=1)
    result.stdout.fnmatch_lines(
        ["*tests using monkeypatch (through pytest-lazy-fixtures' lf or lfc)*"]
    )


def test_lf_of_a_plugins_process_wide_fixture_makes_its_test_run_alone(pytester, run_alt):
    # Faker's fixture is known by the plugin module defining it, not by a name
    # of the run-alone list: through lf too.
    pytest.importorskip("pytest_lazy_fixtures")
    pytest.importorskip("faker")
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        from pytest_lazy_fixtures import lf

        pytestmark = pytest.mark.asyncio_cooperative

        @pytest.mark.parametrize("fake", [lf("faker")])
        async def test_lazy(fake):
            assert fake.name()
            await asyncio.sleep(0.01)

        async def test_other():
            await asyncio.sleep(0.01)
        """
    )
    result = run_alt("-p", "pytest_lazyfixture", "-p", "faker")
    result.assert_outcomes(passed=2, warnings=1)
    result.stdout.fnmatch_lines(["*tests using faker run alone (Faker re-seeds*"])


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_a_plugin_that_cannot_be_hashed_is_no_internal_error(pytester, run_alt, mode):
    # pluggy registers it (pytest compares plugins, it does not hash them);
    # alt_coop's look at the registered plugins made a set of them.
    pytester.makeconftest(
        """
        import dataclasses

        @dataclasses.dataclass
        class Counter:  # equality, and so no hash
            reports: int = 0

            def pytest_runtest_logreport(self, report):
                self.reports += 1

        def pytest_configure(config):
            config.pluginmanager.register(Counter(), "counter")
        """
    )
    pytester.makepyfile(
        """
        import asyncio

        async def test_it():
            await asyncio.sleep(0)
        """
    )
    if pytester.runpytest(*ISOLATE).ret == pytest.ExitCode.INTERNAL_ERROR:
        pytest.skip("this pytest takes no such plugin itself: it hashes plugins")
    result = run_alt(*mode_args(mode))
    result.assert_outcomes(passed=1)
