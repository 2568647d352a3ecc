"""alt_coop: pytest at home on asyncio.

Async tests and fixtures of every scope run on one session loop, with
scoped, debugger-aware timeouts. See README.rst for the manual.

PYTEST_DONT_REWRITE, here and in every module: pytest rewrites the asserts
of plugins it loads by entry point, and would hand alt_coop's own internal
checks to a ``pytest_assertion_pass`` hook as the running test's (and redo
the rewriting on each run where bytecode is not cached). alt_coop is often
imported by the application before pytest starts anyway.
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
