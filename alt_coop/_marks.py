"""The names of alt_coop's marks, shared by the modules that read them.

PYTEST_DONT_REWRITE (see alt_coop/__init__.py).
"""

MARK = "asyncio_cooperative"
SEQUENTIAL_MARK = "asyncio_sequential"
RESOURCES_MARK = "asyncio_resources"
EXCLUSIVE_MARK = "asyncio_exclusive"
