"""Logging while cooperative tests run at once: each test captures its own.

pytest captures a test's log records with handlers it puts on the root
logger for each phase (``caplog`` and the "Captured log" report sections).
During a cooperative batch, one handler on the root logger (and, on pytest
9, on each logger that does not propagate to it, as each test's phase starts)
routes each record to the handlers of the test whose code (or whose task,
callback or thread) logged it, found through the test's context.

Logger levels are process-wide, and decide whether a record is made at all.
``caplog.set_level`` and ``caplog.at_level`` therefore never set a logger
less verbose than it was while tests run at once: each logger a test sets is
made as verbose as the most verbose of those tests asks for, so every record
any of them wants is made, and then each test captures only the records that
its own levels let through. The same goes for the ``logging.disable`` level
that caplog lifts when it must.

Checked on pytest 8.3.5, 8.4.2, 9.0.3 and 9.2.0 (``catching_logs.__slots__``
tells whether pytest also captures non-propagating loggers): ``LoggingPlugin.
_runtest_for`` (a generator in 8.3, a context manager since 8.4)/
``formatter``/``log_level``/``log_cli_handler``, ``LogCaptureHandler`` and the
caplog stash keys, ``LogCaptureFixture.set_level``/``at_level``/
``_finalize``/``handler``/``_initial_handler_level`` (replaced during a
batch), and ``_LiveLoggingStreamHandler``'s ``_when``/``set_when``/``reset``/
``emit``/``stream`` (the terminal reporter, whose ``_tw._current_line`` it
reads). From the standard library, it reads ``logging._handlerList`` and
``logging._lock``, and asyncio's ``Handle._context`` (3.11 to 3.13) and, in
debug mode, ``BaseEventLoop._current_handle``.

PYTEST_DONT_REWRITE (see alt_coop/__init__.py).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import copy
import inspect
import logging
import threading
from collections import Counter
from collections.abc import Callable, Generator, Iterator
from typing import Any

import pytest
from _pytest.logging import (
    LogCaptureHandler,
    _LiveLoggingStreamHandler,
    caplog_handler_key,
    caplog_records_key,
    catching_logs,
)

from ._lane_state import CURRENT, LaneState, test_of_loop_error
from ._lane_warnings import notice
from ._session_loop import current, exception_handler_in_front, running_loop


class BatchLogs:
    """What a batch's tests log through: the levels they set through caplog,
    and the router that takes each record to its test."""

    def __init__(self) -> None:
        self.levels = CaplogLevels()
        self.places: _RouterPlaces | None = None  # while the batch runs

    def forget(self, state: LaneState) -> None:
        """``state``'s test is over: its levels no longer count."""
        self.levels.forget(state)

    def turn_ends_or_starts(self) -> None:
        """A test's turn on the loop ends, or starts. Code may have taken the
        router (or a relay) off its logger meanwhile: ``dictConfig`` and
        ``basicConfig(force=True)`` take every handler off the loggers they
        configure, run in a test's turn, a task or a thread. The tests
        running beside it go on capturing from their next turn on. (Put
        back only then, not as it is taken off: what the test configured
        must be as it asked, ``basicConfig`` adding its handler only to a
        root logger left with none.)"""
        if self.places is not None:
            self.places.keep()


@contextlib.contextmanager
def logs_per_test(config: pytest.Config) -> Iterator[BatchLogs]:
    """Route log records to the test that made them, for a cooperative batch."""
    logs = BatchLogs()
    plugin = config.pluginmanager.getplugin("logging-plugin")
    if plugin is None:  # -p no:logging
        yield logs
        return
    with (
        _handlers_per_test(plugin, logs),
        _caplog_levels_per_test(logs.levels),
        _log_path_told(plugin, config),
    ):
        yield logs


_LOG_PATH_TOLD = pytest.StashKey[bool]()


