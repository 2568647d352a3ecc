"""Warnings while cooperative tests run at once, each test's as if it ran alone.

pytest records a test's warnings by replacing, for that test, the warnings
module's process-wide state: the filters, and the function that shows a
warning. A test can replace them again itself (``pytest.warns``,
``warnings.catch_warnings``, ``warnings.simplefilter``). With tests taking
turns on one loop, whatever a test sets must hold during its own turns only:
so at the end of each turn, state the test left changed is put aside in its
:class:`~alt_coop._lane_state.LaneState` and the batch's is restored; when the
test's next turn starts, its own is put back. A warning from a task or
callback the test started, which runs outside its turns, is issued again with
the test's own state in force, so its ``pytest.warns`` catches it too.

Python shows most warnings once per place (the module's registry remembers
where), and pytest starts each test with the registries reset. Here they are
reset after every turn in which a warning was shown, so the next test to
raise it records it too; a test's own repeats, by whatever recorder (pytest's,
its ``pytest.warns`` or ``recwarn``), are recognised by the places it has been
shown already since its own code last changed the filters (which resets the
registries in a sequential run): alt_coop stands in for the warnings module's
``_showwarnmsg`` and its registry reset while a batch runs.

Checked on pytest 8.3.5, 8.4.2, 9.0.3 and 9.2.0: ``catch_warnings_for_item``
and ``config.apply_warning_filters``/``parse_warning_filter``.
From the standard library: ``warnings._showwarnmsg_impl`` (what
``catch_warnings(record=True)`` replaces), ``warnings._showwarnmsg`` (what
both ``warn`` implementations call to show one), and ``warnings._filters_mutated``
(3.11 to 3.13; ``_filters_mutated_lock_held`` under ``warnings._lock`` from
3.14), which resets the registries.

PYTEST_DONT_REWRITE (see alt_coop/__init__.py).
"""

from __future__ import annotations

import contextlib
import re
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest
from _pytest.config import apply_warning_filters, parse_warning_filter
from _pytest.warnings import catch_warnings_for_item

from ._lane_state import CURRENT, LaneState, OwnWarnings, bodies_in_threads
from ._lanes import in_lane, in_other_task
from .errors import AltCoopWarning


