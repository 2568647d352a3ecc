"""Nested running of a loop, for ``pytest.main`` called from inside its coroutine.

When an application calls ``pytest.main(plugins=[Plugin(managed_loop=loop)])``
synchronously from a coroutine that is running ``loop``, nothing is above
pytest to drive the loop: the only way to await is to run the loop again,
nested. That takes patching asyncio, which alt_coop does through the
maintained nest-asyncio2 fork, only for this case and only when it happens.
``await alt_coop.main(...)`` needs none of it and is the way for loops that
cannot be patched (uvloop, other loop classes).
"""

from __future__ import annotations

import asyncio
import importlib

from .errors import AltCoopUsageError

USE_MAIN = (
    "call `await alt_coop.main(args, plugins=[...])` from the coroutine instead of "
    "pytest.main(): it runs pytest on the running loop without patching asyncio"
)


def enable(loop: asyncio.AbstractEventLoop) -> None:
    """Make ``loop`` runnable while it runs, or fail at once saying what to do."""
    if getattr(type(loop), "_nest_patched", False):
        return
    if not isinstance(loop, asyncio.BaseEventLoop):
        raise AltCoopUsageError(
            f"pytest.main() was called from a coroutine running on a {type(loop).__name__}, "
            f"which cannot be run nested; {USE_MAIN}"
        )
    try:
        nest_asyncio2 = importlib.import_module("nest_asyncio2")
    except ImportError:
        raise AltCoopUsageError(
            "pytest.main() was called from a coroutine running its managed_loop; running "
            f"it nested needs the nest-asyncio2 package (pip install nest-asyncio2), or {USE_MAIN}"
        ) from None
    nest_asyncio2.apply(loop)
