"""Per-test cost of trivial async tests against trivial sync tests.

Generates N trivial ``async def`` tests and N trivial ``def`` tests, times
each suite as a whole ``pytest`` process (best of several runs, the runs of
all configurations interleaved so drift on a shared machine hits them alike),
and prints the per-test cost of each: (time for N tests - time for 1 test) / N.
The ratio to the sync suite's per-test cost is the figure that matters; it is
printed for alt_coop and for every peer plugin installed in the same
environment (alt-pytest-asyncio, pytest-asyncio, anyio's plugin).

    python bench/bench_trivial.py --n 3000 --repeat 7

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

OTHERS = ["alt_coop", "asyncio", "anyio", "alt_pytest_asyncio", "asyncio-cooperative"]


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


def time_once(args: list[str], cwd: Path) -> float:
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
    return elapsed


def installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=7)
    options = parser.parse_args()
    os.environ["PYTHONDONTWRITEBYTECODE"] = "1"

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        suites = {}
        for size in (1, options.n):
            sub = root / f"n{size}"
            sub.mkdir()
            (sub / "conftest.py").write_text(
                "import pytest\n\n@pytest.fixture\ndef anyio_backend():\n    return 'asyncio'\n"
            )
            suites[size] = {
                "sync": write_suite(sub, size, is_async=False),
                "async": write_suite(sub, size, is_async=True),
                "anyio": write_suite(sub, size, is_async=True, decorator="@pytest.mark.anyio"),
            }

        configs: dict[str, tuple[str, list[str]]] = {
            "sync reference": ("sync", disable_all_but(None)),
            "alt_coop": ("async", [*disable_all_but("alt_coop"), "-p", "alt_coop.enable"]),
        }
        if installed("alt_pytest_asyncio"):
            configs["alt-pytest-asyncio"] = (
                "async",
                [*disable_all_but("alt_pytest_asyncio"), "-p", "alt_pytest_asyncio.enable"],
            )
        if installed("pytest_asyncio"):
            configs["pytest-asyncio (auto)"] = (
                "async",
                [
                    *disable_all_but("asyncio"),
                    "-o",
                    "asyncio_mode=auto",
                    "-o",
                    "asyncio_default_fixture_loop_scope=function",
                ],
            )
        if installed("anyio"):
            configs["anyio"] = ("anyio", disable_all_but("anyio"))
        for peer in ("alt_pytest_asyncio", "pytest_asyncio", "anyio"):
            if not installed(peer):
                print(f"{peer}: not installed, skipped (pip install -r bench/requirements.txt)")

        best = {(label, size): float("inf") for label in configs for size in suites}
        for _ in range(options.repeat):
            for label, (kind, args) in configs.items():
                for size, files in suites.items():
                    path = files[kind]
                    elapsed = time_once([*args, path.name], path.parent)
                    best[label, size] = min(best[label, size], elapsed)

    def per_test(label: str) -> float:
        return (best[label, options.n] - best[label, 1]) / (options.n - 1)

    reference = per_test("sync reference")
    print(f"\n{options.n} trivial tests, best of {options.repeat} whole-process runs")
    print(f"{'suite':<24}{'wall s':>9}{'us/test':>10}{'vs sync':>10}")
    for label in configs:
        cost = per_test(label)
        print(
            f"{label:<24}{best[label, options.n]:>9.3f}{cost * 1e6:>10.1f}"
            f"{cost / reference:>9.2f}x"
        )


if __name__ == "__main__":
    main()
