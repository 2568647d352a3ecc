"""Switch the alt_coop engine on: ``-p alt_coop.enable`` or ``pytest_plugins``.

Listing this module registers one :class:`alt_coop.Plugin` for the session,
unless one is registered already (for example passed to ``pytest.main``): then
listing it as well is a no-op, so nothing ever runs twice.
"""

from __future__ import annotations

import pytest

from ._engine import Plugin


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    Plugin.register_once(config)
