"""Embedding: pytest run from an application's own event loop, black-box.

Each test writes a small application (``app.py``) and a small test suite into
``pytester.path``, runs the application in a subprocess, and checks what it
prints and how it exits. The application calls pytest in one of three modes:

* ``sync``: ``pytest.main(args, plugins=[alt_coop.Plugin(managed_loop=loop)])``
  from synchronous code while ``loop`` is not running;
* ``nested``: the same call made synchronously from a coroutine running on
  ``loop`` (alt_coop runs the loop nested through nest-asyncio2);
* ``main``: ``await alt_coop.main(args)`` from a coroutine running on ``loop``.

Each mode runs with a standard asyncio loop and, where the mode allows it,
with uvloop. The suite reaches the application's objects (its loop, a queue,
a TCP server, a ticking task) through ``import __main__ as app``.
"""

from __future__ import annotations

import fnmatch
import os
import re
import sys
import textwrap
import time

import pytest
from conftest import (
    ISOLATE,
    SUITE_NESTED_TIMEOUT,
    SUITE_SELF_CANCEL_THEN_TIMEOUT,
    TAKE_BACK_OWN_CANCELLATIONS,
    interrupt_when,
    mode_args,
)
from cooperative_support import LAST_STEP_SUITE, assert_last_steps_work_was_its_phases

import alt_coop

#: (mode, loop class) pairs that must work. ``nested`` cannot use uvloop,
#: which cannot be run nested (see test_nested_pytest_main_on_uvloop_fails_at_once).
WORKING_MODES = [
    pytest.param("sync", "asyncio", id="sync-asyncio"),
    pytest.param("sync", "uvloop", id="sync-uvloop"),
    pytest.param("nested", "asyncio", id="nested-asyncio"),
    pytest.param("main", "asyncio", id="main-asyncio"),
    pytest.param("main", "uvloop", id="main-uvloop"),
]
LOOP_KINDS = ["asyncio", "uvloop"]


def uses_uvloop(loop_kind: str) -> None:
    """Skip when uvloop is wanted but not installed (it is POSIX and CPython only)."""
    if loop_kind == "uvloop":
        pytest.importorskip("uvloop")


def write(pytester: pytest.Pytester, relpath: str, source: str) -> None:
    path = pytester.path / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source).lstrip(), encoding="utf-8")


def run_app(pytester: pytest.Pytester, *args: str, timeout: float = 60) -> pytest.RunResult:
    """Run ``app.py`` in a subprocess; a hang is a failure after ``timeout`` seconds."""
    return pytester.run(sys.executable, "app.py", *args, timeout=timeout)


def output_of(result: pytest.RunResult) -> str:
    return result.stdout.str() + "\n" + result.stderr.str()


# -- the application ---------------------------------------------------------

#: An application with a loop, a queue, a TCP echo server and a ticking task of
#: its own. ``python app.py MODE LOOP_KIND [pytest args...]`` runs one pytest
#: session in MODE on a loop of LOOP_KIND, then reports on its own objects.
APP = """
import asyncio
import sys
import threading
import warnings

import pytest

import alt_coop

MODE, LOOP_KIND = sys.argv[1], sys.argv[2]
PYTEST_ARGS = [*ISOLATE, *sys.argv[3:]]

LOOP = None
LOOP_THREAD = threading.get_ident()
INBOX = None
PORT = None
TICKS = 0
TICKED = None  # an asyncio.Condition the ticker notifies at each tick
TICKER = None
SERVER = None
SEEN = []  # filled by the suite, printed by the app
LINGER = 0.0  # how long the app runs on after the session, before it reports


async def ticker():
    global TICKS
    while True:
        TICKS += 1
        async with TICKED:
            TICKED.notify_all()
        await asyncio.sleep(0.01)


async def ticks(count):
    # Waits for a count of ticks, not a rate.
    target = TICKS + count
    async with TICKED:
        await TICKED.wait_for(lambda: TICKS >= target)


async def echo(reader, writer):
    line = await reader.readline()
    writer.write(b"pong: " + line)
    await writer.drain()
    writer.close()


async def start_app():
    global LOOP, INBOX, PORT, TICKED, TICKER, SERVER
    LOOP = asyncio.get_running_loop()
    INBOX = asyncio.Queue()
    TICKED = asyncio.Condition()
    SERVER = await asyncio.start_server(echo, "127.0.0.1", 0)
    PORT = SERVER.sockets[0].getsockname()[1]
    TICKER = asyncio.create_task(ticker(), name="app-ticker")
    await asyncio.sleep(0)


async def after_session(code):
    print("EXIT CODE", int(code), flush=True)
    inbox = []
    while not INBOX.empty():
        inbox.append(await INBOX.get())
    print("INBOX", inbox)
    ticks = TICKS
    await asyncio.sleep(0.1)
    print("APP TICKER STILL RUNNING", not TICKER.done() and TICKS > ticks)
    await asyncio.sleep(LINGER)
    print("SEEN", SEEN)
    others = asyncio.all_tasks() - {asyncio.current_task(), TICKER}
    print("OTHER TASKS", sorted(task.get_name() for task in others))
    TICKER.cancel()
    SERVER.close()
    await SERVER.wait_closed()


def new_loop():
    if LOOP_KIND == "uvloop":
        import uvloop

        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


loop = new_loop()
if MODE == "sync":
    previous = asyncio.new_event_loop()
    asyncio.set_event_loop(previous)
    loop.run_until_complete(start_app())
    code = pytest.main(PYTEST_ARGS, plugins=[alt_coop.Plugin(managed_loop=loop)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        print("PREVIOUS LOOP CURRENT AGAIN", asyncio.get_event_loop() is previous)
    loop.run_until_complete(after_session(code))
    previous.close()
else:
    async def app_main():
        await start_app()
        if MODE == "nested":
            plugin = alt_coop.Plugin(managed_loop=asyncio.get_running_loop())
            code = pytest.main(PYTEST_ARGS, plugins=[plugin])
        else:
            code = await alt_coop.main(PYTEST_ARGS, plugins=None)  # as pytest.main takes it
        await after_session(code)

    loop.run_until_complete(app_main())
print("APP LOOP CLOSED", loop.is_closed())
loop.close()
"""


def write_app(pytester: pytest.Pytester, source: str = APP) -> None:
    write(pytester, "app.py", f"ISOLATE = {ISOLATE!r}\n" + textwrap.dedent(source))


#: Tests that use the application's loop and the objects bound to it.
SUITE_APP_OBJECTS = """
import asyncio
import contextvars
import threading

import pytest

import __main__ as app

REQUEST_ID = contextvars.ContextVar("REQUEST_ID", default="unset")


@pytest.fixture
def sync_fixture_thread():
    return threading.get_ident()


@pytest.fixture
async def async_fixture_loop():
    await asyncio.sleep(0)
    REQUEST_ID.set("set by the fixture")
    yield asyncio.get_running_loop()
    await asyncio.sleep(0)
    app.SEEN.append("async fixture torn down")


async def test_runs_on_the_app_loop(async_fixture_loop):
    await asyncio.sleep(0)
    assert asyncio.get_running_loop() is app.LOOP
    assert async_fixture_loop is app.LOOP
    assert REQUEST_ID.get() == "set by the fixture"


def test_sync_code_runs_on_the_loop_thread(sync_fixture_thread):
    assert sync_fixture_thread == app.LOOP_THREAD
    assert threading.get_ident() == app.LOOP_THREAD


async def test_puts_into_the_app_queue():
    await app.INBOX.put("from the test")


async def test_talks_to_the_app_server():
    reader, writer = await asyncio.open_connection("127.0.0.1", app.PORT)
    writer.write(b"ping\\n")
    await writer.drain()
    reply = await asyncio.wait_for(reader.readline(), 2)
    writer.close()
    await writer.wait_closed()
    assert reply == b"pong: ping\\n"


async def test_app_tasks_run_while_the_test_awaits():
    # The bound catches a loop the test blocks; it is no rate to meet.
    await asyncio.wait_for(app.ticks(5), 30)
"""


@pytest.mark.parametrize(("mode", "loop_kind"), WORKING_MODES)
def test_tests_run_on_the_app_loop_and_use_its_objects(
    pytester: pytest.Pytester, mode: str, loop_kind: str
) -> None:
    uses_uvloop(loop_kind)
    write_app(pytester)
    write(pytester, "suite/test_app_objects.py", SUITE_APP_OBJECTS)
    result = run_app(pytester, mode, loop_kind, "suite", "-v")
    output = output_of(result)

    assert result.ret == 0, output
    result.stdout.fnmatch_lines(
        [
            "*test_runs_on_the_app_loop PASSED*",
            "*test_sync_code_runs_on_the_loop_thread PASSED*",
            "*test_puts_into_the_app_queue PASSED*",
            "*test_talks_to_the_app_server PASSED*",
            "*test_app_tasks_run_while_the_test_awaits PASSED*",
            "*= 5 passed in *",  # and no warning: nothing of the app's was cancelled
        ]
    )
    assert "EXIT CODE 0" in output
    assert "INBOX ['from the test']" in output
    assert "'async fixture torn down'" in output
    # The application's own task was neither cancelled nor warned about.
    assert "APP TICKER STILL RUNNING True" in output
    assert "app-ticker" not in output
    assert "APP LOOP CLOSED False" in output
    if mode == "sync":
        assert "PREVIOUS LOOP CURRENT AGAIN True" in output


def run_timed_suite(
    pytester: pytest.Pytester,
    mode: str,
    loop_kind: str,
    name: str,
    source: str,
    *args: str,
    timeout: float,
) -> tuple[pytest.RunResult, str]:
    """Run ``source``, as ``suite/<name>``, through the application with
    pytest-timeout loaded; skipped without it (or without uvloop, if wanted)."""
    pytest.importorskip("pytest_timeout")
    uses_uvloop(loop_kind)
    write_app(pytester)
    write(pytester, f"suite/{name}", source)
    result = run_app(pytester, mode, loop_kind, "suite", "-p", "timeout", *args, timeout=timeout)
    return result, output_of(result)


