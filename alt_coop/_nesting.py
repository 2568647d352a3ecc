"""Nested running of a loop, for ``pytest.main`` called from inside its coroutine.

When an application calls ``pytest.main(plugins=[Plugin(managed_loop=loop)])``
synchronously from a coroutine that is running ``loop``, nothing is above
pytest to drive the loop: the only way to await is to run the loop again,
nested. That takes patching asyncio, which alt_coop does through the
maintained nest-asyncio2 fork, only for this case and only when it happens.
``await alt_coop.main(...)`` needs none of it and is the way for loops that
cannot be patched (uvloop, other loop classes).

PYTEST_DONT_REWRITE (see alt_coop/__init__.py).
"""

from __future__ import annotations

import asyncio
import importlib
import sys
import types
import weakref

from .errors import AltCoopUsageError

USE_MAIN = (
    "call `await alt_coop.main(args, plugins=[...])` from the coroutine instead of "
    "pytest.main(): it runs pytest on the running loop without patching asyncio"
)


def enable(loop: asyncio.AbstractEventLoop) -> None:
    """Make ``loop``, running below the caller, runnable again, or fail at
    once saying what to do."""
    if getattr(type(loop), "_nest_patched", False):
        return
    if not isinstance(loop, asyncio.BaseEventLoop):
        raise AltCoopUsageError(
            "pytest.main() was called from a coroutine or callback running on a "
            f"{type(loop).__module__}.{type(loop).__qualname__}, "
            f"which cannot be run nested; {USE_MAIN}"
        )
    try:
        nest_asyncio2 = importlib.import_module("nest_asyncio2")
    except ImportError:
        raise AltCoopUsageError(
            "pytest.main() was called from code running on its managed_loop; running "
            f"it nested needs the nest-asyncio2 package (pip install nest-asyncio2), or {USE_MAIN}"
        ) from None
    # The loop's own ``_run_once`` is below us, part way through a batch: it
    # counted the handles ready when the batch began and pops that many,
    # whatever the nested runs take meanwhile. At most the handles ready now
    # are still to come (asyncio's private ``_ready`` deque, checked on
    # Python 3.11 to 3.13).
    run_once = getattr(getattr(type(loop), "_run_once", None), "__code__", None)
    if run_once is not None:
        _owed[loop] = (run_once, len(loop._ready))  # type: ignore[attr-defined]
    nest_asyncio2.apply(loop)


#: Loops patched while running: the code of the unpatched ``_run_once`` that
#: was running then, and how many handles it may still pop.
_owed: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[types.CodeType, int]] = (
    weakref.WeakKeyDictionary()
)


def settle(loop: asyncio.AbstractEventLoop) -> None:
    """Before pytest.main returns to the coroutine that called it: if the
    batch that was running when ``loop`` was patched is still running below,
    leave it at least the handles it will pop, or it pops from an empty deque
    and the application's loop dies of an IndexError. A handle that does
    nothing, run in the next batch instead, costs nothing."""
    owed = _owed.get(loop)
    if owed is None:
        return
    run_once, handles = owed
    frame = sys._getframe()
    while frame is not None and frame.f_code is not run_once:
        frame = frame.f_back  # type: ignore[assignment]
    if frame is None:
        del _owed[loop]  # that batch is over; the loop runs patched from now on
        return
    for _ in range(handles - len(loop._ready)):  # type: ignore[attr-defined]
        loop.call_soon(_nothing)


def _nothing() -> None:
    pass
