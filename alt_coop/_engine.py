"""The engine: pytest hooks that run async fixtures and tests on one loop.

The hooks only decide *what* to run and how pytest should see the outcome;
running a coroutine on the loop is :func:`alt_coop._runner.run`'s job.

PYTEST_DONT_REWRITE (see alt_coop/__init__.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import gc
import inspect
import signal
import warnings
import weakref
from collections.abc import AsyncGenerator, Callable, Coroutine, Generator
from typing import Any, NoReturn, cast

import pytest

from . import (
    _admission,
    _cancels,
    _coverage_support,
    _delivered,
    _fixture_instances,
    _hypothesis,
    _lane_state,
    _loaded_plugins,
    _migration,
    _nesting,
    _options,
    _pytest_compat,
    _run_alone,
    _runner,
    _scheduler,
    _session_loop,
    _startup_checks,
    _thread_bodies,
    _timeout_plugin,
    _tracebacks,
    _unawaited,
    pytest_plugin,
)
from ._debugger import DebuggerPolicy, stepping_into
from ._finalizers import AsyncFinalizers, in_setup_context, refuse_async_cleanups, run_teardown
from ._hypothesis import awaited_test, is_async_test, unwrapped
from ._lane_warnings import notice
from ._lanes import in_context, in_lane, keep_forever
from ._marks import MARK
from ._other_runners import OtherRunners
from ._runner import current_context, run
from ._running_now import BODY_RUNNING, FixtureSetUp, setting_up, test_item
from ._session_loop import loop_seen
from ._setupstate import TORE_DOWN_FOR_ANOTHER
from ._shared_context import FIXTURES_CONTEXT, changed_values, reset_in, set_in
from ._timeout_defaults import DEFAULT_FIXTURES, DefaultTimeouts
from ._timeouts import BUILTIN_DEFAULT_HINT, BUILTIN_DEFAULT_SECONDS, PhaseTimeout
from .errors import AltCoopError, AltCoopUsageError
from .locks import (
    _release_left_held,
    _release_left_held_by_fixture,
    _setup_ended,
    _teardown_abandoned,
)

_DEFAULT_FIXTURE_NAMES = frozenset(DEFAULT_FIXTURES.values())

ENGINE_NAME = "alt_coop-engine"
_NONE = object()  # stands for a fixture value of None, see pytest_fixture_setup

#: The test a test's setup found running in its context (one whose body runs
#: a pytest session), given back at its teardown.
_OUTER_TEST_ITEM = pytest.StashKey["pytest.Item | None"]()
#: The Ctrl-C handler a test run alone found as it started.
_SIGINT_HANDLER = pytest.StashKey[object]()
#: Set on a test item while its teardown phase runs.
_TEARING_DOWN = pytest.StashKey[bool]()
#: A pytest-xdist worker's error at its session end: (its class's name, its message).
_END_ERROR = "alt_coop_end_error"


class Plugin:
    """The alt_coop engine, as a pytest plugin object.

    Pass one to ``pytest.main(args, plugins=[alt_coop.Plugin()])``, or list
    ``alt_coop.enable`` as a plugin, which registers one for you.

    ``managed_loop`` runs the session on an application's own loop instead of
    a loop of the plugin's: the loop is used, never closed, and the
    application's own tasks on it are left alone. Call ``pytest.main`` with
    it while the loop is not running, or from a coroutine running on it (which
    runs the loop nested, see README), or use ``await alt_coop.main(...)``.

    Its methods are pytest's hooks (see pytest's hook reference), for pytest
    to call.
    """

    def __init__(self, *, managed_loop: asyncio.AbstractEventLoop | None = None) -> None:
        if managed_loop is not None and not isinstance(managed_loop, asyncio.AbstractEventLoop):
            raise TypeError(
                f"managed_loop must be an asyncio event loop, got {type(managed_loop).__name__}"
            )
        self.managed_loop = managed_loop
        self._session_loop: _session_loop.SessionLoop | None = None
        self._policy = DebuggerPolicy("auto", pytest_debugging=False)
        self._defaults = DefaultTimeouts(BUILTIN_DEFAULT_SECONDS)
        self._scheduler: _scheduler.Scheduler | None = None
        #: See pytest_sessionfinish.
        self._end_error: Warning | AltCoopError | KeyboardInterrupt | None = None
        #: Those of pytest-xdist's workers (see pytest_testnodedown): worker, class, message.
        self._workers_end_errors: list[tuple[str, str, str]] = []
        #: The task an awaited session (alt_coop.main) runs on; see pytest_timeout_set_timer.
        self._awaited_task: asyncio.Task[Any] | None = None
        self._claimed: asyncio.AbstractEventLoop | None = None  # see pytest_configure
        self._in_thread = False  # counted among this thread's sessions (see pytest_configure)
        #: The trimming of asyncio frames, and the full-trace setting, before this session.
        self._trimmed_before = (True, False)
        self._test_item_before: tuple[pytest.Item | None] | None = None  # see pytest_configure
        self._in_worker_thread_before = False  # see pytest_configure
        self._others = OtherRunners()  # the plugins running some async tests themselves

    # The options and fixtures the engine needs, should pytest not load them.
    def pytest_addhooks(self, pluginmanager: pytest.PytestPluginManager) -> None:
        pytest_plugin._register_unless_loaded(pluginmanager, early=True)

    def pytest_load_initial_conftests(self, early_config: pytest.Config) -> None:
        pytest_plugin._register_unless_loaded(early_config.pluginmanager, early=False)

    # Static so that ``pytest.main(plugins=[alt_coop.Plugin])``, the class,
    # whose hooks pluggy would call without an instance, meets this message
    # before a TypeError about a missing argument: as the class registers,
    # this is the first of its hooks that pytest calls.
    @staticmethod
    def pytest_plugin_registered(plugin: object, manager: pytest.PytestPluginManager) -> None:
        __tracebackhide__ = True
        if isinstance(plugin, type) and issubclass(plugin, Plugin):
            name = "alt_coop.Plugin" if plugin is Plugin else plugin.__qualname__
            raise pytest.UsageError(
                f"{name} was given as a plugin: pass an instance, plugins=[{name}()]"
            )
        # Once the session has started, a conftest registers as it is collected.
        collecting = any(
            isinstance(p, Plugin) and p._session_loop is not None
            for p in _loaded_plugins.every(manager)
        )
        _unawaited.refuse_async_hooks(plugin, manager, collecting=collecting)

    @classmethod
    def register_once(cls, config: pytest.Config) -> None:
        """Register an engine unless one is registered already."""
        if not any(isinstance(p, cls) for p in _loaded_plugins.every(config.pluginmanager)):
            config.pluginmanager.register(cls(), ENGINE_NAME)

    # -- session ------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_cmdline_main(self, config: pytest.Config) -> None:
        refuse_async_cleanups(config)  # before any plugin's pytest_configure
        if self.managed_loop is not None:
            _startup_checks.no_xdist_on_a_managed_loop(config)

    @pytest.hookimpl(tryfirst=True)
    def pytest_configure(self, config: pytest.Config) -> None:
        # Put back at unconfigure: an interrupted test skips the teardown that
        # would, and the caller's context would keep it (and its session).
        self._test_item_before = (test_item.get(),)
        # A session a plain def cooperative test's body runs, in its worker
        # thread, is no body's: its tests set fixtures up as any session's.
        self._in_worker_thread_before = _thread_bodies.IN_WORKER_THREAD.get()
        _thread_bodies.IN_WORKER_THREAD.set(False)
        pytest_plugin._check_not_blocked(config)
        config.stash[pytest_plugin.ENGINE_ON] = True
        engines = [p for p in _loaded_plugins.every(config.pluginmanager) if isinstance(p, Plugin)]
        if len(engines) > 1:
            raise pytest.UsageError(
                "alt_coop.Plugin is registered more than once; pass a single "
                "alt_coop.Plugin() to pytest.main (listing alt_coop.enable as well is fine)"
            )
        _startup_checks.no_other_runner(config)
        _startup_checks.one_asyncio()
        self._others = OtherRunners.of(config)
        if not self._others.pytest_asyncio:
            # Suites moving from pytest-asyncio keep its mark for a while; it
            # must not fail them under --strict-markers.
            config.addinivalue_line("markers", _migration.MARKER)
        _startup_checks.no_other_running_loop(self.managed_loop)
        refuse_async_cleanups(config)
        # Put back at unconfigure: a session a test runs (pytester) has its own.
        self._trimmed_before = _tracebacks.trim_asyncio_frames, _tracebacks.full_trace
        _tracebacks.full_trace = config.getoption("fulltrace", False)
        _tracebacks.trim_asyncio_frames = not (
            _tracebacks.full_trace or config.getoption("tbstyle", "") == "native"
        )
        self._scheduler = None  # a Plugin passed to several sessions reports each its own
        if self.managed_loop is not None:
            _startup_checks.no_xdist_on_a_managed_loop(config)
            _startup_checks.not_beside_cooperative_tests()
            if not _session_loop.in_session():  # one run by a test of another is nested
                if not _session_loop.claim(self.managed_loop):
                    raise pytest.UsageError(
                        "alt_coop: a pytest session is already running on managed_loop; "
                        "wait for it to finish before starting another"
                    )
                self._claimed = self.managed_loop
            _startup_checks.usable_managed_loop(self.managed_loop)
            if self.managed_loop.is_running() and not in_lane():
                # pytest.main() from a coroutine on that loop: nothing above
                # pytest can drive it, so it must run nested.
                try:
                    _nesting.enable(self.managed_loop)
                except AltCoopUsageError as exc:
                    raise pytest.UsageError(f"alt_coop: {exc}") from None
        settings = _options.settings(config)
        self._defaults = DefaultTimeouts(
            settings.default_timeout, builtin=settings.builtin_timeout
        )
        debugging = bool(config.getoption("usepdb", False) or config.getoption("trace", False))
        self._policy = DebuggerPolicy(
            settings.debugger_mode,
            pytest_debugging=debugging,
            current_test=_lane_state.CURRENT.get,
            when_entered=_debugged,
        )
        # Last: a check above that refuses the session must not leave it
        # counted, as its pytest_unconfigure may never be called (pluggy
        # calls a plugin's historic pytest_configure as it registers it, and
        # stops registering its hooks if that raises).
        _startup_checks.only_this_thread(nested=self._test_item_before[0] is not None)
        self._in_thread = True

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        _startup_checks.no_alt_pytest_asyncio_engine(session.config)
        loop = self.managed_loop
        if loop is None:
            loop = _session_loop.new_event_loop()
            max_tasks = _options.settings(session.config).max_tasks
            loop.set_default_executor(_session_loop.default_executor(max_tasks))
            _session_loop.make_current(loop)  # for sync code that still asks for "the" loop
            session_loop = _session_loop.SessionLoop(loop, owned=True)
        else:
            # pytest.main() from a coroutine on the loop: pytest_configure patched it.
            session_loop = _session_loop.SessionLoop(
                loop, owned=False, nested=loop.is_running() and not in_lane()
            )
            if loop.is_running() and in_lane():  # await alt_coop.main: the app runs the loop
                self._awaited_task = asyncio.current_task()
            _session_loop.leave_current_to_the_application(loop)
        if not loop.is_running():
            session_loop.install_sigint_handler()  # a running loop's owner handles Ctrl-C
        elif session_loop.nested:
            # Called from a coroutine on the loop: its owner's handler cannot
            # act until pytest returns, so this session's takes its place.
            # (One the owner added with loop.add_signal_handler still runs:
            # the loop reads the signal from its wake-up fd. See README.)
            session_loop.install_sigint_handler(replace=True)
        _session_loop.push(session_loop)
        self._session_loop = session_loop
        _coverage_support.follow_greenlets()

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        # trylast: pytest's own sessionfinish has torn the fixtures down by now.
        try:
            self._end_session(session.config)
        except (Warning, AltCoopError) as error:
            # The tasks-left-behind warning, made an error (-W error), or what
            # such a task raised as it ended: raised here, it would stop
            # pytest before it reports the results. It fails the run and is
            # shown after them instead.
            self._end_error = error
            if session.exitstatus == pytest.ExitCode.OK:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED
        except KeyboardInterrupt as interrupt:
            # Ctrl-C (or alt_coop.main cancelled) while the session's end
            # waited for the tasks the tests left running: the wait stopped,
            # as asked. Raised here, it would stop pytest before it reports
            # the results; the first interrupt of the run is said after them.
            if session.exitstatus != pytest.ExitCode.INTERRUPTED:
                self._end_error = interrupt
                interrupt.args = (
                    "interrupted at the end of the session, while the tasks the tests left "
                    "running were ending"
                    + "".join(f"; and {note}" for note in getattr(interrupt, "__notes__", ())),
                )
            session.exitstatus = pytest.ExitCode.INTERRUPTED
        workeroutput = getattr(session.config, "workeroutput", None)
        if self._end_error is not None and workeroutput is not None:
            # A pytest-xdist worker, whose session end no one sees: its
            # controller says it, and fails the run (see pytest_testnodedown).
            workeroutput[_END_ERROR] = (type(self._end_error).__name__, str(self._end_error))
        if self._workers_end_errors and session.exitstatus == pytest.ExitCode.OK:
            interrupted = any(
                name == "KeyboardInterrupt" for _, name, _ in self._workers_end_errors
            )
            session.exitstatus = (
                pytest.ExitCode.INTERRUPTED if interrupted else pytest.ExitCode.TESTS_FAILED
            )
        scheduler = self._scheduler
        if scheduler is not None and scheduler.stops.teardown_exit is not None:
            # Raised where pytest's own sessionfinish raises one, tearing
            # down a test it interrupted: pytest ends with its code and says it.
            teardown_exit, scheduler.stops.teardown_exit = scheduler.stops.teardown_exit, None
            raise teardown_exit

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        """A pytest-xdist worker is done: the controller takes its session
        end's error, if any, as its own (see pytest_sessionfinish)."""
        ended = getattr(node, "workeroutput", {}).get(_END_ERROR)
        if ended is not None:
            name, message = ended
            self._workers_end_errors.append((node.gateway.id, name, message))

    # A wrapper: it runs after every plugin's pytest_unconfigure even when
    # one of them raises, which stops pluggy's calls to the ones after it.
    # Old-style, so that such an error is not thrown in here: its traceback
    # has no frame of alt_coop's, and alt_coop's own error does not hide it.
    @pytest.hookimpl(hookwrapper=True)
    def pytest_unconfigure(self, config: pytest.Config) -> Generator[None, Any, None]:
        outcome = yield
        try:
            self._forget_the_session(config)
        except BaseException as error:
            raised = outcome.exception
            if raised is None:
                outcome.force_exception(error)
            else:
                raised.add_note(f"and then in alt_coop: {type(error).__name__}: {error}")

    def _forget_the_session(self, config: pytest.Config) -> None:
        # When a pytest_sessionfinish raised (pytest's own, at a second
        # interrupt during the last teardowns, or a conftest's), the hooks
        # after it never ran: the session ends here instead.
        try:
            self._end_session(config)
        finally:
            if self._in_thread:  # first: a step below may raise
                _startup_checks.session_over()
                self._in_thread = False
            self._policy.stop_watching()
            self._scheduler = None  # which holds the session, until the next one
            # Unreported (with -p no:terminal, say): no error of the next session's.
            self._end_error, self._workers_end_errors = None, []
            self._awaited_task = None  # a Plugin may serve another session after
            if self._test_item_before is not None:
                test_item.set(self._test_item_before[0])
                self._test_item_before = None
            if self._in_worker_thread_before:
                _thread_bodies.IN_WORKER_THREAD.set(True)
                self._in_worker_thread_before = False
            _tracebacks.trim_asyncio_frames, _tracebacks.full_trace = self._trimmed_before
            if self._claimed is not None:
                _session_loop.release(self._claimed)
                self._claimed = None
            if self.managed_loop is not None:
                _nesting.settle(self.managed_loop)

    def _end_session(self, config: pytest.Config) -> None:
        session_loop, self._session_loop = self._session_loop, None
        if session_loop is None:
            return
        try:
            owned = session_loop.owned
            with _delivered.outcomes_after_the_tests(session_loop.loop, config, owned=owned):
                try:
                    session_loop.close(
                        what="session", wait=lambda coro: run(coro, None), report_exits=True
                    )
                finally:
                    if owned:
                        # A task that failed, kept in a reference cycle,
                        # reports its error as the collector frees it: here,
                        # where a warning names it, not as the process exits
                        # (asyncio's log, unseen, alone). (An application's
                        # loop is the application's, and so is its garbage.)
                        gc.collect()
        finally:
            session_loop.uninstall_sigint_handler()
            _session_loop.pop(session_loop)
            _session_loop.unmake_current(session_loop.loop)
            if session_loop.owned:  # as after asyncio.run(), or a session's loop around
                asyncio.set_event_loop(_session_loop.made_current())

    # Before pytest's own, which calls the module's (or class's) hook as it
    # makes the tests of a function.
    @pytest.hookimpl(tryfirst=True)
    def pytest_pycollect_makeitem(self, collector: pytest.Module | pytest.Class) -> None:
        _unawaited.refuse_async_generate_tests(collector)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        config = session.config
        if self._session_loop is not None and not self._session_loop.owned:
            self._session_loop.count_as_the_suites(_suite_files(session))
        if not self._others.pytest_asyncio:
            for name, item, where in _migration.unused_loop_fixtures(session):
                notice(config, _migration.unused_loop_fixture_text(name), item, where)
            for where in _migration.unused_loop_factories(session) if session.items else ():
                text = "the pytest_asyncio_loop_factories hook (pytest-asyncio's)"
                notice(config, _migration.unused_loop_choice_text(text), session.items[0], where)
        # Each other plugin running tests is named once, at its first; each
        # pytest-asyncio fixture alt_coop's async tests use, at the first of them.
        tests_of: dict[str, list[pytest.Item]] = {}
        on_a_running_loop = self._on_a_running_loop()
        for item in session.items:
            runner = self._others.runner_of(item)
            if runner is not None:
                text = self._others.left_to_text(runner, on_a_running_loop)
                tests_of.setdefault(text, []).append(item)
            elif (
                self._others.pytest_asyncio
                and isinstance(item, pytest.Function)
                and is_async_test(item.obj)
            ):
                for name in _migration.pytest_asyncio_fixtures(item):
                    text = _migration.on_another_loop_text(name, self._others.pytest_asyncio)
                    tests_of.setdefault(text, []).append(item)
        for text, (first, *then) in tests_of.items():
            notice(config, text, first, then=then)

    # -- cooperative tests ----------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> object:
        config = session.config
        if (
            session.testsfailed
            and not config.option.continue_on_collection_errors
            and not hasattr(config, "workerinput")  # xdist's workers run the tests anyway
        ):
            return None  # pytest's own loop reports the collection errors
        if config.option.collectonly or not session.items:
            return None  # nothing to run here (pytest-xdist's controller hands items out)
        settings = _options.settings(config)
        marked = next((item for item in session.items if item.get_closest_marker(MARK)), None)
        if not (settings.cooperative or marked):
            return None
        reason = _run_alone.session_reason(config)
        if reason is not None:
            concerned = (
                item
                for item in session.items
                if item.get_closest_marker(MARK)
                or (settings.cooperative and awaited_test(getattr(item, "obj", None)))
            )
            first = next(concerned, None)
            if first is not None:  # else there is no cooperative test to speak of
                text = f"cooperative tests run sequentially {reason}"
                notice(config, text, first, then=concerned)
            return None
        self._scheduler = _scheduler.Scheduler(
            session,
            all_async=settings.cooperative,
            max_tasks=settings.max_tasks,
            task_timeout=settings.task_timeout,
            policy=self._policy,
            block_threshold=settings.block_threshold,
            others=self._others,
        )
        self._scheduler.run()
        return True

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        scheduler = self._scheduler
        line = scheduler.summary_line() if scheduler is not None else None
        option = terminalreporter.config.option
        quiet = option.no_summary or terminalreporter.verbosity < -1  # --no-summary, -qq
        # --setup-only, --setup-plan: "no tests ran", pytest says.
        if line and not quiet and not getattr(option, "setuponly", False):
            # A section of its own: it would read as the last one's output.
            terminalreporter.write_sep("-", "alt_coop")
            terminalreporter.write_line(line)
        ends = (
            []
            if self._end_error is None
            else [f"{type(self._end_error).__name__}: {self._end_error}"]
        )
        ends += [
            f"[{worker}] {name}: {message}" for worker, name, message in self._workers_end_errors
        ]
        if ends:
            terminalreporter.write_sep("=", "error at the end of the session", red=True)
            for end in ends:
                terminalreporter.write_line(end)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> Generator[None, object, object]:
        __tracebackhide__ = True
        result = yield
        self._stop_after_the_test()
        return result

    @pytest.hookimpl(tryfirst=True, specname="pytest_runtest_protocol")
    def pytest_runtest_protocol_unless_stopped(self, item: pytest.Item) -> bool | None:
        # A test the scheduler runs sequentially is its to stop (see Scheduler).
        if self._scheduler is None and _runner.stop_if_main_cancelled(item.session):
            return True  # not run: pytest's loop stops on shouldstop
        return None

    @pytest.hookimpl(tryfirst=True)
    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        # Before pytest's reporter takes the line it names from it.
        _tracebacks.drop_asyncio_sigint_handler(excinfo.value)
        if _cancels.in_awaited_session():
            # A second Ctrl-C under asyncio.run, raised in sync code: the
            # first one cancelled the caller of alt_coop.main, which nothing
            # delivered since. It is the same interrupt: delivered at the
            # first await of the teardowns that follow, it would cut them short.
            _cancels.caller_cancelled_meanwhile()

    def _stop_after_the_test(self) -> None:
        """A sequential test caught Ctrl-C's cancellation and raised an error
        of its own (see SessionLoop.interrupt_after_the_test): reported like
        any error, then the run stops, as it would at Ctrl-C; before a rerun
        of the test, too (pytest-rerunfailures reruns within the protocol)."""
        __tracebackhide__ = True
        session_loop = self._session_loop
        if session_loop is not None:
            interrupt = session_loop.take_interrupt_after_the_test()
            if interrupt is not None:
                raise interrupt

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        self._stop_after_the_test()
        _session_loop.current_again()
        item.stash[_OUTER_TEST_ITEM] = test_item.get()
        test_item.set(item)  # whose locks its code takes (see _release_left_held)
        # Only a test with "request" among its fixtures (its own, or one of
        # its fixtures') can call request.addfinalizer or request.node's.
        if isinstance(item, pytest.Function) and "request" in item.fixturenames:
            AsyncFinalizers(item, item.name, None, self._test_default, self._policy)
            # A wider fixture's request.node is one of the collectors above.
            for node in item.listchain()[:-1]:
                if isinstance(node, pytest.Collector) and "addfinalizer" not in vars(node):
                    AsyncFinalizers(
                        node,
                        _collector_label(node),
                        None,
                        self._collector_default,
                        self._policy,
                    )

    @pytest.hookimpl(wrapper=True, specname="pytest_runtest_setup")
    def pytest_runtest_setup_sigint(self, item: pytest.Item) -> Generator[None, object, object]:
        # The handler a test run alone found (see pytest_runtest_teardown):
        # Python's own, if its fixtures set that up on purpose (a wider one's
        # stays for the tests after it), else the one before its fixtures (a
        # fixture's own handler, reset to Python's as it ends, is no purpose).
        __tracebackhide__ = _pytest_compat.hidden_unless_alone
        found = signal.getsignal(signal.SIGINT)
        cancels_before = _runner.sync_cancels_before()
        failed = True
        try:
            result = yield
            failed = False
            return result
        finally:
            if _lane_state.CURRENT.get() is None:
                if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
                    found = signal.default_int_handler
                item.stash[_SIGINT_HANDLER] = found
            _runner.fail_if_sync_code_cancelled(cancels_before, "a sync fixture", failed=failed)

    # After pytest's skip and xfail marks (tryfirst), before its fixtures:
    # a skipped test is skipped whatever else is wrong with it (an xfail
    # mark does not hide it: see pytest_runtest_makereport).
    @pytest.hookimpl(specname="pytest_runtest_setup")
    def pytest_runtest_setup_problems(self, item: pytest.Item) -> None:
        problem = (
            _admission.mark_problem(item)
            or _unawaited.problem(item)
            or self._others.fixture_problem(item)
            or self._others.switched_off_problem(item)
            or self._own_loop_problem(item)
        )
        if problem is not None:
            raise _unawaited.written_wrong(problem)
        _unawaited.guard_packages(item)

    @pytest.hookimpl(trylast=True, specname="pytest_runtest_setup")
    def pytest_runtest_setup_unawaited_test(self, item: pytest.Item) -> None:
        # After its fixtures: a unittest case's setUpClass may skip it.
        problem = _unawaited.unawaited_test(item)
        if problem is not None:
            raise _unawaited.written_wrong(problem)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_teardown(self, item: pytest.Item) -> Generator[None, object, object]:
        __tracebackhide__ = _pytest_compat.hidden_unless_alone
        _session_loop.current_again()
        held_back: BaseException | None = None
        if _cancels.in_awaited_session():
            try:
                stop = run(_cancels.held_back_callbacks_run(), None)
            except _pytest_compat.TEST_OUTCOME as error:  # pytest-timeout's, say: torn down first
                held_back, stop = error, False
            if stop or _cancels.caller_cancelled_meanwhile():
                # The caller of alt_coop.main was cancelled while sync code
                # ran: delivered at the teardown's first await, it would cut
                # the teardown short. The run stops after it instead, as after
                # Ctrl-C in sync code, and tears the rest down.
                item.session.shouldstop = _runner.MAIN_CANCELLED
        item.stash[_TEARING_DOWN] = True
        was_open = self._loop_open()
        cancels_before = _runner.sync_cancels_before()
        try:
            result = yield
        except BaseException as error:
            _runner.fail_if_sync_code_cancelled(cancels_before, "a sync fixture", failed=True)
            with contextlib.suppress(pytest.fail.Exception):  # the teardown's own error goes on
                _release_left_held(item)
            if held_back is not None:
                raise held_back from error
            raise
        else:
            _runner.fail_if_sync_code_cancelled(cancels_before, "a sync fixture", failed=False)
            _release_left_held(item)
            if held_back is not None:
                raise held_back
            self._still_open(was_open, "a fixture's teardown")
            return result
        finally:
            del item.stash[_TEARING_DOWN]  # a test run again is set up again
            AsyncFinalizers.give_back(item)
            _fixture_instances.release(item)
            seen = item.stash.get(_SIGINT_HANDLER, None)
            if seen is not None:
                del item.stash[_SIGINT_HANDLER]
                if self._session_loop is not None:
                    self._session_loop.take_back_sigint(seen)
            # pytest.main on a managed loop runs the protocol in the caller's
            # context: the last test must not stay referenced from there, and
            # a session run by a test hands that test back its own.
            test_item.set(item.stash.get(_OUTER_TEST_ITEM, None))

    @pytest.hookimpl(optionalhook=True, tryfirst=True)
    def pytest_timeout_set_timer(self, item: pytest.Item, settings: Any) -> bool | None:
        """pytest-timeout's signal, delivered to the phase running, wherever it
        lands (see :mod:`alt_coop._timeout_plugin`); None leaves it to pytest-timeout."""
        session_loop = self._session_loop
        if session_loop is None or not _timeout_plugin.set_timer(
            item, settings, session_loop, self._awaited_task
        ):
            return None
        return True

    # -- debugger awareness -------------------------------------------------

    def pytest_runtest_logstart(self) -> None:
        # A sequential test's logstart comes before it runs; a cooperative
        # test's, once it is done (its lane state is still current then).
        self._policy.test_done(_lane_state.CURRENT.get())

    def pytest_enter_pdb(self) -> None:
        self._policy.entered_debugger()

    # -- fixtures -----------------------------------------------------------

    # Not tryfirst: it stands in for pytest's own, after the tryfirst hooks
    # that prepare the request (pytest-lazy-fixtures' puts an lf parameter's
    # value in request.param) or answer first (pytest's --setup-plan's). The
    # plain hooks of plugins registered after the engine come first too
    # (pytest-trio's, which answers only for its own tests' fixtures).
    def pytest_fixture_setup(
        self, fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
    ) -> object:
        _session_loop.current_again()  # after a sync fixture's asyncio.run(), say
        __tracebackhide__ = True
        if self._others.pytest_asyncio and _migration.pytest_asyncio_fixture(fixturedef.func):
            problem = self._others.pytest_asyncio_fixture_problem(fixturedef)
            if problem is not None:
                _refuse(fixturedef, problem)
        if fixturedef.argname in _run_alone.RUN_ALONE_FIXTURES:  # rare: checked first
            problem = _run_alone.dynamic_request_problem(fixturedef.argname, request)
            if problem is not None:
                _refuse(fixturedef, problem)
        if not _async_fixture(fixturedef):
            return None
        if self._others.runs_fixture(fixturedef, request):
            return None  # another plugin's (see alt_coop._other_runners)
        problem = self._others.runtime_fixture_problem(fixturedef, test_item.get())
        if problem is not None:
            _refuse(fixturedef, problem)
        problem = _runner.refused_here()
        if problem is not None:
            _refuse(fixturedef, problem, AltCoopUsageError)
        if fixturedef.argname in _DEFAULT_FIXTURE_NAMES:
            # Its value is the timeout of async fixtures: it cannot be one.
            error = pytest.fail.Exception(
                f"fixture {fixturedef.argname!r} gives the timeout of async fixtures and "
                "tests, so it cannot be async itself: make it a plain def fixture",
                pytrace=False,
            )
            _pytest_compat.cache_fixture_error(fixturedef, request, error)
            raise error
        kwargs = {name: request.getfixturevalue(name) for name in fixturedef.argnames}
        function = _pytest_compat.fixture_function(fixturedef, request)
        label = f"fixture {fixturedef.argname!r}"
        # A lock it takes is held through this fixture (see alt_coop.locks).
        holder = FixtureSetUp(
            fixturedef.argname, fixturedef.scope, request.node.nodeid, hasattr(request, "param")
        )
        if fixturedef.scope != "function":  # a test's teardown checks a function fixture's
            # Added first, it runs last: after the fixture's own teardown and
            # the finalizers it gives its scope's node (which may release it).
            request.node.addfinalizer(functools.partial(_release_left_held_by_fixture, holder))
        token = setting_up.set(holder)
        failed = True
        # Every error is cached as the fixture's, as pytest does: one left
        # uncached (a bad default timeout) would break its next setup.
        try:
            where = _defined_at(request.node, fixturedef)
            timeout = self._timeout(request, where, fixturedef.scope, label)
            if "async_timeout" in kwargs:
                kwargs["async_timeout"] = _own_timeout(request, where, timeout)
            AsyncFinalizers.timed_by(request, timeout)
            called = _call_as_written(function, kwargs)
            if inspect.isasyncgen(called):
                agen = cast(AsyncGenerator[Any, None], called)
                result = self._setup_async_gen(fixturedef, agen, timeout, holder)
            elif inspect.iscoroutine(called):
                result = run(called, timeout, "setup")
            else:  # a wrapper that did not return what it wraps: its value, as in pytest
                result = called
            failed = False
        except _pytest_compat.TEST_OUTCOME as exc:
            if fixturedef.scope != "function" and getattr(exc, "alt_coop_capped", False):
                # Cut short by the cap of the test setting it up, not failed:
                # the tests that wait for it set it up afresh, under their own.
                _pytest_compat.forget_setup(fixturedef)
            else:
                _pytest_compat.cache_fixture_error(fixturedef, request, exc)
            raise
        finally:
            setting_up.reset(token)
            _setup_ended(holder, failed=failed)
        _pytest_compat.cache_fixture_result(fixturedef, request, result)
        # pytest_fixture_setup stops at the first non-None result; a fixture
        # whose value is None would fall through to pytest's own hook.
        return _NONE if result is None else result

    @pytest.hookimpl(trylast=True)
    def pytest_fixture_post_finalizer(self, request: pytest.FixtureRequest) -> None:
        AsyncFinalizers.give_back(request)

    # pytest registers only methods named pytest_*: this one by its specname.
    # Innermost of the wrappers: the others get the fixture's value, None
    # included, not the stand-in for None (see pytest_fixture_setup).
    @pytest.hookimpl(wrapper=True, trylast=True, specname="pytest_fixture_setup")
    def pytest_fixture_setup_wrapper(
        self, fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
    ) -> Generator[None, object, object]:
        __tracebackhide__ = True
        # A wider fixture that a test's body asks for first (with
        # request.getfixturevalue; the body runs in a copy of its fixtures'
        # context) is set up in a copy of its own: what it sets reaches the
        # body and the fixtures' context (for the tests after it), and what
        # the body sets later does not reach its teardown.
        fixtures_context = FIXTURES_CONTEXT.get()
        wider = fixturedef.scope != "function"
        from_body = wider and fixtures_context is not None
        # Set up in a context of its own (from a test's body), or shared (a
        # wider fixture, which a cooperative test may tear down in its own):
        # its teardown must run in its setup's context too, or a context
        # variable token it resets is foreign there.
        own_context = fixtures_context is not None or wider
        asks_request = "request" in fixturedef.argnames  # only then can it addfinalizer
        # Looked up only when needed: most set-ups (a test's own fixtures) need none.
        setup_context = (
            contextvars.copy_context()
            if from_body
            else current_context()
            if own_context or asks_request
            else None
        )
        if asks_request:
            assert setup_context is not None
            AsyncFinalizers(
                request,
                f"fixture {fixturedef.argname!r}",
                setup_context,
                functools.partial(self._fixture_default, fixturedef),
                self._policy,
            )
        # A cooperative test's sync fixture sees the loop stopped, as in a
        # sequential run (see alt_coop._session_loop.loop_seen).
        seen = (
            loop_seen(stopped=not _async_fixture(fixturedef))
            if _session_loop.stopped_for_sync_code()
            else None
        )
        since = _pytest_compat.finalizer_count(fixturedef)
        try:
            if from_body:
                assert setup_context is not None
                with in_context(setup_context):
                    result = yield
            elif seen is not None:
                with seen:
                    result = yield
            else:
                result = yield
        except asyncio.CancelledError:
            # Cancelled from outside (the timeout of the test that asked for
            # it, through this fixture or one it asked for), not failed: left
            # as if never set up, for the next test to set up afresh.
            if fixturedef.cached_result is None:
                _pytest_compat.forget_setup(fixturedef)
            raise
        except KeyboardInterrupt as interrupt:
            # Ctrl-C came as the setup ended (code holding the loop ran on):
            # what it set up and registered a teardown for is torn down.
            if _pytest_compat.finalizer_count(fixturedef) > since:
                _pytest_compat.keep_for_teardown(fixturedef, request, interrupt)
            raise
        if seen is not None:
            _pytest_compat.run_finalizers_by(
                fixturedef, since, functools.partial(_with_loop_seen, seen)
            )
        if own_context:
            assert setup_context is not None
            _pytest_compat.run_finalizers_by(
                fixturedef, since, functools.partial(in_setup_context, setup_context)
            )
        if inspect.iscoroutine(result) or inspect.isasyncgen(result):
            problem = _unawaited.fixture_hiding_async(fixturedef, result)
            if problem is not None:
                _refuse(fixturedef, problem)
        # Set up (pytest cached its value): torn down as its scope ends.
        _runner.meet_interrupt_of_sync_code()
        if from_body:
            assert setup_context is not None and fixtures_context is not None
            _pass_on_from_body(fixturedef, setup_context, fixtures_context)
        return None if result is _NONE else result

    def _setup_async_gen(
        self,
        fixturedef: pytest.FixtureDef[Any],
        agen: AsyncGenerator[Any, None],
        timeout: PhaseTimeout,
        holder: FixtureSetUp,
    ) -> object:
        __tracebackhide__ = True
        name = fixturedef.argname
        timeout.subject = agen
        yielded: list[object] = []
        try:
            value = run(_first_value(agen, name, yielded), timeout, "setup")
        finally:
            # Also when the setup failed after the yield (it swallowed its
            # timeout's cancellation): what it holds is released when its
            # scope ends, as a finalizer added before a setup fails is.
            if yielded:
                teardown = functools.partial(_no_second_value, agen, name)
                run_it = functools.partial(run_teardown, teardown, timeout, current_context())
                fixturedef.addfinalizer(functools.partial(_tear_down, run_it, agen, holder))
        return value

    # -- tests --------------------------------------------------------------

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        # What a cooperative test reports is kept by alt_coop._lane_reports.
        if (
            call.excinfo is not None
            and call.when == "call"
            and _tracebacks.trim_asyncio_frames
            and awaited_test(getattr(item, "obj", None))
        ):
            # Caught inside the test (by a subtest, which reports it here),
            # it never left the test's phase, which would have cut
            # asyncio's frames. (A sync fixture's error keeps them.)
            _tracebacks.drop_asyncio_tails(call.excinfo.value)
        report = yield
        if call.excinfo is not None:
            error = call.excinfo.value
            if hasattr(report, "wasxfail") and (
                # A test written wrong is not an expected failure; nor is a
                # wider fixture's teardown error, which a sequential run gives
                # another test (see TORE_DOWN_FOR_ANOTHER), unless it is
                # pytest.xfail() itself.
                getattr(error, "alt_coop_written_wrong", False)
                or (
                    call.when == "teardown"
                    and item.stash.get(TORE_DOWN_FOR_ANOTHER, False)
                    and not isinstance(error, pytest.xfail.Exception)
                )
            ):
                del report.wasxfail
                report.outcome = "failed"
            notes = getattr(error, "__notes__", None)
            if notes and isinstance(error, pytest.fail.Exception) and not error.pytrace:
                # pytest shows such a failure (an alt_coop timeout's, say) by its
                # message alone: the notes Hypothesis adds (its falsifying
                # example) would be lost.
                report.sections.append(("Notes", "\n".join(map(str, notes))))
        return report

    @pytest.hookimpl(tryfirst=True)
    def pytest_pyfunc_call(self, pyfuncitem: pytest.Function) -> object:
        if self._others.runs_test(pyfuncitem):
            return None  # another plugin's (see alt_coop._other_runners)
        func, debugger = pyfuncitem.obj, None
        traced = _pytest_compat.traced_test(func)  # --trace wrapped it to step into it
        if traced is not None and awaited_test(traced[0]):
            func, debugger = traced
        inner = _hypothesis.async_inner_test(func)  # @given on an async def test
        if inner is None and not awaited_test(func):
            if inspect.isasyncgenfunction(func):
                pytest.fail(
                    f"{pyfuncitem.nodeid} is an async generator; a test must be a plain "
                    "`async def` function that does not yield",
                    pytrace=False,
                )
            return None  # pytest's own (a cooperative one's body ran in a thread)
        __tracebackhide__ = True
        kwargs = _pytest_compat.test_arguments(pyfuncitem)
        request = _pytest_compat.item_request(pyfuncitem)
        timeout = self._timeout(request, pyfuncitem, "function", pyfuncitem.name)
        if "async_timeout" in kwargs:
            kwargs["async_timeout"] = _own_timeout(request, pyfuncitem, timeout)

        def stepped(coro: Coroutine[Any, Any, Any]) -> Coroutine[Any, Any, Any]:
            return coro if debugger is None else stepping_into(debugger, coro)

        if inner is None:
            # A plain wrapper of an async test returns its coroutine, as a rule.
            called = _call_as_written(func, kwargs)
            if inspect.iscoroutine(called):
                called = run(stepped(called), timeout, "call")
            _check_returned(pyfuncitem, called)
            return True

        @functools.wraps(inner)  # Hypothesis names a failing example by it
        def run_example(*args: Any, **example_kwargs: Any) -> object:
            __tracebackhide__ = True
            # The timeout is per example.
            returned = run(stepped(inner(*args, **example_kwargs)), timeout, "call")
            _fail_if_async(pyfuncitem, returned, plain=False)
            return returned  # Hypothesis checks it is None, as for a sync test

        _hypothesis.leave_out_of_explanations()
        with _hypothesis.examples_run_by(func, run_example):
            func(**kwargs)
        return True

    # trylast: the other plugins' wrappers wrap the real body, not the replay.
    @pytest.hookimpl(wrapper=True, trylast=True, specname="pytest_pyfunc_call")
    def pytest_pyfunc_call_in_thread(
        self, pyfuncitem: pytest.Function
    ) -> Generator[None, object, object]:
        """A plain ``def`` test: what it returns is checked (see
        :func:`_called_plain`), and a cooperative one runs in a worker thread,
        so the loop keeps going."""
        __tracebackhide__ = True
        func = pyfuncitem.obj
        if awaited_test(func) or inspect.isasyncgenfunction(func):
            return (yield)
        # pytest's own hook calls the body's stand-in, as it would the test.
        cooperative = _lane_state.CURRENT.get() is not None
        body = _thread_bodies.in_thread(pyfuncitem) if cooperative else func
        pyfuncitem.obj = _plain_stand_in(pyfuncitem, func, body)
        try:
            return (yield)
        finally:
            pyfuncitem.obj = func

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, object, object]:
        # The test body runs in a copy of the fixtures' context: it sees what
        # they set, and what it sets itself does not reach the next test.
        __tracebackhide__ = True
        _session_loop.current_again()
        context = contextvars.copy_context()
        context.run(FIXTURES_CONTEXT.set, current_context())
        was_open = self._loop_open()
        item.stash[BODY_RUNNING] = True
        cancels_before = _runner.sync_cancels_before()
        failed = True
        try:
            with in_context(context):
                result = yield
            failed = False
        finally:
            item.stash[BODY_RUNNING] = False
            _runner.fail_if_sync_code_cancelled(cancels_before, "the test", failed=failed)
        self._still_open(was_open, "this test")
        return result

    def _own_loop_problem(self, item: pytest.Item) -> str | None:
        if self._on_a_running_loop() and _unawaited.unittest_case(item, "IsolatedAsyncioTestCase"):
            return _OWN_LOOP_ON_A_RUNNING_ONE
        return None

    def _on_a_running_loop(self) -> bool:
        """Whether the session runs on an application's running loop, whose
        sync code runs while it runs (``await alt_coop.main``, or nested)."""
        return self._session_loop is not None and self._session_loop.loop.is_running()

    def _loop_open(self) -> bool:
        session_loop = self._session_loop
        return session_loop is not None and not session_loop.loop.is_closed()

    def _still_open(self, was_open: bool, who: str) -> None:
        """Sync code that closes the session loop (``asyncio.get_event_loop()
        .close()``, kept from pytest-asyncio's day) fails where it did it,
        not only in the async code after it."""
        __tracebackhide__ = True
        if was_open and not self._loop_open():
            assert self._session_loop is not None
            raise AltCoopUsageError(
                f"{who} closed {self._session_loop.name}, which must stay open for the whole "
                "session: the async fixtures and tests after it fail. Close only loops a "
                "test or fixture created (alt_coop.Loop, asyncio.new_event_loop())"
            )

    # The defaults of async finalizers, looked up as each is added: seconds,
    # and what a report of them adds.

    def _fixture_default(
        self, fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
    ) -> tuple[float, str]:
        where = _defined_at(request.node, fixturedef)
        return self._finalizer_default(request, where, request.scope)

    def _test_default(self, item: pytest.Function) -> tuple[float, str]:
        return self._finalizer_default(_pytest_compat.item_request(item), item, "function")

    def _collector_default(self, node: pytest.Collector) -> tuple[float, str]:
        # Looked up with the request of the test whose fixture adds the finalizer.
        item = test_item.get()
        if not isinstance(item, pytest.Function):
            return self._defaults.session_default, self._hint(self._defaults.builtin)
        request = _pytest_compat.item_request(item)
        return self._finalizer_default(request, node, _collector_scope(node))

    def _finalizer_default(
        self, request: pytest.FixtureRequest, node: Any, scope: str
    ) -> tuple[float, str]:
        item = test_item.get()
        tearing_down = item is not None and item.stash.get(_TEARING_DOWN, False)
        seconds = self._defaults.seconds(request, node, scope, tearing_down=tearing_down)
        return seconds, self._hint(self._defaults.builtin_for(node, scope))

    @staticmethod
    def _hint(builtin: bool) -> str:
        """What a timeout report adds: where to change alt_coop's own default,
        if that is what applied."""
        return BUILTIN_DEFAULT_HINT if builtin else ""

    def _timeout(
        self, request: pytest.FixtureRequest, node: Any, scope: str, label: str
    ) -> PhaseTimeout:
        seconds = self._defaults.seconds(request, node, scope)
        timeout = PhaseTimeout(seconds, label, self._policy)
        timeout.hint = self._hint(self._defaults.builtin_for(node, scope))
        return timeout


