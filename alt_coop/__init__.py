"""alt_coop: pytest at home on asyncio.

Async tests and fixtures of every scope run on one session loop, with
scoped, debugger-aware timeouts. See README.rst for the manual.

PYTEST_DONT_REWRITE: alt_coop is often imported by the application before
pytest starts, so pytest could not rewrite its asserts anyway.
"""

from __future__ import annotations

from . import errors, protocols
from ._embedding import main
from ._engine import Plugin
from .locks import Lock
from .loop import Loop, run_coro_as_main
from .version import __version__

__all__ = [
    "Lock",
    "Loop",
    "Plugin",
    "__version__",
    "errors",
    "main",
    "protocols",
    "run_coro_as_main",
]
