"""Switch the alt_coop engine on: ``-p alt_coop.enable`` or ``pytest_plugins``.

Listing this module registers one :class:`alt_coop.Plugin` for the session,
unless one is registered already (for example passed to ``pytest.main``): then
listing it as well is a no-op, so nothing ever runs twice.

PYTEST_DONT_REWRITE (see alt_coop/__init__.py).
"""

from __future__ import annotations

import pytest

from . import pytest_plugin
from ._engine import Plugin
from ._finalizers import refuse_async_cleanups


# The options and fixtures the engine needs, should pytest not load them.
def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pytest_plugin._register_unless_loaded(pluginmanager, early=True)


def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    pytest_plugin._register_unless_loaded(early_config.pluginmanager, early=False)


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    refuse_async_cleanups(config)  # before any plugin's pytest_configure


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    Plugin.register_once(config)
