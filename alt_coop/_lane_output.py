"""A cooperative test's output: what it prints, and ``--setup-show``'s lines.

While tests run at once, ``sys.stdout`` and ``sys.stderr`` are routers that
write to the buffer of the test whose code is running (found through
:data:`alt_coop._lane_state.CURRENT`), and pytest's per-test capture hands
each phase's buffer to its report, as it would its own capture's. The lines
``--setup-show`` writes for a test are kept and shown among its results (a
wider fixture's ``SETUP`` line among those of the first of its tests to be
reported).

Private pytest names used here, checked on pytest 8.3.5, 8.4.2, 9.0.3 and
9.2.0: ``CaptureManager.item_capture``/``suspend``/``resume`` (called by
pytest's debugger only)/``_method``/``_global_capturing`` (with
``MultiCapture.in_``/``_in_suspended``)
(its ``out``/``err`` captures' ``tmpfile``, and a tee's ``_other``),
``setuponly._show_fixture_action``, ``runner.show_test_item`` and
``TerminalWriter._file``/``_current_line``.

PYTEST_DONT_REWRITE (see alt_coop/__init__.py).
"""

from __future__ import annotations

import contextlib
import io
import sys
from collections.abc import Callable, Generator, Iterator
from typing import Any, TextIO

import pytest
from _pytest import runner as _runner_module
from _pytest import setuponly as _setuponly_module

from ._lane_state import CURRENT, CapturedOutput, LaneState, encoding_for


class _Router(io.TextIOBase):
    """``sys.stdout``/``sys.stderr`` while tests run at once: each test's own stream."""

    def __init__(self, real: TextIO, which: str, *, method: str) -> None:
        self._real = real
        self._which = which
        self._tee = method == "tee-sys"  # captured and shown as it is written
        # Under fd capture a test's stream has a file descriptor, and replaces
        # what does not encode; under sys capture, neither (see CapturedOutput).
        self._fd = method == "fd"
        self._errors = "replace" if self._fd else "strict"
        self.buffer = _BytesRouter(self)

    def _captured(self) -> CapturedOutput | None:
        """The running test's stream, if it captures."""
        state = CURRENT.get()
        if state is not None and state.capturing:
            return state.captured(self._which, self._errors)
        return None

    def _made(self) -> TextIO | None:
        """The running test's stream if it has one yet (reading its face
        should not make one: most tests never write)."""
        state = CURRENT.get()
        if state is not None and state.capturing:
            return state.out if self._which == "out" else state.err
        return self._real

    def write(self, text: str) -> int:
        captured = self._captured()
        if captured is None:
            return self._real.write(text)
        written = captured.write(text)  # first: what does not encode is not shown either
        if self._tee:
            self._real.write(text)
        return written

    def write_bytes(self, data: bytes) -> int:
        captured = self._captured()
        if captured is not None:
            # Captured only, even under tee-sys, as pytest's own capture does;
            # as bytes, since a character may come in pieces.
            captured.flush()
            captured.buffer.write(data)
            return len(data)
        real = getattr(self._real, "buffer", None)
        if real is None:
            self._real.write(data.decode(self.encoding, "replace"))
            return len(data)
        return int(real.write(data))

    def flush(self) -> None:
        self._real.flush()

    def close(self) -> None:
        """The real stream is not this router's to close (nor to flush when collected)."""

    def isatty(self) -> bool:
        return False

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        """A capturing test's under sys capture has none, as in a sequential
        run; otherwise the real stream's: what writes to it directly is not
        captured (see README)."""
        captured = self._captured() if not self._fd else None
        if captured is not None:
            return captured.fileno()  # io.UnsupportedOperation
        return int(self._real.fileno())

    @property
    def encoding(self) -> str:  # type: ignore[override]
        stream = self._made()
        return stream.encoding if stream is not None else encoding_for(self._errors)

    @property
    def errors(self) -> str:  # type: ignore[override]
        stream = self._made()
        return getattr(stream, "errors", "strict") if stream is not None else self._errors

    def __getattr__(self, name: str) -> Any:
        # The rest of a text stream's face (reconfigure, line_buffering, ...):
        # a capturing test's is its own.
        return getattr(self._captured() or self._real, name)


