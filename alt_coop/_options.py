"""alt_coop's command-line options and ini keys, and their validated values.

PYTEST_DONT_REWRITE (see alt_coop/__init__.py).
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from ._debugger import MODES, Mode
from ._timeouts import BUILTIN_DEFAULT_SECONDS, check_seconds

#: Tests in flight at once by default: enough for an I/O-bound suite to take
#: about as long as its slowest tests, few enough to stay well inside the
#: usual 1024 open files if each test holds a few sockets.
DEFAULT_MAX_TASKS = 250
DEFAULT_BLOCK_THRESHOLD_SECONDS = 0.5


@dataclasses.dataclass(frozen=True)
class Settings:
    default_timeout: float
    debugger_mode: Mode
    cooperative: bool
    max_tasks: int
    task_timeout: float | None
    block_threshold: float
    #: No --default-async-timeout nor ini key: the timeout fixtures do not override is alt_coop's.
    builtin_timeout: bool = False


_SETTINGS = pytest.StashKey[Settings]()


def _positive_int(value: object, source: str) -> int:
    try:
        number = int(str(value))
    except ValueError:
        number = 0
    if number < 1:
        raise ValueError(f"{source} must be a positive whole number, got {value!r}")
    return number


def _argument(convert: Callable[[object, str], Any]) -> Callable[[str], Any]:
    """An argparse type from a converter: a bad value names the option."""

    def parse(text: str) -> Any:
        try:
            return convert(text, "the value")
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return parse


def _from_ini(config: pytest.Config, name: str, convert: Callable[[object, str], Any]) -> Any:
    """The ini value ``name`` converted, ``None`` if unset; a bad one is a usage error."""
    value = _getini(config, name)
    if value in (None, ""):
        return None
    try:
        return convert(value, f"ini option {name}")
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None


#: The ini options registered with ``type="bool"``.
_BOOL_INI = frozenset({"asyncio_cooperative"})


def _getini(config: pytest.Config, name: str) -> Any:
    """``config.getini(name)``, where pytest's own refusal of a value (a bool
    option's "maybe", a native TOML number where a string is expected) is a
    usage error naming the option, not an internal error."""
    try:
        return config.getini(name)
    except (TypeError, ValueError, pytest.UsageError) as exc:
        hint = ""
        if isinstance(exc, TypeError) and pytest.version_tuple < (9, 2):
            if name in _BOOL_INI:
                hint = " (write true or false, unquoted)"
            elif _a_number_refused(str(exc)):
                # Only a number: quoted, a list or a bool is refused all the same.
                hint = " (pytest before 9.2 reads it as a string: quote the value)"
        raise pytest.UsageError(f"ini option {name}: {exc}{hint}") from None


def _a_number_refused(message: str) -> bool:
    """Whether pytest 9.0's or 9.1's refusal of a native TOML value (the
    only releases that give the hint; their wording is fixed) was of a number."""
    return any(f"got {kind}: " in message for kind in ("int", "float"))


def _addini_number(parser: pytest.Parser, name: str, help: str, kind: type) -> None:
    """Register an ini option whose value is a number.

    pytest 9's native ``[tool.pytest]`` table gives numbers as numbers, which a
    string option refuses; from pytest 9.2 the option accepts both. Strings
    come first, so that a bad value reaches alt_coop's own check, which names
    the option and says what it expects. (pytest 9.0 and 9.1 have no such
    unions: there, quote the number.)
    """
    accepted: Any = str | kind if pytest.version_tuple >= (9, 2) else None
    parser.addini(name, help, type=accepted, default=None)


def _add_number_option(
    parser: pytest.Parser,
    group: Any,
    taken: frozenset[str],
    name: str,
    kind: type,
    help: str,
    ini_help: str,
) -> None:
    """``--name`` (SECONDS, or N for whole numbers) and ini ``name``, unless
    another plugin has ``taken`` the name."""
    if name in taken:
        return
    group.addoption(
        "--" + name.replace("_", "-"),
        type=_argument(_positive_int if kind is int else check_seconds),
        default=None,
        dest=name,
        metavar="N" if kind is int else "SECONDS",
        help=help,
    )
    _addini_number(parser, name, ini_help, kind)


def add_options(parser: pytest.Parser, taken: frozenset[str]) -> None:
    """alt_coop's options, but for those ``taken`` (by name) by another plugin."""
    group = parser.getgroup("alt_coop", "alt_coop: asyncio tests on one loop")
    _add_number_option(
        parser,
        group,
        taken,
        "default_async_timeout",
        float,
        "Seconds each async fixture phase and async test may take, unless a "
        "*_default_async_timeout fixture or async_timeout says otherwise "
        "(default: ini default_async_timeout, else 5).",
        "Seconds each async fixture phase and async test may take (default 5).",
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
        "auto, always or never: whether timeouts cancel while a debugger is attached "
        "(default auto).",
        default=None,
    )
    # The cooperative scheduler's.
    group.addoption(
        "--asyncio-cooperative",
        action="store_true",
        default=None,
        dest="asyncio_cooperative",
        help="Run every async test cooperatively (concurrently on the session loop).",
    )
    parser.addini(
        "asyncio_cooperative",
        "Run every async test cooperatively (default false).",
        type="bool",
        default=False,
    )
    _add_number_option(
        parser,
        group,
        taken,
        "max_asyncio_tasks",
        int,
        f"Most cooperative tests in flight at once (default {DEFAULT_MAX_TASKS}).",
        f"Most cooperative tests in flight at once (default {DEFAULT_MAX_TASKS}).",
    )
    _add_number_option(
        parser,
        group,
        taken,
        "asyncio_task_timeout",
        float,
        "Seconds a cooperative test may take for its whole run, fixtures included "
        "(default: no cap beyond the per-phase timeouts).",
        "Seconds a cooperative test may take in all (default: no cap).",
    )
    _add_number_option(
        parser,
        group,
        taken,
        "asyncio_block_threshold",
        float,
        "Warn about a cooperative test that holds the loop longer than this "
        f"(default {DEFAULT_BLOCK_THRESHOLD_SECONDS:g} seconds).",
        "Seconds a cooperative test may hold the loop before a warning names it "
        f"(default {DEFAULT_BLOCK_THRESHOLD_SECONDS:g}).",
    )


