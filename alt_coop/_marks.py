"""The names of alt_coop's marks, shared by the modules that read them."""

MARK = "asyncio_cooperative"
SEQUENTIAL_MARK = "asyncio_sequential"
RESOURCES_MARK = "asyncio_resources"
EXCLUSIVE_MARK = "asyncio_exclusive"
