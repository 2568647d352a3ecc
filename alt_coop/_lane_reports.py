"""Each cooperative test's reports, as pytest's plugins leave them.

A cooperative test's reports are logged once the test is done (see
:meth:`alt_coop._scheduler.Scheduler._lane`); should an interrupt cut its
protocol short, those made so far are its results. Its failures are counted
as they happen all the same, as pytest counts a sequential test's before its
teardown (which may keep a database for a failed run, say, and ``-x`` starts
no test after), and taken back just before its reports are logged.

The wrapper that keeps them is registered as the session's tests start,
after every conftest: it is the outermost (unless a plugin registers one
during the run), and sees each report as the other plugins' wrappers leave
it (a conftest's that reports a known failure as a skip, or returns a report
of its own).

PYTEST_DONT_REWRITE (see alt_coop/__init__.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import Generator, Iterator

import pytest

from . import _lane_state


class _LaneReports:
    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        state = _lane_state.CURRENT.get()
        if state is not None and state.item is item:
            state.reports.append(report)
            if report.failed and not hasattr(report, "wasxfail"):
                item.session.testsfailed += 1
                state.failures_counted += 1
        return report


@contextlib.contextmanager
def kept(config: pytest.Config) -> Iterator[None]:
    """Keep the cooperative tests' reports while the session's tests run."""
    plugin = _LaneReports()
    config.pluginmanager.register(plugin, "alt_coop-lane-reports")
    try:
        yield
    finally:
        config.pluginmanager.unregister(plugin)