@contextlib.contextmanager
def _log_path_told(plugin: Any, config: pytest.Config) -> Iterator[None]:
    """``set_log_path`` (pytest's way to give a test a log file of its own,
    called from a hook) during a batch: the file handler is the process's, so
    the records of all the tests running go to the file set last. Not known
    before a test calls it: a notice says so, once."""
    set_log_path = plugin.set_log_path

    def told(fname: str) -> None:
        state = CURRENT.get()
        if state is not None and not config.stash.get(_LOG_PATH_TOLD, False):
            config.stash[_LOG_PATH_TOLD] = True
            notice(
                config,
                "the logging plugin's set_log_path was called while cooperative tests ran: "
                "the log file is one for the process, so the records of every test running "
                "then go to the file set last. Run the tests that need a log file of their "
                "own sequentially (asyncio_sequential)",
                state.item,
            )
        set_log_path(fname)

    own = vars(plugin).get("set_log_path")  # set on the plugin by someone else, if not None
    plugin.set_log_path = told
    try:
        yield
    finally:
        if own is None:
            del plugin.set_log_path  # the method again
        else:
            plugin.set_log_path = own


@contextlib.contextmanager
def loop_errors_logged_for_their_test(loop: asyncio.AbstractEventLoop) -> Iterator[None]:
    """asyncio logs the errors nobody caught (an exception in a callback, a
    task's exception never retrieved) from the loop itself, where no test's
    context is current: each is logged for the test whose callback or task
    it concerns (see :func:`alt_coop._lane_state.test_of_loop_error`). The
    handler set before still gets each."""

    def handler(context: dict[str, Any], pass_on: Callable[[dict[str, Any]], None]) -> None:
        state = test_of_loop_error(context)
        token = CURRENT.set(state) if state is not None else None
        try:
            pass_on(context)
        finally:
            if token is not None:
                CURRENT.reset(token)

    with exception_handler_in_front(loop, handler):
        yield


def _test_of_record(record: logging.LogRecord) -> LaneState | None:
    """The test whose code (or callback, or task) made ``record``.

    In debug mode, asyncio logs a callback that took too long ("Executing
    <Task ...> took 0.2 seconds") from the loop, once the callback is over,
    but while ``loop._current_handle`` is still that callback: it is the
    record of the test whose callback (a step of its task) it was."""
    state = CURRENT.get()
    if state is not None or record.name != "asyncio":
        return state
    handle = getattr(running_loop(), "_current_handle", None)
    return None if handle is None else test_of_loop_error({"handle": handle})


class _LogRouter(logging.Handler):
    """On the root logger (and non-propagating ones): each record to the
    handlers of the test that made it, while its batch runs (a fixture that
    put back a copy of the handlers it found may leave it on a logger)."""

    def __init__(self, levels: CaplogLevels) -> None:
        super().__init__()
        self.levels = levels
        self.active = True

    def emit(self, record: logging.LogRecord) -> None:
        __tracebackhide__ = True  # a record's formatting error is the caller's
        self.route(record, logging.root)

    def route(self, record: logging.LogRecord, logger: logging.Logger, since: int = 0) -> None:
        """Hand ``record``, come to ``logger``, to its test's handlers, but
        those on ``logger`` already, attached by hand (``caplog.handler``, to
        capture a logger that does not propagate): pytest, attaching its
        handler there too, adds it once. Only if the test's phase started
        at ``since`` or later (see :class:`_RouterPlaces`)."""
        __tracebackhide__ = True
        if not self.active:
            return
        state = _test_of_record(record)
        if state is None or state.log_phase < since:
            return
        if self.levels.changed and not self.levels.lets_through(state, record):
            return
        for handler in state.log_handlers:
            if record.levelno >= handler.level and handler not in logger.handlers:
                # Its test's already: not through _TestsHandler.handle's checks.
                _handle(handler, record)


def _handle(handler: logging.Handler, record: logging.LogRecord) -> None:
    """``logging.Handler.handle``, in a frame a failure's traceback hides:
    the router's own ``handle`` is already the one a sequential run shows."""
    __tracebackhide__ = True
    filtered = handler.filter(record)
    if isinstance(filtered, logging.LogRecord):  # Python 3.12+: a filter may replace it
        record = filtered
    if filtered:
        handler.acquire()
        try:
            handler.emit(record)
        finally:
            handler.release()


