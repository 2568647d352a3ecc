"""Hypothesis's ``@given`` on ``async def`` tests: each example runs on the loop.

``@given`` makes a synchronous test that calls the function it decorates once
per example; Hypothesis keeps that function as ``test.hypothesis.inner_test``
and lets a plugin replace it with a synchronous one. alt_coop's steps each
example's coroutine on the loop, as it runs any async test body. Here too:
what alt_coop awaits as a test (``awaited_test``).

PYTEST_DONT_REWRITE (see alt_coop/__init__.py).
"""

from __future__ import annotations

import contextlib
import inspect
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any


def is_async_test(func: object) -> bool:
    """Whether ``func`` is an async test: an ``async def`` function, or
    Hypothesis's test of one."""
    return inspect.iscoroutinefunction(func) or async_inner_test(func) is not None


def awaited_test(func: object) -> bool:
    """Whether alt_coop awaits ``func`` as a test: an async test, or a plain
    wrapper of one."""
    return is_async_test(func) or wraps_async(func)


def wraps_async(func: object) -> bool:
    """Whether ``func`` is a plain function wrapping an async one (a decorator
    written for plain functions, through ``functools.wraps``): alt_coop
    awaits what it returns, so it is an async test too, cooperative and
    subject to the rules of async tests."""
    return inspect.iscoroutinefunction(unwrapped(func))


def unwrapped(func: Any) -> Any:
    """What ``func`` wraps, if it is a function wrapping another (through
    ``functools.wraps``)."""
    if not hasattr(func, "__wrapped__"):
        return func  # the usual case, at every test and fixture
    try:
        return inspect.unwrap(func)
    except ValueError:  # a __wrapped__ cycle
        return func


def is_hypothesis_test(func: object) -> bool:
    """Whether ``func`` is a Hypothesis test (``@given``), async or not."""
    return _inner_test(func) is not None


def async_inner_test(func: object) -> Callable[..., Any] | None:
    """The ``async def`` function a Hypothesis test calls per example, if any."""
    inner = _inner_test(func)
    return inner if inspect.iscoroutinefunction(inner) else None


def _inner_test(func: object) -> Any:
    """The function a Hypothesis test calls per example, or None."""
    return getattr(getattr(func, "hypothesis", None), "inner_test", None)


@contextlib.contextmanager
def examples_run_by(func: Any, run_example: Callable[..., object]) -> Iterator[None]:
    """While in effect, the Hypothesis test ``func`` calls ``run_example``
    with each example's arguments instead of its ``async def`` function."""
    handle = func.hypothesis
    inner = handle.inner_test
    handle.inner_test = run_example
    try:
        yield
    finally:
        handle.inner_test = inner


def leave_out_of_explanations() -> None:
    """Hypothesis's explain phase names the lines that only failing examples
    ran. alt_coop's that raise a failing example's error are such lines, of
    no more use to the user than pytest's own, which Hypothesis leaves out
    by a list of places (a plugin's among them): alt_coop's join that list.
    It is Hypothesis's internal, a list of globs from its 6.106 (checked up
    to 6.170); where it is not, the explanations only say more."""
    scrutineer = sys.modules.get("hypothesis.internal.scrutineer")
    places = getattr(scrutineer, "UNHELPFUL_LOCATIONS", None)
    if isinstance(places, tuple) and _OWN_PLACES not in places:
        scrutineer.UNHELPFUL_LOCATIONS = (*places, _OWN_PLACES)  # type: ignore[union-attr]


def _own_places() -> str:
    """alt_coop's modules, in the glob form of Hypothesis's list: by their
    directory's whole path (a user's own directory may be named alt_coop),
    unless that path has characters the list's globs do not take."""
    directory = Path(__file__).parent.as_posix()
    return f"{directory}/*.py" if re.fullmatch(r"[\w/.: -]+", directory) else "/alt_coop/*.py"


_OWN_PLACES = _own_places()