@pytest.mark.parametrize(
    ("mode", "loop_kind", "name"),
    [
        *(pytest.param(*mode.values, "timeout", id=mode.id) for mode in WORKING_MODES),
        # Loaded by its module's name, it is registered under that one.
        pytest.param("main", "asyncio", "pytest_timeout", id="main-asyncio-module-name"),
    ],
)
def test_pytest_timeout_fails_the_test_and_leaves_the_app_running(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    mode: str,
    loop_kind: str,
    name: str,
) -> None:
    # Under alt_coop.main the application runs the loop: pytest-timeout's
    # failure, raised in its select while the test waited, left the app's
    # run_until_complete and ended the application (on uvloop, it was logged
    # and lost, and the test ran on). Nested, it landed in whatever ran, a
    # busy task of the test's (which it ended) most of all, and the test
    # waited on until alt_coop's own timeout.
    pytest.importorskip("pytest_timeout")
    uses_uvloop(loop_kind)
    write_app(pytester)
    write(
        pytester,
        "suite/test_hangs.py",
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
        async def test_async_hang(async_timeout):
            async_timeout.set_timeout_seconds(20)
            task = asyncio.create_task(spinner())
            try:
                await asyncio.sleep(30)
            finally:
                task.cancel()
                await asyncio.wait([task])
                print("SPINNER", "cancelled" if task.cancelled() else repr(task.exception()))

        @pytest.mark.timeout(0.5)
        def test_sync_hang():
            time.sleep(30)

        async def test_after():
            await asyncio.sleep(0)
        """,
    )
    if name != "timeout":  # loaded under that name only, not also by its entry point
        monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    result = run_app(pytester, mode, loop_kind, "suite", "-v", "-p", name, timeout=25)
    output = output_of(result)
    assert result.ret == 0, output
    result.stdout.fnmatch_lines(
        [
            "*test_async_hang FAILED*",
            "*test_sync_hang FAILED*",
            "*test_after PASSED*",
            "suite/test_hangs.py:17: Failed",
            "suite/test_hangs.py:25: Failed",
            "*2 failed, 1 passed*",
        ]
    )
    # Once per failure; the short summary repeats it when pytest runs on CI.
    failures = output.split("short test summary info")[0]
    assert failures.count("Failed: Timeout (>0.5s) from pytest-timeout.") == 2, output
    assert "SPINNER cancelled" in failures, output
    assert "async timeout" not in output, output
    assert "EXIT CODE 1" in output
    assert "APP TICKER STILL RUNNING True" in output


@pytest.mark.parametrize(("mode", "loop_kind"), WORKING_MODES)
def test_a_pytest_timeout_in_what_a_tests_last_step_started_fails_that_test(
    pytester: pytest.Pytester, mode: str, loop_kind: str
) -> None:
    # The failure, raised into the loop in the turn the test ended, failed
    # the next test; on uvloop, whose stop() is a callback, the stop it made
    # was left for the next test's run, which it cut short with a warning
    # that a test had called loop.stop().
    result, output = run_timed_suite(
        pytester,
        mode,
        loop_kind,
        "test_last_step.py",
        """
        import asyncio
        import time
        import pytest

        def blocks():
            time.sleep(1.5)

        async def blocking():
            blocks()

        @pytest.mark.timeout(0.5)
        async def test_starts_a_blocking_task():
            await asyncio.sleep(0)
            asyncio.get_running_loop().create_task(blocking())

        @pytest.mark.timeout(0.5)
        async def test_queues_a_blocking_callback():
            await asyncio.sleep(0)
            asyncio.get_running_loop().call_soon(blocks)

        async def test_after():
            await asyncio.sleep(0.01)
        """,
        "-v",
        timeout=25,
    )
    result.stdout.fnmatch_lines(
        [
            "*test_starts_a_blocking_task FAILED*",
            "*test_queues_a_blocking_callback FAILED*",
            "*test_after PASSED*",
            "*_ test_starts_a_blocking_task _*",
            ">       time.sleep(1.5)",
            "E       Failed: Timeout (>0.5s) from pytest-timeout.",
            "suite/test_last_step.py:6: Failed",
            "*_ test_queues_a_blocking_callback _*",
            ">       time.sleep(1.5)",
            "E       Failed: Timeout (>0.5s) from pytest-timeout.",
            "suite/test_last_step.py:6: Failed",
            "*2 failed, 1 passed*",
        ]
    )
    assert "loop.stop()" not in output, output
    assert "EXIT CODE 1" in output
    assert "APP TICKER STILL RUNNING True" in output


@pytest.mark.parametrize(("mode", "loop_kind"), WORKING_MODES)
def test_a_pytest_timeout_stops_code_that_never_gives_the_loop_back(
    pytester: pytest.Pytester, mode: str, loop_kind: str
) -> None:
    # The failure, handed to the test through the loop (under alt_coop.main,
    # on uvloop, or landing in a task), never came while a task or callback
    # held the loop for ever: the run hung, silently. A grace period later
    # it is raised where that code runs.
    result, output = run_timed_suite(
        pytester,
        mode,
        loop_kind,
        "test_runaway.py",
        """
        import asyncio
        import contextvars
        import time
        import pytest

        def spin():  # holds the loop for ever (sleeping: a busy loop only burns CPU)
            while True:
                time.sleep(0.01)

        async def spinning():
            spin()

        @pytest.mark.timeout(0.5)
        async def test_runaway_task(async_timeout):
            async_timeout.set_timeout_seconds(30)
            await asyncio.get_running_loop().create_task(spinning())

        @pytest.mark.timeout(0.5)
        async def test_runaway_callback(async_timeout):
            async_timeout.set_timeout_seconds(30)
            asyncio.get_running_loop().call_soon(spin)
            await asyncio.sleep(30)

        @pytest.mark.timeout(0.5)
        async def test_runaway_in_a_context_of_no_test(async_timeout):
            # As a task sent to the loop from a thread the test started: no
            # one can tell it from the application's (stopped later).
            async_timeout.set_timeout_seconds(30)
            loop = asyncio.get_running_loop()
            loop.create_task(spinning(), context=contextvars.Context())
            await asyncio.sleep(30)

        async def test_after():
            await asyncio.sleep(0.01)
        """,
        "-v",
        timeout=60,
    )
    result.stdout.fnmatch_lines(
        [
            "*test_runaway_task FAILED*",
            "*test_runaway_callback FAILED*",
            "*test_runaway_in_a_context_of_no_test FAILED*",
            "*test_after PASSED*",
            "*3 failed, 1 passed*",
        ]
    )
    failures = output.split("short test summary info")[0]
    assert failures.count("Failed: Timeout (>0.5s) from pytest-timeout.") == 3, output
    assert "async timeout" not in output, output
    assert "never retrieved" not in output, output
    assert "EXIT CODE 1" in output
    assert "APP TICKER STILL RUNNING True" in output


@pytest.mark.parametrize(("mode", "loop_kind"), WORKING_MODES)
def test_a_pytest_timeout_taken_late_is_not_raised_again(
    pytester: pytest.Pytester, mode: str, loop_kind: str
) -> None:
    # The failure is raised again where the code runs if the loop has not
    # come back for it two seconds later. Under alt_coop.main, a test whose
    # cleanup took longer than that had it raised again in the application's
    # loop (the application crashed); and a busy application task (one not
    # of the session's context) was ended by it, on every loop.
    result, output = run_timed_suite(
        pytester,
        mode,
        loop_kind,
        "test_late.py",
        """
        import asyncio
        import contextvars
        import time
        import pytest

        @pytest.mark.timeout(0.5)
        async def test_slow_cleanup():
            try:
                await asyncio.sleep(10)
            finally:
                await asyncio.sleep(2.5)

        async def busy():
            await asyncio.sleep(0.3)
            time.sleep(3)
            print("BUSY TASK FINISHED")

        @pytest.mark.timeout(0.5)
        async def test_while_an_application_task_is_busy():
            loop = asyncio.get_running_loop()
            task = loop.create_task(busy(), context=contextvars.Context())
            try:
                await asyncio.sleep(10)
            finally:
                await asyncio.wait([task])
                print("BUSY TASK ENDED WITH", repr(task.exception()))

        async def test_after():
            await asyncio.sleep(0.01)
        """,
        "-s",
        timeout=60,
    )
    result.stdout.fnmatch_lines(
        [
            "*BUSY TASK FINISHED",  # after the first test's F
            "BUSY TASK ENDED WITH None",
            "FAILED suite/test_late.py::test_slow_cleanup - Failed: Timeout*",
            "FAILED suite/test_late.py::test_while_an_application_task_is_busy - Failed: *",
            "*2 failed, 1 passed*",
        ]
    )
    failures = output.split("short test summary info")[0]
    assert failures.count("Failed: Timeout (>0.5s) from pytest-timeout.") == 2, output
    assert "EXIT CODE 1" in output
    assert "APP TICKER STILL RUNNING True" in output


@pytest.mark.parametrize(("mode", "loop_kind"), WORKING_MODES)
def test_a_pytest_timeout_names_the_suites_lines_whenever_the_work_ends(
    pytester: pytest.Pytester, mode: str, loop_kind: str
) -> None:
    # Landing in a task that blocks the loop while the test waits, the
    # failure is the test's at the line it waits at; on uvloop (whose stop()
    # is a callback), the test's wait could end in the turn the failure was
    # raised in, and the report named uvloop's line. Landing in what a
    # fixture setup's last step queued, under alt_coop.main, the report
    # named the fixture's yield, where it waited at no time.
    result, output = run_timed_suite(
        pytester,
        mode,
        loop_kind,
        "test_lines.py",
        """
        import asyncio
        import time
        import pytest

        def blocks():
            time.sleep(1)

        async def blocking():
            blocks()

        @pytest.mark.timeout(0.5)
        async def test_waits_while_a_task_blocks():
            asyncio.get_running_loop().create_task(blocking())
            await asyncio.sleep(0.1)

        @pytest.fixture
        async def queues():
            await asyncio.sleep(0)
            asyncio.get_running_loop().create_task(blocking())
            yield

        @pytest.mark.timeout(0.5)
        async def test_set_up_by_a_fixture_that_queues(queues):
            pass
        """,
        timeout=40,
    )
    result.stdout.fnmatch_lines(
        [
            "*_ ERROR at setup of test_set_up_by_a_fixture_that_queues _*",
            ">       time.sleep(1)",
            "E       Failed: Timeout (>0.5s) from pytest-timeout.",
            "suite/test_lines.py:6: Failed",
            "*_ test_waits_while_a_task_blocks _*",
            ">       await asyncio.sleep(0.1)",
            "E       Failed: Timeout (>0.5s) from pytest-timeout.",
            "suite/test_lines.py:14: Failed",
            "*1 failed, 1 error*",
        ]
    )
    assert ".pyx" not in output, output
    assert "EXIT CODE 1" in output
    assert "APP TICKER STILL RUNNING True" in output


@pytest.mark.parametrize(("mode", "loop_kind"), WORKING_MODES)
def test_a_pytest_timeout_landing_in_an_application_callback_leaves_it_to_finish(
    pytester: pytest.Pytester, mode: str, loop_kind: str
) -> None:
    # Raised in place in a callback the test scheduled, pytest-timeout's
    # failure stops it, as it would stop the test's own code; raised in one
    # of the application's (one run in a context not the session's), it
    # would cut the application's work short: it goes to the test, which
    # fails at the line it waited at.
    result, output = run_timed_suite(
        pytester,
        mode,
        loop_kind,
        "test_app_callback.py",
        """
        import asyncio
        import contextvars
        import time
        import pytest

        def applications():
            time.sleep(1.5)
            print("APPLICATION CALLBACK DONE")

        @pytest.mark.timeout(0.5)
        async def test_waits():
            asyncio.get_running_loop().call_soon(applications, context=contextvars.Context())
            await asyncio.sleep(10)
        """,
        "-s",
        timeout=25,
    )
    result.stdout.fnmatch_lines(
        [
            "*APPLICATION CALLBACK DONE*",
            ">       await asyncio.sleep(10)",
            "E       Failed: Timeout (>0.5s) from pytest-timeout.",
            "suite/test_app_callback.py:13: Failed",
            "*1 failed*",
        ]
    )
    assert "APP TICKER STILL RUNNING True" in output


@pytest.mark.parametrize(("mode", "loop_kind"), WORKING_MODES)
def test_a_pytest_timeout_the_test_does_not_end_with_names_where_it_waited(
    pytester: pytest.Pytester, mode: str, loop_kind: str
) -> None:
    # Under alt_coop.main, the error a test raised as it was cut short was
    # lost, pytest-timeout's failure shown at its line; a test that swallowed
    # the cancellation had all its traceback entries hidden.
    result, output = run_timed_suite(
        pytester,
        mode,
        loop_kind,
        "test_cut_short.py",
        """
        import asyncio
        import pytest

        async def close():
            raise ConnectionError("close failed: server gone")

        @pytest.mark.timeout(0.5)
        async def test_raises_instead():
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                await close()

        @pytest.mark.timeout(0.5)
        async def test_swallows():
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                pass
        """,
        timeout=25,
    )
    assert "EXIT CODE 1" in output, output
    result.stdout.fnmatch_lines(
        [
            "E       ConnectionError: close failed: server gone",
            "suite/test_cut_short.py:5: ConnectionError",
            "*direct cause of the following exception*",
            ">           await asyncio.sleep(30)",
            "E           Failed: Timeout (>0.5s) from pytest-timeout.",
            "suite/test_cut_short.py:10: Failed",
            "*_ test_swallows _*",
            ">           await asyncio.sleep(30)",
            "E           Failed: Timeout (>0.5s) from pytest-timeout.",
            "suite/test_cut_short.py:17: Failed",
        ]
    )
    assert "entries are hidden" not in output, output


@pytest.mark.parametrize(("mode", "loop_kind"), WORKING_MODES)
def test_failures_and_timeouts_read_as_usual(
    pytester: pytest.Pytester, mode: str, loop_kind: str
) -> None:
    uses_uvloop(loop_kind)
    write_app(pytester)
    write(
        pytester,
        "suite/test_failures.py",
        """
        import asyncio


        async def helper():
            await asyncio.sleep(0)
            raise ValueError("boom from the helper")


        async def test_fails():
            await asyncio.sleep(0)
            await helper()


        async def test_times_out(async_timeout):
            async_timeout.set_timeout_seconds(0.1)
            await asyncio.sleep(10)


        async def test_passes():
            await asyncio.sleep(0)
        """,
    )
    started = time.monotonic()
    result = run_app(pytester, mode, loop_kind, "suite", "--tb=long")
    elapsed = time.monotonic() - started
    output = output_of(result)

    assert result.ret == 0, output  # the app itself ends normally
    assert "EXIT CODE 1" in output
    result.stdout.fnmatch_lines(["*= 2 failed, 1 passed in *"])
    result.stdout.fnmatch_lines(
        [
            "*await helper()*",
            '*raise ValueError("boom from the helper")*',
            "E       ValueError: boom from the helper",
        ]
    )
    result.stdout.fnmatch_lines(["*test_times_out timed out after 0.1s (async timeout)*"])
    pytest_output = result.stdout.str().split("EXIT CODE")[0]
    assert "asyncio" + "/" not in pytest_output.replace("import asyncio", "")
    assert "alt_coop/" not in pytest_output
    assert "greenlet" not in pytest_output
    assert "nest_asyncio" not in pytest_output
    assert "uvloop" not in pytest_output
    assert "APP LOOP CLOSED False" in output
    assert elapsed < 30, output


@pytest.mark.parametrize(("mode", "loop_kind"), WORKING_MODES)
def test_tasks_left_by_a_test_are_cancelled_and_named(
    pytester: pytest.Pytester, mode: str, loop_kind: str
) -> None:
    uses_uvloop(loop_kind)
    write_app(pytester)
    write(
        pytester,
        "suite/test_leftover.py",
        """
        import asyncio

        import __main__ as app


        async def forgotten():
            try:
                await asyncio.sleep(3600)
            finally:
                app.SEEN.append("leftover finally ran")


        async def test_leaves_a_task_running():
            asyncio.create_task(forgotten(), name="forgotten-by-test")
            await asyncio.sleep(0)
        """,
    )
    result = run_app(pytester, mode, loop_kind, "suite")
    output = output_of(result)

    assert result.ret == 0, output
    assert "EXIT CODE 0" in output
    result.stdout.fnmatch_lines(
        [
            "*= warnings summary =*",
            "*AltCoopWarning: alt_coop cancelled 1 task(s) still pending at the end of the "
            "session: forgotten-by-test (forgotten)*",
            "*1 passed, 1 warning*",
        ]
    )
    assert "SEEN ['leftover finally ran']" in output
    # Only the test's task was cancelled; the application's ticker goes on.
    assert "app-ticker" not in output
    assert "APP TICKER STILL RUNNING True" in output
    assert "APP LOOP CLOSED False" in output


@pytest.mark.parametrize(("mode", "loop_kind"), WORKING_MODES)
def test_tasks_of_a_server_a_test_started_are_the_sessions(
    pytester: pytest.Pytester, mode: str, loop_kind: str
) -> None:
    uses_uvloop(loop_kind)
    write_app(pytester)
    write(
        pytester,
        "suite/test_server.py",
        """
        import asyncio

        import __main__ as app

        KEEP = []


        async def handle(reader, writer):
            try:
                await reader.read()  # the client never closes
            finally:
                app.SEEN.append("handler finally ran")


        async def test_starts_a_server():
            server = await asyncio.start_server(handle, "127.0.0.1", 0)
            port = server.sockets[0].getsockname()[1]
            KEEP.extend([server, await asyncio.open_connection("127.0.0.1", port)])
            await asyncio.sleep(0.1)  # the handler is running
        """,
    )
    result = run_app(pytester, mode, loop_kind, "suite")
    output = output_of(result)

    assert result.ret == 0, output
    # The handler task was made by the loop's callback for the server the
    # test started: the session's, cancelled and named at its end.
    result.stdout.fnmatch_lines(
        [
            "*AltCoopWarning: alt_coop cancelled 1 task(s) still pending at the end of the "
            "session: *(handle)*",
        ]
    )
    assert "SEEN ['handler finally ran']" in output
    assert "APP TICKER STILL RUNNING True" in output


@pytest.mark.parametrize(("mode", "loop_kind"), WORKING_MODES)
def test_callbacks_a_test_scheduled_do_not_outlive_the_session(
    pytester: pytest.Pytester, mode: str, loop_kind: str
) -> None:
    uses_uvloop(loop_kind)
    write_app(pytester)
    write(
        pytester,
        "site-packages/timer_lib.py",
        """
        def remind_later(loop, seen):
            loop.call_later(1.0, seen.append, "the library's callback ran")
        """,
    )
    write(
        pytester,
        "suite/test_callbacks.py",
        """
        import asyncio
        import pathlib
        import sys

        import pytest

        import __main__ as app

        sys.path.insert(0, str(pathlib.Path(__file__).parent.parent / "site-packages"))
        import timer_lib  # noqa: E402

        app.LINGER = 1.5


        def note_ran(who):
            app.SEEN.append(f"{who}'s callback ran")


        async def forever():
            await asyncio.sleep(3600)


        def start_task(loop, name):
            loop.create_task(forever(), name=name)


        def schedule(who):
            loop = asyncio.get_running_loop()
            when = loop.time() + 1.0
            loop.call_at(when, note_ran, who)
            loop.call_at(when, note_ran, who)  # equal to the first, as asyncio compares timers
            loop.call_later(1.0, start_task, loop, f"made-by-{who}-callback")
            loop.call_later(0, note_ran, f"{who} (at once)")
            loop.call_later(0.01, note_ran, f"{who} (cancelled)").cancel()


        async def test_sequential():
            schedule("sequential")
            timer_lib.remind_later(asyncio.get_running_loop(), app.SEEN)
            await asyncio.sleep(0.05)


        @pytest.mark.asyncio_cooperative
        async def test_cooperative():
            loop = asyncio.get_running_loop()
            loop.call_later(1.0, lambda: app.SEEN.append("the test's lambda ran"))
            schedule("cooperative")
            app.KEPT = loop.call_later(0, int)  # on uvloop, a handle without a when()
            await asyncio.sleep(0.05)
        """,
    )
    result = run_app(pytester, mode, loop_kind, "suite", "-p", "no:randomly")
    output = output_of(result)

    assert result.ret == 0, output
    # Those the suite scheduled and still waiting to run when the session
    # ends are cancelled and named, with where they were scheduled.
    result.stdout.fnmatch_lines(
        [
            "*test_callbacks.py:30: AltCoopWarning: alt_coop cancelled 7 callback(s) the "
            "session's code scheduled on the application's loop, which had not run at the "
            "end of the session: note_ran (scheduled at test_callbacks.py:30, 2 times), "
            "note_ran (scheduled at test_callbacks.py:31, 2 times), start_task (scheduled "
            "at test_callbacks.py:32, 2 times), test_cooperative.<locals>.<lambda> "
            "(scheduled at test_callbacks.py:46)",
            "*2 passed, 1 warning*",
        ]
    )
    # A library's timer serves its objects, which the application may keep
    # using: it runs; so do the application's own (its ticker's sleeps).
    assert (
        'SEEN ["sequential (at once)\'s callback ran", '
        '"cooperative (at once)\'s callback ran", "the library\'s callback ran"]'
    ) in output
    assert "OTHER TASKS []" in output
    assert "APP TICKER STILL RUNNING True" in output


@pytest.mark.parametrize(("mode", "loop_kind"), WORKING_MODES)
def test_what_leftover_tasks_start_as_they_are_cancelled_is_cancelled_too(
    pytester: pytest.Pytester, mode: str, loop_kind: str
) -> None:
    uses_uvloop(loop_kind)
    write_app(pytester)
    write(
        pytester,
        "suite/test_cleanup.py",
        """
        import asyncio

        import __main__ as app

        app.LINGER = 1.0


        def note(what):
            app.SEEN.append(what)


        async def forever():
            await asyncio.sleep(3600)


        async def worker():
            try:
                await asyncio.sleep(3600)
            finally:
                loop = asyncio.get_running_loop()
                loop.call_later(0.5, note, "the clean-up's timer ran")
                loop.create_task(forever(), name="started-by-the-clean-up")


        async def test_starts_a_worker():
            asyncio.create_task(worker(), name="worker")
            await asyncio.sleep(0)
        """,
    )
    result = run_app(pytester, mode, loop_kind, "suite", "-p", "no:randomly")
    output = output_of(result)

    assert result.ret == 0, output
    result.stdout.fnmatch_lines(
        [
            "*AltCoopWarning: alt_coop cancelled 1 task(s) still pending at the end of the "
            "session: worker (worker); alt_coop cancelled 1 task(s) still pending at the end "
            "of the session: started-by-the-clean-up (forever); alt_coop cancelled 1 "
            "callback(s) the session's code scheduled on the application's loop, which had "
            "not run at the end of the session: note (scheduled at test_cleanup.py:21)",
            "*1 passed, 1 warning*",
        ]
    )
    assert "SEEN []" in output
    assert "OTHER TASKS []" in output


def test_the_applications_own_errors_as_a_session_ends_are_left_to_its_handler(
    pytester: pytest.Pytester,
) -> None:
    # One of the application's tasks fails as the session ends its own (a
    # test left one behind), and one failed task waits in a reference cycle:
    # they are the application's, for its handler, not the session's warnings.
    write(
        pytester,
        "app.py",
        f"""
        import asyncio
        import gc

        import alt_coop

        ISOLATE = {ISOLATE!r}
        SEEN = []
        ENDING = None


        class Holder:
            pass


        async def fails_at_once():
            raise LookupError("failed before the session")


        async def fails_as_the_session_ends():
            await ENDING.wait()
            raise LookupError("failed as the session ended")


        async def main():
            global ENDING
            loop = asyncio.get_running_loop()
            loop.set_exception_handler(lambda loop, context: SEEN.append(context["exception"]))
            ENDING = asyncio.Event()
            gc.disable()
            holder = Holder()
            holder.me = holder
            holder.task = asyncio.create_task(fails_at_once())
            await asyncio.sleep(0)
            del holder
            asyncio.create_task(fails_as_the_session_ends())
            code = await alt_coop.main([*ISOLATE, "-p", "no:randomly", "test_leaves.py"])
            gc.collect()
            print("APPLICATION SAW", sorted(map(str, SEEN)))
            return code


        raise SystemExit(asyncio.run(main()))
        """,
    )
    write(
        pytester,
        "test_leaves.py",
        """
        import asyncio

        import __main__ as app


        async def slow_to_end():
            try:
                await asyncio.sleep(100)
            except asyncio.CancelledError:
                app.ENDING.set()
                await asyncio.sleep(0.05)
                raise


        async def test_leaves_a_task():
            asyncio.create_task(slow_to_end())
            await asyncio.sleep(0)
        """,
    )
    result = pytester.run(sys.executable, "app.py", timeout=60)
    output = output_of(result)
    assert result.ret == 0, output
    result.stdout.fnmatch_lines(
        [
            # Named "None" on 3.13.0 to 3.13.2 (see README: CPython issue 130033).
            "*AltCoopWarning: alt_coop cancelled 1 task(s) still pending at the end of the "
            "session: * (slow_to_end)",
            "*1 passed, 1 warning*",
            "APPLICATION SAW ['failed as the session ended', 'failed before the session']",
        ]
    )


@pytest.mark.parametrize(
    ("mode", "loop_kind"),
    [
        pytest.param("sync", "asyncio", id="sync-asyncio"),
        pytest.param("main", "asyncio", id="main-asyncio"),
        pytest.param("main", "uvloop", id="main-uvloop"),
    ],
)
def test_timers_a_test_sets_through_a_callback_or_a_thread_are_followed(
    pytester: pytest.Pytester, mode: str, loop_kind: str
) -> None:
    uses_uvloop(loop_kind)
    write_app(pytester)
    write(
        pytester,
        "suite/test_indirect.py",
        """
        import asyncio

        import __main__ as app


        def note(what):
            app.SEEN.append(what)


        async def test_sets_timers_indirectly():
            loop = asyncio.get_running_loop()
            loop.call_soon(loop.call_later, 30, note, "through a callback")
            await asyncio.to_thread(
                loop.call_soon_threadsafe, loop.call_later, 30, note, "from a thread"
            )
            await asyncio.sleep(0.05)
        """,
    )
    result = run_app(pytester, mode, loop_kind, "suite", "-p", "no:randomly")
    output = output_of(result)

    assert result.ret == 0, output
    # Set by asyncio running a callback: named where the timer's callback is written.
    result.stdout.fnmatch_lines(
        [
            "*AltCoopWarning: alt_coop cancelled 2 callback(s) the session's code scheduled "
            "on the application's loop, which had not run at the end of the session: note "
            "(written at test_indirect.py:6, 2 times)",
            "*1 passed, 1 warning*",
        ]
    )


def test_timers_of_tests_in_an_installed_package_are_followed(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tests shipped in an installed package (``--pyargs``, or a service's
    self-tests) are the suite's code, wherever they are installed."""
    write_app(pytester)
    write(pytester, "site-packages/selftested/__init__.py", "")
    write(pytester, "site-packages/selftested/tests/__init__.py", "")
    write(
        pytester,
        "site-packages/selftested/tests/test_installed.py",
        """
        import asyncio


        def note():
            pass


        async def test_sets_a_timer():
            asyncio.get_running_loop().call_later(30, note)
        """,
    )
    monkeypatch.setenv("PYTHONPATH", str(pytester.path / "site-packages"))
    result = run_app(pytester, "main", "asyncio", "--pyargs", "selftested.tests")
    output = output_of(result)

    assert result.ret == 0, output
    result.stdout.fnmatch_lines(
        [
            "*AltCoopWarning: alt_coop cancelled 1 callback(s) the session's code scheduled "
            "on the application's loop, which had not run at the end of the session: note "
            "(scheduled at test_installed.py:9)",
            "*1 passed, 1 warning*",
        ]
    )


@pytest.mark.parametrize("mode", ["sync", "nested", "main"])
def test_a_test_patching_the_loops_class_sees_its_patch(
    pytester: pytest.Pytester, mode: str
) -> None:
    """alt_coop's watch over the timers a session sets (see the test above)
    goes through the loop's class as it is at each call."""
    write_app(pytester)
    write(
        pytester,
        "suite/test_patch.py",
        """
        import asyncio


        async def test_spies_on_the_loops_timers(monkeypatch):
            loop = asyncio.get_running_loop()
            delays = []
            call_at = type(loop).call_at

            def spy(self, when, *args, **kwargs):
                delays.append(round(when - self.time(), 1))
                return call_at(self, when, *args, **kwargs)

            monkeypatch.setattr(type(loop), "call_at", spy)
            await asyncio.sleep(0.5)
            assert 0.5 in delays, delays
        """,
    )
    result = run_app(pytester, mode, "asyncio", "suite", "-p", "no:randomly")
    output = output_of(result)

    assert result.ret == 0, output
    result.stdout.fnmatch_lines(["*1 passed in*"])


@pytest.mark.parametrize("run_mode", ["sequential", "cooperative"])
@pytest.mark.parametrize("mode", ["sync", "nested", "main"])
def test_what_a_phases_last_step_queues_runs_in_that_phase(
    pytester: pytest.Pytester, mode: str, run_mode: str
) -> None:
    """As in a plain run (see test_cooperative.py): alt_coop.main's session
    runs sequential tests in its own task, which goes on after each phase;
    a nested session's phase ending in the turn a callback raised an outcome
    left the loop stopped, and the application's own run of it failed."""
    write_app(pytester)
    write(pytester, "suite/test_last_step.py", LAST_STEP_SUITE)
    result = run_app(
        pytester, mode, "asyncio", "suite", "-rA", "-p", "no:randomly", *mode_args(run_mode)
    )
    assert_last_steps_work_was_its_phases(result)
    # The application's loop runs on: no stop left over from a callback's outcome.
    assert "APP TICKER STILL RUNNING True" in result.stdout.str(), output_of(result)


OTHER_RUNNERS_SUITES = {
    "asyncio": """
        import pytest


        @pytest.mark.asyncio
        async def test_theirs():
            pass


        async def test_ours():
            pass
        """,
    "anyio": """
        import pytest


        @pytest.fixture
        def anyio_backend():
            return "asyncio"


        @pytest.mark.anyio
        async def test_theirs():
            pass


        async def test_ours():
            pass
        """,
}


@pytest.mark.parametrize("other", ["asyncio", "anyio"])
def test_other_plugins_tests_on_the_apps_running_loop_are_said_to_fail(
    pytester: pytest.Pytester, other: str
) -> None:
    """pytest-asyncio and anyio start a loop of their own for the tests they
    keep, which cannot start while the application's runs: the notice that
    they run those tests says so."""
    pytest.importorskip("pytest_asyncio" if other == "asyncio" else "anyio")
    write(
        pytester,
        "app.py",
        f"""
        import asyncio

        import alt_coop

        ISOLATE = {list(ISOLATE)!r}


        async def app_main():
            return await alt_coop.main([*ISOLATE, "-p", {other!r}, "-p", "no:randomly", "suite"])


        print("EXIT CODE", int(asyncio.run(app_main())))
        """,
    )
    write(pytester, "suite/test_other.py", OTHER_RUNNERS_SUITES[other])
    result = run_app(pytester)
    output = output_of(result)

    result.stdout.fnmatch_lines(
        [
            "*AltCoopWarning: alt_coop: tests * are run by *; on an application's running "
            "loop (await alt_coop.main, or pytest.main from a coroutine) a second asyncio "
            "loop cannot start, and the tests that need one fail",
            "*1 failed, 1 passed*",
        ]
    )
    assert "EXIT CODE 1" in output


SUITE_ISOLATED = """
import asyncio
import unittest

import __main__ as app


class TestIsolated(unittest.IsolatedAsyncioTestCase):
    async def asyncSetUp(self):
        app.SEEN.append("asyncSetUp")

    async def test_one(self):
        await asyncio.sleep(0)

    async def test_two(self):
        await asyncio.sleep(0)


async def test_ours():
    assert asyncio.get_running_loop() is app.LOOP
"""


@pytest.mark.parametrize(
    ("mode", "loop_kind"), [mode for mode in WORKING_MODES if mode.values[0] != "sync"]
)
def test_isolated_asyncio_test_cases_on_the_apps_running_loop_say_they_cannot_run(
    pytester: pytest.Pytester, mode: str, loop_kind: str
) -> None:
    """An IsolatedAsyncioTestCase starts a loop of its own for each test,
    which cannot start in the thread that runs the application's: each of
    its tests fails at setup saying so (they failed with asyncio's "cannot
    be called from a running event loop", and warnings of coroutines never
    awaited)."""
    uses_uvloop(loop_kind)
    write_app(pytester)
    write(pytester, "suite/test_isolated.py", SUITE_ISOLATED)
    result = run_app(pytester, mode, loop_kind, "suite", "-rA")
    output = output_of(result)

    result.stdout.fnmatch_lines(
        [
            "PASSED suite/test_isolated.py::test_ours",
            *(
                f"ERROR suite/test_isolated.py::TestIsolated::{name} - Failed: an Isolated*"
                for name in ("test_one", "test_two")
            ),
            "*= 1 passed, 2 errors in *",
        ]
    )
    assert (
        "which cannot start while the application's loop runs in this thread (await "
        "alt_coop.main, or pytest.main from a coroutine): run these tests with pytest itself"
    ) in output
    assert "SEEN []" in output
    assert "never awaited" not in output
    assert "Runner.run()" not in output


# -- pytest.main from a coroutine ---------------------------------------------


@pytest.mark.parametrize("start", ["uvloop.run", "uvloop.new_event_loop"])
def test_nested_pytest_main_on_uvloop_fails_at_once(pytester: pytest.Pytester, start: str) -> None:
    pytest.importorskip("uvloop")
    write_app(
        pytester,
        """
        import asyncio
        import sys

        import pytest
        import uvloop

        import alt_coop


        async def app_main():
            loop = asyncio.get_running_loop()
            plugin = alt_coop.Plugin(managed_loop=loop)
            code = pytest.main([*ISOLATE, "suite"], plugins=[plugin])
            print("EXIT CODE", int(code))
            await asyncio.sleep(0.01)  # the loop still serves the app
            print("LOOP CLOSED", loop.is_closed())


        if sys.argv[1] == "uvloop.run":
            uvloop.run(app_main())
        else:
            uvloop.new_event_loop().run_until_complete(app_main())
        """,
    )
    write(
        pytester,
        "suite/test_never_runs.py",
        """
        import asyncio

        async def test_never_runs():
            print("TEST RAN")
            await asyncio.sleep(0)
        """,
    )
    started = time.monotonic()
    result = run_app(pytester, start, timeout=30)
    elapsed = time.monotonic() - started
    output = output_of(result)

    assert result.ret == 0, output
    assert f"EXIT CODE {int(pytest.ExitCode.USAGE_ERROR)}" in output
    assert "await alt_coop.main(" in result.stderr.str()
    assert (
        "called from a coroutine or callback running on a uvloop.Loop, which cannot be run nested"
        in result.stderr.str()
    )
    assert "TEST RAN" not in output
    assert "LOOP CLOSED False" in output
    assert elapsed < 20, output


def test_nested_pytest_main_leaves_the_calling_task_alone(pytester: pytest.Pytester) -> None:
    # The task that calls pytest.main is the application's, not a leftover of
    # the session: it must not be cancelled or named when the session ends.
    # Two sessions, the second from a task the app creates afterwards (so the
    # calling task is one of the asyncio.Task class that nesting installs).
    write_app(
        pytester,
        """
        import asyncio

        import pytest

        import alt_coop


        async def session(n):
            plugin = alt_coop.Plugin(managed_loop=asyncio.get_running_loop())
            code = pytest.main([*ISOLATE, "suite", "-q"], plugins=[plugin])
            await asyncio.sleep(0.01)
            print(f"APP: session {n} exit code {int(code)}, its task went on", flush=True)


        async def app_main():
            await session(1)
            await asyncio.create_task(session(2), name="app-session-task")
            print("APP: done", flush=True)


        loop = asyncio.new_event_loop()
        loop.run_until_complete(app_main())
        print("APP LOOP CLOSED", loop.is_closed())
        """,
    )
    write(
        pytester,
        "suite/test_quick.py",
        """
        import asyncio

        async def test_quick():
            await asyncio.sleep(0)
        """,
    )
    result = run_app(pytester, timeout=30)
    output = output_of(result)

    assert result.ret == 0, output
    assert result.stdout.str().count("1 passed in ") == 2, output
    assert "AltCoopWarning" not in output
    result.stdout.fnmatch_lines(
        [
            "APP: session 1 exit code 0, its task went on",
            "APP: session 2 exit code 0, its task went on",
            "APP: done",
            "APP LOOP CLOSED False",
        ]
    )


@pytest.mark.parametrize("cooperative", [False, True])
def test_a_tests_stop_of_a_managed_loop_is_a_warning_at_its_line(
    pytester: pytest.Pytester, cooperative: bool
) -> None:
    # pytest.main from sync code on the application's idle loop: the
    # warning named alt_coop's line, called the loop alt_coop's, and the
    # application's own loop.stop was not its own during the session.
    write_app(
        pytester,
        """
        import asyncio
        import sys

        import pytest

        import alt_coop


        def own_stop():
            type(loop).stop(loop)


        loop = asyncio.new_event_loop()
        loop.stop = own_stop
        code = pytest.main(
            [*ISOLATE, "suite", "-q", *sys.argv[1:]], plugins=[alt_coop.Plugin(managed_loop=loop)]
        )
        print("APP: exit code", int(code), flush=True)
        print("APP: loop.stop is its own:", vars(loop).get("stop") is own_stop, flush=True)
        loop.close()
        """,
    )
    write(
        pytester,
        "suite/test_stops.py",
        """
        import asyncio

        async def test_stops():
            await asyncio.sleep(0.01)
            asyncio.get_running_loop().stop()
            await asyncio.sleep(0.01)

        async def test_beside():
            await asyncio.sleep(0.05)
        """,
    )
    result = run_app(pytester, *(["--asyncio-cooperative"] if cooperative else []), timeout=30)
    output = output_of(result)
    assert result.ret == 0, output
    assert "_runner.py" not in output, output
    result.stdout.fnmatch_lines(
        [
            "*test_stops.py:5: AltCoopWarning: a fixture or test called loop.stop() on the "
            "application's loop (managed_loop)*",
            "*2 passed, 1 warning*",
            "APP: exit code 0",
            "APP: loop.stop is its own: True",
        ]
    )


def test_a_test_closing_a_managed_loop_fails_naming_the_applications_loop(
    pytester: pytest.Pytester,
) -> None:
    # The errors called the application's loop alt_coop's.
    write_app(
        pytester,
        """
        import asyncio

        import pytest

        import alt_coop

        loop = asyncio.new_event_loop()
        code = pytest.main([*ISOLATE, "suite", "-q"], plugins=[alt_coop.Plugin(managed_loop=loop)])
        print("APP: exit code", int(code), flush=True)
        """,
    )
    write(
        pytester,
        "suite/test_closes.py",
        """
        import asyncio

        import __main__ as app

        def test_closes_it():
            app.loop.close()

        async def test_after():
            await asyncio.sleep(0)
        """,
    )
    result = run_app(pytester, timeout=30)
    output = output_of(result)
    assert "alt_coop's session loop" not in output, output
    result.stdout.fnmatch_lines(
        [
            "E   *AltCoopUsageError: this test closed the application's loop (managed_loop), "
            "which must stay open for the whole session*",
            "E   *AltCoopUsageError: the application's loop (managed_loop) was closed by a "
            "fixture or test*",
            "*2 failed*",
            "APP: exit code 1",
        ]
    )


@pytest.mark.parametrize(
    "who",
    [
        "application",
        "async test",
        "sync test",
        "application, its own loop.stop",
        "application, Ctrl-C at the session's end",
    ],
)
def test_a_stop_during_a_nested_session_reaches_the_applications_run(
    pytester: pytest.Pytester, who: str
) -> None:
    # alt_coop kept the loop running for the tests and then dropped the stop:
    # an application stopping itself (a shutdown timer, its Ctrl-C handler)
    # never did, and the warning blamed a test at alt_coop's own line. The
    # application's loop.stop is its own again after the session, even one
    # it set itself, and even when Ctrl-C cuts the session's cleanup short.
    write_app(
        pytester,
        """
        import asyncio
        import sys

        import pytest

        import alt_coop

        WHO = sys.argv[1]


        def own_stop():
            print("APP: its own stop", flush=True)
            type(loop).stop(loop)


        async def app_main():
            loop = asyncio.get_running_loop()
            if WHO == "application, its own loop.stop":
                loop.stop = own_stop
            if WHO.startswith("application"):
                loop.call_later(0.3, lambda: loop.stop())
            plugin = alt_coop.Plugin(managed_loop=loop)
            try:
                code = pytest.main([*ISOLATE, "suite", "-q", "-rA"], plugins=[plugin])
                print("APP: exit code", int(code), flush=True)
            except KeyboardInterrupt:
                print("APP: pytest.main raised KeyboardInterrupt", flush=True)
            stop = vars(loop).get("stop")
            print("APP: loop.stop is", "its own" if stop is own_stop else stop, flush=True)
            await asyncio.sleep(10)
            print("APP: still running after the session", flush=True)


        loop = asyncio.new_event_loop()
        loop.create_task(app_main())
        loop.run_forever()
        print("APP: run_forever returned", flush=True)
        """,
    )
    write(
        pytester,
        "suite/test_stops.py",
        """
        import asyncio
        import os
        import signal
        import sys

        import pytest

        WHO = sys.argv[1]

        async def test_waits():
            if WHO == "async test":
                asyncio.get_running_loop().stop()
            await asyncio.sleep(1)

        def test_sync():
            if WHO == "sync test":
                asyncio.get_running_loop().stop()

        async def left_running():
            try:
                await asyncio.sleep(100)
            finally:  # alt_coop cancels it at the session's end
                os.kill(os.getpid(), signal.SIGINT)
                await asyncio.sleep(1)

        @pytest.fixture(scope="session")
        async def background():
            if WHO == "application, Ctrl-C at the session's end":
                asyncio.get_running_loop().create_task(left_running())

        async def test_after(background):
            await asyncio.sleep(0.1)
        """,
    )
    result = run_app(pytester, who, timeout=30)
    output = output_of(result)
    assert result.ret == 0, output
    expected = {
        "application": "*/app.py:23: AltCoopWarning: loop.stop() was called on the "
        "application's loop while a pytest session ran nested on it; *",
        "async test": "*/suite/test_stops.py:12: AltCoopWarning: loop.stop() was called *",
        "sync test": "*/suite/test_stops.py:17: AltCoopWarning: loop.stop() was called *",
    }
    if who == "application, Ctrl-C at the session's end":
        # It ends the wait for the task left running, and the report follows.
        tail = [
            # (Named None on Python 3.13.0 to 3.13.2: see the README.)
            "* (left_running); the wait for these was cut short by an interrupt, and "
            "they were left where they waited: * (left_running)",
            "KeyboardInterrupt: interrupted at the end of the session, while the tasks the "
            "tests left running were ending",
            "*3 passed, 2 warnings*",
            "APP: exit code 2",
            "APP: loop.stop is None",
        ]
    else:
        tail = [
            # The stop passed on as the session ends, before pytest's summary.
            *(["*APP: its own stop"] if "its own" in who else []),
            expected.get(who, expected["application"]),
            "PASSED suite/test_stops.py::test_waits",
            "PASSED suite/test_stops.py::test_sync",
            "PASSED suite/test_stops.py::test_after",
            "*3 passed, 1 warning*",
            "APP: exit code 0",
            f"APP: loop.stop is {'its own' if 'its own' in who else None}",
        ]
    result.stdout.fnmatch_lines([*tail, "APP: run_forever returned"])
    assert "still running" not in output, output


def test_the_apps_objects_reach_the_tests_as_fixtures_of_a_plugin_object(
    pytester: pytest.Pytester,
) -> None:
    # The README's way: a plugin object passed to alt_coop.main, whose
    # fixture methods hand the tests the application's live objects.
    write_app(
        pytester,
        """
        import asyncio

        import pytest

        import alt_coop


        class LiveObjects:
            def __init__(self, server):
                self._server = server

            @pytest.fixture
            def server(self):
                return self._server


        async def handle(reader, writer):
            writer.write((await reader.readline()).upper())
            await writer.drain()
            writer.close()


        async def app_main():
            server = await asyncio.start_server(handle, "127.0.0.1", 0)
            code = await alt_coop.main([*ISOLATE, "suite", "-q"], plugins=[LiveObjects(server)])
            server.close()
            await server.wait_closed()
            print("EXIT CODE", int(code))


        asyncio.run(app_main())
        """,
    )
    write(
        pytester,
        "suite/test_live.py",
        """
        import asyncio

        async def test_talks_to_the_live_server(server):
            host, port = server.sockets[0].getsockname()[:2]
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(b"ping\\n")
            assert await reader.readline() == b"PING\\n"
            writer.close()
            await writer.wait_closed()
        """,
    )
    result = run_app(pytester, timeout=30)
    output = output_of(result)
    assert result.ret == 0, output
    result.stdout.fnmatch_lines(["1 passed in *", "EXIT CODE 0"])


def test_first_nested_pytest_main_leaves_the_running_batch_of_handles_alone(
    pytester: pytest.Pytester,
) -> None:
    # The loop's unpatched _run_once is part way through the batch that woke
    # the app, and pops as many handles as that batch had; the nested runs
    # took the ones behind the app's. It must not pop from an empty deque
    # (IndexError out of the app's run_until_complete).
    write_app(
        pytester,
        """
        import asyncio

        import pytest

        import alt_coop


        async def app_main():
            loop = asyncio.get_running_loop()
            woken = loop.create_future()

            def wake_the_app_and_others():
                woken.set_result(None)  # the app's wake-up, then more handles in its batch
                for _ in range(20):
                    loop.call_soon(lambda: None)

            loop.call_soon(wake_the_app_and_others)
            await woken
            plugin = alt_coop.Plugin(managed_loop=loop)
            code = pytest.main([*ISOLATE, "suite", "-q"], plugins=[plugin])
            print("EXIT CODE", int(code))


        loop = asyncio.new_event_loop()
        loop.run_until_complete(app_main())
        print("APP DONE")
        """,
    )
    write(
        pytester,
        "suite/test_one.py",
        """
        import asyncio


        async def test_one():
            await asyncio.sleep(0)
        """,
    )
    result = run_app(pytester, timeout=30)
    output = output_of(result)

    assert result.ret == 0, output
    assert "IndexError" not in output, output
    assert "EXIT CODE 0" in output
    assert "APP DONE" in output


# -- 2. pytest.main(managed_loop) leaves a context variable set ---------------


@pytest.mark.parametrize("mode", ["sync", "nested"])
def test_pytest_main_on_a_managed_loop_leaves_no_context_variable_set(
    pytester: pytest.Pytester, mode: str
) -> None:
    # pytest.main on a managed loop runs the protocol in the caller's context:
    # alt_coop's own variables must not keep the last test alive there, nor be
    # copied into every task the application makes afterwards.
    write_app(
        pytester,
        """
        import asyncio
        import contextvars
        import sys

        import pytest

        import alt_coop

        MODE = sys.argv[1]


        def ours():
            return sorted(
                (var.name, repr(value))
                for var, value in contextvars.copy_context().items()
                if var.name.startswith("alt_coop") and value not in (None, False)
            )


        def session(loop):
            plugin = alt_coop.Plugin(managed_loop=loop)
            return pytest.main([*ISOLATE, "suite", "-q"], plugins=[plugin])


        loop = asyncio.new_event_loop()
        if MODE == "sync":
            code = session(loop)
            left = ours()
        else:
            async def app_main():
                return session(asyncio.get_running_loop()), ours()

            code, left = loop.run_until_complete(app_main())
        print("EXIT CODE", int(code))
        print("LEFT IN THE CALLER'S CONTEXT", left)
        """,
    )
    write(
        pytester,
        "suite/test_two.py",
        """
        import asyncio


        async def test_first():
            await asyncio.sleep(0)


        def test_last():
            pass
        """,
    )
    result = run_app(pytester, mode, timeout=30)
    output = output_of(result)

    assert result.ret == 0, output
    assert "EXIT CODE 0" in output
    assert "LEFT IN THE CALLER'S CONTEXT []" in output, output


def test_finished_sessions_are_freed_however_they_ended(pytester: pytest.Pytester) -> None:
    # An application running pytest again and again: a test interrupted
    # (KeyboardInterrupt, pytest.exit) kept its session alive in the caller's
    # context, one more each time; a Plugin kept its last cooperative session.
    write_app(
        pytester,
        """
        import gc
        import sys
        import weakref

        import pytest

        import alt_coop

        SESSIONS = []


        class Track:
            def pytest_sessionfinish(self, session):
                SESSIONS.append(weakref.ref(session))


        # pytest's first session is kept by the plugin modules it imports.
        pytest.main([*ISOLATE, "cooperative", "-q", "--co"])
        ENGINE = alt_coop.Plugin()  # kept by the application across sessions
        for suite in ["interrupted", "exits", "cooperative", "interrupted"]:
            plugins = [ENGINE if suite == "cooperative" else alt_coop.Plugin(), Track()]
            pytest.main([*ISOLATE, suite, "-q", "--asyncio-cooperative"], plugins=plugins)
            for name in [name for name in sys.modules if name.startswith("test_")]:
                del sys.modules[name]  # pytest's own module cache, not alt_coop's
            sys.last_value = sys.last_traceback = sys.last_exc = None  # Python's, likewise
            gc.collect()
            print("ALIVE AFTER", suite, sum(ref() is not None for ref in SESSIONS))
        """,
    )
    suites = {
        "interrupted/test_interrupted.py": "def test_it():\n    raise KeyboardInterrupt\n",
        "exits/test_exits.py": "import pytest\n\ndef test_it():\n    pytest.exit('bye')\n",
        "cooperative/test_coop.py": "async def test_it():\n    pass\n",
    }
    for relpath, source in suites.items():
        write(pytester, relpath, source)
    result = run_app(pytester, timeout=60)
    output = output_of(result)
    for suite in ["interrupted", "exits", "cooperative", "interrupted"]:
        assert f"ALIVE AFTER {suite} 0" in output, output


# -- await alt_coop.main: cancellation and Ctrl-C ---------------------------------

#: A suite whose second test blocks until it is cancelled, leaving a marker file.
SUITE_SLOW = (
    """
import asyncio
import pathlib

import pytest


@pytest.fixture(scope="session")
def session_resource():
    yield "session"
    print("SESSION TEARDOWN", flush=True)


@pytest.fixture(scope="module")
async def module_resource():
    await asyncio.sleep(0)
    yield "module"
    await asyncio.sleep(0)
    print("MODULE TEARDOWN", flush=True)


@pytest.fixture
async def function_resource():
    yield "function"
    await asyncio.sleep(0)
    print("FUNCTION TEARDOWN", flush=True)


async def test_first(session_resource, module_resource):
    await asyncio.sleep(0)


async def test_slow(session_resource, module_resource, function_resource):
    # A cancellation of main's caller after these is still an interrupt.
    await take_back_own_cancellations()
    pathlib.Path("slow-test-started").write_text("started")
    try:
        await asyncio.sleep(30)
    finally:
        await asyncio.sleep(0)
        print("TEST FINALLY", flush=True)


async def test_never_reached():
    print("NEVER REACHED", flush=True)
"""
    + TAKE_BACK_OWN_CANCELLATIONS
)


SUITE_CANCELS_ITSELF_AND_RETURNS = """
import asyncio

async def test_cancels_its_own_task_and_returns():
    asyncio.current_task().cancel()

async def test_after():
    await asyncio.sleep(0.01)
"""

SUITE_CANCELS_ITSELF = """
import asyncio

async def test_cancels_its_own_task():
    asyncio.current_task().cancel()
    await asyncio.sleep(1)

async def test_after():
    await asyncio.sleep(0.01)
"""


def assert_interrupted_session_reported(output: str) -> None:
    assert "TEST FINALLY" in output
    assert "FUNCTION TEARDOWN" in output
    assert "MODULE TEARDOWN" in output
    assert "SESSION TEARDOWN" in output
    assert output.index("TEST FINALLY") < output.index("FUNCTION TEARDOWN")
    assert output.index("FUNCTION TEARDOWN") < output.index("MODULE TEARDOWN")
    assert "NEVER REACHED" not in output
    assert "KeyboardInterrupt" in output
    assert "1 passed" in output


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_an_abandoned_fixture_teardown_leaves_the_application_no_error(
    pytester: pytest.Pytester, mode: str
) -> None:
    # The fixture's async generator, abandoned where it ignored its timeout,
    # cannot be closed: asyncio tried all the same, once it was collected
    # ("Task exception was never retrieved") or, kept, as asyncio.run ended
    # ("an error occurred during closing of asynchronous generator").
    write_app(
        pytester,
        """
        import asyncio

        import alt_coop


        async def app_main():
            print("APP: main returned", await alt_coop.main([*ISOLATE, "suite"]), flush=True)


        asyncio.run(app_main())
        print("APP: asyncio.run returned", flush=True)
        """,
    )
    write(
        pytester,
        "suite/test_stubborn.py",
        f"""
        import asyncio

        import pytest


        @pytest.fixture
        async def stubborn(async_timeout):
            yield
            async_timeout.set_timeout_seconds(0.1)
            for _ in range(3):
                try:
                    await asyncio.sleep(1)
                except asyncio.CancelledError:
                    pass


        @pytest.mark.asyncio_{mode}
        async def test_it(stubborn):
            pass


        def test_after():
            pass
        """,
    )
    result = run_app(pytester, timeout=60)
    output = output_of(result)
    assert "APP: main returned 1" in output, output
    assert "APP: asyncio.run returned" in output, output
    result.stdout.fnmatch_lines(["*fixture 'stubborn' timed out after 0.1s during teardown*"])
    assert "already running" not in output, output


def test_a_teardown_cancelled_at_the_end_of_mains_session_reaches_the_caller(
    pytester: pytest.Pytester,
) -> None:
    # After main was cancelled, the session fixture was torn down at the
    # session's end, outside any test's report, and its teardown cancelled
    # its own task: that TeardownCancelled, a CancelledError, ended pytest's
    # task as cancelled, and the caller's CancelledError had no cause.
    write_app(
        pytester,
        """
        import asyncio

        import alt_coop


        async def app_main():
            global JOB
            JOB = asyncio.create_task(alt_coop.main([*ISOLATE, "suite"]))
            try:
                await JOB
            except asyncio.CancelledError as error:
                print("APP: cause", repr(error.__cause__), flush=True)
                print("APP: its cause", repr(error.__cause__.__cause__), flush=True)


        asyncio.run(app_main())
        """,
    )
    write(
        pytester,
        "suite/test_wide.py",
        """
        import asyncio

        import pytest

        import __main__ as app


        @pytest.fixture(scope="session")
        async def wide():
            yield
            asyncio.get_running_loop().call_later(0.05, asyncio.current_task().cancel)
            await asyncio.sleep(30)


        async def test_one(wide):
            asyncio.get_running_loop().call_later(0.1, app.JOB.cancel)
            await asyncio.sleep(30)
        """,
    )
    result = run_app(pytester, timeout=60)
    output = output_of(result)
    assert result.ret == 0, output
    result.stdout.fnmatch_lines(
        [
            "APP: cause AltCoopError(\"a fixture's teardown at the end of the session was "
            "cancelled by its code's own doing\")",
            "APP: its cause TeardownCancelled(*",
        ]
    )


def test_a_teardown_error_after_main_is_cancelled_shows_no_frame_of_alt_coops(
    pytester: pytest.Pytester,
) -> None:
    # test_second was waiting for the module fixture test_first was setting
    # up when main was cancelled; tearing down after it, a fixture failed.
    # Its report showed, as what that error happened "during the handling
    # of", the interrupt raised in alt_coop's own frames: their source.
    write_app(
        pytester,
        """
        import asyncio

        import alt_coop


        async def app_main():
            global JOB
            JOB = asyncio.create_task(alt_coop.main([*ISOLATE, "suite"]))
            try:
                await JOB
            except asyncio.CancelledError:
                print("APP: await job raised CancelledError", flush=True)


        asyncio.run(app_main())
        """,
    )
    write(
        pytester,
        "suite/test_shared.py",
        """
        import asyncio

        import pytest

        import __main__ as app


        @pytest.fixture(scope="module")
        async def shared():
            yield
            raise RuntimeError("the teardown of shared failed")


        @pytest.fixture(scope="module")
        async def slow():
            asyncio.get_running_loop().call_later(0.2, app.JOB.cancel)
            await asyncio.sleep(30)
            yield


        @pytest.mark.asyncio_cooperative
        async def test_first(shared, slow):
            pass


        @pytest.mark.asyncio_cooperative
        async def test_second(shared, slow):
            pass
        """,
    )
    result = run_app(pytester, timeout=30)
    output = output_of(result)
    assert result.ret == 0, output
    assert "APP: await job raised CancelledError" in output
    result.stdout.fnmatch_lines(["E * RuntimeError: the teardown of shared failed"])
    assert "alt_coop" + os.sep not in output, output
    assert "During handling" not in output, output


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_a_plain_def_test_ending_after_main_is_cancelled_keeps_its_outcome(
    pytester: pytest.Pytester, mode: str
) -> None:
    # The test's body cancels alt_coop.main, then fails. In a sequential run
    # it holds the loop, the cancellation comes after it, and its failure is
    # reported; a cooperative one's body runs in a thread, which nothing can
    # cut short: it was reported as cut short all the same ("no tests ran").
    write_app(
        pytester,
        """
        import asyncio

        import alt_coop


        async def app_main():
            global JOB, LOOP
            LOOP = asyncio.get_running_loop()
            JOB = asyncio.create_task(alt_coop.main([*ISOLATE, "suite", "-s"]))
            try:
                print("APP: job returned", await JOB, flush=True)
            except asyncio.CancelledError:
                print("APP: await job raised CancelledError", flush=True)


        asyncio.run(app_main())
        """,
    )
    mark = "@pytest.mark.asyncio_cooperative" if mode == "cooperative" else ""
    suite = f"""
        import threading
        import time

        import pytest

        import __main__ as app


        @pytest.fixture
        async def resource():
            yield
            print("FIXTURE TEARDOWN")


        {mark}
        def test_thread(resource):
            # Cancelled once the body is well into its sleep.
            threading.Timer(0.3, app.LOOP.call_soon_threadsafe, [app.JOB.cancel]).start()
            time.sleep(1)
            assert 1 == 2, "the body's own failure"
        """
    write(pytester, "suite/test_thread.py", suite)
    result = run_app(pytester, timeout=30)
    output = output_of(result)

    assert result.ret == 0, output
    assert "APP: await job raised CancelledError" in output
    assert "the body's own failure" in output
    result.stdout.fnmatch_lines(["*FAILED suite/test_thread.py::test_thread*"])
    assert re.search(r"\b1 failed\b", output), output
    assert output.count("FIXTURE TEARDOWN") == 1, output
    if mode == "cooperative":
        # pytest's one line about the interrupt names where the body was.
        waited = textwrap.dedent(suite).lstrip().splitlines().index("    time.sleep(1)") + 1
        result.stdout.fnmatch_lines([f"*suite/test_thread.py:{waited}: KeyboardInterrupt*"])


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_a_test_turning_mains_cancellation_into_an_error_fails_with_it(
    pytester: pytest.Pytester, mode: str
) -> None:
    # Sequential: pytest's line named its capture plugin's source, with no
    # word of the cancellation; cooperative: alt_coop's scheduler.
    write_app(
        pytester,
        """
        import asyncio

        import alt_coop


        async def app_main():
            global JOB
            JOB = asyncio.create_task(alt_coop.main([*ISOLATE, "suite", "-s"]))
            try:
                print("APP: job returned", await JOB, flush=True)
            except asyncio.CancelledError:
                print("APP: await job raised CancelledError", flush=True)


        asyncio.run(app_main())
        """,
    )
    mark = "@pytest.mark.asyncio_cooperative" if mode == "cooperative" else ""
    suite = f"""
        import asyncio

        import pytest

        import __main__ as app


        @pytest.fixture
        async def resource():
            yield
            await asyncio.sleep(0.01)
            print("FIXTURE TEARDOWN")


        {mark}
        async def test_cleanup_fails(resource):
            asyncio.get_running_loop().call_later(0.2, app.JOB.cancel)
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                raise RuntimeError("cleanup failed")


        """
    if mode == "sequential":  # (a cooperative one would run beside it)
        suite += """
        async def test_after():
            print("NEXT TEST RAN")
        """
    write(pytester, "suite/test_cleanup.py", suite)
    result = run_app(pytester, timeout=30)
    output = output_of(result)

    assert result.ret == 0, output
    assert "APP: await job raised CancelledError" in output
    result.stdout.fnmatch_lines(["*FAILED suite/test_cleanup.py::test_cleanup_fails*"])
    assert "RuntimeError: cleanup failed" in output, output
    assert "FIXTURE TEARDOWN" in output and "ERROR" not in output, output
    assert "NEXT TEST RAN" not in output and re.search(r"\b1 failed in\b", output), output
    lines = [line.strip() for line in (pytester.path / "suite/test_cleanup.py").open()]
    waited = lines.index("await asyncio.sleep(30)") + 1
    result.stdout.fnmatch_lines(
        [f"*suite/test_cleanup.py:{waited}: KeyboardInterrupt: the task running pytest*"]
    )


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
@pytest.mark.parametrize("loop_kind", LOOP_KINDS)
def test_cancelling_the_task_awaiting_main_interrupts_the_session(
    pytester: pytest.Pytester, loop_kind: str, mode: str
) -> None:
    uses_uvloop(loop_kind)
    write_app(
        pytester,
        """
        import asyncio
        import os
        import sys

        import alt_coop

        LOOP_KIND = sys.argv[1]


        async def app_main():
            args = [*ISOLATE, "suite", "-s", "-q", *sys.argv[2:]]
            job = asyncio.create_task(alt_coop.main(args))
            while not os.path.exists("slow-test-started"):
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.1)  # the test is now awaiting
            job.cancel()
            try:
                code = await job
            except asyncio.CancelledError:
                print("APP: await job raised CancelledError", flush=True)
            else:
                print("APP: job returned", code, flush=True)
            await asyncio.sleep(0.01)  # the loop goes on serving the app
            print("APP: still running after the cancellation", flush=True)


        if LOOP_KIND == "uvloop":
            import uvloop

            loop = uvloop.new_event_loop()
        else:
            loop = asyncio.new_event_loop()
        loop.run_until_complete(app_main())
        print("APP LOOP CLOSED", loop.is_closed())
        loop.close()
        """,
    )
    write(pytester, "suite/test_slow.py", SUITE_SLOW)
    started = time.monotonic()
    result = run_app(pytester, loop_kind, *mode_args(mode), timeout=30)
    elapsed = time.monotonic() - started
    output = output_of(result)

    assert result.ret == 0, output
    if mode == "sequential":
        assert_interrupted_session_reported(output)
    else:  # the other tests ran beside the slow one
        assert output.index("TEST FINALLY") < output.index("MODULE TEARDOWN"), output
        assert "2 passed" in output
    # pytest's one line about the interrupt names where the test waited.
    waited = SUITE_SLOW.lstrip().splitlines().index("        await asyncio.sleep(30)") + 1
    result.stdout.fnmatch_lines([f"*suite/test_slow.py:{waited}: KeyboardInterrupt*"])
    assert "APP: await job raised CancelledError" in output
    assert "APP: still running after the cancellation" in output
    assert "APP LOOP CLOSED False" in output
    assert elapsed < 15, output


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
@pytest.mark.parametrize("scope", ["move_on_after", "fail_after", "task_group"])
def test_an_anyio_cancel_scope_around_main_interrupts_the_session(
    pytester: pytest.Pytester, scope: str, mode: str
) -> None:
    # anyio delivers a scope's cancellation again at every await until the
    # task leaves the scope: that is one cancellation, not a second one that
    # gives up on the teardown; and the scope must know it as its own.
    write_app(
        pytester,
        """
        import os
        import sys

        import anyio

        import alt_coop

        SCOPE = sys.argv[1]


        async def session():
            await alt_coop.main([*ISOLATE, "suite", "-s", "-q", *sys.argv[2:]])


        async def cancel_when_started(cancel):
            while not os.path.exists("slow-test-started"):
                await anyio.sleep(0.01)
            await anyio.sleep(0.1)  # the test is now awaiting
            cancel()


        async def app_main():
            if SCOPE == "task_group":
                async with anyio.create_task_group() as group:
                    group.start_soon(cancel_when_started, group.cancel_scope.cancel)
                    await session()
                print("APP: task group done", flush=True)
            elif SCOPE == "move_on_after":
                with anyio.CancelScope() as scope:
                    async with anyio.create_task_group() as group:
                        group.start_soon(cancel_when_started, scope.cancel)
                        await session()
                print("APP: cancelled_caught", scope.cancelled_caught, flush=True)
            else:
                def time_out():
                    scope.deadline = anyio.current_time()

                try:
                    with anyio.fail_after(60) as scope:
                        async with anyio.create_task_group() as group:
                            group.start_soon(cancel_when_started, time_out)
                            await session()
                except TimeoutError:
                    print("APP: TimeoutError", flush=True)
            await anyio.sleep(0.01)
            print("APP: still running after the cancellation", flush=True)


        anyio.run(app_main, backend="asyncio")
        """,
    )
    write(pytester, "suite/test_slow.py", SUITE_SLOW)
    result = run_app(pytester, scope, *mode_args(mode), timeout=30)
    output = output_of(result)
    assert result.ret == 0, output
    if mode == "sequential":
        assert_interrupted_session_reported(output)
    else:
        assert output.index("TEST FINALLY") < output.index("MODULE TEARDOWN"), output
        assert "SESSION TEARDOWN" in output, output
        assert "2 passed" in output, output
    assert "abandoned" not in output, output
    expected = {
        "task_group": "APP: task group done",
        "move_on_after": "APP: cancelled_caught True",
        "fail_after": "APP: TimeoutError",
    }[scope]
    assert expected in output, output
    assert "APP: still running after the cancellation" in output, output


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
@pytest.mark.parametrize("raised", ["SystemExit", "KeyboardInterrupt"])
@pytest.mark.parametrize("first", ["caller", "session"])
def test_an_exit_out_of_the_loop_interrupts_the_running_test_whatever_is_cancelled_first(
    pytester: pytest.Pytester, first: str, raised: str, mode: str
) -> None:
    # asyncio.run, when a SystemExit comes out of the loop, cancels every task
    # left in no set order (asyncio.all_tasks() is a weak set): the caller of
    # main and main's own task. The report must not depend on which is first.
    # It interrupts the session, as any shutdown of the runner does (see
    # test_a_runners_shutdown_cancelling_every_task_interrupts_the_session):
    # the running test failed with the cancellation, which was not its own.
    # The interrupt names what came out of the loop (it said only that the
    # task running pytest was cancelled). A KeyboardInterrupt raised by a
    # callback (not Ctrl-C's) comes out of the loop likewise.
    write_app(
        pytester,
        """
        import asyncio
        import sys

        import alt_coop

        CALLER_FIRST = sys.argv[1] == "caller"


        async def app_main():
            return await alt_coop.main([*ISOLATE, "suite", "-q", *sys.argv[2:]])


        loop = asyncio.new_event_loop()
        caller = loop.create_task(app_main(), name="caller")
        try:
            loop.run_until_complete(caller)
        except (SystemExit, KeyboardInterrupt) as exit:
            # As asyncio.run's shutdown does, in a fixed order.
            tasks = sorted(asyncio.all_tasks(loop), key=lambda t: (t is caller) != CALLER_FIRST)
            for task in tasks:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            print("APP:", repr(exit), flush=True)
        loop.close()
        """,
    )
    write(
        pytester,
        "suite/test_exit.py",
        f"""
        import asyncio


        def stop():
            raise {raised}(3)


        def test_first():
            pass


        async def test_victim():
            asyncio.get_running_loop().call_later(0.1, stop)
            await asyncio.sleep(20)


        async def test_never_reached():
            pass
        """,
    )
    result = run_app(pytester, first, *mode_args(mode), timeout=30)
    output = output_of(result)
    result.stdout.fnmatch_lines(
        [
            "*test_exit.py:14: KeyboardInterrupt: the task running pytest was cancelled"
            f" during the handling of {raised}(3)",
            # Cooperatively, the last test ran beside the one cut short.
            f"*{1 if mode == 'sequential' else 2} passed in*",
            f"APP: {raised}(3)",
        ]
    )
    assert "failed" not in output, output
    assert "CancelledError" not in output, output


def test_main_under_another_async_library_says_it_needs_asyncio(
    pytester: pytest.Pytester,
) -> None:
    pytest.importorskip("trio")
    write_app(
        pytester,
        """
        import anyio

        import alt_coop


        async def app_main():
            await alt_coop.main([*ISOLATE, "suite"])


        anyio.run(app_main, backend="trio")
        """,
    )
    write(pytester, "suite/test_one.py", "def test_one():\n    pass\n")
    result = run_app(pytester, timeout=30)
    assert result.ret != 0
    result.stderr.fnmatch_lines(
        ["*AltCoopUsageError: alt_coop.main runs pytest on an asyncio event loop*trio*"]
    )


SUITE_SWALLOWS_CANCELLATION = """
import asyncio
import pathlib

async def test_stubborn(async_timeout):
    async_timeout.set_timeout_seconds(600)
    pathlib.Path("stubborn-test-started").write_text("started")
    while True:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            print("SWALLOWED", flush=True)

async def test_never_reached():
    print("NEVER REACHED", flush=True)
"""


@pytest.mark.parametrize(
    ("mode", "cancels"),
    [("sequential", 1), ("sequential", 2), ("cooperative", 1)],
    ids=["sequential", "sequential-cancelled-again", "cooperative"],
)
def test_a_test_swallowing_mains_cancellation_is_given_up_on(
    pytester: pytest.Pytester, mode: str, cancels: int
) -> None:
    # The interrupt ends a stubborn test as Ctrl-C does: after a grace, or at
    # once when cancelled again. It waited for the test's own timeout, and
    # with timeouts off (--async-timeouts-under-debugger=never) for ever.
    write_app(
        pytester,
        """
        import asyncio
        import os
        import sys

        import alt_coop


        async def app_main():
            args = [*ISOLATE, "suite", "-q", *sys.argv[2:]]
            job = asyncio.create_task(alt_coop.main(args))
            while not os.path.exists("stubborn-test-started"):
                await asyncio.sleep(0.01)
            for _ in range(int(sys.argv[1])):
                await asyncio.sleep(0.1)  # the test is awaiting
                job.cancel()
            try:
                await job
            except asyncio.CancelledError:
                print("APP: await job raised CancelledError", flush=True)
            print("APP: still running after the cancellation", flush=True)


        asyncio.run(app_main())
        """,
    )
    write(pytester, "suite/test_stubborn.py", SUITE_SWALLOWS_CANCELLATION)
    result = run_app(
        pytester,
        str(cancels),
        "--async-timeouts-under-debugger=never",
        *mode_args(mode),
        timeout=60,
    )
    output = output_of(result)

    assert result.ret == 0, output
    assert "APP: await job raised CancelledError" in output
    assert "APP: still running after the cancellation" in output
    if mode == "cooperative":  # the other test ran beside it
        assert "1 passed" in output
        assert "1 failed" not in output
    else:
        assert "NEVER REACHED" not in output
        assert not re.search(r"\b\d+ (passed|failed|errors?)\b", output), output
        result.stdout.fnmatch_lines(
            [
                "*alt_coop: the fixture or test was still running after alt_coop.main was "
                "cancelled, and was abandoned*",
                "*suite/test_stubborn.py:9: KeyboardInterrupt*",
            ]
        )


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_cancelling_main_again_during_the_grace_keeps_the_report(
    pytester: pytest.Pytester, mode: str
) -> None:
    # The second cancellation, which ends the first one's grace, was counted
    # as an interrupt still pending: the session fixture's teardown raised
    # it, and pytest's summary (the failure, the counts) was never shown.
    write_app(
        pytester,
        """
        import asyncio
        import os
        import sys

        import alt_coop


        async def app_main():
            job = asyncio.create_task(alt_coop.main([*ISOLATE, "suite", "-q", *sys.argv[1:]]))
            while not os.path.exists("slow-test-started"):
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.1)
            job.cancel()
            await asyncio.sleep(0.3)  # the slow test's finally is awaiting
            job.cancel()
            try:
                await job
            except asyncio.CancelledError:
                print("APP: await job raised CancelledError", flush=True)


        asyncio.run(app_main())
        """,
    )
    write(
        pytester,
        "suite/test_slow_cleanup.py",
        """
        import asyncio
        import pathlib

        import pytest

        @pytest.fixture(scope="session")
        async def resource():
            yield
            await asyncio.sleep(0.01)
            print("SESSION TEARDOWN", flush=True)

        async def test_pass(resource):
            await asyncio.sleep(0.05)

        async def test_fail(resource):
            await asyncio.sleep(0.05)
            assert 0, "QUICK FAIL"

        async def test_slow(resource):
            pathlib.Path("slow-test-started").write_text("started")
            try:
                await asyncio.sleep(30)
            finally:
                await asyncio.shield(asyncio.sleep(10))
        """,
    )
    if mode == "cooperative":  # the slow test waits for the other two to end
        pytester.path.joinpath("suite", "conftest.py").write_text(
            "import pytest\n\n"
            "@pytest.fixture(autouse=True)\n"
            "async def others_first(request):\n"
            "    if request.node.name == 'test_slow':\n"
            "        import asyncio\n"
            "        await asyncio.sleep(0.2)\n"
        )
    result = run_app(pytester, "-s", *mode_args(mode), timeout=60)
    output = output_of(result)

    assert result.ret == 0, output
    assert "APP: await job raised CancelledError" in output
    assert "SESSION TEARDOWN" in output
    assert "QUICK FAIL" in output, output
    assert re.search(r"\b1 failed, 1 passed\b", output), output
    # pytest's one line about the interrupt names where the test was given up on.
    result.stdout.fnmatch_lines(["*suite/test_slow_cleanup.py:24: KeyboardInterrupt*"])


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_cancelling_main_again_while_left_tasks_end_keeps_the_report(
    pytester: pytest.Pytester, mode: str
) -> None:
    # The second cancellation came while the session's end waited for a task
    # a test had left running: it stopped that wait, as it should, but left
    # pytest's sessionfinish as a KeyboardInterrupt, and the summary (the
    # failure, the warning naming the task, the counts) was never shown.
    write_app(
        pytester,
        """
        import asyncio
        import os
        import sys

        import alt_coop


        async def app_main():
            job = asyncio.create_task(alt_coop.main([*ISOLATE, "suite", "-q", *sys.argv[1:]]))
            while not os.path.exists("slow-test-started"):
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.1)
            job.cancel()
            await asyncio.sleep(0.05)  # the left task is being waited for
            job.cancel()
            try:
                await job
            except asyncio.CancelledError:
                print("APP: await job raised CancelledError", flush=True)


        asyncio.run(app_main())
        """,
    )
    write(
        pytester,
        "suite/test_left_task.py",
        """
        import asyncio
        import pathlib

        async def stubborn():
            try:
                await asyncio.sleep(100)
            except asyncio.CancelledError:
                await asyncio.sleep(100)

        async def test_fail():
            assert 0, "QUICK FAIL"

        async def test_slow():
            asyncio.create_task(stubborn())
            await asyncio.sleep(0)
            pathlib.Path("slow-test-started").write_text("started")
            await asyncio.sleep(30)
        """,
    )
    result = run_app(pytester, *mode_args(mode), timeout=60)
    output = output_of(result)

    assert result.ret == 0, output
    assert "APP: await job raised CancelledError" in output
    assert "QUICK FAIL" in output, output
    result.stdout.fnmatch_lines(
        [
            "*AltCoopWarning: alt_coop cancelled 1 task(s) still pending at the end of the "
            "session: *stubborn*",
            "*1 failed*",
        ]
    )


def test_cancelling_main_again_during_a_teardown_cancels_it_but_lets_it_clean_up(
    pytester: pytest.Pytester,
) -> None:
    # A teardown that took the second cancellation was given up on at once,
    # as if it had swallowed the first: its finally never ran.
    write_app(
        pytester,
        """
        import asyncio
        import os

        import alt_coop


        async def until(path):
            while not os.path.exists(path):
                await asyncio.sleep(0.01)


        async def app_main():
            job = asyncio.create_task(alt_coop.main([*ISOLATE, "suite", "-q", "-s"]))
            await until("test-started")
            job.cancel()
            await until("teardown-started")
            await asyncio.sleep(0.1)  # the teardown is awaiting
            job.cancel()
            try:
                await job
            except asyncio.CancelledError:
                print("APP: await job raised CancelledError", flush=True)


        asyncio.run(app_main())
        """,
    )
    write(
        pytester,
        "suite/test_teardown.py",
        """
        import asyncio
        import pathlib

        import pytest

        @pytest.fixture
        async def resource():
            yield
            pathlib.Path("teardown-started").write_text("started")
            try:
                await asyncio.sleep(30)
            finally:
                print("TEARDOWN CLEANUP", flush=True)
                await asyncio.sleep(0.05)
                print("TEARDOWN CLEANUP DONE", flush=True)

        async def test_one(resource):
            pathlib.Path("test-started").write_text("started")
            await asyncio.sleep(30)
        """,
    )
    result = run_app(pytester, timeout=60)
    output = output_of(result)

    assert result.ret == 0, output
    assert "TEARDOWN CLEANUP DONE" in output
    assert "was abandoned" not in output
    assert "APP: await job raised CancelledError" in output


def test_cancelling_main_again_during_its_teardown_still_hands_back_a_cancellation(
    pytester: pytest.Pytester,
) -> None:
    write_app(
        pytester,
        """
        import asyncio
        import os

        import alt_coop


        async def app_main():
            job = asyncio.create_task(alt_coop.main([*ISOLATE, "suite", "-q"]))
            while not os.path.exists("test-started"):
                await asyncio.sleep(0.01)
            job.cancel()
            while not os.path.exists("teardown-started"):
                await asyncio.sleep(0.01)
            job.cancel()
            try:
                await job
            except asyncio.CancelledError:
                print("APP: await job raised CancelledError", flush=True)
            code = await alt_coop.main([*ISOLATE, "suite", "-q", "-k", "quick"])
            print("APP: a second session returned", code, flush=True)


        asyncio.run(app_main())
        """,
    )
    write(
        pytester,
        "suite/test_teardown.py",
        """
        import asyncio
        import pathlib
        import pytest

        @pytest.fixture(scope="session")
        async def session_resource():
            yield
            pathlib.Path("teardown-started").touch()
            await asyncio.sleep(30)

        async def test_slow(session_resource):
            pathlib.Path("test-started").touch()
            await asyncio.sleep(30)

        async def test_quick():
            pass
        """,
    )
    result = run_app(pytester, timeout=30)
    output = output_of(result)
    assert result.ret == 0, output
    assert "APP: await job raised CancelledError" in output
    assert "APP: a second session returned 0" in output


#: An application whose task named "app" awaits ``alt_coop.main`` on the
#: suite in ``suite/``, which cancels that task (from sync code, or a callback).
APP_ITS_TESTS_CANCEL = """
import asyncio
import sys
import time

import alt_coop


async def app_main():
    try:
        await alt_coop.main([*ISOLATE, "suite", "-q", "-s"])
    except asyncio.CancelledError:
        print("APP: main raised CancelledError", flush=True)


def slow_task_factory(loop, coro, **kwargs):
    time.sleep(0.002)
    return asyncio.Task(coro, loop=loop, **kwargs)


async def outer():
    if sys.argv[1:] == ["slow starts"]:
        # As on a loaded machine, the batch lets the loop turn between
        # the tests it starts (it does every millisecond or so of starting).
        asyncio.get_running_loop().set_task_factory(slow_task_factory)
    await asyncio.create_task(app_main(), name="app")


asyncio.run(outer())
"""


def test_main_cancelled_while_a_sync_test_runs_stops_after_its_full_teardown(
    pytester: pytest.Pytester,
) -> None:
    # Sync code holds the loop: nothing delivers the cancellation until some
    # code awaits, the next async teardown. It must not cut that teardown
    # short; the run stops after it, as a normal run stops on Ctrl-C.
    write_app(pytester, APP_ITS_TESTS_CANCEL)
    write(
        pytester,
        "suite/test_sync_cancels.py",
        """
        import asyncio
        import pytest

        @pytest.fixture
        async def resource():
            yield
            print("TEARDOWN STARTED", flush=True)
            await asyncio.sleep(0.05)
            print("TEARDOWN ENDED", flush=True)

        def test_sync(resource):
            # What asyncio.run's Ctrl-C handler does, from sync code.
            (app,) = [t for t in asyncio.all_tasks() if t.get_name() == "app"]
            app.cancel()

        def test_never_runs():
            print("NEVER RUNS")
        """,
    )
    result = run_app(pytester, timeout=30)
    output = output_of(result)
    assert result.ret == 0, output
    assert "TEARDOWN ENDED" in output
    assert "NEVER RUNS" not in output
    result.stdout.fnmatch_lines(
        [
            "*Interrupted: alt_coop.main was cancelled*",
            "*1 passed*",
            "APP: main raised CancelledError",
        ]
    )


@pytest.mark.parametrize("starts", ["fast starts", "slow starts"])
@pytest.mark.parametrize("holder", [0, 1])
@pytest.mark.parametrize(
    "how", ["cancel", "timer", "cancel, not held", "timer, after a short hold"]
)
def test_main_cancelled_while_a_cooperative_test_holds_the_loop_starts_no_other(
    pytester: pytest.Pytester, how: str, holder: int, starts: str
) -> None:
    # The batch had started the other tests' tasks: they ran their fixtures
    # and bodies before the loop, held, could deliver the cancellation; or,
    # not held, before the cancellation, made, reached them (some turns of
    # the loop, as many as the tasks in between take). After a short hold
    # (a first turn slow on a loaded machine), the tests waiting for what
    # it held back to run went on though the holder's long hold came
    # meanwhile, its timer yet to run.
    write_app(pytester, APP_ITS_TESTS_CANCEL)
    write(
        pytester,
        "suite/test_batch.py",
        f"""
        import asyncio
        import time
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        @pytest.fixture
        def blocking(request):
            print(f"SETUP {{request.node.name}}", flush=True)
            if {how.endswith("short hold")} and request.node.name == "test_it[{holder - 1}]":
                time.sleep(0.05)
            if request.node.name == "test_it[{holder}]":
                (app,) = [t for t in asyncio.all_tasks() if t.get_name() == "app"]
                if {how.startswith("cancel")}:  # what asyncio.run's Ctrl-C handler does
                    app.cancel()
                else:  # an application's timeout, coming due meanwhile
                    asyncio.get_running_loop().call_later(0.1, app.cancel)
                if {how != "cancel, not held"}:
                    time.sleep(1)

        @pytest.mark.parametrize("n", range(4))
        async def test_it(blocking, n):
            print(f"BODY {{n}}", flush=True)
            await asyncio.sleep(0.5)
        """,
    )
    result = run_app(pytester, starts, timeout=30)
    output = output_of(result)
    assert result.ret == 0, output
    assert f"SETUP test_it[{holder}]" in output
    for n in range(holder + 1, 4):
        assert f"SETUP test_it[{n}]" not in output and f"BODY {n}" not in output, output
    result.stdout.fnmatch_lines(["APP: main raised CancelledError"])


def test_main_awaited_with_a_cancellation_on_its_way_runs_no_test(
    pytester: pytest.Pytester,
) -> None:
    # Ctrl-C under asyncio.run during the application's sync start-up (its
    # handler cancels the task at once), or the task cancelling itself: the
    # cancellation comes out of the first await, alt_coop.main's, as out of
    # any other. The session ran every test, then raised it.
    write_app(
        pytester,
        """
        import asyncio

        import alt_coop


        async def app_main():
            asyncio.current_task().cancel()
            try:
                await alt_coop.main([*ISOLATE, "suite", "-q", "-s"])
            except asyncio.CancelledError:
                print("APP: main raised CancelledError", flush=True)


        asyncio.run(app_main())
        """,
    )
    write(
        pytester,
        "suite/test_it.py",
        """
        import asyncio
        import pytest

        @pytest.mark.asyncio_cooperative
        async def test_cooperative():
            print("STARTED", flush=True)

        async def test_sequential():
            print("STARTED", flush=True)
        """,
    )
    result = run_app(pytester, timeout=30)
    output = output_of(result)
    assert "STARTED" not in output, output
    result.stdout.fnmatch_lines(["APP: main raised CancelledError"])


def test_main_awaited_again_after_a_cancellation_the_caller_swallowed_runs_its_tests(
    pytester: pytest.Pytester,
) -> None:
    # The caller's task stays cancelling (no uncancel()): the second session
    # is not stopped by the first one's cancellation.
    write_app(
        pytester,
        """
        import asyncio

        import alt_coop


        async def app_main():
            task = asyncio.current_task()
            asyncio.get_running_loop().call_later(0.2, task.cancel)
            try:
                await alt_coop.main([*ISOLATE, "suite", "-q", "-s"])
            except asyncio.CancelledError:
                print("APP: first main cancelled", flush=True)
            code = await alt_coop.main([*ISOLATE, "suite", "-q", "-s"])
            print(f"APP: second main returned {code!r}", flush=True)


        asyncio.run(app_main())
        """,
    )
    write(
        pytester,
        "suite/test_batch.py",
        """
        import asyncio
        import pytest

        pytestmark = pytest.mark.asyncio_cooperative

        @pytest.mark.parametrize("n", range(3))
        async def test_it(n):
            await asyncio.sleep(0.5)
        """,
    )
    result = run_app(pytester, timeout=30)
    result.stdout.fnmatch_lines(
        [
            "APP: first main cancelled",
            "*3 passed*",
            "APP: second main returned <ExitCode.OK: 0>",
        ]
    )


@pytest.mark.parametrize("first", ["sync", "async", "cooperative"])
@pytest.mark.parametrize("how", ["cancel", "asyncio.timeout"])
def test_main_cancelled_before_the_first_test_runs_no_test(
    pytester: pytest.Pytester, how: str, first: str
) -> None:
    # Cancelled while pytest collects (sync code: Ctrl-C under asyncio.run, an
    # asyncio.timeout whose deadline passes): no await has delivered it when
    # the first test starts. It must not start, as no test starts after
    # Ctrl-C during a plain run's collection.
    write_app(
        pytester,
        """
        import asyncio
        import sys

        import alt_coop


        async def app_main():
            args = [*ISOLATE, "suite", "-q", "-s", *sys.argv[2:]]
            try:
                if sys.argv[1] == "cancel":
                    await alt_coop.main(args)
                else:
                    async with asyncio.timeout(0.2):
                        await alt_coop.main(args)
            except (asyncio.CancelledError, TimeoutError) as error:
                print(f"APP: main raised {type(error).__name__}", flush=True)


        async def outer():
            await asyncio.create_task(app_main(), name="app")


        asyncio.run(outer())
        """,
    )
    write(
        pytester,
        "suite/conftest.py",
        """
        import asyncio
        import sys
        import time

        import pytest

        @pytest.fixture(scope="session")
        async def resource():
            yield
            print("SESSION TEARDOWN", flush=True)

        def pytest_collection_finish(session):
            if sys.argv[1] == "cancel":
                # What asyncio.run's Ctrl-C handler does, from sync code.
                (app,) = [t for t in asyncio.all_tasks() if t.get_name() == "app"]
                app.cancel()
            else:
                time.sleep(0.4)
        """,
    )
    test = "def test_sync(resource):" if first == "sync" else "async def test_async(resource):"
    write(pytester, "suite/test_first.py", f"{test}\n    print('NEVER RUNS')\n")
    args = ["--asyncio-cooperative"] if first == "cooperative" else []
    result = run_app(pytester, how, *args, timeout=30)
    output = output_of(result)
    assert result.ret == 0, output
    assert "NEVER RUNS" not in output
    assert "SESSION TEARDOWN" not in output
    expected = "CancelledError" if how == "cancel" else "TimeoutError"
    result.stdout.fnmatch_lines(
        [
            "*Interrupted: alt_coop.main was cancelled*",
            "*no tests ran*",
            f"APP: main raised {expected}",
        ]
    )


def test_an_outcome_a_callback_raises_between_tests_under_main_reaches_the_next_test(
    pytester: pytest.Pytester,
) -> None:
    # alt_coop lets the loop run what sync code held back before each test
    # (a cancellation of main's caller may be among it): a pytest.fail that
    # such a callback raised came out of pytest's protocol, an internal error.
    write_app(
        pytester,
        """
        import asyncio

        import alt_coop


        async def app_main():
            print("APP: exit code", await alt_coop.main([*ISOLATE, "suite", "-q", "-s"]))


        asyncio.run(app_main())
        """,
    )
    write(
        pytester,
        "suite/test_callback.py",
        """
        import asyncio
        import pytest

        @pytest.fixture
        def schedules():
            yield
            asyncio.get_running_loop().call_soon(lambda: pytest.fail("raised in a callback"))

        def test_1(schedules):
            pass

        def test_2():
            print("TEST 2 RUNS")
        """,
    )
    result = run_app(pytester, timeout=30)
    output = output_of(result)
    assert "INTERNALERROR" not in output, output
    result.stdout.fnmatch_lines(
        [
            "*TEST 2 RUNS*",
            "*ERROR at teardown of test_2*",
            "*raised in a callback*",
            "APP: exit code 1",
        ]
    )


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT is POSIX-only here")
def test_ctrl_c_twice_during_a_sync_test_under_main_tears_down_in_full(
    pytester: pytest.Pytester,
) -> None:
    # The first Ctrl-C cancels asyncio.run's task, which sync code cannot
    # take; the second raises KeyboardInterrupt in the test. The first one's
    # cancellation, still pending, cut the session fixture's teardown short
    # at its first await: no summary, and pytest's line named asyncio's
    # Ctrl-C handler, not the test.
    write_app(
        pytester,
        """
        import asyncio

        import alt_coop


        async def app_main():
            try:
                await alt_coop.main([*ISOLATE, "suite", "-q", "-s"])
            except asyncio.CancelledError:
                print("APP: main raised CancelledError", flush=True)


        asyncio.run(app_main())
        """,
    )
    write(
        pytester,
        "suite/test_sync_sleeps.py",
        """
        import asyncio
        import time
        import pytest

        @pytest.fixture(scope="session")
        async def resource():
            yield
            print("TEARDOWN STARTED", flush=True)
            await asyncio.sleep(0.05)
            print("TEARDOWN ENDED", flush=True)

        def test_sync(resource):
            open("sync-test-started", "w").close()
            time.sleep(10)
        """,
    )
    marker = pytester.path / "sync-test-started"
    output, _, _, interrupted, ended = interrupt_when(
        [sys.executable, "app.py"],
        pytester.path,
        marker.exists,
        "the sync test started",
        again_after=0.3,
    )
    assert ended - interrupted < 5, output
    assert "TEARDOWN ENDED" in output, output
    lines = output.splitlines()
    assert any(re.search(r"test_sync_sleeps\.py:\d+: KeyboardInterrupt", line) for line in lines)
    assert "runners.py" not in output, output
    assert any(re.search(r"no tests ran in", line) for line in lines), output
    assert "APP: main raised CancelledError" in output, output


@pytest.mark.parametrize("how", ["signal handler", "asyncio.timeout"])
def test_main_cancelled_by_a_loop_callback_during_a_sync_test_tears_it_down_in_full(
    pytester: pytest.Pytester, how: str
) -> None:
    # The cancellation comes from a callback the loop runs only once some
    # code awaits (a signal handler added with loop.add_signal_handler, an
    # asyncio.timeout whose deadline passed while the sync test ran): it ran
    # at the teardown's first await, and cut the teardown short.
    write_app(
        pytester,
        """
        import asyncio
        import signal
        import sys

        import alt_coop


        async def app_main():
            loop = asyncio.get_running_loop()
            try:
                if sys.argv[1] == "signal handler":
                    loop.add_signal_handler(signal.SIGTERM, asyncio.current_task().cancel)
                    await alt_coop.main([*ISOLATE, "suite", "-q", "-s"])
                else:
                    # Its deadline is set by the sync test (see below): one
                    # set here could pass while pytest collects, on a busy
                    # machine, and no test would start.
                    global DEADLINE
                    async with asyncio.timeout(None) as DEADLINE:
                        await alt_coop.main([*ISOLATE, "suite", "-q", "-s"])
            except (asyncio.CancelledError, TimeoutError) as error:
                print(f"APP: main raised {type(error).__name__}", flush=True)


        asyncio.run(app_main())
        """,
    )
    write(
        pytester,
        "suite/test_sync_cancels.py",
        """
        import asyncio
        import os
        import signal
        import sys
        import time
        import pytest

        import __main__ as app

        @pytest.fixture
        async def resource():
            yield
            print("TEARDOWN STARTED", flush=True)
            await asyncio.sleep(0.05)
            print("TEARDOWN ENDED", flush=True)

        def test_sync(resource):
            if sys.argv[1] == "signal handler":
                os.kill(os.getpid(), signal.SIGTERM)
            else:
                loop = asyncio.get_running_loop()
                app.DEADLINE.reschedule(loop.time() + 0.1)
            time.sleep(0.4)

        def test_never_runs():
            print("NEVER RUNS")
        """,
    )
    result = run_app(pytester, how, timeout=30)
    output = output_of(result)
    assert result.ret == 0, output
    assert "TEARDOWN ENDED" in output
    assert "NEVER RUNS" not in output
    expected = "CancelledError" if how == "signal handler" else "TimeoutError"
    result.stdout.fnmatch_lines(
        [
            "*Interrupted: alt_coop.main was cancelled*",
            "*1 passed*",
            f"APP: main raised {expected}",
        ]
    )


def test_cancelling_main_while_a_timed_out_test_cleans_up_interrupts_the_session(
    pytester: pytest.Pytester,
) -> None:
    write_app(
        pytester,
        """
        import asyncio
        import os

        import alt_coop


        async def app_main():
            args = [*ISOLATE, "suite", "-q", "-s", "--default-async-timeout=0.2"]
            job = asyncio.create_task(alt_coop.main(args))
            while not os.path.exists("cleanup-started"):
                await asyncio.sleep(0.01)
            job.cancel()
            try:
                code = await job
            except asyncio.CancelledError:
                print("APP: await job raised CancelledError", flush=True)
            else:
                print("APP: job returned", code, flush=True)


        asyncio.run(app_main())
        """,
    )
    write(
        pytester,
        "suite/test_cleanup.py",
        """
        import asyncio
        import pathlib

        async def test_times_out():
            try:
                await asyncio.sleep(30)
            finally:
                pathlib.Path("cleanup-started").touch()
                await asyncio.sleep(1)
                print("CLEANUP DONE", flush=True)

        async def test_never_reached():
            print("NEVER REACHED", flush=True)
        """,
    )
    result = run_app(pytester, timeout=30)
    output = output_of(result)
    assert result.ret == 0, output
    assert "APP: await job raised CancelledError" in output
    assert "NEVER REACHED" not in output
    assert "CLEANUP DONE" not in output  # the cancellation reached the cleanup's await


@pytest.mark.parametrize(
    "suite",
    [
        SUITE_NESTED_TIMEOUT,
        SUITE_SELF_CANCEL_THEN_TIMEOUT,
        SUITE_CANCELS_ITSELF,
        SUITE_CANCELS_ITSELF_AND_RETURNS,
    ],
    ids=[
        "timeout_inside_getfixturevalue",
        "timeout_after_a_swallowed_self_cancellation",
        "a_test_cancelling_its_own_task",
        "a_test_returning_before_its_own_cancellation_arrives",
    ],
)
def test_a_test_timing_out_does_not_cancel_main(pytester: pytest.Pytester, suite: str) -> None:
    # None is an interrupt: the test fails. The task that awaited main is the
    # application's, and gets back no pending cancellation of the tests'.
    write_app(
        pytester,
        """
        import asyncio

        import alt_coop


        async def app_main():
            code = await alt_coop.main([*ISOLATE, "suite", "-q"])
            print("APP: job returned", code, flush=True)
            print("APP: cancelling", asyncio.current_task().cancelling(), flush=True)


        asyncio.run(app_main())
        """,
    )
    write(pytester, "suite/test_times_out.py", suite)
    result = run_app(pytester, timeout=30)
    output = output_of(result)
    assert result.ret == 0, output
    assert "APP: job returned 1" in output
    assert "APP: cancelling 0" in output
    assert "1 failed, 1 passed" in output
    assert "the task running pytest was cancelled" not in output


@pytest.mark.parametrize("phase", ["setup", "call", "teardown"])
def test_sync_code_cancelling_its_task_under_main_fails_its_own_test(
    pytester: pytest.Pytester, phase: str
) -> None:
    # Under alt_coop.main, sync code runs on the task that runs pytest, so
    # asyncio.current_task() there is that task. Cancelled by a sync fixture
    # or test, it was delivered at alt_coop's next await: the next test's
    # start (an internal error, every later test lost) or the teardown's
    # (cut short: the next test failed, "previous item was not torn down").
    write_app(
        pytester,
        """
        import asyncio

        import alt_coop


        async def app_main():
            code = await alt_coop.main([*ISOLATE, "suite", "-q", "-s", "-p", "no:randomly"])
            print("APP: job returned", code, flush=True)
            print("APP: cancelling", asyncio.current_task().cancelling(), flush=True)


        asyncio.run(app_main())
        """,
    )
    write(
        pytester,
        "suite/test_cancels.py",
        f"""
        import asyncio

        import pytest

        PHASE = {phase!r}


        # Its async code runs before the sync code cancels and after it is
        # over (the cancellation would reach the next code awaiting in the
        # phase, as asyncio delivers it).
        @pytest.fixture
        async def torn_down({"cancels" if phase == "teardown" else ""}):
            await asyncio.sleep(0)
            yield
            await asyncio.sleep(0)
            print("TORN DOWN", flush=True)


        @pytest.fixture
        def cancels({"" if phase == "teardown" else "torn_down"}):
            if PHASE == "setup":
                asyncio.current_task().cancel()
            yield
            if PHASE == "teardown":
                asyncio.current_task().cancel()


        def test_cancels(cancels, torn_down):
            if PHASE == "call":
                asyncio.current_task().cancel()


        def test_next():
            pass


        async def test_next_async():
            await asyncio.sleep(0)
        """,
    )
    result = run_app(pytester, timeout=60)
    output = output_of(result)
    assert result.ret == 0, output
    assert "INTERNALERROR" not in output and "not torn down" not in output, output
    outcome = {"setup": "2 passed, 1 error", "call": "1 failed, 2 passed"}.get(
        phase, "3 passed, 1 error"
    )
    result.stdout.fnmatch_lines(
        [
            "*TORN DOWN",
            f"{'a sync fixture' if phase != 'call' else 'the test'} cancelled its own task "
            "and returned before the cancellation reached it*",
            f"{outcome} in *",
            "APP: job returned 1",
            "APP: cancelling 0",
        ]
    )
    assert "alt_coop/" not in output and "traceback entries are hidden" not in output, output


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT is POSIX-only here")
@pytest.mark.parametrize("loop_kind", LOOP_KINDS)
def test_ctrl_c_while_main_runs_a_test(pytester: pytest.Pytester, loop_kind: str) -> None:
    uses_uvloop(loop_kind)
    write_app(
        pytester,
        """
        import asyncio
        import sys

        import alt_coop


        async def app_main():
            code = await alt_coop.main([*ISOLATE, "suite", "-s", "-q"])
            print("APP: main returned", code, flush=True)


        if sys.argv[1] == "uvloop":
            import uvloop

            uvloop.run(app_main())
        else:
            asyncio.run(app_main())
        print("APP: ended normally", flush=True)
        """,
    )
    write(pytester, "suite/test_slow.py", SUITE_SLOW)
    marker = pytester.path / "slow-test-started"
    output, returncode, _, interrupted, ended = interrupt_when(
        [sys.executable, "app.py", loop_kind],
        pytester.path,
        marker.exists,
        "the slow test started",
    )

    assert ended - interrupted < 5, output
    assert_interrupted_session_reported(output)
    assert "APP: main returned" not in output
    assert "APP: ended normally" not in output
    assert output.rstrip().endswith("KeyboardInterrupt"), output
    assert returncode != 0, output


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT is POSIX-only here")
@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
@pytest.mark.parametrize("runner", ["asyncio.run", "run_coro_as_main"])
def test_ctrl_c_while_a_test_under_main_holds_the_loop_lets_its_cleanup_run(
    pytester: pytest.Pytester, runner: str, mode: str
) -> None:
    # Under run_coro_as_main, whose Ctrl-C handler is the program's, the
    # test was interrupted twice (by the handler and by main's cancellation)
    # and abandoned at once: its finally's await never came back.
    write_app(
        pytester,
        f"""
        import asyncio
        import sys

        import alt_coop


        async def app_main():
            return int(await alt_coop.main([*ISOLATE, "suite", "-s", "-q", *{mode_args(mode)!r}]))


        if "{runner}" == "asyncio.run":
            sys.exit(asyncio.run(app_main()))
        sys.exit(alt_coop.run_coro_as_main(asyncio.new_event_loop(), app_main()))
        """,
    )
    write(
        pytester,
        "suite/test_holds.py",
        """
        import asyncio
        import time

        import pytest

        @pytest.fixture
        async def connection():
            yield
            await asyncio.sleep(0.05)
            print("FIXTURE TORN DOWN", flush=True)

        async def test_holds_the_loop(connection):
            open("test-started", "w").close()
            try:
                time.sleep(1)  # Ctrl-C comes meanwhile
                print("HOLD OVER", flush=True)
                await asyncio.sleep(10)
            finally:
                await asyncio.sleep(0.05)
                print("TEST FINALLY DONE", flush=True)
        """,
    )
    marker = pytester.path / "test-started"
    output, returncode, _, interrupted, ended = interrupt_when(
        [sys.executable, "app.py"], pytester.path, marker.exists, "the test started"
    )

    assert ended - interrupted < 5, output
    assert "abandoned" not in output, output
    lines = output.splitlines()
    assert lines.index("HOLD OVER") < lines.index("TEST FINALLY DONE"), output
    assert lines.index("TEST FINALLY DONE") < lines.index("FIXTURE TORN DOWN"), output
    assert any(re.search(r"test_holds\.py:\d+: KeyboardInterrupt", line) for line in lines)
    stats = [line for line in lines if re.fullmatch(r"[\w ,]+ in \d+\.\d+s", line)]
    assert len(stats) == 1 and not re.search("passed|failed", stats[0]), output
    assert returncode != 0, output


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT is POSIX-only here")
@pytest.mark.parametrize("runner", ["asyncio.run", "run_until_complete"])
def test_ctrl_c_while_a_nested_session_runs_a_test(pytester: pytest.Pytester, runner: str) -> None:
    write_app(
        pytester,
        f"""
        import asyncio

        import pytest

        import alt_coop


        async def app_main():
            loop = asyncio.get_running_loop()
            code = pytest.main(
                [*ISOLATE, "suite", "-s", "-q"], plugins=[alt_coop.Plugin(managed_loop=loop)]
            )
            print("APP: pytest.main returned", int(code), flush=True)
            await asyncio.sleep(0)
            print("APP: still running", flush=True)


        if "{runner}" == "asyncio.run":
            asyncio.run(app_main())
        else:
            loop = asyncio.new_event_loop()
            loop.run_until_complete(app_main())
            loop.close()
        """,
    )
    write(pytester, "suite/test_slow.py", SUITE_SLOW)
    marker = pytester.path / "slow-test-started"
    output, returncode, _, interrupted, ended = interrupt_when(
        [sys.executable, "app.py"], pytester.path, marker.exists, "the slow test started"
    )

    # The application's own handler cannot act while pytest.main blocks its
    # task: the session's handles it, as a standalone pytest.main would.
    assert ended - interrupted < 5, output
    assert_interrupted_session_reported(output)
    assert "APP: pytest.main returned 2" in output
    assert "APP: still running" in output
    assert returncode == 0, output


# -- several sessions ----------------------------------------------------------

SUITE_TWICE = """
import asyncio

import pytest

import __main__ as app


@pytest.fixture(scope="session")
async def session_resource():
    app.SETUPS.append(asyncio.get_running_loop())
    app.VAR_AT_SETUP.append(app.VAR.get())
    app.VAR.set("set by a session fixture")
    await asyncio.sleep(0)
    yield "resource"
    await asyncio.sleep(0)
    app.TEARDOWNS.append("session")


async def test_one(session_resource):
    await asyncio.sleep(0.01)
    assert asyncio.get_running_loop() is app.LOOP


async def test_two(session_resource):
    await asyncio.sleep(0)
    assert app.SETUPS == [app.LOOP] * app.SESSIONS_STARTED


def test_three(session_resource):
    assert len(app.TEARDOWNS) == app.SESSIONS_STARTED - 1
"""


@pytest.mark.parametrize(("mode", "loop_kind"), WORKING_MODES)
def test_two_sessions_in_a_row_on_one_loop(
    pytester: pytest.Pytester, mode: str, loop_kind: str
) -> None:
    uses_uvloop(loop_kind)
    write_app(
        pytester,
        """
        import asyncio
        import contextvars
        import sys

        import pytest

        import alt_coop

        MODE, LOOP_KIND = sys.argv[1], sys.argv[2]
        ARGS = [*ISOLATE, "suite", "-q", "-p", "no:randomly"]
        LOOP = None
        VAR = contextvars.ContextVar("VAR", default="app default")
        VAR_AT_SETUP = []
        SETUPS = []
        TEARDOWNS = []
        SESSIONS_STARTED = 0


        async def session_on_running_loop():
            global SESSIONS_STARTED
            SESSIONS_STARTED += 1
            if MODE == "nested":
                plugin = alt_coop.Plugin(managed_loop=asyncio.get_running_loop())
                return pytest.main(ARGS, plugins=[plugin])
            return await alt_coop.main(ARGS)


        async def app_main():
            global LOOP
            LOOP = asyncio.get_running_loop()
            first = await session_on_running_loop()
            second = await session_on_running_loop()
            print("EXIT CODES", int(first), int(second))


        if LOOP_KIND == "uvloop":
            import uvloop

            loop = uvloop.new_event_loop()
        else:
            loop = asyncio.new_event_loop()
        if MODE == "sync":
            LOOP = loop
            codes = []
            for _ in range(2):
                SESSIONS_STARTED += 1
                codes.append(pytest.main(ARGS, plugins=[alt_coop.Plugin(managed_loop=loop)]))
            print("EXIT CODES", *map(int, codes))
        else:
            loop.run_until_complete(app_main())
        print("SETUPS", len(SETUPS), "TEARDOWNS", len(TEARDOWNS))
        print("VAR AT SETUP", VAR_AT_SETUP)
        print("VAR IN THE APP", VAR.get())
        print("APP LOOP CLOSED", loop.is_closed())
        """,
    )
    write(pytester, "suite/test_twice.py", SUITE_TWICE)
    result = run_app(pytester, mode, loop_kind)
    output = output_of(result)

    assert result.ret == 0, output
    # Observed: pytest.main imports the test module once per process (it stays
    # in sys.modules), so a module-level list in it would add up over the two
    # sessions; the counts are kept in the app instead. Each session must set
    # the session fixture up once on the app's loop and tear it down once.
    assert result.stdout.str().count("3 passed in ") == 2, output
    assert "EXIT CODES 0 0" in output
    assert "SETUPS 2 TEARDOWNS 2" in output
    assert "APP LOOP CLOSED False" in output
    if mode == "main":
        # alt_coop.main runs each session in a copy of the caller's context:
        # what a fixture sets reaches neither the app nor the next session.
        assert "VAR AT SETUP ['app default', 'app default']" in output
        assert "VAR IN THE APP app default" in output
    # With pytest.main (sync, nested) fixtures run in the caller's context, as
    # synchronous fixtures do in plain pytest, so the variable is seen by the
    # app and by the second session: that is pytest's behaviour, not checked.


@pytest.mark.parametrize("loop_kind", LOOP_KINDS)
def test_second_main_while_one_runs_is_a_usage_error(
    pytester: pytest.Pytester, loop_kind: str
) -> None:
    uses_uvloop(loop_kind)
    write_app(
        pytester,
        """
        import asyncio
        import sys

        import alt_coop
        from alt_coop.errors import AltCoopUsageError

        STARTED = None
        RELEASE = None


        async def app_main():
            global STARTED, RELEASE
            STARTED, RELEASE = asyncio.Event(), asyncio.Event()
            first = asyncio.create_task(alt_coop.main([*ISOLATE, "suite", "-q"]))
            await asyncio.wait_for(STARTED.wait(), 10)
            second = asyncio.create_task(alt_coop.main([*ISOLATE, "suite", "-q"]))
            # The first session captures the output while its test runs: report later.
            try:
                outcome = f"no error, exit code {await asyncio.wait_for(second, 10)}"
            except AltCoopUsageError as exc:
                outcome = f"{type(exc).__name__}: {exc}"
            RELEASE.set()
            first_code = await asyncio.wait_for(first, 10)
            print("SECOND:", outcome)
            print("FIRST EXIT CODE", int(first_code))


        if sys.argv[1] == "uvloop":
            import uvloop

            loop = uvloop.new_event_loop()
        else:
            loop = asyncio.new_event_loop()
        loop.run_until_complete(app_main())
        """,
    )
    write(
        pytester,
        "suite/test_waits.py",
        """
        import asyncio

        import __main__ as app


        async def test_waits_for_the_app():
            app.STARTED.set()
            await app.RELEASE.wait()
        """,
    )
    result = run_app(pytester, loop_kind, timeout=30)
    output = output_of(result)

    assert result.ret == 0, output
    result.stdout.fnmatch_lines(["SECOND: AltCoopUsageError: *already running*"])
    assert "FIRST EXIT CODE 0" in output
    assert result.stdout.str().count("1 passed") == 1, output


@pytest.mark.parametrize("first", ["main", "nested"])
def test_a_second_session_on_the_loop_in_another_mode_is_a_usage_error(
    pytester: pytest.Pytester, first: str
) -> None:
    # alt_coop.main and a nested pytest.main(managed_loop=loop) started by two
    # tasks of one loop would share its task factory and capture: whichever
    # comes second is refused, and the first runs on untouched.
    write_app(
        pytester,
        """
        import asyncio
        import sys

        import pytest

        import alt_coop

        STARTED = None
        RELEASE = None


        def nested_session(loop):
            return pytest.main(
                [*ISOLATE, "suite", "-q"], plugins=[alt_coop.Plugin(managed_loop=loop)]
            )


        async def second_session():
            await asyncio.wait_for(STARTED.wait(), 10)
            try:
                if sys.argv[1] == "main":  # the first is alt_coop.main
                    outcome = f"exit code {int(nested_session(asyncio.get_running_loop()))}"
                else:
                    outcome = f"exit code {int(await alt_coop.main([*ISOLATE, 'suite', '-q']))}"
            except Exception as exc:
                outcome = f"{type(exc).__name__}: {exc}"
            RELEASE.set()
            return outcome


        async def app_main():
            global STARTED, RELEASE
            STARTED, RELEASE = asyncio.Event(), asyncio.Event()
            second = asyncio.create_task(second_session())
            if sys.argv[1] == "main":
                first = int(await alt_coop.main([*ISOLATE, "suite", "-q"]))
            else:
                await asyncio.sleep(0)
                first = int(nested_session(asyncio.get_running_loop()))
            print("SECOND:", await second)
            print("FIRST EXIT CODE", first)
            print("STDOUT OPEN", not sys.stdout.closed)


        asyncio.run(app_main())
        """,
    )
    write(
        pytester,
        "suite/test_waits.py",
        """
        import asyncio

        import pytest

        import __main__ as app


        @pytest.mark.asyncio_cooperative
        async def test_waits_for_the_app():
            app.STARTED.set()
            await asyncio.wait_for(app.RELEASE.wait(), 10)


        @pytest.mark.asyncio_cooperative
        async def test_beside_it():
            await asyncio.sleep(0.2)
        """,
    )
    result = run_app(pytester, first, timeout=30)
    output = output_of(result)
    assert result.ret == 0, output
    if first == "main":  # pytest reports the usage error itself
        result.stderr.fnmatch_lines(["*a pytest session is already running on managed_loop*"])
        result.stdout.fnmatch_lines(["SECOND: exit code 4"])
    else:
        result.stdout.fnmatch_lines(["SECOND: AltCoopUsageError: *already running on this loop*"])
    assert "FIRST EXIT CODE 0" in output
    assert "STDOUT OPEN True" in output
    assert result.stdout.str().count("2 passed") == 1, output


@pytest.mark.parametrize("mode", ["sync", "main"])
def test_a_session_run_by_a_test_on_the_same_loop_is_nested_not_refused(
    pytester: pytest.Pytester, mode: str
) -> None:
    # pytester.runpytest_inprocess(plugins=[Plugin(managed_loop=<the app's loop>)])
    # from a sync test: a session inside the running one, not one beside it.
    # Ending, the inner session puts back the outer one's task factory
    # methods: it put back the loop's own, and (Python 3.11) a task a later
    # test left ran on.
    write_app(
        pytester,
        """
        import asyncio
        import sys

        import pytest

        import alt_coop

        LOOP = asyncio.new_event_loop()
        ARGS = [*ISOLATE, "-p", "pytester", "suite", "-q", "-s"]
        SEEN = []


        async def main_mode():
            return await alt_coop.main(ARGS)


        if sys.argv[1] == "sync":
            code = pytest.main(ARGS, plugins=[alt_coop.Plugin(managed_loop=LOOP)])
        else:
            code = LOOP.run_until_complete(main_mode())
        print("EXIT CODE", int(code))
        print("SEEN", SEEN)
        print("STILL RUNNING", sorted(t.get_name() for t in asyncio.all_tasks(LOOP)))
        print("PATCHED", sorted(vars(LOOP).keys() & {"set_task_factory", "get_task_factory"}))
        """,
    )
    write(
        pytester,
        "suite/test_outer.py",
        """
        import asyncio

        import alt_coop

        import __main__ as app


        def test_runs_a_session_on_the_apps_loop(pytester):
            pytester.makepyfile("async def test_inner():\\n    pass\\n")
            result = pytester.runpytest_inprocess(
                *app.ISOLATE, plugins=[alt_coop.Plugin(managed_loop=app.LOOP)]
            )
            result.assert_outcomes(passed=1)


        async def forgotten():
            try:
                await asyncio.sleep(3600)
            finally:
                app.SEEN.append("leftover finally ran")


        async def test_then_leaves_a_task_running():
            asyncio.create_task(forgotten(), name="forgotten-by-a-later-test")
            await asyncio.sleep(0)
        """,
    )
    result = run_app(pytester, mode, timeout=60)
    output = output_of(result)
    assert result.ret == 0, output
    result.stdout.fnmatch_lines(["*1 passed*", "EXIT CODE 0"])
    result.stdout.fnmatch_lines(
        [
            "*AltCoopWarning: alt_coop cancelled 1 task(s) still pending at the end of the "
            "session: forgotten-by-a-later-test*",
            "EXIT CODE 0",
            "SEEN ['leftover finally ran']",
            "STILL RUNNING []",
            "PATCHED []",
        ]
    )


@pytest.mark.parametrize("cooperative", [False, True], ids=["sequential", "cooperative"])
def test_main_runs_the_tests_in_a_copy_of_the_callers_context(
    pytester: pytest.Pytester, cooperative: bool
) -> None:
    write_app(
        pytester,
        """
        import asyncio
        import contextvars
        import sys

        import alt_coop

        REQUEST_ID = contextvars.ContextVar("REQUEST_ID", default="unset")


        async def app_main():
            REQUEST_ID.set("the app's")
            print("EXIT CODE", int(await alt_coop.main([*ISOLATE, "suite", "-q", *sys.argv[1:]])))
            print("IN THE APP AFTER", REQUEST_ID.get())


        asyncio.run(app_main())
        """,
    )
    write(
        pytester,
        "suite/test_context.py",
        """
        import pytest

        import __main__ as app


        @pytest.fixture
        def sync_sees():
            return app.REQUEST_ID.get()


        @pytest.fixture
        async def async_sees():
            seen = app.REQUEST_ID.get()
            app.REQUEST_ID.set("the fixture's")
            return seen


        async def test_sees_the_apps_value(sync_sees, async_sees):
            assert (sync_sees, async_sees) == ("the app's", "the app's")
            assert app.REQUEST_ID.get() == "the fixture's"
        """,
    )
    result = run_app(pytester, *(["--asyncio-cooperative"] if cooperative else []), timeout=30)
    output = output_of(result)
    assert result.ret == 0, output
    result.stdout.fnmatch_lines(["*1 passed*", "EXIT CODE 0", "IN THE APP AFTER the app's"])


def test_a_task_factory_failing_to_start_a_test_is_an_internal_error_after_the_others(
    pytester: pytest.Pytester,
) -> None:
    # The tests already running finish and are reported; no further test
    # starts; pytest reports the factory's error as the internal error it is.
    write_app(
        pytester,
        """
        import asyncio

        import alt_coop


        BROKEN = False


        def factory(loop, coro, **kwargs):
            if BROKEN:
                coro.close()
                raise RuntimeError("the application's task factory broke")
            return asyncio.Task(coro, loop=loop, **kwargs)


        async def app_main():
            asyncio.get_running_loop().set_task_factory(factory)
            global BROKEN
            args = [*ISOLATE, "suite", "-v", "--asyncio-cooperative", "--max-asyncio-tasks=2"]
            code = await alt_coop.main(args)
            BROKEN = False
            print("EXIT CODE", int(code))


        asyncio.run(app_main())
        """,
    )
    write(
        pytester,
        "suite/test_three.py",
        """
        import asyncio

        import __main__ as app


        async def test_a():
            await asyncio.sleep(0.05)
            app.BROKEN = True  # test_c's task is made once test_a is done


        async def test_b():
            await asyncio.sleep(0.2)


        async def test_c():
            print("TEST C RAN")


        async def test_d():
            print("TEST D RAN")
        """,
    )
    result = run_app(pytester, timeout=30)
    output = output_of(result)
    assert result.ret == 0, output
    result.stdout.fnmatch_lines(
        [
            "*::test_a PASSED*",
            "*::test_b PASSED*",
            "INTERNALERROR*RuntimeError: the application's task factory broke",
        ],
        consecutive=False,
    )
    assert "EXIT CODE 3" in output
    assert "TEST C RAN" not in output and "TEST D RAN" not in output
    assert "still running" not in output


def test_a_task_factory_the_application_sets_during_a_session_stays(
    pytester: pytest.Pytester,
) -> None:
    write_app(
        pytester,
        """
        import asyncio

        import alt_coop


        def factory(loop, coro, **kwargs):
            return asyncio.Task(coro, loop=loop, **kwargs)


        async def set_it_later():
            await asyncio.sleep(0.05)
            asyncio.get_running_loop().set_task_factory(factory)


        async def app_main():
            later = asyncio.create_task(set_it_later())
            print("EXIT CODE", int(await alt_coop.main([*ISOLATE, "suite", "-q"])))
            await later
            print("FACTORY KEPT", asyncio.get_running_loop().get_task_factory() is factory)


        asyncio.run(app_main())
        """,
    )
    write(
        pytester,
        "suite/test_slow.py",
        "import asyncio\n\nasync def test_slow():\n    await asyncio.sleep(0.3)\n",
    )
    result = run_app(pytester, timeout=30)
    output = output_of(result)
    assert result.ret == 0, output
    result.stdout.fnmatch_lines(["EXIT CODE 0", "FACTORY KEPT True"])


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
@pytest.mark.parametrize("how", ["main", "managed_loop"])
@pytest.mark.parametrize("sets_its_own", [True, False], ids=["sets-its-own", "only-saves"])
def test_an_exception_handler_a_fixture_puts_back_leaves_the_applications_in_place(
    pytester: pytest.Pytester, how: str, mode: str, sets_its_own: bool
) -> None:
    # The fixture saved alt_coop's handler of its setup's phase, and put it
    # back as it was torn down: alt_coop's outlived the session, and errors
    # of the tests after went through that phase's handler. The
    # application's handler is an object that cannot be hashed.
    write_app(
        pytester,
        f"""
        import asyncio

        import pytest

        import alt_coop

        ARGS = [*ISOLATE, "suite", "-q", *{mode_args(mode)!r}]


        class AppHandler:
            __hash__ = None  # as a dataclass's with eq

            def __call__(self, loop, context):
                print("APP HANDLER:", context["message"], flush=True)


        app_handler = AppHandler()


        async def app_main():
            loop = asyncio.get_running_loop()
            loop.set_exception_handler(app_handler)
            print("APP: main returned", int(await alt_coop.main(ARGS)), flush=True)
            report(loop)


        def report(loop):
            print("APP: the handler is the app's:", loop.get_exception_handler() is app_handler)


        if "{how}" == "main":
            asyncio.run(app_main())
        else:
            loop = asyncio.new_event_loop()
            loop.set_exception_handler(app_handler)
            code = pytest.main(ARGS, plugins=[alt_coop.Plugin(managed_loop=loop)])
            print("APP: pytest.main returned", int(code), flush=True)
            report(loop)
            loop.close()
        """,
    )
    write(
        pytester,
        "suite/test_errors.py",
        f"""
        import asyncio

        import pytest

        @pytest.fixture
        async def loop_errors():
            loop = asyncio.get_running_loop()
            errors = []
            saved = loop.get_exception_handler()
            if {sets_its_own}:
                loop.set_exception_handler(lambda loop, context: errors.append(context["message"]))
            yield errors
            loop.set_exception_handler(saved)

        async def test_collects(loop_errors):
            asyncio.get_running_loop().call_soon(lambda: 1 / 0)
            await asyncio.sleep(0.01)
            assert len(loop_errors) == {int(sets_its_own)}

        async def test_after():
            await asyncio.sleep(0.01)
        """,
    )
    result = run_app(pytester, timeout=30)
    output = output_of(result)
    assert result.ret == 0, output
    result.stdout.fnmatch_lines(
        ["*2 passed*", "APP: * returned 0", "APP: the handler is the app's: True"]
    )
    assert "APP HANDLER" not in output, output


@pytest.mark.parametrize("restores", [True, False], ids=["restores", "sets-none"])
@pytest.mark.parametrize(("mode", "loop_kind"), WORKING_MODES)
def test_tasks_left_by_a_test_through_a_factory_a_fixture_set_are_cancelled(
    pytester: pytest.Pytester, mode: str, loop_kind: str, restores: bool
) -> None:
    # alt_coop follows the session's tasks through the task factory it sets:
    # those made while a fixture's factory replaced it were left running
    # (on Python 3.11, whose tasks do not tell their context), and a factory
    # "restored" to None stopped the following for the rest of the session.
    uses_uvloop(loop_kind)
    write_app(pytester)
    write(
        pytester,
        "suite/test_factory.py",
        f"""
        import asyncio

        import pytest

        import __main__ as app


        @pytest.fixture(scope="session", autouse=True)
        async def own_task_factory():
            loop = asyncio.get_running_loop()
            before = loop.get_task_factory()
            mine = lambda loop, coro, **kw: asyncio.Task(coro, loop=loop, **kw)
            loop.set_task_factory(mine)
            assert loop.get_task_factory() is mine
            yield
            loop.set_task_factory(before if RESTORES else None)


        @pytest.fixture(scope="module", autouse=True)
        async def sets_none_first():
            if not RESTORES:
                asyncio.get_running_loop().set_task_factory(None)


        async def forgotten():
            try:
                await asyncio.sleep(3600)
            finally:
                app.SEEN.append("leftover finally ran")


        RESTORES = {restores!r}


        async def test_leaves_a_task_running():
            asyncio.create_task(forgotten(), name="forgotten-by-test")
            await asyncio.sleep(0)
        """,
    )
    result = run_app(pytester, mode, loop_kind, "suite")
    output = output_of(result)
    assert result.ret == 0, output
    result.stdout.fnmatch_lines(
        [
            "*AltCoopWarning: alt_coop cancelled 1 task(s) still pending at the end of the "
            "session: forgotten-by-test (forgotten)*",
        ]
    )
    assert "SEEN ['leftover finally ran']" in output
    assert "APP TICKER STILL RUNNING True" in output


@pytest.mark.parametrize("alone", [False, True], ids=["beside-others", "alone"])
def test_a_session_a_cooperative_test_runs_beside_others_is_refused(
    pytester: pytest.Pytester, alone: bool
) -> None:
    # Nested on the batch's loop, it took the tasks and timers the other
    # tests started meanwhile for its own, and cancelled them as it ended.
    write(pytester, "inner/test_inner.py", "async def test_inner():\n    pass\n")
    write(
        pytester,
        "suite/test_outer.py",
        f"""
        import asyncio

        import pytest

        import alt_coop

        pytestmark = pytest.mark.asyncio_cooperative


        {"@pytest.mark.asyncio_sequential" if alone else ""}
        async def test_runs_a_session():
            code = pytest.main(
                [*{ISOLATE!r}, "-q", "inner"],
                plugins=[alt_coop.Plugin(managed_loop=asyncio.get_running_loop())],
            )
            assert code == 0


        async def test_starts_a_task_meanwhile():
            task = asyncio.create_task(asyncio.sleep(0.3, "done"), name="other-tests-task")
            assert await task == "done"
        """,
    )
    result = pytester.runpytest_subprocess(
        *ISOLATE, "-p", "alt_coop.enable", "-p", "no:randomly", "suite", timeout=60
    )
    if alone:
        result.assert_outcomes(passed=2)
        return
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*alt_coop: a pytest session run from a cooperative test, beside the other tests "
            "of its batch, would take the tasks and timers they start meanwhile for its own*",
        ]
    )
    assert "other-tests-task" not in output_of(result)


