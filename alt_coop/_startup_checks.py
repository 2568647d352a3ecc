"""Set-ups alt_coop refuses when the session starts.

Each is a usage error that says what to do instead, raised before any test
runs, where otherwise two runners or two loops would fail later and in
confusing ways (or hang).

PYTEST_DONT_REWRITE (see alt_coop/__init__.py).
"""

from __future__ import annotations

import asyncio
import threading
from types import ModuleType

import pytest

from . import _loaded_plugins, _other_runners, _session_loop
from ._lanes import in_lane
from ._running_now import running_batch


def no_other_runner(config: pytest.Config) -> None:
    """Two plugins running the same async tests, each on its own loop, fail
    in confusing ways: a usage error says which to switch off. That is
    pytest-asyncio in auto mode (in strict mode it runs only what is marked
    for it), pytest-asyncio-cooperative (whose mark is alt_coop's),
    alt-pytest-asyncio (which runs every async test), anyio's plugin in auto
    mode and pytest-trio in trio mode (see :mod:`alt_coop._other_runners`)."""
    other = None
    cooperative = _loaded_plugins.name(
        config, "asyncio-cooperative", "pytest_asyncio_cooperative.plugin"
    )
    if cooperative is not None:
        other = ("pytest-asyncio-cooperative", cooperative)
    elif (
        alt := _loaded_plugins.name(config, "alt_pytest_asyncio", "alt_pytest_asyncio.plugin")
    ) is not None:
        other = ("alt-pytest-asyncio", alt)
    else:
        other = _other_runners.runs_every_async_test(config)
    if other is not None:
        raise pytest.UsageError(
            f"alt_coop and {other[0]} both run async tests; switch the other off "
            f"with -p no:{other[1]} (on the command line, or in addopts)"
        )
    no_alt_pytest_asyncio_engine(config)


def one_asyncio() -> None:
    """asyncio's C tasks and futures (its ``_asyncio`` module) raise the
    ``CancelledError`` of the asyncio they were made with: asyncio imported
    afresh, after its modules were dropped from ``sys.modules`` (as
    pytester's in-process runs drop what each imported; Python 3.11 keeps
    ``_asyncio`` made once, whatever is dropped), has a class of its own,
    which ``except asyncio.CancelledError`` does not catch. Every timeout,
    cap and Ctrl-C would then misreport, and a plain ``def`` cooperative
    test's body would be left running."""
    future: asyncio.Future[None] = asyncio.Future(loop=_NoLoop())  # type: ignore[arg-type]
    future.cancel()
    try:
        future.result()
    except asyncio.CancelledError:
        return
    except BaseException:  # the first import's class
        pass
    raise pytest.UsageError(
        "alt_coop: asyncio was imported afresh in this process after its modules were "
        "dropped from sys.modules (as pytester's in-process runs, runpytest() and "
        "inline_run(), drop what each run imported), and its tasks raise the first "
        "import's CancelledError, which the fresh asyncio does not catch. Import asyncio "
        "in the outer process (`import asyncio` in its conftest.py), or run pytest in a "
        "subprocess (runpytest_subprocess())"
    )


class _NoLoop:
    """What a future needs of its loop as it is made (not scheduled)."""

    def get_debug(self) -> bool:
        return False


def no_alt_pytest_asyncio_engine(config: pytest.Config) -> None:
    """alt-pytest-asyncio's engine, registered by ``alt_pytest_asyncio.enable``
    (listed in ``-p``, addopts or ``pytest_plugins``, as its README says)
    rather than by its entry point, which ``-p no:alt_pytest_asyncio`` blocks.
    That module registers it in its own ``pytest_configure``, which may come
    after alt_coop's: the engine checks again when the session starts."""
    for plugin in _loaded_plugins.every(config.pluginmanager):
        module = plugin.__name__ if isinstance(plugin, ModuleType) else type(plugin).__module__
        if module.partition(".")[0] == "alt_pytest_asyncio":
            raise pytest.UsageError(
                "alt_coop and alt-pytest-asyncio both run async tests; remove "
                "alt_pytest_asyncio.enable (from -p options, addopts and pytest_plugins) "
                "and switch its plugin off with -p no:alt_pytest_asyncio"
            )


