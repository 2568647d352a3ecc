"""What suites moving from pytest-asyncio keep, while pytest-asyncio is off.

Its mark stays in suites for a while: registered, so ``--strict-markers``
accepts it. Its loop fixtures (``event_loop``, ``event_loop_policy``) choose
a loop that alt_coop never uses: a suite that defines them is told so once,
rather than running silently on another loop than the one it chose (or, for
a test asking for ``event_loop``, holding a loop that is not the running one).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from . import _pytest_compat

MARKER = (
    "asyncio: pytest-asyncio's mark, accepted and ignored: alt_coop runs every async test "
    "on its session loop (alt_coop)"
)

LOOP_FIXTURES = ("event_loop", "event_loop_policy")


def unused_loop_fixtures(session: pytest.Session) -> Iterator[tuple[str, pytest.Item]]:
    """Each loop fixture of pytest-asyncio's that the suite defines, with the
    first test it applies to (in a test module or a conftest above it)."""
    conftests = [
        (Path(module.__file__).parent, module)
        for module in session.config.pluginmanager.get_plugins()
        if isinstance(module, ModuleType)
        and module.__file__ is not None
        and module.__file__.endswith("conftest.py")
    ]
    found: set[str] = set()
    modules: set[ModuleType] = set()
    for item in session.items:
        module = getattr(item, "module", None)
        if not isinstance(module, ModuleType) or module in modules:
            continue
        modules.add(module)
        above = [conftest for root, conftest in conftests if item.path.is_relative_to(root)]
        for name in LOOP_FIXTURES:
            if name not in found and any(_defines_fixture(m, name) for m in [module, *above]):
                found.add(name)
                yield name, item


def notice_text(name: str) -> str:
    return (
        f"pytest-asyncio's {name} fixture is not used: every async test runs on alt_coop's "
        "session loop. To choose the loop class, run the session on a loop of yours: "
        "pytest.main(args, plugins=[alt_coop.Plugin(managed_loop=loop)])"
    )


def _defines_fixture(module: ModuleType, name: str) -> bool:
    return _pytest_compat.is_fixture(getattr(module, name, None))