def test_the_loops_own_task_factory_methods_and_a_factory_set_around_them_stay(
    pytester: pytest.Pytester,
) -> None:
    # An application's own set_task_factory on the loop was deleted with
    # alt_coop's at the session's end; a factory a test set through the
    # class's method was replaced by the last one set through the loop's.
    write_app(
        pytester,
        """
        import asyncio

        import pytest

        import alt_coop

        SET_LOG = []
        LOOP = asyncio.new_event_loop()
        ORIGINAL = LOOP.set_task_factory


        def set_task_factory(factory):
            SET_LOG.append(getattr(factory, "__name__", factory))
            ORIGINAL(factory)


        LOOP.set_task_factory = set_task_factory
        code = pytest.main([*ISOLATE, "-q", "suite"], plugins=[alt_coop.Plugin(managed_loop=LOOP)])
        print("EXIT CODE", int(code))
        print("OWN METHOD KEPT", LOOP.set_task_factory is set_task_factory)
        print("FACTORY", getattr(LOOP.get_task_factory(), "__name__", None))
        print("SET LOG", SET_LOG)
        """,
    )
    write(
        pytester,
        "suite/test_around.py",
        """
        import asyncio


        def tracing(loop, coro, **kwargs):
            return asyncio.Task(coro, loop=loop, **kwargs)


        async def test_sets_a_factory_through_the_class():
            loop = asyncio.get_running_loop()
            asyncio.BaseEventLoop.set_task_factory(loop, tracing)
        """,
    )
    result = run_app(pytester)
    output = output_of(result)
    assert result.ret == 0, output
    result.stdout.fnmatch_lines(
        [
            "EXIT CODE 0",
            "OWN METHOD KEPT True",
            "FACTORY tracing",
            "SET LOG ['factory']",
        ]
    )


