"""The cooperative scheduler: tests marked ``asyncio_cooperative`` run at once.

Each cooperative test runs pytest's own per-test protocol (setup, call,
teardown, with every plugin's phase hooks) in its own lane, driven by its own
task, so while one test awaits, the others run. Its reports are then handed
to pytest in one burst (logstart, the reports, logfinish), which no other
test can interleave, so the terminal, junitxml and other plugins see one
test at a time, in completion order.

Items run in collection order. A maximal stretch of consecutive cooperative
tests is a *batch*: its tests run concurrently, up to ``max_asyncio_tasks``
at once (a plain ``def`` one with its body in a worker thread). Every other
test (unmarked sync tests, async tests not made cooperative, tests that must
run alone) runs sequentially, between batches, exactly as pytest would.

Tests are admitted into a batch in that order, each once
:mod:`alt_coop._admission` says it may start.

PYTEST_DONT_REWRITE (see alt_coop/__init__.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import signal
import time
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from . import (
    _cancels,
    _delivered,
    _fixture_instances,
    _lane_globals,
    _lane_logging,
    _lane_output,
    _lane_reports,
    _lane_state,
    _lane_warnings,
    _plugin_state,
    _reporting_hooks,
    _run_alone,
    _runner,
    _session_loop,
    _thread_bodies,
    _timeouts,
    _tracebacks,
    _unawaited,
    _uncaught,
)
from ._admission import Admission, Needs
from ._debugger import DebuggerPolicy
from ._garbage import BatchCollection
from ._hypothesis import awaited_test
from ._lanes import LEAVE, Leave, drive, let_go
from ._marks import MARK, SEQUENTIAL_MARK
from ._other_runners import OtherRunners
from ._running_now import Batch, batch_running
from ._session_loop import INTERRUPT_GRACE_SECONDS
from ._setupstate import ConcurrentSetupState, raised_by_wider_teardown
from ._stops import Stops
from .errors import AltCoopError, AltCoopWarning
from .locks import _release_left_held, _time_stuck_waits

#: How long the batch may go on starting tests before running ones get a turn.
ADMISSION_SLICE_SECONDS = 0.001

#: A test's turn holding the loop longer than this may have held back a
#: cancellation of ``alt_coop.main``'s caller (see Scheduler._held).
HELD_BACK_SECONDS = 0.01
#: The most of those a test about to start waits for, one after another.
MOST_HOLDS_WAITED_FOR = 3

#: How long tests given up on have to unwind (see Scheduler._give_up).
GIVE_UP_SECONDS = 1.0


class Stats:
    """What the end-of-run line reports."""

    def __init__(self) -> None:
        self.started = 0  # reported, or cut short with nothing to report
        self.tests = 0  # reported
        self.most_at_once = 0
        self.busy_seconds = 0.0
        self.wall_seconds = 0.0


class Scheduler:
    """Runs the session's items, cooperative ones in concurrent batches."""

    def __init__(
        self,
        session: pytest.Session,
        *,
        all_async: bool,
        max_tasks: int,
        task_timeout: float | None,
        policy: DebuggerPolicy,
        block_threshold: float,
        others: OtherRunners,
    ) -> None:
        self.session = session
        self.config = session.config
        self.all_async = all_async
        self.max_tasks = max_tasks
        self.task_timeout = task_timeout
        self.policy = policy  # whether the cap may cancel a test being debugged
        self.block_threshold = block_threshold
        self._maxfail: int = self.config.getoption("maxfail", 0) or 0  # -x is 1
        self.stats = Stats()
        self.instances = _fixture_instances.FixtureInstances()
        self.setupstate: ConcurrentSetupState | None = None
        #: One-line notices, each with the tests it concerns, in order.
        self.notices: dict[str, list[pytest.Item]] = {}
        self.holds: dict[pytest.Item, float] = {}  # tests that held the loop too long
        self.stops = Stops()
        # A reporting hook of a test's, called as the first stop rules.
        self._log = functools.partial(_reporting_hooks.call, self.stops)
        # The running batch's, each with its test (a test may rename its task).
        self._tasks: dict[asyncio.Task[None], pytest.Item] = {}
        # Whether a test's sync code sees the loop stopped, as in a
        # sequential run of the session (see alt_coop._session_loop.loop_seen).
        self._stops_for_sync_code = False
        self._filtered: set[pytest.Item] = set()  # tests marked filterwarnings
        self._blocks_outside = 0  # see _in_loop_block
        self._told_of_loop_block = False  # see _in_loop_block
        self._after_patches: dict[pytest.Item, str] = {}  # see after_wider_patches
        self._logs = _lane_logging.BatchLogs()  # the running batch's
        self._run_alone = _run_alone.RunAlone(self.config)
        self.instances.pytests_own = _fixture_instances.params_of_other_scopes(session.items)
        self._others = others  # the plugins that run some async tests themselves
        self._lanes_running = 0  # lanes past their start, not yet done with their protocol
        self._holds_settling = 0  # long turns whose held-back callbacks may not have run
        self._holds_ended = 0  # long turns so far (see _held_back_cancelled)
        self._waiting_held_back = 0  # tests about to start, waiting in _held_back_cancelled
        self._session_task: asyncio.Task[Any] | None = None  # the one running the batch
        self._torn_down_all = False  # by the last lane of a run that stops (see _last_of_run)
        #: The tasks of tests whose failure may be to come: a teardown
        #: failed, or a phase raised (see _maxfail_may_be_reached).
        self._failures_to_come: set[asyncio.Task[None]] = set()
        self._last_logged: pytest.Item | None = None  # the last test whose reports were logged
        # The batch gives up on the tests still running after an interrupt's
        # grace (see _give_up), then leaves those that still wait.
        self._giving_up = False
        self._left = False
        #: Ctrl-C again, raised in a test's code that held the loop (see
        #: _stopped): it ends the interrupt's grace, as one raised where the
        #: loop waits does; and what the grace waits on meanwhile.
        self._ctrl_c_again = False
        self._grace_cut: asyncio.Future[None] | None = None
        # The first interrupt raised where each test given up on waited, and
        # how many of its reports were made by then (see _lane).
        self._given_up: dict[_lane_state.LaneState, tuple[KeyboardInterrupt, int]] = {}

    # -- which tests run cooperatively --------------------------------------

    def cooperative(self, item: pytest.Item) -> bool:
        if not isinstance(item, pytest.Function):
            return False
        marks: set[str] = set()
        # The node nearest the test with either mark decides, by the last of
        # them pytest lists on it: a param's comes after its function's, a
        # class's own after its base classes', an outer decorator's last.
        closest, deciding = None, None
        for node, mark in item.iter_markers_with_node():  # one walk, the test's own first
            marks.add(mark.name)
            if mark.name in (MARK, SEQUENTIAL_MARK) and deciding in (None, node):
                deciding, closest = node, mark.name
        marked = closest == MARK
        is_async = awaited_test(item.obj)
        if _unawaited.unittest_case(item):
            # unittest runs its own protocol (IsolatedAsyncioTestCase its own loop).
            if marked or (self.all_async and is_async):
                text = "unittest.TestCase tests run sequentially"
                self.notices.setdefault(text, []).append(item)
            return False
        if not (marked or (self.all_async and is_async)):
            return False
        if closest == SEQUENTIAL_MARK:
            return False
        if self._others.runner_of(item) is not None:
            return False  # another plugin's test (a notice said so)
        reason = self._run_alone.reason(item, marks, is_async)
        if reason is None and self._after_patches:
            reason = self._after_patches.get(item)
        if reason is None and self.instances.pytests_own:
            names = _fixture_instances.uses_any(item, self.instances.pytests_own)
            if names:
                reason = (
                    f"tests using {', '.join(names)} run sequentially: a test gives it a "
                    "param of another scope than its own (an indirect parametrize's scope= "
                    "or, without one, the narrowest of the fixtures it parametrizes), and "
                    "pytest ends its one instance, whichever test uses it then, as that "
                    "scope ends"
                )
        if reason is not None:
            self.notices.setdefault(reason, []).append(item)
            return False
        if "filterwarnings" in marks:
            self._filtered.add(item)
        return True

    # -- the run loop --------------------------------------------------------

    def run(self) -> None:
        session = self.session
        items = session.items
        # The session's own entry, and those of any it runs inside.
        self._blocks_outside = _session_loop.loops_made_current()
        self.setupstate = ConcurrentSetupState.installed(session)
        self.setupstate.prepare = self._install_instances
        self._after_patches = _run_alone.after_wider_patches(items)
        flags = [self.cooperative(item) for item in items]
        # An item listed twice (by a plugin) would run twice at once, sharing
        # its per-test state: each of its runs is sequential.
        seen: set[pytest.Item] = set()
        repeated: set[pytest.Item] = set()
        for item in items:
            (repeated if item in seen else seen).add(item)
        if repeated:
            flags = [
                flag and item not in repeated for flag, item in zip(flags, items, strict=True)
            ]
            self.notices["tests listed more than once run sequentially"] = [
                item for item in items if item in repeated
            ]
        for text, (first, *then) in sorted(self.notices.items()):
            _lane_warnings.notice(self.config, text, first, then=then)
        start = 0
        with _fixture_instances.setup_once(self.instances), _lane_reports.kept(self.config):
            while start < len(items):
                end = start
                while end < len(items) and flags[end] == flags[start]:
                    end += 1
                if _runner.stop_if_main_cancelled(session):
                    break  # before a batch starts (a sequential test: below)
                if flags[start] and self._in_loop_block(items[start]):
                    # One at a time, and looked at again after each.
                    end = start + 1
                    self._run_sequential(items, start, end)
                elif flags[start] and not _loop_closed():
                    self._run_batch(
                        Batch(items[start:end], items[end] if end < len(items) else None)
                    )
                    self.instances.context.give_outside()
                else:
                    self._run_sequential(items, start, end)
                if self._stopping():
                    self._tear_down_left()
                    break
                start = end
        if self.stops.exit is not None:
            raise self.stops.exit
        if session.shouldfail:
            raise session.Failed(session.shouldfail)
        if session.shouldstop:
            raise session.Interrupted(session.shouldstop)

    def _in_loop_block(self, item: pytest.Item) -> bool:
        """Whether an ``alt_coop.Loop`` block a wider fixture entered runs
        (for a sequential test): its loop must stop to close as the fixture
        ends, in the teardown of its scope's last test, which cannot be while
        a batch runs on it; and the tests after its scope must not start
        before it ends (in a ``Loop(new_loop=False)``, they would find no
        loop current). Its cooperative tests run one by one, on its loop."""
        if _session_loop.loops_made_current() == self._blocks_outside:
            return False
        if not self._told_of_loop_block:
            # Else told at the next test it concerns, whose marks may let it through.
            self._told_of_loop_block = _lane_warnings.notice(
                self.config,
                "cooperative tests run one by one while an alt_coop.Loop block runs (the "
                "tests after its scope must not start before it ends)",
                item,
            )
        return True

    def _tear_down_left(self) -> None:
        """The run stops with fixtures still up: the stop came only as the
        last test's reports were logged (a plugin's logreport hook set
        ``shouldstop``), after its teardown. Had the test seen it, as a
        sequential test sees a stop at its call's report, its teardown would
        have torn everything down; left to pytest's session teardown, an
        error there crashes pytest. It is reported at that test's teardown."""
        setupstate, item = self.setupstate, self._last_logged
        if setupstate is None or item is None or not setupstate.collectors:
            return

        def tear_down() -> None:
            __tracebackhide__ = True
            setupstate.teardown_exact(None)

        call = pytest.CallInfo.from_call(
            tear_down, "teardown", reraise=(pytest.exit.Exception, KeyboardInterrupt)
        )
        if call.excinfo is not None:
            report = item.ihook.pytest_runtest_makereport(item=item, call=call)
            item.ihook.pytest_runtest_logreport(report=report)

    def _install_instances(self, item: pytest.Item) -> None:
        state = _lane_state.CURRENT.get() or _lane_state.LaneState(item)
        if getattr(item, "execution_count", 1) > 1:
            # A re-run: pytest-rerunfailures counts the attempts on the item,
            # and retries the fixtures that failed. It clears their errors on
            # pytest's fixture definitions; these are alt_coop's instances.
            self.instances.forget_errors(item, state)
        self.instances.install(item, state)

    def _run_sequential(self, items: Sequence[pytest.Item], start: int, end: int) -> None:
        for index in range(start, end):
            item = items[index]
            if index > start and _runner.stop_if_main_cancelled(self.session):
                return
            self.instances.install(item, _lane_state.LaneState(item))
            assert self.setupstate is not None
            self.setupstate.begin(item)
            nextitem = items[index + 1] if index + 1 < len(items) else None
            self._last_logged = item
            item.config.hook.pytest_runtest_protocol(item=item, nextitem=nextitem)
            if self.session.shouldfail or self.session.shouldstop:
                return

    def _run_batch(self, batch: Batch) -> None:
        items = batch.items
        _thread_bodies.lock_temporary_directories(self.config)
        started = time.perf_counter()
        session_loop = _session_loop.current()
        self._stops_for_sync_code = session_loop is not None and session_loop.stops_for_sync_code
        sigint_handler = signal.getsignal(signal.SIGINT)
        with (
            _lane_globals.per_test_globals(self.config) as turn_globals,
            _lane_logging.logs_per_test(self.config) as self._logs,
            _lane_warnings.warnings_per_test(self.config) as warnings_per_test,
            _uncaught.uncaught_per_test(self.config),
            BatchCollection(min(len(items), self.max_tasks)) as collection,
            _session_loop.tasks_made_seeing_it_run(session_loop.loop)
            if session_loop is not None and self._stops_for_sync_code
            else contextlib.nullcontext(),
            # Around the whole run, its last turns too, after the batch's
            # work ended (a task of the last test failing then).
            self._loop_errors_to_their_test(session_loop),
        ):
            try:
                turn_globals.record(warnings_per_test)  # what the set-up installed is the batch's
                _runner.run(self._batch(batch, collection, turn_globals), None, alone=False)
            except KeyboardInterrupt as interrupt:
                session_loop = _session_loop.current()
                stops = self.stops
                if stops.error_came_first:
                    pass  # raised below, with no interrupt as its context
                elif (
                    session_loop is not None
                    and interrupt is session_loop.raised_into_loop
                    and not session_loop.raised_by_ctrl_c(interrupt)
                ):
                    # A task's or callback's own, raised out of the loop: the
                    # tests it cut short met only the batch stopping.
                    raise stops.exit or interrupt  # noqa: B904
                else:
                    # The batch's own (or a second Ctrl-C's, raised where the loop
                    # waited) names no line of the user's; a test's does, or the
                    # line of sync code Ctrl-C came during (which a test that
                    # met the interrupt where it waited for the loop does not).
                    in_sync_code = session_loop and session_loop.interrupt_in_sync_code()
                    met = stops.interruption
                    if in_sync_code and not getattr(met, _runner.CAME_DURING_SYNC_CODE, False):
                        met = in_sync_code  # where the run was, whichever test met it first
                    raise stops.exit or met or in_sync_code or interrupt  # noqa: B904
            except SystemExit as stop:
                # Raised out of the loop by a task, a callback or a signal
                # handler, none of the tests' own code: which test's it is,
                # nothing tells.
                raise self.session.Interrupted(
                    f"{stop!r} was raised into the event loop by a task, a callback or a "
                    "signal handler during a cooperative batch; the tests running were cut "
                    "short. Mark the test that raises it asyncio_sequential"
                ) from stop
            except asyncio.CancelledError:
                # Not an interrupt of alt_coop's: a test cancelled the task
                # the batch runs on, cancelling every task but its own, say.
                # Taken back, the batch could deadlock with a test awaiting
                # the task it cancelled; stopped, it reports what finished.
                raise self.session.Interrupted(
                    "a cooperative test cancelled the task alt_coop runs the batch on "
                    "(cancelling every task but its own?); the tests it cancelled failed, "
                    "the others running were cut short. Cancel only your own tasks, or mark "
                    "that test asyncio_sequential"
                ) from None
            except BaseException as error:
                if (
                    session_loop is None
                    or error is not session_loop.raised_into_loop
                    or isinstance(error, pytest.exit.Exception)  # stops the run as it says
                ):
                    raise
                # Raised out of the loop's wait by a signal handler (one a
                # test installed with signal.signal; a pytest.fail() too):
                # which test's it is, nothing tells, and the batch's work was
                # stopped with it.
                raised = f"{type(error).__name__}({str(error)!r})"  # pytest's outcomes too
                raise self.session.Interrupted(
                    f"{raised} was raised into the event loop by a signal handler during a "
                    "cooperative batch; the tests running were cut short. Mark the test that "
                    "installs it asyncio_sequential"
                ) from error
            finally:
                if self.stops.interrupted:
                    # Its per-test state ends here: a lane still suspended
                    # (a third Ctrl-C cut the give-up short) is never resumed,
                    # by a session teardown's turns of the loop, say.
                    self._giving_up = self._left = True
                self.stats.wall_seconds += time.perf_counter() - started
                self._failures_to_come.clear()  # a lane given up on never ends
                self._warn_about_holds()
                if session_loop is not None:
                    session_loop.take_back_sigint(sigint_handler)
        ended = self.stops.after_batch()
        if ended is not None:
            raise ended

    @contextlib.contextmanager
    def _loop_errors_to_their_test(
        self, session_loop: _session_loop.SessionLoop | None
    ) -> Iterator[None]:
        if session_loop is None:
            yield
            return
        with (
            _lane_logging.loop_errors_logged_for_their_test(session_loop.loop),
            # In front: those are no errors to log.
            _delivered.outcomes_to_their_test(session_loop.loop, self.config),
        ):
            yield

    async def _batch(
        self,
        tests: Batch,
        collection: BatchCollection,
        turn_globals: _lane_globals.TurnGlobals,
    ) -> None:
        items = tests.items
        loop = asyncio.get_running_loop()
        self._session_task = asyncio.current_task()  # alt_coop.main's, say
        changed = asyncio.Event()
        tasks = self._tasks
        assert self.setupstate is not None
        self.setupstate.last_of_run = self._last_of_run
        self.setupstate.finalizer_failed = self._teardown_failing
        turn_due = 0.0
        admission = Admission(items, self.max_tasks, self.setupstate)
        in_grace = False  # waiting for the tests still running after an interrupt
        with batch_running(tests, changed.set):  # each test's context is a copy of this one
            try:
                for item in items:
                    needs = admission.needs_of(item)
                    # A run that stops starts no further test: it breaks out below.
                    while not self._stopping() and (
                        self._maxfail_may_be_reached()
                        or not admission.may_start(needs, len(tasks))
                    ):
                        if not tasks:  # nothing running could ever let it start
                            self.stops.error = AltCoopError(
                                f"alt_coop could not start {item.nodeid}: with no test "
                                "running, its fixtures' instances or collectors are still "
                                "held for others. This is a bug of alt_coop's: please report "
                                "it; mark the tests involved asyncio_sequential meanwhile"
                            )
                            break
                        collection.ramped_up()
                        changed.clear()
                        _time_stuck_waits(
                            tasks,
                            _HELD_FOR_A_REPORT
                            if self._maxfail_may_be_reached()
                            else _CANNOT_START,
                        )
                        await changed.wait()
                    if self._stopping():
                        break
                    admission.admit(needs)
                    try:
                        task = self._start(loop, item, turn_globals)
                    except Exception as error:  # an application's task factory failed, say
                        admission.release(needs)
                        self.stops.error = error  # raised once the running tests are done
                        break
                    _cancels.made_here(task)
                    tasks[task] = item
                    task.add_done_callback(
                        functools.partial(
                            _test_done, self, admission, needs, tasks, changed, collection
                        )
                    )
                    # Let the tests already running take their turn (timers that
                    # are due, results that arrived) every millisecond or so of
                    # starting tests, so a large batch ramping up does not starve
                    # them; a turn of the loop per start cost more than it gave.
                    if time.perf_counter() >= turn_due:
                        await asyncio.sleep(0)
                        turn_due = time.perf_counter() + ADMISSION_SLICE_SECONDS
                collection.ramped_up()
                while tasks and not self.stops.interrupted:
                    changed.clear()
                    _time_stuck_waits(tasks, _STOPPING if self._stopping() else _NONE_LEFT)
                    await changed.wait()
                if tasks:  # a test met an interrupt, which cancelled the others
                    in_grace = True
                    await self._grace(tasks)
            except asyncio.CancelledError as error:
                # Ctrl-C, or the task running pytest was cancelled: cancel every
                # running test once, give them a bounded time to clean up
                # (once: Ctrl-C again during that time ends it). A test may
                # have met this Ctrl-C already (its sync code held the loop as
                # it came), and the batch stopped for it: the grace is yet to come.
                batch = asyncio.current_task()
                if (
                    batch is None
                    or self.stops.interrupted
                    or _cancels.met_an_interrupt(batch, error)
                ):
                    self._interrupt_all()
                    if tasks and not in_grace:
                        await self._grace(tasks)
                    raise
                # Not alt_coop's interrupt: a test cancelled every task but its
                # own, this one among them. The tests it cancelled fail as any
                # test another cancelled does, given the time to; the others
                # are cut short, and the batch stops.
                batch.uncancel()
                self._interrupt_all(spare_cancelled=True)
                await _grace_despite_cancels(batch, tasks)
                raise
            finally:
                if tasks:
                    await self._give_up(tasks)

    async def _grace(self, tasks: dict[asyncio.Task[None], pytest.Item]) -> None:
        """Wait for the interrupted ``tasks`` to end, for the interrupt's
        grace at most, or until Ctrl-C again (see :meth:`_stopped`). One
        callback per test, not a wait per test ending: thousands may run."""
        pending = [task for task in tasks if not task.done()]
        if not pending or self._ctrl_c_again:
            return
        loop = asyncio.get_running_loop()
        self._grace_cut = over = loop.create_future()
        left = len(pending)

        def one_done(task: asyncio.Task[None]) -> None:
            nonlocal left
            left -= 1
            if not left:
                _session_loop.resolve(over)

        timer = loop.call_later(INTERRUPT_GRACE_SECONDS, _session_loop.resolve, over)
        for task in pending:
            task.add_done_callback(one_done)
        try:
            await over
        finally:
            timer.cancel()
            self._grace_cut = None
            for task in pending:
                task.remove_done_callback(one_done)

    def _start(
        self,
        loop: asyncio.AbstractEventLoop,
        item: pytest.Item,
        turn_globals: _lane_globals.TurnGlobals,
    ) -> asyncio.Task[None]:
        """The task that runs ``item``'s protocol in a lane of its own."""
        state = _lane_state.LaneState(item)
        lane = drive(
            self._lane,
            state,
            context=contextvars.copy_context(),
            held=functools.partial(self._held, turn_globals, state),
            resumed=functools.partial(self._resumed, turn_globals, state),
            stops_the_loop=self._stops_for_sync_code,
        )
        # The task's own context names its test too: what asyncio reports
        # about one of its steps (a slow one, in debug mode) is the test's.
        task_context = contextvars.copy_context()
        task_context.run(_lane_state.CURRENT.set, state)
        try:
            # Named by the test: what a warning about it left running shows.
            return task_context.run(loop.create_task, lane, name=item.nodeid)
        except BaseException:
            lane.close()
            raise

    def _teardown_failing(self) -> None:
        """A finalizer of the calling lane's teardown raised (see _maxfail_may_be_reached)."""
        state = _lane_state.CURRENT.get()
        if state is not None:
            self._failure_to_come(state)

    def _failure_to_come(self, state: _lane_state.LaneState) -> None:
        if self._maxfail and state.task is not None:
            self._failures_to_come.add(state.task)

    def _maxfail_may_be_reached(self) -> bool:
        """Whether a failure may reach ``--maxfail`` that is not counted yet:
        a teardown that failed, whose report pytest makes once every finalizer
        has run (its fixture closing a server, say), or a phase that raised,
        whose report comes after the loop's last turn for it (see
        alt_coop._runner._last_turn). No test starts until then, as none would
        in a sequential run; nor is one dropped, should the report be no
        failure after all (an ``xfail`` mark's, a skip)."""
        # Running ones only: a task done has no report to come (nor would
        # waiting for it wait).
        pending = sum(not task.done() for task in self._failures_to_come)
        return pending > 0 and self._maxfail <= self.session.testsfailed + pending

    def _last_of_run(self) -> bool:
        """Whether the calling lane, tearing down, is the last of a run that
        stops after it: it then tears down everything left, as pytest's last
        item does, and no test admitted meanwhile starts after it."""
        if self._lanes_running == 1 and self._stopping():
            self._torn_down_all = True
        return self._torn_down_all

    def _warn_about_holds(self) -> None:
        """Name the tests that held the loop (known only once their lane is done)."""
        for item, seconds in self.holds.items():
            warning = AltCoopWarning(
                f"alt_coop: {item.nodeid} held the loop for {seconds:.2f}s at a stretch, delaying "
                "every other cooperative test; await, or run blocking work in a thread"
            )
            _lane_warnings.record_notice(self.config, warning, item, log=self._log)
        self.holds.clear()

    def _held(
        self,
        turn_globals: _lane_globals.TurnGlobals,
        state: _lane_state.LaneState,
        seconds: float,
    ) -> None:
        """``drive`` tells a test's turn held the loop for ``seconds``."""
        if self._left:
            return  # the batch's per-test globals are gone
        turn_globals.turn_ended(state)  # the next turn may be another test's
        self._logs.turn_ends_or_starts()
        if state.failing_turn:
            self._failure_to_come(state)
        if state.task is None:
            # Its protocol is over, with no next turn to give its own
            # sys.last_value (its failure, its frames) back to. A cancelled
            # timer of its (an asyncio.wait_for's) keeps its context, and
            # the state with it, until the timer's own time.
            state.own_last_failure = None
        item = state.item
        if seconds > HELD_BACK_SECONDS and _cancels.main_running():
            # What the loop held back meanwhile (an application's timeout
            # coming due, its Ctrl-C handler) may cancel alt_coop.main's
            # caller; the tests whose tasks the batch started already must
            # not start before the loop runs it (see _lane). It has run
            # HELD_BACK_TURNS turns after this one, when the settling ends:
            # a test starting before waits as many turns itself, and one
            # starting after finds the caller cancelled.
            self._holds_settling += 1
            self._holds_ended += 1
            asyncio.get_running_loop().call_soon(self._hold_settling, _cancels.HELD_BACK_TURNS - 1)
        seconds -= state.reporting_seconds  # the hooks' (a slow plugin's), not its code's
        if (
            seconds > self.block_threshold
            and seconds > self.holds.get(item, 0.0)
            and not state.debugged  # the time at the prompt is not its code's
        ):
            self.holds[item] = seconds

    def _held_back_cancelled(self) -> bool:
        """Let the loop run what the long turns before this test's start
        held back (see _held): True if that cancelled this test's task.
        Another test's long turn that ended meanwhile (as this one waited
        for a short one's, the first turns of others) held back callbacks
        of its own: this test waits for those too, a few times at most, so
        that tests holding the loop turn after turn cannot keep it from
        starting."""
        self._waiting_held_back += 1
        try:
            for _ in range(MOST_HOLDS_WAITED_FOR):
                ended = self._holds_ended
                if _runner.run(_cancels.held_back_callbacks_run(), None):
                    return True
                if self._holds_ended == ended:
                    break
            return False
        finally:
            self._waiting_held_back -= 1

    def _hold_settling(self, turns: int) -> None:
        if turns:
            asyncio.get_running_loop().call_soon(self._hold_settling, turns - 1)
        else:
            self._holds_settling -= 1

    def _resumed(
        self, turn_globals: _lane_globals.TurnGlobals, state: _lane_state.LaneState
    ) -> BaseException | Leave | None:
        """``drive`` is about to resume a test's lane: see :meth:`_give_up`."""
        if self._left:
            return LEAVE
        turn_globals.turn_starts(state)
        self._logs.turn_ends_or_starts()
        if not self._giving_up or state in self._given_up:
            return None  # once: its clean-up then runs, until the batch leaves it
        interrupt = _runner.new_interrupt()
        self._given_up[state] = (interrupt, len(state.reports))
        return interrupt

    async def _give_up(self, tasks: dict[asyncio.Task[None], pytest.Item]) -> None:
        """The tests still running after an interrupt's grace (a second Ctrl-C
        ends it) are stopped where they wait, by an interrupt raised there:
        their ``finally`` blocks run, and their protocol unwinds, tearing
        nothing down (the session's teardown does, as for any test cut
        short) and reporting only what they finished before (a call that
        ended before the interrupt, say). Those that wait on even so are left where
        they wait, never resumed, and named: pytest goes on to tear the
        session down, and their per-test state ends with the batch."""
        self._giving_up = True
        # Not those done already (their reports are in), whose done callbacks
        # have yet to take them out of ``tasks``; each with its test, as those
        # that end meanwhile leave ``tasks``.
        running = {
            task: item
            for task, item in sorted(tasks.items(), key=lambda pair: pair[1].nodeid)
            if not task.done()
        }
        if not running:
            self._left = True
            return
        names = ", ".join(item.nodeid for item in running.values())
        message = (
            f"alt_coop stopped waiting for {len(running)} cooperative test(s) after the "
            f"interrupt, and interrupted them where they waited: {names}"
        )
        try:
            for task in running:
                # Not passed on to a task its test awaits, which had the
                # interrupt's cancellation and goes on: a second one would
                # cut its clean-up short.
                let_go(task)
                _cancels.cancel(task, "alt_coop: given up on after the interrupt")
            await asyncio.wait(running, timeout=GIVE_UP_SECONDS)
        finally:
            self._left = True
            left = [item for task, item in running.items() if not task.done()]
            if left:
                message += (
                    "; these went on waiting, and were left where they waited: "
                    + ", ".join(item.nodeid for item in left)
                )
            for item in left:
                # Never resumed, they would never let go: the session's
                # teardowns may wait for their locks.
                _release_left_held(item, cut_short=True, abandoned=True)
            for state, (interrupt, _) in self._given_up.items():
                if state.task is not None and not state.task.done():
                    # Left where it waits, having caught the interrupt raised
                    # there: pytest names the line that interrupt met.
                    where = _tracebacks.last_user_entry(interrupt.__traceback__)
                    if where is not None:
                        self.stops.note_interruption(_runner.new_interrupt().with_traceback(where))
            self._given_up.clear()  # their tracebacks hold the tests' frames
            # Shown as the first of those tests'.
            first = next(iter(running.values()))
            _lane_warnings.record_notice(
                self.config, AltCoopWarning(message), first, log=self._log
            )

    def _stopping(self, own_failures: int = 0) -> bool:
        """Whether the run stops; for a test stopping it, whether it stopped
        already, less that test's ``own_failures`` (in a sequential run, a
        stop in its teardown comes before -x stops the run after it)."""
        session = self.session
        failed = session.testsfailed - own_failures
        return bool(
            # pytest's --maxfail stop that its own failures made is not another's.
            (session.shouldfail and not (own_failures and failed < self._maxfail))
            or session.shouldstop
            or self.stops.any()
            # pytest stops at the failure that reaches --maxfail once its
            # reports are logged, which for a cooperative test is after its
            # teardown; its failures are counted as they happen (see
            # alt_coop._lane_reports), so none starts meanwhile.
            or 0 < self._maxfail <= failed
        )

    # -- one test, in its own lane -----------------------------------------

    def _lane(self, state: _lane_state.LaneState) -> None:
        item = state.item
        batch = self._session_task
        if (
            # A test started after the settling ended waits behind those
            # started during it (as on a loaded machine, where the batch lets
            # the loop turn between starts), or it would start before them,
            # before what one of them holds back was run.
            ((self._holds_settling or self._waiting_held_back) and self._held_back_cancelled())
            or _cancels.caller_cancelled_since_start(batch)
            or (batch is not None and _cancels.interrupt_pending(batch))
        ):
            # alt_coop.main's caller was cancelled, or Ctrl-C came (while
            # another test held the loop, say; its batch is yet to see it), as
            # no test starts after Ctrl-C in a plain run.
            return
        # Admitted as another test's teardown failed; and another may fail
        # while it waits, that one's report to come after the first's.
        while self._maxfail_may_be_reached() and not self._stopping():
            _runner.run(_failures_to_come_reported(self._failures_to_come), None)
        if self._stopping() or self._torn_down_all:
            return  # stopped (-x, --maxfail) between its admission and its first turn
        _lane_state.CURRENT.set(state)
        _plugin_state.fresh_per_test()
        self.instances.install(item, state)
        assert self.setupstate is not None
        self.setupstate.begin(item)
        task = state.task = asyncio.current_task()
        cap = None
        if self.task_timeout is not None and task is not None:
            cap = _timeouts.TaskCap(task, self.task_timeout, self.policy)
        self._lanes_running += 1
        self.stats.started += 1
        self.stats.most_at_once = max(self.stats.most_at_once, self._lanes_running)
        broken: Exception | None = None  # a hook raised inside its protocol
        stopped: BaseException | None = None  # KeyboardInterrupt or pytest.exit()
        try:
            try:
                with (
                    _lane_warnings.marked_filters(item, state)
                    if item in self._filtered
                    else contextlib.nullcontext()
                ):
                    reports = _lane_globals.runtestprotocol(item, log=False, nextitem=None)
            except (KeyboardInterrupt, pytest.exit.Exception) as stop:
                stopped = stop
            if stopped is not None:
                # Out of the handler: a teardown error it makes is no error
                # "during the handling of" an interrupt raised in alt_coop's frames.
                reports = self._stopped(item, state, stopped)
                del stopped  # its traceback holds this frame
        except Exception as error:
            # Another plugin's hook (its makereport, say) raised: pytest
            # would have logged the reports made before, as each was made,
            # then stopped with an internal error (see _test_done).
            broken, reports = error, state.reports
        finally:
            # Its reports, logged below, count its failures again.
            self.session.testsfailed -= state.failures_counted
            if task is not None:
                self._failures_to_come.discard(task)
            state.failures_counted = 0
            self._lanes_running -= 1
            state.task = None
            self.setupstate.end()
            if cap is not None:
                cap.stop()
            # What its last phase could not report, pytest reports later.
            _uncaught.hand_over(state, test_over=True)
            self._logs.forget(state)
        if self.stops.interrupted and _lane_state.outlived_interrupts:
            outlived = _lane_state.outlived_interrupts.pop(state, None)
            if outlived is not None:  # its code went on past the interrupt, to an outcome
                self.stops.note_interruption(outlived)
        if self._giving_up:  # see _give_up
            given_up, made = self._given_up.get(state, (None, len(reports)))
            if given_up is not None:
                # Its protocol may have ended all the same (the interrupt
                # became its timeout's failure, say): that interrupt names its line.
                self.stops.note_interruption(given_up)
            reports = _results(reports[:made])  # what it finished before counts
            if broken is not None:
                return  # as for Ctrl-C's: the interrupt, not the hook's error, ends the run
        # A reporting hook (a conftest's, say) may stop the run, as it would
        # a sequential one (see alt_coop._reporting_hooks); a warning's hook
        # too. Out of the task, such a stop would leave the loop, an
        # application's under alt_coop.main.
        # An exit is noted here, not by _test_done a turn later, where a stop
        # of a test reported in the same turn would come first.
        try:
            if reports or broken is not None:
                self._report(item, state, reports, broken)
            else:  # cut short with no result: its warnings still, as pytest's plugin does
                _lane_warnings.report_warnings(state, self._log)
        except KeyboardInterrupt as interrupt:
            if _reporting_hooks.ctrl_c_again(interrupt):
                raise  # out of the loop, where the batch's wait meets it
            if not self.stops.any():
                self._interrupt(interrupt)
        except pytest.exit.Exception as exit_:
            if not self.stops.any():
                self.stops.exit = exit_  # as a test's own: a later Ctrl-C does not replace it
        except SystemExit as exit_:
            if not self.stops.any():
                self.stops.error = exit_  # raised after the batch: pytest's internal error

    def _report(
        self,
        item: pytest.Item,
        state: _lane_state.LaneState,
        reports: list[pytest.TestReport],
        broken: Exception | None,
    ) -> None:
        """Log ``item``'s reports, in one burst, with no switch to another
        lane inside: pytest's reporters see it from start to finish on its own."""
        ihook = item.ihook
        # Counted as reported first: a hook may stop the run at one of its reports.
        self.stats.tests += 1
        self.stats.busy_seconds += sum(report.duration for report in reports)
        self._last_logged = item
        started = time.perf_counter()
        try:
            self._log(ihook.pytest_runtest_logstart, nodeid=item.nodeid, location=item.location)
            for shown, report in enumerate(reports):
                if state.terminal_lines:
                    _lane_output.show_terminal_lines(state, shown)
                self._log(ihook.pytest_runtest_logreport, report=report)
            if state.terminal_lines:
                _lane_output.show_terminal_lines(state, len(reports))
            if broken is not None:
                raise broken
            self._log(ihook.pytest_runtest_logfinish, nodeid=item.nodeid, location=item.location)
        finally:
            # After logfinish, as pytest's warnings plugin hands them over,
            # even when a hook raised.
            _lane_warnings.report_warnings(state, self._log)
            state.reporting_seconds = time.perf_counter() - started

    def _stopped(
        self,
        item: pytest.Item,
        state: _lane_state.LaneState,
        stop: BaseException,
    ) -> list[pytest.TestReport]:
        """An interrupt or ``pytest.exit()`` ended ``item``'s protocol: its
        reports so far (see :meth:`_lane`)."""
        session_loop = _session_loop.current()
        if session_loop is not None and session_loop.raised_by_ctrl_c(stop):
            self._ctrl_c_again = True  # in the test's code, which held the loop
            if self._grace_cut is not None:
                _session_loop.resolve(self._grace_cut)
        if self._giving_up:  # see _give_up: nothing is torn down here
            if isinstance(stop, KeyboardInterrupt):
                self.stops.note_interruption(stop)  # the line pytest names, if the first
            return state.reports
        # The first stop ends the run: in a sequential run, no test runs
        # after it (-x's, pytest.exit()'s, an interrupt's) to stop it again.
        # Ctrl-C's comes on top of any, as it would.
        first = not self._stopping(state.failures_counted)
        # Raised tearing down a wider fixture, it is what pytest would raise
        # tearing down at the end of a run that another test stopped.
        wider = raised_by_wider_teardown(stop)
        if not isinstance(stop, KeyboardInterrupt):
            self.stops.test_exited(stop, first=first, wider=wider)
        elif first or self.stops.interrupted or wider:
            self._interrupt(stop)
        try:
            return self._cut_short(item, state)
        except KeyboardInterrupt as again:  # Ctrl-C again: it must not leave the task
            self._interrupt(again)
        except pytest.exit.Exception as teardown_exit:
            # pytest tears a test it interrupted down at the session's end,
            # which an exit there ends with its code and message: so does
            # this one, torn down here at once (see Plugin.pytest_sessionfinish).
            self.stops.teardown_exited(teardown_exit)
        return _results(state.reports)

    def _interrupt(self, interruption: KeyboardInterrupt) -> None:
        """A test met an interrupt (Ctrl-C's, or its own ``KeyboardInterrupt``):
        the batch stops, as a sequential run would."""
        self.stops.note_interruption(interruption)
        self._interrupt_all()  # a test's own: the others are cancelled too

    def _interrupt_all(self, *, spare_cancelled: bool = False) -> None:
        """Stop the batch: cancel each running test once, the caller's own
        aside, and those with a cancellation pending if ``spare_cancelled``.
        A runner's shutdown cancelled every task already: that cancellation
        is each test's interrupt, and none is sent on top of it."""
        if not self.stops.interrupt():
            return
        current = asyncio.current_task()
        if any(
            task is not None and _cancels.shut_down(task) for task in (self._session_task, current)
        ):
            return
        for task in self._tasks:
            if (
                task is not current
                and not (spare_cancelled and task.cancelling())
                and not _cancels.came_during(task)[0]  # interrupted once already
            ):
                _cancels.interrupt(task, "interrupted")

    def _cut_short(
        self, item: pytest.Item, state: _lane_state.LaneState
    ) -> list[pytest.TestReport]:
        """An interrupt cut ``item``'s protocol short: tear its fixtures down
        here, at once with the other interrupted tests rather than one by one
        at the end of the session, and return its results, if it had any."""
        setupstate = self.setupstate
        assert setupstate is not None
        try:
            if setupstate.holds_item():
                # Only what the end of the session would do for it: the phase
                # hooks of its interrupted phase have run their course already.
                call = pytest.CallInfo.from_call(
                    lambda: setupstate.teardown_exact(None),
                    "teardown",
                    reraise=(KeyboardInterrupt, pytest.exit.Exception),
                )
                if call.excinfo is not None:  # a teardown error is a result of its own
                    try:
                        item.ihook.pytest_runtest_makereport(item=item, call=call)
                    except Exception:
                        if state.reports:
                            raise  # a plugin's own error: an internal error, as in pytest
                        # Its setup, cut short, has no report, which a plugin's
                        # hook may count on (pytest-rerunfailures'): pytest's
                        # own report, or the error would be lost.
                        state.reports.append(pytest.TestReport.from_item_and_call(item, call))
        finally:
            # Cut short between its acquire() and release(): the teardowns of
            # the tests still running may wait for the lock.
            _release_left_held(item, cut_short=True)
        return _results(state.reports)

    def summary_line(self) -> str | None:
        stats = self.stats
        if not stats.started:
            return None
        cut_short = stats.started - stats.tests
        return (
            f"alt_coop: {stats.started} cooperative test{'s' if stats.started != 1 else ''}"
            f"{f' ({cut_short} cut short)' if cut_short else ''}, "
            f"at most {stats.most_at_once} at once, "
            f"{stats.busy_seconds:.2f}s of test time in {stats.wall_seconds:.2f}s"
        )