class WarningsPerTest:
    """The batch's warnings state, and each test's put aside between its turns."""

    def __init__(self) -> None:
        self.shown = False  # a warning was shown since the registries were reset
        self.ended = False  # the batch ended (a test may outlive it, interrupted)
        self.redelivering = False
        self.redelivery_registry: dict[Any, Any] = {}
        self._filters: list[Any] = warnings.filters  # type: ignore[assignment]  # a list in fact
        self._content = list(self._filters)
        self._first = self._content[0] if self._content else None
        self._show = warnings.showwarning
        self._impl = _record_impl()
        self._base = (self._filters, self._show, self._impl)
        #: The test whose turn on the loop it is, once it has had one before.
        self.turn: LaneState | None = None
        #: The first test that ended a turn with the warnings state changed
        #: while plain def tests' bodies ran in threads, and those tests.
        self.mixed: tuple[LaneState, list[str]] | None = None
        #: The test that ended a turn with the state changed, left in force
        #: because bodies ran in threads then: its own, once they are done.
        self._left_in_force: LaneState | None = None

    def turn_ended(self, state: LaneState) -> None:
        """``state``'s test stopped running for now: restore the batch's state."""
        self.turn = None
        if self.ended:
            return
        filters = warnings.filters
        unchanged = (
            filters is self._filters
            and warnings.showwarning is self._show
            and _record_impl() is self._impl
            and len(filters) == len(self._content)
            and (not filters or filters[0] is self._first)
        )
        # alt_coop's own recording of a teardown's warnings is put aside as a
        # test's own state is, bodies in threads or not (unless it records
        # on top of a state left in force, which it would take with it).
        ours = self._left_in_force is None and _teardown_recording(filters)
        if bodies_in_threads.nodeids and not ours:
            # A test body in a thread may have set it: leave it be, and say
            # so once, as it then holds for every test's warnings.
            in_threads = bodies_in_threads.nodeids
            others = [nodeid for nodeid in in_threads if nodeid != state.item.nodeid]
            if not unchanged and others and self.mixed is None:
                self.mixed = (state, others)
            if unchanged:
                self._left_in_force = None  # undone
            elif self._left_in_force is None:
                self._left_in_force = state
        elif unchanged:
            state.own_warnings = None  # the usual case: nothing changed, or undone
            self._left_in_force = None
        else:
            # Left in force while bodies ran in threads, it is the state of
            # the test that set it, not of whichever test's turn ends first.
            owner, self._left_in_force = self._left_in_force or state, None
            self._put_aside(owner)
            self.shown = True  # other filters were in force: the registries are stale
        if self.shown:
            self.shown = False
            _reset_registries()

    def turn_starts(self, state: LaneState) -> None:
        """``state``'s test runs again: put back what it had set."""
        self.turn = state
        own = state.own_warnings
        if own is not None and not self.ended:
            if own[3] is not None:
                self._filters[:] = own[3]
            _install(own)
            _reset_registries()

    def redeliver(self, own: OwnWarnings, message: warnings.WarningMessage) -> None:
        """Warn again, with a test's own warnings state in force.

        For a warning from a task (or callback) that a test started, which
        runs outside the test's turns but in its context: the test's filters
        decide it (an error raises it there), its recorder records it.
        """
        __tracebackhide__ = True  # the error it may raise is shown at the task's line
        self.redelivering = True
        # Marked by the test's own filters only: whether they show the
        # warning once per place (see show) is told from it.
        self.redelivery_registry = {}
        _install(own)
        try:
            warnings.warn_explicit(
                message.message,
                message.category,
                message.filename,
                message.lineno,
                registry=self.redelivery_registry,
                source=message.source,
            )
        finally:
            _install(self._base)
            self.redelivering = False

    def _put_aside(self, state: LaneState) -> None:
        own: list[Any] = warnings.filters  # type: ignore[assignment]  # a list in fact
        base = None
        if own is self._filters:  # changed in place, as warnings.simplefilter does
            own = list(own)
            self._filters[:] = self._content
        elif len(self._filters) != len(self._content) or any(
            mine is not batchs for mine, batchs in zip(self._filters, self._content, strict=True)
        ):
            # Changed in place, then replaced by a copy (catch_warnings,
            # pytest.warns), which puts this list back as it ends: the test's
            # content of it is put back at its turns, as the test expects.
            base = list(self._filters)
            self._filters[:] = self._content
        state.own_warnings = (own, warnings.showwarning, _record_impl(), base)
        _install(self._base)