class CaplogLevels:
    """The logger levels cooperative tests set through caplog, per test."""

    def __init__(self) -> None:
        # Loggers some running test set, with the level each had before.
        self.base: dict[logging.Logger, int] = {}
        self.base_disable = logging.root.manager.disable
        # The running tests' own levels, and their own logging.disable levels.
        self.tests: dict[LaneState, dict[logging.Logger, int]] = {}
        self.disables: dict[LaneState, int] = {}
        # For each logger in base: how many running tests see it at each
        # level (each test's view counted in is kept, to be counted out
        # exactly), and how many set it. Kept as each test's levels change, so
        # a change costs the same with thousands of tests running as with one.
        self._seen: dict[logging.Logger, Counter[int]] = {}
        self._views: dict[LaneState, dict[logging.Logger, int]] = {}
        self._setters: Counter[logging.Logger] = Counter()

    @property
    def changed(self) -> bool:
        return bool(self.tests or self.disables)

    def set(self, state: LaneState, logger: logging.Logger, level: int | None) -> None:
        """Make ``level`` ``logger``'s level for ``state``'s test (None: none of its own)."""
        own = self.tests.get(state, {})
        if level is None and logger not in own:
            return  # it had none: nothing changes
        if level is not None and logger not in self.base:
            self.base[logger] = logger.level
            self._seen[logger] = Counter()
            for theirs, views in self._views.items():
                views[logger] = self._seen_by(self.tests[theirs], logger)
                self._seen[logger][views[logger]] += 1
        for counted, view in self._views.pop(state, {}).items():
            self._seen[counted][view] -= 1
        if level is None:
            del own[logger]
            self._setters[logger] -= 1
        else:
            self._setters[logger] += logger not in own
            own[logger] = level
        if own:
            self.tests[state] = own
            views = self._views[state] = {}
            for counted, seen in self._seen.items():
                views[counted] = self._seen_by(own, counted)
                seen[views[counted]] += 1
        else:
            self.tests.pop(state, None)
        self._apply()

    def set_disable(self, state: LaneState, level: int | None) -> None:
        """Make ``level`` the ``logging.disable`` level for ``state``'s test."""
        if level is None:
            if self.disables.pop(state, None) is None:
                return  # it had none: nothing changes
        else:
            if not self.disables:
                self.base_disable = logging.root.manager.disable
            self.disables[state] = level
        logging.disable(min([self.base_disable, *self.disables.values()]))

    def disable_level(self, state: LaneState) -> int:
        """The ``logging.disable`` level as ``state``'s test sees it."""
        if not self.disables:
            return logging.root.manager.disable
        return self.disables.get(state, self.base_disable)

    def forget(self, state: LaneState) -> None:
        """``state``'s test is over: its levels no longer count."""
        for logger in list(self.tests.get(state, ())):
            self.set(state, logger, None)
        if state in self.disables:
            self.set_disable(state, None)

    def restore(self) -> None:
        for state in list(self.tests):
            self.forget(state)
        for state in list(self.disables):
            self.set_disable(state, None)

    def lets_through(self, state: LaneState, record: logging.LogRecord) -> bool:
        """Whether ``record`` gets past the levels as ``state``'s test sees them."""
        if record.levelno <= self.disable_level(state):
            return False
        logger = _logger_named(record.name)
        if logger is None:
            return True
        return record.levelno >= self._seen_by(self.tests.get(state, {}), logger)

    def _seen_by(self, own: dict[logging.Logger, int], logger: logging.Logger) -> int:
        """``logger``'s effective level for a test whose own levels are ``own``."""
        node: logging.Logger | None = logger
        while node is not None:
            level = own.get(node)
            if level is None:
                level = self.base.get(node, node.level)
            if level:
                return level
            node = node.parent
        return logging.NOTSET

    def _apply(self) -> None:
        """Set each logger a test set as verbose as the most verbose running
        test sees it (a level one set on a parent counts below it), and never
        less verbose than it was; put back those no test sets any more."""
        for logger, base in list(self.base.items()):
            if not self._setters[logger]:
                del self.base[logger], self._seen[logger], self._setters[logger]
                for views in self._views.values():
                    del views[logger]
                logger.setLevel(base)
        for logger, base in self.base.items():
            wanted = [level for level, count in self._seen[logger].items() if count]
            # Level 0 would mean "as the parent": 1 lets everything through.
            logger.setLevel(max(1, min([*wanted, _effective(logger, base)])))