@pytest.mark.parametrize(("mode", "loop_kind"), WORKING_MODES)
def test_a_fixture_a_sequential_test_set_up_is_torn_down_by_a_cooperative_one(
    pytester: pytest.Pytester, mode: str, loop_kind: str
) -> None:
    # Nested, the sequential test ran in the application task's own context,
    # which is entered while pytest runs: the teardown could not enter it.
    uses_uvloop(loop_kind)
    write_app(pytester)
    write(
        pytester,
        "suite/test_shared.py",
        """
        import asyncio

        import pytest

        import __main__ as app


        @pytest.fixture(scope="module")
        async def shared():
            yield
            await asyncio.sleep(0)
            app.SEEN.append("torn down")


        def test_sequential(shared):
            pass


        @pytest.mark.asyncio_cooperative
        async def test_cooperative(shared):
            await asyncio.sleep(0)
        """,
    )
    result = run_app(pytester, mode, loop_kind, "suite")
    output = output_of(result)
    assert result.ret == 0, output
    result.stdout.fnmatch_lines(["*2 passed*", "EXIT CODE 0"])
    assert "SEEN ['torn down']" in output
    assert "destroyed" not in output


def test_a_plugin_passed_to_several_sessions_reports_each_its_own(
    pytester: pytest.Pytester,
) -> None:
    write_app(
        pytester,
        """
        import asyncio

        import alt_coop


        async def app_main():
            plugin = alt_coop.Plugin()
            for suite in ("suite/test_cooperative.py", "suite/test_sequential.py"):
                code = await alt_coop.main([*ISOLATE, suite, "-q"], plugins=[plugin])
                print("EXIT CODE", int(code), "MANAGED LOOP", plugin.managed_loop)


        asyncio.run(app_main())
        """,
    )
    write(
        pytester,
        "suite/test_cooperative.py",
        """
        import asyncio

        import pytest


        @pytest.mark.asyncio_cooperative
        @pytest.mark.parametrize("n", [1, 2])
        async def test_cooperative(n):
            await asyncio.sleep(0.05)
        """,
    )
    write(pytester, "suite/test_sequential.py", "async def test_sequential():\n    pass\n")
    result = run_app(pytester, timeout=30)
    output = output_of(result)
    assert result.ret == 0, output
    result.stdout.fnmatch_lines(
        [
            "alt_coop: 2 cooperative tests, at most 2 at once*",
            "*2 passed*",
            "EXIT CODE 0 MANAGED LOOP None",
            "*1 passed*",
            "EXIT CODE 0 MANAGED LOOP None",
        ]
    )
    assert output.count("cooperative tests, at most") == 1, output


