"""Keep coverage.py exact while code runs in greenlets.

coverage.py's trace-based cores keep one stack of "which file am I in" per
thread. Switching greenlets changes the running frames without the call and
return events that stack is built from, so lines would be credited to the
wrong file, or lost. coverage.py solves this itself when configured with
``concurrency = greenlet``: it keeps one stack per greenlet. alt_coop turns
that on for the running tracer, so users need no configuration.

This sets ``concur_id_func`` on the tracer object, the attribute coverage.py
itself sets for ``concurrency = greenlet`` (checked on coverage 7.4 to 7.17,
C and Python tracers). The sys.monitoring core (3.12+) records lines per code
object and needs nothing.
"""

from __future__ import annotations

import sys
import threading

import greenlet


def follow_greenlets() -> None:
    """Make the coverage tracer of this thread (if any) keep a stack per greenlet."""
    for tracer in (sys.gettrace(), threading.gettrace()):
        owner: object = getattr(tracer, "__self__", tracer)
        if owner is None or type(owner).__module__.split(".")[0] != "coverage":
            continue
        if getattr(owner, "concur_id_func", 0) is None:
            setattr(owner, "concur_id_func", greenlet.getcurrent)  # noqa: B010
