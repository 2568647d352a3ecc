"""Calling reporting hooks for a cooperative test, where the first stop stands.

A cooperative test's reports are logged after its protocol (see
alt_coop._scheduler), when the run may have stopped already: a stop a hook
raises then (a conftest's ``pytest.exit()`` on every failure, say) came,
in a sequential run, after the first and never happened. It is ignored, and
the plugins it kept pluggy from calling are called all the same.

PYTEST_DONT_REWRITE (see alt_coop/__init__.py).
"""

from __future__ import annotations

import inspect
import traceback
from typing import Any

import pytest

from . import _session_loop
from ._stops import Stops

#: What stops a run when a hook raises it.
STOPS = (KeyboardInterrupt, SystemExit, pytest.exit.Exception)


def call(stops: Stops, hook: Any, *, historic: bool = False, **kwargs: object) -> None:
    """Call a reporting hook. A stop it raises (``KeyboardInterrupt``,
    ``SystemExit``, ``pytest.exit()``) ends the run, unless an interrupt,
    an exit or an error ended it first: the first stop stands, and the
    test's reports go on, as they would have come before it, to every
    plugin (those the stop cut off the call too). Ctrl-C again is no
    hook's stop: it stops the batch, as where the loop waits. A
    ``historic`` hook (``pytest_warning_recorded``) is called as such."""
    try:
        if historic:
            hook.call_historic(kwargs=kwargs)
        else:
            hook(**kwargs)
    except STOPS as stop:
        if not stops.any() or ctrl_c_again(stop):
            raise
        for impl in _not_called(hook, stop):
            try:
                impl.function(*(kwargs[name] for name in impl.argnames))
            except STOPS as again:
                if ctrl_c_again(again):
                    raise


def ctrl_c_again(stop: BaseException) -> bool:
    """Whether ``stop`` is a Ctrl-C that came after the batch was interrupted,
    raised where the main thread was (see SessionLoop._on_sigint)."""
    session_loop = _session_loop.current()
    return session_loop is not None and session_loop.raised_by_ctrl_c(stop)


def _not_called(hook: Any, stop: BaseException) -> list[Any]:
    """The implementations of ``hook`` that ``stop``, raised by one of them,
    kept pluggy from calling, in the order it would have: none if which one
    raised is not known (a wrapper's stop, which no other saw or all did);
    those surely not called, if it is one of several of one function.
    Wrappers are left out: they were entered before any, and saw the stop."""
    plain = [impl for impl in hook.get_hookimpls() if not (impl.wrapper or impl.hookwrapper)]
    at: dict[object, list[int]] = {}  # a function's code: where it is among them
    for index, impl in enumerate(plain):
        # A decorator's function may be many: the function it wraps is one.
        at.setdefault(getattr(inspect.unwrap(impl.function), "__code__", None), []).append(index)
    # pluggy calls them last to first; the one it called is the outermost
    # frame of theirs (it may call another hook).
    for frame, _ in traceback.walk_tb(stop.__traceback__):
        indexes = at.get(frame.f_code)
        if indexes is None:
            continue
        if len(indexes) > 1:  # one function, several plugins: the one it ran for
            owner = frame.f_locals.get("self")
            ran_for = [index for index in indexes if plain[index].plugin is owner]
            # Else those before the first were not called, whichever it was.
            indexes = ran_for if len(ran_for) == 1 else indexes[:1]
        return plain[: indexes[0]][::-1]
    return []
