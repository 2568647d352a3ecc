"""Setting up and tearing down collectors when several tests run at once.

pytest's own SetupState is a stack: one item is set up at a time, and a
collector (module, class, package) is torn down as soon as the *next* item
does not need it. With tests in flight together, a collector is shared by
all of them, so it is torn down when the last test of its *run* (the
consecutive items that need it, the same ones pytest keeps it alive for)
has finished its teardown. The per-test part of the stack (the item and its
finalizers) belongs to the lane running that test.

It stands in for pytest's private ``SetupState`` (``session._setupstate``;
what pytest's runner, nodes and fixtures call on it: ``setup``,
``addfinalizer``, ``teardown_exact``, ``stack``, ``is_node_active``),
checked on pytest 8.3.5, 8.4.2, 9.0.3 and 9.2.0.

PYTEST_DONT_REWRITE (see alt_coop/__init__.py).
"""

from __future__ import annotations

import types
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import pytest

from . import _lane_state
from ._lane_warnings import teardown_warnings_of
from ._pytest_compat import TEST_OUTCOME, hidden_unless_alone
from ._session_loop import loop_seen

_Error = tuple[BaseException, types.TracebackType | None]

#: Set on a ``pytest.exit()`` or KeyboardInterrupt raised tearing down
#: what is not the caller's own item: pytest would raise it tearing down at
#: the end of a run some other test stopped (see raised_by_wider_teardown).
_WIDER = "alt_coop_raised_by_wider_teardown"

#: Set on an item whose teardown finished a collector with an error before
#: the last item of the collector's run, in collection order, was done:
#: pytest would have reported that error at that other item's teardown.
TORE_DOWN_FOR_ANOTHER = pytest.StashKey[bool]()


class _Entry:
    __slots__ = ("error", "finalizers", "finishing", "node")

    def __init__(self, node: Any) -> None:
        self.node = node
        self.finalizers: list[Callable[[], object]] = [node.teardown]
        self.error: _Error | None = None
        #: Its finalizers are running: as pytest pops a node off its stack
        #: before running them, it no longer counts as set up.
        self.finishing = False