class _BytesRouter(io.BufferedIOBase):
    """``sys.stdout.buffer`` of a :class:`_Router`: bytes go where its text goes."""

    def __init__(self, text: _Router) -> None:
        self._text = text

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._text.fileno()

    def write(self, data: Any) -> int:
        return self._text.write_bytes(memoryview(data).tobytes())  # TypeError as for a file

    def flush(self) -> None:
        self._text.flush()

    def close(self) -> None:
        """Not this router's to close, as for the text router."""


@contextlib.contextmanager
def captured_per_test(capman: Any) -> Iterator[None]:
    original = capman.item_capture

    @contextlib.contextmanager
    def item_capture(when: str, item: pytest.Item) -> Generator[None]:
        state = CURRENT.get()
        if state is None:
            with original(when, item):
                yield
            return
        for stream in (state.out, state.err):
            if stream is not None:
                stream.take()  # a phase reports only its own output
        state.capturing = True
        try:
            yield
        finally:
            state.capturing = False
            for key, stream in (("stdout", state.out), ("stderr", state.err)):
                if stream is not None:
                    item.add_report_section(when, key, stream.take())

    # pytest's debugger (breakpoint(), pytest.set_trace()) suspends capture to
    # talk to the terminal, and resumes it on continue. The debugged test's
    # own capture pauses meanwhile. pytest's global capture of output stays
    # suspended, as through the whole batch: resumed, even for a moment, it
    # would swallow the terminal's output and put pytest's streams in place of
    # the routers, under the other tests (still running when the debugger is
    # in a worker thread). Only stdin, which the debugger reads, is resumed.
    paused: dict[LaneState | None, bool] = {}

    def suspend(in_: bool = False) -> None:
        state = CURRENT.get()
        if state not in paused:
            paused[state] = state is not None and state.capturing
        if state is not None:
            state.capturing = False
        routers = sys.stdout, sys.stderr
        capman_suspend(in_)
        sys.stdout, sys.stderr = routers  # --capture=sys put pytest's streams back

    def resume() -> None:
        capturing = capman._global_capturing
        if capturing is not None and capturing._in_suspended and capturing.in_ is not None:
            capturing.in_.resume()
            capturing._in_suspended = False
        capman.resume_fixture()
        state = CURRENT.get()
        if state in paused:
            capturing_before = paused.pop(state)
            if state is not None:
                state.capturing = capturing_before

    capman_suspend = capman.suspend
    saved = sys.stdout, sys.stderr
    method = capman._method
    sys.stdout, sys.stderr = (
        _Router(saved[0], "out", method=method),
        _Router(saved[1], "err", method=method),
    )
    # Code that kept pytest's own capture streams from before the batch (a
    # logging.StreamHandler made at import, say) writes to them: routed too.
    capturing = capman._global_capturing
    kept = [
        (stream, which)
        for which in ("out", "err")
        if (stream := getattr(getattr(capturing, which, None), "tmpfile", None)) is not None
    ]
    capman.item_capture, capman.suspend, capman.resume = item_capture, suspend, resume
    try:
        for stream, which in kept:
            _route(stream, which, method=method)
        yield
    finally:
        del capman.item_capture, capman.suspend, capman.resume
        sys.stdout, sys.stderr = saved
        for stream, _ in kept:
            vars(stream).pop("write", None)


def _route(stream: Any, which: str, *, method: str) -> None:
    """Send what is written to pytest's capture ``stream`` to the running
    test's ``which`` output while it captures (under tee-sys, shown as well,
    on the terminal stream pytest's tee writes to)."""
    original = stream.write
    echo = getattr(stream, "_other", None) if method == "tee-sys" else None
    errors = "replace" if method == "fd" else "strict"

    def write(text: str) -> int:
        state = CURRENT.get()
        if state is None or not state.capturing:
            return int(original(text))
        written = state.captured(which, errors).write(text)
        if echo is not None:
            echo.write(text)
        return written

    stream.write = write