def _results(reports: list[pytest.TestReport]) -> list[pytest.TestReport]:
    """The reports of a test cut short, if they say anything: a passed
    setup is no result, the test itself having been cut short."""
    if all(report.passed and report.when == "setup" for report in reports):
        return []
    return reports


async def _grace_despite_cancels(
    batch: asyncio.Task[Any], tasks: dict[asyncio.Task[None], pytest.Item]
) -> None:
    """Give the running tests their grace, though they cancel ``batch`` (the
    caller's task) again as they end, each one's teardown cancelling every
    other task, say. Only an interrupt cuts it short."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + INTERRUPT_GRACE_SECONDS
    while tasks:
        try:
            await asyncio.wait(tasks, timeout=max(0.0, deadline - loop.time()))
            return
        except asyncio.CancelledError:
            if _cancels.interrupt_pending(batch):
                raise
            batch.uncancel()
            if loop.time() >= deadline:  # cancelled every turn: the grace is over
                return


def _test_done(
    scheduler: Scheduler,
    admission: Admission,
    needs: Needs,
    tasks: dict[asyncio.Task[None], pytest.Item],
    changed: asyncio.Event,
    collection: BatchCollection,
    task: asyncio.Task[None],
) -> None:
    """A test's task is done (a partial of it is its done callback: smaller
    than a closure, for thousands in flight)."""
    tasks.pop(task, None)
    _cancels.test_over(task)
    admission.release(needs)
    collection.test_finished()
    stops = scheduler.stops
    if not task.cancelled() and task.exception() is not None and stops.error is None:
        # Raised outside any test's phases (a plugin's reporting hook, say):
        # start no further test, and raise it once the running ones are done,
        # for pytest to report as the internal error it is.
        stops.error = task.exception()
    changed.set()


#: Why no further test starts, for a lock wait that could never end (see
#: locks._time_stuck_waits).
_CANNOT_START = (
    "that test cannot start while the tests running wait (for a resource, an exclusive "
    "turn or a free slot)"
)
_HELD_FOR_A_REPORT = (
    "that test cannot start before the report of a test whose teardown failed says "
    "whether -x or --maxfail stops the run"
)
_STOPPING = "the run is stopping (-x, --maxfail or pytest.exit()): no further test starts"
_NONE_LEFT = "no further test of the batch is left to start"


async def _failures_to_come_reported(tasks: set[asyncio.Task[None]]) -> None:
    """Wait for the tests whose failure may be to come (``tasks``: see
    Scheduler._maxfail_may_be_reached) to be done, their reports made,
    unless a Ctrl-C meanwhile stops this one."""
    task = asyncio.current_task()
    try:
        await asyncio.wait(set(tasks))
    except asyncio.CancelledError as error:
        if task is None or not _cancels.met_an_interrupt(task, error):
            raise
        _cancels.take_interrupt(task)


def _loop_closed() -> bool:
    """Whether sync code closed the session loop: the tests of a batch then
    run one by one, each failing saying so, where the batch itself could
    not start."""
    session_loop = _session_loop.current()
    return session_loop is not None and session_loop.loop.is_closed()
