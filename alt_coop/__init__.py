"""alt_coop: pytest at home on asyncio.

Async tests and fixtures of every scope run on one session loop, with
scoped, debugger-aware timeouts. See README.rst for the manual.
"""

from __future__ import annotations

from . import errors, protocols
from ._engine import Plugin
from .loop import Loop, run_coro_as_main
from .version import __version__

__all__ = ["Loop", "Plugin", "__version__", "errors", "protocols", "run_coro_as_main"]
