"""Admission into a cooperative batch: when a test may start.

Admission follows collection order, and a test waits (without holding a
slot) for: a free slot; the resources it declares, or an empty batch if it is
declared exclusive; and for the collectors and parametrized fixtures it
needs to be the instances pytest would give it (a module still set up for an
earlier run of tests waits to be torn down before a later run's tests start,
and a parametrized fixture's instance serves one param at a time).

PYTEST_DONT_REWRITE (see alt_coop/__init__.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from . import _fixture_instances
from ._marks import EXCLUSIVE_MARK, MARK, RESOURCES_MARK, SEQUENTIAL_MARK
from ._setupstate import ConcurrentSetupState


class Admission:
    """Which test of a batch may start now, and what the running ones hold."""

    def __init__(
        self, items: Sequence[pytest.Item], max_tasks: int, setupstate: ConcurrentSetupState
    ) -> None:
        self.max_tasks = max_tasks
        self._setupstate = setupstate
        #: The fixtures some test of the batch parametrizes.
        self._parametrized = {
            name for item in items for name, _ in _fixture_instances.params_of(item)[0]
        }
        self._resources: dict[str, int] = {}
        self._params: dict[str, tuple[Any, int]] = {}
        self._exclusive_running = False

    def needs_of(self, item: pytest.Item) -> Needs:
        return Needs(item, self._setupstate, self._parametrized)

    def may_start(self, needs: Needs, running: int) -> bool:
        """Whether the test that needs ``needs`` may start beside ``running`` others."""
        if running >= self.max_tasks or self._exclusive_running:
            return False
        if needs.exclusive and running:
            return False
        if any(self._resources.get(name) for name in needs.resources):
            return False
        setupstate = self._setupstate
        for node, run in needs.runs:
            live = setupstate.live_run.get(node)
            if live is not None and live != run:
                return False
        for name, key in needs.params:
            held = self._params.get(name)
            if held is not None and held[1] > 0 and not _same_param(held[0], key):
                return False
        return True

    def admit(self, needs: Needs) -> None:
        setupstate = self._setupstate
        for node, run in needs.runs:
            setupstate.live_run[node] = run
        needs.runs = []  # only admission needs them; the test holds ``needs`` until done
        for name in needs.resources:
            self._resources[name] = self._resources.get(name, 0) + 1
        if needs.exclusive:
            self._exclusive_running = True
        for name, key in needs.params:
            live = self._params.get(name)
            count = live[1] if live is not None and _same_param(live[0], key) else 0
            self._params[name] = (key, count + 1)

    def release(self, needs: Needs) -> None:
        for name in needs.resources:
            self._resources[name] -= 1
        if needs.exclusive:
            self._exclusive_running = False
        for name, key in needs.params:
            live = self._params.get(name)
            # Its own value (``is``): a param not equal to itself (NaN) too.
            if live is not None and (live[0] is key or _same_param(live[0], key)):
                self._params[name] = (key, live[1] - 1)


class Needs:
    """What a test needs before it may start, worked out once."""

    __slots__ = ("exclusive", "params", "resources", "runs")

    def __init__(
        self,
        item: pytest.Item,
        setupstate: ConcurrentSetupState,
        parametrized: set[str],
    ) -> None:
        self.runs = [(node, setupstate.run_of[node, item]) for node in item.listchain()[:-1]]
        marks = list(item.iter_markers())
        self.resources = tuple(
            name
            for mark in marks
            if mark.name == RESOURCES_MARK and _names_resources(mark)  # else its setup fails
            for name in mark.args
        )
        self.exclusive = any(mark.name == EXCLUSIVE_MARK for mark in marks)
        self.params, own = _fixture_instances.params_of(item)
        if parametrized:
            # A fixture other tests of the batch parametrize, used without a
            # param: its instance is unparametrized, a value of its own. By
            # name: a fixture of the same name elsewhere (another module's,
            # an override in another directory) waits too, needlessly but safely.
            given = {name for name, _ in self.params}
            self.params += [
                (name, _NO_PARAM)
                for name in parametrized.intersection(item.fixturenames)  # type: ignore[attr-defined]
                if name not in given and name not in own
            ]


def mark_problem(item: pytest.Item) -> str | None:
    """What is wrong with the arguments of ``item``'s alt_coop marks, if
    anything: its setup fails with that (its own error, as pytest gives a
    ``skipif`` with a bad condition, so no other test's result is lost)."""
    for mark in item.iter_markers():
        if mark.name == RESOURCES_MARK and not _names_resources(mark):
            return (
                f"@pytest.mark.{RESOURCES_MARK}({_arguments(mark)}): give one or more "
                f'resource names as strings, as in @pytest.mark.{RESOURCES_MARK}("db", "cache")'
            )
        if mark.name in (MARK, SEQUENTIAL_MARK, EXCLUSIVE_MARK) and (mark.args or mark.kwargs):
            if mark.name == EXCLUSIVE_MARK:
                hint = f'; to share a named resource, use @pytest.mark.{RESOURCES_MARK}("name")'
            else:
                hint = f": write @pytest.mark.{mark.name}"
                if mark.name == MARK:
                    hint += " (a time limit is --asyncio-task-timeout's or async_timeout's)"
            return f"@pytest.mark.{mark.name}({_arguments(mark)}) takes no arguments{hint}"
    return None


def _names_resources(mark: pytest.Mark) -> bool:
    return bool(mark.args and not mark.kwargs and all(isinstance(a, str) and a for a in mark.args))


def _arguments(mark: pytest.Mark) -> str:
    return ", ".join([*map(repr, mark.args), *(f"{k}={v!r}" for k, v in mark.kwargs.items())])


#: The param key of a test that uses a parametrized fixture's name without a param.
_NO_PARAM = object()


def _same_param(one: object, other: object) -> bool:
    """Whether pytest would keep a fixture's instance from param ``one`` for ``other``."""
    try:
        return bool(one == other)
    except Exception:  # values whose == is not a truth value (arrays): as pytest does
        return one is other
