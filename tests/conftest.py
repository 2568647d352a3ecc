"""Shared helpers: every test runs a small pytest session through pytester."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

#: Other async plugins that may be installed beside alt_coop; kept out of the
#: sessions under test so each test sees alt_coop alone.
ISOLATE = (
    *("-p", "no:asyncio", "-p", "no:anyio", "-p", "no:cacheprovider"),
    *("-p", "no:alt_pytest_asyncio", "-p", "no:asyncio-cooperative"),
)


@pytest.fixture
def run_alt(pytester: pytest.Pytester):
    """Run pytester in-process with the alt_coop engine enabled."""

    def run(*args: str) -> pytest.RunResult:
        return pytester.runpytest(*ISOLATE, "-p", "alt_coop.enable", *args)

    return run


@pytest.fixture
def run_alt_subprocess(pytester: pytest.Pytester):
    """Run pytester in a subprocess with the alt_coop engine enabled."""

    def run(*args: str, timeout: float = 120) -> pytest.RunResult:
        return pytester.runpytest_subprocess(
            *ISOLATE, "-p", "alt_coop.enable", *args, timeout=timeout
        )

    return run