def _own_timeout(request: pytest.FixtureRequest, node: Any, timeout: PhaseTimeout) -> PhaseTimeout:
    """What an async fixture or test asking for ``async_timeout`` gets: its
    own timeout, never a fixture of the user's by that name, which says so."""
    if _pytest_compat.user_fixture_visible(request, "async_timeout", node):
        raise pytest.fail.Exception(
            "fixture 'async_timeout' is alt_coop's: each async fixture and test gets its "
            "own timeout through it, so a fixture of your own by that name would be "
            "ignored. Rename yours; to change timeouts, override default_async_timeout "
            "(or a scoped *_default_async_timeout fixture)",
            pytrace=False,
        )
    return timeout


def _defined_at(node: Any, fixturedef: pytest.FixtureDef[Any]) -> Any:
    """Where a fixture set up for ``node`` (its scope's) looks its default
    timeout up: there, or where it is defined if that is narrower.

    A session fixture defined in a test module or a package's conftest sees
    the default fixtures defined beside it, as pytest would give it them:
    pytest resolves a fixture's arguments from the test that asks for it,
    and only the tests there can.
    """
    baseid = fixturedef.baseid
    if isinstance(node, pytest.Item) or baseid == node.nodeid:
        return node  # the usual case: nothing narrower
    item = test_item.get()
    chain = [] if item is None else item.listchain()
    if node in chain:  # only a node under ``node`` is narrower
        for candidate in chain[chain.index(node) + 1 :]:
            if candidate.nodeid == baseid:
                return candidate
    return node