def _effective(logger: logging.Logger, level: int) -> int:
    """``logger``'s effective level were its own level ``level``."""
    if level:
        return level
    return logger.parent.getEffectiveLevel() if logger.parent is not None else logging.WARNING


def _logger_named(name: str) -> logging.Logger | None:
    if name == logging.root.name:
        return logging.root
    found = logging.root.manager.loggerDict.get(name)
    return found if isinstance(found, logging.Logger) else None


def _as_level(level: int | str) -> int:
    """A level as ``Logger.setLevel`` takes it, as a number."""
    if isinstance(level, int):
        return level
    names = logging.getLevelNamesMapping()
    if level not in names:
        raise ValueError(f"Unknown level: {level!r}")
    return names[level]


@contextlib.contextmanager
def _caplog_levels_per_test(levels: CaplogLevels) -> Iterator[None]:
    """``caplog.set_level``/``at_level``, with the levels they set kept per test."""
    fixture = pytest.LogCaptureFixture
    set_level, at_level, finalize = fixture.set_level, fixture.at_level, fixture._finalize

    def caplog_set_level(self: Any, level: int | str, logger: str | None = None) -> None:
        state = CURRENT.get()
        if state is None:
            return set_level(self, level, logger)
        number = _as_level(level)
        if self._initial_handler_level is None:
            self._initial_handler_level = self.handler.level
        self.handler.setLevel(number)
        _set(state, logging.getLogger(logger), number)
        return None

    @contextlib.contextmanager
    def caplog_at_level(self: Any, level: int | str, logger: str | None = None) -> Iterator[None]:
        state = CURRENT.get()
        if state is None:
            with at_level(self, level, logger):
                yield
            return
        number = _as_level(level)
        logger_obj = logging.getLogger(logger)
        before = levels.tests.get(state, {}).get(logger_obj)
        disable_before = levels.disables.get(state)
        handler_before = self.handler.level
        self.handler.setLevel(number)
        _set(state, logger_obj, number)
        try:
            yield
        finally:
            self.handler.setLevel(handler_before)
            levels.set(state, logger_obj, before)
            levels.set_disable(state, disable_before)

    def caplog_finalize(self: Any) -> None:
        # As pytest's: the levels end with caplog, before the fixtures
        # requested ahead of it are torn down.
        finalize(self)
        state = CURRENT.get()
        if state is not None:
            levels.forget(state)

    def _set(state: LaneState, logger: logging.Logger, level: int) -> None:
        levels.set(state, logger, level)
        # caplog lifts logging.disable as far as this level needs, as pytest's does.
        if levels.disable_level(state) >= level:
            levels.set_disable(state, max(level - 10, logging.NOTSET))

    fixture.set_level = caplog_set_level  # type: ignore[method-assign]
    fixture.at_level = caplog_at_level  # type: ignore[method-assign]
    fixture._finalize = caplog_finalize  # type: ignore[method-assign]
    try:
        yield
    finally:
        fixture.set_level, fixture.at_level = set_level, at_level  # type: ignore[method-assign]
        fixture._finalize = finalize  # type: ignore[method-assign]
        levels.restore()


