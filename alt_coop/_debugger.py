"""Is a debugger attached right now?

Asked when a timeout fires, in the loop's thread: a test stopped at a
breakpoint must not be cancelled under the person debugging it. The check
must not mistake a coverage tracer for a debugger, and must notice the
debuggers that use ``sys.monitoring`` (pdb on 3.14, debugpy on 3.12+) as well
as the ones that use ``sys.settrace``.

Also here: stepping into an async test for pytest's ``--trace``.

PYTEST_DONT_REWRITE (see alt_coop/__init__.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import sys
import threading
import weakref
from collections.abc import Callable, Coroutine
from typing import Any, Literal, TypeVar

T = TypeVar("T")

Mode = Literal["auto", "always", "never"]
MODES: tuple[Mode, ...] = ("auto", "always", "never")

# Modules whose trace functions belong to a debugger. A trace function from
# anywhere else (coverage.py, profilers) is not one.
_DEBUGGER_MODULES = (
    "bdb",
    "pdb",
    "pydevd",
    "_pydevd",
    "_pydev",
    "debugpy",
    "ipdb",
    "IPython.core.debugger",
    "pudb",
    "wdb",
    "web_pdb",
)

# Tools that claim sys.monitoring's DEBUGGER_ID without being a debugger.
_NOT_DEBUGGER_TOOLS = ("datadog", "coverage")


def _is_debugger_module(module: str) -> bool:
    return any(module == name or module.startswith(name + ".") for name in _DEBUGGER_MODULES)


def _from_debugger_module(tracer: object) -> bool:
    if tracer is None:
        return False
    owner = getattr(tracer, "__self__", tracer)
    for candidate in (tracer, owner, type(owner)):
        if _is_debugger_module(getattr(candidate, "__module__", None) or ""):
            return True
    return False


#: The policies of the sessions of this process, told of the debuggers that
#: go around pytest's hooks (see _on_audit).
_watching: weakref.WeakSet[DebuggerPolicy] = weakref.WeakSet()
_audit_hooked = False


def _watch_for_debuggers(policy: DebuggerPolicy) -> None:
    global _audit_hooked
    _watching.add(policy)
    if not _audit_hooked:
        # Audit hooks stay for the life of the process: this one returns at
        # once for every other event, and when no session runs.
        sys.addaudithook(_on_audit)
        _audit_hooked = True


class AfterDebugging:
    """A call to make on a loop once a debugger's tracing changes (its user
    continued, say), unless cancelled first: see :func:`after_debugging`."""

    __slots__ = ("_callback", "_loop")

    def __init__(self, loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
        self._loop: asyncio.AbstractEventLoop | None = loop
        self._callback = callback

    def cancel(self) -> None:
        self._loop = None  # and it keeps nothing of the callback's alive
        self._callback = _nothing

    def _schedule(self) -> None:
        loop = self._loop
        if loop is not None:
            # The loop is closed once its session ended: nothing waits then.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._call, context=contextvars.Context())

    def _call(self) -> None:
        # Looked up now: cancelled meanwhile (its phase over, its clock
        # paused or armed again), it does nothing.
        self._callback()


def _nothing() -> None:
    pass


#: The calls to make once a debugger's tracing changes.
_after_debugging: list[AfterDebugging] = []


def after_debugging(
    loop: asyncio.AbstractEventLoop, callback: Callable[[], None]
) -> AfterDebugging:
    """Call ``callback`` on ``loop`` once a debugger starts or stops tracing.

    A timeout of one cooperative test that came due while another test's
    debugger traced (its user stepping over an ``await``, which runs the
    loop) must not be lost: it is looked at again when the tracing changes.
    No timer polls meanwhile; a debugger sets or clears its trace function
    as its user continues, and the audit hook sees it (see :func:`_on_audit`).
    """
    waiter = AfterDebugging(loop, callback)
    _after_debugging.append(waiter)
    return waiter


def _on_audit(event: str, args: tuple[object, ...]) -> None:
    """A debugger that pytest does not know of (``pdb.Pdb().set_trace()``,
    ipdb's, pudb's) starts tracing at its breakpoint, and stops when its user
    continues, before the loop runs again: a timeout that became due while
    the user sat at the prompt, and fires only then, would find no debugger.
    So the test that called ``sys.settrace`` from a debugger's code counts
    as one that entered the debugger, as ``pytest_enter_pdb`` makes it.
    Also, the timeouts put off while a debugger traced are looked at again."""
    if event != "sys.settrace":
        return
    # One pop at a time: the loop's thread may add one meanwhile, while
    # this runs in a test's worker thread.
    while _after_debugging:
        try:
            waiter = _after_debugging.pop()
        except IndexError:
            break
        waiter._schedule()
    if not _watching:
        return
    caller = sys._getframe().f_back  # the code that called sys.settrace, if any
    if caller is not None and _is_debugger_module(str(caller.f_globals.get("__name__", ""))):
        for policy in list(_watching):
            policy.entered_debugger()


def _monitoring_debugger() -> bool:
    monitoring = getattr(sys, "monitoring", None)
    if monitoring is None:
        return False
    tool = monitoring.get_tool(monitoring.DEBUGGER_ID)
    if tool is None:
        return False
    return not any(word in tool.lower() for word in _NOT_DEBUGGER_TOOLS)


def _debugpy_client() -> bool:
    debugpy = sys.modules.get("debugpy")
    is_connected = getattr(debugpy, "is_client_connected", None)
    try:
        return bool(is_connected()) if is_connected is not None else False
    except Exception:
        return False


def _debugger_attached() -> bool:
    """Whether a debugger traces or monitors this process now."""
    return (
        _from_debugger_module(sys.gettrace())
        or _from_debugger_module(threading.gettrace())
        or _monitoring_debugger()
        or _debugpy_client()
    )


class DebuggerPolicy:
    """Decides whether a timeout that fired may cancel.

    ``mode`` is the user's override: ``always`` honours timeouts even under a
    debugger, ``never`` honours none, ``auto`` honours them unless a debugger
    is attached or pytest entered its debugger during the test the timeout
    is of. Tests are told apart by a key of the caller's choosing (several
    run at once in a cooperative batch): the debugging of one does not stop
    the timeouts of the others.
    """

    def __init__(
        self,
        mode: Mode,
        *,
        pytest_debugging: bool,
        current_test: Callable[[], object] = lambda: None,
        when_entered: Callable[[object], None] = lambda test: None,
    ) -> None:
        self.mode = mode
        self.pytest_debugging = pytest_debugging  # --pdb or --trace
        #: The key of the test the caller's code belongs to (None: the sequential one).
        self.current_test = current_test
        self._when_entered = when_entered  # told of a test that entered a debugger
        # The tests that entered pytest's debugger, until they are done; held
        # weakly, as a test cut short never says it is done.
        self._entered_pdb: weakref.WeakSet[Any] = weakref.WeakSet()
        self._sequential_entered_pdb = False
        _watch_for_debuggers(self)  # in every mode: a test at a prompt holds no loop

    def entered_debugger(self) -> None:
        """The code running now entered a debugger: its test's timeouts are
        suspended until the test is done."""
        test = self.current_test()
        if test is None:
            self._sequential_entered_pdb = True
        else:
            self._entered_pdb.add(test)
            self._when_entered(test)

    def stop_watching(self) -> None:
        """The session is over: the audit hook no longer tells this policy."""
        _watching.discard(self)

    def test_done(self, test: object) -> None:
        if test is None:
            self._sequential_entered_pdb = False
        else:
            self._entered_pdb.discard(test)

    def may_cancel(self, test: object) -> bool:
        if self.mode == "always":
            return True
        if self.mode == "never":
            return False
        return not (self.pytest_debugging or self._entered(test) or _debugger_attached())

    def may_cancel_later(self, test: object) -> bool:
        """Whether a timeout of ``test`` that may not cancel now may once the
        debugger that traces now lets go: ``test`` entered no debugger (and
        the mode and pytest's ``--pdb``/``--trace`` allow timeouts at all)."""
        return self.mode == "auto" and not self.pytest_debugging and not self._entered(test)

    def _entered(self, test: object) -> bool:
        return self._sequential_entered_pdb if test is None else test in self._entered_pdb


async def stepping_into(debugger: Any, coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` with ``debugger`` (a ``bdb.Bdb``) stopping at its first
    line, as ``Bdb.runcall`` does for a function: what ``--trace`` does for a
    test, whose wrapper only creates an async test's coroutine.

    The trace function is set while the coroutine runs, from inside the task
    that runs it: the first frame entered after it is the test's. A quit that
    raises ``BdbQuit`` (a custom ``--pdbcls``; pytest's own exits the run)
    fails the test rather than passing it, as nothing ran to its end.
    """
    __tracebackhide__ = True
    debugger.reset()
    sys.settrace(debugger.trace_dispatch)
    try:
        return await coro
    finally:
        debugger.quitting = True
        sys.settrace(None)