# -- bad use -------------------------------------------------------------------


def test_managed_loop_must_be_an_event_loop() -> None:
    with pytest.raises(TypeError, match="managed_loop must be an asyncio event loop, got str"):
        alt_coop.Plugin(managed_loop="not a loop")  # type: ignore[arg-type]


BAD_USE_SUITE = """
import asyncio

async def test_must_not_run():
    print("TEST RAN")
    await asyncio.sleep(0)
"""


@pytest.mark.parametrize("loop_kind", LOOP_KINDS)
def test_closed_managed_loop_is_a_usage_error(pytester: pytest.Pytester, loop_kind: str) -> None:
    uses_uvloop(loop_kind)
    write_app(
        pytester,
        """
        import asyncio
        import sys

        import pytest

        import alt_coop

        if sys.argv[1] == "uvloop":
            import uvloop

            loop = uvloop.new_event_loop()
        else:
            loop = asyncio.new_event_loop()
        loop.close()
        code = pytest.main([*ISOLATE, "suite", "-s"], plugins=[alt_coop.Plugin(managed_loop=loop)])
        print("EXIT CODE", int(code))
        """,
    )
    write(pytester, "suite/test_bad_use.py", BAD_USE_SUITE)
    result = run_app(pytester, loop_kind, timeout=30)
    output = output_of(result)

    assert result.ret == 0, output
    assert f"EXIT CODE {int(pytest.ExitCode.USAGE_ERROR)}" in output
    result.stderr.fnmatch_lines(["*managed_loop is closed*"])
    assert "TEST RAN" not in output