@contextlib.contextmanager
def _handlers_per_test(plugin: Any, logs: BatchLogs) -> Iterator[None]:
    original = plugin._runtest_for
    # pytest 8.3 drives it with ``yield from``; 8.4 and later with ``with``.
    plain_generator = inspect.isgeneratorfunction(original)

    def runtest_for(item: pytest.Item, when: str) -> Generator[None]:
        __tracebackhide__ = True
        state = CURRENT.get()
        if state is None:
            if plain_generator:
                yield from original(item, when)
            else:
                with original(item, when):
                    yield
            return
        places.phase_started(state)
        if plugin.log_level is not None and root.level > plugin.log_level:
            # As pytest lowers it at each phase's start: a fixture's
            # ``dictConfig`` may have raised it since the batch began.
            root.setLevel(plugin.log_level)
        # A test keeps its pair for its phases, as pytest keeps one for every
        # phase: the level caplog.set_level gives it in the setup holds for the
        # call. Pairs come from a pool: logging keeps every handler ever made
        # in a list that it searches when one is collected.
        pair = kept.get(state)
        fresh = pair is None
        if pair is None:
            pair = kept[state] = pool.pop() if pool else _handler_pair(plugin, logs.levels)
        caplog_handler, report_handler = pair
        for handler in pair:
            handler.owner = state
            if not fresh:  # the test's earlier phase's (a pooled pair was emptied)
                handler.reset()
            if fresh or plugin.log_level is not None:
                # A pooled one's level is an earlier test's caplog's; under
                # --log-level, pytest's catching_logs sets it at each phase.
                handler.setLevel(level)
        state.log_handlers = pair
        state.log_when = when
        item.stash[caplog_records_key][when] = caplog_handler.records
        item.stash[caplog_handler_key] = caplog_handler
        try:
            yield
        finally:
            if labelled is not None:
                labelled.write_from_threads()  # before the phase's report
            state.log_handlers, state.log_when = (), None
            item.add_report_section(when, "log", report_handler.stream.getvalue().strip())
            if when == "teardown":
                pair = kept.pop(state)
                for handler in pair:
                    handler.owner = None
                    # Pooled empty: a record holds its arguments and its
                    # traceback's frames (pytest has the records' list).
                    handler.reset()
                pool.append(pair)

    pool: list[tuple[_TestsHandler, _TestsHandler]] = []
    # Those of the tests whose teardown has not ended (one cut short keeps
    # its pair until the batch ends).
    kept: dict[LaneState, tuple[_TestsHandler, _TestsHandler]] = {}
    level = plugin.log_level if plugin.log_level is not None else logging.NOTSET
    router = _LogRouter(logs.levels)
    root = logging.getLogger()
    places = logs.places = _RouterPlaces(router)
    places.refresh()
    saved_level = root.level
    if plugin.log_level is not None:
        root.setLevel(min(saved_level, plugin.log_level))
    plugin._runtest_for = (
        runtest_for if plain_generator else contextlib.contextmanager(runtest_for)
    )
    live = plugin.log_cli_handler
    labels = isinstance(live, _LiveLoggingStreamHandler)
    labelled = None
    if labels:
        # As pytest does at each test's start: the batch's first record
        # begins with a newline, whatever was live-logged before the batch.
        live.reset()
        labelled = _LabelledLiveRecords(live)
        live.emit = labelled.emit
    try:
        yield
    finally:
        if labelled is not None:
            labelled.close()
            del live.emit
        del plugin._runtest_for
        logs.places = None
        places.remove()
        if plugin.log_level is not None:
            # Only what was lowered for it: pytest leaves the root logger's
            # level alone otherwise, as set by a wider fixture, say.
            root.setLevel(saved_level)


