"""Hypothesis's ``@given`` on ``async def`` tests: each example runs on the loop.

``@given`` makes a synchronous test that calls the function it decorates once
per example; Hypothesis keeps that function as ``test.hypothesis.inner_test``
and lets a plugin replace it with a synchronous one. alt_coop's steps each
example's coroutine on the loop, as it runs any async test body.

PYTEST_DONT_REWRITE (see alt_coop/__init__.py).
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Iterator
from typing import Any


def is_async_test(func: object) -> bool:
    """Whether ``func`` is an async test: an ``async def`` function, or
    Hypothesis's test of one."""
    return inspect.iscoroutinefunction(func) or async_inner_test(func) is not None


def is_hypothesis_test(func: object) -> bool:
    """Whether ``func`` is a Hypothesis test (``@given``), async or not."""
    return getattr(getattr(func, "hypothesis", None), "inner_test", None) is not None


def async_inner_test(func: object) -> Callable[..., Any] | None:
    """The ``async def`` function a Hypothesis test calls per example, if any."""
    inner = getattr(getattr(func, "hypothesis", None), "inner_test", None)
    return inner if inspect.iscoroutinefunction(inner) else None


@contextlib.contextmanager
def examples_run_by(func: Any, run_example: Callable[..., None]) -> Iterator[None]:
    """While in effect, the Hypothesis test ``func`` calls ``run_example``
    with each example's arguments instead of its ``async def`` function."""
    handle = func.hypothesis
    inner = handle.inner_test
    handle.inner_test = run_example
    try:
        yield
    finally:
        handle.inner_test = inner