class ConcurrentSetupState:
    """A drop-in for ``session._setupstate`` while alt_coop runs the items."""

    @classmethod
    def installed(cls, session: pytest.Session) -> ConcurrentSetupState:
        """One for the session's items, in the place of pytest's own (its
        private ``session._setupstate``, which pytest's runner uses)."""
        state = cls(session.items)
        session._setupstate = state  # type: ignore[assignment]
        return state

    def __init__(self, items: Sequence[pytest.Item]) -> None:
        # A collector's *run*: consecutive items that need it, named by the
        # index of the first. pytest keeps one instance alive per run.
        self.run_of: dict[tuple[Any, Any], int] = {}
        #: The runs of the later listings of an item a plugin listed twice,
        #: each taking the place of the one before in ``run_of`` as it ends.
        self._later_runs: dict[tuple[Any, Any], list[int]] = {}
        self.remaining: dict[tuple[Any, int], int] = {}
        #: The last item of each run, in collection order.
        self._last_of: dict[tuple[Any, int], pytest.Item] = {}
        last_seen: dict[Any, tuple[int, int]] = {}  # collector -> (last index, run)
        for index, item in enumerate(items):
            for node in item.listchain()[:-1]:
                seen = last_seen.get(node)
                run = seen[1] if seen is not None and seen[0] == index - 1 else index
                last_seen[node] = (index, run)
                self._last_of[node, run] = item
                if (node, item) in self.run_of:
                    self._later_runs.setdefault((node, item), []).append(run)
                else:
                    self.run_of[node, item] = run
                self.remaining[node, run] = self.remaining.get((node, run), 0) + 1
        self.collectors: dict[Any, _Entry] = {}
        self.items: dict[Any, _Entry] = {}  # the item each lane has set up
        #: The item whose protocol each lane runs, set up or not (a skip mark
        #: stops it before setup): its teardown counts down its collectors' runs.
        self.running: dict[Any, pytest.Item] = {}
        #: The run of each collector that each lane counted down for its
        #: item in its protocol so far: a plugin running the item's protocol
        #: again within it (a re-run) counts each down once, and tears down
        #: again what it set up again after the first run tore it down.
        self._counted: dict[Any, dict[tuple[Any, pytest.Item], tuple[Any, int]]] = {}
        #: The run each collector is admitted for, until it is torn down.
        self.live_run: dict[Any, int] = {}
        #: Whether the calling lane is the last one of a run that stops here
        #: (-x, --maxfail): it tears down everything left, as pytest's last
        #: item does, so errors are reported at its teardown.
        self.last_of_run: Callable[[], bool] = _never
        #: Called as an item is set up; pytest-rerunfailures gives each
        #: attempt a new request, which needs its fixture instances again.
        self.prepare: Callable[[pytest.Item], None] = _ignore
        #: Collectors a plugin took off the stack to keep them up across a
        #: re-run of the sequential item (pytest-rerunfailures does).
        self.held: set[Any] = set()
        #: Called as a finalizer raises during the calling lane's teardown,
        #: whose report pytest makes only once every finalizer has run.
        self.finalizer_failed: Callable[[], None] = _nothing

    # -- what pytest reads -------------------------------------------------

    @property
    def stack(self) -> dict[Any, Any]:
        """The nodes set up for the caller: shared collectors plus its own item."""
        view = _StackView(self, (node for node in self._active() if node not in self.held))
        item = self._own_item()
        if item is not None:
            view[item] = None
        return view

    def is_node_active(self, node: Any) -> bool:
        """pytest 9.1+ asks this before ``request.getfixturevalue`` (to warn
        about it during teardown)."""
        entry = self.collectors.get(node)
        return (entry is not None and not entry.finishing) or node is self._own_item()

    def begin(self, item: pytest.Item) -> None:
        """The calling lane starts ``item``'s protocol (alt_coop's scheduler calls this)."""
        key = _test_key()
        self.running[key] = item
        self._counted.pop(key, None)

    def end(self) -> None:
        """The calling lane is done with its item, torn down or cut short."""
        key = _test_key()
        self.running.pop(key, None)
        self._counted.pop(key, None)

    # -- what pytest calls -------------------------------------------------

    def setup(self, item: pytest.Item) -> None:
        __tracebackhide__ = hidden_unless_alone
        for node in item.listchain()[:-1]:
            entry = self.collectors.get(node)
            if entry is None:
                entry = self.collectors[node] = _Entry(node)
                try:
                    node.setup()
                except TEST_OUTCOME as exc:
                    entry.error = (exc, exc.__traceback__)
                    raise
            elif entry.error is not None:
                raise entry.error[0].with_traceback(entry.error[1])
        self.items[_test_key()] = _Entry(item)
        self.prepare(item)
        item.setup()

    def addfinalizer(self, finalizer: Callable[[], object], node: Any) -> None:
        assert callable(finalizer)
        if node is self._own_item():
            self.items[_test_key()].finalizers.append(finalizer)
        else:
            entry = self.collectors.get(node)
            assert entry is not None and not entry.finishing, (node, self.stack)
            entry.finalizers.append(finalizer)

    def teardown_exact(self, nextitem: pytest.Item | None) -> None:
        """Tear down the caller's item, then the collectors no one else will need.

        ``nextitem`` is ignored: which collectors stay up depends on the runs
        of items still to finish, not on one next item. Outside a cooperative
        test (the last sequential item, the end of the session, or after an
        interrupt) ``nextitem=None`` tears down everything left.
        """
        __tracebackhide__: Callable[..., bool] | bool = hidden_unless_alone
        errors: list[BaseException] = []
        key = _test_key()
        entry = self.items.get(key)
        if entry is not None:
            # Dropped only once finished: after an interrupt, the rest of
            # its finalizers still run (see ``holds_item``).
            _finish(entry, entry.node, errors, self.finalizer_failed)
            del self.items[key]
        own_errors = len(errors)
        try:
            item = self._tear_down_wider(key, entry, nextitem, errors)
        except KeyboardInterrupt as stop:
            setattr(stop, _WIDER, True)
            raise
        if errors and item is not None:
            # A test's teardown, cooperative or alone: alt_coop's teardown
            # hook, above, is the one frame pytest shows of a group, as in a
            # sequential run. (At the end of a batch, a hidden caller leaves
            # this frame the one to show.)
            __tracebackhide__ = True
        if len(errors) == 1:
            if not own_errors and isinstance(errors[0], pytest.exit.Exception):
                setattr(errors[0], _WIDER, True)
            raise errors[0]
        if errors:
            raise BaseExceptionGroup("errors during test teardown", errors[::-1])

    def _tear_down_wider(
        self,
        key: object,
        entry: _Entry | None,
        nextitem: pytest.Item | None,
        errors: list[BaseException],
    ) -> pytest.Item | None:
        """The collectors of the caller's item (``entry``'s) that no one
        else needs, and with ``nextitem=None`` everything left; the item."""
        __tracebackhide__ = True
        item = self.running.pop(key, None) or (entry.node if entry is not None else None)
        if item is not None:
            counted = self._counted.setdefault(key, {})
            for node in reversed(item.listchain()[:-1]):
                if node in self.held:  # kept up for a re-run: counted down after it
                    self.running[key] = item
                    continue
                run = counted.get((node, item))
                if run is None:
                    run = counted[node, item] = (node, self._end_of_run(node, item))
                    left = self.remaining.get(run, 1) - 1
                    self.remaining[run] = left
                else:  # counted by an earlier run of the protocol: done if it was then
                    left = self.remaining.get(run, 0)
                if left <= 0:
                    try:
                        if node in self.collectors:
                            before = len(errors)
                            last = self._last_of.get(run)
                            for_another = last is not None and last is not item
                            with teardown_warnings_of(last if for_another else None):
                                _finish(self.collectors[node], node, errors, self.finalizer_failed)
                            del self.collectors[node]
                            if len(errors) > before and last is not item:
                                item.stash[TORE_DOWN_FOR_ANOTHER] = True
                    finally:
                        # Only now may a test of the node's next run start: while
                        # an async teardown awaits, it would find the node set up.
                        self.live_run.pop(node, None)
        if nextitem is None and (_lane_state.CURRENT.get() is None or self.last_of_run()):
            for other in list(self.items.values()):
                _finish(other, other.node, errors, self.finalizer_failed)
            self.items.clear()
            for node in reversed(list(self.collectors)):
                if node not in self.held:
                    _finish(self.collectors.pop(node), node, errors, self.finalizer_failed)
            self.live_run.clear()
        return item

    def _end_of_run(self, node: Any, item: pytest.Item) -> int:
        """The run of ``node`` that ``item``'s listing now ending was in."""
        run = self.run_of.pop((node, item), 0)
        later = self._later_runs.get((node, item))
        if later:
            self.run_of[node, item] = later.pop(0)
        return run

    def holds_item(self) -> bool:
        """Whether the calling lane's item has fixtures not yet torn down."""
        return _test_key() in self.items

    def _own_item(self) -> Any:
        entry = self.items.get(_test_key())
        return None if entry is None or entry.finishing else entry.node

    def _active(self) -> Iterable[Any]:
        return (node for node, entry in self.collectors.items() if not entry.finishing)