#: Starts a loop in a thread with run_forever, for the tests below.
LOOP_IN_A_THREAD = """
import asyncio
import sys
import threading


def new_loop():
    if sys.argv[1] == "uvloop":
        import uvloop

        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


thread_loop = new_loop()
running = threading.Event()
thread_loop.call_soon(running.set)
thread = threading.Thread(target=thread_loop.run_forever, daemon=True)
thread.start()
assert running.wait(10)


def stop_thread_loop():
    thread_loop.call_soon_threadsafe(thread_loop.stop)
    thread.join(10)
    print("THREAD LOOP CLOSED", thread_loop.is_closed(), "THREAD ALIVE", thread.is_alive())
"""


@pytest.mark.parametrize("loop_kind", LOOP_KINDS)
def test_managed_loop_running_in_another_thread_is_a_usage_error(
    pytester: pytest.Pytester, loop_kind: str
) -> None:
    uses_uvloop(loop_kind)
    write_app(
        pytester,
        LOOP_IN_A_THREAD
        + """
import pytest

import alt_coop

code = pytest.main(
    [*ISOLATE, "suite", "-s"], plugins=[alt_coop.Plugin(managed_loop=thread_loop)]
)
print("EXIT CODE", int(code))
stop_thread_loop()
""",
    )
    write(pytester, "suite/test_bad_use.py", BAD_USE_SUITE)
    result = run_app(pytester, loop_kind, timeout=30)
    output = output_of(result)

    assert result.ret == 0, output
    assert f"EXIT CODE {int(pytest.ExitCode.USAGE_ERROR)}" in output
    result.stderr.fnmatch_lines(["*managed_loop is running in another thread*"])
    assert "TEST RAN" not in output
    assert "THREAD LOOP CLOSED False THREAD ALIVE False" in output