def _collector_scope(node: pytest.Collector) -> str:
    """The fixture scope ``node`` is torn down with."""
    if isinstance(node, pytest.Class):
        return "class"
    if isinstance(node, pytest.File):
        return "module"
    if isinstance(node, pytest.Session):
        return "session"
    return "package"


def _collector_label(node: pytest.Collector) -> str:
    if isinstance(node, pytest.Session):
        return "the session"
    return f"{_collector_scope(node)} {node.nodeid}"


def _refuse(
    fixturedef: pytest.FixtureDef[Any], problem: str, error: type[Exception] | None = None
) -> NoReturn:
    """Fail this request of the fixture, its error not cached as the
    fixture's: asked for otherwise (as an argument, by a test that runs
    alone, by the tests alt_coop runs, from the test's own code), it must
    still work. A failure saying ``problem``, or an ``error`` saying it."""
    __tracebackhide__ = True
    _pytest_compat.forget_setup(fixturedef)
    if error is not None:
        raise error(problem)
    raise pytest.fail.Exception(problem, pytrace=False)


def _async_fixture(fixturedef: pytest.FixtureDef[Any]) -> bool:
    """Whether ``fixturedef``'s function is async: itself (an async wrapper
    of a plain function too, as pytest sees it), or through a plain wrapper
    (a decorator using functools.wraps), whose call may return the async
    function's coroutine or async generator; not a generator wrapping one,
    which pytest runs as a generator fixture."""
    func = unwrapped(fixturedef.func)
    if _async_function(fixturedef.func):
        # Not one wrapping a generator fixture: awaited, it would hand its
        # tests the generator, its teardown never run (pytest refuses it).
        return not inspect.isgeneratorfunction(func)
    return _async_function(func) and not inspect.isgeneratorfunction(fixturedef.func)