def raised_by_wider_teardown(stop: BaseException) -> bool:
    """Whether ``stop`` came from tearing down a collector (a wider fixture),
    or another test's fixtures, rather than the caller's own."""
    return bool(getattr(stop, _WIDER, False))


def _test_key() -> object:
    """Whose item the caller is working on: a cooperative test's (its lane
    state, also seen by the coroutines its phases step), or else the one
    sequential test's (``None``), whichever greenlet a phase runs in."""
    return _lane_state.CURRENT.get()


def _never() -> bool:
    return False


def _ignore(item: pytest.Item) -> None:
    pass


def _nothing() -> None:
    pass


class _StackView(dict):  # type: ignore[type-arg]
    """``SetupState.stack`` as a plugin sees it: a copy, except that taking a
    collector off it holds the collector up across a re-run, and putting it
    back (``update``) lets it go again."""

    def __init__(self, state: ConcurrentSetupState, nodes: Iterable[Any]) -> None:
        super().__init__(dict.fromkeys(nodes))
        self._state = state

    def __delitem__(self, node: Any) -> None:
        super().__delitem__(node)
        if node in self._state.collectors:
            self._state.held.add(node)

    def update(self, *args: Any, **kwargs: Any) -> None:
        back = dict(*args, **kwargs)
        super().update(back)
        self._state.held.difference_update(back)


def _finish(
    entry: _Entry, node: Any, errors: list[BaseException], failed: Callable[[], None]
) -> None:
    __tracebackhide__ = True
    found: list[BaseException] = []
    entry.finishing = True
    while entry.finalizers:
        finalizer = entry.finalizers.pop()
        try:
            # A cooperative test's teardown sees the loop stopped, as in a
            # sequential run; async code it runs sees it running.
            with loop_seen(stopped=True):
                finalizer()
        except TEST_OUTCOME as exc:
            found.append(exc)
            failed()
    if len(found) == 1:
        errors.extend(found)
    elif found:
        errors.append(BaseExceptionGroup(f"errors while tearing down {node!r}", found[::-1]))