@contextlib.contextmanager
def setup_show_per_test(config: pytest.Config) -> Iterator[None]:
    """``--setup-show``: the lines it shows for a test go with its results.

    pytest writes them to the terminal as each fixture is set up or torn
    down, between the test's results; with tests running at once, they would
    interleave. Each test's are kept, and written among its results.
    """
    terminal = config.get_terminal_writer()
    capman = config.pluginmanager.getplugin("capturemanager")
    originals = _setuponly_module._show_fixture_action, _runner_module.show_test_item

    def kept(original: Callable[..., None]) -> Callable[..., None]:
        shows_fixtures = original is originals[0]

        def show(*args: Any, **kwargs: Any) -> None:
            state = CURRENT.get()
            if state is None:
                original(*args, **kwargs)
                return
            saved = terminal._file, terminal._current_line, sys.stdout, sys.stderr
            terminal._file = buffer = io.StringIO()
            try:
                with (
                    _global_capture_left_alone(capman)
                    if capman is not None and shows_fixtures
                    else contextlib.nullcontext()
                ):
                    original(*args, **kwargs)
            finally:
                terminal._file, terminal._current_line, sys.stdout, sys.stderr = saved
            wider = shows_fixtures and _wider(*args, **kwargs)
            if wider == "SETUP":
                # Wider fixtures this test just tore down (the previous param's
                # instance) go with it: they were torn down before it.
                lines = state.terminal_lines or []
                before = ""
                while lines and isinstance(lines[-1][1], _WiderTearDown):
                    before = lines.pop()[1] + before
                line = _shared_set_ups[args[0]] = _SharedSetUp(before + buffer.getvalue())
                _keep(state, line)
            else:
                text = buffer.getvalue()
                _keep(state, _WiderTearDown(text) if wider == "TEARDOWN" else text)

        return show

    _setuponly_module._show_fixture_action = kept(originals[0])
    _runner_module.show_test_item = kept(originals[1])
    try:
        yield
    finally:
        _setuponly_module._show_fixture_action, _runner_module.show_test_item = originals
        _shared_set_ups.clear()


@contextlib.contextmanager
def _global_capture_left_alone(capman: Any) -> Iterator[None]:
    """pytest's line about a fixture suspends and resumes its global capture
    around its writes to the terminal, here a buffer: that capture stays
    suspended during a batch (or fd-level capture would swallow the
    terminal's output), and meanwhile its own streams would stand in place
    of the tests' routers, for the threads of the tests running too."""
    names = ("suspend_global_capture", "resume_global_capture")
    own = {name: vars(capman)[name] for name in names if name in vars(capman)}
    for name in names:
        setattr(capman, name, _nothing)
    try:
        yield
    finally:
        for name in names:
            if name in own:
                setattr(capman, name, own[name])
            else:
                delattr(capman, name)


def _nothing(*args: object, **kwargs: object) -> None:
    pass


class _SharedSetUp:
    """A wider fixture's ``SETUP`` line (after the ``TEARDOWN`` line of the
    instance it replaced, a previous param's): it goes with the results of
    the first test using that instance to be reported, whichever set it up
    (as in a sequential run, before any of theirs)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def take(self) -> str:
        text, self.text = self.text, ""
        return text


#: The ``SETUP`` lines of the wider fixture instances set up in a batch,
#: while ``--setup-show`` is on.
_shared_set_ups: dict[Any, _SharedSetUp] = {}


class _WiderTearDown(str):
    """A wider fixture's ``TEARDOWN`` line."""

    __slots__ = ()


def _wider(fixturedef: Any, config: pytest.Config, msg: str) -> str | None:
    """What ``--setup-show``'s line shows of a wider fixture (``SETUP`` or
    ``TEARDOWN``), if it is one's."""
    return msg if fixturedef.scope != "function" else None


def _keep(state: LaneState, text: str | _SharedSetUp) -> None:
    if state.terminal_lines is None:
        state.terminal_lines = []
    state.terminal_lines.append((len(state.reports), text))


def reused(fixturedef: Any, state: LaneState | None) -> None:
    """``state``'s test got ``fixturedef``'s instance, set up before: if its
    ``SETUP`` line is not shown yet, it goes with this test's results too,
    first, since it was set up before anything of this test's (which may
    have asked for it from its body, after its setup)."""
    line = _shared_set_ups.get(fixturedef) if _shared_set_ups else None
    if line is None or not line.text or state is None:
        return
    lines = state.terminal_lines
    if lines is None:
        lines = state.terminal_lines = []
    first_own = next(
        (i for i, (_, text) in enumerate(lines) if not isinstance(text, _SharedSetUp)), len(lines)
    )
    lines.insert(first_own, (0, line))


def show_terminal_lines(state: LaneState, reports_shown: int) -> None:
    """Write the ``--setup-show`` lines of ``state``'s test that come before
    its report number ``reports_shown`` (it has some)."""
    lines = state.terminal_lines
    terminal = state.item.config.get_terminal_writer()
    while lines and lines[0][0] <= reports_shown:
        text = lines.pop(0)[1]
        terminal.write(text if isinstance(text, str) else text.take())
    terminal.flush()
