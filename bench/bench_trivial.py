"""Per-test cost of trivial async tests against trivial sync tests.

Generates N trivial ``async def`` tests and N trivial ``def`` tests, times
each suite as a whole ``pytest`` process (best of several runs), and prints
the async/sync ratio for alt_coop and for every peer plugin installed in the
same environment (alt-pytest-asyncio, pytest-asyncio, anyio's plugin).

    python bench/bench_trivial.py --n 3000 --repeat 5

Install the peers with ``pip install -r bench/requirements.txt``; a missing
peer is reported and skipped.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

OTHERS = ["alt_coop", "asyncio", "anyio", "alt_pytest_asyncio", "asyncio_cooperative"]


def write_suite(directory: Path, n: int, *, is_async: bool, decorator: str = "") -> Path:
    lines = ["import pytest", ""]
    for i in range(n):
        if decorator:
            lines.append(decorator)
        lines.append(f"{'async ' if is_async else ''}def test_{i}():\n    pass\n")
    path = directory / f"test_{'async' if is_async else 'sync'}_{decorator and 'marked'}.py"
    path.write_text("\n".join(lines))
    return path


def disable_all_but(keep: str | None) -> list[str]:
    args: list[str] = []
    for name in OTHERS:
        if name != keep:
            args += ["-p", f"no:{name}"]
    return args


def time_run(args: list[str], cwd: Path, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
        )
        elapsed = time.perf_counter() - started
        if proc.returncode != 0:
            raise SystemExit(f"benchmark run failed: {args}\n{proc.stdout[-2000:]}")
        best = min(best, elapsed)
    return best


def installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=5)
    options = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        sync_file = write_suite(root, options.n, is_async=False)
        async_file = write_suite(root, options.n, is_async=True)
        marked_file = write_suite(root, options.n, is_async=True, decorator="@pytest.mark.anyio")
        (root / "conftest.py").write_text(
            "import pytest\n\n@pytest.fixture\ndef anyio_backend():\n    return 'asyncio'\n"
        )
        os.environ["PYTHONDONTWRITEBYTECODE"] = "1"

        sync_time = time_run([*disable_all_but(None), sync_file.name], root, options.repeat)
        rows = [("sync reference", sync_time)]
        runs = {
            "alt_coop": ("alt_coop", [*disable_all_but("alt_coop"), "-p", "alt_coop.enable"]),
            "alt-pytest-asyncio": (
                "alt_pytest_asyncio",
                [*disable_all_but("alt_pytest_asyncio"), "-p", "alt_pytest_asyncio.enable"],
            ),
            "pytest-asyncio (auto)": (
                "pytest_asyncio",
                [
                    *disable_all_but("asyncio"),
                    "-o",
                    "asyncio_mode=auto",
                    "-o",
                    "asyncio_default_fixture_loop_scope=function",
                ],
            ),
        }
        for label, (module, args) in runs.items():
            if not installed(module):
                print(f"{label}: not installed, skipped")
                continue
            rows.append((label, time_run([*args, async_file.name], root, options.repeat)))
        if installed("anyio"):
            args = [*disable_all_but("anyio"), marked_file.name]
            rows.append(("anyio", time_run(args, root, options.repeat)))
        else:
            print("anyio: not installed, skipped")

    print(f"\n{options.n} trivial tests, best of {options.repeat} whole-process runs")
    print(f"{'suite':<24}{'wall s':>10}{'us/test':>10}{'vs sync':>10}")
    for label, seconds in rows:
        per_test = seconds / options.n * 1e6
        print(f"{label:<24}{seconds:>10.3f}{per_test:>10.1f}{seconds / sync_time:>9.2f}x")


if __name__ == "__main__":
    main()