@contextlib.contextmanager
def warnings_per_test(config: pytest.Config) -> Iterator[WarningsPerTest]:
    """Record warnings with pytest's filters, each into the test that raised it.

    With ``-p no:warnings`` pytest records none, so neither does alt_coop:
    Python shows them. A test's own warnings state (its ``pytest.warns``) is
    still its own, and still gets what its tasks warn.
    """
    recording = config.pluginmanager.has_plugin("warnings")
    with (
        catch_warnings_for_item(config, config.hook, when="runtest", item=None)
        if recording
        else contextlib.nullcontext()
    ):
        # What pytest's recording replaced, or Python's own: not
        # ``showwarning``, whose callers are not given the warning's source
        # object, and so no allocation traceback.
        record = _record_impl()

        def route(message: warnings.WarningMessage) -> None:
            __tracebackhide__ = True  # a test's filter may make it an error
            state = CURRENT.get()
            if state is None or state.warnings_reported:
                # No test's, or from a task that outlived its test: the batch's.
                record(message)
            elif (
                state.own_warnings is not None
                and batch.turn is not state
                and not batch.redelivering
            ):
                # From a task the test started, run outside the test's turns.
                batch.shown = recording
                batch.redeliver(state.own_warnings, message)
            elif not recording:
                record(message)
            else:
                batch.shown = True
                state.warnings.append(message)

        def show_now(message: warnings.WarningMessage) -> None:
            """Python's own showing: straight to the recorder when that is
            all it would do, so that an error a test's filter makes of a
            warning redelivered there ends at the warning's line, not in
            warnings.py."""
            __tracebackhide__ = True
            if _record_impl() is route and warnings.showwarning is _SHOWWARNING:
                route(message)
            else:
                python_show(message)

        def show(message: warnings.WarningMessage) -> None:
            __tracebackhide__ = True  # a test's filter may make it an error
            # Every recorder's (pytest's, a test's pytest.warns or recwarn):
            # a test's own repeats are not shown again (see _seen_before).
            state = CURRENT.get()
            if state is None:
                show_now(message)
                return
            registry = _registry_at(message.filename, message.lineno)
            whose = id(registry) if registry is not None else message.filename
            if batch.redelivering:
                # The test's own filters decided, and marked only the
                # registry redeliver gave them (see redeliver).
                marks = _marks(batch.redelivery_registry, message)
                if not _seen_before(state, [(whose, key) for key in marks]):
                    show_now(message)
                return
            if registry is None:
                # warn_explicit given a registry of its own, or a stacklevel
                # past the stack: Python's marks there tell the repeats.
                show_now(message)
                return
            marks = _marks(registry, message)
            try:
                if state.own_warnings is not None and batch.turn is not state:
                    show_now(message)  # to be redelivered: the test's own filters decide
                elif not _seen_before(state, [(whose, key) for key in marks]):
                    show_now(message)
            finally:  # also when the test's filter made it an error
                if recording and marks:
                    # Python marked the place before showing it: the mark hides
                    # the warning from every test until the turn's end (which
                    # keeps a test's repeats within a turn cheap). Outside the
                    # test's own turn (its thread's body, its tasks), no turn end
                    # comes for it: the mark goes now, or the tests running
                    # meanwhile would miss that warning.
                    if in_lane() and not in_other_task():
                        batch.shown = True
                    else:
                        for key in marks:
                            registry.pop(key, None)

        def filters_changed() -> None:
            assert _MUTATED is not None
            _MUTATED[1]()  # as called: from 3.14, its callers hold the lock
            state = CURRENT.get()
            if state is not None:
                # The test's code (catch_warnings, simplefilter) let every
                # place show its warning again, as it does in a sequential run.
                state.shown_warnings = None

        _set_record_impl(route)
        python_show = warnings._showwarnmsg  # type: ignore[attr-defined]
        warnings._showwarnmsg = show  # type: ignore[attr-defined]
        name = _MUTATED[0] if _MUTATED is not None else None
        if name is not None:
            setattr(warnings, name, filters_changed)
        batch = WarningsPerTest()
        try:
            yield batch
        finally:
            batch.ended = True
            _set_record_impl(record)
            warnings._showwarnmsg = python_show  # type: ignore[attr-defined]
            if name is not None and _MUTATED is not None:
                setattr(warnings, name, _MUTATED[1])
        if batch.mixed is not None:
            _notice_mixed(config, *batch.mixed)


def _notice_mixed(config: pytest.Config, state: LaneState, in_threads: list[str]) -> None:
    notice(
        config,
        f"the warnings state changed (pytest.warns, recwarn, warnings.catch_warnings or "
        f"simplefilter) while {', '.join(in_threads)} ran in a worker thread, beside "
        f"{state.item.nodeid}: Python's warnings state is process-wide across threads, so "
        "meanwhile it applied to every test's warnings, and a warning may have been "
        "recorded by, or raised as an error in, the wrong test. Mark one of them "
        "asyncio_sequential",
        state.item,
        # It concerns those tests too: told at the first whose marks let it through.
        then=[item for item in state.item.session.items if item.nodeid in in_threads],
    )


@contextlib.contextmanager
def marked_filters(item: pytest.Item, state: LaneState) -> Iterator[None]:
    """Record ``state``'s test's warnings with pytest's own per-test capture.

    For a test marked ``filterwarnings``: the capture pytest gives every test
    in a sequential run, with the filters of the marks; like any warnings
    state a test sets, it is in force during the test's own turns only.
    """
    if not item.config.pluginmanager.has_plugin("warnings"):
        yield  # -p no:warnings: pytest applies no marks either
        return
    with catch_warnings_for_item(item.config, item.ihook, when="runtest", item=item):
        yield


@contextlib.contextmanager
def teardown_warnings_of(item: pytest.Item | None) -> Iterator[None]:
    """Within the block (a wider fixture's teardown that another test runs
    for ``item``, the last of its scope in collection order, if not None),
    warnings are filtered by ``item``'s marks and recorded for it, as pytest
    does in a sequential run, where ``item``'s teardown runs it: whether a
    warning is an error must not hang on which test finishes last."""
    if item is None or not item.config.pluginmanager.has_plugin("warnings"):
        yield
        return
    with catch_warnings_for_item(item.config, item.ihook, when="runtest", item=item):
        # Put aside at the end of each turn (see WarningsPerTest.turn_ended).
        filters = warnings.filters
        recording = (filters, len(filters), warnings.showwarning, _record_impl())
        _teardowns_recording.append(recording)
        try:
            yield
        finally:
            _teardowns_recording.remove(recording)


