"""What a suspended lane costs in memory, by how deep its Python stack is.

A cooperative test in flight keeps its pytest protocol suspended in a
greenlet. This measures the peak RSS growth per greenlet suspended at a
given Python call depth, with nothing else held, to separate the cost of the
lane itself from pytest's per-test objects.

    bash bench/run.sh bench_lane_memory.py --depths 1 20 60
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys

import greenlet

COUNT = 5000


def _descend(depth: int) -> None:
    if depth == 0:
        parent = greenlet.getcurrent().parent
        assert parent is not None
        parent.switch()
        return
    _descend(depth - 1)


def _measure(depth: int) -> float:
    """KB of peak RSS per greenlet suspended ``depth`` calls deep."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    lanes = []
    for _ in range(COUNT):
        lane = greenlet.greenlet(_descend)
        lane.switch(depth)
        lanes.append(lane)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return (after - before) / COUNT  # ru_maxrss is in KB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depths", type=int, nargs="+", default=[1, 20, 60])
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.one is not None:
        print(f"{_measure(options.one):.1f}")
        return
    print(f"{'depth':>6} {'KB per suspended lane':>22}")
    for depth in options.depths:
        # A fresh process per depth, so one measurement's peak does not hide the next.
        out = subprocess.run(
            [sys.executable, __file__, "--one", str(depth)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        print(f"{depth:>6} {out:>22}")


if __name__ == "__main__":
    main()