def _async_function(func: object) -> bool:
    """Whether calling ``func`` gives a coroutine or an async generator."""
    return inspect.iscoroutinefunction(func) or inspect.isasyncgenfunction(func)


def _call_as_written(func: Callable[..., Any], kwargs: dict[str, Any]) -> object:
    """Call an async test or fixture, or the plain wrapper of one: a plain
    wrapper's code sees the loop stopped, as in a sequential run, which
    calls it between the loop's runs (one running the coroutine itself with
    ``asyncio.run`` works there, and so in a cooperative run)."""
    __tracebackhide__ = True
    if _async_function(func):
        return func(**kwargs)
    with loop_seen(stopped=True):
        return func(**kwargs)


def _with_loop_seen(seen: loop_seen, finalizer: Callable[[], object]) -> object:
    """Run a fixture's teardown seeing the loop as its setup did."""
    __tracebackhide__ = True
    with seen:
        return finalizer()


def _tear_down(
    run_it: Callable[[], None], agen: AsyncGenerator[Any, None], holder: FixtureSetUp
) -> None:
    """Run an async generator fixture's teardown. Abandoned (still suspended
    after ignoring its timeout's cancellation), its code holds the locks it
    holds at that await: no missing release (see alt_coop.locks)."""
    __tracebackhide__ = True
    try:
        run_it()
    except BaseException:
        if agen.ag_frame is not None:  # type: ignore[attr-defined]
            _teardown_abandoned(holder)
            if agen.ag_running:  # type: ignore[attr-defined]  # stopped inside an await
                _never_closed(agen)
        raise