class _LabelledLiveRecords:
    """Live logging (``--log-cli-level``) for tests that run at once.

    pytest heads each phase's live records with the phase, set by its hooks
    for the one test running; here records come from several tests in turn,
    so each record from a test's phase gets that phase and the test's node id.

    A thread's record (a plain ``def`` test's, or ``asyncio.to_thread``'s) is
    written on the loop's thread: written from its own, it would land between
    pytest's writes of a result there, or under a header another test's hook
    set meanwhile. It is queued, and the loop is woken to write it; what
    is queued is written first whenever the loop's thread writes a record,
    and at the end of each phase, before its report.
    """

    def __init__(self, live: _LiveLoggingStreamHandler) -> None:
        self._live = live
        self._emit = live.emit
        self._thread = threading.get_ident()
        session_loop = current()
        self._loop = session_loop.loop if session_loop is not None else None
        self._from_threads: collections.deque[tuple[logging.LogRecord, str | None]] = (
            collections.deque()
        )
        self._closed = False

    def emit(self, record: logging.LogRecord) -> None:
        state = _test_of_record(record)
        label = None
        if state is not None and state.log_when is not None:
            label = f"{state.log_when} ({state.item.nodeid})"
        # Called with the handler's lock held (``Handler.handle``), so that
        # no record is queued after ``close`` wrote the last ones.
        if not self._closed and threading.get_ident() != self._thread and self._loop is not None:
            # The loop is woken once for what is queued until it writes it.
            wake = not self._from_threads
            self._from_threads.append((_as_made(record), label))
            if wake:
                with contextlib.suppress(RuntimeError):  # a closed loop: written at the end
                    self._loop.call_soon_threadsafe(self.write_from_threads)
            return
        self.write_from_threads()  # what threads logged before it, first
        self._write(record, label)

    def close(self) -> None:
        """The batch is over: write what threads sent, then write as pytest does."""
        with self._live.lock or contextlib.nullcontext():
            self._closed = True
            self.write_from_threads()

    def write_from_threads(self) -> None:
        """Write what threads logged, on the loop's thread."""
        with self._live.lock or contextlib.nullcontext():
            while self._from_threads:
                self._write(*self._from_threads.popleft())

    def _write(self, record: logging.LogRecord, label: str | None) -> None:
        live = self._live
        if label is not None and live._when != label:
            live.set_when(label)
            # Its header goes on a line of its own, not after a result pytest
            # wrote: begun with a newline, as a test's first record is.
            writer = getattr(live.stream, "_tw", None)
            if getattr(writer, "_current_line", ""):
                live.reset()
        self._emit(record)


def _as_made(record: logging.LogRecord) -> logging.LogRecord:
    """``record`` with its message as it reads now: written later, its
    arguments may have changed meanwhile (as ``QueueHandler.prepare`` does)."""
    try:
        message = record.getMessage()
    except Exception:  # logging's own error report comes with the write
        return record
    record = copy.copy(record)
    record.msg, record.args = message, None
    return record


#: Whether pytest captures the loggers whose records never reach the root
#: too (from pytest 9: ``catching_logs`` attaches its handler to them as each
#: phase starts); pytest 8 captures from the root only.
_CAPTURES_NON_PROPAGATING = "attached_loggers" in getattr(catching_logs, "__slots__", ())


class _RouterPlaces:
    """Keeps the router on the root logger and, where pytest captures them,
    a relay to it on each logger that did not propagate as some phase
    started, as pytest's handlers are at each phase's start. A fixture may
    configure logging mid-batch: ``dictConfig`` removes the handlers of each
    logger it configures, the root's included, and may make a logger
    non-propagating; a test's fixture may make one propagate, and back."""

    def __init__(self, router: _LogRouter) -> None:
        self._router = router
        self._relays: dict[logging.Logger, _Relay] = {}
        #: How many of the batch's tests' phases have started. A relay put on
        #: a logger mid-phase serves the phases starting after it only: in a
        #: sequential run, the phase that made the logger non-propagating
        #: does not capture it.
        self.phases = 0

    def phase_started(self, state: LaneState) -> None:
        self.phases += 1
        state.log_phase = self.phases
        self.refresh(self.phases)

    def refresh(self, phase: int | None = None) -> None:
        """Put the router and relays in place; ``phase``: as that phase
        starts (a relay put on now serves it), or None, mid-phase."""
        root = logging.getLogger()
        if self._router not in root.handlers:
            root.addHandler(self._router)
        if not _CAPTURES_NON_PROPAGATING:
            return
        relays = self._relays
        for logger in list(root.manager.loggerDict.values()):
            if isinstance(logger, logging.Logger) and not logger.propagate:
                relay = relays.get(logger)
                if relay is None:
                    since = self.phases + 1 if phase is None else phase
                    relay = relays[logger] = _Relay(self._router, logger, relays, since)
                if relay not in logger.handlers:  # dictConfig may have removed it
                    logger.addHandler(relay)

    def keep(self) -> None:
        """Put the router and the relays back where code took them off."""
        if self._router not in logging.root.handlers or any(
            # One whose logger propagates since is not put back (see refresh).
            relay not in logger.handlers and not logger.propagate
            for logger, relay in self._relays.items()
        ):
            self.refresh()

    def remove(self) -> None:
        self._router.active = False
        logging.getLogger().removeHandler(self._router)
        for logger, relay in self._relays.items():
            logger.removeHandler(relay)


