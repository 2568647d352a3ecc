"""Shared helpers: every test runs a small pytest session through pytester."""

from __future__ import annotations

# Kept loaded across pytester's in-process runs, which drop the modules each
# imported: asyncio imported afresh in the next would not catch the
# CancelledError of the C tasks made with the first (alt_coop refuses it).
import asyncio  # noqa: F401
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import pytest

pytest_plugins = ["pytester"]

#: Other async plugins that may be installed beside alt_coop; kept out of the
#: sessions under test so each test sees alt_coop alone.
ISOLATE = (
    *("-p", "no:asyncio", "-p", "no:anyio", "-p", "no:cacheprovider"),
    *("-p", "no:alt_pytest_asyncio", "-p", "no:asyncio-cooperative"),
    # Plugins of the test extras that a test loads itself when it needs one
    # (``-p pytest_socket``, say).
    *("-p", "no:socket", "-p", "no:time_machine", "-p", "no:respx"),
    *("-p", "no:pytest_httpserver", "-p", "no:pytest_mock", "-p", "no:pytest_jsonreport"),
    *("-p", "no:metadata", "-p", "no:check", "-p", "no:requests_mock"),
    *("-p", "no:faker", "-p", "no:pytest-subprocess", "-p", "no:mockito"),
    *("-p", "no:pytest-responses", "-p", "no:assume", "-p", "no:memray"),
    # platformdirs, which jupyter_core needs, brings a plugin of its own.
    *("-p", "no:platformdirs"),
    # pytest-lazy-fixtures' (its hooks see every fixture's params).
    *("-p", "no:pytest_lazyfixture"),
    # pytest-trio's: each test that wants it loads it (it imports trio).
    *("-p", "no:trio"),
    # Importing Hypothesis's plugin takes most of a subprocess's start-up;
    # the tests of Hypothesis tests load it (``-p hypothesispytest``).
    *("-p", "no:hypothesispytest"),
    # The plugins of pytest-xdist, pytest-timeout, pytest-rerunfailures and
    # pytest-cov cost a fifth of a test session's set-up (a third of an
    # in-process one's) where nothing uses them: the tests of alt_coop beside
    # one load it (``-p timeout``, say).
    *("-p", "no:xdist", "-p", "no:xdist.looponfail", "-p", "no:timeout"),
    *("-p", "no:rerunfailures", "-p", "no:pytest_cov"),
)
#: Undoes the ``no:hypothesispytest`` of ISOLATE, for a suite of Hypothesis tests.
WITH_HYPOTHESIS = ("-p", "hypothesispytest")


#: Decorators kept visible with ``functools.wraps``, for a suite to import
#: (``pytester.makepyfile(wrappers=WRAPPERS, ...)``): ``logged`` and
#: ``run_sync`` are plain functions, the one returning what the function it
#: wraps returns, the other running its coroutine itself; ``with_connection``
#: is an ``async def`` one.
WRAPPERS = """
import asyncio
import functools

def logged(func):
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        return func(*args, **kwargs)
    return wrapper

def run_sync(func):
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        return asyncio.run(func(*args, **kwargs))
    return wrapper

def with_connection(func):
    @functools.wraps(func)
    async def wrapper(*args, **kwargs):
        await asyncio.sleep(0)
        return func(*args, **kwargs)
    return wrapper
"""


#: A test whose own timeout fires while it waits in ``getfixturevalue`` for a
#: slower fixture (which has a timeout of its own).
SUITE_NESTED_TIMEOUT = """
import asyncio
import pytest

@pytest.fixture
async def slow():
    await asyncio.sleep(10)

async def test_outer(request, async_timeout):
    async_timeout.set_timeout_seconds(0.3)
    await asyncio.sleep(0)
    request.getfixturevalue("slow")

async def test_next():
    await asyncio.sleep(0)
"""


