"""Ctrl-C during an async test: cleanup runs, pytest reports the interruption."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGINT is POSIX-only here")

#: As in conftest.py: other async plugins stay out of the sessions under test.
ISOLATE = ("-p", "no:asyncio", "-p", "no:anyio", "-p", "no:cacheprovider")


def test_ctrl_c_during_async_test_runs_finally_and_teardown(pytester: pytest.Pytester) -> None:
    marker = pytester.path / "test-started.txt"
    test_file = pytester.makepyfile(
        f"""
        import asyncio
        import pytest

        @pytest.fixture(scope="module")
        async def resource():
            await asyncio.sleep(0)
            yield "resource"
            await asyncio.sleep(0)
            print("FIXTURE TEARDOWN", flush=True)

        async def test_first_fails(resource):
            await asyncio.sleep(0)
            assert resource == "something else"

        async def test_second_sleeps(resource):
            with open({str(marker)!r}, "w") as f:
                f.write("started")
            try:
                await asyncio.sleep(30)
            finally:
                print("TEST FINALLY", flush=True)
        """
    )
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", *ISOLATE, "-p", "alt_coop.enable", "-s", str(test_file)],
        cwd=pytester.path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = started + 20
        while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists(), "the second test never started"
        assert proc.poll() is None, "pytest ended before it was interrupted"
        time.sleep(0.2)  # let the test reach its await
        interrupted = time.monotonic()
        os.kill(proc.pid, signal.SIGINT)
        output, _ = proc.communicate(timeout=10)
        ended = time.monotonic()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()

    assert ended - interrupted < 5, output
    assert ended - started < 25, output
    assert "TEST FINALLY" in output
    assert "FIXTURE TEARDOWN" in output
    assert "KeyboardInterrupt" in output
    assert "1 failed" in output
    assert "assert 'resource' == 'something else'" in output
    assert output.index("TEST FINALLY") < output.index("FIXTURE TEARDOWN")
    assert proc.returncode == pytest.ExitCode.INTERRUPTED, output