@pytest.mark.parametrize("loop_kind", LOOP_KINDS)
def test_main_with_a_plugin_for_another_loop_is_a_usage_error(
    pytester: pytest.Pytester, loop_kind: str
) -> None:
    uses_uvloop(loop_kind)
    write_app(
        pytester,
        LOOP_IN_A_THREAD
        + """
import alt_coop
from alt_coop.errors import AltCoopUsageError

stopped_loop = new_loop()


async def app_main():
    for name, other in [("running in a thread", thread_loop), ("not running", stopped_loop)]:
        try:
            code = await alt_coop.main(
                [*ISOLATE, "suite", "-s"], plugins=[alt_coop.Plugin(managed_loop=other)]
            )
        except AltCoopUsageError as exc:
            print(f"{name}: AltCoopUsageError: {exc}", flush=True)
        else:
            print(f"{name}: no error, exit code {int(code)}", flush=True)


loop = new_loop()
loop.run_until_complete(app_main())
print("APP LOOP CLOSED", loop.is_closed(), "OTHER LOOP CLOSED", stopped_loop.is_closed())
stop_thread_loop()
""",
    )
    write(pytester, "suite/test_bad_use.py", BAD_USE_SUITE)
    result = run_app(pytester, loop_kind, timeout=30)
    output = output_of(result)

    assert result.ret == 0, output
    result.stdout.fnmatch_lines(
        [
            "running in a thread: AltCoopUsageError: *manages another loop*",
            "not running: AltCoopUsageError: *manages another loop*",
            "APP LOOP CLOSED False OTHER LOOP CLOSED False",
            "THREAD LOOP CLOSED False THREAD ALIVE False",
        ]
    )
    assert "TEST RAN" not in output


def test_main_works_with_an_application_task_factory_of_two_arguments(
    pytester: pytest.Pytester,
) -> None:
    write_app(
        pytester,
        """
        import asyncio

        import alt_coop


        def factory(loop, coro):  # the form asyncio documents first
            return asyncio.Task(coro, loop=loop)


        async def app_main():
            asyncio.get_running_loop().set_task_factory(factory)
            for _ in range(2):
                print("APP: job returned", await alt_coop.main([*ISOLATE, "suite", "-q"]))


        asyncio.run(app_main())
        """,
    )
    write(pytester, "suite/test_quick.py", "async def test_quick():\n    pass\n")
    result = run_app(pytester, timeout=30)
    output = output_of(result)
    assert result.ret == 0, output
    assert output.count("APP: job returned 0") == 2, output


@pytest.mark.skipif(sys.version_info < (3, 12), reason="asyncio.eager_task_factory is 3.12+")
def test_main_runs_cooperative_tests_under_an_eager_task_factory(
    pytester: pytest.Pytester,
) -> None:
    # An eager task starts running inside create_task: a test's task is then
    # started from the batch's own lane, not from the loop.
    write_app(
        pytester,
        """
        import asyncio

        import alt_coop


        async def app_main():
            loop = asyncio.get_running_loop()
            loop.set_task_factory(asyncio.eager_task_factory)
            code = await alt_coop.main([*ISOLATE, "suite", "-q", "--asyncio-cooperative"])
            print("APP: job returned", code)
            print("APP: factory kept", loop.get_task_factory() is asyncio.eager_task_factory)


        asyncio.run(app_main())
        """,
    )
    write(
        pytester,
        "suite/test_eager.py",
        """
        import asyncio

        async def test_one():
            await asyncio.sleep(0.01)
            await asyncio.sleep(0.01)

        async def test_two():
            await asyncio.sleep(0.01)
            await asyncio.sleep(0.01)
        """,
    )
    result = run_app(pytester, timeout=60)
    output = output_of(result)
    assert result.ret == 0, output
    assert "2 passed" in output and "INTERNALERROR" not in output, output
    assert "APP: job returned 0" in output and "APP: factory kept True" in output, output


def test_a_test_swallowing_the_interrupt_still_stops_the_session(
    pytester: pytest.Pytester,
) -> None:
    write_app(
        pytester,
        """
        import asyncio
        import os

        import alt_coop


        async def app_main():
            job = asyncio.create_task(alt_coop.main([*ISOLATE, "suite", "-q", "-s"]))
            while not os.path.exists("swallowing"):
                await asyncio.sleep(0.01)
            job.cancel()
            try:
                await job
            except asyncio.CancelledError:
                print("APP: await job raised CancelledError", flush=True)


        asyncio.run(app_main())
        """,
    )
    write(
        pytester,
        "suite/test_swallow.py",
        """
        import asyncio
        import pathlib

        async def test_swallows():
            pathlib.Path("swallowing").touch()
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                pass

        async def test_never_reached():
            print("NEVER REACHED", flush=True)
        """,
    )
    result = run_app(pytester, timeout=30)
    output = output_of(result)
    assert result.ret == 0, output
    assert "APP: await job raised CancelledError" in output
    assert "NEVER REACHED" not in output


def test_main_takes_its_arguments_as_pytest_main_does(pytester: pytest.Pytester) -> None:
    # A string was split into one argument per character ("file or directory
    # not found: t"); a path, which pytest.main takes, was not iterable.
    write(pytester, "suite/test_it.py", "async def test_it():\n    pass\n")
    write_app(
        pytester,
        """
        import asyncio
        import os
        import pathlib
        import alt_coop

        async def run():
            for args, plugins in [
                ("suite", None), (["suite"], alt_coop.Plugin()), (["suite"], [alt_coop.Plugin])
            ]:
                try:
                    await alt_coop.main(args, plugins=plugins)
                except TypeError as error:
                    print("REFUSED", error)
            os.environ["PYTEST_ADDOPTS"] = " ".join([*ISOLATE, "-q"])
            code = await alt_coop.main(pathlib.Path("suite"))
            print("EXIT CODE", int(code))

        asyncio.run(run())
        """,
    )
    result = run_app(pytester)
    output = output_of(result)
    assert result.ret == 0, output
    assert (
        "REFUSED alt_coop.main takes its arguments as a list of strings (or a path "
        "object), as pytest.main does; got 'suite': alt_coop.main(['suite'])" in output
    )
    assert (
        "REFUSED alt_coop.main takes its plugins as a list, as pytest.main does: "
        "plugins=[alt_coop.Plugin()]" in output
    )
    assert (
        "REFUSED alt_coop.main was given the class alt_coop.Plugin as a plugin: give it "
        "an instance, alt_coop.Plugin()" in output
    )
    assert "EXIT CODE 0" in output
    assert "1 passed" in output


def test_pytest_main_given_the_plugin_class_says_to_pass_an_instance(
    pytester: pytest.Pytester,
) -> None:
    # pytest registered the class itself, whose hooks then failed in pluggy
    # with "missing 1 required positional argument: 'manager'".
    write(pytester, "suite/test_it.py", "async def test_it():\n    pass\n")
    write_app(
        pytester,
        """
        import alt_coop
        import pytest

        class Mine(alt_coop.Plugin):
            pass

        for plugin in (alt_coop.Plugin, Mine):
            print("EXIT CODE", int(pytest.main(["suite", *ISOLATE], plugins=[plugin])))
        """,
    )
    result = run_app(pytester)
    output = output_of(result)
    assert "TypeError" not in output, output
    assert output.count("EXIT CODE 4") == 2, output
    assert (
        "ERROR: alt_coop.Plugin was given as a plugin: pass an instance, "
        "plugins=[alt_coop.Plugin()]" in output
    )
    assert "ERROR: Mine was given as a plugin: pass an instance, plugins=[Mine()]" in output


def test_alt_coop_loop_in_a_session_on_the_apps_loop_says_it_cannot_be_used(
    pytester: pytest.Pytester,
) -> None:
    # Marking the test asyncio_sequential, as the message said, did not help:
    # the application's loop runs throughout the session.
    write(
        pytester,
        "suite/test_it.py",
        """
        import alt_coop
        import pytest

        @pytest.fixture
        def fresh_loop():
            with alt_coop.Loop() as loop:
                yield loop

        @pytest.mark.asyncio_sequential
        async def test_it(fresh_loop):
            pass
        """,
    )
    write_app(
        pytester,
        """
        import asyncio
        import alt_coop

        async def run():
            code = await alt_coop.main([*ISOLATE, "suite", "-q"])
            print("EXIT CODE", int(code))

        asyncio.run(run())
        """,
    )
    result = run_app(pytester)
    output = output_of(result)
    assert "EXIT CODE 1" in output, output
    assert (
        "alt_coop.Loop must be entered from synchronous code (a sync fixture), not while an "
        "event loop is running. In a session on an application's loop (alt_coop.main, "
        "managed_loop), that loop runs throughout, so alt_coop.Loop cannot be used there: "
        "run the tests that need it in a plain pytest run" in output
    )


@pytest.mark.parametrize(("mode", "loop_kind"), WORKING_MODES)
def test_pytest_outcomes_raised_in_callbacks_are_the_tests_on_the_apps_loop(
    pytester: pytest.Pytester, mode: str, loop_kind: str
) -> None:
    # asyncio (and uvloop) log an exception in a callback and go on; a
    # pytest outcome there is the test's, sequential or cooperative, as in a
    # plain run: under await alt_coop.main the sequential one passed.
    uses_uvloop(loop_kind)
    write_app(pytester)
    write(
        pytester,
        "suite/test_outcomes.py",
        """
        import asyncio

        import pytest


        def check():
            pytest.fail("failed in a callback")


        async def test_sequential():
            asyncio.get_running_loop().call_later(0.01, check)
            await asyncio.sleep(1)


        @pytest.mark.asyncio_cooperative
        async def test_cooperative():
            asyncio.get_running_loop().call_later(0.01, pytest.skip, "skipped in a callback")
            await asyncio.sleep(1)


        @pytest.mark.asyncio_cooperative
        async def test_cooperative_beside_it():
            await asyncio.sleep(0.1)
        """,
    )
    result = run_app(pytester, mode, loop_kind, "suite", "-rA")
    output = output_of(result)

    assert "EXIT CODE 1" in output, output
    result.stdout.fnmatch_lines_random(
        [
            "FAILED suite/test_outcomes.py::test_sequential*",
            "SKIPPED [[]1] *: skipped in a callback",
            "PASSED suite/test_outcomes.py::test_cooperative_beside_it",
            "*1 failed, 1 passed, 1 skipped in *",
        ]
    )
    assert "E       Failed: failed in a callback" in output
    assert "Exception in callback" not in output
    assert "APP TICKER STILL RUNNING True" in output


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_main_from_a_test_or_a_task_it_started_is_refused(pytester, run_alt, mode):
    # Run beside the session on its own loop, it cancelled that session's
    # tasks at its end (a task of another test running then, say). A session
    # a sync test runs on that loop, while the session's work waits, is
    # nested in it: not refused.
    pytester.makepyfile(
        inner="""
        async def test_inner():
            pass
        """
    )
    pytester.makepyfile(
        """
        import asyncio
        import warnings

        import pytest

        import alt_coop
        from alt_coop.errors import AltCoopUsageError

        ARGS = ["-p", "no:cacheprovider", "-p", "no:asyncio", "inner.py"]

        async def test_awaits_main():
            with pytest.raises(AltCoopUsageError, match="from inside a test.*with pytester"):
                await alt_coop.main(ARGS)

        async def test_main_in_a_task():
            with pytest.raises(AltCoopUsageError, match="beside the running one.*pytester"):
                await asyncio.create_task(alt_coop.main(ARGS))

        async def test_beside_them():
            worker = asyncio.create_task(asyncio.sleep(0.3))
            await asyncio.sleep(0.2)
            assert not worker.cancelled()
            await worker

        def session_loop():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                return asyncio.get_event_loop()

        def test_a_sync_test_runs_main_on_the_session_loop():
            assert session_loop().run_until_complete(alt_coop.main(ARGS)) == 0

        def test_a_sync_test_runs_a_session_on_the_session_loop(pytester):
            pytester.makepyfile("async def test_a():\\n    pass\\n")
            result = pytester.runpytest_inprocess(
                "-p", "no:asyncio", plugins=[alt_coop.Plugin(managed_loop=session_loop())]
            )
            result.assert_outcomes(passed=1)
        """
    )
    run_alt(
        "-p",
        "pytester",
        *mode_args(mode),
        "test_main_from_a_test_or_a_task_it_started_is_refused.py",
    ).assert_outcomes(passed=5)


# -- pytest-xdist -------------------------------------------------------------


def write_xdist_app(pytester: pytest.Pytester) -> None:
    """``python app.py MODE [pytest args...]``: a session on the app's loop,
    with pytest-xdist loaded, over a suite of two tests."""
    write(
        pytester,
        "app.py",
        f"""
        import asyncio
        import sys

        import pytest

        import alt_coop

        ARGS = [
            *{list(ISOLATE)!r},
            *("-p", "xdist", "-p", "xdist.looponfail", "-p", "alt_coop.enable"),
            *sys.argv[2:],
            "suite",
        ]


        async def app_main():
            return await alt_coop.main(ARGS)


        if sys.argv[1] == "main":
            code = asyncio.run(app_main())
        else:
            loop = asyncio.new_event_loop()
            code = pytest.main(ARGS, plugins=[alt_coop.Plugin(managed_loop=loop)])
            loop.close()
        print("EXIT CODE", int(code))
        """,
    )
    write(
        pytester,
        "suite/test_live.py",
        """
        import asyncio

        async def test_plain():
            await asyncio.sleep(0)

        async def test_other():
            await asyncio.sleep(0)
        """,
    )


@pytest.mark.parametrize("mode", ["main", "sync"])
def test_xdist_on_the_apps_loop_is_a_usage_error(pytester: pytest.Pytester, mode: str) -> None:
    """xdist's workers are other processes, away from the application's
    loop and objects: asked for (here through addopts, as a project may have
    it), it is refused rather than run elsewhere while the loop is blocked,
    with advice that works whichever way it was asked for."""
    pytest.importorskip("xdist")
    pytester.makeini("[pytest]\naddopts = -n 2\n")
    write_xdist_app(pytester)
    result = run_app(pytester, mode, timeout=120)
    output = output_of(result)
    result.stderr.fnmatch_lines(
        [
            "ERROR: alt_coop: pytest-xdist runs tests in other processes (-n, --tx, -f), not on "
            "the application's loop this session runs on; drop those options "
            "(for an -n from addopts, pass -n 0)"
        ]
    )
    assert "EXIT CODE 4" in output, output
    assert "passed" not in output, output

    result = run_app(pytester, mode, "-n", "0", timeout=120)
    assert "2 passed" in output_of(result), output_of(result)
    assert "EXIT CODE 0" in output_of(result), output_of(result)


@pytest.mark.parametrize("mode", ["main", "sync"])
def test_xdist_looponfail_on_the_apps_loop_is_a_usage_error(
    pytester: pytest.Pytester, mode: str
) -> None:
    """``-f`` runs the tests in a child process and then waits for files to
    change, blocking the application's loop for ever: refused as ``-n`` is."""
    pytest.importorskip("xdist")
    write_xdist_app(pytester)
    result = run_app(pytester, mode, "-f", timeout=60)
    output = output_of(result)
    assert "ERROR: alt_coop: pytest-xdist runs tests in other processes" in output, output
    assert "EXIT CODE 4" in output, output
    assert "passed" not in output, output


