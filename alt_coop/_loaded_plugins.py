"""Other plugins, found however they were loaded.

pytest registers a plugin it autoloads under its entry point's name
(``timeout``), and one that ``-p`` or a conftest's ``pytest_plugins`` loads
under its module's (``pytest_timeout``): looked up by one name alone, a
plugin loaded the other way is missed, and what alt_coop does for it is
silently left undone (its timeouts, its re-runs).

PYTEST_DONT_REWRITE (see alt_coop/__init__.py).
"""

from __future__ import annotations

import sys

import pytest


def name(config: pytest.Config, entry_point: str, module: str) -> str | None:
    """The name a plugin is registered under, None if it is not: its entry
    point's when autoloaded, else its module's (``-p anyio.pytest_plugin``,
    or ``pytest_plugins`` in a conftest), the one ``-p no:`` must be given."""
    return registered_name(config.pluginmanager, entry_point, module)


def registered_name(
    manager: pytest.PytestPluginManager, entry_point: str, module: str
) -> str | None:
    """:func:`name`, before the config is made (in ``pytest_addoption``)."""
    if manager.has_plugin(entry_point):
        return entry_point
    loaded = sys.modules.get(module)
    registered = manager.get_name(loaded) if loaded is not None else None
    if registered is None and manager.has_plugin(module):  # a stand-in of that name
        return module
    return registered


def get(config: pytest.Config, entry_point: str, module: str) -> object | None:
    """The plugin registered under its entry point's or its module's name, if any."""
    registered = name(config, entry_point, module)
    return None if registered is None else config.pluginmanager.get_plugin(registered)


def every(manager: pytest.PytestPluginManager) -> list[object]:
    """Every registered plugin. Not pluggy's ``get_plugins()``, a set: a
    plugin need not be hashable (an instance of a dataclass, say), as
    pluggy itself only compares them."""
    return [plugin for _, plugin in manager.list_name_plugin() if plugin is not None]
