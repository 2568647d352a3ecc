"""Every async fixture and test has a timeout; these show how to set one."""

import asyncio

import pytest


@pytest.fixture
def default_async_timeout():
    """Tests in this module get 2 seconds unless they say otherwise."""
    return 2


async def test_sets_its_own_timeout(async_timeout):
    async_timeout.set_timeout_seconds(0.5)
    await asyncio.sleep(0.01)


async def test_asyncio_timeout_still_works():
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.01):
            await asyncio.sleep(1)
