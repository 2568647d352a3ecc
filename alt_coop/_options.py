"""alt_coop's command-line options and ini keys, and their validated values."""

from __future__ import annotations

import argparse
import dataclasses

import pytest

from ._debugger import MODES, Mode
from ._timeouts import BUILTIN_DEFAULT_SECONDS, check_seconds


@dataclasses.dataclass(frozen=True)
class Settings:
    default_timeout: float
    debugger_mode: Mode


_SETTINGS = pytest.StashKey[Settings]()


def _seconds_argument(text: str) -> float:
    try:
        return check_seconds(text, "value")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("alt_coop", "alt_coop: asyncio tests on one loop")
    group.addoption(
        "--default-async-timeout",
        type=_seconds_argument,
        default=None,
        dest="default_async_timeout",
        help="Seconds each async fixture phase and async test may take, unless a "
        "*_default_async_timeout fixture or async_timeout says otherwise "
        "(default: ini default_async_timeout, else 5).",
    )
    parser.addini(
        "default_async_timeout",
        "Seconds each async fixture phase and async test may take (default 5).",
        default=None,
    )
    group.addoption(
        "--async-timeouts-under-debugger",
        choices=MODES,
        default=None,
        dest="async_timeouts_under_debugger",
        help="auto: a timeout does not cancel while a debugger is attached; always: "
        "timeouts cancel even under a debugger; never: timeouts never cancel "
        "(default: ini async_timeouts_under_debugger, else auto).",
    )
    parser.addini(
        "async_timeouts_under_debugger",
        "auto, always or never: whether timeouts cancel while a debugger is attached.",
        default=None,
    )


def settings(config: pytest.Config) -> Settings:
    """The validated settings; a bad value is a usage error naming its option."""
    try:
        return config.stash[_SETTINGS]
    except KeyError:
        pass
    seconds = config.getoption("default_async_timeout")
    if seconds is None:
        ini = config.getini("default_async_timeout")
        if ini in (None, ""):
            seconds = BUILTIN_DEFAULT_SECONDS
        else:
            try:
                seconds = check_seconds(ini, "ini option default_async_timeout")
            except ValueError as exc:
                raise pytest.UsageError(str(exc)) from None
    mode = config.getoption("async_timeouts_under_debugger")
    if mode is None:
        mode = config.getini("async_timeouts_under_debugger") or "auto"
        if mode not in MODES:
            raise pytest.UsageError(
                f"ini option async_timeouts_under_debugger must be one of "
                f"{', '.join(MODES)}, got {mode!r}"
            )
    result = config.stash[_SETTINGS] = Settings(seconds, mode)
    return result