@pytest.mark.parametrize(
    "args, outcome",
    [
        (("--dist", "loadgroup"), "2 passed"),  # no workers asked for
        (("-n", "2", "--collect-only"), "2 tests collected"),  # xdist stands aside
    ],
)
def test_xdist_options_that_start_no_workers_run_on_the_apps_loop(
    pytester: pytest.Pytester, args: tuple[str, ...], outcome: str
) -> None:
    """Only a run that xdist would hand to workers is refused."""
    pytest.importorskip("xdist")
    write_xdist_app(pytester)
    result = run_app(pytester, "main", *args, timeout=120)
    output = output_of(result)
    assert outcome in output, output
    assert "EXIT CODE 0" in output, output


def test_an_engine_passed_to_pytest_main_under_xdist_says_workers_need_enabling(
    pytester: pytest.Pytester,
) -> None:
    """A plugin object given to pytest.main stays in xdist's controller; the
    workers' message says how to switch the engine on for them."""
    pytest.importorskip("xdist")
    write(
        pytester,
        "app.py",
        f"""
        import pytest

        import alt_coop

        code = pytest.main(
            [*{list(ISOLATE)!r}, "-p", "xdist", "-n", "2", "suite"], plugins=[alt_coop.Plugin()]
        )
        print("EXIT CODE", int(code))
        """,
    )
    write(
        pytester,
        "suite/test_live.py",
        """
        async def test_plain():
            pass
        """,
    )
    result = run_app(pytester, timeout=120)
    result.stdout.fnmatch_lines(
        [
            "*the alt_coop engine is not enabled*Under pytest-xdist, a Plugin passed to "
            "pytest.main stays in the controller: switch the engine on for the workers with "
            "-p alt_coop.enable or pytest_plugins*",
            "EXIT CODE 1",
        ]
    )


def test_an_async_hook_of_a_plugin_object_is_named_by_its_class(pytester):
    write(
        pytester,
        "app.py",
        f"""
        import asyncio

        import alt_coop

        class Live:
            async def pytest_sessionstart(self, session):
                pass

        async def main():
            return await alt_coop.main([*{ISOLATE!r}, "-p", "no:cacheprovider"], plugins=[Live()])

        print("EXIT CODE", int(asyncio.run(main())))
        """,
    )
    write(pytester, "test_one.py", "async def test_one():\n    pass\n")
    result = run_app(pytester)
    result.stdout.fnmatch_lines(["EXIT CODE 4"])
    result.stderr.fnmatch_lines(
        [
            "ERROR: async def pytest_sessionstart in a __main__.Live object: pytest calls "
            "its hooks without awaiting them, so it would never run.*"
        ]
    )


@pytest.mark.parametrize("cooperative", [False, True], ids=["sequential", "cooperative"])
def test_a_loop_a_test_makes_current_on_an_applications_loop_is_everyones(pytester, cooperative):
    # The application made no loop current: the first sync fixture asking for
    # one gets a new one from asyncio, and the tests beside it that one too,
    # as in a sequential run; so does one a session fixture sets.
    write(
        pytester,
        "app.py",
        f"""
        import asyncio
        import sys

        import pytest

        import alt_coop

        loop = asyncio.new_event_loop()
        sys.exit(
            pytest.main(
                [*{ISOLATE!r}, "-W", "ignore::DeprecationWarning", *sys.argv[1:]],
                plugins=[alt_coop.Plugin(managed_loop=loop)],
            )
        )
        """,
    )
    write(
        pytester,
        "test_made.py",
        """
        import asyncio
        import pytest

        @pytest.fixture
        def the_loop():
            return asyncio.get_event_loop()

        @pytest.mark.parametrize("i", range(2))
        async def test_it(i, the_loop):
            await asyncio.sleep(0.01)
        """,
    )
    write(
        pytester,
        "test_set.py",
        """
        import asyncio
        import pytest

        @pytest.fixture(scope="session")
        def app_loop():
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            yield loop
            asyncio.set_event_loop(None)
            loop.close()

        @pytest.fixture
        async def slow():
            await asyncio.sleep(0.02)

        @pytest.fixture
        def helper(app_loop, slow):
            return asyncio.get_event_loop()

        @pytest.mark.parametrize("i", range(3))
        async def test_it(i, helper, app_loop):
            assert helper is app_loop
        """,
    )
    mode = ["--asyncio-cooperative"] if cooperative else []
    result = run_app(pytester, *mode, "test_made.py", "test_set.py")
    assert result.ret == 0, output_of(result)
    result.stdout.fnmatch_lines(["*5 passed*"])


def test_a_session_on_an_applications_loop_inside_an_alt_coop_test_is_its_own(
    pytester, run_alt_subprocess
):
    # An outer alt_coop session made its own loop current: an inner session
    # on an application's loop, run by one of its tests, still batches its
    # cooperative tests, and leaves the current loop to the application.
    write(
        pytester,
        "test_outer.py",
        """
        import asyncio
        import alt_coop

        pytest_plugins = ["pytester"]

        INNER = '''
        import asyncio
        import os

        async def test_a():
            await asyncio.sleep(0.05)

        async def test_b():
            await asyncio.sleep(0.05)

        def test_sync():
            assert id(asyncio.get_event_loop()) == int(os.environ["APP_LOOP"])
        '''

        def test_managed_loop_from_sync_code(pytester, monkeypatch):
            pytester.makepyfile(INNER)
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            monkeypatch.setenv("APP_LOOP", str(id(loop)))
            monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
            try:
                result = pytester.runpytest_inprocess(
                    "-p",
                    "no:cacheprovider",
                    "--asyncio-cooperative",
                    plugins=[alt_coop.Plugin(managed_loop=loop)],
                )
            finally:
                loop.close()
            result.assert_outcomes(passed=3)
            result.stdout.no_fnmatch_line("*one by one*")
            result.stdout.fnmatch_lines(["alt_coop: 2 cooperative tests, at most 2 at once*"])
        """,
    )
    result = run_alt_subprocess("-p", "pytester", "test_outer.py")
    result.assert_outcomes(passed=1)


def test_a_session_whose_end_hooks_both_raise_still_ends(pytester: pytest.Pytester) -> None:
    # A conftest's pytest_sessionfinish and pytest_unconfigure both raising
    # stopped pluggy before alt_coop's: the session's Ctrl-C handler stayed
    # installed (Ctrl-C in the application went to a finished session).
    # A conftest's pytest_unconfigure alone raising kept the session's claim
    # on the application's loop: the next session on it was refused.
    write_app(
        pytester,
        """
        import asyncio
        import signal

        import pytest

        import alt_coop

        loop = asyncio.new_event_loop()
        for suite, plugin in [
            ("unconfigure_broken", alt_coop.Plugin(managed_loop=loop)),
            ("broken", alt_coop.Plugin(managed_loop=loop)),
            ("broken", alt_coop.Plugin()),
        ]:
            try:
                pytest.main([*ISOLATE, suite, "-q"], plugins=[plugin])
            except RuntimeError as exc:
                print("RAISED", exc)
            handler = signal.getsignal(signal.SIGINT)
            print("HANDLER RESTORED", handler is signal.default_int_handler)
        code = pytest.main([*ISOLATE, "fine", "-q"], plugins=[alt_coop.Plugin(managed_loop=loop)])
        print("EXIT", int(code))
        """,
    )
    write(
        pytester,
        "broken/conftest.py",
        """
        def pytest_sessionfinish():
            raise RuntimeError("sessionfinish broke")


        def pytest_unconfigure():
            raise RuntimeError("unconfigure broke")
        """,
    )
    write(pytester, "broken/test_broken.py", "async def test_it():\n    pass\n")
    write(
        pytester,
        "unconfigure_broken/conftest.py",
        "def pytest_unconfigure():\n    raise RuntimeError('unconfigure broke')\n",
    )
    write(pytester, "unconfigure_broken/test_it.py", "async def test_it():\n    pass\n")
    write(pytester, "fine/test_fine.py", "async def test_it():\n    pass\n")
    result = run_app(pytester, timeout=60)
    output = output_of(result)
    assert output.count("RAISED unconfigure broke") == 3, output
    assert output.count("HANDLER RESTORED True") == 3, output
    assert "EXIT 0" in output, output


def test_a_conftests_unconfigure_error_stays_the_one_raised(pytester: pytest.Pytester) -> None:
    # alt_coop ends the session after a conftest's pytest_unconfigure that
    # raised; its own error there (a task left behind, under -W error) comes
    # as a note on the conftest's, which it hid.
    write_app(
        pytester,
        """
        import pytest

        import alt_coop

        try:
            pytest.main([*ISOLATE, "-q", "-W", "error"], plugins=[alt_coop.Plugin()])
        except RuntimeError as exc:
            print("RAISED", exc, getattr(exc, "__notes__", []))
        """,
    )
    write(
        pytester,
        "conftest.py",
        """
        def pytest_sessionfinish():
            raise RuntimeError("sessionfinish broke")


        def pytest_unconfigure():
            raise RuntimeError("unconfigure broke")
        """,
    )
    write(
        pytester,
        "test_leaves_a_task.py",
        """
        import asyncio


        async def test_it():
            asyncio.get_running_loop().create_task(asyncio.sleep(100), name="left-behind")
        """,
    )
    output = output_of(run_app(pytester, timeout=60))
    assert "RAISED unconfigure broke" in output, output
    # A note on pytest 9, where -W error holds at unconfigure; a warning on 8.
    assert "AltCoopWarning: alt_coop cancelled 1 task(s) still pending" in output, output
    assert "left-behind" in output, output


@pytest.mark.parametrize("raised", ["KeyboardInterrupt", "SystemExit"])
@pytest.mark.parametrize("how", ["own", "main"])
def test_a_reporting_hook_raising_an_interrupt_ends_a_batch_as_a_sequential_run(
    pytester: pytest.Pytester, how: str, raised: str
) -> None:
    # A conftest's pytest_runtest_logreport raising: a KeyboardInterrupt left
    # the test's task, and the loop (the application's, under main, which
    # it killed, stdout still alt_coop's), or a SystemExit was said to be a
    # task's; and a batch's own task was named as left behind.
    write_app(
        pytester,
        """
        import asyncio
        import sys

        import pytest

        import alt_coop

        stdout = sys.stdout
        args = [*ISOLATE, "-q", *sys.argv[2:]]
        if sys.argv[1] == "main":
            code = asyncio.run(alt_coop.main(args))
        else:
            code = pytest.main(args, plugins=[alt_coop.Plugin()])
        print("EXIT", int(code), "STDOUT RESTORED", sys.stdout is stdout)
        """,
    )
    write(
        pytester,
        "conftest.py",
        f"""
        def pytest_runtest_logreport(report):
            if report.when == "call":
                raise {raised}(3)
        """,
    )
    write(
        pytester,
        "test_batch.py",
        """
        import asyncio


        async def test_one():
            await asyncio.sleep(0.1)


        async def test_two():
            await asyncio.sleep(0.1)
        """,
    )
    sequential = output_of(run_app(pytester, how))
    cooperative = output_of(run_app(pytester, how, "--asyncio-cooperative"))
    if raised == "KeyboardInterrupt":
        expected = ["EXIT 2 STDOUT RESTORED True", "*! KeyboardInterrupt: 3 !*"]
    else:
        expected = [
            "EXIT 3 STDOUT RESTORED True",
            "INTERNALERROR> SystemExit: 3",
            "mainloop: caught unexpected SystemExit!",
        ]
    for output in [sequential, cooperative]:
        for line in expected:
            assert fnmatch.filter(output.splitlines(), line), output
        assert not re.search("^Traceback", output, re.MULTILINE), output  # none left pytest
        assert "alt_coop cancelled" not in output, output


#: The application returns while ``alt_coop.main`` runs in a task of its own:
#: ``asyncio.run`` then cancels every task left at once (as it does at Ctrl-C
#: once its main task is cancelled), main's caller, its session's task and the
#: cooperative tests' tasks alike, in no set order.
APP_RETURNS_WHILE_MAIN_RUNS = """
import asyncio
import sys

import pytest

import alt_coop


# Counts the tests that have started, from any thread: the application
# returns once as many as it was told have, whatever the machine's speed.
class Starts:
    def __init__(self, loop, needed):
        self.loop, self.left, self.all = loop, needed, asyncio.Event()

    def set(self):
        self.loop.call_soon_threadsafe(self._one)

    def _one(self):
        self.left -= 1
        if not self.left:
            self.all.set()


class Live:
    def __init__(self, starts):
        self.starts = starts

    @pytest.fixture
    def started(self):
        return self.starts


async def app_main():
    starts = Starts(asyncio.get_running_loop(), int(sys.argv[2]))
    args = [*ISOLATE, "suite", *sys.argv[3:]]
    asyncio.create_task(alt_coop.main(args, plugins=[Live(starts)]), name="caller")
    await starts.all.wait()
    print("APP: returns", flush=True)


loop = asyncio.new_event_loop()
loop.run_until_complete(app_main())
# As asyncio.run's shutdown does, in a fixed order: main's caller first or last.
CALLER_FIRST = sys.argv[1] == "caller"
tasks = sorted(asyncio.all_tasks(loop), key=lambda t: (t.get_name() == "caller") != CALLER_FIRST)
for task in tasks:
    task.cancel()
loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
loop.run_until_complete(loop.shutdown_asyncgens())
loop.close()
print("APP: done", flush=True)
"""

SUITE_CUT_SHORT_BY_SHUTDOWN = """
import asyncio
import pathlib
import time

import pytest


@pytest.fixture(scope="module")
async def module_resource():
    yield
    await asyncio.sleep(0)
    pathlib.Path("module-torn-down").touch()


async def test_first(module_resource):
    await asyncio.sleep(0)


@pytest.mark.parametrize("i", range(2))
async def test_waits(module_resource, started, i):
    started.set()
    try:
        await asyncio.sleep(30)
    finally:
        await asyncio.sleep(0.05)  # cancelled once: its clean-up runs in full
        pathlib.Path(f"finally-{i}").touch()


def test_sync(module_resource, started):
    started.set()
    time.sleep(0.5)  # the application returns meanwhile


@pytest.mark.parametrize("i", range(2))
@pytest.mark.asyncio_cooperative
def test_thread(module_resource, started, i):
    started.set()
    time.sleep(0.3)  # its body, in a worker thread, outlasts the shutdown


async def test_last(started):
    started.set()
    print("LAST RAN", flush=True)
"""


@pytest.mark.parametrize("first", ["caller", "session"])
@pytest.mark.parametrize(
    ("mode", "selected", "starts", "passed"),
    [
        ("sequential", "not test_sync and not test_thread", 1, 1),
        ("cooperative", "not test_sync and not test_thread", 3, 2),  # the last test too
        ("sequential", "not test_waits and not test_thread", 1, 2),
        # The plain def tests' bodies, in threads, end after the shutdown.
        ("cooperative", "not test_sync", 5, 4),
    ],
)
def test_a_runners_shutdown_cancelling_every_task_interrupts_the_session(
    pytester: pytest.Pytester, mode: str, selected: str, starts: int, passed: int, first: str
) -> None:
    # The tests running failed with the CancelledError (a cooperative batch
    # said a test had cancelled its task), or, during a sync test, pytest
    # ended in an INTERNALERROR: none of it was the tests' doing. The
    # application returns once ``starts`` tests have started.
    write_app(pytester, APP_RETURNS_WHILE_MAIN_RUNS)
    write(pytester, "suite/test_shutdown.py", SUITE_CUT_SHORT_BY_SHUTDOWN)
    args = ["-q", "-k", selected, *mode_args(mode)]
    result = run_app(pytester, first, str(starts), *args, timeout=30)
    output = output_of(result)
    assert "INTERNALERROR" not in output, output
    assert "CancelledError" not in output, output
    assert "failed" not in output, output
    assert "cancelled the task alt_coop runs the batch on" not in output, output
    assert (pytester.path / "module-torn-down").exists(), output
    if selected.startswith("not test_sync"):
        # Where the first test waited, as for any cancellation of main's caller.
        interrupted = "*KeyboardInterrupt: the task running pytest was cancelled"
        if "not test_thread" in selected:  # else it may name a body's line, in its thread
            interrupted = "*test_shutdown.py:23: " + interrupted[1:]
        assert (pytester.path / "finally-0").exists(), output
    else:  # after the sync test, before the next starts
        interrupted = "*Interrupted: alt_coop.main was cancelled*"
    expected = [interrupted, f"{passed} passed, * deselected in*", "APP: done"]
    if mode == "sequential":
        assert "LAST RAN" not in output, output
    else:
        expected.insert(0, "*cut short*")
    result.stdout.fnmatch_lines(expected)


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_a_fixtures_own_cancellation_after_a_cancellation_delivered_again_is_its_own(
    pytester: pytest.Pytester, mode: str
) -> None:
    # The caller cancelled with one message twice (an anyio cancel scope
    # delivers its cancellation again at every await) counted as a second
    # cancellation of the caller: the fixture's own cancellation in its
    # teardown was then taken as a runner's shutdown, an interrupt. The outer
    # fixtures were never torn down, or the teardown's error was lost.
    write_app(
        pytester,
        """
        import asyncio
        import sys

        import pytest

        import alt_coop

        STARTED = asyncio.Event()


        class Live:
            @pytest.fixture
            def started(self):
                return STARTED


        async def app_main():
            args = [*ISOLATE, "suite", "-q", *sys.argv[1:]]
            job = asyncio.create_task(alt_coop.main(args, plugins=[Live()]))
            await STARTED.wait()
            job.cancel("stop")
            await asyncio.sleep(0.02)
            job.cancel("stop")
            try:
                await job
            except asyncio.CancelledError as error:
                print("APP: job cancelled", error, flush=True)


        asyncio.run(app_main())
        """,
    )
    write(
        pytester,
        "suite/test_own.py",
        """
        import asyncio

        import pytest


        @pytest.fixture(scope="module")
        async def module_resource():
            yield
            await asyncio.sleep(0.01)
            print("MODULE TEARDOWN", flush=True)


        @pytest.fixture
        async def outer(module_resource):
            yield
            await asyncio.sleep(0.01)
            print("OUTER TEARDOWN", flush=True)


        @pytest.fixture
        async def own_cancel(outer):
            yield
            await asyncio.sleep(0.05)  # the caller's cancellation comes again meanwhile
            task = asyncio.create_task(asyncio.sleep(10))
            await asyncio.sleep(0)
            task.cancel()
            await task  # its own doing


        async def test_waits(own_cancel, started):
            started.set()
            await asyncio.sleep(30)
        """,
    )
    result = run_app(pytester, *mode_args(mode), timeout=30)
    output = output_of(result)
    assert "OUTER TEARDOWN" in output, output
    assert "MODULE TEARDOWN" in output, output
    assert "APP: job cancelled stop" in output, output
    if mode == "cooperative":
        result.stdout.fnmatch_lines(["ERROR suite/test_own.py::test_waits - *TeardownCancelled*"])


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_a_session_in_another_thread_while_one_runs_is_refused(
    pytester: pytest.Pytester, mode: str
) -> None:
    # Two sessions at once in two threads (a web service's request handlers,
    # say) share alt_coop's state of the process: the tests of both failed
    # with alt_coop's errors, or one ended in an INTERNALERROR.
    write_app(
        pytester,
        """
        import sys
        import threading

        import pytest

        import alt_coop

        INSIDE, LET_GO = threading.Event(), threading.Event()
        CODES = {}


        class Signals:
            @pytest.fixture
            def signals(self):
                return INSIDE, LET_GO


        def run(name, plugins):
            CODES[name] = pytest.main(
                # -s: the second one's line is not in the first one's capture.
                [*ISOLATE, "suite", "-q", "-s", *sys.argv[1:]],
                plugins=[alt_coop.Plugin(), *plugins],
            )


        first = threading.Thread(target=run, args=("first", [Signals()]))
        first.start()
        INSIDE.wait(10)
        run("second", [])
        LET_GO.set()
        first.join()
        print("APP: exit codes", CODES["first"], CODES["second"], flush=True)
        """,
    )
    write(
        pytester,
        "suite/test_held.py",
        """
        import asyncio


        async def test_holds(signals):
            inside, let_go = signals
            inside.set()
            while not let_go.is_set():
                await asyncio.sleep(0.01)


        async def test_other():
            await asyncio.sleep(0)
        """,
    )
    result = run_app(pytester, *mode_args(mode), timeout=30)
    output = output_of(result)
    assert "APP: exit codes 0 4" in output, output
    result.stderr.fnmatch_lines(
        [
            "ERROR: alt_coop: a pytest session is already running in another thread; run "
            "sessions one after the other, or in separate processes"
        ]
    )
    result.stdout.fnmatch_lines(["*2 passed*"])


def test_a_session_refused_at_its_start_leaves_other_threads_free(
    pytester: pytest.Pytester,
) -> None:
    # alt_coop switched on by alt_coop.enable, refusing to run from a
    # coroutine: pluggy had not registered its pytest_unconfigure yet, and
    # the thread stayed counted as running a session: every later session in
    # another thread was refused.
    write_app(
        pytester,
        """
        import asyncio
        import threading

        import pytest

        ARGS = [*ISOLATE, "-p", "alt_coop.enable", "suite", "-q"]


        async def from_a_coroutine():
            return pytest.main(ARGS)


        print("APP: first", asyncio.run(from_a_coroutine()), flush=True)
        codes = []
        thread = threading.Thread(target=lambda: codes.append(pytest.main(ARGS)))
        thread.start()
        thread.join()
        print("APP: second", codes[0], flush=True)
        """,
    )
    write(pytester, "suite/test_a.py", "async def test_a():\n    pass\n")
    result = run_app(pytester, timeout=30)
    output = output_of(result)
    assert "APP: first 4" in output, output
    assert "APP: second 0" in output, output


def test_a_session_a_plain_def_cooperative_test_runs_is_nested_not_refused(
    pytester: pytest.Pytester, run_alt
) -> None:
    # Its body runs in a worker thread: the session it starts there was
    # taken for one of another thread, beside the running one.
    pytester.makeconftest("import asyncio\n")
    inner = pytester.path / "inner"
    inner.mkdir()
    (inner / "test_inner.py").write_text("async def test_inner():\n    pass\n")
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.mark.asyncio_cooperative
        def test_runs_a_session():
            args = [*{ISOLATE!r}, "-p", "alt_coop.enable", "-q", {str(inner)!r}]
            assert pytest.main(args) == 0
        """
    )
    result = run_alt("-p", "no:randomly", "--ignore", str(inner))
    result.assert_outcomes(passed=1)
