"""Where the user's code is in a traceback or an await chain.

A failure's report should end at the user's line, as for an error raised in
a plain test: asyncio's frames below it (the ``await future`` inside
``asyncio.sleep``) and alt_coop's own say nothing to the user. Timeouts name
the line a coroutine was waiting at; interrupts, the line a test was at.

PYTEST_DONT_REWRITE (see alt_coop/__init__.py).
"""

from __future__ import annotations

import asyncio
import functools
import gc
import inspect
import os
import sys
from pathlib import Path
from types import FrameType, TracebackType

import pluggy
import pytest

_ASYNCIO_DIR = os.path.dirname(asyncio.__file__) + os.sep
_OWN_DIR = os.path.dirname(__file__) + os.sep
#: Where pytest's code (``_pytest``, as ``pytest.Item``'s module is) and pluggy's are.
_RUNNERS_DIRS = tuple(
    os.path.dirname(path) + os.sep for path in (inspect.getfile(pytest.Item), pluggy.__file__)
)

#: Off under ``--full-trace`` and ``--tb=native``, which show every frame.
trim_asyncio_frames = True
#: Under ``--full-trace``, an error raised into the loop while a test waited
#: (pytest-timeout's) keeps the loop's traceback; otherwise it names the line
#: the test waited at, under ``--tb=native`` too (the loop's says nothing of it).
full_trace = False


def is_user_file(filename: str) -> bool:
    """Whether code in ``filename`` is the user's, not asyncio's or alt_coop's."""
    return not filename.startswith((_ASYNCIO_DIR, _OWN_DIR))


def raised_in_the_suite(error: BaseException) -> bool:
    """Whether ``error`` was raised in the suite's code: not in asyncio's,
    alt_coop's, pytest's or pluggy's (where a test waits for a wider fixture
    that another test sets up, say)."""
    tb, innermost = error.__traceback__, None
    while tb is not None:
        innermost, tb = tb, tb.tb_next
    if innermost is None:
        return False
    filename = innermost.tb_frame.f_code.co_filename
    return is_user_file(filename) and not filename.startswith(_RUNNERS_DIRS)


def _is_user_code(frame: FrameType) -> bool:
    """Whether ``frame`` runs the user's code, not asyncio's or alt_coop's."""
    return is_user_file(frame.f_code.co_filename)


def _awaiting_frames(coro: object) -> list[FrameType]:
    """The frames of ``coro``'s await chain, outermost first."""
    frames: list[FrameType] = []
    obj: object = coro
    while obj is not None:
        frame = (
            getattr(obj, "cr_frame", None)
            or getattr(obj, "gi_frame", None)
            or getattr(obj, "ag_frame", None)
        )
        if frame is not None:
            frames.append(frame)
        obj = (
            getattr(obj, "cr_await", None)
            or getattr(obj, "gi_yieldfrom", None)
            or getattr(obj, "ag_await", None)
            or _stepped_async_generator(obj)
        )
    return frames


def _stepped_async_generator(obj: object) -> object:
    """The async generator that ``obj`` steps, if it is one of the awaitables
    its ``asend``/``athrow`` return (what ``async for`` and ``async with``
    on an ``asynccontextmanager`` await), which do not name it otherwise."""
    if type(obj).__name__ not in ("async_generator_asend", "async_generator_athrow"):
        return None
    return next((found for found in gc.get_referents(obj) if inspect.isasyncgen(found)), None)


def _user_frames(coro: object) -> list[FrameType]:
    """The frames of user code in ``coro``'s await chain, outermost first."""
    return [frame for frame in _awaiting_frames(coro) if _is_user_code(frame)]


def waiting_line(coro: object) -> TracebackType | None:
    """A traceback of one entry, the line of user code ``coro`` is waiting at.

    A failure raised with it names that line in pytest's report rather than
    saying that every entry of its traceback (alt_coop's) is hidden.
    """
    frames = _user_frames(coro)
    if not frames:
        return None
    frame = _innermost_of_the_suite(frames)
    return TracebackType(None, frame, frame.f_lasti, frame.f_lineno)


def describe_waiting(coro: object) -> str:
    """Where ``coro`` is waiting: the innermost frame of the suite's code (of
    installed code if none), and the chain of user code's."""
    frames = _user_frames(coro)
    if not frames:
        return "an unknown place"
    where = [f"{_short(frame)}:{frame.f_lineno} in {frame.f_code.co_name}" for frame in frames]
    text = where[frames.index(_innermost_of_the_suite(frames))]
    if len(where) > 1:
        text += " (await chain: " + " -> ".join(where) + ")"
    return text


def _innermost_of_the_suite(frames: list[FrameType]) -> FrameType:
    """The innermost of ``frames`` in the suite's own code, not in installed
    code it awaits (a library's sleep, say): the line a user looks for, as
    Ctrl-C's report names; the innermost of all if none is the suite's."""
    return next(
        (frame for frame in reversed(frames) if not remoteness(frame.f_code.co_filename)),
        frames[-1],
    )


def _short(frame: FrameType) -> str:
    path = frame.f_code.co_filename
    try:
        relative = os.path.relpath(path)
    except ValueError:
        return path
    return path if relative.startswith("..") else relative


def _innermost_user_entry(tb: TracebackType | None) -> TracebackType | None:
    last = None
    while tb is not None:
        if _is_user_code(tb.tb_frame):
            last = tb
        tb = tb.tb_next
    return last


