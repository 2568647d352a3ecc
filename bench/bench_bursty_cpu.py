"""The same work costs more CPU time when it comes in short bursts.

A control for the cooperative benchmark's default-limit rows. There, at most
250 tests are in flight, so the process wakes for a few tests' work at a time
and sleeps between; with all tests in flight it stays busy. alt_coop runs the
same code either way (valgrind's instruction counts agree), yet the bursty run
takes more CPU time. This shows the machine doing the same to pytest alone,
with no async code and no alt_coop: the sync reference suite (N trivial
tests), and the same suite with each test sleeping ``--gap`` seconds, so that
pytest's per-test work comes in bursts with the process idle between them.
The sleep itself costs next to no CPU time; the difference is the machine's.

    bash bench/run.sh bench_bursty_cpu.py --n 5000 --repeat 3
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from bench_cooperative import SYNC_TEST, disable_all_but, measure

BURSTY_TEST = "def test_{i}():\n    time.sleep({gap})\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--gap", type=float, default=0.001)
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args()
    n, gap = options.n, options.gap
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        busy, bursty = root / "test_busy.py", root / "test_bursty.py"
        busy.write_text("\n".join(SYNC_TEST.format(i=i) for i in range(n)))
        bursty.write_text(
            "import time\n\n" + "\n".join(BURSTY_TEST.format(i=i, gap=gap) for i in range(n))
        )
        suites = {f"{n} tests": busy, f"{n} tests, {gap:g} s sleep each": bursty}
        plain = disable_all_but(None)
        for path in suites.values():  # warm: collected and compiled once beforehand
            measure([*plain, "--collect-only", path.name], root)
        cpu: dict[str, list[float]] = {name: [] for name in suites}
        width = max(map(len, suites))
        print(f"{'suite':<{width}} {'wall s':>7} {'CPU s':>6}")
        for _ in range(options.repeat):
            for name, path in suites.items():  # alternated, so a slow spell hits both
                wall, seconds, _, _ = measure([*plain, path.name], root)
                cpu[name].append(seconds)
                print(f"{name:<{width}} {wall:>7.2f} {seconds:>6.2f}")
    busy_cpu, bursty_cpu = cpu.values()
    ratio = statistics.median(bursty_cpu) / statistics.median(busy_cpu)
    print(f"CPU time with the sleeps / without (medians): {ratio:.2f}x")


if __name__ == "__main__":
    main()