#: A test that swallows a cancellation of its own, then times out.
SUITE_SELF_CANCEL_THEN_TIMEOUT = """
import asyncio

async def test_swallows_its_own_cancellation_then_times_out(async_timeout):
    asyncio.current_task().cancel()
    try:
        await asyncio.sleep(0)
    except asyncio.CancelledError:
        pass  # its own business, as asyncio leaves it
    async_timeout.set_timeout_seconds(0.2)
    await asyncio.sleep(5)

async def test_after():
    await asyncio.sleep(0.01)
"""


#: Test code: ``await take_back_own_cancellations()`` lets asyncio.timeout and
#: a TaskGroup each cancel the running task and take the cancellation back.
TAKE_BACK_OWN_CANCELLATIONS = """
import asyncio as _asyncio


async def _fail_soon():
    await _asyncio.sleep(0.01)
    raise ValueError("child failed")


async def take_back_own_cancellations():
    try:
        async with _asyncio.timeout(0.01):
            await _asyncio.sleep(1)
    except TimeoutError:
        pass
    try:
        async with _asyncio.TaskGroup() as group:
            group.create_task(_fail_soon())
            await _asyncio.sleep(1)
    except* ValueError:
        pass
"""


def line_of(path: Path, marker: str) -> int:
    """The 1-based number of the only line of ``path`` that contains ``marker``."""
    lines = [n for n, text in enumerate(path.read_text().splitlines(), 1) if marker in text]
    assert len(lines) == 1, (marker, lines)
    return lines[0]


def mode_args(mode: str) -> list[str]:
    """The options that run a suite in ``mode``: "sequential" or "cooperative"."""
    return ["--asyncio-cooperative"] if mode == "cooperative" else []


@pytest.fixture
def run_alt(pytester: pytest.Pytester):
    """Run pytester in-process with the alt_coop engine enabled."""

    def run(*args: str) -> pytest.RunResult:
        return pytester.runpytest(*ISOLATE, "-p", "alt_coop.enable", *args)

    return run


@pytest.fixture
def run_alt_subprocess(pytester: pytest.Pytester):
    """Run pytester in a subprocess with the alt_coop engine enabled."""

    def run(*args: str, timeout: float = 120) -> pytest.RunResult:
        return pytester.runpytest_subprocess(
            *ISOLATE, "-p", "alt_coop.enable", *args, timeout=timeout
        )

    return run


class Interrupted(NamedTuple):
    """A subprocess that got Ctrl-C, and when (``time.monotonic()``)."""

    output: str
    returncode: int
    started: float
    interrupted: float
    ended: float


def interrupt_when(
    command: list[str],
    cwd: Path,
    ready: Callable[[], bool],
    what: str,
    *,
    communicate_timeout: float = 10,
    again_after: float | None = None,
) -> Interrupted:
    """Run ``command``, send it SIGINT once ``ready()`` holds, collect its output.

    ``what`` says what readiness means, for the failure message if it never
    comes (within 20 s) or the process ends first. With ``again_after``, a
    second SIGINT follows that many seconds after the first.
    """
    started = time.monotonic()
    proc = subprocess.Popen(
        command,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # A shell starts background jobs with SIGINT ignored, and children
        # inherit that: the command must see Ctrl-C however the suite was run.
        preexec_fn=_default_sigint,
    )
    try:
        while not ready() and proc.poll() is None and time.monotonic() < started + 20:
            time.sleep(0.02)
        assert ready(), f"{what}: never happened"
        assert proc.poll() is None, "the process ended before it was interrupted"
        time.sleep(0.2)  # let the tests reach their await
        interrupted = time.monotonic()
        os.kill(proc.pid, signal.SIGINT)
        if again_after is not None:
            time.sleep(again_after)
            assert proc.poll() is None, "the process ended before the second interrupt"
            os.kill(proc.pid, signal.SIGINT)
        output, _ = proc.communicate(timeout=communicate_timeout)
        ended = time.monotonic()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return Interrupted(output, proc.returncode, started, interrupted, ended)


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
