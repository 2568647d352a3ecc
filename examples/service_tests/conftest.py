"""Fixtures for the service's self-tests.

Run by the service at start-up, they use its live server; run on their own
(``pytest examples``), they start one.
"""

import asyncio
import sys

import pytest


@pytest.fixture(scope="session")
async def service_address():
    service = sys.modules.get("__main__")
    live = getattr(service, "SERVER", None)
    if live is not None:
        yield live.sockets[0].getsockname()[:2]
        return
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent.parent))
    from echo_service import handle

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[:2]
    server.close()
    await server.wait_closed()
