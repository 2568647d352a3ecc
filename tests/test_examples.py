"""The examples in examples/ do what the README says."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).parent.parent / "examples"


def run_example(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        cwd=EXAMPLES,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
    )


def test_service_self_tests_on_its_own_loop_then_starts() -> None:
    result = run_example("echo_service.py", "--selftest-only")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout
    # It says it does not serve: it said "serving on", then exited.
    assert "self-test passed on 127.0.0.1:" in result.stdout
    assert "; not serving (--selftest-only)" in result.stdout
    assert "serving on" not in result.stdout


def test_service_refuses_to_start_when_a_self_test_fails() -> None:
    result = run_example("echo_service.py", "--selftest-only", ECHO_SERVICE_BREAK_SELFTEST="1")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 failed, 2 passed" in result.stdout
    assert "refusing to start" in result.stdout
    assert "serving on" not in result.stdout


def test_run_coro_as_main_example() -> None:
    ok = run_example("run_coro_as_main.py")
    assert ok.returncode == 0
    assert ok.stdout.splitlines() == ["background task cleaned up", "answer: 42"]
    failed = run_example("run_coro_as_main.py", "--fail")
    assert failed.returncode == 1
    assert "RuntimeError: the service could not start" in failed.stderr
    assert 'raise RuntimeError("the service could not start")' in failed.stderr
    assert "background task cleaned up" in failed.stdout
    assert "asyncio" + os.sep + "base_events" not in failed.stderr