#: The warnings states (filters, their number, showwarning, recorder) that
#: teardown_warnings_of put in force, while their blocks run.
_teardowns_recording: list[tuple[Any, int, Any, Any]] = []


def _teardown_recording(filters: Any) -> bool:
    """Whether the warnings state in force (``filters``, the list in force)
    is one teardown_warnings_of put in force, not changed since."""
    return any(
        filters is own_filters
        and len(filters) == length
        and warnings.showwarning is show
        and _record_impl() is impl
        for own_filters, length, show, impl in _teardowns_recording
    )


def _registry_at(filename: str, lineno: int) -> dict[Any, Any] | None:
    """The registry Python marks a warning from ``filename`` at ``lineno``
    in, where it shows it only once per place: that of the module of the
    innermost frame at the place (the caller's stack holds it), if found.
    """
    frame = sys._getframe(1)
    while frame is not None and (frame.f_lineno != lineno or frame.f_code.co_filename != filename):
        frame = frame.f_back  # type: ignore[assignment]
    if frame is None:
        return None
    registry: dict[Any, Any] | None = frame.f_globals.get("__warningregistry__")
    return registry


def _marks(registry: dict[Any, Any], message: warnings.WarningMessage) -> list[Any]:
    """The marks Python put in ``registry`` for ``message``: none when its
    action shows it every time. The "once" and "module" actions also mark
    the message itself, shown once from any line: as ``(text, category)``
    (CPython's C implementation, 3.11 to 3.13) or ``(text, category, 0)``
    ("module" in its Python one)."""
    text, category = str(message.message), message.category
    keys = ((text, category, message.lineno), (text, category, 0), (text, category))
    return [key for key in keys if registry.get(key)]


def _seen_before(state: LaneState, places: list[Any]) -> bool:
    """Whether ``state``'s test was shown a warning at one of ``places``
    already (they are then its own from now on)."""
    if not places:
        return False  # shown every time
    shown = state.shown_warnings
    if shown is None:
        shown = state.shown_warnings = set()
    seen = any(place in shown for place in places)
    shown.update(places)
    return seen


def report_warnings(state: LaneState, log: Callable[..., None]) -> None:
    """Hand ``state``'s recorded warnings to pytest, as recorded for its
    test, each through ``log`` (see alt_coop._reporting_hooks.call)."""
    item = state.item
    for message in state.warnings:
        log(item.ihook.pytest_warning_recorded, historic=True, **_recorded(message, item.nodeid))
    state.warnings.clear()
    state.warnings_reported = True


def notice(
    config: pytest.Config,
    text: str,
    item: pytest.Item | None = None,
    where: tuple[str, int, str] | None = None,
    *,
    then: Iterable[pytest.Item] = (),
) -> bool:
    """A one-line notice, shown in pytest's warnings summary, at the first
    test it concerns if any (or at ``where``: file, line and module).

    ``then`` are the other tests it concerns, in order: where the first's
    ``filterwarnings`` marks hide it, it is told at the first of them whose
    marks do not, as one test's marks cover that test alone.

    Under pytest-xdist only the first worker gives it: every worker collects
    the same tests and would say the same, and the controller shows every
    worker's warnings. With worker ids of the user's own (``--tx
    popen//id=w1``) no worker knows it is the first: each gives it, and
    pytest's summary shows it once, at each worker's location. Cooperative
    tests run sequentially in workers, so the notices about how a test ran
    are not given there. Whether it was told (not hidden by the filters of
    every test it concerns)."""
    worker = getattr(config, "workerinput", None)
    if worker is not None and _not_the_first_worker(str(worker.get("workerid", "gw0"))):
        return True  # by the first worker
    warning = AltCoopWarning(f"alt_coop: {text}")
    if record_notice(config, warning, item, where) or where is not None:
        return True
    return any(record_notice(config, warning, other) for other in then)