def settings(config: pytest.Config) -> Settings:
    """The validated settings; a bad value is a usage error naming its option
    (except under ``--help``, which shows how to set it right: the defaults
    stand in)."""
    try:
        return config.stash[_SETTINGS]
    except KeyError:
        pass
    try:
        result = config.stash[_SETTINGS] = _read(config)
    except pytest.UsageError:
        if not config.option.help:
            raise
        result = Settings(
            BUILTIN_DEFAULT_SECONDS,
            "auto",
            cooperative=False,
            max_tasks=DEFAULT_MAX_TASKS,
            task_timeout=None,
            block_threshold=DEFAULT_BLOCK_THRESHOLD_SECONDS,
        )
    return result


def _read(config: pytest.Config) -> Settings:
    given = config.getoption("default_async_timeout") or _from_ini(
        config, "default_async_timeout", check_seconds
    )
    seconds = given or BUILTIN_DEFAULT_SECONDS
    mode = config.getoption("async_timeouts_under_debugger")
    if mode is None:
        mode = _getini(config, "async_timeouts_under_debugger") or "auto"
        if mode not in MODES:
            raise pytest.UsageError(
                f"ini option async_timeouts_under_debugger must be one of "
                f"{', '.join(MODES)}, got {mode!r}"
            )
    cooperative = config.getoption("asyncio_cooperative")
    if cooperative is None:
        cooperative = _getini(config, "asyncio_cooperative")
    max_tasks = config.getoption("max_asyncio_tasks") or _from_ini(
        config, "max_asyncio_tasks", _positive_int
    )
    task_timeout = config.getoption("asyncio_task_timeout") or _from_ini(
        config, "asyncio_task_timeout", check_seconds
    )
    block = config.getoption("asyncio_block_threshold") or _from_ini(
        config, "asyncio_block_threshold", check_seconds
    )
    return Settings(
        seconds,
        mode,
        cooperative=bool(cooperative),
        max_tasks=max_tasks or DEFAULT_MAX_TASKS,
        task_timeout=task_timeout,
        block_threshold=block or DEFAULT_BLOCK_THRESHOLD_SECONDS,
        builtin_timeout=not given,
    )
