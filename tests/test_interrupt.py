"""Ctrl-C during an async test: cleanup runs, pytest reports the interruption."""

from __future__ import annotations

import sys
import textwrap

import pytest
from conftest import ISOLATE, TAKE_BACK_OWN_CANCELLATIONS, interrupt_when, mode_args

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGINT is POSIX-only here")


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
    output, returncode, started, interrupted, ended = interrupt_when(
        [sys.executable, "-m", "pytest", *ISOLATE, "-p", "alt_coop.enable", "-s", str(test_file)],
        pytester.path,
        marker.exists,
        "the second test started",
    )

    assert ended - interrupted < 5, output
    assert ended - started < 25, output
    assert "TEST FINALLY" in output
    assert "FIXTURE TEARDOWN" in output
    # pytest's one line names the user's waiting line, as for a sync test.
    sleep_line = test_file.read_text().splitlines().index("        await asyncio.sleep(30)") + 1
    assert f"{test_file.name}:{sleep_line}: KeyboardInterrupt" in output, output
    assert "1 failed" in output
    assert "assert 'resource' == 'something else'" in output
    assert output.index("TEST FINALLY") < output.index("FIXTURE TEARDOWN")
    assert returncode == pytest.ExitCode.INTERRUPTED, output


def test_ctrl_c_during_a_sync_test_names_the_tests_line(pytester: pytest.Pytester) -> None:
    marker = pytester.path / "test-started.txt"
    test_file = pytester.makepyfile(
        f"""
        import time

        def test_sleeps():
            with open({str(marker)!r}, "w") as f:
                f.write("started")
            time.sleep(30)
        """
    )
    output, returncode, _, interrupted, ended = interrupt_when(
        [sys.executable, "-m", "pytest", *ISOLATE, "-p", "alt_coop.enable", str(test_file)],
        pytester.path,
        marker.exists,
        "the test started",
    )
    assert ended - interrupted < 5, output
    assert returncode == pytest.ExitCode.INTERRUPTED, output
    sleep_line = test_file.read_text().splitlines().index("    time.sleep(30)") + 1
    assert f"{test_file.name}:{sleep_line}: KeyboardInterrupt" in output, output
    assert "alt_coop/" not in output, output


@pytest.mark.parametrize("mode", ["sequential", "cooperative"])
def test_ctrl_c_after_a_test_took_back_its_own_cancellations(
    pytester: pytest.Pytester, mode: str
) -> None:
    # asyncio.timeout and TaskGroup cancel the test's task and take the
    # cancellation back; Ctrl-C afterwards is still an interrupt.
    marker = pytester.path / "test-started.txt"
    test_file = pytester.makepyfile(
        textwrap.dedent(
            f"""
            import asyncio

            async def test_times_out_then_sleeps():
                await take_back_own_cancellations()
                with open({str(marker)!r}, "w") as f:
                    f.write("started")
                await asyncio.sleep(30)
            """
        )
        + TAKE_BACK_OWN_CANCELLATIONS
    )
    output, returncode, _, interrupted, ended = interrupt_when(
        [
            *(sys.executable, "-m", "pytest", *ISOLATE, "-p", "alt_coop.enable", str(test_file)),
            *mode_args(mode),
        ],
        pytester.path,
        marker.exists,
        "the test reached its long sleep",
    )
    assert ended - interrupted < 5, output
    assert returncode == pytest.ExitCode.INTERRUPTED, output
    assert "CancelledError" not in output and "failed" not in output, output
    sleep_line = test_file.read_text().splitlines().index("    await asyncio.sleep(30)") + 1
    assert f"{test_file.name}:{sleep_line}: KeyboardInterrupt" in output, output