def record_notice(
    config: pytest.Config,
    warning: Warning,
    item: pytest.Item | None,
    where: tuple[str, int, str] | None = None,
    log: Callable[..., None] | None = None,
) -> bool:
    """Hand one of alt_coop's own warnings, issued outside any test's code, to
    pytest as one of ``item``'s (at its line, from its module), as filtered
    by ``-W``, ``filterwarnings`` and the item's ``filterwarnings`` marks.
    An ``error`` filter shows it rather than raising it: it tells how the run
    was arranged, mid-run, and a blanket ``filterwarnings = error`` must not
    stop the run over it. ``where`` (file, line, module) places it elsewhere;
    ``log`` calls the hook (see :func:`report_warnings`), if given.
    Whether the filters let it through."""
    if config.pluginmanager.is_blocked("warnings"):
        return True  # -p no:warnings: no test would record it, so none is tried next
    filename, lineno, nodeid, module, hook = __file__, 0, "", "alt_coop", config.hook
    if item is not None:
        path, line, _ = item.location
        filename, lineno, nodeid = str(config.rootpath / path), (line or 0) + 1, item.nodeid
        module = getattr(getattr(item, "module", None), "__name__", module)
        hook = item.ihook
    if where is not None:  # the line it is about, rather than the test's
        filename, lineno, module = where
    category = type(warning)
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always", category)
        apply_warning_filters(
            config.getini("filterwarnings"), config.known_args_namespace.pythonwarnings or []
        )
        # A notice placed elsewhere is not the test's: its marks do not apply.
        marks = (
            item.iter_markers(name="filterwarnings")
            if item is not None and where is None
            else iter(())
        )
        for mark in marks:
            for arg in mark.args:
                warnings.filterwarnings(*parse_warning_filter(arg, escape=False))
        try:
            warnings.warn_explicit(warning, category, filename, lineno, module)
        except category:
            records.append(warnings.WarningMessage(warning, category, filename, lineno))
    for message in records:
        (log or _call_historic)(
            hook.pytest_warning_recorded, historic=True, **_recorded(message, nodeid)
        )
    return bool(records)


def _call_historic(hook: Any, *, historic: bool, **kwargs: object) -> None:
    """Call the historic ``hook`` as pytest's warnings plugin does."""
    hook.call_historic(kwargs=kwargs)


def _recorded(message: warnings.WarningMessage, nodeid: str) -> dict[str, Any]:
    """The arguments of ``pytest_warning_recorded`` for one of a test's
    warnings, as pytest's warnings plugin hands it over (to its summary,
    junitxml, other plugins)."""
    return dict(warning_message=message, nodeid=nodeid, when="runtest", location=None)


#: Python's own ``showwarning``, which hands a warning to the recorder alone.
_SHOWWARNING = getattr(warnings, "_showwarning_orig", None)


def _record_impl() -> Any:
    return getattr(warnings, "_showwarnmsg_impl", None)


def _set_record_impl(impl: Any) -> None:
    if impl is not None:
        warnings._showwarnmsg_impl = impl  # type: ignore[attr-defined]


def _install(state: tuple[list[Any], Any, Any] | OwnWarnings) -> None:
    """Put a warnings state (filters, showwarning, recorder) in force."""
    warnings.filters, warnings.showwarning = state[0], state[1]
    _set_record_impl(state[2])


def _filters_mutated() -> tuple[str, Callable[[], None]] | None:
    """The warnings module's function that resets the registries, by name."""
    for name in ("_filters_mutated", "_filters_mutated_lock_held"):  # to 3.13; 3.14
        found: Callable[[], None] | None = getattr(warnings, name, None)
        if found is not None:
            return name, found
    return None


#: Python's own, as alt_coop replaces it while a batch runs.
_MUTATED = _filters_mutated()


def _reset_registries() -> None:
    """Let every place show its warning again (once)."""
    if _MUTATED is None:
        return
    name, mutated = _MUTATED
    if name == "_filters_mutated":
        mutated()
        return
    lock: Any = getattr(warnings, "_lock", None)
    if lock is not None:  # 3.14: called with the lock held
        with lock:
            mutated()


def _not_the_first_worker(worker_id: str) -> bool:
    """Whether a pytest-xdist worker of id ``worker_id`` is known not to be
    the first: xdist's own ids are ``gw0``, ``gw1``, ..."""
    return worker_id != "gw0" and re.fullmatch(r"gw\d+", worker_id) is not None