def _never_closed(agen: AsyncGenerator[Any, None]) -> None:
    """Keep an abandoned async generator fixture from asyncio's attempts to
    close it, which fail: asyncio counts it as running still. Collected,
    it would be closed in a task of asyncio's, whose failure is logged as
    "Task exception was never retrieved" on whatever test runs then; alive
    when the loop shuts down, ``asyncio.run`` would log its failure to close
    it in the application's output (embedded). Out of the loop's set of
    live generators, which asyncio's loops keep as ``_asyncgens`` (checked
    on CPython 3.11 to 3.13; uvloop's is out of reach), it is neither."""
    keep_forever(agen)
    session_loop = _session_loop.current()
    live = getattr(session_loop.loop, "_asyncgens", None) if session_loop is not None else None
    if isinstance(live, weakref.WeakSet):
        live.discard(agen)


#: Why an IsolatedAsyncioTestCase's test cannot run on a running loop.
_OWN_LOOP_ON_A_RUNNING_ONE = (
    "an IsolatedAsyncioTestCase runs each test on an event loop of its own, which cannot "
    "start while the application's loop runs in this thread (await alt_coop.main, or "
    "pytest.main from a coroutine): run these tests with pytest itself, or write them as "
    "async def tests in a plain class, which run on the application's loop"
)