def drop_asyncio_tails(error: BaseException) -> None:
    """Cut the innermost traceback entries that are asyncio's own (the
    ``await future`` in ``asyncio.sleep`` a cancellation ends at, say), so the
    report ends at the user's line, as for an error raised there; and the
    whole traceback of an exception it chains that asyncio raised and caught
    itself (the CancelledError behind ``wait_for``'s TimeoutError). The same
    for each error of a group (a TaskGroup's children's, nested groups')."""
    seen: set[int] = set()
    errors = [error]
    while errors:
        first = errors.pop()
        chained: BaseException | None = first
        while chained is not None and id(chained) not in seen:
            seen.add(id(chained))
            last_user = _innermost_user_entry(chained.__traceback__)
            if last_user is not None:
                last_user.tb_next = None  # what follows is asyncio's, or alt_coop's own (hidden)
            elif chained is not first:
                chained.__traceback__ = None
            if isinstance(chained, BaseExceptionGroup):
                errors.extend(chained.exceptions)
            chained = chained.__cause__ or (
                None if chained.__suppress_context__ else chained.__context__
            )


def drop_asyncio_sigint_handler(error: BaseException) -> None:
    """Under ``asyncio.run``, a second Ctrl-C raises KeyboardInterrupt in
    asyncio's signal handler (``asyncio.Runner._on_sigint``, 3.11 to 3.13),
    the innermost frame: cut it, so the line pytest names is the one
    interrupted, as with Python's own handler."""
    handler = getattr(asyncio.Runner, "_on_sigint", None)
    code = getattr(handler, "__code__", None)
    tb = error.__traceback__
    while code is not None and tb is not None and tb.tb_next is not None:
        if tb.tb_next.tb_next is None and tb.tb_next.tb_frame.f_code is code:
            tb.tb_next = None
            return
        tb = tb.tb_next


def raised_instead_of_cancellation(error: BaseException) -> None:
    """Ready ``error``, raised by code handling its cancellation (a timeout's),
    to be shown as the cause of the timeout's failure: asyncio's frames cut
    (see :func:`drop_asyncio_tails`), and the cancellation it was raised
    while handling hidden, since the failure says it; the code's own errors
    on the way are kept. The same for each error of a group (a TaskGroup's
    children cancelled with the code)."""
    drop_asyncio_tails(error)  # each error of a group's too
    seen: set[int] = set()
    pending = [error]
    while pending:
        raised = pending.pop()
        if id(raised) in seen:
            continue
        seen.add(id(raised))
        link: BaseException | None = raised
        while link is not None and not isinstance(link.__context__, asyncio.CancelledError):
            link = link.__context__ if id(link.__context__) not in seen else None
        if link is not None:
            link.__suppress_context__ = True
        if isinstance(raised, BaseExceptionGroup):
            pending.extend(raised.exceptions)


@functools.cache
def _stdlib() -> str:
    """Where the standard library lives (with a separator: not its siblings)."""
    import sysconfig  # needed only for a warning or a failure's report

    return os.path.join(sysconfig.get_path("stdlib"), "")


def remoteness(filename: str) -> int:
    """0 for the suite's code, 1 for installed code (the standard library,
    site-packages of any kind, compiled code naming its source relatively, as
    uvloop's ``uvloop/loop.pyx`` does), 2 for asyncio's or alt_coop's."""
    if not is_user_file(filename):
        return 2
    if not os.path.isabs(filename):
        return 1
    parts = Path(filename).parts
    installed = (
        filename.startswith(_stdlib()) or "site-packages" in parts or "dist-packages" in parts
    )
    return 1 if installed else 0


def from_suite_code(tb: TracebackType | None) -> TracebackType | None:
    """``tb`` from its first entry in the suite's own code (asyncio's frames
    that ran a callback dropped), or None if it never goes through it."""
    while tb is not None and remoteness(tb.tb_frame.f_code.co_filename):
        tb = tb.tb_next
    return tb


def last_user_entry(tb: TracebackType | None) -> TracebackType | None:
    """A traceback of one entry: the innermost of ``tb`` in user code.

    An interrupt raised with it names that line in pytest's report, as when
    Ctrl-C stops a sync test; asyncio's and alt_coop's frames below it would
    only hide it.
    """
    last = _innermost_user_entry(tb)
    if last is None:
        return None
    return TracebackType(None, last.tb_frame, last.tb_lasti, last.tb_lineno)


def where_thread_is(thread_id: int) -> tuple[str, TracebackType | None]:
    """Where a running thread is in the suite's code (its innermost frame
    there), described and as a traceback of one entry; nothing if it is not
    in the suite's code (the threading module's, say, which says nothing)."""
    return where_frame_is(sys._current_frames().get(thread_id))


def suite_line_running(frame: FrameType | None) -> TracebackType | None:
    """A traceback of one entry: the suite's line that ``frame`` runs, or
    that called the installed code it runs; None if asyncio's or alt_coop's
    code comes first (the loop's own, say, waiting in select)."""
    while frame is not None:
        remote = remoteness(frame.f_code.co_filename)
        if not remote:
            return TracebackType(None, frame, frame.f_lasti, frame.f_lineno)
        if remote == 2:
            return None
        frame = frame.f_back
    return None


def where_frame_is(frame: FrameType | None) -> tuple[str, TracebackType | None]:
    """Where the code running ``frame`` is in the suite's code: see :func:`where_thread_is`."""
    while frame is not None and remoteness(frame.f_code.co_filename):
        frame = frame.f_back
    if frame is None:
        return "", None
    where = f"{_short(frame)}:{frame.f_lineno} in {frame.f_code.co_name}"
    return where, TracebackType(None, frame, frame.f_lasti, frame.f_lineno)


def callable_name(function: object) -> str:
    """A function's name, through ``functools.partial``; else its class's."""
    while isinstance(function, functools.partial):
        function = function.func
    name = getattr(function, "__qualname__", None)
    if isinstance(name, str):
        return name
    return type(function).__qualname__