class _Relay(logging.Handler):
    """The router's stand-in on a logger that did not propagate as a phase
    started. It stays for the batch, as the logger may stop propagating
    again mid-phase, and routes a record only where no other would: where
    the record stops (at its logger, or at an ancestor without a relay that
    stopped propagating since), never where it goes on to the root's router
    or to an ancestor's relay."""

    def __init__(
        self,
        router: _LogRouter,
        logger: logging.Logger,
        relays: dict[logging.Logger, _Relay],
        since: int,
    ) -> None:
        super().__init__()
        self._router = router
        self._logger = logger
        self._relays = relays
        self._since = since  # the first phase it serves (see _RouterPlaces)

    def emit(self, record: logging.LogRecord) -> None:
        __tracebackhide__ = True
        logger = self._logger
        root = logging.getLogger()
        while logger.propagate:
            parent = logger.parent
            if parent is None or parent is root or parent in self._relays:
                return  # the root's router takes it, or that relay decides
            logger = parent
        # It stops here, or at an ancestor no relay is on.
        self._router.route(record, self._logger, self._since)


class _TestsHandler(LogCaptureHandler):
    """A test's handler in a batch (its ``caplog.handler``, its report's).

    The router hands it its test's records. Attached to a logger by hand
    too (``caplog.handler`` on one that does not propagate, the usual way to
    capture it), it gets every record of that logger, the other running
    tests' and those of no test among them: it takes only those the router
    would give it, its test's, as far as its caplog levels let them through.
    """

    def __init__(self, levels: CaplogLevels) -> None:
        super().__init__()
        self.owner: LaneState | None = None  # while its test runs
        self._levels = levels

    def handle(self, record: logging.LogRecord) -> Any:
        __tracebackhide__ = True
        owner = self.owner
        if owner is not None and (
            _test_of_record(record) is not owner
            or (self._levels.changed and not self._levels.lets_through(owner, record))
        ):
            return False
        return super().handle(record)


def _handler_pair(plugin: Any, levels: CaplogLevels) -> tuple[_TestsHandler, _TestsHandler]:
    pair = _unlisted_handler(levels), _unlisted_handler(levels)
    for handler in pair:
        handler.setFormatter(plugin.formatter)
    return pair


def _unlisted_handler(levels: CaplogLevels) -> _TestsHandler:
    """A new handler, left off the list ``logging.shutdown`` flushes.

    logging keeps a weak reference to every handler ever made in one list,
    and searches it linearly each time a handler is collected: with thousands
    of tests in flight, dropping their handlers took time quadratic in their
    number. These handlers only write to memory, so shutdown has nothing to
    do with them.
    """
    refs: list[Any] | None = getattr(logging, "_handlerList", None)
    lock: Any = getattr(logging, "_lock", None)
    if refs is None or lock is None:
        return _TestsHandler(levels)
    with lock:  # so no other thread's handler comes between
        handler = _TestsHandler(levels)
        if refs and refs[-1]() is handler:
            refs.pop()
    return handler