def _debugged(state: object) -> None:
    """A cooperative test entered a debugger: the time at its prompt is not
    its code holding the loop."""
    if isinstance(state, _lane_state.LaneState):
        state.debugged = True


def _pass_on_from_body(
    fixturedef: pytest.FixtureDef[Any],
    setup_context: contextvars.Context,
    fixtures_context: contextvars.Context,
) -> None:
    """What a wider fixture's setup from a test's body set in its own
    context (alt_coop's own variables too: a lock it holds, say) is set in
    the body's and in the test's fixtures' context, where the tests after
    it look, until the fixture is finished."""
    changed = changed_values(contextvars.copy_context(), setup_context, theirs_only=False)
    if not changed:
        return
    for var, value in changed:
        var.set(value)
    tokens = set_in(fixtures_context, changed)
    fixturedef.addfinalizer(functools.partial(reset_in, fixtures_context, tokens))


def _plain_stand_in(
    item: pytest.Function, func: Callable[..., object], body: Callable[..., object]
) -> Callable[..., object]:
    """What pytest's own hook calls for a plain ``def`` test ``func``: its
    ``body``, and what it returned, once checked for an awaitable (pytest
    would say to install an async plugin, or skip the test, and leave a
    coroutine never awaited). It looks like ``func`` (``request.function``
    is it while the body runs)."""

    def stand_in(**kwargs: object) -> object:
        __tracebackhide__ = True
        result = body(**kwargs)
        _fail_if_async(item, result, plain=True)
        return result

    return functools.update_wrapper(stand_in, func)