def no_other_running_loop(managed: asyncio.AbstractEventLoop | None) -> None:
    """pytest.main() from a coroutine on some loop needs to be told about that loop."""
    if in_lane():
        return
    running = _session_loop.running_loop()
    if running is not None and running is not managed:
        raise pytest.UsageError(
            "alt_coop: pytest.main() was called from a coroutine while its loop is running; "
            "use `await alt_coop.main(...)`, or pass "
            "alt_coop.Plugin(managed_loop=asyncio.get_running_loop())"
        )


def usable_managed_loop(loop: asyncio.AbstractEventLoop) -> None:
    """A loop alt_coop cannot use is a usage error now, not a hang later."""
    if loop.is_closed():
        raise pytest.UsageError("alt_coop: managed_loop is closed; pass an open event loop")
    if loop.is_running() and _session_loop.running_loop() is not loop:
        raise pytest.UsageError(
            "alt_coop: managed_loop is running in another thread; run pytest in that "
            "loop's thread, for example `await alt_coop.main(...)` in a coroutine on it"
        )


def no_xdist_on_a_managed_loop(config: pytest.Config) -> None:
    """pytest-xdist's workers are other processes: a session meant to run on
    the application's loop, with its live objects, would run its tests
    elsewhere while the controller blocks that loop (for ever, under ``-f``,
    which waits for files to change). Asked for (perhaps by a project's
    addopts), it is refused; options that start no workers (a ``--dist``
    without ``-n`` or ``--tx``, or ``--collect-only``, under which xdist
    stands aside) are not. ``-n 0`` is the advice that works also when ``-n``
    comes from addopts, where ``-p no:xdist`` would make it unknown.

    Called from ``pytest_cmdline_main`` too, since ``-f`` takes the run over
    there, before any ``pytest_configure``."""
    option = config.option
    distributes = getattr(option, "dist", "no") != "no" and bool(getattr(option, "tx", None))
    elsewhere = (distributes and not option.collectonly) or getattr(option, "looponfail", False)
    if elsewhere and not hasattr(config, "workerinput"):
        raise pytest.UsageError(
            "alt_coop: pytest-xdist runs tests in other processes (-n, --tx, -f), not on "
            "the application's loop this session runs on; drop those options "
            "(for an -n from addopts, pass -n 0)"
        )


def not_beside_cooperative_tests() -> None:
    """A session run from a cooperative test, on the loop its batch runs on,
    would take the tasks and timers the other tests of the batch start
    meanwhile for its own (it cannot tell them from its tests'), and cancel
    them as it ends."""
    batch = running_batch.get()
    if batch is not None and len(batch.items) > 1:
        raise pytest.UsageError(
            "alt_coop: a pytest session run from a cooperative test, beside the other tests "
            "of its batch, would take the tasks and timers they start meanwhile for its own "
            "(and cancel them as it ends): mark that test asyncio_sequential (a test that "
            "uses pytester runs alone already)"
        )


#: The threads running an alt_coop session, each with how many (nested).
_sessions_in: dict[int, int] = {}
_sessions_lock = threading.Lock()


def only_this_thread(*, nested: bool) -> None:
    """A session of this thread starts. Two at once in two threads (a web
    service's request handlers, say) share alt_coop's state of the process,
    as they share pytest's capture, logging and warnings: their tests would
    fail in confusing ways. The second is refused, unless it is ``nested``,
    run by a test of the running one (pytester's in-process runs; in a
    plain ``def`` cooperative test's thread, or one that has its context).
    Each call is undone by :func:`session_over`."""
    me = threading.get_ident()
    with _sessions_lock:
        if not nested and any(thread != me for thread in _sessions_in):
            # (Where the other captures output, pytest's line saying so
            # lands in its capture: pytest's capture is the process's.)
            raise pytest.UsageError(
                "alt_coop: a pytest session is already running in another thread; run "
                "sessions one after the other, or in separate processes"
            )
        _sessions_in[me] = _sessions_in.get(me, 0) + 1


def session_over() -> None:
    """A session of this thread that :func:`only_this_thread` let start is over."""
    me = threading.get_ident()
    with _sessions_lock:
        left = _sessions_in.get(me, 0) - 1
        if left > 0:
            _sessions_in[me] = left
        else:
            _sessions_in.pop(me, None)
