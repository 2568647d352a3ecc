"""An I/O-bound suite run cooperatively, against pytest-asyncio-cooperative.

Suite: N tests, each ``await asyncio.sleep(1.0)`` with a function-scoped
async generator fixture that sleeps 0.1 s before and after its yield. The
reference is N trivial sync tests: its wall time is pytest's own cost, so
reference + 1.2 s is the physical limit for the suite with all tests in
flight at once. Each configuration is a whole ``pytest`` process; wall time,
CPU time (user + system) and peak RSS come from the process itself.

Every configuration is measured warm, as a suite is on its second run: once
collected beforehand (``--collect-only``) with bytecode caching on, so no
measured run compiles or rewrites the test modules. Otherwise the suites with
async tests, two to three times the size of the sync reference's file, would
pay more than the reference for compiling rather than for running.

    bash bench/run.sh bench_cooperative.py --sizes 2000 20000

pytest-asyncio-cooperative (from bench/requirements.txt) runs the same suite
in the same run, at its default limit (100, only at the smaller size: it
takes about N/100 x 1.2 s) and with no limit.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SUITE = """
import asyncio
import pytest

@pytest.fixture
async def resource():
    await asyncio.sleep(0.1)
    yield
    await asyncio.sleep(0.1)

{tests}
"""
TEST = """
{mark}async def test_{i}(resource):
    await asyncio.sleep(1.0)
"""
SYNC_TEST = "def test_{i}():\n    pass\n"
OTHERS = ["alt_coop", "asyncio", "anyio", "alt_pytest_asyncio", "asyncio-cooperative"]


def disable_all_but(keep: str | None) -> list[str]:
    return [arg for name in OTHERS if name != keep for arg in ("-p", f"no:{name}")]


#: Bytecode caching on, whatever the calling environment says (see the docstring).
ENV = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}


def measure(args: list[str], cwd: Path) -> tuple[float, float, float, int | None]:
    """Wall seconds, CPU seconds, peak RSS in MB of one pytest process, and the
    most tests it had in flight at once (from alt_coop's summary line)."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=cwd,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    output = proc.stdout.read() if proc.stdout is not None else b""
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"benchmark run failed: {args}\n{output.decode()[-3000:]}")
    at_once = re.search(rb"at most (\d+) at once", output)
    return (
        wall,
        usage.ru_utime + usage.ru_stime,
        usage.ru_maxrss / 1024,
        int(at_once.group(1)) if at_once else None,
    )


def write_suites(root: Path, n: int) -> dict[str, Path]:
    files = {}
    for name, mark in (("alt", ""), ("coop", "@pytest.mark.asyncio_cooperative\n")):
        tests = "".join(TEST.format(i=i, mark=mark) for i in range(n))
        path = root / f"test_{name}_{n}.py"
        path.write_text(SUITE.format(tests=tests))
        files[name] = path
    path = root / f"test_sync_{n}.py"
    path.write_text("\n".join(SYNC_TEST.format(i=i) for i in range(n)))
    files["sync"] = path
    return files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 20000])
    parser.add_argument(
        "--skip-peer-default-limit-above",
        type=int,
        default=5000,
        help="run pytest-asyncio-cooperative at its default limit only up to this size",
    )
    options = parser.parse_args()
    alt = [*disable_all_but("alt_coop"), "-p", "alt_coop.enable", "--asyncio-cooperative"]
    coop = disable_all_but("asyncio-cooperative")
    try:
        import pytest_asyncio_cooperative  # noqa: F401
    except ImportError:
        coop = []
        print("pytest-asyncio-cooperative not installed: peer skipped")

    rows: list[tuple[int, str, float, float, float, float]] = []
    in_flight: dict[int, int | None] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for n in options.sizes:
            files = write_suites(root, n)
            for warm_up in (
                [*disable_all_but(None), files["sync"].name],
                [*alt, files["alt"].name],
                *([[*coop, files["coop"].name]] if coop else []),
            ):
                measure([*warm_up, "--collect-only"], root)
            reference = measure([*disable_all_but(None), files["sync"].name], root)
            limit = reference[0] + 1.2
            configs: list[tuple[str, list[str]]] = [
                ("sync reference", [*disable_all_but(None), files["sync"].name]),
                (f"alt_coop, limit {n}", [*alt, f"--max-asyncio-tasks={n}", files["alt"].name]),
                ("alt_coop, default limit", [*alt, files["alt"].name]),
            ]
            if coop:
                configs.append(
                    (
                        "p-a-cooperative, no limit",
                        [*coop, f"--max-asyncio-tasks={n}", files["coop"].name],
                    )
                )
                if n <= options.skip_peer_default_limit_above:
                    configs.append(("p-a-cooperative, limit 100", [*coop, files["coop"].name]))
            for label, args in configs:
                wall, cpu, rss, at_once = (
                    reference if label == "sync reference" else measure(args, root)
                )
                rows.append((n, label, wall, cpu, rss, wall / limit))
                if label.startswith("alt_coop, limit"):
                    in_flight[n] = at_once
                print(
                    f"  {n:>6} {label:<28} {wall:8.2f}s wall {cpu:7.2f}s cpu {rss:7.0f} MB",
                    flush=True,
                )

    print(
        "\nN      suite                         wall s   cpu s   RSS MB  wall/(ref+1.2)"
        "  cpu/ref  rss/ref"
    )
    references = {n: (w, c, r) for n, label, w, c, r, _ in rows if label == "sync reference"}
    for n, label, wall, cpu, rss, ratio in rows:
        _, ref_cpu, ref_rss = references[n]
        print(
            f"{n:<6} {label:<28} {wall:7.2f} {cpu:7.2f} {rss:8.0f}  {ratio:14.2f}"
            f"  {cpu / ref_cpu:7.2f}  {rss / ref_rss:7.2f}"
        )
    for n, label, _, _, rss, _ in rows:
        most = in_flight.get(n)
        if label.startswith("alt_coop, limit") and most:
            extra = (rss - references[n][2]) * 1024 / most
            print(
                f"alt_coop at N={n}: at most {most} tests in flight at once, "
                f"{extra:.1f} KB of memory each"
            )


if __name__ == "__main__":
    main()