def _fail_if_async(item: pytest.Function, result: object, *, plain: bool) -> None:
    """Fail ``item`` if it returned a coroutine, another awaitable or an
    async iterable: something to await or iterate that nothing will."""
    __tracebackhide__ = True
    if not (hasattr(result, "__await__") or hasattr(result, "__aiter__")):
        return
    if inspect.iscoroutine(result):
        result.close()  # the failure says it: no "never awaited" warning too
    awaitable = hasattr(result, "__await__")
    what = f"{type(result).__name__!r} object"
    if plain:
        message = (
            f"{item.nodeid} is a plain function that returned {what}, which nothing "
            + ("awaits" if awaitable else "iterates")
            + "; alt_coop awaits only `async def` tests: make the test `async def`, "
            "or have the decorator that wraps it use functools.wraps(func)"
        )
    elif awaitable:
        message = (
            f"{item.nodeid} returned {what} without awaiting it; did you mean "
            "`return await ...`, or no return at all?"
        )
    else:
        message = (
            f"{item.nodeid} returned {what} without iterating it; did you mean to "
            "iterate it with `async for`?"
        )
    pytest.fail(message, pytrace=False)


def _check_returned(item: pytest.Function, result: object) -> None:
    """What pytest's own hook does with what a test returned, for an async test."""
    __tracebackhide__ = True
    _fail_if_async(item, result, plain=False)
    if result is not None:
        # In the words of the pytest running (8.4 changed them).
        warning = pytest.PytestReturnNotNoneWarning(
            f"Expected None, but {item.nodeid} returned {result!r}, which will be an error "
            "in a future version of pytest.  Did you mean to use `assert` instead of `return`?"
            if pytest.version_tuple < (8, 4)
            else f"Test functions should return None, but {item.nodeid} returned "
            f"{type(result)!r}.\nDid you mean to use `assert` instead of `return`?\nSee "
            "https://docs.pytest.org/en/stable/how-to/assert.html#return-not-none for more "
            "information."
        )
        code = getattr(inspect.unwrap(item.function), "__code__", None)
        if code is None:
            warnings.warn(warning, stacklevel=1)
        else:  # pointing at the test, not at alt_coop
            warnings.warn_explicit(warning, type(warning), code.co_filename, code.co_firstlineno)


async def _first_value(agen: AsyncGenerator[Any, None], name: str, yielded: list[object]) -> Any:
    """The value ``agen`` yields, also put in ``yielded``: that it yielded
    counts even when its setup is failed afterwards."""
    __tracebackhide__ = True
    try:
        value = await agen.__anext__()
    except StopAsyncIteration:
        pass  # failed below, not as raised while handling it
    else:
        yielded.append(value)
        return value
    # None of its frames is left to show: where it is written. (This frame
    # shown, pytest does not say all were hidden; pytrace=False prints no line of it.)
    __tracebackhide__ = False
    code = getattr(agen, "ag_code", None)
    where = f"\n{code.co_filename}:{code.co_firstlineno}" if code is not None else ""
    pytest.fail(
        f"async generator fixture {name!r} did not yield a value; a generator fixture must "
        f"yield once (yield None if it has no value){where}",
        pytrace=False,
    )


async def _no_second_value(agen: AsyncGenerator[Any, None], name: str) -> None:
    __tracebackhide__ = True
    try:
        await agen.__anext__()
    except StopAsyncIteration:
        return
    __tracebackhide__ = False  # as in _first_value
    frame = getattr(agen, "ag_frame", None)  # stopped at its second yield, until closed
    where = f"\n{frame.f_code.co_filename}:{frame.f_lineno}: its second yield" if frame else ""
    await agen.aclose()
    pytest.fail(
        f"async generator fixture {name!r} yielded more than once; "
        f"a fixture must yield exactly once{where}",
        pytrace=False,
    )


def _suite_files(session: pytest.Session) -> set[str]:
    """The files of the session's test modules and conftests."""
    modules = {getattr(item, "module", None) for item in session.items}
    modules.update(
        plugin
        for plugin in _loaded_plugins.every(session.config.pluginmanager)
        if (getattr(plugin, "__name__", None) or "").rpartition(".")[2] == "conftest"
    )
    files = {str(item.path) for item in session.items}
    files.update(file for module in modules if (file := getattr(module, "__file__", None)))
    return files
